// GET /api/{models|datasets}/{id}/tree/{rev}[/{path}] — folder listing, optionally recursive,
// optionally with each entry's last commit (expand); `Link` pagination with a `cursor`.
// A missing folder is EntryNotFound (never RepoNotFound: transformers treats that as fatal).

import { AgoraError } from "../../errors.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import { checkRepoPath } from "../../lib/repo-paths.ts";
import { queryValue, type RepoRouteContext } from "../route-context.ts";
import { decodeCursor, encodeCursor, nextLink, treeEntryJson } from "../wire.ts";

const PAGE = 1000;
const PAGE_EXPANDED = 100;

export async function listTreeRoute({ services, caller, match, query, reply, request, baseUrl }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  const { commit } = await services.files.resolveRevision(repo, match.rev!);
  const folder = (match.path ?? "").replace(/\/+$/, "");
  if (folder && !checkRepoPath(folder).ok) throw new AgoraError("EntryNotFound", `Entry not found: ${folder}`, { headers: { "X-Repo-Commit": commit } });
  const recursive = parseBooleanParam(queryValue(query, "recursive")) === true;
  const expand = parseBooleanParam(queryValue(query, "expand")) === true;
  const limitParam = queryValue(query, "limit");
  const pageSize = Math.min(Number(limitParam) > 0 ? Math.floor(Number(limitParam)) : Infinity, expand ? PAGE_EXPANDED : PAGE);
  let offset: number;
  try {
    offset = decodeCursor(queryValue(query, "cursor"));
  } catch {
    throw new AgoraError("BadRequest", "invalid cursor");
  }
  const entries = await services.files.listFolder(repo, commit, folder, recursive);
  const page = entries.slice(offset, offset + pageSize);
  const lastCommits = expand ? await services.files.lastCommits(repo, commit, page.map((e) => e.path)) : undefined;
  if (offset + pageSize < entries.length) reply.header("Link", nextLink(baseUrl, request.raw.url ?? "", encodeCursor(offset + pageSize)));
  reply.header("X-Repo-Commit", commit);
  return reply.send(page.map((e) => treeEntryJson(e, lastCommits?.get(e.path))));
}
