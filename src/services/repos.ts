// Repositories: naming rules, creation and deletion, settings, and who may see or change them
// (the access matrix of hub-api.md §3.4).
//
// A private repository is indistinguishable from a missing one for anyone who cannot read it:
// 401 RepoNotFound without a token, 404 RepoNotFound with one. Never a 403.

import path from "node:path";
import fs from "node:fs";
import { AgoraError } from "../errors.ts";
import type { RepoRow } from "../db/database.ts";
import type { RepoType, ReposStore, RepoWithDownloads } from "../db/repos-store.ts";
import type { AccountsStore } from "../db/accounts-store.ts";
import { buildCommit, initBareRepo, readBlob, readSnapshot, removeRepoDir, updateRef, writeBlob, ZERO_OID } from "../git/bare-repo.ts";
import { newObjectId } from "../lib/ids.ts";
import { parseCardFrontMatter, tagsFromCard } from "../models/card-data.ts";
import { RESERVED_NAMESPACES, type Caller } from "./accounts.ts";
import { defaultGitAttributes } from "./gitattributes.ts";

export type { RepoType, RepoWithDownloads };
export type Repo = RepoWithDownloads;
export type GatedMode = RepoRow["gated"];

/** The Hub's repo-name rule (huggingface_hub validate_repo_id): word characters, - and ., at most 96, no -- or .., no .git suffix. */
const NAME_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;

export function repoFullId(repo: Pick<RepoRow, "namespace" | "name">): string {
  return repo.namespace ? `${repo.namespace}/${repo.name}` : repo.name;
}

export function parseRepoId(id: string): { namespace: string; name: string } {
  const parts = id.split("/");
  if (parts.length > 2 || parts.some((p) => p === "")) throw new AgoraError("InvalidRepoName", `invalid repository id ${JSON.stringify(id)}: expected "namespace/name"`);
  const [namespace, name] = parts.length === 2 ? parts : ["", parts[0]];
  for (const part of namespace ? [namespace, name] : [name]) {
    if (!NAME_PART.test(part) || part.includes("--") || part.includes("..") || part.toLowerCase().endsWith(".git")) {
      throw new AgoraError(
        "InvalidRepoName",
        `invalid repository id ${JSON.stringify(id)}: each part must be 1–96 letters, digits, "_", "-" or ".", must start and end with a letter, digit or "_", and must not contain "--" or ".." or end in ".git"`,
      );
    }
  }
  if (namespace && RESERVED_NAMESPACES.has(namespace.toLowerCase())) throw new AgoraError("InvalidRepoName", `the namespace ${JSON.stringify(namespace)} is reserved`);
  return { namespace, name };
}

/** A fresh repository row: a new id, no head yet, empty listing fields; `fields` override. */
export function newRepoRow(type: RepoType, namespace: string, name: string, now: string, fields: Partial<RepoRow> = {}): RepoRow {
  return {
    id: newObjectId(),
    type,
    namespace,
    name,
    private: 0,
    gated: "false",
    created_at: now,
    last_modified: now,
    head_sha: null,
    card_data: null,
    tags: "[]",
    pipeline_tag: null,
    library_name: null,
    likes: 0,
    ...fields,
  };
}

export function createReposService(deps: { dataDir: string; repos: ReposStore; accounts: AccountsStore; clock?: () => Date }) {
  const clock = deps.clock ?? (() => new Date());
  const reposRoot = path.join(deps.dataDir, "repos");
  fs.mkdirSync(reposRoot, { recursive: true });

  const repoDir = (repo: Pick<RepoRow, "id">) => path.join(reposRoot, `${repo.id}.git`);
  /** Extra listing columns computed from the files (model intelligence), set once at wiring time. */
  let listingFacts: ((repo: Pick<RepoRow, "id">, head: string) => Promise<Partial<RepoRow>>) | undefined;

  /** The caller's role in a namespace: "owner" for their own, the membership role in an org. */
  async function namespaceRole(caller: Caller | null, namespace: string): Promise<"owner" | "admin" | "write" | "read" | undefined> {
    if (!caller || !namespace) return undefined;
    if (caller.account.name.toLowerCase() === namespace.toLowerCase()) return "owner";
    const org = await deps.accounts.findByName(namespace);
    if (!org || org.kind !== "org") return undefined;
    return (await deps.accounts.membership(org.id, caller.account.id))?.role;
  }

  async function canRead(caller: Caller | null, repo: RepoRow): Promise<boolean> {
    if (!repo.private) return true;
    return (await namespaceRole(caller, repo.namespace)) !== undefined;
  }

  /** Write access: a write token and owner/admin/write rights in the namespace. */
  async function canWrite(caller: Caller | null, repo: Pick<RepoRow, "namespace">): Promise<boolean> {
    if (!caller || caller.token.role !== "write") return false;
    const role = await namespaceRole(caller, repo.namespace);
    return role === "owner" || role === "admin" || role === "write";
  }

  function notFound(caller: Caller | null, type: RepoType, id: string): AgoraError {
    const message = `Repository Not Found for url: ${type === "dataset" ? "datasets/" : ""}${id}. Please make sure you specified the correct \`repo_id\` and \`repo_type\`. If you are trying to access a private or gated repo, make sure you are authenticated.`;
    return new AgoraError("RepoNotFound", message, { status: caller ? 404 : 401 });
  }

  const service = {
    repoDir,
    setListingFacts(compute: typeof listingFacts) {
      listingFacts = compute;
    },
    canRead,
    canWrite,
    namespaceRole,

    async find(type: RepoType, id: string): Promise<Repo | undefined> {
      let parsed;
      try {
        parsed = parseRepoId(id);
      } catch {
        return undefined;
      }
      return deps.repos.find(type, parsed.namespace, parsed.name);
    },

    /** The repository if the caller may read it; otherwise exactly what a missing one answers. */
    async findReadable(caller: Caller | null, type: RepoType, id: string): Promise<Repo> {
      const repo = await service.find(type, id);
      if (!repo || !(await canRead(caller, repo))) throw notFound(caller, type, id);
      return repo;
    },

    /** For writes: invisible repos stay invisible; visible ones without rights are 403. */
    async findWritable(caller: Caller | null, type: RepoType, id: string): Promise<Repo> {
      if (!caller) throw new AgoraError("AuthRequired", "You must be authenticated with a write token to change a repository");
      const repo = await service.findReadable(caller, type, id);
      if (repo.mirrored) throw new AgoraError("Forbidden", `${repoFullId(repo)} is a read-only mirror of ${repo.upstream_url ?? "an upstream hub"}`);
      if (!(await canWrite(caller, repo))) {
        throw new AgoraError("Forbidden", caller.token.role !== "write" ? "This token has the read role; writes need a write token" : `You don't have write access to ${repoFullId(repo)}`);
      }
      return repo;
    },

    async create(
      caller: Caller | null,
      input: { type: RepoType; namespace?: string | null; name: string; private?: boolean; gated?: GatedMode },
    ): Promise<{ repo: Repo; created: boolean }> {
      if (!caller) throw new AgoraError("AuthRequired", "You must be authenticated with a write token to create a repository");
      if (caller.token.role !== "write") throw new AgoraError("Forbidden", "This token has the read role; creating a repository needs a write token");
      if (typeof input.name !== "string") throw new AgoraError("BadRequest", "`name` must be a string");
      let namespace = input.namespace ?? caller.account.name;
      let name = input.name;
      // Split at the first "/" only: "ns/a/b" must stay invalid, not be cut down to "ns/a".
      if (name.includes("/")) [namespace, name] = [name.slice(0, name.indexOf("/")), name.slice(name.indexOf("/") + 1)];
      const id = `${namespace}/${name}`;
      parseRepoId(id);
      if (!(await canWrite(caller, { namespace }))) throw new AgoraError("Forbidden", `You don't have the rights to create a repository in the namespace ${namespace}`);
      const existing = await deps.repos.find(input.type, namespace, name);
      if (existing) return { repo: existing, created: false };
      return { repo: await service.createUnchecked(input.type, namespace, name, { private: input.private, gated: input.gated }), created: true };
    },

    /** Creates a repository without access checks (admin CLI and create above). */
    async createUnchecked(type: RepoType, namespace: string, name: string, options: { private?: boolean; gated?: GatedMode } = {}): Promise<Repo> {
      parseRepoId(namespace ? `${namespace}/${name}` : name);
      const now = clock();
      const row = newRepoRow(type, namespace, name, now.toISOString(), { private: options.private ? 1 : 0, gated: options.gated ?? "false" });
      const dir = repoDir(row);
      await initBareRepo(dir);
      // The initial commit carries the LFS patterns, so clients' preupload and git agree from the start.
      const attributes = await writeBlob(dir, defaultGitAttributes(type));
      const { commit } = await buildCommit(dir, {
        parent: null,
        changes: [{ kind: "put", path: ".gitattributes", oid: attributes }],
        message: "initial commit",
        author: { name: "agora", email: "agora@localhost", date: now },
      });
      await updateRef(dir, "refs/heads/main", commit, ZERO_OID);
      row.head_sha = commit;
      try {
        await deps.repos.insert(row);
      } catch (error) {
        removeRepoDir(dir);
        if (String(error).includes("UNIQUE")) {
          const raced = await deps.repos.find(type, namespace, name);
          if (raced) return raced;
        }
        throw error;
      }
      return (await deps.repos.findById(row.id))!;
    },

    async delete(caller: Caller | null, type: RepoType, id: string): Promise<void> {
      const repo = await service.findWritable(caller, type, id);
      await deps.repos.delete(repo.id);
      // The row is gone first: if we crash now, an orphan directory is left, never a row without git.
      removeRepoDir(repoDir(repo));
    },

    async updateSettings(caller: Caller | null, type: RepoType, id: string, settings: { private?: boolean; gated?: GatedMode }): Promise<Repo> {
      const repo = await service.findWritable(caller, type, id);
      const fields: Partial<RepoRow> = {};
      if (settings.private !== undefined) fields.private = settings.private ? 1 : 0;
      if (settings.gated !== undefined) fields.gated = settings.gated;
      if (Object.keys(fields).length) await deps.repos.update(repo.id, fields);
      return (await deps.repos.findById(repo.id))!;
    },

    /** Recomputes the listing fields (card data, tags, lastModified) after the default branch moved. */
    async refreshListing(repo: Pick<RepoRow, "id">, head: string, modifiedAt: Date = clock()): Promise<void> {
      const dir = repoDir(repo);
      const snapshot = await readSnapshot(dir, head);
      const readme = snapshot.byPath.get("README.md");
      let card: Record<string, unknown> | null = null;
      if (readme?.type === "file" && !readme.lfs && readme.blobSize <= 4 * 1024 * 1024) {
        const parsed = parseCardFrontMatter((await readBlob(dir, readme.oid)).toString("utf8"));
        card = parsed.ok ? parsed.data : null;
      }
      const { tags, pipelineTag, libraryName } = tagsFromCard(card);
      const fileTags = new Set(tags);
      for (const entry of snapshot.entries) {
        if (entry.type !== "file") continue;
        if (entry.path.endsWith(".safetensors")) fileTags.add("safetensors");
        if (entry.path.endsWith(".gguf")) fileTags.add("gguf");
      }
      const facts = listingFacts ? await listingFacts(repo, head).catch(() => ({})) : {};
      await deps.repos.update(repo.id, {
        ...facts,
        head_sha: head,
        last_modified: modifiedAt.toISOString(),
        card_data: card ? JSON.stringify(card) : null,
        tags: JSON.stringify([...fileTags]),
        pipeline_tag: pipelineTag,
        library_name: libraryName,
      });
    },
  };
  return service;
}

export type ReposService = ReturnType<typeof createReposService>;
