// GET /api/{models|datasets}/{id}/auth-check[/write] — 200 when the caller may read (or write).

import type { RepoRouteContext } from "../route-context.ts";

export async function authCheckRoute({ services, caller, match, reply }: RepoRouteContext) {
  if (match.extra === "write") await services.repos.findWritable(caller, match.repoType, match.repoId);
  else {
    const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
    await services.access.assertFileAccess(caller, repo, `${match.repoId}`);
  }
  return reply.send({ ok: true });
}
