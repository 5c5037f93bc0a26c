// Writing repositories: the NDJSON commit, preupload decisions, branches and tags.
//
// A commit is applied in a fixed order: validate every line (nothing is written for a bad
// request) → write blobs → under the repository's lock, build the commit on the current head →
// move the branch with compare-and-swap (fsynced by git) → update listing metadata → answer.
// A crash before the ref moves leaves only unreferenced objects, invisible to every reader.

import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { AgoraError } from "../errors.ts";
import type { Caller } from "./accounts.ts";
import type { FilesService } from "./files.ts";
import type { LfsService } from "./lfs.ts";
import type { Repo, ReposService } from "./repos.ts";
import {
  buildCommit,
  createAnnotatedTag,
  deleteRef,
  isValidRefName,
  listRefs,
  readBlob,
  readSnapshot,
  updateRef,
  writeBlob,
  writeBlobsFromFiles,
  ZERO_OID,
  type TreeChange,
} from "../git/bare-repo.ts";
import type { ObjectPacker } from "../git/pack-objects.ts";
import { GitError, runGit } from "../git/run-git.ts";
import { formatLfsPointer } from "../git/lfs-pointer.ts";
import { checkRepoPath } from "../lib/repo-paths.ts";
import type { KeyedMutex } from "../lib/keyed-mutex.ts";
import { ensureLfsTracked, gitignoreMatcher, lfsMatcher } from "./gitattributes.ts";

export type CommitOperation =
  | { kind: "file"; path: string; tempFile: string }
  | { kind: "lfsFile"; path: string; oid: string; size: number }
  | { kind: "deletedFile"; path: string }
  | { kind: "deletedFolder"; path: string };

export type CommitHeader = { summary: string; description: string; parentCommit?: string };

export type CommitResult = { commitOid: string; branch: string };

const MAX_LINE_BYTES = 32 * 1024 * 1024;
const MAX_OPERATIONS = 100_000;
const LFS_SIZE_THRESHOLD = 10 * 1024 * 1024;
const BINARY_SIZE_THRESHOLD = 1024 * 1024;

/** Points at which a crash test may ask the process to kill itself (AGORA_TEST_CRASH_AT). */
function crashPoint(name: string, dataDir: string): void {
  if (process.env.AGORA_TEST_CRASH_AT !== name) return;
  fs.writeFileSync(path.join(dataDir, `crashed-at-${name}`), String(Date.now()));
  process.kill(process.pid, "SIGKILL");
}

export function createCommitsService(deps: {
  dataDir: string;
  reposService: ReposService;
  files: FilesService;
  lfs: LfsService;
  lock: KeyedMutex;
  objectPacker: ObjectPacker;
  maxRegularFileSize: number;
  clock?: () => Date;
}) {
  const clock = deps.clock ?? (() => new Date());
  const tmpRoot = path.join(deps.dataDir, "tmp");
  fs.mkdirSync(tmpRoot, { recursive: true });

  function badLine(lineNumber: number, message: string): AgoraError {
    return new AgoraError("BadRequest", `NDJSON line ${lineNumber}: ${message}`);
  }

  function checkedPath(raw: unknown, lineNumber: number): string {
    const check = checkRepoPath(raw);
    if (!check.ok) throw new AgoraError("InvalidPath", `NDJSON line ${lineNumber}: invalid path ${JSON.stringify(String(raw).slice(0, 200))}: ${check.reason}`);
    return check.path;
  }

  /** Resolves the branch a commit goes to; commits go to branches only. */
  async function branchOf(repo: Repo, revision: string): Promise<string> {
    const name = revision === "HEAD" ? "main" : revision.startsWith("refs/heads/") ? revision.slice(11) : revision;
    const refs = await listRefs(deps.reposService.repoDir(repo));
    if (!refs.branches.has(name)) {
      throw new AgoraError("RevisionNotFound", `Invalid rev id: ${revision}: commits can only be made on an existing branch`);
    }
    return name;
  }

  const service = {
    /**
     * Parses an NDJSON commit body line by line, staging inline files in a temp folder.
     * Returns the header and operations; the caller must call `cleanup` when done.
     */
    async parseCommitBody(repo: Repo, body: AsyncIterable<Buffer | string>): Promise<{ header: CommitHeader; operations: CommitOperation[]; cleanup: () => Promise<void> }> {
      const workDir = await fsp.mkdtemp(path.join(tmpRoot, "commit-"));
      const cleanup = () => fsp.rm(workDir, { recursive: true, force: true });
      try {
        let header: CommitHeader | undefined;
        const operations: CommitOperation[] = [];
        let lineNumber = 0;
        for await (const line of splitLines(body, MAX_LINE_BYTES)) {
          lineNumber++;
          if (!line.trim()) continue;
          let item: { key?: unknown; value?: Record<string, unknown> };
          try {
            item = JSON.parse(line);
          } catch {
            throw badLine(lineNumber, "not valid JSON");
          }
          if (!item || typeof item !== "object" || typeof item.key !== "string" || !item.value || typeof item.value !== "object") {
            throw badLine(lineNumber, 'expected an object {"key": string, "value": object}');
          }
          const value = item.value;
          if (item.key === "header") {
            if (header) throw badLine(lineNumber, "a second header line");
            if (operations.length) throw badLine(lineNumber, "the header must be the first line");
            if (typeof value.summary !== "string" || !value.summary.trim()) throw badLine(lineNumber, "header.summary must be a non-empty string");
            if (value.summary.length > 10_000) throw badLine(lineNumber, "header.summary is longer than 10000 characters");
            if (value.description !== undefined && value.description !== null && typeof value.description !== "string") throw badLine(lineNumber, "header.description must be a string");
            if (value.parentCommit !== undefined && value.parentCommit !== null && (typeof value.parentCommit !== "string" || !/^[0-9a-f]{5,40}$/.test(value.parentCommit))) {
              throw badLine(lineNumber, "header.parentCommit must be 5 to 40 lowercase hex characters");
            }
            header = { summary: value.summary, description: (value.description as string | undefined) ?? "", parentCommit: (value.parentCommit as string | undefined) ?? undefined };
            continue;
          }
          if (!header) throw badLine(lineNumber, "the first line must be the header");
          if (operations.length >= MAX_OPERATIONS) throw new AgoraError("PayloadTooLarge", `a commit may hold at most ${MAX_OPERATIONS} operations`);
          switch (item.key) {
            case "file": {
              const filePath = checkedPath(value.path, lineNumber);
              const encoding = value.encoding ?? "base64";
              if (typeof value.content !== "string") throw badLine(lineNumber, "file.content must be a string");
              let content: Buffer;
              if (encoding === "base64") {
                const text = value.content.replace(/\s+/g, "");
                if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) throw badLine(lineNumber, "file.content is not valid base64");
                content = Buffer.from(text, "base64");
              } else if (encoding === "utf-8" || encoding === "utf8") content = Buffer.from(value.content, "utf8");
              else throw badLine(lineNumber, `unknown encoding ${JSON.stringify(encoding)}`);
              if (content.length > deps.maxRegularFileSize) {
                throw new AgoraError("PayloadTooLarge", `${filePath} is ${content.length} bytes; regular files are limited to ${deps.maxRegularFileSize} bytes. Upload it through LFS (preupload answers "lfs" for it).`);
              }
              const tempFile = path.join(workDir, String(operations.length));
              await fsp.writeFile(tempFile, content);
              operations.push({ kind: "file", path: filePath, tempFile });
              break;
            }
            case "lfsFile": {
              const filePath = checkedPath(value.path, lineNumber);
              if (value.algo !== undefined && value.algo !== "sha256") throw badLine(lineNumber, 'lfsFile.algo must be "sha256"');
              const oid = value.oid;
              if (typeof oid !== "string" || !/^[0-9a-f]{64}$/.test(oid)) throw badLine(lineNumber, "lfsFile.oid must be 64 lowercase hex characters");
              const size = value.size;
              if (size !== undefined && (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)) throw badLine(lineNumber, "lfsFile.size must be a non-negative integer");
              const actualSize = await deps.lfs.requireLinked(repo, oid, size as number | undefined);
              operations.push({ kind: "lfsFile", path: filePath, oid, size: actualSize });
              break;
            }
            case "deletedFile":
              operations.push({ kind: "deletedFile", path: checkedPath(value.path, lineNumber) });
              break;
            case "deletedFolder": {
              const raw = typeof value.path === "string" ? value.path.replace(/\/+$/, "") : value.path;
              operations.push({ kind: "deletedFolder", path: checkedPath(raw, lineNumber) });
              break;
            }
            default:
              throw badLine(lineNumber, `unknown key ${JSON.stringify(String(item.key).slice(0, 50))} (expected header, file, lfsFile, deletedFile or deletedFolder)`);
          }
        }
        if (!header) throw new AgoraError("BadRequest", "the commit body is empty: expected an NDJSON header line");
        return { header, operations, cleanup };
      } catch (error) {
        await cleanup();
        throw error;
      }
    },

    /** Applies a parsed commit to `revision` (a branch) and returns the new commit id. */
    async commit(caller: Caller, repo: Repo, revision: string, header: CommitHeader, operations: CommitOperation[]): Promise<CommitResult> {
      const dir = deps.reposService.repoDir(repo);
      const branch = await branchOf(repo, revision);
      // Blobs first, outside the lock: unreferenced objects are harmless if anything fails later.
      const inline = operations.filter((o): o is Extract<CommitOperation, { kind: "file" }> => o.kind === "file");
      const inlineOids = await writeBlobsFromFiles(dir, inline.map((o) => o.tempFile));
      const blobOf = new Map(inline.map((o, i) => [o, inlineOids[i]]));
      const pointerOids = new Map<string, string>();
      for (const op of operations) {
        if (op.kind === "lfsFile" && !pointerOids.has(op.oid)) pointerOids.set(op.oid, await writeBlob(dir, formatLfsPointer(op)));
      }
      const message = header.description ? `${header.summary}\n\n${header.description}` : header.summary;
      const author = { name: caller.account.name, email: `${caller.account.name}@users.agora`, date: clock() };

      return deps.lock(repo.id, async () => {
        for (let attempt = 0; ; attempt++) {
          const head = (await listRefs(dir)).branches.get(branch);
          if (!head) throw new AgoraError("RevisionNotFound", `Invalid rev id: ${revision}`);
          if (header.parentCommit && !head.startsWith(header.parentCommit)) throw new AgoraError("StaleParent");
          const snapshot = await readSnapshot(dir, head);
          const changes: TreeChange[] = [];
          const deleted = new Set<string>();
          for (const op of operations) {
            if (op.kind === "file") changes.push({ kind: "put", path: op.path, oid: blobOf.get(op)! });
            else if (op.kind === "lfsFile") changes.push({ kind: "put", path: op.path, oid: pointerOids.get(op.oid)! });
            else if (op.kind === "deletedFile") {
              const entry = snapshot.byPath.get(op.path);
              if (entry?.type !== "file" && !deleted.has(op.path)) {
                throw new AgoraError("EntryNotFound", `A file with this name doesn't exist: ${op.path}`, { headers: { "X-Repo-Commit": head } });
              }
              deleted.add(op.path);
              changes.push({ kind: "delete", path: op.path });
            } else {
              if (snapshot.byPath.get(op.path)?.type !== "directory") {
                throw new AgoraError("EntryNotFound", `A folder with this name doesn't exist: ${op.path}`, { headers: { "X-Repo-Commit": head } });
              }
              changes.push({ kind: "deleteFolder", path: op.path });
            }
          }
          checkFileFolderConflicts(snapshot.byPath, operations);
          // Keep .gitattributes tracking every LFS path, so a git clone smudges what the API wrote.
          const lfsPaths = operations.filter((o) => o.kind === "lfsFile").map((o) => o.path);
          if (lfsPaths.length) {
            const ownAttributes = [...inline].reverse().find((o) => o.path === ".gitattributes");
            let base = "";
            if (ownAttributes) base = await fsp.readFile(ownAttributes.tempFile, "utf8");
            else {
              const current = snapshot.byPath.get(".gitattributes");
              if (current?.type === "file" && !current.lfs) base = (await readBlob(dir, current.oid)).toString("utf8");
            }
            const updated = ensureLfsTracked(base, lfsPaths);
            if (updated !== undefined) changes.push({ kind: "put", path: ".gitattributes", oid: await writeBlob(dir, updated) });
          }
          let built;
          try {
            built = await buildCommit(dir, { parent: head, changes, message, author });
          } catch (error) {
            if (error instanceof GitError && /appears as both a file and as a directory|file and directory|is a directory|not a directory/i.test(error.stderr)) {
              throw new AgoraError("Conflict", `a path in the commit conflicts with an existing file or folder: ${error.stderr.trim().split("\n")[0]}`);
            }
            throw error;
          }
          crashPoint("commit-before-ref", deps.dataDir);
          if (await updateRef(dir, `refs/heads/${branch}`, built.commit, head)) {
            deps.objectPacker.afterWrite(dir); // the commit's objects were written loose
            if (branch === "main") await deps.reposService.refreshListing(repo, built.commit, author.date);
            return { commitOid: built.commit, branch };
          }
          // Another writer (a git push, another process) moved the branch between our read and our swap.
          if (header.parentCommit) throw new AgoraError("StaleParent");
          if (attempt >= 10) throw new AgoraError("Conflict", "the branch keeps moving; try again");
        }
      });
    },

    /** Preupload: for each announced file, "lfs" or "regular", whether it is ignored, and its current oid. */
    async preupload(repo: Repo, revision: string, body: { files?: unknown; gitIgnore?: unknown; gitAttributes?: unknown }) {
      if (!Array.isArray(body.files)) throw new AgoraError("BadRequest", "`files` must be an array");
      if (body.files.length > 10_000) throw new AgoraError("PayloadTooLarge", "at most 10000 files per preupload request");
      const { commit } = await deps.files.resolveRevision(repo, revision);
      const dir = deps.reposService.repoDir(repo);
      const snapshot = await readSnapshot(dir, commit);
      const readText = async (p: string) => {
        const e = snapshot.byPath.get(p);
        return e?.type === "file" && !e.lfs && e.blobSize < 1024 * 1024 ? (await readBlob(dir, e.oid)).toString("utf8") : undefined;
      };
      const attributes = typeof body.gitAttributes === "string" ? body.gitAttributes : ((await readText(".gitattributes")) ?? "");
      const ignoreText = typeof body.gitIgnore === "string" ? body.gitIgnore : await readText(".gitignore");
      const isLfs = lfsMatcher(attributes);
      const isIgnored = gitignoreMatcher(ignoreText);
      const files = body.files.map((file: { path?: unknown; size?: unknown; sample?: unknown }) => {
        const check = checkRepoPath(file?.path);
        if (!check.ok) throw new AgoraError("InvalidPath", `invalid path ${JSON.stringify(String(file?.path).slice(0, 200))}: ${check.reason}`);
        const size = typeof file.size === "number" && file.size >= 0 ? file.size : 0;
        const sample = typeof file.sample === "string" ? Buffer.from(file.sample, "base64") : Buffer.alloc(0);
        const binary = sample.includes(0);
        const lfs = size > 0 && (isLfs(check.path) || size >= LFS_SIZE_THRESHOLD || (binary && size > BINARY_SIZE_THRESHOLD));
        const existing = snapshot.byPath.get(check.path);
        const oid = existing?.type === "file" ? (existing.lfs ? existing.lfs.oid : existing.oid) : undefined;
        return { path: check.path, uploadMode: lfs ? "lfs" : "regular", shouldIgnore: isIgnored(check.path), ...(oid ? { oid } : {}) };
      });
      return { files, commitOid: commit };
    },

    async createBranch(repo: Repo, branch: string, options: { startingPoint?: string; emptyBranch?: boolean; overwrite?: boolean }): Promise<void> {
      await checkRefName("branch", branch);
      const dir = deps.reposService.repoDir(repo);
      let target: string;
      if (options.emptyBranch) {
        target = (await buildCommit(dir, { parent: null, changes: [], message: `create empty branch ${branch}`, author: { name: "agora", email: "agora@localhost", date: clock() } })).commit;
      } else {
        target = (await deps.files.resolveRevision(repo, options.startingPoint ?? "main")).commit;
      }
      await deps.lock(repo.id, async () => {
        const current = (await listRefs(dir)).branches.get(branch);
        if (current && !options.overwrite) throw new AgoraError("RefExists", `Reference already exists: refs/heads/${branch}`);
        if (!(await updateRef(dir, `refs/heads/${branch}`, target, current ?? ZERO_OID))) throw new AgoraError("Conflict", "the branch changed concurrently; try again");
      });
    },

    async deleteBranch(repo: Repo, branch: string): Promise<void> {
      if (branch === "main") throw new AgoraError("BadRequest", "the default branch main cannot be deleted");
      const dir = deps.reposService.repoDir(repo);
      await deps.lock(repo.id, async () => {
        const current = (await listRefs(dir)).branches.get(branch);
        if (!current) throw new AgoraError("RevisionNotFound", `Invalid rev id: ${branch}`);
        if (!(await deleteRef(dir, `refs/heads/${branch}`, current))) throw new AgoraError("Conflict", "the branch changed concurrently; try again");
      });
    },

    async createTag(caller: Caller, repo: Repo, revision: string, tag: unknown, message: unknown): Promise<void> {
      if (typeof tag !== "string") throw new AgoraError("BadRequest", "`tag` must be a string");
      await checkRefName("tag", tag);
      if (message !== undefined && message !== null && typeof message !== "string") throw new AgoraError("BadRequest", "`message` must be a string");
      const dir = deps.reposService.repoDir(repo);
      const { commit } = await deps.files.resolveRevision(repo, revision);
      await deps.lock(repo.id, async () => {
        if ((await listRefs(dir)).tags.has(tag)) throw new AgoraError("RefExists", `Tag ${tag} already exists`);
        const object = message ? await createAnnotatedTag(dir, tag, commit, message, { name: caller.account.name, email: `${caller.account.name}@users.agora`, date: clock() }) : commit;
        if (!(await updateRef(dir, `refs/tags/${tag}`, object, ZERO_OID))) throw new AgoraError("RefExists", `Tag ${tag} already exists`);
      });
    },

    async deleteTag(repo: Repo, tag: string): Promise<void> {
      const dir = deps.reposService.repoDir(repo);
      await deps.lock(repo.id, async () => {
        const { stdout } = await runGit(dir, ["for-each-ref", "--format=%(objectname)", `refs/tags/${tag}`]);
        const current = stdout.toString("utf8").trim();
        if (!current || !(await listRefs(dir)).tags.has(tag)) throw new AgoraError("RevisionNotFound", `Invalid rev id: ${tag}`);
        if (!(await deleteRef(dir, `refs/tags/${tag}`, current))) throw new AgoraError("Conflict", "the tag changed concurrently; try again");
      });
    },
  };

  async function checkRefName(kind: "branch" | "tag", name: string): Promise<void> {
    const bad =
      typeof name !== "string" ||
      !name ||
      name.length > 200 ||
      name.startsWith("refs/") ||
      name.startsWith("-") ||
      name === "HEAD" ||
      /^[0-9a-f]{40}$/.test(name) ||
      !(await isValidRefName(`refs/${kind === "branch" ? "heads" : "tags"}/${name}`));
    if (bad) throw new AgoraError("InvalidRefName", `Invalid ${kind} name ${JSON.stringify(String(name).slice(0, 200))}`);
  }

  return service;
}

export type CommitsService = ReturnType<typeof createCommitsService>;

/** Rejects a commit that would put a file where a folder is (or inside a file), with a clear message. */
function checkFileFolderConflicts(existing: Map<string, { type: "file" | "directory" }>, operations: CommitOperation[]): void {
  const removed = new Set<string>();
  const removedFolders: string[] = [];
  for (const op of operations) {
    if (op.kind === "deletedFile") removed.add(op.path);
    if (op.kind === "deletedFolder") removedFolders.push(op.path + "/");
  }
  const gone = (p: string) => removed.has(p) || removedFolders.some((f) => p.startsWith(f));
  const added = operations.filter((o) => o.kind === "file" || o.kind === "lfsFile").map((o) => o.path);
  const addedSet = new Set(added);
  for (const p of added) {
    const entry = existing.get(p);
    if (entry?.type === "directory" && !gone(p + "/x")) {
      const stillHasFiles = [...existing.keys()].some((k) => k.startsWith(p + "/") && existing.get(k)!.type === "file" && !gone(k));
      if (stillHasFiles) throw new AgoraError("Conflict", `cannot add the file ${p}: a folder with that name exists`);
    }
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if ((existing.get(parent)?.type === "file" && !gone(parent)) || addedSet.has(parent)) {
        throw new AgoraError("Conflict", `cannot add ${p}: ${parent} is a file`);
      }
    }
  }
}

/** Splits a byte stream into lines, refusing any line longer than `maxBytes`. */
async function* splitLines(body: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of body) {
    let chunk = typeof piece === "string" ? Buffer.from(piece) : piece;
    let newline = chunk.indexOf(0x0a);
    while (newline >= 0) {
      pending.push(chunk.subarray(0, newline));
      pendingBytes += newline;
      if (pendingBytes > maxBytes) throw new AgoraError("PayloadTooLarge", `an NDJSON line is longer than ${maxBytes} bytes`);
      yield Buffer.concat(pending).toString("utf8");
      pending = [];
      pendingBytes = 0;
      chunk = chunk.subarray(newline + 1);
      newline = chunk.indexOf(0x0a);
    }
    if (chunk.length) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes > maxBytes) throw new AgoraError("PayloadTooLarge", `an NDJSON line is longer than ${maxBytes} bytes`);
    }
  }
  if (pendingBytes) yield Buffer.concat(pending).toString("utf8");
}
