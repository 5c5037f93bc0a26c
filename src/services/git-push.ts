// Checking a git push before its refs move. git's receive-pack runs Agora's pre-receive hook,
// which posts the ref updates back to the hub (with the quarantine environment, so the new
// objects are visible); this service decides. Refused, with a message the user sees in git's
// output: non-LFS files over the regular-file limit, LFS pointers to objects never uploaded to
// this repository, refs other than branches and tags, deleting main.

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { runGit } from "../git/run-git.ts";
import { MAX_POINTER_SIZE, parseLfsPointer } from "../git/lfs-pointer.ts";
import { ZERO_OID } from "../git/bare-repo.ts";
import type { ReposStore } from "../db/repos-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { Repo, ReposService } from "./repos.ts";

export type RefUpdate = { oldOid: string; newOid: string; ref: string };
export type PushVerdict = { ok: boolean; message: string };

const QUARANTINE_KEYS = ["GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"];

function formatSize(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Test-only: while the file named by AGORA_TEST_PUSH_GATE exists, pushes wait in their
 * pre-receive step (with the repository locked), so a test can make a push and an API commit
 * overlap deterministically.
 */
async function holdWhileTestGateExists(): Promise<void> {
  const gate = process.env.AGORA_TEST_PUSH_GATE;
  if (!gate) return;
  const started = Date.now();
  while (fs.existsSync(gate) && Date.now() - started < 120_000) await new Promise((r) => setTimeout(r, 50));
}

export function createGitPushService(deps: { dataDir: string; reposService: ReposService; repos: ReposStore; blobs: BlobStore; maxRegularFileSize: number }) {
  /**
   * Pushes in flight: one file per hook secret, holding the repository id. Files rather than
   * memory, so the hook's call back may reach any worker process (`agora serve --workers N`).
   * A crash mid-push leaves its file behind, harmless: only that push's hook knew the secret.
   */
  const pendingDir = path.join(deps.dataDir, "pushes");
  fs.mkdirSync(pendingDir, { recursive: true });
  const pendingFile = (secret: string) => path.join(pendingDir, secret);

  async function check(repo: Repo, updates: RefUpdate[], quarantine: Record<string, string>): Promise<PushVerdict> {
    const dir = deps.reposService.repoDir(repo);
    const problems: string[] = [];
    const env = Object.fromEntries(Object.entries(quarantine).filter(([k, v]) => QUARANTINE_KEYS.includes(k) && typeof v === "string" && !v.includes("\0")));
    for (const { newOid, ref } of updates) {
      if (!/^refs\/(heads|tags)\/./.test(ref)) {
        problems.push(`${ref}: only branches and tags can be pushed`);
        continue;
      }
      if (newOid === ZERO_OID) {
        if (ref === "refs/heads/main") problems.push("refs/heads/main: the default branch cannot be deleted");
        continue;
      }
      if (!/^[0-9a-f]{40}$/.test(newOid)) {
        problems.push(`${ref}: invalid object id`);
        continue;
      }
      const { stdout } = await runGit(dir, ["rev-list", "--objects", newOid, "--not", "--all"], { env });
      const paths = new Map<string, string>();
      for (const line of stdout.toString("utf8").split("\n")) {
        if (!line) continue;
        const space = line.indexOf(" ");
        if (space > 0) paths.set(line.slice(0, space), line.slice(space + 1));
        else paths.set(line, "");
      }
      if (!paths.size) continue;
      const sizes = await runGit(dir, ["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], { env, input: [...paths.keys()].join("\n") + "\n" });
      const smallBlobs: string[] = [];
      for (const line of sizes.stdout.toString("utf8").split("\n")) {
        const [oid, type, size] = line.split(" ");
        if (type !== "blob") continue;
        const bytes = Number(size);
        const filePath = paths.get(oid) || oid;
        if (bytes > deps.maxRegularFileSize) {
          problems.push(
            `${filePath} is ${formatSize(bytes)}; files over ${formatSize(deps.maxRegularFileSize)} must be stored with git-lfs.\n` +
              `    Run: git lfs track "${filePath}" && git add .gitattributes && git lfs migrate import --include="${filePath}" (or amend the commit), then push again.`,
          );
        } else if (bytes <= MAX_POINTER_SIZE) smallBlobs.push(oid);
      }
      if (smallBlobs.length) {
        const { stdout: contents } = await runGit(dir, ["cat-file", "--batch"], { env, input: smallBlobs.join("\n") + "\n" });
        let offset = 0;
        while (offset < contents.length) {
          const newline = contents.indexOf(0x0a, offset);
          if (newline < 0) break;
          const [oid, , size] = contents.subarray(offset, newline).toString("utf8").split(" ");
          const length = Number(size);
          const pointer = parseLfsPointer(contents.subarray(newline + 1, newline + 1 + length));
          offset = newline + 1 + length + 1;
          if (!pointer) continue;
          const linked = await deps.repos.lfsLink(repo.id, pointer.oid);
          const stored = await deps.blobs.stat(pointer.oid);
          if (!linked || !stored || stored.size !== pointer.size) {
            problems.push(`${paths.get(oid) || oid} points to LFS object ${pointer.oid}, which was never uploaded to this repository. Run: git lfs push --all origin, then push again.`);
          }
        }
      }
    }
    if (problems.length) return { ok: false, message: `Agora refused this push:\n  - ${problems.join("\n  - ")}` };
    return { ok: true, message: "" };
  }

  return {
    /** Registers a push about to run; the secret lets only its own hook call back. */
    begin(repo: Repo): { secret: string; end: () => void } {
      const secret = randomBytes(24).toString("hex");
      fs.writeFileSync(pendingFile(secret), repo.id, { mode: 0o600 });
      return { secret, end: () => fs.rmSync(pendingFile(secret), { force: true }) };
    },

    async verdict(secret: string, updates: unknown, quarantine: unknown): Promise<PushVerdict | undefined> {
      if (!/^[0-9a-f]{48}$/.test(secret)) return undefined;
      const repoId = await fsp.readFile(pendingFile(secret), "utf8").catch(() => undefined);
      const repo = repoId === undefined ? undefined : await deps.repos.findById(repoId);
      if (!repo) return undefined;
      await holdWhileTestGateExists();
      if (!Array.isArray(updates)) return { ok: false, message: "malformed hook request" };
      const clean = updates.filter(
        (u): u is RefUpdate => typeof u?.oldOid === "string" && typeof u?.newOid === "string" && typeof u?.ref === "string",
      );
      return check(repo, clean, quarantine && typeof quarantine === "object" ? (quarantine as Record<string, string>) : {});
    },
  };
}

export type GitPushService = ReturnType<typeof createGitPushService>;
