// Air-gapped transfer of one revision of a repository: `export` writes a single tar archive,
// `import` turns it into a read-only mirrored repository on a hub that cannot reach the source.
//
// The archive (tar, entries in this order):
//   agora-transfer.json   the manifest: format version, repository type/id, visibility, gated
//                         mode, upstream URL, the revision (name, ref, ref target, commit id) and
//                         every LFS object of the snapshot (oid, size, one path)
//   repo.bundle           `git bundle` of the revision with complete history, under the ref it
//                         has here (or refs/agora/imported/<commit> for a bare commit id), so
//                         commit ids stay the source's
//   lfs/<sha256>          each LFS object the snapshot references, once
//
// Export: the license policy judges the license at the exported commit as it would a download
// (enforce: nothing is written unless the operator passes --ignore-license-policy; dry-run: a
// warning). LFS objects of a mirrored repository that are not cached yet are fetched first through
// the mirror's verified path (services/mirror.ts fetchObject); when that fails the export stops
// and says to prefetch. The archive is written to FILE.tmp, fsynced and renamed to FILE, so a
// failure never leaves a partial archive under FILE.
//
// Import reads the archive twice, streaming, never holding an object in memory:
//   1. verify: the manifest is read and checked, entries other than the three kinds above are
//      refused (so no name can reach the filesystem), every LFS object is hashed and compared
//      with the manifest, the bundle is checked with `git bundle verify`, fetched into a scratch
//      repository and its snapshot's LFS pointers compared with the manifest. A tampered,
//      truncated or inconsistent archive is refused here, with nothing published.
//   2. publish: each object not in the store yet goes through the blob store's writer, whose
//      commit() verifies SHA-256 and size again; then the bundle is fetched into the repository
//      (created as a mirrored row, or an existing mirror), the revision's ref is set, the listing
//      refreshed and the objects linked. Only if the file changes between the two passes can a
//      refusal leave objects behind: published, verified, and referenced by no repository.
//
// Refs are never rewritten: an existing branch moves only forward (fast-forward); a branch that
// already contains the commit, a diverged branch or a tag pointing elsewhere is kept as it is,
// and the imported commit stays reachable through refs/agora/imported/<commit>.

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import tar from "tar-stream";
import { AgoraError } from "../errors.ts";
import type { Config } from "../config/config.ts";
import type { RepoRow } from "../db/database.ts";
import type { ReposStore, RepoType } from "../db/repos-store.ts";
import { sha256OfStream } from "../lib/sha256-stream.ts";
import { SHA256_HEX, type BlobStore } from "../storage/blob-store.ts";
import { COMMIT_OID, deleteRef, initBareRepo, isValidRefName, listRefs, readSnapshot, removeRepoDir, updateRef, ZERO_OID, type FileEntry } from "../git/bare-repo.ts";
import { createBundle, fetchBundleRef, isAncestor, peelToCommit, refTarget, verifyBundle } from "../git/bundle.ts";
import type { FilesService } from "./files.ts";
import type { LicensePolicyService } from "./license-policy.ts";
import type { MirrorService } from "./mirror.ts";
import { newRepoRow, parseRepoId, repoFullId, type Repo, type ReposService } from "./repos.ts";

export const TRANSFER_FORMAT = "agora-mirror-transfer";
export const TRANSFER_VERSION = 1;
const MANIFEST_ENTRY = "agora-transfer.json";
const BUNDLE_ENTRY = "repo.bundle";
const LFS_ENTRY = /^lfs\/([0-9a-f]{64})$/;
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** Refs an archive may set: branches, tags, and the Hub's pull-request and convert refs. */
const SETTABLE_REF = /^refs\/(heads\/.+|tags\/.+|convert\/.+|pr\/\d+)$/;
const READ_CHUNK = 1024 * 1024;

export type TransferLfsObject = { oid: string; size: number; path: string };

export type TransferManifest = {
  format: typeof TRANSFER_FORMAT;
  version: typeof TRANSFER_VERSION;
  exportedAt: string;
  repo: {
    type: RepoType;
    id: string;
    private: boolean;
    gated: RepoRow["gated"];
    /** The hub this copy came from: the mirror's upstream, or the exporting hub's public URL; null when unknown. */
    upstream: string | null;
    /** When the revision was last known to match the upstream (the X-HF-Warning's "cached refs from" time). */
    refsFetchedAt: string;
  };
  revision: {
    /** What the user asked for: a branch, tag or commit id. */
    requested: string;
    /** The ref it names (refs/heads/…, refs/tags/…), or null for a commit id. */
    ref: string | null;
    /** The object the ref points at (an annotated tag's own id), else the commit. */
    target: string;
    commit: string;
  };
  lfs: TransferLfsObject[];
};

export type ExportSummary = { manifest: TransferManifest; files: number; lfsBytes: number; archiveBytes: number; fetched: string[] };

/** What happened to the revision's ref: "ahead" = it already contains the commit; "kept" = it diverged and was left as is. */
export type RefOutcome = "created" | "fast-forwarded" | "unchanged" | "ahead" | "kept" | "pinned";

export type ImportSummary = {
  manifest: TransferManifest;
  repo: Repo;
  created: boolean;
  ref: { name: string | null; outcome: RefOutcome; current?: string };
  storedObjects: number;
  storedBytes: number;
  presentObjects: number;
};

/** The ref name a revision travels under inside the bundle. */
function bundleRef(revision: TransferManifest["revision"]): string {
  return revision.ref ?? importedRef(revision.commit);
}

function importedRef(commit: string): string {
  return `refs/agora/imported/${commit}`;
}

function invalid(message: string, cause?: unknown): AgoraError {
  return new AgoraError("BadRequest", message, { cause });
}

export function createMirrorTransferService(deps: {
  config: Pick<Config, "dataDir" | "publicUrl">;
  reposService: ReposService;
  repos: ReposStore;
  files: FilesService;
  blobs: BlobStore;
  mirror: MirrorService;
  licensePolicy: LicensePolicyService;
  clock?: () => Date;
}) {
  const clock = deps.clock ?? (() => new Date());
  const tmpRoot = path.join(deps.config.dataDir, "tmp");

  async function workDir(prefix: string): Promise<string> {
    await fsp.mkdir(tmpRoot, { recursive: true });
    return fsp.mkdtemp(path.join(tmpRoot, prefix));
  }

  /** Makes sure every object is in the store, fetching a mirrored repository's missing ones from its upstream. */
  async function ensureObjects(repo: Repo, commit: string, objects: TransferLfsObject[], onFetched: (object: TransferLfsObject) => void): Promise<void> {
    for (const object of objects) {
      if ((await deps.blobs.stat(object.oid))?.size === object.size) continue;
      const label = `${repo.type === "dataset" ? "datasets/" : ""}${repoFullId(repo)}`;
      if (!repo.mirrored) throw new AgoraError("Internal", `LFS object ${object.oid} of ${object.path} in ${label} is missing from the store`);
      try {
        await deps.mirror.fetchObject(repo, commit, object.path, object);
      } catch (error) {
        throw new AgoraError(
          "UpstreamUnavailable",
          `${object.path} (LFS object ${object.oid}) of ${label} is not cached here and could not be fetched from ${repo.upstream_url ?? "the upstream"}: ${(error as Error).message}. ` +
            `Run \`agora mirror prefetch ${label}@${commit}\` while the upstream is reachable, then export again.`,
          { cause: error },
        );
      }
      onFetched(object);
    }
  }

  /** Writes the archive of `rev` to `file` (through `file.tmp`, renamed at the end). */
  async function exportRevision(
    target: { type: RepoType; id: string; rev: string },
    file: string,
    options: {
      onFetched?: (object: TransferLfsObject) => void;
      /** Export even when the license policy enforces a refusal of the revision's license. */
      ignoreLicensePolicy?: boolean;
      /** Told of a refusal that is not enforced (dry-run policy, or ignoreLicensePolicy). */
      onLicenseWarning?: (message: string) => void;
    } = {},
  ): Promise<ExportSummary> {
    const repo = (await deps.reposService.find(target.type, target.id)) ?? (await deps.mirror.ensure(target.type, target.id));
    if (!repo) throw new AgoraError("RepoNotFound", `${target.type === "dataset" ? "datasets/" : ""}${target.id} is not a repository of this hub`);
    const dir = deps.reposService.repoDir(repo);
    const { commit, refName } = await deps.files.resolveRevision(repo, target.rev);
    const ref = refName ?? null;
    const refObject = ref ? await refTarget(dir, ref) : commit;
    if (!refObject) throw new AgoraError("RevisionNotFound", `Invalid rev id: ${target.rev}`);
    // The archive carries the weights out of this hub as a download would: judged at the
    // exported commit, before anything is fetched or written.
    const refusal = await deps.licensePolicy.revisionRefusal(repo, commit, "exports");
    if (refusal?.enforced && !options.ignoreLicensePolicy) {
      throw new AgoraError("LicensePolicy", `${refusal.message}. No archive was written; an operator may export it anyway with --ignore-license-policy`);
    }
    if (refusal) options.onLicenseWarning?.(refusal.enforced ? `${refusal.message} (ignored: --ignore-license-policy)` : `${refusal.message} (dry-run: exported anyway)`);
    const snapshot = await readSnapshot(dir, commit);
    const fileEntries = snapshot.entries.filter((e): e is FileEntry => e.type === "file");
    const objects = new Map<string, TransferLfsObject>();
    for (const entry of fileEntries) if (entry.lfs && !objects.has(entry.lfs.oid)) objects.set(entry.lfs.oid, { oid: entry.lfs.oid, size: entry.lfs.size, path: entry.path });
    const fetched: string[] = [];
    await ensureObjects(repo, commit, [...objects.values()], (object) => {
      fetched.push(object.path);
      options.onFetched?.(object);
    });

    const exportedAt = clock().toISOString();
    const manifest: TransferManifest = {
      format: TRANSFER_FORMAT,
      version: TRANSFER_VERSION,
      exportedAt,
      repo: {
        type: repo.type,
        id: repoFullId(repo),
        private: repo.private === 1,
        gated: repo.gated,
        upstream: repo.upstream_url ?? (deps.config.publicUrl || null),
        refsFetchedAt: (repo.mirrored && repo.refs_fetched_at) || exportedAt,
      },
      revision: { requested: target.rev, ref, target: refObject, commit },
      lfs: [...objects.values()],
    };

    const work = await workDir("export-");
    const partial = `${file}.tmp`;
    try {
      const bundleFile = path.join(work, BUNDLE_ENTRY);
      await createBundle(dir, bundleRef(manifest.revision), refObject, bundleFile, work);
      const mtime = new Date(exportedAt);
      const pack = tar.pack();
      const out = fs.createWriteStream(partial);
      await once(out, "open").catch((error: unknown) => {
        throw new AgoraError("BadRequest", `cannot write ${partial}: ${(error as Error).message}`, { cause: error });
      });
      pack.pipe(out);
      const written = finished(out);
      written.catch(() => {});
      // A failing file (a full disk) stops the pack from draining: each step also ends on the file's error.
      const step = (adding: Promise<void>) => Promise.race([adding, written.then(() => Promise.reject(new Error("the archive file was closed early")))]);
      try {
        const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
        await step(addEntry(pack, { name: MANIFEST_ENTRY, size: manifestBytes.length, mode: 0o644, mtime }, manifestBytes));
        await step(addEntry(pack, { name: BUNDLE_ENTRY, size: (await fsp.stat(bundleFile)).size, mode: 0o644, mtime }, fs.createReadStream(bundleFile, { highWaterMark: READ_CHUNK })));
        for (const object of manifest.lfs) {
          await step(addEntry(pack, { name: `lfs/${object.oid}`, size: object.size, mode: 0o644, mtime }, deps.blobs.createReadStream(object.oid)));
        }
        pack.finalize();
        await written;
      } catch (error) {
        pack.destroy(error as Error);
        out.destroy();
        throw error;
      }
      const handle = await fsp.open(partial, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(partial, file);
      const archiveBytes = (await fsp.stat(file)).size;
      return { manifest, files: fileEntries.length, lfsBytes: manifest.lfs.reduce((n, o) => n + o.size, 0), archiveBytes, fetched };
    } catch (error) {
      await fsp.rm(partial, { force: true });
      throw error;
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }

  /** Pass 1: checks everything in the archive without publishing anything; leaves the bundle in `work`. */
  async function verifyArchive(file: string, work: string): Promise<{ manifest: TransferManifest; bundleFile: string }> {
    let manifest: TransferManifest | undefined;
    let expected = new Map<string, TransferLfsObject>();
    const seen = new Set<string>();
    const bundleFile = path.join(work, BUNDLE_ENTRY);
    let haveBundle = false;
    await forEachEntry(file, async (header, entry) => {
      const name = header.name;
      if (header.type !== "file") throw invalid(`the archive holds ${JSON.stringify(name.slice(0, 200))} of type ${header.type ?? "unknown"}; an Agora transfer archive holds only files`);
      if (!manifest) {
        if (name !== MANIFEST_ENTRY) throw invalid(`not an Agora transfer archive: its first entry is ${JSON.stringify(name.slice(0, 200))}, not ${MANIFEST_ENTRY}`);
        if ((header.size ?? 0) > MAX_MANIFEST_BYTES) throw invalid(`the manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
        manifest = await parseManifest(await readAll(entry));
        expected = new Map(manifest.lfs.map((o) => [o.oid, o]));
        await refuseLocal(manifest);
        return;
      }
      if (name === BUNDLE_ENTRY) {
        if (haveBundle) throw invalid(`the archive holds ${BUNDLE_ENTRY} twice`);
        haveBundle = true;
        await writeEntry(entry, fs.createWriteStream(bundleFile, { flags: "wx" }));
        return;
      }
      const lfs = LFS_ENTRY.exec(name);
      if (!lfs) throw invalid(`the archive holds an unexpected entry ${JSON.stringify(name.slice(0, 200))}; refusing it`);
      const object = expected.get(lfs[1]);
      if (!object) throw invalid(`the archive holds LFS object ${lfs[1]}, which its manifest does not list`);
      if (seen.has(object.oid)) throw invalid(`the archive holds LFS object ${object.oid} twice`);
      seen.add(object.oid);
      if (header.size !== object.size) throw mismatch(object, `its entry has ${header.size} bytes, the manifest says ${object.size}`);
      const { oid, size } = await sha256OfStream(entry);
      if (oid !== object.oid || size !== object.size) throw mismatch(object, `its bytes have SHA-256 ${oid} and size ${size}`);
    });
    if (!manifest) throw invalid("the archive is empty");
    if (!haveBundle) throw invalid(`the archive has no ${BUNDLE_ENTRY}: it is truncated or not an Agora transfer archive`);
    const missing = manifest.lfs.filter((o) => !seen.has(o.oid));
    if (missing.length) throw invalid(`the archive lacks ${missing.length} of the ${manifest.lfs.length} LFS objects its manifest lists (first: ${missing[0].path}, ${missing[0].oid}): it is truncated`);
    await checkBundle(manifest, bundleFile, path.join(work, "scratch.git"));
    return { manifest, bundleFile };
  }

  function mismatch(object: TransferLfsObject, detail: string): AgoraError {
    return new AgoraError("LfsObjectMismatch", `LFS object ${object.oid} (${object.path}) in the archive does not match its manifest: ${detail}. The archive is damaged or was altered; nothing was imported`);
  }

  /** The bundle must carry exactly the manifest's revision, and that commit's LFS pointers must be the manifest's objects. */
  async function checkBundle(manifest: TransferManifest, bundleFile: string, scratch: string): Promise<void> {
    await initBareRepo(scratch);
    let heads: Map<string, string>;
    try {
      heads = await verifyBundle(scratch, bundleFile);
    } catch (error) {
      throw invalid(`${BUNDLE_ENTRY} in the archive is not a valid git bundle: ${(error as Error).message}`, error);
    }
    const ref = bundleRef(manifest.revision);
    if (heads.size !== 1 || heads.get(ref) !== manifest.revision.target) {
      throw invalid(`manifest/bundle mismatch: the manifest names ${ref} at ${manifest.revision.target}, the bundle carries ${[...heads].map(([n, o]) => `${n} at ${o}`).join(", ") || "no ref"}`);
    }
    await fetchBundleRef(scratch, bundleFile, ref, importedRef(manifest.revision.commit));
    const commit = await peelToCommit(scratch, manifest.revision.target).catch(() => undefined);
    if (commit !== manifest.revision.commit) throw invalid(`manifest/bundle mismatch: ${ref} in the bundle is commit ${commit ?? "(none)"}, the manifest says ${manifest.revision.commit}`);
    const snapshot = await readSnapshot(scratch, commit);
    const pointers = new Map<string, number>();
    for (const entry of snapshot.entries) if (entry.type === "file" && entry.lfs) pointers.set(entry.lfs.oid, entry.lfs.size);
    const listed = new Map(manifest.lfs.map((o) => [o.oid, o.size]));
    const unlisted = [...pointers].filter(([oid, size]) => listed.get(oid) !== size);
    const extra = [...listed].filter(([oid, size]) => pointers.get(oid) !== size);
    if (unlisted.length || extra.length) {
      throw invalid(
        `manifest/bundle mismatch: commit ${commit} references ${pointers.size} LFS objects, the manifest lists ${listed.size}` +
          (unlisted.length ? `; not listed: ${unlisted[0][0]} (${unlisted[0][1]} bytes)` : "") +
          (extra.length ? `; listed but not in the commit: ${extra[0][0]} (${extra[0][1]} bytes)` : ""),
      );
    }
  }

  /** A name that exists here as a local repository is never turned into (or shadowed by) a mirror. */
  async function refuseLocal(manifest: TransferManifest): Promise<Repo | undefined> {
    const existing = await deps.reposService.find(manifest.repo.type, manifest.repo.id);
    if (existing && !existing.mirrored) {
      throw new AgoraError("Conflict", `${manifest.repo.type === "dataset" ? "datasets/" : ""}${repoFullId(existing)} exists here as a local repository; an archive is imported only as a new or existing mirror`);
    }
    return existing;
  }

  /** Pass 2: publishes the objects not in the store yet, through the writer's verified commit. */
  async function publishObjects(file: string, manifest: TransferManifest): Promise<{ stored: number; storedBytes: number; present: number }> {
    const wanted = new Map(manifest.lfs.map((o) => [o.oid, o]));
    let stored = 0;
    let storedBytes = 0;
    let present = 0;
    await forEachEntry(file, async (header, entry) => {
      const lfs = LFS_ENTRY.exec(header.name);
      const object = lfs ? wanted.get(lfs[1]) : undefined;
      if (!object) return drain(entry);
      wanted.delete(object.oid);
      if ((await deps.blobs.stat(object.oid))?.size === object.size) {
        present++;
        return drain(entry);
      }
      const writer = await deps.blobs.write();
      try {
        await writeEntry(entry, writer.stream);
        await writer.commit(object.oid, object.size); // verifies SHA-256 and size again: the file may have changed since pass 1
      } catch (error) {
        await writer.abort().catch(() => {});
        if (error instanceof AgoraError) throw error;
        throw mismatch(object, `${(error as Error).message} (the archive changed while it was being imported)`);
      }
      stored++;
      storedBytes += object.size;
    });
    if (wanted.size) throw invalid(`the archive changed while it was being imported: ${wanted.size} LFS objects are gone`);
    return { stored, storedBytes, present };
  }

  /** Moves the revision's ref to the imported commit where that rewrites nothing. */
  async function setRef(dir: string, manifest: TransferManifest): Promise<ImportSummary["ref"]> {
    const { ref, target, commit } = manifest.revision;
    const pinned = importedRef(commit);
    if (!ref) return { name: null, outcome: "pinned" };
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await refTarget(dir, ref);
      let outcome: RefOutcome;
      if (current === target) outcome = "unchanged";
      else if (!current) outcome = "created";
      else {
        const currentCommit = await peelToCommit(dir, current);
        if (ref.startsWith("refs/heads/") && (await isAncestor(dir, currentCommit, commit))) outcome = "fast-forwarded";
        else if (await isAncestor(dir, commit, currentCommit)) {
          await deleteRef(dir, pinned, target);
          return { name: ref, outcome: "ahead", current: currentCommit };
        } else return { name: ref, outcome: "kept", current: currentCommit }; // the commit stays reachable through the pinned ref
      }
      if (outcome !== "unchanged" && !(await updateRef(dir, ref, target, current ?? ZERO_OID))) continue; // moved meanwhile: look again
      await deleteRef(dir, pinned, target);
      return { name: ref, outcome };
    }
    throw new AgoraError("Conflict", `${ref} kept moving while the archive was imported; import it again`);
  }

  /** Imports an archive written by `exportRevision`. */
  async function importArchive(file: string): Promise<ImportSummary> {
    await fsp.access(file, fs.constants.R_OK).catch((error: unknown) => {
      throw invalid(`cannot read ${file}: ${(error as Error).message}`, error);
    });
    const work = await workDir("import-");
    try {
      const { manifest, bundleFile } = await verifyArchive(file, work);
      const existing = await refuseLocal(manifest);
      const { stored, storedBytes, present } = await publishObjects(file, manifest);
      const { type } = manifest.repo;
      const { namespace, name } = parseRepoId(manifest.repo.id);
      let row: Repo;
      let created = false;
      let ref: ImportSummary["ref"];
      if (existing) {
        row = existing;
        const dir = deps.reposService.repoDir(row);
        await fetchBundleRef(dir, bundleFile, bundleRef(manifest.revision), importedRef(manifest.revision.commit));
        ref = await setRef(dir, manifest);
      } else {
        const now = clock().toISOString();
        const fresh = newRepoRow(type, namespace, name, now, {
          private: manifest.repo.private ? 1 : 0,
          gated: manifest.repo.gated,
          mirrored: 1,
          upstream_url: manifest.repo.upstream,
          upstream_gated: manifest.repo.gated,
          refs_fetched_at: manifest.repo.refsFetchedAt,
        });
        const dir = deps.reposService.repoDir(fresh);
        try {
          await initBareRepo(dir);
          await fetchBundleRef(dir, bundleFile, bundleRef(manifest.revision), importedRef(manifest.revision.commit));
          ref = await setRef(dir, manifest);
          await deps.repos.insert(fresh);
        } catch (error) {
          removeRepoDir(dir);
          if (String(error).includes("UNIQUE")) throw new AgoraError("Conflict", `${manifest.repo.id} was created here while the archive was being imported; import it again`, { cause: error });
          throw error;
        }
        row = (await deps.repos.findById(fresh.id))!;
        created = true;
      }
      for (const object of manifest.lfs) await deps.repos.linkLfsObject(row.id, object.oid, object.size);
      // An object found already stored was not written again, and `agora gc` deletes stored
      // objects no repository links: one may have gone before its link above. Linked now, what
      // is written again stays.
      for (const object of manifest.lfs) {
        if ((await deps.blobs.stat(object.oid))?.size === object.size) continue;
        await publishObjects(file, manifest);
        break;
      }
      const head = (await listRefs(deps.reposService.repoDir(row))).branches.get("main");
      if (head && head !== row.head_sha) await deps.reposService.refreshListing(row, head);
      return { manifest, repo: (await deps.repos.findById(row.id))!, created, ref, storedObjects: stored, storedBytes, presentObjects: present };
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }

  return { exportRevision, importArchive };
}

export type MirrorTransferService = ReturnType<typeof createMirrorTransferService>;

/** Validates an untrusted manifest. */
async function parseManifest(bytes: Buffer): Promise<TransferManifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw invalid(`the manifest ${MANIFEST_ENTRY} is not JSON: ${(error as Error).message}`, error);
  }
  const problem = (what: string) => invalid(`the manifest ${MANIFEST_ENTRY} is invalid: ${what}`);
  const m = raw as Partial<TransferManifest> | null;
  if (!m || typeof m !== "object") throw problem("not an object");
  if (m.format !== TRANSFER_FORMAT) throw invalid(`not an Agora transfer archive (format ${JSON.stringify(m.format)})`);
  if (m.version !== TRANSFER_VERSION) throw invalid(`transfer format version ${JSON.stringify(m.version)} is not supported here (this Agora reads version ${TRANSFER_VERSION})`);
  const { repo, revision, lfs } = m;
  if (typeof m.exportedAt !== "string" || Number.isNaN(Date.parse(m.exportedAt))) throw problem("exportedAt must be an ISO time");
  if (!repo || typeof repo !== "object") throw problem("repo is missing");
  if (repo.type !== "model" && repo.type !== "dataset") throw problem("repo.type must be model or dataset");
  if (typeof repo.id !== "string") throw problem("repo.id must be a string");
  parseRepoId(repo.id);
  if (typeof repo.private !== "boolean") throw problem("repo.private must be true or false");
  if (repo.gated !== "false" && repo.gated !== "auto" && repo.gated !== "manual") throw problem('repo.gated must be "false", "auto" or "manual"');
  if (repo.upstream !== null && (typeof repo.upstream !== "string" || !/^https?:\/\/[^\s]+$/.test(repo.upstream))) throw problem("repo.upstream must be an http(s) URL or null");
  if (typeof repo.refsFetchedAt !== "string" || Number.isNaN(Date.parse(repo.refsFetchedAt))) throw problem("repo.refsFetchedAt must be an ISO time");
  if (!revision || typeof revision !== "object") throw problem("revision is missing");
  if (typeof revision.requested !== "string") throw problem("revision.requested must be a string");
  if (typeof revision.commit !== "string" || !COMMIT_OID.test(revision.commit)) throw problem("revision.commit must be a 40-hex commit id");
  if (typeof revision.target !== "string" || !COMMIT_OID.test(revision.target)) throw problem("revision.target must be a 40-hex object id");
  if (revision.ref !== null && (typeof revision.ref !== "string" || !SETTABLE_REF.test(revision.ref) || !(await isValidRefName(revision.ref)))) {
    throw problem(`revision.ref ${JSON.stringify(revision.ref)} is not a branch, tag, refs/pr/N or refs/convert/ ref`);
  }
  if (revision.ref === null && revision.target !== revision.commit) throw problem("a revision without a ref must target its commit");
  if (!Array.isArray(lfs)) throw problem("lfs must be a list");
  const oids = new Set<string>();
  for (const object of lfs as unknown[]) {
    const o = object as Partial<TransferLfsObject> | null;
    if (!o || typeof o.oid !== "string" || !SHA256_HEX.test(o.oid)) throw problem("every lfs object needs a 64-hex oid");
    if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) throw problem(`lfs object ${o.oid} needs a size in bytes`);
    if (typeof o.path !== "string") throw problem(`lfs object ${o.oid} needs a path`);
    if (oids.has(o.oid)) throw problem(`lfs object ${o.oid} is listed twice`);
    oids.add(o.oid);
  }
  return m as TransferManifest;
}

/** Reads a tar archive entry by entry; `visit` consumes each entry's bytes (or they are skipped). */
async function forEachEntry(file: string, visit: (header: tar.Header, entry: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  // The reading side's own failure (a truncated or malformed archive), told apart from the visitor's.
  let broken: Error | undefined;
  extract.on("error", (error: Error) => void (broken ??= error));
  const source = fs.createReadStream(file, { highWaterMark: READ_CHUNK });
  source.on("error", (error) => extract.destroy(error));
  source.pipe(extract as unknown as Writable);
  try {
    for await (const entry of extract) {
      // streamx streams are async-iterable at run time; their type declarations do not say so
      const bytes = entry as unknown as AsyncIterable<Buffer>;
      await visit(entry.header, bytes);
      await drain(bytes);
    }
  } catch (error) {
    if (error instanceof AgoraError || !broken) throw error;
    throw invalid(`the archive is truncated or damaged (${broken.message}); nothing was imported`, error);
  } finally {
    source.destroy();
  }
}

async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of entry) {
    // skipped
  }
}

async function readAll(entry: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Copies an entry into a writable with backpressure and waits until the writable has finished. */
async function writeEntry(entry: AsyncIterable<Buffer>, sink: Writable): Promise<void> {
  const done = finished(sink);
  done.catch(() => {});
  try {
    for await (const chunk of entry) {
      if (!sink.write(chunk)) await once(sink, "drain");
    }
    sink.end();
    await done;
  } catch (error) {
    sink.destroy();
    throw error;
  }
}

/** Adds one entry to a tar pack: a buffer, or a stream of exactly `header.size` bytes. */
function addEntry(pack: tar.Pack, header: Pick<tar.Header, "name" | "size" | "mode" | "mtime">, content: Buffer | Readable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const callback = (error?: Error | null) => (error ? reject(error) : resolve());
    if (Buffer.isBuffer(content)) return void pack.entry(header, content, callback);
    const sink = pack.entry(header, callback) as unknown as Writable; // a streamx Writable: write/end/drain as node's
    (async () => {
      for await (const chunk of content as AsyncIterable<Buffer>) {
        if (!sink.write(chunk)) await once(sink, "drain");
      }
      sink.end();
    })().catch((error: unknown) => {
      content.destroy();
      sink.destroy(error as Error);
      reject(error);
    });
  });
}
