// The license policy through real downloads: a started hub configured from a YAML file refuses
// the weights of repositories whose license it denies (403 LicensePolicy naming the license and
// the rule) while README, LICENSE and config stay readable; allowed repositories download
// byte-for-byte; dry-run serves and logs; `agora policy check` explains the decision; and the
// configuration is validated with clear messages.

import { test } from "node:test";
import assert from "node:assert/strict";
import { downloadFile } from "@huggingface/hub";
import fs from "node:fs";
import path from "node:path";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { deferCleanup, startHub, tempDir } from "../helpers/server.ts";
import { runAgora as agora, serveProcess } from "../helpers/serve-process.ts";
import { assertHubError, commitFiles, createRepo, patternBytes, sha256 } from "../helpers/hub-http.ts";

const WEIGHTS = patternBytes(300_000, 11);
const TOKENIZER = Buffer.from(JSON.stringify({ version: "1.0", model: { type: "BPE" } }));
const CONFIG_JSON = Buffer.from(JSON.stringify({ model_type: "llama", architectures: ["LlamaForCausalLM"] }));
const LLAMA_LICENSE = "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024\n";
const CC_BY_NC_LICENSE = "Attribution-NonCommercial 4.0 International\n\n=====\n\nCreative Commons Corporation (\"Creative Commons\") is not a law firm.\n";

const POLICY_YAML = `
licensePolicy:
  mode: enforce
  denyClasses: [non-commercial]
  denyLicenses: [Llama-3.1]
`;

function readme(frontMatter: string): string {
  return `---\n${frontMatter}\n---\n# A model\n\nSee the license section.\n`;
}

async function bytesOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

test("enforce: denied licenses are refused with 403 LicensePolicy, metadata stays readable, allowed repos download intact", async (t) => {
  const dir = tempDir(t);
  const configFile = path.join(dir, "agora.yaml");
  fs.writeFileSync(configFile, POLICY_YAML);
  const hub = await startHub(t, { env: { AGORA_CONFIG: configFile } });
  assert.deepEqual(hub.services.config.licensePolicy.denyLicenses, ["llama3.1"], "ids in the policy are normalised");
  const token = await hub.token("alice");
  const file = (id: string, rev: string, p: string, op = "resolve") => `${hub.url}/${id}/${op}/${rev}/${p}`;

  const open = await createRepo(hub.url, token, { name: "open-model" });
  await commitFiles(hub.url, token, open, [
    { path: "README.md", content: readme("license: apache-2.0") },
    { path: "config.json", content: CONFIG_JSON },
    { path: "tokenizer.json", content: TOKENIZER },
    { path: "model.safetensors", content: WEIGHTS, lfs: true },
  ]);

  const llama = await createRepo(hub.url, token, { name: "llama-finetune" });
  const llamaReadme = readme("license: llama3.1\nbase_model: meta-llama/Llama-3.1-8B");
  const llamaCommit = await commitFiles(hub.url, token, llama, [
    { path: "README.md", content: llamaReadme },
    { path: "LICENSE", content: LLAMA_LICENSE },
    { path: "config.json", content: CONFIG_JSON },
    { path: "tokenizer.json", content: TOKENIZER },
    { path: "model.safetensors", content: WEIGHTS, lfs: true },
  ]);

  await t.test("allowed: an apache-2.0 repository serves its weights, SHA-256 equal, GET and HEAD", async () => {
    const response = await fetch(file(open, "main", "model.safetensors"));
    assert.equal(response.status, 200);
    const body = await bytesOf(response);
    assert.equal(sha256(body), sha256(WEIGHTS));
    const head = await fetch(file(open, "main", "model.safetensors"), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("x-linked-size"), String(WEIGHTS.length));
    assert.equal((await fetch(file(open, "main", "tokenizer.json"))).status, 200);
  });

  await t.test("denied: weights and other files answer 403 LicensePolicy naming the license and the rule", async () => {
    for (const p of ["model.safetensors", "tokenizer.json"]) {
      const response = await fetch(file(llama, "main", p));
      const body = await assertHubError(response, 403, "LicensePolicy");
      const message = response.headers.get("x-error-message")!;
      assert.match(message, /llama3\.1 \(Llama 3\.1 Community License\)/, message);
      assert.match(message, /rule "denyLicenses: llama3\.1"/, message);
      assert.match(message, new RegExp(`refuses downloads from ${llama}`));
      assert.equal(body.error, message, "the body carries the same message");
      assert.equal(response.headers.get("x-repo-commit"), llamaCommit);
      assert.equal(response.headers.get("etag"), null, "no ETag on a refusal");
    }
    const head = await fetch(file(llama, "main", "model.safetensors"), { method: "HEAD" });
    assert.equal(head.status, 403);
    assert.equal(head.headers.get("x-error-code"), "LicensePolicy");
    assert.match(head.headers.get("x-error-message") ?? "", /denyLicenses: llama3\.1/);
    // by commit id and by /raw of a regular file too
    assert.equal((await fetch(file(llama, llamaCommit, "model.safetensors"))).status, 403);
    assert.equal((await fetch(file(llama, "main", "tokenizer.json", "raw"))).headers.get("x-error-code"), "LicensePolicy");
  });

  await t.test("denied: README, LICENSE and config.json stay readable, and /raw still shows the LFS pointer", async () => {
    const readmeResponse = await fetch(file(llama, "main", "README.md"));
    assert.equal(readmeResponse.status, 200);
    assert.equal(await readmeResponse.text(), llamaReadme);
    assert.equal(await (await fetch(file(llama, "main", "LICENSE"))).text(), LLAMA_LICENSE);
    assert.ok((await bytesOf(await fetch(file(llama, "main", "config.json")))).equals(CONFIG_JSON));
    const pointer = await fetch(file(llama, "main", "model.safetensors", "raw"));
    assert.equal(pointer.status, 200);
    assert.match(await pointer.text(), new RegExp(`^version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(WEIGHTS)}\nsize ${WEIGHTS.length}\n$`));
    // a missing file is still a 404, not a license refusal
    await assertHubError(await fetch(file(llama, "main", "missing.bin")), 404, "EntryNotFound");
  });

  await t.test("the official JS client surfaces the refusal's message, and reads the README", async () => {
    const call = { hubUrl: hub.url, accessToken: token, repo: llama };
    await assert.rejects(downloadFile({ ...call, path: "model.safetensors" }), (error: Error & { statusCode?: number }) => {
      assert.equal(error.statusCode, 403);
      assert.match(error.message, /license llama3\.1 \(Llama 3\.1 Community License\) is denied by rule "denyLicenses: llama3\.1"/);
      return true;
    });
    const card = await downloadFile({ ...call, path: "README.md" });
    assert.equal(await card!.text(), llamaReadme);
  });

  await t.test("a LICENSE file alone decides when the card says nothing: CC BY-NC text → denyClasses: non-commercial", async () => {
    const nc = await createRepo(hub.url, token, { name: "nc-weights" });
    await commitFiles(hub.url, token, nc, [
      { path: "README.md", content: "# No front matter here\n" },
      { path: "LICENSE.txt", content: CC_BY_NC_LICENSE },
      { path: "model.safetensors", content: WEIGHTS, lfs: true },
    ]);
    const response = await fetch(file(nc, "main", "model.safetensors"));
    await assertHubError(response, 403, "LicensePolicy");
    assert.match(response.headers.get("x-error-message") ?? "", /cc-by-nc-4\.0 .*rule "denyClasses: non-commercial"/);
  });

  await t.test("the license is read at the requested commit: relicensing main frees main, the old commit stays refused", async () => {
    const relicensed = await commitFiles(hub.url, token, llama, [{ path: "README.md", content: readme("license: llama3.1") }], {
      deletions: [{ deletedFile: "LICENSE" }],
    });
    assert.equal((await fetch(file(llama, "main", "model.safetensors"))).status, 403, "still llama3.1 on main");
    const apache = await commitFiles(hub.url, token, llama, [{ path: "README.md", content: readme("license: apache-2.0") }]);
    assert.notEqual(apache, relicensed);
    const now = await fetch(file(llama, "main", "model.safetensors"));
    assert.equal(now.status, 200);
    assert.equal(sha256(await bytesOf(now)), sha256(WEIGHTS));
    assert.equal((await fetch(file(llama, llamaCommit, "model.safetensors"))).status, 403, "the pinned old commit keeps its license");
  });

  await t.test("access checks come first: a private denied repository is invisible, not described", async () => {
    const secret = await createRepo(hub.url, token, { name: "secret-nc", private: true });
    await commitFiles(hub.url, token, secret, [
      { path: "README.md", content: readme("license: cc-by-nc-4.0") },
      { path: "model.safetensors", content: WEIGHTS, lfs: true },
    ]);
    await assertHubError(await fetch(file(secret, "main", "model.safetensors")), 401, "RepoNotFound");
    const owner = await fetch(file(secret, "main", "model.safetensors"), { headers: { Authorization: `Bearer ${token}` } });
    await assertHubError(owner, 403, "LicensePolicy");
  });
});

/** Starts `agora serve` on a free port with extra environment, resolving with its URL. */
test("dry-run: a denied license is served (200, same bytes) and the refusal is logged with the license and rule", async (t) => {
  const data = tempDir(t);
  const created = agora(["token", "create", "--user", "dora", "--data", data]);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout;
  const server = serveProcess(data, { env: { AGORA_LICENSE_POLICY_MODE: "dry-run", AGORA_LICENSE_POLICY_DENY_LICENSES: "llama3.1,gemma" } });
  deferCleanup(t, () => server.child.kill("SIGKILL"));
  const url = await server.url;

  const id = await createRepo(url, token, { name: "llama-dry" });
  await commitFiles(url, token, id, [
    { path: "README.md", content: readme("license: llama3.1") },
    { path: "model.safetensors", content: WEIGHTS, lfs: true },
  ]);
  const response = await fetch(`${url}/${id}/resolve/main/model.safetensors`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-error-code"), null);
  assert.equal(sha256(await bytesOf(response)), sha256(WEIGHTS));

  // the warning is written by the request's logger: wait for it (bounded)
  const deadline = Date.now() + 10_000;
  while (!server.output().includes("would refuse") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const line = server.output().split("\n").find((l) => l.includes("would refuse"));
  assert.ok(line, `a dry-run warning is logged; output: ${server.output()}`);
  const entry = JSON.parse(line) as { level: number; msg: string; license: string; rule: string; repo: string; path: string };
  assert.equal(entry.level, 40, "logged at warn level");
  assert.equal(entry.license, "llama3.1");
  assert.equal(entry.rule, "denyLicenses: llama3.1");
  assert.equal(entry.repo, id);
  assert.equal(entry.path, "model.safetensors");
  assert.match(entry.msg, /license policy \(dry-run\) would refuse model\.safetensors of dora\/llama-dry: Llama 3\.1 Community License \(llama3\.1\) is listed in denyLicenses/);
});

test("agora policy check prints the license record and the decision with its explanation", async (t) => {
  const dir = tempDir(t);
  const configFile = path.join(dir, "agora.yaml");
  fs.writeFileSync(configFile, POLICY_YAML);
  const hub = await startHub(t, { env: { AGORA_CONFIG: configFile } });
  const token = await hub.token("carol");
  const llama = await createRepo(hub.url, token, { name: "llama-check" });
  const first = await commitFiles(hub.url, token, llama, [
    { path: "README.md", content: readme("license: other\nlicense_name: Llama 3.1 Community License\nlicense_link: LICENSE") },
    { path: "LICENSE", content: LLAMA_LICENSE },
  ]);
  // main moves on to MIT; the first commit stays Llama-licensed
  await commitFiles(hub.url, token, llama, [{ path: "README.md", content: readme("license: mit") }], { deletions: [{ deletedFile: "LICENSE" }] });

  const denied = agora(["policy", "check", llama, "--revision", first, "--data", hub.dataDir, "--config", configFile]);
  assert.equal(denied.code, 3, `exit code 3 when refused: ${denied.stderr}`);
  const lines = denied.stdout.split("\n");
  assert.ok(lines.includes(`repository   ${llama} (model)`), denied.stdout);
  assert.ok(lines.includes(`revision     ${first} = ${first}`), denied.stdout);
  assert.ok(lines.includes("license      llama3.1 — Llama 3.1 Community License"), denied.stdout);
  assert.ok(lines.includes("class        open-weights-custom"), denied.stdout);
  assert.ok(lines.includes("commercial   conditional"), denied.stdout);
  assert.ok(lines.includes("source       both (confidence high)"), denied.stdout);
  assert.ok(lines.includes("link         LICENSE"), denied.stdout);
  assert.match(denied.stdout, /^conditions {3}- products or services with more than 700 million monthly active users/m);
  assert.match(denied.stdout, /^ {13}- derivative names must begin with "Llama"/m);
  assert.ok(lines.includes("policy       enforce"), denied.stdout);
  assert.ok(lines.includes("decision     refused by denyLicenses: llama3.1"), denied.stdout);
  assert.ok(lines.includes("             Llama 3.1 Community License (llama3.1) is listed in denyLicenses"), denied.stdout);

  const json = agora(["policy", "check", llama, "--revision", first.slice(0, 12), "--json", "--data", hub.dataDir, "--config", configFile]);
  assert.equal(json.code, 3);
  const parsed = JSON.parse(json.stdout) as { commit: string; terms: { id: string; class: string; source: string }; decision: { allowed: boolean; rule: string } };
  assert.equal(parsed.commit, first);
  assert.deepEqual([parsed.terms.id, parsed.terms.class, parsed.terms.source], ["llama3.1", "open-weights-custom", "both"]);
  assert.deepEqual([parsed.decision.allowed, parsed.decision.rule], [false, "denyLicenses: llama3.1"]);

  const allowed = agora(["policy", "check", llama, "--data", hub.dataDir, "--config", configFile]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /^license {6}mit — MIT License$/m);
  assert.match(allowed.stdout, /^decision {5}allowed$/m);
  assert.match(allowed.stdout, /no rule of the license policy refuses MIT License \(mit\)/);

  // the environment overrides the file: with the policy off everything is allowed
  const off = agora(["policy", "check", llama, "--revision", first, "--data", hub.dataDir, "--config", configFile], { AGORA_LICENSE_POLICY_MODE: "off" });
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /^decision {5}allowed \(the license policy is off\)$/m);

  const missing = agora(["policy", "check", "carol/nothing", "--data", hub.dataDir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /repository carol\/nothing not found/);
});

test("licensePolicy configuration: file shape, environment overrides, and clear errors", (t) => {
  const dir = tempDir(t);
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const base = { AGORA_DATA: dir };

  const defaults = loadConfig({ env: base }).licensePolicy;
  assert.equal(defaults.mode, "off");
  assert.deepEqual([...defaults.denyClasses, ...defaults.allowLicenses], []);

  const file = write(
    "full.yaml",
    `licensePolicy:\n  mode: dry-run\n  denyClasses: [non-commercial, unknown]\n  allowClasses: []\n  denyCommercialUse: [no]\n  denyLicenses: [Llama-3.1, tongyi qianwen]\n  allowLicenses: [qwen-research]\n`,
  );
  const fromFile = loadConfig({ configFile: file, env: base }).licensePolicy;
  assert.deepEqual(
    { ...fromFile },
    { mode: "dry-run", denyClasses: ["non-commercial", "unknown"], allowClasses: [], denyCommercialUse: ["no"], denyLicenses: ["llama3.1", "tongyi-qianwen"], allowLicenses: ["qwen-research"] },
  );
  assert.ok(Object.isFrozen(fromFile) && Object.isFrozen(fromFile.denyClasses), "the policy is frozen with the rest of the configuration");

  const overridden = loadConfig({ configFile: file, env: { ...base, AGORA_LICENSE_POLICY_MODE: "enforce", AGORA_LICENSE_POLICY_DENY_CLASSES: "copyleft, non-commercial" } }).licensePolicy;
  assert.equal(overridden.mode, "enforce");
  assert.deepEqual(overridden.denyClasses, ["copyleft", "non-commercial"]);
  assert.deepEqual(overridden.denyLicenses, ["llama3.1", "tongyi-qianwen"], "fields the environment does not set keep the file's value");

  const errorOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.message;
    }
    assert.fail("expected a ConfigError");
  };
  assert.match(errorOf(() => loadConfig({ env: { ...base, AGORA_LICENSE_POLICY_MODE: "block" } })), /licensePolicy\.mode must be one of enforce, dry-run, off \(got "block" from \$AGORA_LICENSE_POLICY_MODE\)/);
  const bad = write("bad.yaml", `licensePolicy:\n  denyClasses: [commercial]\n  denyCommercialUse: maybe\n  colour: red\n`);
  const message = errorOf(() => loadConfig({ configFile: bad, env: base }));
  assert.match(message, /licensePolicy\.denyClasses: "commercial" is not one of permissive, copyleft, open-weights-custom, non-commercial, unknown \(from .*bad\.yaml:licensePolicy\.denyClasses\)/);
  assert.match(message, /licensePolicy\.denyCommercialUse: "maybe" is not one of yes, no, conditional/);
  assert.match(message, /licensePolicy: unknown key "colour"/);
  assert.match(errorOf(() => loadConfig({ configFile: write("scalar.yaml", "licensePolicy: enforce\n"), env: base })), /licensePolicy must be a mapping/);
  assert.match(
    errorOf(() => loadConfig({ configFile: write("both.yaml", "licensePolicy:\n  allowClasses: [permissive]\n  denyClasses: [permissive]\n"), env: base })),
    /class "permissive" is in both allowClasses and denyClasses/,
  );
  assert.match(errorOf(() => loadConfig({ configFile: write("list.yaml", "licensePolicy:\n  denyLicenses: [1, 2]\n"), env: base })), /licensePolicy\.denyLicenses must be a list of strings/);
});
