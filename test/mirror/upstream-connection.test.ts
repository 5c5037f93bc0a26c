// The mirror's requests to an upstream (lib/http-get.ts) reuse kept-alive connections, and an
// upstream closes idle ones on its own schedule: a request sent on a connection the upstream is
// closing breaks before any answer. What a user would notice without the retry: a download
// answered 503 UpstreamUnavailable now and then although the upstream is up. The upstream here is
// a bare TCP server on loopback that answers the first request of each connection and drops the
// connection when a second one arrives on it.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { httpGet } from "../../src/lib/http-get.ts";

async function oneAnswerPerConnection(t: { after: (fn: () => unknown) => void }) {
  let connections = 0;
  let requests = 0;
  const server = net.createServer((socket) => {
    connections++;
    let answered = false;
    socket.on("data", () => {
      requests++;
      if (answered) return void socket.destroy(); // the race: closed as the client reuses it
      answered = true;
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello");
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/file`, counts: () => ({ connections, requests }) };
}

test("a GET whose kept-alive connection breaks before the answer is sent again once, on a new connection", async (t) => {
  const upstream = await oneAnswerPerConnection(t);
  const get = async () => {
    const response = await httpGet(upstream.url, { headers: {}, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: Buffer.concat(await response.body.toArray()).toString() };
  };
  assert.deepEqual(await get(), { status: 200, body: "hello" });
  await sleep(50); // the first connection is idle in the pool now
  assert.deepEqual(await get(), { status: 200, body: "hello" }, "the second GET is answered");
  assert.deepEqual(upstream.counts(), { connections: 2, requests: 3 }, "it went out on the kept-alive connection, broke, and was sent again on a new one");
});

test("a connection that breaks again is reported, not retried forever", async (t) => {
  const server = net.createServer((socket) => socket.on("data", () => socket.destroy()).on("error", () => {}));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  let attempts = 0;
  server.on("connection", () => attempts++);
  const { port } = server.address() as net.AddressInfo;
  await assert.rejects(httpGet(`http://127.0.0.1:${port}/file`, { headers: {}, signal: AbortSignal.timeout(10_000) }), { code: "UND_ERR_SOCKET" });
  assert.equal(attempts, 2);
});
