// The mirror's file path at the sizes users hit: 32 concurrent cold requests for one 100 MB file,
// faults in the middle of such a fetch, a client that stops reading, and a Range read of a cold
// 1 GB file. Three real servers: the upstream Agora, a proxy in front of it (counts requests and
// bytes, can hold a body half-way until released, can fail on command), and the mirror Agora
// pointed at the proxy. Bytes are compared by SHA-256 computed while they stream.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { createRepo, downloadFile } from "@huggingface/hub";
import { suiteScope, startHub, type TestHub } from "../helpers/server.ts";
import { midpointFault, startLoopbackProxy } from "../helpers/loopback-proxy.ts";

const MiB = 1024 * 1024;
const FILE_SIZE = 100 * MiB + 7; // "100 MB", an odd size so no chunk boundary lines up with the end
const HUGE_SIZE = 1024 * MiB; // 1 GB
const CLIENTS = 32;
const HUB_CLIENTS = 4; // of the 32, through @huggingface/hub downloadFile; the others through node:http
/**
 * Only a deadlock breaker: the proxy holds the upstream body until every client has its first
 * bytes, or until this long has passed. Tests assert the order of events, never durations.
 */
const HOLD_WATCHDOG_MS = 120_000;

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Resolves true when `promise` settles first, false after `ms` (the timer never outlives the race). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

type Fault = "pass" | "truncate" | "wrong-bytes" | "reset";

/**
 * The proxy in front of the upstream hub. Faults and the hold apply to whole-file bodies
 * (`/resolve/`, 200, no Range); `events` records when such a body was sent completely.
 */
async function startProxy(target: string, events: string[]) {
  const state = { fault: "pass" as Fault, hold: undefined as { at: number; reached: ReturnType<typeof gate>; release: ReturnType<typeof gate> } | undefined };
  const proxy = await startLoopbackProxy(target, {
    body({ req, answer }) {
      const wholeFile = req.url!.includes("/resolve/") && answer.statusCode === 200 && !req.headers.range && req.method === "GET";
      if (!wholeFile) return undefined;
      const fault = state.fault === "pass" ? undefined : midpointFault(state.fault, Number(answer.headers["content-length"] ?? 0));
      const hold = state.hold;
      return {
        headers: fault?.headers,
        async chunk(chunk, offset) {
          // held once the bytes sent so far reach `at`, before anything more is sent
          if (hold && offset >= hold.at) {
            hold.reached.open();
            await hold.release.opened;
          }
          return fault?.chunk ? fault.chunk(chunk, offset) : chunk;
        },
        end: () => void events.push(`upstream-end ${req.url}`),
      };
    },
  });
  return {
    ...proxy,
    state,
    /** The next whole-file body stops after `at` bytes until `release.open()`. */
    holdAt(at: number) {
      state.hold = { at, reached: gate(), release: gate() };
      return state.hold;
    },
  };
}

type Outcome = { status: number; bytes: number; sha256?: string; error?: string };

/** GET through node:http, hashing as the body streams (unless `hash` is false); `sha256` only when every byte arrived. */
function httpGet(url: string, onFirstByte: () => void, options: { hash?: boolean; onResponse?: (res: http.IncomingMessage) => void } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false }, (res) => {
      options.onResponse?.(res);
      const hash = options.hash === false ? undefined : createHash("sha256");
      let bytes = 0;
      let ended = false;
      res.on("data", (chunk: Buffer) => {
        if (bytes === 0) onFirstByte();
        bytes += chunk.length;
        hash?.update(chunk);
      });
      res.on("end", () => {
        ended = true;
        resolve(res.complete ? { status: res.statusCode!, bytes, sha256: hash?.digest("hex") ?? "not hashed" } : { status: res.statusCode!, bytes, error: "incomplete" });
      });
      res.on("error", (error) => resolve({ status: res.statusCode!, bytes, error: error.message }));
      res.on("close", () => ended || resolve({ status: res.statusCode!, bytes, error: "closed before the end" }));
    });
    request.on("error", (error) => resolve({ status: 0, bytes: 0, error: error.message }));
  });
}

/** downloadFile of @huggingface/hub (a `bytes=0-0` probe, then one GET), hashing the blob's stream unless `hash` is false. */
async function hubGet(hubUrl: string, repo: string, path: string, onFirstByte: () => void, options: { hash?: boolean } = {}): Promise<Outcome> {
  let bytes = 0;
  try {
    const blob = await downloadFile({ hubUrl, repo, path });
    if (!blob) return { status: 404, bytes, error: "not found" };
    const hash = options.hash === false ? undefined : createHash("sha256");
    const reader = blob.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (bytes === 0) onFirstByte();
      bytes += value.length;
      hash?.update(value);
    }
    return { status: 200, bytes, sha256: hash?.digest("hex") ?? "not hashed" };
  } catch (error) {
    // The status of a refused request (HubApiError); 200 for a body that failed midway.
    return { status: (error as { statusCode?: number }).statusCode ?? 200, bytes, error: String(error) };
  }
}

/** Links an object already in the upstream's store to the repository and commits a pointer to it at `filePath`. */
async function commitLfsFile(hub: TestHub, token: string, repo: string, filePath: string, oid: string, size: number): Promise<void> {
  const row = (await hub.services.repos.find("model", repo))!;
  await hub.services.lfs.link(row.id, oid, size);
  const lines = [
    { key: "header", value: { summary: `add ${filePath}` } },
    { key: "lfsFile", value: { path: filePath, algo: "sha256", oid, size } },
  ];
  const response = await fetch(`${hub.url}/api/models/${repo}/commit/main`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/x-ndjson" },
    body: lines.map((line) => JSON.stringify(line)).join("\n") + "\n",
  });
  assert.equal(response.status, 200, await response.text());
}

describe("pull-through mirror at scale", () => {
  const scope = suiteScope();
  const events: string[] = [];
  const repo = "alice/scale";
  let upstream: TestHub;
  let mirror: TestHub;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let fileOid = "";
  let hugeOid = "";
  let hugeHead: Buffer;

  const bodyFetches = (name: string) => proxy.requests.filter((r) => r.url.includes("/resolve/") && r.url.endsWith(`/${name}`) && !r.range);
  const stagingFiles = () => fs.readdirSync(path.join(mirror.dataDir, "lfs", "staging"));

  before(async () => {
    upstream = await startHub(scope);
    const token = await upstream.token("alice");
    proxy = await startProxy(upstream.url, events);
    scope.after(proxy.close);
    mirror = await startHub(scope, { env: { AGORA_UPSTREAM: proxy.url } });
    await createRepo({ hubUrl: upstream.url, accessToken: token, repo });

    // 100 MB of random bytes, streamed into the upstream's store (hashed on the way, never held whole).
    const writer = await upstream.services.blobs.write();
    const hash = createHash("sha256");
    for (let left = FILE_SIZE; left > 0; ) {
      const chunk = randomBytes(Math.min(4 * MiB, left));
      hash.update(chunk);
      left -= chunk.length;
      if (!writer.stream.write(chunk)) await once(writer.stream, "drain");
    }
    writer.stream.end();
    fileOid = hash.digest("hex");
    await writer.commit(fileOid, FILE_SIZE);
    await commitLfsFile(upstream, token, repo, "model.safetensors", fileOid, FILE_SIZE);

    // 1 GB: 1 MiB of random bytes, then zeros, kept as a sparse file so it costs ~1 MiB of disk.
    // It is placed at the store's own path (the store publishes by rename, so this is what a
    // published object looks like) rather than streamed through the writer, which would write 1 GB.
    hugeHead = randomBytes(MiB);
    const hugeHash = createHash("sha256").update(hugeHead);
    const zeros = Buffer.alloc(8 * MiB);
    for (let left = HUGE_SIZE - hugeHead.length; left > 0; left -= zeros.length) hugeHash.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    hugeOid = hugeHash.digest("hex");
    const target = upstream.services.blobs.localPath!(hugeOid);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const handle = await fsp.open(target, "wx");
    await handle.write(hugeHead, 0, hugeHead.length, 0);
    await handle.truncate(HUGE_SIZE);
    await handle.close();
    assert.equal((await upstream.services.blobs.stat(hugeOid))?.size, HUGE_SIZE);
    await commitLfsFile(upstream, token, repo, "huge.bin", hugeOid, HUGE_SIZE);

    // mirror the repository's metadata first, so the tests below measure the file path alone
    assert.equal((await fetch(`${mirror.url}/api/models/${repo}`)).status, 200);
  });

  /**
   * Starts 32 concurrent cold downloads of the 100 MB file while the proxy holds the upstream
   * body after `holdAt` bytes; releases it once every client has received its first bytes (or
   * the watchdog fired). Answers each client's outcome and whether it had bytes before the
   * upstream body ended.
   */
  async function thirtyTwoClients(holdAt: number, options: { hash: boolean }) {
    await mirror.services.blobs.delete(fileOid); // cold again
    const start = events.length;
    const hold = proxy.holdAt(holdAt);
    const fetchesBefore = bodyFetches("model.safetensors").length;
    const firstBytes = Array.from({ length: CLIENTS }, () => gate());
    const url = `${mirror.url}/${repo}/resolve/main/model.safetensors`;
    const outcomes = Promise.all(
      firstBytes.map((first, i) => {
        const onFirstByte = () => {
          events.push(`first-byte ${i}`);
          first.open();
        };
        const outcome = i < HUB_CLIENTS ? hubGet(mirror.url, repo, "model.safetensors", onFirstByte, options) : httpGet(url, onFirstByte, options);
        // A client that fails before its first byte must not keep the upstream held until the watchdog.
        return outcome.finally(() => first.open());
      }),
    );
    await hold.reached.opened;
    await settlesWithin(Promise.all(firstBytes.map((f) => f.opened)), HOLD_WATCHDOG_MS);
    hold.release.open();
    const results = await outcomes;
    proxy.state.hold = undefined;
    const log = events.slice(start);
    const upstreamEnd = log.findIndex((e) => e.startsWith("upstream-end"));
    const early = results.map((_, i) => log.indexOf(`first-byte ${i}`)).map((at) => at >= 0 && (upstreamEnd < 0 || at < upstreamEnd));
    return {
      results,
      upstreamFetches: bodyFetches("model.safetensors").length - fetchesBefore,
      /** Clients whose first bytes arrived while the upstream was still sending. */
      earlyClients: early.filter(Boolean).length,
      /** The others, for the failure message. */
      lateClients: JSON.stringify(results.map((outcome, i) => ({ client: i < HUB_CLIENTS ? `hub ${i}` : `http ${i}`, ...outcome })).filter((_, i) => !early[i])),
    };
  }

  test("32 concurrent cold requests for one 100 MB file: one upstream body fetch, every client has bytes while it still runs, all get identical correct bytes", async () => {
    const { results, upstreamFetches, earlyClients, lateClients } = await thirtyTwoClients(FILE_SIZE / 2, { hash: true });
    for (const [i, outcome] of results.entries()) {
      assert.equal(outcome.error, undefined, `client ${i}: ${outcome.error}`);
      assert.equal(outcome.status, 200);
      assert.equal(outcome.bytes, FILE_SIZE);
      assert.equal(outcome.sha256, fileOid, `client ${i}`);
    }
    assert.equal(upstreamFetches, 1, "exactly one upstream body fetch");
    assert.equal(bodyFetches("model.safetensors").at(-1)!.bytesOut, FILE_SIZE);
    assert.equal(earlyClients, CLIENTS, `every client received bytes before the upstream body ended; not: ${lateClients}`);
    assert.equal((await mirror.services.blobs.stat(fileOid))?.size, FILE_SIZE);
    assert.deepEqual(stagingFiles(), []);
  });

  for (const fault of ["truncate", "wrong-bytes", "reset"] as const) {
    test(`a fault (${fault}) during a 32-way fetch of 100 MB aborts all 32 responses and publishes nothing`, async () => {
      proxy.state.fault = fault;
      let run;
      try {
        // every client joins before the fault at half; a body cut short needs no hash
        run = await thirtyTwoClients(FILE_SIZE / 4, { hash: false });
      } finally {
        proxy.state.fault = "pass";
      }
      for (const [i, outcome] of run.results.entries()) {
        assert.equal(outcome.status, 200, `client ${i} was answered ${outcome.status} instead of joining the fetch: ${outcome.error}`);
        assert.equal(outcome.sha256, undefined, `client ${i} received a complete ${outcome.bytes}-byte body`);
        assert.ok(outcome.error, `client ${i}`);
        assert.ok(outcome.bytes < FILE_SIZE, `client ${i}`);
      }
      assert.equal(run.upstreamFetches, 1);
      assert.equal(run.earlyClients, CLIENTS, `every client had joined the one fetch; not: ${run.lateClients}`);
      assert.equal(await mirror.services.blobs.stat(fileOid), undefined, "nothing may be published");
      assert.deepEqual(stagingFiles(), [], "nothing may be left staged");
    });
  }

  test("a client that stops reading holds up neither the fetch nor the other clients, and the mirror buffers a bounded amount for it", async () => {
    // Buffers held for the stalled client show in `arrayBuffers` once the garbage of the other
    // transfers is collected; the test runner gives no --expose-gc, so it is switched on here.
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    await mirror.services.blobs.delete(fileOid);
    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    const url = `${mirror.url}/${repo}/resolve/main/model.safetensors`;
    let stalled: http.IncomingMessage | undefined;
    const stalledStarted = gate();
    const stalledOutcome = httpGet(
      url,
      () => {
        stalled!.pause(); // reads nothing more until resumed
        stalledStarted.open();
      },
      { onResponse: (res) => (stalled = res) },
    );
    await stalledStarted.opened;
    const reader = await httpGet(url, () => {});
    assert.equal(reader.sha256, fileOid, "the other client got every byte while one client stalled");
    assert.equal((await mirror.services.blobs.stat(fileOid))?.size, FILE_SIZE, "the fetch was published while one client stalled");
    gc();
    const buffered = process.memoryUsage().arrayBuffers - baseline;
    assert.ok(buffered < 32 * MiB, `${(buffered / MiB).toFixed(1)} MiB held while a client stalls on a ${FILE_SIZE}-byte file`);
    stalled!.resume();
    const late = await stalledOutcome;
    assert.equal(late.sha256, fileOid, "the stalled client gets the right bytes once it reads again");
  });

  test("a Range read of the first 100 KB of a cold 1 GB file moves well under 1 GB from the upstream", async () => {
    const response = await fetch(`${mirror.url}/${repo}/resolve/main/huge.bin`, { headers: { range: "bytes=0-102399" } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get("content-range"), `bytes 0-102399/${HUGE_SIZE}`);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(hugeHead.subarray(0, 102400)));
    const moved = proxy.requests.filter((r) => r.url.endsWith("/huge.bin")).reduce((sum, r) => sum + r.bytesOut, 0);
    assert.ok(moved < 10 * 1000 * 1000, `${moved} bytes moved from the upstream`);
    assert.equal(await mirror.services.blobs.stat(hugeOid), undefined, "a ranged read caches nothing");
  });
});
