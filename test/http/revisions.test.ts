// Every spelling of a revision the clients send (hub-api.md §2.3, §14 items 11 and 15):
// branch, tag (lightweight and annotated), full and abbreviated commit ids, refs/pr/N encoded
// (Python) and raw (JS), HEAD, a branch with a slash, and unknown revisions. Each must resolve
// to the same commit on /resolve (X-Repo-Commit), on repo info (sha), on tree and paths-info.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startHub } from "../helpers/server.ts";
import { assertHubError, commitFiles, createBranch, createRepo, createTag, repoInfo } from "../helpers/hub-http.ts";

test("revisions: every spelling resolves to the right commit", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "revs" });
  const c1 = await commitFiles(hub.url, token, id, [{ path: "config.json", content: '{"v":1}' }], { summary: "first" });
  await createTag(hub.url, token, id, "v1");
  await createTag(hub.url, token, id, "v1-annotated", { message: "release one" });
  const c2 = await commitFiles(hub.url, token, id, [{ path: "config.json", content: '{"v":2}' }], { summary: "second" });
  await createBranch(hub.url, token, id, "feature/x", { startingPoint: c1 });
  const c3 = await commitFiles(hub.url, token, id, [{ path: "config.json", content: '{"v":3}' }], { summary: "on feature/x", revision: "feature/x" });
  // A pull request ref: a commit on a scratch branch, pointed at by refs/pr/1, scratch branch removed.
  await createBranch(hub.url, token, id, "scratch", { startingPoint: c1 });
  const pr = await commitFiles(hub.url, token, id, [{ path: "config.json", content: '{"v":"pr"}' }], { summary: "pr", revision: "scratch" });
  const repo = (await hub.services.repos.find("model", id))!;
  const gitDir = hub.services.repos.repoDir(repo);
  execFileSync("git", [`--git-dir=${gitDir}`, "update-ref", "refs/pr/1", pr]);
  const del = await fetch(`${hub.url}/api/models/${id}/branch/scratch`, { method: "DELETE", headers: { Authorization: `Bearer ${token}` } });
  assert.equal(del.status, 200);

  assert.equal(new Set([c1, c2, c3, pr]).size, 4);
  const contentOf = new Map([[c1, '{"v":1}'], [c2, '{"v":2}'], [c3, '{"v":3}'], [pr, '{"v":"pr"}']]);

  // [revision as it appears in the URL, expected commit]
  const spellings: [string, string][] = [
    ["main", c2],
    ["HEAD", c2],
    ["refs%2Fheads%2Fmain", c2],
    ["v1", c1],
    ["v1-annotated", c1],
    [c1, c1],
    [c1.slice(0, 7), c1],
    [c3.slice(0, 12), c3],
    ["refs%2Fpr%2F1", pr],
    ["refs/pr/1", pr],
    ["feature%2Fx", c3],
  ];

  await t.test("/resolve: X-Repo-Commit and content for each spelling (GET and HEAD)", async () => {
    for (const [rev, commit] of spellings) {
      const get = await fetch(`${hub.url}/${id}/resolve/${rev}/config.json`);
      assert.equal(get.status, 200, rev);
      assert.equal(get.headers.get("x-repo-commit"), commit, rev);
      assert.equal(await get.text(), contentOf.get(commit), rev);
      const head = await fetch(`${hub.url}/${id}/resolve/${rev}/config.json`, { method: "HEAD" });
      assert.equal(head.status, 200, rev);
      assert.equal(head.headers.get("x-repo-commit"), commit, rev);
    }
  });

  await t.test("EntryNotFound at each spelling carries that spelling's commit", async () => {
    for (const [rev, commit] of spellings) {
      const res = await fetch(`${hub.url}/${id}/resolve/${rev}/missing.txt`);
      await assertHubError(res, 404, "EntryNotFound");
      assert.equal(res.headers.get("x-repo-commit"), commit, rev);
    }
  });

  await t.test("repo info at /revision/{rev} reports that sha", async () => {
    for (const [rev, commit] of spellings) {
      const res = await fetch(`${hub.url}/api/models/${id}/revision/${rev}`);
      assert.equal(res.status, 200, rev);
      const info = (await res.json()) as { sha: string; id: string; siblings: { rfilename: string }[] };
      assert.equal(info.sha, commit, rev);
      assert.equal(info.id, id);
      assert.ok(info.siblings.some((s) => s.rfilename === "config.json"));
    }
    // without /revision: the default branch
    assert.equal((await repoInfo(hub.url, id)).sha, c2);
  });

  await t.test("tree and paths-info accept the same spellings", async () => {
    for (const [rev, commit] of spellings) {
      const tree = await fetch(`${hub.url}/api/models/${id}/tree/${rev}`);
      assert.equal(tree.status, 200, rev);
      const entries = (await tree.json()) as { path: string; oid: string }[];
      assert.ok(entries.some((e) => e.path === "config.json"), rev);

      const info = await fetch(`${hub.url}/api/models/${id}/paths-info/${rev}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ paths: ["config.json"], expand: true }),
      });
      assert.equal(info.status, 200, rev);
      const [entry] = (await info.json()) as { path: string; lastCommit: { id: string } }[];
      assert.equal(entry.path, "config.json");
      assert.equal(entry.lastCommit.id, commit, rev);
    }
  });

  await t.test("unknown revisions: 404 RevisionNotFound everywhere", async () => {
    const unknown = ["nope", "refs%2Fpr%2F99", "refs/pr/99", "0000000000000000000000000000000000000000", "deadbee", "feature"];
    for (const rev of unknown) {
      const resolve = await fetch(`${hub.url}/${id}/resolve/${rev}/config.json`);
      await assertHubError(resolve, 404, "RevisionNotFound");
      assert.ok(resolve.headers.get("x-request-id"));
      const head = await fetch(`${hub.url}/${id}/resolve/${rev}/config.json`, { method: "HEAD" });
      assert.equal(head.status, 404, rev);
      assert.equal(head.headers.get("x-error-code"), "RevisionNotFound", rev);
      await assertHubError(await fetch(`${hub.url}/api/models/${id}/revision/${rev}`), 404, "RevisionNotFound");
      await assertHubError(await fetch(`${hub.url}/api/models/${id}/tree/${rev}`), 404, "RevisionNotFound");
      await assertHubError(await fetch(`${hub.url}/api/models/${id}/commits/${rev}`), 404, "RevisionNotFound");
      await assertHubError(
        await fetch(`${hub.url}/api/models/${id}/paths-info/${rev}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"paths":["config.json"]}' }),
        404,
        "RevisionNotFound",
      );
    }
  });

  await t.test("a commit id is immutable: the answer does not change when the branch moves", async () => {
    const before = await fetch(`${hub.url}/${id}/resolve/${c2}/config.json`);
    assert.equal(before.headers.get("x-repo-commit"), c2);
    const etag = before.headers.get("etag");
    await before.arrayBuffer();
    const c4 = await commitFiles(hub.url, token, id, [{ path: "config.json", content: '{"v":4}' }]);
    const pinned = await fetch(`${hub.url}/${id}/resolve/${c2}/config.json`);
    assert.equal(pinned.headers.get("x-repo-commit"), c2);
    assert.equal(pinned.headers.get("etag"), etag);
    assert.equal(await pinned.text(), '{"v":2}');
    const moved = await fetch(`${hub.url}/${id}/resolve/main/config.json`);
    assert.equal(moved.headers.get("x-repo-commit"), c4);
    assert.notEqual(moved.headers.get("etag"), etag);
    assert.equal(await moved.text(), '{"v":4}');
  });
});
