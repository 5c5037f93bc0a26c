// Mirror metadata: a mirrored model's checkpoint counts come from ranged reads of its safetensors
// headers on the upstream (never whole files), and a repository renamed upstream is mirrored under
// its new id while the old id answers with the Hub's 307. Real servers: the upstream Agora, a
// loopback proxy in front of it (records requests and bytes, fails ranged reads on command, and
// answers 307 for renamed ids as the Hub does), and the mirror Agora pointed at the proxy.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRepo, downloadFile, uploadFiles } from "@huggingface/hub";
import { suiteScope, startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { safetensorsFile } from "../helpers/model-files.ts";
import { startLoopbackProxy } from "../helpers/loopback-proxy.ts";
import { gitUser, treeDigests } from "../git/git-client.ts";
import { parseApiRepoPath, parseFileRepoPath, splitPath, withRepoId } from "../../src/http/hub-paths.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/**
 * The proxy in front of the upstream hub. `renames` (old id → new id) answer a relative 307 on
 * the new id for the API and file paths of the old one, like the Hub for a renamed repository;
 * `servesAs` answers the old id's info with the new repository's info (its `id` naming the new
 * one) without a redirect; `failRanges` answers 502 to ranged file reads and `hangRanges` never
 * answers them (a blackholed upstream).
 */
async function startProxy(target: string) {
  const state = { failRanges: false, hangRanges: false, renames: new Map<string, string>(), servesAs: new Map<string, string>() };
  const idAt = (path: string, old: string) => {
    for (const prefix of ["/api/models/", "/"]) {
      if (!path.startsWith(`${prefix}${old}`)) continue;
      const next = path.charAt(prefix.length + old.length);
      if (next === "" || next === "/" || next === "?" || path.startsWith(`${prefix}${old}.git/`)) return prefix.length;
    }
    return -1;
  };
  const proxy = await startLoopbackProxy(target, {
    intercept(req, res) {
      for (const [old, renamed] of state.renames) {
        const at = idAt(req.url!, old);
        if (at < 0) continue;
        res.writeHead(307, { Location: `${req.url!.slice(0, at)}${renamed}${req.url!.slice(at + old.length)}` }).end();
        return true;
      }
      const rangedRead = req.url!.includes("/resolve/") && Boolean(req.headers.range);
      if (rangedRead && state.failRanges) res.writeHead(502).end("bad gateway");
      return rangedRead && (state.failRanges || state.hangRanges); // a hang is accepted, never answered
    },
    path(url) {
      let path = url;
      for (const [old, other] of state.servesAs) if (path === `/api/models/${old}`) path = `/api/models/${other}`;
      return path;
    },
  });
  return { ...proxy, state };
}

describe("mirror metadata: checkpoint counts by ranged reads, renamed repositories", () => {
  const scope = suiteScope();
  let upstream: TestHub;
  let mirror: TestHub;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let upstreamToken: string;

  // Two shards of real safetensors files whose data areas (zeros) make each file several MiB, so
  // a whole-file fetch would show in the proxy's byte counts.
  const shard1 = safetensorsFile([
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [1024, 1024] },
    { name: "model.norm.weight", dtype: "F32", shape: [1024] },
  ]);
  const shard2 = safetensorsFile([{ name: "lm_head.weight", dtype: "F32", shape: [1024, 1024] }]);
  const expectedCounts = { parameters: { BF16: 1024 * 1024, F32: 1024 * 1024 + 1024 }, total: 2 * 1024 * 1024 + 1024 };
  const fallbackWeights = safetensorsFile([{ name: "w", dtype: "F16", shape: [1024, 1024] }]);
  const blackholedWeights = safetensorsFile([{ name: "w", dtype: "BF16", shape: [2048, 512] }]); // another object: headers are cached per object
  const renamedWeights = randomBytes(1024 * 1024 + 7);
  const renamedConfig = Buffer.from(JSON.stringify({ model_type: "llama", hidden_size: 64 }));

  const resolveRequests = (suffix: string) => proxy.requests.filter((r) => r.method === "GET" && r.url.includes("/resolve/") && r.url.endsWith(suffix));

  before(async () => {
    upstream = await startHub(scope);
    upstreamToken = await upstream.token("alice");
    proxy = await startProxy(upstream.url);
    scope.after(proxy.close);
    mirror = await startHub(scope, { env: { AGORA_UPSTREAM: proxy.url, AGORA_UPSTREAM_TOKEN: upstreamToken } });

    const hub = { hubUrl: upstream.url, accessToken: upstreamToken };
    const index = { metadata: { total_size: shard1.length + shard2.length }, weight_map: { "model.embed_tokens.weight": "model-00001-of-00002.safetensors", "model.norm.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors" } };
    await createRepo({ ...hub, repo: "alice/sharded" });
    await uploadFiles({
      ...hub,
      repo: "alice/sharded",
      files: [
        { path: "README.md", content: new Blob(["---\nlicense: apache-2.0\n---\n# sharded\n"]) },
        { path: "model-00001-of-00002.safetensors", content: new Blob([shard1]) },
        { path: "model-00002-of-00002.safetensors", content: new Blob([shard2]) },
        { path: "model.safetensors.index.json", content: new Blob([JSON.stringify(index)]) },
      ],
    });
    await createRepo({ ...hub, repo: "alice/fallback" });
    await uploadFiles({
      ...hub,
      repo: "alice/fallback",
      files: [
        { path: "config.json", content: new Blob([fs.readFileSync("test/fixtures/model-configs/Qwen__Qwen3-8B.json")]) },
        { path: "model.safetensors", content: new Blob([fallbackWeights]) },
      ],
    });
    await createRepo({ ...hub, repo: "alice/blackholed" });
    await uploadFiles({ ...hub, repo: "alice/blackholed", files: [{ path: "model.safetensors", content: new Blob([blackholedWeights]) }] });
    await createRepo({ ...hub, repo: "alice/new-name" });
    await uploadFiles({
      ...hub,
      repo: "alice/new-name",
      files: [
        { path: "config.json", content: new Blob([renamedConfig]) },
        { path: "weights.bin", content: new Blob([renamedWeights]) },
      ],
    });
    for (const [user, repo] of [["carol", "carol/moved-here"], ["frank", "frank/is"]]) {
      await createRepo({ hubUrl: upstream.url, accessToken: await upstream.token(user), repo });
    }
    const info = (await (await fetch(`${upstream.url}/api/models/alice/sharded?blobs=true`)).json()) as { siblings: { rfilename: string; lfs?: unknown }[] };
    for (const name of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) assert.ok(info.siblings.find((s) => s.rfilename === name)?.lfs, `${name} is an LFS file upstream`);
  });

  test("a new mirror shows a sharded model's safetensors counts from ranged header reads, never fetching a whole file", async () => {
    const response = await fetch(`${mirror.url}/api/models/alice/sharded`);
    assert.equal(response.status, 200);
    const info = (await response.json()) as { safetensors?: unknown; agora: { checkpoint: unknown; parameters: unknown } };
    assert.deepEqual(info.safetensors, expectedCounts);
    assert.deepEqual(info.agora.checkpoint, expectedCounts);

    // Only small ranged reads of the weights crossed the proxy; nothing was stored or fetched whole.
    const reads = resolveRequests(".safetensors");
    assert.ok(reads.length >= 2, `${reads.length} header reads`);
    for (const read of reads) {
      assert.match(read.range ?? "", /^bytes=\d+-\d+$/, `${read.url} must be a ranged read`);
      assert.equal(read.status, 206);
      assert.ok(read.bytesOut <= 64 * 1024, `${read.url} moved ${read.bytesOut} bytes`);
    }
    const moved = reads.reduce((sum, r) => sum + r.bytesOut, 0);
    assert.ok(moved < (shard1.length + shard2.length) / 20, `${moved} bytes moved for ${shard1.length + shard2.length} bytes of weights`);
    for (const shard of [shard1, shard2]) assert.equal(await mirror.services.blobs.stat(sha256(shard)), undefined);
    assert.equal(mirror.services.mirror.objectFetches(), 0);

    // The listing row of the new mirror was computed with those counts (no config.json here).
    const row = (await mirror.services.repos.find("model", "alice/sharded"))!;
    assert.equal(row.params_total, expectedCounts.total);
    const listed = (await (await fetch(`${mirror.url}/api/models?author=alice&params_min=0.002&params_max=0.0022`)).json()) as { id: string; agora: { parameters: { total: number } } }[];
    assert.deepEqual(listed.map((m) => [m.id, m.agora.parameters.total]), [["alice/sharded", expectedCounts.total]]);

    // Headers are read once per object: a second info request asks the upstream for no file.
    const before = resolveRequests(".safetensors").length;
    const again = (await (await fetch(`${mirror.url}/api/models/alice/sharded?expand=safetensors`)).json()) as { safetensors?: unknown };
    assert.deepEqual(again.safetensors, expectedCounts);
    assert.equal(resolveRequests(".safetensors").length, before);
  });

  test("when the upstream fails the ranged reads, info still answers from config.json; the counts appear once the upstream answers", async () => {
    proxy.state.failRanges = true;
    try {
      const response = await fetch(`${mirror.url}/api/models/alice/fallback`);
      assert.equal(response.status, 200);
      const info = (await response.json()) as { safetensors?: unknown; agora: { checkpoint: unknown; parameters: { total: number } | null } };
      assert.equal(info.safetensors, undefined);
      assert.equal(info.agora.checkpoint, null);
      assert.ok(info.agora.parameters && info.agora.parameters.total > 8e9, "the config.json analysis still answers");
      assert.ok(resolveRequests("/model.safetensors").some((r) => r.status === 502), "the header read was tried and failed");
    } finally {
      proxy.state.failRanges = false;
    }
    const info = (await (await fetch(`${mirror.url}/api/models/alice/fallback`)).json()) as { safetensors?: unknown; agora: { checkpoint: unknown } };
    const counts = { parameters: { F16: 1024 * 1024 }, total: 1024 * 1024 };
    assert.deepEqual(info.safetensors, counts);
    assert.deepEqual(info.agora.checkpoint, counts, "facts computed during the failure were not kept");
    assert.equal(resolveRequests("/model.safetensors").filter((r) => !r.range).length, 0);
  });

  test("an upstream that never answers a header read costs one wait: the next info request does not ask it again", async () => {
    proxy.state.hangRanges = true;
    try {
      const first = await fetch(`${mirror.url}/api/models/alice/blackholed`);
      assert.equal(first.status, 200);
      assert.equal(((await first.json()) as { safetensors?: unknown }).safetensors, undefined);
      const asked = resolveRequests("/model.safetensors").filter((r) => r.url.includes("alice/blackholed")).length;
      assert.equal(asked, 1, "one header read was tried");
      const second = await fetch(`${mirror.url}/api/models/alice/blackholed`);
      assert.equal(second.status, 200);
      assert.equal(((await second.json()) as { agora: { checkpoint: unknown } }).agora.checkpoint, null);
      assert.equal(resolveRequests("/model.safetensors").filter((r) => r.url.includes("alice/blackholed")).length, asked);
    } finally {
      proxy.state.hangRanges = false;
    }
  });

  test("a repository renamed upstream is mirrored under its new id; the old id answers 307 (path and query kept) and clients follow to identical bytes", async (t) => {
    proxy.state.renames.set("alice/old-name", "alice/new-name");
    const info = await fetch(`${mirror.url}/api/models/alice/old-name?expand=sha&expand=siblings`, { redirect: "manual" });
    assert.equal(info.status, 307);
    assert.equal(info.headers.get("location"), "/api/models/alice/new-name?expand=sha&expand=siblings");
    await info.arrayBuffer();
    assert.ok(await mirror.services.repos.find("model", "alice/new-name"), "mirrored under the new id");
    assert.equal(await mirror.services.repos.find("model", "alice/old-name"), undefined, "no row under the old id");
    const upstreamSha = ((await (await fetch(`${upstream.url}/api/models/alice/new-name`)).json()) as { sha: string }).sha;

    const head = await fetch(`${mirror.url}/alice/old-name/resolve/main/config.json?download=true`, { method: "HEAD", redirect: "manual" });
    assert.equal(head.status, 307);
    assert.equal(head.headers.get("location"), "/alice/new-name/resolve/main/config.json?download=true");

    // fetch follows: same bytes, final URL on the new id
    const followed = await fetch(`${mirror.url}/alice/old-name/resolve/main/weights.bin`);
    assert.equal(followed.status, 200);
    assert.equal(new URL(followed.url).pathname, "/alice/new-name/resolve/main/weights.bin");
    assert.equal(followed.headers.get("x-repo-commit"), upstreamSha);
    assert.equal(sha256(new Uint8Array(await followed.arrayBuffer())), sha256(renamedWeights));
    const followedInfo = (await (await fetch(`${mirror.url}/api/models/alice/old-name`)).json()) as { id: string; sha: string };
    assert.deepEqual([followedInfo.id, followedInfo.sha], ["alice/new-name", upstreamSha]);

    // the JS client follows too, with a token
    const client = { hubUrl: mirror.url, accessToken: await mirror.token("reader", "read") };
    for (const [path, bytes] of [["config.json", renamedConfig], ["weights.bin", renamedWeights]] as const) {
      const blob = await downloadFile({ ...client, repo: "alice/old-name", path });
      assert.ok(blob, path);
      assert.equal(sha256(new Uint8Array(await blob.arrayBuffer())), sha256(bytes), path);
    }

    // git clone of the old id follows the redirect and gets the upstream's commit and LFS content
    const user = await gitUser(t);
    const work = tempDir(t, "agora-mirror-renamed-");
    await user.ok(["clone", `${mirror.url}/alice/old-name`, work]);
    const digests = treeDigests(work);
    assert.equal(digests.get("weights.bin"), sha256(renamedWeights));
    assert.equal(await user.ok(["rev-parse", "HEAD"], { cwd: work }), upstreamSha);

    // the alias answers: the upstream was asked about the old id once
    assert.equal(proxy.requests.filter((r) => r.url.startsWith("/api/models/alice/old-name")).length, 1);
  });

  test("an upstream info whose id names another repository is a rename too, to the mirror that id already has", async () => {
    proxy.state.servesAs.set("alice/known-by-id", "alice/new-name");
    const response = await fetch(`${mirror.url}/api/models/alice/known-by-id/tree/main`, { redirect: "manual" });
    assert.equal(response.status, 307);
    assert.equal(response.headers.get("location"), "/api/models/alice/new-name/tree/main");
    await response.arrayBuffer();
    const rows = await mirror.services.db.selectFrom("repos").select("id").where("name", "=", "new-name").execute();
    assert.equal(rows.length, 1, "the existing mirror is reused");
  });

  test("a rename into a local namespace is not mirrored, and an alias never shadows a local namespace or repository", async () => {
    await mirror.token("carol", "read"); // carol is a local account of the mirror
    proxy.state.renames.set("dave/moved-away", "carol/moved-here");
    const refused = await fetch(`${mirror.url}/api/models/dave/moved-away`, { redirect: "manual" });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-error-code"), "RepoNotFound");
    assert.equal(await mirror.services.repos.find("model", "carol/moved-here"), undefined);

    proxy.state.renames.set("erin/was", "frank/is");
    const moved = await fetch(`${mirror.url}/api/models/erin/was`, { redirect: "manual" });
    assert.equal(moved.status, 307);
    await moved.arrayBuffer();
    await mirror.token("erin", "read"); // erin becomes a local namespace: its ids are no longer redirected
    const local = await fetch(`${mirror.url}/api/models/erin/was`, { redirect: "manual" });
    assert.equal(local.status, 401);
    assert.equal(local.headers.get("x-error-code"), "RepoNotFound");

    // a local repository created under the old id wins over the alias
    await mirror.services.repos.createUnchecked("model", "alice", "old-name");
    const own = await fetch(`${mirror.url}/api/models/alice/old-name`, { redirect: "manual" });
    assert.equal(own.status, 200);
    assert.equal(((await own.json()) as { id: string }).id, "alice/old-name");
  });
});

test("the redirect URL of a renamed repository replaces only the id: API, file, dataset, .git and one-segment paths, query kept", () => {
  const cases: [string, string, string | undefined][] = [
    ["/api/models/alice/old/revision/refs%2Fpr%2F1?expand=sha", "alice/new", "/api/models/alice/new/revision/refs%2Fpr%2F1?expand=sha"],
    ["/api/datasets/alice/old/tree/main/data", "bob/rows", "/api/datasets/bob/rows/tree/main/data"],
    ["/alice/old/resolve/main/a/b%20c.bin?download=true", "alice/new", "/alice/new/resolve/main/a/b%20c.bin?download=true"],
    ["/datasets/alice/old/resolve/main/train.parquet", "alice/new", "/datasets/alice/new/resolve/main/train.parquet"],
    ["/alice/old.git/info/lfs/objects/batch", "alice/new", "/alice/new.git/info/lfs/objects/batch"],
    ["/gpt2/resolve/main/config.json", "openai/gpt2", "/openai/gpt2/resolve/main/config.json"],
  ];
  for (const [url, newId, expected] of cases) {
    const segments = splitPath(url);
    const candidates = url.startsWith("/api/") ? parseApiRepoPath(segments[1] === "datasets" ? "dataset" : "model", segments.slice(2)) : parseFileRepoPath(segments);
    assert.ok(candidates.length, url);
    assert.equal(withRepoId(url, candidates[0], newId), expected, url);
  }
  // a match whose id is not at that place in the URL is never rewritten
  assert.equal(withRepoId("/alice/other/resolve/main/x", { op: "resolve", repoType: "model", repoId: "alice/old" }, "alice/new"), undefined);
});
