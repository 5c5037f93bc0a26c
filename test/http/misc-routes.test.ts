// The rest of the download-side protocol over raw HTTP: Xet signals (hub-api.md §8), unknown
// routes (§14 item 19), CORS (§2.7), download counting, and the error wire format (§3.3).

import { test } from "node:test";
import assert from "node:assert/strict";
import { startHub } from "../helpers/server.ts";
import { assertHubError, commitFiles, createRepo, patternBytes, repoInfo } from "../helpers/hub-http.ts";

test("misc routes", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "misc-model" });
  await commitFiles(hub.url, token, id, [
    { path: "config.json", content: '{"model_type":"llama"}' },
    { path: "README.md", content: "---\nlicense: mit\n---\n# misc\n" },
    { path: "w.bin", content: patternBytes(5000), lfs: true },
  ]);
  const auth = { Authorization: `Bearer ${token}` };

  await t.test("expand=xetEnabled answers exactly {_id, id, xetEnabled: false}", async () => {
    for (const path of [`/api/models/${id}?expand=xetEnabled`, `/api/models/${id}/revision/main?expand=xetEnabled`, `/api/models/${id}?expand%5B%5D=xetEnabled`]) {
      const res = await fetch(`${hub.url}${path}`);
      assert.equal(res.status, 200, path);
      const body = (await res.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ["_id", "id", "xetEnabled"], path);
      assert.equal(body.xetEnabled, false);
      assert.equal(body.id, id);
      assert.match(String(body._id), /^[0-9a-f]{24}$/);
    }
  });

  await t.test("xet-read-token and xet-write-token: 501 naming HF_HUB_DISABLE_XET=1", async () => {
    for (const kind of ["xet-read-token", "xet-write-token"]) {
      const res = await fetch(`${hub.url}/api/models/${id}/${kind}/main`, { headers: auth });
      const body = await assertHubError(res, 501, "XetNotSupported");
      assert.match(res.headers.get("x-error-message") ?? "", /HF_HUB_DISABLE_XET=1/);
      assert.match(body.error, /HF_HUB_DISABLE_XET=1/);
      for (const name of res.headers.keys()) assert.ok(!name.startsWith("x-xet"), `no ${name}`);
    }
    // on a missing repository, the repository error wins
    await assertHubError(await fetch(`${hub.url}/api/models/alice/missing/xet-write-token/main`, { headers: auth }), 404, "RepoNotFound");
  });

  await t.test("unknown routes: plain 404 without X-Error-Code, with X-Request-Id", async () => {
    const cases: [string, string][] = [
      ["GET", "/api/nonexistent"],
      ["POST", "/api/nonexistent"],
      ["GET", "/api/models/a/b/unknown-op/x"],
      ["GET", `/api/models/${id}/unknown-op/x`],
      ["GET", `/api/models/${id}/discussions`],
      ["GET", "/foo/bar/baz-not-a-route"],
      ["GET", `/${id}/blob/main/config.json`],
      ["HEAD", `/${id}/blob/main/config.json`],
      ["GET", `/api/models/${id}/tree`],
      ["PUT", "/api/nonexistent"],
      ["DELETE", `/api/models/${id}/unknown-op`],
      ["GET", "/api/agent-harnesses"],
    ];
    for (const [method, path] of cases) {
      const res = await fetch(`${hub.url}${path}`, { method });
      await res.arrayBuffer();
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.headers.get("x-error-code"), null, `${method} ${path} must not carry X-Error-Code`);
      assert.ok(res.headers.get("x-request-id"), `${method} ${path} has X-Request-Id`);
    }
  });

  await t.test("CORS: allowed origin and exposed headers on success and on errors", async () => {
    const required = ["x-repo-commit", "etag", "link", "content-range", "x-linked-size", "x-linked-etag", "x-error-code", "x-error-message", "x-request-id", "accept-ranges", "content-length"];
    for (const path of [`/${id}/resolve/main/w.bin`, `/${id}/resolve/main/nope.txt`, `/api/models/${id}/tree/main`, "/api/models"]) {
      const res = await fetch(`${hub.url}${path}`, { headers: { Origin: "https://app.example" } });
      await res.arrayBuffer();
      const allow = res.headers.get("access-control-allow-origin");
      assert.ok(allow === "*" || allow === "https://app.example", `${path}: Access-Control-Allow-Origin ${allow}`);
      const exposed = (res.headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim().toLowerCase());
      for (const name of required) assert.ok(exposed.includes(name), `${path}: ${name} is exposed`);
      assert.ok(!exposed.some((h) => h.startsWith("x-xet")), "no Xet headers exposed");
    }
    const noOrigin = await fetch(`${hub.url}/${id}/resolve/main/config.json`, { method: "HEAD" });
    assert.ok(noOrigin.headers.get("access-control-allow-origin"));
  });

  await t.test("CORS preflight: OPTIONS answers 204 with the allowed methods and headers", async () => {
    for (const path of [`/${id}/resolve/main/w.bin`, `/api/models/${id}/paths-info/main`, `/api/models/${id}/commit/main`, "/api/whoami-v2"]) {
      const res = await fetch(`${hub.url}${path}`, {
        method: "OPTIONS",
        headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, range" },
      });
      assert.equal(res.status, 204, path);
      assert.equal((await res.arrayBuffer()).byteLength, 0);
      const methods = (res.headers.get("access-control-allow-methods") ?? "").split(",").map((m) => m.trim().toUpperCase());
      for (const m of ["GET", "HEAD", "POST", "PUT", "DELETE"]) assert.ok(methods.includes(m), `${path}: ${m} allowed`);
      const headers = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      for (const h of ["authorization", "content-type", "range"]) assert.ok(headers.includes(h), `${path}: ${h} allowed`);
      const allow = res.headers.get("access-control-allow-origin");
      assert.ok(allow === "*" || allow === "https://app.example");
      assert.ok(res.headers.get("x-request-id"));
    }
  });

  await t.test("download counting: GET or HEAD of config.json counts; other files do not", async () => {
    const id = await createRepo(hub.url, token, { name: "counted" });
    await commitFiles(hub.url, token, id, [
      { path: "config.json", content: '{"model_type":"llama"}' },
      { path: "README.md", content: "# counted\n" },
      { path: "w.bin", content: patternBytes(5000), lfs: true },
    ]);
    const downloads = async () => Number((await repoInfo(hub.url, id)).downloads);
    const listed = async () => {
      const res = await fetch(`${hub.url}/api/models?search=counted`);
      const items = (await res.json()) as { id: string; downloads: number }[];
      return items.find((i) => i.id === id)?.downloads;
    };
    assert.equal(await downloads(), 0);
    assert.equal(await listed(), 0);
    const hit = async (method: string, path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${hub.url}/${id}/resolve/main/${path}`, { method, headers });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await hit("GET", "config.json"), 200);
    assert.equal(await downloads(), 1);
    assert.equal(await hit("HEAD", "config.json"), 200);
    assert.equal(await downloads(), 2);
    assert.equal(await listed(), 2, "the listing shows the same count");
    assert.equal(await hit("GET", "w.bin"), 200);
    assert.equal(await hit("HEAD", "w.bin"), 200);
    assert.equal(await hit("GET", "README.md"), 200);
    assert.equal(await hit("GET", ".gitattributes"), 200);
    assert.equal(await hit("GET", "missing.json"), 404);
    assert.equal(await downloads(), 2, "other files and misses do not count");
    const info = await repoInfo(hub.url, id);
    assert.equal(info.downloadsAllTime, 2);
    const expanded = await repoInfo(hub.url, id, { query: "expand=downloads" });
    assert.deepEqual(expanded, { _id: info._id, id, downloads: 2 });
  });

  await t.test("download counting in a GGUF repository: every .gguf request counts", async () => {
    const gguf = await createRepo(hub.url, token, { name: "misc-gguf" });
    await commitFiles(hub.url, token, gguf, [
      { path: "model-q4.gguf", content: patternBytes(3000, 5), lfs: true },
      { path: "model-q8.gguf", content: patternBytes(4000, 6), lfs: true },
      { path: "README.md", content: "# gguf\n" },
    ]);
    const downloads = async () => Number((await repoInfo(hub.url, gguf)).downloads);
    const hit = async (method: string, path: string) => (await fetch(`${hub.url}/${gguf}/resolve/main/${path}`, { method })).arrayBuffer();
    await hit("GET", "model-q4.gguf");
    assert.equal(await downloads(), 1);
    await hit("HEAD", "model-q8.gguf");
    assert.equal(await downloads(), 2);
    await hit("GET", "model-q4.gguf");
    assert.equal(await downloads(), 3);
    await hit("GET", "README.md");
    assert.equal(await downloads(), 3);
    const res = await fetch(`${hub.url}/api/models?search=misc-gguf`);
    const items = (await res.json()) as { id: string; downloads: number }[];
    assert.equal(items.find((i) => i.id === gguf)?.downloads, 3);
  });

  await t.test("errors share the wire format: status, X-Error-Code, X-Error-Message, JSON {error}", async () => {
    const exists = await fetch(`${hub.url}/api/repos/create`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "misc-model", organization: null, type: "model" }),
    });
    const body = await assertHubError(exists, 409, "RepoExists");
    assert.equal(body.url, `${hub.url}/${id}`);

    await assertHubError(await fetch(`${hub.url}/api/models/${id}/commit/main`, { method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body: "{}" }), 401, "AuthRequired");
    await assertHubError(await fetch(`${hub.url}/api/models/${id}`, { headers: { Authorization: "Bearer hf_not_a_real_token" } }), 401, "InvalidCredentials");
    await assertHubError(
      await fetch(`${hub.url}/api/models/${id}/paths-info/main`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{not json" }),
      400,
      "BadRequest",
    );
    await assertHubError(await fetch(`${hub.url}/api/models/alice/does-not-exist`), 401, "RepoNotFound");
    await assertHubError(await fetch(`${hub.url}/api/models/alice/does-not-exist`, { headers: auth }), 404, "RepoNotFound");
  });
});
