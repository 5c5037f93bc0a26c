// A pool of worker threads running one script, for the helpers that keep long CPU or blocking work
// off the event loop (storage/file-hasher.ts, storage/socket-receiver.ts, lib/sendfile.ts).
//
// Workers are reused: up to one per core is kept idle, unref'd, so an idle pool never keeps the
// process alive; a taken worker is ref'd like any pending I/O. A caller that saw its worker fail
// must `discard` it instead of releasing it. At most `busyPerCore` workers per core (default 8) are
// out at once (each thread costs a few MiB): past that `take` throws and callers do the work
// without one.

import os from "node:os";
import { Worker } from "node:worker_threads";

export interface WorkerPool {
  /** An idle worker, or a new one; throws at the limit or if the thread cannot be started. */
  take(): Worker;
  /** Back to the pool once its job has answered. */
  release(worker: Worker): void;
  /** For a worker that failed or is in an unknown state: terminated, never reused. */
  discard(worker: Worker): void;
}

export function createWorkerPool(script: URL, options: { busyPerCore?: number } = {}): WorkerPool {
  const cores = Math.max(1, os.availableParallelism());
  const maxBusy = cores * (options.busyPerCore ?? 8);
  const idle: Worker[] = [];
  let busy = 0;
  return {
    take() {
      if (busy >= maxBusy) throw new Error(`all ${maxBusy} worker threads are busy`);
      const worker = idle.pop() ?? new Worker(script);
      busy++;
      worker.ref();
      return worker;
    },
    release(worker) {
      busy--;
      worker.unref();
      if (idle.length < cores) idle.push(worker);
      else void worker.terminate();
    },
    discard(worker) {
      busy--;
      void worker.terminate();
    },
  };
}

/** A job's shared memory (see `sharedSlots`): the buffer to post, and a store that wakes the worker. */
export interface SharedSlots {
  readonly buffer: SharedArrayBuffer;
  /** Stores `value` in `slot` and wakes the worker if it waits on the counter. */
  set(slot: number, value: bigint): void;
}

/**
 * `count` BigInt64 slots followed by an Int32 wake-up counter (at byte 8 × count): the layout the
 * pooled workers read with Atomics and wait on (sha256-file-worker.mjs, sendfile-worker.mjs).
 */
export function sharedSlots(count: number): SharedSlots {
  const buffer = new SharedArrayBuffer(8 * count + 8);
  const slots = new BigInt64Array(buffer, 0, count);
  const wake = new Int32Array(buffer, 8 * count, 1);
  return {
    buffer,
    set(slot, value) {
      Atomics.store(slots, slot, value);
      Atomics.add(wake, 0, 1);
      Atomics.notify(wake, 0);
    },
  };
}

/**
 * The one answer of a job posted to `worker`: its first message, or `{ error }` if the thread
 * failed or exited first. The worker goes back to `pool` (or is discarded after a failure).
 */
export function jobAnswer<T extends object>(pool: WorkerPool, worker: Worker, name: string, onProgress?: (message: T) => boolean): Promise<T | { error: string }> {
  return new Promise((resolve) => {
    const onMessage = (message: T) => {
      if (onProgress?.(message)) return; // a progress report, not the answer
      detach();
      pool.release(worker);
      resolve(message);
    };
    const onError = (error: Error) => {
      detach();
      pool.discard(worker);
      resolve({ error: `the ${name} thread failed: ${error.message}` });
    };
    const onExit = (code: number) => {
      detach();
      pool.discard(worker);
      resolve({ error: `the ${name} thread exited with code ${code}` });
    };
    const detach = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
