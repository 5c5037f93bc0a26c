// DELETE /api/{models|datasets}/{id}/branch/{branch}

import type { RepoRouteContext } from "../route-context.ts";

export async function deleteBranchRoute({ services, caller, match, reply }: RepoRouteContext) {
  const repo = await services.repos.findWritable(caller, match.repoType, match.repoId);
  await services.commits.deleteBranch(repo, match.rev!);
  return reply.send({});
}
