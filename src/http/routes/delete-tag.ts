// DELETE /api/{models|datasets}/{id}/tag/{tag}

import type { RepoRouteContext } from "../route-context.ts";

export async function deleteTagRoute({ services, caller, match, reply }: RepoRouteContext) {
  const repo = await services.repos.findWritable(caller, match.repoType, match.repoId);
  await services.commits.deleteTag(repo, match.rev!);
  return reply.send({});
}
