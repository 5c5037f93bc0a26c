// POST /api/{models|datasets}/{id}/branch/{branch} — {startingPoint?, emptyBranch?, overwrite?}; 409 if it exists.

import type { RepoRouteContext } from "../route-context.ts";

export async function createBranchRoute({ services, caller, match, request, reply }: RepoRouteContext) {
  const repo = await services.repos.findWritable(caller, match.repoType, match.repoId);
  const body = (request.body ?? {}) as Record<string, unknown>;
  await services.commits.createBranch(repo, match.rev!, {
    startingPoint: typeof body.startingPoint === "string" ? body.startingPoint : undefined,
    emptyBranch: body.emptyBranch === true,
    overwrite: body.overwrite === true,
  });
  return reply.send({});
}
