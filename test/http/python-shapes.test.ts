// Request shapes that Python huggingface_hub sends and the JS client does not (hub-api.md §2.3,
// §6.3, §8, §9.1–9.2, §10.2–10.3, §10.8): form-encoded paths-info, `%2F`-encoded revisions,
// `expand=xetEnabled`, `private` vs `visibility`, `organization: null`, 409 on re-create,
// delete without `type`, validate-yaml, preupload decisions, NDJSON with trailing newlines.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startHub } from "../helpers/server.ts";
import { assertError, assertOk, commit, commitRaw, createRepo, createRepoRaw, gitBlobSha1, request, sha256 } from "./wire-helpers.ts";

const MiB = 1024 * 1024;

test("Python request shapes", async (t) => {
  const hub = await startHub(t);
  const alice = await hub.token("alice");
  const id = await createRepo(hub.url, alice, "alice/shapes");
  const weights = Buffer.from("not really a tensor but stored through LFS");
  const main = await commit(hub.url, alice, id, [
    { path: "config.json", content: '{"model_type":"bert"}' },
    { path: "sub dir/a b.txt", content: "spaces" },
    { path: "nested/inner/deep.txt", content: "deep" },
    { path: "model.safetensors", content: weights, lfs: true },
  ]);
  // A branch whose name contains "/": Python percent-encodes it as feature%2Fx everywhere.
  assertOk(await request(`${hub.url}/api/models/${id}/branch/${encodeURIComponent("feature/x")}`, "POST", { token: alice, json: {} }));
  const feature = await commit(hub.url, alice, id, [{ path: "config.json", content: '{"model_type":"roberta"}' }], { revision: "feature/x" });
  assert.notEqual(feature, main);

  await t.test("paths-info accepts Python's form body (repeated paths) and omits missing paths", async () => {
    const form = new URLSearchParams();
    for (const p of ["config.json", "sub dir/a b.txt", "model.safetensors", "does/not/exist", "nested"]) form.append("paths", p);
    form.append("expand", "False");
    const res = await request(`${hub.url}/api/models/${id}/paths-info/main`, "POST", { token: alice, body: form.toString(), contentType: "application/x-www-form-urlencoded" });
    assert.equal(res.status, 200, res.text);
    const entries = res.json<{ path: string; type: string; oid: string; size: number; lfs?: { oid: string; size: number }; lastCommit?: unknown }[]>();
    assert.deepEqual(entries.map((e) => e.path).sort(), ["config.json", "model.safetensors", "nested", "sub dir/a b.txt"]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.equal(byPath.get("config.json")!.oid, gitBlobSha1('{"model_type":"bert"}'));
    assert.equal(byPath.get("model.safetensors")!.lfs!.oid, sha256(weights));
    assert.equal(byPath.get("model.safetensors")!.size, weights.length);
    assert.equal(byPath.get("nested")!.type, "directory");
    assert.equal(byPath.get("config.json")!.lastCommit, undefined, "expand=False");

    // One path only (not a list) and expand=True.
    const single = await request(`${hub.url}/api/models/${id}/paths-info/main`, "POST", { body: "paths=config.json&expand=True", contentType: "application/x-www-form-urlencoded" });
    const [entry] = single.json<{ path: string; lastCommit: { id: string; title: string; date: string } }[]>();
    assert.equal(entry.path, "config.json");
    assert.equal(entry.lastCommit.id, main);
    assert.match(entry.lastCommit.date, /Z$/);

    // The JS JSON body gives the same entries.
    const json = await request(`${hub.url}/api/models/${id}/paths-info/main`, "POST", { json: { paths: ["config.json", "does/not/exist"], expand: false } });
    assert.deepEqual(json.json(), [entries.find((e) => e.path === "config.json")]);

    // An encoded branch name as the revision.
    const onBranch = await request(`${hub.url}/api/models/${id}/paths-info/feature%2Fx`, "POST", { body: "paths=config.json", contentType: "application/x-www-form-urlencoded" });
    assert.equal(onBranch.json<{ oid: string }[]>()[0].oid, gitBlobSha1('{"model_type":"roberta"}'));
  });

  await t.test("%2F-encoded revisions on /revision/ and /resolve/, and %2F in tree paths", async () => {
    const info = await request(`${hub.url}/api/models/${id}/revision/feature%2Fx`, "GET");
    assert.equal(info.status, 200, info.text);
    assert.equal(info.json<{ sha: string }>().sha, feature);
    const qualified = await request(`${hub.url}/api/models/${id}/revision/refs%2Fheads%2Ffeature%2Fx`, "GET");
    assert.equal(qualified.json<{ sha: string }>().sha, feature);
    assert.equal((await request(`${hub.url}/api/models/${id}/revision/main`, "GET")).json<{ sha: string }>().sha, main);
    assert.equal((await request(`${hub.url}/api/models/${id}/revision/HEAD`, "GET")).json<{ sha: string }>().sha, main);

    for (const method of ["GET", "HEAD"]) {
      const res = await request(`${hub.url}/${id}/resolve/feature%2Fx/config.json`, method);
      assert.equal(res.status, 200, `${method} ${res.text}`);
      assert.equal(res.headers.get("x-repo-commit"), feature);
      if (method === "GET") assert.equal(res.text, '{"model_type":"roberta"}');
    }
    // Python keeps "/" in file paths but encodes everything else.
    const spaced = await request(`${hub.url}/${id}/resolve/main/sub%20dir/a%20b.txt`, "GET");
    assert.equal(spaced.status, 200);
    assert.equal(spaced.text, "spaces");
    // An unknown encoded revision is RevisionNotFound, not a routing 404.
    assertError(await request(`${hub.url}/${id}/resolve/feature%2Fy/config.json`, "GET"), 404, "RevisionNotFound");
    assertError(await request(`${hub.url}/api/models/${id}/revision/feature%2Fy`, "GET"), 404, "RevisionNotFound");

    // tree: Python encodes the folder path including "/" (nested%2Finner).
    const tree = await request(`${hub.url}/api/models/${id}/tree/main/nested%2Finner?recursive=False&expand=False`, "GET");
    assert.equal(tree.status, 200, tree.text);
    assert.deepEqual(tree.json<{ path: string }[]>().map((e) => e.path), ["nested/inner/deep.txt"]);
    const treeOnBranch = await request(`${hub.url}/api/models/${id}/tree/feature%2Fx?recursive=True`, "GET");
    assert.equal(treeOnBranch.headers.get("x-repo-commit"), feature);
    // A missing folder is EntryNotFound (never RepoNotFound/RevisionNotFound: transformers relies on it).
    assertError(await request(`${hub.url}/api/models/${id}/tree/main/additional_chat_templates`, "GET"), 404, "EntryNotFound");
  });

  await t.test("expand=xetEnabled answers exactly {_id, id, xetEnabled: false}", async () => {
    for (const url of [`${hub.url}/api/models/${id}/revision/main?expand=xetEnabled`, `${hub.url}/api/models/${id}?expand=xetEnabled`]) {
      const res = await request(url, "GET", { token: alice });
      assert.equal(res.status, 200, res.text);
      const body = res.json<Record<string, unknown>>();
      assert.deepEqual(Object.keys(body).sort(), ["_id", "id", "xetEnabled"]);
      assert.equal(body.id, id);
      assert.equal(body.xetEnabled, false);
      assert.match(String(body._id), /^[0-9a-f]{24}$/);
    }
  });

  await t.test("create: private:true and visibility:private both make private repositories", async () => {
    for (const [name, body] of [
      ["old-private", { name: "old-private", organization: null, private: true }],
      ["new-private", { name: "new-private", organization: null, visibility: "private", type: "model" }],
      ["new-public", { name: "new-public", visibility: "public" }],
      ["old-public", { name: "old-public", private: false }],
    ] as const) {
      const res = await createRepoRaw(hub.url, alice, body);
      assert.equal(res.status, 200, res.text);
      const created = res.json<{ url: string; name: string; id: string }>();
      assert.equal(created.name, `alice/${name}`, "organization null/absent means the token's user");
      assert.equal(created.url, `${hub.url}/alice/${name}`);
      assert.match(created.id, /^[0-9a-f]{24}$/);
      const shouldBePrivate = name.endsWith("-private");
      assert.equal((await request(`${hub.url}/api/models/alice/${name}`, "GET", { token: alice })).json<{ private: boolean }>().private, shouldBePrivate, name);
      assert.equal((await request(`${hub.url}/api/models/alice/${name}`, "GET")).status, shouldBePrivate ? 401 : 200, name);
    }
    assertError(await createRepoRaw(hub.url, alice, { name: "bad-visibility", visibility: "secret" }), 400, "BadRequest");
    assertError(await createRepoRaw(hub.url, alice, { name: "bad-private", private: "yes" }), 400, "BadRequest");
    assert.equal(await hub.services.repos.find("model", "alice/bad-visibility"), undefined);

    // Datasets get the datasets/ prefix in their URL.
    const dataset = await createRepoRaw(hub.url, alice, { name: "table", organization: null, type: "dataset", private: true });
    assert.equal(dataset.json<{ url: string }>().url, `${hub.url}/datasets/alice/table`);
  });

  await t.test("re-creating an existing repository is 409 with JSON {error, url}", async () => {
    for (const body of [{ name: "shapes", organization: null }, { name: "shapes", organization: "alice", type: "model" }, { name: "SHAPES", organization: "alice" }]) {
      const res = await createRepoRaw(hub.url, alice, body);
      const message = assertError(res, 409, "RepoExists", JSON.stringify(body));
      const json = res.json<{ error: string; url: string }>();
      assert.equal(json.url, `${hub.url}/${id}`);
      assert.ok(json.error.length > 0);
      // Python retries forever on this text; a real conflict must never say it.
      assert.ok(!/another conflicting operation is in progress/.test(json.error + message));
    }
    // The existing repository is untouched.
    assert.equal((await request(`${hub.url}/api/models/${id}`, "GET")).json<{ sha: string }>().sha, main);
  });

  await t.test("DELETE /api/repos/delete without type deletes the model, not a same-named dataset", async () => {
    await createRepo(hub.url, alice, "alice/twin");
    await createRepo(hub.url, alice, "alice/twin", { type: "dataset" });
    const res = await request(`${hub.url}/api/repos/delete`, "DELETE", { token: alice, json: { name: "twin", organization: "alice" } });
    assert.equal(res.status, 200, res.text);
    assertError(await request(`${hub.url}/api/models/alice/twin`, "GET", { token: alice }), 404, "RepoNotFound");
    assert.equal((await request(`${hub.url}/api/datasets/alice/twin`, "GET", { token: alice })).status, 200);
    // organization null: the token's user; type dataset.
    assertOk(await request(`${hub.url}/api/repos/delete`, "DELETE", { token: alice, json: { name: "twin", organization: null, type: "dataset" } }));
    assertError(await request(`${hub.url}/api/datasets/alice/twin`, "GET", { token: alice }), 404, "RepoNotFound");
    // Missing: 404 RepoNotFound (Python's missing_ok swallows it).
    assertError(await request(`${hub.url}/api/repos/delete`, "DELETE", { token: alice, json: { name: "twin", organization: "alice" } }), 404, "RepoNotFound");
    // The name can be re-used.
    assert.equal(await createRepo(hub.url, alice, "alice/twin"), "alice/twin");
  });

  await t.test("POST /api/validate-yaml always answers JSON", async () => {
    const validate = (content: unknown) => request(`${hub.url}/api/validate-yaml`, "POST", { token: alice, json: { content, repoType: "model" } });
    for (const content of ["---\nlicense: mit\ntags:\n  - a\n---\n# Card\n", "# A card without front matter\n", "---\n---\nempty front matter\n"]) {
      const res = await validate(content);
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(res.json(), { errors: [], warnings: [] });
    }
    for (const content of ["---\nlicense: [mit\n---\n", "---\na: 1\na: 2\n---\n", "---\nlicense: mit\nno closing line\n", "---\n- just\n- a list\n---\n"]) {
      const res = await validate(content);
      assert.equal(res.status, 400, `${JSON.stringify(content)}: ${res.text}`);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      const body = res.json<{ errors: { message: string }[]; warnings: unknown[] }>();
      assert.ok(body.errors.length >= 1);
      for (const e of body.errors) assert.equal(typeof e.message, "string");
      assert.ok(Array.isArray(body.warnings));
    }
    // A body without content is still answered in JSON.
    const empty = await request(`${hub.url}/api/validate-yaml`, "POST", { json: {} });
    assert.equal(empty.status, 400);
    assert.ok(Array.isArray(empty.json<{ errors: unknown[] }>().errors));
  });

  await t.test("preupload decides lfs/regular, shouldIgnore and the existing oid", async () => {
    const text = (n: number) => Buffer.alloc(n, "a").toString("base64");
    const binary = (n: number) => Buffer.concat([Buffer.from([0x00, 0x01, 0x02]), Buffer.alloc(n - 3, 0x41)]).toString("base64");
    const files = [
      { path: "tiny.safetensors", size: 12, sample: text(12) }, // matches *.safetensors in .gitattributes
      { path: "big.txt", size: 10 * MiB, sample: text(512) }, // ≥ 10 MiB
      { path: "almost-big.txt", size: 10 * MiB - 1, sample: text(512) },
      { path: "blob.dat", size: MiB + 1, sample: binary(512) }, // binary and > 1 MiB
      { path: "small.dat", size: 1000, sample: binary(512) }, // binary but small
      { path: "long.txt", size: 2 * MiB, sample: text(512) }, // text, under 10 MiB
      { path: "empty.bin", size: 0, sample: "" }, // 0 bytes: regular even though *.bin is LFS
      { path: "config.json", size: 22, sample: text(22) },
      { path: "model.safetensors", size: weights.length, sample: weights.toString("base64") },
      { path: "logs/run.log", size: 10, sample: text(10) },
      { path: "cache.tmp", size: 10, sample: text(10) },
    ];
    const res = await request(`${hub.url}/api/models/${id}/preupload/main`, "POST", { token: alice, json: { files, gitIgnore: "logs/\n*.tmp\n" } });
    assert.equal(res.status, 200, res.text);
    const body = res.json<{ files: { path: string; uploadMode: string; shouldIgnore: boolean; oid?: string }[]; commitOid: string }>();
    assert.equal(body.commitOid, main);
    const got = Object.fromEntries(body.files.map((f) => [f.path, f]));
    const modes = Object.fromEntries(body.files.map((f) => [f.path, f.uploadMode]));
    assert.deepEqual(modes, {
      "tiny.safetensors": "lfs",
      "big.txt": "lfs",
      "almost-big.txt": "regular",
      "blob.dat": "lfs",
      "small.dat": "regular",
      "long.txt": "regular",
      "empty.bin": "regular",
      "config.json": "regular",
      "model.safetensors": "lfs",
      "logs/run.log": "regular",
      "cache.tmp": "regular",
    });
    for (const f of body.files) assert.equal(typeof f.shouldIgnore, "boolean", `${f.path} has shouldIgnore`);
    assert.deepEqual(body.files.filter((f) => f.shouldIgnore).map((f) => f.path).sort(), ["cache.tmp", "logs/run.log"]);
    assert.equal(got["config.json"].oid, gitBlobSha1('{"model_type":"bert"}'), "regular file: git blob sha1");
    assert.equal(got["model.safetensors"].oid, sha256(weights), "LFS file: sha256");
    assert.equal(got["big.txt"].oid, undefined, "new files have no oid");

    // On the branch, the oid is the branch's file.
    const onBranch = await request(`${hub.url}/api/models/${id}/preupload/feature%2Fx`, "POST", { token: alice, json: { files: [{ path: "config.json", size: 24, sample: text(24) }] } });
    assert.equal(onBranch.json<{ files: { oid: string }[] }>().files[0].oid, gitBlobSha1('{"model_type":"roberta"}'));
    // The JS client sends the .gitattributes being committed instead.
    const js = await request(`${hub.url}/api/models/${id}/preupload/main`, "POST", {
      token: alice,
      json: { files: [{ path: "weights.custom", size: 5, sample: text(5) }, { path: "tiny.safetensors", size: 5, sample: text(5) }], gitAttributes: "*.custom filter=lfs diff=lfs merge=lfs -text\n" },
    });
    assert.deepEqual(js.json<{ files: { uploadMode: string }[] }>().files.map((f) => f.uploadMode), ["lfs", "regular"]);
    // A missing repository: 404 RepoNotFound.
    assertError(await request(`${hub.url}/api/models/alice/nope/preupload/main`, "POST", { token: alice, json: { files } }), 404, "RepoNotFound");
  });

  await t.test("NDJSON commits with (Python) and without (JS) a trailing newline", async () => {
    const python = await commitRaw(hub.url, alice, id, [{ path: "py.txt", content: "from python" }, { path: "both.txt", content: "py" }], { style: "python", summary: "python style" });
    assert.equal(python.status, 200, python.text);
    const js = await commitRaw(hub.url, alice, id, [{ path: "js.txt", content: "from js" }, { path: "both.txt", content: "js" }], { style: "js", summary: "js style" });
    assert.equal(js.status, 200, js.text);
    for (const [file, content] of [["py.txt", "from python"], ["js.txt", "from js"], ["both.txt", "js"]]) {
      const res = await request(`${hub.url}/${id}/resolve/main/${file}`, "GET");
      assert.equal(res.text, content, file);
    }
    // The history shows both commits with their titles.
    const commits = await request(`${hub.url}/api/models/${id}/commits/main`, "GET");
    assert.deepEqual(commits.json<{ title: string }[]>().slice(0, 2).map((c) => c.title), ["js style", "python style"]);
    // CRLF line endings are tolerated too.
    const crlf = await request(`${hub.url}/api/models/${id}/commit/main`, "POST", {
      token: alice,
      contentType: "application/x-ndjson",
      body: `${JSON.stringify({ key: "header", value: { summary: "crlf" } })}\r\n${JSON.stringify({ key: "file", value: { path: "crlf.txt", content: Buffer.from("ok").toString("base64"), encoding: "base64" } })}\r\n`,
    });
    assert.equal(crlf.status, 200, crlf.text);
  });
});
