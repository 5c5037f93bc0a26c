// What each tensor of a checkpoint is, from its name alone, and the parameter counts that follow
// (the counting rule is written in types.ts). Works for Hugging Face names
// (`model.layers.3.mlp.experts.7.down_proj.weight`) and llama.cpp GGUF names
// (`blk.3.ffn_down_exps.weight`).
//
// Names are the only structure a header offers, so the patterns below are the convention of the
// reference implementations, not of one model: `experts` for routed experts, `shared_expert(s)`
// for always-on experts, `gate`/`router` for the router, and so on.

import { BREAKDOWN_KEYS, type BreakdownKey, type ParameterCounts } from "./types.ts";

export type TensorLayout = "hf" | "ggml";

export type CountedTensor = {
  name: string;
  /** Dimensions as stored: outermost first for safetensors, innermost (ne0) first for GGUF. */
  shape: number[];
  /** Parameters (values) of the tensor; 0 for quantisation scales and other auxiliary tensors. */
  parameters: number;
};

export type CountOptions = {
  layout: TensorLayout;
  /** Routed experts per MoE layer (config `num_local_experts` / `n_routed_experts`, GGUF `expert_count`). */
  experts?: number | null;
  /** Experts chosen per token (config `num_experts_per_tok`, GGUF `expert_used_count`). */
  expertsPerToken?: number | null;
  /** Language-model layers; decoder layers numbered at or past it are multi-token-prediction layers. */
  layers?: number | null;
  /** Whether the output head reuses the input embedding; inferred from the absence of a head tensor when not given. */
  tiedEmbeddings?: boolean | null;
};

export type TensorCountResult = {
  parameters: ParameterCounts;
  /** Routed experts per layer as the names or shapes show them (null when no expert tensors). */
  expertsSeen: number | null;
  /** Layers whose tensors were counted as MTP. */
  mtpLayers: number[];
  notes: string[];
};

// `model.layers.12.` / `blk.12.` / `transformer.h.12.`: the stack and the index within it
const LAYER_INDEX = /^(.*?(?:^|\.)(?:layers|blk|h|layer|block|blocks|decoder_layers))\.(\d+)\./;
// Tensors only an MTP (next-n prediction) block has: DeepSeek-V3/GLM `eh_proj`, `enorm`, `hnorm`,
// `shared_head`; llama.cpp stores them as `blk.N.nextn.*`.
const MTP_MARKER = /(?:^|\.)(?:eh_proj|enorm|hnorm|shared_head|nextn)(?:\.|$)/;
const MTP_SEGMENT = /^(?:mtp|mtp_[a-z0-9_]*|[a-z0-9_]*_mtp|nextn[a-z0-9_]*)$/;

const VISION_SEGMENT =
  /^(?:vision|vision_[a-z0-9_]*|visual|image_[a-z0-9_]*|img_[a-z0-9_]*|vit|siglip[a-z0-9_]*|multi_modal_projector|mm_projector|mm_input_projection|embed_vision|vision_embed_tokens|image_newline)$/;
const AUDIO_SEGMENT = /^(?:audio|audio_[a-z0-9_]*|embed_audio|speech_[a-z0-9_]*|whisper[a-z0-9_]*|talker|token2wav|sound_[a-z0-9_]*)$/;
const EMBEDDING_SEGMENT =
  /^(?:embed_tokens|embed_tokens_per_layer|wte|wpe|tok_embeddings|word_embeddings|position_embeddings|token_type_embeddings|embed_positions|token_embd|per_layer_token_embd|position_embd|token_embd_norm_skip|embedding|embeddings_tokens)$/;
const LM_HEAD_SEGMENT = /^(?:lm_head|embed_out|output_layer)$/;
const ROUTER_SEGMENT = /^(?:gate|router|shared_expert_gate|gating|ffn_gate_inp|ffn_gate_inp_shexp|exp_probs_b|e_score_correction)$/;
const SHARED_SEGMENT = /^(?:shared_expert|shared_experts|shared_mlp|[a-z_]*_shexp)$/;
const EXPERT_SEGMENT = /^(?:experts|[a-z_]*_exps)$/;
const NORM_SEGMENT = /(?:norm|^ln(?:_?\d+|_f)?$)/;
const ATTENTION_SEGMENT =
  /^(?:self_attn|attention|attn|cross_attn|self_attention|mixer|linear_attn|ssm|mamba|time_mix|token_mixer|attn_[a-z0-9_]*|ssm_[a-z0-9_]*|time_mix_[a-z0-9_]*|q_proj|k_proj|v_proj|o_proj|qkv_proj|query_key_value|c_attn)$/;
const MLP_SEGMENT =
  /^(?:mlp|feed_forward|ffn|channel_mix|dense_h_to_4h|dense_4h_to_h|fc1|fc2|c_fc|c_proj|gate_proj|up_proj|down_proj|gate_up_proj|w1|w2|w3|ffn_[a-z0-9_]*|channel_mix_[a-z0-9_]*)$/;

/** The role of one tensor (never "mtp"; MTP is decided per layer, see countTensors). */
export function classifyTensor(name: string): BreakdownKey {
  const segments = name.split(".");
  const first = segments[0];
  // GGUF multimodal projector files use `v.` (vision), `mm.` (projector) and `a.` (audio) prefixes
  if (first === "v" || first === "mm") return "vision";
  if (first === "a") return "audio";
  if (segments.some((s) => VISION_SEGMENT.test(s))) return "vision";
  if (segments.some((s) => AUDIO_SEGMENT.test(s))) return "audio";
  if (segments.some((s) => MTP_SEGMENT.test(s))) return "mtp";
  // shared experts before routed ones: `mlp.shared_experts.*` is not `mlp.experts.*`
  if (segments.some((s) => ROUTER_SEGMENT.test(s))) return "router";
  if (segments.some((s) => SHARED_SEGMENT.test(s))) return "shared_experts";
  // Granite-MoE keeps its stacked experts directly under `block_sparse_moe` (input_linear, output_linear)
  if (segments.some((s) => EXPERT_SEGMENT.test(s) || s === "block_sparse_moe")) return "experts";
  if (segments.some((s) => EMBEDDING_SEGMENT.test(s))) return "embedding";
  if (segments.some((s) => LM_HEAD_SEGMENT.test(s)) || name === "output.weight" || name === "output.bias") return "lm_head";
  const module = moduleSegment(segments);
  if (NORM_SEGMENT.test(module)) return "norms";
  if (segments.some((s) => ATTENTION_SEGMENT.test(s))) return "attention";
  if (segments.some((s) => MLP_SEGMENT.test(s))) return "dense_mlp";
  return "other";
}

/** The module a parameter belongs to: the segment before `weight`/`bias`/`scale`. */
function moduleSegment(segments: string[]): string {
  const last = segments[segments.length - 1];
  if (segments.length > 1 && /^(?:weight|bias|scale|gamma|beta)$/.test(last)) return segments[segments.length - 2];
  return last;
}

/**
 * The layer a tensor belongs to: key names the stack too, so that layer 0 of an `mtp.layers`
 * stack is not layer 0 of `model.layers`.
 */
function layerOf(name: string): { key: string; index: number } | null {
  const match = LAYER_INDEX.exec(name);
  return match ? { key: `${match[1]}.${match[2]}`, index: Number(match[2]) } : null;
}

/** Routed experts per layer as the tensors show them: explicit `experts.{n}` indices or the expert dimension of stacked tensors. */
function expertsFromNames(tensors: readonly CountedTensor[], layout: TensorLayout): number | null {
  let indexed = -1;
  let stacked: number | null = null;
  for (const t of tensors) {
    const m = /(?:^|\.)experts\.(\d+)\./.exec(t.name);
    if (m) indexed = Math.max(indexed, Number(m[1]));
    else if (t.shape.length >= 2) {
      // stacked expert tensors: experts outermost in transformers ([E, out, in], biases [E, out],
      // MXFP4 blocks [E, out, groups, 16]), outermost = last in GGUF's ne order
      const e = layout === "hf" ? t.shape[0] : t.shape[t.shape.length - 1];
      stacked = stacked === null ? e : Math.max(stacked, e);
    }
  }
  if (indexed >= 0) return indexed + 1;
  return stacked;
}

/** Values of one row of an embedding table: what a decoded token reads of it. */
function embeddingRow(t: CountedTensor, layout: TensorLayout): number {
  if (t.shape.length < 2) return t.parameters;
  const rows = layout === "hf" ? t.shape[0] : t.shape[t.shape.length - 1];
  return rows > 0 ? Math.round(t.parameters / rows) : 0;
}

export function emptyBreakdown(): Record<BreakdownKey, number> {
  return Object.fromEntries(BREAKDOWN_KEYS.map((k) => [k, 0])) as Record<BreakdownKey, number>;
}

/**
 * Total, active and per-role counts of a list of tensors (all shards together).
 * MTP layers are recognised by their marker tensors or by a layer index at or past `layers`;
 * every tensor of such a layer goes to breakdown.mtp and out of the totals.
 */
export function countTensors(tensors: readonly CountedTensor[], options: CountOptions): TensorCountResult {
  const notes: string[] = [];
  const mtpLayers = new Map<string, number>();
  for (const t of tensors) {
    const layer = layerOf(t.name);
    if (layer === null) continue;
    const role = classifyTensor(t.name);
    if (role === "vision" || role === "audio") continue; // encoder layers are numbered separately
    if (MTP_MARKER.test(t.name) || (options.layers && options.layers > 0 && layer.index >= options.layers)) mtpLayers.set(layer.key, layer.index);
  }

  const breakdown = emptyBreakdown();
  const byRole: Record<BreakdownKey, CountedTensor[]> = Object.fromEntries(BREAKDOWN_KEYS.map((k) => [k, []])) as unknown as Record<BreakdownKey, CountedTensor[]>;
  for (const t of tensors) {
    let role = classifyTensor(t.name);
    const layer = layerOf(t.name);
    if (role !== "vision" && role !== "audio" && layer !== null && mtpLayers.has(layer.key)) role = "mtp";
    breakdown[role] += t.parameters;
    byRole[role].push(t);
  }

  const total = BREAKDOWN_KEYS.reduce((sum, k) => (k === "mtp" ? sum : sum + breakdown[k]), 0);
  const language = total - breakdown.vision - breakdown.audio;

  const expertsSeen = breakdown.experts > 0 ? expertsFromNames(byRole.experts, options.layout) : null;
  const experts = options.experts ?? expertsSeen;
  if (options.experts && expertsSeen && options.experts !== expertsSeen) {
    notes.push(`the configuration declares ${options.experts} experts per layer, the tensors show ${expertsSeen}`);
  }
  let activeExperts = breakdown.experts;
  if (breakdown.experts > 0) {
    const k = options.expertsPerToken ?? null;
    if (experts && k && k <= experts) activeExperts = Math.round((breakdown.experts * k) / experts);
    else notes.push("experts per token unknown: the active count includes every routed expert");
  }
  const active = language - breakdown.experts + activeExperts;

  // activeRead: an input-only embedding table contributes one row. A tied table is also the
  // output head, which reads all of it, so it stays whole (the input row is part of that read).
  const tied = options.tiedEmbeddings ?? (breakdown.lm_head === 0 && breakdown.embedding > 0);
  const tables = [...byRole.embedding].sort((a, b) => b.parameters - a.parameters);
  const inputOnly = tied ? tables.slice(1) : tables; // the largest table is the token embedding
  let activeRead = active;
  for (const table of inputOnly) activeRead += embeddingRow(table, options.layout) - table.parameters;

  return {
    parameters: { total, active, activeRead, breakdown },
    expertsSeen,
    mtpLayers: [...mtpLayers.values()].sort((a, b) => a - b),
    notes,
  };
}
