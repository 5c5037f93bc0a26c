// GET /api/whoami-v2 — who the token belongs to (hub-api.md §3.2). `orgs` and `auth` are
// always present: the Python CLI and the JS client dereference them.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";

export async function whoamiRoute(request: FastifyRequest, reply: FastifyReply, services: Services) {
  const caller = request.caller;
  if (!caller) throw new AgoraError("InvalidCredentials", "Invalid credentials in Authorization header: a token is required");
  const orgs = await services.accounts.orgsOf(caller.account.id);
  return reply.send({
    type: "user",
    id: caller.account.id,
    name: caller.account.name,
    fullname: caller.account.fullname,
    email: null,
    emailVerified: false,
    isPro: false,
    canPay: false,
    avatarUrl: "",
    periodEnd: null,
    orgs: orgs.map((o) => ({ type: "org", id: o.id, name: o.name, fullname: o.fullname, roleInOrg: o.role, avatarUrl: "" })),
    auth: {
      type: "access_token",
      accessToken: {
        displayName: caller.token.name,
        role: caller.token.role,
        createdAt: caller.token.created_at,
        ...(caller.token.expires_at ? { expiresAt: caller.token.expires_at } : {}),
      },
    },
  });
}
