// Model intelligence through the HTTP API: the `agora` object of repository info, and the
// listing filters on it (moe, params_*, active_*, license_class, commercial, fits=PROFILE).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startHub } from "../helpers/server.ts";
import { commitFiles, createRepo } from "../helpers/hub-http.ts";

const FIXTURES = path.resolve("test/fixtures/model-configs");
const config = (name: string) => fs.readFileSync(path.join(FIXTURES, `${name}.json`));
const card = (license: string) => Buffer.from(`---\nlicense: ${license}\n---\n# model\n`);

type Listed = { id: string; agora: { parameters: { total: number | null; active: number | null }; moe: boolean | null; license: { class: string | null } } };

test("repository info carries Agora's model facts and listings filter on them", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("alice");
  const models = [
    { name: "mixtral", config: config("mistralai__Mixtral-8x7B-v0.1"), license: "apache-2.0" },
    { name: "llama8b", config: config("meta-llama__Meta-Llama-3.1-8B"), license: "llama3.1" },
    { name: "qwen-a3b", config: config("Qwen__Qwen3-30B-A3B"), license: "cc-by-nc-4.0" },
  ];
  for (const m of models) {
    await createRepo(hub.url, token, { name: m.name });
    await commitFiles(hub.url, token, `alice/${m.name}`, [
      { path: "config.json", content: m.config },
      { path: "README.md", content: card(m.license) },
    ]);
  }

  const info = (await (await fetch(`${hub.url}/api/models/alice/mixtral`)).json()) as { agora: Record<string, any> };
  assert.equal(info.agora.architecture.moe, true);
  assert.equal(info.agora.architecture.experts, 8);
  assert.equal(info.agora.architecture.expertsPerToken, 2);
  assert.ok(Math.abs(info.agora.parameters.total - 46_702_792_704) / 46_702_792_704 < 0.005, `total ${info.agora.parameters.total}`);
  assert.ok(Math.abs(info.agora.parameters.active - 12.9e9) / 12.9e9 < 0.03, `active ${info.agora.parameters.active}`);
  assert.equal(info.agora.license.id, "apache-2.0");
  assert.equal(info.agora.license.class, "permissive");
  assert.equal(info.agora.license.commercialUse, "yes");
  assert.ok(info.agora.memoryAtQ4 > 20 * 1024 ** 3 && info.agora.memoryAtQ4 < 40 * 1024 ** 3, `memoryAtQ4 ${info.agora.memoryAtQ4}`);

  const expanded = (await (await fetch(`${hub.url}/api/models/alice/llama8b?expand=agora`)).json()) as Record<string, any>;
  assert.deepEqual(Object.keys(expanded).sort(), ["_id", "agora", "id"]);
  assert.equal(expanded.agora.architecture.moe, false);
  assert.equal(expanded.agora.parameters.active, expanded.agora.parameters.total);

  const ids = async (query: string) => {
    const response = await fetch(`${hub.url}/api/models?author=alice&sort=id&${query}`);
    assert.equal(response.status, 200, `${query}: ${await response.clone().text()}`);
    return ((await response.json()) as Listed[]).map((m) => m.id);
  };
  assert.deepEqual(await ids("moe=true"), ["alice/mixtral", "alice/qwen-a3b"]);
  assert.deepEqual(await ids("moe=false"), ["alice/llama8b"]);
  assert.deepEqual(await ids("params_min=20"), ["alice/mixtral", "alice/qwen-a3b"]);
  assert.deepEqual(await ids("params_max=10"), ["alice/llama8b"]);
  assert.deepEqual(await ids("active_max=5"), ["alice/qwen-a3b"]);
  assert.deepEqual(await ids("active_min=10&moe=true"), ["alice/mixtral"]);
  assert.deepEqual(await ids("license_class=non-commercial"), ["alice/qwen-a3b"]);
  assert.deepEqual(await ids("commercial=yes"), ["alice/mixtral"]);
  assert.deepEqual(await ids("commercial=conditional"), ["alice/llama8b"]);
  // 24 GB: the 8B and the 30B-A3B fit at Q4_K_M, Mixtral's 46.7B (~26 GiB of weights) does not
  assert.deepEqual(await ids("fits=rtx-4090"), ["alice/llama8b", "alice/qwen-a3b"]);
  assert.deepEqual(await ids("fits=h100-sxm"), ["alice/llama8b", "alice/mixtral", "alice/qwen-a3b"]);

  const listed = (await (await fetch(`${hub.url}/api/models?author=alice&search=mixtral`)).json()) as Listed[];
  assert.equal(listed[0].agora.moe, true);
  assert.equal(listed[0].agora.license.class, "permissive");

  for (const [query, message] of [
    ["moe=maybe", /moe must be true or false/],
    ["params_min=big", /params_min must be a non-negative number/],
    ["license_class=free", /license_class must be one of/],
    ["commercial=sometimes", /commercial must be one of/],
    ["fits=toaster", /unknown hardware profile/],
  ] as const) {
    const response = await fetch(`${hub.url}/api/models?${query}`);
    assert.equal(response.status, 400, query);
    assert.match(response.headers.get("x-error-message") ?? "", message);
  }
});

test("a repository without config.json still gets license facts, and a new commit updates the facts", async (t) => {
  const hub = await startHub(t);
  const token = await hub.token("bob");
  await createRepo(hub.url, token, { name: "plain" });
  await commitFiles(hub.url, token, "bob/plain", [{ path: "README.md", content: card("mit") }]);
  let info = (await (await fetch(`${hub.url}/api/models/bob/plain`)).json()) as { agora: Record<string, any> };
  assert.equal(info.agora.parameters, null);
  assert.equal(info.agora.license.id, "mit");
  assert.deepEqual(((await (await fetch(`${hub.url}/api/models?license_class=permissive`)).json()) as Listed[]).map((m) => m.id), ["bob/plain"]);
  assert.deepEqual(((await (await fetch(`${hub.url}/api/models?moe=false`)).json()) as Listed[]).map((m) => m.id), []);

  await commitFiles(hub.url, token, "bob/plain", [{ path: "config.json", content: config("Qwen__Qwen3-8B") }]);
  info = (await (await fetch(`${hub.url}/api/models/bob/plain`)).json()) as { agora: Record<string, any> };
  assert.equal(info.agora.architecture.moe, false);
  assert.deepEqual(((await (await fetch(`${hub.url}/api/models?moe=false`)).json()) as Listed[]).map((m) => m.id), ["bob/plain"]);
});
