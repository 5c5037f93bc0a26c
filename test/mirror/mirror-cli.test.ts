// Mirror configuration (file, environment, flags) and the `agora mirror` commands as a user runs
// them (a real child process), against a real upstream hub.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRepo, uploadFiles } from "@huggingface/hub";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { startHub, tempDir } from "../helpers/server.ts";
import { runAgoraAsync } from "../helpers/serve-process.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

test("mirror settings come from the file, the environment and flags, in that order; the token only from the environment", (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "agora.yaml");
  fs.writeFileSync(
    file,
    "upstreams:\n  - url: https://hub.example.org/\n    tokenEnv: MY_UPSTREAM_TOKEN\n  - http://second.example.org\nmirror:\n  allow: ['alice/*']\n  deny: ['alice/secret*']\n  maxAgeSeconds: 60\n  offline: true\n",
  );
  const fromFile = loadConfig({ configFile: file, env: { MY_UPSTREAM_TOKEN: "hf_secret", AGORA_UPSTREAM_TOKEN: "hf_default" } });
  assert.deepEqual(
    fromFile.upstreams.map((u) => ({ ...u })),
    [
      { url: "https://hub.example.org", tokenEnv: "MY_UPSTREAM_TOKEN", token: "hf_secret" },
      { url: "http://second.example.org", tokenEnv: "AGORA_UPSTREAM_TOKEN", token: "hf_default" },
    ],
  );
  assert.deepEqual({ ...fromFile.mirror }, { allow: ["alice/*"], deny: ["alice/secret*"], maxAgeSeconds: 60, offline: true });

  const fromEnv = loadConfig({ configFile: file, env: { AGORA_UPSTREAM: "http://a.example, http://b.example", AGORA_MIRROR_OFFLINE: "false", AGORA_MIRROR_MAX_AGE: "5" } });
  assert.deepEqual(fromEnv.upstreams.map((u) => u.url), ["http://a.example", "http://b.example"]);
  assert.equal(fromEnv.upstreams[0].token, undefined);
  assert.equal(fromEnv.mirror.offline, false);
  assert.equal(fromEnv.mirror.maxAgeSeconds, 5);

  const fromFlags = loadConfig({ env: { AGORA_UPSTREAM: "http://a.example" }, flags: { upstreams: ["http://flag.example"] } });
  assert.deepEqual(fromFlags.upstreams.map((u) => u.url), ["http://flag.example"]);
  assert.deepEqual(loadConfig({ env: {} }).upstreams, []);

  assert.throws(() => loadConfig({ env: { AGORA_UPSTREAM: "ftp://nope" } }), (e: unknown) => e instanceof ConfigError && /upstream must be an absolute http\(s\) URL/.test(e.message));
  assert.throws(() => loadConfig({ env: { AGORA_MIRROR_MAX_AGE: "soon" } }), ConfigError);
  assert.throws(() => loadConfig({ env: { AGORA_UPSTREAM: "https://user:hf_x@hub.example.org" } }), (e: unknown) => e instanceof ConfigError && /must not carry credentials/.test(e.message) && !e.message.includes("hf_x"));
});

test("agora mirror prefetch fetches a repository and the matching LFS objects; status reports them; the cache then serves with the upstream gone", async (t) => {
  const upstream = await startHub(t);
  const token = await upstream.token("alice");
  const weights = randomBytes(2 * 1024 * 1024 + 11);
  const other = randomBytes(1024 * 1024);
  const hub = { hubUrl: upstream.url, accessToken: token };
  await createRepo({ ...hub, repo: "alice/prefetched" });
  const { commit } = (await uploadFiles({
    ...hub,
    repo: "alice/prefetched",
    files: [
      { path: "config.json", content: new Blob(["{}"]) },
      { path: "weights.bin", content: new Blob([weights]) },
      { path: "other.safetensors", content: new Blob([other]) },
    ],
  }))!;

  const data = tempDir(t);
  const env = { AGORA_DATA: data, AGORA_UPSTREAM: upstream.url, AGORA_UPSTREAM_TOKEN: token, AGORA_LOG_LEVEL: "silent" };
  const prefetch = await runAgoraAsync(["mirror", "prefetch", `alice/prefetched@${commit.oid}`, "--include", "*.bin"], env);
  assert.equal(prefetch.code, 0, prefetch.stderr + prefetch.stdout);
  assert.match(prefetch.stdout, /fetched\s+weights\.bin/);
  assert.doesNotMatch(prefetch.stdout, /other\.safetensors/);
  const again = await runAgoraAsync(["mirror", "prefetch", "alice/prefetched", "--include", "*.bin"], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /cached\s+weights\.bin/);

  const status = await runAgoraAsync(["mirror", "status", "--json"], env);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { upstreams: { url: string; ok: boolean }[]; repos: { id: string; cachedBytes: number; cachedObjects: number }[] };
  assert.deepEqual(report.upstreams.map((u) => [u.url, u.ok]), [[upstream.url, true]]);
  assert.deepEqual(report.repos.map((r) => [r.id, r.cachedObjects, r.cachedBytes]), [["alice/prefetched", 1, weights.length]]);
  const text = await runAgoraAsync(["mirror", "status"], env);
  assert.match(text.stdout, /upstream .* up/);
  assert.match(text.stdout, /alice\/prefetched/);

  await upstream.close();
  // Offline: what was prefetched is served, what was not answers UpstreamUnavailable.
  const mirror = await startHub(t, { dataDir: data, env: { AGORA_UPSTREAM: upstream.url, AGORA_MIRROR_OFFLINE: "1" } });
  const pinned = await fetch(`${mirror.url}/alice/prefetched/resolve/${commit.oid}/weights.bin`);
  assert.equal(pinned.status, 200);
  assert.equal(sha256(new Uint8Array(await pinned.arrayBuffer())), sha256(weights));
  const notFetched = await fetch(`${mirror.url}/alice/prefetched/resolve/${commit.oid}/other.safetensors`);
  assert.equal(notFetched.status, 503);
  assert.equal(notFetched.headers.get("x-error-code"), "UpstreamUnavailable");
  const unknown = await fetch(`${mirror.url}/api/models/alice/unknown`);
  assert.equal(unknown.status, 503);
  assert.equal(unknown.headers.get("x-error-code"), "UpstreamUnavailable");
  const down = await runAgoraAsync(["mirror", "status"], { ...env, AGORA_MIRROR_OFFLINE: "1" });
  assert.match(down.stdout, /DOWN/);
});
