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

/**
 * Runs one `agora` command without blocking this process (which may be serving the hubs the
 * command talks to); logging silenced unless `env` says otherwise.
 */
export function runAgoraAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGORA_BIN, ...args], { env: { ...process.env, AGORA_LOG_LEVEL: "silent", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() }));
  });
}
