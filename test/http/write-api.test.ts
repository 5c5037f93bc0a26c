// The write side over raw HTTP (hub-api.md §9, §10): the LFS upload flow, NDJSON commits and
// their response, parentCommit (412 when stale), create_pr, malformed cards, deletions,
// branches, tags and settings.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { startHub } from "../helpers/server.ts";
import { assertError, assertOk, commit, commitRaw, createRepo, lfsBatch, request, sha256, uploadLfs } from "./wire-helpers.ts";

test("commits, LFS, branches, tags and settings", async (t) => {
  const hub = await startHub(t);
  const alice = await hub.token("alice");
  const id = await createRepo(hub.url, alice, "alice/writer");
  const head = async (rev = "main") => (await request(`${hub.url}/api/models/${id}/revision/${encodeURIComponent(rev)}`, "GET", { token: alice })).json<{ sha: string }>().sha;
  const refs = async () =>
    (await request(`${hub.url}/api/models/${id}/refs`, "GET", { token: alice })).json<{ branches: { name: string; targetCommit: string }[]; tags: { name: string; ref: string; targetCommit: string }[]; converts: unknown[] }>();

  await t.test("commit response: success, commitOid (40 hex) and commitUrl {base}/{id}/commit/{oid}", async () => {
    const res = await commitRaw(hub.url, alice, id, [{ path: "config.json", content: "{}" }], { summary: "first" });
    assert.equal(res.status, 200, res.text);
    const body = res.json<{ success: boolean; commitOid: string; commitUrl: string }>();
    assert.equal(body.success, true);
    assert.match(body.commitOid, /^[0-9a-f]{40}$/);
    assert.equal(body.commitUrl, `${hub.url}/${id}/commit/${body.commitOid}`);
    assert.equal(body.commitUrl.split("/commit/")[0], `${hub.url}/${id}`, "Python splits on /commit/ to find the repo URL");
    assert.equal(await head(), body.commitOid);

    const dataset = await createRepo(hub.url, alice, "alice/writer-data", { type: "dataset" });
    const ds = await commitRaw(hub.url, alice, dataset, [{ path: "data.csv", content: "a\n1\n" }], { type: "dataset" });
    const dsBody = ds.json<{ commitOid: string; commitUrl: string }>();
    assert.equal(dsBody.commitUrl, `${hub.url}/datasets/${dataset}/commit/${dsBody.commitOid}`);
  });

  await t.test("LFS: batch upload, unauthenticated PUT, lfsFile line, .gitattributes kept in step", async () => {
    const content = Buffer.from("custom binary payload \x00\x01\x02");
    const oid = sha256(content);
    const batch = await lfsBatch(hub.url, alice, id, "upload", [{ oid, size: content.length }]);
    assert.equal(batch.status, 200, batch.text);
    assert.match(batch.headers.get("content-type") ?? "", /^application\/vnd\.git-lfs\+json/);
    const answer = batch.json<{ transfer?: string; objects: { oid: string; size: number; actions?: { upload?: { href: string; header?: Record<string, string> }; verify?: { href: string } } }[] }>();
    assert.equal(answer.transfer ?? "basic", "basic", "never multipart or xet");
    const [object] = answer.objects;
    assert.equal(object.oid, oid);
    assert.equal(object.size, content.length);
    const href = object.actions!.upload!.href;
    assert.ok(href.startsWith(`${hub.url}/`), `absolute upload href: ${href}`);
    assert.equal(object.actions!.upload!.header?.chunk_size, undefined, "no multipart offer");

    // Wrong bytes are refused; the right bytes without any Authorization header are accepted.
    const wrong = await fetch(href, { method: "PUT", body: Buffer.alloc(content.length, 1) });
    assert.equal(wrong.status, 422, await wrong.text());
    const put = await fetch(href, { method: "PUT", body: content });
    assert.equal(put.status, 200, await put.text());
    const verify = await request(object.actions!.verify!.href, "POST", { token: alice, json: { oid, size: content.length }, contentType: "application/vnd.git-lfs+json" });
    assert.equal(verify.status, 200, verify.text);
    // A second batch for the same object has no actions: clients skip it.
    const again = await lfsBatch(hub.url, alice, id, "upload", [{ oid, size: content.length }]);
    assert.equal(again.json<{ objects: { actions?: unknown }[] }>().objects[0].actions, undefined);

    const res = await commitRaw(hub.url, alice, id, [{ path: "data/blob.custom", content, lfs: true }]);
    assert.equal(res.status, 200, res.text);
    const file = await fetch(`${hub.url}/${id}/resolve/main/data/blob.custom`);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get("x-linked-etag"), `"${oid}"`);
    assert.equal(file.headers.get("x-linked-size"), String(content.length));
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), content);
    const [entry] = (await request(`${hub.url}/api/models/${id}/tree/main/data`, "GET")).json<{ path: string; size: number; lfs: { oid: string; size: number; pointerSize: number } }[]>();
    assert.equal(entry.size, content.length);
    assert.deepEqual({ oid: entry.lfs.oid, size: entry.lfs.size }, { oid, size: content.length });
    assert.ok(entry.lfs.pointerSize > 100);
    // The path was not covered by a default pattern, so .gitattributes now tracks it.
    const attributes = await (await fetch(`${hub.url}/${id}/resolve/main/.gitattributes`)).text();
    assert.match(attributes, /^data\/blob\.custom filter=lfs diff=lfs merge=lfs -text$/m);

    // Python same-repo copy: lfsFile without size.
    const copy = await request(`${hub.url}/api/models/${id}/commit/main`, "POST", {
      token: alice,
      contentType: "application/x-ndjson",
      body: `${JSON.stringify({ key: "header", value: { summary: "copy" } })}\n${JSON.stringify({ key: "lfsFile", value: { path: "copy.custom", algo: "sha256", oid } })}\n`,
    });
    assert.equal(copy.status, 200, copy.text);
    assert.equal((await fetch(`${hub.url}/${id}/resolve/main/copy.custom`, { method: "HEAD" })).headers.get("x-linked-size"), String(content.length));
  });

  await t.test("LFS: a signed download URL serves whole and ranged; 416 outside; 404 once the object is gone, whatever the range", async () => {
    const content = Buffer.from("signed download payload 0123456789");
    const oid = sha256(content);
    await uploadLfs(hub.url, alice, id, [content]);
    await commit(hub.url, alice, id, [{ path: "signed.custom", content, lfs: true }]);
    const batch = await lfsBatch(hub.url, alice, id, "download", [{ oid, size: content.length }]);
    const href = batch.json<{ objects: { actions?: { download?: { href: string } } }[] }>().objects[0].actions?.download?.href;
    assert.ok(href, batch.text);

    const whole = await fetch(href); // no Authorization header: the signature is the credential
    assert.equal(whole.status, 200);
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), oid);
    const middle = await fetch(href, { headers: { Range: "bytes=7-14" } });
    assert.equal(middle.status, 206);
    assert.equal(middle.headers.get("content-range"), `bytes 7-14/${content.length}`);
    assert.deepEqual(Buffer.from(await middle.arrayBuffer()), content.subarray(7, 15));
    const outside = await fetch(href, { headers: { Range: `bytes=${content.length}-` } });
    assert.equal(outside.status, 416);
    assert.equal(outside.headers.get("content-range"), `bytes */${content.length}`);

    // The object leaves the store (an operator removed it); the URL is still validly signed.
    fs.rmSync(path.join(hub.dataDir, "lfs", "objects", oid.slice(0, 2), oid));
    for (const range of [undefined, "bytes=0-0", `bytes=${content.length}-`]) {
      const gone = await fetch(href, { headers: range ? { Range: range } : {} });
      assert.equal(gone.status, 404, `Range ${range}: ${await gone.text()}`);
    }
  });

  await t.test("an lfsFile whose object was never uploaded is refused and nothing is committed", async () => {
    const before = await head();
    const res = await commitRaw(hub.url, alice, id, [{ path: "ghost.bin", content: Buffer.from("never uploaded"), lfs: true }, { path: "also.txt", content: "x" }]);
    assertError(res, 422, "LfsObjectMissing");
    assert.equal(await head(), before);
  });

  await t.test("parentCommit: stale → 412 with the Hub's message; current (full or abbreviated) → 200", async () => {
    const parent = await head();
    const moved = await commit(hub.url, alice, id, [{ path: "moved.txt", content: "1" }]);
    const stale = await commitRaw(hub.url, alice, id, [{ path: "stale.txt", content: "x" }], { parentCommit: parent });
    const message = assertError(stale, 412, "StaleParent");
    assert.equal(message, "The branch was updated since you opened this page. Please refresh and try again.");
    assert.equal(stale.json<{ error: string }>().error, message);
    assert.equal(await head(), moved, "nothing committed");
    assertError(await request(`${hub.url}/${id}/resolve/main/stale.txt`, "GET"), 404, "EntryNotFound");

    const current = await commitRaw(hub.url, alice, id, [{ path: "fresh.txt", content: "x" }], { parentCommit: moved });
    assert.equal(current.status, 200, current.text);
    const next = current.json<{ commitOid: string }>().commitOid;
    const short = await commitRaw(hub.url, alice, id, [{ path: "fresh2.txt", content: "x" }], { parentCommit: next.slice(0, 7) });
    assert.equal(short.status, 200, short.text);
  });

  await t.test("create_pr=1 is refused with a clear error and changes nothing", async () => {
    const before = await head();
    for (const query of ["create_pr=1", "create_pr=True"]) {
      const res = await commitRaw(hub.url, alice, id, [{ path: "pr.txt", content: "x" }], { query });
      assert.ok(res.status >= 400 && res.status < 600, `${query}: ${res.status}`);
      const message = res.headers.get("x-error-message") ?? "";
      assert.ok(res.headers.get("x-error-code"), "coded error");
      assert.match(message, /pull request/i, message);
      assert.equal(typeof res.json<{ error: string }>().error, "string");
    }
    assert.equal(await head(), before);
    assert.deepEqual((await refs()).branches.map((b) => b.name), ["main"]);
  });

  await t.test("a README with malformed YAML front matter is stored; info shows no cardData", async () => {
    const broken = "---\nlicense: [mit\ntags: : :\n---\n# Broken card\n";
    const res = await commitRaw(hub.url, alice, id, [{ path: "README.md", content: broken }]);
    assert.equal(res.status, 200, res.text);
    assert.equal((await request(`${hub.url}/${id}/resolve/main/README.md`, "GET")).text, broken);
    const info = await request(`${hub.url}/api/models/${id}`, "GET");
    assert.equal(info.status, 200);
    const json = info.json<{ cardData?: unknown; tags: string[]; siblings: { rfilename: string }[] }>();
    assert.equal(json.cardData, undefined);
    assert.ok(json.siblings.some((s) => s.rfilename === "README.md"));
    assert.ok(!json.tags.some((t) => t.startsWith("license:")));
    // A valid card afterwards shows up.
    await commit(hub.url, alice, id, [{ path: "README.md", content: "---\nlicense: mit\n---\n# Card\n" }]);
    assert.deepEqual((await request(`${hub.url}/api/models/${id}`, "GET")).json<{ cardData: unknown }>().cardData, { license: "mit" });
  });

  await t.test("deletedFile / deletedFolder; deleting a missing file is 404 EntryNotFound", async () => {
    await commit(hub.url, alice, id, [
      { path: "tmp/a.txt", content: "a" },
      { path: "tmp/b/c.txt", content: "c" },
      { path: "gone.txt", content: "g" },
    ]);
    assertOk(await commitRaw(hub.url, alice, id, [{ deletedFile: "gone.txt" }, { deletedFolder: "tmp/" }]));
    const paths = (await request(`${hub.url}/api/models/${id}/tree/main?recursive=true`, "GET")).json<{ path: string }[]>().map((e) => e.path);
    assert.ok(!paths.includes("gone.txt") && !paths.some((p) => p.startsWith("tmp")), paths.join(","));
    const before = await head();
    const missing = await commitRaw(hub.url, alice, id, [{ deletedFile: "never-there.txt" }]);
    assertError(missing, 404, "EntryNotFound");
    assert.match(missing.headers.get("x-error-message") ?? "", /A file with this name doesn't exist/);
    assert.equal(await head(), before);
    // Commits to an unknown branch: RevisionNotFound.
    assertError(await commitRaw(hub.url, alice, id, [{ path: "x.txt", content: "x" }], { revision: "no-such-branch" }), 404, "RevisionNotFound");
    // A header without summary is a 400.
    const noSummary = await request(`${hub.url}/api/models/${id}/commit/main`, "POST", { token: alice, contentType: "application/x-ndjson", body: `${JSON.stringify({ key: "header", value: { summary: "" } })}\n` });
    assertError(noSummary, 400, "BadRequest");
  });

  await t.test("branches: create, 409 when it exists, 400 for invalid names, delete", async () => {
    const branchUrl = (name: string) => `${hub.url}/api/models/${id}/branch/${encodeURIComponent(name)}`;
    const main = await head();
    assertOk(await request(branchUrl("dev"), "POST", { token: alice, json: {} }));
    assert.equal(await head("dev"), main);
    const exists = await request(branchUrl("dev"), "POST", { token: alice, json: {} });
    assertError(exists, 409, "RefExists");
    assertError(await request(branchUrl("main"), "POST", { token: alice, json: {} }), 409, "RefExists");

    // startingPoint: an older commit.
    const first = (await request(`${hub.url}/api/models/${id}/commits/main`, "GET")).json<{ id: string }[]>().at(-1)!.id;
    assertOk(await request(branchUrl("from-old"), "POST", { token: alice, json: { startingPoint: first } }));
    assert.equal(await head("from-old"), first);
    assertError(await request(branchUrl("from-nowhere"), "POST", { token: alice, json: { startingPoint: "no-such-rev" } }), 404, "RevisionNotFound");

    for (const bad of ["refs/pr/5", "with space", "two..dots", "ends.lock", "-leading-dash", "HEAD", "colon:name"]) {
      assertError(await request(branchUrl(bad), "POST", { token: alice, json: {} }), 400, "InvalidRefName", bad);
    }
    const names = (await refs()).branches.map((b) => b.name).sort();
    assert.deepEqual(names, ["dev", "from-old", "main"]);

    // A commit on the branch moves only the branch.
    const onDev = await commit(hub.url, alice, id, [{ path: "dev.txt", content: "dev" }], { revision: "dev" });
    assert.equal(await head("dev"), onDev);
    assert.equal(await head(), main);

    assertOk(await request(branchUrl("dev"), "DELETE", { token: alice }));
    assertError(await request(`${hub.url}/api/models/${id}/revision/dev`, "GET"), 404, "RevisionNotFound");
    assertError(await request(branchUrl("dev"), "DELETE", { token: alice }), 404, "RevisionNotFound");
    assertError(await request(branchUrl("main"), "DELETE", { token: alice }), 400, "BadRequest");
    assert.equal(await head(), main);
  });

  await t.test("tags: create (light and annotated), 409 when it exists, 404 for an unknown revision, delete", async () => {
    const tagUrl = (rev: string) => `${hub.url}/api/models/${id}/tag/${encodeURIComponent(rev)}`;
    const main = await head();
    assertOk(await request(tagUrl("main"), "POST", { token: alice, json: { tag: "v1" } }));
    const older = (await request(`${hub.url}/api/models/${id}/commits/main`, "GET")).json<{ id: string }[]>()[2].id;
    assertOk(await request(tagUrl(older), "POST", { token: alice, json: { tag: "v0", message: "the old one" } }));
    const tags = Object.fromEntries((await refs()).tags.map((tag) => [tag.name, tag]));
    assert.deepEqual(tags.v1, { name: "v1", ref: "refs/tags/v1", targetCommit: main });
    assert.equal(tags.v0.targetCommit, older, "annotated tags are peeled to their commit");
    assert.equal(await head("v0"), older);
    assert.equal((await request(`${hub.url}/${id}/resolve/v1/config.json`, "GET")).headers.get("x-repo-commit"), main);

    assertError(await request(tagUrl("main"), "POST", { token: alice, json: { tag: "v1" } }), 409, "RefExists");
    assertError(await request(tagUrl("no-such-branch"), "POST", { token: alice, json: { tag: "v2" } }), 404, "RevisionNotFound");
    assertError(await request(tagUrl("main"), "POST", { token: alice, json: { tag: "bad tag" } }), 400, "InvalidRefName");
    assertError(await request(tagUrl("main"), "POST", { token: alice, json: {} }), 400, "BadRequest");
    assert.deepEqual((await refs()).tags.map((tag) => tag.name).sort(), ["v0", "v1"]);

    assertOk(await request(`${hub.url}/api/models/${id}/tag/v1`, "DELETE", { token: alice }));
    assertError(await request(`${hub.url}/api/models/${id}/tag/v1`, "DELETE", { token: alice }), 404, "RevisionNotFound");
    assertError(await request(`${hub.url}/${id}/resolve/v1/config.json`, "GET"), 404, "RevisionNotFound");
    assert.deepEqual((await refs()).tags.map((tag) => tag.name), ["v0"]);
    // The refs listing always has its three keys.
    assert.deepEqual(Object.keys(await refs()).sort(), ["branches", "converts", "tags"]);
  });

  await t.test("settings: private and gated round trip", async () => {
    const settings = (body: unknown) => request(`${hub.url}/api/models/${id}/settings`, "PUT", { token: alice, json: body });
    const info = async () => (await request(`${hub.url}/api/models/${id}`, "GET", { token: alice })).json<{ private: boolean; gated: unknown }>();
    const steps: [unknown, { private: boolean; gated: unknown }][] = [
      [{ private: true }, { private: true, gated: false }],
      [{ gated: "manual" }, { private: true, gated: "manual" }],
      [{ visibility: "public" }, { private: false, gated: "manual" }],
      [{ gated: "auto", visibility: "private" }, { private: true, gated: "auto" }],
      [{ gated: false, private: false }, { private: false, gated: false }],
    ];
    for (const [body, expected] of steps) {
      const res = await settings(body);
      assert.equal(res.status, 200, `${JSON.stringify(body)}: ${res.text}`);
      assert.deepEqual(res.json(), expected, JSON.stringify(body));
      const now = await info();
      assert.deepEqual({ private: now.private, gated: now.gated }, expected, `info after ${JSON.stringify(body)}`);
    }
    assertError(await settings({ gated: "sometimes" }), 400, "BadRequest");
    assertError(await settings({ visibility: "hidden" }), 400, "BadRequest");
    assert.deepEqual(await info().then((i) => ({ private: i.private, gated: i.gated })), { private: false, gated: false }, "bad requests change nothing");
    // Anonymous settings changes need a token.
    assert.equal((await request(`${hub.url}/api/models/${id}/settings`, "PUT", { json: { private: true } })).status, 401);
  });

  await t.test("uploads to a dataset go through the /datasets/ LFS endpoint", async () => {
    const dataset = "alice/writer-data";
    const content = Buffer.from("parquet-ish bytes");
    await uploadLfs(hub.url, alice, dataset, [content], "dataset");
    assertOk(await commitRaw(hub.url, alice, dataset, [{ path: "train.parquet", content, lfs: true }], { type: "dataset" }));
    const file = await fetch(`${hub.url}/datasets/${dataset}/resolve/main/train.parquet`);
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), content);
    // The model-side endpoint of the same id is a different (missing) repository.
    assertError(await lfsBatch(hub.url, alice, dataset, "upload", [{ oid: sha256(content), size: content.length }]), 404, "RepoNotFound");
  });
});
