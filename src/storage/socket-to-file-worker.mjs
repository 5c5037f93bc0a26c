// The worker thread of socket-receiver.ts: moves bytes from a socket into a file inside the kernel
// with splice(2) (socket → pipe → file), so they never pass through JavaScript. Plain JavaScript
// (no TypeScript loader in worker threads); the C library comes from lib/libc-thread.mjs.
//
// Protocol, one job at a time: the parent posts
//   { socketFd, fileFd, offset, length, idleMs, shared }
// `socketFd` is a non-blocking stream socket nobody else reads meanwhile (the parent's private
// duplicate), `fileFd` the file to write at `offset`, `shared` a SharedArrayBuffer whose first
// Int32 the parent sets to 1 to cancel. The worker answers { progress } every PROGRESS_EVERY
// bytes (bytes now in the file, readable), then once { done } or { error, received, closed, idle }
// (`closed`: the peer ended the connection early; `idle`: no byte came for `idleMs`).

import fs from "node:fs";
import { parentPort } from "node:worker_threads";
import { EAGAIN, ECONNRESET, EINTR, EINVAL, koffi, libc, pollOne, POLLIN, POLLRDHUP } from "../lib/libc-thread.mjs";

const splice = libc.func("long splice(int fd_in, int64_t *off_in, int fd_out, _Inout_ int64_t *off_out, size_t len, unsigned int flags)");
const pipe2 = libc.func("int pipe2(_Out_ int *fds, int flags)");
const fcntl = libc.func("int fcntl(int fd, int cmd, int arg)");
const close = libc.func("int close(int fd)");

const O_CLOEXEC = 0o2000000;
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;
const PIPE_SIZE = 1024 * 1024;
const PROGRESS_EVERY = 4 * 1024 * 1024;
const POLL_MS = 250; // how often a wait for the peer looks at the cancel flag

class PeerClosed extends Error {}
class Idle extends Error {}

parentPort.on("message", (job) => {
  const state = { received: 0 };
  try {
    receive(job, state);
    parentPort.postMessage({ done: state.received });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    parentPort.postMessage({ error: message, received: state.received, closed: error instanceof PeerClosed, idle: error instanceof Idle });
  }
});

function receive({ socketFd, fileFd, offset, length, idleMs, shared }, state) {
  const cancelled = new Int32Array(shared, 0, 1);
  const fds = [-1, -1];
  if (pipe2(fds, O_CLOEXEC) < 0) throw new Error(`pipe2 failed with errno ${koffi.errno()}`);
  const [pipeRead, pipeWrite] = fds;
  try {
    fcntl(pipeWrite, F_SETPIPE_SZ, PIPE_SIZE); // best effort: a smaller pipe only means more calls
    const chunk = Math.max(4096, fcntl(pipeWrite, F_GETPIPE_SZ, 0));
    const position = [offset];
    let copyBuffer; // set if this file system refuses splice into files: then read + write
    let reported = 0;
    let lastByteAt = Date.now();
    while (state.received < length) {
      if (Atomics.load(cancelled, 0) === 1) throw new Error("cancelled");
      const n = splice(socketFd, null, pipeWrite, null, Math.min(chunk, length - state.received), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n === 0) throw new PeerClosed(`the connection ended after ${offset + state.received} bytes`);
      if (n < 0) {
        const errno = koffi.errno();
        if (errno === EAGAIN) {
          if (Date.now() - lastByteAt > idleMs) throw new Idle(`no byte arrived for ${Math.round(idleMs / 1000)} s, after ${offset + state.received} bytes`);
          pollOne(socketFd, POLLIN | POLLRDHUP, POLL_MS);
        } else if (errno === ECONNRESET) throw new PeerClosed(`the connection was reset after ${offset + state.received} bytes`);
        else if (errno !== EINTR) throw new Error(`reading the socket failed with errno ${errno}`);
        continue;
      }
      lastByteAt = Date.now();
      // Empty the pipe into the file before the next read, so a failure never leaves bytes behind in it.
      let left = n;
      while (left > 0) {
        if (!copyBuffer) {
          const m = splice(pipeRead, null, fileFd, position, left, SPLICE_F_MOVE);
          if (m > 0) left -= m;
          else if (m < 0 && koffi.errno() === EINVAL) copyBuffer = Buffer.allocUnsafe(chunk);
          else if (!(m < 0 && koffi.errno() === EINTR)) throw new Error(`writing the file failed with errno ${koffi.errno()}`);
          continue;
        }
        const got = fs.readSync(pipeRead, copyBuffer, 0, Math.min(left, copyBuffer.length));
        let put = 0;
        while (put < got) put += fs.writeSync(fileFd, copyBuffer, put, got - put, position[0] + put);
        position[0] += got;
        left -= got;
      }
      state.received += n;
      if (state.received - reported >= PROGRESS_EVERY && state.received < length) {
        reported = state.received;
        parentPort.postMessage({ progress: state.received });
      }
    }
  } finally {
    close(pipeRead);
    close(pipeWrite);
  }
}
