// SHA-256 of a file that is still being written, computed on a worker thread that reads behind
// the writer (sha256-file-worker.mjs).
//
// Why: this CPU class hashes at ~0.27–0.37 GB/s (no SHA instructions), so hashing on the thread
// that also receives the bytes caps an upload or a mirror fetch at that speed and stalls every
// other request meanwhile. Behind the writer, the hash runs on another core while the bytes are
// still arriving; the worker reads them back from the page cache (a memory copy, ~0.1 s per GiB).
//
// Edge cases:
// - `advance(n)` must only announce bytes whose write has completed; announcing fewer is fine
//   (the worker waits), more would make it fail with "the file ended at …".
// - `finish(size)` resolves once all `size` bytes are hashed; it rejects if the worker failed
//   (unreadable file, a crash of the worker) or the job was cancelled.
// - `cancel()` is safe at any time, also after `finish` or twice; the worker returns to the pool.
// - Workers are pooled (lib/worker-pool.ts); at the pool's limit `hashFileBehindWriter` throws and the
//   caller hashes on its own thread instead.

import { createWorkerPool, jobAnswer, sharedSlots } from "../lib/worker-pool.ts";

export type FileHash = { oid: string; size: number };

export interface FileHashJob {
  /** Bytes [0, n) of the file are written; n never decreases. */
  advance(n: number): void;
  /** The writer is done at `size` bytes: resolves to the SHA-256 (lowercase hex) of them. */
  finish(size: number): Promise<FileHash>;
  /** Stops hashing and frees the worker. */
  cancel(): void;
}

type Answer = { oid: string; size: number } | { cancelled: true } | { error: string };

const pool = createWorkerPool(new URL("./sha256-file-worker.mjs", import.meta.url));

/** Starts hashing `path` from its first byte; see FileHashJob for the protocol. */
export function hashFileBehindWriter(path: string): FileHashJob {
  // Slots: written bytes, final size (-1 until known), cancelled.
  const shared = sharedSlots(3);
  shared.set(1, -1n);

  const worker = pool.take();
  const answer = jobAnswer<Answer>(pool, worker, "hashing");
  worker.postMessage({ path, shared: shared.buffer });

  return {
    advance(n) {
      shared.set(0, BigInt(n));
    },
    async finish(size) {
      shared.set(1, BigInt(size));
      const result = await answer;
      if ("error" in result) throw new Error(result.error);
      if ("cancelled" in result) throw new Error("the hash was cancelled");
      return result;
    },
    cancel() {
      shared.set(2, 1n);
    },
  };
}
