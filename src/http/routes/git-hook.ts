// POST /internal/git-hooks/pre-receive — called only by the pre-receive hook of a push this
// hub is running (authenticated by that push's one-time secret): answers {ok, message}.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Services } from "../../services/index.ts";

export async function gitHookRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const secret = request.headers["x-agora-hook-secret"];
  const body = (request.body ?? {}) as { updates?: unknown; env?: unknown };
  const verdict = typeof secret === "string" ? await services.gitPush.verdict(secret, body.updates, body.env) : undefined;
  if (!verdict) return reply.code(404).type("text/plain; charset=utf-8").send("Not Found");
  return reply.send(verdict);
}
