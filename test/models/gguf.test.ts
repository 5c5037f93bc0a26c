// GGUF headers: files written by the test helper (GGUF v3), parsed through byte ranges.
// Valid files give architecture, counts, quantisation mix and bits per weight; hostile files
// (truncated, bogus counts, absurd string lengths, overlapping tensors) give typed errors
// after bounded reads.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { gguf as libraryParse } from "@huggingface/gguf";
import { analyzeGguf, readGgufFile, readGgufHeader, type GgufAnalysis, type GgufError } from "../../src/models/gguf.ts";
import { DENSE_TENSORS, denseGguf, ggufFile, memoryReader, moeGguf, str, tempDir, u32v, type GgufValue } from "../helpers/model-files.ts";

async function analyse(bytes: Buffer, size?: number) {
  const reader = memoryReader(bytes, size);
  return { result: await readGgufHeader(reader.read, reader.size), reader };
}

async function failsWith(bytes: Buffer, code: GgufError["code"], size?: number) {
  const { result, reader } = await analyse(bytes, size);
  assert.equal(result.ok, false, "expected a typed error");
  assert.equal((result as GgufError).code, code, (result as GgufError).error);
  // bounded: never more than the bytes there are (plus one chunk for a claimed size)
  assert.ok(reader.requested() <= Math.max(bytes.length, 1024 * 1024) + 8, `asked for ${reader.requested()} bytes`);
  return result as GgufError;
}

test("a dense GGUF: architecture, parameter count from shapes, quantisation mix, bits per weight", async () => {
  const bytes = denseGguf();
  const { result, reader } = await analyse(bytes);
  assert.ok(result.ok, !result.ok ? result.error : "");
  const a = result as GgufAnalysis;
  assert.equal(a.architecture, "llama");
  assert.equal(a.name, "Tiny Llama");
  assert.deepEqual(a.fileType, { id: 15, name: "Q4_K_M" });
  assert.equal(a.contextLength, 8192);
  assert.equal(a.layers, 1);
  assert.equal(a.hiddenSize, 256);
  assert.equal(a.vocabSize, 4);
  assert.equal(a.tensorCount, 6);
  const total = 1024 + 256 + 65536 + 65536 + 256 + 1024;
  assert.equal(a.parameters.total, total);
  assert.equal(a.parameters.active, total);
  assert.equal(a.parameters.activeRead, total - 1024 + 256, "one row of token_embd (ne0 = 256)");
  assert.equal(a.parameters.breakdown.embedding, 1024);
  assert.equal(a.parameters.breakdown.lm_head, 1024);
  assert.equal(a.parameters.breakdown.attention, 65536);
  assert.equal(a.parameters.breakdown.dense_mlp, 65536);
  assert.equal(a.parameters.breakdown.norms, 512);
  assert.deepEqual(a.quantizationMix, {
    Q4_K: { tensors: 2, parameters: 66560, bytes: 576 + 36864 },
    F32: { tensors: 2, parameters: 512, bytes: 2048 },
    Q6_K: { tensors: 2, parameters: 66560, bytes: 53760 + 840 },
  });
  const bytesTotal = 576 + 36864 + 2048 + 53760 + 840;
  assert.equal(a.bitsPerWeight, Math.round(((bytesTotal * 8) / total) * 1000) / 1000);
  assert.equal(a.quantization.method, "gguf");
  assert.equal(a.quantization.bits, 4);
  assert.equal(a.experts, null);
  // the header only: everything read lies before the tensor data
  const dataStart = bytes.length - bytes.parts.data.length;
  assert.ok(reader.calls.every(([s]) => s < dataStart));
});

test("a MoE GGUF: expert_count and expert_used_count give active < total", async () => {
  const { result } = await analyse(moeGguf());
  assert.ok(result.ok);
  const a = result as GgufAnalysis;
  assert.equal(a.architecture, "qwen3moe");
  assert.deepEqual([a.experts, a.expertsPerToken, a.contextLength], [4, 2, 40960]);
  assert.equal(a.fileType?.name, "Q8_0");
  const experts = 3 * 64 * 32 * 4;
  assert.equal(a.parameters.breakdown.experts, experts);
  assert.equal(a.parameters.breakdown.router, 256);
  assert.equal(a.parameters.total, 512 + 4096 + 256 + experts + 512);
  assert.equal(a.parameters.active, a.parameters.total - experts / 2);
  assert.ok(a.parameters.active < a.parameters.total);
});

test("@huggingface/gguf reads the same files offline, from a local path", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "tiny.gguf");
  fs.writeFileSync(file, denseGguf());
  const lib = await libraryParse(file, { allowLocalFile: true });
  assert.equal(lib.metadata["general.architecture"], "llama");
  assert.deepEqual(lib.tensorInfos.map((t) => t.name), DENSE_TENSORS.map((t) => t.name));
  const ours = await readGgufFile(memoryReader(fs.readFileSync(file)).read, fs.statSync(file).size);
  assert.ok(ours.ok);
  assert.equal(BigInt(ours.dataOffset), lib.tensorDataOffset);
});

test("split GGUF files and a multimodal projector combine into one model", async () => {
  const meta = (no: number): [string, GgufValue][] => [
    ["general.architecture", str("llama")],
    ["split.no", { type: "u16", value: no }],
    ["split.count", { type: "u16", value: 2 }],
  ];
  const first = ggufFile({ metadata: [...meta(0), ["llama.context_length", u32v(4096)]], tensors: DENSE_TENSORS.slice(0, 3) });
  const second = ggufFile({ metadata: meta(1), tensors: DENSE_TENSORS.slice(3) });
  const projector = ggufFile({
    metadata: [["general.architecture", str("clip")]],
    tensors: [{ name: "v.blk.0.attn_q.weight", type: "F16", shape: [32, 32] }, { name: "mm.0.weight", type: "F16", shape: [32, 256] }],
  });
  const files = [];
  for (const bytes of [first, second, projector]) {
    const f = await readGgufFile(memoryReader(bytes).read, bytes.length);
    assert.ok(f.ok);
    files.push(f);
  }
  const a = analyzeGguf(files);
  assert.equal(a.architecture, "llama");
  assert.equal(a.contextLength, 4096);
  assert.equal(a.parameters.breakdown.vision, 1024 + 8192);
  assert.equal(a.parameters.total, 133632 + 9216);
  assert.equal(a.parameters.active, 133632, "the encoder is not active for a decoded token");
  assert.deepEqual(a.notes, []);
});

// Byte positions in the writer's layout: magic 0-3, version 4-7, tensor count 8-15, kv count 16-23,
// then the first key's u64 length at 24.
function patchU64(bytes: Buffer, at: number, value: bigint): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeBigUInt64LE(value, at);
  return copy;
}

/** Byte position of a tensor info's offset field. */
function tensorOffsetAt(bytes: ReturnType<typeof ggufFile>, name: string, dims: number): number {
  const at = bytes.indexOf(Buffer.from(name, "utf8"), bytes.length - bytes.parts.data.length - bytes.parts.infos.length - 64);
  return at + name.length + 4 + 8 * dims + 4;
}

test("hostile: truncated files", async () => {
  const bytes = denseGguf();
  await failsWith(bytes.subarray(0, 3), "truncated");
  await failsWith(bytes.subarray(0, 40), "truncated");
  const headerEnd = bytes.length - bytes.parts.data.length;
  await failsWith(bytes.subarray(0, headerEnd - 5), "truncated");
  // the header is whole but the tensor data is cut short
  await failsWith(bytes.subarray(0, bytes.length - 100), "truncated");
  // the reader claims a 100 GB file but the bytes stop early: a typed error, not zero-filled garbage
  await failsWith(bytes.subarray(0, 200), "truncated", 100_000_000_000);
});

test("hostile: bogus tensor and metadata counts are refused before allocating anything", async () => {
  const bytes = denseGguf();
  const before = process.memoryUsage().arrayBuffers;
  const e1 = await failsWith(patchU64(bytes, 8, 1n << 40n), "bad-count");
  assert.match(e1.error, /tensors/);
  await failsWith(patchU64(bytes, 8, 0xffffffffffffffffn), "bad-count");
  await failsWith(patchU64(bytes, 16, 1n << 50n), "bad-count");
  // a plausible tensor count in a file cut after its header: the infos are not there
  const headerOnly = bytes.subarray(0, bytes.length - bytes.parts.data.length);
  await failsWith(patchU64(headerOnly, 8, 50n), "truncated");
  // the same count with the data area present: zero bytes read as tensor infos are caught too
  assert.equal(((await analyse(patchU64(bytes, 8, 50n))).result as GgufError).ok, false);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);

  // an array declaring 2^40 strings
  const tokensAt = bytes.indexOf(Buffer.from("tokenizer.ggml.tokens")) + "tokenizer.ggml.tokens".length + 4 + 4;
  await failsWith(patchU64(bytes, tokensAt, 1n << 40n), "bad-count");
});

test("hostile: absurd string lengths", async () => {
  const bytes = denseGguf();
  const e = await failsWith(patchU64(bytes, 24, 1n << 62n), "string-too-long");
  assert.match(e.error, /metadata key/);
  await failsWith(patchU64(bytes, 24, 0xffffffffffffffffn), "string-too-long");
  // a value string claiming a terabyte, and one of a plausible length the file does not hold
  const valueAt = 24 + 8 + "general.architecture".length + 4;
  await failsWith(patchU64(bytes, valueAt, 1_000_000_000_000n), "string-too-long");
  await failsWith(patchU64(bytes, valueAt, 5_000_000n), "truncated");
});

test("hostile: wrong magic, version, value type, dimensions, offsets", async () => {
  const bytes = denseGguf();
  const magic = Buffer.from(bytes);
  magic.write("GGML", 0, "latin1");
  await failsWith(magic, "not-gguf");
  const v1 = Buffer.from(bytes);
  v1.writeUInt32LE(1, 4);
  await failsWith(v1, "unsupported-version");
  const bigEndian = Buffer.from(bytes);
  bigEndian.writeUInt32BE(3, 4);
  const be = await failsWith(bigEndian, "unsupported-version");
  assert.match(be.error, /big-endian/);
  const valueType = Buffer.from(bytes);
  valueType.writeUInt32LE(99, 24 + 8 + "general.architecture".length);
  await failsWith(valueType, "bad-value-type");

  const dimsAt = tensorOffsetAt(bytes, "token_embd.weight", 2) - 4 - 16 - 4;
  const dims = Buffer.from(bytes);
  dims.writeUInt32LE(9, dimsAt);
  await failsWith(dims, "bad-tensor");

  // the second tensor placed on top of the first
  const overlap = patchU64(bytes, tensorOffsetAt(bytes, "blk.0.attn_norm.weight", 1), 0n);
  await failsWith(overlap, "overlapping-tensors");
  // misaligned
  const misaligned = patchU64(bytes, tensorOffsetAt(bytes, "blk.0.attn_norm.weight", 1), 3n);
  await failsWith(misaligned, "bad-tensor");
  // far past the end of the file
  const outside = patchU64(bytes, tensorOffsetAt(bytes, "output.weight", 2), 1n << 40n);
  await failsWith(outside, "tensor-out-of-range");
});

test("hostile: a duplicate tensor name and a bad alignment", async () => {
  const dup = ggufFile({
    metadata: [["general.architecture", str("llama")]],
    tensors: [{ name: "a.weight", type: "F32", shape: [8] }, { name: "a.weight", type: "F32", shape: [8] }],
  });
  await failsWith(dup, "duplicate-tensor");
  const align = ggufFile({ metadata: [["general.alignment", u32v(24)]], tensors: [] });
  await failsWith(align, "bad-alignment");
});

test("a reader that throws gives a typed error", async () => {
  const result = await readGgufHeader(async () => {
    throw new Error("gone");
  }, 1000);
  assert.equal((result as GgufError).code, "read-failed");
});
