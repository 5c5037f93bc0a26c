// Old ids of repositories renamed on an upstream hub, each naming the mirrored repository row it
// became. Ids compare without case, like repository ids.

import type { Db, RepoAliasRow } from "./database.ts";

export function createRepoAliasesStore(db: Db) {
  return {
    find(type: RepoAliasRow["type"], namespace: string, name: string): Promise<RepoAliasRow | undefined> {
      return db.selectFrom("repo_aliases").selectAll().where("type", "=", type).where("namespace", "=", namespace).where("name", "=", name).executeTakeFirst();
    },
    /** Records (or moves) the alias: an old id names one repository at a time. */
    async put(row: RepoAliasRow): Promise<void> {
      await db
        .insertInto("repo_aliases")
        .values(row)
        .onConflict((oc) => oc.columns(["type", "namespace", "name"]).doUpdateSet({ repo_id: row.repo_id, created_at: row.created_at }))
        .execute();
    },
  };
}

export type RepoAliasesStore = ReturnType<typeof createRepoAliasesStore>;
