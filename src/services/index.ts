// Wires the services of one hub from its configuration: the database, the blob store and the
// per-repository lock are created here and shared by every service.

import path from "node:path";
import type { Config } from "../config/config.ts";
import { openSqlite, type Db } from "../db/database.ts";
import { createAccountsStore } from "../db/accounts-store.ts";
import { createReposStore } from "../db/repos-store.ts";
import { createRepoAliasesStore } from "../db/repo-aliases-store.ts";
import { createFsBlobStore } from "../storage/fs-blob-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { createKeyedMutex } from "../lib/keyed-mutex.ts";
import { createAccountsService } from "./accounts.ts";
import { createReposService } from "./repos.ts";
import { createAccessService } from "./access.ts";
import { createFilesService } from "./files.ts";
import { createLfsService } from "./lfs.ts";
import { createCommitsService } from "./commits.ts";
import { createGitPushService } from "./git-push.ts";
import { createLicensePolicyService } from "./license-policy.ts";
import { createIntelligenceService } from "./intelligence.ts";
import { createMirrorService } from "./mirror.ts";
import { createMirrorCache } from "./mirror-cache.ts";
import { createMirrorTransferService } from "./mirror-transfer.ts";
import { createGarbageCollector } from "./garbage-collector.ts";
import { listRefs, removeStaleRefLocks } from "../git/bare-repo.ts";
import { createObjectPacker } from "../git/pack-objects.ts";

export type Services = ReturnType<typeof buildServices>;

export function buildServices(config: Config, options: { clock?: () => Date } = {}) {
  const clock = options.clock ?? (() => new Date());
  const db: Db = openSqlite(config.dataDir);
  const accountsStore = createAccountsStore(db);
  const reposStore = createReposStore(db);
  const blobs: BlobStore = createFsBlobStore(path.join(config.dataDir, "lfs"));
  const lock = createKeyedMutex();
  // Failures of work done off the request (cache upkeep, repacks): no request log to go to.
  const log = {
    warn(message: string) {
      if (!["silent", "fatal", "error"].includes(config.logLevel)) process.stderr.write(`agora: warning: ${message}\n`);
    },
  };
  const objectPacker = createObjectPacker({
    looseLimit: config.packLooseObjects,
    onError: (dir, error) => log.warn(`packing the git objects of ${dir} failed: ${(error as Error).message}`),
  });
  const accounts = createAccountsService(accountsStore, clock);
  const repos = createReposService({ dataDir: config.dataDir, repos: reposStore, accounts: accountsStore, clock });
  const access = createAccessService({ repos: reposStore, accounts: accountsStore, reposService: repos, clock });
  const files = createFilesService({ reposService: repos, repos: reposStore, blobs, clock });
  const licensePolicy = createLicensePolicyService({ files, policy: config.licensePolicy });
  const intelligence = createIntelligenceService({ files, licensePolicy });
  repos.setListingFacts(async (row, head) => {
    const repo = await reposStore.findById(row.id);
    return repo ? intelligence.listingColumns(repo, head) : {};
  });
  const lfs = createLfsService({ dataDir: config.dataDir, repos: reposStore, blobs, clock, uploadIdleMs: config.uploadIdleTimeoutSeconds * 1000 });
  const commits = createCommitsService({ dataDir: config.dataDir, reposService: repos, files, lfs, lock, objectPacker, maxRegularFileSize: config.maxRegularFileSize, clock });

  const gitPush = createGitPushService({ dataDir: config.dataDir, reposService: repos, repos: reposStore, blobs, maxRegularFileSize: config.maxRegularFileSize });
  const mirrorCache = createMirrorCache({ db, blobs, repos: reposStore, reposService: repos, files, config, clock, log });
  const mirror = createMirrorService({ config, db, repos: reposStore, accounts: accountsStore, reposService: repos, blobs, cache: mirrorCache, objectPacker, aliases: createRepoAliasesStore(db), clock });
  // A mirrored model's safetensors headers are read by byte ranges from its upstream until the objects are fetched.
  files.setRemoteRangeReader((repo, commit, file, start, end) => mirror.readRange(repo, commit, file.path, file.lfs!, { start, end }));
  const mirrorTransfer = createMirrorTransferService({ config, reposService: repos, repos: reposStore, files, blobs, mirror, licensePolicy, clock });
  const garbageCollector = createGarbageCollector({ dataDir: config.dataDir, db, repos: reposStore, reposService: repos, blobs, clock });

  return {
    config,
    db,
    blobs,
    accounts,
    accountsStore,
    repos,
    reposStore,
    access,
    files,
    licensePolicy,
    intelligence,
    lfs,
    commits,
    gitPush,
    mirror,
    /** The mirror's size limit, LRU eviction and pins. */
    mirrorCache,
    /** Air-gapped export and import of a revision (`agora mirror export|import`). */
    mirrorTransfer,
    /** Deletes unreferenced LFS objects and unreachable git objects (`agora gc`). */
    garbageCollector,
    /** Packs a repository's loose git objects after writes (git/pack-objects.ts). */
    objectPacker,
    /** The per-repository write lock shared by API commits, ref changes and git pushes. */
    lock,
    clock,
    /**
     * After a crash between "branch moved" and "listing updated", the listing fields lag behind
     * git. Git is the truth: bring every repository whose main moved back in line. Runs at
     * start-up, so it also clears ref locks a crash inside `git update-ref` left behind.
     */
    async reconcileListings(): Promise<number> {
      let fixed = 0;
      for (const row of await reposStore.all()) {
        try {
          await removeStaleRefLocks(repos.repoDir(row));
          const head = (await listRefs(repos.repoDir(row))).branches.get("main");
          // also fills the model-intelligence columns of rows written before they existed
          if (head && (head !== row.head_sha || row.intelligence == null)) {
            await repos.refreshListing(row, head);
            fixed++;
          }
        } catch {
          // a repository directory missing after a crash mid-delete: nothing to reconcile
        }
      }
      return fixed;
    },
    async close(): Promise<void> {
      await objectPacker.idle(); // a repack in progress finishes: its files are git's to clean up, not ours
      await mirrorCache.close();
      await db.destroy();
    },
  };
}
