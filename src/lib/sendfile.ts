// Zero-copy file → socket transfer with Linux's sendfile(2), called through koffi (lib/libc.ts)
// because Node has no sendfile for sockets.
//
// Why: a download copied through user space costs ~0.6 s of CPU per GiB in Node (read into a
// buffer, then write it to the socket); sendfile lets the kernel hand page-cache pages to the
// socket (~0.3 s per GiB, measured on loopback), which is what nginx does.
//
// Safety: the socket descriptor belongs to Node, which closes it whenever the connection ends.
// A call still queued on a worker thread must never write into a descriptor number the process
// has meanwhile reused for something else, so every transfer works on its own dup() of the
// socket and closes it at the end. The socket is non-blocking: a call sends what fits into the
// socket buffer and answers `{ sent: 0, blocked: true }` when nothing fits; the caller then waits
// for writability through Node (see http/send-file.ts).
//
// `startSendfileJob` does a whole range on one worker thread instead (sendfile-worker.mjs: a
// sendfile and poll loop, as nginx does): measured on loopback, 0.18–0.23 s of CPU per GiB against
// 0.34–0.41 s for one call at a time through libuv's thread pool, whose every call costs a trip
// through the event loop. Its threads are pooled, one per core (lib/worker-pool.ts): past that it
// answers `undefined` and the caller goes on call by call.
//
// Availability: Linux only, and only when koffi loads; `AGORA_SENDFILE=off` turns it off.
// Anything else answers `undefined` from `loadSendfile()` and callers copy the bytes instead.

import { loadLibc } from "./libc.ts";
import { createWorkerPool, jobAnswer, sharedSlots } from "./worker-pool.ts";

export type SendfileResult = { sent: number; blocked: boolean; errno: number };

export interface Sendfile {
  /** A private duplicate of `fd` (closed with `close`). */
  dup(fd: number): number;
  close(fd: number): void;
  /**
   * Sends up to `count` bytes of `fileFd` from `offset` into `socketFd`, on a worker thread (a
   * page-cache miss blocks that thread, not the event loop). `sent` 0 with `blocked` means the
   * socket buffer is full; `sent` 0 without it is an error (`errno`), including the end of file.
   */
  send(socketFd: number, fileFd: number, offset: number, count: number): Promise<SendfileResult>;
}

const EAGAIN = 11;
let loaded: Sendfile | null | undefined;
let bytesSent = 0;

/** Bytes this process has sent with sendfile (for tests and diagnostics). */
export function sendfileBytesSent(): number {
  return bytesSent;
}

export function loadSendfile(): Sendfile | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (/^(0|off|false|no)$/i.test(process.env.AGORA_SENDFILE ?? "")) return undefined;
  const libc = loadLibc();
  if (!libc) return undefined;
  const { koffi } = libc;
  try {
    const sendfile = libc.lib.func("long sendfile(int out_fd, int in_fd, _Inout_ int64_t *offset, size_t count)");
    loaded = {
      dup: libc.dup,
      close: libc.close,
      send(socketFd, fileFd, offset, count) {
        return new Promise((resolve, reject) => {
          const position = [offset];
          try {
            sendfile.async(socketFd, fileFd, position, count, (error: unknown, n: number) => {
              if (error) return reject(error);
              if (n > 0) bytesSent += n;
              if (n > 0) return resolve({ sent: n, blocked: false, errno: 0 });
              const errno = n < 0 ? koffi.errno() : 0;
              resolve({ sent: 0, blocked: errno === EAGAIN, errno });
            });
          } catch (error) {
            reject(error); // koffi's queue of asynchronous calls is full
          }
        });
      },
    };
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}

export interface SendfileJob {
  /**
   * Resolves with the first position not sent (`end + 1` when all went out; `closed` if the peer
   * went away; `stalled` if the socket took no byte for `idleMs`), or `undefined` if the thread
   * failed and how far it got is unknown.
   */
  readonly done: Promise<{ position: number; closed: boolean; stalled: boolean } | undefined>;
  /** Bytes before `limit` may be read (for a file still arriving; the job waits for more). */
  advance(limit: number): void;
  /** Stops the job within ~250 ms; `done` then resolves with where it got to. */
  cancel(): void;
}

type JobAnswer = { position: number; errno?: number; closed?: boolean; cancelled?: boolean; stalled?: boolean } | { error: string };

// One sending thread per core: more only add memory (~7 MiB each) and context switches; with 16
// streams on 2 cores, 16 threads served 0.89 of nginx against 1.06 for the call-by-call loop.
const pool = createWorkerPool(new URL("./sendfile-worker.mjs", import.meta.url), { busyPerCore: 1 });

/**
 * Sends bytes [position, end] of `fileFd` to `socketFd` (a private duplicate, kept open by the
 * caller until `done` settles) on a worker thread, reading only below the limit given to
 * `advance`, and gives up when the socket takes no byte for `idleMs` (a client that stopped
 * reading must not hold the thread). `undefined` when sendfile is unavailable or every sending
 * thread is busy.
 */
export function startSendfileJob(socketFd: number, fileFd: number, position: number, end: number, idleMs: number): SendfileJob | undefined {
  if (!loadSendfile()) return undefined;
  let worker;
  try {
    worker = pool.take(); // throws when every sending thread is busy
  } catch {
    return undefined;
  }
  const shared = sharedSlots(2); // how far the file may be read, cancelled
  const start = position;
  const done = jobAnswer<JobAnswer>(pool, worker, "sendfile").then((answer) => {
    if ("error" in answer) return undefined;
    bytesSent += answer.position - start;
    return { position: answer.position, closed: answer.closed === true, stalled: answer.stalled === true };
  });
  worker.postMessage({ socketFd, fileFd, position, end, idleMs, shared: shared.buffer });
  return {
    done,
    advance: (limit) => shared.set(0, BigInt(limit)),
    cancel: () => shared.set(1, 1n),
  };
}
