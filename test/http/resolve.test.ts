// /resolve and /raw over raw HTTP (hub-api.md §7, §14 items 1, 3, 4): every header the
// official clients read, HEAD without a body, single-range requests, the zero-byte case, and
// the error wire format.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startHub } from "../helpers/server.ts";
import { assertHubError, commitFiles, createRepo, gitBlobSha1, lfsPointer, patternBytes, rawRequest, sha256, socketRequest, type RawResponse, type SocketResponse } from "../helpers/hub-http.ts";

const COMMIT = /^[0-9a-f]{40}$/;

const TEXT = Buffer.from("hello from agora\n");
const CONFIG = Buffer.from(JSON.stringify({ model_type: "gpt2", architectures: ["GPT2LMHeadModel"] }));
// Larger than one pipe chunk, so ranges of a regular file cross chunk boundaries.
const REGULAR_BIG = patternBytes(150_000, 7);
const WEIGHTS = patternBytes(100_000, 42);

function header(res: RawResponse | SocketResponse, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(", ") : value;
}

test("resolve: downloads over raw HTTP", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "files" });
  const sha = await commitFiles(hub.url, token, id, [
    { path: "a.txt", content: TEXT },
    { path: "config.json", content: CONFIG },
    { path: "big.dat", content: REGULAR_BIG },
    { path: "empty.txt", content: Buffer.alloc(0) },
    { path: "w.bin", content: WEIGHTS, lfs: true },
    { path: "sub/dir/nested.txt", content: "nested\n" },
    { path: "odd names/with space & ünïcode?#100%.txt", content: "odd\n" },
  ]);
  assert.match(sha, COMMIT);
  const url = (rev: string, path: string, op = "resolve") => `${hub.url}/${id}/${op}/${rev}/${path}`;

  await t.test("GET of a regular file: body, ETag = quoted git blob sha1, X-Repo-Commit, Content-Length, Accept-Ranges", async () => {
    const res = await rawRequest(url("main", "a.txt"), { headers: { "Accept-Encoding": "gzip, deflate, br" } });
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(TEXT));
    assert.equal(header(res, "etag"), `"${gitBlobSha1(TEXT)}"`);
    assert.equal(header(res, "x-repo-commit"), sha);
    assert.equal(header(res, "content-length"), String(TEXT.length));
    assert.equal(header(res, "accept-ranges"), "bytes");
    assert.equal(header(res, "content-encoding"), undefined, "no compression on /resolve even when the client offers gzip");
    assert.equal(header(res, "x-linked-etag"), undefined, "X-Linked-Etag only for LFS");
    assert.equal(header(res, "x-linked-size"), undefined, "X-Linked-Size only for LFS");
    assert.equal(header(res, "content-range"), undefined);
    assert.ok(header(res, "x-request-id"));
    for (const name of Object.keys(res.headers)) assert.ok(!name.startsWith("x-xet"), `no Xet header (${name})`);
  });

  await t.test("GET of config.json has a JSON content type and the same headers", async () => {
    const res = await fetch(url("main", "config.json"));
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(CONFIG));
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(res.headers.get("etag"), `"${gitBlobSha1(CONFIG)}"`);
    assert.equal(res.headers.get("x-repo-commit"), sha);
  });

  await t.test("HEAD of a regular file: no body bytes, real Content-Length, same ETag as GET", async () => {
    const res = await socketRequest(url("main", "big.dat"), { method: "HEAD", headers: { "Accept-Encoding": "identity" } });
    assert.equal(res.status, 200);
    assert.equal(res.bytesAfterHeaders.length, 0, "HEAD must not send body bytes");
    assert.equal(header(res, "transfer-encoding"), undefined);
    assert.equal(header(res, "content-length"), String(REGULAR_BIG.length));
    assert.equal(header(res, "etag"), `"${gitBlobSha1(REGULAR_BIG)}"`);
    assert.equal(header(res, "x-repo-commit"), sha);
    assert.equal(header(res, "accept-ranges"), "bytes");
    assert.equal(header(res, "content-encoding"), undefined);
    assert.equal(header(res, "x-linked-size"), undefined);
    assert.ok(header(res, "x-request-id"));
  });

  await t.test("GET of a regular file larger than a pipe chunk arrives intact", async () => {
    const res = await rawRequest(url("main", "big.dat"));
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), sha256(REGULAR_BIG));
    assert.equal(header(res, "content-length"), String(REGULAR_BIG.length));
  });

  await t.test("GET of an LFS file: ETag and X-Linked-Etag = quoted sha256, X-Linked-Size = content size", async () => {
    const res = await rawRequest(url("main", "w.bin"), { headers: { "Accept-Encoding": "gzip, br" } });
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), sha256(WEIGHTS));
    assert.equal(header(res, "etag"), `"${sha256(WEIGHTS)}"`);
    assert.equal(header(res, "x-linked-etag"), `"${sha256(WEIGHTS)}"`);
    assert.equal(header(res, "x-linked-size"), String(WEIGHTS.length));
    assert.equal(header(res, "content-length"), String(WEIGHTS.length));
    assert.equal(header(res, "x-repo-commit"), sha);
    assert.equal(header(res, "accept-ranges"), "bytes");
    assert.equal(header(res, "content-encoding"), undefined);
    assert.ok(header(res, "x-request-id"));
  });

  await t.test("HEAD of an LFS file: zero body bytes while Content-Length is the content size", async () => {
    const res = await socketRequest(url("main", "w.bin"), { method: "HEAD", headers: { "Accept-Encoding": "identity" } });
    assert.equal(res.status, 200);
    assert.equal(res.bytesAfterHeaders.length, 0, "HEAD must not send body bytes");
    assert.equal(header(res, "content-length"), String(WEIGHTS.length));
    assert.equal(header(res, "etag"), `"${sha256(WEIGHTS)}"`);
    assert.equal(header(res, "x-linked-etag"), `"${sha256(WEIGHTS)}"`);
    assert.equal(header(res, "x-linked-size"), String(WEIGHTS.length));
    assert.equal(header(res, "x-repo-commit"), sha);
    assert.equal(header(res, "accept-ranges"), "bytes");
  });

  await t.test("a file in a subfolder resolves with a raw and with an encoded path", async () => {
    for (const path of ["sub/dir/nested.txt", "sub%2Fdir%2Fnested.txt"]) {
      const res = await rawRequest(url("main", path));
      assert.equal(res.status, 200, path);
      assert.equal(res.body.toString(), "nested\n");
      assert.equal(header(res, "x-repo-commit"), sha);
    }
  });

  await t.test("file names with spaces, non-ASCII, ?, # and % resolve when percent-encoded", async () => {
    const name = "odd names/with space & ünïcode?#100%.txt";
    // Python: quote(path, safe="/"); JS: the path as the URL parser encodes it (here the same).
    const pythonStyle = name.split("/").map(encodeURIComponent).join("/");
    for (const path of [pythonStyle, encodeURIComponent(name)]) {
      const res = await rawRequest(url("main", path));
      assert.equal(res.status, 200, path);
      assert.equal(res.body.toString(), "odd\n");
      assert.equal(header(res, "x-repo-commit"), sha);
      assert.equal(header(res, "etag"), `"${gitBlobSha1("odd\n")}"`);
    }
  });

  await t.test("ranges that are not a single satisfiable range are ignored: 200 with the whole file", async () => {
    for (const range of ["bytes=0-1,5-6", "bytes=abc", "bytes=9-3", "items=0-1"]) {
      const res = await rawRequest(url("main", "a.txt"), { headers: { Range: range } });
      assert.equal(res.status, 200, range);
      assert.ok(res.body.equals(TEXT), range);
      assert.equal(header(res, "content-length"), String(TEXT.length), range);
      assert.equal(header(res, "content-range"), undefined, range);
    }
  });

  await t.test("missing file: 404 EntryNotFound with X-Repo-Commit, on GET and HEAD", async () => {
    const get = await fetch(url("main", "nope.json"));
    await assertHubError(get, 404, "EntryNotFound");
    assert.equal(get.headers.get("x-repo-commit"), sha, "Python reads X-Repo-Commit from the 404 to cache the miss");
    assert.ok(get.headers.get("x-request-id"));
    assert.equal(get.headers.get("etag"), null);

    const head = await socketRequest(url("main", "nope.json"), { method: "HEAD" });
    assert.equal(head.status, 404);
    assert.equal(head.bytesAfterHeaders.length, 0);
    assert.equal(header(head, "x-error-code"), "EntryNotFound");
    assert.ok(header(head, "x-error-message"));
    assert.equal(header(head, "x-repo-commit"), sha);
    assert.ok(header(head, "x-request-id"));

    // a folder is not a file
    const folder = await fetch(url("main", "sub"));
    await assertHubError(folder, 404, "EntryNotFound");
    assert.equal(folder.headers.get("x-repo-commit"), sha);
  });

  await t.test("missing file at a commit id: X-Repo-Commit is that commit", async () => {
    const res = await fetch(url(sha, "missing.txt"));
    await assertHubError(res, 404, "EntryNotFound");
    assert.equal(res.headers.get("x-repo-commit"), sha);
  });

  await t.test("unknown revision: 404 RevisionNotFound in the wire format", async () => {
    const res = await fetch(url("no-such-branch", "a.txt"));
    await assertHubError(res, 404, "RevisionNotFound");
    assert.ok(res.headers.get("x-request-id"));
  });

  await t.test("unknown repository: RepoNotFound, 401 anonymous and 404 with a token", async () => {
    const anonymous = await fetch(`${hub.url}/alice/missing/resolve/main/a.txt`);
    await assertHubError(anonymous, 401, "RepoNotFound");
    const withToken = await fetch(`${hub.url}/alice/missing/resolve/main/a.txt`, { headers: { Authorization: `Bearer ${token}` } });
    await assertHubError(withToken, 404, "RepoNotFound");
  });

  await t.test("Range on an LFS file: 0-0, middle, suffix, open-ended, end past EOF", async () => {
    const size = WEIGHTS.length;
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=1000-1999", 1000, 1999],
      ["bytes=-500", size - 500, size - 1],
      [`bytes=${size - 300}-`, size - 300, size - 1],
      ["bytes=99990-5000000", 99990, size - 1],
      [`bytes=-${size + 10}`, 0, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await rawRequest(url("main", "w.bin"), { headers: { Range: range } });
      assert.equal(res.status, 206, range);
      assert.equal(header(res, "content-range"), `bytes ${start}-${end}/${size}`, range);
      assert.equal(header(res, "content-length"), String(end - start + 1), range);
      assert.ok(res.body.equals(WEIGHTS.subarray(start, end + 1)), `bytes of ${range}`);
      assert.equal(header(res, "etag"), `"${sha256(WEIGHTS)}"`, range);
      assert.equal(header(res, "x-linked-size"), String(size), range);
      assert.equal(header(res, "x-repo-commit"), sha, range);
      assert.equal(header(res, "accept-ranges"), "bytes");
    }
  });

  await t.test("Range on a regular file crossing chunk boundaries", async () => {
    const size = REGULAR_BIG.length;
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=65530-131080", 65530, 131080],
      ["bytes=-1", size - 1, size - 1],
      ["bytes=70000-", 70000, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await rawRequest(url("main", "big.dat"), { headers: { Range: range } });
      assert.equal(res.status, 206, range);
      assert.equal(header(res, "content-range"), `bytes ${start}-${end}/${size}`, range);
      assert.equal(header(res, "content-length"), String(end - start + 1), range);
      assert.equal(sha256(res.body), sha256(REGULAR_BIG.subarray(start, end + 1)), `bytes of ${range}`);
    }
  });

  await t.test("the JS probe (Range bytes=0-0, Accept xet-fileinfo) gets plain bytes, never the Xet content type", async () => {
    const res = await fetch(url("main", "w.bin"), { headers: { Range: "bytes=0-0", Accept: "application/vnd.xet-fileinfo+json, */*" } });
    assert.equal(res.status, 206);
    assert.ok(!(res.headers.get("content-type") ?? "").includes("xet"));
    assert.equal(res.headers.get("content-range"), `bytes 0-0/${WEIGHTS.length}`);
    assert.equal(res.headers.get("x-linked-etag") ?? res.headers.get("etag"), `"${sha256(WEIGHTS)}"`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(WEIGHTS.subarray(0, 1)));
    assert.equal(res.headers.get("link"), null, "no Link rel=xet-auth");
  });

  await t.test("HEAD with Range: 206 headers, no body", async () => {
    const res = await socketRequest(url("main", "w.bin"), { method: "HEAD", headers: { Range: "bytes=10-19" } });
    assert.equal(res.status, 206);
    assert.equal(res.bytesAfterHeaders.length, 0);
    assert.equal(header(res, "content-range"), `bytes 10-19/${WEIGHTS.length}`);
    assert.equal(header(res, "content-length"), "10");
  });

  await t.test("unsatisfiable Range: 416 with Content-Range bytes */size", async () => {
    for (const [path, size] of [["w.bin", WEIGHTS.length], ["a.txt", TEXT.length]] as const) {
      for (const range of [`bytes=${size}-`, `bytes=${size + 100}-${size + 200}`, "bytes=-0"]) {
        const res = await fetch(url("main", path), { headers: { Range: range } });
        await assertHubError(res, 416, "RangeNotSatisfiable");
        assert.equal(res.headers.get("content-range"), `bytes */${size}`, `${path} ${range}`);
        assert.equal(res.headers.get("x-repo-commit"), sha);
        assert.equal(res.headers.get("etag"), null, "no success headers on an error");
        assert.equal(res.headers.get("x-linked-size"), null);
        assert.ok(res.headers.get("x-request-id"));
      }
    }
  });

  await t.test("zero-byte file: 200, Content-Length 0; with a Range also Content-Range bytes */0", async () => {
    const plain = await rawRequest(url("main", "empty.txt"));
    assert.equal(plain.status, 200);
    assert.equal(plain.body.length, 0);
    assert.equal(header(plain, "content-length"), "0");
    assert.equal(header(plain, "content-range"), undefined);
    assert.equal(header(plain, "etag"), `"${gitBlobSha1("")}"`);
    assert.equal(header(plain, "x-repo-commit"), sha);

    for (const method of ["GET", "HEAD"]) {
      const ranged = await socketRequest(url("main", "empty.txt"), { method, headers: { Range: "bytes=0-0" } });
      assert.equal(ranged.status, 200, method);
      assert.equal(ranged.bytesAfterHeaders.length, 0, method);
      assert.equal(header(ranged, "content-length"), "0", method);
      assert.equal(header(ranged, "content-range"), "bytes */0", method);
      assert.equal(header(ranged, "x-repo-commit"), sha, method);
    }
  });

  await t.test("/raw/ of an LFS file returns the pointer text without X-Linked-*", async () => {
    const pointer = Buffer.from(lfsPointer(WEIGHTS));
    const res = await rawRequest(url("main", "w.bin", "raw"));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), pointer.toString());
    assert.equal(header(res, "content-length"), String(pointer.length));
    assert.equal(header(res, "etag"), `"${gitBlobSha1(pointer)}"`);
    assert.equal(header(res, "x-linked-etag"), undefined);
    assert.equal(header(res, "x-linked-size"), undefined);
    assert.equal(header(res, "x-repo-commit"), sha);

    const head = await socketRequest(url("main", "w.bin", "raw"), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.bytesAfterHeaders.length, 0);
    assert.equal(header(head, "content-length"), String(pointer.length));

    const regular = await rawRequest(url("main", "a.txt", "raw"));
    assert.ok(regular.body.equals(TEXT), "/raw/ of a regular file is its content");

    const missing = await fetch(url("main", "nope.bin", "raw"));
    await assertHubError(missing, 404, "EntryNotFound");
    assert.equal(missing.headers.get("x-repo-commit"), sha);
  });

  await t.test("X-Request-Id differs between requests", async () => {
    const a = await fetch(url("main", "a.txt"), { method: "HEAD" });
    const b = await fetch(url("main", "a.txt"), { method: "HEAD" });
    assert.ok(a.headers.get("x-request-id"));
    assert.notEqual(a.headers.get("x-request-id"), b.headers.get("x-request-id"));
  });

  await t.test("datasets resolve under /datasets/", async () => {
    const ds = await createRepo(hub.url, token, { name: "data", type: "dataset" });
    const dsSha = await commitFiles(hub.url, token, ds, [{ path: "train.csv", content: "a,b\n1,2\n" }], { repoType: "dataset" });
    const res = await rawRequest(`${hub.url}/datasets/${ds}/resolve/main/train.csv`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "a,b\n1,2\n");
    assert.equal(header(res, "x-repo-commit"), dsSha);
    // the model URL of the same id does not reach the dataset
    const asModel = await fetch(`${hub.url}/${ds}/resolve/main/train.csv`, { headers: { Authorization: `Bearer ${token}` } });
    await assertHubError(asModel, 404, "RepoNotFound");
  });
});
