// Git bundles for moving one revision of a repository between hubs that share no network
// (services/mirror-transfer.ts). A bundle carries complete history (no prerequisites), so
// fetching it into an empty repository reproduces the same commit ids.

import fsp from "node:fs/promises";
import path from "node:path";
import { initBareRepo } from "./bare-repo.ts";
import { runGit } from "./run-git.ts";

/** The object a ref points at, unpeeled (an annotated tag's own id), or undefined when absent. */
export async function refTarget(dir: string, ref: string): Promise<string | undefined> {
  const { stdout, code } = await runGit(dir, ["rev-parse", "--verify", "--quiet", ref], { okCodes: [1, 128] });
  return code === 0 ? stdout.toString("utf8").trim() : undefined;
}

/** The commit an object id peels to (a commit itself, or the commit an annotated tag names). */
export async function peelToCommit(dir: string, oid: string): Promise<string> {
  const { stdout } = await runGit(dir, ["rev-parse", "--verify", `${oid}^{commit}`]);
  return stdout.toString("utf8").trim();
}

/** Whether `ancestor` is reachable from `descendant` (equal counts). */
export async function isAncestor(dir: string, ancestor: string, descendant: string): Promise<boolean> {
  const { code } = await runGit(dir, ["merge-base", "--is-ancestor", ancestor, descendant], { okCodes: [1] });
  return code === 0;
}

/**
 * Writes a bundle of everything reachable from `target`, carried under the ref name `ref`.
 * The source repository is never written to: the ref is set in a scratch repository under
 * `scratchDir` that borrows the source's objects (git alternates).
 */
export async function createBundle(sourceDir: string, ref: string, target: string, outFile: string, scratchDir: string): Promise<void> {
  const scratch = path.join(scratchDir, "bundle-source.git");
  await initBareRepo(scratch);
  await fsp.writeFile(path.join(scratch, "objects", "info", "alternates"), path.resolve(sourceDir, "objects") + "\n");
  await runGit(scratch, ["update-ref", ref, target]);
  await runGit(scratch, ["bundle", "create", "--quiet", outFile, ref]);
}

/** Checks a bundle (`git bundle verify`) and answers the refs it carries: name → object id. */
export async function verifyBundle(dir: string, file: string): Promise<Map<string, string>> {
  await runGit(dir, ["bundle", "verify", "--quiet", file]);
  const { stdout } = await runGit(dir, ["bundle", "list-heads", file]);
  const heads = new Map<string, string>();
  for (const line of stdout.toString("utf8").split("\n")) {
    const [oid, name] = line.trim().split(" ");
    if (oid && name) heads.set(name, oid);
  }
  return heads;
}

/** Fetches one ref of a bundle into `dir` as `destination` (no tags followed, nothing else moved). */
export async function fetchBundleRef(dir: string, file: string, ref: string, destination: string): Promise<void> {
  await runGit(dir, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc", file, `+${ref}:${destination}`]);
}
