// A client that stops reading a response must not hold the server's resources for as long as
// its connection lasts (sendIdleTimeoutSeconds, http/send-stall.ts and the sending thread of
// lib/sendfile.ts). What a user would notice: a stalled download is cut after the limit — on
// every path a body can take: the per-core sending threads, the call-by-call sendfile loop once
// those are busy, and a body streamed through Node — while a slow reader that keeps taking
// bytes is never cut, and the hub keeps serving whole files afterwards.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import os from "node:os";
import { startHub } from "../helpers/server.ts";
import { commitFiles, createRepo, parseRawResponse, patternBytes, sha256 } from "../helpers/hub-http.ts";

const MiB = 1024 * 1024;
const IDLE_SECONDS = 1;

/**
 * GETs `url` over a socket that reads nothing for `stallMs` (the kernel's buffers fill and the
 * server can send no more), then reads until the connection ends. Answers the status, the
 * announced Content-Length and the body bytes that arrived.
 */
function stalledGet(url: string, stallMs: number): Promise<{ status: number; announced: number; body: Buffer }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.pause(); // before the connection is up, so not one byte is read
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {}); // a reset after the cut ends the read like an end of stream
    socket.on("close", () => {
      try {
        const response = parseRawResponse(Buffer.concat(chunks));
        resolve({ status: response.status, announced: Number(response.headers["content-length"]), body: response.bytesAfterHeaders });
      } catch (error) {
        reject(error);
      }
    });
    socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
    setTimeout(() => socket.resume(), stallMs);
  });
}

/** GETs `url`, pausing `pauseMs` after every `everyBytes` read; answers the status and the body. */
function slowGet(url: string, everyBytes: number, pauseMs: number): Promise<{ status: number; body: Buffer }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let sincePause = 0;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      sincePause += chunk.length;
      if (sincePause >= everyBytes) {
        sincePause = 0;
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const response = parseRawResponse(Buffer.concat(chunks));
      resolve({ status: response.status, body: response.bytesAfterHeaders });
    });
    socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
  });
}

test("a response whose client stops reading is cut after sendIdleTimeoutSeconds; slow readers are not", { skip: process.platform !== "linux", timeout: 120_000 }, async (t) => {
  const hub = await startHub(t, { env: { AGORA_SEND_IDLE_TIMEOUT: String(IDLE_SECONDS) } });
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "stalls" });
  const weights = patternBytes(24 * MiB + 7, 31);
  const config = patternBytes(9 * MiB + 1, 32); // a regular (git) file: streamed through Node
  await commitFiles(hub.url, token, id, [
    { path: "model.bin", content: weights, lfs: true },
    { path: "big.json", content: config },
  ]);
  const weightsUrl = `${hub.url}/${id}/resolve/main/model.bin`;

  await t.test("stalled downloads of a large file are cut, on the sending threads and past them", async () => {
    // One more stalled download than there are sending threads (one per core): the last one
    // runs the call-by-call loop, whose waits go through Node.
    const count = os.availableParallelism() + 1;
    const answers = await Promise.all(Array.from({ length: count }, () => stalledGet(weightsUrl, 3000 + IDLE_SECONDS * 1000)));
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.status, 200);
      assert.equal(answer.announced, weights.length);
      assert.ok(answer.body.length < weights.length, `download ${i} was not cut: all ${answer.body.length} bytes arrived`);
      assert.ok(answer.body.equals(weights.subarray(0, answer.body.length)), `download ${i}: the bytes before the cut are the file's`);
    }
  });

  await t.test("a stalled response streamed through Node (a 9 MiB git file) is cut", async () => {
    const answer = await stalledGet(`${hub.url}/${id}/resolve/main/big.json`, 3000 + IDLE_SECONDS * 1000);
    assert.equal(answer.status, 200);
    assert.equal(answer.announced, config.length);
    assert.ok(answer.body.length < config.length, `not cut: all ${answer.body.length} bytes arrived`);
  });

  await t.test("a slow reader that pauses shorter than the limit gets every byte", async () => {
    // 4 MiB then a pause of 0.6 × the limit, six times: the whole download lasts longer than the
    // limit, but no single wait reaches it.
    const started = Date.now();
    const answer = await slowGet(weightsUrl, 4 * MiB, IDLE_SECONDS * 600);
    assert.equal(answer.status, 200);
    assert.equal(sha256(answer.body), sha256(weights));
    assert.ok(Date.now() - started > IDLE_SECONDS * 1000, "the download lasted longer than the idle limit");
  });

  await t.test("after the cuts, whole files are served again on every path", async () => {
    const downloads = await Promise.all(Array.from({ length: os.availableParallelism() + 1 }, () => fetch(weightsUrl).then(async (r) => Buffer.from(await r.arrayBuffer()))));
    for (const body of downloads) assert.equal(sha256(body), sha256(weights));
    const git = Buffer.from(await (await fetch(`${hub.url}/${id}/resolve/main/big.json`)).arrayBuffer());
    assert.equal(sha256(git), sha256(config));
  });
});
