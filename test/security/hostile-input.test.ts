// Hostile input against a real Agora: every malformed, unsafe or unauthorised request gets a 4xx
// in the Hub's error format and leaves nothing behind — the branch head, the file list, the git
// objects, the published LFS objects, the staging and temp folders, the repository rows and
// directories are all exactly as before.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { startHub, type TestHub } from "../helpers/server.ts";
import { assertHubError, commitFiles, createRepo, patternBytes, repoInfo, sha256, uploadLfsObjects } from "../helpers/hub-http.ts";

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Small HTTP utilities

function bearer(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function ndjson(lines: unknown[]): string {
  return lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n";
}

const header = (summary = "hostile") => ({ key: "header", value: { summary } });
const fileLine = (p: unknown, content: string | Buffer = "x") => ({ key: "file", value: { path: p, content: Buffer.from(content).toString("base64"), encoding: "base64" } });
const lfsLine = (p: unknown, oid: unknown, size: unknown) => ({ key: "lfsFile", value: { path: p, algo: "sha256", oid, size } });

function postCommit(hub: TestHub, repoId: string, token: string | undefined, body: string | Buffer, contentType = "application/x-ndjson"): Promise<Response> {
  return fetch(`${hub.url}/api/models/${repoId}/commit/main`, { method: "POST", headers: { ...bearer(token), "Content-Type": contentType }, body });
}

function lfsBatch(hub: TestHub, repoId: string, token: string | undefined, body: unknown): Promise<Response> {
  return fetch(`${hub.url}/${repoId}.git/info/lfs/objects/batch`, {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
    body: JSON.stringify(body),
  });
}

type BatchObject = { oid: string; size: number; error?: { code: unknown; message: unknown }; actions?: { upload?: { href: string }; download?: { href: string } } };

async function batchObjects(hub: TestHub, repoId: string, token: string, operation: "upload" | "download", objects: unknown[]): Promise<BatchObject[]> {
  const response = await lfsBatch(hub, repoId, token, { operation, transfers: ["basic"], objects });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { objects: BatchObject[] }).objects;
}

/** The signed upload URL the batch API hands out for one object. */
async function uploadHref(hub: TestHub, repoId: string, token: string, oid: string, size: number): Promise<string> {
  const [object] = await batchObjects(hub, repoId, token, "upload", [{ oid, size }]);
  assert.ok(object.actions?.upload?.href, `the batch API asks for ${oid}: ${JSON.stringify(object)}`);
  return object.actions.upload.href;
}

type WireResponse = { status: number; headers: http.IncomingHttpHeaders; text: string };

/**
 * Sends a request with node:http, writing the body in pieces; resolves with the answer even if
 * the server answers (and stops reading) before the body is complete. `chunked` omits
 * Content-Length so the server cannot know the size in advance.
 */
function sendBody(url: string, options: { method: string; headers?: Record<string, string>; body: Buffer; chunked?: boolean }): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.chunked) headers["Transfer-Encoding"] = "chunked";
    else headers["Content-Length"] = String(options.body.length);
    let answered = false;
    const request = http.request(url, { method: options.method, headers, agent: false }, (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("error", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") }));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    const piece = 256 * 1024;
    let offset = 0;
    const writeMore = () => {
      while (offset < options.body.length) {
        const chunk = options.body.subarray(offset, offset + piece);
        offset += chunk.length;
        if (request.destroyed) return;
        if (!request.write(chunk)) {
          request.once("drain", writeMore);
          return;
        }
      }
      request.end();
    };
    writeMore();
  });
}

/** The Hub's error format on a node:http answer. */
function assertWireError(response: WireResponse, status: number, code: string): string {
  assert.equal(response.status, status, `expected HTTP ${status}, got ${response.status}: ${response.text.slice(0, 300)}`);
  assert.equal(response.headers["x-error-code"], code);
  assert.ok(String(response.headers["x-error-message"] ?? "").length > 0, "X-Error-Message is present");
  const body = JSON.parse(response.text) as { error: string };
  assert.equal(typeof body.error, "string");
  return body.error;
}

// ---------------------------------------------------------------------------------------------
// "Nothing stored": a snapshot of everything a write could leave behind

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => fs.statSync(path.join(dir, p)).isFile()).sort();
}

type HubState = {
  sha: string;
  files: string[];
  gitObjects: string[];
  lfsObjects: string[];
  staging: string[];
  commitTemp: string[];
  repoDirs: string[];
  repoRows: string[];
  lfsLinks: string[];
};

async function hubState(hub: TestHub, repoId: string): Promise<HubState> {
  const info = await repoInfo(hub.url, repoId, { token: await ownerToken(hub, repoId) });
  const siblings = (info.siblings as { rfilename: string }[]).map((s) => s.rfilename).sort();
  const rows = await hub.services.db.selectFrom("repos").select(["type", "namespace", "name", "head_sha"]).execute();
  const links = await hub.services.db.selectFrom("lfs_links").select(["repo_id", "oid"]).execute();
  return {
    sha: info.sha as string,
    files: siblings,
    gitObjects: listFiles(path.join(hub.dataDir, "repos", `${info._id as string}.git`, "objects")),
    lfsObjects: listFiles(path.join(hub.dataDir, "lfs", "objects")),
    staging: listFiles(path.join(hub.dataDir, "lfs", "staging")),
    commitTemp: listFiles(path.join(hub.dataDir, "tmp")),
    repoDirs: fs.readdirSync(path.join(hub.dataDir, "repos")).sort(),
    repoRows: rows.map((r) => `${r.type}:${r.namespace}/${r.name}@${r.head_sha}`).sort(),
    lfsLinks: links.map((l) => `${l.repo_id}:${l.oid}`).sort(),
  };
}

const owners = new Map<string, string>();
async function ownerToken(hub: TestHub, repoId: string): Promise<string> {
  const ns = repoId.split("/")[0];
  let token = owners.get(ns);
  if (!token) {
    token = await hub.token(ns);
    owners.set(ns, token);
  }
  return token;
}

async function assertNothingStored(hub: TestHub, repoId: string, before: HubState, what: string): Promise<void> {
  const after = await hubState(hub, repoId);
  assert.deepEqual(after, before, `${what} must leave nothing behind`);
}

/** YAML whose aliases expand to 10^9 nodes if a parser follows them blindly. */
function billionLaughs(): string {
  let yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (let i = 1; i < 9; i++) yaml += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]\n`;
  return yaml;
}

function objectPath(hub: TestHub, oid: string): string {
  return path.join(hub.dataDir, "lfs", "objects", oid.slice(0, 2), oid);
}

// ---------------------------------------------------------------------------------------------

test("hostile input is refused with a 4xx and leaves nothing stored", async (t) => {
  const hub = await startHub(t);
  const alice = await hub.token("alice");
  owners.set("alice", alice);
  const aliceRead = await hub.token("alice", "read");
  const bob = await hub.token("bob");
  owners.set("bob", bob);

  const target = await createRepo(hub.url, alice, { name: "target" });
  const baseline = await commitFiles(hub.url, alice, target, [
    { path: "keep.txt", content: "kept" },
    { path: "weights.bin", content: patternBytes(3000, 3), lfs: true },
  ]);
  // An object uploaded to this repository but not yet committed: lfsFile lines may name it.
  const uploaded = patternBytes(2048, 11);
  await uploadLfsObjects(hub.url, alice, target, [uploaded]);

  await t.test("unsafe commit paths are refused as file, lfsFile and deletedFile", async () => {
    const paths = ["../x", "/etc/passwd", "a/../../b", ".git/config", "a/.git/hooks/x", ".GIT/config", "a\u0000b", "a\\b", "", "a//b", "a/", "./a", "a\nb"];
    const before = await hubState(hub, target);
    for (const bad of paths) {
      for (const line of [fileLine(bad, "#!/bin/sh\necho owned\n"), lfsLine(bad, sha256(uploaded), uploaded.length), { key: "deletedFile", value: { path: bad } }]) {
        // A valid operation first: the whole commit must be refused, not applied up to the bad line.
        const response = await postCommit(hub, target, alice, ndjson([header(), fileLine("fine.txt", "fine"), line]));
        const body = await assertHubError(response, 400, "InvalidPath");
        assert.match(body.error, /invalid path/, `message for ${JSON.stringify(bad)} (${line.key})`);
      }
    }
    await assertNothingStored(hub, target, before, "commits with unsafe paths");
    assert.equal(fs.existsSync(path.join(hub.dataDir, "repos", "x")), false);

    const preupload = await fetch(`${hub.url}/api/models/${target}/preupload/main`, {
      method: "POST",
      headers: { ...bearer(alice), "Content-Type": "application/json" },
      body: JSON.stringify({ files: [{ path: "../x", size: 1, sample: "" }] }),
    });
    await assertHubError(preupload, 400, "InvalidPath");
  });

  await t.test("repository names that break the Hub's rules are refused and create nothing", async () => {
    const before = await hubState(hub, target);
    const cases: { name: unknown; organization?: string | null }[] = [
      { name: "a--b" },
      { name: "a..b" },
      { name: "-a" },
      { name: "a-" },
      { name: ".a" },
      { name: "a.git" },
      { name: "A.GIT" },
      { name: "x/y/z" },
      { name: "alice/y/z" },
      { name: "a".repeat(97) },
      { name: "a b" },
      { name: "a\tb" },
      { name: "modèle" },
      { name: "模型" },
      { name: "" },
      { name: "alice/" },
      { name: "/a" },
      { name: "x", organization: "api" },
      { name: "x", organization: "datasets" },
      { name: "api/x" },
      { name: "datasets/x" },
      { name: "x", organization: "al ice" },
      { name: "x", organization: "a--b" },
    ];
    for (const input of cases) {
      const response = await fetch(`${hub.url}/api/repos/create`, {
        method: "POST",
        headers: { ...bearer(alice), "Content-Type": "application/json" },
        body: JSON.stringify({ type: "model", ...input }),
      });
      const text = await response.text();
      assert.equal(response.status, 400, `create ${JSON.stringify(input)}: HTTP ${response.status} ${text}`);
      await assertHubError(response, 400, "InvalidRepoName", text);
    }
    const nonString = await fetch(`${hub.url}/api/repos/create`, { method: "POST", headers: { ...bearer(alice), "Content-Type": "application/json" }, body: JSON.stringify({ name: ["a"] }) });
    await assertHubError(nonString, 400, "BadRequest");
    await assertNothingStored(hub, target, before, "refused repository names");

    // The boundary itself is accepted: 96 characters is a valid name (so the 97 above failed for its length).
    const longest = await createRepo(hub.url, alice, { name: "b".repeat(96) });
    assert.equal(longest, `alice/${"b".repeat(96)}`);
  });

  await t.test("an LFS upload whose bytes or size do not match its oid is refused and never published", async () => {
    const content = patternBytes(64 * 1024, 21);
    const oid = sha256(content);
    const before = await hubState(hub, target);
    const href = await uploadHref(hub, target, alice, oid, content.length);

    const wrongBytes = Buffer.from(content);
    wrongBytes[1000] ^= 0xff;
    const longer = Buffer.concat([content, Buffer.from("!")]);
    const shorter = content.subarray(0, content.length - 1);
    const attempts: { what: string; body: Buffer; chunked: boolean; status?: number; code?: string }[] = [
      { what: "same size, different bytes", body: wrongBytes, chunked: false },
      { what: "one byte longer (Content-Length)", body: longer, chunked: false },
      { what: "one byte shorter (Content-Length)", body: shorter, chunked: false },
      { what: "one byte longer (chunked)", body: longer, chunked: true },
      { what: "one byte shorter (chunked)", body: shorter, chunked: true },
      { what: "same size, different bytes (chunked)", body: wrongBytes, chunked: true },
      { what: "empty body", body: Buffer.alloc(0), chunked: false, status: 400, code: "BadRequest" },
    ];
    for (const attempt of attempts) {
      const response = await sendBody(href, { method: "PUT", body: attempt.body, chunked: attempt.chunked });
      const message = assertWireError(response, attempt.status ?? 422, attempt.code ?? "LfsObjectMismatch");
      assert.ok(message.length > 10, attempt.what);
      assert.equal(fs.existsSync(objectPath(hub, oid)), false, `${attempt.what}: no object published`);
      assert.deepEqual(listFiles(path.join(hub.dataDir, "lfs", "staging")), [], `${attempt.what}: staging cleaned`);
    }
    // The hub still asks for the object, refuses to commit it, and cannot serve it.
    await uploadHref(hub, target, alice, oid, content.length);
    const [download] = await batchObjects(hub, target, alice, "download", [{ oid, size: content.length }]);
    assert.equal(download.error?.code, 404);
    const commit = await postCommit(hub, target, alice, ndjson([header(), lfsLine("mismatch.bin", oid, content.length)]));
    await assertHubError(commit, 422, "LfsObjectMissing");
    await assertNothingStored(hub, target, before, "refused LFS uploads");

    // A tampered signature is refused before any byte is stored.
    const tampered = href.replace(/size=\d+/, `size=${content.length + 1}`);
    const forged = await sendBody(tampered, { method: "PUT", body: longer });
    assertWireError(forged, 403, "Forbidden");
    await assertNothingStored(hub, target, before, "a forged upload URL");

    // The right bytes are accepted afterwards (the refusals above were about the bytes).
    const ok = await sendBody(href, { method: "PUT", body: content });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(sha256(fs.readFileSync(objectPath(hub, oid))), oid);
  });

  await t.test("a large LFS upload (hashed on a worker thread) with one wrong byte near its end is refused", async () => {
    // 9 MiB: past the size up to which the store hashes on the receiving thread.
    const content = patternBytes(9 * 1024 * 1024, 5);
    const oid = sha256(content);
    const before = await hubState(hub, target);
    const href = await uploadHref(hub, target, alice, oid, content.length);
    const wrongBytes = Buffer.from(content);
    wrongBytes[content.length - 100] ^= 0x01;
    for (const chunked of [false, true]) {
      const response = await sendBody(href, { method: "PUT", body: wrongBytes, chunked });
      assertWireError(response, 422, "LfsObjectMismatch");
      assert.equal(fs.existsSync(objectPath(hub, oid)), false, "no object published");
      assert.deepEqual(listFiles(path.join(hub.dataDir, "lfs", "staging")), [], "staging cleaned");
    }
    await assertNothingStored(hub, target, before, "a large upload with a wrong byte");
    const ok = await sendBody(href, { method: "PUT", body: content });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(sha256(fs.readFileSync(objectPath(hub, oid))), oid);
  });

  await t.test("a commit naming an LFS object that was never uploaded is refused (422)", async () => {
    const before = await hubState(hub, target);
    const ghost = sha256("never uploaded anywhere");
    const response = await postCommit(hub, target, alice, ndjson([header(), fileLine("fine.txt"), lfsLine("ghost.bin", ghost, 23)]));
    const body = await assertHubError(response, 422, "LfsObjectMissing");
    assert.match(body.error, /never uploaded/);
    // Also with the size omitted, and with a wrong size for an object that is here.
    await assertHubError(await postCommit(hub, target, alice, ndjson([header(), lfsLine("ghost.bin", ghost, undefined)])), 422, "LfsObjectMissing");
    const wrongSize = await postCommit(hub, target, alice, ndjson([header(), lfsLine("sized.bin", sha256(uploaded), uploaded.length + 1)]));
    await assertHubError(wrongSize, 422, "LfsObjectMismatch");
    await assertNothingStored(hub, target, before, "commits of missing LFS objects");
  });

  await t.test("an LFS object uploaded to another repository cannot be committed into this one", async () => {
    const secretRepo = await createRepo(hub.url, bob, { name: "secret", private: true });
    const secret = patternBytes(5000, 99);
    const oid = sha256(secret);
    await uploadLfsObjects(hub.url, bob, secretRepo, [secret]);
    assert.ok(fs.existsSync(objectPath(hub, oid)), "the object is stored (for bob's repository)");
    const ownOther = await createRepo(hub.url, alice, { name: "other" });
    const mine = patternBytes(4000, 77);
    await uploadLfsObjects(hub.url, alice, ownOther, [mine]);

    const before = await hubState(hub, target);
    for (const [foreign, content] of [
      [oid, secret],
      [sha256(mine), mine],
    ] as const) {
      const response = await postCommit(hub, target, alice, ndjson([header(), lfsLine("stolen.bin", foreign, content.length)]));
      await assertHubError(response, 422, "LfsObjectMissing");
      // Nor does the batch API pretend it is here, or hand out a download.
      const [upload] = await batchObjects(hub, target, alice, "upload", [{ oid: foreign, size: content.length }]);
      assert.ok(upload.actions?.upload, "the batch API asks for the bytes again");
      const [download] = await batchObjects(hub, target, alice, "download", [{ oid: foreign, size: content.length }]);
      assert.equal(download.error?.code, 404);
      assert.equal(download.actions, undefined);
    }
    await assertNothingStored(hub, target, before, "commits of another repository's LFS objects");
  });

  await t.test("malformed NDJSON commit bodies are refused", async () => {
    const before = await hubState(hub, target);
    const cases: { what: string; body: string; status: number; code: string; message: RegExp }[] = [
      { what: "not JSON", body: "this is not json\n", status: 400, code: "BadRequest", message: /not valid JSON/ },
      { what: "truncated JSON", body: ndjson([header()]) + '{"key":"file","value":{"path":"a.txt"', status: 400, code: "BadRequest", message: /not valid JSON/ },
      { what: "header not first", body: ndjson([fileLine("a.txt"), header()]), status: 400, code: "BadRequest", message: /first line must be the header/ },
      { what: "missing header", body: ndjson([fileLine("a.txt"), fileLine("b.txt")]), status: 400, code: "BadRequest", message: /header/ },
      { what: "empty body", body: "", status: 400, code: "BadRequest", message: /empty/ },
      { what: "blank lines only", body: "\n\n  \n", status: 400, code: "BadRequest", message: /empty/ },
      { what: "a second header", body: ndjson([header(), fileLine("a.txt"), header()]), status: 400, code: "BadRequest", message: /header/ },
      { what: "header without summary", body: ndjson([{ key: "header", value: {} }, fileLine("a.txt")]), status: 400, code: "BadRequest", message: /summary/ },
      { what: "header with a bad parentCommit", body: ndjson([{ key: "header", value: { summary: "s", parentCommit: "../../HEAD" } }, fileLine("a.txt")]), status: 400, code: "BadRequest", message: /parentCommit/ },
      { what: "unknown key", body: ndjson([header(), fileLine("a.txt"), { key: "chmod", value: { path: "a.txt" } }]), status: 400, code: "BadRequest", message: /unknown key/ },
      { what: "a line that is not an object", body: ndjson([header(), "[1,2,3]"]), status: 400, code: "BadRequest", message: /expected an object/ },
      { what: "value not an object", body: ndjson([header(), { key: "file", value: "a.txt" }]), status: 400, code: "BadRequest", message: /expected an object/ },
      { what: "bad base64", body: ndjson([header(), { key: "file", value: { path: "a.txt", content: "%%%not base64%%%", encoding: "base64" } }]), status: 400, code: "BadRequest", message: /base64/ },
      { what: "content not a string", body: ndjson([header(), { key: "file", value: { path: "a.txt", content: 42 } }]), status: 400, code: "BadRequest", message: /content/ },
      { what: "unknown encoding", body: ndjson([header(), { key: "file", value: { path: "a.txt", content: "eA==", encoding: "rot13" } }]), status: 400, code: "BadRequest", message: /encoding/ },
      { what: "lfsFile oid in upper case", body: ndjson([header(), lfsLine("w.bin", sha256(uploaded).toUpperCase(), uploaded.length)]), status: 400, code: "BadRequest", message: /oid/ },
      { what: "lfsFile oid too short", body: ndjson([header(), lfsLine("w.bin", sha256(uploaded).slice(1), uploaded.length)]), status: 400, code: "BadRequest", message: /oid/ },
      { what: "lfsFile oid with a prefix", body: ndjson([header(), lfsLine("w.bin", `sha256:${sha256(uploaded)}`, uploaded.length)]), status: 400, code: "BadRequest", message: /oid/ },
      { what: "lfsFile oid as a path", body: ndjson([header(), lfsLine("w.bin", `../../${sha256(uploaded).slice(6)}`, uploaded.length)]), status: 400, code: "BadRequest", message: /oid/ },
      { what: "lfsFile oid not a string", body: ndjson([header(), lfsLine("w.bin", 12345, uploaded.length)]), status: 400, code: "BadRequest", message: /oid/ },
      { what: "lfsFile negative size", body: ndjson([header(), lfsLine("w.bin", sha256(uploaded), -1)]), status: 400, code: "BadRequest", message: /size/ },
      { what: "lfsFile fractional size", body: ndjson([header(), lfsLine("w.bin", sha256(uploaded), 1.5)]), status: 400, code: "BadRequest", message: /size/ },
      { what: "lfsFile other algorithm", body: ndjson([header(), { key: "lfsFile", value: { path: "w.bin", algo: "md5", oid: sha256(uploaded), size: uploaded.length } }]), status: 400, code: "BadRequest", message: /algo/ },
      { what: "deleting a file that does not exist", body: ndjson([header(), { key: "deletedFile", value: { path: "nope.txt" } }]), status: 404, code: "EntryNotFound", message: /nope\.txt/ },
    ];
    for (const c of cases) {
      const response = await postCommit(hub, target, alice, c.body);
      const text = await response.text();
      assert.equal(response.status, c.status, `${c.what}: HTTP ${response.status} ${text}`);
      const body = await assertHubError(response, c.status, c.code, text);
      assert.match(body.error, c.message, c.what);
    }
    // A commit body sent as JSON rather than NDJSON.
    const asJson = await postCommit(hub, target, alice, JSON.stringify({ summary: "x", files: [] }), "application/json");
    assert.ok(asJson.status >= 400 && asJson.status < 500, `JSON commit body: HTTP ${asJson.status}`);
    assert.ok(asJson.headers.get("x-error-message"));
    await asJson.text();
    await assertNothingStored(hub, target, before, "malformed NDJSON commits");
  });

  await t.test("a single NDJSON line over 32 MiB is refused with 413", async () => {
    const before = await hubState(hub, target);
    const head = Buffer.from(ndjson([header(), fileLine("fine.txt")]) + '{"key":"file","value":{"path":"big.txt","encoding":"base64","content":"');
    const giant = Buffer.concat([head, Buffer.alloc(33 * MiB, "A"), Buffer.from('"}}\n')]);
    const response = await sendBody(`${hub.url}/api/models/${target}/commit/main`, {
      method: "POST",
      headers: { ...bearer(alice), "Content-Type": "application/x-ndjson" },
      body: giant,
    });
    const message = assertWireError(response, 413, "PayloadTooLarge");
    assert.match(message, /line/);
    await assertNothingStored(hub, target, before, "a giant NDJSON line");
  });

  await t.test("writes need a write token with rights on the namespace (403)", async () => {
    const bobRepo = await createRepo(hub.url, bob, { name: "public" });
    const beforeTarget = await hubState(hub, target);
    const beforeBob = await hubState(hub, bobRepo);

    const readCommit = await postCommit(hub, target, aliceRead, ndjson([header(), fileLine("r.txt")]));
    assert.match((await assertHubError(readCommit, 403, "Forbidden")).error, /read/);
    const readBatch = await lfsBatch(hub, target, aliceRead, { operation: "upload", objects: [{ oid: sha256("r"), size: 1 }] });
    await assertHubError(readBatch, 403, "Forbidden");
    const readCreate = await fetch(`${hub.url}/api/repos/create`, { method: "POST", headers: { ...bearer(aliceRead), "Content-Type": "application/json" }, body: JSON.stringify({ name: "by-read-token" }) });
    await assertHubError(readCreate, 403, "Forbidden");
    const readDelete = await fetch(`${hub.url}/api/models/${target}/commit/main`, {
      method: "POST",
      headers: { ...bearer(aliceRead), "Content-Type": "application/x-ndjson" },
      body: ndjson([header(), { key: "deletedFile", value: { path: "keep.txt" } }]),
    });
    await assertHubError(readDelete, 403, "Forbidden");

    const foreignCommit = await postCommit(hub, bobRepo, alice, ndjson([header(), fileLine("pwned.txt")]));
    assert.match((await assertHubError(foreignCommit, 403, "Forbidden")).error, /bob\/public/);
    const foreignBatch = await lfsBatch(hub, bobRepo, alice, { operation: "upload", objects: [{ oid: sha256("p"), size: 1 }] });
    await assertHubError(foreignBatch, 403, "Forbidden");
    const foreignCreate = await fetch(`${hub.url}/api/repos/create`, { method: "POST", headers: { ...bearer(alice), "Content-Type": "application/json" }, body: JSON.stringify({ name: "squat", organization: "bob" }) });
    await assertHubError(foreignCreate, 403, "Forbidden");
    const foreignCreateSlash = await fetch(`${hub.url}/api/repos/create`, { method: "POST", headers: { ...bearer(alice), "Content-Type": "application/json" }, body: JSON.stringify({ name: "bob/squat" }) });
    await assertHubError(foreignCreateSlash, 403, "Forbidden");
    const anonymous = await postCommit(hub, target, undefined, ndjson([header(), fileLine("anon.txt")]));
    assert.equal(anonymous.status, 401);
    await anonymous.text();

    await assertNothingStored(hub, target, beforeTarget, "writes without rights");
    await assertNothingStored(hub, bobRepo, beforeBob, "writes into another user's namespace");
  });

  await t.test("expired and revoked tokens are refused (401), for writes and reads", async () => {
    const expiring = await hub.services.accounts.createToken("alice", { role: "write", expiresInDays: 1 / 86_400_000 }); // one millisecond
    const revoked = await hub.services.accounts.createToken("alice", { role: "write" });
    const whoami = (token: string) => fetch(`${hub.url}/api/whoami-v2`, { headers: bearer(token) });
    const live = await whoami(revoked.token);
    assert.equal(live.status, 200, "the token works before it is revoked");
    await live.text();
    await hub.services.accounts.revokeToken(revoked.row.id);
    while (Date.now() <= Date.parse(expiring.row.expires_at!)) await new Promise((r) => setTimeout(r, 5));

    const before = await hubState(hub, target);
    for (const token of [expiring.token, revoked.token, "hf_" + "x".repeat(34), "not-a-token"]) {
      await assertHubError(await postCommit(hub, target, token, ndjson([header(), fileLine("late.txt")])), 401, "InvalidCredentials");
      await assertHubError(await lfsBatch(hub, target, token, { operation: "upload", objects: [{ oid: sha256("l"), size: 1 }] }), 401, "InvalidCredentials");
      await assertHubError(await fetch(`${hub.url}/api/models/${target}`, { headers: bearer(token) }), 401, "InvalidCredentials");
      await assertHubError(await whoami(token), 401, "InvalidCredentials");
    }
    await assertNothingStored(hub, target, before, "writes with dead tokens");
  });

  await t.test("oversized JSON bodies are refused with 413", async () => {
    const before = await hubState(hub, target);
    const padding = "A".repeat(17 * MiB);
    const requests: { what: string; url: string; body: unknown; contentType: string }[] = [
      { what: "create repo", url: `${hub.url}/api/repos/create`, body: { name: "huge", pad: padding }, contentType: "application/json" },
      { what: "LFS batch", url: `${hub.url}/${target}.git/info/lfs/objects/batch`, body: { operation: "upload", objects: [], pad: padding }, contentType: "application/vnd.git-lfs+json" },
      { what: "preupload", url: `${hub.url}/api/models/${target}/preupload/main`, body: { files: [], pad: padding }, contentType: "application/json" },
      { what: "paths-info", url: `${hub.url}/api/models/${target}/paths-info/main`, body: { paths: [padding] }, contentType: "application/json" },
    ];
    for (const r of requests) {
      for (const chunked of [false, true]) {
        const response = await sendBody(r.url, { method: "POST", headers: { ...bearer(alice), "Content-Type": r.contentType }, body: Buffer.from(JSON.stringify(r.body)), chunked });
        assertWireError(response, 413, "PayloadTooLarge");
      }
    }
    await assertNothingStored(hub, target, before, "oversized JSON bodies");
    assert.equal((await hub.services.repos.find("model", "alice/huge")) === undefined, true);
  });

  await t.test("hostile LFS batch objects get per-object errors with integer code 422", async () => {
    const before = await hubState(hub, target);
    const good = patternBytes(100, 5);
    const hex = (seed: string) => sha256(seed);
    const hostile: unknown[] = [
      { oid: "z".repeat(64), size: 1 },
      { oid: hex("upper").toUpperCase(), size: 1 },
      { oid: hex("short").slice(2), size: 1 },
      { oid: `../../${hex("dots").slice(6)}`, size: 1 },
      { oid: hex("negative"), size: -1 },
      { oid: hex("fraction"), size: 1.5 },
      { oid: hex("string size"), size: "10" },
      { oid: hex("no size") },
      { oid: hex("huge"), size: 2 ** 53 },
      { oid: hex("nan"), size: null },
      { size: 5 },
      { oid: 12345, size: 5 },
      "not an object",
      null,
    ];
    const objects = await batchObjects(hub, target, alice, "upload", [...hostile, { oid: sha256(good), size: good.length }]);
    assert.equal(objects.length, hostile.length + 1, "one answer per object");
    hostile.forEach((input, i) => {
      const answer = objects[i];
      assert.ok(answer.error, `object ${i} (${JSON.stringify(input)}) has an error: ${JSON.stringify(answer)}`);
      assert.equal(answer.error.code, 422, `object ${i}: code ${JSON.stringify(answer.error.code)}`);
      assert.ok(Number.isInteger(answer.error.code));
      assert.equal(typeof answer.error.message, "string");
      assert.equal(answer.actions, undefined, `object ${i} gets no upload URL`);
    });
    assert.ok(objects[hostile.length].actions?.upload?.href, "the valid object in the same batch gets an upload URL");

    for (const body of [{ operation: "upload", objects: "nope" }, { operation: "delete", objects: [] }, { operation: "upload" }]) {
      await assertHubError(await lfsBatch(hub, target, alice, body), 400, "BadRequest");
    }
    const notJson = await fetch(`${hub.url}/${target}.git/info/lfs/objects/batch`, { method: "POST", headers: { ...bearer(alice), "Content-Type": "application/vnd.git-lfs+json" }, body: "{not json" });
    await assertHubError(notJson, 400, "BadRequest");
    await assertNothingStored(hub, target, before, "hostile batch objects");
  });

  await t.test("a README with malformed YAML front matter is accepted as a file and yields no cardData", async () => {
    const cards = await createRepo(hub.url, alice, { name: "cards" });
    await commitFiles(hub.url, alice, cards, [{ path: "README.md", content: "---\nlicense: mit\ntags: [vision]\n---\n# Good card\n" }]);
    assert.deepEqual((await repoInfo(hub.url, cards)).cardData, { license: "mit", tags: ["vision"] });

    for (const broken of [
      "---\nlicense: [mit\ntags: : :\n  - x\n---\n# Broken card\n",
      "---\nlicense: mit\nlicense: apache-2.0\n---\n# Duplicate keys\n",
      "---\n- just\n- a list\n---\n# Not a mapping\n",
      "---\nlicense: mit\n# never closed\n",
      "---\na: &a [*a]\n---\n# Recursive alias\n",
      `---\n${billionLaughs()}---\n# Alias bomb\n`,
    ]) {
      const response = await postCommit(hub, cards, alice, ndjson([header("broken card"), fileLine("README.md", broken)]));
      assert.equal(response.status, 200, await response.clone().text());
      const { commitOid } = (await response.json()) as { commitOid: string };
      const info = await repoInfo(hub.url, cards);
      assert.equal(info.sha, commitOid);
      assert.equal(info.cardData, undefined, `no cardData for ${JSON.stringify(broken)}`);
      assert.ok((info.siblings as { rfilename: string }[]).some((s) => s.rfilename === "README.md"));
      const served = await fetch(`${hub.url}/${cards}/resolve/main/README.md`);
      assert.equal(await served.text(), broken, "the README is stored verbatim");
      const row = await hub.services.repos.find("model", cards);
      assert.equal(row?.card_data, null, "the listing has no card data either");
    }
  });

  await t.test("HTML and script in files are stored verbatim and never served as HTML", async () => {
    const cards = "alice/cards";
    const readme = '---\nlicense: mit\n---\n# Card\n<script>alert(document.cookie)</script>\n<img src=x onerror="fetch(\'/api/whoami-v2\')">\n<iframe src="javascript:alert(1)"></iframe>\n';
    const page = "<!doctype html><html><body><script>alert(1)</script></body></html>";
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>';
    await commitFiles(hub.url, alice, cards, [
      { path: "README.md", content: readme },
      { path: "page.html", content: page },
      { path: "image.svg", content: svg },
      { path: "nested/page.HTM", content: page },
    ]);
    const expectations: [string, string, RegExp][] = [
      ["README.md", readme, /^text\/markdown/],
      ["page.html", page, /^text\/plain/],
      ["image.svg", svg, /^text\/plain/],
      ["nested/page.HTM", page, /^(text\/plain|application\/octet-stream)/],
    ];
    for (const [file, content, type] of expectations) {
      for (const method of ["GET", "HEAD"]) {
        const response = await fetch(`${hub.url}/${cards}/resolve/main/${file}`, { method });
        assert.equal(response.status, 200, file);
        const contentType = response.headers.get("content-type") ?? "";
        assert.match(contentType, type, `${file}: Content-Type ${contentType}`);
        assert.doesNotMatch(contentType, /html|svg|javascript|xml/i, `${file} is never served as an active type`);
        assert.equal(response.headers.get("x-content-type-options"), "nosniff", file);
        const body = await response.text();
        if (method === "GET") assert.equal(body, content, `${file} is stored and served verbatim`);
      }
    }
  });
});
