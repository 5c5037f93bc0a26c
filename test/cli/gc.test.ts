// `agora gc` on a data directory a running hub serves: a deleted repository's LFS objects are
// freed, nothing a repository still references (by link or by git pointer) or anything younger
// than --older-than is touched, unreachable git objects, orphan repository directories and stale
// scratch files go, and every remaining revision still downloads and clones whole.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deferCleanup, startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { runAgora, runAgoraAsync, serveProcess } from "../helpers/serve-process.ts";
import { commitFiles, createBranch, createRepo, patternBytes, sha256 } from "../helpers/hub-http.ts";
import { createLfsObjectsStore } from "../../src/db/lfs-objects-store.ts";
import type { GcReport } from "../../src/services/garbage-collector.ts";

const DAY = 86_400_000;

/** Sets the modification time of `target` and everything under it `days` into the past. */
function backdate(target: string, days: number): void {
  const when = new Date(Date.now() - days * DAY);
  const visit = (p: string) => {
    if (fs.statSync(p).isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
    fs.utimesSync(p, when, when);
  };
  visit(target);
}

async function gcJson(dataDir: string, ...args: string[]): Promise<GcReport> {
  const result = await runAgoraAsync(["gc", "--data", dataDir, "--json", ...args]);
  assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
  return JSON.parse(result.stdout) as GcReport;
}

async function download(hub: Pick<TestHub, "url">, token: string, id: string, rev: string, file: string): Promise<string> {
  const response = await fetch(`${hub.url}/${id}/resolve/${rev}/${file}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, `${id}@${rev}/${file}`);
  return sha256(Buffer.from(await response.arrayBuffer()));
}

async function deleteRepo(hub: Pick<TestHub, "url">, token: string, name: string): Promise<void> {
  const response = await fetch(`${hub.url}/api/repos/delete`, { method: "DELETE", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ name, organization: "alice" }) });
  assert.equal(response.status, 200);
}

test("agora gc frees a deleted repository's LFS objects and unreachable git objects, and keeps everything referenced or young", async (t) => {
  const dataDir = tempDir(t);
  const hub = await startHub(t, { dataDir });
  const token = await hub.token("alice");
  const objectFile = (bytes: Buffer) => path.join(dataDir, "lfs", "objects", sha256(bytes).slice(0, 2), sha256(bytes));

  const onlyDoomed = patternBytes(300_000, 1); // uploaded to a repository that is then deleted
  const shared = patternBytes(200_000, 2); // in the deleted repository and in a kept one
  const pointerOnly = patternBytes(100_000, 3); // kept repository, its link lost: only a git pointer names it
  const scratchOnly = patternBytes(50_000, 4); // on a branch of the kept repository that is deleted
  const young = patternBytes(70_000, 5); // a deleted repository's, but written just now

  const doomed = await createRepo(hub.url, token, { name: "doomed" });
  await commitFiles(hub.url, token, doomed, [{ path: "a.bin", content: onlyDoomed, lfs: true }, { path: "shared.bin", content: shared, lfs: true }]);
  const kept = await createRepo(hub.url, token, { name: "kept" });
  const first = await commitFiles(hub.url, token, kept, [{ path: "shared.bin", content: shared, lfs: true }, { path: "p.bin", content: pointerOnly, lfs: true }]);
  await commitFiles(hub.url, token, kept, [{ path: "README.md", content: "# kept\n" }]);
  await createBranch(hub.url, token, kept, "scratch");
  const scratchCommit = await commitFiles(hub.url, token, kept, [{ path: "notes.txt", content: "scratch work\n" }, { path: "s.bin", content: scratchOnly, lfs: true }], { revision: "scratch" });
  const deleted = await fetch(`${hub.url}/api/models/${kept}/branch/scratch`, { method: "DELETE", headers: { Authorization: `Bearer ${token}` } });
  assert.equal(deleted.status, 200);
  await deleteRepo(hub, token, "doomed");
  const keptRow = (await hub.services.repos.find("model", kept))!;
  const keptDir = hub.services.repos.repoDir(keptRow);
  await hub.services.db.deleteFrom("lfs_links").where("repo_id", "=", keptRow.id).where("oid", "=", sha256(pointerOnly)).execute();
  // The mirror cache's bookkeeping row of an object goes with the object.
  await hub.services.db.insertInto("mirror_objects").values({ oid: sha256(onlyDoomed), size: onlyDoomed.length, last_access_at: new Date().toISOString() }).execute();
  // A repository directory whose row is gone (a crash in the middle of a delete).
  const orphan = path.join(dataDir, "repos", "0123456789abcdef01234567.git");
  execFileSync("git", ["init", "-q", "--bare", orphan]);
  // Everything so far is two days old; then one more deleted repository's object, written now.
  backdate(path.join(dataDir, "lfs", "objects"), 2);
  backdate(path.join(dataDir, "repos"), 2);
  const youngRepo = await createRepo(hub.url, token, { name: "young" });
  await commitFiles(hub.url, token, youngRepo, [{ path: "y.bin", content: young, lfs: true }]);
  await deleteRepo(hub, token, "young");
  // Scratch a crash in the middle of a commit left, and an import at work (its newest file is young).
  const stale = path.join(dataDir, "tmp", "commit-stale");
  fs.mkdirSync(stale, { recursive: true });
  fs.writeFileSync(path.join(stale, "inline-0"), patternBytes(1000, 8));
  backdate(stale, 2);
  const live = path.join(dataDir, "tmp", "import-live");
  fs.mkdirSync(live);
  fs.writeFileSync(path.join(live, "manifest.json"), "{}");
  fs.writeFileSync(path.join(live, "bundle"), "being ");
  backdate(live, 2);
  fs.appendFileSync(path.join(live, "bundle"), "written"); // the directory's own time stays old
  await hub.services.objectPacker.idle();
  const looseBefore = Number(/^count: (\d+)$/m.exec(execFileSync("git", ["count-objects", "-v"], { env: { ...process.env, GIT_DIR: keptDir } }).toString())![1]);

  // A dry run names what would go and deletes nothing.
  const dry = await gcJson(dataDir, "--dry-run");
  assert.deepEqual(dry.lfs.removed, [{ oid: sha256(onlyDoomed), size: onlyDoomed.length }]);
  assert.equal(dry.lfs.objects, 5);
  assert.deepEqual(dry.git.orphanDirectories, [path.basename(orphan)]);
  assert.ok(dry.git.unreachableObjects >= 3, `the scratch commit, its tree and notes.txt are unreachable loose objects: ${dry.git.unreachableObjects}`);
  assert.deepEqual(dry.temporary, { removed: ["commit-stale"], bytes: 1000 });
  assert.ok(fs.existsSync(objectFile(onlyDoomed)) && fs.existsSync(orphan) && fs.existsSync(stale), "a dry run deletes nothing");
  execFileSync("git", ["cat-file", "-e", scratchCommit], { env: { ...process.env, GIT_DIR: keptDir } });

  const report = await gcJson(dataDir);
  assert.deepEqual(report.lfs.removed, [{ oid: sha256(onlyDoomed), size: onlyDoomed.length }]);
  assert.equal(report.lfs.removedBytes, onlyDoomed.length);
  assert.equal(report.lfs.keptForPointers, 1, "p.bin: no link, but main's pointer names it");
  assert.equal(report.lfs.keptRecent, 1, "y.bin: unreferenced but younger than a day");
  assert.deepEqual(report.git.orphanDirectories, [path.basename(orphan)]);
  assert.deepEqual(report.git.failures, []);
  assert.equal(report.git.repositories, 1);
  assert.ok(report.git.unreachableObjects >= 3, String(report.git.unreachableObjects));

  assert.ok(!fs.existsSync(objectFile(onlyDoomed)), "the deleted repository's own object is gone");
  assert.ok(!fs.existsSync(orphan), "the orphan directory is gone");
  assert.deepEqual(report.temporary.removed, ["commit-stale"]);
  assert.ok(!fs.existsSync(stale) && fs.existsSync(path.join(live, "manifest.json")), "stale scratch goes, an import at work stays whole");
  for (const bytes of [shared, pointerOnly, scratchOnly, young]) assert.ok(fs.existsSync(objectFile(bytes)), `${sha256(bytes)} must stay`);
  assert.equal(await hub.services.db.selectFrom("mirror_objects").select("oid").where("oid", "=", sha256(onlyDoomed)).executeTakeFirst(), undefined);
  // The kept repository: the deleted branch's commit is gone, every revision is whole.
  assert.throws(() => execFileSync("git", ["cat-file", "-e", scratchCommit], { env: { ...process.env, GIT_DIR: keptDir }, stdio: "ignore" }));
  execFileSync("git", ["fsck", "--strict", "--no-dangling"], { env: { ...process.env, GIT_DIR: keptDir }, stdio: "pipe" });
  const looseAfter = Number(/^count: (\d+)$/m.exec(execFileSync("git", ["count-objects", "-v"], { env: { ...process.env, GIT_DIR: keptDir } }).toString())![1]);
  assert.ok(looseAfter < looseBefore, `${looseAfter} loose objects after, ${looseBefore} before`);
  assert.equal(await download(hub, token, kept, "main", "shared.bin"), sha256(shared));
  assert.equal(await download(hub, token, kept, first, "p.bin"), sha256(pointerOnly));
  const clone = path.join(tempDir(t), "clone");
  // (not execFileSync: the hub answering the clone runs on this thread)
  await promisify(execFile)("git", ["clone", "-q", `${hub.url}/${kept}`, clone], { env: { ...process.env, GIT_LFS_SKIP_SMUDGE: "1", GIT_TERMINAL_PROMPT: "0" } });
  assert.equal(execFileSync("git", ["-C", clone, "rev-list", "--count", "HEAD"]).toString().trim(), "3");

  // A second run finds nothing more; a shorter age takes the young object too.
  const again = await gcJson(dataDir);
  assert.deepEqual([again.lfs.removed.length, again.git.unreachableObjects, again.git.orphanDirectories.length], [0, 0, 0]);
  const now = await gcJson(dataDir, "--older-than", "0s");
  assert.deepEqual(now.lfs.removed, [{ oid: sha256(young), size: young.length }]);
  assert.ok(fs.existsSync(objectFile(scratchOnly)), "an object uploaded to a living repository stays linked to it");
});

test("agora gc run over and over with no age margin beside uploads and deletes loses no acknowledged commit", async (t) => {
  const dataDir = tempDir(t);
  const hub = await startHub(t, { dataDir });
  const token = await hub.token("alice");
  // Six contents: round i commits pool[i % 6] and deletes the repository of round i - 1 on odd
  // rounds, so the even contents lose their last link again and again and are uploaded again
  // while collections run; the odd ones stay with living repositories.
  const pool = [0, 1, 2, 3, 4, 5].map((i) => patternBytes(40_000 + i, 20 + i));
  const living = new Map<string, Buffer>();
  let uploading = true;
  const runs: GcReport[] = [];
  const collector = (async () => {
    while (uploading) runs.push(await gcJson(dataDir, "--older-than", "0s"));
  })();
  let refused = 0;
  for (let round = 0; round < 18; round++) {
    const id = await createRepo(hub.url, token, { name: `r${round}` });
    const content = pool[round % 6];
    for (let attempt = 0; ; attempt++) {
      try {
        await commitFiles(hub.url, token, id, [{ path: "w.bin", content, lfs: true }]);
        break;
      } catch (error) {
        // A collection may delete bytes between their publish and their link: that upload is
        // refused (409, upload it again), never acknowledged.
        assert.match(String(error), /409|LfsObjectMissing/);
        refused++;
        assert.ok(attempt < 5, "an upload refused five times in a row");
      }
    }
    living.set(id, content);
    if (round % 2 === 1) {
      await deleteRepo(hub, token, `r${round - 1}`);
      living.delete(`alice/r${round - 1}`);
    }
  }
  uploading = false;
  await collector;
  for (const [id, bytes] of living) assert.equal(await download(hub, token, id, "main", "w.bin"), sha256(bytes), id);
  // What is left to collect is exactly the even contents not collected yet; the odd ones stay.
  const last = await gcJson(dataDir, "--older-than", "0s");
  const stored = new Set<string>();
  for await (const object of hub.services.blobs.list()) stored.add(object.oid);
  assert.deepEqual([...stored].sort(), [1, 3, 5].map((i) => sha256(pool[i])).sort());
  const removed = runs.reduce((n, r) => n + r.lfs.removed.length, 0) + last.lfs.removed.length;
  assert.ok(removed >= 3, `${removed} removals`);
  t.diagnostic(`${runs.length} collections beside 18 commits and 9 deletes; ${removed - last.lfs.removed.length} objects removed during them, ${last.lfs.removed.length} after; ${refused} uploads refused and retried`);
});

for (const workers of [1, 2]) test(`agora serve collects garbage by itself every gcIntervalSeconds (${workers} worker${workers > 1 ? "s: the supervisor does it" : ""})`, async (t) => {
  const dataDir = tempDir(t);
  const token = runAgora(["token", "create", "--user", "alice", "--data", dataDir]).stdout;
  const server = serveProcess(dataDir, { env: { AGORA_GC_INTERVAL: "1" }, args: ["--workers", String(workers)] });
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const hub = { url: await server.url };
  const doomed = patternBytes(30_000, 31);
  const keptBytes = patternBytes(30_000, 32);
  await commitFiles(hub.url, token, await createRepo(hub.url, token, { name: "doomed" }), [{ path: "w.bin", content: doomed, lfs: true }]);
  const kept = await createRepo(hub.url, token, { name: "kept" });
  await commitFiles(hub.url, token, kept, [{ path: "w.bin", content: keptBytes, lfs: true }]);
  await deleteRepo(hub, token, "doomed");
  backdate(path.join(dataDir, "lfs", "objects"), 2); // older than the default age of a day
  const doomedFile = path.join(dataDir, "lfs", "objects", sha256(doomed).slice(0, 2), sha256(doomed));
  for (let waited = 0; fs.existsSync(doomedFile) && waited < 60_000; waited += 200) await sleep(200);
  assert.ok(!fs.existsSync(doomedFile), `still there after a minute; the hub printed: ${server.output()}`);
  assert.match(server.output(), /gc: removed 1 LFS objects \(29\.3 KiB\)/);
  assert.equal(await download(hub, token, kept, "main", "w.bin"), sha256(keptBytes));
  server.child.kill("SIGTERM");
  assert.equal(await server.exited, 0);
});

test("agora gc refuses a malformed --older-than", async (t) => {
  const dataDir = tempDir(t);
  for (const bad of ["1 week", "-1d", "12", "1.5h"]) {
    const result = await runAgoraAsync(["gc", "--data", dataDir, `--older-than=${bad}`]);
    assert.equal(result.code, 1, bad);
    assert.match(result.stderr, /--older-than must be a number and a unit/);
  }
});

test("an object linked after garbage collection listed it is not deleted", async (t) => {
  const dataDir = tempDir(t);
  const hub = await startHub(t, { dataDir });
  const token = await hub.token("alice");
  const bytes = patternBytes(10_000, 7);
  const id = await createRepo(hub.url, token, { name: "linked" });
  await commitFiles(hub.url, token, id, [{ path: "w.bin", content: bytes, lfs: true }]);
  let asked = false;
  const deleted = await createLfsObjectsStore(hub.services.db).deleteIfUnlinked(sha256(bytes), async () => {
    asked = true;
    return true;
  });
  assert.equal(deleted, false);
  assert.equal(asked, false, "the blob's delete must not even be attempted");
  assert.equal(await download(hub, token, id, "main", "w.bin"), sha256(bytes));
});
