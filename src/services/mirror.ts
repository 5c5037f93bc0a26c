// Pull-through mirror: a repository missing here is looked up on the configured upstream hubs
// and, when one has it, becomes a local, read-only repository row marked `mirrored`.
//
// - Metadata: the row's bare git directory is filled by `git fetch` from the upstream's git smart
//   HTTP, pointers only (git/fetch-upstream.ts). Commit ids are the upstream's, so revisions pinned
//   by commit id keep resolving locally forever, and info/tree/paths-info/refs/commits are served
//   from local git like any repository.
// - Freshness: a branch name is revalidated with a short fetch once its refs are older than
//   `mirror.maxAgeSeconds`. When the upstream is down or slow the cached refs are served with
//   `X-HF-Warning: agora-mirror; upstream unavailable, serving cached refs from <time>`.
// - LFS content is fetched on the first download of an object: written into a blob-store writer
//   and streamed to the client as it arrives; the end is held back until the SHA-256 and size
//   match the pointer and the object is published, then the response ends. On a mismatch or an
//   upstream failure the client's response is aborted (never a short or wrong complete file)
//   and nothing is published.
// - Single flight with a tee (services/mirror-flight.ts): one upstream fetch per missing object
//   in this process, and every request for it, the first and those arriving while it runs, reads
//   the fetch's staging file as it grows, with the same held-back end and the same abort on
//   failure. With `workers` > 1 each worker process has its own single flight; the store's
//   verified, atomic publish keeps concurrent fetches safe.
// - Ranged reads of an object not in the store are forwarded to the upstream and streamed
//   through without caching, so reading a header does not pull a whole file.
// - Model headers: the safetensors headers of objects not in the store are read from the upstream
//   by byte ranges (readRange, wired into the files service), so a new mirror has its checkpoint
//   counts without fetching any weights.
// - Renamed upstream repositories: when the upstream answers an id with a redirect (or with an
//   `id` naming another repository), the mirror is created under the new id and the old id is
//   remembered as an alias; requests for the old id are redirected, as the Hub does.
// - A namespace that exists locally (an account or a local repository) never falls through, and
//   an alias never shadows a local repository or namespace.
// - Upstream private repositories are not mirrored; gated ones stay gated with the upstream's mode.

import { once } from "node:events";
import { PassThrough, Readable } from "node:stream";
import { sql } from "../db/kysely.ts";
import { AgoraError } from "../errors.ts";
import type { Config } from "../config/config.ts";
import { globMatches, type Upstream } from "../config/mirror.ts";
import type { Db, RepoRow } from "../db/database.ts";
import type { ReposStore, RepoType } from "../db/repos-store.ts";
import type { AccountsStore } from "../db/accounts-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { RepoAliasesStore } from "../db/repo-aliases-store.ts";
import { httpGet, type HttpGetResponse } from "../lib/http-get.ts";
import { commitExists, COMMIT_OID, initBareRepo, listRefs, readSnapshot, removeRepoDir } from "../git/bare-repo.ts";
import { fetchFromUpstream, FetchTimeoutError } from "../git/fetch-upstream.ts";
import type { ObjectPacker } from "../git/pack-objects.ts";
import { newRepoRow, parseRepoId, repoFullId, type Repo, type ReposService } from "./repos.ts";
import type { LfsBatchResult } from "./lfs.ts";
import type { MirrorCache } from "./mirror-cache.ts";
import { ObjectFlight, type GrowingFile } from "./mirror-flight.ts";

const INFO_TIMEOUT_MS = 5_000;
const FIRST_FETCH_TIMEOUT_MS = 60_000;
const REVALIDATE_TIMEOUT_MS = 5_000;
const BODY_HEADERS_TIMEOUT_MS = 15_000;
const BODY_IDLE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;
/** How long "no upstream has this repository" is remembered, so misses do not hammer the upstreams. */
const MISS_TTL_MS = 30_000;
const MISS_CACHE_SIZE = 10_000;
/** After a revalidation timed out, stale refs are served at once (with the warning) for this long. */
const RETRY_AFTER_TIMEOUT_MS = 30_000;
/** A ranged read of a model header, from the request to its last byte. */
const HEADER_READ_TIMEOUT_MS = 5_000;

type LfsRef = { oid: string; size: number };

export type UpstreamHealth = { url: string; ok: boolean; status?: number; error?: string; ms: number };

export function createMirrorService(deps: {
  config: Config;
  db: Db;
  repos: ReposStore;
  accounts: AccountsStore;
  reposService: ReposService;
  blobs: BlobStore;
  aliases: RepoAliasesStore;
  /** Told of every object published, for its size limit (services/mirror-cache.ts). */
  cache?: Pick<MirrorCache, "afterPublish">;
  /** Told of every fetch: a fetch of a few commits leaves loose git objects (git/pack-objects.ts). */
  objectPacker?: Pick<ObjectPacker, "afterWrite">;
  clock?: () => Date;
}) {
  const clock = deps.clock ?? (() => new Date());
  const { upstreams, mirror: settings } = deps.config;
  const creating = new Map<string, Promise<Repo | undefined>>();
  const refreshing = new Map<string, Promise<void>>();
  const fetchingObjects = new Map<string, ObjectFlight>();
  const misses = new Map<string, number>(); // key → time the upstreams said "not found"
  const timedOut = new Map<string, number>(); // repo id → time its last revalidation timed out
  const rangeTimedOut = new Map<string, number>(); // repo id → time its last header read timed out
  /** Upstream requests for LFS bodies made by this process (whole objects, not ranges). */
  let objectFetches = 0;

  const enabled = upstreams.length > 0;
  const urlOf = (upstream: Upstream, type: RepoType, id: string) => `${upstream.url}/${type === "dataset" ? "datasets/" : ""}${id}`;
  const upstreamOf = (repo: Pick<RepoRow, "upstream_url">): Upstream | undefined => upstreams.find((u) => u.url === repo.upstream_url);

  function unavailable(what: string, cause?: unknown): AgoraError {
    const detail = cause instanceof Error ? `: ${cause.message}` : typeof cause === "string" ? `: ${cause}` : "";
    return new AgoraError("UpstreamUnavailable", `${what}${detail}`.slice(0, 900), { cause });
  }

  function allowed(type: RepoType, id: string): boolean {
    const key = type === "dataset" ? `datasets/${id}` : id;
    return settings.allow.some((g) => globMatches(g, key)) && !settings.deny.some((g) => globMatches(g, key));
  }

  async function namespaceIsLocal(namespace: string): Promise<boolean> {
    if (!namespace) return false;
    if (await deps.accounts.findByName(namespace)) return true;
    const local = await deps.db
      .selectFrom("repos")
      .select("id")
      .where(sql`namespace COLLATE NOCASE`, "=", namespace)
      .where("mirrored", "=", 0)
      .executeTakeFirst();
    return local !== undefined;
  }

  /** GET (following redirects here, server-side) with the token only on the upstream's own origin. */
  async function upstreamGet(upstream: Upstream, url: string, options: { headers?: Record<string, string>; timeoutMs: number }) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    const origin = new URL(upstream.url).origin;
    try {
      let current = url;
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = { "Accept-Encoding": "identity", "User-Agent": "agora-mirror", ...options.headers };
        if (upstream.token && new URL(current).origin === origin) headers.Authorization = `Bearer ${upstream.token}`;
        const response = await httpGet(current, { headers, signal: controller.signal });
        const location = response.header("location");
        if (response.status >= 300 && response.status < 400 && location && hop < MAX_REDIRECTS) {
          await response.discard();
          current = new URL(location, current).toString();
          if (!/^https?:$/.test(new URL(current).protocol)) throw new Error(`redirect to ${new URL(current).protocol} refused`);
          continue;
        }
        clearTimeout(timer);
        return { response, controller };
      }
    } catch (error) {
      clearTimeout(timer);
      throw error;
    }
  }

  async function fetchRefs(row: Pick<RepoRow, "id" | "type" | "namespace" | "name" | "upstream_url">, timeoutMs: number): Promise<void> {
    const upstream = upstreamOf(row);
    if (!upstream) throw new Error(`upstream ${row.upstream_url} is no longer configured`);
    await fetchFromUpstream(deps.reposService.repoDir(row), urlOf(upstream, row.type, repoFullId(row)), { token: upstream.token, timeoutMs });
  }

  /** Moves the row's bookkeeping after a successful fetch; recomputes the listing when main moved. */
  async function afterFetch(row: Repo): Promise<void> {
    deps.objectPacker?.afterWrite(deps.reposService.repoDir(row));
    const head = (await listRefs(deps.reposService.repoDir(row))).branches.get("main") ?? null;
    await deps.repos.update(row.id, { refs_fetched_at: clock().toISOString() });
    if (head && head !== row.head_sha) await deps.reposService.refreshListing(row, head);
  }

  /** Follows a change of the upstream's `gated` mode (best effort: on failure the last known mode stays). */
  async function refreshGated(repo: Repo): Promise<void> {
    const upstream = upstreamOf(repo);
    if (!upstream) return;
    try {
      const { response } = await upstreamGet(upstream, `${upstream.url}/api/${repo.type === "dataset" ? "datasets" : "models"}/${repoFullId(repo)}`, { timeoutMs: INFO_TIMEOUT_MS });
      if (response.status !== 200) return void (await response.discard());
      const info = (await response.json()) as { gated?: unknown };
      const gated: RepoRow["gated"] = info.gated === "auto" || info.gated === "manual" ? info.gated : "false";
      if (gated !== repo.gated || gated !== repo.upstream_gated) await deps.repos.update(repo.id, { gated, upstream_gated: gated });
    } catch {
      // the refs were fetched; the mode is checked again at the next revalidation
    }
  }

  /** The id the upstream answered for: its `id` field, else the info path a redirect ended on. */
  function upstreamIdOf(upstream: Upstream, type: RepoType, infoId: unknown, answeredUrl: string): string | undefined {
    if (typeof infoId === "string") return infoId;
    const prefix = `${upstream.url}/api/${type === "dataset" ? "datasets" : "models"}/`;
    if (!answeredUrl.startsWith(prefix)) return undefined;
    try {
      return decodeURIComponent(answeredUrl.slice(prefix.length).split("?", 1)[0]);
    } catch {
      return undefined;
    }
  }

  /**
   * Where a repository the upstream renamed goes here: undefined (mirror it under the new id), the
   * mirrored row it already has, or "refused" when the new id may not be mirrored (denied, in a
   * local namespace, or a local repository).
   */
  async function renameTarget(type: RepoType, newId: string): Promise<Repo | undefined | "refused"> {
    let parsed;
    try {
      parsed = parseRepoId(newId);
    } catch {
      return "refused";
    }
    if (!allowed(type, newId) || (await namespaceIsLocal(parsed.namespace))) return "refused";
    const existing = await deps.reposService.find(type, newId);
    if (existing && !existing.mirrored) return "refused";
    return existing;
  }

  async function recordAlias(type: RepoType, oldId: string, repo: Pick<RepoRow, "id">): Promise<void> {
    const { namespace, name } = parseRepoId(oldId);
    await deps.aliases.put({ type, namespace, name, repo_id: repo.id, created_at: clock().toISOString() });
  }

  /** The mirrored repository an old id was renamed to, by the alias recorded when it was mirrored. */
  async function aliasTarget(type: RepoType, namespace: string, name: string): Promise<Repo | undefined> {
    const alias = await deps.aliases.find(type, namespace, name);
    return alias ? deps.repos.findById(alias.repo_id) : undefined;
  }

  /** Looks the repository up on the upstreams and creates the mirrored row; undefined if none has it. */
  async function create(type: RepoType, id: string): Promise<Repo | undefined> {
    let lastFailure: unknown;
    for (const upstream of upstreams) {
      let info: { id?: unknown; private?: unknown; gated?: unknown };
      let answeredUrl: string;
      try {
        const { response } = await upstreamGet(upstream, `${upstream.url}/api/${type === "dataset" ? "datasets" : "models"}/${id}`, { timeoutMs: INFO_TIMEOUT_MS });
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          await response.discard();
          continue;
        }
        if (response.status !== 200) {
          await response.discard();
          lastFailure = `${upstream.url} answered ${response.status}`;
          continue;
        }
        answeredUrl = response.url;
        info = (await response.json()) as typeof info;
      } catch (error) {
        lastFailure = error;
        continue;
      }
      if (info.private === true) continue; // never turn an upstream private repository into a readable local one
      // The upstream's spelling of the id; another id altogether when the repository was renamed.
      const canonical = upstreamIdOf(upstream, type, info.id, answeredUrl) ?? id;
      const renamed = canonical.toLowerCase() !== id.toLowerCase();
      if (renamed) {
        const target = await renameTarget(type, canonical);
        if (target === "refused") continue;
        if (target) {
          await recordAlias(type, id, target);
          return target;
        }
      }
      const { namespace, name } = parseRepoId(canonical);
      const gated: RepoRow["gated"] = info.gated === "auto" || info.gated === "manual" ? info.gated : "false";
      const now = clock().toISOString();
      const row: RepoRow = newRepoRow(type, namespace, name, now, { gated, mirrored: 1, upstream_url: upstream.url, upstream_gated: gated, refs_fetched_at: now });
      const dir = deps.reposService.repoDir(row);
      try {
        await initBareRepo(dir);
        await fetchRefs(row, FIRST_FETCH_TIMEOUT_MS);
      } catch (error) {
        removeRepoDir(dir);
        lastFailure = error;
        continue;
      }
      try {
        await deps.repos.insert(row);
      } catch (error) {
        removeRepoDir(dir);
        const raced = String(error).includes("UNIQUE") ? await deps.repos.find(type, namespace, name) : undefined;
        if (raced && renamed) await recordAlias(type, id, raced);
        if (raced) return raced;
        throw error;
      }
      if (renamed) await recordAlias(type, id, row);
      const created = (await deps.repos.findById(row.id))!;
      await afterFetch(created);
      return (await deps.repos.findById(row.id))!;
    }
    if (lastFailure !== undefined) throw unavailable(`${type === "dataset" ? "datasets/" : ""}${id} is not cached here and no upstream could be asked for it`, lastFailure);
    return undefined;
  }

  /** Revalidates the refs of a mirrored repository; answers the warning to send when it could not. */
  async function freshen(repo: Repo, rev: string | undefined, force = false): Promise<string | undefined> {
    if (!repo.mirrored) return undefined;
    const dir = deps.reposService.repoDir(repo);
    if (rev && COMMIT_OID.test(rev) && (await commitExists(dir, rev))) return undefined; // pinned: immutable
    const fetchedAt = repo.refs_fetched_at ? Date.parse(repo.refs_fetched_at) : 0;
    if (!force && clock().getTime() - fetchedAt < settings.maxAgeSeconds * 1000) return undefined;
    const stale = `agora-mirror; upstream unavailable, serving cached refs from ${repo.refs_fetched_at ?? "an unknown time"}`;
    if (settings.offline) return stale.replace("upstream unavailable", "offline mode");
    // A blackholed upstream would cost every request the whole timeout: wait before trying again.
    const lastTimeout = timedOut.get(repo.id);
    if (lastTimeout !== undefined && Date.now() - lastTimeout < RETRY_AFTER_TIMEOUT_MS) return stale;
    let running = refreshing.get(repo.id);
    if (!running) {
      running = (async () => {
        try {
          await fetchRefs(repo, REVALIDATE_TIMEOUT_MS);
        } catch (error) {
          if (error instanceof FetchTimeoutError) timedOut.set(repo.id, Date.now());
          throw error;
        }
        timedOut.delete(repo.id);
        await refreshGated(repo);
        await afterFetch(repo);
      })().finally(() => refreshing.delete(repo.id));
      refreshing.set(repo.id, running);
    }
    try {
      await running;
      return undefined;
    } catch {
      return stale;
    }
  }

  /** Streams `GET {upstream}/{id}/resolve/{commit}/{path}` (with an optional range). */
  async function openUpstreamFile(repo: Repo, commit: string, path: string, range?: { start: number; end: number }) {
    if (settings.offline) throw unavailable(`offline mode: ${path} of ${repoFullId(repo)} is not cached here`);
    const upstream = upstreamOf(repo);
    if (!upstream) throw unavailable(`the upstream ${repo.upstream_url} of ${repoFullId(repo)} is no longer configured`);
    const url = `${urlOf(upstream, repo.type, repoFullId(repo))}/resolve/${commit}/${path.split("/").map(encodeURIComponent).join("/")}`;
    try {
      return await upstreamGet(upstream, url, { timeoutMs: BODY_HEADERS_TIMEOUT_MS, headers: range ? { Range: `bytes=${range.start}-${range.end}` } : {} });
    } catch (error) {
      throw unavailable(`${path} of ${repoFullId(repo)} is not cached here and the upstream could not be reached`, error);
    }
  }

  /** Iterates an upstream body, aborting the request when it stalls. */
  async function* bodyChunks(response: HttpGetResponse, controller: AbortController): AsyncGenerator<Buffer> {
    let timer = setTimeout(() => controller.abort(new Error("upstream body stalled")), BODY_IDLE_TIMEOUT_MS);
    try {
      for await (const chunk of response.body) {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(new Error("upstream body stalled")), BODY_IDLE_TIMEOUT_MS);
        yield chunk as Buffer;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Fetches an LFS object into the store through the verified path, reporting to `flight`. With
   * `client` (and a store that cannot be read while staged), the bytes are also written to it as
   * they arrive, except the last chunk, which is written only after the object verified and was
   * published; on any failure the client stream is destroyed.
   */
  async function fetchObject(repo: Repo, commit: string, path: string, lfs: LfsRef, client?: PassThrough, flight?: ObjectFlight): Promise<void> {
    const { response, controller } = await openUpstreamFile(repo, commit, path);
    if (response.status !== 200) {
      await response.discard();
      throw unavailable(`${path} of ${repoFullId(repo)} is not cached here and the upstream answered ${response.status}`);
    }
    objectFetches++;
    return pump(repo, lfs, response, controller, client, flight);
  }

  async function pump(repo: Repo, lfs: LfsRef, response: HttpGetResponse, controller: AbortController, client?: PassThrough, flight?: ObjectFlight): Promise<void> {
    const writer = await deps.blobs.write();
    if (flight?.attach(writer)) client = undefined; // every client, the first too, reads the staging file
    let clientOpen = client !== undefined;
    client?.on("close", () => (clientOpen = false));
    const toClient = async (chunk: Buffer) => {
      if (!client || !clientOpen || client.destroyed) return;
      if (!client.write(chunk)) await Promise.race([once(client, "drain"), once(client, "close")]).catch(() => {});
    };
    let held: Buffer | undefined;
    let received = 0;
    try {
      for await (const chunk of bodyChunks(response, controller)) {
        received += chunk.length;
        if (received > lfs.size) throw new Error(`upstream sent more than the ${lfs.size} bytes of ${lfs.oid}`);
        if (!writer.stream.write(chunk, flight?.landed(chunk.length))) await once(writer.stream, "drain");
        if (held) await toClient(held);
        held = chunk;
      }
      writer.stream.end();
      await writer.commit(lfs.oid, lfs.size); // throws on a wrong hash or size, publishing nothing
      await deps.repos.linkLfsObject(repo.id, lfs.oid, lfs.size);
      await deps.cache?.afterPublish(lfs.oid, lfs.size);
      if (held) await toClient(held);
      if (client && !client.destroyed) client.end();
    } catch (error) {
      controller.abort();
      await writer.abort().catch(() => {});
      client?.destroy(error as Error);
      throw error;
    }
  }

  /** Where the repository's refs point at each of `oids`: the first commit and path found per oid. */
  async function locateObjects(repo: Repo, oids: Set<string>): Promise<Map<string, { commit: string; path: string; size: number }>> {
    const dir = deps.reposService.repoDir(repo);
    const refs = await listRefs(dir);
    const sources = new Map<string, { commit: string; path: string; size: number }>();
    const heads = [...new Set([...refs.branches.values(), ...refs.tags.values(), ...refs.pullRequests.values(), ...refs.converts.values()])];
    for (const commit of heads) {
      if (sources.size === oids.size) break;
      const snapshot = await readSnapshot(dir, commit).catch(() => undefined);
      for (const entry of snapshot?.entries ?? []) {
        if (entry.type === "file" && entry.lfs && oids.has(entry.lfs.oid) && !sources.has(entry.lfs.oid)) sources.set(entry.lfs.oid, { commit, path: entry.path, size: entry.lfs.size });
      }
    }
    return sources;
  }

  /** Starts the one fetch of an object in this process; it is registered until it published or failed. */
  function startFlight(repo: Repo, commit: string, path: string, lfs: LfsRef, client?: PassThrough): ObjectFlight {
    const flight = new ObjectFlight(lfs.size);
    fetchingObjects.set(lfs.oid, flight);
    fetchObject(repo, commit, path, lfs, client, flight)
      .then(
        () => flight.publish(),
        (error: unknown) => flight.fail(error),
      )
      .finally(() => fetchingObjects.delete(lfs.oid));
    return flight;
  }

  const service = {
    enabled,
    /** Upstream requests for whole LFS objects made by this process. */
    objectFetches: () => objectFetches,

    allowed,

    /**
     * Before a read of a repository: creates the mirror of a missing one (when allowed) and
     * revalidates a stale branch of a mirrored one. Answers an X-HF-Warning value, if any.
     */
    async prepare(type: RepoType, id: string, rev: string | undefined, options: { refresh: boolean }): Promise<string | undefined> {
      if (!enabled) return undefined;
      const existing = await deps.reposService.find(type, id);
      if (existing) return options.refresh ? freshen(existing, rev) : undefined;
      await service.ensure(type, id);
      return undefined;
    },

    /** The mirrored repository for an id missing here, creating it from an upstream; undefined when none has it. */
    async ensure(type: RepoType, id: string): Promise<Repo | undefined> {
      const existing = await deps.reposService.find(type, id);
      if (existing) return existing;
      if (!enabled) return undefined;
      let parsed;
      try {
        parsed = parseRepoId(id);
      } catch {
        return undefined;
      }
      if (!allowed(type, id) || (await namespaceIsLocal(parsed.namespace))) return undefined;
      const renamed = await aliasTarget(type, parsed.namespace, parsed.name);
      if (renamed) return renamed;
      if (settings.offline) throw unavailable(`offline mode: ${type === "dataset" ? "datasets/" : ""}${id} is not cached here`);
      const key = `${type}:${id.toLowerCase()}`;
      const missedAt = misses.get(key);
      if (missedAt !== undefined && Date.now() - missedAt < MISS_TTL_MS) return undefined;
      let running = creating.get(key);
      if (!running) {
        running = create(type, id)
          .then((repo) => {
            if (repo) misses.delete(key);
            else {
              misses.set(key, Date.now());
              if (misses.size > MISS_CACHE_SIZE) misses.delete(misses.keys().next().value!);
            }
            return repo;
          })
          .finally(() => creating.delete(key));
        creating.set(key, running);
      }
      return running;
    },

    freshen,

    /**
     * The id a repository missing here was renamed to upstream (its mirror answers under that id),
     * for a redirect; never for an id that exists here or whose namespace is local.
     */
    async renamedTo(type: RepoType, id: string): Promise<string | undefined> {
      let parsed;
      try {
        parsed = parseRepoId(id);
      } catch {
        return undefined;
      }
      // The alias first: one key lookup in a table that is empty on most hubs.
      const target = await aliasTarget(type, parsed.namespace, parsed.name);
      if (!target || (await deps.reposService.find(type, id)) || (await namespaceIsLocal(parsed.namespace))) return undefined;
      return repoFullId(target);
    },

    /**
     * Bytes [start, end] of an LFS object not in the store, by one ranged upstream request through
     * the verified range path (for model headers). After a read timed out, the repository's
     * upstream is not asked again for a while: a blackholed upstream costs one wait, not one per request.
     */
    async readRange(repo: Repo, commit: string, path: string, lfs: LfsRef, range: { start: number; end: number }): Promise<Buffer> {
      const lastTimeout = rangeTimedOut.get(repo.id);
      if (lastTimeout !== undefined && Date.now() - lastTimeout < RETRY_AFTER_TIMEOUT_MS) {
        throw unavailable(`the upstream of ${repoFullId(repo)} did not answer a ranged read recently`);
      }
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          rangeTimedOut.set(repo.id, Date.now());
          reject(unavailable(`the upstream of ${repoFullId(repo)} did not answer a ranged read of ${path} within ${HEADER_READ_TIMEOUT_MS} ms`));
        }, HEADER_READ_TIMEOUT_MS);
      });
      const opening = openRange(repo, commit, path, lfs, range);
      try {
        const stream = await Promise.race([opening, deadline]);
        const reading = (async () => {
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          return Buffer.concat(chunks);
        })();
        reading.catch(() => {});
        try {
          const bytes = await Promise.race([reading, deadline]);
          rangeTimedOut.delete(repo.id);
          return bytes;
        } catch (error) {
          stream.destroy();
          throw error;
        }
      } catch (error) {
        opening.then((late) => late.destroy(), () => {}); // a stream that opened after the deadline is dropped
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },

    /**
     * Content of an LFS object missing from the store: the object's one fetch in this process, as
     * its staging file to be read as it arrives (`growing`), or a stream (a ranged read streamed
     * through; the whole object from a store that cannot be read while staged). Undefined when
     * the object has just been published and the caller should serve it from the store. Throws
     * UpstreamUnavailable when the fetch failed before its first byte.
     */
    async openLfs(repo: Repo, commit: string, path: string, lfs: LfsRef, range?: { start: number; end: number }): Promise<{ growing: GrowingFile } | { stream: Readable } | undefined> {
      if (range) return { stream: await openRange(repo, commit, path, lfs, range) };
      if ((await deps.blobs.stat(lfs.oid))?.size === lfs.size) return undefined;
      // No await between looking the fetch up and registering a new one: exactly one fetch.
      let flight = fetchingObjects.get(lfs.oid);
      const client = flight ? undefined : new PassThrough({ highWaterMark: 1024 * 1024 });
      flight ??= startFlight(repo, commit, path, lfs, client);
      try {
        if (await flight.started) {
          const growing = await flight.open();
          return growing && { growing };
        }
        if (client) return { stream: client }; // a store without staged reads: the fetch feeds this client itself
        await flight.settled;
        return undefined;
      } catch (error) {
        throw error instanceof AgoraError ? error : unavailable(`fetching ${path} of ${repoFullId(repo)} from the upstream failed`, error);
      }
    },

    /**
     * An LFS object of a mirrored repository by its oid alone (a signed LFS download URL handed
     * out while the object was cached, which the cache has evicted since): fetched again like
     * `openLfs`, through a commit and path of one of the repository's refs that point at it.
     * Undefined when no ref's snapshot holds an object of that oid and size.
     */
    async openLfsObject(repo: Repo, oid: string, size: number, range?: { start: number; end: number }): Promise<{ growing: GrowingFile } | { stream: Readable } | "stored" | undefined> {
      if (!repo.mirrored) return undefined;
      const source = (await locateObjects(repo, new Set([oid]))).get(oid);
      if (!source || source.size !== size) return undefined;
      return (await service.openLfs(repo, source.commit, source.path, { oid, size }, range)) ?? "stored";
    },

    /** Fetches an LFS object into the store unless present (prefetch). */
    async fetchObject(repo: Repo, commit: string, path: string, lfs: LfsRef): Promise<"cached" | "fetched"> {
      if ((await deps.blobs.stat(lfs.oid))?.size === lfs.size) return "cached";
      await (fetchingObjects.get(lfs.oid) ?? startFlight(repo, commit, path, lfs)).settled;
      return "fetched";
    },

    /**
     * LFS batch (git lfs pull/clone from a mirror): objects of a mirrored repository not in the
     * store yet get a download action on this hub's `/resolve` URL of a commit and path that
     * point at them, so the download goes through the verified fetch above. The caller's own
     * Authorization (this hub's token, for gated repositories) is handed back for that URL.
     */
    async completeBatch(repo: Repo, results: LfsBatchResult[], baseUrl: string, authorization: string | undefined): Promise<LfsBatchResult[]> {
      const missing = new Set(results.filter((r) => r.error?.code === 404).map((r) => r.oid));
      if (!repo.mirrored || !missing.size) return results;
      const sources = await locateObjects(repo, missing);
      const prefix = `${baseUrl}/${repo.type === "dataset" ? "datasets/" : ""}${repoFullId(repo)}/resolve`;
      return results.map((result) => {
        const source = sources.get(result.oid);
        if (!result.error || result.error.code !== 404 || !source || source.size !== result.size) return result;
        const href = `${prefix}/${source.commit}/${source.path.split("/").map(encodeURIComponent).join("/")}`;
        return { oid: result.oid, size: source.size, authenticated: true, actions: { download: { href, header: authorization ? { Authorization: authorization } : {}, expires_in: 3600 } } };
      });
    },

    /** Mirrored repositories with the bytes of their objects in the store. */
    async status(): Promise<{ repo: Repo; cachedBytes: number; cachedObjects: number }[]> {
      const rows = await deps.db.selectFrom("repos").select("id").where("mirrored", "=", 1).orderBy("namespace").orderBy("name").execute();
      const result = [];
      for (const { id } of rows) {
        const repo = (await deps.repos.findById(id))!;
        const links = await deps.db.selectFrom("lfs_links").select(["oid", "size"]).where("repo_id", "=", id).execute();
        let cachedBytes = 0;
        let cachedObjects = 0;
        for (const link of links) {
          if ((await deps.blobs.stat(link.oid))?.size === link.size) {
            cachedBytes += link.size;
            cachedObjects++;
          }
        }
        result.push({ repo, cachedBytes, cachedObjects });
      }
      return result;
    },

    /** One short request to each upstream. */
    async health(): Promise<UpstreamHealth[]> {
      return Promise.all(
        upstreams.map(async (upstream) => {
          const started = Date.now();
          try {
            const { response } = await upstreamGet(upstream, `${upstream.url}/api/models?limit=1`, { timeoutMs: INFO_TIMEOUT_MS });
            await response.discard();
            return { url: upstream.url, ok: response.status === 200, status: response.status, ms: Date.now() - started };
          } catch (error) {
            return { url: upstream.url, ok: false, error: (error as Error).message, ms: Date.now() - started };
          }
        }),
      );
    },
  };

  /** A ranged read of an object not in the store: forwarded to the upstream, streamed through, not cached. */
  async function openRange(repo: Repo, commit: string, path: string, lfs: LfsRef, range: { start: number; end: number }): Promise<Readable> {
    const { response, controller } = await openUpstreamFile(repo, commit, path, range);
    const expected = `bytes ${range.start}-${range.end}/${lfs.size}`;
    if (response.status !== 206 || response.header("content-range") !== expected) {
      await response.discard();
      throw unavailable(`${path} of ${repoFullId(repo)} is not cached here and the upstream did not answer the range ${range.start}-${range.end} (status ${response.status})`);
    }
    const length = range.end - range.start + 1;
    const out = new PassThrough();
    void (async () => {
      let received = 0;
      try {
        for await (const chunk of bodyChunks(response, controller)) {
          received += chunk.length;
          if (received > length) throw new Error("upstream sent more bytes than the range");
          if (!out.write(chunk)) await Promise.race([once(out, "drain"), once(out, "close")]);
          if (out.destroyed) {
            controller.abort();
            return;
          }
        }
        if (received !== length) throw new Error(`upstream range ended after ${received} of ${length} bytes`);
        out.end();
      } catch (error) {
        controller.abort();
        out.destroy(error as Error);
      }
    })();
    return out;
  }

  return service;
}

export type MirrorService = ReturnType<typeof createMirrorService>;
