// POST /api/{models|datasets}/{id}/tag/{revision} — body {tag, message?}; tags `revision`.

import type { RepoRouteContext } from "../route-context.ts";

export async function createTagRoute({ services, caller, match, request, reply }: RepoRouteContext) {
  const repo = await services.repos.findWritable(caller, match.repoType, match.repoId);
  const body = (request.body ?? {}) as Record<string, unknown>;
  await services.commits.createTag(caller!, repo, match.rev!, body.tag, body.message);
  return reply.send({});
}
