// POST /api/repos/create — 409 when it exists (Python's exist_ok swallows it); `private` and
// `visibility` both accepted; `organization` null or absent means the caller's namespace.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import { repoFullId } from "../../services/repos.ts";
import { baseUrlOf, typePrefix } from "../route-context.ts";
import { repoTypeFromBody, visibilityFromBody } from "./body-fields.ts";

export async function createRepoRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const body = (request.body ?? {}) as Record<string, unknown>;
  const type = repoTypeFromBody(body.type);
  const isPrivate = visibilityFromBody(body) ?? false;
  if (body.organization !== undefined && body.organization !== null && typeof body.organization !== "string") {
    throw new AgoraError("BadRequest", "`organization` must be a string or null");
  }
  const { repo, created } = await services.repos.create(request.caller, {
    type,
    namespace: (body.organization as string | null | undefined) ?? null,
    name: body.name as string,
    private: isPrivate,
  });
  const id = repoFullId(repo);
  const url = `${baseUrlOf(request, services)}/${typePrefix(type)}${id}`;
  if (!created) throw new AgoraError("RepoExists", `You already created this ${type} repo`, { body: { url } });
  return reply.send({ url, name: id, id: repo.id });
}
