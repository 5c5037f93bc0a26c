// What the database says about the LFS objects in the blob store, for garbage collection
// (services/garbage-collector.ts): which objects a repository links, and the delete of one no
// repository links — through guardedBlobDelete, which the mirror cache's eviction uses too.

import type { Transaction } from "kysely";
import type { Db, Schema } from "./database.ts";

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
     * by now (guardedBlobDelete). `deleteBlob` answers false to keep the object after all (it was
     * published again meanwhile).
     */
    deleteIfUnlinked(oid: string, deleteBlob: () => Promise<boolean>): Promise<boolean> {
      return guardedBlobDelete(db, oid, async (trx) => Boolean(await trx.selectFrom("lfs_links").select("oid").where("oid", "=", oid).limit(1).executeTakeFirst()), deleteBlob);
    },
  };
}

export type LfsObjectsStore = ReturnType<typeof createLfsObjectsStore>;

/**
 * The one way an LFS object's blob is deleted while the hub may be writing (the mirror cache's
 * eviction, garbage collection): one write transaction whose first statement deletes the mirror
 * cache's row, so the database write lock is held — across processes too — while `keep` looks at
 * the links and `deleteBlob` runs. A link inserted after the commit finds the blob gone
 * (services/lfs.ts checks after linking); one inserted before makes `keep` answer true. Either
 * `keep` answering true or `deleteBlob` answering false rolls the row's delete back and answers
 * false. A crash after the blob's delete and before the commit leaves a row without a blob, which
 * the mirror cache drops.
 */
export async function guardedBlobDelete(db: Db, oid: string, keep: (trx: Transaction<Schema>) => Promise<boolean>, deleteBlob: () => Promise<boolean>): Promise<boolean> {
  const kept = Symbol("kept");
  try {
    return await db.transaction().execute(async (trx) => {
      await trx.deleteFrom("mirror_objects").where("oid", "=", oid).execute();
      if ((await keep(trx)) || !(await deleteBlob())) throw kept; // rolls the row's delete back
      return true;
    });
  } catch (error) {
    if (error === kept) return false;
    throw error;
  }
}
