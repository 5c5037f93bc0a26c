// The worker thread of sendfile.ts's `startSendfileJob`: sends a file range to a socket with
// sendfile(2) in a loop, waiting for the socket with poll(2) — the way nginx serves a file — so a
// download costs no trip through the event loop per call. Plain JavaScript (no TypeScript loader in
// worker threads); the C library comes from libc-thread.mjs.
//
// Protocol, one job at a time: the parent posts { socketFd, fileFd, position, end, idleMs, shared }.
// `socketFd` is a non-blocking socket (the parent's private duplicate), bytes [position, end] of
// `fileFd` are sent. `shared` is a SharedArrayBuffer: BigInt64 slot 0 is how far the file may be
// read (exclusive; the parent raises it for a file still arriving), slot 1 is 1 once the parent
// cancels, and the Int32 at byte 16 is the wake-up counter the parent bumps and notifies.
// The worker answers once: { position } (the first byte not sent), with { errno, closed } when it
// stopped on an error (`closed`: the peer went away), { cancelled: true } when cancelled, or
// { stalled: true } when the socket took no byte for `idleMs` (the client stopped reading; time
// spent waiting for more of a growing file does not count).

import { parentPort } from "node:worker_threads";
import { EAGAIN, ECONNRESET, EINTR, EPIPE, koffi, libc, pollOne, POLLOUT } from "./libc-thread.mjs";

const sendfile = libc.func("long sendfile(int out_fd, int in_fd, _Inout_ int64_t *offset, size_t count)");
const WAIT_MS = 250; // how often a wait (for the socket or for more of the file) looks at the cancel flag
const MAX_CALL = 1 << 30;

parentPort.on("message", ({ socketFd, fileFd, position, end, idleMs, shared }) => {
  const slots = new BigInt64Array(shared, 0, 2);
  const wake = new Int32Array(shared, 16, 1);
  const offset = [position];
  let lastProgress = Date.now(); // when the socket last took bytes (or the file last let us try)
  for (;;) {
    if (offset[0] > end) return parentPort.postMessage({ position: offset[0] });
    const seen = Atomics.load(wake, 0);
    if (Atomics.load(slots, 1) === 1n) return parentPort.postMessage({ position: offset[0], cancelled: true });
    const limit = Math.min(end + 1, Number(Atomics.load(slots, 0)));
    if (offset[0] >= limit) {
      Atomics.wait(wake, 0, seen, WAIT_MS);
      lastProgress = Date.now();
      continue;
    }
    const sent = sendfile(socketFd, fileFd, offset, Math.min(limit - offset[0], MAX_CALL));
    if (sent > 0) {
      lastProgress = Date.now();
      continue;
    }
    const errno = sent < 0 ? koffi.errno() : 0;
    if (errno === EAGAIN) {
      if (Date.now() - lastProgress >= idleMs) return parentPort.postMessage({ position: offset[0], stalled: true });
      pollOne(socketFd, POLLOUT, Math.min(WAIT_MS, idleMs));
    } else if (errno !== EINTR) return parentPort.postMessage({ position: offset[0], errno, closed: errno === EPIPE || errno === ECONNRESET });
  }
});
