// GET /lfs-download/{oid}?repo=…&size=…&exp=…&sig=… — the signed download URL of the LFS batch
// API (git-lfs). Range is honoured; the license policy is applied again (see below); an object of
// a mirrored repository evicted from the cache since the URL was signed is fetched again.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import { baseUrlOf, parseQuery } from "../route-context.ts";
import { parseRange } from "./resolve-file.ts";
import { sendFileRange, sendFromUpstream } from "../send-file.ts";

export async function lfsDownloadRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const { oid } = request.params as { oid: string };
  const { repoId, size } = services.lfs.checkDownload(oid, parseQuery(request.raw.url ?? ""));
  // The URL was signed by a batch answer that applied the license policy, but it stays valid
  // for an hour and the repository may have been relicensed since. A dry-run refusal was
  // logged by that batch request.
  const repo = await services.reposStore.findById(repoId);
  const refusal = repo && (await services.licensePolicy.repositoryRefusal(repo, { download: "LFS download", baseUrl: baseUrlOf(request, services) }));
  if (refusal) throw refusal;
  if (repo?.mirrored) services.mirrorCache.touch(oid); // before the stat: a touched object is not evicted under this request
  const stored = (await services.blobs.stat(oid))?.size === size;
  const notFound = () => new AgoraError("NotFound", `object ${oid} not found`);
  if (!stored && !repo?.mirrored) throw notFound();
  // The range is checked against the signed size: a missing object of a hosted repository was
  // answered 404 above, whatever the range.
  const range = parseRange(request.headers.range, size);
  if (range === "unsatisfiable") throw new AgoraError("RangeNotSatisfiable", undefined, { headers: { "Content-Range": `bytes */${size}` } });
  // The URL may have been signed while a mirrored object was cached, and the cache have evicted
  // it since: it is fetched again from the upstream, as /resolve would.
  const fetched = !stored && repo?.mirrored ? await services.mirror.openLfsObject(repo, oid, size, range) : undefined;
  if (!stored && !fetched) throw notFound();
  reply.header("Content-Type", "application/octet-stream");
  reply.header("Accept-Ranges", "bytes");
  reply.header("ETag", `"${oid}"`);
  if (range) reply.code(206).header("Content-Range", `bytes ${range.start}-${range.end}/${size}`);
  reply.header("Content-Length", String(range ? range.end - range.start + 1 : size));
  if (fetched && fetched !== "stored") return sendFromUpstream(reply, fetched, size, `LFS object ${oid}`);
  if (size > 0 && services.blobs.localPath) return sendFileRange(reply, services.blobs.localPath(oid), range ? range.start : 0, range ? range.end : size - 1);
  return reply.send(size === 0 ? "" : services.blobs.createReadStream(oid, range));
}
