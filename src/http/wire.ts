// Wire shapes (`Api*`) and the mappers from domain objects to them. Dates are ISO-8601 UTC
// ending in Z; ids are the 24-hex `_id` and the `ns/name` `id` the clients expect.

import type { CommitInfo, FileEntry, TreeEntry } from "../git/bare-repo.ts";
import type { Repo } from "../services/repos.ts";
import { repoFullId } from "../services/repos.ts";

export type ApiLfsInfo = { oid: string; size: number; pointerSize: number };
export type ApiTreeEntry = {
  type: "file" | "directory";
  oid: string;
  size: number;
  path: string;
  lfs?: ApiLfsInfo;
  lastCommit?: { id: string; title: string; date: string };
};
export type ApiSibling = { rfilename: string; size?: number; blobId?: string; lfs?: { size: number; sha256: string; pointerSize: number } };

export function treeEntryJson(entry: TreeEntry, lastCommit?: CommitInfo): ApiTreeEntry {
  const json: ApiTreeEntry =
    entry.type === "directory"
      ? { type: "directory", oid: entry.oid, size: 0, path: entry.path }
      : {
          type: "file",
          oid: entry.oid,
          size: entry.lfs ? entry.lfs.size : entry.blobSize,
          path: entry.path,
          ...(entry.lfs ? { lfs: { oid: entry.lfs.oid, size: entry.lfs.size, pointerSize: entry.blobSize } } : {}),
        };
  if (lastCommit) json.lastCommit = { id: lastCommit.id, title: lastCommit.title, date: lastCommit.date };
  return json;
}

export function siblingJson(entry: FileEntry, withBlobs: boolean): ApiSibling {
  if (!withBlobs) return { rfilename: entry.path };
  return {
    rfilename: entry.path,
    size: entry.lfs ? entry.lfs.size : entry.blobSize,
    blobId: entry.oid,
    ...(entry.lfs ? { lfs: { size: entry.lfs.size, sha256: entry.lfs.oid, pointerSize: entry.blobSize } } : {}),
  };
}

/** The listing fields every repository object carries, from the database row alone. */
export function repoSummaryJson(repo: Repo): Record<string, unknown> {
  const id = repoFullId(repo);
  const base: Record<string, unknown> = {
    _id: repo.id,
    id,
    author: repo.namespace || undefined,
    sha: repo.head_sha ?? undefined,
    lastModified: repo.last_modified,
    createdAt: repo.created_at,
    private: Boolean(repo.private),
    gated: repo.gated === "false" ? false : repo.gated,
    disabled: false,
    downloads: Number(repo.downloads),
    downloadsAllTime: Number(repo.downloads_all_time),
    likes: repo.likes,
    trendingScore: 0,
    tags: JSON.parse(repo.tags) as string[],
  };
  if (repo.mirrored) base.mirrored = true;
  if (repo.type === "model") {
    base.modelId = id;
    if (repo.pipeline_tag) base.pipeline_tag = repo.pipeline_tag;
    if (repo.library_name) base.library_name = repo.library_name;
  }
  return base;
}

/** Applies `expand`: only `_id`, `id` and the requested fields; `xetEnabled` is always false. */
export function applyExpand(full: Record<string, unknown>, expand: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { _id: full._id, id: full.id };
  for (const key of expand) {
    if (key === "xetEnabled") out.xetEnabled = false;
    else if (key in full && full[key] !== undefined) out[key] = full[key];
    else if (key === "spaces" || key === "widgetData") out[key] = [];
  }
  return out;
}

export function commitJson(commit: CommitInfo, formatted: boolean): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: commit.id,
    title: commit.title,
    message: commit.message,
    authors: [{ user: commit.authorName, avatar: "" }],
    date: commit.date,
  };
  if (formatted) json.formatted = { title: escapeHtml(commit.title), message: escapeHtml(commit.message) };
  return json;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** `Link: <absolute url>; rel="next"` exactly as the JS parser requires (hub-api.md §2.8). */
export function nextLink(baseUrl: string, rawUrl: string, cursor: string): string {
  const [pathname, search = ""] = rawUrl.split("?", 2);
  const params = new URLSearchParams(search);
  params.set("cursor", cursor);
  return `<${baseUrl}${pathname}?${params.toString()}>; rel="next"`;
}

export function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString("base64url");
}

export function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { o?: unknown };
    if (typeof value.o === "number" && Number.isSafeInteger(value.o) && value.o >= 0) return value.o;
  } catch {
    // fall through
  }
  throw new Error("invalid cursor");
}
