// The mirror cache's bookkeeping (services/mirror-cache.ts): one row per LFS object the
// pull-through mirror fetched (size, last download), and the pinned revisions of mirrored
// repositories.

import { sql } from "./kysely.ts";
import type { Db, MirrorObjectRow, MirrorPinRow } from "./database.ts";
import { guardedBlobDelete } from "./lfs-objects-store.ts";

/**
 * A cached object and whether it is `local`: linked by a repository whose bytes could not be
 * fetched again — a local (non-mirrored) one, or a mirror whose upstream is not configured here
 * (imported into an air-gapped hub with `agora mirror import`, or its upstream since removed).
 */
export type TrackedObject = MirrorObjectRow & { local: boolean };

/** `refetchableFrom`: the configured upstream URLs; objects only their mirrors link may be evicted. */
export function createMirrorCacheStore(db: Db, refetchableFrom: readonly string[]) {
  const refetchable = refetchableFrom.length ? sql`COALESCE(repos.upstream_url IN (${sql.join(refetchableFrom.map((url) => sql`${url}`))}), 0)` : sql`0`;
  const linkedLocally = (oid: string | ReturnType<typeof sql>) =>
    sql<number>`EXISTS (SELECT 1 FROM lfs_links JOIN repos ON repos.id = lfs_links.repo_id WHERE lfs_links.oid = ${oid} AND NOT (repos.mirrored = 1 AND ${refetchable}))`;

  return {
    /** Every tracked object, least recently downloaded first. */
    async objects(): Promise<TrackedObject[]> {
      const rows = await db
        .selectFrom("mirror_objects")
        .selectAll()
        .select(linkedLocally(sql.ref("mirror_objects.oid")).as("local"))
        .orderBy("last_access_at")
        .orderBy("oid")
        .execute();
      return rows.map((row) => ({ ...row, local: Boolean(row.local) }));
    },

    /**
     * Deletes a tracked object's blob unless a repository that cannot refetch it links it
     * (guardedBlobDelete: the check and the delete hold the database write lock).
     */
    evict(oid: string, deleteBlob: () => Promise<void>): Promise<boolean> {
      return guardedBlobDelete(
        db,
        oid,
        async (trx) => Boolean((await trx.selectNoFrom(linkedLocally(oid).as("local")).executeTakeFirstOrThrow()).local),
        async () => {
          await deleteBlob();
          return true;
        },
      );
    },

    async linkedLocally(oid: string): Promise<boolean> {
      const row = await db.selectNoFrom(linkedLocally(oid).as("local")).executeTakeFirstOrThrow();
      return Boolean(row.local);
    },

    /** Records a newly published object as downloaded at `at`. */
    async published(oid: string, size: number, at: string): Promise<void> {
      await db
        .insertInto("mirror_objects")
        .values({ oid, size, last_access_at: at })
        .onConflict((oc) => oc.column("oid").doUpdateSet({ size, last_access_at: at }))
        .execute();
    },

    /** Moves last-access times forward (never back: another process may have written a later one), in one transaction. */
    async touched(accesses: { oid: string; at: string }[]): Promise<void> {
      if (!accesses.length) return;
      await db.transaction().execute(async (trx) => {
        for (const { oid, at } of accesses) {
          await trx.updateTable("mirror_objects").set({ last_access_at: at }).where("oid", "=", oid).where("last_access_at", "<", at).execute();
        }
      });
    },

    /**
     * Forgets objects after their blobs were deleted, in one transaction. Only rows whose last
     * access is still the one the caller saw: a row rewritten meanwhile (fetched again) stays.
     */
    async forget(objects: { oid: string; last_access_at: string }[]): Promise<void> {
      if (!objects.length) return;
      await db.transaction().execute(async (trx) => {
        for (const { oid, last_access_at } of objects) await trx.deleteFrom("mirror_objects").where("oid", "=", oid).where("last_access_at", "=", last_access_at).execute();
      });
    },

    /** Objects linked to mirrored repositories that have no row (fetched before rows were kept, or a crash before the row was written). */
    untrackedMirrorLinks(): Promise<{ oid: string; size: number; created_at: string }[]> {
      return db
        .selectFrom("lfs_links")
        .innerJoin("repos", "repos.id", "lfs_links.repo_id")
        .select(["lfs_links.oid", "lfs_links.size"])
        .select(sql<string>`min(lfs_links.created_at)`.as("created_at"))
        .where("repos.mirrored", "=", 1)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom("mirror_objects").select("mirror_objects.oid").whereRef("mirror_objects.oid", "=", "lfs_links.oid"))))
        .groupBy(["lfs_links.oid", "lfs_links.size"])
        .execute();
    },

    async adopt(oid: string, size: number, at: string): Promise<void> {
      await db.insertInto("mirror_objects").values({ oid, size, last_access_at: at }).onConflict((oc) => oc.column("oid").doNothing()).execute();
    },

    pins(): Promise<MirrorPinRow[]> {
      return db.selectFrom("mirror_pins").selectAll().orderBy("created_at").orderBy("repo_id").orderBy("revision").execute();
    },

    pinsOf(repoId: string): Promise<MirrorPinRow[]> {
      return db.selectFrom("mirror_pins").selectAll().where("repo_id", "=", repoId).orderBy("revision").execute();
    },

    /** Pins a revision; pinning it again moves the pin to the commit it resolves to now. */
    async pin(row: MirrorPinRow): Promise<void> {
      await db
        .insertInto("mirror_pins")
        .values(row)
        .onConflict((oc) => oc.columns(["repo_id", "revision"]).doUpdateSet({ commit_oid: row.commit_oid, created_at: row.created_at }))
        .execute();
    },

    async unpin(repoId: string, revision: string): Promise<void> {
      await db.deleteFrom("mirror_pins").where("repo_id", "=", repoId).where("revision", "=", revision).execute();
    },
  };
}

export type MirrorCacheStore = ReturnType<typeof createMirrorCacheStore>;
