// POST /lfs-verify/{oid}?repo=… — body {oid, size}: 200 when the object is stored for the repository.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import { parseQuery, queryValue } from "../route-context.ts";
import { repoFullId } from "../../services/repos.ts";

export async function lfsVerifyRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const { oid } = request.params as { oid: string };
  const repoId = queryValue(parseQuery(request.raw.url ?? ""), "repo");
  const row = repoId ? await services.reposStore.findById(repoId) : undefined;
  if (!row) throw new AgoraError("NotFound", "unknown repository");
  const repo = await services.repos.findReadable(request.caller, row.type, repoFullId(row));
  const body = (request.body ?? {}) as { size?: unknown };
  await services.lfs.verify(repo, oid, body.size);
  reply.header("Content-Type", "application/vnd.git-lfs+json");
  return reply.send(JSON.stringify({ message: "ok" }));
}
