// Sends a byte range of a local file as the whole response body, through two reused 1 MiB buffers
// (one, as small as the range, for a range of up to 1 MiB).
//
// fs.createReadStream allocates a new Buffer for every chunk. Those are external memory to V8,
// which answers their turnover with full garbage collections; in a long-running process these
// cost more CPU than copying the bytes (measured: ~2 s of CPU per GiB against ~0.6 s here).
// Each buffer is refilled only after the socket has taken all of its previous bytes.

import fsp from "node:fs/promises";
import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyReply } from "fastify";

// Measured on 2 cores: 1 MiB x 2 beat 256 KiB x 2 or 4, 1 MiB x 4 and 4 MiB x 2.
const CHUNK = 1024 * 1024;
const BUFFERS = 2;

/**
 * Opens `file` (errors still reach Fastify's error handler), then takes the response over from
 * Fastify and writes bytes `start`..`end` (inclusive) with the status and headers set on `reply`.
 * A read error or a closed connection ends the response early.
 */
export async function sendFileRange(reply: FastifyReply, file: string, start: number, end: number): Promise<void> {
  const handle = await fsp.open(file, "r");
  reply.hijack();
  const res = reply.raw;
  const closed = new Promise<never>((_resolve, reject) => res.once("close", () => reject(new Error("the connection closed"))));
  closed.catch(() => {});
  const length = end + 1 - start;
  const buffers = Array.from({ length: length > CHUNK ? BUFFERS : 1 }, () => Buffer.allocUnsafeSlow(Math.min(CHUNK, length)));
  const written: (Promise<void> | undefined)[] = [];
  try {
    res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
    let position = start;
    for (let i = 0; position <= end; i = (i + 1) % buffers.length) {
      if (written[i]) await Promise.race([written[i], closed]);
      const { bytesRead } = await handle.read(buffers[i], 0, Math.min(buffers[i].length, end + 1 - position), position);
      if (bytesRead === 0) throw new Error(`${file} ended before byte ${end}`);
      position += bytesRead;
      const chunk = buffers[i].subarray(0, bytesRead);
      written[i] = new Promise((resolve, reject) => res.write(chunk, (error) => (error ? reject(error) : resolve())));
      written[i]!.catch(() => {}); // awaited later, unless the response ends first
    }
    await Promise.race([Promise.all(written), closed]);
    res.end();
  } catch (error) {
    if (!res.destroyed) reply.log.warn({ err: error }, "sending a file failed");
    res.destroy();
  } finally {
    await handle.close();
  }
}
