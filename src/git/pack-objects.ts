// Keeps a repository's objects packed (createObjectPacker), and deletes its unreachable ones on
// request (pruneUnreachable, for `agora gc`).
//
// Why: each API commit writes its blobs, trees and commit as loose objects (one file each), a small
// push or mirror fetch is unpacked into loose objects too, and Agora's repositories have gc.auto
// off (a `git gc` started by git inside a request would run for as long as it likes). Every clone
// and fetch pays for loose objects: with 3,000 one-file commits (9,000 loose objects) a clone
// through Agora took 0.72–1.14 s, and 0.15 s once they were packed (BENCHMARKS.md). So after each
// write `afterWrite` looks at the counts, off the request, and:
// - packs the reachable loose objects into a new pack (`git repack -d`) once `looseLimit` more
//   have appeared since the last look that packed (unreachable ones — a refused commit's — stay
//   loose and would otherwise trigger a repack after every write);
// - folds every pack into one (`git repack -A -d`) once there are `packLimit` packs.
//
// Safe beside readers and writers: git writes the new pack (fsynced, core.fsync) before it removes
// the loose objects or packs it replaces, and readers that miss an object look at the packs again.
// `-A` (not `-a`) keeps unreachable packed objects as loose ones: a commit being written may be
// about to reference an object that only an old pack holds. One run per repository at a time; a
// write during a run is looked at by the next write. Failures go to `onError`; nothing waits.

import { runGit } from "./run-git.ts";

export interface ObjectPacker {
  /** Call after objects were written into the repository at `dir`; returns at once. */
  afterWrite(dir: string): void;
  /** Resolves once no run is in progress (for shutdown and tests). */
  idle(): Promise<void>;
}

export function createObjectPacker(options: { looseLimit: number; packLimit?: number; onError: (dir: string, error: unknown) => void }): ObjectPacker {
  const packLimit = options.packLimit ?? 20;
  const running = new Map<string, Promise<void>>();
  /** Loose objects left after the last repack of each repository (the unreachable ones). */
  const leftLoose = new Map<string, number>();

  async function run(dir: string): Promise<void> {
    const counts = await countObjects(dir);
    if (counts.packs >= packLimit) await runGit(dir, ["repack", "-A", "-d", "-q"]);
    else if (counts.loose >= (leftLoose.get(dir) ?? 0) + options.looseLimit) await runGit(dir, ["repack", "-d", "-q"]);
    else return;
    leftLoose.set(dir, (await countObjects(dir)).loose);
  }

  return {
    afterWrite(dir) {
      if (options.looseLimit <= 0 || running.has(dir)) return;
      const job = run(dir)
        .then(() => undefined, (error: unknown) => options.onError(dir, error))
        .finally(() => running.delete(dir));
      running.set(dir, job);
    },
    async idle() {
      while (running.size > 0) await Promise.all(running.values());
    },
  };
}

/** Loose objects and packs of a repository, from `git count-objects -v`. */
export async function countObjects(dir: string): Promise<{ loose: number; packs: number }> {
  const { stdout } = await runGit(dir, ["count-objects", "-v"]);
  const fields = new Map(stdout.toString("utf8").split("\n").map((line) => line.split(": ") as [string, string]));
  return { loose: Number(fields.get("count") ?? 0), packs: Number(fields.get("packs") ?? 0) };
}

/**
 * Deletes a repository's unreachable git objects last written before `before` (for `agora gc`),
 * as `git gc` would: `git repack -A -d` folds the packs into one and turns the unreachable objects
 * they held into loose objects carrying their pack's time, then `git prune --expire` deletes the
 * unreachable loose objects older than `before`. The age is the safety margin for writes in
 * progress: a commit being built writes objects that are unreachable until its ref moves, and git
 * refreshes the time of an object it is asked to write again. With `dryRun` nothing is changed and
 * only loose objects are counted. Answers the number of objects deleted (or that would be).
 */
export async function pruneUnreachable(dir: string, before: Date, dryRun: boolean): Promise<number> {
  const expire = `--expire=${before.toISOString()}`;
  if (dryRun) return countLines((await runGit(dir, ["prune", "-n", expire])).stdout);
  if ((await countObjects(dir)).packs > 0) await runGit(dir, ["repack", "-A", "-d", "-q"]);
  return countLines((await runGit(dir, ["prune", "-v", expire])).stdout);
}

const countLines = (stdout: Buffer) => stdout.toString("utf8").split("\n").filter(Boolean).length;
