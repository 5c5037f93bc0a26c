// Accounts (users and organizations), memberships and tokens. Returns `undefined` for absent
// rows; services decide what that means.

import type { AccountRow, Db, MembershipRow, TokenRow } from "./database.ts";

export function createAccountsStore(db: Db) {
  return {
    findByName(name: string): Promise<AccountRow | undefined> {
      return db.selectFrom("accounts").selectAll().where("name", "=", name).executeTakeFirst();
    },
    findById(id: string): Promise<AccountRow | undefined> {
      return db.selectFrom("accounts").selectAll().where("id", "=", id).executeTakeFirst();
    },
    async insert(row: AccountRow): Promise<void> {
      await db.insertInto("accounts").values(row).execute();
    },
    async addMember(row: MembershipRow): Promise<void> {
      await db
        .insertInto("memberships")
        .values(row)
        .onConflict((oc) => oc.columns(["org_id", "user_id"]).doUpdateSet({ role: row.role }))
        .execute();
    },
    async removeMember(orgId: string, userId: string): Promise<boolean> {
      const result = await db.deleteFrom("memberships").where("org_id", "=", orgId).where("user_id", "=", userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    membership(orgId: string, userId: string): Promise<MembershipRow | undefined> {
      return db.selectFrom("memberships").selectAll().where("org_id", "=", orgId).where("user_id", "=", userId).executeTakeFirst();
    },
    orgsOf(userId: string): Promise<(AccountRow & { role: MembershipRow["role"] })[]> {
      return db
        .selectFrom("memberships")
        .innerJoin("accounts", "accounts.id", "memberships.org_id")
        .selectAll("accounts")
        .select("memberships.role")
        .where("memberships.user_id", "=", userId)
        .orderBy("accounts.name")
        .execute();
    },
    membersOf(orgId: string): Promise<(AccountRow & { role: MembershipRow["role"] })[]> {
      return db
        .selectFrom("memberships")
        .innerJoin("accounts", "accounts.id", "memberships.user_id")
        .selectAll("accounts")
        .select("memberships.role")
        .where("memberships.org_id", "=", orgId)
        .orderBy("accounts.name")
        .execute();
    },
    async insertToken(row: TokenRow): Promise<void> {
      await db.insertInto("tokens").values(row).execute();
    },
    findTokenByHash(hash: string): Promise<TokenRow | undefined> {
      return db.selectFrom("tokens").selectAll().where("hash", "=", hash).executeTakeFirst();
    },
    listTokens(accountId?: string): Promise<(TokenRow & { account_name: string })[]> {
      let query = db
        .selectFrom("tokens")
        .innerJoin("accounts", "accounts.id", "tokens.account_id")
        .selectAll("tokens")
        .select("accounts.name as account_name")
        .orderBy("tokens.created_at");
      if (accountId) query = query.where("tokens.account_id", "=", accountId);
      return query.execute();
    },
    async revokeToken(id: string, at: string): Promise<boolean> {
      const result = await db.updateTable("tokens").set({ revoked_at: at }).where("id", "=", id).where("revoked_at", "is", null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}

export type AccountsStore = ReturnType<typeof createAccountsStore>;
