// Operations on one bare git repository: refs, snapshots (the file list of a commit, with LFS
// pointers resolved), blobs, history, and building commits through a temporary index.
//
// Every repository is created with core.fsync=objects,reference so that an object or ref git
// reports as written is on disk: an API commit is acknowledged only after `update-ref` returns.

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { gitEnv, runGit } from "./run-git.ts";
import { MAX_POINTER_SIZE, parseLfsPointer, type LfsPointer } from "./lfs-pointer.ts";

export const ZERO_OID = "0000000000000000000000000000000000000000";
export const COMMIT_OID = /^[0-9a-f]{40}$/;

export type FileEntry = {
  type: "file";
  path: string;
  mode: string;
  /** git blob id (of the pointer, for LFS files) */
  oid: string;
  /** size of the git blob */
  blobSize: number;
  lfs?: LfsPointer;
};
export type DirEntry = { type: "directory"; path: string; oid: string };
export type TreeEntry = FileEntry | DirEntry;

/** All entries of one commit, in git's path order. Immutable, so cached by commit id. */
export type Snapshot = {
  commit: string;
  entries: TreeEntry[];
  byPath: Map<string, TreeEntry>;
};

export type Refs = {
  branches: Map<string, string>;
  tags: Map<string, string>; // peeled to the commit
  pullRequests: Map<string, string>; // "refs/pr/N" -> commit
  converts: Map<string, string>;
};

export type CommitInfo = { id: string; title: string; message: string; authorName: string; authorEmail: string; date: string };

export type TreeChange =
  | { kind: "put"; path: string; oid: string; mode?: string }
  | { kind: "delete"; path: string }
  | { kind: "deleteFolder"; path: string };

export type Signature = { name: string; email: string; date: Date };

const snapshotCache = new Map<string, Snapshot>();
const SNAPSHOT_CACHE_SIZE = 64;

export async function initBareRepo(dir: string): Promise<void> {
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  await runGit(dir, ["init", "--quiet", "--bare", "--initial-branch=main", dir]);
  for (const [key, value] of [
    ["core.fsync", "objects,reference"],
    ["core.fsyncMethod", "fsync"],
    ["core.logAllRefUpdates", "false"],
    ["gc.auto", "0"],
    ["receive.fsckObjects", "true"],
  ]) {
    await runGit(dir, ["config", key, value]);
  }
}

export async function listRefs(dir: string): Promise<Refs> {
  const { stdout } = await runGit(dir, ["for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)"]);
  const refs: Refs = { branches: new Map(), tags: new Map(), pullRequests: new Map(), converts: new Map() };
  for (const line of stdout.toString("utf8").split("\n")) {
    if (!line) continue;
    const [name, oid, peeled] = line.split("\0");
    const target = peeled || oid;
    if (name.startsWith("refs/heads/")) refs.branches.set(name.slice(11), target);
    else if (name.startsWith("refs/tags/")) refs.tags.set(name.slice(10), target);
    else if (/^refs\/pr\/\d+$/.test(name)) refs.pullRequests.set(name, target);
    else if (name.startsWith("refs/convert/")) refs.converts.set(name.slice(13), target);
  }
  return refs;
}

/** Whether `oid` names a commit object in this repository. */
export async function commitExists(dir: string, oid: string): Promise<boolean> {
  const { code } = await runGit(dir, ["cat-file", "-e", `${oid}^{commit}`], { okCodes: [1, 128] });
  return code === 0;
}

/** Expands an abbreviated hex id to the unique full commit id, or undefined. */
export async function expandShortCommit(dir: string, hex: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{4,39}$/.test(hex)) return undefined;
  const { stdout, code } = await runGit(dir, ["rev-parse", "--verify", "--quiet", `${hex}^{commit}`], { okCodes: [1, 128] });
  if (code !== 0) return undefined;
  const full = stdout.toString("utf8").trim();
  return full.startsWith(hex) ? full : undefined;
}

export async function readSnapshot(dir: string, commit: string): Promise<Snapshot> {
  const key = `${dir}\0${commit}`;
  const cached = snapshotCache.get(key);
  if (cached) {
    snapshotCache.delete(key);
    snapshotCache.set(key, cached);
    return cached;
  }
  const { stdout } = await runGit(dir, ["ls-tree", "-r", "-t", "-l", "-z", "--full-tree", commit]);
  const entries: TreeEntry[] = [];
  const pointerCandidates: FileEntry[] = [];
  for (const record of stdout.toString("utf8").split("\0")) {
    if (!record) continue;
    const tab = record.indexOf("\t");
    const [mode, type, oid, size] = record.slice(0, tab).split(/ +/);
    const entryPath = record.slice(tab + 1);
    if (type === "tree") entries.push({ type: "directory", path: entryPath, oid });
    else if (type === "blob") {
      const entry: FileEntry = { type: "file", path: entryPath, mode, oid, blobSize: Number(size) };
      entries.push(entry);
      if (entry.blobSize <= MAX_POINTER_SIZE && entry.blobSize > 40) pointerCandidates.push(entry);
    }
  }
  if (pointerCandidates.length) {
    const contents = await readSmallBlobs(dir, pointerCandidates.map((e) => e.oid));
    for (const entry of pointerCandidates) {
      const content = contents.get(entry.oid);
      const pointer = content && parseLfsPointer(content);
      if (pointer) entry.lfs = pointer;
    }
  }
  const snapshot: Snapshot = { commit, entries, byPath: new Map(entries.map((e) => [e.path, e])) };
  snapshotCache.set(key, snapshot);
  if (snapshotCache.size > SNAPSHOT_CACHE_SIZE) snapshotCache.delete(snapshotCache.keys().next().value!);
  return snapshot;
}

/** Reads many small blobs with one `cat-file --batch`. */
async function readSmallBlobs(dir: string, oids: string[]): Promise<Map<string, Buffer>> {
  const unique = [...new Set(oids)];
  const { stdout } = await runGit(dir, ["cat-file", "--batch"], { input: unique.join("\n") + "\n" });
  const result = new Map<string, Buffer>();
  let offset = 0;
  while (offset < stdout.length) {
    const newline = stdout.indexOf(0x0a, offset);
    if (newline < 0) break;
    const header = stdout.subarray(offset, newline).toString("utf8").split(" ");
    offset = newline + 1;
    if (header[1] === "missing") continue;
    const size = Number(header[2]);
    result.set(header[0], stdout.subarray(offset, offset + size));
    offset += size + 1;
  }
  return result;
}

/** Blobs read per `cat-file --batch` call by lfsOidsInObjectDatabase: bounds memory (≤ 1 KiB each). */
const POINTER_SCAN_BATCH = 10_000;
/** The `oid` line of a pointer alone is 76 bytes: a smaller blob names no LFS object. */
const MIN_POINTER_SCAN_SIZE = 76;

/**
 * Every LFS object named by a pointer-sized blob anywhere in the repository's object database:
 * reachable or not, on any ref or none. Lenient on purpose — any line `oid sha256:<64 hex>`
 * counts, even in a blob that is not a well-formed pointer — because garbage collection keeps
 * what this answers, and must never delete an object some commit may name.
 */
export async function lfsOidsInObjectDatabase(dir: string): Promise<Set<string>> {
  const { stdout } = await runGit(dir, ["cat-file", "--batch-all-objects", "--unordered", "--batch-check=%(objecttype) %(objectsize) %(objectname)"]);
  const candidates: string[] = [];
  for (const line of stdout.toString("utf8").split("\n")) {
    const [type, size, oid] = line.split(" ");
    if (type === "blob" && Number(size) >= MIN_POINTER_SCAN_SIZE && Number(size) <= MAX_POINTER_SIZE) candidates.push(oid);
  }
  const named = new Set<string>();
  for (let i = 0; i < candidates.length; i += POINTER_SCAN_BATCH) {
    for (const content of (await readSmallBlobs(dir, candidates.slice(i, i + POINTER_SCAN_BATCH))).values()) {
      for (const match of content.toString("latin1").matchAll(/^oid sha256:([0-9a-f]{64})\s*$/gm)) named.add(match[1]);
    }
  }
  return named;
}

export async function readBlob(dir: string, oid: string): Promise<Buffer> {
  const { stdout } = await runGit(dir, ["cat-file", "blob", oid]);
  return stdout;
}

/** Streams a blob's bytes from `git cat-file`; the caller slices for ranges. */
export function streamBlob(dir: string, oid: string): Readable {
  const child = spawn("git", ["cat-file", "blob", oid], { env: gitEnv(dir), stdio: ["ignore", "pipe", "ignore"] });
  return child.stdout;
}

/** Writes files from disk as blobs (no filters), returning their ids in order. */
export async function writeBlobsFromFiles(dir: string, files: string[]): Promise<string[]> {
  if (!files.length) return [];
  const { stdout } = await runGit(dir, ["hash-object", "-w", "--no-filters", "--stdin-paths"], { input: files.join("\n") + "\n" });
  const oids = stdout.toString("utf8").trim().split("\n");
  if (oids.length !== files.length) throw new Error("git hash-object returned an unexpected number of ids");
  return oids;
}

export async function writeBlob(dir: string, content: Buffer | string): Promise<string> {
  const { stdout } = await runGit(dir, ["hash-object", "-w", "--no-filters", "--stdin"], { input: content });
  return stdout.toString("utf8").trim();
}

/**
 * Builds a commit object from `parent` plus `changes` through a private temporary index, and
 * returns its id. Does not move any ref: the caller does that with `updateRef` (compare-and-swap).
 */
export async function buildCommit(
  dir: string,
  options: { parent: string | null; changes: TreeChange[]; message: string; author: Signature; allowEmpty?: boolean },
): Promise<{ commit: string; tree: string; changed: boolean }> {
  const indexFile = path.join(dir, `agora-index-${randomBytes(8).toString("hex")}`);
  const env = { GIT_INDEX_FILE: indexFile };
  try {
    if (options.parent) await runGit(dir, ["read-tree", options.parent], { env });
    else await runGit(dir, ["read-tree", "--empty"], { env });
    const removals: string[] = [];
    const folders = options.changes.filter((c) => c.kind === "deleteFolder").map((c) => c.path.replace(/\/+$/, ""));
    if (folders.length) {
      const { stdout } = await runGit(dir, ["ls-files", "-z", "--", ...folders.map((f) => `:(literal)${f}/`)], { env });
      for (const p of stdout.toString("utf8").split("\0")) if (p) removals.push(p);
    }
    const lines: string[] = [];
    for (const p of removals) lines.push(`0 ${ZERO_OID}\t${p}`);
    for (const change of options.changes) {
      if (change.kind === "delete") lines.push(`0 ${ZERO_OID}\t${change.path}`);
      else if (change.kind === "put") lines.push(`${change.mode ?? "100644"} ${change.oid}\t${change.path}`);
    }
    if (lines.length) {
      // -z keeps paths with newlines or quotes intact
      await runGit(dir, ["update-index", "--add", "--remove", "-z", "--index-info"], { env, input: lines.join("\0") + "\0" });
    }
    const tree = (await runGit(dir, ["write-tree"], { env })).stdout.toString("utf8").trim();
    let changed = true;
    if (options.parent) {
      const parentTree = (await runGit(dir, ["rev-parse", `${options.parent}^{tree}`])).stdout.toString("utf8").trim();
      changed = parentTree !== tree;
    }
    const date = `${Math.floor(options.author.date.getTime() / 1000)} +0000`;
    const args = ["commit-tree", tree, ...(options.parent ? ["-p", options.parent] : [])];
    const { stdout } = await runGit(dir, args, {
      input: options.message,
      env: {
        GIT_AUTHOR_NAME: options.author.name,
        GIT_AUTHOR_EMAIL: options.author.email,
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: options.author.name,
        GIT_COMMITTER_EMAIL: options.author.email,
        GIT_COMMITTER_DATE: date,
      },
    });
    return { commit: stdout.toString("utf8").trim(), tree, changed };
  } finally {
    await fsp.rm(indexFile, { force: true });
  }
}

/**
 * Moves `ref` to `newOid` only if it currently points at `oldOid` (ZERO_OID: must not exist).
 * Returns false when another writer moved it first.
 */
export async function updateRef(dir: string, ref: string, newOid: string, oldOid: string): Promise<boolean> {
  const { code } = await runGit(dir, ["update-ref", ref, newOid, oldOid], { okCodes: [1, 128] });
  return code === 0;
}

/**
 * Removes the ref lock files a killed `git update-ref` leaves behind (`refs/**.lock`,
 * `packed-refs.lock`); while one exists, every update of that ref fails. Only for start-up,
 * when no git process of this hub can be holding a lock.
 */
export async function removeStaleRefLocks(dir: string): Promise<string[]> {
  const refs = (await fsp.readdir(path.join(dir, "refs"), { recursive: true }).catch(() => [] as string[])) as string[];
  const locks = [...refs.filter((name) => name.endsWith(".lock")).map((name) => path.join(dir, "refs", name)), path.join(dir, "packed-refs.lock")];
  const removed: string[] = [];
  for (const lock of locks) {
    try {
      await fsp.unlink(lock);
      removed.push(lock);
    } catch {
      // absent (the normal case)
    }
  }
  return removed;
}

export async function deleteRef(dir: string, ref: string, oldOid: string): Promise<boolean> {
  const { code } = await runGit(dir, ["update-ref", "-d", ref, oldOid], { okCodes: [1, 128] });
  return code === 0;
}

export async function createAnnotatedTag(dir: string, name: string, target: string, message: string, tagger: Signature): Promise<string> {
  const body = `object ${target}\ntype commit\ntag ${name}\ntagger ${tagger.name} <${tagger.email}> ${Math.floor(tagger.date.getTime() / 1000)} +0000\n\n${message}\n`;
  const { stdout } = await runGit(dir, ["mktag"], { input: body });
  return stdout.toString("utf8").trim();
}

export async function isValidRefName(ref: string): Promise<boolean> {
  const { code } = await runGit("/nonexistent", ["check-ref-format", ref], { okCodes: [1] });
  return code === 0;
}

/** History of `rev`, newest first. */
export async function listCommits(dir: string, rev: string, skip: number, limit: number): Promise<CommitInfo[]> {
  const { stdout } = await runGit(dir, ["log", `--skip=${skip}`, `--max-count=${limit}`, "--format=%H%x00%an%x00%ae%x00%aI%x00%B%x1e", rev, "--"]);
  return stdout
    .toString("utf8")
    .split("\x1e")
    .map((r) => r.replace(/^\n/, ""))
    .filter(Boolean)
    .map((record) => {
      const [id, authorName, authorEmail, date, body] = record.split("\0");
      const message = body.replace(/\n+$/, "");
      const [title, ...rest] = message.split("\n");
      return { id, authorName, authorEmail, date: new Date(date).toISOString(), title, message: rest.join("\n").replace(/^\n+/, "") };
    });
}

export async function countCommits(dir: string, rev: string): Promise<number> {
  const { stdout } = await runGit(dir, ["rev-list", "--count", rev, "--"]);
  return Number(stdout.toString("utf8").trim());
}

const lastCommitCache = new Map<string, Map<string, CommitInfo>>();

/**
 * For each path (file or folder), the newest commit reachable from `commit` that touched it.
 * One `git log` walk, stopped as soon as every path is found.
 */
export async function lastCommitsFor(dir: string, commit: string, paths: string[]): Promise<Map<string, CommitInfo>> {
  const key = `${dir}\0${commit}`;
  let known = lastCommitCache.get(key);
  if (!known) {
    known = new Map();
    lastCommitCache.set(key, known);
    if (lastCommitCache.size > 32) lastCommitCache.delete(lastCommitCache.keys().next().value!);
  }
  const missing = new Set(paths.filter((p) => !known!.has(p)));
  if (!missing.size) return known;
  await new Promise<void>((resolve, reject) => {
    const child = spawn("git", ["log", "--format=%x1e%H%x00%aI%x00%s", "--name-only", "-z", "--no-renames", commit, "--"], {
      env: gitEnv(dir),
      stdio: ["ignore", "pipe", "ignore"],
    });
    let buffer = "";
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      child.kill();
      resolve();
    };
    const handleRecord = (record: string) => {
      const parts = record.split("\0");
      const [id, date, title] = parts;
      const info: CommitInfo = { id, date: new Date(date).toISOString(), title, message: "", authorName: "", authorEmail: "" };
      for (const raw of parts.slice(3)) {
        const file = raw.replace(/^\n/, "");
        if (!file) continue;
        // a change to a/b/c touches a/b/c, a/b and a
        let p = file;
        for (;;) {
          if (missing.has(p)) {
            known!.set(p, info);
            missing.delete(p);
          }
          const slash = p.lastIndexOf("/");
          if (slash < 0) break;
          p = p.slice(0, slash);
        }
      }
      if (!missing.size) finish();
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffer += chunk;
      let sep = buffer.indexOf("\x1e", 1);
      while (sep > 0 && !done) {
        handleRecord(buffer.slice(buffer.startsWith("\x1e") ? 1 : 0, sep));
        buffer = buffer.slice(sep);
        sep = buffer.indexOf("\x1e", 1);
      }
    });
    child.on("close", () => {
      if (!done && buffer.length > 1) handleRecord(buffer.slice(1));
      finish();
    });
    child.on("error", reject);
  });
  return known;
}

export function removeRepoDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
