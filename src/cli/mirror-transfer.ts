// `agora mirror export REPO[@REV] FILE` and `agora mirror import FILE`: moving a revision of a
// repository to a hub with no network path to it, as one archive file (services/mirror-transfer.ts).

import { AgoraError } from "../errors.ts";
import type { Services } from "../services/index.ts";
import { formatBytes } from "./mirror.ts";

export async function mirrorExport(
  services: Services,
  target: { type: "model" | "dataset"; id: string; rev: string },
  file: string,
  options: { ignoreLicensePolicy: boolean },
  out: (line: string) => void,
): Promise<number> {
  if (file === "-") throw new AgoraError("BadRequest", "name the archive file to write (writing to standard output is not supported)");
  const summary = await services.mirrorTransfer.exportRevision(target, file, {
    onFetched: (object) => out(`fetched  ${object.path} (${formatBytes(object.size)}) from the upstream`),
    ignoreLicensePolicy: options.ignoreLicensePolicy,
    onLicenseWarning: (message) => out(`warning: ${message}`),
  });
  const { manifest } = summary;
  const label = `${manifest.repo.type === "dataset" ? "datasets/" : ""}${manifest.repo.id}`;
  out(`exported ${label}@${manifest.revision.requested} (commit ${manifest.revision.commit}) to ${file}`);
  out(`${summary.files} files, ${manifest.lfs.length} LFS objects (${formatBytes(summary.lfsBytes)}); archive ${formatBytes(summary.archiveBytes)} (${summary.archiveBytes} bytes)`);
  return 0;
}

export async function mirrorImport(services: Services, file: string, out: (line: string) => void): Promise<number> {
  const summary = await services.mirrorTransfer.importArchive(file);
  const { manifest, ref } = summary;
  const label = `${manifest.repo.type === "dataset" ? "datasets/" : ""}${manifest.repo.id}`;
  out(`verified ${file}: ${label} at commit ${manifest.revision.commit}, ${manifest.lfs.length} LFS objects`);
  out(`${summary.created ? "created" : "updated"} mirrored ${manifest.repo.type} ${label} (upstream ${manifest.repo.upstream ?? "unknown"})`);
  if (ref.name === null) out(`commit ${manifest.revision.commit} imported (no branch or tag: use it by its commit id)`);
  else if (ref.outcome === "ahead") out(`${ref.name} kept at ${ref.current}, which already contains ${manifest.revision.commit}`);
  else if (ref.outcome === "kept") out(`${ref.name} kept at ${ref.current}, which has diverged from ${manifest.revision.commit}; the imported commit stays reachable by its id`);
  else out(`${ref.name} ${ref.outcome} at ${manifest.revision.commit}`);
  out(`stored ${summary.storedObjects} LFS objects (${formatBytes(summary.storedBytes)}), ${summary.presentObjects} already present`);
  return 0;
}
