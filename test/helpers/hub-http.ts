// Setting up repositories through Agora's real HTTP API, the way the official clients do, and
// small utilities for raw-HTTP assertions. Everything here talks to a running hub (see
// server.ts `startHub`) over the network: no service is called directly.
//
//   const hub = await startHub(t);
//   const token = await hub.token("alice");
//   const id = await createRepo(hub.url, token, { name: "demo" });            // "alice/demo"
//   const sha = await commitFiles(hub.url, token, id, [
//     { path: "config.json", content: '{"model_type":"gpt2"}' },           // regular (inline) file
//     { path: "w.bin", content: someBuffer, lfs: true },                     // LFS: batch → PUT → lfsFile line
//   ]);
//   const res = await rawRequest(`${hub.url}/${id}/resolve/main/w.bin`, { method: "HEAD" });

import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import assert from "node:assert/strict";

export type RepoType = "model" | "dataset";

/** A file to put in a commit. `lfs: true` uploads the bytes through the LFS batch API first. */
export type CommitFile = { path: string; content: Buffer | string; lfs?: boolean };

/** Any other NDJSON operation a commit may carry. */
export type CommitDeletion = { deletedFile: string } | { deletedFolder: string };

export type CommitOptions = {
  /** Branch to commit to; default "main". Encoded with encodeURIComponent, as the clients do. */
  revision?: string;
  summary?: string;
  description?: string;
  repoType?: RepoType;
  deletions?: CommitDeletion[];
};

/** `/api/models/` or `/api/datasets/` followed by the id (ids are never encoded). */
export function apiRepoPath(repoId: string, repoType: RepoType = "model"): string {
  return `/api/${repoType}s/${repoId}`;
}

/** The prefix of file and git URLs: "" for models, "datasets/" for datasets. */
export function fileUrlPrefix(repoType: RepoType = "model"): string {
  return repoType === "dataset" ? "datasets/" : "";
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The git blob id of `data`: sha1("blob <len>\0" + data). */
export function gitBlobSha1(data: Buffer | string): string {
  const bytes = Buffer.from(data);
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/** The LFS pointer text git stores for an object. */
export function lfsPointer(data: Buffer | string): string {
  const bytes = Buffer.from(data);
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.length}\n`;
}

/** Deterministic pseudo-random bytes (for content whose ranges must be distinguishable). */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function auth(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function expectOk(response: Response, what: string): Promise<void> {
  if (!response.ok) throw new Error(`${what} failed: HTTP ${response.status} ${response.headers.get("x-error-code") ?? ""} ${await response.text()}`);
}

/**
 * POST /api/repos/create. `name` may be "name" (namespace = the token's user, or
 * `organization`) and the returned value is the full id ("ns/name").
 */
export async function createRepo(
  baseUrl: string,
  token: string,
  options: { name: string; organization?: string | null; type?: RepoType; private?: boolean },
): Promise<string> {
  const response = await fetch(`${baseUrl}/api/repos/create`, {
    method: "POST",
    headers: { ...auth(token), "Content-Type": "application/json" },
    body: JSON.stringify({ name: options.name, organization: options.organization ?? null, type: options.type ?? "model", private: options.private ?? false }),
  });
  await expectOk(response, `create repo ${options.name}`);
  const body = (await response.json()) as { name: string };
  return body.name;
}

/**
 * Asks `POST /{prefix}{id}.git/info/lfs/objects/batch` (operation upload) where to PUT each
 * object: oid → `actions.upload.href`. Objects the hub already holds for the repository get none.
 */
export async function lfsUploadHrefs(baseUrl: string, token: string, repoId: string, objects: { oid: string; size: number }[], repoType: RepoType = "model"): Promise<Map<string, string>> {
  const response = await fetch(`${baseUrl}/${fileUrlPrefix(repoType)}${repoId}.git/info/lfs/objects/batch`, {
    method: "POST",
    headers: { ...auth(token), "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
    body: JSON.stringify({ operation: "upload", transfers: ["basic"], hash_algo: "sha256", ref: { name: "main" }, objects }),
  });
  await expectOk(response, "LFS batch");
  const batch = (await response.json()) as { objects: { oid: string; error?: unknown; actions?: { upload?: { href: string } } }[] };
  const hrefs = new Map<string, string>();
  for (const object of batch.objects) {
    if (object.error) throw new Error(`LFS batch refused ${object.oid}: ${JSON.stringify(object.error)}`);
    if (object.actions?.upload) hrefs.set(object.oid, object.actions.upload.href);
  }
  return hrefs;
}

/**
 * Uploads objects through the LFS batch API and a PUT of the bytes to each returned upload href,
 * with no Authorization header, exactly like the SDKs. Objects the hub already holds are skipped.
 */
export async function uploadLfsObjects(baseUrl: string, token: string, repoId: string, contents: Buffer[], repoType: RepoType = "model"): Promise<void> {
  if (!contents.length) return;
  const byOid = new Map(contents.map((c) => [sha256(c), c]));
  const hrefs = await lfsUploadHrefs(baseUrl, token, repoId, [...byOid].map(([oid, c]) => ({ oid, size: c.length })), repoType);
  for (const [oid, href] of hrefs) {
    const put = await fetch(href, { method: "PUT", body: byOid.get(oid)! });
    await expectOk(put, `LFS upload of ${oid}`);
  }
}

/** The NDJSON body of a commit (header line, then one line per operation). */
export function commitBody(summary: string, description: string | undefined, files: CommitFile[], deletions: CommitDeletion[] = []): string {
  const lines: unknown[] = [{ key: "header", value: { summary, ...(description !== undefined ? { description } : {}) } }];
  for (const file of files) {
    const bytes = Buffer.from(file.content);
    if (file.lfs) lines.push({ key: "lfsFile", value: { path: file.path, algo: "sha256", oid: sha256(bytes), size: bytes.length } });
    else lines.push({ key: "file", value: { path: file.path, content: bytes.toString("base64"), encoding: "base64" } });
  }
  for (const deletion of deletions) {
    if ("deletedFile" in deletion) lines.push({ key: "deletedFile", value: { path: deletion.deletedFile } });
    else lines.push({ key: "deletedFolder", value: { path: deletion.deletedFolder } });
  }
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}

/**
 * Commits files (uploading LFS ones first) with `POST /api/{type}s/{id}/commit/{rev}` and
 * returns the new commit id.
 */
export async function commitFiles(baseUrl: string, token: string, repoId: string, files: CommitFile[], options: CommitOptions = {}): Promise<string> {
  const repoType = options.repoType ?? "model";
  await uploadLfsObjects(
    baseUrl,
    token,
    repoId,
    files.filter((f) => f.lfs).map((f) => Buffer.from(f.content)),
    repoType,
  );
  const revision = options.revision ?? "main";
  const response = await fetch(`${baseUrl}${apiRepoPath(repoId, repoType)}/commit/${encodeURIComponent(revision)}`, {
    method: "POST",
    headers: { ...auth(token), "Content-Type": "application/x-ndjson" },
    body: commitBody(options.summary ?? `Upload ${files.map((f) => f.path).join(", ") || "nothing"}`, options.description, files, options.deletions),
  });
  await expectOk(response, `commit to ${repoId}@${revision}`);
  const body = (await response.json()) as { commitOid: string };
  return body.commitOid;
}

/** POST /api/{type}s/{id}/branch/{branch} (optionally from `startingPoint`). */
export async function createBranch(baseUrl: string, token: string, repoId: string, branch: string, options: { startingPoint?: string; repoType?: RepoType } = {}): Promise<void> {
  const response = await fetch(`${baseUrl}${apiRepoPath(repoId, options.repoType)}/branch/${encodeURIComponent(branch)}`, {
    method: "POST",
    headers: { ...auth(token), "Content-Type": "application/json" },
    body: JSON.stringify(options.startingPoint ? { startingPoint: options.startingPoint } : {}),
  });
  await expectOk(response, `create branch ${branch}`);
}

/** POST /api/{type}s/{id}/tag/{revision} with {"tag": tag}. */
export async function createTag(baseUrl: string, token: string, repoId: string, tag: string, options: { revision?: string; message?: string; repoType?: RepoType } = {}): Promise<void> {
  const response = await fetch(`${baseUrl}${apiRepoPath(repoId, options.repoType)}/tag/${encodeURIComponent(options.revision ?? "main")}`, {
    method: "POST",
    headers: { ...auth(token), "Content-Type": "application/json" },
    body: JSON.stringify({ tag, ...(options.message ? { message: options.message } : {}) }),
  });
  await expectOk(response, `create tag ${tag}`);
}

/** GET /api/{type}s/{id}[/revision/{rev}] as JSON (throws on a non-2xx answer). */
export async function repoInfo(baseUrl: string, repoId: string, options: { revision?: string; token?: string; repoType?: RepoType; query?: string } = {}): Promise<Record<string, unknown>> {
  const rev = options.revision === undefined ? "" : `/revision/${encodeURIComponent(options.revision)}`;
  const response = await fetch(`${baseUrl}${apiRepoPath(repoId, options.repoType)}${rev}${options.query ? `?${options.query}` : ""}`, { headers: auth(options.token) });
  await expectOk(response, `repo info ${repoId}`);
  return (await response.json()) as Record<string, unknown>;
}

export type RawResponse = {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body bytes (always empty for HEAD, whatever the server sent). */
  body: Buffer;
};

/**
 * One request with node:http, which, unlike fetch, shows the response as sent: no
 * decompression (Accept-Encoding is whatever the caller sets), no redirect following, headers
 * fetch would hide. node:http never reads a HEAD body: use `socketRequest` to check that none is sent.
 */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? "GET", headers: options.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on("error", reject);
    request.end(options.body);
  });
}

export type SocketResponse = {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Every byte the server sent after the blank line that ends the headers. */
  bytesAfterHeaders: Buffer;
};

/** Splits the bytes a server wrote into status, headers and what follows them; throws without a complete head. */
export function parseRawResponse(all: Buffer): SocketResponse {
  const split = all.indexOf("\r\n\r\n");
  if (split < 0) throw new Error(`no complete response head: ${JSON.stringify(all.toString("latin1").slice(0, 200))}`);
  const [statusLine, ...lines] = all.subarray(0, split).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(statusLine.split(" ")[1]), headers, bytesAfterHeaders: all.subarray(split + 4) };
}

/**
 * Sends one request over a bare TCP socket (`Connection: close`) and returns everything the
 * server wrote. Unlike node:http, which never reads a body for a HEAD response, this shows
 * whether body bytes really went over the wire.
 */
export function socketRequest(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<SocketResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(target.port || 80), target.hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      try {
        resolve(parseRawResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
    const extra = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.write(`${options.method ?? "GET"} ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n${extra}\r\n`);
  });
}

/**
 * Asserts the Hub's error wire format: `status`, `X-Error-Code: code`, an `X-Error-Message`,
 * and a JSON body `{"error": ...}` whose text equals the header (when the message is short
 * printable ASCII, which headers carry unchanged). Returns the parsed body. Works with fetch
 * Responses; pass `bodyText` if the body was already read.
 */
export async function assertHubError(response: Response, status: number, code: string, bodyText?: string): Promise<{ error: string } & Record<string, unknown>> {
  const text = bodyText ?? (await response.text());
  assert.equal(response.status, status, `expected HTTP ${status}, got ${response.status}: ${text}`);
  assert.equal(response.headers.get("x-error-code"), code, `X-Error-Code of ${response.url}`);
  const message = response.headers.get("x-error-message");
  assert.ok(message, "X-Error-Message is present");
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as { error: string } & Record<string, unknown>;
  assert.equal(typeof body.error, "string", "body.error is a string");
  assert.ok(body.error.length > 0);
  if (code === "InvalidCredentials") {
    // The header keeps the Hub's exact text (Python keys its error mapping on it); the body may add why.
    assert.equal(message, "Invalid credentials in Authorization header");
    assert.ok(body.error.startsWith(message), `body.error starts with the header's text: ${body.error}`);
  } else if (/^[\x20-\x7e]*$/.test(body.error) && body.error.length <= 1000) assert.equal(message, body.error, "X-Error-Message and body.error agree");
  return body;
}

/** Parses `Link: <url>; rel="next"` the way @huggingface/hub does (absolute URL, quoted rel). */
export function nextLinkOf(linkHeader: string | null): string | undefined {
  if (!linkHeader) return undefined;
  const match = /<(https?:[^>]+)>;\s+rel="next"/.exec(linkHeader);
  return match?.[1];
}

/** Follows `Link rel="next"` pages from `url` and returns every item and the number of pages. */
export async function fetchAllPages<T>(url: string, headers: Record<string, string> = {}): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pages = 0;
  let next: string | undefined = url;
  while (next) {
    const response: Response = await fetch(next, { headers });
    await expectOk(response, `GET ${next}`);
    items.push(...((await response.json()) as T[]));
    pages++;
    if (pages > 10_000) throw new Error("pagination does not end");
    next = nextLinkOf(response.headers.get("link"));
  }
  return { items, pages };
}
