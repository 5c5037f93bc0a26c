// The config.json analyser: what a model is (family, dense or mixture-of-experts), how many
// parameters it has in total and per token, and what its KV cache costs. Pure and total: it takes
// the parsed JSON and returns a ConfigAnalysis or an AnalysisError, never throws, and its work is
// bounded by the (validated) layer count, whatever the input.
//
// Reading order for a newcomer:
//   1. analyzeConfig (below) finds the text config and the family (config-families.ts),
//   2. buildDecoder (config-decoders.ts) describes every decoder layer from the family's rules,
//   3. visionEncoder / audioEncoder (config-encoders.ts) count the encoder towers,
//   4. summarise() applies THE counting rule of types.ts to all of it.

import { buildDecoder, type DecoderPlan, type LayerPlan } from "./config-decoders.ts";
import { audioEncoder, visionEncoder, type EncoderCount } from "./config-encoders.ts";
import { detectFamily, type Family, type FamilyMatch } from "./config-families.ts";
import { quantizationConfig, readQuantization } from "./config-quantization.ts";
import { ConfigReader, isJsonObject, Notes } from "./config-reader.ts";
import {
  BREAKDOWN_KEYS,
  type AnalysisError,
  type ArchitectureFacts,
  type AttentionShape,
  type BreakdownKey,
  type ConfigAnalysis,
  type ParameterCounts,
} from "./types.ts";

/** Beyond these a config describes no real model; refusing them keeps the work bounded. */
export const MAX_LAYERS = 10_000;
const MAX_HIDDEN = 1_000_000;
const MAX_VOCAB = 50_000_000;

const HIDDEN = ["hidden_size", "n_embd", "d_model", "model_dim", "dim"];
const LAYERS = ["num_hidden_layers", "n_layer", "num_layers", "n_layers"];
const VOCAB = ["vocab_size", "padded_vocab_size", "n_vocab"];
const CONTEXT = ["max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "model_max_length"];

export function isAnalysisError(result: ConfigAnalysis | AnalysisError): result is AnalysisError {
  return "ok" in result && result.ok === false;
}

export function analyzeConfig(config: unknown): ConfigAnalysis | AnalysisError {
  try {
    return analyze(config);
  } catch {
    // Only a hostile object (a throwing getter or proxy) gets here: JSON.parse output cannot throw.
    return { ok: false, error: "the config could not be read" };
  }
}

function analyze(config: unknown): ConfigAnalysis | AnalysisError {
  if (!isJsonObject(config)) return { ok: false, error: "config.json must be a JSON object" };
  const notes = new Notes();
  const root = new ConfigReader(config, notes, "config");
  // Multimodal configs keep the language model's settings in a sub-config.
  const text = root.child("text_config") ?? root.child("language_config") ?? root.child("llm_config") ?? root;
  const architectures = (root.list("architectures", 16) ?? []).filter((a): a is string => typeof a === "string" && a.length <= 200);
  const match = detectFamily(root, text, architectures);

  const hidden = text.int(HIDDEN);
  const layers = text.int(LAYERS);
  if (!hidden || !layers) return { ok: false, error: "config.json gives no hidden_size and num_hidden_layers; nothing to estimate from" };
  if (layers > MAX_LAYERS) return { ok: false, error: `num_hidden_layers ${layers} is implausible (more than ${MAX_LAYERS})` };
  if (hidden > MAX_HIDDEN) return { ok: false, error: `hidden_size ${hidden} is implausible (more than ${MAX_HIDDEN})` };
  let vocab = text.int(VOCAB) ?? root.int(VOCAB);
  if (vocab === undefined) {
    notes.add("No vocab_size: embeddings and output head are not counted.");
    vocab = 0;
  }
  if (vocab > MAX_VOCAB) return { ok: false, error: `vocab_size ${vocab} is implausible (more than ${MAX_VOCAB})` };

  explainMatch(match, root, notes);
  const plan = buildDecoder(match.family, { text, root, hidden, layers, vocab });
  const vision = visionEncoder(match.family, root, hidden);
  const audio = audioEncoder(match.family, root, hidden);
  for (const [name, encoder] of [["vision", vision], ["audio", audio]] as const) {
    if (encoder?.approximate) notes.add(`The ${name} encoder is an estimate from its width and depth (ViT-style layers), not its exact construction.`);
  }

  const parameters = summarise(plan, vision, audio);
  if (!parameters) return { ok: false, error: "the config's sizes multiply to an implausibly large model" };

  const quantization = readQuantization(quantizationConfig(root, text));
  if (quantization && quantization.bits !== null && quantization.bits <= 4) {
    notes.add("Packed 4-bit weights hold two values per byte; the counts here are values, not bytes.");
  }

  return {
    architecture: facts(match.family, root, plan, vision, audio, architectures),
    parameters,
    attention: attentionShape(plan),
    context: { length: text.int(CONTEXT) ?? root.int(CONTEXT) ?? null },
    confidence: match.via === "model_type" || match.via === "architectures" ? "high" : "low",
    notes: notes.list(),
    dtype: root.str(["torch_dtype", "dtype"]) ?? text.str(["torch_dtype", "dtype"]) ?? null,
    quantization,
  };
}

function explainMatch(match: FamilyMatch, root: ConfigReader, notes: Notes): void {
  const modelType = root.str("model_type") ?? "(none)";
  if (match.via === "architectures") notes.add(`model_type ${modelType} is not known; counted as ${match.family} from its architectures.`);
  if (match.via === "shape") notes.add(`model_type ${modelType} is not known; counted as ${match.family} from the settings the config carries.`);
}

/** THE counting rule (types.ts) applied to a decoder plan and its encoders. */
function summarise(plan: DecoderPlan, vision: EncoderCount | undefined, audio: EncoderCount | undefined): ParameterCounts | undefined {
  const breakdown = Object.fromEntries(BREAKDOWN_KEYS.map((key) => [key, 0])) as Record<BreakdownKey, number>;
  breakdown.embedding = plan.embedding;
  breakdown.lm_head = plan.lmHead;
  breakdown.norms = plan.finalNorm;
  breakdown.other = plan.other;
  let inactiveExperts = 0;
  for (const layer of plan.layers) {
    if (layer.mixer.kind !== "none") breakdown.attention += layer.mixer.params;
    breakdown.norms += layer.norms;
    breakdown.other += layer.other ?? 0;
    const ffn = layer.ffn;
    if (ffn.kind === "dense") breakdown.dense_mlp += ffn.params;
    if (ffn.kind === "moe") {
      breakdown.experts += ffn.experts * ffn.perExpert;
      breakdown.shared_experts += ffn.shared;
      breakdown.router += ffn.router;
      breakdown.dense_mlp += ffn.dense;
      // Only the top-k routed experts run for a token.
      inactiveExperts += (ffn.experts - ffn.topK) * ffn.perExpert;
    }
  }
  breakdown.vision = vision?.params ?? 0;
  breakdown.audio = audio?.params ?? 0;
  breakdown.mtp = plan.mtpParams;

  // MTP layers are reported but never part of the total.
  const total = BREAKDOWN_KEYS.filter((key) => key !== "mtp").reduce((sum, key) => sum + breakdown[key], 0);
  const active = total - breakdown.vision - breakdown.audio - inactiveExperts;
  // Decoding reads one row of each input-only embedding table, not the whole table.
  const activeRead = active - plan.inputOnlyEmbedding + plan.inputRowValues;
  const all = [total, active, activeRead, ...Object.values(breakdown)];
  if (!all.every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { total, active, activeRead, breakdown };
}

function attentionShape(plan: DecoderPlan): AttentionShape {
  const caching = (l: LayerPlan) => l.mixer.kind === "attention" && l.mixer.kvValues > 0;
  const full = plan.layers.filter((l) => caching(l) && l.mixer.kind === "attention" && l.mixer.window === "full");
  const sliding = plan.layers.filter((l) => caching(l) && l.mixer.kind === "attention" && l.mixer.window === "sliding");
  const linearLayers = plan.layers.filter((l) => l.mixer.kind === "linear");
  const kvOf = (l: LayerPlan | undefined) => (l?.mixer.kind === "attention" ? l.mixer.kvValues : 0);
  const fullKv = kvOf(full[0] ?? sliding[0]);
  const state = linearLayers[0]?.mixer.kind === "linear" ? linearLayers[0].mixer.stateValues : 0;
  const hasAttention = full.length + sliding.length > 0;
  return {
    fullAttentionLayers: full.length,
    slidingWindowLayers: sliding.length,
    slidingWindow: sliding.length > 0 ? plan.slidingWindow : null,
    linearAttentionLayers: linearLayers.length,
    linearStateBytesPerLayer: 2 * state,
    kvValuesPerTokenPerLayer: fullKv,
    slidingKvValuesPerTokenPerLayer: sliding.length > 0 ? kvOf(sliding[0]) : fullKv,
    kind: hasAttention ? plan.attentionKind : "none",
    heads: hasAttention ? plan.heads : null,
    kvHeads: hasAttention ? plan.kvHeads : null,
    headDim: hasAttention ? plan.headDim : null,
  };
}

/** Bytes of KV cache plus recurrent state for one sequence of `tokens` tokens. */
export function kvCacheBytes(shape: AttentionShape, tokens: number, bytesPerValue = 2): number {
  const slidingTokens = shape.slidingWindow === null ? tokens : Math.min(tokens, shape.slidingWindow);
  const values = shape.fullAttentionLayers * shape.kvValuesPerTokenPerLayer * tokens + shape.slidingWindowLayers * shape.slidingKvValuesPerTokenPerLayer * slidingTokens;
  return values * bytesPerValue + shape.linearAttentionLayers * shape.linearStateBytesPerLayer * (bytesPerValue / 2);
}

function facts(
  family: Family | "unknown",
  root: ConfigReader,
  plan: DecoderPlan,
  vision: EncoderCount | undefined,
  audio: EncoderCount | undefined,
  architectures: string[],
): ArchitectureFacts {
  const moe = plan.layers.some((l) => l.ffn.kind === "moe");
  const modalities: ArchitectureFacts["modalities"] = ["text"];
  if (vision || root.child("vision_config")) modalities.push("vision");
  if (audio || root.child("audio_config")) modalities.push("audio");
  return {
    family,
    modelType: root.str("model_type") ?? null,
    architectures,
    moe,
    experts: moe ? plan.experts : null,
    expertsPerToken: moe ? plan.expertsPerToken : null,
    sharedExperts: moe ? plan.sharedExperts : null,
    layers: plan.layers.length,
    denseLayers: moe ? plan.layers.filter((l) => l.ffn.kind === "dense").length : 0,
    hiddenSize: plan.hidden,
    vocabSize: plan.vocab,
    tiedEmbeddings: plan.tied,
    mtpLayers: plan.mtpLayers,
    modalities,
  };
}
