// GET /api/{models|datasets}/{id}[/revision/{rev}] — repository info at a revision:
// sha, siblings, card data, safetensors summary; `expand` restricts the fields (and answers
// `xetEnabled: false`), `blobs=true` adds sizes and LFS details to siblings.

import type { FileEntry } from "../../git/bare-repo.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import { queryList, queryValue, type RepoRouteContext } from "../route-context.ts";
import { applyExpand, repoSummaryJson, siblingJson } from "../wire.ts";

export async function repoInfoRoute({ services, caller, match, query, reply }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  const { commit } = await services.files.resolveRevision(repo, match.rev ?? "HEAD");
  const expand = queryList(query, "expand", true);
  const blobs = parseBooleanParam(queryValue(query, "blobs")) === true;
  const snapshot = await services.files.snapshot(repo, commit);
  const files = snapshot.entries.filter((e): e is FileEntry => e.type === "file");
  const info: Record<string, unknown> = {
    ...repoSummaryJson(repo),
    sha: commit,
    cardData: (await services.files.cardData(repo, commit)) ?? undefined,
    siblings: files.map((f) => siblingJson(f, blobs)),
    spaces: [],
    usedStorage: files.reduce((sum, f) => sum + (f.lfs ? f.lfs.size : f.blobSize), 0),
  };
  if (repo.type === "model" && (!expand.length || expand.includes("safetensors"))) {
    const safetensors = await services.files.safetensorsSummary(repo, commit);
    if (safetensors) info.safetensors = safetensors;
  }
  if (repo.type === "model" && (!expand.length || expand.includes("config"))) {
    const config = await readConfigSubset(services, repo, files);
    if (config) info.config = config;
  }
  if (!expand.length || expand.includes("agora")) info.agora = await services.intelligence.factsAt(repo, commit);
  return reply.send(expand.length ? applyExpand(info, expand) : info);
}

/** The `config` field: architectures and model_type from config.json, as the Hub shows them. */
async function readConfigSubset(services: RepoRouteContext["services"], repo: Parameters<RepoRouteContext["services"]["files"]["readRegularFile"]>[0], files: FileEntry[]) {
  const entry = files.find((f) => f.path === "config.json");
  if (!entry || entry.lfs || entry.blobSize > 1024 * 1024) return undefined;
  try {
    const json = JSON.parse((await services.files.readRegularFile(repo, entry)).toString("utf8")) as Record<string, unknown>;
    const subset: Record<string, unknown> = {};
    if (Array.isArray(json.architectures)) subset.architectures = json.architectures.filter((a) => typeof a === "string");
    if (typeof json.model_type === "string") subset.model_type = json.model_type;
    return subset;
  } catch {
    return undefined;
  }
}
