// Writers of tiny model files for the analyser tests: safetensors (8-byte length, JSON header,
// data) and GGUF v3 (magic, version, counts, key/values, tensor infos, alignment padding, data).
// Tensor data is zeros: the analysers read headers only. The writers are independent of
// src/models on purpose, so a shared misunderstanding of a format cannot hide in both.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function tempDir(t: { after: (fn: () => void) => void }, prefix = "agora-models-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------

const ST_BITS: Record<string, number> = { BOOL: 8, U8: 8, I8: 8, F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8, I16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, I64: 64, F64: 64, F4: 4 };

export type StTensor = { name: string; dtype: string; shape: number[] };

/** A valid safetensors file: tensors laid out in order, header padded to 8 bytes like the reference writer. */
export function safetensorsFile(tensors: StTensor[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = (t.shape.reduce((a, b) => a * b, 1) * ST_BITS[t.dtype]) / 8;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return rawSafetensors(JSON.stringify(header), offset);
}

/** Any header text followed by `dataBytes` zero bytes; `length` overrides the 8-byte length field. */
export function rawSafetensors(header: string | Buffer, dataBytes: number, length?: bigint): Buffer {
  let text = Buffer.isBuffer(header) ? header : Buffer.from(header, "utf8");
  if (!Buffer.isBuffer(header) && text.length % 8) text = Buffer.concat([text, Buffer.alloc(8 - (text.length % 8), 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(text.length));
  return Buffer.concat([prefix, text, Buffer.alloc(dataBytes)]);
}

// ---------------------------------------------------------------------------------------------
// GGUF v3
// ---------------------------------------------------------------------------------------------

// ggml type ids and (values per block, bytes per block) of the types the tests use
export const GGML = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  BF16: { id: 30, block: 1, bytes: 2 },
} as const;
export type GgmlName = keyof typeof GGML;

export type GgufScalar =
  | { type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "u64" | "i64" | "f64"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string };
export type GgufValue = GgufScalar | { type: "array"; of: "string" | "i32" | "f32" | "u8"; value: (string | number)[] };

export type GgufTensorSpec = { name: string; type: GgmlName; shape: number[] };

const VALUE_TYPE = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function gstring(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([u64(bytes.length), bytes]);
}

function scalar(type: GgufScalar["type"] | "string", value: number | string | boolean): Buffer {
  const b = Buffer.alloc(8);
  switch (type) {
    case "u8": b.writeUInt8(value as number); return b.subarray(0, 1);
    case "i8": b.writeInt8(value as number); return b.subarray(0, 1);
    case "u16": b.writeUInt16LE(value as number); return b.subarray(0, 2);
    case "i16": b.writeInt16LE(value as number); return b.subarray(0, 2);
    case "u32": b.writeUInt32LE(value as number); return b.subarray(0, 4);
    case "i32": b.writeInt32LE(value as number); return b.subarray(0, 4);
    case "f32": b.writeFloatLE(value as number); return b.subarray(0, 4);
    case "bool": b.writeUInt8(value ? 1 : 0); return b.subarray(0, 1);
    case "u64": b.writeBigUInt64LE(BigInt(value as number)); return b;
    case "i64": b.writeBigInt64LE(BigInt(value as number)); return b;
    case "f64": b.writeDoubleLE(value as number); return b;
    case "string": return gstring(value as string);
  }
}

function encodeValue(v: GgufValue): Buffer {
  if (v.type === "array") return Buffer.concat([u32(VALUE_TYPE[v.of]), u64(v.value.length), ...v.value.map((x) => scalar(v.of, x))]);
  return scalar(v.type, v.value);
}

export type GgufParts = { head: Buffer; kvs: Buffer; infos: Buffer; data: Buffer };

/**
 * A GGUF v3 file. Tensor data offsets are cumulative, each padded to the alignment, as llama.cpp
 * writes them. `parts` exposes the sections for tests that corrupt one of them.
 */
export function ggufFile(options: { metadata: [string, GgufValue][]; tensors: GgufTensorSpec[]; alignment?: number; version?: number }): Buffer & { parts: GgufParts } {
  const alignment = options.alignment ?? 32;
  const kvs = Buffer.concat(options.metadata.map(([key, value]) => Buffer.concat([gstring(key), u32(VALUE_TYPE[value.type]), encodeValue(value)])));
  let offset = 0;
  const infos: Buffer[] = [];
  for (const t of options.tensors) {
    const type = GGML[t.type];
    const values = t.shape.reduce((a, b) => a * b, 1);
    infos.push(gstring(t.name), u32(t.shape.length), ...t.shape.map((d) => u64(d)), u32(type.id), u64(offset));
    offset += Math.ceil(((values / type.block) * type.bytes) / alignment) * alignment;
  }
  const head = Buffer.concat([Buffer.from("GGUF", "latin1"), u32(options.version ?? 3), u64(options.tensors.length), u64(options.metadata.length)]);
  const info = Buffer.concat(infos);
  const headerLength = head.length + kvs.length + info.length;
  const padding = Buffer.alloc(Math.ceil(headerLength / alignment) * alignment - headerLength);
  const data = Buffer.alloc(offset);
  const file = Buffer.concat([head, kvs, info, padding, data]) as Buffer & { parts: GgufParts };
  file.parts = { head, kvs, infos: info, data };
  return file;
}

// shorthands for metadata values
export const str = (value: string): GgufValue => ({ type: "string", value });
export const u32v = (value: number): GgufValue => ({ type: "u32", value });
export const u64v = (value: number): GgufValue => ({ type: "u64", value });
export const f32v = (value: number): GgufValue => ({ type: "f32", value });
export const strings = (value: string[]): GgufValue => ({ type: "array", of: "string", value });

// ---------------------------------------------------------------------------------------------
// Range readers over memory, recording what was asked
// ---------------------------------------------------------------------------------------------

export type RecordingReader = {
  size: number;
  read: (start: number, endInclusive: number) => Promise<Buffer>;
  /** Every [start, endInclusive] asked for. */
  calls: [number, number][];
  /** Bytes asked for over all calls. */
  requested(): number;
};

/** Serves `bytes`; `size` may claim a larger file than the bytes held (reads past them return nothing). */
export function memoryReader(bytes: Buffer, size = bytes.length): RecordingReader {
  const calls: [number, number][] = [];
  return {
    size,
    calls,
    requested: () => calls.reduce((n, [s, e]) => n + (e - s + 1), 0),
    async read(start, endInclusive) {
      calls.push([start, endInclusive]);
      if (endInclusive - start + 1 > 64 * 1024 * 1024) throw new Error(`test reader: ${endInclusive - start + 1} bytes asked at once`);
      return bytes.subarray(start, Math.min(endInclusive + 1, bytes.length));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the analyser and CLI tests
// ---------------------------------------------------------------------------------------------

// A Mixtral-shaped toy: hidden 8, vocabulary 16, 2 layers, 4 experts of intermediate size 4.
export function mixtralLayer(l: number): StTensor[] {
  const p = `model.layers.${l}`;
  const tensors: StTensor[] = [
    { name: `${p}.input_layernorm.weight`, dtype: "F32", shape: [8] },
    { name: `${p}.post_attention_layernorm.weight`, dtype: "F32", shape: [8] },
    ...["q_proj", "k_proj", "v_proj", "o_proj"].map((m) => ({ name: `${p}.self_attn.${m}.weight`, dtype: "BF16", shape: [8, 8] })),
    { name: `${p}.block_sparse_moe.gate.weight`, dtype: "BF16", shape: [4, 8] },
  ];
  for (let e = 0; e < 4; e++) {
    tensors.push(
      { name: `${p}.block_sparse_moe.experts.${e}.w1.weight`, dtype: "BF16", shape: [4, 8] },
      { name: `${p}.block_sparse_moe.experts.${e}.w2.weight`, dtype: "BF16", shape: [8, 4] },
      { name: `${p}.block_sparse_moe.experts.${e}.w3.weight`, dtype: "BF16", shape: [4, 8] },
    );
  }
  return tensors;
}
const EMBED: StTensor = { name: "model.embed_tokens.weight", dtype: "BF16", shape: [16, 8] };
const HEAD: StTensor = { name: "lm_head.weight", dtype: "BF16", shape: [16, 8] };
const FINAL_NORM: StTensor = { name: "model.norm.weight", dtype: "F32", shape: [8] };
export const MIXTRAL_TENSORS = [EMBED, ...mixtralLayer(0), ...mixtralLayer(1), FINAL_NORM, HEAD];

/** The config.json that goes with MIXTRAL_TENSORS. */
export const MIXTRAL_CONFIG = {
  model_type: "mixtral",
  architectures: ["MixtralForCausalLM"],
  hidden_size: 8,
  intermediate_size: 4,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  num_local_experts: 4,
  num_experts_per_tok: 2,
  vocab_size: 16,
  max_position_embeddings: 32768,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
};

/** Writes MIXTRAL_TENSORS as two shards with their index (and the config unless told not to) into `dir`. */
export function writeShardedMixtral(dir: string, options: { config?: boolean } = {}): void {
  const first = MIXTRAL_TENSORS.slice(0, 1 + mixtralLayer(0).length);
  const second = MIXTRAL_TENSORS.slice(first.length);
  const weightMap: Record<string, string> = {};
  for (const [file, tensors] of [["model-00001-of-00002.safetensors", first], ["model-00002-of-00002.safetensors", second]] as const) {
    fs.writeFileSync(path.join(dir, file), safetensorsFile(tensors));
    for (const t of tensors) weightMap[t.name] = file;
  }
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  if (options.config !== false) fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(MIXTRAL_CONFIG, null, 2));
}

export const DENSE_TENSORS: GgufTensorSpec[] = [
  { name: "token_embd.weight", type: "Q4_K", shape: [256, 4] },
  { name: "blk.0.attn_norm.weight", type: "F32", shape: [256] },
  { name: "blk.0.attn_q.weight", type: "Q4_K", shape: [256, 256] },
  { name: "blk.0.ffn_down.weight", type: "Q6_K", shape: [256, 256] },
  { name: "output_norm.weight", type: "F32", shape: [256] },
  { name: "output.weight", type: "Q6_K", shape: [256, 4] },
];

export function denseGguf() {
  return ggufFile({
    metadata: [
      ["general.architecture", str("llama")],
      ["general.name", str("Tiny Llama")],
      ["general.file_type", u32v(15)],
      ["llama.context_length", u32v(8192)],
      ["llama.block_count", u32v(1)],
      ["llama.embedding_length", u32v(256)],
      ["llama.rope.freq_base", f32v(10000)],
      ["tokenizer.ggml.tokens", strings(["<s>", "</s>", "a", "b"])],
    ],
    tensors: DENSE_TENSORS,
  });
}

export function moeGguf() {
  return ggufFile({
    metadata: [
      ["general.architecture", str("qwen3moe")],
      ["general.file_type", u32v(7)],
      ["qwen3moe.context_length", u32v(40960)],
      ["qwen3moe.block_count", u32v(1)],
      ["qwen3moe.embedding_length", u32v(64)],
      ["qwen3moe.expert_count", u32v(4)],
      ["qwen3moe.expert_used_count", u32v(2)],
    ],
    tensors: [
      { name: "token_embd.weight", type: "F16", shape: [64, 8] },
      { name: "blk.0.attn_q.weight", type: "Q8_0", shape: [64, 64] },
      { name: "blk.0.ffn_gate_inp.weight", type: "F32", shape: [64, 4] },
      { name: "blk.0.ffn_gate_exps.weight", type: "Q8_0", shape: [64, 32, 4] },
      { name: "blk.0.ffn_up_exps.weight", type: "Q8_0", shape: [64, 32, 4] },
      { name: "blk.0.ffn_down_exps.weight", type: "Q8_0", shape: [32, 64, 4] },
      { name: "output.weight", type: "Q8_0", shape: [64, 8] },
    ],
  });
}

