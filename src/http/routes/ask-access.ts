// POST /{id}/ask-access (and /api/{type}s/{id}/ask-access) — a user asks for access to a gated
// repository; form or JSON fields are kept with the request. `auto` repositories grant at once.

import type { RepoRouteContext } from "../route-context.ts";

export async function askAccessRoute({ services, caller, match, request, reply }: RepoRouteContext) {
  const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
  const body = request.body && typeof request.body === "object" && typeof (request.body as { pipe?: unknown }).pipe !== "function" ? (request.body as Record<string, unknown>) : {};
  const status = await services.access.requestAccess(caller, repo, body);
  return reply.send({ status });
}
