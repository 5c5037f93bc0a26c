// License terms of a repository at a commit, and the hub's license policy applied to downloads.
//
// Terms come from the card (README.md front matter) and the LICENSE file at the commit being
// downloaded, so a branch that changes its license is judged by what it says at that commit.
// Commits are immutable, so the terms are cached per commit.
//
// What the policy guards: the content of files served by /resolve (and /raw). Files that tell a
// user what the repository is and why it is refused stay readable (README.md, LICENSE and
// NOTICE files, .gitattributes, config.json), and so do LFS pointers served by /raw, which
// carry no content. Everything else, weights first, is refused when the policy denies the
// license.
//
// git clone/fetch and LFS batch downloads name no single commit and no file path, so they are
// judged by the whole repository: the license at the head of every ref a fetch can ask for
// (see repositoryRefusal). `agora mirror export` is judged at the revision it copies
// (revisionRefusal). Uploads (push, LFS upload) are never judged.

import { AgoraError } from "../errors.ts";
import type { FileEntry } from "../git/bare-repo.ts";
import { analyseLicense, type LicenseTerms } from "../models/license.ts";
import { decideLicensePolicy, type LicenseDecision, type LicensePolicy } from "../models/license-policy.ts";
import type { FilesService } from "./files.ts";
import { repoFullId, type Repo } from "./repos.ts";

/** Root files served whatever the policy says. */
const ALWAYS_READABLE = new Set([
  "README.md",
  ".gitattributes",
  "config.json",
  "LICENSE",
  "LICENSE.md",
  "LICENSE.txt",
  "NOTICE",
  "NOTICE.md",
  "NOTICE.txt",
  "USE_POLICY.md",
]);

/** Where a license text is looked for, in order; the card's `license_link` comes first when it names a file of the repository. */
const LICENSE_FILES = ["LICENSE", "LICENSE.md", "LICENSE.txt"];
const MAX_LICENSE_FILE = 1024 * 1024;
const CACHE_SIZE = 10_000;

export type LicenseCheck = { terms: LicenseTerms; decision: LicenseDecision; policy: LicensePolicy };

/** The part of a logger the service needs (Fastify's request.log fits). */
export type WarnLogger = { warn(details: Record<string, unknown>, message: string): void };

/** A download judged by the whole repository, as named in refusals and dry-run warnings. */
export type RepositoryDownload = "git clone/fetch" | "LFS download";

export function createLicensePolicyService(deps: { files: FilesService; policy: LicensePolicy }) {
  const cache = new Map<string, LicenseTerms>();

  /** A repository file named by the card's license_link ("LICENSE-MODEL", "./LICENSE.md"), if it is a relative path. */
  function linkedPath(card: Record<string, unknown> | null): string | undefined {
    const link = card?.license_link;
    if (typeof link !== "string" || /^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith("/")) return undefined;
    const path = link.trim().replace(/^\.\//, "");
    return path && !path.split("/").includes("..") ? path : undefined;
  }

  async function termsAt(repo: Repo, commit: string): Promise<LicenseTerms> {
    const key = `${repo.id}@${commit}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const card = await deps.files.cardData(repo, commit);
    const snapshot = await deps.files.snapshot(repo, commit);
    let licenseFile: { path: string; text: string } | null = null;
    const linked = linkedPath(card);
    for (const path of linked ? [linked, ...LICENSE_FILES] : LICENSE_FILES) {
      const entry = snapshot.byPath.get(path);
      // An LFS pointer or a huge file is not a license text worth reading.
      if (!entry || entry.type !== "file" || entry.lfs || entry.blobSize > MAX_LICENSE_FILE) continue;
      licenseFile = { path, text: (await deps.files.readRegularFile(repo, entry as FileEntry)).toString("utf8") };
      break;
    }
    const terms = analyseLicense({ card, licenseFile });
    cache.set(key, terms);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return terms;
  }

  async function check(repo: Repo, commit: string): Promise<LicenseCheck> {
    const terms = await termsAt(repo, commit);
    return { terms, decision: decideLicensePolicy(terms, deps.policy), policy: deps.policy };
  }

  /** Whether the policy looks at a download of `path` at all (see the list at the top). */
  function guards(path: string, pointerOnly: boolean): boolean {
    return deps.policy.mode !== "off" && !pointerOnly && !ALWAYS_READABLE.has(path);
  }

  /** Every ref a fetch can ask for, the default branch first, each commit once. */
  async function refHeads(repo: Repo): Promise<{ ref: string; commit: string }[]> {
    const refs = await deps.files.refs(repo);
    const heads = [
      ...[...refs.branches].sort(([a], [b]) => (a === "main" ? -1 : b === "main" ? 1 : 0)).map(([name, commit]) => ({ ref: `refs/heads/${name}`, commit })),
      ...[...refs.tags].map(([name, commit]) => ({ ref: `refs/tags/${name}`, commit })),
      ...[...refs.pullRequests].map(([ref, commit]) => ({ ref, commit })),
      ...[...refs.converts].map(([name, commit]) => ({ ref: `refs/convert/${name}`, commit })),
    ];
    const seen = new Set<string>();
    return heads.filter(({ commit }) => !seen.has(commit) && seen.add(commit));
  }

  function refusalMessage(repo: Repo, what: string, terms: LicenseTerms, decision: LicenseDecision): string {
    return `This hub's license policy refuses ${what} from ${repoFullId(repo)}: license ${terms.id} (${terms.name}) is denied by rule "${decision.rule}" (${decision.explanation})`;
  }

  return {
    policy: deps.policy,
    termsAt,
    check,
    guards,

    /**
     * Call after the access checks. Throws LicensePolicy (403) when the policy enforces and
     * refuses the repository's license at `commit`; in dry-run mode logs what it would refuse.
     * `pointerOnly`: the response carries an LFS pointer, not the file's content.
     */
    async guardDownload(repo: Repo, commit: string, path: string, options: { pointerOnly: boolean; log: WarnLogger }): Promise<void> {
      if (!guards(path, options.pointerOnly)) return;
      const { terms, decision } = await check(repo, commit);
      if (decision.allowed) return;
      const id = repoFullId(repo);
      if (deps.policy.mode === "dry-run") {
        options.log.warn({ repo: id, commit, path, license: terms.id, rule: decision.rule }, `license policy (dry-run) would refuse ${path} of ${id}: ${decision.explanation}`);
        return;
      }
      throw new AgoraError("LicensePolicy", `${refusalMessage(repo, "downloads", terms, decision)}. README.md and LICENSE stay readable.`, {
        headers: { "X-Repo-Commit": commit },
      });
    },

    /**
     * For a revision copied out whole by an operator (`agora mirror export`): what the policy
     * says of the license at `commit`. Undefined when the policy is off or allows it; otherwise
     * the refusal's message (naming `what`, the license and the rule) and whether the policy
     * enforces it (false in dry-run mode, where it is only reported).
     */
    async revisionRefusal(repo: Repo, commit: string, what: string): Promise<{ message: string; enforced: boolean } | undefined> {
      if (deps.policy.mode === "off") return undefined;
      const { terms, decision } = await check(repo, commit);
      if (decision.allowed) return undefined;
      return { message: refusalMessage(repo, what, terms, decision), enforced: deps.policy.mode === "enforce" };
    },

    /**
     * For downloads that name no single commit (git clone/fetch, LFS batch and its signed
     * URLs): the repository is refused when the license at the head of any of its refs is, the
     * default branch checked first. A fetch may ask for any advertised ref, so judging only
     * main would let a branch carrying a denied license out; an object reachable only from
     * older commits is judged by the refs that exist now. Call after the access checks.
     *
     * Returns the LicensePolicy error to answer with when the policy enforces; undefined when
     * allowed. In dry-run mode a refusal is logged when `log` is given (once per clone or
     * batch: the requests that follow the one that logged pass no logger) and undefined is
     * returned.
     */
    async repositoryRefusal(repo: Repo, options: { download: RepositoryDownload; baseUrl: string; log?: WarnLogger }): Promise<AgoraError | undefined> {
      if (deps.policy.mode === "off" || (deps.policy.mode === "dry-run" && !options.log)) return undefined;
      for (const { ref, commit } of await refHeads(repo)) {
        const { terms, decision } = await check(repo, commit);
        if (decision.allowed) continue;
        const id = repoFullId(repo);
        if (deps.policy.mode === "dry-run") {
          options.log?.warn(
            { repo: id, ref, commit, download: options.download, license: terms.id, rule: decision.rule },
            `license policy (dry-run) would refuse ${options.download} of ${id}: ${decision.explanation} (on ${ref})`,
          );
          return undefined;
        }
        const where = ref === "refs/heads/main" ? "" : ` on ${ref}`;
        const readme = `${options.baseUrl}/${repo.type === "dataset" ? "datasets/" : ""}${id}/resolve/main/README.md`;
        return new AgoraError("LicensePolicy", `${refusalMessage(repo, options.download, terms, decision)}${where}. README.md and LICENSE stay readable: ${readme}`);
      }
      return undefined;
    },
  };
}

export type LicensePolicyService = ReturnType<typeof createLicensePolicyService>;
