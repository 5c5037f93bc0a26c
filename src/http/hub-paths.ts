// Parsing the Hub's irregular repository URLs.
//
// Repository ids have one segment (`gpt2`) or two (`ns/name`) and appear unencoded; revisions
// arrive percent-encoded from Python (`refs%2Fpr%2F1`) and sometimes raw from JS
// (`refs/pr/1`). We route on the raw path: split on literal "/", decode each segment, then try
// the two-segment reading before the one-segment one. Several readings may fit
// (`/api/models/a/refs`), so the parser returns candidates in order of preference and the
// dispatcher takes the first whose repository exists.

import type { RepoType } from "../db/repos-store.ts";

export type RepoOp =
  | "info"
  | "revision"
  | "tree"
  | "paths-info"
  | "refs"
  | "commits"
  | "commit"
  | "preupload"
  | "settings"
  | "branch"
  | "tag"
  | "xet-read-token"
  | "xet-write-token"
  | "auth-check"
  | "ask-access"
  | "resolve"
  | "raw"
  | "lfs-batch"
  | "git-info-refs"
  | "git-upload-pack"
  | "git-receive-pack";

export type RepoPathMatch = {
  op: RepoOp;
  repoType: RepoType;
  repoId: string;
  /** revision, or branch/tag name for branch and tag ops */
  rev?: string;
  /** file or folder path inside the repository */
  path?: string;
  /** trailing fixed word, e.g. "write" in auth-check/write */
  extra?: string;
};

export class MalformedPathError extends Error {}

export function splitPath(rawUrl: string): string[] {
  const pathname = rawUrl.split("?", 1)[0];
  return pathname
    .split("/")
    .slice(1)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new MalformedPathError(`malformed percent-encoding in the URL path`);
      }
    });
}

/** Takes a revision from the front of `segments`: `refs/pr/N` and `refs/convert/x` may arrive raw. */
function takeRevision(segments: string[]): { rev: string; rest: string[] } | undefined {
  if (!segments.length || segments[0] === "") return undefined;
  if (segments[0] === "refs" && segments.length >= 3 && (segments[1] === "pr" || segments[1] === "convert")) {
    return { rev: segments.slice(0, 3).join("/"), rest: segments.slice(3) };
  }
  return { rev: segments[0], rest: segments.slice(1) };
}

const API_OPS_WITH_REST = new Set(["revision", "paths-info", "commits", "commit", "preupload", "branch", "tag", "xet-read-token", "xet-write-token"]);

function parseApiOp(repoType: RepoType, repoId: string, rest: string[]): RepoPathMatch | undefined {
  if (rest.length === 0) return { op: "info", repoType, repoId };
  const [word, ...args] = rest;
  if (API_OPS_WITH_REST.has(word)) {
    if (!args.length || args.some((a) => a === "")) return undefined;
    return { op: word as RepoOp, repoType, repoId, rev: args.join("/") };
  }
  if (word === "tree") {
    const taken = takeRevision(args);
    if (!taken) return undefined;
    return { op: "tree", repoType, repoId, rev: taken.rev, path: taken.rest.filter(Boolean).join("/") };
  }
  if (word === "refs" && args.length === 0) return { op: "refs", repoType, repoId };
  if (word === "settings" && args.length === 0) return { op: "settings", repoType, repoId };
  if (word === "ask-access" && args.length === 0) return { op: "ask-access", repoType, repoId };
  if (word === "auth-check" && (args.length === 0 || (args.length === 1 && args[0] === "write"))) return { op: "auth-check", repoType, repoId, extra: args[0] };
  return undefined;
}

/** `/api/models/...` and `/api/datasets/...`: `segments` start after the type segment. */
export function parseApiRepoPath(repoType: RepoType, segments: string[]): RepoPathMatch[] {
  const candidates: RepoPathMatch[] = [];
  if (segments.length >= 2 && segments[0] && segments[1]) {
    const match = parseApiOp(repoType, `${segments[0]}/${segments[1]}`, segments.slice(2));
    if (match) candidates.push(match);
  }
  if (segments.length >= 1 && segments[0]) {
    const match = parseApiOp(repoType, segments[0], segments.slice(1));
    if (match) candidates.push(match);
  }
  return candidates;
}

function parseFileOp(repoType: RepoType, idSegments: string[], rest: string[]): RepoPathMatch | undefined {
  let last = idSegments[idSegments.length - 1];
  const gitSuffix = last.endsWith(".git");
  if (gitSuffix) last = last.slice(0, -4);
  const repoId = [...idSegments.slice(0, -1), last].join("/");
  if (!last) return undefined;
  const [word, ...args] = rest;
  const joined = rest.join("/");
  if (joined === "info/lfs/objects/batch") return { op: "lfs-batch", repoType, repoId };
  if (joined === "info/refs") return { op: "git-info-refs", repoType, repoId };
  if (joined === "git-upload-pack") return { op: "git-upload-pack", repoType, repoId };
  if (joined === "git-receive-pack") return { op: "git-receive-pack", repoType, repoId };
  if (gitSuffix) return undefined;
  if (word === "resolve" || word === "raw") {
    const taken = takeRevision(args);
    if (!taken || !taken.rest.length) return undefined;
    return { op: word, repoType, repoId, rev: taken.rev, path: taken.rest.join("/") };
  }
  if (word === "ask-access" && args.length === 0) return { op: "ask-access", repoType, repoId };
  return undefined;
}

/** Repository-scoped paths outside /api: `/{id}/resolve/...`, `/datasets/{id}/...`, `/{id}.git/info/lfs/...`. */
export function parseFileRepoPath(segments: string[]): RepoPathMatch[] {
  let repoType: RepoType = "model";
  let rest = segments;
  if (rest[0] === "datasets") {
    repoType = "dataset";
    rest = rest.slice(1);
  }
  const candidates: RepoPathMatch[] = [];
  if (rest.length >= 3 && rest[0] && rest[1]) {
    const match = parseFileOp(repoType, rest.slice(0, 2), rest.slice(2));
    if (match) candidates.push(match);
  }
  if (rest.length >= 2 && rest[0]) {
    const match = parseFileOp(repoType, rest.slice(0, 1), rest.slice(1));
    if (match) candidates.push(match);
  }
  return candidates;
}

/**
 * The raw request URL with the repository id replaced by `newId`, the rest of the path and the
 * query kept as sent (a `.git` suffix stays): where a request for a renamed repository is
 * redirected. Undefined when the id is not where the match says it is.
 */
export function withRepoId(rawUrl: string, match: RepoPathMatch, newId: string): string | undefined {
  const q = rawUrl.indexOf("?");
  const segments = (q < 0 ? rawUrl : rawUrl.slice(0, q)).split("/");
  const query = q < 0 ? "" : rawUrl.slice(q);
  const start = segments[1] === "api" ? 3 : match.repoType === "dataset" ? 2 : 1;
  const count = match.repoId.split("/").length;
  const raw = segments.slice(start, start + count);
  if (raw.length !== count) return undefined;
  let decoded: string[];
  try {
    decoded = raw.map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  const replacement = newId.split("/").map((s) => encodeURIComponent(s));
  if (decoded.join("/") !== match.repoId) {
    const last = decoded[count - 1];
    if (!last.endsWith(".git") || [...decoded.slice(0, -1), last.slice(0, -4)].join("/") !== match.repoId) return undefined;
    replacement[replacement.length - 1] += ".git";
  }
  return [...segments.slice(0, start), ...replacement, ...segments.slice(start + count)].join("/") + query;
}
