// Runs `agora serve` as a child process on a free port, as a user would, and resolves its URL
// once it prints the "listening on" line.

import { spawn, spawnSync } from "node:child_process";
import path from "node:path";

export const AGORA_BIN = path.resolve("bin/agora.mjs");

export function serveProcess(dataDir: string, options: { args?: string[]; env?: Record<string, string> } = {}) {
  const child = spawn(process.execPath, [AGORA_BIN, "serve", "--data", dataDir, "--port", "0", "--log-level", "warn", ...(options.args ?? [])], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  let output = "";
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, url, exited, output: () => output };
}

/** Runs one `agora` command to completion and returns its exit code and trimmed output. */
export function runAgora(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [AGORA_BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}
