// Crash safety of the real `agora serve` process: it is SIGKILLed (with every git child it has
// running) at chosen points — halfway through an LFS upload's body, inside a commit after its
// objects are written but before the branch moves, and at a random moment during a commit —
// then restarted on the same data directory. Whatever was acknowledged before the kill must be
// there with the right bytes, whatever was not must be cleanly absent (or, for a commit, fully
// present), and the git repository must pass `git fsck --full`.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deferCleanup, tempDir } from "../helpers/server.ts";
import { loadConfig } from "../../src/config/config.ts";
import { buildServices } from "../../src/services/index.ts";
import { commitBody, commitFiles, createRepo, gitBlobSha1, lfsPointer, sha256, uploadLfsObjects, type CommitFile } from "../helpers/hub-http.ts";

const BIN = fileURLToPath(new URL("../../bin/agora.mjs", import.meta.url));
const MiB = 1024 * 1024;
const STARTUP_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// The hub as a child process

type ChildHub = {
  url: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
};

function hubEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AGORA_LOG_LEVEL: "warn", ...extra };
  if (!("AGORA_TEST_CRASH_AT" in extra)) delete env.AGORA_TEST_CRASH_AT;
  delete env.AGORA_DATA;
  delete env.AGORA_PORT;
  return env;
}

/** Starts `agora serve --port 0` in its own process group and waits for its "listening" line. */
async function spawnHub(t: TestContext, dataDir: string, env: Record<string, string> = {}): Promise<ChildHub> {
  const child = spawn(process.execPath, [BIN, "serve", "--data", dataDir, "--port", "0", "--host", "127.0.0.1"], {
    env: hubEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const hub: ChildHub = { url: "", child, exited, output: () => output };
  deferCleanup(t, () => killHub(hub));
  hub.url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agora serve did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)), STARTUP_TIMEOUT_MS);
    const onData = () => {
      const match = /Agora is listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`agora serve exited (code ${code}, signal ${signal}) before listening:\n${output}`));
    });
  });
  return hub;
}

/** SIGKILLs the hub's whole process group (the server and any git it is running) and waits. */
async function killHub(hub: ChildHub): Promise<void> {
  if (hub.child.exitCode === null && hub.child.signalCode === null) {
    try {
      process.kill(-hub.child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await hub.exited;
}

/** A write token for `user`, created on the data directory while no hub runs on it. */
async function createToken(dataDir: string, user: string): Promise<string> {
  const services = buildServices(loadConfig({ env: { AGORA_DATA: dataDir, AGORA_LOG_LEVEL: "silent" } }));
  try {
    return (await services.accounts.createToken(user, { role: "write" })).token;
  } finally {
    await services.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Inspecting what survived

function listFiles(dir: string): { name: string; size: number }[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((name) => ({ name, stat: fs.statSync(path.join(dir, name)) }))
    .filter((e) => e.stat.isFile())
    .map((e) => ({ name: e.name, size: e.stat.size }));
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function git(gitDir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("git", ["--git-dir", gitDir, ...args], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: process.env.HOME, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertFsckClean(gitDir: string): void {
  const fsck = git(gitDir, ["fsck", "--full", "--no-progress"]);
  assert.equal(fsck.status, 0, `git fsck --full failed:\n${fsck.stdout}\n${fsck.stderr}`);
  assert.doesNotMatch(fsck.stdout + fsck.stderr, /^(error|fatal|broken|missing|bad)/m, `git fsck reports damage:\n${fsck.stdout}\n${fsck.stderr}`);
}

function branchHead(gitDir: string): string {
  const result = git(gitDir, ["rev-parse", "--verify", "refs/heads/main"]);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

function auth(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

type Sibling = { rfilename: string; blobId?: string; lfs?: { sha256: string; size: number } };

async function repoJson(hub: ChildHub, token: string, repoId: string, revision?: string): Promise<{ _id: string; sha: string; siblings: Sibling[] }> {
  const response = await fetch(`${hub.url}/api/models/${repoId}${revision ? `/revision/${revision}` : ""}?blobs=true`, { headers: auth(token) });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { _id: string; sha: string; siblings: Sibling[] };
}

async function downloadSha256(hub: ChildHub, token: string, repoId: string, revision: string, file: string): Promise<string> {
  const response = await fetch(`${hub.url}/${repoId}/resolve/${revision}/${file}`, { headers: auth(token) });
  assert.equal(response.status, 200, `download ${file}@${revision}: HTTP ${response.status} ${response.status === 200 ? "" : await response.text()}`);
  return sha256(Buffer.from(await response.arrayBuffer()));
}

type ExpectedFile = { sha256: string; blobId: string; lfs: boolean };

/** A commit the hub acknowledged (200 with its id), the full file list it must show, and what it changed. */
type Acknowledged = { commit: string; files: Map<string, ExpectedFile>; changed: string[] };

function applyFiles(previous: Map<string, ExpectedFile>, files: CommitFile[]): Map<string, ExpectedFile> {
  const next = new Map(previous);
  for (const f of files) {
    const bytes = Buffer.from(f.content);
    next.set(f.path, { sha256: sha256(bytes), blobId: gitBlobSha1(f.lfs ? lfsPointer(bytes) : bytes), lfs: f.lfs === true });
  }
  return next;
}

/**
 * Every acknowledged commit is reachable from main and lists exactly its files with the right
 * blob ids and LFS SHA-256s. Files are downloaded at the commit that wrote them and their
 * SHA-256 compared: every LFS file (its bytes live outside git), and the regular files of
 * commits from `downloadFrom` on (older regular files are pinned by their blob id, whose
 * content `git fsck --full` re-hashes).
 */
async function assertAcknowledgedPresent(hub: ChildHub, token: string, repoId: string, gitDir: string, acknowledged: Acknowledged[], downloadFrom = 0): Promise<void> {
  const head = branchHead(gitDir);
  for (const [index, ack] of acknowledged.entries()) {
    const ancestor = git(gitDir, ["merge-base", "--is-ancestor", ack.commit, head]);
    assert.equal(ancestor.status, 0, `acknowledged commit ${ack.commit} is reachable from main (${head})`);
    const info = await repoJson(hub, token, repoId, ack.commit);
    assert.equal(info.sha, ack.commit);
    const listed = new Map(info.siblings.filter((s) => s.rfilename !== ".gitattributes").map((s) => [s.rfilename, s]));
    assert.deepEqual([...listed.keys()].sort(), [...ack.files.keys()].sort(), `files of acknowledged commit ${ack.commit}`);
    for (const [file, expected] of ack.files) {
      const sibling = listed.get(file)!;
      assert.equal(sibling.blobId, expected.blobId, `${file} at ${ack.commit}: git blob`);
      if (expected.lfs) assert.equal(sibling.lfs?.sha256, expected.sha256, `${file} at ${ack.commit}: LFS object`);
      else assert.equal(sibling.lfs, undefined);
    }
    for (const file of ack.changed) {
      if (index < downloadFrom && !ack.files.get(file)!.lfs) continue;
      assert.equal(await downloadSha256(hub, token, repoId, ack.commit, file), ack.files.get(file)!.sha256, `${file} at ${ack.commit} has the acknowledged bytes`);
    }
  }
}

async function commitAcknowledged(hub: ChildHub, token: string, repoId: string, previous: Acknowledged | undefined, files: CommitFile[], summary: string): Promise<Acknowledged> {
  let commit: string;
  try {
    commit = await commitFiles(hub.url, token, repoId, files, { summary });
  } catch (error) {
    throw new Error(`commit "${summary}" failed: ${String(error)} ${String((error as Error).cause ?? "")}\nhub output:\n${hub.output()}`);
  }
  return { commit, files: applyFiles(previous?.files ?? new Map(), files), changed: files.map((f) => f.path) };
}

// ---------------------------------------------------------------------------------------------

test("a kill halfway through an LFS upload's body publishes nothing; a fresh upload then works", async (t) => {
  const dataDir = tempDir(t, "agora-crash-lfs-");
  const token = await createToken(dataDir, "alice");
  let hub = await spawnHub(t, dataDir);
  const repoId = await createRepo(hub.url, token, { name: "upload-crash" });

  const big = randomBytes(64 * MiB);
  const oid = sha256(big);
  const objectFile = path.join(dataDir, "lfs", "objects", oid.slice(0, 2), oid);
  const stagingDir = path.join(dataDir, "lfs", "staging");
  const batch = async (operation: "upload" | "download") => {
    const response = await fetch(`${hub.url}/${repoId}.git/info/lfs/objects/batch`, {
      method: "POST",
      headers: { ...auth(token), "Content-Type": "application/vnd.git-lfs+json" },
      body: JSON.stringify({ operation, transfers: ["basic"], objects: [{ oid, size: big.length }] }),
    });
    assert.equal(response.status, 200);
    return ((await response.json()) as { objects: { error?: { code: number }; actions?: { upload?: { href: string }; download?: { href: string } } }[] }).objects[0];
  };
  const href = (await batch("upload")).actions?.upload?.href;
  assert.ok(href, "the batch API hands out an upload URL");

  // Announce 64 MiB, send only the first 16 MiB, then hold the connection open: the body is
  // provably incomplete whenever the kill lands.
  const request = http.request(href, { method: "PUT", headers: { "Content-Length": String(big.length), "Content-Type": "application/octet-stream" }, agent: false });
  const outcome = new Promise<string>((resolve) => {
    request.on("error", (error) => resolve(`error: ${error.message}`));
    request.on("response", (response) => {
      response.resume();
      resolve(`HTTP ${response.statusCode}`);
    });
  });
  const sent = 16 * MiB;
  for (let offset = 0; offset < sent; offset += MiB) {
    if (!request.write(big.subarray(offset, offset + MiB))) await new Promise((r) => request.once("drain", r));
  }
  const staged = await waitFor("the staging file to grow past 1 MiB", () => listFiles(stagingDir).find((f) => f.size > MiB));
  assert.ok(staged.size <= sent && staged.size < big.length, `the staging file holds part of the body (${staged.size} of ${big.length} bytes)`);
  assert.equal(fs.existsSync(objectFile), false, "nothing is published while the body is still arriving");

  await killHub(hub);
  assert.match(await outcome, /^error/, "the upload was never acknowledged");
  assert.equal(fs.existsSync(objectFile), false, "the partial body was not published by the kill");

  hub = await spawnHub(t, dataDir);
  assert.equal(fs.existsSync(objectFile), false, "the partial body was not published at restart");
  assert.ok((await batch("upload")).actions?.upload, "the batch API still asks for the object");
  assert.equal((await batch("download")).error?.code, 404, "the object cannot be downloaded");
  const prematureCommit = await fetch(`${hub.url}/api/models/${repoId}/commit/main`, {
    method: "POST",
    headers: { ...auth(token), "Content-Type": "application/x-ndjson" },
    body: commitBody("premature", undefined, [{ path: "big.bin", content: big, lfs: true }]),
  });
  assert.equal(prematureCommit.status, 422, "a commit cannot name the half-uploaded object");
  await prematureCommit.text();
  const unresolved = await fetch(`${hub.url}/${repoId}/resolve/main/big.bin`, { headers: auth(token) });
  assert.equal(unresolved.status, 404, "resolve cannot serve it");
  await unresolved.text();

  // A fresh, complete upload and a commit work on the same data directory.
  const commit = await commitFiles(hub.url, token, repoId, [{ path: "big.bin", content: big, lfs: true }], { summary: "upload after crash" });
  assert.equal(fs.statSync(objectFile).size, big.length);
  assert.equal((await repoJson(hub, token, repoId)).sha, commit);
  assert.equal(await downloadSha256(hub, token, repoId, "main", "big.bin"), oid);
  await killHub(hub);
});

test("a kill inside a commit, and at random moments during commits, loses no acknowledged commit", async (t) => {
  const dataDir = tempDir(t, "agora-crash-commit-");
  const token = await createToken(dataDir, "alice");
  let hub = await spawnHub(t, dataDir);
  const repoId = await createRepo(hub.url, token, { name: "commit-crash" });
  const repoDbId = (await repoJson(hub, token, repoId))._id;
  assert.match(repoDbId, /^[0-9a-f]{24}$/);
  const gitDir = path.join(dataDir, "repos", `${repoDbId}.git`);
  assert.ok(fs.existsSync(gitDir), `the bare repository is at ${gitDir}`);

  const acknowledged: Acknowledged[] = [];
  const last = () => acknowledged[acknowledged.length - 1];
  acknowledged.push(
    await commitAcknowledged(hub, token, repoId, undefined, [
      { path: "config.json", content: '{"model_type":"gpt2"}' },
      { path: "weights-1.bin", content: randomBytes(2 * MiB), lfs: true },
    ], "first"),
  );
  acknowledged.push(
    await commitAcknowledged(hub, token, repoId, last(), [
      { path: "README.md", content: "---\nlicense: mit\n---\n# Crash test\n" },
      { path: "config.json", content: '{"model_type":"llama"}' },
      { path: "shards/weights-2.bin", content: randomBytes(MiB), lfs: true },
    ], "second"),
  );
  // The last acknowledgement came just before this kill: it must survive it.
  await killHub(hub);

  await t.test("killed after the commit objects are written, before the branch moves", async () => {
    const marker = path.join(dataDir, "crashed-at-commit-before-ref");
    hub = await spawnHub(t, dataDir, { AGORA_TEST_CRASH_AT: "commit-before-ref" });
    const doomedLfs = randomBytes(MiB);
    await uploadLfsObjects(hub.url, token, repoId, [doomedLfs]); // uploads still work; only commits crash
    const doomed: CommitFile[] = [
      { path: "doomed.txt", content: "this commit never happened" },
      { path: "config.json", content: '{"model_type":"doomed"}' },
      { path: "doomed.bin", content: doomedLfs, lfs: true },
    ];
    const attempt = fetch(`${hub.url}/api/models/${repoId}/commit/main`, {
      method: "POST",
      headers: { ...auth(token), "Content-Type": "application/x-ndjson" },
      body: commitBody("doomed", undefined, doomed),
    });
    await assert.rejects(attempt, "the connection fails: the commit is never acknowledged");
    const { signal } = await hub.exited;
    assert.equal(signal, "SIGKILL");
    assert.ok(fs.existsSync(marker), "the kill landed at commit-before-ref");

    // The commit object was written: find it among the repository's objects, unreferenced.
    const orphan = git(gitDir, ["fsck", "--full", "--no-progress", "--no-reflogs", "--unreachable"]);
    const orphanCommit = /unreachable commit ([0-9a-f]{40})/.exec(orphan.stdout)?.[1];
    assert.ok(orphanCommit, `the interrupted commit's object exists but nothing references it:\n${orphan.stdout}`);
    // One step later the kill would have landed inside `git update-ref`, after it took the ref's
    // lock and wrote the new id into it, before the rename: that leaves refs/heads/main.lock
    // holding the interrupted commit. Leave the same file, so the restart meets that state too.
    fs.writeFileSync(path.join(gitDir, "refs", "heads", "main.lock"), `${orphanCommit}\n`);

    hub = await spawnHub(t, dataDir);
    assertFsckClean(gitDir);
    assert.equal(branchHead(gitDir), last().commit, "main did not move");
    const info = await repoJson(hub, token, repoId);
    assert.equal(info.sha, last().commit, "the API shows the last acknowledged head");
    assert.ok(!info.siblings.some((s) => s.rfilename.startsWith("doomed")), "no file of the interrupted commit is listed");
    const missing = await fetch(`${hub.url}/${repoId}/resolve/main/doomed.txt`, { headers: auth(token) });
    assert.equal(missing.status, 404);
    await missing.text();
    assert.equal(await downloadSha256(hub, token, repoId, "main", "config.json"), sha256('{"model_type":"llama"}'));
    await assertAcknowledgedPresent(hub, token, repoId, gitDir, acknowledged);

    // The branch is not wedged (no stale lock blocks it): the same commit goes through now.
    acknowledged.push(await commitAcknowledged(hub, token, repoId, last(), doomed, "retried after crash"));
    await assertAcknowledgedPresent(hub, token, repoId, gitDir, acknowledged);
  });

  await t.test("killed at a random moment while a commit is in flight", async () => {
    const rounds = 2;
    let verified = 0;
    for (let round = 1; round <= rounds; round++) {
      // Two acknowledged commits; the second has the in-flight commit's shape and times it.
      acknowledged.push(await commitAcknowledged(hub, token, repoId, last(), [{ path: `round-${round}/notes.txt`, content: `round ${round}` }], `round ${round} a`));
      const shape = (tag: string): CommitFile[] => [
        ...Array.from({ length: 30 }, (_, i) => ({ path: `round-${round}/${tag}/part-${i}.txt`, content: randomBytes(16 * 1024).toString("base64") })),
        { path: `round-${round}/${tag}/weights.bin`, content: randomBytes(MiB), lfs: true },
      ];
      const started = Date.now();
      acknowledged.push(await commitAcknowledged(hub, token, repoId, last(), shape("acked"), `round ${round} b`));
      const commitMs = Date.now() - started;

      // The in-flight commit: its LFS object is uploaded (and acknowledged) first.
      const inflight = shape("inflight");
      const inflightLfs = inflight.filter((f) => f.lfs).map((f) => Buffer.from(f.content));
      await uploadLfsObjects(hub.url, token, repoId, inflightLfs);
      let acknowledgedCommit: string | undefined;
      const request = fetch(`${hub.url}/api/models/${repoId}/commit/main`, {
        method: "POST",
        headers: { ...auth(token), "Content-Type": "application/x-ndjson" },
        body: commitBody(`round ${round} in flight`, undefined, inflight),
      })
        .then(async (response) => {
          const text = await response.text();
          if (response.status === 200) acknowledgedCommit = (JSON.parse(text) as { commitOid: string }).commitOid;
        })
        .catch(() => {}); // a connection error: not acknowledged
      const delay = Math.random() * commitMs * 1.2;
      await new Promise((r) => setTimeout(r, delay));
      await killHub(hub);
      await request;

      hub = await spawnHub(t, dataDir);
      assertFsckClean(gitDir);
      const head = branchHead(gitDir);
      const info = await repoJson(hub, token, repoId);
      assert.equal(info.sha, head, "the listing agrees with git after restart");
      const before = last();
      let landed: string;
      if (head === before.commit) {
        assert.equal(acknowledgedCommit, undefined, "an acknowledged in-flight commit must survive");
        const absent = await fetch(`${hub.url}/${repoId}/resolve/main/round-${round}/inflight/weights.bin`, { headers: auth(token) });
        assert.equal(absent.status, 404);
        await absent.text();
        landed = "absent";
      } else {
        // Fully present: one commit on top of the last acknowledged one, with every file.
        const parent = git(gitDir, ["rev-parse", `${head}^`]).stdout.trim();
        assert.equal(parent, before.commit, "the in-flight commit sits directly on the last acknowledged one");
        if (acknowledgedCommit) assert.equal(head, acknowledgedCommit);
        const landedAck: Acknowledged = { commit: head, files: applyFiles(before.files, inflight), changed: inflight.map((f) => f.path) };
        acknowledged.push(landedAck);
        landed = acknowledgedCommit ? "present (acknowledged)" : "present (not acknowledged)";
      }
      // The LFS upload was acknowledged, so the hub must still hold it.
      for (const content of inflightLfs) assert.ok(fs.existsSync(path.join(dataDir, "lfs", "objects", sha256(content).slice(0, 2), sha256(content))), "acknowledged LFS upload survives");
      await assertAcknowledgedPresent(hub, token, repoId, gitDir, acknowledged, verified);
      verified = acknowledged.length;
      t.diagnostic(`round ${round}: killed ${Math.round(delay)} ms into a ~${commitMs} ms commit; in-flight commit ${landed}`);
    }
    await killHub(hub);
  });
});
