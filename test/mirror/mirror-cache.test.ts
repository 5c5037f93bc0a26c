// Mirror cache management: the `mirror.cacheMax` size limit with least-recently-used eviction,
// pins (`agora mirror pin|unpin`, run as a child process like a user would, against the mirror's
// data directory while the mirror hub serves), and what is never evicted. Real servers: an
// upstream Agora, a request-counting proxy in front of it (whose target can change when the
// upstream is restarted), and a mirror Agora whose clock is a fake that each step moves on by
// two minutes, so access order is exact and nothing counts as "in use right now" across steps.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRepo, uploadFiles } from "@huggingface/hub";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { buildServices } from "../../src/services/index.ts";
import { buildApp } from "../../src/http/app.ts";
import { deferCleanup, startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { AGORA_BIN, runAgoraAsync, serveProcess } from "../helpers/serve-process.ts";
import { startLoopbackProxy } from "../helpers/loopback-proxy.ts";

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A proxy to the upstream hub that counts whole-file downloads per file name; its target can change. */
async function startCountingProxy(initialTarget: string) {
  const state = { target: initialTarget };
  const proxy = await startLoopbackProxy(() => state.target);
  const fileName = (url: string) => decodeURIComponent(url.split("?")[0].split("/").pop()!);
  return {
    url: proxy.url,
    state,
    fetches: (name: string) => proxy.requests.filter((r) => r.method === "GET" && r.url.includes("/resolve/") && !r.range && fileName(r.url) === name).length,
    close: proxy.close,
  };
}

/** A mirror Agora on a fake clock (test/helpers/server.ts startHub, with buildServices' clock option). */
async function startMirror(t: TestContext, env: Record<string, string>) {
  let now = Date.now();
  const dataDir = tempDir(t);
  const config = loadConfig({ env: { AGORA_DATA: dataDir, AGORA_PORT: "0", AGORA_LOG_LEVEL: "silent", ...env } });
  const services = buildServices(config, { clock: () => new Date(now) });
  const app = await buildApp(services);
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  deferCleanup(t, async () => {
    await app.close();
    await services.close();
  });
  return {
    url,
    dataDir,
    services,
    /** Moves the mirror's clock on, past the "in use right now" window and the access-time write interval. */
    later: () => void (now += 2 * 60_000),
    cached: async (bytes: Buffer) => (await services.blobs.stat(sha256(bytes)))?.size === bytes.length,
  };
}

/** Publishes 1 MiB LFS files in a new upstream repository; answers the commit id and the bytes by name. */
async function publish(upstream: TestHub, token: string, repo: string, names: string[]) {
  const files = new Map(names.map((name) => [name, randomBytes(MiB)]));
  await createRepo({ hubUrl: upstream.url, accessToken: token, repo });
  const result = await uploadFiles({ hubUrl: upstream.url, accessToken: token, repo, files: [...files].map(([p, bytes]) => ({ path: p, content: new Blob([bytes]) })) });
  const info = (await (await fetch(`${upstream.url}/api/models/${repo}?blobs=true`)).json()) as { siblings: { rfilename: string; lfs?: unknown }[] };
  for (const name of names) assert.ok(info.siblings.find((s) => s.rfilename === name)?.lfs, `${name} is an LFS file upstream`);
  return { commit: result!.commit.oid, files };
}

/** Downloads through the mirror, checks the bytes, then waits for the eviction pass the download may have started. */
async function download(mirror: Awaited<ReturnType<typeof startMirror>>, url: string, expected: Buffer) {
  const response = await fetch(`${mirror.url}/${url}`);
  assert.equal(response.status, 200, `${url}: ${response.headers.get("x-error-code")} ${response.status}`);
  assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(expected), url);
  await mirror.services.mirrorCache.evictIfNeeded();
}


test("over the limit, the least recently downloaded object is evicted; it downloads again correctly with one more upstream fetch", async (t) => {
  const upstream = await startHub(t);
  const { commit, files } = await publish(upstream, await upstream.token("alice"), "alice/lru", ["a.bin", "b.bin", "c.bin", "d.bin"]);
  const proxy = await startCountingProxy(upstream.url);
  deferCleanup(t, proxy.close);
  const mirror = await startMirror(t, { AGORA_UPSTREAM: proxy.url, AGORA_MIRROR_CACHE_MAX: "3MiB" });
  const get = async (name: string) => {
    mirror.later();
    await download(mirror, `alice/lru/resolve/${commit}/${name}`, files.get(name)!);
  };

  await get("a.bin");
  await get("b.bin");
  await get("c.bin");
  for (const name of ["a.bin", "b.bin", "c.bin"]) assert.ok(await mirror.cached(files.get(name)!), `${name} fits in 3 MiB`);
  await get("a.bin"); // a re-access: a is now more recent than b and c
  assert.equal(proxy.fetches("a.bin"), 1, "a cached object is served from the store");

  await get("d.bin"); // 4 MiB: one must go, and it is b (download order a, b, c, but a was read again)
  assert.deepEqual(
    await Promise.all(["a.bin", "b.bin", "c.bin", "d.bin"].map((name) => mirror.cached(files.get(name)!))),
    [true, false, true, true],
  );
  const status = await mirror.services.mirrorCache.status();
  assert.deepEqual([status.limitBytes, status.cachedBytes, status.cachedObjects, status.overLimit], [3 * MiB, 3 * MiB, 3, false]);

  await get("b.bin"); // evicted: fetched again, same bytes; now c is the least recently used
  assert.equal(proxy.fetches("b.bin"), 2);
  assert.deepEqual(
    await Promise.all(["a.bin", "b.bin", "c.bin", "d.bin"].map((name) => mirror.cached(files.get(name)!))),
    [true, true, false, true],
  );
  for (const name of ["a.bin", "c.bin", "d.bin"]) assert.equal(proxy.fetches(name), 1, name);
  // the metadata stays: the file is still listed with its LFS size while its bytes are not here
  const info = (await (await fetch(`${mirror.url}/api/models/alice/lru/revision/${commit}?blobs=true`)).json()) as { siblings: { rfilename: string; lfs?: { size: number } }[] };
  assert.equal(info.siblings.find((s) => s.rfilename === "c.bin")?.lfs?.size, MiB);
});

test("a signed LFS download URL handed out while its object was cached still serves it after an eviction, fetched again", async (t) => {
  const upstream = await startHub(t);
  const { commit, files } = await publish(upstream, await upstream.token("alice"), "alice/signed", ["a.bin", "b.bin"]);
  const proxy = await startCountingProxy(upstream.url);
  deferCleanup(t, proxy.close);
  const mirror = await startMirror(t, { AGORA_UPSTREAM: proxy.url, AGORA_MIRROR_CACHE_MAX: "1MiB" });
  const a = files.get("a.bin")!;
  mirror.later();
  await download(mirror, `alice/signed/resolve/${commit}/a.bin`, a);

  // git lfs asks the batch API while a.bin is cached: a signed URL of this hub's own store.
  const batch = await fetch(`${mirror.url}/alice/signed.git/info/lfs/objects/batch`, {
    method: "POST",
    headers: { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
    body: JSON.stringify({ operation: "download", transfers: ["basic"], objects: [{ oid: sha256(a), size: a.length }] }),
  });
  assert.equal(batch.status, 200);
  const href = ((await batch.json()) as { objects: { actions?: { download?: { href: string } } }[] }).objects[0].actions?.download?.href;
  assert.match(href ?? "", /\/lfs-download\//);

  mirror.later();
  await download(mirror, `alice/signed/resolve/${commit}/b.bin`, files.get("b.bin")!); // 1 MiB limit: a.bin goes
  assert.equal(await mirror.cached(a), false, "a.bin was evicted");

  const whole = await fetch(href!);
  assert.equal(whole.status, 200, `${whole.headers.get("x-error-code")}`);
  assert.equal(sha256(new Uint8Array(await whole.arrayBuffer())), sha256(a));
  assert.equal(proxy.fetches("a.bin"), 2, "fetched again from the upstream");
  const ranged = await fetch(href!, { headers: { Range: "bytes=1000-1999" } });
  assert.equal(ranged.status, 206);
  assert.equal(sha256(new Uint8Array(await ranged.arrayBuffer())), sha256(a.subarray(1000, 2000)));
});

test("a pinned revision survives any pressure and downloads with the upstream stopped; unpin makes it evictable again", async (t) => {
  const upstream = await startHub(t);
  const token = await upstream.token("alice");
  const pinned = await publish(upstream, token, "alice/pinned", ["p1.bin", "p2.bin"]);
  const other = await publish(upstream, token, "alice/other", ["o1.bin", "o2.bin", "o3.bin", "o4.bin"]);
  const proxy = await startCountingProxy(upstream.url);
  deferCleanup(t, proxy.close);
  const env = { AGORA_UPSTREAM: proxy.url, AGORA_MIRROR_CACHE_MAX: "3MiB" };
  const mirror = await startMirror(t, env);
  const cli = (args: string[]) => runAgoraAsync([...args, "--data", mirror.dataDir], env);
  const p = (name: string) => pinned.files.get(name)!;
  const o = (name: string) => other.files.get(name)!;
  const getOther = async (name: string) => {
    mirror.later();
    await download(mirror, `alice/other/resolve/${other.commit}/${name}`, o(name));
  };
  const getPinned = async (name: string) => {
    mirror.later();
    await download(mirror, `alice/pinned/resolve/${pinned.commit}/${name}`, p(name));
  };

  const pin = await cli(["mirror", "pin", "alice/pinned"]);
  assert.equal(pin.code, 0, pin.stderr + pin.stdout);
  assert.match(pin.stdout, new RegExp(`pinned alice/pinned@main at ${pinned.commit}: 2 LFS files`));
  assert.match(pin.stdout, /fetched\s+p1\.bin \(1\.0 MiB\)/);
  assert.match(pin.stdout, /fetched\s+p2\.bin/);

  // 2 MiB pinned + 4 MiB more through a 3 MiB cache: only unpinned objects go, oldest first
  for (const name of ["o1.bin", "o2.bin", "o3.bin", "o4.bin"]) await getOther(name);
  assert.deepEqual(
    await Promise.all([p("p1.bin"), p("p2.bin"), o("o1.bin"), o("o2.bin"), o("o3.bin"), o("o4.bin")].map(mirror.cached)),
    [true, true, false, false, false, true],
  );
  const status = await cli(["mirror", "status", "--json"]);
  assert.equal(status.code, 0, status.stderr);
  const cache = (JSON.parse(status.stdout) as { cache: { limitBytes: number; cachedBytes: number; pinnedBytes: number; pins: { id: string; revision: string; commit: string; files: number }[] } }).cache;
  assert.deepEqual([cache.limitBytes, cache.cachedBytes, cache.pinnedBytes], [3 * MiB, 3 * MiB, 2 * MiB]);
  assert.deepEqual(cache.pins.map((x) => [x.id, x.revision, x.commit, x.files]), [["alice/pinned", "main", pinned.commit, 2]]);
  const text = await cli(["mirror", "status"]);
  assert.match(text.stdout, /cache: 3\.0 MiB in 3 objects \(limit 3\.0 MiB; 2\.0 MiB pinned\)/);
  assert.match(text.stdout, new RegExp(`pinned alice/pinned@main\\t${pinned.commit}`));

  // The upstream stops: the pinned files still download; an evicted one cannot.
  await upstream.close();
  await getPinned("p1.bin");
  await getPinned("p2.bin");
  const gone = await fetch(`${mirror.url}/alice/other/resolve/${other.commit}/o1.bin`);
  assert.equal(gone.status, 503);
  assert.equal(gone.headers.get("x-error-code"), "UpstreamUnavailable");
  assert.equal(proxy.fetches("p1.bin"), 1);

  const restarted = await startHub(t, { dataDir: upstream.dataDir });
  proxy.state.target = restarted.url;
  const unpin = await cli(["mirror", "unpin", "alice/pinned"]);
  assert.equal(unpin.code, 0, unpin.stderr + unpin.stdout);
  assert.match(unpin.stdout, new RegExp(`unpinned alice/pinned@main \\(${pinned.commit}\\)`));
  const again = await cli(["mirror", "unpin", "alice/pinned"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /alice\/pinned@main is not pinned/);

  // Now p1 and p2 are the least recently used (read while the upstream was down; o4 read since).
  await getOther("o4.bin");
  await getOther("o1.bin");
  assert.deepEqual(await Promise.all([p("p1.bin"), p("p2.bin"), o("o4.bin"), o("o1.bin")].map(mirror.cached)), [false, true, true, true]);
  await getOther("o2.bin");
  assert.deepEqual(await Promise.all([p("p1.bin"), p("p2.bin")].map(mirror.cached)), [false, false]);
  await getPinned("p1.bin");
  assert.equal(proxy.fetches("p1.bin"), 2, "an evicted object is fetched again from the upstream");
});

test("a pinned revision larger than the limit is kept whole, and the pin says the cache stays over its limit", async (t) => {
  const upstream = await startHub(t);
  const pinned = await publish(upstream, await upstream.token("alice"), "alice/huge", ["h1.bin", "h2.bin"]);
  const data = tempDir(t);
  const env = { AGORA_UPSTREAM: upstream.url, AGORA_MIRROR_CACHE_MAX: "1MiB" };
  const pin = await runAgoraAsync(["mirror", "pin", "alice/huge@main", "--data", data], env);
  assert.equal(pin.code, 0, pin.stderr + pin.stdout);
  assert.match(pin.stdout, /warning: the mirror cache holds 2\.0 MiB, over its limit of 1\.0 MiB/);
  const status = await runAgoraAsync(["mirror", "status", "--json", "--data", data], env);
  const cache = (JSON.parse(status.stdout) as { cache: { cachedBytes: number; overLimit: boolean } }).cache;
  assert.deepEqual([cache.cachedBytes, cache.overLimit], [2 * MiB, true]);
  for (const bytes of pinned.files.values()) assert.ok(fs.existsSync(path.join(data, "lfs", "objects", sha256(bytes).slice(0, 2), sha256(bytes))));
});

test("an object the mirror fetched and a local repository then uploaded is never evicted, nor counted", async (t) => {
  const upstream = await startHub(t);
  const { commit, files } = await publish(upstream, await upstream.token("alice"), "alice/shared", ["s.bin", "x1.bin", "x2.bin", "x3.bin"]);
  const proxy = await startCountingProxy(upstream.url);
  deferCleanup(t, proxy.close);
  const mirror = await startMirror(t, { AGORA_UPSTREAM: proxy.url, AGORA_MIRROR_CACHE_MAX: "2MiB" });
  const get = async (name: string) => {
    mirror.later();
    await download(mirror, `alice/shared/resolve/${commit}/${name}`, files.get(name)!);
  };
  const s = files.get("s.bin")!;

  await get("s.bin"); // the oldest object of the cache from now on
  const bob = { hubUrl: mirror.url, accessToken: (await mirror.services.accounts.createToken("bob")).token };
  await createRepo({ ...bob, repo: "bob/local" });
  await uploadFiles({ ...bob, repo: "bob/local", files: [{ path: "same.bin", content: new Blob([s]) }] });

  await get("x1.bin");
  await get("x2.bin");
  await get("x3.bin"); // 3 MiB of mirror-only objects over 2 MiB: x1 goes, never s
  assert.deepEqual(await Promise.all(["s.bin", "x1.bin", "x2.bin", "x3.bin"].map((name) => mirror.cached(files.get(name)!))), [true, false, true, true]);
  const status = await mirror.services.mirrorCache.status();
  assert.deepEqual([status.cachedBytes, status.cachedObjects], [2 * MiB, 2]);

  const local = await fetch(`${mirror.url}/bob/local/resolve/main/same.bin`);
  assert.equal(sha256(new Uint8Array(await local.arrayBuffer())), sha256(s));
  await get("s.bin");
  assert.equal(proxy.fetches("s.bin"), 1);
});

test("objects of a mirror whose upstream is not configured here (imported, or upstream removed) are never evicted: they could not be fetched again", async (t) => {
  const upstream = await startHub(t);
  const token = await upstream.token("alice");
  const kept = await publish(upstream, token, "alice/orphaned", ["o.bin"]);
  const other = await publish(upstream, token, "alice/other", ["y1.bin", "y2.bin", "y3.bin"]);
  const proxy = await startCountingProxy(upstream.url);
  deferCleanup(t, proxy.close);
  const mirror = await startMirror(t, { AGORA_UPSTREAM: proxy.url, AGORA_MIRROR_CACHE_MAX: "2MiB" });
  const get = async (repo: string, commit: string, name: string, bytes: Buffer) => {
    mirror.later();
    await download(mirror, `alice/${repo}/resolve/${commit}/${name}`, bytes);
  };
  await get("orphaned", kept.commit, "o.bin", kept.files.get("o.bin")!); // the oldest object from now on
  // As after `agora mirror import` on a hub whose upstreams do not include the archive's.
  const row = (await mirror.services.repos.find("model", "alice/orphaned"))!;
  await mirror.services.db.updateTable("repos").set({ upstream_url: "http://upstream.example.invalid" }).where("id", "=", row.id).execute();
  for (const name of ["y1.bin", "y2.bin", "y3.bin"]) await get("other", other.commit, name, other.files.get(name)!);
  assert.ok(await mirror.cached(kept.files.get("o.bin")!), "the object no configured upstream could give back is kept");
  assert.deepEqual(await Promise.all(["y1.bin", "y2.bin", "y3.bin"].map((name) => mirror.cached(other.files.get(name)!))), [false, true, true]);
});

test("a limit lowered while the mirror was stopped is applied when `agora serve` starts, least recently used first", async (t) => {
  const upstream = await startHub(t);
  const names = ["a.bin", "b.bin", "c.bin"];
  const { commit, files } = await publish(upstream, await upstream.token("alice"), "alice/boot", names);
  const dataDir = tempDir(t);
  const stored = (name: string) => {
    const oid = sha256(files.get(name)!);
    return fs.existsSync(path.join(dataDir, "lfs", "objects", oid.slice(0, 2), oid));
  };
  const downloadFrom = async (url: string, name: string) => {
    const response = await fetch(`${url}/alice/boot/resolve/${commit}/${name}`);
    assert.equal(response.status, 200, name);
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(files.get(name)!), name);
  };

  // Without a limit, the mirror keeps everything it fetched (in the order a, b, c).
  const unlimited = serveProcess(dataDir, { env: { AGORA_UPSTREAM: upstream.url } });
  deferCleanup(t, () => unlimited.child.kill("SIGKILL"));
  for (const name of names) await downloadFrom(await unlimited.url, name);
  unlimited.child.kill("SIGTERM");
  await unlimited.exited;
  assert.deepEqual(names.map(stored), [true, true, true]);

  // Restarted with room for one object: the start-up pass evicts the two least recently used,
  // before any download asks for anything.
  const limited = serveProcess(dataDir, { env: { AGORA_UPSTREAM: upstream.url, AGORA_MIRROR_CACHE_MAX: "1MiB" } });
  deferCleanup(t, () => limited.child.kill("SIGKILL"));
  const url = await limited.url;
  for (let waited = 0; !/mirror cache: evicted/.test(limited.output()); waited += 50) {
    assert.ok(waited < 60_000, `no start-up eviction reported: ${limited.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.match(limited.output(), /mirror cache: evicted 2 objects \(2\.0 MiB\) at start-up to fit its limit of 1\.0 MiB/);
  assert.deepEqual(names.map(stored), [false, false, true]);
  await downloadFrom(url, "a.bin"); // fetched again through the verified path
});

test("mirror.cacheMax takes byte counts and sizes from the file and the environment; bad sizes stop the boot with a clear message", (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "agora.yaml");
  fs.writeFileSync(file, "upstreams: [http://hub.example.org]\nmirror:\n  cacheMax: 200GB\n");
  assert.equal(loadConfig({ configFile: file, env: {} }).mirror.cacheMaxBytes, 200 * 1000 ** 3);
  assert.equal(loadConfig({ configFile: file, env: { AGORA_MIRROR_CACHE_MAX: "1.5TiB" } }).mirror.cacheMaxBytes, 1.5 * 1024 ** 4);
  assert.equal(loadConfig({ configFile: file, env: { AGORA_MIRROR_CACHE_MAX: "unlimited" } }).mirror.cacheMaxBytes, undefined);
  fs.writeFileSync(file, "mirror:\n  cacheMax: 1048576\n");
  assert.equal(loadConfig({ configFile: file, env: {} }).mirror.cacheMaxBytes, MiB);
  assert.equal(loadConfig({ env: { AGORA_MIRROR_CACHE_MAX: "500 MB" } }).mirror.cacheMaxBytes, 500_000_000);
  assert.equal(loadConfig({ env: {} }).mirror.cacheMaxBytes, undefined, "unlimited by default");
  for (const bad of ["lots", "5M", "-1GB", "1.5", "12 parsecs"]) {
    assert.throws(
      () => loadConfig({ env: { AGORA_MIRROR_CACHE_MAX: bad } }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(`mirror.cacheMax must be a byte count or a size such as 500MB, 200GB or 1.5TiB`) && e.message.includes(`${JSON.stringify(bad)} from $AGORA_MIRROR_CACHE_MAX`),
      bad,
    );
  }
  fs.writeFileSync(file, "mirror:\n  cacheMax: 2.5\n");
  assert.throws(() => loadConfig({ configFile: file, env: {} }), (e: unknown) => e instanceof ConfigError && e.message.includes(`(got 2.5 from ${file}:mirror.cacheMax)`));

  const serve = spawnSync(process.execPath, [AGORA_BIN, "serve", "--data", dir, "--port", "0"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, AGORA_MIRROR_CACHE_MAX: "200 gigs" } });
  assert.equal(serve.status, 1, serve.stdout);
  assert.match(serve.stderr, /agora: invalid configuration:\n {2}- mirror\.cacheMax must be a byte count or a size such as 500MB, 200GB or 1\.5TiB, or "unlimited" \(got "200 gigs" from \$AGORA_MIRROR_CACHE_MAX\)/);
});
