// `agora gc [--older-than DURATION] [--dry-run] [--json]`: deletes LFS objects no repository
// references any more (a deleted repository's, say) and unreachable git objects
// (services/garbage-collector.ts). Works beside a running hub.

import { AgoraError } from "../errors.ts";
import type { Services } from "../services/index.ts";
import type { GcReport } from "../services/garbage-collector.ts";
import { formatBytes } from "./mirror.ts";

/** A day: far longer than any upload between its publish and its link, or a commit being built. */
export const DEFAULT_OLDER_THAN = "1d";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "30m", "12h", "7d" → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (!match) throw new AgoraError("BadRequest", `--older-than must be a number and a unit (s, m, h or d), like 12h or 7d; got "${text}"`);
  return Number(match[1]) * UNITS[match[2]];
}

export async function gc(services: Services, options: { olderThan?: string; dryRun: boolean; json: boolean }, out: (line: string) => void): Promise<number> {
  const olderThan = options.olderThan ?? DEFAULT_OLDER_THAN;
  const report = await services.garbageCollector.collect({ olderThanMs: parseDuration(olderThan), dryRun: options.dryRun });
  if (options.json) out(JSON.stringify(report, null, 2));
  else for (const line of formatReport(report, olderThan)) out(line);
  return report.git.failures.length ? 1 : 0;
}

function formatReport(report: GcReport, olderThan: string): string[] {
  const verb = report.dryRun ? "would remove" : "removed";
  const { lfs, git } = report;
  const lines = lfs.removed.map((o) => `${verb} LFS object ${o.oid} (${formatBytes(o.size)})`);
  for (const dir of git.orphanDirectories) lines.push(`${verb} repository directory ${dir} (no repository has it)`);
  for (const name of report.temporary.removed) lines.push(`${verb} tmp/${name} (left by an interrupted commit, import or export)`);
  lines.push(
    `LFS objects: ${lfs.objects} stored (${formatBytes(lfs.bytes)}); ${verb} ${lfs.removed.length} that no repository references (${formatBytes(lfs.removedBytes)})`,
    `git: ${git.repositories} repositories; ${verb} ${git.unreachableObjects} unreachable ${report.dryRun ? "loose " : ""}objects`,
  );
  if (report.temporary.removed.length) lines.push(`temporary files: ${verb} ${report.temporary.removed.length} (${formatBytes(report.temporary.bytes)})`);
  const kept: string[] = [];
  if (lfs.keptRecent) kept.push(`${lfs.keptRecent} unreferenced LFS objects younger than ${olderThan}`);
  if (lfs.keptForPointers) kept.push(`${lfs.keptForPointers} LFS objects no repository links but a git pointer names`);
  if (kept.length) lines.push(`kept: ${kept.join("; ")}`);
  for (const failure of git.failures) lines.push(`FAILED ${failure}`);
  if (report.dryRun) lines.push("dry run: nothing was deleted");
  return lines;
}
