// POST /{id}.git/info/lfs/objects/batch — the LFS batch API (basic transfer only: never
// multipart, never Xet). Upload needs write access; download needs read and, for gated
// repositories, a grant. Answers are application/vnd.git-lfs+json.

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
  // Objects of a mirrored repository not fetched from its upstream yet (services/mirror.ts).
  if (repo.mirrored && operation === "download") objects = await services.mirror.completeBatch(repo, objects, baseUrl, request.headers.authorization);
  reply.header("Content-Type", "application/vnd.git-lfs+json");
  return reply.send(JSON.stringify({ transfer: "basic", objects, hash_algo: "sha256" }));
}
