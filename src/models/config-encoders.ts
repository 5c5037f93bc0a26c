// Vision and audio encoders, counted from their sub-configs (vision_config, audio_config) together
// with the projector that maps their output into the language model. Towers whose construction we
// follow exactly (Gemma 4, Llama 4, Qwen3.5, SigLIP for Gemma 3) are counted tensor by tensor;
// any other tower gets a ViT-style estimate and a note saying so.

import { gatedMlp, linear } from "./config-blocks.ts";
import type { Family } from "./config-families.ts";
import type { ConfigReader } from "./config-reader.ts";

export type EncoderCount = { params: number; approximate: boolean };

/** Encoders deeper than this are not real; they are left out rather than counted. */
const MAX_ENCODER_LAYERS = 1024;

function layersOf(config: ConfigReader, keys: readonly string[]): number | undefined {
  const layers = config.int(keys);
  if (layers !== undefined && layers > MAX_ENCODER_LAYERS) {
    config.notes.add(`${config.path} declares ${layers} layers; that encoder is left out of the count.`);
    return undefined;
  }
  return layers;
}

/** LayerNorm with weight and bias. */
const layerNorm = (width: number) => 2 * width;

// --- Gemma 4 -------------------------------------------------------------------------------------

function gemma4Vision(v: ConfigReader, textHidden: number): EncoderCount | undefined {
  const hidden = v.int("hidden_size") ?? 1152;
  const layers = layersOf(v, ["num_hidden_layers"]) ?? 27;
  const heads = v.int("num_attention_heads") ?? 16;
  const kvHeads = v.int("num_key_value_heads") ?? heads;
  const headDim = v.int("head_dim") ?? Math.floor(hidden / heads);
  const patch = v.int("patch_size") ?? 16;
  const positions = v.int("position_embedding_size") ?? 10240;
  const intermediate = v.int("intermediate_size") ?? 4304;
  const patchEmbedder = linear(3 * patch * patch, hidden) + 2 * positions * hidden; // x and y position tables
  const attention = linear(hidden, heads * headDim) + 2 * linear(hidden, kvHeads * headDim) + linear(heads * headDim, hidden) + 2 * headDim;
  const layer = attention + gatedMlp(hidden, intermediate) + 4 * hidden;
  const projector = linear(hidden, textHidden); // embed_vision (its pre-norm has no scale)
  return { params: patchEmbedder + layers * layer + projector, approximate: false };
}

function gemma4Audio(a: ConfigReader, textHidden: number): EncoderCount | undefined {
  const hidden = a.int("hidden_size") ?? 1024;
  const layers = layersOf(a, ["num_hidden_layers"]) ?? 12;
  const heads = Math.max(1, a.int("num_attention_heads") ?? 8);
  const kernel = a.int("conv_kernel_size") ?? 5;
  const outputDims = a.int("output_proj_dims") ?? 1536;
  const channels = a.intList("subsampling_conv_channels", 2) ?? [];
  const [c0, c1] = channels.length === 2 ? channels : [128, 32];
  // Two stride-2 3x3 convolutions with (bias-free) LayerNorms, then a linear input projection.
  const subsample = 9 * c0 + c0 + 9 * c0 * c1 + c1 + linear(Math.floor(c0 / 4) * c1, hidden);
  const feedForward = linear(hidden, 4 * hidden) + linear(4 * hidden, hidden) + 2 * hidden;
  const headDim = Math.floor(hidden / heads);
  const attention = 3 * linear(hidden, heads * headDim) + linear(hidden, hidden) /* post */ + linear(hidden, heads * headDim) /* relative keys */ + headDim;
  const lightConv = linear(hidden, 2 * hidden) + linear(hidden, hidden) + hidden * kernel + 2 * hidden;
  const layer = 2 * feedForward + attention + lightConv + 3 * hidden;
  const output = linear(hidden, outputDims, true);
  return { params: subsample + layers * layer + output + linear(outputDims, textHidden), approximate: false };
}

// --- Llama 4 -------------------------------------------------------------------------------------

function llama4Vision(v: ConfigReader, textHidden: number): EncoderCount | undefined {
  const hidden = v.int("hidden_size") ?? 1408;
  const layers = layersOf(v, ["num_hidden_layers"]) ?? 34;
  const intermediate = v.int("intermediate_size") ?? 5632;
  const patch = v.int("patch_size") ?? 14;
  const image = v.int("image_size") ?? 336;
  const channels = v.int("num_channels") ?? 3;
  const positions = Math.floor(image / patch) ** 2 + 1; // patches plus the class token
  const embeddings = linear(channels * patch * patch, hidden) + hidden /* class embedding */ + positions * hidden + 2 * layerNorm(hidden);
  const layer = 4 * linear(hidden, hidden, true) + linear(hidden, intermediate, true) + linear(intermediate, hidden, true) + 2 * layerNorm(hidden);
  // The pixel-shuffle adapter (two bias-free linears) and the projector into the text model.
  const adapter = linear(intermediate, v.int("projector_input_dim") ?? 4096) + linear(v.int("projector_output_dim") ?? 4096, v.int("projector_output_dim") ?? 4096);
  const projector = linear(v.int("vision_output_dim") ?? 4096, textHidden);
  return { params: embeddings + layers * layer + adapter + projector, approximate: false };
}

// --- Qwen3.5 (the Qwen3-VL vision tower) ---------------------------------------------------------

function qwenVision(v: ConfigReader): EncoderCount | undefined {
  const hidden = v.int("hidden_size") ?? 1152;
  const layers = layersOf(v, ["depth", "num_hidden_layers"]) ?? 27;
  const intermediate = v.int("intermediate_size") ?? 4304;
  const patch = v.int("patch_size") ?? 16;
  const temporal = v.int("temporal_patch_size") ?? 2;
  const channels = v.int("in_channels") ?? 3;
  const merge = v.int("spatial_merge_size") ?? 2;
  const out = v.int("out_hidden_size") ?? hidden;
  const patchEmbed = linear(channels * temporal * patch * patch, hidden, true) + (v.int("num_position_embeddings") ?? 2304) * hidden;
  const layer = 2 * layerNorm(hidden) + linear(hidden, 3 * hidden, true) + linear(hidden, hidden, true) + linear(hidden, intermediate, true) + linear(intermediate, hidden, true);
  const merged = hidden * merge * merge;
  const merger = (normWidth: number) => layerNorm(normWidth) + linear(merged, merged, true) + linear(merged, out, true);
  const deepstack = (v.list("deepstack_visual_indexes", MAX_ENCODER_LAYERS) ?? []).length;
  return { params: patchEmbed + layers * layer + merger(hidden) + deepstack * merger(merged), approximate: false };
}

// --- Gemma 3 (SigLIP) ------------------------------------------------------------------------------

function siglipVision(v: ConfigReader, textHidden: number): EncoderCount | undefined {
  const hidden = v.int("hidden_size") ?? 1152;
  const layers = layersOf(v, ["num_hidden_layers"]) ?? 27;
  const intermediate = v.int("intermediate_size") ?? 4304;
  const patch = v.int("patch_size") ?? 14;
  const image = v.int("image_size") ?? 896;
  const channels = v.int("num_channels") ?? 3;
  const embeddings = linear(channels * patch * patch, hidden, true) + Math.floor(image / patch) ** 2 * hidden;
  const layer = 4 * linear(hidden, hidden, true) + linear(hidden, intermediate, true) + linear(intermediate, hidden, true) + 2 * layerNorm(hidden);
  const head = v.bool("vision_use_head", false) ? hidden + 4 * linear(hidden, hidden, true) + layerNorm(hidden) + linear(hidden, intermediate, true) + linear(intermediate, hidden, true) : 0;
  // Gemma 3's projector: one matrix into the text width and an RMSNorm before it.
  const projector = linear(hidden, textHidden) + hidden;
  return { params: embeddings + layers * layer + layerNorm(hidden) + head + projector, approximate: false };
}

// --- Anything else ---------------------------------------------------------------------------------

/** A ViT-style tower: attention (4H^2) and a two-matrix MLP per layer, patch embedding, projector. */
function genericTower(c: ConfigReader, textHidden: number, kind: "vision" | "audio"): EncoderCount | undefined {
  const hidden = c.int(["hidden_size", "d_model", "embed_dim", "width", "vision_hidden_size"]);
  const layers = layersOf(c, ["num_hidden_layers", "depth", "encoder_layers", "num_layers", "layers"]);
  if (!hidden || !layers) {
    c.notes.add(`${c.path} does not give its width and depth; that ${kind} encoder is left out of the count.`);
    return undefined;
  }
  const intermediate = c.int(["intermediate_size", "encoder_ffn_dim", "mlp_dim", "ffn_dim"]) ?? 4 * hidden;
  const patch = c.int("patch_size") ?? 14;
  const input = kind === "vision" ? linear(3 * patch * patch, hidden, true) : 0;
  const layer = 4 * linear(hidden, hidden, true) + linear(hidden, intermediate, true) + linear(intermediate, hidden, true) + 2 * layerNorm(hidden);
  const out = c.int(["out_hidden_size", "output_dim", "projection_dim"]) ?? hidden;
  return { params: input + layers * layer + linear(out, textHidden), approximate: true };
}

export function visionEncoder(family: Family | "unknown", root: ConfigReader, textHidden: number): EncoderCount | undefined {
  const v = root.child("vision_config");
  if (!v) return undefined;
  switch (family) {
    case "gemma4":
      return gemma4Vision(v, textHidden);
    case "llama4":
      return llama4Vision(v, textHidden);
    case "qwen3_5":
    case "qwen3_5_moe":
      return qwenVision(v);
    case "gemma3":
      return siglipVision(v, textHidden);
    default:
      return genericTower(v, textHidden, "vision");
  }
}

export function audioEncoder(family: Family | "unknown", root: ConfigReader, textHidden: number): EncoderCount | undefined {
  const a = root.child("audio_config");
  if (!a) return undefined;
  return family === "gemma4" ? gemma4Audio(a, textHidden) : genericTower(a, textHidden, "audio");
}
