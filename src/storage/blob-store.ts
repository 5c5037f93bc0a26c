// The content-addressed store for LFS objects, keyed by lowercase SHA-256 hex.
//
// Contract, for every driver:
// - `stat(oid)` answers `undefined` for an absent object, never throws for absence. Its
//   `modifiedAt` is when the object was last published (a publish of bytes already stored
//   refreshes it), which garbage collection uses as the object's age.
// - `list()` yields every published object once, in no particular order; objects published or
//   deleted while it runs may or may not be yielded. Staging files are never listed.
// - `createReadStream(oid, range)` reads `[start, end]` inclusive; the range must lie inside the
//   object (callers check it against `stat`). A missing object throws BlobNotFoundError.
// - `write()` returns a writer: bytes are staged, hashed while streaming, and only
//   `commit(oid, size)` publishes them, after checking that both match. A mismatch throws
//   BlobMismatchError and leaves nothing behind. `abort()` discards the staging file. A crash
//   at any point leaves either no object or the complete, verified one: never a partial object.
// - Published objects are durable (file and directory fsynced) before `commit` resolves.
// - Optionally, `reserveReceiver()` lets a writer be filled from a socket without copying through
//   JavaScript.
// - Optionally, `openStaged()` reads bytes a writer has staged so far, before they are verified:
//   a caller serving them must hold the end back until `commit` succeeded (services/mirror-flight.ts).
// - An oid that is not 64 lowercase hex characters throws InvalidBlobKeyError.

import type { Readable, Writable } from "node:stream";

export type BlobStat = { size: number; modifiedAt: Date };

/** One published object, as `list()` yields it. */
export type BlobListing = { oid: string } & BlobStat;

export interface BlobWriter {
  /** The stream to pipe the bytes into. */
  readonly stream: Writable;
  /** Bytes received so far. */
  readonly bytesWritten: () => number;
  /** Verify hash and size, then publish. Idempotent if the object already exists. */
  commit(expectedOid: string, expectedSize: number): Promise<void>;
  /** Remove staged bytes; safe to call after commit (no-op) or twice. */
  abort(): Promise<void>;
  /**
   * Optional, for drivers that stage to a local file: a descriptor of the staging file, so
   * readers of an object still arriving can be served from it (a tee, with sendfile where the
   * platform has it). A byte may be read once the `stream.write` callback of the chunk holding it
   * has run. The bytes are unverified until `commit` resolves. An open reader stays readable after
   * `commit` or `abort` until it is closed; opening one after either has started throws (the
   * caller then reads the published object, if there is one).
   */
  openStaged?(): Promise<StagedReader>;
  /**
   * Optional, for drivers that stage to a local file on a platform with splice(2): sets aside what
   * receiving from a socket takes (a worker thread, socket-receiver.ts) and answers the function
   * that does it — or `undefined` when that cannot be had now, or the writer is not fresh or
   * already reserved; then use `stream`. Ask before taking a socket over: a body taken off the
   * HTTP parser has no way back to `stream`. `commit` and `abort` give an unused reservation back.
   *
   * The function stages `head`, then exactly `length` more bytes read from `fd` — a non-blocking
   * stream socket that nothing else reads until it settles — moved into the staging file by the
   * kernel. Use it instead of `stream`, never both, at most once. Rejects with
   * ConnectionEndedError if the peer ends the connection early, ConnectionIdleError if no byte
   * comes for `idleMs`, or an Error when `signal` aborts; it settles only once `fd` is no longer
   * used. `commit` then works as after `stream`.
   */
  reserveReceiver?(): ((source: ReceiveSource) => Promise<void>) | undefined;
}

export interface ReceiveSource {
  readonly head: Buffer;
  readonly fd: number;
  readonly length: number;
  /** Give up when no byte arrives for this long. */
  readonly idleMs: number;
  readonly signal?: AbortSignal;
}

/** The staged bytes of a writer (BlobWriter.openStaged): a read-only descriptor of its staging file. */
export interface StagedReader {
  /** Valid until `close`; positioned reads only (pread, sendfile with an offset). */
  readonly fd: number;
  close(): Promise<void>;
}

export interface BlobStore {
  stat(oid: string): Promise<BlobStat | undefined>;
  createReadStream(oid: string, range?: { start: number; end: number }): Readable;
  /** Local file path of a published object, for drivers that have one (fast sendfile-style reads). */
  localPath?(oid: string): string;
  list(): AsyncIterable<BlobListing>;
  write(): Promise<BlobWriter>;
  delete(oid: string): Promise<void>;
}

export class BlobNotFoundError extends Error {
  constructor(oid: string) {
    super(`blob ${oid} not found`);
    this.name = "BlobNotFoundError";
  }
}

export class BlobMismatchError extends Error {
  constructor(
    readonly expected: { oid: string; size: number },
    readonly actual: { oid: string; size: number },
  ) {
    super(`uploaded bytes have sha256 ${actual.oid} and size ${actual.size}, expected ${expected.oid} and size ${expected.size}`);
    this.name = "BlobMismatchError";
  }
}

export class InvalidBlobKeyError extends Error {
  constructor(oid: string) {
    super(`invalid object id ${JSON.stringify(oid.slice(0, 80))}: expected 64 lowercase hex characters`);
    this.name = "InvalidBlobKeyError";
  }
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function assertBlobKey(oid: string): void {
  if (!SHA256_HEX.test(oid)) throw new InvalidBlobKeyError(oid);
}
