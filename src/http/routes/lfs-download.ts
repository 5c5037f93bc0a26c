// GET /lfs-download/{oid}?repo=…&size=…&exp=…&sig=… — the signed download URL of the LFS batch
// API (git-lfs). Range is honoured.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import { parseQuery } from "../route-context.ts";
import { parseRange } from "./resolve-file.ts";
import { sendFileRange } from "../send-file.ts";

export async function lfsDownloadRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const { oid } = request.params as { oid: string };
  const { size } = services.lfs.checkDownload(oid, parseQuery(request.raw.url ?? ""));
  const stat = await services.blobs.stat(oid);
  if (!stat || stat.size !== size) throw new AgoraError("NotFound", `object ${oid} not found`);
  const range = parseRange(request.headers.range, size);
  if (range === "unsatisfiable") throw new AgoraError("RangeNotSatisfiable", undefined, { headers: { "Content-Range": `bytes */${size}` } });
  reply.header("Content-Type", "application/octet-stream");
  reply.header("Accept-Ranges", "bytes");
  reply.header("ETag", `"${oid}"`);
  if (range) reply.code(206).header("Content-Range", `bytes ${range.start}-${range.end}/${size}`);
  reply.header("Content-Length", String(range ? range.end - range.start + 1 : size));
  if (size > 0 && services.blobs.localPath) return sendFileRange(reply, services.blobs.localPath(oid), range ? range.start : 0, range ? range.end : size - 1);
  return reply.send(size === 0 ? "" : services.blobs.createReadStream(oid, range));
}
