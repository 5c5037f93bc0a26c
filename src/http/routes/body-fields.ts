// Request-body fields shared by several repository routes.

import { AgoraError } from "../../errors.ts";
import type { RepoType } from "../../db/repos-store.ts";

export function repoTypeFromBody(value: unknown): RepoType {
  if (value === undefined || value === null || value === "model") return "model";
  if (value === "dataset") return "dataset";
  throw new AgoraError("BadRequest", `unsupported repository type ${JSON.stringify(value)}: Agora hosts "model" and "dataset" repositories`);
}

/** `private: bool` (older clients) or `visibility: "public" | "private"` (newer ones). */
export function visibilityFromBody(body: Record<string, unknown>): boolean | undefined {
  if (body.visibility !== undefined && body.visibility !== null) {
    if (body.visibility === "private") return true;
    if (body.visibility === "public") return false;
    throw new AgoraError("BadRequest", `visibility must be "public" or "private" (got ${JSON.stringify(body.visibility)})`);
  }
  if (body.private !== undefined && body.private !== null) {
    if (typeof body.private !== "boolean") throw new AgoraError("BadRequest", "`private` must be a boolean");
    return body.private;
  }
  return undefined;
}
