// The worker thread of file-hasher.ts: SHA-256 of a file that is still being written, reading
// behind the writer. Plain JavaScript (no TypeScript loader in worker threads) and no imports from
// the project: it only reads a file and hashes it.
//
// Protocol, one job at a time: the parent posts { path, shared } where `shared` is a
// SharedArrayBuffer of three BigInt64 slots (read and written with Atomics) and an Int32 after them:
//   slot 0: bytes of the file that are written (readable), raised by the parent
//   slot 1: the final size once the writer has finished, -1 until then
//   slot 2: 1 when the parent cancels the job
// The Int32 at byte offset 24 is the wake-up counter the parent bumps and notifies.
// The worker answers { oid, size } or { error }.

import { createHash } from "node:crypto";
import fs from "node:fs";
import { parentPort } from "node:worker_threads";

const CHUNK = 1024 * 1024;
const buffer = Buffer.allocUnsafeSlow(CHUNK);

parentPort.on("message", (job) => {
  try {
    parentPort.postMessage(hashTrailing(job.path, job.shared));
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});

function hashTrailing(path, shared) {
  const slots = new BigInt64Array(shared, 0, 3);
  const slot = (i) => Number(Atomics.load(slots, i));
  const wake = new Int32Array(shared, 24, 1);
  const hash = createHash("sha256");
  const fd = fs.openSync(path, "r");
  try {
    let hashed = 0;
    for (;;) {
      const seen = Atomics.load(wake, 0);
      if (slot(2) === 1) return { cancelled: true };
      const final = slot(1);
      const readable = final >= 0 ? final : slot(0);
      if (hashed < readable) {
        const length = Math.min(CHUNK, readable - hashed);
        const bytesRead = fs.readSync(fd, buffer, 0, length, hashed);
        if (bytesRead === 0) throw new Error(`the file ended at ${hashed} bytes, ${readable} were announced`);
        hash.update(bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead));
        hashed += bytesRead;
        continue;
      }
      if (final >= 0) return { oid: hash.digest("hex"), size: hashed };
      // Nothing new: sleep until the parent announces more (the timeout only guards a lost wake-up).
      Atomics.wait(wake, 0, seen, 1000);
    }
  } finally {
    fs.closeSync(fd);
  }
}
