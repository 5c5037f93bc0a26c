// GET /api/models/{id}/refs and GET .../commits/{rev} (hub-api.md §11): the refs object always
// has branches, converts and tags, pullRequests only with include_prs; the commit listing is
// newest first, Link-paginated with `limit`, and carries `formatted` only with expand[]=formatted.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startHub } from "../helpers/server.ts";
import { assertHubError, commitFiles, createBranch, createRepo, createTag, fetchAllPages, nextLinkOf } from "../helpers/hub-http.ts";

type Ref = { name: string; ref: string; targetCommit: string };
type Refs = { branches: Ref[]; converts: Ref[]; tags: Ref[]; pullRequests?: Ref[] };
type Commit = { id: string; title: string; message: string; authors: { user: string; avatar?: string }[]; date: string; formatted?: { title: string; message: string } };

const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

test("refs and commits", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const id = await createRepo(hub.url, token, { name: "history" });
  const api = `${hub.url}/api/models/${id}`;

  await t.test("refs of a fresh repository: branches, converts, tags present; no pullRequests key", async () => {
    const res = await fetch(`${api}/refs`);
    assert.equal(res.status, 200);
    const refs = (await res.json()) as Refs;
    assert.deepEqual(Object.keys(refs).sort(), ["branches", "converts", "tags"]);
    assert.equal(refs.branches.length, 1);
    assert.equal(refs.branches[0].name, "main");
    assert.equal(refs.branches[0].ref, "refs/heads/main");
    assert.match(refs.branches[0].targetCommit, /^[0-9a-f]{40}$/);
    assert.deepEqual(refs.converts, []);
    assert.deepEqual(refs.tags, []);
    const withPrs = (await (await fetch(`${api}/refs?include_prs=1`)).json()) as Refs;
    assert.deepEqual(withPrs.pullRequests, []);
  });

  const commits: string[] = [];
  const summaries = ["one", "two", "three", "four", "five"];
  for (const [i, summary] of summaries.entries()) {
    commits.push(await commitFiles(hub.url, token, id, [{ path: `f${i}.txt`, content: `${i}\n` }], { summary, description: `details of ${summary}` }));
  }
  const [c1, , c3, , c5] = commits;
  await createTag(hub.url, token, id, "v1", { revision: c3 });
  await createTag(hub.url, token, id, "v1-annotated", { revision: c1, message: "annotated" });
  await createBranch(hub.url, token, id, "feature/x", { startingPoint: c3 });
  const onFeature = await commitFiles(hub.url, token, id, [{ path: "feature.txt", content: "x" }], { summary: "feature work", revision: "feature/x" });
  const repo = (await hub.services.repos.find("model", id))!;
  const gitDir = hub.services.repos.repoDir(repo);
  execFileSync("git", [`--git-dir=${gitDir}`, "update-ref", "refs/pr/1", onFeature]);
  execFileSync("git", [`--git-dir=${gitDir}`, "update-ref", "refs/convert/parquet", c1]);

  await t.test("refs list every branch, tag (peeled to its commit) and convert", async () => {
    const refs = (await (await fetch(`${api}/refs`)).json()) as Refs;
    assert.equal(refs.pullRequests, undefined, "pullRequests only with include_prs");
    const byName = (list: Ref[]) => Object.fromEntries(list.map((r) => [r.name, r]));
    assert.deepEqual(byName(refs.branches), {
      main: { name: "main", ref: "refs/heads/main", targetCommit: c5 },
      "feature/x": { name: "feature/x", ref: "refs/heads/feature/x", targetCommit: onFeature },
    });
    assert.deepEqual(byName(refs.tags), {
      v1: { name: "v1", ref: "refs/tags/v1", targetCommit: c3 },
      "v1-annotated": { name: "v1-annotated", ref: "refs/tags/v1-annotated", targetCommit: c1 },
    });
    assert.deepEqual(refs.converts, [{ name: "parquet", ref: "refs/convert/parquet", targetCommit: c1 }]);
  });

  await t.test("include_prs=1 (and =true) adds pullRequests", async () => {
    for (const flag of ["1", "true", "True"]) {
      const refs = (await (await fetch(`${api}/refs?include_prs=${flag}`)).json()) as Refs;
      assert.equal(refs.pullRequests?.length, 1, flag);
      assert.equal(refs.pullRequests![0].ref, "refs/pr/1");
      assert.equal(refs.pullRequests![0].targetCommit, onFeature);
      assert.ok(refs.branches.length === 2 && Array.isArray(refs.tags) && Array.isArray(refs.converts));
    }
    const off = (await (await fetch(`${api}/refs?include_prs=0`)).json()) as Refs;
    assert.equal(off.pullRequests, undefined);
  });

  await t.test("refs of a missing repository: RepoNotFound", async () => {
    await assertHubError(await fetch(`${hub.url}/api/models/alice/missing/refs`), 401, "RepoNotFound");
  });

  await t.test("commits: newest first, with id, title, message, authors[].user and a Z date", async () => {
    const res = await fetch(`${api}/commits/main`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("link"), null);
    const list = (await res.json()) as Commit[];
    assert.equal(list.length, summaries.length + 1, "five commits and the initial one");
    assert.deepEqual(list.slice(0, 5).map((c) => c.id), [...commits].reverse());
    assert.deepEqual(list.slice(0, 5).map((c) => c.title), [...summaries].reverse());
    const top = list[0];
    assert.equal(top.message, "details of five");
    assert.equal(top.authors[0].user, "alice");
    assert.match(top.date, ISO_Z);
    assert.equal(top.formatted, undefined, "formatted only when asked");
    for (let i = 1; i < list.length; i++) assert.ok(Date.parse(list[i - 1].date) >= Date.parse(list[i].date), "dates never increase down the list");
  });

  await t.test("commits with limit: Link pagination over every commit exactly once, in order", async () => {
    const res = await fetch(`${api}/commits/main?limit=2`);
    const page1 = (await res.json()) as Commit[];
    assert.deepEqual(page1.map((c) => c.id), [c5, commits[3]]);
    const link = res.headers.get("link");
    assert.match(link ?? "", /^<http:\/\/[^>]+>; rel="next"$/);
    const next = new URL(nextLinkOf(link)!);
    assert.equal(next.searchParams.get("limit"), "2");
    const { items, pages } = await fetchAllPages<Commit>(`${api}/commits/main?limit=2`);
    assert.equal(pages, 3);
    const all = (await (await fetch(`${api}/commits/main`)).json()) as Commit[];
    assert.deepEqual(items.map((c) => c.id), all.map((c) => c.id));
  });

  await t.test("expand[]=formatted (and expand=formatted) adds HTML-safe formatted title and message", async () => {
    const dangerous = await commitFiles(hub.url, token, id, [{ path: "x.txt", content: "x" }], { summary: "fix <script>alert(1)</script>", description: "a & b" });
    for (const query of ["expand%5B%5D=formatted", "expand[]=formatted", "expand=formatted"]) {
      const list = (await (await fetch(`${api}/commits/main?${query}&limit=1`)).json()) as Commit[];
      assert.equal(list[0].id, dangerous, query);
      assert.equal(list[0].title, "fix <script>alert(1)</script>");
      assert.ok(list[0].formatted, query);
      assert.equal(typeof list[0].formatted.title, "string");
      assert.equal(typeof list[0].formatted.message, "string");
      assert.ok(!list[0].formatted.title.includes("<script>"), "formatted HTML never carries raw markup from a commit message");
      assert.ok(list[0].formatted.title.includes("alert(1)"));
    }
  });

  await t.test("commits at other revisions: encoded and raw branch with a slash, tag, PR ref, commit id", async () => {
    const ids = async (rev: string) => ((await (await fetch(`${api}/commits/${rev}`)).json()) as Commit[]).map((c) => c.id);
    const featureHistory = [onFeature, c3, commits[1], c1];
    assert.deepEqual((await ids("feature%2Fx")).slice(0, 4), featureHistory);
    assert.deepEqual((await ids("feature/x")).slice(0, 4), featureHistory, "JS sends the revision raw");
    assert.deepEqual((await ids("refs%2Fpr%2F1")).slice(0, 4), featureHistory);
    assert.deepEqual((await ids("refs/pr/1")).slice(0, 4), featureHistory);
    assert.equal((await ids("v1"))[0], c3);
    assert.equal((await ids(c3))[0], c3);
    assert.equal((await ids(c3.slice(0, 7)))[0], c3);
  });

  await t.test("commits with a bad limit: 400 in the wire format", async () => {
    await assertHubError(await fetch(`${api}/commits/main?limit=0`), 400, "BadRequest");
    await assertHubError(await fetch(`${api}/commits/main?cursor=garbage`), 400, "BadRequest");
  });
});
