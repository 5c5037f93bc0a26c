// git's smart HTTP protocol, served by the system git: `upload-pack` (clone, fetch) and
// `receive-pack` (push) in --stateless-rpc mode, one child process per request, spawned with
// argument arrays. Request bodies stream into the child (gunzipped if the client compressed
// them) and its output streams back; nothing is buffered whole.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { gitEnv } from "./run-git.ts";

export type GitService = "upload-pack" | "receive-pack";

/** Folder holding the hooks every push runs (pre-receive calls back into Agora). */
export const HOOKS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "hooks");

/** `Git-Protocol: version=2` is passed through; anything that is not a plain key=value list is dropped. */
export function gitProtocolFrom(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value && /^[A-Za-z0-9=:.,_-]{1,200}$/.test(value) ? value : undefined;
}

function pktLine(text: string): string {
  return (text.length + 4).toString(16).padStart(4, "0") + text;
}

/**
 * Refs under refs/agora/ are Agora's own (the commit an air-gapped import keeps reachable,
 * services/mirror-transfer.ts): never advertised to git clients, and not pushable.
 */
const HIDDEN_REFS = ["-c", "transfer.hideRefs=refs/agora"];

function spawnService(dir: string, service: GitService, extraArgs: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  const hooks = service === "receive-pack" ? ["-c", `core.hooksPath=${HOOKS_DIR}`] : [];
  const args = [...HIDDEN_REFS, ...hooks, service, "--stateless-rpc", ...extraArgs, dir];
  return spawn("git", args, { env: gitEnv(dir, env), stdio: ["pipe", "pipe", "pipe"] });
}

/** The ref advertisement for `GET …/info/refs?service=git-<service>`. */
export function advertiseRefs(dir: string, service: GitService, gitProtocol: string | undefined): { prefix: string; stream: Readable; done: Promise<number> } {
  const env: Record<string, string> = gitProtocol ? { GIT_PROTOCOL: gitProtocol } : {};
  const child = spawnService(dir, service, ["--advertise-refs"], env);
  child.stdin.end();
  // Protocol v2 answers without the service announcement, as git http-backend does.
  const v2 = gitProtocol?.includes("version=2") ?? false;
  return { prefix: v2 ? "" : `${pktLine(`# service=git-${service}\n`)}0000`, stream: child.stdout, done: exitCode(child) };
}

/** Runs one stateless-rpc exchange: the request body in, the result stream out. */
export function runService(
  dir: string,
  service: GitService,
  body: Readable,
  options: { gzip: boolean; gitProtocol?: string; env?: Record<string, string> },
): { stream: Readable; done: Promise<number>; stderr: () => string; kill: () => void } {
  const env: Record<string, string> = { ...(options.env ?? {}), ...(options.gitProtocol ? { GIT_PROTOCOL: options.gitProtocol } : {}) };
  const child = spawnService(dir, service, [], env);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString("utf8");
  });
  const input = options.gzip ? body.pipe(createGunzip()) : body;
  pipeline(input, child.stdin).catch(() => child.kill("SIGKILL"));
  return { stream: child.stdout, done: exitCode(child), stderr: () => stderr, kill: () => child.kill("SIGKILL") };
}

function exitCode(child: ChildProcessWithoutNullStreams): Promise<number> {
  return new Promise((resolve) => child.on("close", (code) => resolve(code ?? 1)));
}
