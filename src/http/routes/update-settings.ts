// PUT /api/{models|datasets}/{id}/settings — {private} or {visibility}, and {gated}.

import { AgoraError } from "../../errors.ts";
import type { RepoRouteContext } from "../route-context.ts";
import { visibilityFromBody } from "./body-fields.ts";

export async function updateSettingsRoute({ services, caller, match, request, reply }: RepoRouteContext) {
  const body = (request.body ?? {}) as Record<string, unknown>;
  let gated: "false" | "auto" | "manual" | undefined;
  if (body.gated !== undefined) {
    if (body.gated === false || body.gated === "false") gated = "false";
    else if (body.gated === "auto" || body.gated === "manual") gated = body.gated;
    else throw new AgoraError("BadRequest", `gated must be "auto", "manual" or false (got ${JSON.stringify(body.gated)})`);
  }
  const repo = await services.repos.updateSettings(caller, match.repoType, match.repoId, { private: visibilityFromBody(body), gated });
  return reply.send({ private: Boolean(repo.private), gated: repo.gated === "false" ? false : repo.gated });
}
