// `agora mirror status` and `agora mirror prefetch REPO[@REV] [--include GLOB]…`: the pull-through
// mirror's repositories and cache, and fetching a repository and its LFS objects ahead of use
// through the same verified path downloads take (services/mirror.ts).

import { AgoraError } from "../errors.ts";
import { globMatches } from "../config/mirror.ts";
import type { FileEntry } from "../git/bare-repo.ts";
import type { Services } from "../services/index.ts";
import { repoFullId } from "../services/repos.ts";
import { cacheStatusJson, cacheStatusLines } from "./mirror-cache.ts";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export async function mirrorStatus(services: Services, out: (line: string) => void, options: { json: boolean }): Promise<number> {
  const repos = await services.mirror.status();
  const health = await services.mirror.health();
  const cache = await services.mirrorCache.status();
  if (options.json) {
    out(
      JSON.stringify(
        {
          upstreams: health,
          offline: services.config.mirror.offline,
          cache: cacheStatusJson(cache),
          repos: repos.map(({ repo, cachedBytes, cachedObjects }) => ({
            id: repoFullId(repo),
            type: repo.type,
            upstream: repo.upstream_url,
            gated: repo.gated === "false" ? false : repo.gated,
            refsFetchedAt: repo.refs_fetched_at,
            cachedObjects,
            cachedBytes,
          })),
        },
        null,
        2,
      ),
    );
    return 0;
  }
  if (!health.length) out("no upstream configured (set --upstream, $AGORA_UPSTREAM or `upstreams` in the configuration file)");
  for (const h of health) out(`upstream ${h.url}: ${h.ok ? "up" : "DOWN"} (${h.status ?? h.error ?? "no answer"}, ${h.ms} ms)`);
  if (services.config.mirror.offline) out("offline mode: upstreams are never contacted");
  out(["REPO", "UPSTREAM", "REFS FETCHED", "OBJECTS", "CACHED"].join("\t"));
  let total = 0;
  for (const { repo, cachedBytes, cachedObjects } of repos) {
    total += cachedBytes;
    out([`${repo.type === "dataset" ? "datasets/" : ""}${repoFullId(repo)}`, repo.upstream_url ?? "", repo.refs_fetched_at ?? "never", String(cachedObjects), formatBytes(cachedBytes)].join("\t"));
  }
  out(`${repos.length} mirrored repositories, ${formatBytes(total)} of LFS objects cached`);
  for (const line of cacheStatusLines(cache)) out(line);
  return 0;
}

export async function mirrorPrefetch(
  services: Services,
  target: { type: "model" | "dataset"; id: string; rev: string },
  includes: string[],
  out: (line: string) => void,
): Promise<number> {
  if (!services.mirror.enabled) throw new AgoraError("BadRequest", "no upstream configured (set --upstream, $AGORA_UPSTREAM or `upstreams` in the configuration file)");
  const repo = await services.mirror.ensure(target.type, target.id);
  if (!repo) throw new AgoraError("RepoNotFound", `${target.id} was not found on any upstream (or the mirror policy does not allow it)`);
  if (!repo.mirrored) throw new AgoraError("BadRequest", `${repoFullId(repo)} is a local repository, not a mirror`);
  const warning = await services.mirror.freshen(repo, target.rev, true);
  if (warning) out(`warning: ${warning}`);
  const { commit } = await services.files.resolveRevision(repo, target.rev);
  const snapshot = await services.files.snapshot(repo, commit);
  const files = snapshot.entries.filter((e): e is FileEntry => e.type === "file" && e.lfs !== undefined);
  const wanted = includes.length ? files.filter((f) => includes.some((g) => globMatches(g, f.path))) : files;
  out(`${repoFullId(repo)} at ${commit}: ${wanted.length} LFS files to fetch`);
  let failed = 0;
  for (const file of wanted) {
    try {
      const result = await services.mirror.fetchObject(repo, commit, file.path, file.lfs!);
      out(`${result === "cached" ? "cached " : "fetched"}  ${file.path} (${formatBytes(file.lfs!.size)})`);
    } catch (error) {
      failed++;
      out(`FAILED   ${file.path}: ${(error as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}
