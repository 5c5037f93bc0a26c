// POST /lfs-verify/{oid}?repo=…&size=…&exp=…&sig=… — body {oid, size}: 200 when the object is
// stored for the repository. The URL is signed by the batch answer, so no credentials are needed.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Services } from "../../services/index.ts";
import { parseQuery } from "../route-context.ts";

export async function lfsVerifyRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const { oid } = request.params as { oid: string };
  const body = (request.body ?? {}) as { size?: unknown };
  await services.lfs.verify(oid, parseQuery(request.raw.url ?? ""), body.size);
  reply.header("Content-Type", "application/vnd.git-lfs+json");
  return reply.send(JSON.stringify({ message: "ok" }));
}
