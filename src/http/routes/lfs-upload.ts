// PUT /lfs-upload/{oid}?repo=…&size=…&exp=…&sig=… — the self-authorising upload URL handed out
// by the batch API. The body streams to staging while hashed; it is published only if the
// SHA-256 and size match.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Readable } from "node:stream";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import { parseQuery } from "../route-context.ts";
import { takeSocketBody, type SocketBody } from "../socket-body.ts";

export async function lfsUploadRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const { oid } = request.params as { oid: string };
  const body = request.body as Readable | undefined;
  if (!body || typeof body.pipe !== "function") throw new AgoraError("BadRequest", "expected the object's bytes as the request body");
  const lengthHeader = request.headers["content-length"];
  const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
  // Large bodies may be taken off the socket straight into the store (http/socket-body.ts).
  let taken: SocketBody | undefined;
  const takeSocket = async () => (taken = await takeSocketBody(request, reply));
  try {
    await services.lfs.receiveUpload(oid, parseQuery(request.raw.url ?? ""), { stream: body, takeSocket }, contentLength);
  } catch (error) {
    // The rest of a refused body may still be on its way (or never come): no other request can
    // follow it on this connection.
    reply.header("connection", "close");
    throw error;
  } finally {
    taken?.release();
  }
  return reply.code(200).send({});
}
