// The `agora` command as a user runs it: a real child process on a temp data directory.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { deferCleanup, tempDir } from "../helpers/server.ts";
import { runAgora as agora, serveProcess } from "../helpers/serve-process.ts";

test("token create prints an hf_ token, list shows it without the secret, revoke makes it unusable", async (t) => {
  const data = tempDir(t);
  const created = agora(["token", "create", "--user", "carol", "--role", "read", "--name", "laptop", "--data", data]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^hf_[A-Za-z0-9]{34}$/);
  const token = created.stdout;

  const list = agora(["token", "list", "--data", data]);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(!list.stdout.includes(token), "the secret must never be listed");
  const row = list.stdout.split("\n").find((l) => l.includes("laptop"))!;
  assert.ok(row, list.stdout);
  const [id, user, name, role, , expires, status] = row.split("\t");
  assert.deepEqual([user, name, role, expires, status], ["carol", "laptop", "read", "never", "active"]);

  const server = serveProcess(data);
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;
  const who = await fetch(`${url}/api/whoami-v2`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(who.status, 200);
  assert.equal(((await who.json()) as { name: string }).name, "carol");

  assert.equal(agora(["token", "revoke", id, "--data", data]).code, 0);
  assert.match(agora(["token", "list", "--user", "carol", "--data", data]).stdout, /\trevoked$/m);
  const after = await fetch(`${url}/api/whoami-v2`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(after.status, 401);
  assert.match(after.headers.get("x-error-message") ?? "", /Invalid credentials/);

  const again = agora(["token", "revoke", id, "--data", data]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no active token/);
});

test("tokens with --expires carry an expiry date", (t) => {
  const data = tempDir(t);
  assert.equal(agora(["token", "create", "--user", "dave", "--expires", "7", "--data", data]).code, 0);
  const row = agora(["token", "list", "--data", data]).stdout.split("\n")[1].split("\t");
  const days = (Date.parse(row[5]) - Date.parse(row[4])) / 86400_000;
  assert.ok(Math.abs(days - 7) < 0.01, `expiry ${row[5]} is 7 days after ${row[4]}`);
  const bad = agora(["token", "create", "--user", "dave", "--expires=0", "--data", data]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--expires must be a positive number/);
});

test("org create, add-member and remove-member change who may write into the organization", async (t) => {
  const data = tempDir(t);
  const owner = agora(["token", "create", "--user", "olga", "--data", data]).stdout;
  const member = agora(["token", "create", "--user", "mike", "--data", data]).stdout;
  assert.equal(agora(["org", "create", "acme", "--owner", "olga", "--data", data]).code, 0);
  assert.equal(agora(["org", "add-member", "acme", "mike", "--data", data]).code, 0);
  assert.deepEqual(agora(["org", "members", "acme", "--data", data]).stdout.split("\n"), ["mike\twrite", "olga\tadmin"]);

  const server = serveProcess(data);
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;
  const create = (token: string, name: string) =>
    fetch(`${url}/api/repos/create`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name, organization: "acme", private: true }) });
  assert.equal((await create(owner, "one")).status, 200);
  assert.equal((await create(member, "two")).status, 200);
  const whoami = (await (await fetch(`${url}/api/whoami-v2`, { headers: { authorization: `Bearer ${member}` } })).json()) as { orgs: { name: string }[] };
  assert.deepEqual(whoami.orgs.map((o) => o.name), ["acme"]);

  assert.equal(agora(["org", "remove-member", "acme", "mike", "--data", data]).code, 0);
  const refused = await create(member, "three");
  assert.equal(refused.status, 403);
  const hidden = await fetch(`${url}/api/models/acme/one`, { headers: { authorization: `Bearer ${member}` } });
  assert.equal(hidden.status, 404, "a former member no longer sees private org repositories");
  assert.equal(hidden.headers.get("x-error-code"), "RepoNotFound");

  const missing = agora(["org", "remove-member", "acme", "mike", "--data", data]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not a member/);
});

test("access grant, list and revoke control a manual gated repository", async (t) => {
  const data = tempDir(t);
  const owner = agora(["token", "create", "--user", "gina", "--data", data]).stdout;
  const reader = agora(["token", "create", "--user", "rob", "--role", "read", "--data", data]).stdout;
  assert.equal(agora(["repo", "create", "gina/gated", "--gated", "manual", "--data", data]).code, 0);
  const server = serveProcess(data);
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;
  const get = (token: string) => fetch(`${url}/gina/gated/resolve/main/.gitattributes`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await get(owner)).status, 200);
  const before = await get(reader);
  assert.equal(before.status, 403);
  assert.equal(before.headers.get("x-error-code"), "GatedRepo");

  assert.equal(agora(["access", "grant", "gina/gated", "rob", "--data", data]).code, 0);
  assert.match(agora(["access", "list", "gina/gated", "--data", data]).stdout, /^rob\taccepted\t/);
  assert.equal((await get(reader)).status, 200);
  assert.equal(agora(["access", "revoke", "gina/gated", "rob", "--data", data]).code, 0);
  assert.equal((await get(reader)).status, 403);
});

test("repo create allows one-segment legacy ids that the API serves", async (t) => {
  const data = tempDir(t);
  assert.equal(agora(["repo", "create", "gpt2", "--data", data]).code, 0);
  const server = serveProcess(data);
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;
  const info = await fetch(`${url}/api/models/gpt2`);
  assert.equal(info.status, 200);
  assert.equal(((await info.json()) as { id: string }).id, "gpt2");
});

test("invalid configuration stops the boot with a message naming the value and its source", (t) => {
  const data = tempDir(t);
  const badFlag = agora(["serve", "--data", data, "--port", "http"]);
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.stderr, /port must be an integer between 0 and 65535 \(got "http" from --port\)/);
  const badEnv = agora(["serve", "--data", data], { AGORA_LOG_LEVEL: "loud" });
  assert.equal(badEnv.code, 1);
  assert.match(badEnv.stderr, /logLevel must be one of .* from \$AGORA_LOG_LEVEL/);
  const badTimeout = agora(["serve", "--data", data], { AGORA_UPLOAD_IDLE_TIMEOUT: "0" });
  assert.equal(badTimeout.code, 1);
  assert.match(badTimeout.stderr, /uploadIdleTimeoutSeconds must be an integer between 1 and 86400 \(got "0" from \$AGORA_UPLOAD_IDLE_TIMEOUT\)/);
  const badSendTimeout = agora(["serve", "--data", data], { AGORA_SEND_IDLE_TIMEOUT: "2h" });
  assert.equal(badSendTimeout.code, 1);
  assert.match(badSendTimeout.stderr, /sendIdleTimeoutSeconds must be an integer between 1 and 86400 \(got "2h" from \$AGORA_SEND_IDLE_TIMEOUT\)/);
  const file = path.join(data, "agora.yaml");
  fs.writeFileSync(file, "port: 8080\nprot: 1\n");
  const badFile = agora(["serve", "--config", file]);
  assert.equal(badFile.code, 1);
  assert.match(badFile.stderr, /unknown setting "prot"/);
  const unknown = agora(["frobnicate"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown command frobnicate/);
});

test("serve takes settings from a config file, and SIGTERM shuts it down cleanly", async (t) => {
  const data = tempDir(t);
  const file = path.join(data, "agora.yaml");
  fs.writeFileSync(file, `data: ${JSON.stringify(path.join(data, "store"))}\nlogLevel: warn\n`);
  const server = serveProcess(data, { args: ["--config", file] });
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;
  // the flag --data given by serve() wins over the file's `data`
  assert.ok(fs.existsSync(path.join(data, "agora.sqlite")));
  assert.equal((await fetch(`${url}/api/models`)).status, 200);
  server.child.kill("SIGTERM");
  assert.equal(await server.exited, 0);
  assert.match(server.output(), /received SIGTERM, shutting down/);
});
