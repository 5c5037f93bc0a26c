// Repository rows, access grants, download counters and the per-repository LFS object links.

import { sql } from "./kysely.ts";
import type { AccessGrantRow, Db, RepoRow } from "./database.ts";

export type RepoType = RepoRow["type"];

export type RepoListQuery = {
  type: RepoType;
  /** Each term must occur in `namespace/name`, case-insensitively. */
  search: string[];
  author?: string;
  /** Each tag must be present. */
  tags: string[];
  gated?: boolean;
  pipelineTag?: string;
  /** Model intelligence filters (NULL columns never match a filter on them). */
  moe?: boolean;
  paramsMin?: number;
  paramsMax?: number;
  activeMin?: number;
  activeMax?: number;
  licenseClass?: string;
  commercialUse?: string;
  /** Largest min_memory_bytes allowed (from a hardware profile). */
  maxMemoryBytes?: number;
  /** Account id of the caller, to include private repos they can read. */
  viewerId?: string;
  sort: "lastModified" | "createdAt" | "downloads" | "likes" | "id";
  descending: boolean;
  offset: number;
  limit: number;
};

export type RepoWithDownloads = RepoRow & { downloads: number; downloads_all_time: number };

/** The Hub counts downloads over a rolling 30 days; `downloadsAllTime` is the sum of all days. */
const DOWNLOAD_WINDOW_DAYS = 30;

export function createReposStore(db: Db) {
  const windowStart = () => new Date(Date.now() - DOWNLOAD_WINDOW_DAYS * 86400_000).toISOString().slice(0, 10);

  const withDownloads = () =>
    db
      .selectFrom("repos")
      .selectAll("repos")
      .select((eb) => [
        eb
          .selectFrom("downloads")
          .select(sql<number>`coalesce(sum(count), 0)`.as("n"))
          .whereRef("downloads.repo_id", "=", "repos.id")
          .where("downloads.day", ">=", windowStart())
          .as("downloads"),
        eb.selectFrom("downloads").select(sql<number>`coalesce(sum(count), 0)`.as("n")).whereRef("downloads.repo_id", "=", "repos.id").as("downloads_all_time"),
      ]);

  return {
    async find(type: RepoType, namespace: string, name: string): Promise<RepoWithDownloads | undefined> {
      const row = await withDownloads()
        .where("repos.type", "=", type)
        .where(sql`repos.namespace COLLATE NOCASE`, "=", namespace)
        .where(sql`repos.name COLLATE NOCASE`, "=", name)
        .executeTakeFirst();
      return row as RepoWithDownloads | undefined;
    },
    async findById(id: string): Promise<RepoWithDownloads | undefined> {
      return (await withDownloads().where("repos.id", "=", id).executeTakeFirst()) as RepoWithDownloads | undefined;
    },
    async insert(row: RepoRow): Promise<void> {
      await db.insertInto("repos").values(row).execute();
    },
    async delete(id: string): Promise<void> {
      await db.deleteFrom("repos").where("id", "=", id).execute();
    },
    async update(id: string, fields: Partial<Omit<RepoRow, "id">>): Promise<void> {
      await db.updateTable("repos").set(fields).where("id", "=", id).execute();
    },
    all(): Promise<RepoRow[]> {
      return db.selectFrom("repos").selectAll().execute();
    },
    async list(query: RepoListQuery): Promise<RepoWithDownloads[]> {
      let q = withDownloads().where("repos.type", "=", query.type);
      for (const term of query.search) {
        const pattern = `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        q = q.where(sql`lower(CASE WHEN repos.namespace = '' THEN repos.name ELSE repos.namespace || '/' || repos.name END)`, "like", sql`${pattern} ESCAPE '\\'`);
      }
      if (query.author !== undefined) q = q.where(sql`repos.namespace COLLATE NOCASE`, "=", query.author);
      for (const tag of query.tags) q = q.where(sql<boolean>`EXISTS (SELECT 1 FROM json_each(repos.tags) WHERE json_each.value = ${tag})`);
      if (query.gated !== undefined) q = q.where("repos.gated", query.gated ? "!=" : "=", "false");
      if (query.pipelineTag !== undefined) q = q.where("repos.pipeline_tag", "=", query.pipelineTag);
      if (query.moe !== undefined) q = q.where("repos.moe", "=", query.moe ? 1 : 0);
      if (query.paramsMin !== undefined) q = q.where("repos.params_total", ">=", query.paramsMin);
      if (query.paramsMax !== undefined) q = q.where("repos.params_total", "<=", query.paramsMax);
      if (query.activeMin !== undefined) q = q.where("repos.params_active", ">=", query.activeMin);
      if (query.activeMax !== undefined) q = q.where("repos.params_active", "<=", query.activeMax);
      if (query.licenseClass !== undefined) q = q.where("repos.license_class", "=", query.licenseClass);
      if (query.commercialUse !== undefined) q = q.where("repos.commercial_use", "=", query.commercialUse);
      if (query.maxMemoryBytes !== undefined) q = q.where("repos.min_memory_bytes", "<=", query.maxMemoryBytes);
      const viewer = query.viewerId;
      q = q.where((eb) =>
        viewer
          ? eb.or([
              eb("repos.private", "=", 0),
              eb.exists(
                eb
                  .selectFrom("accounts")
                  .select("accounts.id")
                  .whereRef("accounts.name", "=", "repos.namespace")
                  .where((e) =>
                    e.or([
                      e("accounts.id", "=", viewer),
                      e.exists(e.selectFrom("memberships").select("memberships.user_id").whereRef("memberships.org_id", "=", "accounts.id").where("memberships.user_id", "=", viewer)),
                    ]),
                  ),
              ),
            ])
          : eb("repos.private", "=", 0),
      );
      const direction = query.descending ? "desc" : "asc";
      const key =
        query.sort === "id"
          ? sql`repos.namespace || '/' || repos.name`
          : query.sort === "downloads"
            ? sql`downloads`
            : query.sort === "likes"
              ? sql`repos.likes`
              : query.sort === "createdAt"
                ? sql`repos.created_at`
                : sql`repos.last_modified`;
      // The id is the tie-breaker, so pages are stable while nothing changes.
      q = q.orderBy(key, direction).orderBy("repos.id", direction).limit(query.limit).offset(query.offset);
      return (await q.execute()) as RepoWithDownloads[];
    },
    async countDownload(repoId: string, day: string): Promise<void> {
      await db
        .insertInto("downloads")
        .values({ repo_id: repoId, day, count: 1 })
        .onConflict((oc) => oc.columns(["repo_id", "day"]).doUpdateSet({ count: sql`count + 1` }))
        .execute();
    },
    grant(repoId: string, accountId: string): Promise<AccessGrantRow | undefined> {
      return db.selectFrom("access_grants").selectAll().where("repo_id", "=", repoId).where("account_id", "=", accountId).executeTakeFirst();
    },
    async setGrant(row: AccessGrantRow): Promise<void> {
      await db
        .insertInto("access_grants")
        .values(row)
        .onConflict((oc) => oc.columns(["repo_id", "account_id"]).doUpdateSet({ status: row.status }))
        .execute();
    },
    async deleteGrant(repoId: string, accountId: string): Promise<boolean> {
      const result = await db.deleteFrom("access_grants").where("repo_id", "=", repoId).where("account_id", "=", accountId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    grants(repoId: string): Promise<(AccessGrantRow & { account_name: string })[]> {
      return db
        .selectFrom("access_grants")
        .innerJoin("accounts", "accounts.id", "access_grants.account_id")
        .selectAll("access_grants")
        .select("accounts.name as account_name")
        .where("access_grants.repo_id", "=", repoId)
        .orderBy("accounts.name")
        .execute();
    },
    async linkLfsObject(repoId: string, oid: string, size: number): Promise<void> {
      await db
        .insertInto("lfs_links")
        .values({ repo_id: repoId, oid, size, created_at: new Date().toISOString() })
        .onConflict((oc) => oc.columns(["repo_id", "oid"]).doNothing())
        .execute();
    },
    lfsLink(repoId: string, oid: string): Promise<{ size: number } | undefined> {
      return db.selectFrom("lfs_links").select("size").where("repo_id", "=", repoId).where("oid", "=", oid).executeTakeFirst();
    },
  };
}

export type ReposStore = ReturnType<typeof createReposStore>;
