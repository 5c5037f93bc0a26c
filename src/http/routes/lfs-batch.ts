// POST /{id}.git/info/lfs/objects/batch — the LFS batch API (basic transfer only: never
// multipart, never Xet). Upload needs write access; download needs read and, for gated
// repositories, a grant, and is subject to the license policy. Answers are
// application/vnd.git-lfs+json.

import { AgoraError } from "../../errors.ts";
import type { RepoRouteContext } from "../route-context.ts";
import { withAuthChallenge } from "./git-auth.ts";

export async function lfsBatchRoute({ services, caller, match, request, reply, baseUrl }: RepoRouteContext) {
  const body = request.body as { operation?: unknown; objects?: unknown } | undefined;
  if (!body || typeof body !== "object" || typeof (body as { pipe?: unknown }).pipe === "function") {
    throw new AgoraError("BadRequest", "the batch request must be a JSON body with Content-Type application/vnd.git-lfs+json");
  }
  if (body.operation !== "upload" && body.operation !== "download") throw new AgoraError("BadRequest", 'operation must be "upload" or "download"');
  if (!Array.isArray(body.objects)) throw new AgoraError("BadRequest", "objects must be an array");
  const operation = body.operation;
  // git-lfs tries without credentials first and asks its credential helper after a challenged 401.
  const repo = await withAuthChallenge("lfs", async () => {
    if (operation === "upload") return services.repos.findWritable(caller, match.repoType, match.repoId);
    const readable = await services.repos.findReadable(caller, match.repoType, match.repoId);
    await services.access.assertFileAccess(caller, readable, request.raw.url ?? "");
    return readable;
  });
  let objects = await services.lfs.batch(repo, body.operation, body.objects, baseUrl);
  // Downloads of a repository whose license the policy refuses: every well-formed object is
  // answered with a 403 error carrying the refusal, which git-lfs prints (uploads never are).
  const refusal = operation === "download" ? await services.licensePolicy.repositoryRefusal(repo, { download: "LFS download", baseUrl, log: request.log }) : undefined;
  if (refusal) objects = objects.map((object) => (object.error?.code === 422 ? object : { oid: object.oid, size: object.size, error: { code: 403, message: refusal.message } }));
  // Objects of a mirrored repository not fetched from its upstream yet (services/mirror.ts).
  else if (repo.mirrored && operation === "download") objects = await services.mirror.completeBatch(repo, objects, baseUrl, request.headers.authorization);
  reply.header("Content-Type", "application/vnd.git-lfs+json");
  return reply.send(JSON.stringify({ transfer: "basic", objects, hash_algo: "sha256" }));
}
