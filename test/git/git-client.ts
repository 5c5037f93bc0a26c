// Running the real git and git-lfs command-line clients against a test hub, the way a user
// would, but fully isolated from the machine's own configuration: every "git user" gets a
// fresh HOME and GIT_CONFIG_GLOBAL (with `git lfs install` done there), no system config, no
// terminal prompts, no askpass program, and credentials only through a credential helper that
// answers with the given token (any user name, the token as password).
//
//   const alice = await gitUser(t, { token });          // or gitUser(t) for an anonymous client
//   await alice.ok(["clone", `${hub.url}/alice/demo`, dir]);
//   const result = await alice.git(["push"], { cwd: dir }); // { code, stdout, stderr }

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/server.ts";

export type GitResult = { code: number; stdout: string; stderr: string };

export type GitUser = {
  home: string;
  /** The environment every git command of this user runs with. */
  env: Record<string, string>;
  /** Runs git; never throws for a non-zero exit (the result carries it). */
  git(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<GitResult>;
  /** Runs git and throws, with git's output, unless it exits with 0. Returns trimmed stdout. */
  ok(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<string>;
};

/** Safety net only (a hung git must not hang the suite); no test asserts on timing. */
const GIT_KILL_AFTER_MS = 300_000;

export function runProcess(command: string, args: string[], options: { cwd?: string; env: Record<string, string> }): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), GIT_KILL_AFTER_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

/**
 * A git client with its own HOME. With `token`, a credential helper answers every credential
 * request with it; without one, git has no way to get credentials (an anonymous user).
 */
export async function gitUser(t: { after: (fn: () => unknown) => void }, options: { token?: string; name?: string } = {}): Promise<GitUser> {
  const home = tempDir(t, "agora-git-home-");
  const configFile = path.join(home, ".gitconfig");
  const name = options.name ?? "Test User";
  const lines = [
    "[user]",
    `\tname = ${name}`,
    `\temail = ${name.toLowerCase().replace(/[^a-z0-9]+/g, ".")}@example.org`,
    "[init]",
    "\tdefaultBranch = main",
    "[pull]",
    "\trebase = false",
    "[advice]",
    "\tdetachedHead = false",
  ];
  if (options.token) {
    if (!/^[A-Za-z0-9_-]+$/.test(options.token)) throw new Error("unexpected characters in token");
    // Answers `get` only; `store`/`erase` are ignored. Any user name, the token as password.
    lines.push("[credential]", `\thelper = "!f() { test \\"$1\\" = get && echo username=agora-user && echo password=${options.token}; }; f"`);
  }
  fs.writeFileSync(configFile, lines.join("\n") + "\n");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    GIT_CONFIG_GLOBAL: configFile,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    LC_ALL: "C",
    LANG: "C",
    TMPDIR: process.env.TMPDIR ?? "/tmp",
  };
  const git: GitUser["git"] = (args, runOptions = {}) => runProcess("git", args, { cwd: runOptions.cwd, env: { ...env, ...runOptions.env } });
  const ok: GitUser["ok"] = async (args, runOptions) => {
    const result = await git(args, runOptions);
    if (result.code !== 0) throw new Error(`git ${args.join(" ")} exited with ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
    return result.stdout.trim();
  };
  await ok(["lfs", "install", "--skip-repo"]);
  return { home, env, git, ok };
}

/** Every file of a working tree (`.git` excluded), path → SHA-256 of its bytes. */
export function treeDigests(root: string): Map<string, string> {
  const result = new Map<string, string>();
  const walk = (dir: string, prefix: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!prefix && entry.name === ".git") continue;
      const full = path.join(dir, entry.name);
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(full, rel);
      else result.set(rel, createHash("sha256").update(fs.readFileSync(full)).digest("hex"));
    }
  };
  walk(root, "");
  return new Map([...result].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Writes a file (creating folders) inside a working tree. */
export function writeFile(root: string, relPath: string, content: Buffer | string): void {
  const full = path.join(root, relPath);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, content);
}

/** GET /api/{type}s/{id}/commits/{rev} → commit ids, newest first. */
export async function historyIds(baseUrl: string, apiPath: string, token?: string, revision = "main"): Promise<string[]> {
  const response = await fetch(`${baseUrl}${apiPath}/commits/${encodeURIComponent(revision)}?limit=1000`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw new Error(`commits listing: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }[]).map((c) => c.id);
}

/** The head commit of main as the API reports it (`sha` of GET /api/{type}s/{id}). */
export async function apiHead(baseUrl: string, apiPath: string, token?: string): Promise<string> {
  const response = await fetch(`${baseUrl}${apiPath}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw new Error(`repo info: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { sha: string }).sha;
}
