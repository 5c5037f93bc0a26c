// Numbered, forward-only schema migrations (index 0 is version 1). Never edit a shipped entry:
// append a new one.

export const migrations: string[][] = [
  [
    `CREATE TABLE accounts (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE COLLATE NOCASE,
      fullname TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('user','org')),
      created_at TEXT NOT NULL
    )`,
    `CREATE TABLE memberships (
      org_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
      user_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
      role TEXT NOT NULL CHECK (role IN ('admin','write','read')),
      created_at TEXT NOT NULL,
      PRIMARY KEY (org_id, user_id)
    )`,
    `CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
      name TEXT NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('read','write')),
      hash TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL,
      expires_at TEXT,
      revoked_at TEXT
    )`,
    `CREATE TABLE repos (
      id TEXT PRIMARY KEY,
      type TEXT NOT NULL CHECK (type IN ('model','dataset')),
      namespace TEXT NOT NULL,
      name TEXT NOT NULL,
      private INTEGER NOT NULL DEFAULT 0,
      gated TEXT NOT NULL DEFAULT 'false' CHECK (gated IN ('false','auto','manual')),
      created_at TEXT NOT NULL,
      last_modified TEXT NOT NULL,
      head_sha TEXT,
      card_data TEXT,
      tags TEXT NOT NULL DEFAULT '[]',
      pipeline_tag TEXT,
      library_name TEXT,
      likes INTEGER NOT NULL DEFAULT 0,
      UNIQUE (type, namespace, name) ON CONFLICT ABORT
    )`,
    `CREATE UNIQUE INDEX repos_id_nocase ON repos (type, namespace COLLATE NOCASE, name COLLATE NOCASE)`,
    `CREATE TABLE access_grants (
      repo_id TEXT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
      account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
      status TEXT NOT NULL CHECK (status IN ('pending','accepted','rejected')),
      created_at TEXT NOT NULL,
      fields TEXT,
      PRIMARY KEY (repo_id, account_id)
    )`,
    `CREATE TABLE downloads (
      repo_id TEXT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
      day TEXT NOT NULL,
      count INTEGER NOT NULL,
      PRIMARY KEY (repo_id, day)
    )`,
    `CREATE TABLE lfs_links (
      repo_id TEXT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
      oid TEXT NOT NULL,
      size INTEGER NOT NULL,
      created_at TEXT NOT NULL,
      PRIMARY KEY (repo_id, oid)
    )`,
  ],
  [
    // Model intelligence, recomputed whenever the default branch moves; the columns exist so that
    // listings can filter on them in SQL. Parameter counts are integers; NULL = unknown.
    `ALTER TABLE repos ADD COLUMN params_total INTEGER`,
    `ALTER TABLE repos ADD COLUMN params_active INTEGER`,
    `ALTER TABLE repos ADD COLUMN moe INTEGER`,
    `ALTER TABLE repos ADD COLUMN license_id TEXT`,
    `ALTER TABLE repos ADD COLUMN license_class TEXT`,
    `ALTER TABLE repos ADD COLUMN commercial_use TEXT`,
    `ALTER TABLE repos ADD COLUMN min_memory_bytes INTEGER`,
    `ALTER TABLE repos ADD COLUMN intelligence TEXT`,
  ],
  [
    // Pull-through mirror (services/mirror.ts): a mirrored repository is a local row whose git
    // directory is fetched from the upstream hub it came from.
    `ALTER TABLE repos ADD COLUMN mirrored INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE repos ADD COLUMN upstream_url TEXT`,
    `ALTER TABLE repos ADD COLUMN upstream_gated TEXT`,
    `ALTER TABLE repos ADD COLUMN refs_fetched_at TEXT`,
  ],
  [
    // Repositories renamed on an upstream hub (services/mirror.ts): the id a client asked for and
    // the mirrored repository it now names; requests for the old id are redirected to the new one.
    `CREATE TABLE repo_aliases (
      type TEXT NOT NULL CHECK (type IN ('model','dataset')),
      namespace TEXT NOT NULL COLLATE NOCASE,
      name TEXT NOT NULL COLLATE NOCASE,
      repo_id TEXT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
      created_at TEXT NOT NULL,
      PRIMARY KEY (type, namespace, name)
    )`,
  ],
  [
    // Mirror cache (services/mirror-cache.ts): when each LFS object fetched by the mirror was
    // last downloaded, for least-recently-used eviction under mirror.cacheMax, and the revisions
    // of mirrored repositories pinned against eviction (the commit they resolved to when pinned).
    `CREATE TABLE mirror_objects (
      oid TEXT PRIMARY KEY,
      size INTEGER NOT NULL,
      last_access_at TEXT NOT NULL
    )`,
    `CREATE INDEX mirror_objects_lru ON mirror_objects (last_access_at)`,
    `CREATE TABLE mirror_pins (
      repo_id TEXT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
      revision TEXT NOT NULL,
      commit_oid TEXT NOT NULL,
      created_at TEXT NOT NULL,
      PRIMARY KEY (repo_id, revision)
    )`,
  ],
];
