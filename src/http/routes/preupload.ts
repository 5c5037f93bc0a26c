// POST /api/{models|datasets}/{id}/preupload/{rev} — upload mode per file ("lfs"/"regular"),
// shouldIgnore (always present: Python reads it unconditionally) and the current oid.

import { AgoraError } from "../../errors.ts";
import type { RepoRouteContext } from "../route-context.ts";

export async function preuploadRoute({ services, caller, match, request, reply }: RepoRouteContext) {
  const repo = await services.repos.findWritable(caller, match.repoType, match.repoId);
  const body = request.body;
  if (!body || typeof body !== "object" || typeof (body as { pipe?: unknown }).pipe === "function") {
    throw new AgoraError("BadRequest", "preupload expects a JSON body {files: [{path, size, sample}]}");
  }
  return reply.send(await services.commits.preupload(repo, match.rev!, body as Record<string, unknown>));
}
