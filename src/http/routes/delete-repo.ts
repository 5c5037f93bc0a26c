// DELETE /api/repos/delete — body {name, organization, type?}; 404 RepoNotFound when missing.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import { repoTypeFromBody } from "./body-fields.ts";

export async function deleteRepoRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const body = (request.body ?? {}) as Record<string, unknown>;
  if (typeof body.name !== "string") throw new AgoraError("BadRequest", "`name` must be a string");
  const type = repoTypeFromBody(body.type);
  const namespace = typeof body.organization === "string" ? body.organization : request.caller?.account.name;
  const id = body.name.includes("/") || !namespace ? body.name : `${namespace}/${body.name}`;
  await services.repos.delete(request.caller, type, id);
  return reply.send({});
}
