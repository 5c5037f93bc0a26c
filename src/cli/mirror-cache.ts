// `agora mirror pin REPO[@REV]` and `agora mirror unpin REPO[@REV]`, and the cache part of
// `agora mirror status`: the mirror cache's limit, what it holds, and the pinned revisions
// (services/mirror-cache.ts).
//
// A pin guarantees that a revision is available while the upstream is away: it records the pin
// first (so nothing of it is evicted from then on), then fetches every LFS file of the revision
// through the same verified path downloads take, as `agora mirror prefetch` does.

import { AgoraError } from "../errors.ts";
import type { Services } from "../services/index.ts";
import type { EvictionReport, MirrorCacheStatus } from "../services/mirror-cache.ts";
import { repoFullId, type Repo } from "../services/repos.ts";
import { formatBytes } from "./mirror.ts";

type Target = { type: "model" | "dataset"; id: string; rev: string };

const label = (repo: Repo) => `${repo.type === "dataset" ? "datasets/" : ""}${repoFullId(repo)}`;

async function mirroredRepo(services: Services, target: Target, create: boolean): Promise<Repo> {
  if (!services.mirror.enabled) throw new AgoraError("BadRequest", "no upstream configured (set --upstream, $AGORA_UPSTREAM or `upstreams` in the configuration file)");
  const repo = create ? await services.mirror.ensure(target.type, target.id) : await services.repos.find(target.type, target.id);
  if (!repo) throw new AgoraError("RepoNotFound", `${target.id} is not ${create ? "on any upstream (or the mirror policy does not allow it)" : "mirrored here"}`);
  if (!repo.mirrored) throw new AgoraError("BadRequest", `${label(repo)} is a local repository, not a mirror`);
  return repo;
}

function reportEviction(report: EvictionReport, out: (line: string) => void): void {
  const freed = report.evicted.reduce((sum, e) => sum + e.size, 0);
  if (report.evicted.length) out(`evicted ${report.evicted.length} least recently used objects (${formatBytes(freed)}) to stay within the cache limit of ${formatBytes(report.limitBytes!)}`);
  if (report.overLimit) {
    out(`warning: the mirror cache holds ${formatBytes(report.cachedBytes)}, over its limit of ${formatBytes(report.limitBytes!)}: everything left is pinned, shared with a local repository or in use`);
  }
}

export async function mirrorPin(services: Services, target: Target, out: (line: string) => void): Promise<number> {
  const repo = await mirroredRepo(services, target, true);
  const warning = await services.mirror.freshen(repo, target.rev, true);
  if (warning) out(`warning: ${warning}`);
  const pin = await services.mirrorCache.pin(repo, target.rev);
  const bytes = pin.files.reduce((sum, f) => sum + f.lfs!.size, 0);
  out(`pinned ${label(repo)}@${pin.revision} at ${pin.commit}: ${pin.files.length} LFS files (${formatBytes(bytes)}) are never evicted`);
  let failed = 0;
  for (const file of pin.files) {
    try {
      const result = await services.mirror.fetchObject(repo, pin.commit, file.path, file.lfs!);
      out(`${result === "cached" ? "cached " : "fetched"}  ${file.path} (${formatBytes(file.lfs!.size)})`);
    } catch (error) {
      failed++;
      out(`FAILED   ${file.path}: ${(error as Error).message}`);
    }
  }
  reportEviction(await services.mirrorCache.evictIfNeeded(), out);
  if (failed) {
    out(`${failed} of ${pin.files.length} files could not be fetched; the pin stays: run the command again to fetch them`);
    return 1;
  }
  return 0;
}

export async function mirrorUnpin(services: Services, target: Target, out: (line: string) => void): Promise<number> {
  const repo = await mirroredRepo(services, target, false);
  for (const pin of await services.mirrorCache.unpin(repo, target.rev)) out(`unpinned ${label(repo)}@${pin.revision} (${pin.commit}): its objects may now be evicted`);
  reportEviction(await services.mirrorCache.evictIfNeeded(), out);
  return 0;
}

export function cacheStatusJson(status: MirrorCacheStatus) {
  return {
    limitBytes: status.limitBytes,
    cachedBytes: status.cachedBytes,
    cachedObjects: status.cachedObjects,
    pinnedBytes: status.pinnedBytes,
    overLimit: status.overLimit,
    pins: status.pins.map((p) => ({ id: repoFullId(p.repo), type: p.repo.type, revision: p.revision, commit: p.commit, pinnedAt: p.pinnedAt, files: p.files, bytes: p.bytes })),
  };
}

export function cacheStatusLines(status: MirrorCacheStatus): string[] {
  const limit = status.limitBytes === null ? "no limit" : `limit ${formatBytes(status.limitBytes)}`;
  const lines = [`cache: ${formatBytes(status.cachedBytes)} in ${status.cachedObjects} objects (${limit}; ${formatBytes(status.pinnedBytes)} pinned)${status.overLimit ? " OVER THE LIMIT: everything left is pinned, shared or in use" : ""}`];
  for (const p of status.pins) lines.push(`pinned ${label(p.repo)}@${p.revision}\t${p.commit}\t${p.files} LFS files, ${formatBytes(p.bytes)}\tsince ${p.pinnedAt}`);
  return lines;
}
