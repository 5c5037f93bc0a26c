// Large downloads leave the process through sendfile(2) (lib/sendfile.ts, http/send-file.ts).
// What a user would notice if that path were wrong: bytes out of order or missing when the
// socket buffer fills (slow reader), a connection that cannot be reused after a response
// (keep-alive), descriptors leaking when clients hang up mid-download, or a server that stops
// answering after such a hang-up. Every body is compared by SHA-256.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { deferCleanup, startHub } from "../helpers/server.ts";
import { commitFiles, createRepo, patternBytes, sha256 } from "../helpers/hub-http.ts";
import { loadSendfile, sendfileBytesSent } from "../../src/lib/sendfile.ts";

const WEIGHTS = patternBytes(12 * 1024 * 1024 + 3, 11);

/** GET with node:http; `pauseEveryBytes` pauses reading for a moment after each such amount. */
function download(url: string, options: { agent?: http.Agent; range?: string; pauseEveryBytes?: number; abortAfterBytes?: number } = {}): Promise<{ status: number; body: Buffer; socketReused: boolean }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: options.agent, headers: options.range ? { range: options.range } : {} }, (response) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let sincePause = 0;
      response.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        sincePause += chunk.length;
        if (options.abortAfterBytes !== undefined && received >= options.abortAfterBytes) {
          request.destroy();
          resolve({ status: response.statusCode!, body: Buffer.concat(chunks), socketReused: request.reusedSocket });
          return;
        }
        if (options.pauseEveryBytes && sincePause >= options.pauseEveryBytes) {
          sincePause = 0;
          response.pause();
          setTimeout(() => response.resume(), 40);
        }
      });
      response.on("end", () => resolve({ status: response.statusCode!, body: Buffer.concat(chunks), socketReused: request.reusedSocket }));
      response.on("error", reject);
    });
    request.on("error", (error) => (options.abortAfterBytes !== undefined ? undefined : reject(error)));
  });
}

const openDescriptors = () => fs.readdirSync("/proc/self/fd").length;

test("large downloads through sendfile: whole, ranged, slow readers, keep-alive and hang-ups", { skip: process.platform !== "linux" }, async (t) => {
  assert.ok(loadSendfile(), "sendfile loads on Linux (koffi installed)");
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "weights" });
  await commitFiles(hub.url, token, id, [{ path: "model.bin", content: WEIGHTS, lfs: true }]);
  const url = `${hub.url}/${id}/resolve/main/model.bin`;

  await t.test("a whole file arrives with the right bytes, and sendfile carried them", async () => {
    const before = sendfileBytesSent();
    const { status, body } = await download(url);
    assert.equal(status, 200);
    assert.equal(sha256(body), sha256(WEIGHTS));
    // The sending thread writes into the socket itself: the client can have read the last byte
    // before the thread's answer (which adds to the counter) reaches the event loop.
    const carried = () => sendfileBytesSent() - before > WEIGHTS.length / 2;
    for (let wait = 0; !carried() && wait < 100; wait++) await sleep(50);
    assert.ok(carried(), `sendfile sent ${sendfileBytesSent() - before} of ${WEIGHTS.length} bytes`);
  });

  await t.test("a large range starting mid-file arrives with the right bytes", async () => {
    const start = 1_000_001;
    const end = 9 * 1024 * 1024 + 17;
    const { status, body } = await download(url, { range: `bytes=${start}-${end}` });
    assert.equal(status, 206);
    assert.equal(sha256(body), sha256(WEIGHTS.subarray(start, end + 1)));
  });

  await t.test("a slow reader (the socket buffer fills again and again) gets every byte in order", async () => {
    const { status, body } = await download(url, { pauseEveryBytes: 512 * 1024 });
    assert.equal(status, 200);
    assert.equal(sha256(body), sha256(WEIGHTS));
  });

  await t.test("two downloads on one kept-alive connection both arrive whole", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    deferCleanup(t, () => agent.destroy());
    const first = await download(url, { agent });
    const second = await download(url, { agent, range: "bytes=0-2097151" });
    assert.equal(sha256(first.body), sha256(WEIGHTS));
    assert.equal(sha256(second.body), sha256(WEIGHTS.subarray(0, 2097152)));
    assert.ok(second.socketReused, "the second request reused the connection");
  });

  await t.test("clients hanging up mid-download leak no descriptors and the server keeps serving", async () => {
    await download(url); // warm-up: lazily opened descriptors exist before the baseline
    const baseline = openDescriptors();
    for (let i = 0; i < 8; i++) await download(url, { abortAfterBytes: 2 * 1024 * 1024, pauseEveryBytes: 256 * 1024 });
    let now = openDescriptors();
    for (let i = 0; i < 100 && now > baseline; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = openDescriptors();
    }
    assert.ok(now <= baseline, `${now - baseline} descriptors left open after 8 hang-ups`);
    const { body } = await download(url);
    assert.equal(sha256(body), sha256(WEIGHTS));
  });
});
