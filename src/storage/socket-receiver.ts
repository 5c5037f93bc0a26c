// Receives bytes from a socket straight into a file: splice(2) on a worker thread
// (socket-to-file-worker.mjs), so the bytes never pass through JavaScript.
//
// Why: receiving a 1 GiB upload through Node's HTTP parser and a file write stream costs ~2.5 s
// of CPU on this machine class (a fresh 64 KiB buffer per socket read, stream machinery, the
// writes from libuv's thread pool); with splice it is ~1.4 s, nearly all of it the kernel's own
// receive and page-cache work (measured with the same client, 2026-11-29). On a small machine
// that CPU is what the upload's SHA-256 and the client itself are waiting for.
//
// Edge cases:
// - The socket must be non-blocking and read by nobody else until `done` settles; the caller owns
//   both descriptors and closes them only after that (a cancelled job settles within ~250 ms).
// - `done` resolves once exactly `length` bytes are in the file; it rejects with
//   ConnectionEndedError if the peer ends or resets the connection first, with ConnectionIdleError
//   if no byte arrives for `idleMs`, and with a plain Error for anything else (cancel, disk
//   errors, a failed worker).
// - `onProgress(n)`: bytes [offset, offset + n) are in the file (readable); called every few MiB.
// - Available on Linux when koffi loads, unless `AGORA_SPLICE=off`. A caller reserves a
//   receiving thread (`reserveSocketReceiver`) before it takes a socket over, and reads through
//   Node when none can be had: once the body is off Node's parser there is no way back, so the
//   thread must be certain first. An unused reservation must be released.

import type { Worker } from "node:worker_threads";
import { loadLibc } from "../lib/libc.ts";
import { createWorkerPool, jobAnswer } from "../lib/worker-pool.ts";

export interface SocketReceiveJob {
  readonly done: Promise<void>;
  cancel(): void;
}

export class ConnectionEndedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionEndedError";
  }
}

export class ConnectionIdleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionIdleError";
  }
}

type Message = { progress: number } | { done: number } | { error: string; received?: number; closed?: boolean; idle?: boolean };

const pool = createWorkerPool(new URL("./socket-to-file-worker.mjs", import.meta.url));
let bytesReceived = 0;

/** Bytes this process has received with splice (for tests and diagnostics). */
export function splicedBytesReceived(): number {
  return bytesReceived;
}

export function socketReceiveAvailable(): boolean {
  return !/^(0|off|false|no)$/i.test(process.env.AGORA_SPLICE ?? "") && loadLibc() !== undefined;
}

export type ReceiveOptions = { socketFd: number; fileFd: number; offset: number; length: number; idleMs: number; onProgress(received: number): void };

/** A receiving thread set aside for one transfer. */
export interface SocketReceiver {
  /** Starts the transfer on the reserved thread; at most once. */
  receive(options: ReceiveOptions): SocketReceiveJob;
  /** Gives the thread back if `receive` was never called; a no-op otherwise. */
  release(): void;
}

/**
 * Sets a receiving thread aside, or answers `undefined` when splice is unavailable or all of them
 * are busy (lib/worker-pool.ts caps them) — then read through Node.
 */
export function reserveSocketReceiver(): SocketReceiver | undefined {
  if (!socketReceiveAvailable()) return undefined;
  let worker: Worker;
  try {
    worker = pool.take();
  } catch {
    return undefined;
  }
  let settled = false;
  return {
    receive(options) {
      if (settled) throw new Error("this receiving thread was already used or released");
      settled = true;
      return receiveOnThread(worker, options);
    },
    release() {
      if (settled) return;
      settled = true;
      pool.release(worker);
    },
  };
}

function receiveOnThread(worker: Worker, options: ReceiveOptions): SocketReceiveJob {
  const shared = new SharedArrayBuffer(4);
  const cancelFlag = new Int32Array(shared);
  const answer = jobAnswer<Message>(pool, worker, "receiving", (message) => {
    if (!("progress" in message)) return false;
    options.onProgress(message.progress);
    return true;
  });
  const { socketFd, fileFd, offset, length, idleMs } = options;
  worker.postMessage({ socketFd, fileFd, offset, length, idleMs, shared });
  const done = answer.then((message) => {
    if ("done" in message) {
      bytesReceived += message.done;
      options.onProgress(message.done);
      return;
    }
    if ("progress" in message) throw new Error("unreachable: progress is not an answer");
    if ("closed" in message && message.closed) throw new ConnectionEndedError(`${message.error}; ${offset + length} were announced`);
    if ("idle" in message && message.idle) throw new ConnectionIdleError(`${message.error}; ${offset + length} were announced`);
    throw new Error(`receiving the upload failed: ${message.error}`);
  });
  done.catch(() => {});
  return {
    done,
    cancel() {
      Atomics.store(cancelFlag, 0, 1);
    },
  };
}
