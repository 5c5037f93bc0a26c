// Garbage collection (`agora gc`): frees the disk space of what nothing can reach any more.
//
// Git, first: each repository's unreachable objects (a deleted branch's, a refused commit's) last
// written before the cut-off (and at least MIN_WRITE_AGE_MS ago) are deleted (git/pack-objects.ts pruneUnreachable), and repository
// directories that have no database row any more (a crash between a repository's row and its
// directory, in a delete or a create) are removed once older than the cut-off.
//
// Scratch space: entries of tmp/ (commits being parsed, mirror imports and exports at work) whose
// newest file is older than that cut-off: what a crash in the middle of one left behind.
//
// LFS objects, then: an object in the blob store is garbage when
// - no repository links it (services/lfs.ts links an object to the repository it was uploaded,
//   pushed, fetched or imported into; a repository's links go with it), and
// - no pointer blob in any repository's git objects names it, reachable or not (a safety net:
//   it covers every revision a mirror pinned or serves, and data that came in without a link), and
// - it was last published before the cut-off (`olderThanMs` ago).
// Each is deleted in a database write transaction that looks at the links again, and its age is
// read again inside it: bytes published again meanwhile (an upload of the same file, between its
// publish and its link) are young and stay. Pointers written after the scan belong to commits and
// pushes, which are refused unless the object is linked, or to mirror fetches and imports, which
// link what they publish (and publish it young).
//
// Safe beside a running hub and its other processes: every delete is guarded as above, and git
// tolerates a prune beside readers and writers (the age protects objects not yet reachable).
// An object this deletes that a client then asks for is answered like any missing object.

import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Db } from "../db/database.ts";
import type { ReposStore } from "../db/repos-store.ts";
import { createLfsObjectsStore } from "../db/lfs-objects-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { lfsOidsInObjectDatabase, removeRepoDir } from "../git/bare-repo.ts";
import { pruneUnreachable } from "../git/pack-objects.ts";
import { repoFullId, type ReposService } from "./repos.ts";

export type GcOptions = {
  /** Only what was last written longer ago than this is deleted (writes in progress are younger). */
  olderThanMs: number;
  /** Report what would be deleted, delete nothing. */
  dryRun: boolean;
};

export type GcReport = {
  dryRun: boolean;
  /** LFS objects last written before this time were eligible. */
  cutoff: string;
  /** Git objects, repository directories and tmp/ entries: this time or `cutoff`, the earlier (MIN_WRITE_AGE_MS). */
  writesCutoff: string;
  lfs: {
    /** Objects in the store, and their bytes, before collection. */
    objects: number;
    bytes: number;
    removed: { oid: string; size: number }[];
    removedBytes: number;
    /** Unreferenced objects kept because they are younger than the cut-off. */
    keptRecent: number;
    /** Objects no repository links that a git pointer still names (kept). */
    keptForPointers: number;
  };
  git: {
    repositories: number;
    /** Unreachable objects deleted (a dry run counts loose ones only). */
    unreachableObjects: number;
    /** Repository directories with no database row, removed. */
    orphanDirectories: string[];
    /** Repositories whose collection failed, with why (the rest went on). */
    failures: string[];
  };
  /** Leftovers in tmp/ (a crash in the middle of a commit, an import or an export). */
  temporary: { removed: string[]; bytes: number };
};

/**
 * Git objects, repository directories and tmp/ entries younger than this stay whatever the
 * requested age: a commit, push or import in progress writes them before anything references
 * them, and deleting one under it would break (or, for git objects, corrupt) what it then
 * acknowledges. LFS objects need no such floor: an upload whose object went between its publish
 * and its link is refused, never acknowledged.
 */
export const MIN_WRITE_AGE_MS = 3_600_000;

/** A repository directory as repos.ts names it: its row id (lib/ids.ts), then `.git`. */
const REPO_DIR_NAME = /^([0-9a-f]{24})\.git$/;

export function createGarbageCollector(deps: { dataDir: string; db: Db; repos: ReposStore; reposService: ReposService; blobs: BlobStore; clock: () => Date }) {
  const objects = createLfsObjectsStore(deps.db);
  const reposRoot = path.join(deps.dataDir, "repos");
  const tmpRoot = path.join(deps.dataDir, "tmp");

  /** Removes directories under repos/ that no row names, unless something in them is younger than the cut-off. */
  async function collectOrphanDirectories(cutoff: Date, dryRun: boolean): Promise<string[]> {
    const names = (await fsp.readdir(reposRoot)).filter((name) => REPO_DIR_NAME.test(name)); // listed before the rows: a repository created meanwhile is young
    const ids = new Set((await deps.repos.all()).map((row) => row.id));
    const orphans: string[] = [];
    for (const name of names) {
      if (ids.has(REPO_DIR_NAME.exec(name)![1])) continue;
      const dir = path.join(reposRoot, name);
      // The newest file anywhere in it: a create or an import still fetching writes deep inside.
      const { newest } = await newestWrite(dir);
      if (newest === undefined || newest >= cutoff.getTime()) continue;
      if (!dryRun) removeRepoDir(dir);
      orphans.push(name);
    }
    return orphans;
  }

  /** Removes entries of tmp/ in which nothing was written since the cut-off. */
  async function collectTemporary(cutoff: Date, dryRun: boolean): Promise<GcReport["temporary"]> {
    const report: GcReport["temporary"] = { removed: [], bytes: 0 };
    const names = await fsp.readdir(tmpRoot).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    for (const name of names) {
      const entry = path.join(tmpRoot, name);
      const { newest, bytes } = await newestWrite(entry);
      if (newest === undefined || newest >= cutoff.getTime()) continue;
      if (!dryRun) await fsp.rm(entry, { recursive: true, force: true });
      report.removed.push(name);
      report.bytes += bytes;
    }
    return report;
  }

  async function collectGit(cutoff: Date, dryRun: boolean): Promise<GcReport["git"]> {
    const report: GcReport["git"] = { repositories: 0, unreachableObjects: 0, orphanDirectories: await collectOrphanDirectories(cutoff, dryRun), failures: [] };
    for (const row of await deps.repos.all()) {
      const dir = deps.reposService.repoDir(row);
      if (!fs.existsSync(dir)) continue; // deleted since the listing (or a crash mid-delete left a row without its directory)
      report.repositories++;
      try {
        report.unreachableObjects += await pruneUnreachable(dir, cutoff, dryRun);
      } catch (error) {
        if (!fs.existsSync(dir) || !(await deps.repos.findById(row.id))) continue; // deleted meanwhile (its row goes first, then its directory)
        report.failures.push(`${repoFullId(row)}: ${(error as Error).message}`);
      }
    }
    return report;
  }

  /**
   * Every oid some pointer blob of some repository names (after git's collection). A repository
   * that cannot be read stops the collection of LFS objects: what its pointers name is unknown.
   */
  async function oidsNamedByPointers(): Promise<Set<string>> {
    const named = new Set<string>();
    for (const row of await deps.repos.all()) {
      const dir = deps.reposService.repoDir(row);
      let oids: Set<string>;
      try {
        oids = await lfsOidsInObjectDatabase(dir);
      } catch (error) {
        if (!fs.existsSync(dir) || !(await deps.repos.findById(row.id))) continue; // deleted meanwhile (its row goes first, then its directory)
        throw new Error(`cannot read the git objects of ${repoFullId(row)}, so no LFS object was deleted: ${(error as Error).message}`, { cause: error });
      }
      for (const oid of oids) named.add(oid);
    }
    return named;
  }

  async function collectLfs(cutoff: Date, dryRun: boolean): Promise<GcReport["lfs"]> {
    const report: GcReport["lfs"] = { objects: 0, bytes: 0, removed: [], removedBytes: 0, keptRecent: 0, keptForPointers: 0 };
    // The pointers are read before the store is listed: an object published after this scan is
    // young, and a pointer written after it names a linked (or young) object.
    const named = await oidsNamedByPointers();
    const unreferenced: { oid: string; size: number; modifiedAt: Date }[] = [];
    let batch: { oid: string; size: number; modifiedAt: Date }[] = [];
    const sift = async () => {
      const linked = await objects.linked(batch.map((o) => o.oid));
      for (const object of batch) {
        if (linked.has(object.oid)) continue;
        if (named.has(object.oid)) report.keptForPointers++;
        else if (object.modifiedAt >= cutoff) report.keptRecent++;
        else unreferenced.push(object);
      }
      batch = [];
    };
    for await (const object of deps.blobs.list()) {
      report.objects++;
      report.bytes += object.size;
      batch.push(object);
      if (batch.length >= 1000) await sift();
    }
    await sift();
    for (const object of unreferenced) {
      const deleted = dryRun || (await objects.deleteIfUnlinked(object.oid, async () => {
        const now = await deps.blobs.stat(object.oid);
        // Gone already (another collection, the mirror cache's eviction), or published again since the listing.
        if (!now || now.modifiedAt >= cutoff) return false;
        await deps.blobs.delete(object.oid);
        return true;
      }));
      if (!deleted) continue;
      report.removed.push({ oid: object.oid, size: object.size });
      report.removedBytes += object.size;
    }
    return report;
  }

  return {
    /** Runs one collection: git first, so that LFS objects only unreachable pointers named go in the same run. */
    async collect(options: GcOptions): Promise<GcReport> {
      const now = deps.clock().getTime();
      const cutoff = new Date(now - options.olderThanMs);
      const writesCutoff = new Date(now - Math.max(options.olderThanMs, MIN_WRITE_AGE_MS));
      const git = await collectGit(writesCutoff, options.dryRun);
      const lfs = await collectLfs(cutoff, options.dryRun);
      const temporary = await collectTemporary(writesCutoff, options.dryRun);
      return { dryRun: options.dryRun, cutoff: cutoff.toISOString(), writesCutoff: writesCutoff.toISOString(), lfs, git, temporary };
    },
  };
}

export type GarbageCollector = ReturnType<typeof createGarbageCollector>;

/** The latest modification time (ms) of a file or of anything in a directory tree, and its bytes; undefined if it vanished. */
async function newestWrite(target: string): Promise<{ newest: number | undefined; bytes: number }> {
  const stat = await fsp.lstat(target).catch(() => undefined);
  if (!stat) return { newest: undefined, bytes: 0 };
  let newest = stat.mtimeMs;
  let bytes = stat.isFile() ? stat.size : 0;
  if (stat.isDirectory()) {
    for (const name of await fsp.readdir(target).catch(() => [])) {
      const inner = await newestWrite(path.join(target, name));
      if (inner.newest !== undefined) newest = Math.max(newest, inner.newest);
      bytes += inner.bytes;
    }
  }
  return { newest, bytes };
}
