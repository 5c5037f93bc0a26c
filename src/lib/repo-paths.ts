// Validation of file paths inside a repository. Paths are untrusted: this is the one gate every
// path from a commit, tree or download request passes.

export type PathCheck = { ok: true; path: string } | { ok: false; reason: string };

const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;

export function checkRepoPath(raw: unknown): PathCheck {
  if (typeof raw !== "string") return { ok: false, reason: "path must be a string" };
  if (raw.length === 0) return { ok: false, reason: "path is empty" };
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) return { ok: false, reason: `path is longer than ${MAX_PATH_BYTES} bytes` };
  if (/[\u0000-\u001f\u007f]/.test(raw)) return { ok: false, reason: "path contains a control character (NUL, newline, …)" };
  if (raw.includes("\\")) return { ok: false, reason: "path contains a backslash; use forward slashes" };
  if (raw.startsWith("/")) return { ok: false, reason: "path must be relative to the repository root (no leading /)" };
  const segments = raw.split("/");
  for (const segment of segments) {
    if (segment === "") return { ok: false, reason: "path contains an empty segment (//) or a trailing /" };
    if (segment === "." || segment === "..") return { ok: false, reason: `path contains a "${segment}" segment` };
    if (segment.toLowerCase() === ".git") return { ok: false, reason: "path is inside .git, which is reserved" };
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return { ok: false, reason: `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes` };
  }
  if (raw === ".cache/huggingface" || raw.startsWith(".cache/huggingface/")) return { ok: false, reason: "path is inside .cache/huggingface, which is reserved" };
  return { ok: true, path: raw };
}
