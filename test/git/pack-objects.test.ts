// API commits write loose git objects; Agora packs them off the request once enough have
// appeared (git/pack-objects.ts). What a user would notice if that were wrong: a clone or a
// download at an old revision missing something after a repack, a repository git fsck
// complains about, an object a commit still needs dropped with an old pack — or, without
// packing, clones of an active repository getting slower with every commit.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startHub, tempDir } from "../helpers/server.ts";
import { apiRepoPath, commitFiles, createRepo, sha256 } from "../helpers/hub-http.ts";
import { gitUser, historyIds } from "./git-client.ts";
import { countObjects, createObjectPacker } from "../../src/git/pack-objects.ts";
import { runGit } from "../../src/git/run-git.ts";

/** Runs git on the repository at `dir` as Agora does (GIT_DIR, no user config); throws on failure. */
async function gitIn(dir: string, args: string[], input?: string): Promise<string> {
  return (await runGit(dir, args, { input })).stdout.toString("utf8").trim();
}

/** A hub that packs at 12 loose objects, alice's token, and a new repository of hers with its directory. */
async function hubWithRepo(t: TestContext, name: string) {
  const hub = await startHub(t, { env: { AGORA_PACK_LOOSE_OBJECTS: "12" } });
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name });
  const dir = hub.services.repos.repoDir((await hub.services.reposStore.find("model", "alice", name))!);
  return { hub, token, id, dir };
}

test("API commits past the limit leave their objects packed; clones, old revisions and fsck are intact", async (t) => {
  const { hub, token, id, dir } = await hubWithRepo(t, "busy");

  const versions: { commit: string; content: string }[] = [];
  for (let i = 0; i < 8; i++) {
    const content = `step ${i}\n`.repeat(i + 1);
    versions.push({ commit: await commitFiles(hub.url, token, id, [{ path: `notes/${i}.txt`, content }, { path: "latest.txt", content }]), content });
  }
  await hub.services.objectPacker.idle();
  const counts = await countObjects(dir);
  assert.ok(counts.packs >= 1, `8 commits (4 objects each) against a limit of 12 made a pack: ${JSON.stringify(counts)}`);
  assert.ok(counts.loose < 12, `at most the objects written since the last repack stay loose: ${JSON.stringify(counts)}`);
  await gitIn(dir, ["fsck", "--strict", "--no-dangling"]);

  // Everything is still served: each old revision, the history, a clone.
  for (const { commit, content } of versions) {
    const response = await fetch(`${hub.url}/${id}/resolve/${commit}/latest.txt`);
    assert.equal(response.status, 200);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), sha256(content));
  }
  assert.equal((await historyIds(hub.url, apiRepoPath(id), token)).length, versions.length + 1, "8 commits and the initial one");
  const user = await gitUser(t, { token });
  const clone = path.join(tempDir(t), "busy");
  await user.ok(["clone", "--quiet", `${hub.url}/${id}`, clone]);
  assert.equal(await user.ok(["rev-list", "--count", "HEAD"], { cwd: clone }), String(versions.length + 1));
  assert.equal(fs.readFileSync(path.join(clone, "latest.txt"), "utf8"), versions.at(-1)!.content);
});

test("unreachable loose objects do not make every commit repack", async (t) => {
  const { hub, token, id, dir } = await hubWithRepo(t, "refused");
  // 30 objects no ref reaches (as a refused commit leaves them): a repack keeps them loose.
  await gitIn(dir, ["hash-object", "-w", "--stdin-paths"], Array.from({ length: 30 }, (_, i) => writeTemp(t, `orphan ${i}`)).join("\n") + "\n");

  await commitFiles(hub.url, token, id, [{ path: "a.txt", content: "a" }]);
  await hub.services.objectPacker.idle();
  const afterFirst = await countObjects(dir);
  assert.equal(afterFirst.packs, 1, "the first commit after the orphans packs the reachable objects");
  assert.ok(afterFirst.loose >= 30, `the unreachable objects stay loose: ${JSON.stringify(afterFirst)}`);

  for (const name of ["b.txt", "c.txt"]) await commitFiles(hub.url, token, id, [{ path: name, content: name }]);
  await hub.services.objectPacker.idle();
  assert.equal((await countObjects(dir)).packs, 1, "two more commits (8 objects) stay under the limit counted from what the last repack left");
});

test("a mirror's fetches of a few commits at a time are packed too", async (t) => {
  const upstream = await startHub(t);
  const token = await upstream.token("alice");
  const id = await createRepo(upstream.url, token, { name: "upstream-busy" });
  await commitFiles(upstream.url, token, id, [{ path: "README.md", content: "# busy\n" }]);
  // Every read revalidates (max age 0), so each upstream commit arrives by a fetch of its own.
  const mirror = await startHub(t, { env: { AGORA_UPSTREAM: upstream.url, AGORA_MIRROR_MAX_AGE: "0", AGORA_PACK_LOOSE_OBJECTS: "12" } });
  const info = async () => (await (await fetch(`${mirror.url}/api/models/${id}`)).json()) as { sha: string };
  await info();
  const dir = mirror.services.repos.repoDir((await mirror.services.reposStore.find("model", "alice", "upstream-busy"))!);

  let head = "";
  for (let i = 0; i < 6; i++) {
    head = await commitFiles(upstream.url, token, id, [{ path: `log/${i}.txt`, content: `entry ${i}\n` }]);
    assert.equal((await info()).sha, head, "the mirror followed the upstream");
  }
  await mirror.services.objectPacker.idle();
  const counts = await countObjects(dir);
  assert.ok(counts.packs >= 1 && counts.loose < 12, `the fetched objects were packed: ${JSON.stringify(counts)}`);
  await gitIn(dir, ["fsck", "--strict", "--no-dangling"]);
  const clone = path.join(tempDir(t), "mirrored");
  const user = await gitUser(t);
  await user.ok(["clone", "--quiet", `${mirror.url}/${id}`, clone]);
  assert.equal(await user.ok(["rev-parse", "HEAD"], { cwd: clone }), head);
  assert.equal(fs.readFileSync(path.join(clone, "log", "5.txt"), "utf8"), "entry 5\n");
});

test("folding the packs into one keeps objects that only an old pack held (a commit being written may need them)", async (t) => {
  const dir = path.join(tempDir(t), "fold.git");
  await gitIn(dir, ["init", "--quiet", "--bare", dir]);
  // An object no ref reaches, present only in a pack: what a deleted branch leaves behind.
  const orphan = await gitIn(dir, ["hash-object", "-w", "--stdin-paths"], writeTemp(t, "kept by nothing") + "\n");
  await gitIn(dir, ["pack-objects", "--quiet", path.join(dir, "objects", "pack", "pack")], orphan + "\n");
  await gitIn(dir, ["prune-packed"]);
  for (let i = 0; i < 3; i++) {
    const blob = await gitIn(dir, ["hash-object", "-w", "--stdin-paths"], writeTemp(t, `file ${i}`) + "\n");
    const tree = await gitIn(dir, ["mktree"], `100644 blob ${blob}\tfile.txt\n`);
    const commit = await gitIn(dir, ["commit-tree", tree, "-m", `c${i}`]);
    await gitIn(dir, ["update-ref", `refs/heads/b${i}`, commit]);
    await gitIn(dir, ["repack", "-d", "-q"]);
  }
  assert.equal((await countObjects(dir)).packs, 4);

  const errors: unknown[] = [];
  const packer = createObjectPacker({ looseLimit: 1000, packLimit: 4, onError: (_dir, error) => errors.push(error) });
  packer.afterWrite(dir);
  await packer.idle();
  assert.deepEqual(errors, []);
  const counts = await countObjects(dir);
  assert.equal(counts.packs, 1, `the packs were folded into one: ${JSON.stringify(counts)}`);
  assert.equal(await gitIn(dir, ["cat-file", "-t", orphan]), "blob", "the object only the old pack held is still there");
  await gitIn(dir, ["fsck", "--strict", "--no-dangling"]);
});

function writeTemp(t: { after: (fn: () => void) => void }, content: string): string {
  const file = path.join(tempDir(t), "blob");
  fs.writeFileSync(file, content);
  return file;
}
