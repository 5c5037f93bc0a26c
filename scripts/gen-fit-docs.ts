// Writes docs/fit.md: how `agora fit` estimates memory and decode speed, its estimates for
// well-known models on common machines, and the estimator against published measurements.
// Run `npx tsx scripts/gen-fit-docs.ts` after changing the estimator, the profiles or the
// measurements below; the document is regenerated, never edited by hand.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { analyzeConfig, isAnalysisError } from "../src/models/config-analysis.ts";
import { estimateFit, GIB, OVERHEAD, precisionByName, PRECISIONS, RUNTIMES, type FitEstimate, type RuntimeClass } from "../src/models/fit.ts";
import { BUILTIN_HARDWARE_PROFILES, findProfile, usableMemoryGB, type HardwareProfile } from "../src/models/hardware-profiles.ts";
import type { ConfigAnalysis } from "../src/models/types.ts";
import { loadConfig } from "../test/models/model-fixtures.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
export const DOCS_FILE = path.join(ROOT, "docs/fit.md");

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** Models of the estimate tables: fixture config file -> label. */
const MODELS: [file: string, label: string][] = [
  ["meta-llama__Meta-Llama-3.1-8B.json", "Llama-3.1-8B"],
  ["Qwen__Qwen3-8B.json", "Qwen3-8B"],
  ["mistralai__Mistral-Nemo-Instruct-2407.json", "Mistral-Nemo-12B"],
  ["Qwen__Qwen3-32B.json", "Qwen3-32B"],
  ["Qwen__Qwen3-30B-A3B.json", "Qwen3-30B-A3B"],
  ["openai__gpt-oss-20b.json", "gpt-oss-20b"],
  ["google__gemma-4-26B-A4B.json", "Gemma-4-26B-A4B"],
  ["mistralai__Mixtral-8x7B-v0.1.json", "Mixtral-8x7B"],
  ["meta-llama__Llama-4-Scout-17B-16E-Instruct.json", "Llama-4-Scout-17B-16E"],
  ["openai__gpt-oss-120b.json", "gpt-oss-120b"],
  ["deepseek-ai__DeepSeek-V3.json", "DeepSeek-V3"],
];

const PROFILES = ["rtx-3060", "rtx-4090", "rtx-5090", "m4-pro-48gb", "m4-max-128gb", "dgx-spark", "h100-sxm", "8x-h100-sxm"];
const CONTEXT = 8192;

// Machines of published measurements that are not built-in profiles (vendor figures).
const ADHOC: Record<string, HardwareProfile> = {
  "rtx-4070-ti": { id: "rtx-4070-ti", name: "NVIDIA GeForce RTX 4070 Ti", kind: "gpu", memoryGB: 12, bandwidthGBps: 504, sources: ["nvidia.com: 12 GB GDDR6X, 192-bit, 21 Gbps"] },
  "rtx-pro-6000": { id: "rtx-pro-6000", name: "NVIDIA RTX PRO 6000 Blackwell Workstation", kind: "gpu", memoryGB: 96, bandwidthGBps: 1792, sources: ["nvidia.com: 96 GB GDDR7, 512-bit, 1792 GB/s"] },
  "m1-ultra-128gb": { id: "m1-ultra-128gb", name: "Apple M1 Ultra 64-core GPU (128 GB)", kind: "unified", memoryGB: 128, bandwidthGBps: 800, sources: ["apple.com newsroom (March 2022): 800 GB/s"] },
  "m1-pro-32gb": { id: "m1-pro-32gb", name: "Apple M1 Pro (32 GB)", kind: "unified", memoryGB: 32, bandwidthGBps: 200, sources: ["apple.com newsroom (October 2021): 200 GB/s"] },
  "ryzen-ai-max-395": {
    id: "ryzen-ai-max-395",
    name: "AMD Ryzen AI Max+ 395 (128 GB)",
    kind: "unified",
    memoryGB: 128,
    bandwidthGBps: 256,
    usableMemoryGB: 110, // the GPU share is set in firmware; up to 96 GB dedicated plus shared memory on Linux
    sources: ["amd.com: 256-bit LPDDR5X-8000 = 256 GB/s"],
  },
  "a100-80gb": { id: "a100-80gb", name: "NVIDIA A100 SXM 80GB", kind: "gpu", memoryGB: 80, bandwidthGBps: 2039, sources: ["nvidia.com: 80 GB HBM2e, 2039 GB/s"] },
};

// meta-llama/Llama-2-7b-hf config.json (https://huggingface.co/meta-llama/Llama-2-7b-hf): the
// model of the eager-python measurement; not among the fixtures, so its published shape is here.
const LLAMA_2_7B = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 4096,
  tie_word_embeddings: false,
  torch_dtype: "float16",
};

export type Measurement = {
  role: "calibration" | "validation";
  hardware: string;
  model: string;
  /** Fixture config file, or an inline config. */
  config: string | Record<string, unknown>;
  quantisation: string;
  /** Precision the estimate uses (a PRECISIONS name). */
  precision: string;
  runtime: RuntimeClass;
  backend: string;
  /** What was measured, and at which context the estimate is taken. */
  test: string;
  context: number;
  measured: number;
  source: string;
  note?: string;
};

const GEERLING = "https://github.com/geerlingguy/ai-benchmarks";
const SPARK = "https://github.com/ggml-org/llama.cpp/blob/master/benches/dgx-spark.md";

// Every decode speed here is single-sequence generation measured by someone else and published;
// "calibration" rows set the native efficiency factor (RUNTIMES in src/models/fit.ts) and are
// not part of the accuracy figure; "validation" rows are everything else that was found.
export const MEASUREMENTS: Measurement[] = [
  // --- calibration: one dense model on three machines ---
  { role: "calibration", hardware: "rtx-4090", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Vulkan", test: "llama-bench tg128", context: 128, measured: 334.67, source: `${GEERLING}/issues/43` },
  { role: "calibration", hardware: "rtx-3060", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Vulkan", test: "llama-bench tg128", context: 128, measured: 122.85, source: `${GEERLING}/issues/40` },
  { role: "calibration", hardware: "m4-32gb", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Metal", test: "llama-bench tg128", context: 128, measured: 41.31, source: `${GEERLING}/issues/2` },
  { role: "calibration", hardware: "a100-80gb", model: "Llama-2-7B", config: LLAMA_2_7B, quantisation: "fp16", precision: "BF16", runtime: "eager-python", backend: "plain PyTorch eager (gpt-fast starting point)", test: "batch 1, 5-token prompt", context: 200, measured: 25.5, source: "https://pytorch.org/blog/accelerating-generative-ai-2/", note: "GPU power-limited to 330 W" },

  // --- validation: llama.cpp's own DGX Spark benchmarks ---
  { role: "validation", hardware: "dgx-spark", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "MXFP4 (ggml-org, 11.27 GiB)", precision: "MXFP4_MOE", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg32", context: 32, measured: 84.1, source: SPARK },
  { role: "validation", hardware: "dgx-spark", model: "gpt-oss-120b", config: "openai__gpt-oss-120b.json", quantisation: "MXFP4 (ggml-org, 59.02 GiB)", precision: "MXFP4_MOE", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg32", context: 32, measured: 59.02, source: SPARK },
  { role: "validation", hardware: "dgx-spark", model: "Qwen3-Coder-30B-A3B", config: "Qwen__Qwen3-30B-A3B.json", quantisation: "Q8_0 (ggml-org, 30.25 GiB)", precision: "Q8_0", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg32", context: 32, measured: 60.92, source: SPARK, note: "same shape as Qwen3-30B-A3B, whose config is used" },
  { role: "validation", hardware: "dgx-spark", model: "Qwen2.5-Coder-7B", config: "extra/Qwen__Qwen2.5-7B.json", quantisation: "Q8_0 (ggml-org, 7.54 GiB)", precision: "Q8_0", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg32", context: 32, measured: 29.3, source: SPARK, note: "same shape as Qwen2.5-7B, whose config is used" },
  // --- validation: llama.cpp pull requests with decode figures ---
  { role: "validation", hardware: "m2-ultra-192gb", model: "Qwen3-Coder-30B-A3B", config: "Qwen__Qwen3-30B-A3B.json", quantisation: "Q8_0 (30.25 GiB)", precision: "Q8_0", runtime: "native", backend: "llama.cpp Metal", test: "llama-bench tg128", context: 128, measured: 76.31, source: "https://github.com/ggml-org/llama.cpp/pull/15616" },
  { role: "validation", hardware: "rtx-3090", model: "Llama-3-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", quantisation: "BF16", precision: "BF16", runtime: "native", backend: "llama.cpp CUDA", test: "pp512 at micro-batch 1 (one token per step)", context: 256, measured: 58.06, source: "https://github.com/ggml-org/llama.cpp/pull/14262", note: "Llama-3.1-8B config (same shape)" },
  { role: "validation", hardware: "rtx-3090", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "MXFP4", precision: "MXFP4_MOE", runtime: "native", backend: "llama.cpp CUDA", test: "pp512 at micro-batch 1 (one token per step)", context: 256, measured: 238.89, source: "https://github.com/ggml-org/llama.cpp/pull/20586" },
  { role: "validation", hardware: "rtx-pro-6000", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "MXFP4 (11.27 GiB)", precision: "MXFP4_MOE", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg128", context: 128, measured: 391.2, source: "https://github.com/ggml-org/llama.cpp/pull/16991" },
  // --- validation: Jeff Geerling's llama-bench runs (README "Findings"; unsloth gpt-oss-20b Q4_K_M) ---
  { role: "validation", hardware: "rtx-4090", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "Q4_K_M (unsloth, 11.6 GB)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Vulkan", test: "llama-bench tg128", context: 128, measured: 279.65, source: `${GEERLING}/issues/43` },
  { role: "validation", hardware: "rtx-4070-ti", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "Q4_K_M (unsloth, 11.6 GB)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Vulkan", test: "llama-bench tg128", context: 128, measured: 163.14, source: `${GEERLING}/issues/45` },
  { role: "validation", hardware: "rtx-3060", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "Q4_K_M (unsloth, 11.6 GB)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Vulkan", test: "llama-bench tg128", context: 128, measured: 83.96, source: `${GEERLING}/issues/40` },
  { role: "validation", hardware: "dgx-spark", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "Q4_K_M (unsloth, 11.6 GB)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg128", context: 128, measured: 87.97, source: `${GEERLING}/issues/34`, note: "Dell Pro Max with GB10" },
  { role: "validation", hardware: "m3-ultra-512gb", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "Q4_K_M (unsloth, 11.6 GB)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Metal", test: "llama-bench tg128", context: 128, measured: 115.29, source: `${GEERLING}/issues/42` },
  { role: "validation", hardware: "m1-ultra-128gb", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "Q4_K_M (unsloth, 11.6 GB)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Metal", test: "llama-bench tg128", context: 128, measured: 100.43, source: `${GEERLING}/issues/48` },
  { role: "validation", hardware: "rtx-5090", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp", test: "llama-bench tg128", context: 128, measured: 271.4, source: `${GEERLING}/pull/18` },
  { role: "validation", hardware: "dgx-spark", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp CUDA", test: "llama-bench tg128", context: 128, measured: 97.93, source: `${GEERLING}/issues/34`, note: "Dell Pro Max with GB10" },
  { role: "validation", hardware: "m3-ultra-512gb", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Metal", test: "llama-bench tg128", context: 128, measured: 154.6, source: `${GEERLING}/issues/42` },
  { role: "validation", hardware: "m1-ultra-128gb", model: "Llama-3.2-3B-Instruct", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", quantisation: "Q4_K_M (bartowski)", precision: "Q4_K_M", runtime: "native", backend: "llama.cpp Metal", test: "llama-bench tg128", context: 128, measured: 127.6, source: `${GEERLING}/issues/48` },
  // --- validation: other public reports ---
  { role: "validation", hardware: "m1-pro-32gb", model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", quantisation: "MXFP4 (ggml-org)", precision: "MXFP4_MOE", runtime: "native", backend: "llama.cpp Metal", test: "llama-completion after a 14,745-token prompt", context: 15020, measured: 37.05, source: "https://github.com/ml-explore/mlx-lm/issues/858" },
  { role: "validation", hardware: "ryzen-ai-max-395", model: "gpt-oss-120b", config: "openai__gpt-oss-120b.json", quantisation: "MXFP4 (ggml-org, 59.02 GiB)", precision: "MXFP4_MOE", runtime: "native", backend: "llama.cpp ROCm", test: "llama-bench tg128", context: 128, measured: 41.52, source: "https://community.frame.work/t/will-the-ai-max-395-128gb-be-able-to-run-gpt-oss-120b/73280/26" },
];

// File sizes the precisions should reproduce: llama-bench's "size" column (GiB) of real files.
const FILE_SIZES: { model: string; config: string; precision: string; gib: number; source: string }[] = [
  { model: "Llama-3.1-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", precision: "BF16", gib: 14.96, source: "llama.cpp tools/quantize/README.md (F16)" },
  { model: "Llama-3.1-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", precision: "Q8_0", gib: 7.95, source: "llama.cpp tools/quantize/README.md" },
  { model: "Llama-3.1-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", precision: "Q6_K", gib: 6.14, source: "llama.cpp tools/quantize/README.md" },
  { model: "Llama-3.1-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", precision: "Q5_K_M", gib: 5.33, source: "llama.cpp tools/quantize/README.md" },
  { model: "Llama-3.1-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", precision: "Q4_K_M", gib: 4.58, source: "llama.cpp tools/quantize/README.md" },
  { model: "Llama-3.1-8B", config: "meta-llama__Meta-Llama-3.1-8B.json", precision: "IQ2_XXS", gib: 2.23, source: "llama.cpp tools/quantize/README.md" },
  { model: "Qwen2.5-7B", config: "extra/Qwen__Qwen2.5-7B.json", precision: "Q8_0", gib: 7.54, source: SPARK },
  { model: "Qwen3-30B-A3B", config: "Qwen__Qwen3-30B-A3B.json", precision: "Q8_0", gib: 30.25, source: SPARK },
  { model: "gpt-oss-20b", config: "openai__gpt-oss-20b.json", precision: "MXFP4_MOE", gib: 11.27, source: SPARK },
  { model: "gpt-oss-120b", config: "openai__gpt-oss-120b.json", precision: "MXFP4_MOE", gib: 59.02, source: SPARK },
  { model: "Llama-3.2-3B", config: "extra/meta-llama__Llama-3.2-3B-Instruct.json", precision: "Q4_K_M", gib: 1.87, source: `${GEERLING} (llama-bench size column)` },
];

// ---------------------------------------------------------------------------------------------
// Computation
// ---------------------------------------------------------------------------------------------

function analysed(config: string | Record<string, unknown>): ConfigAnalysis {
  const result = analyzeConfig(typeof config === "string" ? loadConfig(config) : config);
  if (isAnalysisError(result)) throw new Error(`${typeof config === "string" ? config : "inline config"}: ${result.error}`);
  return result;
}

function profile(id: string): HardwareProfile {
  const found = findProfile(BUILTIN_HARDWARE_PROFILES, id) ?? ADHOC[id];
  if (!found) throw new Error(`no hardware profile ${id}`);
  return found;
}

function precision(name: string) {
  const found = precisionByName(name);
  if (!found) throw new Error(`no precision ${name}`);
  return found;
}

export type AccuracyRow = Measurement & {
  estimate: FitEstimate;
  /** (estimate - measured) / measured; -1 when the estimate says it does not fit. */
  error: number;
  /** Share of peak bandwidth the measurement implies for the bytes the estimator counts. */
  achievedShare: number;
};

export function accuracyRows(): AccuracyRow[] {
  return MEASUREMENTS.map((m) => {
    const hardware = profile(m.hardware);
    const estimate = estimateFit(analysed(m.config), hardware, { precision: precision(m.precision), context: m.context, runtime: m.runtime });
    const tps = estimate.speed.tokensPerSecond;
    return {
      ...m,
      estimate,
      error: tps === null ? -1 : (tps - m.measured) / m.measured,
      achievedShare: (m.measured * estimate.speed.bytesPerToken) / (hardware.bandwidthGBps * 1e9),
    };
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Median absolute error of the native-runtime validation rows (a miss on the verdict counts as 100%). */
export function nativeMedianAbsoluteError(rows = accuracyRows()): { median: number; count: number } {
  const errors = rows.filter((r) => r.role === "validation" && r.runtime === "native").map((r) => Math.abs(r.error));
  return { median: median(errors), count: errors.length };
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const gib = (bytes: number) => (bytes / GIB).toFixed(bytes >= 100 * GIB ? 0 : 1);
const tps = (n: number | null) => (n === null ? "-" : n >= 100 ? n.toFixed(0) : n.toFixed(1));
const signed = (fraction: number) => `${fraction >= 0 ? "+" : ""}${Math.round(fraction * 100)}%`;
const cell = (text: string) => text.replace(/\|/g, "\\|");
const row = (cells: (string | number)[]) => `| ${cells.map((c) => cell(String(c))).join(" | ")} |`;
const short = (verdict: string) => (verdict === "fits" ? "fits" : verdict === "fits-with-offload" ? "offload" : "no");

function precisionTable(): string[] {
  return [
    row(["precision", "bits per weight", "source"]),
    "| --- | ---: | --- |",
    ...PRECISIONS.map((p) => row([p.name, p.expertBitsPerWeight !== null ? `${p.expertBitsPerWeight} (routed experts), ${p.bitsPerWeight} (rest)` : p.bitsPerWeight, p.source])),
  ];
}

function memoryTable(models: [ConfigAnalysis, string][]): string[] {
  const names = PRECISIONS.map((p) => p.name);
  const any = findProfile(BUILTIN_HARDWARE_PROFILES, "h100-sxm")!;
  const lines = [row(["model", "total / active / read per token", ...names.map((n) => `${n} weights`), "KV 8k", "KV 32k", "KV 128k"]), `| --- | --- | ${names.map(() => "---:").join(" | ")} | ---: | ---: | ---: |`];
  for (const [a, label] of models) {
    const p = a.parameters;
    const weights = PRECISIONS.map((pr) => (pr.expertBitsPerWeight !== null && p.breakdown.experts === 0 ? "-" : gib(estimateFit(a, any, { precision: pr, context: 1 }).memory.weightsBytes)));
    const kv = [8192, 32768, 131072].map((t) => gib(estimateFit(a, any, { precision: PRECISIONS[0], context: t }).memory.kvCache.bytes));
    lines.push(row([label, `${(p.total / 1e9).toFixed(1)}B / ${(p.active / 1e9).toFixed(1)}B / ${(p.activeRead / 1e9).toFixed(1)}B`, ...weights, ...kv]));
  }
  return lines;
}

function estimateTable(models: [ConfigAnalysis, string][], precisionName: string): string[] {
  const pr = precision(precisionName);
  const hardware = PROFILES.map(profile);
  const lines = [row(["model", `memory at ${CONTEXT} tokens (one device)`, ...hardware.map((h) => `${h.id} (${round(usableMemoryGB(h))} GB, ${h.bandwidthGBps} GB/s)`)]), `| --- | ---: | ${hardware.map(() => "---").join(" | ")} |`];
  for (const [a, label] of models) {
    const estimates = hardware.map((h) => estimateFit(a, h, { precision: pr, context: Math.min(CONTEXT, a.context.length ?? CONTEXT) }));
    lines.push(row([label, `${gib(estimates[0].memory.totalBytes)} GB`, ...estimates.map((e) => (e.verdict === "does-not-fit" ? "does not fit" : `${short(e.verdict)}, ${tps(e.speed.tokensPerSecond)} tok/s`))]));
  }
  return lines;
}

const round = (n: number) => Math.round(n * 10) / 10;

function fileSizeTable(): string[] {
  const lines = [row(["model", "precision", "estimated weights (GiB)", "real file (GiB)", "difference", "file size from"]), "| --- | --- | ---: | ---: | ---: | --- |"];
  const any = findProfile(BUILTIN_HARDWARE_PROFILES, "h100-sxm")!;
  for (const f of FILE_SIZES) {
    const bytes = estimateFit(analysed(f.config), any, { precision: precision(f.precision), context: 1 }).memory.weightsBytes;
    lines.push(row([f.model, f.precision, (bytes / GIB).toFixed(2), f.gib.toFixed(2), signed(bytes / GIB / f.gib - 1), f.source]));
  }
  return lines;
}

function accuracyTable(rows: AccuracyRow[]): string[] {
  const lines = [
    row(["hardware (peak GB/s)", "model, quantisation", "runtime", "test", "measured tok/s", "estimate tok/s", "error", "measured share of peak", "source"]),
    "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const h = profile(r.hardware);
    const estimate = r.estimate.verdict === "does-not-fit" ? `does not fit (needs ${gib(r.estimate.memory.totalBytes)} of ${gib(r.estimate.memory.acceleratorUsableBytes)} GB)` : `${tps(r.estimate.speed.tokensPerSecond)}${r.estimate.verdict === "fits-with-offload" ? " (offload)" : ""}`;
    lines.push(
      row([
        `${h.name} (${h.bandwidthGBps})`,
        `${r.model}, ${r.quantisation}${r.note ? `; ${r.note}` : ""}`,
        `${r.runtime}: ${r.backend}`,
        r.test,
        r.measured,
        estimate,
        r.estimate.verdict === "does-not-fit" ? "miss" : signed(r.error),
        r.achievedShare.toFixed(2),
        r.source,
      ]),
    );
  }
  return lines;
}

/** The whole document; the tests compare it with the committed file so it stays true. */
export function renderFitDocs(): string {
  const models = MODELS.map(([file, label]) => [analysed(file), label] as [ConfigAnalysis, string]);
  const rows = accuracyRows();
  const calibration = rows.filter((r) => r.role === "calibration");
  const validation = rows.filter((r) => r.role === "validation");
  const { median: mae, count } = nativeMedianAbsoluteError(rows);
  const ultra = validation.filter((r) => /ultra/.test(r.hardware));
  const withoutUltra = nativeMedianAbsoluteError(validation.filter((r) => !/ultra/.test(r.hardware)));
  const native = RUNTIMES.native;
  const eager = RUNTIMES["eager-python"];
  const nativeShares = calibration.filter((r) => r.runtime === "native").map((r) => r.achievedShare.toFixed(2));
  const eagerRow = calibration.find((r) => r.runtime === "eager-python")!;
  const misses = validation.filter((r) => r.estimate.verdict === "does-not-fit");

  const lines = [
    "# Will it fit, and how fast? (`agora fit`)",
    "",
    "Generated by `npx tsx scripts/gen-fit-docs.ts` from the estimator (`src/models/fit.ts`), the hardware",
    "profiles (`src/models/hardware-profiles.ts`), the config fixtures and the measurements listed in the",
    "script; do not edit by hand.",
    "",
    "```text",
    "agora fit PATH|REPO (--hardware NAME | --memory GB --bandwidth GBps) [--context N] [--precision P]",
    "          [--runtime native|eager-python] [--kv-cache 16|8] [--hardware-file FILE] [--json]",
    "agora fit --list-hardware",
    "```",
    "",
    "PATH is a `config.json` or a model folder (its safetensors or GGUF headers give exact parameter counts when",
    "present, and a GGUF file adds a row at its own bits per weight); REPO (`ns/name`) is read from the hub's data",
    "directory. Without `--precision` every precision is listed. Memory sizes are binary gigabytes (2^30 bytes,",
    "the unit GPU and unified memory are sold in); bandwidths are decimal GB/s as vendors quote them.",
    "",
    "## How the estimate is made",
    "",
    "**Memory = weights + KV cache + runtime overhead.**",
    "",
    "- Weights: `parameters.total` (see `docs/parameter-counting.md`) times the bits per weight of the precision:",
    "",
    ...precisionTable(),
    "",
    "  The K-quant mixes (`_M`) keep some tensors at a higher type, so their whole-file average is above the base",
    "  type's; the figures are llama.cpp's published averages. `MXFP4_MOE` stores routed experts in MXFP4 and",
    "  the rest at Q8_0, as llama.cpp's gpt-oss files do, and is listed for mixture-of-experts models only.",
    "  The check against real files:",
    "",
    ...fileSizeTable(),
    "",
    "- KV cache of one sequence at the chosen context (16-bit by default; `--kv-cache 8` counts llama.cpp's q8_0",
    "  cache, 8.5 bits per value): full-attention layers store `kvValuesPerTokenPerLayer` values per token for",
    "  every token; sliding-window layers stop growing at the window; linear-attention and state-space layers",
    "  (Gated DeltaNet, Mamba) keep a constant state; MLA layers (DeepSeek, Kimi, GLM-5) cache the compressed",
    "  latent, kv_lora_rank + rope dimensions (576 values for DeepSeek-V3) per token.",
    `- Runtime overhead: ${OVERHEAD.perDeviceBytes / GIB} GB per device (CUDA or Metal context, allocator slack) plus a compute`,
    `  buffer of ${OVERHEAD.microBatchTokens} tokens x (vocabulary + ${OVERHEAD.activationWidths} x hidden size) x ${OVERHEAD.bytesPerActivation} bytes, the size of llama.cpp's default micro-batch`,
    "  of f32 logits and activations (0.3 GB for Llama-3.1-8B, 0.4 GB for gpt-oss).",
    "",
    "**Verdict.** `fits` when the total is within the accelerator memory the profile allows (VRAM; for Apple",
    "Silicon the part macOS lets the GPU wire by default, about two thirds up to 36 GB and three quarters above;",
    "for CPU-only machines RAM less what the OS keeps). `fits-with-offload` when the profile declares host RAM",
    "and what does not fit goes there: for mixture-of-experts models the routed experts move first",
    "(llama.cpp `--n-cpu-moe`), so attention, shared weights and the KV cache stay on the GPU; dense models move",
    "whole layers (`-ngl`). Otherwise `does-not-fit`.",
    "",
    "**Decode speed.** Generating one token reads every weight it uses once, `parameters.activeRead` at the",
    "precision (only the chosen experts of a mixture-of-experts model), plus the whole KV cache at that context.",
    "Single-sequence decoding is limited by memory bandwidth, so",
    "",
    "```text",
    "seconds per token = bytes read on the accelerator / (efficiency x accelerator bandwidth)",
    "                  + bytes read from host RAM   / (efficiency x host bandwidth)",
    "```",
    "",
    "Several identical GPUs are assumed to split the model by layers (llama.cpp's default): memory adds up, but a",
    "token passes through the GPUs one after the other, so the time per token is that of one GPU reading",
    "everything. Tensor parallelism (vLLM, SGLang) is faster than this estimate.",
    "",
    "Runtime classes:",
    "",
    row(["runtime", "efficiency", "what it stands for", "why this factor"]),
    "| --- | ---: | --- | --- |",
    row(["native", native.efficiency, native.description, `median share of peak bandwidth in the calibration rows below (${nativeShares.join(", ")})`]),
    row(["eager-python", eager.efficiency, eager.description, `CPU-bound kernel launches; the gpt-fast eager baseline reached ${eagerRow.achievedShare.toFixed(2)} of the A100's peak, 0.2 of the 1.7 TB/s that write-up found usable`]),
    "",
    `## Estimates at Q4_K_M, ${CONTEXT} tokens of context (native runtime)`,
    "",
    "\"offload\": fits with weights in host RAM (speed includes the host part); \"does not fit\": not even with the",
    "profile's host RAM. Apple and DGX Spark columns are unified memory; the usable share is in the header.",
    "",
    ...estimateTable(models, "Q4_K_M"),
    "",
    `## Estimates at Q8_0, ${CONTEXT} tokens of context (native runtime)`,
    "",
    ...estimateTable(models, "Q8_0"),
    "",
    "## Weights per precision and KV cache per context (GB)",
    "",
    "KV cache at 16 bits for one sequence; `-` where a precision does not apply (MXFP4_MOE on dense models).",
    "",
    ...memoryTable(models),
    "",
    "## Against published measurements",
    "",
    "Single-sequence decode speeds others measured and published, each with the estimate for the same model,",
    "quantisation, machine and context (the context of a `tgN` run is taken as N tokens). \"Measured share of peak\"",
    "is what the measurement implies: measured tokens/s x the bytes per token the estimator counts / peak",
    "bandwidth. The error is (estimate - measured) / measured.",
    "",
    "### Calibration (sets the efficiency factors; not part of the accuracy figure)",
    "",
    ...accuracyTable(calibration),
    "",
    "### Validation",
    "",
    ...accuracyTable(validation),
    "",
    `**Median absolute error of the native runtime class: ${Math.round(mae * 100)}% over ${count} measurements** (goal: at most 25%;`,
    `a wrong "does not fit" counts as a 100% error). Without the ${ultra.length} Apple Ultra rows: ${Math.round(withoutUltra.median * 100)}% over ${withoutUltra.count}.`,
    "",
    "Where the estimate is wrong, and why:",
    "",
    `- **Apple Ultra chips** (M1, M2, M3 Ultra: ${ultra.map((r) => signed(r.error)).join(", ")}). An Ultra is two Max dies joined together;`,
    "  with one sequence llama.cpp reaches only about 0.3 of the combined bandwidth, so the estimate is about twice",
    "  too fast. The profiles keep Apple's peak figure rather than a factor fitted to these rows.",
    "- **Small models on the fastest GPUs** (Llama-3.2-3B on the RTX 5090). At several hundred tokens per second a",
    "  token takes a few milliseconds and fixed costs per token (kernel launches, synchronisation, sampling) weigh as",
    "  much as reading the weights; the bandwidth model has no such term and is too fast.",
    "- **Dense 16-bit weights** read more efficiently than quantised ones (the RTX 3090 BF16 row reaches 0.93 of",
    "  peak, quantised rows 0.6-0.8): dequantisation costs compute, so one factor for all precisions is low for",
    "  BF16 and high for the smallest quantisations.",
    ...(misses.length
      ? [
          `- **Verdict misses** (${misses.map((r) => `${r.model} on ${profile(r.hardware).name}`).join("; ")}): the unsloth Q4_K_M file of gpt-oss-20b keeps`,
          "  its experts in MXFP4 (4.25 bits), so it is 10.8 GiB, smaller than a uniform Q4_K_M average of 4.85 bits",
          "  predicts (11.8 GiB); with the overhead the estimate exceeds 12 GB although the file ran fully on the card.",
          "  The same overestimate turns the RTX 3060 row into an offload estimate whose speed happens to match.",
        ]
      : []),
    "",
    "## Limitations",
    "",
    "- One sequence (batch 1) only; batched serving throughput is compute-bound and not estimated. Prompt",
    "  processing (prefill) is not estimated either.",
    "- Bits per weight are whole-model averages: a particular file can differ (see the file table), and",
    "  `--precision 4.6` accepts any average, for example a file's size x 8 / parameters.",
    "- Offloaded parts are costed at the host's memory bandwidth with the runtime's efficiency; the CPU's own",
    "  compute limits and PCIe transfers are not modelled, and eager Python runtimes that copy offloaded weights to",
    "  the GPU for every token are far slower than estimated.",
    "- Speculative decoding and multi-token prediction, which raise tokens per second, are not modelled.",
    "- The overhead is an approximation of llama.cpp's; other runtimes (vLLM preallocates most of the GPU for",
    "  its KV cache) use memory differently.",
    "",
    "## Your own hardware",
    "",
    "A JSON or YAML file of profiles, given with `--hardware-file FILE`, the `hardwareProfiles` setting of the",
    "configuration file or `$AGORA_HARDWARE_PROFILES`. A profile with a built-in id replaces the built-in one.",
    "Every problem in the file is reported with its place (`profiles[2].bandwidthGBps must be a positive number`).",
    "",
    "```yaml",
    "profiles:",
    "  - id: workstation",
    "    name: RTX 4080 SUPER with 96 GB DDR5",
    "    kind: gpu              # gpu | unified | cpu",
    "    memoryGB: 16           # per device",
    "    bandwidthGBps: 736     # per device",
    "    devices: 1             # optional; layers are split between devices",
    "    usableMemoryGB: 15     # optional; default: all VRAM (gpu), macOS's limit (unified), 85% (cpu)",
    "    host:                  # optional, gpu only: RAM to offload to",
    "      memoryGB: 96",
    "      bandwidthGBps: 89.6",
    "```",
    "",
    "Built-in profiles (`agora fit --list-hardware`):",
    "",
    row(["id", "kind", "memory (GB)", "usable (GB)", "bandwidth (GB/s)", "host RAM", "source"]),
    "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ...BUILTIN_HARDWARE_PROFILES.map((p) =>
      row([
        p.id,
        p.kind,
        `${(p.devices ?? 1) > 1 ? `${p.devices} x ` : ""}${p.memoryGB}`,
        round(usableMemoryGB(p)),
        p.bandwidthGBps,
        p.host ? `${p.host.memoryGB} GB at ${p.host.bandwidthGBps} GB/s` : "",
        (p.sources ?? []).join("; "),
      ]),
    ),
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  fs.mkdirSync(path.dirname(DOCS_FILE), { recursive: true });
  fs.writeFileSync(DOCS_FILE, renderFitDocs());
  const { median, count } = nativeMedianAbsoluteError();
  console.log(`wrote ${path.relative(process.cwd(), DOCS_FILE)}: native median absolute error ${(median * 100).toFixed(1)}% over ${count} measurements`);
}
