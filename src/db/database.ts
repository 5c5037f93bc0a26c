// The metadata database: Kysely over better-sqlite3 (the embedded default).
//
// Git holds the content and history of every repository; this database holds what git cannot:
// accounts, tokens, repository settings, access grants, download counts, and a copy of the
// default branch's listing metadata (card data, tags) so searches never touch git.
// SQLite runs in WAL mode with synchronous=FULL: a committed transaction survives a crash.

import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { Generated } from "kysely";
import { Kysely, SqliteDialect } from "./kysely.ts";
import { migrations } from "./migrations.ts";

export type AccountRow = {
  id: string; // 24 hex, Mongo-style as the Hub's clients expect
  name: string;
  fullname: string;
  kind: "user" | "org";
  created_at: string;
};

export type MembershipRow = { org_id: string; user_id: string; role: "admin" | "write" | "read"; created_at: string };

export type TokenRow = {
  id: string;
  account_id: string;
  name: string;
  role: "read" | "write";
  hash: string; // sha256 of the token text
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
};

export type RepoRow = {
  id: string; // 24 hex; also names the bare git directory
  type: "model" | "dataset";
  namespace: string; // "" for one-segment legacy ids such as `gpt2`
  name: string;
  private: number;
  gated: "false" | "auto" | "manual";
  created_at: string;
  last_modified: string;
  head_sha: string | null; // default branch head the listing fields below were computed from
  card_data: string | null; // JSON
  tags: string; // JSON array
  pipeline_tag: string | null;
  library_name: string | null;
  likes: number;
  /** Model intelligence (migration 2): see services/intelligence.ts. */
  params_total?: number | null;
  params_active?: number | null;
  moe?: number | null;
  license_id?: string | null;
  license_class?: string | null;
  commercial_use?: string | null;
  /** Memory to run the model at Q4_K_M with a 4096-token context: the `fits=PROFILE` filter compares it. */
  min_memory_bytes?: number | null;
  intelligence?: string | null; // JSON of the `agora` object
  /** Pull-through mirror (migration 3): 1 for a read-only copy of an upstream hub's repository. */
  mirrored?: number;
  upstream_url?: string | null;
  /** The upstream's `gated` value when last fetched (the row's `gated` follows it). */
  upstream_gated?: string | null;
  /** When the branches were last fetched from the upstream (ISO time). */
  refs_fetched_at?: string | null;
};

export type AccessGrantRow = { repo_id: string; account_id: string; status: "pending" | "accepted" | "rejected"; created_at: string; fields: string | null };
export type DownloadRow = { repo_id: string; day: string; count: number };
export type LfsLinkRow = { repo_id: string; oid: string; size: number; created_at: string };
export type MigrationRow = { version: Generated<number>; applied_at: string };
/** An LFS object the pull-through mirror fetched and keeps: its size and last download (services/mirror-cache.ts). */
export type MirrorObjectRow = { oid: string; size: number; last_access_at: string };
/** A revision of a mirrored repository whose LFS objects are never evicted, as given and as resolved. */
export type MirrorPinRow = { repo_id: string; revision: string; commit_oid: string; created_at: string };
/** An old id of a repository renamed on an upstream hub, naming the mirrored row it became. */
export type RepoAliasRow = { type: "model" | "dataset"; namespace: string; name: string; repo_id: string; created_at: string };

export type Schema = {
  accounts: AccountRow;
  memberships: MembershipRow;
  tokens: TokenRow;
  repos: RepoRow;
  access_grants: AccessGrantRow;
  downloads: DownloadRow;
  lfs_links: LfsLinkRow;
  repo_aliases: RepoAliasRow;
  mirror_objects: MirrorObjectRow;
  mirror_pins: MirrorPinRow;
  schema_migrations: MigrationRow;
};

export type Db = Kysely<Schema>;

export function openSqlite(dataDir: string): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const sqlite = new Database(path.join(dataDir, "agora.sqlite"));
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 10000");
  migrate(sqlite);
  return new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** Forward-only numbered migrations, applied at every open inside one transaction each. */
function migrate(sqlite: Database.Database): void {
  sqlite.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  const applied = new Set(sqlite.prepare("SELECT version FROM schema_migrations").all().map((r) => (r as { version: number }).version));
  for (const [index, statements] of migrations.entries()) {
    const version = index + 1;
    if (applied.has(version)) continue;
    sqlite.transaction(() => {
      for (const statement of statements) sqlite.exec(statement);
      sqlite.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(version, new Date().toISOString());
    })();
  }
}
