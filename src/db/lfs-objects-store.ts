// What the database says about the LFS objects in the blob store, for garbage collection
// (services/garbage-collector.ts): which objects a repository links, and the delete of one no
// repository links.

import type { Db } from "./database.ts";

/** Oids per `IN (...)` query: well under SQLite's limit on bound parameters. */
const CHUNK = 500;

export function createLfsObjectsStore(db: Db) {
  return {
    /** Of `oids`, those that at least one repository (local or mirrored) links. */
    async linked(oids: string[]): Promise<Set<string>> {
      const found = new Set<string>();
      for (let i = 0; i < oids.length; i += CHUNK) {
        const rows = await db.selectFrom("lfs_links").select("oid").distinct().where("oid", "in", oids.slice(i, i + CHUNK)).execute();
        for (const row of rows) found.add(row.oid);
      }
      return found;
    },

    /**
     * Deletes an object's blob (and the mirror cache's row for it) unless a repository links it
     * by now, as one write transaction, like the mirror cache's eviction: the row's delete comes
     * first so the database write lock is held — across processes too — while the links are
     * checked and `deleteBlob` runs. A link inserted after the commit finds the blob gone
     * (services/lfs.ts checks after linking); one inserted before makes this answer false.
     * `deleteBlob` answers false to keep the object after all (it was published again meanwhile).
     */
    async deleteIfUnlinked(oid: string, deleteBlob: () => Promise<boolean>): Promise<boolean> {
      const kept = Symbol("kept");
      try {
        return await db.transaction().execute(async (trx) => {
          await trx.deleteFrom("mirror_objects").where("oid", "=", oid).execute();
          const link = await trx.selectFrom("lfs_links").select("oid").where("oid", "=", oid).limit(1).executeTakeFirst();
          if (link || !(await deleteBlob())) throw kept; // rolls the row's delete back
          return true;
        });
      } catch (error) {
        if (error === kept) return false;
        throw error;
      }
    },
  };
}

export type LfsObjectsStore = ReturnType<typeof createLfsObjectsStore>;
