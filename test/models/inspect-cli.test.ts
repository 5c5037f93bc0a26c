// `agora inspect`: as a user runs it (a child process) for the main cases, and in-process
// through the same entry point for the rest, on folders and files written by the test.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { inspect } from "../../src/cli/inspect.ts";
import { BREAKDOWN_KEYS } from "../../src/models/types.ts";
import { denseGguf, moeGguf, rawSafetensors, tempDir, writeShardedMixtral } from "../helpers/model-files.ts";

const BIN = path.resolve("bin/agora.mjs");

function agora(args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The command in-process: same code path as the binary, without a process start per case. */
async function run(target: string, json = true) {
  let stdout = "";
  let stderr = "";
  const code = await inspect(target, { json }, (line) => (stdout += line + "\n"), (line) => (stderr += line + "\n"));
  return { code, stdout, stderr };
}

async function inspectJson(target: string) {
  const result = await run(target);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test("agora inspect DIR --json: a sharded MoE checkpoint with its config", (t) => {
  const dir = tempDir(t);
  writeShardedMixtral(dir);
  const child = agora(["inspect", dir, "--json"]);
  assert.equal(child.code, 0, child.stderr);
  const report = JSON.parse(child.stdout);

  assert.equal(report.parameterSource, "safetensors");
  assert.equal(report.parameters.total, 1640);
  assert.equal(report.parameters.active, 1256);
  assert.equal(report.parameters.activeRead, 1136);
  for (const key of ["total", "active", "activeRead"]) assert.ok(Number.isInteger(report.parameters[key]), key);
  assert.deepEqual(Object.keys(report.parameters.breakdown).sort(), [...BREAKDOWN_KEYS].sort());
  for (const key of BREAKDOWN_KEYS) assert.ok(Number.isInteger(report.parameters.breakdown[key]), key);
  assert.equal(report.parameters.breakdown.experts, 768);
  assert.equal(report.parameters.breakdown.router, 64);

  assert.equal(report.architecture.family, "mixtral");
  assert.equal(report.architecture.moe, true);
  assert.equal(report.architecture.experts, 4);
  assert.equal(report.architecture.expertsPerToken, 2);
  assert.ok(report.architecture.sharedExperts === null || report.architecture.sharedExperts === 0);
  assert.equal(report.context.length, 32768);

  assert.deepEqual(report.sources.map((s: { kind: string }) => s.kind), ["config", "safetensors"]);
  assert.deepEqual(report.sources[1].files, ["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
  assert.deepEqual(Object.keys(report.dtypes).sort(), ["BF16", "F32"]);
  assert.equal(report.dtypes.F32.parameters, 40);
  assert.equal(report.quantization, null);
  // the config estimate is reported beside the exact count
  assert.equal(typeof report.configEstimate.total, "number");

  // the readable summary says the same in one line
  const text = agora(["inspect", dir]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout.split("\n")[0], /^Mixtral-style MoE: 1\.6K total, 1\.3K active \(4 experts, 2 per token\)$/);
  assert.match(text.stdout, /exact, from safetensors headers/);
});

test("inspect: the index alone, a config alone, and shards without a config", async (t) => {
  const dir = tempDir(t);
  writeShardedMixtral(dir);
  const viaIndex = await inspectJson(path.join(dir, "model.safetensors.index.json"));
  assert.equal(viaIndex.parameters.total, 1640);
  assert.equal(viaIndex.parameters.active, 1256, "the config beside the index gives experts per token");

  const viaConfig = await inspectJson(path.join(dir, "config.json"));
  assert.equal(viaConfig.parameterSource, "config");
  assert.equal(viaConfig.architecture.moe, true);

  const bare = tempDir(t);
  writeShardedMixtral(bare, { config: false });
  const noConfig = await inspectJson(bare);
  assert.equal(noConfig.parameters.total, 1640);
  assert.equal(noConfig.architecture.moe, true);
  assert.equal(noConfig.architecture.experts, 4, "seen in the tensor names");
  assert.equal(noConfig.parameters.active, 1640, "top-k unknown without a config");
  assert.ok(noConfig.notes.some((n: string) => /experts per token unknown/.test(n)));
});

test("inspect: GGUF files, alone and in a folder", async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, "tiny-Q4_K_M.gguf"), denseGguf());
  const dense = await inspectJson(path.join(dir, "tiny-Q4_K_M.gguf"));
  assert.equal(dense.parameterSource, "gguf");
  assert.equal(dense.architecture.family, "llama");
  assert.equal(dense.architecture.moe, false);
  assert.equal(dense.context.length, 8192);
  assert.equal(dense.gguf.fileType, "Q4_K_M");
  assert.equal(dense.quantization.method, "gguf");
  assert.ok(dense.gguf.bitsPerWeight > 5 && dense.gguf.bitsPerWeight < 6);

  const moeDir = tempDir(t);
  fs.writeFileSync(path.join(moeDir, "moe-Q8_0.gguf"), moeGguf());
  const moe = await inspectJson(moeDir);
  assert.equal(moe.architecture.moe, true);
  assert.equal(moe.architecture.experts, 4);
  assert.equal(moe.architecture.expertsPerToken, 2);
  assert.ok(moe.parameters.active < moe.parameters.total);
  const text = await run(moeDir, false);
  assert.match(text.stdout, /^Qwen3-MoE-style MoE: .* total, .* active \(4 experts, 2 per token\)/);
  assert.match(text.stdout, /gguf: Q8_0/);
});

test("inspect: a hostile file is a clear error with exit code 1, not a crash", async (t) => {
  const dir = tempDir(t);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(100_000_000_000n);
  fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.concat([prefix, Buffer.from("{}")]));
  const child = agora(["inspect", dir]);
  assert.equal(child.code, 1);
  assert.match(child.stderr, /model\.safetensors: .*header claims 100000000000 bytes.*\(header-too-large\)/);
  assert.doesNotMatch(child.stderr, /at .*\.ts:\d+/, "no stack trace");
  const json = await run(dir);
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).error.code, "header-too-large");

  const gguf = path.join(dir, "broken.gguf");
  fs.writeFileSync(gguf, denseGguf().subarray(0, 100));
  const truncated = await run(gguf);
  assert.equal(truncated.code, 1);
  assert.equal(JSON.parse(truncated.stdout).error.code, "truncated");

  const notJson = path.join(dir, "weird.safetensors");
  fs.writeFileSync(notJson, rawSafetensors("not json", 0));
  assert.equal(JSON.parse((await run(notJson)).stdout).error.code, "not-json");

  assert.equal((await run(path.join(dir, "absent"))).code, 1);
  assert.equal(agora(["inspect"]).code, 1);
});
