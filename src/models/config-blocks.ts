// Parameter counts of the building blocks that decoder families are assembled from. Each function
// mirrors the tensors the reference implementation (Hugging Face transformers) creates for that
// block; buffers that are not nn.Parameters (rotary tables, e_score_correction_bias in DeepSeek-
// style routers) are not counted, because the reference count does not include them.

/** nn.Linear(inFeatures, outFeatures): a weight matrix plus an optional bias vector. */
export function linear(inFeatures: number, outFeatures: number, bias = false): number {
  return inFeatures * outFeatures + (bias ? outFeatures : 0);
}

/** How a family normalises queries and keys before attention. */
export type QkNorm =
  | "none"
  /** One RMSNorm of head_dim shared by every head (Qwen3, Gemma 3/4, Qwen3-Next). */
  | "per_head"
  /** One RMSNorm over the whole projection, heads*head_dim wide (OLMo 2, OLMoE, MiniMax-M2). */
  | "per_projection";

export type GqaShape = {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  qkvBias: boolean;
  outBias: boolean;
  qkNorm: QkNorm;
  /** Qwen3-Next / Qwen3.5: q_proj also produces an output gate, so it is twice as wide. */
  queryGate?: boolean;
  /** gpt-oss: one learned attention-sink logit per head. */
  sinks?: boolean;
  /** Gemma 4 full-attention layers with attention_k_eq_v: values reuse the keys, no v_proj. */
  valuesShareKeys?: boolean;
  /** Gemma KV-sharing layers reuse another layer's keys and values: no k/v projections or k_norm. */
  ownKeysValues?: boolean;
};

/** Grouped-query (or multi-head / multi-query) softmax attention. */
export function gqaAttention(s: GqaShape): number {
  const ownKv = s.ownKeysValues ?? true;
  const qWidth = s.heads * s.headDim;
  const kvWidth = s.kvHeads * s.headDim;
  let params = linear(s.hidden, qWidth * (s.queryGate ? 2 : 1), s.qkvBias) + linear(qWidth, s.hidden, s.outBias);
  if (ownKv) params += linear(s.hidden, kvWidth, s.qkvBias) * (s.valuesShareKeys ? 1 : 2);
  if (s.qkNorm === "per_head") params += s.headDim + (ownKv ? s.headDim : 0);
  if (s.qkNorm === "per_projection") params += qWidth + (ownKv ? kvWidth : 0);
  if (s.sinks) params += s.heads;
  return params;
}

export type MlaShape = {
  hidden: number;
  heads: number;
  /** null: queries are projected directly (DeepSeek-V2-Lite); otherwise through a low-rank bottleneck. */
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  bias: boolean;
};

/** DeepSeek multi-head latent attention: low-rank query and key/value compression. */
export function mlaAttention(s: MlaShape): number {
  const qHeadDim = s.qkNopeHeadDim + s.qkRopeHeadDim;
  const query =
    s.qLoraRank === null
      ? linear(s.hidden, s.heads * qHeadDim)
      : linear(s.hidden, s.qLoraRank, s.bias) + s.qLoraRank /* q_a_layernorm */ + linear(s.qLoraRank, s.heads * qHeadDim);
  const keyValue =
    linear(s.hidden, s.kvLoraRank + s.qkRopeHeadDim, s.bias) /* kv_a_proj_with_mqa */ +
    s.kvLoraRank /* kv_a_layernorm */ +
    linear(s.kvLoraRank, s.heads * (s.qkNopeHeadDim + s.vHeadDim)); /* kv_b_proj */
  return query + keyValue + linear(s.heads * s.vHeadDim, s.hidden, s.bias);
}

/** The DeepSeek-Sparse-Attention "lightning indexer" (DeepSeek-V3.2, GLM-5) that picks the top-k keys. */
export function dsaIndexer(hidden: number, qLoraRank: number, indexHeads: number, indexHeadDim: number): number {
  return (
    linear(qLoraRank, indexHeads * indexHeadDim) /* wq_b */ +
    linear(hidden, indexHeadDim) /* wk */ +
    2 * indexHeadDim /* k_norm: LayerNorm with weight and bias */ +
    linear(hidden, indexHeads) /* weights_proj */
  );
}

/** SwiGLU/GeGLU MLP: gate, up and down projections. */
export function gatedMlp(hidden: number, intermediate: number, bias = false): number {
  return 2 * linear(hidden, intermediate, bias) + linear(intermediate, hidden, bias);
}

/** Two-matrix MLP (up, down), as in Nemotron-H's squared-ReLU blocks. */
export function plainMlp(hidden: number, intermediate: number, bias = false): number {
  return linear(hidden, intermediate, bias) + linear(intermediate, hidden, bias);
}

export type GatedDeltaNetShape = {
  hidden: number;
  keyHeads: number;
  keyHeadDim: number;
  valueHeads: number;
  valueHeadDim: number;
  convKernel: number;
};

/** Gated DeltaNet linear attention (Qwen3-Next, Qwen3.5). */
export function gatedDeltaNet(s: GatedDeltaNetShape): { params: number; stateValues: number } {
  const keyDim = s.keyHeads * s.keyHeadDim;
  const valueDim = s.valueHeads * s.valueHeadDim;
  const convDim = 2 * keyDim + valueDim;
  const params =
    linear(s.hidden, 2 * keyDim + 2 * valueDim) /* q, k, v and the output gate z */ +
    linear(s.hidden, 2 * s.valueHeads) /* beta and alpha */ +
    convDim * s.convKernel /* depthwise conv1d, no bias */ +
    2 * s.valueHeads /* dt_bias, A_log */ +
    s.valueHeadDim /* gated RMSNorm */ +
    linear(valueDim, s.hidden); /* out_proj */
  // Decoding keeps one (key x value) matrix per value head plus the last kernel-1 conv inputs.
  const stateValues = s.valueHeads * s.keyHeadDim * s.valueHeadDim + convDim * (s.convKernel - 1);
  return { params, stateValues };
}

export type Mamba2Shape = {
  hidden: number;
  heads: number;
  headDim: number;
  groups: number;
  stateSize: number;
  convKernel: number;
  projBias: boolean;
  convBias: boolean;
};

/** Mamba-2 mixer (Nemotron-H, Zamba2). */
export function mamba2Mixer(s: Mamba2Shape): { params: number; stateValues: number } {
  const inner = s.heads * s.headDim;
  const convDim = inner + 2 * s.groups * s.stateSize;
  const params =
    linear(s.hidden, inner + convDim + s.heads, s.projBias) /* in_proj: gate, x/B/C, dt */ +
    convDim * s.convKernel + (s.convBias ? convDim : 0) +
    3 * s.heads /* dt_bias, A_log, D */ +
    inner /* gated RMSNorm */ +
    linear(inner, s.hidden, s.projBias);
  const stateValues = s.heads * s.headDim * s.stateSize + convDim * (s.convKernel - 1);
  return { params, stateValues };
}
