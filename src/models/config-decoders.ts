// Turns the text part of a config into a DecoderPlan: one entry per decoder layer saying what its
// token mixer (attention, linear attention, Mamba) and its feed-forward block (dense MLP or
// mixture of experts) cost. Every family is described by rules on its config settings — never by
// the name of a particular model — and every count follows the tensors the reference
// implementation (transformers) builds. config-analysis.ts sums the plan into the published result.

import {
  dsaIndexer,
  gatedDeltaNet,
  gatedMlp,
  gqaAttention,
  linear,
  mamba2Mixer,
  mlaAttention,
  plainMlp,
  type GqaShape,
  type QkNorm,
} from "./config-blocks.ts";
import type { Family } from "./config-families.ts";
import type { ConfigReader } from "./config-reader.ts";

export type MixerPlan =
  /** kvValues: values cached per token (K and V together); 0 for layers that reuse another layer's cache. */
  | { kind: "attention"; window: "full" | "sliding"; params: number; kvValues: number }
  /** stateValues: the constant-size recurrent state kept while decoding. */
  | { kind: "linear"; params: number; stateValues: number }
  | { kind: "none" };

export type FfnPlan =
  | { kind: "none" }
  | { kind: "dense"; params: number }
  | {
      kind: "moe";
      experts: number;
      topK: number;
      /** Parameters of one routed expert. */
      perExpert: number;
      /** Shared experts (always active), including any shared-expert gate. */
      shared: number;
      router: number;
      /** Always-active dense parts of the block (Gemma 4's parallel MLP, latent projections). */
      dense: number;
    };

/** `other`: per-layer parameters outside attention, FFN and norms (Gemma 4's per-layer-input gate). */
export type LayerPlan = { mixer: MixerPlan; ffn: FfnPlan; norms: number; other?: number };

export type DecoderPlan = {
  hidden: number;
  vocab: number;
  layers: LayerPlan[];
  tied: boolean;
  /** Input embedding tables: the token embedding (which is also the head when tied) and any per-layer tables. */
  embedding: number;
  lmHead: number;
  /** The part of `embedding` that only the input side reads (the whole of it unless tied). */
  inputOnlyEmbedding: number;
  /** Values one decoded token reads from those input-only tables: one row of each. */
  inputRowValues: number;
  finalNorm: number;
  other: number;
  mtpLayers: number;
  /** Parameters of the multi-token-prediction layers; never part of the total. */
  mtpParams: number;
  attentionKind: "mha" | "gqa" | "mqa" | "mla" | "none";
  heads: number | null;
  kvHeads: number | null;
  headDim: number | null;
  slidingWindow: number | null;
  experts: number | null;
  expertsPerToken: number | null;
  sharedExperts: number | null;
};

/** What every builder receives: the text config, the whole config, and the validated core sizes. */
export type DecoderInput = {
  text: ConfigReader;
  root: ConfigReader;
  hidden: number;
  layers: number;
  vocab: number;
};

const HEADS = ["num_attention_heads", "n_head", "num_heads", "n_heads"];
const KV_HEADS = ["num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"];
const INTERMEDIATE = ["intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", "d_ff"];
const EXPERTS = ["num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", "num_routed_experts", "n_experts"];
const EXPERTS_PER_TOKEN = [
  "num_experts_per_tok",
  "num_experts_per_token",
  "experts_per_token",
  "top_k_experts",
  "moe_topk",
  "moe_top_k",
  "num_selected_experts",
  "n_activated_experts",
  "top_k",
];
const SHARED_EXPERTS = ["n_shared_experts", "num_shared_experts", "moe_num_shared_experts"];
const SHARED_INTERMEDIATE = ["shared_expert_intermediate_size", "moe_shared_expert_intermediate_size", "shared_intermediate_size"];
const MOE_INTERMEDIATE = ["moe_intermediate_size", "expert_intermediate_size", "moe_ffn_hidden_size"];
const MTP_LAYERS = ["num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_layers", "n_mtp_layers"];
/** More MTP layers than this is not a real model; the count is capped so the work stays bounded. */
const MAX_MTP_LAYERS = 64;

// ---------------------------------------------------------------------------------------------
// Settings shared by many families
// ---------------------------------------------------------------------------------------------

type Heads = { heads: number; kvHeads: number; headDim: number };

function readHeads(input: DecoderInput): Heads {
  const { text, hidden } = input;
  let heads = text.int(HEADS);
  if (!heads) {
    heads = Math.max(1, Math.round(hidden / 128));
    text.notes.add(`No attention head count; assumed ${heads} attention heads of width 128.`);
  }
  const kvHeads = text.int(KV_HEADS) || heads;
  const headDim = text.int("head_dim") || Math.max(1, Math.floor(hidden / heads));
  return { heads, kvHeads, headDim };
}

function attentionKind(h: Heads): "mha" | "gqa" | "mqa" {
  return h.kvHeads === h.heads ? "mha" : h.kvHeads === 1 ? "mqa" : "gqa";
}

/** tie_word_embeddings of the text config, else of the outer config, else the family's default. */
function readTied(input: DecoderInput, familyDefault: boolean): boolean {
  for (const reader of [input.text, input.root]) {
    const value = reader.raw("tie_word_embeddings");
    if (typeof value === "boolean") return value;
  }
  return familyDefault;
}

function intermediateSize(input: DecoderInput): number {
  const size = input.text.int(INTERMEDIATE);
  if (size !== undefined) return size;
  input.text.notes.add("No intermediate_size; assumed 4 x hidden_size.");
  return 4 * input.hidden;
}

type MoeSettings = { experts: number; topK: number; expertSize: number; sharedCount: number; sharedSize: number };

/** The several spellings of expert counts; `topKDefault` is the family's documented default. */
function readMoe(input: DecoderInput, topKDefault: number, expertSizeFallback?: number): MoeSettings {
  const { text } = input;
  const experts = text.int(EXPERTS) ?? 0;
  let topK = text.int(EXPERTS_PER_TOKEN);
  if (topK === undefined) {
    topK = topKDefault;
    if (experts > 0) text.notes.add(`No experts-per-token setting; assumed the family default of ${topK}.`);
  }
  const expertSize = text.int(MOE_INTERMEDIATE) ?? expertSizeFallback ?? intermediateSize(input);
  const sharedSize = text.int(SHARED_INTERMEDIATE) ?? 0;
  const sharedCount = text.int(SHARED_EXPERTS) ?? (sharedSize > 0 ? 1 : 0);
  return { experts, topK: Math.min(topK, experts), expertSize, sharedCount, sharedSize };
}

function readMtpLayers(input: DecoderInput): number {
  const { text, root } = input;
  let count = text.int(MTP_LAYERS) ?? root.int(MTP_LAYERS) ?? 0;
  // MiniMax spells it as modules of transformer layers, switched on by use_mtp.
  if (count === 0 && text.bool("use_mtp", false)) {
    count = (text.int("num_mtp_modules") ?? 1) * (text.int("mtp_transformer_layers") ?? 1);
    text.notes.add(`MTP: ${count} layer(s) from num_mtp_modules x mtp_transformer_layers, each counted like one of the model's decoder layers (an estimate).`);
  }
  if (count > MAX_MTP_LAYERS) {
    text.notes.add(`MTP layer count ${count} is implausible; counted as ${MAX_MTP_LAYERS}.`);
    count = MAX_MTP_LAYERS;
  }
  return count;
}

/** A per-layer kind from config.layer_types, when the config lists one. */
function layerTypes(input: DecoderInput): string[] | undefined {
  const types = input.text.strList("layer_types", input.layers);
  if (types === undefined) return undefined;
  if (types.length !== input.layers) input.text.notes.add("layer_types does not list every layer; the rest follow the family pattern.");
  return types;
}

function slidingWindowSize(input: DecoderInput): number | null {
  const window = input.text.int(["sliding_window", "attention_window"]);
  return window && window > 0 ? window : null;
}

/** Qwen2/Qwen3-MoE style: a layer is sparse unless listed in mlp_only_layers or off the sparse step. */
function sparseStepRule(input: DecoderInput): (layer: number) => boolean {
  const dense = new Set(input.text.intList("mlp_only_layers", input.layers) ?? []);
  const step = Math.max(1, input.text.int("decoder_sparse_step") ?? 1);
  return (layer) => !dense.has(layer) && (layer + 1) % step === 0;
}

/** DeepSeek style: the first first_k_dense_replace layers are dense, then every moe_layer_freq-th is MoE. */
function denseFirstRule(input: DecoderInput): (layer: number) => boolean {
  const { text } = input;
  // Newer configs spell the pattern out per layer ("dense" / "sparse").
  const explicit = text.strList("mlp_layer_types", input.layers);
  if (explicit && explicit.length === input.layers) return (layer) => explicit[layer] === "sparse";
  const firstDense = text.int("first_k_dense_replace") ?? 0;
  const frequency = Math.max(1, text.int("moe_layer_freq") ?? 1);
  return (layer) => layer >= firstDense && layer % frequency === 0;
}

function embeddingParts(vocab: number, hidden: number, tied: boolean) {
  const table = vocab * hidden;
  return {
    embedding: table,
    lmHead: tied ? 0 : table,
    inputOnlyEmbedding: tied ? 0 : table,
    inputRowValues: tied ? 0 : hidden,
  };
}

export function layerParams(layer: LayerPlan): number {
  const mixer = layer.mixer.kind === "none" ? 0 : layer.mixer.params;
  const ffn = layer.ffn;
  const ffnParams =
    ffn.kind === "none" ? 0 : ffn.kind === "dense" ? ffn.params : ffn.experts * ffn.perExpert + ffn.shared + ffn.router + ffn.dense;
  return mixer + ffnParams + layer.norms + (layer.other ?? 0);
}

/**
 * A multi-token-prediction module: one decoder layer like the model's (full attention, and the
 * sparse FFN when the model has one), the projection of [embedding; hidden] back to hidden
 * (2H x H), and three norms. Some families store a copy of the embedding and head beside it.
 */
function mtpParams(count: number, layer: LayerPlan | undefined, hidden: number, ownEmbeddingAndHead: number): number {
  if (count === 0 || layer === undefined) return 0;
  return count * (layerParams(layer) + linear(2 * hidden, hidden) + 3 * hidden + ownEmbeddingAndHead);
}

/** The layer an MTP module copies: a full-attention layer with the last layer's feed-forward block. */
function mtpTemplate(layers: LayerPlan[]): LayerPlan | undefined {
  const last = layers[layers.length - 1];
  const attention = layers.find((l) => l.mixer.kind === "attention" && l.mixer.window === "full") ?? layers.find((l) => l.mixer.kind === "attention");
  if (!last) return undefined;
  return { mixer: attention?.mixer ?? last.mixer, ffn: last.ffn, norms: last.norms };
}

/**
 * A builder's plan. The fields every architecture fills alike are derived here: one vocab x
 * hidden embedding (also the head when tied), one final norm, the MTP modules' parameters and
 * the MoE summary. `overrides` replaces derived fields where an architecture differs (Gemma 4's
 * per-layer tables, DeepSeek's latent attention).
 */
function decoderPlan(
  parts: {
    hidden: number;
    vocab: number;
    layers: LayerPlan[];
    tied: boolean;
    heads: Heads;
    slidingWindow: number | null;
    /** The model's MoE settings, when it has sparse layers. */
    moe: MoeSettings | undefined;
    mtpLayers: number;
    /** The layer an MTP module copies (usually `mtpTemplate(layers)`). */
    mtpLayer: LayerPlan | undefined;
    /** Parameters each MTP module stores of its own embedding and head. */
    mtpOwnEmbeddingAndHead?: number;
  },
  overrides: Partial<DecoderPlan> = {},
): DecoderPlan {
  const { hidden, vocab, layers, tied, heads, moe, mtpLayers } = parts;
  return {
    hidden,
    vocab,
    layers,
    tied,
    ...embeddingParts(vocab, hidden, tied),
    finalNorm: hidden,
    other: 0,
    mtpLayers,
    mtpParams: mtpParams(mtpLayers, parts.mtpLayer, hidden, parts.mtpOwnEmbeddingAndHead ?? 0),
    attentionKind: attentionKind(heads),
    ...heads,
    slidingWindow: parts.slidingWindow,
    experts: moe ? moe.experts : null,
    expertsPerToken: moe ? moe.topK : null,
    sharedExperts: moe ? moe.sharedCount : null,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// The standard decoder: GQA attention + dense or MoE feed-forward (most families)
// ---------------------------------------------------------------------------------------------

type StandardSpec = {
  qkvBias: boolean;
  outBias: boolean;
  qkNorm: QkNorm;
  sinks?: boolean;
  /** RMSNorms of hidden_size per layer (2 for pre-norm blocks, 4 for Gemma's sandwich norms). */
  normsPerLayer: number;
  mlpBias: boolean;
  tiedDefault: boolean;
  windowOf: (layer: number) => "full" | "sliding";
  moe?: {
    settings: MoeSettings;
    isMoeLayer: (layer: number) => boolean;
    perExpert: number;
    router: number;
    shared: number;
    /** Intermediate size of the dense layers of a MoE model. */
    denseSize: number;
  };
};

function standardDecoder(input: DecoderInput, spec: StandardSpec): DecoderPlan {
  const { hidden, vocab } = input;
  const h = readHeads(input);
  const attentionShape: GqaShape = { hidden, ...h, qkvBias: spec.qkvBias, outBias: spec.outBias, qkNorm: spec.qkNorm, sinks: spec.sinks };
  const attentionParams = gqaAttention(attentionShape);
  const kvValues = 2 * h.kvHeads * h.headDim;
  const denseSize = spec.moe ? spec.moe.denseSize : intermediateSize(input);
  const layers: LayerPlan[] = [];
  for (let i = 0; i < input.layers; i++) {
    const moe = spec.moe;
    const ffn: FfnPlan =
      moe && moe.settings.experts > 0 && moe.isMoeLayer(i)
        ? { kind: "moe", experts: moe.settings.experts, topK: moe.settings.topK, perExpert: moe.perExpert, shared: moe.shared, router: moe.router, dense: 0 }
        : { kind: "dense", params: gatedMlp(hidden, denseSize, spec.mlpBias) };
    layers.push({ mixer: { kind: "attention", window: spec.windowOf(i), params: attentionParams, kvValues }, ffn, norms: spec.normsPerLayer * hidden });
  }
  const tied = readTied(input, spec.tiedDefault);
  const mtpLayers = readMtpLayers(input);
  const moe = spec.moe && spec.moe.settings.experts > 0 ? spec.moe.settings : undefined;
  const slidingWindow = layers.some((l) => l.mixer.kind === "attention" && l.mixer.window === "sliding") ? slidingWindowSize(input) : null;
  return decoderPlan({ hidden, vocab, layers, tied, heads: h, slidingWindow, moe, mtpLayers, mtpLayer: mtpTemplate(layers) });
}

/** Layers all use the sliding window when the config sets one (Mistral, Mixtral, Phi-3). */
function windowIfSet(input: DecoderInput): (layer: number) => "full" | "sliding" {
  const sliding = slidingWindowSize(input) !== null;
  return () => (sliding ? "sliding" : "full");
}

/** Qwen2/Qwen3: sliding window only when use_sliding_window is on, from max_window_layers upward. */
function qwenWindows(input: DecoderInput): (layer: number) => "full" | "sliding" {
  const types = layerTypes(input);
  if (types) return (layer) => (types[layer] === "sliding_attention" ? "sliding" : "full");
  const on = input.text.bool("use_sliding_window", false) && slidingWindowSize(input) !== null;
  const from = input.text.int("max_window_layers") ?? 0;
  return (layer) => (on && layer >= from ? "sliding" : "full");
}

/** Gemma-style patterns: layer_types when listed, else every `period`-th layer is global. */
function periodicWindows(input: DecoderInput, defaultPeriod: number): (layer: number) => "full" | "sliding" {
  const types = layerTypes(input);
  const period = Math.max(1, input.text.int("sliding_window_pattern") ?? defaultPeriod);
  return (layer) => {
    const listed = types?.[layer];
    if (listed === "sliding_attention" || listed === "full_attention") return listed === "sliding_attention" ? "sliding" : "full";
    return (layer + 1) % period === 0 ? "full" : "sliding";
  };
}

/**
 * The plain Mixtral-shaped MoE on every layer: gated experts of intermediate_size, a bias-free
 * router, and `shared` for families that add an always-active MLP.
 */
function everyLayerMoe(input: DecoderInput, topKDefault: number, shared: (settings: MoeSettings) => number = () => 0): NonNullable<StandardSpec["moe"]> {
  const settings = readMoe(input, topKDefault, input.text.int("intermediate_size"));
  return {
    settings,
    perExpert: gatedMlp(input.hidden, settings.expertSize),
    router: linear(input.hidden, settings.experts),
    shared: shared(settings),
    isMoeLayer: () => true,
    denseSize: settings.expertSize,
  };
}

function llamaLike(input: DecoderInput, family: Family): DecoderPlan {
  const { text } = input;
  const bias = text.bool("attention_bias", false);
  const mlpBias = text.bool("mlp_bias", false);
  switch (family) {
    case "qwen2":
      // Qwen2 always has biases on q, k and v, never on the output projection.
      return standardDecoder(input, { qkvBias: true, outBias: false, qkNorm: "none", normsPerLayer: 2, mlpBias: false, tiedDefault: false, windowOf: qwenWindows(input) });
    case "qwen3":
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "per_head", normsPerLayer: 2, mlpBias: false, tiedDefault: false, windowOf: qwenWindows(input) });
    case "mistral":
    case "phi3":
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "none", normsPerLayer: 2, mlpBias, tiedDefault: false, windowOf: windowIfSet(input) });
    case "olmo2": {
      // OLMo 2 normalises the whole q and k projections and puts its two norms after each block.
      const types = layerTypes(input);
      return standardDecoder(input, {
        qkvBias: bias,
        outBias: bias,
        qkNorm: "per_projection",
        normsPerLayer: 2,
        mlpBias: false,
        tiedDefault: false,
        windowOf: (layer) => (types?.[layer] === "sliding_attention" ? "sliding" : "full"),
      });
    }
    case "gemma":
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "none", normsPerLayer: 2, mlpBias: false, tiedDefault: true, windowOf: () => "full" });
    case "gemma2":
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "none", normsPerLayer: 4, mlpBias: false, tiedDefault: true, windowOf: periodicWindows(input, 2) });
    case "gemma3":
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "per_head", normsPerLayer: 4, mlpBias: false, tiedDefault: true, windowOf: periodicWindows(input, 6) });
    default:
      // llama, granite: biases follow attention_bias / mlp_bias; no sliding window.
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "none", normsPerLayer: 2, mlpBias, tiedDefault: false, windowOf: () => "full" });
  }
}

function simpleMoe(input: DecoderInput, family: Family): DecoderPlan {
  const { text, hidden } = input;
  const bias = text.bool("attention_bias", false);
  switch (family) {
    case "mixtral":
      return standardDecoder(input, { qkvBias: false, outBias: false, qkNorm: "none", normsPerLayer: 2, mlpBias: false, tiedDefault: false, windowOf: windowIfSet(input), moe: everyLayerMoe(input, 2) });
    case "olmoe":
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "per_projection", normsPerLayer: 2, mlpBias: false, tiedDefault: false, windowOf: () => "full", moe: everyLayerMoe(input, 8) });
    case "minimax_m2":
      // MiniMax-M2's routing bias (e_score_correction_bias) is a buffer, not a parameter.
      return standardDecoder(input, { qkvBias: false, outBias: false, qkNorm: "per_projection", normsPerLayer: 2, mlpBias: false, tiedDefault: false, windowOf: () => "full", moe: everyLayerMoe(input, 8) });
    case "granitemoe": {
      // GraniteMoeShared adds one always-active gated MLP of shared_intermediate_size.
      const moe = everyLayerMoe(input, 2, (settings) => (settings.sharedSize > 0 ? gatedMlp(hidden, settings.sharedSize) : 0));
      return standardDecoder(input, { qkvBias: bias, outBias: bias, qkNorm: "none", normsPerLayer: 2, mlpBias: false, tiedDefault: true, windowOf: () => "full", moe });
    }
    case "gpt_oss": {
      // gpt-oss: biased attention with per-head sinks; biased router; experts carry biases too.
      const settings = readMoe(input, 4, text.int("intermediate_size"));
      const types = layerTypes(input);
      return standardDecoder(input, {
        qkvBias: text.bool("attention_bias", true),
        outBias: text.bool("attention_bias", true),
        qkNorm: "none",
        sinks: true,
        normsPerLayer: 2,
        mlpBias: false,
        tiedDefault: false,
        windowOf: (layer) => ((types?.[layer] ?? (layer % 2 === 0 ? "sliding_attention" : "full_attention")) === "sliding_attention" ? "sliding" : "full"),
        moe: { settings, perExpert: gatedMlp(hidden, settings.expertSize, true), router: linear(hidden, settings.experts, true), shared: 0, isMoeLayer: () => true, denseSize: settings.expertSize },
      });
    }
    case "qwen2_moe":
    case "qwen3_moe": {
      const settings = readMoe(input, family === "qwen2_moe" ? 4 : 8);
      // Qwen2-MoE's shared expert is gated by a scalar per token (shared_expert_gate: H -> 1).
      const shared = settings.sharedSize > 0 ? gatedMlp(hidden, settings.sharedSize) + linear(hidden, 1) : 0;
      const qwen2 = family === "qwen2_moe";
      return standardDecoder(input, {
        qkvBias: qwen2 ? true : bias,
        outBias: qwen2 ? false : bias,
        qkNorm: qwen2 ? "none" : "per_head",
        normsPerLayer: 2,
        mlpBias: false,
        tiedDefault: false,
        windowOf: qwenWindows(input),
        moe: { settings, perExpert: gatedMlp(hidden, settings.expertSize), router: linear(hidden, settings.experts), shared, isMoeLayer: sparseStepRule(input), denseSize: intermediateSize(input) },
      });
    }
    default: {
      // glm4_moe (GLM-4.5/4.6): GQA with q/k/v biases and optional per-head q/k norms, DeepSeek-style MoE.
      const settings = readMoe(input, 8);
      const shared = settings.sharedCount > 0 ? gatedMlp(hidden, settings.expertSize * settings.sharedCount) : 0;
      return standardDecoder(input, {
        qkvBias: bias,
        outBias: false,
        qkNorm: text.bool("use_qk_norm", false) ? "per_head" : "none",
        normsPerLayer: 2,
        mlpBias: false,
        tiedDefault: false,
        windowOf: () => "full",
        moe: { settings, perExpert: gatedMlp(hidden, settings.expertSize), router: linear(hidden, settings.experts), shared, isMoeLayer: denseFirstRule(input), denseSize: intermediateSize(input) },
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Llama 4: interleaved MoE and dense layers, a shared expert, chunked local attention
// ---------------------------------------------------------------------------------------------

function llama4(input: DecoderInput): DecoderPlan {
  const { text, hidden, layers } = input;
  const settings = readMoe(input, 1, text.int("intermediate_size"));
  const step = Math.max(1, text.int("interleave_moe_layer_step") ?? 1);
  const listed = text.intList("moe_layers", layers);
  const moeLayers = new Set(listed && listed.length > 0 ? listed : Array.from({ length: layers }, (_, i) => i).filter((i) => (i + 1) % step === 0));
  // Layers that use RoPE attend within chunks of attention_chunk_size; every 4th (NoPE) layer is global.
  const chunk = text.int("attention_chunk_size") ?? null;
  const noRope = text.intList("no_rope_layers", layers);
  const types = layerTypes(input);
  const windowOf = (layer: number): "full" | "sliding" => {
    if (chunk === null) return "full";
    if (types?.[layer]) return types[layer] === "chunked_attention" ? "sliding" : "full";
    const usesRope = noRope && noRope.length === layers ? noRope[layer] === 1 : (layer + 1) % 4 !== 0;
    return usesRope ? "sliding" : "full";
  };
  const plan = standardDecoder(input, {
    qkvBias: text.bool("attention_bias", false),
    outBias: text.bool("attention_bias", false),
    qkNorm: "none", // Llama 4's q/k norm is a parameter-free L2 norm
    normsPerLayer: 2,
    mlpBias: false,
    tiedDefault: false,
    windowOf,
    moe: {
      settings: { ...settings, sharedCount: 1 },
      isMoeLayer: (layer) => moeLayers.has(layer),
      perExpert: gatedMlp(hidden, settings.expertSize),
      router: linear(hidden, settings.experts),
      shared: gatedMlp(hidden, settings.expertSize),
      denseSize: text.int("intermediate_size_mlp") ?? intermediateSize(input),
    },
  });
  if (chunk !== null && plan.layers.some((l) => l.mixer.kind === "attention" && l.mixer.window === "sliding")) {
    text.notes.add(`Chunked attention (chunks of ${chunk} tokens) is reported as a sliding window of that size.`);
    plan.slidingWindow = chunk;
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// DeepSeek-V2/V3 (and Kimi K2), GLM-5 / DeepSeek-V3.2: latent attention + dense-first MoE
// ---------------------------------------------------------------------------------------------

function mlaMoe(input: DecoderInput, family: Family): DecoderPlan {
  const { text, hidden, vocab } = input;
  const heads = text.int(HEADS) ?? Math.max(1, Math.round(hidden / 128));
  const qLoraRank = text.int("q_lora_rank") ?? null;
  const kvLoraRank = text.int("kv_lora_rank") ?? 512;
  const qkRope = text.int("qk_rope_head_dim") ?? 64;
  const qkNope = text.int("qk_nope_head_dim") ?? 128;
  const vHeadDim = text.int("v_head_dim") ?? 128;
  const attention = mlaAttention({ hidden, heads, qLoraRank, kvLoraRank, qkNopeHeadDim: qkNope, qkRopeHeadDim: qkRope, vHeadDim, bias: text.bool("attention_bias", false) });

  // The sparse-attention indexer runs on "full" layers; "shared" layers reuse the previous top-k.
  const sparse = family === "glm_moe_dsa" && qLoraRank !== null;
  const indexHeads = text.int("index_n_heads") ?? 64;
  const indexHeadDim = text.int("index_head_dim") ?? 128;
  const indexer = sparse ? dsaIndexer(hidden, qLoraRank, indexHeads, indexHeadDim) : 0;
  const indexerRuns = indexerSchedule(input);

  const settings = readMoe(input, family === "deepseek_v2" ? 6 : 8);
  const isMoe = denseFirstRule(input);
  const shared = settings.sharedCount > 0 ? gatedMlp(hidden, settings.expertSize * settings.sharedCount) : 0;
  const denseSize = intermediateSize(input);
  const layers: LayerPlan[] = [];
  for (let i = 0; i < input.layers; i++) {
    const runsIndexer = sparse && indexerRuns(i);
    const mixer: MixerPlan = {
      kind: "attention",
      window: "full",
      params: attention + (runsIndexer ? indexer : 0),
      // MLA caches the compressed latent and the shared rope key; the indexer caches its own keys.
      kvValues: kvLoraRank + qkRope + (runsIndexer ? indexHeadDim : 0),
    };
    const ffn: FfnPlan =
      settings.experts > 0 && isMoe(i)
        ? { kind: "moe", experts: settings.experts, topK: settings.topK, perExpert: gatedMlp(hidden, settings.expertSize), shared, router: linear(hidden, settings.experts), dense: 0 }
        : { kind: "dense", params: gatedMlp(hidden, denseSize) };
    layers.push({ mixer, ffn, norms: 2 * hidden });
  }
  if (sparse) text.notes.add("The KV cache counts the sparse-attention indexer's keys on the layers that run it.");
  const tied = readTied(input, false);
  const mtpLayers = readMtpLayers(input);
  // DeepSeek checkpoints store their own embedding and head beside each MTP layer; GLM's do not.
  const mtpCopies = family === "deepseek_v2" || family === "deepseek_v3" ? 2 * vocab * hidden : 0;
  if (mtpLayers > 0 && mtpCopies > 0) text.notes.add("breakdown.mtp includes the copy of the embedding and output head stored with each MTP layer.");
  const moe = settings.experts > 0 ? settings : undefined;
  const shape = { heads, kvHeads: heads, headDim: qkNope + qkRope };
  return decoderPlan(
    { hidden, vocab, layers, tied, heads: shape, slidingWindow: null, moe, mtpLayers, mtpLayer: mtpTemplate(layers), mtpOwnEmbeddingAndHead: mtpCopies },
    { attentionKind: "mla", kvHeads: null }, // the cache holds a latent, not per-head keys and values
  );
}

/** Which layers run their own DSA indexer: indexer_types, or the index_topk_freq schedule (default: all). */
function indexerSchedule(input: DecoderInput): (layer: number) => boolean {
  const { text } = input;
  const listed = text.strList("indexer_types", input.layers);
  if (listed && listed.length === input.layers) return (layer) => listed[layer] !== "shared";
  const pattern = text.str("index_topk_pattern", 1_000_000);
  if (pattern) return (layer) => pattern[layer] !== "S";
  const frequency = Math.max(1, text.int("index_topk_freq") ?? 1);
  const offset = text.int("index_skip_topk_offset") ?? 2;
  return (layer) => Math.max(layer - offset + 1, 0) % frequency === 0;
}

// ---------------------------------------------------------------------------------------------
// Qwen3-Next and Qwen3.5: Gated DeltaNet linear attention with a full-attention layer every few
// ---------------------------------------------------------------------------------------------

function qwenHybrid(input: DecoderInput, family: Family): DecoderPlan {
  const { text, hidden, vocab } = input;
  const h = readHeads(input);
  const bias = text.bool("attention_bias", false);
  const full = gqaAttention({ hidden, ...h, qkvBias: bias, outBias: bias, qkNorm: "per_head", queryGate: text.bool("attn_output_gate", true) });
  const linearAttention = gatedDeltaNet({
    hidden,
    keyHeads: text.int("linear_num_key_heads") ?? 16,
    keyHeadDim: text.int("linear_key_head_dim") ?? 128,
    valueHeads: text.int("linear_num_value_heads") ?? 32,
    valueHeadDim: text.int("linear_value_head_dim") ?? 128,
    convKernel: text.int("linear_conv_kernel_dim") ?? 4,
  });
  const types = layerTypes(input);
  const interval = Math.max(1, text.int("full_attention_interval") ?? 4);
  const isFull = (layer: number) => (types?.[layer] ? types[layer] === "full_attention" : (layer + 1) % interval === 0);

  const moeFamily = family !== "qwen3_5";
  const settings = moeFamily ? readMoe(input, 10) : undefined;
  const isMoe = sparseStepRule(input);
  const shared = settings && settings.sharedSize > 0 ? gatedMlp(hidden, settings.sharedSize) + linear(hidden, 1) : 0;
  const layers: LayerPlan[] = [];
  for (let i = 0; i < input.layers; i++) {
    const mixer: MixerPlan = isFull(i)
      ? { kind: "attention", window: "full", params: full, kvValues: 2 * h.kvHeads * h.headDim }
      : { kind: "linear", params: linearAttention.params, stateValues: linearAttention.stateValues };
    const ffn: FfnPlan =
      settings && settings.experts > 0 && isMoe(i)
        ? { kind: "moe", experts: settings.experts, topK: settings.topK, perExpert: gatedMlp(hidden, settings.expertSize), shared, router: linear(hidden, settings.experts), dense: 0 }
        : { kind: "dense", params: gatedMlp(hidden, intermediateSize(input)) };
    layers.push({ mixer, ffn, norms: 2 * hidden });
  }
  const tied = readTied(input, false);
  const mtpLayers = readMtpLayers(input);
  const moe = settings && settings.experts > 0 ? settings : undefined;
  return decoderPlan({ hidden, vocab, layers, tied, heads: h, slidingWindow: null, moe, mtpLayers, mtpLayer: mtpTemplate(layers) });
}

// ---------------------------------------------------------------------------------------------
// Nemotron-H: a pattern of Mamba-2 (M), attention (*), MLP (-) and MoE (E) blocks
// ---------------------------------------------------------------------------------------------

const BLOCK_NAMES: Record<string, "mamba" | "attention" | "mlp" | "moe"> = { M: "mamba", "*": "attention", "-": "mlp", E: "moe" };

function nemotronH(input: DecoderInput): DecoderPlan {
  const { text, hidden, vocab } = input;
  const pattern = text.str("hybrid_override_pattern", 1_000_000);
  let blocks: string[];
  if (pattern !== undefined) blocks = [...pattern.slice(0, input.layers)].map((c) => BLOCK_NAMES[c] ?? "mlp");
  else blocks = text.strList("layers_block_type", input.layers) ?? [];
  if (blocks.length !== input.layers) {
    text.notes.add("The block pattern does not cover every layer; the remaining layers are counted as MLP blocks.");
    while (blocks.length < input.layers) blocks.push("mlp");
  }
  const h = readHeads(input);
  const bias = text.bool("attention_bias", false);
  const mlpBias = text.bool("mlp_bias", false);
  const attention = gqaAttention({ hidden, ...h, qkvBias: bias, outBias: bias, qkNorm: "none" });
  const mamba = mamba2Mixer({
    hidden,
    heads: text.int("mamba_num_heads") ?? 64,
    headDim: text.int("mamba_head_dim") ?? 64,
    groups: text.int("n_groups") ?? 8,
    stateSize: text.int("ssm_state_size") ?? 128,
    convKernel: text.int("conv_kernel") ?? 4,
    projBias: text.bool(["use_bias", "mamba_proj_bias"], false),
    convBias: text.bool("use_conv_bias", true),
  });
  const settings = readMoe(input, 6);
  // Experts are plain two-matrix MLPs, optionally working in a smaller latent space.
  const latent = text.int("moe_latent_size");
  const expertWidth = latent ?? hidden;
  const latentProjections = latent ? linear(hidden, latent, mlpBias) + linear(latent, hidden, mlpBias) : 0;
  const shared = settings.sharedSize > 0 ? plainMlp(hidden, settings.sharedSize, mlpBias) : 0;
  const layers: LayerPlan[] = blocks.map((block) => {
    const norms = hidden; // one pre-norm per block
    switch (block) {
      case "mamba":
        return { mixer: { kind: "linear", params: mamba.params, stateValues: mamba.stateValues }, ffn: { kind: "none" }, norms };
      case "attention":
        return { mixer: { kind: "attention", window: "full", params: attention, kvValues: 2 * h.kvHeads * h.headDim }, ffn: { kind: "none" }, norms };
      case "moe":
        return {
          mixer: { kind: "none" },
          ffn: { kind: "moe", experts: settings.experts, topK: settings.topK, perExpert: 2 * expertWidth * settings.expertSize, shared, router: linear(hidden, settings.experts), dense: latentProjections },
          norms,
        };
      default:
        return { mixer: { kind: "none" }, ffn: { kind: "dense", params: plainMlp(hidden, intermediateSize(input), mlpBias) }, norms };
    }
  });
  const tied = readTied(input, false);
  const mtpLayers = readMtpLayers(input);
  const moe = settings.experts > 0 && blocks.includes("moe");
  // An MTP module of a hybrid: one attention block and one feed-forward block of the model's kind.
  const attentionBlock = layers.find((l) => l.mixer.kind === "attention");
  const ffnBlock = [...layers].reverse().find((l) => l.ffn.kind !== "none");
  const mtpTemplateLayer = attentionBlock && ffnBlock ? { mixer: attentionBlock.mixer, ffn: ffnBlock.ffn, norms: 2 * hidden } : undefined;
  return decoderPlan({ hidden, vocab, layers, tied, heads: h, slidingWindow: null, moe: moe ? settings : undefined, mtpLayers, mtpLayer: mtpTemplateLayer });
}

// ---------------------------------------------------------------------------------------------
// Gemma 4: sliding/global layers of different head sizes, MoE next to a dense MLP, per-layer
// embeddings (the "E" models) and KV sharing between the last layers
// ---------------------------------------------------------------------------------------------

function gemma4(input: DecoderInput): DecoderPlan {
  const { text, hidden, vocab, layers: layerCount } = input;
  const h = readHeads(input);
  const globalHeadDim = text.int("global_head_dim") || h.headDim;
  const globalKvHeads = text.int("num_global_key_value_heads") || h.kvHeads;
  const keysAreValues = text.bool("attention_k_eq_v", false);
  const bias = text.bool("attention_bias", false);
  const windowOf = periodicWindows(input, 6);
  // The last num_kv_shared_layers layers reuse the cache of an earlier layer of the same kind.
  const kvShared = text.int("num_kv_shared_layers") ?? 0;
  const firstShared = layerCount - kvShared;
  const intermediate = intermediateSize(input);
  const doubleWide = text.bool("use_double_wide_mlp", false);
  const moeOn = text.bool("enable_moe_block", false);
  const settings = moeOn ? readMoe(input, 8) : undefined;
  const perLayerInput = text.int("hidden_size_per_layer_input") ?? 0;

  const layers: LayerPlan[] = [];
  for (let i = 0; i < layerCount; i++) {
    const window = windowOf(i);
    const global = window === "full";
    const headDim = global ? globalHeadDim : h.headDim;
    const sharesValues = global && keysAreValues;
    const kvHeads = sharesValues ? globalKvHeads : h.kvHeads;
    const ownKv = !(kvShared > 0 && i >= firstShared);
    const params = gqaAttention({ hidden, heads: h.heads, kvHeads, headDim, qkvBias: bias, outBias: bias, qkNorm: "per_head", valuesShareKeys: sharesValues, ownKeysValues: ownKv });
    const mlp = gatedMlp(hidden, intermediate * (doubleWide && !ownKv ? 2 : 1));
    let norms = 4 * hidden;
    let ffn: FfnPlan = { kind: "dense", params: mlp };
    if (settings && settings.experts > 0) {
      // The router normalises without a scale, then applies its own scale vector and a per-expert scale.
      const router = linear(hidden, settings.experts) + hidden + settings.experts;
      ffn = { kind: "moe", experts: settings.experts, topK: settings.topK, perExpert: gatedMlp(hidden, settings.expertSize), shared: 0, router, dense: mlp };
      norms += 3 * hidden; // extra pre/post norms around the expert branch
    }
    if (perLayerInput > 0) norms += hidden; // post_per_layer_input_norm
    const ownPerLayer = perLayerInput > 0 ? 2 * linear(hidden, perLayerInput) : 0; // gate and projection
    layers.push({
      // The keys double as values when k_eq_v, but the cache still holds both tensors.
      mixer: { kind: "attention", window, params, kvValues: ownKv ? 2 * kvHeads * headDim : 0 },
      ffn,
      norms,
      other: ownPerLayer,
    });
  }
  if (kvShared > 0) text.notes.add(`The last ${kvShared} layers reuse earlier layers' KV cache and add none of their own.`);
  if (settings && settings.experts > 0) text.notes.add("Each MoE layer also runs a dense MLP next to its experts; it is counted as dense_mlp and is always active.");

  const tied = readTied(input, true);
  const parts = embeddingParts(vocab, hidden, tied);
  // Per-layer embeddings: a second, input-only table of num_layers x hidden_size_per_layer_input per token.
  const perLayerVocab = text.int("vocab_size_per_layer_input") ?? vocab;
  const perLayerTable = perLayerInput > 0 ? perLayerVocab * layerCount * perLayerInput : 0;
  const perLayerProjection = perLayerInput > 0 ? linear(hidden, layerCount * perLayerInput) + perLayerInput : 0;
  if (perLayerTable > 0) text.notes.add("Per-layer embeddings are counted as embedding; a decoded token reads one row of them (activeRead).");
  const mtpLayers = readMtpLayers(input);
  const moe = settings && settings.experts > 0 ? settings : undefined;
  return decoderPlan(
    { hidden, vocab, layers, tied, heads: h, slidingWindow: slidingWindowSize(input), moe, mtpLayers, mtpLayer: mtpTemplate(layers) },
    {
      embedding: parts.embedding + perLayerTable,
      inputOnlyEmbedding: parts.inputOnlyEmbedding + perLayerTable,
      inputRowValues: parts.inputRowValues + (perLayerInput > 0 ? layerCount * perLayerInput : 0),
      other: perLayerProjection,
      sharedExperts: moe ? 0 : null, // the dense MLP beside the experts is not a shared expert
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Unknown architectures: a generic transformer estimate from the common size settings
// ---------------------------------------------------------------------------------------------

function genericDecoder(input: DecoderInput): DecoderPlan {
  const { text, hidden, vocab } = input;
  text.notes.add("Unknown architecture: a generic estimate (GQA attention without biases, gated MLP, two norms per layer).");
  const h = readHeads(input);
  const attention = gqaAttention({ hidden, ...h, qkvBias: false, outBias: false, qkNorm: "none" });
  const settings = readMoe(input, 2);
  const isMoe = denseFirstRule(input);
  const shared = settings.sharedSize > 0 ? gatedMlp(hidden, settings.sharedSize) : settings.sharedCount > 0 ? gatedMlp(hidden, settings.expertSize * settings.sharedCount) : 0;
  const denseSize = text.int(INTERMEDIATE) ?? (settings.experts > 0 ? settings.expertSize : intermediateSize(input));
  const layers: LayerPlan[] = [];
  for (let i = 0; i < input.layers; i++) {
    const ffn: FfnPlan =
      settings.experts > 1 && isMoe(i)
        ? { kind: "moe", experts: settings.experts, topK: settings.topK, perExpert: gatedMlp(hidden, settings.expertSize), shared, router: linear(hidden, settings.experts), dense: 0 }
        : { kind: "dense", params: gatedMlp(hidden, denseSize) };
    layers.push({ mixer: { kind: "attention", window: "full", params: attention, kvValues: 2 * h.kvHeads * h.headDim }, ffn, norms: 2 * hidden });
  }
  const tieValue = text.raw("tie_word_embeddings") ?? input.root.raw("tie_word_embeddings");
  const tied = tieValue === true;
  if (typeof tieValue !== "boolean") text.notes.add("tie_word_embeddings not set; assumed a separate output head.");
  const mtpLayers = readMtpLayers(input);
  const moe = settings.experts > 1 ? settings : undefined;
  return decoderPlan({ hidden, vocab, layers, tied, heads: h, slidingWindow: null, moe, mtpLayers, mtpLayer: mtpTemplate(layers) });
}

export function buildDecoder(family: Family | "unknown", input: DecoderInput): DecoderPlan {
  switch (family) {
    case "llama":
    case "mistral":
    case "qwen2":
    case "qwen3":
    case "phi3":
    case "granite":
    case "olmo2":
    case "gemma":
    case "gemma2":
    case "gemma3":
      return llamaLike(input, family);
    case "mixtral":
    case "olmoe":
    case "minimax_m2":
    case "granitemoe":
    case "gpt_oss":
    case "qwen2_moe":
    case "qwen3_moe":
    case "glm4_moe":
      return simpleMoe(input, family);
    case "llama4":
      return llama4(input);
    case "deepseek_v2":
    case "deepseek_v3":
    case "glm_moe_dsa":
      return mlaMoe(input, family);
    case "qwen3_next":
    case "qwen3_5":
    case "qwen3_5_moe":
      return qwenHybrid(input, family);
    case "nemotron_h":
      return nemotronH(input);
    case "gemma4":
      return gemma4(input);
    default:
      return genericDecoder(input);
  }
}
