// Cuts responses whose client stopped reading, like nginx's send_timeout: without it such a
// response holds its resources (an open file, a `git upload-pack` process, buffered bytes) for as
// long as the connection lasts, which may be forever.
//
// Node's own socket timeout does not fit: it counts any silence on the socket, so it also fires
// while a handler is still computing (git counting objects before the first byte of a pack) and
// while a sending thread writes to the socket behind Node's back (lib/sendfile.ts). What is
// watched here is what the client does: a response is stalled when Node holds bytes the socket
// has not taken (`writableLength` > 0) and none of them went out for `idleMs`. Bytes written
// around Node (sendfile, splice) are the sending thread's business: it applies the same limit.
//
// One timer serves every watched response; it runs only while some response is watched.

import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface SendStallWatch {
  /** How long a response may make no progress, milliseconds. */
  readonly idleMs: number;
  /**
   * Watches `res` until it closes; when stalled, calls `onStall` and destroys the connection.
   * Watching a response twice is harmless.
   */
  watch(res: ServerResponse, onStall: (idleSeconds: number) => void): void;
  /** Stops watching everything (the server is closing). */
  close(): void;
}

type Watched = { socket: Socket; delivered: number; since: number; onStall: (idleSeconds: number) => void };

/** Bytes the socket has handed to the kernel: all written to it, less those still queued in Node. */
function delivered(socket: Socket): number {
  return (socket.bytesWritten ?? 0) - socket.writableLength;
}

export function createSendStallWatch(idleMs: number, now: () => number = Date.now): SendStallWatch {
  const watched = new Map<ServerResponse, Watched>();
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    const time = now();
    for (const [res, entry] of watched) {
      const progress = delivered(entry.socket);
      if (progress !== entry.delivered || entry.socket.writableLength === 0) {
        entry.delivered = progress;
        entry.since = time;
      } else if (time - entry.since >= idleMs) {
        forget(res);
        entry.onStall(idleMs / 1000);
        res.destroy();
      }
    }
  };

  const forget = (res: ServerResponse) => {
    watched.delete(res);
    if (watched.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    idleMs,
    watch(res, onStall) {
      const socket = res.socket;
      if (!socket || socket.destroyed || watched.has(res)) return;
      watched.set(res, { socket, delivered: delivered(socket), since: now(), onStall });
      res.once("close", () => forget(res));
      if (!timer) {
        // A quarter of the limit keeps the cut within 1.25 × idleMs; 5 s at most between looks.
        timer = setInterval(check, Math.max(50, Math.min(idleMs / 4, 5000)));
        timer.unref();
      }
    },
    close() {
      watched.clear();
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
