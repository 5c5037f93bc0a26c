// Fetching a mirrored repository's refs and commits from its upstream hub over git smart HTTP.
//
// LFS is never smudged (a bare fetch keeps pointers only; GIT_LFS_SKIP_SMUDGE for good measure),
// so commit ids stay the upstream's and pinned revisions stay valid. The token travels as an
// `http.extraHeader` passed through GIT_CONFIG_* variables (never on the command line, where
// other users could read it) and only for this one fetch from that one URL; redirects are not
// followed, so the header cannot leak to another host.

import { spawn } from "node:child_process";
import { gitEnv, GitError } from "./run-git.ts";

/** The fetch was stopped because the upstream did not complete it in time (down or blackholed, not refusing). */
export class FetchTimeoutError extends GitError {
  constructor(url: string, timeoutMs: number) {
    super(["fetch", url], null, `timed out after ${timeoutMs} ms`);
    this.name = "FetchTimeoutError";
  }
}

const REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+refs/pr/*:refs/pr/*", "+refs/convert/*:refs/convert/*"];

export async function fetchFromUpstream(dir: string, url: string, options: { token?: string; timeoutMs: number }): Promise<void> {
  const config: [string, string][] = [
    ["http.followRedirects", "false"],
    ["http.lowSpeedLimit", "1"],
    ["http.lowSpeedTime", String(Math.max(1, Math.ceil(options.timeoutMs / 1000)))],
    ["credential.helper", ""],
  ];
  if (options.token) config.push(["http.extraHeader", `Authorization: Bearer ${options.token}`]);
  const extra: Record<string, string> = { GIT_LFS_SKIP_SMUDGE: "1", GIT_CONFIG_COUNT: String(config.length) };
  config.forEach(([key, value], i) => {
    extra[`GIT_CONFIG_KEY_${i}`] = key;
    extra[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  const args = ["fetch", "--quiet", "--prune", "--no-write-fetch-head", "--no-auto-gc", url, ...REFSPECS];
  await new Promise<void>((resolve, reject) => {
    const child = spawn("git", args, { env: gitEnv(dir, extra), stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      if (timedOut) return reject(new FetchTimeoutError(url, options.timeoutMs));
      const stderr = Buffer.concat(err).toString("utf8");
      reject(new GitError(["fetch", url], code, options.token ? stderr.split(options.token).join("***") : stderr));
    });
  });
}
