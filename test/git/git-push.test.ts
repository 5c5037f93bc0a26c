// git push over smart HTTP with the real git and git-lfs clients: a large LFS file read back
// through /resolve and the official JS client, the API following the push (sha, lastModified,
// cardData, listing order), pushes Agora refuses (with the message the user sees in git's
// output, and nothing changed on the hub), and pushing branches and tags.

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { downloadFile } from "@huggingface/hub";
import { startHub, tempDir } from "../helpers/server.ts";
import { apiRepoPath, commitFiles, createRepo, lfsPointer, patternBytes, repoInfo, sha256 } from "../helpers/hub-http.ts";
import { apiHead, gitUser, historyIds, treeDigests, writeFile } from "./git-client.ts";

const OWNER = "alice";

test("pushing a 50 MB LFS file: /resolve and the JS client return it, and the API follows the push", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const alice = await gitUser(t, { token, name: "Alice" });
  const repoId = await createRepo(hub.url, token, { name: "big-push" });
  const api = apiRepoPath(repoId);
  const before = await repoInfo(hub.url, repoId);
  // A repository modified later, so "first in the listing" really means the push moved ours.
  const otherId = await createRepo(hub.url, token, { name: "created-later" });
  await commitFiles(hub.url, token, otherId, [{ path: "a.txt", content: "a" }]);
  const listedFirst = async () => ((await (await fetch(`${hub.url}/api/models?sort=lastModified&direction=-1`)).json()) as { id: string }[])[0].id;
  assert.equal(await listedFirst(), otherId);

  const dir = path.join(tempDir(t), "clone");
  await alice.ok(["clone", `${hub.url}/${repoId}`, dir]);
  await alice.ok(["lfs", "track", "*.weights"], { cwd: dir });
  const big = randomBytes(50 * 1024 * 1024);
  writeFile(dir, "checkpoints/model.weights", big);
  const readme = "---\nlicense: apache-2.0\nlanguage:\n- en\ntags:\n- pushed-with-git\npipeline_tag: text-generation\n---\n# Big push\n\nWeights pushed with git-lfs.\n";
  writeFile(dir, "README.md", readme);
  await alice.ok(["add", "-A"], { cwd: dir });
  await alice.ok(["commit", "-m", "Add weights with git-lfs"], { cwd: dir });
  const pushed = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });
  // The weights really are an LFS pointer in the commit, not a 50 MB blob.
  assert.equal(await alice.ok(["cat-file", "-p", "HEAD:checkpoints/model.weights"], { cwd: dir }), lfsPointer(big).trim());
  await alice.ok(["push", "origin", "main"], { cwd: dir });

  // Checked first, right after `git push` returned: the listing metadata must already follow.
  await t.test("repo info: sha is the pushed commit, lastModified moved, cardData is the README's front matter", async () => {
    const info = await repoInfo(hub.url, repoId);
    assert.equal(info.sha, pushed);
    assert.ok(Date.parse(info.lastModified as string) > Date.parse(before.lastModified as string), `lastModified ${info.lastModified} after ${before.lastModified}`);
    assert.deepEqual(info.cardData, { license: "apache-2.0", language: ["en"], tags: ["pushed-with-git"], pipeline_tag: "text-generation" });
    assert.equal(info.pipeline_tag, "text-generation");
    assert.ok((info.tags as string[]).includes("pushed-with-git"), `tags ${JSON.stringify(info.tags)}`);
    const siblings = (info.siblings as { rfilename: string }[]).map((s) => s.rfilename).sort();
    assert.deepEqual(siblings, [".gitattributes", "README.md", "checkpoints/model.weights"]);
  });

  await t.test("the listing sorted by lastModified puts the pushed repository first", async () => {
    assert.equal(await listedFirst(), repoId);
  });

  await t.test("/resolve returns the pushed bytes", async () => {
    const response = await fetch(`${hub.url}/${repoId}/resolve/main/checkpoints/model.weights`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-repo-commit"), pushed);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), sha256(big));
  });

  await t.test("the official JS client (@huggingface/hub downloadFile) returns the pushed bytes", async () => {
    const blob = await downloadFile({ hubUrl: hub.url, repo: repoId, path: "checkpoints/model.weights" });
    assert.ok(blob, "downloadFile found the file");
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(big));
    const readmeBlob = await downloadFile({ hubUrl: hub.url, repo: repoId, path: "README.md" });
    assert.equal(await readmeBlob?.text(), readme);
  });

  await t.test("the tree and the commit history show the push", async () => {
    const tree = (await (await fetch(`${hub.url}${api}/tree/main/checkpoints`)).json()) as { path: string; size: number; lfs?: { oid: string; size: number } }[];
    assert.deepEqual(
      tree.map((e) => ({ path: e.path, size: e.size, lfs: e.lfs && { oid: e.lfs.oid, size: e.lfs.size } })),
      [{ path: "checkpoints/model.weights", size: big.length, lfs: { oid: sha256(big), size: big.length } }],
    );
    const commits = (await (await fetch(`${hub.url}${api}/commits/main`)).json()) as { id: string; title: string }[];
    assert.equal(commits[0].id, pushed);
    assert.equal(commits[0].title, "Add weights with git-lfs");
  });
});

test("when git push returns, the listing metadata already follows the pushed head", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const alice = await gitUser(t, { token, name: "Alice" });
  const repoId = await createRepo(hub.url, token, { name: "follow-me" });
  const dir = path.join(tempDir(t), "clone");
  await alice.ok(["clone", `${hub.url}/${repoId}`, dir]);
  // Several rounds: the listing update must be part of the push, not something that follows it.
  for (let round = 1; round <= 5; round++) {
    writeFile(dir, "README.md", `---\ntags:\n- round-${round}\n---\n# Round ${round}\n`);
    await alice.ok(["add", "-A"], { cwd: dir });
    await alice.ok(["commit", "-m", `round ${round}`], { cwd: dir });
    const before = (await repoInfo(hub.url, repoId)).lastModified as string;
    await alice.ok(["push", "origin", "main"], { cwd: dir });
    const info = await repoInfo(hub.url, repoId);
    assert.ok(Date.parse(info.lastModified as string) > Date.parse(before), `round ${round}: lastModified ${info.lastModified} after ${before}`);
    assert.ok((info.tags as string[]).includes(`round-${round}`), `round ${round}: tags ${JSON.stringify(info.tags)}`);
    const listed = (await (await fetch(`${hub.url}/api/models?search=follow-me&cardData=true`)).json()) as { id: string; sha: string; cardData?: { tags?: string[] } }[];
    assert.deepEqual(listed.map((r) => [r.id, r.sha, r.cardData?.tags]), [[repoId, await alice.ok(["rev-parse", "HEAD"], { cwd: dir }), [`round-${round}`]]]);
  }
});

test("pushes Agora refuses leave the repository unchanged and tell the user why", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const readToken = await hub.token(OWNER, "read");
  const alice = await gitUser(t, { token, name: "Alice" });
  const aliceRead = await gitUser(t, { token: readToken, name: "Alice" });
  const anonymous = await gitUser(t);
  const work = tempDir(t);
  const repoId = await createRepo(hub.url, token, { name: "guarded" });
  const api = apiRepoPath(repoId);
  await commitFiles(hub.url, token, repoId, [{ path: "config.json", content: "{}" }]);
  const url = `${hub.url}/${repoId}`;
  const head = await apiHead(hub.url, api);
  const history = await historyIds(hub.url, api);

  /** A fresh clone by `user` with one new local commit containing `files`. */
  async function cloneWithCommit(user: typeof alice, name: string, files: Record<string, Buffer | string>): Promise<string> {
    const dir = path.join(work, name);
    await user.ok(["clone", url, dir]);
    for (const [file, content] of Object.entries(files)) writeFile(dir, file, content);
    await user.ok(["add", "-A"], { cwd: dir });
    await user.ok(["commit", "-m", `commit ${name}`], { cwd: dir });
    return dir;
  }

  async function assertUnchanged() {
    assert.equal(await apiHead(hub.url, api), head, "main did not move");
    assert.deepEqual(await historyIds(hub.url, api), history, "history unchanged");
  }

  await t.test("anonymous push: 401 with a Basic challenge; git cannot authenticate", async () => {
    const info = await fetch(`${url}/info/refs?service=git-receive-pack`);
    assert.equal(info.status, 401);
    assert.equal(info.headers.get("www-authenticate"), 'Basic realm="Agora"');
    const dir = await cloneWithCommit(anonymous, "anonymous", { "anon.txt": "anonymous change\n" });
    const result = await anonymous.git(["push", "origin", "main"], { cwd: dir });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /could not read Username for 'http:\/\/127\.0\.0\.1:\d+': terminal prompts disabled/, result.stderr);
    await assertUnchanged();
  });

  await t.test("push with a read token: 403", async () => {
    const dir = await cloneWithCommit(aliceRead, "read-token", { "read.txt": "read-only change\n" });
    const result = await aliceRead.git(["push", "origin", "main"], { cwd: dir });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /The requested URL returned error: 403/, result.stderr);
    await assertUnchanged();
  });

  await t.test("a regular (non-LFS) file over 10 MiB: refused, and git shows how to use git lfs track", async () => {
    const dir = await cloneWithCommit(alice, "oversize", { "data/huge.raw": patternBytes(11 * 1024 * 1024, 3), "small.txt": "fine\n" });
    // Not an LFS file: the commit holds the 11 MiB blob itself.
    assert.equal(await alice.ok(["cat-file", "-s", "HEAD:data/huge.raw"], { cwd: dir }), String(11 * 1024 * 1024));
    const result = await alice.git(["push", "origin", "main"], { cwd: dir });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /remote: .*data\/huge\.raw is 11\.0 MiB/, result.stderr);
    assert.match(result.stderr, /remote: .*git lfs track "data\/huge\.raw"/, result.stderr);
    assert.match(result.stderr, /! \[remote rejected\] main -> main \(pre-receive hook declined\)/, result.stderr);
    await assertUnchanged();
  });

  await t.test("an LFS pointer to an object never uploaded: refused, and git shows how to use git lfs push", async () => {
    // Crafted by hand: a pointer file to content nobody has, pushed with git-lfs's upload skipped.
    const ghost = randomBytes(4096);
    const dir = await cloneWithCommit(alice, "ghost", { "weights/ghost.bin": lfsPointer(ghost) });
    assert.equal(await alice.ok(["cat-file", "-p", "HEAD:weights/ghost.bin"], { cwd: dir }), lfsPointer(ghost).trim());
    const result = await alice.git(["push", "origin", "main"], { cwd: dir, env: { GIT_LFS_SKIP_PUSH: "1" } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, new RegExp(`remote: .*weights/ghost\\.bin points to LFS object ${sha256(ghost)}, which was never uploaded`), result.stderr);
    assert.match(result.stderr, /remote: .*git lfs push/, result.stderr);
    assert.match(result.stderr, /! \[remote rejected\] main -> main \(pre-receive hook declined\)/, result.stderr);
    await assertUnchanged();
  });

  await t.test("git push --delete origin main: refused", async () => {
    const dir = path.join(work, "refs");
    await alice.ok(["clone", url, dir]);
    const result = await alice.git(["push", "--delete", "origin", "main"], { cwd: dir });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /remote: .*the default branch cannot be deleted/, result.stderr);
    assert.match(result.stderr, /! \[remote rejected\] main \(pre-receive hook declined\)/, result.stderr);
    const refs = (await (await fetch(`${hub.url}${api}/refs`)).json()) as { branches: { name: string; targetCommit: string }[] };
    assert.deepEqual(refs.branches, [{ name: "main", ref: "refs/heads/main", targetCommit: head }]);
    await assertUnchanged();
  });

  await t.test("refs other than branches and tags: refused", async () => {
    const dir = path.join(work, "refs");
    const result = await alice.git(["push", "origin", "HEAD:refs/pr/1", "HEAD:refs/notes/mine"], { cwd: dir });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /remote: .*refs\/pr\/1: only branches and tags can be pushed/, result.stderr);
    const refs = (await (await fetch(`${hub.url}${api}/refs?include_prs=1`)).json()) as { pullRequests: unknown[] };
    assert.deepEqual(refs.pullRequests, []);
    await assertUnchanged();
  });

  await t.test("after all refusals an ordinary push still works", async () => {
    const dir = await cloneWithCommit(alice, "fine", { "fine.txt": "accepted\n" });
    await alice.ok(["push", "origin", "main"], { cwd: dir });
    const pushed = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });
    assert.equal(await apiHead(hub.url, api), pushed);
    assert.deepEqual(await historyIds(hub.url, api), [pushed, ...history]);
  });
});

test("pushing a new branch and tags: they show in GET /api/models/{id}/refs", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const alice = await gitUser(t, { token, name: "Alice" });
  const repoId = await createRepo(hub.url, token, { name: "branches" });
  const api = apiRepoPath(repoId);
  const dir = path.join(tempDir(t), "clone");
  await alice.ok(["clone", `${hub.url}/${repoId}`, dir]);
  const mainHead = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });

  await alice.ok(["switch", "-c", "feature/tokenizer"], { cwd: dir });
  writeFile(dir, "tokenizer.json", '{"version":"1.0"}');
  await alice.ok(["add", "-A"], { cwd: dir });
  await alice.ok(["commit", "-m", "Tokenizer on a branch"], { cwd: dir });
  const branchHead = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });
  await alice.ok(["tag", "-a", "v1.0", "-m", "first release"], { cwd: dir });
  await alice.ok(["tag", "light", mainHead], { cwd: dir });
  await alice.ok(["push", "origin", "feature/tokenizer", "v1.0", "light"], { cwd: dir });

  const refs = (await (await fetch(`${hub.url}${api}/refs`)).json()) as Record<string, { name: string; ref: string; targetCommit: string }[]>;
  const byName = (list: { name: string; ref: string; targetCommit: string }[]) => Object.fromEntries(list.map((r) => [r.name, r]));
  assert.deepEqual(byName(refs.branches), {
    main: { name: "main", ref: "refs/heads/main", targetCommit: mainHead },
    "feature/tokenizer": { name: "feature/tokenizer", ref: "refs/heads/feature/tokenizer", targetCommit: branchHead },
  });
  // The annotated tag is shown by the commit it points to.
  assert.deepEqual(byName(refs.tags), {
    "v1.0": { name: "v1.0", ref: "refs/tags/v1.0", targetCommit: branchHead },
    light: { name: "light", ref: "refs/tags/light", targetCommit: mainHead },
  });

  // Both are usable revisions of the API; main did not move.
  const atBranch = await repoInfo(hub.url, repoId, { revision: "feature/tokenizer" });
  assert.equal(atBranch.sha, branchHead);
  const atTag = await fetch(`${hub.url}/${repoId}/resolve/v1.0/tokenizer.json`);
  assert.equal(await atTag.text(), '{"version":"1.0"}');
  assert.equal(await apiHead(hub.url, api), mainHead);

  // A fresh clone sees the branch and the tags.
  const second = path.join(tempDir(t), "second");
  await alice.ok(["clone", "--branch", "feature/tokenizer", `${hub.url}/${repoId}`, second]);
  assert.equal(treeDigests(second).get("tokenizer.json"), sha256('{"version":"1.0"}'));
  assert.deepEqual((await alice.ok(["tag", "--list"], { cwd: second })).split("\n").sort(), ["light", "v1.0"]);

  // Deleting the pushed branch and a tag works (only main is protected).
  await alice.ok(["push", "--delete", "origin", "feature/tokenizer", "light"], { cwd: dir });
  const after = (await (await fetch(`${hub.url}${api}/refs`)).json()) as Record<string, { name: string }[]>;
  assert.deepEqual(after.branches.map((b) => b.name), ["main"]);
  assert.deepEqual(after.tags.map((b) => b.name), ["v1.0"]);
  assert.ok(fs.existsSync(path.join(second, ".git")));
});
