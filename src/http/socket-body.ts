// Takes the rest of a request's body off Node's HTTP parser, so the storage layer can move it from
// the socket into a file inside the kernel (BlobWriter.reserveReceiver, storage/socket-receiver.ts).
//
// How: pausing the socket makes Node's HTTP server stop reading it (its 'pause' listener calls
// readStop on the handle it feeds to the parser); after the parser has finished the read it was
// in, the body bytes it already parsed sit in the request stream (the "head") and every later byte
// is still in the kernel. The storage layer then reads those from a private duplicate of the
// socket's descriptor. The parser still counts them as unread, so the connection cannot carry
// another request: the reply closes it (`Connection: close`, and the socket is destroyed once the
// reply is out, whatever it is).
//
// When: a plain (not TLS) TCP socket, HTTP/1.x, a Content-Length and no Transfer-Encoding, and
// the C library loads. Anything else answers `undefined` and the body is read through Node. If
// the parser still delivered body bytes afterwards (a future Node), `signal` aborts and the upload
// fails instead of waiting for bytes that went elsewhere (the SHA-256 check guards the rest).

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Socket } from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { loadLibc } from "../lib/libc.ts";

export interface SocketBody {
  /** The body bytes the parser had already read. */
  readonly head: Buffer;
  /** A private duplicate of the socket's descriptor, open until `release`. */
  readonly fd: number;
  /** Aborts when the connection closes (the server shutting down, an error on the reply). */
  readonly signal: AbortSignal;
  /** Closes `fd`; call once nothing reads it any more. */
  release(): void;
}

type SocketInternals = Socket & { encrypted?: boolean; _handle?: { fd?: unknown; reading?: boolean } | null };

/** The descriptor of a plain (not TLS) TCP socket, or undefined. */
export function plainSocketFd(socket: Socket | null | undefined): number | undefined {
  const internals = socket as SocketInternals | null | undefined;
  const fd = internals && !internals.encrypted ? internals._handle?.fd : undefined;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

export async function takeSocketBody(request: FastifyRequest, reply: FastifyReply): Promise<SocketBody | undefined> {
  const req = request.raw;
  const socket = req.socket as SocketInternals;
  const libc = loadLibc();
  if (!libc || req.httpVersionMajor !== 1 || req.headers["transfer-encoding"] !== undefined || req.headers["content-length"] === undefined) return undefined;
  if (req.complete || plainSocketFd(socket) === undefined) return undefined;

  socket.pause();
  if (socket._handle?.reading !== false) {
    socket.resume(); // this Node does not stop its parser on pause: read through it
    return undefined;
  }
  // From here on the connection ends with this request, whatever happens.
  reply.header("connection", "close");
  const destroy = () => socket.destroy();
  reply.raw.once("finish", destroy);
  reply.raw.once("close", destroy);

  // Let the parser finish the read it is in, then take what it parsed; the stream must not ask
  // the socket for more (its _read would resume it).
  req._read = () => {};
  await nextTurn();
  const head = (req.read() as Buffer | null) ?? Buffer.alloc(0);
  const fd = plainSocketFd(socket);
  if (fd === undefined) throw new Error("the connection closed before its body could be read");
  const own = libc.dup(fd);

  const ended = new AbortController();
  socket.once("close", () => ended.abort(new Error("the connection closed")));
  if (socket.destroyed) ended.abort(new Error("the connection closed"));
  req.push = (chunk: unknown) => {
    if (chunk) ended.abort(new Error("Node's HTTP parser kept reading the body after the socket was paused"));
    return false;
  };
  return {
    head,
    fd: own,
    signal: ended.signal,
    release: () => libc.close(own),
  };
}
