// Git LFS pointer files: the small text blob git stores in place of a large file.
// Spec: version line, `oid sha256:<64 hex>`, `size <n>`, each ending in LF.

export type LfsPointer = { oid: string; size: number };

/** Pointers are about 130 bytes; anything larger is a regular file. */
export const MAX_POINTER_SIZE = 1024;

const POINTER = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([0-9a-f]{64})\nsize (0|[1-9][0-9]{0,15})\n(?:[a-z0-9.-]+ [^\n]*\n)*$/;

export function parseLfsPointer(content: Buffer | string): LfsPointer | undefined {
  if (content.length > MAX_POINTER_SIZE) return undefined;
  const match = POINTER.exec(typeof content === "string" ? content : content.toString("utf8"));
  if (!match) return undefined;
  const size = Number(match[2]);
  if (!Number.isSafeInteger(size)) return undefined;
  return { oid: match[1], size };
}

export function formatLfsPointer(pointer: LfsPointer): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${pointer.oid}\nsize ${pointer.size}\n`;
}
