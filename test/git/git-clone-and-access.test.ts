// git over smart HTTP, read side and access rules, with the real git and git-lfs clients:
// cloning repositories written through the HTTP API (models with and without `.git`, a
// dataset), `git pull` after an API commit, and who may clone or push a private repository.

import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { apiRepoPath, commitFiles, createRepo, fileUrlPrefix, patternBytes, repoInfo, sha256, type CommitFile, type RepoType } from "../helpers/hub-http.ts";
import { apiHead, gitUser, historyIds, treeDigests, writeFile } from "./git-client.ts";

const OWNER = "alice";

/** The files every clone test commits through the API: small ones and an LFS one. */
function sampleFiles(seed: number): CommitFile[] {
  return [
    { path: "README.md", content: `---\nlicense: mit\n---\n# Sample ${seed}\n` },
    { path: "config.json", content: JSON.stringify({ model_type: "gpt2", seed }) },
    { path: "docs/notes/usage.txt", content: `use it wisely ${seed}\n`.repeat(100) },
    { path: "tokenizer/vocab.txt", content: patternBytes(200_000, seed).toString("base64") },
    { path: "weights/model.safetensors", content: patternBytes(3 * 1024 * 1024 + 17, seed + 1), lfs: true },
  ];
}

/**
 * Path → SHA-256 of what a clone must contain: what the API committed, plus the repository's
 * .gitattributes as /resolve serves it. Also checks the API tree lists exactly these paths.
 */
async function expectedDigests(hub: TestHub, repoId: string, repoType: RepoType, files: CommitFile[], token?: string): Promise<Map<string, string>> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const attributes = await fetch(`${hub.url}/${fileUrlPrefix(repoType)}${repoId}/resolve/main/.gitattributes`, { headers });
  assert.equal(attributes.status, 200);
  const expected = new Map<string, string>([[".gitattributes", sha256(Buffer.from(await attributes.arrayBuffer()))]]);
  for (const file of files) expected.set(file.path, sha256(Buffer.from(file.content)));
  const info = await repoInfo(hub.url, repoId, { repoType, token });
  const siblings = (info.siblings as { rfilename: string }[]).map((s) => s.rfilename).sort();
  assert.deepEqual(siblings, [...expected.keys()].sort(), "the API lists the same files the clone must contain");
  return new Map([...expected].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

test("git clone of API-written repositories gives every file byte for byte, LFS content smudged", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const anonymous = await gitUser(t);
  const work = tempDir(t);

  const cases: { title: string; type: RepoType; name: string; suffix: string; seed: number }[] = [
    { title: "model, URL without .git", type: "model", name: "clone-plain", suffix: "", seed: 11 },
    { title: "model, URL with .git", type: "model", name: "clone-dotgit", suffix: ".git", seed: 12 },
    { title: "dataset, URL without .git", type: "dataset", name: "clone-dataset", suffix: "", seed: 13 },
    { title: "dataset, URL with .git", type: "dataset", name: "clone-dataset-dotgit", suffix: ".git", seed: 14 },
  ];
  for (const c of cases) {
    await t.test(c.title, async () => {
      const repoId = await createRepo(hub.url, token, { name: c.name, type: c.type });
      const files = sampleFiles(c.seed);
      const head = await commitFiles(hub.url, token, repoId, files, { repoType: c.type });
      const expected = await expectedDigests(hub, repoId, c.type, files);

      const dir = path.join(work, c.name);
      await anonymous.ok(["clone", `${hub.url}/${fileUrlPrefix(c.type)}${repoId}${c.suffix}`, dir]);
      assert.deepEqual(treeDigests(dir), expected, "every file of the clone, LFS content included, has the committed bytes");
      assert.equal(await anonymous.ok(["rev-parse", "HEAD"], { cwd: dir }), head, "the clone is at the API's head commit");
      // git-lfs really handled the LFS file: it is a pointer in git, the content in the work tree.
      assert.match(await anonymous.ok(["lfs", "ls-files", "--long"], { cwd: dir }), new RegExp(`${sha256(files[4].content)} \\* weights/model\\.safetensors`));
      const stored = await anonymous.ok(["cat-file", "-p", "HEAD:weights/model.safetensors"], { cwd: dir });
      assert.match(stored, /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:[0-9a-f]{64}\nsize 3145745$/);
    });
  }
});

test("git pull brings in a commit made through the HTTP API", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const alice = await gitUser(t, { token });
  const repoId = await createRepo(hub.url, token, { name: "pull-me" });
  await commitFiles(hub.url, token, repoId, [{ path: "config.json", content: '{"v":1}' }]);
  const dir = path.join(tempDir(t), "clone");
  await alice.ok(["clone", `${hub.url}/${repoId}`, dir]);
  assert.equal(treeDigests(dir).get("config.json"), sha256('{"v":1}'));

  const changed = [
    { path: "config.json", content: '{"v":2}' },
    { path: "new/notes.md", content: "added through the API\n" },
    { path: "new/extra.bin", content: patternBytes(100_000, 5), lfs: true },
  ];
  const apiCommit = await commitFiles(hub.url, token, repoId, changed, { summary: "API change" });
  await alice.ok(["pull"], { cwd: dir });

  const digests = treeDigests(dir);
  for (const file of changed) assert.equal(digests.get(file.path), sha256(file.content), `${file.path} after pull`);
  assert.equal(await alice.ok(["rev-parse", "HEAD"], { cwd: dir }), apiCommit);
  assert.equal(await alice.ok(["log", "-1", "--format=%s"], { cwd: dir }), "API change");
});

test("private repository: the owner's token clones and pushes; others get git's not-found or an authentication error", async (t) => {
  const hub = await startHub(t);
  const aliceToken = await hub.token(OWNER);
  const bobToken = await hub.token("bob");
  const alice = await gitUser(t, { token: aliceToken, name: "Alice" });
  const bob = await gitUser(t, { token: bobToken, name: "Bob" });
  const anonymous = await gitUser(t);
  const work = tempDir(t);
  const repoId = await createRepo(hub.url, aliceToken, { name: "secret", private: true });
  const files = sampleFiles(21);
  await commitFiles(hub.url, aliceToken, repoId, files);
  const url = `${hub.url}/${repoId}`;
  const api = apiRepoPath(repoId);

  await t.test("the owner clones with the token from the credential helper (git and git-lfs both authenticate)", async () => {
    const dir = path.join(work, "alice");
    await alice.ok(["clone", url, dir]);
    assert.deepEqual(treeDigests(dir), await expectedDigests(hub, repoId, "model", files, aliceToken));
  });

  await t.test("the owner pushes, including an LFS file, and the API shows the pushed commit", async () => {
    const dir = path.join(work, "alice");
    const lfsContent = patternBytes(1024 * 1024, 22);
    writeFile(dir, "pushed/notes.txt", "pushed with git\n");
    writeFile(dir, "pushed/tensor.bin", lfsContent);
    await alice.ok(["add", "-A"], { cwd: dir });
    await alice.ok(["commit", "-m", "push to a private repo"], { cwd: dir });
    const pushed = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });
    await alice.ok(["push", "origin", "main"], { cwd: dir });
    assert.equal(await apiHead(hub.url, api, aliceToken), pushed);
    const resolved = await fetch(`${url}/resolve/main/pushed/tensor.bin`, { headers: { Authorization: `Bearer ${aliceToken}` } });
    assert.equal(resolved.status, 200);
    assert.equal(sha256(Buffer.from(await resolved.arrayBuffer())), sha256(lfsContent));
  });

  await t.test("another user's token: git reports the repository as not found (HTTP 404), nothing is cloned", async () => {
    const info = await fetch(`${url}/info/refs?service=git-upload-pack`, { headers: { Authorization: `Basic ${Buffer.from(`bob:${bobToken}`).toString("base64")}` } });
    assert.equal(info.status, 404);
    const dir = path.join(work, "bob");
    const result = await bob.git(["clone", url, dir]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /repository '[^']*' not found/, result.stderr);
    assert.doesNotMatch(result.stderr, /could not read Username/);
  });

  await t.test("another user's token cannot push either (the repository stays invisible)", async () => {
    const before = await apiHead(hub.url, api, aliceToken);
    const result = await bob.git(["push", url, "main"], { cwd: path.join(work, "alice") });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /not found/, result.stderr);
    assert.equal(await apiHead(hub.url, api, aliceToken), before);
  });

  await t.test("anonymous: the hub asks for credentials (401 Basic) and git, unable to prompt, fails to authenticate", async () => {
    const info = await fetch(`${url}/info/refs?service=git-upload-pack`);
    assert.equal(info.status, 401);
    assert.equal(info.headers.get("www-authenticate"), 'Basic realm="Agora"');
    const dir = path.join(work, "anonymous");
    const result = await anonymous.git(["clone", url, dir]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /could not read Username for 'http:\/\/127\.0\.0\.1:\d+': terminal prompts disabled/, result.stderr);
  });

  await t.test("the history holds the API commit and the pushed one", async () => {
    const history = await historyIds(hub.url, api, aliceToken);
    assert.equal(history.length, 3, "initial commit, API commit, pushed commit");
  });
});
