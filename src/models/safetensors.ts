// Safetensors headers: 8-byte little-endian header length, then a JSON object mapping tensor
// names to {dtype, shape, data_offsets}. Hostile files are expected: the length is bounded,
// shapes and offsets are checked against each other, and failures are typed results.

export type SafetensorsSummary = { parameters: Record<string, number>; total: number };
export type SafetensorsParse = { ok: true; summary: SafetensorsSummary } | { ok: false; error: string };

/** The Hub's clients refuse headers over 25 MB; so do we. */
export const MAX_SAFETENSORS_HEADER = 25_000_000;

const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, F4: 0.5, F6_E2M3: 0.75, F6_E3M2: 0.75,
};

/** Reads the header length from the first 8 bytes; undefined if implausible. */
export function safetensorsHeaderLength(prefix: Buffer, fileSize: number): number | undefined {
  if (prefix.length < 8) return undefined;
  const n = prefix.readBigUInt64LE(0);
  if (n < 2n || n > BigInt(MAX_SAFETENSORS_HEADER) || Number(n) + 8 > fileSize) return undefined;
  return Number(n);
}

export function parseSafetensorsHeader(header: Buffer, fileSize: number): SafetensorsParse {
  let json: unknown;
  try {
    json = JSON.parse(header.toString("utf8"));
  } catch {
    return { ok: false, error: "header is not valid JSON" };
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) return { ok: false, error: "header is not a JSON object" };
  const parameters: Record<string, number> = {};
  let total = 0;
  const dataSize = fileSize - 8 - header.length;
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const tensor = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!tensor || typeof tensor !== "object") return { ok: false, error: `tensor ${name} is not an object` };
    if (typeof tensor.dtype !== "string" || !(tensor.dtype in DTYPE_BYTES)) return { ok: false, error: `tensor ${name} has an unknown dtype` };
    if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return { ok: false, error: `tensor ${name} has an invalid shape` };
    const count = (tensor.shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count)) return { ok: false, error: `tensor ${name} is too large` };
    const offsets = tensor.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1] || offsets[1] > dataSize) {
      return { ok: false, error: `tensor ${name} has data offsets outside the file` };
    }
    parameters[tensor.dtype] = (parameters[tensor.dtype] ?? 0) + count;
    total += count;
  }
  return { ok: true, summary: { parameters, total } };
}
