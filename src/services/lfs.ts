// The LFS side of uploads: the batch API answer, self-authorising upload URLs (both official
// clients PUT without an Authorization header), verified uploads, and verify.
//
// An object becomes usable in a repository only after its bytes were uploaded *to that
// repository* (recorded as a link): knowing a SHA-256 is not enough to pull a private object of
// another repository into yours.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import { AgoraError } from "../errors.ts";
import type { ReposStore } from "../db/repos-store.ts";
import { BlobMismatchError, SHA256_HEX, type BlobStore, type ReceiveSource } from "../storage/blob-store.ts";
import { ConnectionEndedError, ConnectionIdleError } from "../storage/socket-receiver.ts";
import type { Repo } from "./repos.ts";

export type LfsBatchObject = { oid: string; size: number };

/**
 * An upload's body: the request stream, and where the HTTP layer can offer it, a way to take the
 * rest of the body straight off the connection's socket (http/socket-body.ts) for stores that
 * can receive from one (BlobWriter.reserveReceiver). `takeSocket` answers `undefined` when it cannot.
 */
export type UploadBody = {
  stream: Readable;
  takeSocket?: () => Promise<Omit<ReceiveSource, "length" | "idleMs"> | undefined>;
};

/** Bodies from this size on are received from the socket when possible; smaller ones are not worth a thread. */
const SOCKET_RECEIVE_MIN = 8 * 1024 * 1024;
export type LfsAction = { href: string; header?: Record<string, string>; expires_in?: number };
export type LfsBatchResult = {
  oid: string;
  size: number;
  authenticated?: boolean;
  actions?: { upload?: LfsAction; verify?: LfsAction; download?: LfsAction };
  error?: { code: number; message: string };
};

const URL_LIFETIME_SECONDS = 3600;
/** The largest object accepted: the Hub's limit for a single LFS file is 50 GB; we accept up to 1 TB. */
export const MAX_LFS_OBJECT_SIZE = 2 ** 40;

export function createLfsService(deps: { dataDir: string; repos: ReposStore; blobs: BlobStore; clock?: () => Date; uploadIdleMs: number }) {
  const idleMs = deps.uploadIdleMs;
  const clock = deps.clock ?? (() => new Date());
  const secret = loadSecret(deps.dataDir);

  function sign(parts: string[]): string {
    return createHmac("sha256", secret).update(parts.join("\n")).digest("base64url");
  }

  function signedQuery(action: "upload" | "download" | "verify", repoId: string, oid: string, size: number): string {
    const expires = Math.floor(clock().getTime() / 1000) + URL_LIFETIME_SECONDS;
    return `repo=${repoId}&size=${size}&exp=${expires}&sig=${sign([action, repoId, oid, String(size), String(expires)])}`;
  }

  function checkSignature(action: "upload" | "download" | "verify", query: Record<string, unknown>, oid: string): { repoId: string; size: number } {
    const repoId = String(query.repo ?? "");
    const size = Number(query.size);
    const expires = Number(query.exp);
    const given = Buffer.from(String(query.sig ?? ""));
    const expected = Buffer.from(sign([action, repoId, oid, String(query.size ?? ""), String(query.exp ?? "")]));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AgoraError("Forbidden", "invalid or tampered signed URL");
    if (!(expires * 1000 > clock().getTime())) throw new AgoraError("Forbidden", "the signed URL has expired; run the upload again");
    return { repoId, size };
  }

  function checkObject(object: unknown): { ok: true; value: LfsBatchObject } | { ok: false; result: LfsBatchResult } {
    const o = object as { oid?: unknown; size?: unknown };
    const oid = typeof o?.oid === "string" ? o.oid : "";
    const size = typeof o?.size === "number" ? o.size : -1;
    if (!SHA256_HEX.test(oid)) return { ok: false, result: { oid: String(oid).slice(0, 100), size: Math.max(size, 0), error: { code: 422, message: "oid must be 64 lowercase hex characters (a SHA-256)" } } };
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LFS_OBJECT_SIZE) return { ok: false, result: { oid, size: 0, error: { code: 422, message: `size must be an integer between 0 and ${MAX_LFS_OBJECT_SIZE}` } } };
    return { ok: true, value: { oid, size } };
  }

  return {
    /** Answers one batch request. `baseUrl` is the absolute URL prefix for hrefs. */
    async batch(repo: Repo, operation: "upload" | "download", objects: unknown[], baseUrl: string): Promise<LfsBatchResult[]> {
      if (objects.length > 10_000) throw new AgoraError("PayloadTooLarge", "at most 10000 objects per batch request");
      const results: LfsBatchResult[] = [];
      for (const object of objects) {
        const checked = checkObject(object);
        if (!checked.ok) {
          results.push(checked.result);
          continue;
        }
        const { oid, size } = checked.value;
        const linked = await deps.repos.lfsLink(repo.id, oid);
        const stored = await deps.blobs.stat(oid);
        if (operation === "upload") {
          if (linked && stored && stored.size === size) {
            results.push({ oid, size }); // already here: no actions, clients skip it
            continue;
          }
          results.push({
            oid,
            size,
            authenticated: true,
            actions: {
              upload: { href: `${baseUrl}/lfs-upload/${oid}?${signedQuery("upload", repo.id, oid, size)}`, header: {}, expires_in: URL_LIFETIME_SECONDS },
              verify: { href: `${baseUrl}/lfs-verify/${oid}?${signedQuery("verify", repo.id, oid, size)}`, header: {}, expires_in: URL_LIFETIME_SECONDS },
            },
          });
        } else {
          if (!linked || !stored) {
            results.push({ oid, size, error: { code: 404, message: "Object does not exist" } });
            continue;
          }
          results.push({
            oid,
            size: stored.size,
            authenticated: true,
            actions: { download: { href: `${baseUrl}/lfs-download/${oid}?${signedQuery("download", repo.id, oid, stored.size)}`, header: {}, expires_in: URL_LIFETIME_SECONDS } },
          });
        }
      }
      return results;
    },

    /**
     * Receives the body of a signed upload URL. The bytes are hashed while they stream to
     * staging; the object is published only if SHA-256 and size match. Returns the repository id.
     */
    async receiveUpload(oid: string, query: Record<string, unknown>, body: UploadBody, contentLength: number | undefined): Promise<void> {
      if (!SHA256_HEX.test(oid)) throw new AgoraError("BadRequest", "oid must be 64 lowercase hex characters");
      const { repoId, size } = checkSignature("upload", query, oid);
      if (contentLength !== undefined && contentLength !== size) {
        throw new AgoraError("LfsObjectMismatch", `Content-Length ${contentLength} does not match the announced size ${size}`);
      }
      const writer = await deps.blobs.write();
      try {
        // The receiving thread is reserved before the body is taken off the parser, which cannot be undone.
        const receive = contentLength !== undefined && size >= SOCKET_RECEIVE_MIN && body.takeSocket ? writer.reserveReceiver?.() : undefined;
        const socket = receive ? await body.takeSocket?.() : undefined;
        if (receive && socket) {
          await receive({ ...socket, length: size - socket.head.length, idleMs });
        } else {
          const limiter = sizeLimiter(size, idleMs);
          try {
            await pipeline(body.stream, limiter, writer.stream);
          } finally {
            limiter.stopWatching();
          }
        }
        await writer.commit(oid, size);
      } catch (error) {
        await writer.abort();
        if (error instanceof BlobMismatchError) throw new AgoraError("LfsObjectMismatch", `Uploaded bytes do not match: ${error.message}`);
        if (error instanceof ConnectionEndedError) throw new AgoraError("BadRequest", `The upload was cut short: ${error.message}`);
        if (error instanceof ConnectionIdleError) throw new AgoraError("RequestTimeout", `The upload stalled: ${error.message}`);
        throw error;
      }
      await deps.repos.linkLfsObject(repoId, oid, size);
      // The mirror cache (bytes fetched for a mirrored repository) or `agora gc` (bytes no
      // repository linked) may have deleted the object between the publish and the link; with
      // the link in place neither can any more.
      if ((await deps.blobs.stat(oid))?.size !== size) {
        throw new AgoraError("Conflict", `object ${oid} was deleted (mirror cache eviction or garbage collection) while it was being stored; upload it again`);
      }
    },

    checkDownload(oid: string, query: Record<string, unknown>): { repoId: string; size: number } {
      if (!SHA256_HEX.test(oid)) throw new AgoraError("BadRequest", "oid must be 64 lowercase hex characters");
      return checkSignature("download", query, oid);
    },

    /**
     * Verify (signed URL, like the upload's: git-lfs calls it without credentials when the
     * batch answer says `authenticated`): 200 when the object is stored, linked to the
     * repository, and of the announced size.
     */
    async verify(oid: string, query: Record<string, unknown>, size: unknown): Promise<void> {
      if (!SHA256_HEX.test(oid)) throw new AgoraError("UnprocessableEntity", "oid must be 64 lowercase hex characters");
      const { repoId } = checkSignature("verify", query, oid);
      const linked = await deps.repos.lfsLink(repoId, oid);
      const stored = await deps.blobs.stat(oid);
      if (!linked || !stored) throw new AgoraError("NotFound", `object ${oid} was not uploaded`);
      if (typeof size === "number" && size !== stored.size) throw new AgoraError("UnprocessableEntity", `object ${oid} has size ${stored.size}, not ${size}`);
    },

    /** For commits: the size of an object uploaded to this repository, or LfsObjectMissing. */
    async requireLinked(repo: Repo, oid: string, size: number | undefined): Promise<number> {
      const linked = await deps.repos.lfsLink(repo.id, oid);
      const stored = SHA256_HEX.test(oid) ? await deps.blobs.stat(oid) : undefined;
      if (!linked || !stored) throw new AgoraError("LfsObjectMissing", `LFS object ${oid} was never uploaded to this repository; upload it through the LFS batch API before committing`);
      if (size !== undefined && size !== stored.size) throw new AgoraError("LfsObjectMismatch", `LFS object ${oid} has size ${stored.size}, but the commit says ${size}`);
      return stored.size;
    },

    /** Links an object already stored (e.g. reached through a git push of the same repository). */
    link: (repoId: string, oid: string, size: number) => deps.repos.linkLfsObject(repoId, oid, size),
  };
}

export type LfsService = ReturnType<typeof createLfsService>;

/** The HMAC key for signed URLs, created once per data directory. */
function loadSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, "secret.key");
  try {
    return fs.readFileSync(file);
  } catch {
    const key = randomBytes(32);
    try {
      fs.writeFileSync(file, key, { flag: "wx", mode: 0o600 });
      return key;
    } catch {
      return fs.readFileSync(file); // another process won the race
    }
  }
}

/**
 * Passes at most `size` bytes (one more fails the stream with LfsObjectMismatch), and fails it
 * with RequestTimeout when no byte comes for `idleMs`; `stopWatching` ends the watch.
 */
function sizeLimiter(size: number, idleMs: number): Transform & { stopWatching(): void } {
  let received = 0;
  const limiter = new Transform({
    highWaterMark: 1024 * 1024, // the default 16 KiB stalls the socket while the writer hashes
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      idle.refresh();
      if (received > size) callback(new AgoraError("LfsObjectMismatch", `the body is larger than the announced size ${size}`));
      else callback(null, chunk);
    },
  });
  const idle = setTimeout(() => {
    const seconds = Math.round(idleMs / 1000);
    limiter.destroy(new AgoraError("RequestTimeout", `The upload stalled: no byte arrived for ${seconds} s, after ${received} bytes; ${size} were announced`));
  }, idleMs);
  return Object.assign(limiter, { stopWatching: () => clearTimeout(idle) });
}
