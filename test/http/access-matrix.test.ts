// The access matrix of hub-api.md §3.4, row by row, over raw HTTP: public, private, gated
// (auto and manual) and nonexistent repositories × no token, another user's token, the owner's
// token, on the metadata endpoints (info, tree) and the file endpoints (/resolve GET and HEAD,
// LFS batch download). Then the gated life cycle: ask-access, manual grant, revocation.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startHub } from "../helpers/server.ts";
import { assertError, assertOk, commit, commitRaw, createRepo, lfsBatch, request, sha256, type WireResponse } from "./wire-helpers.ts";

const CONFIG = '{"model_type":"gpt2"}';
const WEIGHTS = Buffer.alloc(4096, 7);
const WEIGHTS_OID = sha256(WEIGHTS);

type Caller = "anonymous" | "other" | "owner";

test("access matrix (hub-api.md §3.4)", async (t) => {
  const hub = await startHub(t);
  const owner = await hub.token("alice");
  const other = await hub.token("bob");
  const tokens: Record<Caller, string | undefined> = { anonymous: undefined, other, owner };

  // One repository per state, each with a regular file and an LFS file.
  const ids = { public: "alice/open", private: "alice/secret", auto: "alice/gated-auto", manual: "alice/gated-manual" } as const;
  for (const [state, id] of Object.entries(ids)) {
    await createRepo(hub.url, owner, id, { private: state === "private" });
    await commit(hub.url, owner, id, [
      { path: "config.json", content: CONFIG },
      { path: "weights.bin", content: WEIGHTS, lfs: true },
    ]);
  }
  for (const [id, gated] of [[ids.auto, "auto"], [ids.manual, "manual"]] as const) {
    assertOk(await request(`${hub.url}/api/models/${id}/settings`, "PUT", { token: owner, json: { gated } }), `gate ${id}`);
  }
  const missing = "alice/never-created";

  /** Every endpoint of the matrix for one repository and caller. */
  async function probe(id: string, caller: Caller) {
    const token = tokens[caller];
    return {
      info: await request(`${hub.url}/api/models/${id}`, "GET", { token }),
      revision: await request(`${hub.url}/api/models/${id}/revision/main`, "GET", { token }),
      tree: await request(`${hub.url}/api/models/${id}/tree/main?recursive=true`, "GET", { token }),
      resolve: await request(`${hub.url}/${id}/resolve/main/config.json`, "GET", { token }),
      head: await request(`${hub.url}/${id}/resolve/main/config.json`, "HEAD", { token }),
      resolveLfs: await request(`${hub.url}/${id}/resolve/main/weights.bin`, "GET", { token }),
      lfs: await lfsBatch(hub.url, token, id, "download", [{ oid: WEIGHTS_OID, size: WEIGHTS.length }]),
    };
  }

  function assertFilesServed(p: Awaited<ReturnType<typeof probe>>, what: string) {
    assert.equal(p.resolve.status, 200, `${what} resolve`);
    assert.equal(p.resolve.text, CONFIG);
    assert.equal(p.head.status, 200, `${what} HEAD resolve`);
    assert.match(p.head.headers.get("x-repo-commit") ?? "", /^[0-9a-f]{40}$/);
    assert.equal(p.resolveLfs.status, 200, `${what} resolve LFS`);
    assert.equal(p.resolveLfs.headers.get("x-linked-etag"), `"${WEIGHTS_OID}"`);
    assert.equal(p.lfs.status, 200, `${what} LFS batch download: ${p.lfs.text}`);
    const object = p.lfs.json<{ objects: { oid: string; actions?: { download?: { href: string } } }[] }>().objects[0];
    assert.equal(object.oid, WEIGHTS_OID);
    assert.ok(object.actions?.download?.href, `${what} download href`);
  }

  function assertMetadataServed(p: Awaited<ReturnType<typeof probe>>, id: string, gated: false | "auto" | "manual", what: string) {
    for (const res of [p.info, p.revision]) {
      assert.equal(res.status, 200, `${what} info: ${res.text}`);
      const info = res.json<{ id: string; gated: unknown; sha: string; siblings: { rfilename: string }[] }>();
      assert.equal(info.id, id);
      assert.equal(info.gated, gated);
      assert.match(info.sha, /^[0-9a-f]{40}$/);
      assert.deepEqual(info.siblings.map((s) => s.rfilename).sort(), [".gitattributes", "config.json", "weights.bin"]);
    }
    assert.equal(p.tree.status, 200, `${what} tree`);
    assert.deepEqual(p.tree.json<{ path: string }[]>().map((e) => e.path).sort(), [".gitattributes", "config.json", "weights.bin"]);
  }

  await t.test("public: 200 for everyone, metadata and files", async () => {
    for (const caller of ["anonymous", "other", "owner"] as const) {
      const p = await probe(ids.public, caller);
      assertMetadataServed(p, ids.public, false, caller);
      assertFilesServed(p, caller);
    }
  });

  await t.test("private: 401 RepoNotFound anonymous, 404 RepoNotFound for others (never 403), 200 for the owner", async () => {
    const anon = await probe(ids.private, "anonymous");
    for (const [name, res] of Object.entries(anon)) assertError(res, 401, "RepoNotFound", `anonymous ${name}`);
    const stranger = await probe(ids.private, "other");
    for (const [name, res] of Object.entries(stranger)) assertError(res, 404, "RepoNotFound", `other ${name}`);
    const own = await probe(ids.private, "owner");
    assertMetadataServed(own, ids.private, false, "owner");
    assert.equal(own.info.json<{ private: boolean }>().private, true);
    assertFilesServed(own, "owner");
  });

  await t.test("a private repository is indistinguishable from a nonexistent one", async () => {
    for (const caller of ["anonymous", "other"] as const) {
      const hidden = await probe(ids.private, caller);
      const absent = await probe(missing, caller);
      for (const key of Object.keys(hidden) as (keyof typeof hidden)[]) {
        const a: WireResponse = hidden[key];
        const b: WireResponse = absent[key];
        assert.equal(a.status, b.status, `${caller} ${key} status`);
        assert.equal(a.headers.get("x-error-code"), b.headers.get("x-error-code"), `${caller} ${key} code`);
        const normalise = (s: string | null) => (s ?? "").replaceAll(ids.private, "ID").replaceAll(missing, "ID");
        assert.equal(normalise(a.headers.get("x-error-message")), normalise(b.headers.get("x-error-message")), `${caller} ${key} message`);
        assert.equal(normalise(a.text), normalise(b.text), `${caller} ${key} body`);
      }
    }
    // The owner gets 404 for a repository that does not exist.
    assertError(await request(`${hub.url}/api/models/${missing}`, "GET", { token: owner }), 404, "RepoNotFound");
  });

  for (const mode of ["auto", "manual"] as const) {
    await t.test(`gated ${mode}: metadata 200 for all; files 401/403 GatedRepo, 200 for the owner`, async () => {
      const id = ids[mode];
      for (const caller of ["anonymous", "other", "owner"] as const) assertMetadataServed(await probe(id, caller), id, mode, caller);

      const anon = await probe(id, "anonymous");
      for (const key of ["resolve", "head", "resolveLfs", "lfs"] as const) {
        const message = assertError(anon[key], 401, "GatedRepo", `anonymous ${key}`);
        assert.match(message, /must have access to it and be authenticated/);
      }
      const stranger = await probe(id, "other");
      for (const key of ["resolve", "head", "resolveLfs", "lfs"] as const) {
        const message = assertError(stranger[key], 403, "GatedRepo", `other ${key}`);
        assert.match(message, /not in the authorized list/);
      }
      assertFilesServed(await probe(id, "owner"), "owner");
    });
  }

  await t.test("ask-access on an auto-gated repository grants at once", async () => {
    const anonymous = await request(`${hub.url}/${ids.auto}/ask-access`, "POST", { json: {} });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("x-error-code"), "AuthRequired");

    const asked = await request(`${hub.url}/${ids.auto}/ask-access`, "POST", { token: other, json: { reason: "research" } });
    assert.equal(asked.status, 200, asked.text);
    assert.deepEqual(asked.json(), { status: "accepted" });
    const p = await probe(ids.auto, "other");
    assertFilesServed(p, "other after ask-access");
    // The signed download href serves the bytes.
    const href = p.lfs.json<{ objects: { actions: { download: { href: string } } }[] }>().objects[0].actions.download.href;
    const download = await fetch(href);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), WEIGHTS);
    // Anonymous callers are still refused.
    assertError((await probe(ids.auto, "anonymous")).resolve, 401, "GatedRepo");
  });

  await t.test("manual gating: pending until granted, 200 once granted, 403 again after revocation", async () => {
    const asked = await request(`${hub.url}/${ids.manual}/ask-access`, "POST", { token: other, body: "reason=research", contentType: "application/x-www-form-urlencoded" });
    assert.equal(asked.status, 200, asked.text);
    assert.deepEqual(asked.json(), { status: "pending" });
    for (const key of ["resolve", "head", "lfs"] as const) assertError((await probe(ids.manual, "other"))[key], 403, "GatedRepo", `pending ${key}`);

    const repo = (await hub.services.repos.find("model", ids.manual))!;
    await hub.services.access.setGrant(repo, "bob", "accepted");
    assertFilesServed(await probe(ids.manual, "other"), "other after grant");

    await hub.services.access.revokeGrant(repo, "bob");
    const revoked = await probe(ids.manual, "other");
    for (const key of ["resolve", "head", "resolveLfs", "lfs"] as const) assertError(revoked[key], 403, "GatedRepo", `revoked ${key}`);
    // Metadata stays public throughout.
    assert.equal(revoked.info.status, 200);
  });

  await t.test("gated datasets: ask-access under /datasets/", async () => {
    const id = "alice/gated-data";
    await createRepo(hub.url, owner, id, { type: "dataset" });
    await commit(hub.url, owner, id, [{ path: "data.csv", content: "a,b\n1,2\n" }], { type: "dataset" });
    assertOk(await request(`${hub.url}/api/datasets/${id}/settings`, "PUT", { token: owner, json: { gated: "auto" } }));
    assertError(await request(`${hub.url}/datasets/${id}/resolve/main/data.csv`, "GET", { token: other }), 403, "GatedRepo");
    // The model URL of a dataset is a different (missing) repository.
    assert.equal((await request(`${hub.url}/${id}/ask-access`, "POST", { token: other, json: {} })).status, 404);
    const asked = await request(`${hub.url}/datasets/${id}/ask-access`, "POST", { token: other, json: {} });
    assert.deepEqual(asked.json(), { status: "accepted" });
    const file = await request(`${hub.url}/datasets/${id}/resolve/main/data.csv`, "GET", { token: other });
    assert.equal(file.status, 200);
    assert.equal(file.text, "a,b\n1,2\n");
  });

  await t.test("private datasets follow the same rows under /datasets/", async () => {
    const id = "alice/secret-data";
    await createRepo(hub.url, owner, id, { type: "dataset", private: true });
    await commit(hub.url, owner, id, [{ path: "data.csv", content: "x\n" }], { type: "dataset" });
    const urls = [`${hub.url}/api/datasets/${id}`, `${hub.url}/api/datasets/${id}/tree/main`, `${hub.url}/datasets/${id}/resolve/main/data.csv`];
    for (const url of urls) {
      assertError(await request(url, "GET"), 401, "RepoNotFound", `anonymous ${url}`);
      assertError(await request(url, "GET", { token: other }), 404, "RepoNotFound", `other ${url}`);
      assert.equal((await request(url, "GET", { token: owner })).status, 200, `owner ${url}`);
    }
    assertError(await lfsBatch(hub.url, other, id, "download", [{ oid: WEIGHTS_OID, size: WEIGHTS.length }], "dataset"), 404, "RepoNotFound");
    const listed = async (token?: string) => (await request(`${hub.url}/api/datasets?author=alice`, "GET", { token })).json<{ id: string }[]>().map((r) => r.id);
    assert.ok(!(await listed(other)).includes(id));
    assert.ok((await listed(owner)).includes(id));
  });

  await t.test("writes: a stranger gets 404 on a private repository and 403 on a public one", async () => {
    const ops = [{ path: "x.txt", content: "x" }];
    assertError(await commitRaw(hub.url, other, ids.private, ops), 404, "RepoNotFound", "commit to private");
    assertError(await commitRaw(hub.url, other, ids.public, ops), 403, "Forbidden", "commit to public");
    assertError(await request(`${hub.url}/api/models/${ids.private}/settings`, "PUT", { token: other, json: { private: false } }), 404, "RepoNotFound");
    assertError(await request(`${hub.url}/api/models/${ids.auto}/settings`, "PUT", { token: other, json: { gated: false } }), 403, "Forbidden");
    // Nothing changed.
    const info = await request(`${hub.url}/api/models/${ids.auto}`, "GET");
    assert.equal(info.json<{ gated: unknown }>().gated, "auto");
    assert.equal((await request(`${hub.url}/api/models/${ids.private}`, "GET")).status, 401);
  });

  await t.test("private repositories are listed for the owner only", async () => {
    const listIds = async (token?: string) => (await request(`${hub.url}/api/models?author=alice`, "GET", { token })).json<{ id: string }[]>().map((r) => r.id);
    for (const token of [undefined, other]) {
      const seen = await listIds(token);
      assert.ok(!seen.includes(ids.private), "hidden from others");
      assert.ok(seen.includes(ids.public) && seen.includes(ids.auto) && seen.includes(ids.manual), "public and gated are listed");
    }
    assert.ok((await listIds(owner)).includes(ids.private), "the owner sees it");
    // search cannot reveal it either
    assert.deepEqual(await (async () => (await request(`${hub.url}/api/models?search=secret`, "GET", { token: other })).json())(), []);
  });
});
