// A git push and API commits racing on one branch. The overlap is made deterministic with
// Agora's test switch AGORA_TEST_PUSH_GATE: while the named file exists, a push waits in its
// pre-receive step, holding the repository's write lock. In every case no acknowledged commit
// is lost: the history (GET /api/models/{id}/commits/main) is checked after each race.
//
// Non-fast-forward pushes: this file asserts that a push built on an old head is refused
// (git's "fetch first" rejection) and that pull-then-push works. A `git push --force` would be
// accepted by Agora, as by any git server, for a caller with write rights; it is not exercised
// here because it deliberately discards the acknowledged API commit.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deferCleanup, startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { apiRepoPath, commitBody, commitFiles, createRepo, repoInfo, sha256 } from "../helpers/hub-http.ts";
import { apiHead, gitUser, historyIds, treeDigests, writeFile, type GitResult, type GitUser } from "./git-client.ts";

const OWNER = "alice";

/** Sends an NDJSON commit to main, optionally with a parentCommit; resolves with the raw response. */
async function apiCommit(hub: TestHub, token: string, repoId: string, file: { path: string; content: string }, parentCommit?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  let body = commitBody(`API: ${file.path}`, undefined, [file]);
  if (parentCommit) {
    const [header, ...rest] = body.split("\n");
    const parsed = JSON.parse(header) as { key: string; value: Record<string, unknown> };
    parsed.value.parentCommit = parentCommit;
    body = [JSON.stringify(parsed), ...rest].join("\n");
  }
  const response = await fetch(`${hub.url}${apiRepoPath(repoId)}/commit/main`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/x-ndjson" },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const tracked = promise.finally(() => {
    done = true;
  });
  tracked.catch(() => {});
  return { promise: tracked, settled: () => done };
}

/**
 * Waits until a push is inside receive-pack for the repository: git's quarantine directory for
 * incoming objects exists. Agora spawns receive-pack only after taking the repository's lock,
 * and the gate keeps it there, so from then on the lock is held.
 */
async function waitUntilPushHoldsLock(repoGitDir: string, push: { settled: () => boolean }): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    assert.ok(!push.settled(), "the push finished although the gate was closed");
    if (fs.readdirSync(path.join(repoGitDir, "objects")).some((name) => name.startsWith("tmp_objdir-incoming-"))) return;
    await sleep(20);
  }
  assert.fail("the push never reached receive-pack");
}

async function setup(t: TestContext, name: string) {
  const hub = await startHub(t);
  const token = await hub.token(OWNER);
  const alice = await gitUser(t, { token, name: "Alice" });
  const repoId = await createRepo(hub.url, token, { name });
  await commitFiles(hub.url, token, repoId, [{ path: "base.txt", content: "base\n" }]);
  const info = await repoInfo(hub.url, repoId);
  const repoGitDir = path.join(hub.dataDir, "repos", `${info._id as string}.git`);
  assert.ok(fs.existsSync(repoGitDir), "the repository's bare git directory");
  const dir = path.join(tempDir(t), "clone");
  await alice.ok(["clone", `${hub.url}/${repoId}`, dir]);
  const gate = path.join(tempDir(t), "push-gate");
  process.env.AGORA_TEST_PUSH_GATE = gate;
  deferCleanup(t, () => {
    fs.rmSync(gate, { force: true });
    delete process.env.AGORA_TEST_PUSH_GATE;
  });
  return { hub, token, alice, repoId, api: apiRepoPath(repoId), repoGitDir, dir, gate, initialHistory: await historyIds(hub.url, apiRepoPath(repoId)) };
}

/** Commits `file` locally and starts `git push origin main` with the gate closed. */
async function startGatedPush(alice: GitUser, dir: string, gate: string, repoGitDir: string, file: string) {
  writeFile(dir, file, `${file} pushed with git\n`);
  await alice.ok(["add", "-A"], { cwd: dir });
  await alice.ok(["commit", "-m", `push ${file}`], { cwd: dir });
  const pushed = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });
  fs.writeFileSync(gate, "closed");
  const push = track<GitResult>(alice.git(["push", "origin", "main"], { cwd: dir }));
  await waitUntilPushHoldsLock(repoGitDir, push);
  return { pushed, push };
}

test("an API commit sent while a push holds the lock waits, then lands on top of the pushed commit", async (t) => {
  const { hub, token, alice, repoId, api, repoGitDir, dir, gate, initialHistory } = await setup(t, "race-on-top");
  const { pushed, push } = await startGatedPush(alice, dir, gate, repoGitDir, "pushed.txt");

  const commit = track(apiCommit(hub, token, repoId, { path: "from-api.txt", content: "written through the API\n" }));
  // While the gate is closed, neither may finish: the API commit waits for the push's lock.
  await sleep(750);
  assert.ok(fs.existsSync(gate));
  assert.equal(commit.settled(), false, "the API commit completed while the push held the repository lock");
  assert.equal(push.settled(), false, "the push completed although its pre-receive step was held");

  fs.rmSync(gate);
  const pushResult = await push.promise;
  assert.equal(pushResult.code, 0, pushResult.stderr);
  const committed = await commit.promise;
  assert.equal(committed.status, 200, JSON.stringify(committed.body));
  const apiOid = committed.body.commitOid as string;

  // The API commit's parent is the pushed commit; both files are on main.
  assert.deepEqual(await historyIds(hub.url, api), [apiOid, pushed, ...initialHistory]);
  await alice.ok(["pull", "--ff-only"], { cwd: dir });
  assert.equal(await alice.ok(["rev-parse", "HEAD^"], { cwd: dir }), pushed);
  assert.equal(await alice.ok(["rev-parse", "HEAD"], { cwd: dir }), apiOid);
  const files = treeDigests(dir);
  assert.equal(files.get("pushed.txt"), sha256("pushed.txt pushed with git\n"));
  assert.equal(files.get("from-api.txt"), sha256("written through the API\n"));
  assert.equal(files.get("base.txt"), sha256("base\n"));
  assert.equal(await apiHead(hub.url, api), apiOid);
});

test("an API commit whose parentCommit is the pre-push head gets 412 once the push lands; the push succeeds", async (t) => {
  const { hub, token, alice, repoId, api, repoGitDir, dir, gate, initialHistory } = await setup(t, "race-stale-parent");
  const prePushHead = initialHistory[0];
  const { pushed, push } = await startGatedPush(alice, dir, gate, repoGitDir, "pushed.txt");

  const commit = track(apiCommit(hub, token, repoId, { path: "from-api.txt", content: "stale\n" }, prePushHead));
  await sleep(750);
  assert.equal(commit.settled(), false, "the API commit completed while the push held the repository lock");

  fs.rmSync(gate);
  const pushResult = await push.promise;
  assert.equal(pushResult.code, 0, pushResult.stderr);
  const committed = await commit.promise;
  assert.equal(committed.status, 412, JSON.stringify(committed.body));

  assert.deepEqual(await historyIds(hub.url, api), [pushed, ...initialHistory]);
  assert.equal(await apiHead(hub.url, api), pushed);
  const missing = await fetch(`${hub.url}/${repoId}/resolve/main/from-api.txt`);
  assert.equal(missing.status, 404, "nothing of the refused commit reached main");
});

test("a push built on an old head after an API commit is refused as non-fast-forward; pull then push keeps both", async (t) => {
  const { hub, token, alice, repoId, api, dir, initialHistory } = await setup(t, "race-non-ff");
  delete process.env.AGORA_TEST_PUSH_GATE; // no gate needed: the API commit simply comes first

  const apiOid = await commitFiles(hub.url, token, repoId, [{ path: "from-api.txt", content: "API first\n" }]);
  writeFile(dir, "pushed.txt", "built on the old head\n");
  await alice.ok(["add", "-A"], { cwd: dir });
  await alice.ok(["commit", "-m", "on the old head"], { cwd: dir });

  const refused = await alice.git(["push", "origin", "main"], { cwd: dir });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /! \[rejected\] +main -> main \(fetch first\)/, refused.stderr);
  assert.equal(await apiHead(hub.url, api), apiOid, "main still at the API commit");
  assert.deepEqual(await historyIds(hub.url, api), [apiOid, ...initialHistory]);

  // After a fetch git knows where the remote is and calls the same refusal non-fast-forward.
  await alice.ok(["fetch"], { cwd: dir });
  const refusedAgain = await alice.git(["push", "origin", "main"], { cwd: dir });
  assert.notEqual(refusedAgain.code, 0);
  assert.match(refusedAgain.stderr, /! \[rejected\] +main -> main \(non-fast-forward\)/, refusedAgain.stderr);

  await alice.ok(["pull", "--no-rebase", "--no-edit"], { cwd: dir });
  await alice.ok(["push", "origin", "main"], { cwd: dir });
  const merged = await alice.ok(["rev-parse", "HEAD"], { cwd: dir });
  const history = await historyIds(hub.url, api);
  assert.equal(history[0], merged);
  assert.ok(history.includes(apiOid), "the API commit is still in main's history");
  for (const id of initialHistory) assert.ok(history.includes(id));
  const files = treeDigests(dir);
  assert.equal(files.get("from-api.txt"), sha256("API first\n"));
  assert.equal(files.get("pushed.txt"), sha256("built on the old head\n"));
});

/**
 * A loopback HTTP proxy in front of the hub that runs `beforeReceivePack` when git's push POST
 * arrives, after git has read the ref advertisement and built its pack.
 */
async function proxyWithHook(t: { after: (fn: () => unknown) => void }, target: string, beforeReceivePack: () => Promise<void>): Promise<string> {
  const upstream = new URL(target);
  const server = http.createServer((request, response) => {
    void (async () => {
      if (request.method === "POST" && request.url?.includes("/git-receive-pack")) await beforeReceivePack();
      const forwarded = http.request(
        { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers, agent: false },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forwarded.on("error", () => response.destroy());
      request.pipe(forwarded);
    })().catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  deferCleanup(t, () => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

test("an API commit between git's ref advertisement and its push: the hub's compare-and-swap refuses the push", async (t) => {
  const { hub, token, alice, repoId, api, dir, initialHistory } = await setup(t, "race-advertisement");
  delete process.env.AGORA_TEST_PUSH_GATE;
  let apiOid = "";
  // git sees main at the old head (so it believes its push is a fast-forward), then main moves.
  const proxy = await proxyWithHook(t, hub.url, async () => {
    if (!apiOid) apiOid = await commitFiles(hub.url, token, repoId, [{ path: "from-api.txt", content: "sneaked in\n" }]);
  });
  writeFile(dir, "pushed.txt", "believed to be a fast-forward\n");
  await alice.ok(["add", "-A"], { cwd: dir });
  await alice.ok(["commit", "-m", "push through the proxy"], { cwd: dir });
  const result = await alice.git(["push", `${proxy}/${repoId}`, "main"], { cwd: dir });
  assert.ok(apiOid, "the API commit was made while the push was in flight");
  assert.notEqual(result.code, 0, result.stderr);
  assert.match(result.stderr, /! \[remote rejected\] main -> main \(failed to update ref\)/, result.stderr);
  assert.equal(await apiHead(hub.url, api), apiOid);
  assert.deepEqual(await historyIds(hub.url, api), [apiOid, ...initialHistory]);
});
