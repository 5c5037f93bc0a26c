// The fit estimator (memory, verdict, decode speed), the hardware profiles and `agora fit`:
// KV-cache arithmetic checked against hand computations, the verdict at its boundaries, MoE
// speed from activeRead, offloading, user profile files and their errors, the CLI as a user runs
// it, and docs/fit.md kept in step with the estimator.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { DOCS_FILE, nativeMedianAbsoluteError, renderFitDocs } from "../../scripts/gen-fit-docs.ts";
import { loadConfig as loadAgoraConfig } from "../../src/config/config.ts";
import { analyzeConfig, isAnalysisError, kvCacheBytes } from "../../src/models/config-analysis.ts";
import {
  estimateAllPrecisions,
  estimateFit,
  GIB,
  kvCacheSize,
  overheadBytes,
  precisionByName,
  PRECISIONS,
  RUNTIMES,
  weightBytes,
  type FitModel,
  type Precision,
} from "../../src/models/fit.ts";
import {
  appleGpuLimitGB,
  BUILTIN_HARDWARE_PROFILES,
  findProfile,
  loadHardwareProfilesFile,
  mergeProfiles,
  parseHardwareProfiles,
  usableMemoryGB,
  type HardwareProfile,
} from "../../src/models/hardware-profiles.ts";
import type { AttentionShape, ConfigAnalysis } from "../../src/models/types.ts";
import { commitFiles, createRepo } from "../helpers/hub-http.ts";
import { writeShardedMixtral } from "../helpers/model-files.ts";
import { startHub, tempDir } from "../helpers/server.ts";
import { FIXTURE_DIR, loadConfig } from "./model-fixtures.ts";

const BIN = path.resolve("bin/agora.mjs");

function fixture(file: string): ConfigAnalysis {
  const result = analyzeConfig(loadConfig(file));
  if (isAnalysisError(result)) assert.fail(`${file}: ${result.error}`);
  return result;
}

const LLAMA_8B = "meta-llama__Meta-Llama-3.1-8B.json";
const QWEN3_32B = "Qwen__Qwen3-32B.json";
const QWEN3_30B_A3B = "Qwen__Qwen3-30B-A3B.json";

function profile(id: string): HardwareProfile {
  const found = findProfile(BUILTIN_HARDWARE_PROFILES, id);
  assert.ok(found, `no built-in profile ${id}`);
  return found;
}

function precision(name: string): Precision {
  const found = precisionByName(name);
  assert.ok(found, `no precision ${name}`);
  return found;
}

function shape(overrides: Partial<AttentionShape>): AttentionShape {
  return {
    fullAttentionLayers: 0,
    slidingWindowLayers: 0,
    slidingWindow: null,
    linearAttentionLayers: 0,
    linearStateBytesPerLayer: 0,
    kvValuesPerTokenPerLayer: 0,
    slidingKvValuesPerTokenPerLayer: 0,
    kind: "gqa",
    heads: null,
    kvHeads: null,
    headDim: null,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// KV cache

test("KV cache, GQA: layers x (2 x kv heads x head dim) x tokens x 2 bytes", () => {
  // 32 layers, 8 KV heads of 128: 2048 values per token per layer.
  const gqa = shape({ fullAttentionLayers: 32, kvValuesPerTokenPerLayer: 2 * 8 * 128, kvHeads: 8, headDim: 128 });
  assert.equal(kvCacheSize(gqa, 1000).bytes, 32 * 2048 * 1000 * 2); // 131,072,000
  assert.equal(kvCacheSize(gqa, 1000).bytes, 131_072_000);
  // 8-bit cache: llama.cpp's q8_0, 34 bytes per 32 values.
  assert.equal(kvCacheSize(gqa, 1000, 8).bytes, (32 * 2048 * 1000 * 34) / 32);
  assert.equal(kvCacheSize(gqa, 1000, 8).bytesPerValue, 1.0625);
  // The real Llama-3.1-8B config: exactly 1 GiB at 8192 tokens.
  assert.equal(kvCacheSize(fixture(LLAMA_8B).attention, 8192).bytes, GIB);
});

test("KV cache, MLA: kv_lora_rank + rope dims per token per layer", () => {
  const mla = shape({ kind: "mla", fullAttentionLayers: 61, kvValuesPerTokenPerLayer: 512 + 64 });
  assert.equal(kvCacheSize(mla, 4096).bytes, 61 * 576 * 4096 * 2); // 287,834,112
  // DeepSeek-V3's config gives the same shape.
  const deepseek = fixture("deepseek-ai__DeepSeek-V3.json").attention;
  assert.equal(deepseek.kind, "mla");
  assert.equal(kvCacheSize(deepseek, 8192).bytes, 61 * 576 * 8192 * 2);
});

test("KV cache, sliding window: local layers stop growing at the window", () => {
  const swa = shape({ fullAttentionLayers: 2, slidingWindowLayers: 6, slidingWindow: 128, kvValuesPerTokenPerLayer: 256, slidingKvValuesPerTokenPerLayer: 256 });
  // Below the window every layer grows.
  assert.equal(kvCacheSize(swa, 100).bytes, 8 * 256 * 100 * 2); // 409,600
  // Above it only the 2 global layers do: 2*256*1000*2 + 6*256*128*2.
  const at1000 = kvCacheSize(swa, 1000);
  assert.equal(at1000.fullAttentionBytes, 1_024_000);
  assert.equal(at1000.slidingWindowBytes, 393_216);
  assert.equal(at1000.bytes, 1_417_216);
  assert.equal(kvCacheSize(swa, 100_000).slidingWindowBytes, 393_216, "capped at the window");
  // gpt-oss-20b: 12 full layers + 12 layers with a 128-token window, 1024 values each.
  assert.equal(kvCacheSize(fixture("openai__gpt-oss-20b.json").attention, 8192).bytes, 12 * 1024 * 8192 * 2 + 12 * 1024 * 128 * 2);
});

test("KV cache, linear attention: the recurrent state does not grow with the context", () => {
  const hybrid = shape({ fullAttentionLayers: 1, kvValuesPerTokenPerLayer: 64, linearAttentionLayers: 3, linearStateBytesPerLayer: 1000 });
  assert.equal(kvCacheSize(hybrid, 10).bytes, 3 * 1000 + 64 * 10 * 2); // 4,280
  assert.equal(kvCacheSize(hybrid, 20).bytes, 3 * 1000 + 64 * 20 * 2); // 5,560
  for (const tokens of [1, 1000, 1_000_000]) assert.equal(kvCacheSize(hybrid, tokens).linearStateBytes, 3000);
  assert.equal(kvCacheSize(hybrid, 10, 8).linearStateBytes, 3000, "the state is not quantised with the KV cache");
  // Qwen3-Next: 36 Gated DeltaNet layers of constant state beside 12 attention layers.
  const next = fixture("Qwen__Qwen3-Next-80B-A3B-Thinking.json").attention;
  assert.equal(kvCacheSize(next, 1).linearStateBytes, kvCacheSize(next, 100_000).linearStateBytes);
  assert.ok(kvCacheSize(next, 1).linearStateBytes > 0);
});

test("KV cache agrees with the analyser's kvCacheBytes at 16 bits on every fixture", () => {
  for (const file of fs.readdirSync(FIXTURE_DIR).filter((f) => f.endsWith(".json") && f.includes("__"))) {
    const a = fixture(file);
    for (const tokens of [1, 4096, 131072]) assert.equal(kvCacheSize(a.attention, tokens).bytes, kvCacheBytes(a.attention, tokens), `${file} at ${tokens}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Weights and precisions

test("precisions: bits per weight as documented, parsed by name, alias or number", () => {
  const bits = Object.fromEntries(PRECISIONS.map((p) => [p.name, p.bitsPerWeight]));
  assert.deepEqual(bits, { BF16: 16, Q8_0: 8.5, FP8: 8, Q6_K: 6.5625, Q5_K_M: 5.69, Q4_K_M: 4.85, MXFP4_MOE: 8.5, Q3_K_M: 3.91, IQ2_XXS: 2.06 });
  assert.equal(precision("MXFP4_MOE").expertBitsPerWeight, 4.25);
  assert.equal(precision("q4_k_m").name, "Q4_K_M");
  assert.equal(precision("f16").name, "BF16");
  assert.equal(precision("mxfp4").name, "MXFP4_MOE");
  assert.equal(precision("4.5").bitsPerWeight, 4.5);
  for (const bad of ["Q4", "bogus", "0", "40", "-3", ""]) assert.equal(precisionByName(bad), null, bad);
});

test("weights = total x bits / 8, and memory falls and speed rises with fewer bits", () => {
  const llama = fixture(LLAMA_8B);
  assert.equal(weightBytes(llama, precision("Q8_0")).weightsBytes, (llama.parameters.total * 8.5) / 8);
  assert.equal(weightBytes(llama, precision("BF16")).readBytes, llama.parameters.activeRead * 2);
  const order = ["BF16", "Q8_0", "FP8", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "IQ2_XXS"];
  const h100 = profile("h100-sxm");
  const estimates = order.map((name) => estimateFit(llama, h100, { precision: precision(name), context: 4096 }));
  for (let i = 1; i < estimates.length; i++) {
    assert.ok(estimates[i].memory.weightsBytes < estimates[i - 1].memory.weightsBytes, `${order[i]} smaller than ${order[i - 1]}`);
    assert.ok(estimates[i].memory.totalBytes < estimates[i - 1].memory.totalBytes);
    assert.ok(estimates[i].speed.tokensPerSecond! > estimates[i - 1].speed.tokensPerSecond!, `${order[i]} faster than ${order[i - 1]}`);
  }
  // KV cache and overhead do not depend on the weights' precision.
  assert.ok(estimates.every((e) => e.memory.kvCache.bytes === estimates[0].memory.kvCache.bytes && e.memory.overheadBytes === estimates[0].memory.overheadBytes));
});

test("MXFP4_MOE counts routed experts at 4.25 bits and the rest at 8.5; dense models get no such row", () => {
  const oss = fixture("openai__gpt-oss-20b.json");
  const p = oss.parameters;
  const split = weightBytes(oss, precision("MXFP4_MOE"));
  assert.equal(split.weightsBytes, ((p.total - p.breakdown.experts) * 8.5) / 8 + (p.breakdown.experts * 4.25) / 8);
  assert.ok(split.expertReadBytes > 0 && split.expertReadBytes < split.expertWeightsBytes / 4, "a token reads a few experts only");
  const names = (m: FitModel) => estimateAllPrecisions(m, profile("h100-sxm"), { context: 1024 }).map((e) => e.precision.name);
  assert.ok(names(oss).includes("MXFP4_MOE"));
  assert.ok(!names(fixture(LLAMA_8B)).includes("MXFP4_MOE"));
});

test("overhead: a constant per device plus a compute buffer from vocabulary and hidden size", () => {
  const llama = fixture(LLAMA_8B);
  const buffer = 512 * (128256 + 8 * 4096) * 4;
  assert.equal(overheadBytes(llama, 1), 0.5 * GIB + buffer);
  assert.equal(overheadBytes(llama, 2), GIB + buffer);
});

// ---------------------------------------------------------------------------------------------
// Verdicts

/** A model of round numbers: 1 GiB of BF16 weights, no KV cache, no vocabulary. */
const TINY: FitModel = {
  parameters: { total: GIB / 2, active: GIB / 2, activeRead: GIB / 2, breakdown: { experts: 0, vision: 0, audio: 0 } },
  attention: shape({ fullAttentionLayers: 1, kvValuesPerTokenPerLayer: 0 }),
  architecture: { hiddenSize: 0, vocabSize: 0 },
};
const BF16 = PRECISIONS[0];

test("verdict at its boundaries: fits, fits-with-offload, does-not-fit", () => {
  const need = estimateFit(TINY, { id: "x", name: "x", kind: "gpu", memoryGB: 100, bandwidthGBps: 100 }, { precision: BF16, context: 1 }).memory.totalBytes;
  assert.equal(need, GIB + 0.5 * GIB); // 1 GiB of weights + 0.5 GiB per device
  const gpu = (usableGB: number, host?: HardwareProfile["host"]): HardwareProfile => ({ id: "g", name: "g", kind: "gpu", memoryGB: 100, usableMemoryGB: usableGB, bandwidthGBps: 100, ...(host ? { host } : {}) });
  const fit = (h: HardwareProfile) => estimateFit(TINY, h, { precision: BF16, context: 1 });

  assert.equal(fit(gpu(1.5)).verdict, "fits", "exactly the usable memory fits");
  assert.equal(fit(gpu(1.5 - 1e-9)).verdict, "does-not-fit", "a byte short and no host RAM");
  // 0.25 GiB to spill; the host offers exactly that, then a little less.
  assert.equal(fit(gpu(1.25, { memoryGB: 1, usableMemoryGB: 0.25, bandwidthGBps: 10 })).verdict, "fits-with-offload");
  assert.equal(fit(gpu(1.25, { memoryGB: 1, usableMemoryGB: 0.25 - 1e-9, bandwidthGBps: 10 })).verdict, "does-not-fit");
  // Nothing can be offloaded when the runtime's own overhead does not fit the GPU.
  assert.equal(fit(gpu(0.4, { memoryGB: 64, bandwidthGBps: 10 })).verdict, "does-not-fit");
  // Unified memory has no second pool: no offload, whatever it is told.
  assert.equal(fit({ id: "u", name: "u", kind: "unified", memoryGB: 2, bandwidthGBps: 100 }).verdict, "does-not-fit", "2 GB unified leaves 1.3 GB to the GPU");
  assert.equal(fit({ id: "u", name: "u", kind: "unified", memoryGB: 3, bandwidthGBps: 100 }).verdict, "fits");
  const speed = fit(gpu(1.5)).speed.tokensPerSecond!;
  assert.ok(Math.abs(speed - (RUNTIMES.native.efficiency * 100e9) / GIB) < 1e-9, "efficiency x bandwidth / bytes");
  assert.equal(fit(gpu(1.4)).speed.tokensPerSecond, null);
});

test("Apple unified memory: the GPU gets two thirds up to 36 GB, three quarters above", () => {
  assert.equal(appleGpuLimitGB(24), 16);
  assert.equal(appleGpuLimitGB(36), 24);
  assert.equal(appleGpuLimitGB(64), 48);
  assert.equal(appleGpuLimitGB(128), 96);
  assert.equal(usableMemoryGB(profile("m4-max-128gb")), 96);
  // gpt-oss-120b at Q8_0 (117 GB) does not fit the 96 GB macOS allows, and there is nothing to spill to.
  const e = estimateFit(fixture("openai__gpt-oss-120b.json"), profile("m4-max-128gb"), { precision: precision("Q8_0"), context: 8192 });
  assert.equal(e.verdict, "does-not-fit");
  assert.equal(estimateFit(fixture("openai__gpt-oss-120b.json"), profile("m4-max-128gb"), { precision: precision("MXFP4_MOE"), context: 8192 }).verdict, "fits");
});

// ---------------------------------------------------------------------------------------------
// Speed

test("MoE speed comes from activeRead: Qwen3-30B-A3B decodes far faster than Qwen3-32B", () => {
  const moe = fixture(QWEN3_30B_A3B);
  const dense = fixture(QWEN3_32B);
  const rtx5090 = profile("rtx-5090");
  const options = { precision: precision("Q4_K_M"), context: 4096 };
  const fast = estimateFit(moe, rtx5090, options);
  const slow = estimateFit(dense, rtx5090, options);
  assert.equal(fast.verdict, "fits");
  assert.equal(slow.verdict, "fits");
  // Similar total size, about a tenth of the reads.
  assert.ok(Math.abs(moe.parameters.total - dense.parameters.total) / dense.parameters.total < 0.1);
  assert.ok(fast.speed.tokensPerSecond! > 5 * slow.speed.tokensPerSecond!, `${fast.speed.tokensPerSecond} vs ${slow.speed.tokensPerSecond}`);
  // The bytes read are activeRead at the precision plus the KV cache, not the total.
  assert.ok(Math.abs(fast.speed.bytesPerToken - ((moe.parameters.activeRead * 4.85) / 8 + fast.memory.kvCache.bytes)) < 1);
  assert.ok(fast.speed.bytesPerToken < fast.memory.weightsBytes / 5);
  // And the speed is efficiency x bandwidth / bytes.
  assert.ok(Math.abs(fast.speed.tokensPerSecond! - (RUNTIMES.native.efficiency * 1792e9) / fast.speed.bytesPerToken) < 1e-9);
  // A longer context reads more KV cache per token: slower.
  assert.ok(estimateFit(dense, rtx5090, { ...options, context: 32768 }).speed.tokensPerSecond! < slow.speed.tokensPerSecond!);
});

test("eager-python is estimated slower than native at the same memory", () => {
  const llama = fixture(LLAMA_8B);
  const native = estimateFit(llama, profile("rtx-4090"), { precision: BF16, context: 2048 });
  const eager = estimateFit(llama, profile("rtx-4090"), { precision: BF16, context: 2048, runtime: "eager-python" });
  assert.equal(eager.memory.totalBytes, native.memory.totalBytes);
  assert.ok(eager.speed.tokensPerSecond! < native.speed.tokensPerSecond! / 2);
});

test("offload: a dense model spills layers, runs slower, and the host part is costed at host bandwidth", () => {
  const dense = fixture(QWEN3_32B);
  const rtx4090 = profile("rtx-4090");
  const q8 = estimateFit(dense, rtx4090, { precision: precision("Q8_0"), context: 8192 });
  assert.equal(q8.verdict, "fits-with-offload");
  assert.equal(q8.placement.strategy, "layer-split");
  assert.equal(q8.placement.hostBytes, q8.memory.totalBytes - q8.memory.acceleratorUsableBytes);
  assert.ok(q8.speed.hostBytesPerToken > 0);
  const e = RUNTIMES.native.efficiency;
  const expected = 1 / (q8.speed.acceleratorBytesPerToken / (e * 1008e9) + q8.speed.hostBytesPerToken / (e * rtx4090.host!.bandwidthGBps * 1e9));
  assert.ok(Math.abs(q8.speed.tokensPerSecond! - expected) < 1e-9);
  // The same model and precision on a GPU as fast but big enough: it fits and is much faster.
  const big = estimateFit(dense, { ...rtx4090, id: "big", memoryGB: 48, host: undefined }, { precision: precision("Q8_0"), context: 8192 });
  assert.equal(big.verdict, "fits");
  assert.ok(big.speed.tokensPerSecond! > 3 * q8.speed.tokensPerSecond!);
  // Without host RAM in the profile it does not fit at all.
  assert.equal(estimateFit(dense, { ...rtx4090, host: undefined }, { precision: precision("Q8_0"), context: 8192 }).verdict, "does-not-fit");
});

test("offload of a MoE model moves routed experts first, and only the chosen ones are read from host RAM", () => {
  const moe = fixture(QWEN3_30B_A3B);
  const rtx4090 = profile("rtx-4090");
  const q8 = estimateFit(moe, rtx4090, { precision: precision("Q8_0"), context: 8192 });
  assert.equal(q8.verdict, "fits-with-offload");
  assert.equal(q8.placement.strategy, "experts-to-host");
  const split = weightBytes(moe, precision("Q8_0"));
  const onHost = q8.placement.hostBytes / split.expertWeightsBytes;
  assert.ok(Math.abs(q8.speed.hostBytesPerToken - onHost * split.expertReadBytes) < 1);
  // 8 of 128 experts per layer: a token reads 1/16 of the spilled experts.
  assert.ok(Math.abs(q8.speed.hostBytesPerToken - q8.placement.hostBytes / 16) < q8.placement.hostBytes / 1000, "a token reads the chosen share of what was spilled");
  const fits = estimateFit(moe, { ...rtx4090, memoryGB: 48 }, { precision: precision("Q8_0"), context: 8192 });
  assert.equal(fits.verdict, "fits");
  assert.ok(q8.speed.tokensPerSecond! < fits.speed.tokensPerSecond!);
  // Experts-first beats moving whole layers: the dense model of the same size is far slower offloaded.
  assert.ok(q8.speed.tokensPerSecond! > 5 * estimateFit(fixture(QWEN3_32B), rtx4090, { precision: precision("Q8_0"), context: 8192 }).speed.tokensPerSecond!);
});

test("two GPUs: memory adds up, the per-token time is one GPU's (layer split)", () => {
  const dense = fixture(QWEN3_32B);
  const one = estimateFit(dense, profile("rtx-3090"), { precision: precision("Q4_K_M"), context: 4096 });
  const two = estimateFit(dense, profile("2x-rtx-3090"), { precision: precision("Q4_K_M"), context: 4096 });
  assert.equal(one.verdict, "fits");
  assert.equal(two.verdict, "fits");
  assert.equal(two.memory.overheadBytes - one.memory.overheadBytes, 0.5 * GIB, "one runtime context per device");
  assert.equal(two.memory.acceleratorUsableBytes, 2 * one.memory.acceleratorUsableBytes);
  assert.equal(two.speed.tokensPerSecond, one.speed.tokensPerSecond);
  assert.equal(estimateFit(dense, profile("rtx-3090"), { precision: precision("Q8_0"), context: 4096 }).verdict, "fits-with-offload");
  assert.equal(estimateFit(dense, profile("2x-rtx-3090"), { precision: precision("Q8_0"), context: 4096 }).verdict, "fits");
});

test("the estimate refuses a context that is not a positive whole number", () => {
  for (const context of [0, -1, 1.5, Number.NaN]) assert.throws(() => estimateFit(TINY, profile("rtx-4090"), { precision: BF16, context }), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Hardware profiles

test("built-in profiles: unique ids, positive figures, the ones the documentation relies on", () => {
  const ids = BUILTIN_HARDWARE_PROFILES.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ["rtx-3060-laptop", "rtx-3060", "rtx-3090", "rtx-4060-laptop", "rtx-4070", "rtx-4090", "rtx-5090", "m2-ultra-192gb", "m3-max-128gb", "m4-max-128gb", "dgx-spark", "h100-sxm", "h200", "mi300x", "cpu-ddr5-desktop"]) profile(id);
  for (const p of BUILTIN_HARDWARE_PROFILES) {
    assert.ok(p.memoryGB > 0 && p.bandwidthGBps > 0, p.id);
    assert.ok(p.sources?.length, `${p.id} has a source`);
  }
  // The built-ins pass the same validation as user files.
  assert.ok(parseHardwareProfiles(BUILTIN_HARDWARE_PROFILES.map((p) => ({ ...p }))).ok);
  assert.equal(profile("dgx-spark").bandwidthGBps, 273);
  assert.equal(profile("rtx-4090").bandwidthGBps, 1008);
});

test("profile files: JSON or YAML, a list or { profiles }, user ids replace built-ins", (t) => {
  const dir = tempDir(t);
  const yaml = path.join(dir, "hw.yaml");
  fs.writeFileSync(yaml, "profiles:\n  - id: my-box\n    name: My box\n    kind: gpu\n    memoryGB: 16\n    bandwidthGBps: 448\n    host: { memoryGB: 64, bandwidthGBps: 89.6 }\n  - id: rtx-4090\n    memoryGB: 24\n    bandwidthGBps: 900\n");
  const loaded = loadHardwareProfilesFile(yaml);
  assert.ok(loaded.ok, JSON.stringify(loaded));
  assert.equal(loaded.profiles[0].host?.bandwidthGBps, 89.6);
  assert.equal(loaded.profiles[1].kind, "gpu", "kind defaults to gpu");
  const merged = mergeProfiles(loaded.profiles);
  assert.equal(findProfile(merged, "RTX-4090")!.bandwidthGBps, 900, "the user's replaces the built-in");
  assert.equal(merged.filter((p) => p.id === "rtx-4090").length, 1);

  const json = path.join(dir, "hw.json");
  fs.writeFileSync(json, JSON.stringify([{ id: "mac", kind: "unified", memoryGB: 64, bandwidthGBps: 400 }]));
  const fromJson = loadHardwareProfilesFile(json);
  assert.ok(fromJson.ok);
  assert.equal(usableMemoryGB(fromJson.profiles[0]), 48);
});

test("profile files: every problem reported with the file and the place", (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "bad.yaml");
  fs.writeFileSync(
    file,
    [
      "profiles:",
      "  - id: a",
      "    bandwidthGBps: -5",
      "  - id: b",
      "    kind: tpu",
      "    memoryGB: 8",
      "    bandwidthGBps: 100",
      "    colour: red",
      "  - id: c",
      "    kind: unified",
      "    memoryGB: 8",
      "    bandwidthGBps: 100",
      "    host: { memoryGB: 8, bandwidthGBps: 10 }",
      "  - id: a",
      "    memoryGB: 8",
      "    bandwidthGBps: \"fast\"",
      "  - just a string",
      "  - id: d e",
      "    memoryGB: 8",
      "    bandwidthGBps: 10",
      "    devices: 1.5",
    ].join("\n"),
  );
  const result = loadHardwareProfilesFile(file);
  assert.equal(result.ok, false);
  const errors = result.ok ? [] : result.errors;
  const has = (pattern: RegExp) => assert.ok(errors.some((e) => pattern.test(e) && e.includes(file)), `${pattern} in\n${errors.join("\n")}`);
  has(/profile "a"\.memoryGB must be a positive number/);
  has(/profile "a"\.bandwidthGBps must be a positive number .*got -5/);
  has(/profile "b"\.kind must be one of gpu, unified, cpu \(got "tpu"\)/);
  has(/profiles\[1\]: unknown key "colour"/);
  has(/profile "c"\.host is only meaningful for kind gpu/);
  has(/profile "a"\.bandwidthGBps must be a positive number .*"fast"/);
  has(/profiles\[4\] must be a mapping/);
  has(/profiles\[5\]\.id must be a name/);
  has(/devices must be a whole number/);

  assert.match(parseHardwareProfiles({ machines: [] }, "x.yaml").ok ? "" : (parseHardwareProfiles({ machines: [] }, "x.yaml") as { errors: string[] }).errors[0], /x\.yaml: expected a list of profiles .*found keys machines/);
  assert.ok(!parseHardwareProfiles("text").ok);
  const missing = loadHardwareProfilesFile(path.join(dir, "nope.yaml"));
  assert.ok(!missing.ok && /cannot read hardware profile file/.test(missing.errors[0]));
  fs.writeFileSync(path.join(dir, "broken.yaml"), "profiles: [ {");
  const broken = loadHardwareProfilesFile(path.join(dir, "broken.yaml"));
  assert.ok(!broken.ok && /is not valid YAML\/JSON/.test(broken.errors[0]));
});

test("the hardwareProfiles setting: from the configuration file or $AGORA_HARDWARE_PROFILES", (t) => {
  const dir = tempDir(t);
  const configFile = path.join(dir, "agora.yaml");
  fs.writeFileSync(configFile, "hardwareProfiles: ./hw.yaml\n");
  assert.equal(loadAgoraConfig({ env: {} }).hardwareProfiles, "");
  assert.equal(loadAgoraConfig({ configFile, env: {} }).hardwareProfiles, path.resolve("./hw.yaml"));
  assert.equal(loadAgoraConfig({ configFile, env: { AGORA_HARDWARE_PROFILES: "/etc/agora/hw.json" } }).hardwareProfiles, "/etc/agora/hw.json");
  fs.writeFileSync(configFile, "hardwareProfiles: 12\n");
  assert.throws(() => loadAgoraConfig({ configFile, env: {} }), /hardwareProfiles must be a string/);
});

// ---------------------------------------------------------------------------------------------
// The command

function agora(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, AGORA_HARDWARE_PROFILES: "", ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const fixturePath = (file: string) => path.join(FIXTURE_DIR, file);

test("agora fit CONFIG --hardware rtx-4090 --json: every precision with memory, verdict and speed", () => {
  const run = agora(["fit", fixturePath(QWEN3_30B_A3B), "--hardware", "rtx-4090", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.model.family, "qwen3_moe");
  assert.equal(report.model.moe, true);
  assert.equal(report.model.parameterSource, "config");
  for (const key of ["total", "active", "activeRead"]) assert.ok(Number.isInteger(report.model.parameters[key]), key);
  assert.equal(report.hardware.id, "rtx-4090");
  assert.equal(report.hardware.bandwidthGBps, 1008);
  assert.equal(report.context, 8192);
  assert.equal(report.runtime.name, "native");
  assert.equal(report.runtime.efficiency, RUNTIMES.native.efficiency);
  assert.equal(report.kvCacheBits, 16);
  assert.deepEqual(report.estimates.map((e: { precision: { name: string } }) => e.precision.name), PRECISIONS.map((p) => p.name));
  for (const e of report.estimates) {
    assert.ok(["fits", "fits-with-offload", "does-not-fit"].includes(e.verdict), e.verdict);
    assert.ok(e.tokensPerSecond === null || e.tokensPerSecond > 0);
    assert.equal(e.tokensPerSecond === null, e.verdict === "does-not-fit");
    for (const key of ["weightsGB", "kvCacheGB", "overheadGB", "totalGB", "usableGB"]) assert.equal(typeof e.memory[key], "number", key);
    assert.ok(["accelerator", "experts-to-host", "layer-split", "none"].includes(e.placement.strategy));
    assert.equal(typeof e.speed.bytesPerToken, "number");
  }
  const byName = Object.fromEntries(report.estimates.map((e: { precision: { name: string } }) => [e.precision.name, e]));
  assert.equal(byName.Q4_K_M.verdict, "fits");
  assert.equal(byName.BF16.verdict, "fits-with-offload");
  assert.equal(byName.BF16.placement.strategy, "experts-to-host");
});

test("agora fit: one precision, context, runtime and KV options; human-readable output", () => {
  const run = agora(["fit", fixturePath(LLAMA_8B), "--hardware", "m4-max-128gb", "--precision", "q4_k_m", "--context", "32k", "--kv-cache", "8", "--runtime", "eager-python", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.estimates.length, 1);
  assert.equal(report.estimates[0].precision.name, "Q4_K_M");
  assert.equal(report.context, 32768);
  assert.equal(report.kvCacheBits, 8);
  assert.equal(report.runtime.name, "eager-python");
  assert.equal(report.estimates[0].memory.bytes.kvCache.bytesPerValue, 1.0625);

  const text = agora(["fit", fixturePath(LLAMA_8B), "--hardware", "rtx-3060"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /PRECISION\s+BITS\/W\s+WEIGHTS GB\s+KV GB\s+OVERHEAD GB\s+TOTAL GB\s+VERDICT\s+TOKENS\/S/);
  assert.match(text.stdout, /^Q4_K_M .* fits .*\d$/m);
  assert.match(text.stdout, /^BF16 .* fits-with-offload .*\d$/m);
  const one = agora(["fit", fixturePath(LLAMA_8B), "--hardware", "rtx-3060", "--precision", "Q8_0"]);
  assert.match(one.stdout, /verdict: fits\n/);
  assert.match(one.stdout, /decode: about [\d.]+ tokens\/s/);
});

test("agora fit --memory GB --bandwidth GBps describes a machine without a profile", () => {
  const run = agora(["fit", fixturePath(LLAMA_8B), "--memory", "16", "--bandwidth", "448", "--precision", "Q8_0", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.hardware.memoryGB, 16);
  assert.equal(report.estimates[0].verdict, "fits");
  const half = agora(["fit", fixturePath(LLAMA_8B), "--memory", "16"]);
  assert.equal(half.code, 1);
  assert.match(half.stderr, /--memory and --bandwidth go together/);
});

test("agora fit --list-hardware, and profiles from --hardware-file or $AGORA_HARDWARE_PROFILES", (t) => {
  const list = agora(["fit", "--list-hardware"]);
  assert.equal(list.code, 0, list.stderr);
  for (const id of ["rtx-4090", "dgx-spark", "m4-max-128gb", "h100-sxm", "cpu-ddr5-desktop"]) assert.match(list.stdout, new RegExp(`^${id}\\s`, "m"));
  assert.match(list.stdout, /^ID\s+KIND\s+MEMORY\s+USABLE\s+BANDWIDTH/);
  const listed = JSON.parse(agora(["fit", "--list-hardware", "--json"]).stdout);
  assert.equal(listed.profiles.length, BUILTIN_HARDWARE_PROFILES.length);
  assert.ok(listed.profiles.every((p: { builtin: boolean }) => p.builtin));

  const dir = tempDir(t);
  const file = path.join(dir, "hw.json");
  fs.writeFileSync(file, JSON.stringify({ profiles: [{ id: "lab-box", name: "Lab box", memoryGB: 48, bandwidthGBps: 960 }] }));
  const withFile = agora(["fit", "--list-hardware", "--hardware-file", file]);
  assert.match(withFile.stdout, /^lab-box\s.*Lab box \(from file\)$/m);
  const used = JSON.parse(agora(["fit", fixturePath(QWEN3_32B), "--hardware", "lab-box", "--precision", "Q8_0", "--json"], { AGORA_HARDWARE_PROFILES: file }).stdout);
  assert.equal(used.hardware.id, "lab-box");
  assert.equal(used.estimates[0].verdict, "fits");

  fs.writeFileSync(file, JSON.stringify([{ id: "lab-box", memoryGB: 0, bandwidthGBps: 960 }]));
  const bad = agora(["fit", "--list-hardware", "--hardware-file", file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid hardware profiles/);
  assert.match(bad.stderr, /profile "lab-box"\.memoryGB must be a positive number/);
});

test("agora fit: clear errors for unknown hardware, precision, missing model or hardware", () => {
  const unknown = agora(["fit", fixturePath(LLAMA_8B), "--hardware", "rtx-40"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown hardware "rtx-40"; did you mean .*rtx-4090/);
  const precisionRun = agora(["fit", fixturePath(LLAMA_8B), "--hardware", "rtx-4090", "--precision", "Q9", "--json"]);
  assert.equal(precisionRun.code, 1);
  assert.equal(JSON.parse(precisionRun.stdout).error.code, "bad-precision");
  assert.match(agora(["fit", fixturePath(LLAMA_8B)]).stderr, /choose the hardware/);
  assert.match(agora(["fit", "/nonexistent/model", "--hardware", "rtx-4090"]).stderr, /neither a file or folder nor a repository id/);
  assert.match(agora(["fit", fixturePath(LLAMA_8B), "--hardware", "rtx-4090", "--context", "0"]).stderr, /--context must be a whole number/);
});

test("agora fit ns/name never creates a hub where there is none", (t) => {
  const missing = path.join(tempDir(t), "no-hub-here");
  const run = agora(["fit", "some/model", "--hardware", "rtx-4090", "--data", missing]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /no hub data directory at .*no-hub-here/);
  assert.equal(fs.existsSync(missing), false);
});

test("agora fit DIR: a model folder's safetensors headers give the parameter counts", (t) => {
  const dir = tempDir(t);
  writeShardedMixtral(dir);
  const run = agora(["fit", dir, "--hardware", "rtx-4090", "--precision", "BF16", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.model.parameterSource, "safetensors");
  assert.equal(report.model.parameters.total, 1640);
  assert.equal(report.model.parameters.activeRead, 1136);
  assert.equal(report.estimates[0].memory.bytes.weights, 1640 * 2);
});

test("agora fit ns/name reads config.json from the hub's data directory", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "qwen-moe" });
  await commitFiles(hub.url, token, id, [{ path: "config.json", content: fs.readFileSync(fixturePath(QWEN3_30B_A3B), "utf8") }]);
  const run = agora(["fit", id, "--data", hub.dataDir, "--hardware", "dgx-spark", "--precision", "Q8_0", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.model.source, `${id}@main`);
  assert.equal(report.model.parameters.total, fixture(QWEN3_30B_A3B).parameters.total);
  assert.equal(report.estimates[0].verdict, "fits");
  const missing = agora(["fit", "alice/nothing", "--data", hub.dataDir, "--hardware", "dgx-spark"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /alice\/nothing not found/);
});

// ---------------------------------------------------------------------------------------------
// The documentation

test("docs/fit.md is what the generator makes, and its accuracy figure meets the goal", () => {
  assert.equal(fs.readFileSync(DOCS_FILE, "utf8"), renderFitDocs(), "regenerate it: npx tsx scripts/gen-fit-docs.ts");
  const { median, count } = nativeMedianAbsoluteError();
  assert.ok(count >= 5, `${count} measurements`);
  assert.ok(median <= 0.25, `median absolute error ${median}`);
});
