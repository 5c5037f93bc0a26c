// GET /api/models/{id}/tree/{rev}[/{path}] and POST .../paths-info/{rev} (hub-api.md §6):
// entry shapes (LFS entries carry lfs {oid,size,pointerSize} and the content size), recursive
// and direct listings, expand=true → lastCommit, folder paths encoded (Python) and raw (JS),
// missing folders → EntryNotFound, Link pagination, JSON and form paths-info bodies.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startHub } from "../helpers/server.ts";
import { assertHubError, commitFiles, createRepo, fetchAllPages, gitBlobSha1, lfsPointer, nextLinkOf, patternBytes, sha256, type CommitFile } from "../helpers/hub-http.ts";

type Entry = {
  type: "file" | "directory";
  oid: string;
  size: number;
  path: string;
  lfs?: { oid: string; size: number; pointerSize: number };
  lastCommit?: { id: string; title: string; date: string };
};

const WEIGHTS = patternBytes(20_000, 3);
const DEEP_WEIGHTS = patternBytes(3_000, 9);
const MANY = 1005;

test("tree and paths-info", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "tree" });
  const files: CommitFile[] = [
    { path: "README.md", content: "# tree\n" },
    { path: "config.json", content: '{"model_type":"bert"}' },
    { path: "w.bin", content: WEIGHTS, lfs: true },
    { path: "sub/c.txt", content: "c\n" },
    { path: "sub/dir/a.txt", content: "a\n" },
    { path: "sub/dir/b.txt", content: "b\n" },
    { path: "sub/dir/deep/w2.bin", content: DEEP_WEIGHTS, lfs: true },
  ];
  const first = await commitFiles(hub.url, token, id, files, { summary: "add everything" });
  const second = await commitFiles(hub.url, token, id, [{ path: "sub/dir/a.txt", content: "a, updated\n" }], { summary: "update a" });
  const manyFiles = Array.from({ length: MANY }, (_, i) => ({ path: `many/f${String(i).padStart(4, "0")}.txt`, content: `${i}\n` }));
  const third = await commitFiles(hub.url, token, id, manyFiles, { summary: "many files" });
  const repo = (await hub.services.repos.find("model", id))!;
  execFileSync("git", [`--git-dir=${hub.services.repos.repoDir(repo)}`, "update-ref", "refs/pr/1", first]);

  const api = `${hub.url}/api/models/${id}`;
  const getTree = async (suffix: string): Promise<Entry[]> => {
    const res = await fetch(`${api}/tree/${suffix}`);
    const text = await res.text();
    assert.equal(res.status, 200, `${suffix}: ${text}`);
    assert.equal(res.headers.get("link"), null, `${suffix} fits in one page`);
    return JSON.parse(text) as Entry[];
  };
  const paths = (entries: Entry[]) => entries.map((e) => e.path).sort();

  await t.test("root, not recursive: direct children with the Hub's entry shapes", async () => {
    const entries = await getTree("main?recursive=false&expand=false");
    assert.deepEqual(paths(entries), [".gitattributes", "README.md", "config.json", "many", "sub", "w.bin"]);
    const config = entries.find((e) => e.path === "config.json")!;
    assert.deepEqual(config, { type: "file", oid: gitBlobSha1('{"model_type":"bert"}'), size: 21, path: "config.json" });
    const sub = entries.find((e) => e.path === "sub")!;
    assert.equal(sub.type, "directory");
    assert.match(sub.oid, /^[0-9a-f]{40}$/);
    assert.equal(sub.size, 0);
    assert.equal(sub.lfs, undefined);
    for (const entry of entries) {
      assert.equal(entry.lastCommit, undefined, "no lastCommit without expand");
      assert.ok(!("xetHash" in entry), "never xetHash");
    }
  });

  await t.test("LFS entries: size is the content size, lfs {oid: sha256, size, pointerSize}, oid = pointer blob", async () => {
    const entries = await getTree("main");
    const w = entries.find((e) => e.path === "w.bin")!;
    const pointer = lfsPointer(WEIGHTS);
    assert.deepEqual(w, {
      type: "file",
      oid: gitBlobSha1(pointer),
      size: WEIGHTS.length,
      path: "w.bin",
      lfs: { oid: sha256(WEIGHTS), size: WEIGHTS.length, pointerSize: Buffer.byteLength(pointer) },
    });
  });

  await t.test("recursive: every descendant with its full path, directories included", async () => {
    const entries = await getTree("main/sub?recursive=true");
    assert.deepEqual(paths(entries), ["sub/c.txt", "sub/dir", "sub/dir/a.txt", "sub/dir/b.txt", "sub/dir/deep", "sub/dir/deep/w2.bin"]);
    const deep = entries.find((e) => e.path === "sub/dir/deep/w2.bin")!;
    assert.deepEqual(deep.lfs, { oid: sha256(DEEP_WEIGHTS), size: DEEP_WEIGHTS.length, pointerSize: Buffer.byteLength(lfsPointer(DEEP_WEIGHTS)) });
    assert.equal(deep.size, DEEP_WEIGHTS.length);

    const { items } = await fetchAllPages<Entry>(`${api}/tree/main?recursive=true`);
    const all = items.map((e) => e.path);
    assert.equal(new Set(all).size, all.length, "no duplicates across pages");
    for (const f of files) assert.ok(all.includes(f.path), f.path);
    assert.equal(all.filter((p) => p.startsWith("many/")).length, MANY);
  });

  await t.test("subfolder: encoded sub%2Fdir (Python) and raw sub/dir (JS) give the same listing", async () => {
    const encoded = await getTree("main/sub%2Fdir?recursive=false&expand=false");
    const raw = await getTree("main/sub/dir?recursive=false&expand=false");
    assert.deepEqual(paths(encoded), ["sub/dir/a.txt", "sub/dir/b.txt", "sub/dir/deep"]);
    assert.deepEqual(encoded, raw);
    const recursive = await getTree("main/sub%2Fdir?recursive=true");
    assert.deepEqual(paths(recursive), ["sub/dir/a.txt", "sub/dir/b.txt", "sub/dir/deep", "sub/dir/deep/w2.bin"]);
    // a trailing slash names the same folder
    assert.deepEqual(paths(await getTree("main/sub/dir/")), paths(encoded));
  });

  await t.test("subfolder at a pull-request revision, raw refs/pr/1 and encoded refs%2Fpr%2F1", async () => {
    const rawRev = await fetch(`${api}/tree/refs/pr/1/sub/dir`);
    assert.equal(rawRev.status, 200);
    assert.equal(rawRev.headers.get("x-repo-commit"), first);
    const encodedRev = await fetch(`${api}/tree/refs%2Fpr%2F1/sub%2Fdir`);
    assert.equal(encodedRev.status, 200);
    const a = ((await rawRev.json()) as Entry[]).find((e) => e.path === "sub/dir/a.txt")!;
    const b = ((await encodedRev.json()) as Entry[]).find((e) => e.path === "sub/dir/a.txt")!;
    assert.equal(a.oid, gitBlobSha1("a\n"), "the PR points at the first commit, before the update");
    assert.deepEqual(a, b);
  });

  await t.test("expand=true: lastCommit {id, title, date} of the newest commit touching each entry", async () => {
    const entries = await getTree("main/sub?recursive=true&expand=true");
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const expected: Record<string, [string, string]> = {
      "sub/c.txt": [first, "add everything"],
      "sub/dir": [second, "update a"],
      "sub/dir/a.txt": [second, "update a"],
      "sub/dir/b.txt": [first, "add everything"],
      "sub/dir/deep": [first, "add everything"],
      "sub/dir/deep/w2.bin": [first, "add everything"],
    };
    for (const [path, [commit, title]] of Object.entries(expected)) {
      const lastCommit = byPath.get(path)?.lastCommit;
      assert.ok(lastCommit, `${path} has lastCommit`);
      assert.deepEqual(Object.keys(lastCommit).sort(), ["date", "id", "title"]);
      assert.equal(lastCommit.id, commit, path);
      assert.equal(lastCommit.title, title, path);
      assert.match(lastCommit.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "dates end in Z");
    }
    const root = await getTree("main?expand=true");
    assert.equal(root.find((e) => e.path === "many")?.lastCommit?.id, third);
    assert.equal(root.find((e) => e.path === "config.json")?.lastCommit?.id, first);
  });

  await t.test("missing folder: 404 EntryNotFound (never RepoNotFound), in every spelling", async () => {
    for (const suffix of ["main/nope", "main/sub%2Fnope", "main/sub/nope", "main/sub/dir/deep/nope?recursive=true", "main/nope?expand=true"]) {
      const res = await fetch(`${api}/tree/${suffix}`);
      await assertHubError(res, 404, "EntryNotFound");
      assert.ok(res.headers.get("x-request-id"));
    }
  });

  await t.test("pagination: 1000 entries per page, Link rel=next with an absolute URL, the rest on page two", async () => {
    const res = await fetch(`${api}/tree/main/many?recursive=false&expand=false`);
    assert.equal(res.status, 200);
    const page1 = (await res.json()) as Entry[];
    assert.equal(page1.length, 1000);
    const link = res.headers.get("link");
    assert.match(link ?? "", /^<http:\/\/[^>]+>; rel="next"$/, "exactly <absolute-url>; rel=\"next\"");
    const next = nextLinkOf(link)!;
    assert.ok(next.startsWith(`${hub.url}/api/models/${id}/tree/main/many?`), next);
    assert.equal(new URL(next).searchParams.get("recursive"), "false", "the original query is kept");
    const res2 = await fetch(next);
    assert.equal(res2.status, 200);
    assert.equal(res2.headers.get("link"), null, "the last page has no Link");
    const page2 = (await res2.json()) as Entry[];
    assert.equal(page2.length, MANY - 1000);
    const all = [...page1, ...page2].map((e) => e.path);
    assert.equal(new Set(all).size, MANY);
    assert.deepEqual([...all].sort(), manyFiles.map((f) => f.path).sort());
  });

  await t.test("pagination with expand=true: smaller pages, every entry once, each with lastCommit", async () => {
    const res = await fetch(`${api}/tree/main/many?expand=true`);
    const page1 = (await res.json()) as Entry[];
    assert.ok(page1.length < MANY && page1.length > 0);
    assert.ok(nextLinkOf(res.headers.get("link")));
    const { items, pages } = await fetchAllPages<Entry>(`${api}/tree/main/many?expand=true`);
    assert.ok(pages >= 2);
    assert.equal(new Set(items.map((e) => e.path)).size, MANY);
    assert.equal(items.length, MANY);
    for (const e of items) assert.equal(e.lastCommit?.id, third, e.path);
  });

  await t.test("pagination with limit: pages of `limit` entries", async () => {
    const { items, pages } = await fetchAllPages<Entry>(`${api}/tree/main/sub?recursive=true&limit=2`);
    assert.equal(pages, 3);
    assert.deepEqual(paths(items), ["sub/c.txt", "sub/dir", "sub/dir/a.txt", "sub/dir/b.txt", "sub/dir/deep", "sub/dir/deep/w2.bin"]);
  });

  const pathsInfo = async (body: string, contentType: string, rev = "main"): Promise<Entry[]> => {
    const res = await fetch(`${api}/paths-info/${rev}`, { method: "POST", headers: { "Content-Type": contentType }, body });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return JSON.parse(text) as Entry[];
  };

  await t.test("paths-info with a JSON body (JS): missing paths omitted, entries shaped like the tree's", async () => {
    const entries = await pathsInfo(JSON.stringify({ paths: ["config.json", "w.bin", "sub/dir", "missing.txt", "sub/nope/x"], expand: false }), "application/json");
    assert.deepEqual(paths(entries), ["config.json", "sub/dir", "w.bin"]);
    const { items: tree } = await fetchAllPages<Entry>(`${api}/tree/main?recursive=true`);
    for (const entry of entries) assert.deepEqual(entry, tree.find((e) => e.path === entry.path), entry.path);
    const w = entries.find((e) => e.path === "w.bin")!;
    assert.deepEqual(w.lfs, { oid: sha256(WEIGHTS), size: WEIGHTS.length, pointerSize: Buffer.byteLength(lfsPointer(WEIGHTS)) });
    assert.equal(w.size, WEIGHTS.length);
    assert.equal(w.lastCommit, undefined);
  });

  await t.test("paths-info with a form body (Python): repeated paths, expand=true gives lastCommit", async () => {
    const entries = await pathsInfo("paths=config.json&paths=sub%2Fdir%2Fa.txt&paths=nope.bin&expand=true", "application/x-www-form-urlencoded");
    assert.deepEqual(paths(entries), ["config.json", "sub/dir/a.txt"]);
    assert.equal(entries.find((e) => e.path === "sub/dir/a.txt")?.lastCommit?.id, second);
    assert.equal(entries.find((e) => e.path === "config.json")?.lastCommit?.title, "add everything");

    const single = await pathsInfo("paths=w.bin&expand=False", "application/x-www-form-urlencoded");
    assert.equal(single.length, 1);
    assert.equal(single[0].lfs?.oid, sha256(WEIGHTS));
    assert.equal(single[0].lastCommit, undefined);

    assert.deepEqual(await pathsInfo("paths=nothing-here", "application/x-www-form-urlencoded"), []);
  });

  await t.test("paths-info at another revision and on a missing repository", async () => {
    const atPr = await pathsInfo(JSON.stringify({ paths: ["sub/dir/a.txt", "many/f0000.txt"] }), "application/json", "refs%2Fpr%2F1");
    assert.deepEqual(paths(atPr), ["sub/dir/a.txt"], "many/ did not exist yet at the PR's commit");
    assert.equal(atPr[0].oid, gitBlobSha1("a\n"));
    const missing = await fetch(`${hub.url}/api/models/alice/nope/paths-info/main`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: '{"paths":["a"]}',
    });
    await assertHubError(missing, 404, "RepoNotFound");
  });
});
