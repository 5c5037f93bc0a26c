// Large LFS uploads with a Content-Length are taken off Node's HTTP parser and moved from the
// socket into the store by the kernel (http/socket-body.ts, storage/socket-receiver.ts). What a
// user would notice if that path were wrong: a correct upload refused or stored with bytes missing
// or out of order (every body is compared by SHA-256 after a download), a connection left hanging
// after the answer, a client cut off halfway leaving staging files behind or the hub unable to
// take the same object again, a slow client losing bytes while the receiver waits for them.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deferCleanup, startHub, type TestHub } from "../helpers/server.ts";
import { commitFiles, createRepo, lfsUploadHrefs, parseRawResponse, patternBytes, rawRequest, sha256, type SocketResponse } from "../helpers/hub-http.ts";
import { socketReceiveAvailable, splicedBytesReceived } from "../../src/storage/socket-receiver.ts";
import type { BlobWriter } from "../../src/storage/blob-store.ts";
import { hashFileBehindWriter, type FileHashJob } from "../../src/storage/file-hasher.ts";

const MiB = 1024 * 1024;

/** What the server wrote (`body`: the bytes after the head, as text); status 0 when it never answered. */
type SocketPut = SocketResponse & { body: string };
const NO_ANSWER = (why: string): SocketPut => ({ status: 0, headers: {}, bytesAfterHeaders: Buffer.alloc(0), body: why });

/**
 * PUTs over a bare socket: the head with `Content-Length: contentLength` (or, with `chunked`,
 * `Transfer-Encoding: chunked` and each part as a chunk), then `parts` (with `pauseMs` between
 * them), then `after`: "wait" for the answer (resolves once the server closes the connection),
 * "end" (half-close: the server may still answer) or "destroy" (vanish; resolves at once).
 * A server that has not closed the connection after 30 s gets status 0 and a closed socket.
 */
function putOverSocket(href: string, options: { contentLength?: number; chunked?: boolean; parts: Buffer[]; pauseMs?: number; after: "wait" | "end" | "destroy" }): Promise<SocketPut> {
  const url = new URL(href);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve(NO_ANSWER("the server did not close the connection within 30 s"));
    }, 30_000);
    socket.on("close", () => clearTimeout(giveUp));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const answer = parseRawResponse(Buffer.concat(chunks));
      resolve({ ...answer, body: answer.bytesAfterHeaders.toString("utf8") });
    });
    socket.on("connect", async () => {
      const framing = options.chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${options.contentLength}`;
      socket.write(`PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/octet-stream\r\n${framing}\r\n\r\n`);
      for (const part of options.parts) {
        const bytes = options.chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")]) : part;
        if (!socket.write(bytes)) await new Promise((r) => socket.once("drain", r));
        if (options.pauseMs) await sleep(options.pauseMs);
      }
      if (options.after === "end") socket.end();
      if (options.after === "destroy") {
        socket.destroy();
        resolve(NO_ANSWER("the client went away"));
      }
    });
  });
}

function pieces(content: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < content.length; offset += size) out.push(content.subarray(offset, offset + size));
  return out;
}

const stagingFiles = (hub: TestHub) => fs.readdirSync(path.join(hub.dataDir, "lfs", "staging"));
const objectPath = (hub: TestHub, oid: string) => path.join(hub.dataDir, "lfs", "objects", oid.slice(0, 2), oid);

async function waitUntil(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("large uploads received from the socket: bytes, connection, cut-offs, slow clients", { skip: process.platform !== "linux" }, async (t) => {
  assert.ok(socketReceiveAvailable(), "splice is available on Linux (koffi installed)");
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "uploads" });
  const hrefFor = async (content: Buffer) => (await lfsUploadHrefs(hub.url, token, id, [{ oid: sha256(content), size: content.length }])).get(sha256(content))!;

  await t.test("a 24 MiB upload with a Content-Length arrives whole through splice", async () => {
    const content = patternBytes(24 * MiB + 5, 21);
    const before = splicedBytesReceived();
    const response = await rawRequest(await hrefFor(content), { method: "PUT", headers: { "Content-Type": "application/octet-stream", "Content-Length": String(content.length) }, body: content });
    assert.equal(response.status, 200, response.body.toString());
    const spliced = splicedBytesReceived() - before;
    assert.ok(spliced >= content.length - MiB, `splice carried ${spliced} of ${content.length} bytes`);
    await commitFiles(hub.url, token, id, [{ path: "spliced.bin", content, lfs: true }]);
    const download = await rawRequest(`${hub.url}/${id}/resolve/main/spliced.bin`);
    assert.equal(sha256(download.body), sha256(content));
  });

  await t.test("the same size sent chunked is read through Node and stored the same", async () => {
    const content = patternBytes(24 * MiB + 5, 22);
    const before = splicedBytesReceived();
    const response = await rawRequest(await hrefFor(content), { method: "PUT", headers: { "Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked" }, body: content });
    assert.equal(response.status, 200, response.body.toString());
    assert.equal(splicedBytesReceived() - before, 0, "no Content-Length: not taken off the parser");
    assert.equal(sha256(fs.readFileSync(objectPath(hub, sha256(content)))), sha256(content));
  });

  await t.test("a slow client (pauses between 512 KiB pieces) loses no byte while the receiver waits", async () => {
    const content = patternBytes(10 * MiB + 77, 23);
    const answer = await putOverSocket(await hrefFor(content), { contentLength: content.length, parts: pieces(content, 512 * 1024), pauseMs: 30, after: "wait" });
    assert.equal(answer.status, 200, answer.body);
    // The request asked for keep-alive (HTTP/1.1 default), but the parser still counts the body as
    // unread: the connection must not carry another request.
    assert.equal(answer.headers.connection, "close");
    assert.equal(sha256(fs.readFileSync(objectPath(hub, sha256(content)))), sha256(content));
  });

  await t.test("a body that ends early (the client half-closes) is refused with 400 and leaves nothing", async () => {
    const content = patternBytes(12 * MiB, 24);
    const answer = await putOverSocket(await hrefFor(content), { contentLength: content.length, parts: pieces(content.subarray(0, 5 * MiB), MiB), after: "end" });
    assert.equal(answer.status, 400, answer.body);
    assert.equal(answer.headers["x-error-code"], "BadRequest");
    assert.match(answer.body, /cut short.*ended after 5242880 bytes; 12582912 were announced/);
    assert.equal(fs.existsSync(objectPath(hub, sha256(content))), false, "no object published");
    assert.deepEqual(stagingFiles(hub), [], "staging cleaned");
  });

  await t.test("a client that vanishes halfway leaves nothing, and the same object can be uploaded again", async () => {
    const content = patternBytes(12 * MiB + 1, 25);
    const href = await hrefFor(content);
    await putOverSocket(href, { contentLength: content.length, parts: pieces(content.subarray(0, 6 * MiB), MiB), after: "destroy" });
    await waitUntil("the staging file of the cut-off upload to go", () => stagingFiles(hub).length === 0);
    assert.equal(fs.existsSync(objectPath(hub, sha256(content))), false, "no object published");
    const again = await putOverSocket(href, { contentLength: content.length, parts: pieces(content, 4 * MiB), after: "wait" });
    assert.equal(again.status, 200, again.body);
    assert.equal(sha256(fs.readFileSync(objectPath(hub, sha256(content)))), sha256(content));
  });
});

test("an upload body that stops arriving is refused with 408 after the idle timeout, on both paths", { skip: process.platform !== "linux", timeout: 60_000 }, async (t) => {
  const hub = await startHub(t, { env: { AGORA_UPLOAD_IDLE_TIMEOUT: "1" } });
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "stalls" });
  const content = patternBytes(12 * MiB, 31);
  const href = (await lfsUploadHrefs(hub.url, token, id, [{ oid: sha256(content), size: content.length }])).get(sha256(content))!;
  const sent = pieces(content.subarray(0, 9 * MiB), MiB);
  for (const chunked of [false, true]) {
    // "wait" resolves only when the server closes the connection: a hung upload fails the test by its timeout.
    const answer = await putOverSocket(href, { contentLength: content.length, chunked, parts: sent, after: "wait" });
    const path = chunked ? "chunked, through Node" : "Content-Length, through splice";
    assert.equal(answer.status, 408, `${path}: ${answer.body}`);
    assert.equal(answer.headers["x-error-code"], "RequestTimeout", path);
    assert.match(answer.body, /stalled: no byte arrived for 1 s, after 9437184 bytes; 12582912 were announced/, path);
    assert.equal(fs.existsSync(objectPath(hub, sha256(content))), false, `${path}: no object published`);
    assert.deepEqual(stagingFiles(hub), [], `${path}: staging cleaned`);
  }
  const whole = await putOverSocket(href, { contentLength: content.length, parts: pieces(content, 4 * MiB), after: "wait" });
  assert.equal(whole.status, 200, whole.body);
  assert.equal(sha256(fs.readFileSync(objectPath(hub, sha256(content)))), sha256(content));
});

test("receiving threads are reserved before a body is taken: at the cap, large uploads go through Node and still succeed", { skip: process.platform !== "linux" }, async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "cap" });
  const upload = async (content: Buffer) => {
    const href = (await lfsUploadHrefs(hub.url, token, id, [{ oid: sha256(content), size: content.length }])).get(sha256(content))!;
    const before = splicedBytesReceived();
    const response = await rawRequest(href, { method: "PUT", headers: { "Content-Type": "application/octet-stream", "Content-Length": String(content.length) }, body: content });
    assert.equal(response.status, 200, response.body.toString());
    assert.equal(sha256(fs.readFileSync(objectPath(hub, sha256(content)))), sha256(content));
    return splicedBytesReceived() - before;
  };

  // Take every receiving thread there is, the way an upload does, through the hub's own store.
  const holders: BlobWriter[] = [];
  deferCleanup(t, async () => {
    for (const writer of holders) await writer.abort(); // a failed assertion must not leave threads reserved
  });
  for (;;) {
    const writer = await hub.services.blobs.write();
    holders.push(writer);
    if (!writer.reserveReceiver?.()) break;
    assert.equal(writer.reserveReceiver?.(), undefined, "a writer reserves at most one thread");
  }
  const reserved = holders.length - 1;
  assert.ok(reserved >= 8, `the pool held ${reserved} receiving threads`);

  await holders.pop()!.abort(); // the writer that got no thread
  assert.equal(await upload(patternBytes(12 * MiB, 41)), 0, "with no thread to be had, the body is read through Node");

  // An unused reservation goes back on commit (the bytes came through `stream`)…
  const committed = holders.pop()!;
  const small = Buffer.from("through the stream");
  committed.stream.end(small);
  await committed.commit(sha256(small), small.length);
  assert.ok((await upload(patternBytes(12 * MiB, 42))) > 0, "the thread released by commit receives the next upload through splice");

  // …and on abort.
  const retaken = await hub.services.blobs.write();
  assert.ok(retaken.reserveReceiver?.(), "the released thread can be reserved again");
  holders.push(retaken);
  assert.equal(await upload(patternBytes(12 * MiB, 43)), 0, "at the cap again: through Node");
  await holders.pop()!.abort();
  assert.ok((await upload(patternBytes(12 * MiB, 44))) > 0, "the thread released by abort receives the next upload through splice");
});

test("with every hashing thread taken, a spliced upload is hashed at commit: the right bytes are stored, wrong ones refused", { skip: process.platform !== "linux" }, async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "no-hasher" });
  const put = async (href: string, body: Buffer) => {
    const before = splicedBytesReceived();
    const response = await rawRequest(href, { method: "PUT", headers: { "Content-Type": "application/octet-stream", "Content-Length": String(body.length) }, body });
    assert.ok(splicedBytesReceived() - before > 0, "the body came through splice");
    return response;
  };

  // Take every hashing thread of the store's hasher, each waiting on a file that never grows.
  const idle = path.join(hub.dataDir, "idle-hash-target");
  fs.writeFileSync(idle, "");
  const held: FileHashJob[] = [];
  deferCleanup(t, () => held.forEach((job) => job.cancel()));
  assert.throws(() => {
    for (;;) held.push(hashFileBehindWriter(idle));
  }, /worker threads are busy/);
  assert.ok(held.length >= 8, `the pool held ${held.length} hashing threads`);

  const content = patternBytes(12 * MiB + 3, 51);
  const href = (await lfsUploadHrefs(hub.url, token, id, [{ oid: sha256(content), size: content.length }])).get(sha256(content))!;
  const wrong = Buffer.from(content);
  wrong[wrong.length - 1] ^= 0x01; // the last byte: only a hash of the whole file can tell
  const refused = await put(href, wrong);
  assert.equal(refused.status, 422, refused.body.toString());
  assert.equal(fs.existsSync(objectPath(hub, sha256(content))), false, "no object published");
  assert.deepEqual(stagingFiles(hub), [], "staging cleaned");

  const accepted = await put(href, content);
  assert.equal(accepted.status, 200, accepted.body.toString());
  await commitFiles(hub.url, token, id, [{ path: "hashed-at-commit.bin", content, lfs: true }]);
  const download = await rawRequest(`${hub.url}/${id}/resolve/main/hashed-at-commit.bin`);
  assert.equal(sha256(download.body), sha256(content));
});
