// Will a model fit a machine, and how fast will it decode? A pure estimator over the config
// analysis (parameters and KV-cache shape, src/models/types.ts) and a hardware profile
// (src/models/hardware-profiles.ts).
//
// The model, in three parts:
//
// 1. Memory = weights + KV cache + runtime overhead.
//    - weights: parameters.total x bits per weight / 8. The bits per weight of each precision are
//      below (PRECISIONS), with where each figure comes from.
//    - KV cache of one sequence at the chosen context: full-attention layers grow with the
//      context, sliding-window layers stop at the window, linear-attention (state-space) layers
//      keep a constant state; MLA caches its compressed latent (kv_lora_rank + rope dims) per
//      token, which the analyser already puts in kvValuesPerTokenPerLayer. 16-bit by default.
//    - overhead: a constant per device plus a compute buffer that grows with vocabulary and
//      hidden size (OVERHEAD below).
// 2. Verdict: "fits" when everything is in accelerator memory; "fits-with-offload" when the
//    profile declares host RAM and the weights that do not fit go there; else "does-not-fit".
// 3. Decode speed: generating one token reads every active weight once (parameters.activeRead,
//    so a mixture-of-experts model reads only its chosen experts) plus the whole KV cache, and
//    single-user decoding is limited by memory bandwidth, not compute. So
//        seconds per token = sum over memory pools of bytes read there / (efficiency x bandwidth)
//    with the efficiency of the runtime class (RUNTIMES) and each pool's peak bandwidth.
//    Several identical GPUs are assumed to split the layers (llama.cpp's default
//    --split-mode layer): memory adds up, but a token passes through the GPUs one after the
//    other, so the per-token time is total bytes / one GPU's bandwidth. Tensor parallelism
//    (vLLM, SGLang) would be faster; the estimate is deliberately the conservative layer split.
//
// No model is special-cased: everything comes from the analysis of its config.json.

import type { ArchitectureFacts, AttentionShape, BreakdownKey, ParameterCounts } from "./types.ts";
import { hostUsableMemoryGB, usableMemoryGB, type HardwareProfile } from "./hardware-profiles.ts";

/** 1 GB of memory = 2^30 bytes (see hardware-profiles.ts); bandwidth GB/s are 10^9 bytes per second. */
export const GIB = 1024 ** 3;
const GB_PER_S = 1e9;

// ---------------------------------------------------------------------------------------------
// Precisions
// ---------------------------------------------------------------------------------------------

export type Precision = {
  name: string;
  /** Average bits per weight of the whole model at this precision, scales included. */
  bitsPerWeight: number;
  /**
   * Bits per weight of the routed-expert weights when a format stores them differently from the
   * rest (MXFP4_MOE); null means the same as bitsPerWeight.
   */
  expertBitsPerWeight: number | null;
  /** Where the figure comes from. */
  source: string;
};

// The GGUF figures are whole-file averages from llama.cpp's quantize documentation
// (tools/quantize/README.md, formerly examples/quantize/README.md): its Llama-2-7B table lists
// Q3_K_M 3.91, Q4_K_M 4.84, Q5_K_M 5.68, Q6_K 6.56 bits per weight, and its Llama-3.1-8B table
// Q4_K_M 4.8944, Q5_K_M 5.7036, Q6_K 6.5633, Q8_0 8.5008. A "_M" mix keeps some tensors at a
// higher type, so its average sits above its base type (Q4_K = 4.5 bpw); the figures used here are
// between the two models' averages. Q8_0, Q6_K and IQ2_XXS are the ggml block layouts themselves
// (ggml-common.h; GGML_TYPES in quantization.ts): 34 bytes per 32 values = 8.5, 210 bytes per
// 256 = 6.5625, 66 bytes per 256 = 2.0625. IQ2_XXS files keep embeddings and output at a higher
// type, so a real IQ2_XXS file averages more (2.38 bpw for Llama-3.1-8B with its large
// vocabulary); 2.06 is the floor for big models where those tensors are a small share.
export const PRECISIONS: readonly Precision[] = [
  { name: "BF16", bitsPerWeight: 16, expertBitsPerWeight: null, source: "2 bytes per weight (also F16)" },
  { name: "Q8_0", bitsPerWeight: 8.5, expertBitsPerWeight: null, source: "ggml block: 32 int8 + fp16 scale = 34 bytes / 32 weights; llama.cpp quantize README: 8.5008 for Llama-3.1-8B" },
  { name: "FP8", bitsPerWeight: 8, expertBitsPerWeight: null, source: "1 byte per weight (e4m3); block scales (1 per 128x128) add 0.001 bpw" },
  { name: "Q6_K", bitsPerWeight: 6.5625, expertBitsPerWeight: null, source: "ggml block: 210 bytes / 256 weights; llama.cpp quantize README: 6.56 (Llama-2-7B), 6.5633 (Llama-3.1-8B)" },
  { name: "Q5_K_M", bitsPerWeight: 5.69, expertBitsPerWeight: null, source: "llama.cpp quantize README: 5.68 (Llama-2-7B), 5.7036 (Llama-3.1-8B)" },
  { name: "Q4_K_M", bitsPerWeight: 4.85, expertBitsPerWeight: null, source: "llama.cpp quantize README: 4.84 (Llama-2-7B), 4.8944 (Llama-3.1-8B)" },
  // llama.cpp's MXFP4 MoE files (ggml-org/gpt-oss-*-GGUF) keep the routed experts in MXFP4
  // (32 E2M1 values + one E8M0 scale = 17 bytes / 32 = 4.25 bpw, the OCP MX format) and every
  // other tensor at about Q8_0. This reproduces those files: 11.27 GiB for gpt-oss-20b and
  // 59.02 GiB for gpt-oss-120b as llama-bench reports them (see docs/fit.md).
  { name: "MXFP4_MOE", bitsPerWeight: 8.5, expertBitsPerWeight: 4.25, source: "routed experts MXFP4 (4.25 bpw), other tensors Q8_0 (8.5), as llama.cpp's MXFP4 MoE GGUFs" },
  { name: "Q3_K_M", bitsPerWeight: 3.91, expertBitsPerWeight: null, source: "llama.cpp quantize README: 3.91 (Llama-2-7B)" },
  { name: "IQ2_XXS", bitsPerWeight: 2.06, expertBitsPerWeight: null, source: "ggml block: 66 bytes / 256 weights = 2.0625" },
];

const PRECISION_ALIASES: Record<string, string> = { F16: "BF16", FP16: "BF16", FLOAT16: "BF16", BFLOAT16: "BF16", MXFP4: "MXFP4_MOE", FP8_E4M3: "FP8" };

/**
 * A precision by name (case-insensitive, F16/FP16 = BF16, MXFP4 = MXFP4_MOE) or as a number of
 * bits per weight ("4.5"), e.g. the average of a particular GGUF file. Null when not understood.
 */
export function precisionByName(text: string): Precision | null {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const bits = Number(trimmed);
    if (!(bits > 0 && bits <= 32)) return null;
    return { name: `${bits} bpw`, bitsPerWeight: bits, expertBitsPerWeight: null, source: "given as a number of bits per weight" };
  }
  const upper = trimmed.toUpperCase().replace(/-/g, "_");
  const name = PRECISION_ALIASES[upper] ?? upper;
  return PRECISIONS.find((p) => p.name === name) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Runtime classes
// ---------------------------------------------------------------------------------------------

export type RuntimeClass = "native" | "eager-python";

export type RuntimeInfo = { name: RuntimeClass; efficiency: number; description: string; basis: string };

// Efficiency = the share of peak memory bandwidth a runtime turns into decoding.
//
// native (llama.cpp, Ollama, LM Studio, MLX, and graph-captured servers): 0.67. It is the median
//   share of peak bandwidth that llama.cpp reached in three calibration measurements of a dense
//   model (Llama-3.2-3B Q4_K_M, llama-bench tg128 on RTX 4090, RTX 3060 and Apple M4: 0.65, 0.67,
//   0.68; geerlingguy/ai-benchmarks), inside the 0.6-0.75 range usually quoted for llama.cpp.
//   docs/fit.md checks it against the other published measurements found (other models,
//   quantisations and machines) and reports the median absolute error. Apple's Ultra chips (two
//   dies) reach only about 0.3 with one sequence, so the estimate is about twice too fast there.
// eager-python (transformers generate() without torch.compile or CUDA graphs): 0.2. One token
//   launches hundreds of small kernels from Python and the GPU waits on the CPU. PyTorch's
//   gpt-fast write-up measured that plain eager implementation at 25.5 tok/s for a 7B fp16
//   model (13.5 GB) on an A100-80GB whose usable peak it puts at about 1.7 TB/s: 344 GB/s,
//   0.17-0.20 of peak (https://pytorch.org/blog/accelerating-generative-ai-2/). Being CPU-bound,
//   its speed depends on the GPU less than the factor suggests; treat it as an order of magnitude.
export const RUNTIMES: Readonly<Record<RuntimeClass, RuntimeInfo>> = {
  native: {
    name: "native",
    efficiency: 0.67,
    description: "llama.cpp-style native runtime (llama.cpp, Ollama, LM Studio, MLX)",
    basis: "median share of peak bandwidth llama.cpp reached in the calibration measurements of docs/fit.md",
  },
  "eager-python": {
    name: "eager-python",
    efficiency: 0.2,
    description: "transformers eager generate() in Python",
    basis: "PyTorch gpt-fast baseline: 25.5 tok/s for a 7B fp16 model on an A100 (about 0.2 of peak)",
  },
};

// ---------------------------------------------------------------------------------------------
// Runtime overhead
// ---------------------------------------------------------------------------------------------

// Memory a runtime needs beside weights and KV cache:
// - perDeviceBytes: the CUDA/Metal context, allocator slack and the desktop's share of a GPU;
//   about 0.3-0.5 GB per CUDA device in practice. Counted once per device.
// - a compute buffer: llama.cpp sizes it for one micro-batch (n_ubatch = 512 tokens by default)
//   of the largest intermediate results, dominated by the f32 logits (ubatch x vocab x 4 bytes)
//   and a few hidden-size-wide activations. Modelled as ubatch x (vocab + 8 x hidden) x 4 bytes:
//   0.33 GB for Llama-3.1-8B (128k vocabulary), 0.43 GB for gpt-oss (201k).
export const OVERHEAD = {
  perDeviceBytes: 0.5 * GIB,
  microBatchTokens: 512,
  activationWidths: 8,
  bytesPerActivation: 4,
} as const;

// ---------------------------------------------------------------------------------------------
// Inputs and results
// ---------------------------------------------------------------------------------------------

/** The part of a ConfigAnalysis the estimator reads; a ConfigAnalysis is one. */
export type FitModel = {
  parameters: Pick<ParameterCounts, "total" | "active" | "activeRead"> & { breakdown: Pick<Record<BreakdownKey, number>, "experts" | "vision" | "audio"> };
  attention: AttentionShape;
  architecture: Pick<ArchitectureFacts, "hiddenSize" | "vocabSize">;
  context?: { length: number | null };
};

export type KvCacheBits = 16 | 8;

export type FitOptions = {
  precision: Precision;
  /** Tokens in the sequence (prompt + generated). */
  context: number;
  runtime?: RuntimeClass;
  /** 16-bit (default) or 8-bit KV cache (counted as llama.cpp's q8_0: 8.5 bits per value). */
  kvCacheBits?: KvCacheBits;
};

export type KvCacheSize = {
  bytes: number;
  fullAttentionBytes: number;
  slidingWindowBytes: number;
  linearStateBytes: number;
  bytesPerValue: number;
};

export type Verdict = "fits" | "fits-with-offload" | "does-not-fit";

export type Placement = {
  /** accelerator: everything on the GPU / unified pool; experts-to-host: routed experts spill
   * first (llama.cpp --n-cpu-moe); layer-split: whole layers spill (llama.cpp -ngl); none. */
  strategy: "accelerator" | "experts-to-host" | "layer-split" | "none";
  acceleratorBytes: number;
  hostBytes: number;
};

export type FitEstimate = {
  precision: Precision;
  context: number;
  runtime: RuntimeInfo;
  memory: {
    weightsBytes: number;
    kvCache: KvCacheSize;
    overheadBytes: number;
    totalBytes: number;
    /** What the profile gives the model: accelerator (all devices) and host RAM. */
    acceleratorUsableBytes: number;
    hostUsableBytes: number | null;
  };
  verdict: Verdict;
  placement: Placement;
  speed: {
    /** Null when the model does not fit. */
    tokensPerSecond: number | null;
    /** Weights plus KV cache read for one token. */
    bytesPerToken: number;
    acceleratorBytesPerToken: number;
    hostBytesPerToken: number;
    /** Seconds per token = sum of bytes / (efficiency x bandwidth) over the pools. */
    efficiency: number;
    acceleratorBandwidthGBps: number;
    hostBandwidthGBps: number | null;
  };
  notes: string[];
};

// ---------------------------------------------------------------------------------------------
// The pieces
// ---------------------------------------------------------------------------------------------

/** Bytes per cached value: 2 at 16-bit; llama.cpp's 8-bit cache (q8_0) stores 34 bytes per 32 values. */
export function kvBytesPerValue(bits: KvCacheBits): number {
  return bits === 16 ? 2 : 34 / 32;
}

/**
 * KV cache (and recurrent state) of one sequence of `tokens` tokens. The recurrent state of
 * linear-attention layers is kept at the 16-bit size the analyser gives whatever the KV type:
 * runtimes do not quantise it (llama.cpp even keeps it in f32), and it is small.
 */
export function kvCacheSize(shape: AttentionShape, tokens: number, bits: KvCacheBits = 16): KvCacheSize {
  const bytesPerValue = kvBytesPerValue(bits);
  const slidingTokens = shape.slidingWindow === null ? tokens : Math.min(tokens, shape.slidingWindow);
  const fullAttentionBytes = shape.fullAttentionLayers * shape.kvValuesPerTokenPerLayer * tokens * bytesPerValue;
  const slidingWindowBytes = shape.slidingWindowLayers * shape.slidingKvValuesPerTokenPerLayer * slidingTokens * bytesPerValue;
  const linearStateBytes = shape.linearAttentionLayers * shape.linearStateBytesPerLayer;
  return { bytes: fullAttentionBytes + slidingWindowBytes + linearStateBytes, fullAttentionBytes, slidingWindowBytes, linearStateBytes, bytesPerValue };
}

type WeightSplit = {
  /** All weights at this precision. */
  weightsBytes: number;
  /** Of which routed experts (0 for dense models). */
  expertWeightsBytes: number;
  /** Weights read for one token (activeRead at this precision). */
  readBytes: number;
  /** Of which the chosen routed experts. */
  expertReadBytes: number;
};

/** Weights and per-token weight reads at a precision, with routed experts kept apart. */
export function weightBytes(model: FitModel, precision: Precision): WeightSplit {
  const p = model.parameters;
  const expertBits = precision.expertBitsPerWeight ?? precision.bitsPerWeight;
  const routed = Math.max(0, p.breakdown.experts);
  // Parameters that exist but do not run for a token: the unchosen experts (encoders aside).
  const inactive = Math.max(0, p.total - p.breakdown.vision - p.breakdown.audio - p.active);
  const routedActive = Math.max(0, Math.min(routed, routed - inactive));
  const expertWeightsBytes = (routed * expertBits) / 8;
  const expertReadBytes = (routedActive * expertBits) / 8;
  return {
    weightsBytes: ((p.total - routed) * precision.bitsPerWeight) / 8 + expertWeightsBytes,
    expertWeightsBytes,
    readBytes: (Math.max(0, p.activeRead - routedActive) * precision.bitsPerWeight) / 8 + expertReadBytes,
    expertReadBytes,
  };
}

/** Runtime overhead on `devices` devices (see OVERHEAD). */
export function overheadBytes(model: FitModel, devices: number): number {
  const { vocabSize, hiddenSize } = model.architecture;
  const computeBuffer = OVERHEAD.microBatchTokens * (vocabSize + OVERHEAD.activationWidths * hiddenSize) * OVERHEAD.bytesPerActivation;
  return devices * OVERHEAD.perDeviceBytes + computeBuffer;
}

// ---------------------------------------------------------------------------------------------
// The estimate
// ---------------------------------------------------------------------------------------------

export function estimateFit(model: FitModel, hardware: HardwareProfile, options: FitOptions): FitEstimate {
  const { precision } = options;
  if (!Number.isInteger(options.context) || options.context < 1) throw new RangeError(`context must be a positive whole number of tokens (got ${options.context})`);
  const runtime = RUNTIMES[options.runtime ?? "native"];
  const devices = hardware.devices ?? 1;
  const notes: string[] = [];

  const weights = weightBytes(model, precision);
  const kvCache = kvCacheSize(model.attention, options.context, options.kvCacheBits ?? 16);
  const overhead = overheadBytes(model, devices);
  const totalBytes = weights.weightsBytes + kvCache.bytes + overhead;

  const acceleratorUsableBytes = usableMemoryGB(hardware) * GIB;
  const host = hardware.kind === "gpu" ? hardware.host : undefined;
  const hostUsableBytes = host ? hostUsableMemoryGB(host) * GIB : null;

  // --- where the bytes go ---
  let verdict: Verdict;
  let placement: Placement;
  // Fractions of the per-token reads served from host RAM, by strategy (filled below).
  let acceleratorRead = weights.readBytes + kvCache.bytes;
  let hostRead = 0;
  if (totalBytes <= acceleratorUsableBytes) {
    verdict = "fits";
    placement = { strategy: "accelerator", acceleratorBytes: totalBytes, hostBytes: 0 };
  } else if (hostUsableBytes !== null && totalBytes - acceleratorUsableBytes <= hostUsableBytes && acceleratorUsableBytes > overhead) {
    verdict = "fits-with-offload";
    const spill = totalBytes - acceleratorUsableBytes;
    const resident = totalBytes - weights.expertWeightsBytes; // everything but the routed experts
    if (weights.expertWeightsBytes > 0 && resident <= acceleratorUsableBytes) {
      // Mixture of experts: keep attention, shared weights and the KV cache on the GPU and move
      // routed experts out first (llama.cpp --n-cpu-moe / -ot exps=CPU). Each token then reads
      // only its few chosen experts from host RAM, a small share of the spilled bytes.
      const onHost = spill / weights.expertWeightsBytes;
      placement = { strategy: "experts-to-host", acceleratorBytes: acceleratorUsableBytes, hostBytes: spill };
      hostRead = onHost * weights.expertReadBytes;
      acceleratorRead = weights.readBytes + kvCache.bytes - hostRead;
      notes.push(`${pct(onHost)} of the routed experts run from host RAM (llama.cpp --n-cpu-moe); attention, shared weights and the KV cache stay on the GPU`);
    } else {
      // Whole layers (their weights and KV cache) go to host RAM (llama.cpp -ngl).
      const layered = weights.weightsBytes + kvCache.bytes;
      const onHost = spill / layered;
      placement = { strategy: "layer-split", acceleratorBytes: acceleratorUsableBytes, hostBytes: spill };
      hostRead = onHost * (weights.readBytes + kvCache.bytes);
      acceleratorRead = weights.readBytes + kvCache.bytes - hostRead;
      notes.push(`${pct(onHost)} of the layers run from host RAM on the CPU (llama.cpp -ngl)`);
    }
  } else {
    verdict = "does-not-fit";
    placement = { strategy: "none", acceleratorBytes: 0, hostBytes: 0 };
  }

  // --- speed ---
  const bytesPerToken = weights.readBytes + kvCache.bytes;
  let tokensPerSecond: number | null = null;
  if (verdict !== "does-not-fit") {
    const seconds = acceleratorRead / (runtime.efficiency * hardware.bandwidthGBps * GB_PER_S) + (host && hostRead > 0 ? hostRead / (runtime.efficiency * host.bandwidthGBps * GB_PER_S) : 0);
    tokensPerSecond = seconds > 0 ? 1 / seconds : null;
  }

  // --- notes that change how to read the figures ---
  if (devices > 1) notes.push(`${devices} devices, layers split between them: memory adds up, each token still passes through them one after another`);
  const trained = model.context?.length ?? null;
  if (trained !== null && options.context > trained) notes.push(`context ${options.context} is longer than the ${trained} tokens the model was configured for`);
  if (precision.expertBitsPerWeight !== null && weights.expertWeightsBytes === 0) notes.push(`${precision.name} quantises only routed experts; this model has none, so all of it counts at ${precision.bitsPerWeight} bits per weight`);
  if (verdict === "does-not-fit" && hardware.kind === "gpu" && !host) notes.push("the profile declares no host RAM to offload to");
  if (verdict === "fits-with-offload" && runtime.name === "eager-python") notes.push("eager Python runtimes offload by copying weights over PCIe for every token; expect far slower than estimated");

  return {
    precision,
    context: options.context,
    runtime,
    memory: { weightsBytes: weights.weightsBytes, kvCache, overheadBytes: overhead, totalBytes, acceleratorUsableBytes, hostUsableBytes },
    verdict,
    placement,
    speed: {
      tokensPerSecond,
      bytesPerToken,
      acceleratorBytesPerToken: verdict === "does-not-fit" ? 0 : acceleratorRead,
      hostBytesPerToken: verdict === "does-not-fit" ? 0 : hostRead,
      efficiency: runtime.efficiency,
      acceleratorBandwidthGBps: hardware.bandwidthGBps,
      hostBandwidthGBps: host?.bandwidthGBps ?? null,
    },
    notes,
  };
}

/** One estimate per precision (all of PRECISIONS; MXFP4_MOE only for mixture-of-experts models). */
export function estimateAllPrecisions(model: FitModel, hardware: HardwareProfile, options: Omit<FitOptions, "precision">): FitEstimate[] {
  const moe = model.parameters.breakdown.experts > 0;
  return PRECISIONS.filter((p) => moe || p.expertBitsPerWeight === null).map((precision) => estimateFit(model, hardware, { ...options, precision }));
}

const pct = (fraction: number) => `${Math.round(fraction * 100)}%`;
