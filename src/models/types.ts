// Typed results of the model analysers. Every analyser is pure: it takes bytes or parsed JSON
// and returns one of these, or a typed parse error; it never throws on hostile input.
//
// The counting rule (applied to every family, never a per-model special case):
// - parameters.total: every parameter of the model as its reference implementation builds it:
//   the language model including embeddings (tied embeddings counted once) plus vision and audio
//   encoders, EXCLUDING multi-token-prediction (MTP) layers, which appear only in breakdown.mtp.
// - parameters.active: language-model parameters used for one token: embeddings and output head
//   included, routed experts only for the chosen top-k, shared experts and dense layers in full;
//   encoders and MTP excluded.
// - parameters.activeRead: what one decoded token reads from memory: as `active`, but the input
//   embedding contributes one row (hidden_size values), not the whole table. Speed estimates use it.

export const BREAKDOWN_KEYS = [
  "embedding",
  "lm_head",
  "attention",
  "dense_mlp",
  "experts",
  "shared_experts",
  "router",
  "norms",
  "vision",
  "audio",
  "mtp",
  "other",
] as const;
export type BreakdownKey = (typeof BREAKDOWN_KEYS)[number];

export type ParameterCounts = {
  total: number;
  active: number;
  activeRead: number;
  breakdown: Record<BreakdownKey, number>;
};

/** What the KV cache of one sequence costs, enough to size it at any context length. */
export type AttentionShape = {
  /** Layers with full (global) softmax attention: their cache grows with the context. */
  fullAttentionLayers: number;
  /** Layers with sliding-window attention: their cache stops growing at `slidingWindow` tokens. */
  slidingWindowLayers: number;
  slidingWindow: number | null;
  /** Layers with linear attention / state-space mixing (Mamba, Gated DeltaNet): constant-size state. */
  linearAttentionLayers: number;
  /** Bytes of recurrent state per linear layer at 16-bit precision (0 when none). */
  linearStateBytesPerLayer: number;
  /** Cached values per token per full/sliding layer (K and V together), e.g. 2 * kvHeads * headDim, or MLA's kv_lora_rank + rope dim. */
  kvValuesPerTokenPerLayer: number;
  /**
   * Cached values per token per sliding-window layer. Equal to kvValuesPerTokenPerLayer unless the
   * family gives its local layers a different shape (Gemma 4: more KV heads of a smaller head_dim);
   * then kvValuesPerTokenPerLayer is the full-attention layers' figure.
   */
  slidingKvValuesPerTokenPerLayer: number;
  kind: "mha" | "gqa" | "mqa" | "mla" | "none";
  heads: number | null;
  kvHeads: number | null;
  headDim: number | null;
};

export type ArchitectureFacts = {
  /** Normalised family, e.g. "llama", "qwen3_moe", "deepseek_v3", "gemma4"; "unknown" when not recognised. */
  family: string;
  modelType: string | null;
  architectures: string[];
  moe: boolean;
  /** Routed experts per MoE layer (null for dense models). */
  experts: number | null;
  expertsPerToken: number | null;
  sharedExperts: number | null;
  layers: number;
  /** Layers whose MLP is dense although the model is MoE (dense-first layers). */
  denseLayers: number;
  hiddenSize: number;
  vocabSize: number;
  tiedEmbeddings: boolean;
  mtpLayers: number;
  modalities: ("text" | "vision" | "audio")[];
};

export type ConfigAnalysis = {
  architecture: ArchitectureFacts;
  parameters: ParameterCounts;
  attention: AttentionShape;
  context: { length: number | null };
  /** "high" for recognised families; "low" for the generic estimate of unknown architectures. */
  confidence: "high" | "low";
  /** Plain-language notes (assumptions, fallbacks taken). */
  notes: string[];
  /** Declared dtype of the weights (torch_dtype / dtype), if any. */
  dtype: string | null;
  quantization: QuantizationInfo | null;
};

export type QuantizationInfo = {
  /** gptq | awq | bitsandbytes | fp8 | mxfp4 | nvfp4 | compressed-tensors | gguf | other */
  method: string;
  bits: number | null;
  /** Average bits per weight where known (GGUF mixes, packed formats). */
  bitsPerWeight: number | null;
  details: Record<string, unknown>;
};

export type AnalysisError = { ok: false; error: string };
