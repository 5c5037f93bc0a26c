// The config.json analyser against real configs: totals against what transformers builds
// (REFERENCE-COUNTS.md), active parameters against the publishers' figures, architecture facts,
// KV-cache shapes, quantization, and hostile input that must never throw or hang.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DOCS_FILE, renderParameterDocs } from "../../scripts/gen-parameter-docs.ts";
import { analyzeConfig, isAnalysisError, kvCacheBytes } from "../../src/models/config-analysis.ts";
import type { AnalysisError, ConfigAnalysis } from "../../src/models/types.ts";
import {
  comparableActive,
  comparableToReference,
  extraConfigFiles,
  FIXTURE_DIR,
  loadConfig,
  readPublishedFigures,
  readReferenceCounts,
  relativeError,
  sharedConfigFiles,
} from "./model-fixtures.ts";

const B = 1e9;

function analysed(config: unknown): ConfigAnalysis {
  const result = analyzeConfig(config);
  if (isAnalysisError(result)) assert.fail(`unexpected AnalysisError: ${result.error}`);
  return result;
}

const fixture = (file: string) => analysed(loadConfig(file));

function assertWithin(ours: number, expected: number, tolerance: number, what: string) {
  const error = relativeError(ours, expected);
  assert.ok(error <= tolerance, `${what}: ${ours} vs ${expected} is ${(error * 100).toFixed(2)}% off (allowed ${(tolerance * 100).toFixed(1)}%)`);
}

// ---------------------------------------------------------------------------------------------
// Fixtures

test("every shared config is in the fixtures, unmodified, with its source noted", () => {
  const shared = path.resolve(import.meta.dirname, "../../../shared/data/model-configs");
  const sources = fs.readFileSync(path.join(FIXTURE_DIR, "SOURCES.md"), "utf8");
  for (const file of [...sharedConfigFiles(), ...extraConfigFiles()]) assert.ok(sources.includes(`\`${file}\``), `${file} has no row in SOURCES.md`);
  for (const license of ["LICENSE-ai-dynamo-aiconfigurator", "LICENSE-inference-sim-inference-sim"]) assert.ok(fs.existsSync(path.join(FIXTURE_DIR, license)));
  // The shared data set sits beside the checkout on development machines and in CI.
  if (!fs.existsSync(shared)) return;
  for (const file of fs.readdirSync(shared).filter((f) => f.endsWith(".json") || f === "REFERENCE-COUNTS.md" || f.startsWith("LICENSE"))) {
    assert.deepEqual(fs.readFileSync(path.join(FIXTURE_DIR, file)), fs.readFileSync(path.join(shared, file)), `${file} differs from the shared copy`);
  }
});

test("docs/parameter-counting.md is what the generator makes from the current analyser and fixtures", () => {
  assert.equal(fs.readFileSync(DOCS_FILE, "utf8"), renderParameterDocs(), "regenerate it: npx tsx scripts/gen-parameter-docs.ts");
});

// ---------------------------------------------------------------------------------------------
// Totals against the reference implementation

test("parameters.total is within 0.5% of what transformers builds, for every config it builds", () => {
  const references = readReferenceCounts();
  let compared = 0;
  for (const file of sharedConfigFiles()) {
    const row = references.get(file);
    assert.ok(row, `${file} has no row in REFERENCE-COUNTS.md`);
    if (row.languageModel === null) continue; // not built by transformers (Kimi K2): checked below
    const { ours, reference } = comparableToReference(fixture(file), row);
    assertWithin(ours, reference, 0.005, file);
    compared++;
  }
  assert.equal(compared, 17);
});

test("the counts are exact where the reference is exact", () => {
  // Every family's shapes follow transformers, so the counts match to the parameter.
  const references = readReferenceCounts();
  for (const file of sharedConfigFiles()) {
    const row = references.get(file)!;
    if (row.languageModel === null) continue;
    const { ours, reference } = comparableToReference(fixture(file), row);
    assert.equal(ours, reference, file);
  }
});

test("Llama 4 Scout: the text-only reference is total minus vision; the total with vision is Meta's 109B", () => {
  const scout = fixture("meta-llama__Llama-4-Scout-17B-16E-Instruct.json");
  const row = readReferenceCounts().get("meta-llama__Llama-4-Scout-17B-16E-Instruct.json")!;
  assert.equal(row.className, "Llama4ForCausalLM");
  assert.equal(scout.parameters.total - scout.parameters.breakdown.vision, row.languageModel);
  assert.ok(scout.parameters.breakdown.vision > 0.8 * B && scout.parameters.breakdown.vision < 0.95 * B);
  assertWithin(scout.parameters.total, 109 * B, 0.005, "Scout total vs Meta's 109B");
});

test("Gemma 4: language model and vision tower both match the reference columns", () => {
  const gemma = fixture("google__gemma-4-26B-A4B.json");
  const row = readReferenceCounts().get("google__gemma-4-26B-A4B.json")!;
  assert.equal(gemma.parameters.breakdown.vision, row.vision);
  assert.equal(gemma.parameters.total - gemma.parameters.breakdown.vision, row.languageModel);
  // Google's 25.2B is the language model alone.
  assertWithin(gemma.parameters.total - gemma.parameters.breakdown.vision, 25.2 * B, 0.005, "Gemma 4 language model vs 25.2B");
});

test("Kimi K2 (model_type kimi_k2) is counted as DeepSeek-V3 from its architectures: about 1.03T", () => {
  const kimi = fixture("moonshotai__Kimi-K2-Instruct.json");
  assert.equal(kimi.architecture.family, "deepseek_v3");
  assert.equal(kimi.architecture.modelType, "kimi_k2");
  assert.equal(kimi.confidence, "high");
  assert.ok(kimi.notes.some((n) => n.includes("kimi_k2")));
  assertWithin(kimi.parameters.total, 1.03e12, 0.005, "Kimi K2 total");
  assertWithin(kimi.parameters.total, 1e12, 0.05, "Kimi K2 total vs Moonshot's 1T");
});

test("MTP layers are only in breakdown.mtp: DeepSeek-V3 is 671B, its checkpoint with MTP 685B", () => {
  const deepseek = fixture("deepseek-ai__DeepSeek-V3.json");
  const { total, breakdown } = deepseek.parameters;
  assert.equal(deepseek.architecture.mtpLayers, 1);
  assertWithin(total, 671 * B, 0.005, "DeepSeek-V3 total");
  assertWithin(total + breakdown.mtp, 685 * B, 0.005, "DeepSeek-V3 with its MTP module");
  const glm = fixture("zai-org__GLM-5.json");
  assert.equal(glm.architecture.mtpLayers, 1);
  assert.ok(glm.parameters.breakdown.mtp > 9 * B && glm.parameters.breakdown.mtp < 11 * B);
  const qwen35 = fixture("Qwen__Qwen3.5-35B-A3B.json");
  assert.equal(qwen35.architecture.mtpLayers, 1);
  assert.ok(qwen35.parameters.breakdown.mtp > 0);
  for (const file of sharedConfigFiles()) {
    const { total, breakdown } = fixture(file).parameters;
    const sum = Object.entries(breakdown).reduce((s, [key, n]) => (key === "mtp" ? s : s + n), 0);
    assert.equal(total, sum, `${file}: total is the breakdown without mtp`);
  }
});

// ---------------------------------------------------------------------------------------------
// Active parameters against the publishers' figures

test("parameters.active is within 3% of each publisher's active figure (or the figure its rule matches)", () => {
  const figures = readPublishedFigures();
  const checked: string[] = [];
  for (const [file, figure] of Object.entries(figures)) {
    if (figure.compare === null || figure.active === null) continue;
    const ours = comparableActive(fixture(file), figure.compare);
    assertWithin(ours, figure.active, 0.03, `${file} ${figure.compare} vs ${figure.publisher}`);
    checked.push(file);
  }
  for (const required of [
    "mistralai__Mixtral-8x7B-v0.1.json",
    "Qwen__Qwen3-30B-A3B.json",
    "deepseek-ai__DeepSeek-V3.json",
    "meta-llama__Llama-4-Scout-17B-16E-Instruct.json",
    "google__gemma-4-26B-A4B.json",
    "moonshotai__Kimi-K2-Instruct.json",
    "zai-org__GLM-5.json",
    "extra/zai-org__GLM-4.5.json",
    "openai__gpt-oss-120b.json",
    "openai__gpt-oss-20b.json",
  ]) {
    assert.ok(checked.includes(required), `${required} was not compared`);
  }
});

test("gpt-oss: OpenAI's active figure leaves out the input embedding, which is activeRead", () => {
  for (const [file, expected] of [["openai__gpt-oss-120b.json", 5.1 * B], ["openai__gpt-oss-20b.json", 3.6 * B]] as const) {
    const a = fixture(file);
    assertWithin(a.parameters.activeRead, expected, 0.03, file);
    assert.equal(a.parameters.active - a.parameters.activeRead, a.parameters.breakdown.embedding - a.architecture.hiddenSize);
  }
});

test("GLM-4.5 and GLM-5: Z.ai's activated figures (32B, 40B) are ours without embedding and head, for both", () => {
  // The architecture table of Z.ai's GLM-5 technical report lists both models. Only the count
  // without embedding and output head rounds to Z.ai's whole billions for each; `active` follows
  // Agora's rule and includes both (about 5% more), `activeRead` includes the head (2–3% more).
  for (const [file, activated] of [["extra/zai-org__GLM-4.5.json", 32 * B], ["zai-org__GLM-5.json", 40 * B]] as const) {
    const p = fixture(file).parameters;
    const withoutEmbeddings = p.active - p.breakdown.embedding - p.breakdown.lm_head;
    assert.equal(Math.round(withoutEmbeddings / B) * B, activated, `${file} without embeddings: ${withoutEmbeddings}`);
    assertWithin(withoutEmbeddings, activated, 0.005, `${file} active without embeddings`);
    assert.notEqual(Math.round(p.activeRead / B) * B, activated, `${file} activeRead does not round to Z.ai's figure`);
    assertWithin(p.active, activated, 0.06, `${file} active`);
    assert.ok(p.active > activated * 1.04, `${file}: active includes embedding and head`);
  }
});

test("dense text-only models: active equals total, activeRead drops the input table to one row", () => {
  for (const file of [...sharedConfigFiles(), ...extraConfigFiles()]) {
    const a = fixture(file);
    if (a.architecture.moe || a.architecture.modalities.length > 1) continue;
    assert.equal(a.parameters.active, a.parameters.total, file);
    const { embedding } = a.parameters.breakdown;
    const expectedRead = a.architecture.tiedEmbeddings ? a.parameters.active : a.parameters.active - embedding + a.architecture.hiddenSize;
    assert.equal(a.parameters.activeRead, expectedRead, file);
  }
});

test("tied embeddings are counted once", () => {
  const llama32 = fixture("extra/meta-llama__Llama-3.2-3B-Instruct.json");
  assert.equal(llama32.architecture.tiedEmbeddings, true);
  assert.equal(llama32.parameters.breakdown.embedding, 128256 * 3072);
  assert.equal(llama32.parameters.breakdown.lm_head, 0);
  const gemma = fixture("google__gemma-4-26B-A4B.json");
  assert.equal(gemma.parameters.breakdown.lm_head, 0);
  assert.equal(gemma.parameters.activeRead, gemma.parameters.active); // the table is read whole as the head
  const llama31 = fixture("meta-llama__Meta-Llama-3.1-8B.json");
  assert.equal(llama31.parameters.breakdown.lm_head, llama31.parameters.breakdown.embedding);
});

// ---------------------------------------------------------------------------------------------
// Architecture facts

type Facts = { family: string; moe: boolean; experts: number | null; expertsPerToken: number | null; sharedExperts: number | null; denseLayers: number; layers: number };

const FACTS: Record<string, Facts> = {
  "MiniMaxAI__MiniMax-M2.5.json": { family: "minimax_m2", moe: true, experts: 256, expertsPerToken: 8, sharedExperts: 0, denseLayers: 0, layers: 62 },
  "Qwen__Qwen3-30B-A3B.json": { family: "qwen3_moe", moe: true, experts: 128, expertsPerToken: 8, sharedExperts: 0, denseLayers: 0, layers: 48 },
  "Qwen__Qwen3-32B.json": { family: "qwen3", moe: false, experts: null, expertsPerToken: null, sharedExperts: null, denseLayers: 0, layers: 64 },
  "Qwen__Qwen3-8B.json": { family: "qwen3", moe: false, experts: null, expertsPerToken: null, sharedExperts: null, denseLayers: 0, layers: 36 },
  "Qwen__Qwen3-Next-80B-A3B-Thinking.json": { family: "qwen3_next", moe: true, experts: 512, expertsPerToken: 10, sharedExperts: 1, denseLayers: 0, layers: 48 },
  "Qwen__Qwen3.5-35B-A3B.json": { family: "qwen3_5_moe", moe: true, experts: 256, expertsPerToken: 8, sharedExperts: 1, denseLayers: 0, layers: 40 },
  "deepseek-ai__DeepSeek-V3.json": { family: "deepseek_v3", moe: true, experts: 256, expertsPerToken: 8, sharedExperts: 1, denseLayers: 3, layers: 61 },
  "google__gemma-4-26B-A4B.json": { family: "gemma4", moe: true, experts: 128, expertsPerToken: 8, sharedExperts: 0, denseLayers: 0, layers: 30 },
  "meta-llama__Llama-4-Scout-17B-16E-Instruct.json": { family: "llama4", moe: true, experts: 16, expertsPerToken: 1, sharedExperts: 1, denseLayers: 0, layers: 48 },
  "meta-llama__Meta-Llama-3.1-8B.json": { family: "llama", moe: false, experts: null, expertsPerToken: null, sharedExperts: null, denseLayers: 0, layers: 32 },
  "mistralai__Mistral-Nemo-Instruct-2407.json": { family: "mistral", moe: false, experts: null, expertsPerToken: null, sharedExperts: null, denseLayers: 0, layers: 40 },
  "mistralai__Mixtral-8x22B-v0.1.json": { family: "mixtral", moe: true, experts: 8, expertsPerToken: 2, sharedExperts: 0, denseLayers: 0, layers: 56 },
  "mistralai__Mixtral-8x7B-v0.1.json": { family: "mixtral", moe: true, experts: 8, expertsPerToken: 2, sharedExperts: 0, denseLayers: 0, layers: 32 },
  "moonshotai__Kimi-K2-Instruct.json": { family: "deepseek_v3", moe: true, experts: 384, expertsPerToken: 8, sharedExperts: 1, denseLayers: 1, layers: 61 },
  "nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json": { family: "nemotron_h", moe: true, experts: 128, expertsPerToken: 6, sharedExperts: 1, denseLayers: 0, layers: 52 },
  "openai__gpt-oss-120b.json": { family: "gpt_oss", moe: true, experts: 128, expertsPerToken: 4, sharedExperts: 0, denseLayers: 0, layers: 36 },
  "openai__gpt-oss-20b.json": { family: "gpt_oss", moe: true, experts: 32, expertsPerToken: 4, sharedExperts: 0, denseLayers: 0, layers: 24 },
  "zai-org__GLM-5.json": { family: "glm_moe_dsa", moe: true, experts: 256, expertsPerToken: 8, sharedExperts: 1, denseLayers: 3, layers: 78 },
  "extra/meta-llama__Llama-4-Maverick-17B-128E-Instruct.json": { family: "llama4", moe: true, experts: 128, expertsPerToken: 1, sharedExperts: 1, denseLayers: 24, layers: 48 },
  "extra/allenai__OLMoE-1B-7B-0125-Instruct.json": { family: "olmoe", moe: true, experts: 64, expertsPerToken: 8, sharedExperts: 0, denseLayers: 0, layers: 16 },
  "extra/Qwen__Qwen2.5-7B.json": { family: "qwen2", moe: false, experts: null, expertsPerToken: null, sharedExperts: null, denseLayers: 0, layers: 28 },
};

test("architecture facts: family, dense or MoE, experts, experts per token, shared experts, dense-first layers", () => {
  for (const [file, expected] of Object.entries(FACTS)) {
    const { family, moe, experts, expertsPerToken, sharedExperts, denseLayers, layers } = fixture(file).architecture;
    assert.deepEqual({ family, moe, experts, expertsPerToken, sharedExperts, denseLayers, layers }, expected, file);
  }
  assert.deepEqual(fixture("google__gemma-4-26B-A4B.json").architecture.modalities, ["text", "vision"]);
  assert.deepEqual(fixture("meta-llama__Meta-Llama-3.1-8B.json").architecture.modalities, ["text"]);
  for (const file of sharedConfigFiles()) assert.equal(fixture(file).confidence, "high", file);
});

test("context length and dtype", () => {
  assert.equal(fixture("meta-llama__Meta-Llama-3.1-8B.json").context.length, 131072);
  assert.equal(fixture("google__gemma-4-26B-A4B.json").context.length, 262144);
  assert.equal(fixture("meta-llama__Llama-4-Scout-17B-16E-Instruct.json").context.length, 10485760);
  assert.equal(fixture("deepseek-ai__DeepSeek-V3.json").dtype, "bfloat16");
  assert.equal(fixture("google__gemma-4-26B-A4B.json").dtype, "bfloat16");
  assert.equal(fixture("openai__gpt-oss-120b.json").dtype, null);
});

// ---------------------------------------------------------------------------------------------
// KV cache shapes

test("attention shapes: GQA, sliding windows, chunked layers, MLA and linear-attention state", () => {
  const llama = fixture("meta-llama__Meta-Llama-3.1-8B.json").attention;
  assert.deepEqual(
    { full: llama.fullAttentionLayers, sliding: llama.slidingWindowLayers, kv: llama.kvValuesPerTokenPerLayer, kind: llama.kind, heads: llama.heads, kvHeads: llama.kvHeads, headDim: llama.headDim },
    { full: 32, sliding: 0, kv: 2 * 8 * 128, kind: "gqa", heads: 32, kvHeads: 8, headDim: 128 },
  );
  // 32 layers x 2048 values x 2 bytes = 128 KiB per token.
  assert.equal(kvCacheBytes(llama, 1), 32 * 2048 * 2);

  const oss = fixture("openai__gpt-oss-120b.json").attention;
  assert.deepEqual([oss.fullAttentionLayers, oss.slidingWindowLayers, oss.slidingWindow, oss.kvValuesPerTokenPerLayer], [18, 18, 128, 1024]);
  assert.equal(kvCacheBytes(oss, 10_000), (18 * 1024 * 10_000 + 18 * 1024 * 128) * 2);

  const gemma = fixture("google__gemma-4-26B-A4B.json").attention;
  // Global layers: 2 KV heads of 512 (keys double as values); local layers: 8 KV heads of 256.
  assert.deepEqual(
    [gemma.fullAttentionLayers, gemma.slidingWindowLayers, gemma.slidingWindow, gemma.kvValuesPerTokenPerLayer, gemma.slidingKvValuesPerTokenPerLayer],
    [5, 25, 1024, 2 * 2 * 512, 2 * 8 * 256],
  );

  const scout = fixture("meta-llama__Llama-4-Scout-17B-16E-Instruct.json").attention;
  assert.deepEqual([scout.fullAttentionLayers, scout.slidingWindowLayers, scout.slidingWindow], [12, 36, 8192]);

  const deepseek = fixture("deepseek-ai__DeepSeek-V3.json").attention;
  assert.deepEqual([deepseek.kind, deepseek.fullAttentionLayers, deepseek.kvValuesPerTokenPerLayer], ["mla", 61, 512 + 64]);
  const glm = fixture("zai-org__GLM-5.json").attention;
  assert.equal(glm.kvValuesPerTokenPerLayer, 512 + 64 + 128); // latent, rope key, indexer key

  const next = fixture("Qwen__Qwen3-Next-80B-A3B-Thinking.json").attention;
  // 32 value heads x (128 x 128) state + the conv window of (2x2048 + 4096) channels x 3, in 16-bit.
  assert.deepEqual([next.fullAttentionLayers, next.linearAttentionLayers, next.linearStateBytesPerLayer], [12, 36, 2 * (32 * 128 * 128 + 8192 * 3)]);
  const qwen35 = fixture("Qwen__Qwen3.5-35B-A3B.json").attention;
  assert.deepEqual([qwen35.fullAttentionLayers, qwen35.linearAttentionLayers], [10, 30]);

  const nemotron = fixture("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json").attention;
  // Mamba-2: 64 heads x 64 x 128 state + conv window of (4096 + 2x8x128) channels x 3.
  assert.deepEqual([nemotron.fullAttentionLayers, nemotron.linearAttentionLayers, nemotron.linearStateBytesPerLayer, nemotron.kvValuesPerTokenPerLayer], [6, 23, 2 * (64 * 64 * 128 + 6144 * 3), 2 * 2 * 128]);
  // The recurrent state does not grow with the context.
  assert.equal(kvCacheBytes(nemotron, 2) - kvCacheBytes(nemotron, 1), 6 * 512 * 2);
});

// ---------------------------------------------------------------------------------------------
// Quantization

test("quantization_config: fp8, mxfp4 from the fixtures; gptq, awq, bitsandbytes, nvfp4, compressed-tensors", () => {
  const deepseek = fixture("deepseek-ai__DeepSeek-V3.json").quantization;
  assert.deepEqual([deepseek?.method, deepseek?.bits, deepseek?.details.weight_block_size], ["fp8", 8, [128, 128]]);
  const oss = fixture("openai__gpt-oss-120b.json");
  assert.deepEqual([oss.quantization?.method, oss.quantization?.bits, oss.quantization?.bitsPerWeight], ["mxfp4", 4, 4.25]);
  // Packed formats store two values per byte; counts stay counts of values.
  assert.ok(oss.notes.some((n) => n.includes("two values per byte")));
  assert.equal(oss.parameters.total, readReferenceCounts().get("openai__gpt-oss-120b.json")!.languageModel);
  assert.equal(fixture("meta-llama__Meta-Llama-3.1-8B.json").quantization, null);

  const base = loadConfig("meta-llama__Meta-Llama-3.1-8B.json") as Record<string, unknown>;
  const quant = (q: unknown) => analysed({ ...base, quantization_config: q }).quantization;
  assert.deepEqual([quant({ quant_method: "gptq", bits: 4, group_size: 128, desc_act: false })?.method, quant({ quant_method: "gptq", bits: 4 })?.bits], ["gptq", 4]);
  assert.deepEqual([quant({ quant_method: "awq", bits: 4, version: "gemm" })?.method, quant({ quant_method: "awq", w_bit: 4 })?.bits], ["awq", 4]);
  assert.deepEqual([quant({ quant_method: "bitsandbytes", load_in_4bit: true, bnb_4bit_quant_type: "nf4" })?.bits, quant({ quant_method: "bitsandbytes", load_in_8bit: true })?.bits], [4, 8]);
  assert.deepEqual(quant({ quant_method: "modelopt", quant_algo: "NVFP4" }), { method: "nvfp4", bits: 4, bitsPerWeight: 4.5, details: { quant_method: "modelopt", quant_algo: "NVFP4" } });
  const ct = quant({ quant_method: "compressed-tensors", format: "pack-quantized", config_groups: { group_0: { weights: { num_bits: 4, type: "int", group_size: 128 }, targets: ["Linear"] } } });
  assert.deepEqual([ct?.method, ct?.bits, ct?.details.weight_group_size], ["compressed-tensors", 4, 128]);
  assert.equal(quant({ quant_method: "compressed-tensors", format: "nvfp4-pack-quantized", config_groups: { g: { weights: { num_bits: 4, type: "float" } } } })?.method, "nvfp4");
  assert.equal(quant({ quant_method: "something-new" })?.method, "other");
  assert.equal(quant({ quant_method: { nested: ["junk"] } })?.method, "other");
});

// ---------------------------------------------------------------------------------------------
// Recognising families without their model_type

test("a config whose model_type is unknown is recognised by its shape, at low confidence", () => {
  const deepseek = loadConfig("deepseek-ai__DeepSeek-V3.json") as Record<string, unknown>;
  const renamed = analysed({ ...deepseek, model_type: "someones_v3", architectures: ["SomeonesForCausalLM"] });
  assert.equal(renamed.architecture.family, "deepseek_v3");
  assert.equal(renamed.confidence, "low");
  assert.equal(renamed.parameters.total, fixture("deepseek-ai__DeepSeek-V3.json").parameters.total);

  const glm = loadConfig("zai-org__GLM-5.json") as Record<string, unknown>;
  assert.equal(analysed({ ...glm, model_type: "x", architectures: [] }).architecture.family, "glm_moe_dsa");
  const nemotron = loadConfig("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json") as Record<string, unknown>;
  assert.equal(analysed({ ...nemotron, model_type: "x", architectures: [] }).parameters.total, fixture("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json").parameters.total);
  const next = loadConfig("Qwen__Qwen3-Next-80B-A3B-Thinking.json") as Record<string, unknown>;
  assert.equal(analysed({ ...next, model_type: "x", architectures: [] }).architecture.family, "qwen3_next");
});

test("an unknown architecture gets a low-confidence generic estimate", () => {
  const v4 = fixture("extra/nvidia__DeepSeek-V4-Flash-NVFP4.json");
  assert.equal(v4.architecture.family, "unknown");
  assert.equal(v4.confidence, "low");
  assert.deepEqual([v4.architecture.moe, v4.architecture.experts, v4.architecture.expertsPerToken, v4.architecture.mtpLayers], [true, 256, 6, 1]);
  assert.ok(v4.parameters.total > 100 * B && v4.parameters.total < 1000 * B);
  assert.ok(v4.notes.some((n) => n.startsWith("Unknown architecture")));

  // A small made-up dense model: the generic estimate is attention + gated MLP + norms + embeddings.
  const tiny = analysed({ model_type: "brand_new", hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, vocab_size: 100 });
  const perLayer = 4 * 64 * 64 + 3 * 64 * 128 + 2 * 64;
  assert.equal(tiny.parameters.total, 2 * perLayer + 2 * 100 * 64 + 64);
  assert.equal(tiny.confidence, "low");
  assert.equal(tiny.architecture.family, "unknown");
});

// ---------------------------------------------------------------------------------------------
// Further real configs against their published sizes

test("further real configs match their publishers' sizes", () => {
  const yi = fixture("extra/01-ai__Yi-34B.json");
  assertWithin(yi.parameters.total, 34.4 * B, 0.005, "Yi-34B");
  const qwen25 = fixture("extra/Qwen__Qwen2.5-7B.json");
  assertWithin(qwen25.parameters.total, 7.61 * B, 0.005, "Qwen2.5-7B");
  const q = qwen25.parameters;
  assertWithin(q.total - q.breakdown.embedding - q.breakdown.lm_head, 6.53 * B, 0.005, "Qwen2.5-7B non-embedding");
  const llama32 = fixture("extra/meta-llama__Llama-3.2-3B-Instruct.json");
  assertWithin(llama32.parameters.total, 3.21 * B, 0.005, "Llama-3.2-3B");
  const olmoe = fixture("extra/allenai__OLMoE-1B-7B-0125-Instruct.json");
  assertWithin(olmoe.parameters.total, 6.92 * B, 0.005, "OLMoE total");
  assertWithin(olmoe.parameters.active, 1.28 * B, 0.03, "OLMoE active");
  const maverick = fixture("extra/meta-llama__Llama-4-Maverick-17B-128E-Instruct.json");
  assertWithin(maverick.parameters.total, 400 * B, 0.01, "Llama 4 Maverick total");
  assertWithin(maverick.parameters.active, 17 * B, 0.03, "Llama 4 Maverick active");
  const glm45 = fixture("extra/zai-org__GLM-4.5.json");
  assert.equal(glm45.architecture.family, "glm4_moe");
  // Z.ai's 355B lies between our total without the MTP layer (352.8B) and with it (356.8B).
  assertWithin(glm45.parameters.total, 355 * B, 0.01, "GLM-4.5 total");
  assertWithin(glm45.parameters.total + glm45.parameters.breakdown.mtp, 355 * B, 0.01, "GLM-4.5 total with MTP");
  for (const file of extraConfigFiles()) assert.ok(readPublishedFigures()[file], `${file} has no published-figures entry`);
});

// ---------------------------------------------------------------------------------------------
// Families without a fixture file: the size settings of published configs, against published sizes

// Only the settings that size a model are given here, with the values of each model's published
// config.json; the expected totals are the sizes their publishers (or the Hub) state.
const FAMILY_CASES: { name: string; config: Record<string, unknown>; family: string; total: number; active?: number }[] = [
  {
    name: "microsoft/Phi-3-mini-4k-instruct",
    family: "phi3",
    total: 3.82 * B,
    config: { model_type: "phi3", hidden_size: 3072, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, intermediate_size: 8192, vocab_size: 32064, sliding_window: 2047, tie_word_embeddings: false },
  },
  {
    name: "google/gemma-2-9b",
    family: "gemma2",
    total: 9.24 * B,
    config: { model_type: "gemma2", hidden_size: 3584, num_hidden_layers: 42, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 256, intermediate_size: 14336, vocab_size: 256000, sliding_window: 4096 },
  },
  {
    name: "google/gemma-3-27b-it (with its SigLIP tower)",
    family: "gemma3",
    total: 27.4 * B,
    config: {
      model_type: "gemma3",
      text_config: { model_type: "gemma3_text", hidden_size: 5376, num_hidden_layers: 62, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, intermediate_size: 21504, vocab_size: 262208, sliding_window: 1024 },
      vision_config: { model_type: "siglip_vision_model", hidden_size: 1152, num_hidden_layers: 27, intermediate_size: 4304, patch_size: 14, image_size: 896, num_attention_heads: 16, vision_use_head: false },
    },
  },
  {
    name: "ibm-granite/granite-3.1-8b-instruct",
    family: "granite",
    total: 8.17 * B,
    config: { model_type: "granite", hidden_size: 4096, num_hidden_layers: 40, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 12800, vocab_size: 49155, tie_word_embeddings: true },
  },
  {
    name: "ibm-granite/granite-3.0-3b-a800m-instruct",
    family: "granitemoe",
    total: 3.3 * B,
    config: { model_type: "granitemoe", hidden_size: 1536, num_hidden_layers: 32, num_attention_heads: 24, num_key_value_heads: 8, intermediate_size: 512, num_local_experts: 40, num_experts_per_tok: 8, vocab_size: 49155, tie_word_embeddings: true },
  },
  {
    name: "allenai/OLMo-2-1124-7B",
    family: "olmo2",
    total: 7.3 * B,
    config: { model_type: "olmo2", hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, intermediate_size: 11008, vocab_size: 100352, tie_word_embeddings: false },
  },
  {
    name: "Qwen/Qwen1.5-MoE-A2.7B",
    family: "qwen2_moe",
    total: 14.3 * B,
    active: 2.7 * B,
    config: { model_type: "qwen2_moe", hidden_size: 2048, num_hidden_layers: 24, num_attention_heads: 16, num_key_value_heads: 16, intermediate_size: 5632, moe_intermediate_size: 1408, shared_expert_intermediate_size: 5632, num_experts: 60, num_experts_per_tok: 4, vocab_size: 151936, tie_word_embeddings: false },
  },
  {
    name: "deepseek-ai/DeepSeek-V2-Lite",
    family: "deepseek_v2",
    total: 15.7 * B,
    config: { model_type: "deepseek_v2", hidden_size: 2048, num_hidden_layers: 27, num_attention_heads: 16, q_lora_rank: null, kv_lora_rank: 512, qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, intermediate_size: 10944, moe_intermediate_size: 1408, n_routed_experts: 64, n_shared_experts: 2, num_experts_per_tok: 6, first_k_dense_replace: 1, vocab_size: 102400, tie_word_embeddings: false },
  },
  {
    name: "zai-org/GLM-4.5-Air",
    family: "glm4_moe",
    total: 106 * B,
    config: { model_type: "glm4_moe", hidden_size: 4096, num_hidden_layers: 46, num_attention_heads: 96, num_key_value_heads: 8, head_dim: 128, intermediate_size: 10944, moe_intermediate_size: 1408, n_routed_experts: 128, n_shared_experts: 1, num_experts_per_tok: 8, first_k_dense_replace: 1, vocab_size: 151552, attention_bias: true, num_nextn_predict_layers: 1, tie_word_embeddings: false },
  },
];

test("families without a fixture file: published configs' sizes give the published totals", () => {
  for (const c of FAMILY_CASES) {
    const a = analysed(c.config);
    assert.equal(a.architecture.family, c.family, c.name);
    assertWithin(a.parameters.total, c.total, 0.01, c.name);
    if (c.active) assertWithin(a.parameters.active, c.active, 0.03, `${c.name} active`);
  }
  const phi = analysed(FAMILY_CASES[0].config).attention;
  assert.deepEqual([phi.slidingWindowLayers, phi.slidingWindow], [32, 2047]);
  const gemma2 = analysed(FAMILY_CASES[1].config).attention;
  assert.deepEqual([gemma2.fullAttentionLayers, gemma2.slidingWindowLayers], [21, 21]);
  const glmAir = analysed(FAMILY_CASES[8].config);
  assert.deepEqual([glmAir.architecture.denseLayers, glmAir.architecture.mtpLayers], [1, 1]);
});

test("a text config on its own counts the same language model", () => {
  const gemma = loadConfig("google__gemma-4-26B-A4B.json") as { text_config: Record<string, unknown> };
  const textOnly = analysed(gemma.text_config);
  assert.equal(textOnly.architecture.family, "gemma4");
  assert.equal(textOnly.parameters.total, readReferenceCounts().get("google__gemma-4-26B-A4B.json")!.languageModel);
  assert.deepEqual(textOnly.architecture.modalities, ["text"]);
});

test("dense-first and interleaving settings decide which layers are MoE", () => {
  const qwen = loadConfig("Qwen__Qwen3-30B-A3B.json") as Record<string, unknown>;
  const base = fixture("Qwen__Qwen3-30B-A3B.json").parameters.breakdown;
  const everySecond = analysed({ ...qwen, decoder_sparse_step: 2 });
  assert.equal(everySecond.architecture.denseLayers, 24);
  assert.equal(everySecond.parameters.breakdown.experts, base.experts / 2);
  assert.equal(everySecond.parameters.breakdown.dense_mlp, 24 * 3 * 2048 * 6144);
  assert.equal(analysed({ ...qwen, mlp_only_layers: [0, 47] }).architecture.denseLayers, 2);

  const deepseek = loadConfig("deepseek-ai__DeepSeek-V3.json") as Record<string, unknown>;
  // Dense first 3 layers, then MoE on even layers only: 29 of layers 3..60.
  assert.equal(analysed({ ...deepseek, moe_layer_freq: 2 }).architecture.denseLayers, 61 - 29);
  assert.equal(analysed({ ...deepseek, first_k_dense_replace: 0 }).architecture.denseLayers, 0);
});

test("the spellings of expert counts, experts per token and shared experts", () => {
  const base = { model_type: "not_a_family", hidden_size: 256, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 512, vocab_size: 1000 };
  for (const [experts, perToken, shared] of [
    [{ num_local_experts: 16 }, { num_experts_per_tok: 2 }, {}],
    [{ num_experts: 16 }, { top_k: 2 }, { shared_expert_intermediate_size: 512 }],
    [{ n_routed_experts: 16 }, { num_experts_per_token: 2 }, { n_shared_experts: 1 }],
    [{ moe_num_experts: 16 }, { moe_topk: 2 }, { num_shared_experts: 1 }],
    [{ num_experts: 16 }, { experts_per_token: 2 }, { moe_shared_expert_intermediate_size: 512 }],
  ] as Record<string, number>[][]) {
    const a = analysed({ ...base, ...experts, ...perToken, ...shared, moe_intermediate_size: 128 });
    const sharedCount = Object.keys(shared).length > 0 ? 1 : 0;
    assert.deepEqual([a.architecture.moe, a.architecture.experts, a.architecture.expertsPerToken, a.architecture.sharedExperts], [true, 16, 2, sharedCount], JSON.stringify(experts));
    assert.equal(a.parameters.breakdown.experts, 2 * 16 * 3 * 256 * 128);
  }
});

// ---------------------------------------------------------------------------------------------
// Encoders

test("Gemma 4 audio tower: the conformer layers counted from audio_config", () => {
  const gemma = loadConfig("google__gemma-4-26B-A4B.json") as Record<string, unknown>;
  const audio = { model_type: "gemma4_audio", hidden_size: 1024, num_hidden_layers: 12, num_attention_heads: 8, conv_kernel_size: 5, output_proj_dims: 1536, subsampling_conv_channels: [128, 32] };
  const withAudio = analysed({ ...gemma, audio_config: audio });
  const H = 1024;
  const layer = 2 * (8 * H * H + 2 * H) + (5 * H * H + H / 8) + (3 * H * H + 5 * H + 2 * H) + 3 * H;
  const subsample = 9 * 128 + 128 + 9 * 128 * 32 + 32 + 32 * 32 * H;
  const expected = subsample + 12 * layer + (H * 1536 + 1536) + 1536 * 2816;
  assert.equal(withAudio.parameters.breakdown.audio, expected);
  assert.deepEqual(withAudio.architecture.modalities, ["text", "vision", "audio"]);
  // Encoders are never active language-model parameters.
  assert.equal(withAudio.parameters.active, fixture("google__gemma-4-26B-A4B.json").parameters.active);
});

test("an unfamiliar vision tower is estimated and the estimate is noted", () => {
  const base = loadConfig("meta-llama__Meta-Llama-3.1-8B.json") as Record<string, unknown>;
  const withVision = analysed({ ...base, vision_config: { hidden_size: 1024, num_hidden_layers: 24, intermediate_size: 4096, patch_size: 14 } });
  assert.ok(withVision.parameters.breakdown.vision > 0.29 * B && withVision.parameters.breakdown.vision < 0.32 * B);
  assert.ok(withVision.notes.some((n) => n.includes("vision encoder is an estimate")));
  assert.equal(withVision.parameters.active, fixture("meta-llama__Meta-Llama-3.1-8B.json").parameters.active);
});

// ---------------------------------------------------------------------------------------------
// Hostile and odd input

test("non-objects and configs without sizes are AnalysisErrors", () => {
  for (const input of [null, undefined, [], [1, 2], "config", 42, true, {}, { hidden_size: 4096 }, { num_hidden_layers: 32 }]) {
    const result = analyzeConfig(input);
    assert.ok(isAnalysisError(result), `${JSON.stringify(input)} should be an AnalysisError`);
    assert.equal(typeof (result as AnalysisError).error, "string");
  }
});

test("absurd sizes are refused quickly instead of hanging", () => {
  const started = Date.now();
  for (const input of [
    { model_type: "llama", hidden_size: 4096, num_hidden_layers: 1e9, vocab_size: 32000 },
    { model_type: "llama", hidden_size: 4096, num_hidden_layers: Number.MAX_SAFE_INTEGER, vocab_size: 32000 },
    { model_type: "llama", hidden_size: 1e12, num_hidden_layers: 2, vocab_size: 32000 },
    { model_type: "llama", hidden_size: 4096, num_hidden_layers: 2, vocab_size: 1e12 },
    { model_type: "mixtral", hidden_size: 999_999, num_hidden_layers: 9_999, vocab_size: 49_999_999, intermediate_size: 2 ** 31, num_local_experts: 2 ** 31 },
  ]) {
    assert.ok(isAnalysisError(analyzeConfig(input)), JSON.stringify(input));
  }
  assert.ok(Date.now() - started < 2000);
});

test("strings as numbers, missing fields and nested junk give an estimate or an error, never a throw", () => {
  const stringy = analysed({ model_type: "llama", hidden_size: "4096", num_hidden_layers: "32", num_attention_heads: "32", num_key_value_heads: "8", intermediate_size: "14336", vocab_size: "128256", tie_word_embeddings: "false" });
  assert.equal(stringy.parameters.total, fixture("meta-llama__Meta-Llama-3.1-8B.json").parameters.total);
  assert.ok(stringy.notes.some((n) => n.includes("is a string")));

  const sparse = analysed({ model_type: "llama", hidden_size: 2048, num_hidden_layers: 4 });
  assert.ok(sparse.notes.some((n) => n.includes("vocab_size")));
  assert.ok(sparse.parameters.total > 0);

  let deep: Record<string, unknown> = { hidden_size: 64, num_hidden_layers: 2 };
  for (let i = 0; i < 50_000; i++) deep = { text_config: deep, vision_config: deep, quantization_config: deep };
  const started = Date.now();
  assert.doesNotThrow(() => analyzeConfig(deep));
  assert.ok(Date.now() - started < 1000);

  const junk = [
    { model_type: ["llama"], architectures: "LlamaForCausalLM", hidden_size: 1024, num_hidden_layers: 4, text_config: [1, 2], vision_config: { hidden_size: "wide", num_hidden_layers: 1e12 }, quantization_config: { quant_method: {}, config_groups: "x" } },
    { model_type: "nemotron_h", hidden_size: 1024, num_hidden_layers: 4, hybrid_override_pattern: "MQ*E", n_routed_experts: -1 },
    { model_type: "qwen3_next", hidden_size: 1024, num_hidden_layers: 6, layer_types: { not: "a list" }, full_attention_interval: 0 },
    { model_type: "gemma4", text_config: { hidden_size: 256, num_hidden_layers: 3, layer_types: [null, 7, "full_attention"], num_kv_shared_layers: 99, enable_moe_block: true } },
    { model_type: "deepseek_v3", hidden_size: 512, num_hidden_layers: 3, n_routed_experts: 4, num_experts_per_tok: 99, first_k_dense_replace: -3, moe_layer_freq: 0, num_nextn_predict_layers: 1e9 },
    { model_type: "llama4", text_config: { hidden_size: 256, num_hidden_layers: 4, no_rope_layers: "x", interleave_moe_layer_step: 0, num_local_experts: 2 } },
    JSON.parse('{"model_type":"constructor","__proto__":{"hidden_size":1},"hidden_size":64,"num_hidden_layers":2,"toString":5}'),
    { model_type: "hasOwnProperty", hidden_size: 64, num_hidden_layers: 2, vocab_size: NaN, intermediate_size: -1, num_attention_heads: 0 },
  ];
  for (const config of junk) {
    let result: ConfigAnalysis | AnalysisError | undefined;
    assert.doesNotThrow(() => (result = analyzeConfig(config)), JSON.stringify(config));
    if (result && !isAnalysisError(result)) {
      const { total, active, activeRead } = result.parameters;
      assert.ok([total, active, activeRead].every((n) => Number.isSafeInteger(n) && n >= 0), JSON.stringify(config));
      assert.ok(active <= total);
    }
  }
});

test("an object that throws when read is an AnalysisError, not a crash", () => {
  const trap = new Proxy(
    {},
    {
      get: () => {
        throw new Error("trap");
      },
      getOwnPropertyDescriptor: () => {
        throw new Error("trap");
      },
    },
  );
  assert.ok(isAnalysisError(analyzeConfig(trap)));
});
