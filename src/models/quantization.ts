// Quantisation facts: the GGML tensor types used by GGUF files (block layout, bits per weight),
// the GGUF file types, the `quantization_config` of config.json (GPTQ, AWQ, bitsandbytes, FP8,
// MXFP4, NVFP4, compressed-tensors), and how packed checkpoints store their weights in
// safetensors so that parameters (values), not storage elements, are counted.
//
// Everything here is pure and total: unknown or malformed input gives null or an "other" method,
// never an exception.

import type { QuantizationInfo } from "./types.ts";

// ---------------------------------------------------------------------------------------------
// GGML tensor types
// ---------------------------------------------------------------------------------------------

export type GgmlType = {
  id: number;
  name: string;
  /** Values per block. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /** typeSize * 8 / blockSize: what one weight costs, scales included. */
  bitsPerWeight: number;
};

// Block layouts as ggml defines them: the `block_*` structs of ggml/src/ggml-common.h and the
// (block size, type size) table GGML_QUANT_SIZES of llama.cpp's gguf-py/gguf/constants.py.
// The layout of each block is written next to it so the byte counts can be checked by hand
// (QK_K = 256 values per K-quant super-block; "d" is an fp16 scale unless noted).
const GGML_TYPE_LAYOUTS: [id: number, name: string, blockSize: number, typeSize: number][] = [
  [0, "F32", 1, 4],
  [1, "F16", 1, 2],
  [2, "Q4_0", 32, 18], // d + 16 bytes of 4-bit values: 4.5 bpw
  [3, "Q4_1", 32, 20], // d, m + 16 bytes: 5.0 bpw
  [6, "Q5_0", 32, 22], // d + 4 bytes of high bits + 16 bytes: 5.5 bpw
  [7, "Q5_1", 32, 24], // d, m + 4 + 16: 6.0 bpw
  [8, "Q8_0", 32, 34], // d + 32 int8: 8.5 bpw
  // ggml-common.h stores d and s as two fp16 (36 bytes); older gguf-py tables say 4 + 4 + 32.
  // Only used for intermediate results, never stored in released files.
  [9, "Q8_1", 32, 36],
  [10, "Q2_K", 256, 84], // d, dmin + 16 scale bytes + 64 bytes of 2-bit values: 2.625 bpw
  [11, "Q3_K", 256, 110], // 32 bytes hmask + 64 bytes qs + 12 scale bytes + d: 3.4375 bpw
  [12, "Q4_K", 256, 144], // d, dmin + 12 scale bytes + 128 bytes qs: 4.5 bpw
  [13, "Q5_K", 256, 176], // d, dmin + 12 + 32 bytes qh + 128 bytes qs: 5.5 bpw
  [14, "Q6_K", 256, 210], // 128 ql + 64 qh + 16 int8 scales + d: 6.5625 bpw
  [15, "Q8_K", 256, 292], // f32 d + 256 int8 + 16 int16 bsums: 9.125 bpw (intermediate only)
  [16, "IQ2_XXS", 256, 66], // d + 32 uint16: 2.0625 bpw
  [17, "IQ2_XS", 256, 74], // d + 32 uint16 + 8 scale bytes: 2.3125 bpw
  [18, "IQ3_XXS", 256, 98], // d + 3*QK_K/8 bytes: 3.0625 bpw
  [19, "IQ1_S", 256, 50], // d + 32 bytes qs + 8 uint16 qh: 1.5625 bpw
  [20, "IQ4_NL", 32, 18], // d + 16 bytes (non-linear 4-bit grid): 4.5 bpw
  [21, "IQ3_S", 256, 110], // d + 64 qs + 8 qh + 32 signs + 4 scales: 3.4375 bpw
  [22, "IQ2_S", 256, 82], // d + 64 qs + 8 qh + 8 scales: 2.5625 bpw
  [23, "IQ4_XS", 256, 136], // d + 2 scales_h + 4 scales_l + 128 qs: 4.25 bpw
  [24, "I8", 1, 1],
  [25, "I16", 1, 2],
  [26, "I32", 1, 4],
  [27, "I64", 1, 8],
  [28, "F64", 1, 8],
  [29, "IQ1_M", 256, 56], // 32 qs + 16 qh + 8 scales (scale packed in the scales): 1.75 bpw
  [30, "BF16", 1, 2],
  [34, "TQ1_0", 256, 54], // 48 bytes base-3 packed + 4 bytes + d: 1.6875 bpw
  [35, "TQ2_0", 256, 66], // 64 bytes of 2-bit ternary + d: 2.0625 bpw
  [39, "MXFP4", 32, 17], // E8M0 shared exponent + 16 bytes of E2M1 values: 4.25 bpw (OCP MX spec)
  [40, "NVFP4", 64, 36], // 4 UE4M3 scales (one per 16 values) + 32 bytes of E2M1: 4.5 bpw
  [41, "Q1_0", 128, 18], // d + 16 bytes of 1-bit values: 1.125 bpw
];

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  GGML_TYPE_LAYOUTS.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize, bitsPerWeight: (typeSize * 8) / blockSize }]),
);

export function ggmlTypeByName(name: string): GgmlType | undefined {
  const wanted = name.toUpperCase();
  for (const type of GGML_TYPES.values()) if (type.name === wanted) return type;
  return undefined;
}

/**
 * Bytes a tensor of `values` values of this type occupies, or null when the count is not a whole
 * number of blocks (ggml requires the innermost dimension to be a multiple of the block size).
 */
export function ggmlTensorBytes(type: GgmlType, values: number): number | null {
  if (values % type.blockSize !== 0) return null;
  return (values / type.blockSize) * type.typeSize;
}

// general.file_type of GGUF files (llama.cpp's LLAMA_FTYPE_MOSTLY_*): the recipe the file was
// quantised with. The tensors themselves carry their own types: Q4_K_M mixes Q4_K and Q6_K.
// Numbers 4-6 and 33-35 are removed or repacking-only formats, kept so old files still name.
const GGUF_FILE_TYPES: Record<number, string> = {
  0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 5: "Q4_2", 6: "Q4_3", 7: "Q8_0", 8: "Q5_0",
  9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
  17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS",
  24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
  32: "BF16", 33: "Q4_0_4_4", 34: "Q4_0_4_8", 35: "Q4_0_8_8", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
  39: "NVFP4", 40: "Q1_0",
};

export function ggufFileTypeName(id: number): string | null {
  return GGUF_FILE_TYPES[id] ?? null;
}

// ---------------------------------------------------------------------------------------------
// config.json quantization_config
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const posInt = (v: unknown): number | null => (typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const round = (v: number) => Math.round(v * 1000) / 1000;

/** Bits per weight of integer group quantisation: the values, one fp16 scale per group, and a zero point per group when asymmetric. */
function groupBits(bits: number, groupSize: number | null, zeroBits: number): number {
  if (!groupSize) return bits; // per-channel: one scale per output row is negligible
  return round(bits + (16 + zeroBits) / groupSize);
}

/**
 * The quantisation declared by a config.json (`quantization_config`, or `compression_config`
 * in older compressed-tensors checkpoints). Null when the model is not quantised.
 * bitsPerWeight is that of the quantised linear weights; layers the method leaves unconverted
 * (embeddings, lm_head, norms, routers) keep their own dtype.
 */
export function quantizationFromConfig(config: unknown): QuantizationInfo | null {
  if (!isObject(config)) return null;
  const own = (o: Json, k: string): Json | null => (Object.prototype.hasOwnProperty.call(o, k) && isObject(o[k]) ? (o[k] as Json) : null);
  const text = own(config, "text_config");
  // multimodal configs sometimes keep it under text_config
  const q = own(config, "quantization_config") ?? own(config, "compression_config") ?? (text && (own(text, "quantization_config") ?? own(text, "compression_config")));
  if (!q) {
    // MLX checkpoints describe their affine group quantisation in a top-level `quantization`.
    if (own(config, "quantization") && posInt((config.quantization as Json).bits)) {
      const mlx = config.quantization as Json;
      const bits = posInt(mlx.bits)!;
      const groupSize = posInt(mlx.group_size);
      // MLX stores an fp16 scale and an fp16 bias per group.
      return { method: "other", bits, bitsPerWeight: groupSize ? round(bits + 32 / groupSize) : bits, details: { format: "mlx", groupSize } };
    }
    return null;
  }
  const method = (str(q.quant_method) ?? (q.config_groups ? "compressed-tensors" : "")).toLowerCase();
  switch (method) {
    case "gptq": {
      const bits = posInt(q.bits) ?? 4;
      const groupSize = num(q.group_size) !== null && num(q.group_size)! > 0 ? num(q.group_size) : null;
      return {
        method: "gptq",
        bits,
        // GPTQ stores fp16 scales and `bits`-bit packed zero points per group
        bitsPerWeight: groupBits(bits, groupSize, bits),
        details: { groupSize, descAct: q.desc_act ?? null, symmetric: q.sym ?? null, checkpointFormat: q.checkpoint_format ?? null },
      };
    }
    case "awq": {
      const bits = posInt(q.bits) ?? posInt(q.w_bit) ?? 4;
      const groupSize = posInt(q.group_size) ?? posInt(q.q_group_size);
      const zeroPoint = q.zero_point !== false;
      return { method: "awq", bits, bitsPerWeight: groupBits(bits, groupSize, zeroPoint ? bits : 0), details: { groupSize, zeroPoint, version: q.version ?? null } };
    }
    case "bitsandbytes":
    case "bitsandbytes_4bit":
    case "bitsandbytes_8bit": {
      const four = q.load_in_4bit === true || q._load_in_4bit === true || method === "bitsandbytes_4bit";
      const eight = q.load_in_8bit === true || q._load_in_8bit === true || method === "bitsandbytes_8bit";
      if (four) {
        const double = q.bnb_4bit_use_double_quant === true;
        // 4-bit blocks of 64 values with an fp32 absmax each (0.5 bit); double quantisation
        // stores the absmax as 8 bits plus an fp32 per 256 of them.
        const bpw = double ? round(4 + 8 / 64 + 32 / (64 * 256)) : 4.5;
        return { method: "bitsandbytes", bits: 4, bitsPerWeight: bpw, details: { quantType: q.bnb_4bit_quant_type ?? "fp4", doubleQuant: double, computeDtype: q.bnb_4bit_compute_dtype ?? null } };
      }
      if (eight) return { method: "bitsandbytes", bits: 8, bitsPerWeight: 8, details: { threshold: q.llm_int8_threshold ?? null } };
      return { method: "bitsandbytes", bits: null, bitsPerWeight: null, details: {} };
    }
    case "fp8":
    case "fbgemm_fp8": {
      const block = Array.isArray(q.weight_block_size) && q.weight_block_size.length === 2 && q.weight_block_size.every((v) => posInt(v)) ? (q.weight_block_size as number[]) : null;
      // one fp32 scale per block (DeepSeek: 128x128); per-channel scales otherwise
      return {
        method: "fp8",
        bits: 8,
        bitsPerWeight: block ? round(8 + 32 / (block[0] * block[1])) : 8,
        details: { format: q.fmt ?? "e4m3", weightBlockSize: block, activationScheme: q.activation_scheme ?? null, variant: method },
      };
    }
    case "mxfp4":
      // OCP microscaling: 32 E2M1 values share one E8M0 exponent byte
      return { method: "mxfp4", bits: 4, bitsPerWeight: 4.25, details: { modulesNotConverted: Array.isArray(q.modules_to_not_convert) ? q.modules_to_not_convert.length : null } };
    case "modelopt": {
      const algo = (str(q.quant_algo) ?? "").toUpperCase();
      if (algo.includes("NVFP4")) {
        const groupSize = posInt(q.group_size) ?? 16;
        // E2M1 values, one FP8 (E4M3) scale per 16 values, one fp32 scale per tensor
        return { method: "nvfp4", bits: 4, bitsPerWeight: round(4 + 8 / groupSize), details: { producer: "modelopt", quantAlgo: algo, groupSize } };
      }
      if (algo.includes("FP8")) return { method: "fp8", bits: 8, bitsPerWeight: 8, details: { producer: "modelopt", quantAlgo: algo } };
      return { method: "other", bits: null, bitsPerWeight: null, details: { producer: "modelopt", quantAlgo: algo || null } };
    }
    case "compressed-tensors":
      return compressedTensors(q);
    default: {
      const bits = posInt(q.bits) ?? posInt(q.w_bit) ?? posInt(q.weight_bits) ?? null;
      return { method: "other", bits, bitsPerWeight: bits, details: { quantMethod: method || null } };
    }
  }
}

/** compressed-tensors (llm-compressor): one or more config groups, each a weight scheme. */
function compressedTensors(q: Json): QuantizationInfo {
  const format = str(q.format);
  const groups = isObject(q.config_groups) ? Object.values(q.config_groups).filter(isObject).slice(0, 64) : [];
  const weights = groups.map((g) => (isObject(g.weights) ? g.weights : null)).filter((w): w is Json => w !== null);
  const first = weights[0];
  const bits = first ? posInt(first.num_bits) : null;
  const type = first ? str(first.type) : null; // "int" | "float"
  const strategy = first ? str(first.strategy) : null; // "group" | "channel" | "tensor" | "block" | "tensor_group"
  const groupSize = first ? posInt(first.group_size) : null;
  let scheme: string | null = null;
  let bitsPerWeight: number | null = bits;
  if (format === "nvfp4-pack-quantized" || (type === "float" && bits === 4)) {
    scheme = "nvfp4";
    bitsPerWeight = round(4 + 8 / (groupSize ?? 16)); // FP8 scale per 16 values
  } else if (type === "float" && bits === 8) {
    scheme = "fp8";
    bitsPerWeight = 8;
  } else if (type === "int" && bits) {
    scheme = `w${bits}a${inputBits(groups) ?? 16}`;
    const symmetric = first?.symmetric !== false;
    if (strategy === "group" || strategy === "tensor_group") bitsPerWeight = groupBits(bits, groupSize, symmetric ? 0 : bits);
  }
  return {
    method: "compressed-tensors",
    bits,
    bitsPerWeight,
    details: { format, scheme, type, strategy, groupSize, groups: groups.length, status: q.quantization_status ?? null },
  };
}

function inputBits(groups: Json[]): number | null {
  for (const g of groups) if (isObject(g.input_activations)) return posInt(g.input_activations.num_bits);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Packed weights in safetensors checkpoints
// ---------------------------------------------------------------------------------------------

/** A tensor as a safetensors header declares it. `elements` is the product of the shape. */
export type StoredTensor = { name: string; dtype: string; shape: number[]; elements: number };

/**
 * How one stored tensor counts: `parameters` values of the model, or an auxiliary tensor of the
 * quantisation (scales, zero points, group indices) that is not a parameter of the model.
 */
export type TensorCount = { parameters: number; auxiliary: boolean; packedValuesPerElement: number };

export const PACKED_WIDTH_ASSUMED = "packed weights without a declared bit width are counted as 4-bit values";

/** Storage bits of the integer dtypes that quantisers pack several values into. */
const PACKING_DTYPE_BITS: Record<string, number> = { U8: 8, I8: 8, I16: 16, U16: 16, I32: 32, U32: 32, I64: 64, U64: 64 };

// Tensors stored beside a quantised weight that hold its scales, zero points or group order.
const AUXILIARY_LEAVES = new Set([
  "qzeros", "scales", "g_idx", "qscales", // GPTQ / AWQ
  "weight_scale", "weight_scale_inv", "weight_scale_2", "input_scale", "output_scale", "pre_quant_scale", // FP8 / NVFP4 (ModelOpt)
  "weight_global_scale", "input_global_scale", "weight_zero_point", "weight_shape", "weight_g_idx", // compressed-tensors
  "SCB", "weight_format", // bitsandbytes 8-bit
  "k_scale", "v_scale", "q_scale", "kv_scale", // FP8 KV-cache scales
]);
// bitsandbytes 4-bit keeps its quantisation state under `<module>.weight.<part>`.
const BNB_STATE = /\.weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\..*)$/;

function splitName(name: string): { base: string; leaf: string } {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? { base: "", leaf: name } : { base: name.slice(0, dot), leaf: name.slice(dot + 1) };
}

/**
 * Parameters per tensor of a checkpoint, undoing the packing of quantised formats:
 * - GPTQ/AWQ `qweight` and compressed-tensors `weight_packed`: `32 / bits` values per int32
 *   (or `storage bits / bits` for other integer dtypes);
 * - MXFP4 `*_blocks` (gpt-oss): two E2M1 values per byte;
 * - bitsandbytes 4-bit and NVFP4 (ModelOpt) `weight` stored as U8: two values per byte;
 * - safetensors' own sub-byte dtypes (F4, F6_*) already count values in their shape.
 * Scales, zero points and similar tensors beside a quantised weight are marked auxiliary.
 * The whole tensor list is needed: siblings decide, and shards may split a module.
 */
export function countStoredTensors(tensors: readonly StoredTensor[], quantization: QuantizationInfo | null): { counts: TensorCount[]; notes: string[] } {
  const names = new Set(tensors.map((t) => t.name));
  const bnbStates = new Set<string>();
  for (const name of names) {
    const at = name.indexOf(".weight.quant_state.");
    if (at >= 0) bnbStates.add(name.slice(0, at + ".weight".length));
  }
  const notes = new Set<string>();
  const valueBits = quantization?.bits ?? null;
  const packedBits = (storage: number): number => {
    if (valueBits && valueBits < storage) return valueBits;
    notes.add(PACKED_WIDTH_ASSUMED);
    return 4;
  };
  const counts = tensors.map((t): TensorCount => {
    const { base, leaf } = splitName(t.name);
    const prefix = base ? base + "." : "";
    const storage = PACKING_DTYPE_BITS[t.dtype];
    const whole = (parameters: number, packing = 1): TensorCount => ({ parameters, auxiliary: false, packedValuesPerElement: packing });
    const auxiliary: TensorCount = { parameters: 0, auxiliary: true, packedValuesPerElement: 0 };

    if (BNB_STATE.test(t.name)) return auxiliary;
    if (storage && (leaf === "qweight" || leaf === "weight_packed")) {
      const per = storage / packedBits(storage);
      return whole(t.elements * per, per);
    }
    if (t.dtype === "U8" && leaf.endsWith("_blocks")) return whole(t.elements * 2, 2);
    if (leaf.endsWith("_scales") && names.has(prefix + leaf.slice(0, -"_scales".length) + "_blocks")) return auxiliary;
    if (AUXILIARY_LEAVES.has(leaf) && (names.has(prefix + "qweight") || names.has(prefix + "weight_packed") || names.has(prefix + "weight"))) return auxiliary;
    if (leaf === "weight" && t.dtype === "U8") {
      const bnb4 = names.has(t.name + ".absmax") || bnbStates.has(t.name);
      const nvfp4 = names.has(prefix + "weight_scale") || quantization?.method === "nvfp4";
      const declared4 = quantization && quantization.bits === 4 && (quantization.method === "bitsandbytes" || quantization.method === "nvfp4" || quantization.method === "mxfp4");
      if (bnb4 || nvfp4 || declared4) return whole(t.elements * 2, 2);
    }
    return whole(t.elements);
  });
  return { counts, notes: [...notes] };
}
