// GET/HEAD /{id}/resolve/{rev}/{path} (and /datasets/…, and /raw/ which serves LFS pointers
// instead of content) — hub-api.md §7: X-Repo-Commit on every answer including EntryNotFound,
// ETag (git blob id, or SHA-256 for LFS), X-Linked-Etag/X-Linked-Size for LFS, Content-Length,
// Accept-Ranges, single-range 206 with Content-Range, 416 outside the file, no compression.

import { AgoraError } from "../../errors.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import { checkRepoPath } from "../../lib/repo-paths.ts";
import { queryValue, type RepoRouteContext } from "../route-context.ts";
import { sendFileRange, sendFromUpstream } from "../send-file.ts";

type ByteRange = { start: number; end: number };

/**
 * Parses a single-range `Range` header against a file size. Returns undefined when the header
 * is absent, malformed or multi-range (then the whole file is served, as RFC 9110 allows), and
 * "unsatisfiable" when it lies outside the file.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== "" && Number(match[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  py: "text/x-python; charset=utf-8",
  yaml: "text/yaml; charset=utf-8",
  yml: "text/yaml; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  html: "text/plain; charset=utf-8", // never let a repository serve active HTML from our origin
  svg: "text/plain; charset=utf-8",
};

function contentTypeOf(path: string): string {
  const extension = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? "application/octet-stream";
}

function contentDisposition(path: string, attachment: boolean): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `${attachment ? "attachment" : "inline"}; filename*=UTF-8''${encodeURIComponent(name)}; filename="${ascii}";`;
}

export async function resolveFileRoute({ services, caller, match, request, reply, query }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  await services.access.assertFileAccess(caller, repo, request.raw.url ?? "");
  const { commit } = await services.files.resolveRevision(repo, match.rev!);
  reply.header("X-Repo-Commit", commit);
  const path = match.path!;
  if (!checkRepoPath(path).ok) throw new AgoraError("EntryNotFound", "Entry not found", { headers: { "X-Repo-Commit": commit } });
  const entry = await services.files.fileEntry(repo, commit, path);
  const raw = match.op === "raw";
  // After the access checks, so a repository the caller may not see is never described; after
  // the entry lookup, so a missing file is still a 404.
  await services.licensePolicy.guardDownload(repo, commit, path, { pointerOnly: raw && entry.lfs !== undefined, log: request.log });
  const lfs = raw ? undefined : entry.lfs;
  const size = lfs ? lfs.size : entry.blobSize;
  const etag = `"${lfs ? lfs.oid : entry.oid}"`;

  reply.header("ETag", etag);
  reply.header("Accept-Ranges", "bytes");
  reply.header("Content-Type", raw && entry.lfs ? "text/plain; charset=utf-8" : contentTypeOf(path));
  reply.header("X-Content-Type-Options", "nosniff");
  if (lfs) {
    reply.header("X-Linked-Etag", etag);
    reply.header("X-Linked-Size", String(size));
  }
  if (!parseBooleanParam(queryValue(query, "noContentDisposition"))) {
    reply.header("Content-Disposition", contentDisposition(path, parseBooleanParam(queryValue(query, "download")) === true));
  }
  if (commit === match.rev) reply.header("Cache-Control", "public, max-age=31536000, immutable");

  const rangeHeader = request.headers.range;
  const range = parseRange(rangeHeader, size);
  if (!raw) await services.files.countDownload(repo, commit, path, range && range !== "unsatisfiable" ? range.start : 0);

  if (size === 0) {
    // hub-api.md §7.5: a 0-byte file answers 200 with `Content-Range: bytes */0`, so the JS
    // client's `bytes=0-0` probe reads size 0 instead of failing on a 416.
    if (rangeHeader) reply.header("Content-Range", "bytes */0");
    reply.header("Content-Length", "0");
    return reply.code(200).send(request.method === "HEAD" ? undefined : "");
  }
  if (range === "unsatisfiable") {
    reply.header("Content-Range", `bytes */${size}`);
    throw new AgoraError("RangeNotSatisfiable", `Requested range ${rangeHeader} lies outside the file of ${size} bytes`, {
      headers: { "Content-Range": `bytes */${size}`, "X-Repo-Commit": commit },
    });
  }
  const length = range ? range.end - range.start + 1 : size;
  reply.code(range ? 206 : 200);
  if (range) reply.header("Content-Range", `bytes ${range.start}-${range.end}/${size}`);
  reply.header("Content-Length", String(length));
  if (request.method === "HEAD") return reply.send();
  if (lfs && repo.mirrored) services.mirrorCache.touch(lfs.oid); // before the stat: a touched object is not evicted under this request
  if (lfs && repo.mirrored && (await services.blobs.stat(lfs.oid))?.size !== lfs.size) {
    // Not fetched from the upstream yet (services/mirror.ts); undefined: another request just stored it.
    const fetched = await services.mirror.openLfs(repo, commit, path, lfs, range);
    if (fetched) return sendFromUpstream(reply, fetched, size, path);
  }
  const file = lfs ? await services.files.lfsLocalPath(entry) : undefined;
  if (file) return sendFileRange(reply, file, range ? range.start : 0, range ? range.end : size - 1);
  const stream = raw && entry.lfs ? await services.files.openContent(repo, { ...entry, lfs: undefined }, range) : await services.files.openContent(repo, entry, range);
  return reply.send(stream);
}
