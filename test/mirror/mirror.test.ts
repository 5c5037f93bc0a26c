// Pull-through mirror: an Agora configured with AGORA_UPSTREAM serves repositories of another
// Agora (the upstream) it does not have. Three real servers: the upstream hub, a fault-injecting
// proxy in front of it (counts requests and bytes, records headers, can fail on command), and
// the mirror hub pointed at the proxy. Bytes are always compared by SHA-256.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { createRepo, downloadFile, listModels, modelInfo, uploadFiles } from "@huggingface/hub";
import { suiteScope, startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { listenOnLoopback, midpointFault, startLoopbackProxy } from "../helpers/loopback-proxy.ts";
import { gitUser, treeDigests } from "../git/git-client.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

type Mode = "pass" | "5xx" | "truncate" | "wrong-bytes" | "reset" | "down" | "hang" | "redirect";

/** The proxy in front of the upstream hub; faults apply to file downloads (`/resolve/`), "down" and "hang" to everything. */
async function startProxy(target: string, cdn: () => string) {
  const state = { mode: "pass" as Mode };
  const proxy = await startLoopbackProxy(target, {
    intercept(req, res) {
      const isFile = req.url!.includes("/resolve/");
      if (state.mode === "down") req.socket.destroy();
      else if (isFile && state.mode === "5xx") res.writeHead(502).end("bad gateway");
      else if (isFile && state.mode === "redirect") res.writeHead(302, { Location: `${cdn()}${req.url}` }).end();
      else return state.mode === "hang"; // a hang is accepted, never answered: a blackholed upstream
      return true;
    },
    body({ req, answer }) {
      const mode = state.mode;
      if (!req.url!.includes("/resolve/") || answer.statusCode !== 200) return undefined;
      if (mode !== "truncate" && mode !== "wrong-bytes" && mode !== "reset") return undefined;
      return midpointFault(mode, Number(answer.headers["content-length"] ?? 0));
    },
  });
  return { ...proxy, state };
}

/** A second origin ("a CDN") the proxy can redirect file downloads to; serves the upstream's bytes and records headers. */
async function startCdn(target: string) {
  const requests: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer(async (req, res) => {
    requests.push({ url: req.url!, headers: req.headers });
    const answer = await fetch(`${target}${req.url}`);
    res.writeHead(answer.status, { "content-length": answer.headers.get("content-length") ?? undefined });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  return { requests, ...(await listenOnLoopback(server)) };
}

describe("pull-through mirror", () => {
  const scope = suiteScope();
  let upstream: TestHub;
  let mirror: TestHub;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let cdn: Awaited<ReturnType<typeof startCdn>>;
  let upstreamToken: string;
  const files = new Map<string, Buffer>();
  const repo = "alice/tiny";
  let firstCommit = "";
  const cloneWeights = randomBytes(1024 * 1024 + 17);
  const datasetBytes = randomBytes(512 * 1024 + 3);

  const fileRequests = (path: string) => proxy.requests.filter((r) => r.method === "GET" && r.url.includes("/resolve/") && r.url.endsWith(`/${path}`));

  before(async () => {
    upstream = await startHub(scope);
    upstreamToken = await upstream.token("alice");
    cdn = await startCdn(upstream.url);
    scope.after(cdn.close);
    proxy = await startProxy(upstream.url, () => cdn.url);
    scope.after(proxy.close);
    mirror = await startHub(scope, { env: { AGORA_UPSTREAM: proxy.url, AGORA_UPSTREAM_TOKEN: upstreamToken } });

    files.set("config.json", Buffer.from(JSON.stringify({ model_type: "llama", hidden_size: 64 })));
    files.set("README.md", Buffer.from("---\nlicense: apache-2.0\ntags: [mirrored-test]\n---\n# tiny\n"));
    files.set("model.safetensors", randomBytes(3 * 1024 * 1024 + 5));
    files.set("big.bin", randomBytes(20 * 1024 * 1024 + 3));
    files.set("fault.bin", randomBytes(4 * 1024 * 1024 + 1));
    files.set("range.bin", randomBytes(20 * 1024 * 1024));
    files.set("cdn.bin", randomBytes(2 * 1024 * 1024));
    files.set("slow.bin", randomBytes(24 * 1024 * 1024 + 9)); // larger than the socket buffers between mirror and client
    const hub = { hubUrl: upstream.url, accessToken: upstreamToken };
    await createRepo({ ...hub, repo });
    const result = await uploadFiles({ ...hub, repo, files: [...files].map(([path, bytes]) => ({ path, content: new Blob([bytes]) })) });
    firstCommit = result!.commit.oid;
    // every .bin and .safetensors file went through LFS on the upstream
    const info = (await (await fetch(`${upstream.url}/api/models/${repo}?blobs=true`)).json()) as { siblings: { rfilename: string; lfs?: unknown }[] };
    for (const name of ["model.safetensors", "big.bin", "fault.bin", "range.bin", "cdn.bin", "slow.bin"]) assert.ok(info.siblings.find((s) => s.rfilename === name)?.lfs, name);

    await createRepo({ ...hub, repo: "alice/gated" });
    await uploadFiles({ ...hub, repo: "alice/gated", files: [{ path: "weights.bin", content: new Blob([Buffer.from("gated weights")]) }] });
    const settings = await fetch(`${upstream.url}/api/models/alice/gated/settings`, {
      method: "PUT",
      headers: { authorization: `Bearer ${upstreamToken}`, "content-type": "application/json" },
      body: JSON.stringify({ gated: "manual" }),
    });
    assert.equal(settings.status, 200);
    await createRepo({ hubUrl: upstream.url, accessToken: await upstream.token("carol"), repo: "carol/local-name" });
    await createRepo({ ...hub, repo: { type: "dataset", name: "alice/rows" } });
    await uploadFiles({ ...hub, repo: { type: "dataset", name: "alice/rows" }, files: [{ path: "data/train.parquet", content: new Blob([datasetBytes]) }] });
    await createRepo({ ...hub, repo: "alice/cloneme" });
    await uploadFiles({
      ...hub,
      repo: "alice/cloneme",
      files: [
        { path: "config.json", content: new Blob([files.get("config.json")!]) },
        { path: "weights/part.bin", content: new Blob([cloneWeights]) },
      ],
    });
  });

  test("the JS client downloads a model through the mirror with identical bytes; the second download never reaches the upstream", async () => {
    const client = { hubUrl: mirror.url, accessToken: await mirror.token("reader", "read") };
    const info = await modelInfo({ ...client, name: repo });
    assert.equal(info.name, repo);
    for (const path of ["config.json", "README.md", "model.safetensors"]) {
      const blob = await downloadFile({ ...client, repo, path });
      assert.ok(blob, path);
      assert.equal(sha256(new Uint8Array(await blob.arrayBuffer())), sha256(files.get(path)!), path);
    }
    assert.equal(fileRequests("model.safetensors").filter((r) => !r.headers.range).length, 1);
    // the object is in the mirror's store, verified, and linked to the mirrored repository
    const oid = sha256(files.get("model.safetensors")!);
    assert.equal((await mirror.services.blobs.stat(oid))?.size, files.get("model.safetensors")!.length);

    const before = proxy.requests.length;
    for (const path of ["config.json", "model.safetensors"]) {
      const blob = await downloadFile({ ...client, repo, path });
      assert.equal(sha256(new Uint8Array(await blob!.arrayBuffer())), sha256(files.get(path)!), path);
      const pinned = await downloadFile({ ...client, repo, path, revision: firstCommit });
      assert.equal(sha256(new Uint8Array(await pinned!.arrayBuffer())), sha256(files.get(path)!), path);
    }
    assert.equal(proxy.requests.length, before, "a cached repository and object must not touch the upstream");

    // commit ids are the upstream's, and the mirrored repository is listed with `mirrored: true`
    const local = (await (await fetch(`${mirror.url}/api/models/${repo}`)).json()) as { sha: string; mirrored?: boolean; tags: string[] };
    assert.equal(local.sha, firstCommit);
    assert.equal(local.mirrored, true);
    assert.ok(local.tags.includes("mirrored-test"), "listing facts are computed from the card");
    const listed = [];
    for await (const m of listModels({ hubUrl: mirror.url, search: { owner: "alice" }, additionalFields: ["tags"] })) listed.push(m.name);
    assert.ok(listed.includes(repo));
    const raw = (await (await fetch(`${mirror.url}/api/models?author=alice`)).json()) as { id: string; mirrored?: boolean }[];
    assert.equal(raw.find((m) => m.id === repo)?.mirrored, true);
  });

  test("8+ concurrent cold requests for one LFS file make one upstream fetch and all get the right bytes", async () => {
    const expected = sha256(files.get("big.bin")!);
    const results = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const response = await fetch(`${mirror.url}/${repo}/resolve/main/big.bin`);
        assert.equal(response.status, 200);
        return sha256(new Uint8Array(await response.arrayBuffer()));
      }),
    );
    for (const digest of results) assert.equal(digest, expected);
    assert.equal(fileRequests("big.bin").length, 1);
  });

  for (const fault of ["truncate", "wrong-bytes", "reset", "5xx"] as const) {
    test(`an upstream fault (${fault}) never gives a client a complete wrong file and caches nothing`, async () => {
      proxy.state.mode = fault;
      try {
        const outcome = await fetch(`${mirror.url}/${repo}/resolve/main/fault.bin`).then(
          async (response) => {
            if (response.status !== 200) return { status: response.status, code: response.headers.get("x-error-code") };
            const bytes = new Uint8Array(await response.arrayBuffer());
            return { status: 200, complete: bytes };
          },
          (error: unknown) => ({ error }),
        ).catch((error: unknown) => ({ error }));
        if ("complete" in outcome) assert.fail(`a complete ${outcome.complete!.length}-byte body was delivered`);
        if ("status" in outcome) {
          assert.equal(fault, "5xx", "only a fault before the first byte may become an error status");
          assert.equal(outcome.status, 503);
          assert.equal(outcome.code, "UpstreamUnavailable");
        }
      } finally {
        proxy.state.mode = "pass";
      }
      assert.equal(await mirror.services.blobs.stat(sha256(files.get("fault.bin")!)), undefined, "nothing may be published");
    });
  }

  test("wrong bytes reach no slow reader either: the unverified end is held back, whichever thread sends", async () => {
    // The upstream's whole body lands in the mirror's staging file while this client is still
    // reading its first MiBs: the hold on the last bytes (mirror-flight's ready) and the cut when
    // the check fails must both reach whichever thread sends (sendfile's worker, http/send-file.ts).
    proxy.state.mode = "wrong-bytes";
    try {
      const outcome = await new Promise<{ bytes: number; complete: boolean }>((resolve) => {
        const request = http.get(`${mirror.url}/${repo}/resolve/main/slow.bin`, (response) => {
          let bytes = 0;
          let sincePause = 0;
          response.on("data", (chunk: Buffer) => {
            bytes += chunk.length;
            sincePause += chunk.length;
            if (sincePause < 256 * 1024) return;
            sincePause = 0;
            response.pause();
            setTimeout(() => response.resume(), 50);
          });
          response.on("end", () => resolve({ bytes, complete: response.complete }));
          response.on("error", () => resolve({ bytes, complete: false }));
          response.on("aborted", () => resolve({ bytes, complete: false }));
        });
        request.on("error", () => resolve({ bytes: 0, complete: false }));
      });
      assert.equal(outcome.complete, false, `a complete ${outcome.bytes}-byte body was delivered`);
      assert.ok(outcome.bytes < files.get("slow.bin")!.length, `${outcome.bytes} bytes delivered`);
    } finally {
      proxy.state.mode = "pass";
    }
    assert.equal(await mirror.services.blobs.stat(sha256(files.get("slow.bin")!)), undefined, "nothing may be published");
  });

  test("after the faults, the same file downloads correctly", async () => {
    const response = await fetch(`${mirror.url}/${repo}/resolve/main/fault.bin`);
    assert.equal(response.status, 200);
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(files.get("fault.bin")!));
  });

  test("a Range read of a cold large file streams the range through without pulling the file", async () => {
    const response = await fetch(`${mirror.url}/${repo}/resolve/main/range.bin`, { headers: { range: "bytes=0-102399" } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get("content-range"), `bytes 0-102399/${files.get("range.bin")!.length}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.ok(bytes.equals(files.get("range.bin")!.subarray(0, 102400)));
    const moved = fileRequests("range.bin").reduce((sum, r) => sum + r.bytesOut, 0);
    assert.ok(moved < files.get("range.bin")!.length / 10, `${moved} bytes moved from the upstream`);
    assert.equal(await mirror.services.blobs.stat(sha256(files.get("range.bin")!)), undefined);
  });

  test("the upstream token is sent to the upstream only, never to the host a download redirects to", async () => {
    proxy.state.mode = "redirect";
    try {
      const response = await fetch(`${mirror.url}/${repo}/resolve/main/cdn.bin`);
      assert.equal(response.status, 200);
      assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(files.get("cdn.bin")!));
    } finally {
      proxy.state.mode = "pass";
    }
    assert.equal(cdn.requests.length, 1);
    assert.equal(cdn.requests[0].headers.authorization, undefined);
    // every request the upstream saw from the mirror (API, git, files) carried the token
    assert.ok(proxy.requests.length > 0);
    for (const r of proxy.requests) assert.equal(r.headers.authorization, `Bearer ${upstreamToken}`, `${r.method} ${r.url}`);
  });

  test("a gated upstream repository stays gated: a local user needs a local grant", async () => {
    const bob = await mirror.token("bob", "read");
    const info = await fetch(`${mirror.url}/api/models/alice/gated`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { gated: unknown }).gated, "manual");
    const refused = await fetch(`${mirror.url}/alice/gated/resolve/main/weights.bin`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get("x-error-code"), "GatedRepo");
    const anonymous = await fetch(`${mirror.url}/alice/gated/resolve/main/weights.bin`);
    assert.equal(anonymous.status, 401);
    const local = await mirror.services.repos.find("model", "alice/gated");
    await mirror.services.access.setGrant(local!, "bob", "accepted");
    const granted = await fetch(`${mirror.url}/alice/gated/resolve/main/weights.bin`, { headers: { authorization: `Bearer ${bob}` } });
    assert.equal(granted.status, 200);
    assert.equal(await granted.text(), "gated weights");
  });

  test("datasets are mirrored under /datasets/ like models", async () => {
    const blob = await downloadFile({ hubUrl: mirror.url, repo: { type: "dataset", name: "alice/rows" }, path: "data/train.parquet" });
    assert.equal(sha256(new Uint8Array(await blob!.arrayBuffer())), sha256(datasetBytes));
    const listed = (await (await fetch(`${mirror.url}/api/datasets?author=alice`)).json()) as { id: string; mirrored?: boolean }[];
    assert.deepEqual(listed.map((d) => [d.id, d.mirrored]), [["alice/rows", true]]);
    assert.equal((await fetch(`${mirror.url}/api/models/alice/rows`)).status, 401, "a dataset is not a model");
  });

  test("git clone with git-lfs of a never-seen repository through the mirror gets the upstream's commits and the LFS content", async (t) => {
    const user = await gitUser(t);
    const work = tempDir(t, "agora-mirror-clone-");
    await user.ok(["clone", `${mirror.url}/alice/cloneme`, work]);
    const digests = treeDigests(work);
    assert.equal(digests.get("weights/part.bin"), sha256(cloneWeights));
    assert.equal(digests.get("config.json"), sha256(files.get("config.json")!));
    const head = await user.ok(["rev-parse", "HEAD"], { cwd: work });
    const upstreamInfo = (await (await fetch(`${upstream.url}/api/models/alice/cloneme`)).json()) as { sha: string };
    assert.equal(head, upstreamInfo.sha);
    assert.equal((await mirror.services.blobs.stat(sha256(cloneWeights)))?.size, cloneWeights.length);
  });

  test("when the upstream gates a repository later, the mirror follows at the next revalidation", async () => {
    const settings = await fetch(`${upstream.url}/api/models/alice/cloneme/settings`, {
      method: "PUT",
      headers: { authorization: `Bearer ${upstreamToken}`, "content-type": "application/json" },
      body: JSON.stringify({ gated: "auto" }),
    });
    assert.equal(settings.status, 200);
    const local = (await mirror.services.repos.find("model", "alice/cloneme"))!;
    assert.equal(local.gated, "false");
    await mirror.services.reposStore.update(local.id, { refs_fetched_at: new Date(Date.now() - 86400_000).toISOString() });
    const info = await fetch(`${mirror.url}/api/models/alice/cloneme`);
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { gated: unknown }).gated, "auto");
    const anonymous = await fetch(`${mirror.url}/alice/cloneme/resolve/main/config.json`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("x-error-code"), "GatedRepo");
  });

  test("a namespace that exists locally never falls through to the upstream", async () => {
    await mirror.token("carol", "read");
    const response = await fetch(`${mirror.url}/api/models/carol/local-name`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("x-error-code"), "RepoNotFound");
    assert.equal(proxy.requests.filter((r) => r.url.includes("carol")).length, 0);
  });

  test("with the upstream down: pinned commits and fetched branches still download, stale branches warn, unknown repositories answer 503", async () => {
    const local = (await mirror.services.repos.find("model", repo))!;
    await mirror.services.reposStore.update(local.id, { refs_fetched_at: new Date(Date.now() - 86400_000).toISOString() });
    proxy.state.mode = "down";
    try {
      const pinned = await fetch(`${mirror.url}/${repo}/resolve/${firstCommit}/model.safetensors`);
      assert.equal(pinned.status, 200);
      assert.equal(pinned.headers.get("x-hf-warning"), null);
      assert.equal(sha256(new Uint8Array(await pinned.arrayBuffer())), sha256(files.get("model.safetensors")!));

      const branch = await fetch(`${mirror.url}/${repo}/resolve/main/config.json`);
      assert.equal(branch.status, 200);
      assert.match(branch.headers.get("x-hf-warning") ?? "", /^agora-mirror; upstream unavailable, serving cached refs from \d{4}-/);
      assert.equal(sha256(new Uint8Array(await branch.arrayBuffer())), sha256(files.get("config.json")!));
      const blob = await downloadFile({ hubUrl: mirror.url, repo, path: "big.bin" });
      assert.equal(sha256(new Uint8Array(await blob!.arrayBuffer())), sha256(files.get("big.bin")!));

      const never = await fetch(`${mirror.url}/api/models/alice/never-fetched`);
      assert.equal(never.status, 503);
      assert.equal(never.headers.get("x-error-code"), "UpstreamUnavailable");
      const neverFile = await fetch(`${mirror.url}/alice/never-fetched/resolve/main/config.json`);
      assert.equal(neverFile.status, 503);
      assert.equal(neverFile.headers.get("x-error-code"), "UpstreamUnavailable");
    } finally {
      proxy.state.mode = "pass";
    }
    // back up: the stale branch is revalidated and the warning is gone
    const fresh = await fetch(`${mirror.url}/${repo}/resolve/main/config.json`);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.headers.get("x-hf-warning"), null);
    await fresh.arrayBuffer();
  });

  test("a revalidation that timed out is not retried at once: the next request gets the cached refs without waiting on the upstream", async () => {
    const local = (await mirror.services.repos.find("model", repo))!;
    await mirror.services.reposStore.update(local.id, { refs_fetched_at: new Date(Date.now() - 86400_000).toISOString() });
    proxy.state.mode = "hang";
    try {
      const first = await fetch(`${mirror.url}/${repo}/resolve/main/config.json`);
      assert.equal(first.status, 200);
      assert.match(first.headers.get("x-hf-warning") ?? "", /upstream unavailable/);
      await first.arrayBuffer();
      const seen = proxy.requests.length;
      const second = await fetch(`${mirror.url}/api/models/${repo}/tree/main`);
      assert.equal(second.status, 200);
      assert.match(second.headers.get("x-hf-warning") ?? "", /upstream unavailable/);
      await second.arrayBuffer();
      assert.equal(proxy.requests.length, seen);
    } finally {
      proxy.state.mode = "pass";
    }
  });

  test("a repository missing on the upstream stays a plain RepoNotFound", async () => {
    const response = await fetch(`${mirror.url}/api/models/alice/does-not-exist`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("x-error-code"), "RepoNotFound");
  });

  test("a mirrored repository is read-only, even for a local account of the same name (created last: it makes the namespace local)", async () => {
    const writer = await mirror.token("alice", "write");
    const response = await fetch(`${mirror.url}/api/models/${repo}/commit/main`, {
      method: "POST",
      headers: { authorization: `Bearer ${writer}`, "content-type": "application/x-ndjson" },
      body: `${JSON.stringify({ key: "header", value: { summary: "x" } })}\n${JSON.stringify({ key: "file", value: { path: "a.txt", content: "YQ==", encoding: "base64" } })}\n`,
    });
    assert.equal(response.status, 403);
    assert.match(response.headers.get("x-error-message") ?? "", /read-only mirror/);
  });
});
