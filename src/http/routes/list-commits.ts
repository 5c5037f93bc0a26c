// GET /api/{models|datasets}/{id}/commits/{rev}[?limit=n][&expand[]=formatted] — history,
// newest first, with `Link` pagination.

import { AgoraError } from "../../errors.ts";
import { queryList, queryValue, type RepoRouteContext } from "../route-context.ts";
import { commitJson, decodeCursor, encodeCursor, nextLink } from "../wire.ts";

const MAX_PAGE = 1000;

export async function listCommitsRoute({ services, caller, match, query, reply, request, baseUrl }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  const { commit } = await services.files.resolveRevision(repo, match.rev!);
  const limitParam = queryValue(query, "limit");
  const pageSize = limitParam === undefined ? 50 : Number(limitParam);
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new AgoraError("BadRequest", "limit must be a positive integer");
  let offset: number;
  try {
    offset = decodeCursor(queryValue(query, "cursor"));
  } catch {
    throw new AgoraError("BadRequest", "invalid cursor");
  }
  const size = Math.min(pageSize, MAX_PAGE);
  const commits = await services.files.commits(repo, commit, offset, size + 1);
  if (commits.length > size) reply.header("Link", nextLink(baseUrl, request.raw.url ?? "", encodeCursor(offset + size)));
  const formatted = queryList(query, "expand", true).includes("formatted");
  return reply.send(commits.slice(0, size).map((c) => commitJson(c, formatted)));
}
