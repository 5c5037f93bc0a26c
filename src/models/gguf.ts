// GGUF headers (llama.cpp's model files): architecture, parameter count from tensor shapes,
// quantisation mix, experts, context length, file type.
//
// Layout (little-endian, version 2 and 3): "GGUF" magic, u32 version, u64 tensor count,
// u64 metadata count, the metadata key/value pairs (key string, u32 value type, value), the
// tensor infos (name string, u32 n_dims, n_dims x u64 dimensions innermost first, u32 ggml type,
// u64 offset into the data area), padding to `general.alignment` (default 32), then the data.
// Strings are a u64 byte length followed by UTF-8 bytes; arrays are a u32 element type, a u64
// count and the elements.
//
// Parsing is done by @huggingface/gguf, but only after a bounded walk of our own has validated
// the header against the real file size. The library cannot bound memory on hostile input by
// itself: it fills reads past the end of a file with zeros instead of failing (a truncated file
// parses as garbage), and it materialises every tensor info and metadata array a count declares
// before noticing the bytes are not there (a few-byte file declaring millions of tensors costs
// hundreds of MB). The walk below reads the header in bounded chunks, checks every count and
// length against the bytes left in the file before trusting it, caps the header size, and keeps
// no array values; only a header that passed is handed to the library, from memory.

import type { GGUFParseOutput, MetadataValue } from "@huggingface/gguf";
import { GGML_TYPES, ggmlTensorBytes, ggufFileTypeName } from "./quantization.ts";
import type { RangeReader } from "./safetensors.ts";
import { countTensors, type TensorCountResult } from "./tensor-roles.ts";
import type { QuantizationInfo } from "./types.ts";

/** Real headers are a few MB (a 262k-token vocabulary is ~6 MB); the library itself stops at 50 MB. */
export const MAX_GGUF_HEADER = 32 * 1024 * 1024;
/** Metadata array elements over all arrays; real files have about a million (vocab, scores, types). */
const MAX_ARRAY_ELEMENTS = 8_000_000;
const MAX_KEY_LENGTH = 65_535;
/**
 * Counts past these are bogus, whatever the file size. llama.cpp stacks experts, so even the
 * largest MoE files have a few thousand tensors and about a hundred metadata keys.
 */
const MAX_TENSOR_COUNT = 262_144;
const MAX_KV_COUNT = 65_536;
/** ggml names are at most 63 bytes; leave room for other writers. */
const MAX_TENSOR_NAME = 1024;
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_ARRAY_NESTING = 2;
const DEFAULT_ALIGNMENT = 32;
const CHUNK = 1024 * 1024;

export type GgufErrorCode =
  | "read-failed"
  | "truncated"
  | "not-gguf"
  | "unsupported-version"
  | "bad-count"
  | "string-too-long"
  | "header-too-large"
  | "bad-value-type"
  | "bad-tensor"
  | "bad-alignment"
  | "tensor-out-of-range"
  | "overlapping-tensors"
  | "duplicate-tensor"
  | "parse-failed";

export type GgufError = { ok: false; code: GgufErrorCode; error: string };

export type GgufTensor = {
  name: string;
  /** ggml type name (Q4_K, F16, …) or `type<N>` for a type this table does not know. */
  type: string;
  typeId: number;
  /** ne order: innermost dimension first. */
  shape: number[];
  parameters: number;
  /** Null for an unknown type, whose block layout is unknown. */
  bytes: number | null;
  offset: number;
};

/** One validated, parsed GGUF file. */
export type GgufFile = {
  ok: true;
  version: number;
  size: number;
  /** Where the tensor data starts (header plus alignment padding). */
  dataOffset: number;
  metadata: Record<string, MetadataValue>;
  tensors: GgufTensor[];
  notes: string[];
};

class GgufFormatError extends Error {
  constructor(
    readonly code: GgufErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const fail = (code: GgufErrorCode, error: string): GgufError => ({ ok: false, code, error });

/**
 * A forward-only cursor over a file read in bounded chunks. Keeps the bytes read (the header,
 * at most MAX_GGUF_HEADER) so they can be handed to the library afterwards.
 */
class HeaderCursor {
  pos = 0;
  private buffer = Buffer.alloc(0);
  private loaded = 0;
  /** Where the bytes really end, once a short read has shown the file to be smaller than announced. */
  private eof = Infinity;

  constructor(
    private readonly read: RangeReader,
    readonly size: number,
  ) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  /** Makes [pos, pos + n) available, refusing to read past the file or the header bound. */
  private async need(n: number, what: string): Promise<void> {
    const end = this.pos + n;
    if (end > Math.min(this.size, this.eof)) throw new GgufFormatError("truncated", `the file ends inside ${what} (byte ${this.pos} + ${n} of ${Math.min(this.size, this.eof)})`);
    if (end > MAX_GGUF_HEADER) throw new GgufFormatError("header-too-large", `the header is larger than ${MAX_GGUF_HEADER} bytes`);
    while (this.loaded < end) {
      const stop = Math.min(this.size, MAX_GGUF_HEADER, Math.max(end, this.loaded + CHUNK));
      let chunk: Buffer;
      try {
        chunk = await this.read(this.loaded, stop - 1);
      } catch (error) {
        throw new GgufFormatError("read-failed", `cannot read bytes ${this.loaded}-${stop - 1}: ${(error as Error).message}`);
      }
      const short = chunk.length < stop - this.loaded; // the file is shorter than its announced size
      chunk = chunk.subarray(0, stop - this.loaded);
      if (this.loaded + chunk.length > this.buffer.length) {
        // grow by doubling (bounded by the header cap) so appends stay linear
        const grown = Buffer.alloc(Math.min(MAX_GGUF_HEADER, Math.max(this.loaded + chunk.length, this.buffer.length * 2)));
        this.buffer.copy(grown, 0, 0, this.loaded);
        this.buffer = grown;
      }
      chunk.copy(this.buffer, this.loaded);
      this.loaded += chunk.length;
      if (short) this.eof = this.loaded;
      if (short && this.loaded < end) throw new GgufFormatError("truncated", `the file ends at byte ${this.loaded}, inside ${what}`);
    }
  }

  async u32(what: string): Promise<number> {
    await this.need(4, what);
    const v = this.buffer.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A u64 that must be a safe integer (counts, lengths, dimensions, offsets). */
  async u64(what: string): Promise<number> {
    await this.need(8, what);
    const v = this.buffer.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError("bad-count", `${what} is ${v}, beyond any real file`);
    return Number(v);
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    await this.need(n, what);
    const out = this.buffer.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  async skip(n: number, what: string): Promise<void> {
    await this.need(n, what);
    this.pos += n;
  }

  /** A string whose length is checked against `max` and the bytes left before anything is read. */
  async string(what: string, max: number): Promise<string> {
    await this.need(8, `the length of ${what}`);
    const claimed = this.buffer.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (claimed > BigInt(max)) throw new GgufFormatError("string-too-long", `${what} claims ${claimed} bytes (limit ${max})`);
    const length = Number(claimed);
    if (length > this.remaining) throw new GgufFormatError("truncated", `${what} claims ${length} bytes, more than the ${this.remaining} left in the file`);
    return (await this.bytes(length, what)).toString("utf8");
  }

  header(end: number): Buffer {
    return this.buffer.subarray(0, end);
  }
}

// Value types of GGUF metadata and the byte size of the fixed-size ones.
const VALUE_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/**
 * A count whose minimal encoding does not fit in the bytes left: beyond any real file it is a
 * bogus count; a plausible count means the file was cut short.
 */
function countError(count: number, plausible: number, what: string, remaining: number): GgufFormatError {
  if (count > plausible) return new GgufFormatError("bad-count", `the header declares ${count} ${what}, more than any real file has and more than the file can hold`);
  return new GgufFormatError("truncated", `the header declares ${count} ${what}, but the file ends ${remaining} bytes later, too soon to hold them`);
}

type Walked = { version: number; tensorCount: number; headerEnd: number; alignment: number; tensors: GgufTensor[]; notes: string[] };

/** The bounded validation walk (see the top of this file). */
async function walk(cursor: HeaderCursor): Promise<Walked> {
  const magic = await cursor.bytes(4, "the magic number");
  if (magic.toString("latin1") !== "GGUF") throw new GgufFormatError("not-gguf", "the file does not start with the GGUF magic number");
  const version = await cursor.u32("the version");
  if (version !== 2 && version !== 3) {
    const hint = version !== 0 && (version & 0xffff) === 0 ? " (a big-endian file, which is not supported)" : "";
    throw new GgufFormatError("unsupported-version", `GGUF version ${version} is not supported${hint}`);
  }
  const tensorCount = await cursor.u64("the tensor count");
  const kvCount = await cursor.u64("the metadata count");
  // The smallest key/value is 13 bytes (empty key, type, one-byte value) and the smallest tensor
  // info 24 bytes (empty name, n_dims, type, offset): counts the file cannot hold are refused
  // before anything is allocated for them.
  if (kvCount * 13 > cursor.remaining) throw countError(kvCount, MAX_KV_COUNT, "metadata entries", cursor.remaining);
  if (tensorCount * 24 > cursor.remaining) throw countError(tensorCount, MAX_TENSOR_COUNT, "tensors", cursor.remaining);

  let alignment = DEFAULT_ALIGNMENT;
  let arrayElements = 0;
  const skipValue = async (type: number, key: string, depth: number): Promise<number | bigint | string | boolean | null> => {
    const fixed = VALUE_SIZES[type];
    if (fixed !== undefined) {
      const b = await cursor.bytes(fixed, `the value of ${key}`);
      // only general.alignment is needed here (u32 by the specification)
      return type === 4 ? b.readUInt32LE(0) : null;
    }
    if (type === STRING) {
      await cursor.string(`the value of ${key}`, MAX_GGUF_HEADER);
      return null;
    }
    if (type !== ARRAY) throw new GgufFormatError("bad-value-type", `metadata ${key} has unknown value type ${type}`);
    if (depth >= MAX_ARRAY_NESTING) throw new GgufFormatError("bad-value-type", `metadata ${key} nests arrays too deeply`);
    const elementType = await cursor.u32(`the element type of ${key}`);
    const count = await cursor.u64(`the length of ${key}`);
    arrayElements += count;
    if (arrayElements > MAX_ARRAY_ELEMENTS) throw new GgufFormatError("bad-count", `metadata arrays hold more than ${MAX_ARRAY_ELEMENTS} elements`);
    const size = VALUE_SIZES[elementType];
    if (size !== undefined) {
      if (count * size > cursor.remaining) throw countError(count, MAX_ARRAY_ELEMENTS, `elements in ${key}`, cursor.remaining);
      await cursor.skip(count * size, `the elements of ${key}`);
    } else if (elementType === STRING || elementType === ARRAY) {
      const minimum = elementType === STRING ? 8 : 12;
      if (count * minimum > cursor.remaining) throw countError(count, MAX_ARRAY_ELEMENTS, `elements in ${key}`, cursor.remaining);
      for (let i = 0; i < count; i++) await skipValue(elementType, key, depth + 1);
    } else throw new GgufFormatError("bad-value-type", `metadata ${key} has unknown element type ${elementType}`);
    return null;
  };

  for (let i = 0; i < kvCount; i++) {
    const key = await cursor.string("a metadata key", MAX_KEY_LENGTH);
    const type = await cursor.u32(`the type of ${key}`);
    const value = await skipValue(type, key, 0);
    if (key === "general.alignment") {
      if (typeof value !== "number" || value === 0 || (value & (value - 1)) !== 0) throw new GgufFormatError("bad-alignment", "general.alignment must be a power of two (u32)");
      alignment = value;
    }
  }

  const notes: string[] = [];
  const names = new Set<string>();
  const tensors: GgufTensor[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await cursor.string("a tensor name", MAX_TENSOR_NAME);
    if (names.has(name)) throw new GgufFormatError("duplicate-tensor", `tensor ${name} appears twice`);
    names.add(name);
    const nDims = await cursor.u32(`the dimensions of ${name}`);
    if (nDims > MAX_DIMS) throw new GgufFormatError("bad-tensor", `tensor ${name} has ${nDims} dimensions (at most ${MAX_DIMS})`);
    const shape: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const dim = await cursor.u64(`a dimension of ${name}`);
      shape.push(dim);
      elements *= dim;
    }
    if (!Number.isSafeInteger(elements)) throw new GgufFormatError("bad-tensor", `tensor ${name} has more elements than any file can hold`);
    const typeId = await cursor.u32(`the type of ${name}`);
    const offset = await cursor.u64(`the offset of ${name}`);
    const type = GGML_TYPES.get(typeId);
    let bytes: number | null = null;
    if (type) {
      // ggml requires whole blocks along the innermost dimension
      if (shape.length && shape[0] % type.blockSize !== 0) throw new GgufFormatError("bad-tensor", `tensor ${name}: ${shape[0]} values per row is not a multiple of the ${type.name} block (${type.blockSize})`);
      bytes = ggmlTensorBytes(type, elements);
      if (bytes === null) throw new GgufFormatError("bad-tensor", `tensor ${name} is not a whole number of ${type.name} blocks`);
    } else notes.push(`tensor ${name} has ggml type ${typeId}, unknown here: its bytes are not counted`);
    tensors.push({ name, type: type?.name ?? `type${typeId}`, typeId, shape, parameters: elements, bytes, offset });
  }

  const headerEnd = cursor.pos;
  const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
  const dataBytes = cursor.size - dataOffset;
  // Tensor data must lie inside the file, aligned, and not overlap: a file truncated in its
  // data area fails here, before anything trusts it.
  for (const t of tensors) {
    if (t.offset % alignment !== 0) throw new GgufFormatError("bad-tensor", `tensor ${t.name} starts at offset ${t.offset}, not a multiple of the alignment ${alignment}`);
    if (t.bytes !== null && t.offset + t.bytes > dataBytes) {
      throw new GgufFormatError(dataBytes < 0 || t.offset < dataBytes ? "truncated" : "tensor-out-of-range", `tensor ${t.name} ends at data byte ${t.offset + t.bytes}, past the end of the file (${Math.max(0, dataBytes)} data bytes)`);
    }
  }
  const placed = tensors.filter((t) => t.bytes).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < placed.length; i++) {
    const prev = placed[i - 1];
    if (placed[i].offset < prev.offset + prev.bytes!) throw new GgufFormatError("overlapping-tensors", `tensors ${prev.name} and ${placed[i].name} overlap`);
  }
  return { version, tensorCount, headerEnd, alignment, tensors, notes };
}

/**
 * Reads and validates one GGUF file through byte ranges. Reads the header only (bounded by
 * MAX_GGUF_HEADER), never the tensor data.
 */
export async function readGgufFile(reader: RangeReader, size: number): Promise<GgufFile | GgufError> {
  if (!Number.isSafeInteger(size) || size < 0) return fail("read-failed", `invalid file size ${size}`);
  const cursor = new HeaderCursor(reader, size);
  let walked: Walked;
  try {
    walked = await walk(cursor);
  } catch (error) {
    if (error instanceof GgufFormatError) return fail(error.code, error.message);
    return fail("parse-failed", (error as Error).message);
  }
  const header = cursor.header(walked.headerEnd);
  let parsed: GGUFParseOutput<{ strict: false }>;
  try {
    // loaded on first use: the library pulls in @huggingface/tasks, which safetensors-only work never needs
    const { gguf: parseGgufWithLibrary } = await import("@huggingface/gguf");
    parsed = (await parseGgufWithLibrary("https://gguf.invalid/model.gguf", { fetch: serveFrom(header, size) })) as GGUFParseOutput<{ strict: false }>;
  } catch (error) {
    return fail("parse-failed", `the GGUF parser refused the header: ${(error as Error).message}`);
  }
  const dataOffset = Math.ceil(walked.headerEnd / walked.alignment) * walked.alignment;
  // both readers must agree on the layout, or one of them is being fooled
  if (parsed.tensorInfos.length !== walked.tensorCount || parsed.tensorDataOffset !== BigInt(dataOffset)) {
    return fail("parse-failed", "the header parses differently in the validation walk and in the GGUF parser");
  }
  const tensors = parsed.tensorInfos.map((info, i): GgufTensor => {
    const own = walked.tensors[i];
    return { ...own, name: info.name, shape: info.shape.map(Number) };
  });
  return { ok: true, version: walked.version, size, dataOffset, metadata: parsed.metadata as Record<string, MetadataValue>, tensors, notes: walked.notes };
}

/** A fetch that answers the library's range requests from the validated header in memory. */
function serveFrom(header: Buffer, fileSize: number): typeof fetch {
  return async (_input, init) => {
    const range = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get("range") ?? "");
    const start = range ? Math.min(Number(range[1]), header.length) : 0;
    const end = range ? Math.min(Number(range[2]) + 1, header.length) : header.length;
    const body = new Uint8Array(header.subarray(start, Math.max(start, end)));
    return new Response(body, { status: 206, headers: { "content-range": `bytes ${start}-${start + body.length - 1}/${fileSize}` } });
  };
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

export type GgufTypeCount = { tensors: number; parameters: number; bytes: number };

export type GgufAnalysis = {
  ok: true;
  version: number;
  architecture: string | null;
  name: string | null;
  fileType: { id: number; name: string | null } | null;
  tensorCount: number;
  parameters: TensorCountResult["parameters"];
  /** ggml tensor type -> tensors, parameters, bytes. */
  quantizationMix: Record<string, GgufTypeCount>;
  /** Bytes of all tensors x 8 / parameters. */
  bitsPerWeight: number | null;
  quantization: QuantizationInfo;
  experts: number | null;
  expertsPerToken: number | null;
  sharedExperts: number | null;
  contextLength: number | null;
  layers: number | null;
  hiddenSize: number | null;
  vocabSize: number | null;
  mtpLayers: number[];
  /** Shards combined (1 for a single file). */
  files: number;
  notes: string[];
};

const asNumber = (v: MetadataValue | undefined): number | null => {
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
};
const asString = (v: MetadataValue | undefined): string | null => (typeof v === "string" ? v : null);

/** Nominal bits of a file type name: Q4_K_M -> 4, IQ2_XXS -> 2, BF16 -> 16. */
function nominalBits(fileType: string | null): number | null {
  if (!fileType) return null;
  if (fileType === "F32") return 32;
  if (fileType === "F16" || fileType === "BF16") return 16;
  if (fileType.startsWith("MXFP4") || fileType.startsWith("NVFP4")) return 4;
  const m = /^(?:I?Q|TQ)(\d)/.exec(fileType);
  return m ? Number(m[1]) : null;
}

/**
 * Analyses the files of one GGUF model: a single file, or the shards of a split model
 * (`-0000N-of-0000M.gguf`, metadata in the first), optionally with a multimodal projector file
 * whose tensors count as the vision/audio encoder.
 */
export function analyzeGguf(files: readonly GgufFile[]): GgufAnalysis {
  const isProjector = (f: GgufFile) => asString(f.metadata["general.architecture"]) === "clip" || asString(f.metadata["general.type"]) === "mmproj";
  const main = files.find((f) => !isProjector(f) && (asNumber(f.metadata["split.no"]) ?? 0) === 0) ?? files.find((f) => !isProjector(f)) ?? files[0];
  const meta = main.metadata;
  const arch = asString(meta["general.architecture"]);
  const key = (suffix: string) => (arch ? meta[`${arch}.${suffix}`] : undefined);
  const notes = files.flatMap((f) => f.notes);

  const experts = asNumber(key("expert_count"));
  const expertsPerToken = asNumber(key("expert_used_count"));
  const sharedExperts = asNumber(key("expert_shared_count"));
  const blockCount = asNumber(key("block_count"));
  const nextn = asNumber(key("nextn_predict_layers")) ?? 0;
  const tokens = meta["tokenizer.ggml.tokens"];
  const vocabSize = asNumber(key("vocab_size")) ?? (Array.isArray(tokens) ? tokens.length : null);
  const fileTypeId = asNumber(meta["general.file_type"]);
  const fileTypeName = fileTypeId === null ? null : ggufFileTypeName(fileTypeId);

  const tensors = files.flatMap((f) => f.tensors);
  const counted = countTensors(tensors, {
    layout: "ggml",
    experts: experts && experts > 0 ? experts : null,
    expertsPerToken: expertsPerToken && expertsPerToken > 0 ? expertsPerToken : null,
    // llama.cpp counts next-n prediction layers in block_count, as its last layers
    layers: blockCount !== null ? blockCount - nextn : null,
  });
  notes.push(...counted.notes);

  const mix: Record<string, GgufTypeCount> = {};
  let bytes = 0;
  let knownParameters = 0;
  for (const t of tensors) {
    const c = (mix[t.type] ??= { tensors: 0, parameters: 0, bytes: 0 });
    c.tensors += 1;
    c.parameters += t.parameters;
    if (t.bytes !== null) {
      c.bytes += t.bytes;
      bytes += t.bytes;
      knownParameters += t.parameters;
    }
  }
  const bitsPerWeight = knownParameters > 0 ? Math.round(((bytes * 8) / knownParameters) * 1000) / 1000 : null;
  const splitCount = asNumber(meta["split.count"]);
  const modelFiles = files.filter((f) => !isProjector(f)).length;
  if (splitCount !== null && splitCount !== modelFiles) notes.push(`the model is split in ${splitCount} files, ${modelFiles} were read`);

  return {
    ok: true,
    version: main.version,
    architecture: arch,
    name: asString(meta["general.name"]),
    fileType: fileTypeId === null ? null : { id: fileTypeId, name: fileTypeName },
    tensorCount: tensors.length,
    parameters: counted.parameters,
    quantizationMix: mix,
    bitsPerWeight,
    quantization: {
      method: "gguf",
      bits: nominalBits(fileTypeName),
      bitsPerWeight,
      details: { fileType: fileTypeName, mix: Object.fromEntries(Object.entries(mix).map(([k, v]) => [k, v.tensors])) },
    },
    experts,
    expertsPerToken,
    sharedExperts,
    contextLength: asNumber(key("context_length")),
    layers: blockCount !== null ? blockCount - nextn : null,
    hiddenSize: asNumber(key("embedding_length")),
    vocabSize,
    mtpLayers: counted.mtpLayers,
    files: files.length,
    notes,
  };
}

/** Reads and analyses a single GGUF file. */
export async function readGgufHeader(reader: RangeReader, size: number): Promise<GgufAnalysis | GgufError> {
  const file = await readGgufFile(reader, size);
  return file.ok ? analyzeGguf([file]) : file;
}
