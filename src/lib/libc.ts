// The C library, reached through koffi (a maintained FFI library with prebuilt binaries), for the
// few system calls Node has no API for: sendfile(2) for downloads (lib/sendfile.ts) and the
// descriptor duplicates that keep a socket handed to a worker thread safe (storage/socket-receiver.ts).
//
// Availability: Linux only, and only when koffi loads; `loadLibc()` answers `undefined` otherwise
// and every caller then keeps to plain Node I/O.

import { createRequire } from "node:module";
import type { LibraryHandle } from "koffi";

export interface Libc {
  readonly koffi: typeof import("koffi");
  readonly lib: LibraryHandle;
  /** A private duplicate of `fd`; throws if the process has no descriptor left. */
  dup(fd: number): number;
  close(fd: number): void;
}

let loaded: Libc | null | undefined;

export function loadLibc(): Libc | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (process.platform !== "linux") return undefined;
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    const lib = koffi.load("libc.so.6");
    const dup = lib.func("int dup(int fd)");
    const close = lib.func("int close(int fd)");
    loaded = {
      koffi,
      lib,
      dup(fd) {
        const copy = dup(fd) as number;
        if (copy < 0) throw new Error(`dup(${fd}) failed with errno ${koffi.errno()}`);
        return copy;
      },
      close(fd) {
        close(fd);
      },
    };
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}
