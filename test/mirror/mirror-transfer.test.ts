// Air-gapped transfer: `agora mirror export` on a hub that has a repository (mirrored from an
// upstream, or local) writes one archive; `agora mirror import` on a hub with no upstream turns it
// into a read-only mirror that serves the same bytes under the same commit ids. Both commands run
// as real child processes against real data directories; hubs are real servers.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import tar from "tar-stream";
import { createRepo, downloadFile, uploadFiles } from "@huggingface/hub";
import { loadConfig } from "../../src/config/config.ts";
import { buildServices, type Services } from "../../src/services/index.ts";
import { suiteScope, startHub, tempDir, type TestHub } from "../helpers/server.ts";
import { runAgoraAsync } from "../helpers/serve-process.ts";
import { gitUser } from "../git/git-client.ts";
import { createTag } from "../helpers/hub-http.ts";
import { safetensorsFile } from "../helpers/model-files.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");


/** Entries of a (small, test-made) tar archive: name, where its data starts, its size. */
function tarEntries(archive: Buffer): { name: string; offset: number; size: number }[] {
  const entries = [];
  let at = 0;
  while (at + 512 <= archive.length && archive[at] !== 0) {
    const name = archive.subarray(at, at + 100).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(archive.subarray(at + 124, at + 136).toString("utf8").replace(/\0.*$/s, "").trim(), 8);
    entries.push({ name, offset: at + 512, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** Rewrites an archive entry by entry (test archives are a few MiB: held in memory). */
async function repack(source: string, target: string, edit: (entries: { name: string; data: Buffer }[]) => { name: string; data: Buffer }[]): Promise<void> {
  const extract = tar.extract();
  fs.createReadStream(source).pipe(extract as unknown as NodeJS.WritableStream);
  const entries: { name: string; data: Buffer }[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
    entries.push({ name: entry.header.name, data: Buffer.concat(chunks) });
  }
  const pack = tar.pack();
  const out = fs.createWriteStream(target);
  pack.pipe(out as unknown as NodeJS.WritableStream);
  for (const entry of edit(entries)) pack.entry({ name: entry.name, size: entry.data.length }, entry.data);
  pack.finalize();
  await new Promise<void>((resolve, reject) => out.on("finish", () => resolve()).on("error", reject));
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => fs.statSync(path.join(dir, name)).isFile());
}

/** What an import leaves in a data directory: repository rows, git directories, objects, staging and scratch files. */
function leftovers(dataDir: string) {
  let rows: string[] = [];
  if (fs.existsSync(path.join(dataDir, "agora.sqlite"))) {
    const db = new Database(path.join(dataDir, "agora.sqlite"), { readonly: true });
    rows = (db.prepare("SELECT namespace || '/' || name AS id FROM repos").all() as { id: string }[]).map((r) => r.id);
    db.close();
  }
  const list = (dir: string) => (fs.existsSync(path.join(dataDir, dir)) ? fs.readdirSync(path.join(dataDir, dir)) : []);
  return { rows, repoDirs: list("repos"), objects: filesUnder(path.join(dataDir, "lfs", "objects")), staging: list("lfs/staging"), tmp: list("tmp") };
}

/** Imports in this process (the refusals below: faster than a CLI start each), answering the error. */
async function importRefusal(dataDir: string, file: string, setup?: (services: Services) => Promise<unknown>): Promise<Error> {
  const services = buildServices(loadConfig({ env: { AGORA_DATA: dataDir, AGORA_LOG_LEVEL: "silent" } }));
  try {
    await setup?.(services);
    const error = await services.mirrorTransfer.importArchive(file).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(error, `importing ${path.basename(file)} should have been refused`);
    return error;
  } finally {
    await services.close();
  }
}

function assertNothingImported(dataDir: string) {
  assert.deepEqual(leftovers(dataDir), { rows: [], repoDirs: [], objects: [], staging: [], tmp: [] });
}

describe("agora mirror export / import", () => {
  const scope = suiteScope();
  let upstream: TestHub;
  let token: string;
  const files = new Map<string, Buffer>();
  let firstCommit: string;
  let commit: string;
  let mirrorDir: string;
  let archive: string;
  let work: string;
  const upstreamEnv = () => ({ AGORA_UPSTREAM: upstream.url, AGORA_UPSTREAM_TOKEN: token });

  before(async () => {
    upstream = await startHub(scope);
    token = await upstream.token("alice");
    work = tempDir(scope, "agora-transfer-");
    const hub = { hubUrl: upstream.url, accessToken: token };
    await createRepo({ ...hub, repo: "alice/transfer" });
    const shard = randomBytes(3 * 1024 * 1024 + 7);
    files.set("config.json", Buffer.from(JSON.stringify({ architectures: ["LlamaForCausalLM"], hidden_size: 64 })));
    files.set("README.md", Buffer.from("---\nlicense: apache-2.0\npipeline_tag: text-generation\n---\n# Transfer\n"));
    files.set("weights/shard-1.bin", shard);
    const first = await uploadFiles({ ...hub, repo: "alice/transfer", files: [...files].map(([p, c]) => ({ path: p, content: new Blob([c]) })) });
    firstCommit = first!.commit.oid;
    files.set("model.safetensors", safetensorsFile([{ name: "w", dtype: "F32", shape: [512, 1024] }]));
    files.set("weights/copy-of-shard-1.bin", shard); // the same object under two paths: stored once
    files.set("data/tokens.bin", randomBytes(1024 * 1024 + 3));
    const second = await uploadFiles({
      ...hub,
      repo: "alice/transfer",
      files: ["model.safetensors", "weights/copy-of-shard-1.bin", "data/tokens.bin"].map((p) => ({ path: p, content: new Blob([files.get(p)!]) })),
    });
    commit = second!.commit.oid;

    // The mirror has the repository's metadata and one LFS file cached; the others are fetched by the export.
    mirrorDir = tempDir(scope, "agora-mirror-");
    const mirror = await startHub(scope, { dataDir: mirrorDir, env: upstreamEnv() });
    const cached = await downloadFile({ hubUrl: mirror.url, repo: "alice/transfer", path: "data/tokens.bin" });
    assert.equal(sha256(new Uint8Array(await cached!.arrayBuffer())), sha256(files.get("data/tokens.bin")!));

    archive = path.join(work, "transfer.tar");
    const exported = await runAgoraAsync(["mirror", "export", "alice/transfer", archive, "--data", mirrorDir], upstreamEnv());
    assert.equal(exported.code, 0, exported.stderr + exported.stdout);
    assert.match(exported.stdout, new RegExp(`commit ${commit}`));
    assert.match(exported.stdout, /fetched\s+model\.safetensors/);
    assert.doesNotMatch(exported.stdout, /fetched\s+data\/tokens\.bin/);
    assert.match(exported.stdout, /7 files, 3 LFS objects/);
  });

  test("the archive holds a manifest, a bundle and each LFS object once; nothing is left beside it", () => {
    const bytes = fs.readFileSync(archive);
    const entries = tarEntries(bytes);
    const lfsNames = ["weights/shard-1.bin", "model.safetensors", "data/tokens.bin"].map((p) => `lfs/${sha256(files.get(p)!)}`).sort();
    assert.deepEqual(entries.map((e) => e.name).slice(0, 2), ["agora-transfer.json", "repo.bundle"]);
    assert.deepEqual(entries.slice(2).map((e) => e.name).sort(), lfsNames);
    for (const entry of entries.slice(2)) assert.equal(sha256(bytes.subarray(entry.offset, entry.offset + entry.size)), entry.name.slice(4));
    const manifest = JSON.parse(bytes.subarray(entries[0].offset, entries[0].offset + entries[0].size).toString("utf8"));
    assert.equal(manifest.format, "agora-mirror-transfer");
    assert.deepEqual(manifest.repo, { type: "model", id: "alice/transfer", private: false, gated: "false", upstream: upstream.url, refsFetchedAt: manifest.repo.refsFetchedAt });
    assert.deepEqual(manifest.revision, { requested: "main", ref: "refs/heads/main", target: commit, commit });
    assert.deepEqual(fs.readdirSync(work), ["transfer.tar"]);
    assert.deepEqual(fs.readdirSync(path.join(mirrorDir, "tmp")), []);
  });

  test("imported into a hub with no upstream: every file downloads with identical bytes, at the upstream's commit id, listed as mirrored; re-import changes nothing", async (t) => {
    const site = tempDir(t, "agora-airgap-");
    const imported = await runAgoraAsync(["mirror", "import", archive, "--data", site]);
    assert.equal(imported.code, 0, imported.stderr + imported.stdout);
    assert.match(imported.stdout, /created mirrored model alice\/transfer/);
    assert.match(imported.stdout, new RegExp(`refs/heads/main created at ${commit}`));
    assert.match(imported.stdout, /stored 3 LFS objects .*, 0 already present/);
    assert.deepEqual(fs.readdirSync(path.join(site, "tmp")), []);

    const hub = await startHub(t, { dataDir: site });
    for (const [file, content] of files) {
      const blob = await downloadFile({ hubUrl: hub.url, repo: "alice/transfer", path: file });
      assert.equal(sha256(new Uint8Array(await blob!.arrayBuffer())), sha256(content), file);
      const pinned = await fetch(`${hub.url}/alice/transfer/resolve/${commit}/${file}`);
      assert.equal(pinned.status, 200, file);
      assert.equal(pinned.headers.get("x-repo-commit"), commit);
      assert.equal(sha256(new Uint8Array(await pinned.arrayBuffer())), sha256(content), file);
    }
    const info = (await (await fetch(`${hub.url}/api/models/alice/transfer`)).json()) as Record<string, unknown>;
    assert.equal(info.sha, commit);
    assert.equal(info.mirrored, true);
    assert.equal((info.cardData as { license?: string }).license, "apache-2.0"); // the listing was refreshed from the imported commit
    assert.ok((info.tags as string[]).includes("safetensors"));
    const listed = (await (await fetch(`${hub.url}/api/models?search=transfer`)).json()) as { id: string; mirrored?: boolean }[];
    assert.deepEqual(listed.map((m) => [m.id, m.mirrored]), [["alice/transfer", true]]);
    const write = await fetch(`${hub.url}/api/models/alice/transfer/commit/main`, { method: "POST", headers: { Authorization: `Bearer ${await hub.token("alice")}` }, body: "{}" });
    assert.equal(write.status, 403); // read-only, like any mirror
    await hub.close();

    const before = leftovers(site);
    const again = await runAgoraAsync(["mirror", "import", archive, "--data", site]);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /updated mirrored model alice\/transfer/);
    assert.match(again.stdout, /refs\/heads\/main unchanged/);
    assert.match(again.stdout, /stored 0 LFS objects .*, 3 already present/);
    assert.deepEqual(leftovers(site), before);

    // With an upstream configured that is not the repository's, cached refs are served with the mirror's warning.
    const elsewhere = await startHub(t, { dataDir: site, env: { AGORA_UPSTREAM: "http://127.0.0.1:9", AGORA_MIRROR_MAX_AGE: "0" } });
    const stale = await fetch(`${elsewhere.url}/api/models/alice/transfer/revision/main`);
    assert.equal(stale.status, 200);
    assert.match(stale.headers.get("x-hf-warning") ?? "", /serving cached refs from/);
    assert.equal(((await stale.json()) as { sha: string }).sha, commit);
    const file = await fetch(`${elsewhere.url}/alice/transfer/resolve/main/weights/shard-1.bin`);
    assert.equal(sha256(new Uint8Array(await file.arrayBuffer())), sha256(files.get("weights/shard-1.bin")!));
  });

  test("an export that cannot fetch an uncached LFS object from the upstream stops, says to prefetch, and leaves no archive", async (t) => {
    const hub = { hubUrl: upstream.url, accessToken: token };
    await createRepo({ ...hub, repo: "alice/uncached" });
    const weights = randomBytes(1024 * 1024);
    await uploadFiles({ ...hub, repo: "alice/uncached", files: [{ path: "weights.bin", content: new Blob([weights]) }] });
    const mirror = await startHub(t, { dataDir: mirrorDir, env: upstreamEnv() });
    assert.equal((await fetch(`${mirror.url}/api/models/alice/uncached`)).status, 200); // metadata mirrored, no object fetched
    await mirror.close();
    const dir = tempDir(t);
    const file = path.join(dir, "uncached.tar");
    const result = await runAgoraAsync(["mirror", "export", "alice/uncached", file, "--data", mirrorDir, "--upstream", "http://127.0.0.1:9"]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /weights\.bin \(LFS object [0-9a-f]{64}\) of alice\/uncached is not cached here and could not be fetched/);
    assert.match(result.stderr, /Run `agora mirror prefetch alice\/uncached@[0-9a-f]{40}` while the upstream is reachable/);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.deepEqual(fs.readdirSync(path.join(mirrorDir, "tmp")), []);
  });

  test("a commit id travels without a ref and is served by id; a later archive of main adds the branch to the same mirror", async (t) => {
    const pinnedArchive = path.join(tempDir(t), "first.tar");
    const exported = await runAgoraAsync(["mirror", "export", `alice/transfer@${firstCommit}`, pinnedArchive, "--data", mirrorDir], upstreamEnv());
    assert.equal(exported.code, 0, exported.stderr + exported.stdout);
    const site = tempDir(t, "agora-airgap-");
    const imported = await runAgoraAsync(["mirror", "import", pinnedArchive, "--data", site]);
    assert.equal(imported.code, 0, imported.stderr + imported.stdout);
    assert.match(imported.stdout, /no branch or tag: use it by its commit id/);
    const hub = await startHub(t, { dataDir: site });
    const byId = await fetch(`${hub.url}/alice/transfer/resolve/${firstCommit}/weights/shard-1.bin`);
    assert.equal(byId.status, 200);
    assert.equal(sha256(new Uint8Array(await byId.arrayBuffer())), sha256(files.get("weights/shard-1.bin")!));
    assert.equal((await fetch(`${hub.url}/alice/transfer/resolve/main/config.json`)).status, 404);
    // The ref that keeps the commit reachable here is Agora's own: git clients never see it,
    // protocol v0 or v2, and cannot push to it.
    const user = await gitUser(t);
    for (const protocol of ["0", "2"]) {
      const refs = await user.ok(["-c", `protocol.version=${protocol}`, "ls-remote", `${hub.url}/alice/transfer`]);
      assert.doesNotMatch(refs, /refs\/agora/, `protocol v${protocol}: ${refs}`);
    }
    const clone = path.join(tempDir(t), "clone");
    await user.ok(["clone", "--no-checkout", `${hub.url}/alice/transfer`, clone], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
    assert.doesNotMatch(await user.ok(["for-each-ref"], { cwd: clone }), /agora/);
    await hub.close();

    const later = await runAgoraAsync(["mirror", "import", archive, "--data", site]);
    assert.equal(later.code, 0, later.stderr + later.stdout);
    assert.match(later.stdout, /updated mirrored model/);
    assert.match(later.stdout, /stored 2 LFS objects .*, 1 already present/);
    const reopened = await startHub(t, { dataDir: site });
    const main = await fetch(`${reopened.url}/alice/transfer/resolve/main/model.safetensors`);
    assert.equal(main.headers.get("x-repo-commit"), commit);
    assert.equal(sha256(new Uint8Array(await main.arrayBuffer())), sha256(files.get("model.safetensors")!));
  });

  test("a local dataset exports at an annotated tag and imports as a mirror with that tag", async (t) => {
    const hub = { hubUrl: upstream.url, accessToken: token };
    await createRepo({ ...hub, repo: { type: "dataset", name: "alice/rows" } });
    const parquet = randomBytes(2 * 1024 * 1024 + 1);
    const tagged = await uploadFiles({ ...hub, repo: { type: "dataset", name: "alice/rows" }, files: [{ path: "train.parquet", content: new Blob([parquet]) }] });
    await createTag(upstream.url, token, "alice/rows", "v1", { repoType: "dataset", message: "first release" });
    await uploadFiles({ ...hub, repo: { type: "dataset", name: "alice/rows" }, files: [{ path: "later.parquet", content: new Blob([randomBytes(1024 * 1024)]) }] });

    const file = path.join(tempDir(t), "rows.tar");
    const exported = await runAgoraAsync(["mirror", "export", "datasets/alice/rows@v1", file, "--data", upstream.dataDir]);
    assert.equal(exported.code, 0, exported.stderr + exported.stdout);
    assert.match(exported.stdout, new RegExp(`exported datasets/alice/rows@v1 \\(commit ${tagged!.commit.oid}\\)`));
    const site = tempDir(t, "agora-airgap-");
    const imported = await runAgoraAsync(["mirror", "import", file, "--data", site]);
    assert.equal(imported.code, 0, imported.stderr + imported.stdout);
    assert.match(imported.stdout, /upstream unknown/); // a local repository of a hub without a public URL
    assert.match(imported.stdout, /refs\/tags\/v1 created/);

    const mirror = await startHub(t, { dataDir: site });
    const refs = (await (await fetch(`${mirror.url}/api/datasets/alice/rows/refs`)).json()) as { branches: unknown[]; tags: { name: string; targetCommit: string }[] };
    assert.deepEqual(refs.branches, []);
    assert.deepEqual(refs.tags.map((tag) => [tag.name, tag.targetCommit]), [["v1", tagged!.commit.oid]]);
    const blob = await downloadFile({ hubUrl: mirror.url, repo: { type: "dataset", name: "alice/rows" }, path: "train.parquet", revision: "v1" });
    assert.equal(sha256(new Uint8Array(await blob!.arrayBuffer())), sha256(parquet));
    const info = (await (await fetch(`${mirror.url}/api/datasets/alice/rows/revision/v1`)).json()) as { mirrored?: boolean; sha: string };
    assert.equal(info.mirrored, true);
    assert.equal(info.sha, tagged!.commit.oid);
  });

  test("the license policy judges an export at its commit: enforce refuses (nothing written) unless forced; dry-run warns", async (t) => {
    const hub = { hubUrl: upstream.url, accessToken: token };
    await createRepo({ ...hub, repo: "alice/nc-model" });
    const weights = randomBytes(1024 * 1024 + 5);
    await uploadFiles({
      ...hub,
      repo: "alice/nc-model",
      files: [
        { path: "README.md", content: new Blob(["---\nlicense: cc-by-nc-4.0\n---\n# Research only\n"]) },
        { path: "model.bin", content: new Blob([weights]) },
      ],
    });
    const enforce = { AGORA_LICENSE_POLICY_MODE: "enforce", AGORA_LICENSE_POLICY_DENY_CLASSES: "non-commercial" };
    const dir = tempDir(t);
    const file = path.join(dir, "nc.tar");

    const refused = await runAgoraAsync(["mirror", "export", "alice/nc-model", file, "--data", upstream.dataDir], enforce);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /license policy refuses exports from alice\/nc-model: license cc-by-nc-4\.0 .*denied by rule/);
    assert.match(refused.stderr, /No archive was written.*--ignore-license-policy/);
    assert.deepEqual(fs.readdirSync(dir), [], "neither the archive nor its .tmp");

    // An allowed license under the same policy: no warning.
    const allowed = await runAgoraAsync(["mirror", "export", `alice/transfer@${firstCommit}`, path.join(dir, "open.tar"), "--data", upstream.dataDir], enforce);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.doesNotMatch(allowed.stdout, /warning/);

    const forced = await runAgoraAsync(["mirror", "export", "alice/nc-model", file, "--ignore-license-policy", "--data", upstream.dataDir], enforce);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^warning: .*refuses exports from alice\/nc-model.*\(ignored: --ignore-license-policy\)$/m);
    assert.match(forced.stdout, /1 LFS objects/);
    fs.rmSync(file);

    const dryRun = await runAgoraAsync(["mirror", "export", "alice/nc-model", file, "--data", upstream.dataDir], { ...enforce, AGORA_LICENSE_POLICY_MODE: "dry-run" });
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /^warning: .*refuses exports from alice\/nc-model.*\(dry-run: exported anyway\)$/m);
    const entries = tarEntries(fs.readFileSync(file));
    assert.ok(entries.some((e) => e.name === `lfs/${sha256(weights)}`), "the weights are in the archive");
  });

  test("an archive whose LFS object has one flipped byte is refused, leaving nothing behind", async (t) => {
    const bytes = fs.readFileSync(archive);
    const target = tarEntries(bytes).find((e) => e.name === `lfs/${sha256(files.get("model.safetensors")!)}`)!;
    bytes[target.offset + Math.floor(target.size / 2)] ^= 0x01;
    const tampered = path.join(tempDir(t), "tampered.tar");
    fs.writeFileSync(tampered, bytes);
    const site = tempDir(t, "agora-airgap-");
    const result = await runAgoraAsync(["mirror", "import", tampered, "--data", site]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`LFS object ${target.name.slice(4)} \\(model\\.safetensors\\) in the archive does not match its manifest.*damaged or was altered`));
    assertNothingImported(site);
  });

  test("a truncated archive is refused, whether cut inside an object or between entries, leaving nothing behind", async (t) => {
    const bytes = fs.readFileSync(archive);
    const entries = tarEntries(bytes);
    const dir = tempDir(t);
    const cuts = [
      { at: entries[entries.length - 1].offset + 1000, message: /truncated or damaged \(Unexpected end of data\)/ },
      { at: entries[2].offset - 512, message: /lacks 3 of the 3 LFS objects its manifest lists .*truncated/ },
    ];
    for (const [i, cut] of cuts.entries()) {
      const file = path.join(dir, `cut-${i}.tar`);
      fs.writeFileSync(file, bytes.subarray(0, cut.at));
      const site = tempDir(t, "agora-airgap-");
      assert.match((await importRefusal(site, file)).message, cut.message);
      assertNothingImported(site);
    }
  });

  test("entries outside the format, path traversal and a manifest that does not match the bundle are refused, leaving nothing behind", async (t) => {
    const dir = tempDir(t);
    const cases: { name: string; edit: Parameters<typeof repack>[2]; message: RegExp }[] = [
      { name: "traversal", edit: (entries) => [...entries, { name: "../../escaped.txt", data: Buffer.from("x") }], message: /unexpected entry "\.\.\/\.\.\/escaped\.txt"/ },
      { name: "absolute", edit: (entries) => [entries[0], { name: "/tmp/agora-absolute.txt", data: Buffer.from("x") }, ...entries.slice(1)], message: /unexpected entry/ },
      {
        name: "other-commit",
        edit: (entries) => {
          const manifest = JSON.parse(entries[0].data.toString("utf8"));
          manifest.revision.commit = manifest.revision.target = firstCommit;
          return [{ name: entries[0].name, data: Buffer.from(JSON.stringify(manifest)) }, ...entries.slice(1)];
        },
        message: /manifest\/bundle mismatch/,
      },
      {
        name: "unlisted-object",
        edit: (entries) => {
          const manifest = JSON.parse(entries[0].data.toString("utf8"));
          const dropped = manifest.lfs.pop();
          return [{ name: entries[0].name, data: Buffer.from(JSON.stringify(manifest)) }, ...entries.slice(1).filter((e) => e.name !== `lfs/${dropped.oid}`)];
        },
        message: /manifest\/bundle mismatch: commit [0-9a-f]{40} references 3 LFS objects, the manifest lists 2/,
      },
      { name: "not-an-archive", edit: (entries) => entries.slice(1), message: /not an Agora transfer archive/ },
    ];
    for (const c of cases) {
      const file = path.join(dir, `${c.name}.tar`);
      await repack(archive, file, c.edit);
      const site = tempDir(t, "agora-airgap-");
      assert.match((await importRefusal(site, file)).message, c.message, c.name);
      assertNothingImported(site);
      assert.equal(fs.existsSync(path.join(site, "..", "..", "escaped.txt")), false);
    }
    assert.equal(fs.existsSync("/tmp/agora-absolute.txt"), false);
  });

  test("an archive is never imported over a local repository of the same name", async (t) => {
    const site = tempDir(t, "agora-airgap-");
    let local: { head_sha: string | null } | undefined;
    const error = await importRefusal(site, archive, async (services) => (local = await services.repos.createUnchecked("model", "Alice", "Transfer")));
    assert.match(error.message, /Alice\/Transfer exists here as a local repository/);
    const after = leftovers(site);
    assert.deepEqual(after.rows, ["Alice/Transfer"]);
    assert.equal(after.repoDirs.length, 1);
    assert.deepEqual([after.objects, after.staging, after.tmp], [[], [], []]);
    const services = buildServices(loadConfig({ env: { AGORA_DATA: site, AGORA_LOG_LEVEL: "silent" } }));
    const row = (await services.repos.find("model", "alice/transfer"))!;
    assert.equal(row.mirrored, 0);
    assert.equal((await services.files.refs(row)).branches.get("main"), local!.head_sha); // untouched
    await services.close();
  });
});
