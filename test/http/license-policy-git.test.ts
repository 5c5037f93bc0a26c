// The license policy on git clone/fetch and LFS downloads, with the real git and git-lfs
// clients: a repository whose license the policy denies cannot be cloned or fetched (git shows
// the refusal, naming the license and the rule, as "remote:" lines), LFS batch downloads are
// answered per object with a 403 carrying the same message (git-lfs prints it), and signed
// /lfs-download URLs handed out before a relicensing stop working. Pushes and LFS uploads are
// never refused. The repository is judged by the license at the head of every ref. Dry-run
// serves and logs one warning per clone; mirrored repositories follow the same rule.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { deferCleanup, startHub, tempDir } from "../helpers/server.ts";
import { runAgora as agora, serveProcess } from "../helpers/serve-process.ts";
import { assertHubError, commitFiles, createBranch, createRepo, patternBytes, sha256 } from "../helpers/hub-http.ts";
import { apiHead, gitUser, treeDigests, writeFile } from "../git/git-client.ts";

const WEIGHTS = patternBytes(600_000, 21);
const MORE_WEIGHTS = patternBytes(200_000, 22);
const TOKENIZER = JSON.stringify({ version: "1.0", model: { type: "BPE" } });
const CONFIG_JSON = JSON.stringify({ model_type: "llama", architectures: ["LlamaForCausalLM"] });
const POLICY_ENV = { AGORA_LICENSE_POLICY_MODE: "enforce", AGORA_LICENSE_POLICY_DENY_CLASSES: "non-commercial" };

/** The refusal's first words and the license and rule it must name, for a cc-by-nc-4.0 repository; `prefix` is what precedes it on its line. */
const NC_REFUSAL = (id: string, what: string, prefix = "remote: ") =>
  new RegExp(`${prefix}This hub's license policy refuses ${what} from ${id}: license cc-by-nc-4\\.0 \\([^)]*\\) is denied by rule "denyClasses: non-commercial"`);

function readme(license: string): string {
  return `---\nlicense: ${license}\n---\n# A model\n`;
}

function modelFiles(license: string) {
  return [
    { path: "README.md", content: readme(license) },
    { path: "config.json", content: CONFIG_JSON },
    { path: "tokenizer.json", content: TOKENIZER },
    { path: "model.safetensors", content: WEIGHTS, lfs: true },
  ];
}

type BatchObject = { oid: string; size: number; error?: { code: number; message: string }; actions?: { download?: { href: string }; upload?: { href: string } } };

async function lfsBatch(url: string, repoId: string, operation: "download" | "upload", objects: { oid: string; size: number }[], token?: string): Promise<BatchObject[]> {
  const response = await fetch(`${url}/${repoId}.git/info/lfs/objects/batch`, {
    method: "POST",
    headers: { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ operation, transfers: ["basic"], ref: { name: "refs/heads/main" }, objects }),
  });
  assert.equal(response.status, 200, `the batch request itself succeeds: ${response.status}`);
  return ((await response.json()) as { objects: BatchObject[] }).objects;
}

const weightsObject = { oid: sha256(WEIGHTS), size: WEIGHTS.length };

test("enforce: git clone/fetch and LFS downloads of a denied repository are refused with the license and rule; pushes are not", async (t) => {
  const hub = await startHub(t, { env: POLICY_ENV });
  const token = await hub.token("alice");
  const alice = await gitUser(t, { token });
  const anonymous = await gitUser(t);
  const work = tempDir(t);

  const denied = await createRepo(hub.url, token, { name: "nc-model" });
  await commitFiles(hub.url, token, denied, modelFiles("cc-by-nc-4.0"));
  const open = await createRepo(hub.url, token, { name: "open-model" });
  await commitFiles(hub.url, token, open, modelFiles("apache-2.0"));

  await t.test("git clone is refused and git shows the refusal as remote: lines (protocol v2 and v0)", async () => {
    for (const version of ["2", "0"]) {
      const dir = path.join(work, `denied-v${version}`);
      const result = await anonymous.git(["-c", `protocol.version=${version}`, "clone", `${hub.url}/${denied}`, dir]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, NC_REFUSAL(denied, "git clone/fetch"), result.stderr);
      assert.match(result.stderr, new RegExp(`README\\.md and LICENSE stay readable: ${hub.url}/${denied}/resolve/main/README\\.md`), result.stderr);
      assert.match(result.stderr, /The requested URL returned error: 403/, result.stderr);
      assert.ok(!fs.existsSync(dir), "nothing was cloned");
      if (version === "2") t.diagnostic(`git prints:\n${result.stderr}`);
    }
    // the owner is refused too: the policy is about the license, not about access
    const result = await alice.git(["clone", `${hub.url}/${denied}`, path.join(work, "denied-owner")]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, NC_REFUSAL(denied, "git clone/fetch"), result.stderr);
  });

  await t.test("info/refs and upload-pack answer 403 LicensePolicy in plain text; the receive-pack advertisement is served", async () => {
    const info = await fetch(`${hub.url}/${denied}.git/info/refs?service=git-upload-pack`);
    assert.equal(info.status, 403);
    assert.equal(info.headers.get("x-error-code"), "LicensePolicy");
    assert.match(info.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(`remote: ${await info.text()}`, NC_REFUSAL(denied, "git clone/fetch"));
    // a client that skips the advertisement and posts a fetch request directly
    const pack = await fetch(`${hub.url}/${denied}.git/git-upload-pack`, {
      method: "POST",
      headers: { "Content-Type": "application/x-git-upload-pack-request", Accept: "application/x-git-upload-pack-result" },
      body: "0000",
    });
    assert.equal(pack.status, 403);
    assert.equal(pack.headers.get("x-error-code"), "LicensePolicy");
    const push = await fetch(`${hub.url}/${denied}.git/info/refs?service=git-receive-pack`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(push.status, 200);
    assert.equal(push.headers.get("content-type"), "application/x-git-receive-pack-advertisement");
  });

  await t.test("LFS batch: download objects answer error 403 with the message; uploads still get upload actions", async () => {
    const objects = await lfsBatch(hub.url, denied, "download", [weightsObject, { oid: "not-an-oid", size: 1 }], token);
    assert.equal(objects.length, 2);
    assert.equal(objects[0].oid, weightsObject.oid);
    assert.equal(objects[0].actions, undefined, "no download action");
    assert.equal(objects[0].error?.code, 403);
    assert.match(`remote: ${objects[0].error?.message}`, NC_REFUSAL(denied, "LFS download"));
    assert.equal(objects[1].error?.code, 422, "a malformed object keeps its own error");
    const upload = await lfsBatch(hub.url, denied, "upload", [{ oid: sha256(MORE_WEIGHTS), size: MORE_WEIGHTS.length }], token);
    assert.ok(upload[0].actions?.upload, JSON.stringify(upload[0]));
    // the allowed repository's objects download
    const allowed = await lfsBatch(hub.url, open, "download", [weightsObject]);
    assert.ok(allowed[0].actions?.download, JSON.stringify(allowed[0]));
  });

  await t.test("relicensing through git push: the push succeeds, then clones, fetches, lfs pulls and earlier signed URLs are refused", async () => {
    // before: everyone clones the apache-2.0 repository, bytes intact
    const full = path.join(work, "open-alice");
    await alice.ok(["clone", `${hub.url}/${open}`, full]);
    assert.equal(treeDigests(full).get("model.safetensors"), sha256(WEIGHTS));
    const pointers = path.join(work, "open-pointers");
    await anonymous.ok(["clone", `${hub.url}/${open}`, pointers], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
    assert.match(fs.readFileSync(path.join(pointers, "model.safetensors"), "utf8"), /^version https:\/\/git-lfs/);
    const signed = (await lfsBatch(hub.url, open, "download", [weightsObject]))[0].actions!.download!.href;
    assert.equal(sha256(Buffer.from(await (await fetch(signed)).arrayBuffer())), sha256(WEIGHTS), "the signed URL serves the weights while allowed");

    // alice relicenses to cc-by-nc-4.0 and adds weights in the same push: push and LFS upload pass
    fs.writeFileSync(path.join(full, "README.md"), readme("cc-by-nc-4.0"));
    await alice.ok(["lfs", "track", "*.bin"], { cwd: full });
    writeFile(full, "extra/more.bin", MORE_WEIGHTS);
    await alice.ok(["add", "-A"], { cwd: full });
    await alice.ok(["commit", "-m", "Relicense to CC BY-NC 4.0"], { cwd: full });
    await alice.ok(["push", "origin", "main"], { cwd: full });
    assert.equal(await apiHead(hub.url, `/api/models/${open}`), await alice.ok(["rev-parse", "HEAD"], { cwd: full }));
    // pushing again to the now-denied repository works as well
    fs.appendFileSync(path.join(full, "README.md"), "\nMore notes.\n");
    await alice.ok(["commit", "-am", "Notes"], { cwd: full });
    await alice.ok(["push", "origin", "main"], { cwd: full });
    assert.equal(await apiHead(hub.url, `/api/models/${open}`), await alice.ok(["rev-parse", "HEAD"], { cwd: full }));

    const lfsPull = await anonymous.git(["lfs", "pull"], { cwd: pointers });
    assert.notEqual(lfsPull.code, 0, lfsPull.stderr);
    // git-lfs prints "[oid] message: [403] message" for an object the batch answer refused
    assert.match(lfsPull.stderr, NC_REFUSAL(open, "LFS download", `(?:^|\\n)\\[${weightsObject.oid}\\] `), lfsPull.stderr);
    assert.match(lfsPull.stderr, NC_REFUSAL(open, "LFS download", ": \\[403\\] "), lfsPull.stderr);
    assert.match(fs.readFileSync(path.join(pointers, "model.safetensors"), "utf8"), /^version https:\/\/git-lfs/, "still a pointer");
    t.diagnostic(`git lfs pull prints:\n${lfsPull.stderr}`);

    const pull = await anonymous.git(["pull"], { cwd: pointers, env: { GIT_LFS_SKIP_SMUDGE: "1" } });
    assert.notEqual(pull.code, 0);
    assert.match(pull.stderr, NC_REFUSAL(open, "git clone/fetch"), pull.stderr);
    t.diagnostic(`git pull prints:\n${pull.stderr}`);

    const late = await fetch(signed);
    await assertHubError(late, 403, "LicensePolicy");
    assert.match(`remote: ${late.headers.get("x-error-message")}`, NC_REFUSAL(open, "LFS download"));

    // /resolve applies its own per-commit rule: the files at main are refused, README stays readable
    assert.equal((await fetch(`${hub.url}/${open}/resolve/main/model.safetensors`)).status, 403);
    assert.equal((await fetch(`${hub.url}/${open}/resolve/main/README.md`)).status, 200);
  });

  await t.test("every ref counts: a branch carrying a denied license refuses the clone and is named; deleting it frees the repository", async () => {
    const id = await createRepo(hub.url, token, { name: "branchy" });
    await commitFiles(hub.url, token, id, modelFiles("apache-2.0"));
    await createBranch(hub.url, token, id, "research");
    await commitFiles(hub.url, token, id, [{ path: "README.md", content: readme("cc-by-nc-4.0") }], { revision: "research" });
    const result = await anonymous.git(["clone", `${hub.url}/${id}`, path.join(work, "branchy-1")]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, NC_REFUSAL(id, "git clone/fetch"), result.stderr);
    assert.match(result.stderr, / on refs\/heads\/research\. README\.md/, result.stderr);
    // main itself still downloads through /resolve (judged by its own commit)
    assert.equal(sha256(Buffer.from(await (await fetch(`${hub.url}/${id}/resolve/main/model.safetensors`)).arrayBuffer())), sha256(WEIGHTS));

    const deleted = await fetch(`${hub.url}/api/models/${id}/branch/research`, { method: "DELETE", headers: { Authorization: `Bearer ${token}` } });
    assert.equal(deleted.status, 200);
    const dir = path.join(work, "branchy-2");
    await anonymous.ok(["clone", `${hub.url}/${id}`, dir]);
    assert.equal(treeDigests(dir).get("model.safetensors"), sha256(WEIGHTS));
  });
});

test("dry-run: git clone with LFS is served byte for byte and one warning per clone names the license, rule and ref", async (t) => {
  const data = tempDir(t);
  const created = agora(["token", "create", "--user", "dora", "--data", data]);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout;
  const server = serveProcess(data, { env: { AGORA_LICENSE_POLICY_MODE: "dry-run", AGORA_LICENSE_POLICY_DENY_CLASSES: "non-commercial" } });
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;
  const id = await createRepo(url, token, { name: "nc-dry" });
  await commitFiles(url, token, id, modelFiles("cc-by-nc-4.0"));

  const user = await gitUser(t);
  const dir = path.join(tempDir(t), "clone");
  await user.ok(["clone", `${url}/${id}`, dir]);
  const digests = treeDigests(dir);
  assert.equal(digests.get("model.safetensors"), sha256(WEIGHTS), "LFS content smudged");
  assert.equal(digests.get("tokenizer.json"), sha256(TOKENIZER));

  type Warning = { level: number; msg: string; repo: string; ref: string; download: string; license: string; rule: string };
  const warnings = (): Warning[] =>
    server
      .output()
      .split("\n")
      .filter((line) => line.includes("would refuse"))
      .map((line) => JSON.parse(line) as Warning);
  // the warnings are written by the requests' loggers: wait for them (bounded)
  const deadline = Date.now() + 10_000;
  while (!warnings().some((w) => w.download === "LFS download") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const git = warnings().filter((w) => w.download === "git clone/fetch");
  assert.equal(git.length, 1, `one warning for the clone; output: ${server.output()}`);
  assert.deepEqual([git[0].level, git[0].repo, git[0].ref, git[0].license, git[0].rule], [40, id, "refs/heads/main", "cc-by-nc-4.0", "denyClasses: non-commercial"]);
  assert.match(git[0].msg, /^license policy \(dry-run\) would refuse git clone\/fetch of dora\/nc-dry: .*cc-by-nc-4\.0.* is of class non-commercial, which is listed in denyClasses \(on refs\/heads\/main\)$/);
  const lfs = warnings().filter((w) => w.download === "LFS download");
  assert.ok(lfs.length >= 1, server.output());
  assert.equal(lfs[0].rule, "denyClasses: non-commercial");
});

test("mirrored repositories follow the same rule: a denied upstream repository is not cloned and its objects are not fetched", async (t) => {
  const upstream = await startHub(t);
  const upstreamToken = await upstream.token("alice");
  const denied = await createRepo(upstream.url, upstreamToken, { name: "nc-upstream" });
  await commitFiles(upstream.url, upstreamToken, denied, modelFiles("cc-by-nc-4.0"));
  const open = await createRepo(upstream.url, upstreamToken, { name: "open-upstream" });
  const openWeights = patternBytes(300_000, 23);
  await commitFiles(upstream.url, upstreamToken, open, [
    { path: "README.md", content: readme("mit") },
    { path: "model.safetensors", content: openWeights, lfs: true },
  ]);
  const mirror = await startHub(t, { env: { ...POLICY_ENV, AGORA_UPSTREAM: upstream.url } });
  const user = await gitUser(t);
  const work = tempDir(t);

  const result = await user.git(["clone", `${mirror.url}/${denied}`, path.join(work, "denied")]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, NC_REFUSAL(denied, "git clone/fetch"), result.stderr);
  assert.equal((await mirror.services.repos.find("model", denied))?.mirrored, 1, "the repository was mirrored (refs and card), then judged");

  const objects = await lfsBatch(mirror.url, denied, "download", [weightsObject]);
  assert.equal(objects[0].error?.code, 403);
  assert.equal(objects[0].actions, undefined);
  assert.equal(await mirror.services.blobs.stat(weightsObject.oid), undefined, "the refused object was never fetched from the upstream");

  const dir = path.join(work, "open");
  await user.ok(["clone", `${mirror.url}/${open}`, dir]);
  assert.equal(treeDigests(dir).get("model.safetensors"), sha256(openWeights), "an allowed mirrored repository clones with its LFS content");
});
