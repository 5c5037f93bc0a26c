// Reading repositories: revisions to commits, commits to file lists, single entries for
// downloads, folder listings, history, and metadata derived from files (card data, safetensors).

import { Readable, Transform } from "node:stream";
import { AgoraError } from "../errors.ts";
import type { ReposStore } from "../db/repos-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import {
  COMMIT_OID,
  commitExists,
  expandShortCommit,
  lastCommitsFor,
  listCommits,
  listRefs,
  readBlob,
  readSnapshot,
  streamBlob,
  type CommitInfo,
  type FileEntry,
  type Refs,
  type Snapshot,
  type TreeEntry,
} from "../git/bare-repo.ts";
import { parseCardFrontMatter } from "../models/card-data.ts";
import pLimit from "p-limit";
import { elementsPerDtype, readSafetensorsHeader, type RangeReader, type SafetensorsSummary } from "../models/safetensors.ts";
import type { Repo, ReposService } from "./repos.ts";

export type ResolvedRevision = { commit: string; refName?: string };

/** Bytes [start, end] (inclusive) of a mirrored repository's LFS object, read from its upstream by a ranged request. */
export type RemoteRangeReader = (repo: Repo, commit: string, file: FileEntry, start: number, end: number) => Promise<Buffer>;

/** The checkpoint counts of a commit; `upstreamFailed`: unknown for now because an upstream read failed (worth retrying). */
export type CheckpointSummary = { summary: SafetensorsSummary | undefined; upstreamFailed: boolean };

/** At most this many safetensors headers of one commit are read from an upstream (sharded checkpoints have up to ~200 shards). */
const MAX_REMOTE_HEADERS = 256;
/** Upstream header reads of one commit run this many at a time. */
const REMOTE_HEADER_CONCURRENCY = 8;
/** The first upstream read of a file: the 8-byte length and, for most files, the whole header in one round trip. */
const FIRST_REMOTE_READ = 64 * 1024;

export function createFilesService(deps: { reposService: ReposService; repos: ReposStore; blobs: BlobStore; clock?: () => Date }) {
  const clock = deps.clock ?? (() => new Date());
  const dirOf = (repo: Repo) => deps.reposService.repoDir(repo);

  function revisionNotFound(rev: string): AgoraError {
    return new AgoraError("RevisionNotFound", `Invalid rev id: ${rev}`);
  }

  /**
   * Revision → commit: `HEAD` (default branch), branch, tag, `refs/heads/x`, `refs/tags/x`,
   * `refs/pr/N`, `refs/convert/x`, full or abbreviated commit id.
   */
  async function resolveRevision(repo: Repo, rev: string): Promise<ResolvedRevision> {
    if (typeof rev !== "string" || rev.length === 0 || rev.length > 255 || /[\u0000-\u001f\u007f]/.test(rev)) throw revisionNotFound(String(rev).slice(0, 100));
    const dir = dirOf(repo);
    const refs = await listRefs(dir);
    const name = rev === "HEAD" ? "main" : rev;
    const fromRefs = lookupRef(refs, name);
    if (fromRefs) return fromRefs;
    if (COMMIT_OID.test(rev) && (await commitExists(dir, rev))) return { commit: rev };
    if (/^[0-9a-f]{7,39}$/.test(rev)) {
      const full = await expandShortCommit(dir, rev);
      if (full) return { commit: full };
    }
    throw revisionNotFound(rev);
  }

  function lookupRef(refs: Refs, name: string): ResolvedRevision | undefined {
    if (refs.branches.has(name)) return { commit: refs.branches.get(name)!, refName: `refs/heads/${name}` };
    if (refs.tags.has(name)) return { commit: refs.tags.get(name)!, refName: `refs/tags/${name}` };
    if (name.startsWith("refs/heads/") && refs.branches.has(name.slice(11))) return { commit: refs.branches.get(name.slice(11))!, refName: name };
    if (name.startsWith("refs/tags/") && refs.tags.has(name.slice(10))) return { commit: refs.tags.get(name.slice(10))!, refName: name };
    if (refs.pullRequests.has(name)) return { commit: refs.pullRequests.get(name)!, refName: name };
    if (name.startsWith("refs/convert/") && refs.converts.has(name.slice(13))) return { commit: refs.converts.get(name.slice(13))!, refName: name };
    return undefined;
  }

  const service = {
    resolveRevision,
    refs: (repo: Repo) => listRefs(dirOf(repo)),
    snapshot: (repo: Repo, commit: string): Promise<Snapshot> => readSnapshot(dirOf(repo), commit),

    /** The file at `path`, or EntryNotFound carrying X-Repo-Commit as the clients need. */
    async fileEntry(repo: Repo, commit: string, path: string): Promise<FileEntry> {
      const snapshot = await readSnapshot(dirOf(repo), commit);
      const entry = snapshot.byPath.get(path);
      if (!entry || entry.type !== "file") throw new AgoraError("EntryNotFound", "Entry not found", { headers: { "X-Repo-Commit": commit } });
      return entry;
    },

    /** Size of the content a download serves (the LFS object's, not the pointer's). */
    contentSize(entry: FileEntry): number {
      return entry.lfs ? entry.lfs.size : entry.blobSize;
    },

    /** The bytes of a file, `end` inclusive. LFS content comes from the blob store. */
    async openContent(repo: Repo, entry: FileEntry, range?: { start: number; end: number }): Promise<Readable> {
      if (entry.lfs) {
        const stat = await deps.blobs.stat(entry.lfs.oid);
        if (!stat || stat.size !== entry.lfs.size) throw new AgoraError("Internal", `LFS object ${entry.lfs.oid} of ${entry.path} is missing from the store`);
        return deps.blobs.createReadStream(entry.lfs.oid, range);
      }
      const stream = streamBlob(dirOf(repo), entry.oid);
      return range ? stream.pipe(sliceStream(range.start, range.end)) : stream;
    },

    /** The local file holding an LFS file's bytes, when the blob store keeps objects as files (checked as openContent does). */
    async lfsLocalPath(entry: FileEntry): Promise<string | undefined> {
      if (!entry.lfs || !deps.blobs.localPath) return undefined;
      const stat = await deps.blobs.stat(entry.lfs.oid);
      if (!stat || stat.size !== entry.lfs.size) throw new AgoraError("Internal", `LFS object ${entry.lfs.oid} of ${entry.path} is missing from the store`);
      return deps.blobs.localPath(entry.lfs.oid);
    },

    readRegularFile: (repo: Repo, entry: FileEntry) => readBlob(dirOf(repo), entry.oid),

    /** Entries directly under (or, recursive, anywhere under) `folder` ("" = root). */
    async listFolder(repo: Repo, commit: string, folder: string, recursive: boolean): Promise<TreeEntry[]> {
      const snapshot = await readSnapshot(dirOf(repo), commit);
      if (folder) {
        const entry = snapshot.byPath.get(folder);
        if (!entry) throw new AgoraError("EntryNotFound", `Entry not found: ${folder}`, { headers: { "X-Repo-Commit": commit } });
        if (entry.type === "file") return [entry];
      }
      const prefix = folder ? `${folder}/` : "";
      return snapshot.entries.filter((e) => {
        if (!e.path.startsWith(prefix)) return false;
        return recursive || !e.path.slice(prefix.length).includes("/");
      });
    },

    lastCommits: (repo: Repo, commit: string, paths: string[]): Promise<Map<string, CommitInfo>> => lastCommitsFor(dirOf(repo), commit, paths),
    commits: (repo: Repo, commit: string, skip: number, limit: number) => listCommits(dirOf(repo), commit, skip, limit),

    /** Card data of README.md at a commit: null when absent or malformed. */
    async cardData(repo: Repo, commit: string): Promise<Record<string, unknown> | null> {
      const snapshot = await readSnapshot(dirOf(repo), commit);
      const readme = snapshot.byPath.get("README.md");
      if (!readme || readme.type !== "file" || readme.lfs || readme.blobSize > 4 * 1024 * 1024) return null;
      const parsed = parseCardFrontMatter((await readBlob(dirOf(repo), readme.oid)).toString("utf8"));
      return parsed.ok ? parsed.data : null;
    },

    /** Parameter counts per dtype over every .safetensors file of the commit, from their headers. */
    async safetensorsSummary(repo: Repo, commit: string): Promise<SafetensorsSummary | undefined> {
      return (await checkpointSummary(repo, commit)).summary;
    },

    checkpointSummary,

    /** Lets the headers of a mirrored repository's objects that are not in the store be read from the upstream (set at wiring time). */
    setRemoteRangeReader(reader: RemoteRangeReader) {
      readRemoteRange = reader;
    },

    /**
     * Counts a download by the Hub's rule: a GET or HEAD of the repository's query file
     * (`config.json` for models; every `.gguf` file in GGUF repositories; for datasets, any
     * file but .gitattributes and README.md). Ranged reads that do not start at byte 0 are
     * parts of a download already counted.
     */
    async countDownload(repo: Repo, commit: string, path: string, rangeStart: number): Promise<void> {
      if (rangeStart !== 0) return;
      let counts: boolean;
      if (repo.type === "dataset") counts = path !== ".gitattributes" && path !== "README.md";
      else if (path.endsWith(".gguf")) counts = true;
      else if (path === "config.json") counts = true;
      else counts = false;
      if (counts) await deps.repos.countDownload(repo.id, clock().toISOString().slice(0, 10));
    },
  };

  let readRemoteRange: RemoteRangeReader | undefined;

  /**
   * Sums the headers of every .safetensors file of the commit. Headers of objects in the store are
   * read locally; those of a mirrored repository's objects not fetched yet are read from the
   * upstream by byte ranges (never whole files), a few at a time.
   */
  async function checkpointSummary(repo: Repo, commit: string): Promise<CheckpointSummary> {
    const snapshot = await readSnapshot(dirOf(repo), commit);
    const files = snapshot.entries.filter((e): e is FileEntry => e.type === "file" && e.path.endsWith(".safetensors"));
    const unknown: CheckpointSummary = { summary: undefined, upstreamFailed: false };
    if (!files.length) return unknown;
    const summaries: (SafetensorsSummary | null | undefined)[] = new Array(files.length);
    const remote: number[] = [];
    for (const [i, file] of files.entries()) {
      if (!file.lfs) return unknown; // a header not stored through LFS is not one we read
      if (safetensorsCache.has(file.lfs.oid)) summaries[i] = safetensorsCache.get(file.lfs.oid);
      else if ((await deps.blobs.stat(file.lfs.oid))?.size === file.lfs.size) summaries[i] = await readSummary(file.lfs, (start, end) => readRange(deps.blobs, file.lfs!.oid, start, end));
      else remote.push(i);
    }
    if (remote.length) {
      const reader = readRemoteRange;
      if (!repo.mirrored || !reader || remote.length > MAX_REMOTE_HEADERS) return unknown;
      const limit = pLimit(REMOTE_HEADER_CONCURRENCY);
      let failed = false;
      await Promise.all(
        remote.map((i) =>
          limit(async () => {
            if (failed) return; // one failure is enough to know the upstream cannot answer now
            try {
              summaries[i] = await readRemoteSummary(repo, commit, files[i], reader);
            } catch {
              failed = true;
            }
          }),
        ),
      );
      if (failed) return { summary: undefined, upstreamFailed: true };
    }
    const total: SafetensorsSummary = { parameters: {}, total: 0 };
    for (const summary of summaries) {
      if (!summary) return unknown; // a broken header: report nothing rather than a wrong count
      for (const [dtype, n] of Object.entries(summary.parameters)) total.parameters[dtype] = (total.parameters[dtype] ?? 0) + n;
      total.total += summary.total;
    }
    return { summary: total, upstreamFailed: false };
  }

  const remoteReads = new Map<string, Promise<SafetensorsSummary | null>>();
  /** One header from the upstream, a fetch per object at a time (see readSummary). */
  function readRemoteSummary(repo: Repo, commit: string, file: FileEntry, reader: RemoteRangeReader): Promise<SafetensorsSummary | null> {
    const { oid, size } = file.lfs!;
    let running = remoteReads.get(oid);
    if (!running) {
      running = readSummary(file.lfs!, prefetchingReader(size, (start, end) => reader(repo, commit, file, start, end))).finally(() => remoteReads.delete(oid));
      remoteReads.set(oid, running);
    }
    return running;
  }

  const safetensorsCache = new Map<string, SafetensorsSummary | null>();
  /**
   * The counts of one safetensors object read through `read` (the store's bytes or the upstream's),
   * cached per oid; null for a broken header (cached too: objects are immutable). A failing reader
   * throws and caches nothing, so a store or upstream that cannot answer now is asked again later.
   */
  async function readSummary(lfs: { oid: string; size: number }, read: RangeReader): Promise<SafetensorsSummary | null> {
    let readError: unknown;
    const header = await readSafetensorsHeader(async (start, end) => {
      try {
        return await read(start, end);
      } catch (error) {
        readError = error;
        throw error;
      }
    }, lfs.size);
    if (readError !== undefined) throw readError;
    const summary = header.ok ? elementsPerDtype(header.tensors) : null;
    safetensorsCache.set(lfs.oid, summary);
    if (safetensorsCache.size > 10_000) safetensorsCache.delete(safetensorsCache.keys().next().value!);
    return summary;
  }

  return service;
}

export type FilesService = ReturnType<typeof createFilesService>;

/**
 * A range reader over a remote file whose first read (the 8-byte length) fetches up to
 * FIRST_REMOTE_READ bytes, so a header that fits there costs one request instead of two.
 */
function prefetchingReader(size: number, read: (start: number, end: number) => Promise<Buffer>): RangeReader {
  let head: Buffer | undefined;
  return async (start, end) => {
    if (!head && start === 0) head = await read(0, Math.min(size, FIRST_REMOTE_READ) - 1);
    if (!head || start >= head.length) return read(start, end);
    if (end < head.length) return head.subarray(start, end + 1);
    return Buffer.concat([head.subarray(start), await read(head.length, end)]);
  };
}

async function readRange(blobs: BlobStore, oid: string, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of blobs.createReadStream(oid, { start, end })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Passes through bytes [start, end] (inclusive) of a stream and ends after them. */
export function sliceStream(start: number, end: number): Transform {
  let position = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const chunkStart = position;
      position += chunk.length;
      const from = Math.max(start - chunkStart, 0);
      const to = Math.min(end + 1 - chunkStart, chunk.length);
      if (to > from) this.push(chunk.subarray(from, to));
      callback();
    },
  });
}

export { Readable };
