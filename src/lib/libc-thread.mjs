// The C library for the worker threads that call it (sendfile-worker.mjs,
// storage/socket-to-file-worker.mjs): koffi, libc, a poll(2) on one descriptor, and the constants
// they share. Plain JavaScript, since worker threads run without a TypeScript loader.

import { createRequire } from "node:module";

export const koffi = createRequire(import.meta.url)("koffi");
export const libc = koffi.load("libc.so.6");

export const EINTR = 4;
export const EAGAIN = 11;
export const EINVAL = 22;
export const EPIPE = 32;
export const ECONNRESET = 104;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLRDHUP = 0x2000;

const PollFd = koffi.struct({ fd: "int", events: "short", revents: "short" });
const poll = libc.func("poll", "int", [koffi.inout(koffi.pointer(PollFd)), "unsigned long", "int"]);

/** Waits up to `ms` for `events` on `fd` (or for its end or an error); throws only if poll itself fails. */
export function pollOne(fd, events, ms) {
  if (poll({ fd, events, revents: 0 }, 1, ms) < 0 && koffi.errno() !== EINTR) throw new Error(`poll failed with errno ${koffi.errno()}`);
}
