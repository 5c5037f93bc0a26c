// Listing and search over raw HTTP (hub-api.md §2.4, §2.8, §5): `Link` pagination exactly as the
// JS client's regex needs it, search, author, tag filters from README front matter, sorting,
// full / expand / cardData, and datasets listed apart from models.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startHub } from "../helpers/server.ts";
import { assertError, commit, createRepo, nextLink, request, type WireResponse } from "./wire-helpers.ts";

/** `<http://host:port/api/...&cursor=...>; rel="next"` — absolute, one space after `;`, quoted rel. */
const LINK_FORMAT = /^<(http:\/\/127\.0\.0\.1:\d+\/api\/models\?[^<>\s]*&cursor=[^<>&\s]+)>; rel="next"$/;

test("Link pagination over 250 repositories", async (t) => {
  const hub = await startHub(t);
  const alice = await hub.token("alice");
  // Three through HTTP, a few through the service, and the bulk as metadata rows only: a listing
  // reads nothing but the metadata database, and a git repository per row would cost ~0.2 s each.
  const httpIds = ["alice/m-http-a", "alice/m-http-b", "alice/m-http-c"];
  for (const id of httpIds) await createRepo(hub.url, alice, id);
  const names = Array.from({ length: 247 }, (_, i) => `m-${String(i).padStart(3, "0")}`);
  await Promise.all(names.slice(0, 5).map((name) => hub.services.repos.createUnchecked("model", "alice", name)));
  const template = (await hub.services.repos.find("model", "alice/m-000"))!;
  for (const [i, name] of names.slice(5).entries()) {
    const stamp = new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString();
    await hub.services.reposStore.insert({
      id: (0x100000 + i).toString(16).padStart(24, "a"),
      type: "model",
      namespace: "alice",
      name,
      private: 0,
      gated: "false",
      created_at: stamp,
      last_modified: stamp,
      head_sha: template.head_sha,
      card_data: null,
      tags: "[]",
      pipeline_tag: null,
      library_name: null,
      likes: i % 7,
    });
  }
  const expected = new Set([...httpIds, ...names.map((n) => `alice/${n}`)]);
  assert.equal(expected.size, 250);
  // Someone else's repository must not leak into an author-filtered listing.
  await hub.services.repos.createUnchecked("model", "bob", "m-999");
  // Ties in the sort key (equal likes) must not make pages overlap or skip.
  const sorts = ["lastModified", "id", "likes"] as const;

  for (const sort of sorts) {
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let url: string | undefined = `${hub.url}/api/models?author=alice&limit=100&sort=${sort}`;
    while (url) {
      const res: WireResponse = await request(url, "GET");
      assert.equal(res.status, 200, res.text);
      const items = res.json<{ id: string }[]>();
      pageSizes.push(items.length);
      seen.push(...items.map((i) => i.id));
      const link = res.headers.get("link");
      if (pageSizes.length < 3) {
        assert.ok(link, `page ${pageSizes.length} has a Link header`);
        const match = LINK_FORMAT.exec(link);
        assert.ok(match, `Link has the exact form: ${link}`);
        assert.equal(nextLink(res), match[1]);
        const next = new URL(match[1]);
        assert.equal(next.origin, new URL(hub.url).origin, "absolute URL on this hub");
        assert.equal(next.searchParams.get("author"), "alice", "the query is kept");
        assert.equal(next.searchParams.get("limit"), "100");
        assert.equal(next.searchParams.get("sort"), sort);
        url = match[1];
      } else {
        assert.equal(link, null, "no Link on the last page");
        url = undefined;
      }
      assert.ok(pageSizes.length <= 3, "pagination ends");
    }
    assert.deepEqual(pageSizes, [100, 100, 50], sort);
    assert.equal(seen.length, 250);
    assert.equal(new Set(seen).size, 250, "every id exactly once");
    assert.deepEqual(new Set(seen), expected);
    if (sort === "id") assert.deepEqual(seen, [...seen].sort(), "sort=id is ascending by default");
  }

  // A Link URL of the first page is valid for a client that re-requests it verbatim with a token.
  const first = await request(`${hub.url}/api/models?author=alice&limit=100`, "GET", { token: alice });
  const second = await request(nextLink(first)!, "GET", { token: alice });
  assert.equal(second.status, 200);
  assert.equal(second.json<unknown[]>().length, 100);

  // Without a limit everything fits in one page: no Link.
  const all = await request(`${hub.url}/api/models?author=alice`, "GET");
  assert.equal(all.json<unknown[]>().length, 250);
  assert.equal(all.headers.get("link"), null);

  // A page size that divides the total exactly still ends without a Link on its last page.
  const pages: number[] = [];
  let url: string | undefined = `${hub.url}/api/models?author=alice&limit=125`;
  while (url) {
    const res = await request(url, "GET");
    pages.push(res.json<unknown[]>().length);
    url = nextLink(res);
    assert.ok(pages.length <= 3);
  }
  assert.deepEqual(pages, [125, 125]);

  // A garbage cursor is a 400, not a crash.
  assertError(await request(`${hub.url}/api/models?cursor=%%%`, "GET"), 400, "BadRequest");
});

test("search, author, filter, sort, full, expand, cardData, datasets", async (t) => {
  const hub = await startHub(t);
  const bob = await hub.token("bob");
  const carol = await hub.token("carol");
  const readme = (front: string) => `---\n${front}\n---\n# Model\n`;
  const repos = {
    "bob/Llama-Tiny": readme("license: mit\ntags:\n  - text-generation\n  - tiny\npipeline_tag: text-generation\nlibrary_name: transformers"),
    "bob/llama-big": readme("license: apache-2.0\ntags: [text-generation]"),
    "bob/mistral-7b": readme("license: mit\ntags:\n  - chat"),
    "carol/TinyLLAMA-chat": readme("license: mit"),
  } as const;
  for (const [id, card] of Object.entries(repos)) {
    await createRepo(hub.url, id.startsWith("bob") ? bob : carol, id);
    await commit(hub.url, id.startsWith("bob") ? bob : carol, id, [
      { path: "README.md", content: card },
      { path: "config.json", content: "{}" },
    ]);
  }
  await createRepo(hub.url, bob, "bob/llama-dataset", { type: "dataset" });
  await commit(hub.url, bob, "bob/llama-dataset", [{ path: "README.md", content: readme("license: mit\ntags: [tabular]") }], { type: "dataset" });

  const ids = async (query: string, path = "/api/models") => {
    const res = await request(`${hub.url}${path}?${query}`, "GET");
    assert.equal(res.status, 200, `${query}: ${res.text}`);
    return res.json<{ id: string }[]>().map((r) => r.id);
  };
  const sorted = async (query: string, path?: string) => (await ids(query, path)).sort();

  await t.test("search is a case-insensitive substring of the id; repeated terms must all match", async () => {
    assert.deepEqual(await sorted("search=LLAMA"), ["bob/Llama-Tiny", "bob/llama-big", "carol/TinyLLAMA-chat"]);
    assert.deepEqual(await sorted("search=tiny"), ["bob/Llama-Tiny", "carol/TinyLLAMA-chat"]);
    assert.deepEqual(await sorted("search=llama&search=tiny"), ["bob/Llama-Tiny", "carol/TinyLLAMA-chat"]);
    assert.deepEqual(await sorted("search=llama&search=chat"), ["carol/TinyLLAMA-chat"]);
    assert.deepEqual(await sorted("search=bob%2Fllama"), ["bob/Llama-Tiny", "bob/llama-big"], "the namespace is part of the id");
    assert.deepEqual(await sorted("search=no-such-thing"), []);
    // SQL wildcards are literal characters.
    assert.deepEqual(await sorted("search=%25"), []);
    assert.deepEqual(await sorted("search=_"), []);
  });

  await t.test("author", async () => {
    assert.deepEqual(await sorted("author=bob"), ["bob/Llama-Tiny", "bob/llama-big", "bob/mistral-7b"]);
    assert.deepEqual(await sorted("author=carol&search=llama"), ["carol/TinyLLAMA-chat"]);
    assert.deepEqual(await sorted("author=nobody"), []);
  });

  await t.test("filter uses tags from the README front matter (all must match)", async () => {
    assert.deepEqual(await sorted("filter=license:mit"), ["bob/Llama-Tiny", "bob/mistral-7b", "carol/TinyLLAMA-chat"]);
    assert.deepEqual(await sorted("filter=text-generation"), ["bob/Llama-Tiny", "bob/llama-big"]);
    assert.deepEqual(await sorted("filter=text-generation&filter=license:mit"), ["bob/Llama-Tiny"]);
    assert.deepEqual(await sorted("filter=license:apache-2.0"), ["bob/llama-big"]);
    assert.deepEqual(await sorted("filter=license:mit&author=bob&search=mistral"), ["bob/mistral-7b"]);
    assert.deepEqual(await sorted("filter=license:gpl"), []);
    const tiny = (await request(`${hub.url}/api/models?search=Llama-Tiny`, "GET")).json<{ tags: string[]; pipeline_tag?: string; library_name?: string }[]>()[0];
    for (const tag of ["text-generation", "tiny", "license:mit", "transformers"]) assert.ok(tiny.tags.includes(tag), `${tag} in ${tiny.tags}`);
    assert.equal(tiny.pipeline_tag, "text-generation");
    assert.equal(tiny.library_name, "transformers");
    assert.deepEqual(await sorted("pipeline_tag=text-generation"), ["bob/Llama-Tiny"]);
  });

  await t.test("sort by downloads, likes, createdAt, lastModified, id — with direction", async () => {
    const order = ["bob/mistral-7b", "carol/TinyLLAMA-chat", "bob/Llama-Tiny", "bob/llama-big"];
    // downloads: config.json downloads count (hub-api.md: the query file of a model)
    for (const [i, id] of order.entries()) {
      for (let n = 0; n < order.length - i; n++) assert.equal((await request(`${hub.url}/${id}/resolve/main/config.json`, "GET")).status, 200);
    }
    // likes, createdAt and lastModified are set directly so no two are equal.
    for (const [i, id] of order.entries()) {
      const repo = (await hub.services.repos.find("model", id))!;
      const day = (d: number) => new Date(Date.UTC(2024, 0, 10 - d)).toISOString();
      await hub.services.reposStore.update(repo.id, { likes: 100 - i, created_at: day(i), last_modified: day(order.length - i) });
    }
    assert.deepEqual(await ids("sort=downloads"), order);
    assert.deepEqual(await ids("sort=downloads&direction=-1"), order);
    assert.deepEqual(await ids("sort=downloads&direction=1"), [...order].reverse());
    assert.deepEqual(await ids("sort=likes"), order);
    assert.deepEqual(await ids("sort=likes&direction=1"), [...order].reverse());
    assert.deepEqual(await ids("sort=createdAt"), order);
    assert.deepEqual(await ids("sort=createdAt&direction=1"), [...order].reverse());
    assert.deepEqual(await ids("sort=lastModified"), [...order].reverse());
    assert.deepEqual(await ids("sort=lastModified&direction=1"), order);
    const byId = [...order].sort();
    assert.deepEqual(await ids("sort=id"), byId);
    assert.deepEqual(await ids("sort=id&direction=-1"), [...byId].reverse());
    // The listing reports the counters it sorts by.
    const items = (await request(`${hub.url}/api/models?sort=downloads`, "GET")).json<{ id: string; downloads: number; likes: number }[]>();
    assert.deepEqual(items.map((i) => i.downloads), [4, 3, 2, 1]);
    assert.deepEqual(items.map((i) => i.likes), [100, 99, 98, 97]);
    assertError(await request(`${hub.url}/api/models?sort=nonsense`, "GET"), 400, "BadRequest");
  });

  await t.test("full=true adds siblings and sha; plain listings carry no siblings", async () => {
    const plain = (await request(`${hub.url}/api/models?search=mistral`, "GET")).json<Record<string, unknown>[]>()[0];
    assert.equal(plain.siblings, undefined);
    assert.equal(plain.id, "bob/mistral-7b");
    assert.match(String(plain._id), /^[0-9a-f]{24}$/);
    assert.match(String(plain.lastModified), /Z$/);
    const full = (await request(`${hub.url}/api/models?search=mistral&full=true`, "GET")).json<{ sha: string; siblings: { rfilename: string }[]; cardData?: unknown }[]>()[0];
    assert.match(full.sha, /^[0-9a-f]{40}$/);
    assert.equal(full.sha, (await request(`${hub.url}/api/models/bob/mistral-7b`, "GET")).json<{ sha: string }>().sha);
    assert.deepEqual(full.siblings.map((s) => s.rfilename).sort(), [".gitattributes", "README.md", "config.json"]);
    // Python 0.x spells booleans True.
    assert.ok((await request(`${hub.url}/api/models?search=mistral&full=True`, "GET")).json<{ siblings?: unknown }[]>()[0].siblings);
    const card = (await request(`${hub.url}/api/models?search=mistral&cardData=true`, "GET")).json<{ cardData: Record<string, unknown> }[]>()[0];
    assert.deepEqual(card.cardData, { license: "mit", tags: ["chat"] });
  });

  await t.test("expand restricts the fields (expand and expand[] alike); unknown keys are ignored", async () => {
    const [item] = (await request(`${hub.url}/api/models?search=mistral&expand=downloads&expand=likes`, "GET")).json<Record<string, unknown>[]>();
    assert.deepEqual(Object.keys(item).sort(), ["_id", "downloads", "id", "likes"]);
    const [bracket] = (await request(`${hub.url}/api/models?search=mistral&expand[]=private&expand[]=gated`, "GET")).json<Record<string, unknown>[]>();
    assert.deepEqual(bracket, { _id: item._id, id: "bob/mistral-7b", private: false, gated: false });
    const [siblings] = (await request(`${hub.url}/api/models?search=mistral&expand=siblings`, "GET")).json<Record<string, unknown>[]>();
    assert.deepEqual(Object.keys(siblings).sort(), ["_id", "id", "siblings"]);
    const lenient = await request(`${hub.url}/api/models?search=mistral&expand=xetEnabled&expand=noSuchField`, "GET");
    assert.equal(lenient.status, 200);
    assert.deepEqual(lenient.json(), [{ _id: item._id, id: "bob/mistral-7b", xetEnabled: false }]);
  });

  await t.test("datasets are listed at /api/datasets, apart from models", async () => {
    assert.deepEqual(await ids("search=llama-dataset", "/api/datasets"), ["bob/llama-dataset"]);
    assert.deepEqual(await ids("search=llama-dataset"), []);
    assert.deepEqual(await ids("", "/api/datasets"), ["bob/llama-dataset"]);
    assert.ok(!(await ids("author=bob")).includes("bob/llama-dataset"));
    assert.deepEqual(await ids("filter=tabular", "/api/datasets"), ["bob/llama-dataset"]);
    assert.deepEqual(await ids("filter=tabular"), []);
    const [dataset] = (await request(`${hub.url}/api/datasets?search=llama-dataset`, "GET")).json<Record<string, unknown>[]>();
    assert.equal(dataset.modelId, undefined, "no model-only fields on datasets");
  });
});
