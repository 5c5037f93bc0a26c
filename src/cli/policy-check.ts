// `agora policy check REPO`: a repository's license terms at a revision and what the hub's
// license policy decides about them, as a person reads it (or as JSON with --json).

import { AgoraError } from "../errors.ts";
import type { LicenseCheck } from "../services/license-policy.ts";
import type { Services } from "../services/index.ts";

export type PolicyCheckResult = LicenseCheck & { repo: string; type: "model" | "dataset"; revision: string; commit: string };

export async function policyCheck(services: Services, type: "model" | "dataset", id: string, revision: string): Promise<PolicyCheckResult> {
  const repo = await services.repos.find(type, id);
  if (!repo) throw new AgoraError("RepoNotFound", `repository ${id} not found`);
  const { commit } = await services.files.resolveRevision(repo, revision);
  return { repo: id, type, revision, commit, ...(await services.licensePolicy.check(repo, commit)) };
}

export function formatPolicyCheck(result: PolicyCheckResult): string[] {
  const { terms, decision, policy } = result;
  const row = (label: string, value: string) => `${label.padEnd(12)} ${value}`;
  const list = (label: string, items: string[]) => (items.length ? items.map((item, i) => row(i === 0 ? label : "", `- ${item}`)) : [row(label, "none")]);
  const verdict =
    policy.mode === "off"
      ? "allowed (the license policy is off)"
      : decision.allowed
        ? `allowed${decision.rule ? ` by ${decision.rule}` : ""}`
        : `refused by ${decision.rule}${policy.mode === "dry-run" ? " (dry-run: downloads are served and the refusal is logged)" : ""}`;
  return [
    row("repository", `${result.repo} (${result.type})`),
    row("revision", `${result.revision} = ${result.commit}`),
    row("license", terms.id === terms.name ? terms.id : `${terms.id} — ${terms.name}`),
    row("class", terms.class),
    row("commercial", terms.commercialUse),
    row("source", `${terms.source} (confidence ${terms.confidence})`),
    ...(terms.link ? [row("link", terms.link)] : []),
    ...list("conditions", terms.conditions),
    ...(terms.notes.length ? list("notes", terms.notes) : []),
    row("policy", policy.mode),
    row("decision", verdict),
    row("", decision.explanation),
  ];
}
