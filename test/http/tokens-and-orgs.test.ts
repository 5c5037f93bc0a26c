// Tokens and organizations over raw HTTP: whoami-v2, what a read token may and may not do,
// writes into someone else's namespace, expired / revoked / malformed credentials (refused even
// on public reads), and organization membership granting and losing access.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startHub } from "../helpers/server.ts";
import { assertError, assertOk, commit, commitRaw, createRepo, createRepoRaw, lfsBatch, request, sha256 } from "./wire-helpers.ts";

test("whoami-v2 (hub-api.md §3.2)", async (t) => {
  const hub = await startHub(t);
  const write = await hub.token("alice");
  const read = await hub.token("alice", "read");
  await hub.services.accounts.ensureUser("bob");
  await hub.services.accounts.createOrg("acme", "alice");
  await hub.services.accounts.createOrg("umbrella", "bob");
  await hub.services.accounts.addMember("umbrella", "alice");

  const res = await request(`${hub.url}/api/whoami-v2`, "GET", { token: write });
  assert.equal(res.status, 200, res.text);
  const me = res.json();
  assert.equal(me.type, "user");
  assert.equal(me.name, "alice");
  assert.match(me.id, /^[0-9a-f]{24}$/);
  assert.ok(Array.isArray(me.orgs));
  assert.deepEqual(me.orgs.map((o: { name: string }) => o.name).sort(), ["acme", "umbrella"]);
  for (const org of me.orgs) assert.equal(org.type, "org");
  assert.equal(me.auth.type, "access_token");
  assert.equal(me.auth.accessToken.role, "write");
  assert.equal(typeof me.auth.accessToken.displayName, "string");
  assert.match(me.auth.accessToken.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

  const readMe = (await request(`${hub.url}/api/whoami-v2`, "GET", { token: read })).json();
  assert.equal(readMe.name, "alice");
  assert.equal(readMe.auth.accessToken.role, "read");

  // A user without organizations still gets an (empty) orgs list.
  const carol = (await request(`${hub.url}/api/whoami-v2`, "GET", { token: await hub.token("carol") })).json();
  assert.deepEqual(carol.orgs, []);

  // No token: 401.
  const anonymous = await request(`${hub.url}/api/whoami-v2`, "GET");
  assert.equal(anonymous.status, 401);
  assert.ok(anonymous.headers.get("x-error-code"));

  // Leaving an organization shows at once.
  await hub.services.accounts.removeMember("umbrella", "alice");
  const after = (await request(`${hub.url}/api/whoami-v2`, "GET", { token: write })).json();
  assert.deepEqual(after.orgs.map((o: { name: string }) => o.name), ["acme"]);
});

test("a read token reads but cannot write", async (t) => {
  const hub = await startHub(t);
  const write = await hub.token("alice");
  const read = await hub.token("alice", "read");
  const id = await createRepo(hub.url, write, "alice/model", { private: true });
  await commit(hub.url, write, id, [{ path: "config.json", content: "{}" }]);
  const headBefore = (await hub.services.repos.find("model", id))!.head_sha;

  // Reads work, including on the owner's private repository.
  assert.equal((await request(`${hub.url}/api/models/${id}`, "GET", { token: read })).status, 200);
  assert.equal((await request(`${hub.url}/${id}/resolve/main/config.json`, "GET", { token: read })).status, 200);
  assert.equal((await request(`${hub.url}/api/models/${id}/tree/main`, "GET", { token: read })).status, 200);
  assert.equal((await request(`${hub.url}/api/whoami-v2`, "GET", { token: read })).status, 200);
  const blob = Buffer.from("weights");
  assert.equal((await lfsBatch(hub.url, read, id, "download", [{ oid: sha256(blob), size: blob.length }])).status, 200);

  const refusals = {
    create: await createRepoRaw(hub.url, read, { name: "new-model", organization: null }),
    commit: await commitRaw(hub.url, read, id, [{ path: "x.txt", content: "x" }]),
    preupload: await request(`${hub.url}/api/models/${id}/preupload/main`, "POST", { token: read, json: { files: [{ path: "x.bin", size: 3, sample: "AAAA" }] } }),
    lfsUpload: await lfsBatch(hub.url, read, id, "upload", [{ oid: sha256(blob), size: blob.length }]),
    settings: await request(`${hub.url}/api/models/${id}/settings`, "PUT", { token: read, json: { private: false } }),
    branch: await request(`${hub.url}/api/models/${id}/branch/dev`, "POST", { token: read, json: {} }),
    tag: await request(`${hub.url}/api/models/${id}/tag/main`, "POST", { token: read, json: { tag: "v1" } }),
    delete: await request(`${hub.url}/api/repos/delete`, "DELETE", { token: read, json: { name: "model", organization: "alice" } }),
  };
  for (const [what, res] of Object.entries(refusals)) {
    const message = assertError(res, 403, "Forbidden", what);
    assert.match(message, /read/i, `${what}: the message says the token is read-only (${message})`);
  }
  // Nothing happened.
  assert.equal(await hub.services.repos.find("model", "alice/new-model"), undefined);
  const after = (await hub.services.repos.find("model", id))!;
  assert.equal(after.head_sha, headBefore);
  assert.equal(after.private, 1);
  const refs = (await request(`${hub.url}/api/models/${id}/refs`, "GET", { token: write })).json();
  assert.deepEqual(refs.branches.map((b: { name: string }) => b.name), ["main"]);
  assert.deepEqual(refs.tags, []);
});

test("writes into another user's namespace are refused and create nothing", async (t) => {
  const hub = await startHub(t);
  const alice = await hub.token("alice");
  const bob = await hub.token("bob");
  const bobRepo = await createRepo(hub.url, bob, "bob/tools");
  const bobHead = (await hub.services.repos.find("model", bobRepo))!.head_sha;
  await hub.services.accounts.createOrg("acme", "bob");

  for (const body of [
    { name: "takeover", organization: "bob" },
    { name: "bob/takeover", organization: null },
    { name: "takeover", organization: "acme" }, // an organization alice is not a member of
    { name: "takeover", organization: "nobody-here" },
  ]) {
    const res = await createRepoRaw(hub.url, alice, body);
    assertError(res, 403, "Forbidden", JSON.stringify(body));
  }
  for (const ns of ["bob", "acme", "nobody-here"]) assert.equal(await hub.services.repos.find("model", `${ns}/takeover`), undefined, ns);
  assertError(await createRepoRaw(hub.url, alice, { name: "takeover", organization: "bob", type: "dataset" }), 403, "Forbidden");
  assert.equal(await hub.services.repos.find("dataset", "bob/takeover"), undefined);

  assertError(await commitRaw(hub.url, alice, bobRepo, [{ path: "evil.txt", content: "x" }]), 403, "Forbidden");
  assert.equal((await hub.services.repos.find("model", bobRepo))!.head_sha, bobHead);
  assertError(await request(`${hub.url}/api/repos/delete`, "DELETE", { token: alice, json: { name: "tools", organization: "bob" } }), 403, "Forbidden");
  assert.ok(await hub.services.repos.find("model", bobRepo));
});

test("expired, revoked and malformed credentials get 401, even for public reads", async (t) => {
  const hub = await startHub(t);
  const owner = await hub.token("alice");
  const id = await createRepo(hub.url, owner, "alice/public-model");
  await commit(hub.url, owner, id, [{ path: "config.json", content: "{}" }]);

  const publicReads = [
    () => `${hub.url}/api/models/${id}`,
    () => `${hub.url}/${id}/resolve/main/config.json`,
    () => `${hub.url}/api/models/${id}/tree/main`,
    () => `${hub.url}/api/models`,
    () => `${hub.url}/api/whoami-v2`,
  ];
  // X-Error-Message is exactly the Hub's text on repository URLs: Python maps a 401 with any other
  // message on /api/models/… or /resolve/… to RepositoryNotFoundError (hub-api.md §3.3). Details
  // may follow in the JSON body.
  async function assertRefused(authorization: string, what: string, detail?: RegExp) {
    for (const url of publicReads) {
      const res = await request(url(), "GET", { authorization });
      const message = assertError(res, 401, "InvalidCredentials", `${what} ${url()}`);
      const body = res.json<{ error: string }>();
      assert.ok(body.error.startsWith("Invalid credentials in Authorization header"), `${what}: ${body.error}`);
      if (url().endsWith("/whoami-v2")) assert.ok(message.startsWith("Invalid credentials in Authorization header"), `${what}: ${message}`);
      else assert.equal(message, "Invalid credentials in Authorization header", `${what} ${url()}`);
      if (detail) assert.match(body.error, detail, `${what}: the body explains`);
    }
  }

  // A token with a short expiry works until it expires.
  const expiring = await hub.services.accounts.createToken("dave", { role: "read", expiresInDays: 1 });
  assert.equal((await request(publicReads[0](), "GET", { token: expiring.token })).status, 200);
  await hub.services.db.updateTable("tokens").set({ expires_at: new Date(Date.now() - 60_000).toISOString() }).where("id", "=", expiring.row.id).execute();
  await assertRefused(`Bearer ${expiring.token}`, "expired", /expired/);

  // Revoked.
  const doomed = await hub.token("erin");
  assert.equal((await request(publicReads[0](), "GET", { token: doomed })).status, 200);
  const [row] = await hub.services.accounts.listTokens("erin");
  await hub.services.accounts.revokeToken(row.id);
  await assertRefused(`Bearer ${doomed}`, "revoked");

  // Unknown and malformed.
  await assertRefused("Bearer hf_ThisTokenWasNeverIssuedByThisHub0000", "unknown");
  await assertRefused("Bearer not-a-hub-token", "not hf_");
  await assertRefused("Token hf_abc", "unknown scheme", /Bearer or Basic/);
  await assertRefused(`Digest ${owner}`, "digest scheme");

  // Basic with the token as password (git, git-lfs) is accepted; the same with a bad token is not.
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  assert.equal((await request(publicReads[4](), "GET", { authorization: basic("whoever", owner) })).json().name, "alice");
  await assertRefused(basic("alice", "hf_wrong"), "basic with a bad token");

  // Anonymous reads of public content stay fine.
  assert.equal((await request(publicReads[0](), "GET")).status, 200);
});

test("organizations: members read and write private org repos until removed", async (t) => {
  const hub = await startHub(t);
  const alice = await hub.token("alice");
  const carol = await hub.token("carol");
  const mallory = await hub.token("mallory");
  const reader = await hub.token("rita");
  await hub.services.accounts.createOrg("acme", "alice");
  await hub.services.accounts.addMember("acme", "carol");
  await hub.services.accounts.addMember("acme", "rita", "read");

  // Alice (org admin) creates a private org repository.
  const id = await createRepo(hub.url, alice, "acme/internal", { private: true });
  assert.equal(id, "acme/internal");
  await commit(hub.url, alice, id, [{ path: "config.json", content: "{}" }]);

  // Carol, a member, reads and writes.
  assert.equal((await request(`${hub.url}/api/models/${id}`, "GET", { token: carol })).status, 200);
  assert.equal((await request(`${hub.url}/${id}/resolve/main/config.json`, "GET", { token: carol })).status, 200);
  const carolCommit = await commit(hub.url, carol, id, [{ path: "notes.md", content: "# notes" }]);
  assert.match(carolCommit, /^[0-9a-f]{40}$/);
  assert.equal((await request(`${hub.url}/api/whoami-v2`, "GET", { token: carol })).json().orgs[0].name, "acme");
  // Members may also create repositories in the organization.
  assert.equal(await createRepo(hub.url, carol, "acme/carols-model"), "acme/carols-model");
  // Org members see private org repositories in listings.
  const listed = async (token: string) => (await request(`${hub.url}/api/models?author=acme`, "GET", { token })).json<{ id: string }[]>().map((r) => r.id);
  assert.ok((await listed(carol)).includes(id));
  assert.ok(!(await listed(mallory)).includes(id));

  // A read-only member reads but cannot write.
  assert.equal((await request(`${hub.url}/api/models/${id}`, "GET", { token: reader })).status, 200);
  assertError(await commitRaw(hub.url, reader, id, [{ path: "x.txt", content: "x" }]), 403, "Forbidden");

  // A non-member sees nothing.
  assertError(await request(`${hub.url}/api/models/${id}`, "GET", { token: mallory }), 404, "RepoNotFound");
  assertError(await commitRaw(hub.url, mallory, id, [{ path: "x.txt", content: "x" }]), 404, "RepoNotFound");

  // After removal Carol is a stranger: 404 everywhere, never 403, and no listing entry.
  await hub.services.accounts.removeMember("acme", "carol");
  assertError(await request(`${hub.url}/api/models/${id}`, "GET", { token: carol }), 404, "RepoNotFound");
  assertError(await request(`${hub.url}/${id}/resolve/main/config.json`, "GET", { token: carol }), 404, "RepoNotFound");
  assertError(await commitRaw(hub.url, carol, id, [{ path: "y.txt", content: "y" }]), 404, "RepoNotFound");
  assertError(await createRepoRaw(hub.url, carol, { name: "another", organization: "acme" }), 403, "Forbidden");
  assert.ok(!(await listed(carol)).includes(id));
  assert.deepEqual((await request(`${hub.url}/api/whoami-v2`, "GET", { token: carol })).json().orgs, []);
  // Public org repositories stay readable but not writable.
  assert.equal((await request(`${hub.url}/api/models/acme/carols-model`, "GET", { token: carol })).status, 200);
  assertError(await commitRaw(hub.url, carol, "acme/carols-model", [{ path: "z.txt", content: "z" }]), 403, "Forbidden");
});
