// GET /api/{models|datasets}/{id}/refs[?include_prs=1] — branches, converts and tags are
// always present; pullRequests only when asked.

import { parseBooleanParam } from "../../lib/booleans.ts";
import { queryValue, type RepoRouteContext } from "../route-context.ts";

export async function listRefsRoute({ services, caller, match, query, reply }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  const refs = await services.files.refs(repo);
  const body: Record<string, unknown> = {
    branches: [...refs.branches].map(([name, target]) => ({ name, ref: `refs/heads/${name}`, targetCommit: target })),
    converts: [...refs.converts].map(([name, target]) => ({ name, ref: `refs/convert/${name}`, targetCommit: target })),
    tags: [...refs.tags].map(([name, target]) => ({ name, ref: `refs/tags/${name}`, targetCommit: target })),
  };
  if (parseBooleanParam(queryValue(query, "include_prs"))) {
    body.pullRequests = [...refs.pullRequests].map(([ref, target]) => ({ name: ref, ref, targetCommit: target }));
  }
  return reply.send(body);
}
