// Safetensors headers: 8-byte little-endian header length, then a JSON object mapping tensor
// names to {dtype, shape, data_offsets} (offsets relative to the data area that follows the
// header), plus an optional "__metadata__" map of strings. Sharded checkpoints add
// `model.safetensors.index.json` ({metadata: {total_size}, weight_map: {tensor: file}}).
//
// Hostile files are expected. Reading goes through byte ranges: the 8-byte length is checked
// against a bound and against the file size before the header is read, so a header claiming
// 100 GB is refused without allocating or reading it. Shapes, dtypes and offsets are checked
// against each other the way the reference implementation does (shape x dtype size == offset
// span, offsets inside the data area, no overlaps). Failures are typed results, never exceptions.

import { PACKED_WIDTH_ASSUMED, countStoredTensors, type StoredTensor } from "./quantization.ts";
import { countTensors, type TensorCountResult } from "./tensor-roles.ts";
import type { QuantizationInfo } from "./types.ts";

/** Reads bytes [start, endInclusive] of a file; may return fewer bytes at the end of a short file. */
export type RangeReader = (start: number, endInclusive: number) => Promise<Buffer>;
/** A file read by ranges, with its size. */
export type ByteSource = { size: number; read: RangeReader };

export type SafetensorsSummary = { parameters: Record<string, number>; total: number };
export type SafetensorsParse = { ok: true; summary: SafetensorsSummary } | { ok: false; error: string };

/** The Hub's clients refuse headers over 25 MB; so do we. */
export const MAX_SAFETENSORS_HEADER = 25_000_000;
/** The largest real indexes (hundreds of thousands of FP8 tensors and scales) are ~10 MB. */
export const MAX_SAFETENSORS_INDEX = 64 * 1024 * 1024;

/** Bits per value of each dtype of the safetensors specification (F4 and F6 pack values below a byte). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32, F64: 64, I64: 64, U64: 64, C64: 64, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

export type SafetensorsErrorCode =
  | "read-failed"
  | "truncated"
  | "header-too-large"
  | "header-length-exceeds-file"
  | "header-too-small"
  | "not-utf8"
  | "not-json"
  | "not-object"
  | "bad-tensor"
  | "bad-dtype"
  | "bad-shape"
  | "bad-offsets"
  | "offsets-out-of-range"
  | "overlapping-offsets"
  | "size-mismatch"
  | "too-large"
  | "index-too-large"
  | "bad-index"
  | "missing-shard"
  | "shard-mismatch"
  | "duplicate-tensor";

export type SafetensorsError = { ok: false; code: SafetensorsErrorCode; error: string };

export type SafetensorsTensor = {
  name: string;
  dtype: string;
  shape: number[];
  /** Product of the shape: stored values (what the Hub reports per dtype). */
  elements: number;
  /** Model parameters: elements, unpacked for quantised formats; 0 for scales and zero points. */
  parameters: number;
  /** True for a quantisation scale, zero point or similar tensor that is not a parameter. */
  auxiliary: boolean;
  bytes: number;
  /** [start, end) within the data area. */
  offsets: [number, number];
};

export type DtypeCount = { tensors: number; elements: number; parameters: number; bytes: number };

export type SafetensorsHeader = {
  ok: true;
  headerBytes: number;
  dataBytes: number;
  metadata: Record<string, string> | null;
  tensors: SafetensorsTensor[];
  dtypes: Record<string, DtypeCount>;
  /** Sum of `parameters` (packed values unpacked, auxiliary tensors excluded). */
  total: number;
  notes: string[];
};

export type HeaderOptions = { quantization?: QuantizationInfo | null };

const fail = (code: SafetensorsErrorCode, error: string): SafetensorsError => ({ ok: false, code, error });

/** Per-dtype stored element counts, as the Hub's `safetensors` field reports them. */
export function parseSafetensorsHeader(header: Buffer, fileSize: number): SafetensorsParse {
  const parsed = validateSafetensorsHeader(header, fileSize);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  return { ok: true, summary: elementsPerDtype(parsed.tensors) };
}

/** The Hub's `safetensors` counts of validated tensors: stored elements per dtype and their sum. */
export function elementsPerDtype(tensors: readonly Pick<SafetensorsTensor, "dtype" | "elements">[]): SafetensorsSummary {
  const summary: SafetensorsSummary = { parameters: {}, total: 0 };
  for (const t of tensors) {
    summary.parameters[t.dtype] = (summary.parameters[t.dtype] ?? 0) + t.elements;
    summary.total += t.elements;
  }
  return summary;
}

/**
 * Reads and validates the header of one safetensors file through byte ranges: 8 bytes, then the
 * header only. Never asks the reader for more than MAX_SAFETENSORS_HEADER + 8 bytes in total.
 */
export async function readSafetensorsHeader(reader: RangeReader, size: number, options: HeaderOptions = {}): Promise<SafetensorsHeader | SafetensorsError> {
  if (!Number.isSafeInteger(size) || size < 0) return fail("read-failed", `invalid file size ${size}`);
  if (size < 8) return fail("truncated", `the file has ${size} bytes, fewer than the 8-byte header length`);
  let prefix: Buffer;
  try {
    prefix = await reader(0, 7);
  } catch (error) {
    return fail("read-failed", `cannot read the header length: ${(error as Error).message}`);
  }
  if (prefix.length < 8) return fail("truncated", "the file ends inside the 8-byte header length");
  const n = prefix.readBigUInt64LE(0);
  // refuse before reading: the length is attacker-controlled
  if (n > BigInt(MAX_SAFETENSORS_HEADER)) return fail("header-too-large", `the header claims ${n} bytes; headers over ${MAX_SAFETENSORS_HEADER} bytes are refused`);
  if (n + 8n > BigInt(size)) return fail("header-length-exceeds-file", `the header claims ${n} bytes but the file has only ${size - 8} after the length`);
  if (n < 2n) return fail("header-too-small", `the header claims ${n} bytes, too few for a JSON object`);
  const length = Number(n);
  let header: Buffer;
  try {
    header = await reader(8, 8 + length - 1);
  } catch (error) {
    return fail("read-failed", `cannot read the header: ${(error as Error).message}`);
  }
  if (header.length !== length) return fail("truncated", `the file ends inside the header (${header.length} of ${length} bytes)`);
  return validateSafetensorsHeader(header, size, options);
}

/** Validates header bytes (without the 8-byte length) of a file of `fileSize` bytes. */
export function validateSafetensorsHeader(header: Buffer, fileSize: number, options: HeaderOptions = {}): SafetensorsHeader | SafetensorsError {
  if (header.length > MAX_SAFETENSORS_HEADER) return fail("header-too-large", `headers over ${MAX_SAFETENSORS_HEADER} bytes are refused`);
  const dataBytes = fileSize - 8 - header.length;
  if (dataBytes < 0) return fail("header-length-exceeds-file", "the header is longer than the file");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(header);
  } catch {
    return fail("not-utf8", "the header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail("not-json", "the header is not valid JSON");
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) return fail("not-object", "the header is not a JSON object");

  let metadata: Record<string, string> | null = null;
  const stored: (StoredTensor & { bytes: number; offsets: [number, number] })[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      // the specification makes it a map of strings; anything else is ignored, not fatal
      if (value && typeof value === "object" && !Array.isArray(value)) {
        metadata = {};
        for (const [k, v] of Object.entries(value)) if (typeof v === "string") metadata[k] = v;
      }
      continue;
    }
    const checked = checkTensor(name, value, dataBytes);
    if (!checked.ok) return checked;
    stored.push(checked.tensor);
  }

  // Offsets must not overlap: sort by start and compare each with the end seen so far.
  // Empty tensors occupy no bytes and may share an offset with anything.
  const byOffset = stored.filter((t) => t.bytes > 0).sort((a, b) => a.offsets[0] - b.offsets[0]);
  let end = 0;
  let previous = "";
  let gaps = 0;
  for (const t of byOffset) {
    if (t.offsets[0] < end) return fail("overlapping-offsets", `tensors ${previous} and ${t.name} overlap in the data area`);
    gaps += t.offsets[0] - end;
    end = t.offsets[1];
    previous = t.name;
  }
  const notes: string[] = [];
  const unused = gaps + (dataBytes - end);
  // the reference loader requires the tensors to cover the data area exactly; counts are still right
  if (unused > 0) notes.push(`${unused} bytes of the data area belong to no tensor`);

  const { counts, notes: countNotes } = countStoredTensors(stored, options.quantization ?? null);
  notes.push(...countNotes);
  const tensors = stored.map((t, i): SafetensorsTensor => ({ ...t, parameters: counts[i].parameters, auxiliary: counts[i].auxiliary }));
  return { ok: true, headerBytes: header.length, dataBytes, metadata, tensors, dtypes: dtypeCounts(tensors), total: sum(tensors), notes };
}

type Checked = { ok: true; tensor: StoredTensor & { bytes: number; offsets: [number, number] } } | SafetensorsError;

function checkTensor(name: string, value: unknown, dataBytes: number): Checked {
  if (!value || typeof value !== "object" || Array.isArray(value)) return fail("bad-tensor", `tensor ${name} is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== "string" || !(dtype in DTYPE_BITS)) return fail("bad-dtype", `tensor ${name} has an unknown dtype ${JSON.stringify(dtype)?.slice(0, 40)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return fail("bad-shape", `tensor ${name} has an invalid shape`);
  let elements = 1;
  if (!shape.includes(0)) {
    for (const d of shape as number[]) {
      elements *= d;
      if (!Number.isSafeInteger(elements)) return fail("too-large", `tensor ${name} has more elements than can be counted exactly`);
    }
  } else elements = 0;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    return fail("bad-offsets", `tensor ${name} has invalid data offsets`);
  }
  const [start, end] = offsets as [number, number];
  if (end > dataBytes) return fail("offsets-out-of-range", `tensor ${name} ends at byte ${end} of a data area of ${dataBytes} bytes`);
  const bits = elements * DTYPE_BITS[dtype];
  if (!Number.isSafeInteger(bits)) return fail("too-large", `tensor ${name} is too large to count exactly`);
  // sub-byte dtypes must fill whole bytes (the reference rejects a misaligned F4 tensor)
  if (bits % 8 !== 0 || bits / 8 !== end - start) {
    return fail("size-mismatch", `tensor ${name}: shape [${(shape as number[]).join(", ")}] of ${dtype} needs ${bits / 8} bytes, its offsets span ${end - start}`);
  }
  return { ok: true, tensor: { name, dtype, shape: shape as number[], elements, bytes: bits / 8, offsets: [start, end] } };
}

function dtypeCounts(tensors: readonly SafetensorsTensor[]): Record<string, DtypeCount> {
  const out: Record<string, DtypeCount> = {};
  for (const t of tensors) {
    const c = (out[t.dtype] ??= { tensors: 0, elements: 0, parameters: 0, bytes: 0 });
    c.tensors += 1;
    c.elements += t.elements;
    c.parameters += t.parameters;
    c.bytes += t.bytes;
  }
  return out;
}

const sum = (tensors: readonly SafetensorsTensor[]) => tensors.reduce((n, t) => n + t.parameters, 0);

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints
// ---------------------------------------------------------------------------------------------

export type SafetensorsIndex = {
  ok: true;
  /** Tensor name -> shard file name. */
  weightMap: Map<string, string>;
  /** Shard file names in first-seen order. */
  files: string[];
  /** metadata.total_size: bytes of all tensors, when declared. */
  totalSize: number | null;
};

/** Parses `model.safetensors.index.json`. Shard names must be plain file names beside the index. */
export function parseSafetensorsIndex(bytes: Buffer | string): SafetensorsIndex | SafetensorsError {
  const length = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.length;
  if (length > MAX_SAFETENSORS_INDEX) return fail("index-too-large", `the index has ${length} bytes; indexes over ${MAX_SAFETENSORS_INDEX} are refused`);
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === "string" ? bytes : bytes.toString("utf8"));
  } catch {
    return fail("not-json", "the index is not valid JSON");
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) return fail("bad-index", "the index is not a JSON object");
  const { weight_map: map, metadata } = json as { weight_map?: unknown; metadata?: unknown };
  if (!map || typeof map !== "object" || Array.isArray(map)) return fail("bad-index", "the index has no weight_map object");
  const weightMap = new Map<string, string>();
  const files = new Set<string>();
  for (const [tensor, file] of Object.entries(map)) {
    if (typeof file !== "string") return fail("bad-index", `weight_map entry ${tensor} is not a file name`);
    // a shard outside the model's folder (../, absolute, nested) is never read
    if (!/^[^/\\]+\.safetensors$/.test(file) || file === "." || file.startsWith("..")) return fail("bad-index", `weight_map names an unsafe shard path ${JSON.stringify(file).slice(0, 80)}`);
    weightMap.set(tensor, file);
    files.add(file);
  }
  let totalSize: number | null = null;
  if (metadata && typeof metadata === "object" && !Array.isArray(metadata)) {
    const declared = (metadata as { total_size?: unknown }).total_size;
    // some exporters write it as a string
    const n = typeof declared === "string" && /^\d+$/.test(declared) ? Number(declared) : declared;
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) totalSize = n;
  }
  return { ok: true, weightMap, files: [...files], totalSize };
}

export type ShardedTensor = SafetensorsTensor & { file: string };

export type SafetensorsModel = {
  ok: true;
  files: string[];
  tensors: ShardedTensor[];
  dtypes: Record<string, DtypeCount>;
  total: number;
  /** Scales, zero points and other non-parameter tensors of a quantised checkpoint. */
  auxiliary: { tensors: number; bytes: number };
  notes: string[];
};

/**
 * Combines shard headers into one model. With an index, every tensor it names must be in the
 * shard it names; a tensor present in two shards is an error (it would be counted twice).
 * Packing is decided again over all tensors: a quantised weight and its scales may sit in
 * different shards.
 */
export function combineSafetensorsShards(
  shards: readonly { file: string; header: SafetensorsHeader }[],
  index: SafetensorsIndex | null,
  options: HeaderOptions = {},
): SafetensorsModel | SafetensorsError {
  const notes: string[] = [];
  const seen = new Map<string, string>();
  const stored: ShardedTensor[] = [];
  for (const { file, header } of shards) {
    for (const t of header.tensors) {
      const other = seen.get(t.name);
      if (other !== undefined) return fail("duplicate-tensor", `tensor ${t.name} is in both ${other} and ${file}`);
      seen.set(t.name, file);
      stored.push({ ...t, file });
    }
    // packing is decided again below over all shards, with its own notes
    for (const note of header.notes) if (note !== PACKED_WIDTH_ASSUMED) notes.push(`${file}: ${note}`);
  }
  if (index) {
    for (const [tensor, file] of index.weightMap) {
      const actual = seen.get(tensor);
      if (actual === undefined) return fail("shard-mismatch", `the index places ${tensor} in ${file}, which does not contain it`);
      if (actual !== file) return fail("shard-mismatch", `the index places ${tensor} in ${file}, but it is in ${actual}`);
    }
    const unlisted = stored.filter((t) => !index.weightMap.has(t.name)).length;
    if (unlisted) notes.push(`${unlisted} tensors of the shards are not in the index (counted anyway)`);
  }
  const { counts, notes: countNotes } = countStoredTensors(stored, options.quantization ?? null);
  notes.push(...countNotes);
  const tensors = stored.map((t, i): ShardedTensor => ({ ...t, parameters: counts[i].parameters, auxiliary: counts[i].auxiliary }));
  const bytes = tensors.reduce((n, t) => n + t.bytes, 0);
  if (index?.totalSize != null && index.totalSize !== bytes) notes.push(`the index declares total_size ${index.totalSize}, the shards hold ${bytes} bytes of tensors`);
  const aux = tensors.filter((t) => t.auxiliary);
  return {
    ok: true,
    files: shards.map((s) => s.file),
    tensors,
    dtypes: dtypeCounts(tensors),
    total: sum(tensors),
    auxiliary: { tensors: aux.length, bytes: aux.reduce((n, t) => n + t.bytes, 0) },
    notes,
  };
}

/**
 * Reads an index's shards through `open` (null when a shard is absent) and combines them.
 * Shards are read one after another: each costs two small range reads.
 */
export async function readShardedSafetensors(
  index: SafetensorsIndex,
  open: (file: string) => Promise<ByteSource | null>,
  options: HeaderOptions = {},
): Promise<SafetensorsModel | SafetensorsError> {
  const shards: { file: string; header: SafetensorsHeader }[] = [];
  for (const file of index.files) {
    const source = await open(file);
    if (!source) return fail("missing-shard", `shard ${file} named by the index is missing`);
    const header = await readSafetensorsHeader(source.read, source.size, options);
    if (!header.ok) return { ...header, error: `${file}: ${header.error}` };
    shards.push({ file, header });
  }
  return combineSafetensorsShards(shards, index, options);
}

export type SafetensorsCountOptions = {
  experts?: number | null;
  expertsPerToken?: number | null;
  layers?: number | null;
  tiedEmbeddings?: boolean | null;
};

/**
 * Exact total and estimated active parameters of a checkpoint from its tensor names and shapes.
 * The active count needs experts per token, which only the configuration (or GGUF metadata) says.
 */
export function safetensorsParameterCounts(model: { tensors: readonly SafetensorsTensor[] }, options: SafetensorsCountOptions = {}): TensorCountResult {
  const counted = model.tensors.filter((t) => !t.auxiliary).map((t) => ({ name: t.name, shape: t.shape, parameters: t.parameters }));
  return countTensors(counted, { layout: "hf", ...options });
}
