// Small raw-HTTP helpers for the wire-level tests in this folder: one request function that
// returns status, headers and the body text, and the create/upload/commit steps the official
// clients perform, written out with fetch so every byte on the wire is ours to choose.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";

export type RepoType = "model" | "dataset";

export type WireResponse = {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (throws with the text when it is not JSON). */
  json<T = any>(): T;
};

export type RequestOptions = {
  token?: string;
  /** Sent as the Authorization header verbatim (overrides `token`). */
  authorization?: string;
  headers?: Record<string, string>;
  /** JSON body (sets Content-Type: application/json). */
  json?: unknown;
  body?: string | Buffer;
  contentType?: string;
};

export async function request(url: string, method: string, options: RequestOptions = {}): Promise<WireResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization !== undefined) headers.Authorization = options.authorization;
  else if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | Buffer | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers["Content-Type"] = options.contentType ?? "application/json";
  } else if (options.contentType) headers["Content-Type"] = options.contentType;
  const response = await fetch(url, { method, headers, body });
  const text = method === "HEAD" ? "" : await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json<T>() {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new Error(`not JSON (HTTP ${response.status}): ${text.slice(0, 500)}`);
      }
    },
  };
}

/** Asserts the Hub's error format: status, X-Error-Code, X-Error-Message, JSON {"error"}. */
export function assertError(res: WireResponse, status: number, code: string, what = ""): string {
  assert.equal(res.status, status, `${what} expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
  assert.equal(res.headers.get("x-error-code"), code, `${what} X-Error-Code`);
  const message = res.headers.get("x-error-message");
  assert.ok(message, `${what} X-Error-Message present`);
  if (res.text) {
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/, `${what} JSON error body`);
    const body = res.json<{ error?: unknown }>();
    assert.equal(typeof body.error, "string", `${what} body.error is a string`);
  }
  return message;
}

export function assertOk(res: WireResponse, what = ""): void {
  assert.ok(res.status >= 200 && res.status < 300, `${what} expected 2xx, got ${res.status} ${res.headers.get("x-error-code") ?? ""}: ${res.text.slice(0, 300)}`);
}

export const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

export function gitBlobSha1(data: Buffer | string): string {
  const bytes = Buffer.from(data);
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

export const prefixOf = (type: RepoType) => (type === "dataset" ? "datasets/" : "");
export const apiOf = (base: string, type: RepoType, id: string) => `${base}/api/${type}s/${id}`;

/** POST /api/repos/create with exactly the given body. */
export function createRepoRaw(base: string, token: string | undefined, body: Record<string, unknown>): Promise<WireResponse> {
  return request(`${base}/api/repos/create`, "POST", { token, json: body });
}

/** Creates `ns/name` (namespace from the id) and returns the id; fails the test on error. */
export async function createRepo(base: string, token: string, id: string, options: { type?: RepoType; private?: boolean } = {}): Promise<string> {
  const [namespace, name] = id.split("/");
  const res = await createRepoRaw(base, token, { name, organization: namespace, type: options.type ?? "model", ...(options.private ? { visibility: "private" } : {}) });
  assertOk(res, `create ${id}`);
  return res.json<{ name: string }>().name;
}

export function lfsBatch(base: string, token: string | undefined, id: string, operation: "upload" | "download", objects: { oid: string; size: number }[], type: RepoType = "model") {
  return request(`${base}/${prefixOf(type)}${id}.git/info/lfs/objects/batch`, "POST", {
    token,
    json: { operation, transfers: ["basic", "multipart"], hash_algo: "sha256", ...(operation === "upload" ? { ref: { name: "main" } } : {}), objects },
    contentType: "application/vnd.git-lfs+json",
    headers: { Accept: "application/vnd.git-lfs+json" },
  });
}

/** Batch upload + unauthenticated PUT of each object, as both SDKs do. */
export async function uploadLfs(base: string, token: string, id: string, contents: Buffer[], type: RepoType = "model"): Promise<void> {
  const byOid = new Map(contents.map((c) => [sha256(c), c]));
  const res = await lfsBatch(base, token, id, "upload", [...byOid].map(([oid, c]) => ({ oid, size: c.length })), type);
  assertOk(res, "LFS batch upload");
  for (const object of res.json<{ objects: { oid: string; actions?: { upload?: { href: string } } }[] }>().objects) {
    const href = object.actions?.upload?.href;
    if (!href) continue;
    const put = await fetch(href, { method: "PUT", body: byOid.get(object.oid)! });
    assert.equal(put.status, 200, `LFS PUT ${object.oid}: ${await put.text()}`);
  }
}

export type Op =
  | { path: string; content: string | Buffer; lfs?: boolean }
  | { deletedFile: string }
  | { deletedFolder: string };

/** NDJSON lines of a commit; Python terminates every line with "\n", JS does not end the last one. */
export function ndjson(header: Record<string, unknown>, ops: Op[], style: "python" | "js" = "python"): string {
  const lines: unknown[] = [{ key: "header", value: header }];
  for (const op of ops) {
    if ("deletedFile" in op) lines.push({ key: "deletedFile", value: { path: op.deletedFile } });
    else if ("deletedFolder" in op) lines.push({ key: "deletedFolder", value: { path: op.deletedFolder } });
    else {
      const bytes = Buffer.from(op.content);
      lines.push(
        op.lfs
          ? { key: "lfsFile", value: { path: op.path, algo: "sha256", oid: sha256(bytes), size: bytes.length } }
          : { key: "file", value: { path: op.path, content: bytes.toString("base64"), encoding: "base64" } },
      );
    }
  }
  const text = lines.map((l) => JSON.stringify(l));
  return style === "python" ? text.map((l) => l + "\n").join("") : text.join("\n");
}

/** POST the NDJSON commit (no LFS upload); returns the raw response. */
export function commitRaw(
  base: string,
  token: string | undefined,
  id: string,
  ops: Op[],
  options: { type?: RepoType; revision?: string; summary?: string; parentCommit?: string; style?: "python" | "js"; query?: string } = {},
): Promise<WireResponse> {
  const header: Record<string, unknown> = { summary: options.summary ?? "Upload files", description: "" };
  if (options.parentCommit) header.parentCommit = options.parentCommit;
  const url = `${apiOf(base, options.type ?? "model", id)}/commit/${encodeURIComponent(options.revision ?? "main")}${options.query ? `?${options.query}` : ""}`;
  return request(url, "POST", { token, body: ndjson(header, ops, options.style), contentType: "application/x-ndjson" });
}

/** Uploads LFS contents, commits, and returns the new commit id; fails the test on error. */
export async function commit(base: string, token: string, id: string, ops: Op[], options: { type?: RepoType; revision?: string; summary?: string } = {}): Promise<string> {
  const lfs = ops.filter((o): o is { path: string; content: string | Buffer; lfs?: boolean } => "path" in o && o.lfs === true).map((o) => Buffer.from(o.content));
  if (lfs.length) await uploadLfs(base, token, id, lfs, options.type);
  const res = await commitRaw(base, token, id, ops, options);
  assertOk(res, `commit to ${id}`);
  return res.json<{ commitOid: string }>().commitOid;
}

/** The `Link` rel="next" URL as @huggingface/hub's regex reads it. */
export function nextLink(res: WireResponse): string | undefined {
  const header = res.headers.get("link");
  if (!header) return undefined;
  return /<(https?:[^>]+)>;\s+rel="next"/.exec(header)?.[1];
}
