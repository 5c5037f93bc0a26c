// One-segment legacy repository ids (`gpt2`, hub-api.md §2.2): routes must accept 1- and
// 2-segment ids side by side, for downloads and for the API.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { startHub } from "../helpers/server.ts";
import { assertHubError, commitBody, commitFiles, createRepo, gitBlobSha1, rawRequest } from "../helpers/hub-http.ts";

const CONFIG = '{"model_type":"gpt2","n_layer":12}';

test("legacy one-segment id gpt2", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  // gpt2 has no namespace, so no user may write to it over HTTP: fill it through the commits service.
  const legacy = await hub.services.repos.createUnchecked("model", "", "gpt2");
  const caller = await hub.services.accounts.authenticate(token);
  const parsed = await hub.services.commits.parseCommitBody(
    legacy,
    Readable.from([Buffer.from(commitBody("add config", undefined, [{ path: "config.json", content: CONFIG }, { path: "sub/x.txt", content: "x\n" }]))]),
  );
  const { commitOid: sha } = await hub.services.commits.commit(caller, legacy, "main", parsed.header, parsed.operations);
  await parsed.cleanup();
  // A two-segment repository whose name is also gpt2, to make sure the two never mix.
  const twoSeg = await createRepo(hub.url, token, { name: "gpt2" });
  const twoSegSha = await commitFiles(hub.url, token, twoSeg, [{ path: "config.json", content: '{"other":true}' }]);
  assert.equal(twoSeg, "alice/gpt2");

  await t.test("/gpt2/resolve/main/config.json: GET and HEAD", async () => {
    const get = await rawRequest(`${hub.url}/gpt2/resolve/main/config.json`);
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), CONFIG);
    assert.equal(get.headers["x-repo-commit"], sha);
    assert.equal(get.headers.etag, `"${gitBlobSha1(CONFIG)}"`);
    const head = await fetch(`${hub.url}/gpt2/resolve/main/config.json`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(CONFIG.length));
    assert.equal(head.headers.get("x-repo-commit"), sha);
    const nested = await rawRequest(`${hub.url}/gpt2/resolve/${sha}/sub/x.txt`);
    assert.equal(nested.body.toString(), "x\n");
    const missing = await fetch(`${hub.url}/gpt2/resolve/main/missing.json`);
    await assertHubError(missing, 404, "EntryNotFound");
    assert.equal(missing.headers.get("x-repo-commit"), sha);
  });

  await t.test("the two-segment alice/gpt2 is a different repository", async () => {
    const res = await fetch(`${hub.url}/alice/gpt2/resolve/main/config.json`);
    assert.equal(res.headers.get("x-repo-commit"), twoSegSha);
    assert.equal(await res.text(), '{"other":true}');
    const info = (await (await fetch(`${hub.url}/api/models/alice/gpt2`)).json()) as { id: string; sha: string };
    assert.deepEqual([info.id, info.sha], ["alice/gpt2", twoSegSha]);
  });

  await t.test("/api/models/gpt2 and /api/models/gpt2/revision/main", async () => {
    for (const path of ["/api/models/gpt2", "/api/models/gpt2/revision/main", "/api/models/gpt2/revision/HEAD", `/api/models/gpt2/revision/${sha}`]) {
      const res = await fetch(`${hub.url}${path}`);
      assert.equal(res.status, 200, path);
      const info = (await res.json()) as { id: string; sha: string; _id: string; siblings: { rfilename: string }[] };
      assert.equal(info.id, "gpt2", path);
      assert.equal(info.sha, sha, path);
      assert.match(info._id, /^[0-9a-f]{24}$/);
      assert.deepEqual(info.siblings.map((s) => s.rfilename).sort(), [".gitattributes", "config.json", "sub/x.txt"]);
    }
    const xet = (await (await fetch(`${hub.url}/api/models/gpt2?expand=xetEnabled`)).json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(xet).sort(), ["_id", "id", "xetEnabled"]);
    assert.equal(xet.id, "gpt2");
  });

  await t.test("tree, paths-info, refs and commits of gpt2", async () => {
    const tree = (await (await fetch(`${hub.url}/api/models/gpt2/tree/main`)).json()) as { path: string; type: string }[];
    assert.deepEqual(tree.map((e) => e.path).sort(), [".gitattributes", "config.json", "sub"]);
    const sub = (await (await fetch(`${hub.url}/api/models/gpt2/tree/main/sub?recursive=true`)).json()) as { path: string }[];
    assert.deepEqual(sub.map((e) => e.path), ["sub/x.txt"]);
    const subEncoded = await fetch(`${hub.url}/api/models/gpt2/tree/main/sub%2F?recursive=true`);
    assert.equal(subEncoded.status, 200);
    await assertHubError(await fetch(`${hub.url}/api/models/gpt2/tree/main/nope`), 404, "EntryNotFound");

    const info = await fetch(`${hub.url}/api/models/gpt2/paths-info/main`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "paths=config.json&paths=nope",
    });
    assert.deepEqual(((await info.json()) as { path: string }[]).map((e) => e.path), ["config.json"]);

    const refs = (await (await fetch(`${hub.url}/api/models/gpt2/refs`)).json()) as { branches: { name: string; targetCommit: string }[] };
    assert.deepEqual(refs.branches, [{ name: "main", ref: "refs/heads/main", targetCommit: sha }]);

    const commits = (await (await fetch(`${hub.url}/api/models/gpt2/commits/main`)).json()) as { id: string; title: string }[];
    assert.equal(commits[0].id, sha);
    assert.equal(commits[0].title, "add config");
  });

  await t.test("an unknown one-segment id is RepoNotFound", async () => {
    await assertHubError(await fetch(`${hub.url}/api/models/gpt3`), 401, "RepoNotFound");
    await assertHubError(await fetch(`${hub.url}/gpt3/resolve/main/config.json`), 401, "RepoNotFound");
  });
});
