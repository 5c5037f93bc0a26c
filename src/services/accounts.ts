// Users, organizations, memberships and access tokens.
//
// Tokens look like the Hub's (`hf_` + 34 letters and digits: the JS client refuses anything
// else) and only their SHA-256 is stored. A token is valid until revoked or expired.

import { createHash, randomBytes, randomUUID } from "node:crypto";
import { AgoraError } from "../errors.ts";
import type { AccountRow, TokenRow } from "../db/database.ts";
import type { AccountsStore } from "../db/accounts-store.ts";
import { newObjectId } from "../lib/ids.ts";

/** Who is calling: an account and the token it authenticated with. */
export type Caller = { account: AccountRow; token: TokenRow };

const ACCOUNT_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9]|[-_.](?=[A-Za-z0-9])){0,41}$/;
/** Names that would collide with URL prefixes of the Hub's routes. */
export const RESERVED_NAMESPACES = new Set(["api", "datasets", "spaces", "models", "kernels", "docs", "settings", "login", "logout", "join", "new", "organizations", "lfs-upload", "static", "assets"]);

const TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function generateToken(): string {
  const bytes = randomBytes(34);
  let out = "hf_";
  for (const b of bytes) out += TOKEN_ALPHABET[b % TOKEN_ALPHABET.length];
  return out;
}

export function createAccountsService(store: AccountsStore, clock: () => Date = () => new Date()) {
  function checkName(name: string): void {
    if (!ACCOUNT_NAME.test(name)) throw new AgoraError("BadRequest", `invalid account name ${JSON.stringify(name)}: use 1–42 letters, digits, and single - _ . between them`);
    if (RESERVED_NAMESPACES.has(name.toLowerCase())) throw new AgoraError("BadRequest", `the name ${JSON.stringify(name)} is reserved`);
  }

  async function requireAccount(name: string, kind?: AccountRow["kind"]): Promise<AccountRow> {
    const account = await store.findByName(name);
    if (!account || (kind && account.kind !== kind)) throw new AgoraError("NotFound", `${kind ?? "account"} ${JSON.stringify(name)} not found`);
    return account;
  }

  const service = {
    requireAccount,

    async ensureUser(name: string): Promise<AccountRow> {
      const existing = await store.findByName(name);
      if (existing) {
        if (existing.kind !== "user") throw new AgoraError("Conflict", `${name} is an organization, not a user`);
        return existing;
      }
      checkName(name);
      const row: AccountRow = { id: newObjectId(), name, fullname: name, kind: "user", created_at: clock().toISOString() };
      await store.insert(row);
      return row;
    },

    async createOrg(name: string, ownerName: string): Promise<AccountRow> {
      checkName(name);
      if (await store.findByName(name)) throw new AgoraError("Conflict", `the name ${name} is taken`);
      const owner = await requireAccount(ownerName, "user");
      const row: AccountRow = { id: newObjectId(), name, fullname: name, kind: "org", created_at: clock().toISOString() };
      await store.insert(row);
      await store.addMember({ org_id: row.id, user_id: owner.id, role: "admin", created_at: row.created_at });
      return row;
    },

    async addMember(orgName: string, userName: string, role: "admin" | "write" | "read" = "write"): Promise<void> {
      const org = await requireAccount(orgName, "org");
      const user = await requireAccount(userName, "user");
      await store.addMember({ org_id: org.id, user_id: user.id, role, created_at: clock().toISOString() });
    },

    async removeMember(orgName: string, userName: string): Promise<void> {
      const org = await requireAccount(orgName, "org");
      const user = await requireAccount(userName, "user");
      if (!(await store.removeMember(org.id, user.id))) throw new AgoraError("NotFound", `${userName} is not a member of ${orgName}`);
    },

    orgsOf: (userId: string) => store.orgsOf(userId),
    membersOf: async (orgName: string) => store.membersOf((await requireAccount(orgName, "org")).id),
    membership: (orgId: string, userId: string) => store.membership(orgId, userId),

    async createToken(userName: string, options: { role?: "read" | "write"; expiresInDays?: number; name?: string } = {}): Promise<{ token: string; row: TokenRow }> {
      const user = await service.ensureUser(userName);
      const role = options.role ?? "write";
      if (role !== "read" && role !== "write") throw new AgoraError("BadRequest", `role must be read or write (got ${JSON.stringify(role)})`);
      if (options.expiresInDays !== undefined && !(options.expiresInDays > 0)) throw new AgoraError("BadRequest", "expiry must be a positive number of days");
      const now = clock();
      const token = generateToken();
      const row: TokenRow = {
        id: randomUUID().slice(0, 8) + randomBytes(4).toString("hex"),
        account_id: user.id,
        name: options.name ?? `token-${now.toISOString().slice(0, 10)}`,
        role,
        hash: hashToken(token),
        created_at: now.toISOString(),
        expires_at: options.expiresInDays === undefined ? null : new Date(now.getTime() + options.expiresInDays * 86400_000).toISOString(),
        revoked_at: null,
      };
      await store.insertToken(row);
      return { token, row };
    },

    async listTokens(userName?: string) {
      const account = userName ? await requireAccount(userName, "user") : undefined;
      return store.listTokens(account?.id);
    },

    async revokeToken(id: string): Promise<void> {
      if (!(await store.revokeToken(id, clock().toISOString()))) throw new AgoraError("NotFound", `no active token with id ${id}`);
    },

    /** Resolves a bearer token; unknown, revoked and expired tokens are all InvalidCredentials. */
    async authenticate(token: string): Promise<Caller> {
      if (!token.startsWith("hf_") || token.length > 200) throw new AgoraError("InvalidCredentials");
      const row = await store.findTokenByHash(hashToken(token));
      if (!row || row.revoked_at) throw new AgoraError("InvalidCredentials");
      // X-Error-Message stays exactly the Hub's text: Python maps any other 401 message on a repo
      // URL to RepositoryNotFoundError (hub-api.md §3.3); the detail goes in the JSON body.
      if (row.expires_at && Date.parse(row.expires_at) <= clock().getTime()) throw new AgoraError("InvalidCredentials", undefined, { body: { error: "Invalid credentials in Authorization header: the token has expired" } });
      const account = await store.findById(row.account_id);
      if (!account) throw new AgoraError("InvalidCredentials");
      return { account, token: row };
    },
  };
  return service;
}

export type AccountsService = ReturnType<typeof createAccountsService>;
