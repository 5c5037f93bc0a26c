// Mirror cache management: a size limit (`mirror.cacheMax`) on the LFS objects the pull-through
// mirror (services/mirror.ts) keeps, least-recently-used eviction, and pinned revisions.
//
// - Bookkeeping (db/mirror-cache-store.ts): one row per object the mirror fetched, with its size
//   and last download, written right after the object is published (`afterPublish`).
// - Downloads call `touch(oid)`, which only updates memory; the database is written at the first
//   touch of an object in a minute, and otherwise in one batch each minute, before each eviction
//   pass and at close. LRU order is therefore exact within a process and at most a minute late
//   across processes (`--workers`, CLI commands).
// - What counts against the limit: tracked objects whose blob is in the store and that no local
//   (non-mirrored) repository links. A local upload may share an oid with a mirrored object; that
//   object is then the local repository's data: never evicted and not counted.
// - Never evicted: objects linked by a local repository; objects of a pinned revision (the LFS
//   entries of the pinned commit's snapshot, read from git); objects this process served or
//   published in the last RECENT_MS (a download starting, or requests that waited for a
//   single-flight fetch and are about to read the store). A download already sending holds the
//   file open, so a delete (from another process, say) does not cut it short.
// - Eviction deletes the least recently downloaded unprotected objects until the counted bytes
//   are within the limit. When only protected objects are left the cache stays over the limit and
//   one warning is logged, until a pass ends within the limit again.
// - Crash safety: the blob is deleted first and the row after it, so a crash leaves at worst a
//   row whose blob is gone; rows are checked against the store, such rows are never counted and
//   are dropped. A blob whose row was never written (crash right after a publish, or fetched
//   before rows were kept) is adopted from lfs_links once per process.
// - An evicted object keeps its metadata (git pointers, lfs_links): the next download fetches it
//   again through the mirror's verified path. Without an upstream nothing is evicted (it could
//   not be fetched again); offline mode still enforces the limit (pin what must stay available).

import { AgoraError } from "../errors.ts";
import type { Config } from "../config/config.ts";
import type { Db, MirrorPinRow } from "../db/database.ts";
import type { ReposStore } from "../db/repos-store.ts";
import { createMirrorCacheStore, type TrackedObject } from "../db/mirror-cache-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { readSnapshot, type FileEntry } from "../git/bare-repo.ts";
import type { FilesService } from "./files.ts";
import { repoFullId, type Repo, type ReposService } from "./repos.ts";

/** Access times are written to the database at most this often per object (and batched in between). */
const TOUCH_WRITE_INTERVAL_MS = 60_000;
/** Objects served or published this recently by this process are never evicted. */
const RECENT_MS = 30_000;

export type PinnedRevision = { repo: Repo; revision: string; commit: string; pinnedAt: string; files: number; bytes: number };
export type EvictionReport = { evicted: { oid: string; size: number }[]; cachedBytes: number; limitBytes: number | null; overLimit: boolean };
export type MirrorCacheStatus = {
  limitBytes: number | null;
  cachedBytes: number;
  cachedObjects: number;
  /** Of cachedBytes, the bytes of pinned revisions' objects. */
  pinnedBytes: number;
  overLimit: boolean;
  pins: PinnedRevision[];
};

/** Where the cache's background failures are reported (services/index.ts: stderr unless the log level hides warnings). */
type Logger = { warn(message: string): void };

export function createMirrorCache(deps: {
  db: Db;
  blobs: BlobStore;
  repos: ReposStore;
  reposService: ReposService;
  files: FilesService;
  config: Config;
  clock?: () => Date;
  log: Logger;
}) {
  const clock = deps.clock ?? (() => new Date());
  const store = createMirrorCacheStore(deps.db, deps.config.upstreams.map((u) => u.url));
  const limit = deps.config.mirror.cacheMaxBytes;
  const enabled = deps.config.upstreams.length > 0;
  const { log } = deps;

  /** oid → last use by this process (ms) and the time last written to the database. */
  const uses = new Map<string, { at: number; written: number }>();
  let flushTimer: NodeJS.Timeout | undefined;
  let adopted = false;
  let warnedOverLimit = false;
  let firstPassStarted = false;
  let running: Promise<EvictionReport> | undefined;
  let queued: Promise<EvictionReport> | undefined;
  let pinnedMemo: { key: string; oids: Set<string> } | undefined;

  const iso = (ms: number) => new Date(ms).toISOString();
  const recentlyUsed = (oid: string, now: number) => {
    const use = uses.get(oid);
    return use !== undefined && now - use.at < RECENT_MS;
  };

  async function flush(): Promise<void> {
    const now = clock().getTime();
    const pending: { oid: string; at: string }[] = [];
    for (const [oid, use] of uses) {
      if (use.at > use.written) {
        pending.push({ oid, at: iso(use.at) });
        use.written = use.at;
      } else if (now - use.at >= TOUCH_WRITE_INTERVAL_MS) uses.delete(oid); // the database has it; no longer recent
    }
    await store.touched(pending);
  }

  /** Tracks blobs of mirrored repositories that have no row yet, dated by their link. */
  async function adoptUntracked(): Promise<void> {
    if (adopted) return;
    for (const link of await store.untrackedMirrorLinks()) {
      if ((await deps.blobs.stat(link.oid))?.size === link.size) await store.adopt(link.oid, link.size, link.created_at);
    }
    adopted = true;
  }

  /** Tracked objects that count against the limit (blob present, no local link), LRU first; drops rows whose blob is gone. */
  async function measure(): Promise<{ counted: TrackedObject[]; bytes: number }> {
    await flush();
    await adoptUntracked();
    const counted: TrackedObject[] = [];
    const blobless: TrackedObject[] = []; // a crash between deleting the blob and the row
    let bytes = 0;
    for (const row of await store.objects()) {
      const stat = await deps.blobs.stat(row.oid);
      if (!stat) blobless.push(row);
      else if (!row.local && stat.size === row.size) {
        counted.push(row);
        bytes += row.size;
      }
    }
    await store.forget(blobless);
    return { counted, bytes };
  }

  async function pinnedEntries(pin: MirrorPinRow): Promise<{ repo: Repo; files: FileEntry[] } | undefined> {
    const repo = await deps.repos.findById(pin.repo_id);
    if (!repo) return undefined; // the repository row went away, and its pins with it
    const snapshot = await readSnapshot(deps.reposService.repoDir(repo), pin.commit_oid);
    return { repo, files: snapshot.entries.filter((e): e is FileEntry => e.type === "file" && e.lfs !== undefined) };
  }

  /** The oids of every pinned snapshot. Throws when a pinned commit cannot be read: then nothing is evicted. */
  async function pinnedOids(): Promise<Set<string>> {
    const pins = await store.pins();
    const key = pins.map((p) => `${p.repo_id}:${p.commit_oid}`).join(",");
    if (pinnedMemo?.key === key) return pinnedMemo.oids;
    const oids = new Set<string>();
    for (const pin of pins) for (const file of (await pinnedEntries(pin))?.files ?? []) oids.add(file.lfs!.oid);
    pinnedMemo = { key, oids };
    return oids;
  }

  async function pass(): Promise<EvictionReport> {
    const report: EvictionReport = { evicted: [], cachedBytes: 0, limitBytes: limit ?? null, overLimit: false };
    if (!enabled || limit === undefined) return report;
    const { counted, bytes } = await measure();
    let total = bytes;
    const deleted: TrackedObject[] = [];
    if (total > limit) {
      let pinned = await pinnedOids();
      for (const row of counted) {
        if (total <= limit) break;
        if (pinned.has(row.oid) || recentlyUsed(row.oid, clock().getTime())) continue;
        // Checked again right before deleting: a pin, a local upload or a download may have come since.
        pinned = await pinnedOids();
        if (pinned.has(row.oid) || recentlyUsed(row.oid, clock().getTime())) continue;
        if (!(await store.evict(row.oid, () => deps.blobs.delete(row.oid)))) continue; // a local repository links it
        deleted.push(row);
        total -= row.size;
        report.evicted.push({ oid: row.oid, size: row.size });
      }
    }
    await store.forget(deleted); // after the blobs: a crash in between leaves rows without blobs, which measure() drops
    report.cachedBytes = total;
    report.overLimit = total > limit;
    if (report.overLimit && !warnedOverLimit) {
      warnedOverLimit = true;
      log.warn(`mirror cache holds ${total} bytes, over its limit of ${limit}: every object left is pinned, linked by a local repository or in use`);
    } else if (!report.overLimit) warnedOverLimit = false;
    return report;
  }

  function schedule(): void {
    cache.evictIfNeeded().catch((error: unknown) => log.warn(`mirror cache eviction failed: ${(error as Error).message}`));
  }

  const cache = {
    /** A download of `oid` is being served: note the access (memory now, database at most once a minute). Cheap. */
    touch(oid: string): void {
      if (!enabled) return;
      const now = clock().getTime();
      const use = uses.get(oid);
      if (use === undefined || now - use.written >= TOUCH_WRITE_INTERVAL_MS) {
        uses.set(oid, { at: now, written: now });
        store.touched([{ oid, at: iso(now) }]).catch((error: unknown) => log.warn(`recording a mirror cache access failed: ${(error as Error).message}`));
      } else {
        use.at = now;
        flushTimer ??= setInterval(() => void flush().catch(() => {}), TOUCH_WRITE_INTERVAL_MS).unref();
      }
      // A limit lowered since the last run takes effect at the first download, not only at the next fetch.
      if (!firstPassStarted && limit !== undefined) {
        firstPassStarted = true;
        schedule();
      }
    },

    /** An object was fetched from the upstream and published: track it, then evict in the background if over the limit. Never throws. */
    async afterPublish(oid: string, size: number): Promise<void> {
      const now = clock().getTime();
      uses.set(oid, { at: now, written: now });
      try {
        await store.published(oid, size, iso(now));
      } catch (error) {
        log.warn(`recording a mirror cache object failed: ${(error as Error).message}`);
      }
      if (limit !== undefined) {
        firstPassStarted = true;
        schedule();
      }
    },

    /**
     * Evicts least recently used objects while the cache is over its limit. Passes never overlap:
     * a call during a pass gets the next pass (one, however many calls), which sees what changed.
     */
    evictIfNeeded(): Promise<EvictionReport> {
      if (queued) return queued;
      if (!running) {
        running = pass().finally(() => (running = undefined));
        return running;
      }
      queued = running
        .catch(() => undefined)
        .then(() => {
          queued = undefined;
          return cache.evictIfNeeded();
        });
      return queued;
    },

    /**
     * Pins `rev` of a mirrored repository (the commit it resolves to now; pinning again moves it):
     * its LFS objects are never evicted. Answers the LFS files to fetch so that the pin also
     * guarantees availability while the upstream is away.
     */
    async pin(repo: Repo, rev: string): Promise<{ revision: string; commit: string; files: FileEntry[] }> {
      if (!repo.mirrored) throw new AgoraError("BadRequest", `${repoFullId(repo)} is a local repository; only mirrored repositories are cached and pinned`);
      const { commit } = await deps.files.resolveRevision(repo, rev);
      const row: MirrorPinRow = { repo_id: repo.id, revision: rev, commit_oid: commit, created_at: clock().toISOString() };
      await store.pin(row);
      return { revision: rev, commit, files: (await pinnedEntries(row))!.files };
    },

    /** Removes the pin of `rev` (as it was given, or the commit id it resolved to). Answers the pins removed. */
    async unpin(repo: Repo, rev: string): Promise<{ revision: string; commit: string }[]> {
      const pins = await store.pinsOf(repo.id);
      const matching = pins.filter((p) => p.revision === rev);
      const removed = matching.length ? matching : pins.filter((p) => p.commit_oid === rev);
      if (!removed.length) {
        const known = pins.map((p) => p.revision).join(", ");
        throw new AgoraError("NotFound", `${repoFullId(repo)}@${rev} is not pinned (${known ? `pinned revisions: ${known}` : "no revision of it is pinned"})`);
      }
      for (const pin of removed) await store.unpin(repo.id, pin.revision);
      return removed.map((p) => ({ revision: p.revision, commit: p.commit_oid }));
    },

    /** Pinned revisions, oldest pin first, with their LFS files and bytes. */
    async pins(): Promise<PinnedRevision[]> {
      const result: PinnedRevision[] = [];
      for (const pin of await store.pins()) {
        const pinned = await pinnedEntries(pin).catch(() => undefined);
        if (!pinned) continue;
        const bytes = pinned.files.reduce((sum, f) => sum + f.lfs!.size, 0);
        result.push({ repo: pinned.repo, revision: pin.revision, commit: pin.commit_oid, pinnedAt: pin.created_at, files: pinned.files.length, bytes });
      }
      return result;
    },

    /** The limit, the bytes counted against it, and the pins. */
    async status(): Promise<MirrorCacheStatus> {
      const { counted, bytes } = await measure();
      const pinned = await pinnedOids().catch(() => new Set<string>());
      const pinnedBytes = counted.filter((row) => pinned.has(row.oid)).reduce((sum, row) => sum + row.size, 0);
      return { limitBytes: limit ?? null, cachedBytes: bytes, cachedObjects: counted.length, pinnedBytes, overLimit: limit !== undefined && bytes > limit, pins: await cache.pins() };
    },

    /** Waits for a running eviction pass and writes pending access times. */
    async close(): Promise<void> {
      if (flushTimer) clearInterval(flushTimer);
      await (queued ?? running)?.catch(() => undefined);
      await flush().catch(() => {});
    },
  };
  return cache;
}

export type MirrorCache = ReturnType<typeof createMirrorCache>;
