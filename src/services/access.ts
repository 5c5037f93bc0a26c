// Gated repositories: metadata is public, files need a grant. `auto` grants every request at
// once; `manual` leaves it pending until an owner grants it. Members of the repository's
// namespace never need a grant.

import { AgoraError } from "../errors.ts";
import type { AccountsStore } from "../db/accounts-store.ts";
import type { ReposStore } from "../db/repos-store.ts";
import type { Caller } from "./accounts.ts";
import { repoFullId, type Repo, type ReposService } from "./repos.ts";

export function createAccessService(deps: { repos: ReposStore; accounts: AccountsStore; reposService: ReposService; clock?: () => Date }) {
  const clock = deps.clock ?? (() => new Date());

  async function hasFileAccess(caller: Caller | null, repo: Repo): Promise<boolean> {
    if (repo.gated === "false") return true;
    if (!caller) return false;
    if ((await deps.reposService.namespaceRole(caller, repo.namespace)) !== undefined) return true;
    return (await deps.repos.grant(repo.id, caller.account.id))?.status === "accepted";
  }

  return {
    hasFileAccess,

    /** Throws GatedRepo (401 anonymous, 403 signed in) unless the caller may read files. */
    async assertFileAccess(caller: Caller | null, repo: Repo, url: string): Promise<void> {
      if (await hasFileAccess(caller, repo)) return;
      const id = repoFullId(repo);
      if (!caller) {
        throw new AgoraError("GatedRepo", `Cannot access gated repo for url ${url}. Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`, { status: 401 });
      }
      throw new AgoraError("GatedRepo", `Cannot access gated repo for url ${url}. Access to model ${id} is restricted and you are not in the authorized list. Ask for access with POST /${repo.type === "dataset" ? "datasets/" : ""}${id}/ask-access.`, { status: 403 });
    },

    /** A user asks for access; `auto` repositories accept at once. */
    async requestAccess(caller: Caller | null, repo: Repo, fields: Record<string, unknown>): Promise<"accepted" | "pending"> {
      if (!caller) throw new AgoraError("AuthRequired", "You must be authenticated to ask for access");
      if (repo.gated === "false") throw new AgoraError("BadRequest", `${repoFullId(repo)} is not gated`);
      const existing = await deps.repos.grant(repo.id, caller.account.id);
      if (existing?.status === "accepted") return "accepted";
      if (existing?.status === "rejected") throw new AgoraError("Forbidden", "Your access request was rejected by the repository's owners");
      const status = repo.gated === "auto" ? "accepted" : "pending";
      await deps.repos.setGrant({ repo_id: repo.id, account_id: caller.account.id, status, created_at: clock().toISOString(), fields: JSON.stringify(fields).slice(0, 10_000) });
      return status;
    },

    async setGrant(repo: Repo, userName: string, status: "accepted" | "rejected" | "pending"): Promise<void> {
      const user = await deps.accounts.findByName(userName);
      if (!user || user.kind !== "user") throw new AgoraError("NotFound", `user ${JSON.stringify(userName)} not found`);
      await deps.repos.setGrant({ repo_id: repo.id, account_id: user.id, status, created_at: clock().toISOString(), fields: null });
    },

    async revokeGrant(repo: Repo, userName: string): Promise<void> {
      const user = await deps.accounts.findByName(userName);
      if (!user || !(await deps.repos.deleteGrant(repo.id, user.id))) throw new AgoraError("NotFound", `${userName} has no access entry on ${repoFullId(repo)}`);
    },

    listGrants: (repo: Repo) => deps.repos.grants(repo.id),
  };
}

export type AccessService = ReturnType<typeof createAccessService>;
