// Sends a byte range of a local file as the whole response body: a stored object, or the
// staging file of a mirror fetch still arriving (a GrowingFile: each read waits for `ready`).
//
// Large bodies on a plain TCP socket go through sendfile(2) (lib/sendfile.ts): the kernel moves
// page-cache pages to the socket without copying them through the process. The socket is
// non-blocking, so when its buffer is full the next 64 KiB are written through Node instead:
// that write completes when the socket is writable again, which is exactly the wait needed
// (Node exposes no other way to wait for writability), and it keeps the bytes in order.
//
// A client that takes no byte for sendIdleTimeoutSeconds is cut: the sending thread watches
// that itself, the Node writes are watched by send-stall.ts.
//
// Otherwise (small bodies, TLS, no sendfile) the bytes are copied through two reused 1 MiB
// buffers. fs.createReadStream allocates a new Buffer for every chunk; those are external memory
// to V8, which answers their turnover with full garbage collections that cost more CPU than the
// copying itself (measured: ~2 s of CPU per GiB against ~0.6 s with reused buffers).

import fs from "node:fs";
import fsp from "node:fs/promises";
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { FastifyReply } from "fastify";
import { loadSendfile, startSendfileJob, type Sendfile, type SendfileJob } from "../lib/sendfile.ts";
import type { GrowingFile } from "../services/mirror-flight.ts";
import { plainSocketFd } from "./socket-body.ts";

// Measured on 2 cores: 1 MiB x 2 beat 256 KiB x 2 or 4, 1 MiB x 4 and 4 MiB x 2.
const CHUNK = 1024 * 1024;
const BUFFERS = 2;
/** Below this, one buffered write costs less than setting up sendfile. */
const SENDFILE_MIN = 1024 * 1024;
/** Bytes written through Node while waiting for the socket to drain. */
const WAIT_CHUNK = 64 * 1024;
/** sendfile failures in a row (other than a full socket buffer) before copying the rest instead. */
const MAX_SENDFILE_FAILURES = 4;
/** One sendfile call moves at most this much (the kernel caps a call near 2 GiB anyway). */
const MAX_SENDFILE_CALL = 1 << 30;

/** What is sent: a descriptor, and how far it may be read (all of it, for a complete file). */
type Source = { fd: number; name: string; ready: (position: number) => Promise<number> };

/**
 * Opens `file` (errors still reach Fastify's error handler), then takes the response over from
 * Fastify and writes bytes `start`..`end` (inclusive) with the status and headers set on `reply`.
 * A read error or a closed connection ends the response early.
 */
export async function sendFileRange(reply: FastifyReply, file: string, start: number, end: number): Promise<void> {
  const handle = await fsp.open(file, "r");
  try {
    await sendSource(reply, { fd: handle.fd, name: file, ready: async () => end + 1 }, start, end);
  } finally {
    await handle.close();
  }
}

/**
 * Sends what the mirror answered for an object it is fetching (services/mirror.ts `openLfs`): a
 * stream, or the whole object of `size` bytes from its staging file, each byte once
 * `growing.ready` allows it; when `ready` rejects (the fetch behind it failed) the response is
 * cut. Closes `growing`.
 */
export async function sendFromUpstream(reply: FastifyReply, fetched: { growing: GrowingFile } | { stream: Readable }, size: number, name: string): Promise<FastifyReply | void> {
  if ("stream" in fetched) return reply.send(fetched.stream);
  const { growing } = fetched;
  try {
    await sendSource(reply, { fd: growing.fd, name: `${name} (arriving from the upstream)`, ready: (position) => growing.ready(position) }, 0, size - 1);
  } finally {
    await growing.close();
  }
}

async function sendSource(reply: FastifyReply, source: Source, start: number, end: number): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  const closed = new Promise<never>((_resolve, reject) => res.once("close", () => reject(new Error("the connection closed"))));
  closed.catch(() => {});
  const stalls = reply.server.sendStalls;
  try {
    res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
    stalls.watch(res, (seconds) => reply.log.warn(`the client took no byte of ${source.name} for ${seconds} s; connection closed`));
    const sendfile = end + 1 - start >= SENDFILE_MIN ? loadSendfile() : undefined;
    const socketFd = sendfile ? plainSocketFd(res.socket) : undefined;
    let position = start;
    if (sendfile && socketFd !== undefined) position = await sendWithSendfile(sendfile, socketFd, source, res, start, end, closed, stalls.idleMs);
    if (position <= end) await copyRange(source, res, position, end, closed);
    res.end();
  } catch (error) {
    if (!res.destroyed) reply.log.warn({ err: error }, "sending a file failed");
    res.destroy();
  }
}

/** The end (exclusive, at most end + 1) of what may be read from `position` now; rejects if the connection closed. */
async function readable(source: Source, position: number, end: number, closed: Promise<never>): Promise<number> {
  return Math.min(end + 1, await Promise.race([source.ready(position), closed]));
}

/**
 * Writes through Node and resolves once the socket took the bytes; rejects if it closed. A write
 * still pending when the connection is destroyed on our side (send-stall.ts) reports success
 * without its bytes having gone out, hence the `destroyed` check: the sendfile loop must not go
 * on writing the following bytes into its duplicate of the socket, which keeps the connection
 * open — the client would get a file with a hole in it.
 */
function write(res: ServerResponse, chunk: Buffer, closed: Promise<never>): Promise<void> {
  const done = new Promise<void>((resolve, reject) => res.write(chunk, (error) => (error || res.destroyed ? reject(error ?? new Error("the connection closed")) : resolve())));
  done.catch(() => {});
  return Promise.race([done, closed]);
}

/** Reads `length` bytes at `position` into `buffer` (a new one by default); answers the bytes read, at least one. */
function readChunk(source: Source, length: number, position: number, buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    fs.read(source.fd, buffer, 0, length, position, (error, bytesRead) => {
      if (error) reject(error);
      else if (bytesRead === 0) reject(new Error(`${source.name} ended before byte ${position + length - 1}`));
      else resolve(buffer.subarray(0, bytesRead));
    }),
  );
}

function readChunkSync(source: Source, length: number, position: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  const bytesRead = fs.readSync(source.fd, buffer, 0, length, position);
  if (bytesRead === 0) throw new Error(`${source.name} ended before byte ${position + length - 1}`);
  return buffer.subarray(0, bytesRead);
}

/** Sends what it can of [start, end] with sendfile; answers the position it got to. */
async function sendWithSendfile(sendfile: Sendfile, socketFd: number, source: Source, res: ServerResponse, start: number, end: number, closed: Promise<never>, idleMs: number): Promise<number> {
  // The headers and the first bytes go through Node, so they are in the socket before sendfile writes.
  let position = start;
  let limit = await readable(source, position, end, closed);
  const first = await readChunk(source, Math.min(WAIT_CHUNK, limit - position), position);
  await write(res, first, closed);
  position += first.length;
  const socket = sendfile.dup(socketFd);
  try {
    const job = startSendfileJob(socket, source.fd, position, end, idleMs);
    if (job) position = await sendOnThread(job, source, res, limit, end, closed, idleMs);
    let failures = 0;
    while (position <= end && failures < MAX_SENDFILE_FAILURES) {
      if (position >= limit) limit = await readable(source, position, end, closed);
      // Checked before each call (a destroyed response's dup would still reach the client), and
      // the only such check: after a call, the loop comes back here or writes through Node, whose
      // write fails on a destroyed response.
      if (res.destroyed) await closed;
      // Not raced with `closed`: the descriptors must stay open until the call has returned.
      const result = await sendfile.send(socket, source.fd, position, Math.min(limit - position, MAX_SENDFILE_CALL));
      if (result.sent > 0) {
        position += result.sent;
        failures = 0;
        continue;
      }
      if (!result.blocked) failures++;
      // Full socket buffer (or a failure): the next bytes through Node wait for writability.
      // Read synchronously: sendfile has just pulled these pages into the cache, and a trip
      // through the thread pool here leaves the socket idle for as long as it takes.
      const chunk = readChunkSync(source, Math.min(WAIT_CHUNK, limit - position), position);
      await write(res, chunk, closed);
      position += chunk.length;
    }
  } finally {
    sendfile.close(socket);
  }
  return position;
}

/**
 * Lets a sending thread (lib/sendfile.ts) do the rest of the range, telling it how far a growing
 * source may be read; answers where it got to. Throws if the connection closed or the source failed.
 */
async function sendOnThread(job: SendfileJob, source: Source, res: ServerResponse, limit: number, end: number, closed: Promise<never>, idleMs: number): Promise<number> {
  let failure: unknown;
  const stop = () => job.cancel();
  res.once("close", stop);
  job.advance(limit);
  void (async () => {
    while (limit <= end) {
      limit = await readable(source, limit, end, closed);
      job.advance(limit);
    }
  })().catch((error: unknown) => {
    failure = error;
    job.cancel();
  });
  try {
    const result = await job.done;
    if (failure) throw failure;
    if (!result) throw new Error("the sending thread failed");
    if (result.closed || res.destroyed) await closed;
    if (result.stalled) throw new Error(`the client took no byte for ${idleMs / 1000} s; connection closed`);
    return result.position;
  } finally {
    res.off("close", stop);
  }
}

/** Copies [start, end] through reused buffers, each refilled only after the socket took it. */
async function copyRange(source: Source, res: ServerResponse, start: number, end: number, closed: Promise<never>): Promise<void> {
  const length = end + 1 - start;
  const buffers = Array.from({ length: length > CHUNK ? BUFFERS : 1 }, () => Buffer.allocUnsafeSlow(Math.min(CHUNK, length)));
  const written: (Promise<void> | undefined)[] = [];
  let position = start;
  for (let i = 0; position <= end; i = (i + 1) % buffers.length) {
    if (written[i]) await Promise.race([written[i], closed]);
    const limit = await readable(source, position, end, closed);
    const chunk = await readChunk(source, Math.min(buffers[i].length, limit - position), position, buffers[i]);
    position += chunk.length;
    written[i] = write(res, chunk, closed);
  }
  await Promise.race([Promise.all(written), closed]);
}
