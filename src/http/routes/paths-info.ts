// POST /api/{models|datasets}/{id}/paths-info/{rev} — entries for the given paths; missing
// paths are silently left out. Python sends a form body, JS a JSON body: both are accepted.

import { AgoraError } from "../../errors.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import type { RepoRouteContext } from "../route-context.ts";
import { treeEntryJson } from "../wire.ts";

export async function pathsInfoRoute({ services, caller, match, request, reply }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  const { commit } = await services.files.resolveRevision(repo, match.rev!);
  const body = (request.body ?? {}) as { paths?: unknown; expand?: unknown };
  const paths = body.paths === undefined ? [] : Array.isArray(body.paths) ? body.paths : [body.paths];
  if (!paths.every((p) => typeof p === "string")) throw new AgoraError("BadRequest", "`paths` must be a list of strings");
  if (paths.length > 10_000) throw new AgoraError("PayloadTooLarge", "at most 10000 paths per request");
  const expand = parseBooleanParam(body.expand) === true;
  const snapshot = await services.files.snapshot(repo, commit);
  const found = [...new Set(paths as string[])].map((p) => snapshot.byPath.get(p.replace(/\/+$/, ""))).filter((e) => e !== undefined);
  const lastCommits = expand ? await services.files.lastCommits(repo, commit, found.map((e) => e.path)) : undefined;
  reply.header("X-Repo-Commit", commit);
  return reply.send(found.map((e) => treeEntryJson(e, lastCommits?.get(e.path))));
}
