// POST /api/{models|datasets}/{id}/commit/{rev} — the NDJSON commit (header, file, lfsFile,
// deletedFile, deletedFolder). The body is read as a stream, line by line.

import type { Readable } from "node:stream";
import { AgoraError } from "../../errors.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import { repoFullId } from "../../services/repos.ts";
import { queryValue, typePrefix, type RepoRouteContext } from "../route-context.ts";

export async function commitRoute({ services, caller, match, query, request, reply, baseUrl }: RepoRouteContext) {
  const repo = await services.repos.findWritable(caller, match.repoType, match.repoId);
  if (parseBooleanParam(queryValue(query, "create_pr"))) {
    throw new AgoraError("NotImplemented", "Pull requests are not supported by this Agora yet: commit to a branch instead (create one with create_branch)");
  }
  const body = request.body;
  if (!body || typeof (body as Readable).pipe !== "function") {
    throw new AgoraError("BadRequest", "the commit body must be NDJSON (Content-Type: application/x-ndjson)");
  }
  const stream = body as Readable;
  const parsed = await services.commits.parseCommitBody(repo, stream);
  try {
    const result = await services.commits.commit(caller!, repo, match.rev!, parsed.header, parsed.operations);
    return reply.send({
      success: true,
      commitOid: result.commitOid,
      commitUrl: `${baseUrl}/${typePrefix(repo.type)}${repoFullId(repo)}/commit/${result.commitOid}`,
      hookOutput: "",
    });
  } finally {
    await parsed.cleanup();
  }
}
