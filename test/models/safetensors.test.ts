// Safetensors headers read by byte ranges: single files, sharded indexes, mixed and packed
// dtypes, parameter counts by tensor role (experts, shared experts, router, MTP, vision), and
// hostile headers, each of which must come back as a typed error without reading or
// allocating more than the header.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_SAFETENSORS_HEADER,
  combineSafetensorsShards,
  parseSafetensorsHeader,
  parseSafetensorsIndex,
  readSafetensorsHeader,
  readShardedSafetensors,
  safetensorsParameterCounts,
  type SafetensorsError,
  type SafetensorsHeader,
} from "../../src/models/safetensors.ts";
import { quantizationFromConfig } from "../../src/models/quantization.ts";
import { MIXTRAL_TENSORS, memoryReader, mixtralLayer, rawSafetensors, safetensorsFile, type StTensor } from "../helpers/model-files.ts";

async function header(bytes: Buffer, size?: number): Promise<SafetensorsHeader | SafetensorsError> {
  const reader = memoryReader(bytes, size);
  return readSafetensorsHeader(reader.read, reader.size);
}

async function ok(bytes: Buffer): Promise<SafetensorsHeader> {
  const result = await header(bytes);
  assert.ok(result.ok, `expected a valid header: ${!result.ok ? result.error : ""}`);
  return result;
}

async function failsWith(bytes: Buffer, code: SafetensorsError["code"], size?: number): Promise<SafetensorsError> {
  const result = await header(bytes, size);
  assert.equal(result.ok, false, "expected a typed error");
  assert.equal((result as SafetensorsError).code, code, (result as SafetensorsError).error);
  assert.ok((result as SafetensorsError).error.length > 0);
  return result as SafetensorsError;
}

// attention 2x256, norms 2x16+8, router 2x32, experts 2x4x96, embedding 128, lm_head 128
const MIXTRAL = { total: 1640, experts: 768, active: 1640 - 768 + 384, activeRead: 1640 - 768 + 384 - 128 + 8 };

test("a single file: typed tensors, per-dtype counts and totals, reading only the header", async () => {
  const bytes = safetensorsFile(
    [
      { name: "a.weight", dtype: "BF16", shape: [4, 8] },
      { name: "b.weight", dtype: "F32", shape: [8] },
      { name: "c.weight", dtype: "F8_E4M3", shape: [2, 8] },
      { name: "d.weight", dtype: "F4", shape: [4, 8] }, // 32 values in 16 bytes
    ],
    { format: "pt" },
  );
  const reader = memoryReader(bytes);
  const result = await readSafetensorsHeader(reader.read, reader.size);
  assert.ok(result.ok);
  assert.deepEqual(result.metadata, { format: "pt" });
  assert.deepEqual(
    result.tensors.map((t) => [t.name, t.dtype, t.shape, t.parameters, t.bytes]),
    [
      ["a.weight", "BF16", [4, 8], 32, 64],
      ["b.weight", "F32", [8], 8, 32],
      ["c.weight", "F8_E4M3", [2, 8], 16, 16],
      ["d.weight", "F4", [4, 8], 32, 16],
    ],
  );
  assert.equal(result.total, 88);
  assert.deepEqual(result.dtypes.F4, { tensors: 1, elements: 32, parameters: 32, bytes: 16 });
  assert.deepEqual(result.dtypes.BF16, { tensors: 1, elements: 32, parameters: 32, bytes: 64 });
  assert.equal(result.dataBytes, 64 + 32 + 16 + 16);
  // two reads: the length, then exactly the header; never the data
  assert.deepEqual(reader.calls, [[0, 7], [8, 8 + result.headerBytes - 1]]);
});

test("the Hub-compatible summary keeps counting stored elements per dtype", () => {
  const bytes = safetensorsFile([{ name: "a", dtype: "BF16", shape: [4, 8] }, { name: "b", dtype: "F32", shape: [8] }]);
  const length = Number(bytes.readBigUInt64LE(0));
  const parsed = parseSafetensorsHeader(bytes.subarray(8, 8 + length), bytes.length);
  assert.deepEqual(parsed, { ok: true, summary: { parameters: { BF16: 32, F32: 8 }, total: 40 } });
});

test("expert-named tensors: exact total, active for top-k of the experts, one embedding row read", async () => {
  const result = await ok(safetensorsFile(MIXTRAL_TENSORS));
  const counted = safetensorsParameterCounts(result, { experts: 4, expertsPerToken: 2, layers: 2 });
  const p = counted.parameters;
  assert.equal(p.total, MIXTRAL.total);
  assert.equal(p.breakdown.experts, MIXTRAL.experts);
  assert.equal(p.breakdown.router, 64);
  assert.equal(p.breakdown.attention, 512);
  assert.equal(p.breakdown.norms, 40);
  assert.equal(p.breakdown.embedding, 128);
  assert.equal(p.breakdown.lm_head, 128);
  assert.equal(p.active, MIXTRAL.active);
  assert.equal(p.activeRead, MIXTRAL.activeRead);
  assert.ok(p.active < p.total);
  assert.equal(counted.expertsSeen, 4);

  // without a configuration the expert count comes from the names, but top-k is unknown
  const unknownK = safetensorsParameterCounts(result);
  assert.equal(unknownK.parameters.total, MIXTRAL.total);
  assert.equal(unknownK.parameters.active, MIXTRAL.total);
  assert.match(unknownK.notes.join("\n"), /experts per token unknown/);
});

test("stacked experts, shared experts, router bias, MTP layers and a vision tower", async () => {
  const tensors: StTensor[] = [
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [16, 8] },
    { name: "model.layers.0.input_layernorm.weight", dtype: "BF16", shape: [8] },
    { name: "model.layers.0.self_attn.q_proj.weight", dtype: "BF16", shape: [8, 8] },
    { name: "model.layers.0.mlp.gate.weight", dtype: "BF16", shape: [4, 8] },
    { name: "model.layers.0.mlp.gate.e_score_correction_bias", dtype: "F32", shape: [4] },
    { name: "model.layers.0.mlp.experts.gate_up_proj", dtype: "BF16", shape: [4, 8, 8] },
    { name: "model.layers.0.mlp.experts.down_proj", dtype: "BF16", shape: [4, 8, 4] },
    { name: "model.layers.0.mlp.shared_experts.gate_proj.weight", dtype: "BF16", shape: [4, 8] },
    { name: "model.layers.0.mlp.shared_experts.up_proj.weight", dtype: "BF16", shape: [4, 8] },
    { name: "model.layers.0.mlp.shared_experts.down_proj.weight", dtype: "BF16", shape: [8, 4] },
    // DeepSeek-V3 style MTP block, numbered after the last decoder layer
    { name: "model.layers.1.eh_proj.weight", dtype: "BF16", shape: [8, 16] },
    { name: "model.layers.1.enorm.weight", dtype: "BF16", shape: [8] },
    { name: "model.layers.1.hnorm.weight", dtype: "BF16", shape: [8] },
    { name: "model.layers.1.self_attn.q_proj.weight", dtype: "BF16", shape: [8, 8] },
    { name: "model.layers.1.shared_head.head.weight", dtype: "BF16", shape: [16, 8] },
    { name: "model.norm.weight", dtype: "BF16", shape: [8] },
    { name: "lm_head.weight", dtype: "BF16", shape: [16, 8] },
    { name: "model.vision_tower.blocks.0.attn.qkv.weight", dtype: "BF16", shape: [24, 8] },
  ];
  const result = await ok(safetensorsFile(tensors));
  for (const layers of [1, null]) {
    // by layer number when the config says how many layers there are, by marker tensors otherwise
    const counted = safetensorsParameterCounts(result, { experts: 4, expertsPerToken: 2, layers });
    const p = counted.parameters;
    assert.deepEqual(counted.mtpLayers, [1]);
    assert.equal(p.breakdown.mtp, 128 + 8 + 8 + 64 + 128);
    assert.equal(p.breakdown.experts, 384);
    assert.equal(p.breakdown.shared_experts, 96);
    assert.equal(p.breakdown.router, 36);
    assert.equal(p.breakdown.vision, 192);
    assert.equal(p.total, 64 + 36 + 384 + 96 + 16 + 128 + 128 + 192, "MTP excluded, vision included");
    assert.equal(p.active, 852 - 384 + 192, "vision excluded, half the experts");
    assert.equal(p.activeRead, p.active - 128 + 8);
    assert.equal(counted.expertsSeen, 4);
  }
});

test("packed quantised checkpoints count values, not storage elements, and leave scales out", async () => {
  const tensors: StTensor[] = [
    // GPTQ 4-bit: qweight int32 [in/8, out], per-group zeros and scales, group order
    { name: "model.layers.0.mlp.down_proj.qweight", dtype: "I32", shape: [4, 8] },
    { name: "model.layers.0.mlp.down_proj.qzeros", dtype: "I32", shape: [2, 1] },
    { name: "model.layers.0.mlp.down_proj.scales", dtype: "F16", shape: [2, 8] },
    { name: "model.layers.0.mlp.down_proj.g_idx", dtype: "I32", shape: [32] },
    // MXFP4 (gpt-oss): two E2M1 values per byte in *_blocks, E8M0 exponents in *_scales
    { name: "model.layers.0.mlp.experts.gate_up_proj_blocks", dtype: "U8", shape: [2, 8, 1, 16] },
    { name: "model.layers.0.mlp.experts.gate_up_proj_scales", dtype: "U8", shape: [2, 8, 1] },
    { name: "model.layers.0.mlp.experts.gate_up_proj_bias", dtype: "BF16", shape: [2, 8] },
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [16, 8] },
  ];
  const gptq = quantizationFromConfig({ quantization_config: { quant_method: "gptq", bits: 4, group_size: 16 } });
  const reader = memoryReader(safetensorsFile(tensors));
  const result = await readSafetensorsHeader(reader.read, reader.size, { quantization: gptq });
  assert.ok(result.ok, !result.ok ? result.error : "");
  const byName = new Map(result.tensors.map((t) => [t.name, t]));
  assert.equal(byName.get("model.layers.0.mlp.down_proj.qweight")!.parameters, 32 * 8);
  assert.equal(byName.get("model.layers.0.mlp.experts.gate_up_proj_blocks")!.parameters, 256 * 2);
  for (const aux of ["qzeros", "scales", "g_idx"]) assert.equal(byName.get(`model.layers.0.mlp.down_proj.${aux}`)!.auxiliary, true, aux);
  assert.equal(byName.get("model.layers.0.mlp.experts.gate_up_proj_scales")!.auxiliary, true);
  assert.equal(result.total, 256 + 512 + 16 + 128);
  // per dtype: stored elements stay what the header says, parameters are unpacked
  assert.equal(result.dtypes.U8.elements, 256 + 16);
  assert.equal(result.dtypes.U8.parameters, 512);
  const counted = safetensorsParameterCounts(result, { experts: 2, expertsPerToken: 1 });
  assert.equal(counted.parameters.breakdown.experts, 512 + 16);
  assert.equal(counted.parameters.breakdown.dense_mlp, 256);

  // bitsandbytes 4-bit: U8 weight [n/2, 1] next to its quantisation state
  const bnb = await ok(
    safetensorsFile([
      { name: "model.layers.0.mlp.up_proj.weight", dtype: "U8", shape: [16, 1] },
      { name: "model.layers.0.mlp.up_proj.weight.absmax", dtype: "F32", shape: [1] },
      { name: "model.layers.0.mlp.up_proj.weight.quant_map", dtype: "F32", shape: [16] },
      { name: "model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4", dtype: "U8", shape: [8] },
    ]),
  );
  assert.equal(bnb.total, 32);
});

test("a sharded checkpoint: index plus shards combine into one exact count", async () => {
  const first = MIXTRAL_TENSORS.slice(0, 1 + mixtralLayer(0).length);
  const second = MIXTRAL_TENSORS.slice(first.length);
  const shards: Record<string, Buffer> = {
    "model-00001-of-00002.safetensors": safetensorsFile(first),
    "model-00002-of-00002.safetensors": safetensorsFile(second),
  };
  const weightMap: Record<string, string> = {};
  for (const t of first) weightMap[t.name] = "model-00001-of-00002.safetensors";
  for (const t of second) weightMap[t.name] = "model-00002-of-00002.safetensors";
  const bytes = MIXTRAL_TENSORS.reduce((n, t) => n + (t.shape.reduce((a, b) => a * b, 1) * (t.dtype === "F32" ? 4 : 2)), 0);
  const index = parseSafetensorsIndex(JSON.stringify({ metadata: { total_size: bytes }, weight_map: weightMap }));
  assert.ok(index.ok);
  assert.deepEqual(index.files, Object.keys(shards));
  assert.equal(index.totalSize, bytes);

  const open = async (file: string) => (shards[file] ? memoryReader(shards[file]) : null);
  const model = await readShardedSafetensors(index, open);
  assert.ok(model.ok, !model.ok ? model.error : "");
  assert.equal(model.total, MIXTRAL.total);
  assert.deepEqual(model.notes, [], "total_size matches the shards");
  assert.deepEqual(Object.keys(model.dtypes).sort(), ["BF16", "F32"]);
  const p = safetensorsParameterCounts(model, { experts: 4, expertsPerToken: 2 }).parameters;
  assert.equal(p.active, MIXTRAL.active);

  // a shard missing, a tensor placed in the wrong shard, a tensor in two shards
  const missing = await readShardedSafetensors(index, async (f) => (f.includes("00002") ? null : open(f)));
  assert.deepEqual([missing.ok, !missing.ok && missing.code], [false, "missing-shard"]);
  const wrong = parseSafetensorsIndex(JSON.stringify({ weight_map: { ...weightMap, "lm_head.weight": "model-00001-of-00002.safetensors" } }));
  assert.ok(wrong.ok);
  const mismatch = await readShardedSafetensors(wrong, open);
  assert.deepEqual([mismatch.ok, !mismatch.ok && mismatch.code], [false, "shard-mismatch"]);
  const a = await ok(shards["model-00001-of-00002.safetensors"]);
  const twice = combineSafetensorsShards([{ file: "x.safetensors", header: a }, { file: "y.safetensors", header: a }], null);
  assert.deepEqual([twice.ok, !twice.ok && twice.code], [false, "duplicate-tensor"]);
});

test("hostile indexes are refused with a typed error", () => {
  const cases: [string, string][] = [
    ["{not json", "not-json"],
    ["[]", "bad-index"],
    ['{"weight_map": 3}', "bad-index"],
    ['{"weight_map": {"a": 7}}', "bad-index"],
    ['{"weight_map": {"a": "../../etc/passwd.safetensors"}}', "bad-index"],
    ['{"weight_map": {"a": "/abs/model.safetensors"}}', "bad-index"],
    ['{"weight_map": {"a": "sub/dir.safetensors"}}', "bad-index"],
  ];
  for (const [text, code] of cases) {
    const result = parseSafetensorsIndex(text);
    assert.equal(result.ok, false, text);
    assert.equal((result as SafetensorsError).code, code, text);
  }
  const huge = parseSafetensorsIndex(Buffer.alloc(64 * 1024 * 1024 + 1, 0x20));
  assert.equal((huge as SafetensorsError).code, "index-too-large");
});

test("hostile: truncated files", async () => {
  await failsWith(Buffer.from([1, 2, 3, 4, 5]), "truncated");
  const good = safetensorsFile([{ name: "a", dtype: "F32", shape: [4] }]);
  // the file claims its full size but the bytes stop inside the header
  await failsWith(good.subarray(0, 20), "truncated", good.length);
  // the bytes stop inside the 8-byte length
  await failsWith(good.subarray(0, 5), "truncated", good.length);
});

test("hostile: a length field larger than the file is refused before reading the header", async () => {
  const bytes = rawSafetensors("{}", 0, 1000n);
  const reader = memoryReader(bytes);
  const result = await readSafetensorsHeader(reader.read, reader.size);
  assert.equal((result as SafetensorsError).code, "header-length-exceeds-file");
  assert.deepEqual(reader.calls, [[0, 7]]);
});

test("hostile: a header claiming 100 GB is never read nor allocated", async () => {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(100_000_000_000n);
  // a 200 GB file, as far as the reader is told
  const reader = memoryReader(prefix, 200_000_000_000);
  const before = process.memoryUsage().arrayBuffers;
  const result = await readSafetensorsHeader(reader.read, reader.size);
  assert.equal((result as SafetensorsError).code, "header-too-large");
  assert.deepEqual(reader.calls, [[0, 7]], "only the 8-byte length was asked for");
  assert.ok(reader.requested() <= 8);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, "nothing big was allocated");

  // just over the limit is refused too, just under it is read (and then judged)
  const over = Buffer.alloc(8);
  over.writeBigUInt64LE(BigInt(MAX_SAFETENSORS_HEADER + 1));
  assert.equal(((await readSafetensorsHeader(memoryReader(over, 1e9).read, 1e9)) as SafetensorsError).code, "header-too-large");
  // u64 max
  const max = Buffer.alloc(8, 0xff);
  assert.equal(((await readSafetensorsHeader(memoryReader(max, 1e9).read, 1e9)) as SafetensorsError).code, "header-too-large");
});

test("hostile: overlapping and out-of-range offsets", async () => {
  const overlapping = JSON.stringify({
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
  });
  const e1 = await failsWith(rawSafetensors(overlapping, 12), "overlapping-offsets");
  assert.match(e1.error, /\ba\b.*\bb\b/);
  const outside = JSON.stringify({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
  await failsWith(rawSafetensors(outside, 4), "offsets-out-of-range");
  const reversed = JSON.stringify({ a: { dtype: "F32", shape: [0], data_offsets: [8, 0] } });
  await failsWith(rawSafetensors(reversed, 8), "bad-offsets");
  const notNumbers = JSON.stringify({ a: { dtype: "F32", shape: [1], data_offsets: ["0", "4"] } });
  await failsWith(rawSafetensors(notNumbers, 4), "bad-offsets");
});

test("hostile: shape and dtype that disagree with the offsets", async () => {
  await failsWith(rawSafetensors(JSON.stringify({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }), 8), "size-mismatch");
  // 3 F4 values are a byte and a half: not storable
  await failsWith(rawSafetensors(JSON.stringify({ a: { dtype: "F4", shape: [3], data_offsets: [0, 2] } }), 2), "size-mismatch");
  await failsWith(rawSafetensors(JSON.stringify({ a: { dtype: "F32", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }), 8), "too-large");
  for (const shape of [[-1], [1.5], "4", null]) {
    await failsWith(rawSafetensors(JSON.stringify({ a: { dtype: "F32", shape, data_offsets: [0, 4] } }), 4), "bad-shape");
  }
});

test("hostile: non-JSON, non-UTF-8, non-object headers and bad dtypes", async () => {
  await failsWith(rawSafetensors("this is not json", 0), "not-json");
  await failsWith(rawSafetensors(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 0), "not-utf8");
  await failsWith(rawSafetensors("[1, 2, 3]", 0), "not-object");
  await failsWith(rawSafetensors(JSON.stringify({ a: 5 }), 0), "bad-tensor");
  await failsWith(rawSafetensors(JSON.stringify({ a: { dtype: "Q4", shape: [2], data_offsets: [0, 1] } }), 1), "bad-dtype");
  await failsWith(rawSafetensors(JSON.stringify({ a: { dtype: 7, shape: [2], data_offsets: [0, 1] } }), 1), "bad-dtype");
  await failsWith(rawSafetensors("{}", 0, 1n), "header-too-small");
  // deeply nested JSON is only a bounded parse, then a typed error
  const nested = "[".repeat(100_000) + "]".repeat(100_000);
  await failsWith(rawSafetensors(nested, 0), "not-object");
});

test("a reader that throws gives a typed error", async () => {
  const result = await readSafetensorsHeader(async () => {
    throw new Error("disk on fire");
  }, 100);
  assert.equal((result as SafetensorsError).code, "read-failed");
  assert.match((result as SafetensorsError).error, /disk on fire/);
});
