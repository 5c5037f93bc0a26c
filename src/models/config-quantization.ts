// quantization_config -> QuantizationInfo. Parameter counts elsewhere are always counts of values,
// never of bytes: a packed 4-bit checkpoint stores two values per byte (so its safetensors header
// shows half as many U8 "elements" as there are weights) and the analysis must not be misled by that.

import type { QuantizationInfo } from "./types.ts";
import type { ConfigReader } from "./config-reader.ts";

/** Keys copied into `details`: scalars, and lists of scalars cut to a few entries. */
const MAX_DETAIL_KEYS = 32;
const MAX_LIST_ENTRIES = 16;

function scalarDetails(config: ConfigReader, keys: readonly string[]): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  for (const key of keys.slice(0, MAX_DETAIL_KEYS)) {
    const value = config.raw(key);
    if (typeof value === "string" && value.length <= 200) details[key] = value;
    else if (typeof value === "number" && Number.isFinite(value)) details[key] = value;
    else if (typeof value === "boolean") details[key] = value;
    else if (Array.isArray(value)) {
      const scalars = value.slice(0, MAX_LIST_ENTRIES).filter((v) => ["string", "number", "boolean"].includes(typeof v));
      details[key] = scalars;
      if (value.length > MAX_LIST_ENTRIES) details[`${key}_count`] = value.length;
    }
  }
  return details;
}

/** The first weight-quantisation scheme of a compressed-tensors config (config_groups.*.weights). */
function compressedTensorsWeights(config: ConfigReader): { bits: number | null; type: string | null; groupSize: number | null } {
  const groups = config.child("config_groups");
  for (const name of groups?.keys(8) ?? []) {
    const weights = groups?.child(name)?.child("weights");
    if (weights) return { bits: weights.int("num_bits") ?? null, type: weights.str("type") ?? null, groupSize: weights.int("group_size") ?? null };
  }
  return { bits: null, type: null, groupSize: null };
}

export function readQuantization(config: ConfigReader | undefined): QuantizationInfo | null {
  if (!config) return null;
  const rawMethod = (config.str(["quant_method", "quantization_method"]) ?? "").toLowerCase();
  const algo = (config.str("quant_algo") ?? "").toUpperCase();
  const common = scalarDetails(config, [
    "quant_method",
    "quant_algo",
    "bits",
    "w_bit",
    "group_size",
    "q_group_size",
    "desc_act",
    "sym",
    "version",
    "zero_point",
    "fmt",
    "activation_scheme",
    "weight_block_size",
    "load_in_4bit",
    "load_in_8bit",
    "bnb_4bit_quant_type",
    "bnb_4bit_compute_dtype",
    "format",
    "modules_to_not_convert",
    "ignore",
    "kv_cache_quant_algo",
  ]);

  switch (rawMethod) {
    case "gptq":
      return { method: "gptq", bits: config.int("bits") ?? 4, bitsPerWeight: null, details: common };
    case "awq":
      return { method: "awq", bits: config.int(["bits", "w_bit"]) ?? 4, bitsPerWeight: null, details: common };
    case "bitsandbytes": {
      const bits = config.bool("load_in_4bit", false) ? 4 : config.bool("load_in_8bit", false) ? 8 : null;
      return { method: "bitsandbytes", bits, bitsPerWeight: null, details: common };
    }
    case "fp8":
    case "fbgemm_fp8":
      return { method: "fp8", bits: 8, bitsPerWeight: null, details: common };
    case "mxfp4":
      // 32-value blocks of 4-bit floats sharing one 8-bit scale: 4 + 8/32 bits per weight.
      return { method: "mxfp4", bits: 4, bitsPerWeight: 4.25, details: common };
    case "nvfp4":
      return { method: "nvfp4", bits: 4, bitsPerWeight: 4.5, details: common };
    case "modelopt":
      // NVIDIA ModelOpt: NVFP4 uses 16-value blocks with an FP8 scale (4 + 8/16 bits per weight).
      if (algo.includes("FP4")) return { method: "nvfp4", bits: 4, bitsPerWeight: 4.5, details: common };
      if (algo.includes("FP8")) return { method: "fp8", bits: 8, bitsPerWeight: null, details: common };
      return { method: "other", bits: null, bitsPerWeight: null, details: common };
    case "compressed-tensors": {
      const weights = compressedTensorsWeights(config);
      const format = config.str("format") ?? "";
      const details = { ...common, weight_type: weights.type, weight_group_size: weights.groupSize };
      // compressed-tensors also carries NVFP4 ("nvfp4-pack-quantized"); report it as such.
      if (format.includes("nvfp4")) return { method: "nvfp4", bits: 4, bitsPerWeight: 4.5, details };
      return { method: "compressed-tensors", bits: weights.bits, bitsPerWeight: null, details };
    }
    default:
      return { method: "other", bits: config.int(["bits", "num_bits", "weight_bits"]) ?? null, bitsPerWeight: null, details: common };
  }
}

export function quantizationConfig(root: ConfigReader, text: ConfigReader): ConfigReader | undefined {
  return root.child("quantization_config") ?? text.child("quantization_config") ?? root.child("compression_config");
}
