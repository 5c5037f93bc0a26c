// Authentication: `Authorization: Bearer hf_…` (the SDKs) or Basic with the token as password
// (git, git-lfs). A request without credentials is anonymous; a request with bad, revoked or
// expired credentials is refused outright, even for public content, so a user notices.

import type { FastifyInstance, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Caller } from "../../services/accounts.ts";
import type { Services } from "../../services/index.ts";

export function credentialsFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const [scheme, value = ""] = header.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return value;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : decoded;
  }
  throw new AgoraError("InvalidCredentials", undefined, { body: { error: "Invalid credentials in Authorization header: expected Bearer or Basic" } });
}

export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest("caller", null);
  app.addHook("preHandler", async (request) => {
    const token = credentialsFrom(request);
    request.caller = token === undefined || token === "" ? null : await services.accounts.authenticate(token);
  });
}

declare module "fastify" {
  interface FastifyRequest {
    caller: Caller | null;
  }
}
