// Model intelligence for a repository at a commit: what the model is (config.json analysis,
// checked against the safetensors headers), may I use it (license terms), and the memory it
// needs at 4-bit — the `agora` object of the info API and the columns listings filter on.
// Computed from the files at that commit and cached per commit (commits are immutable).

import type { RepoRow } from "../db/database.ts";
import { analyzeConfig, isAnalysisError } from "../models/config-analysis.ts";
import type { ConfigAnalysis } from "../models/types.ts";
import type { LicenseTerms } from "../models/license.ts";
import type { FileEntry } from "../git/bare-repo.ts";
import type { FilesService } from "./files.ts";
import type { LicensePolicyService } from "./license-policy.ts";
import type { Repo } from "./repos.ts";
import { minimumMemoryBytes } from "./fit-summary.ts";

export type ModelFacts = {
  /** From config.json by Agora's counting rule (docs/parameter-counting.md); null without a readable config. */
  parameters: ConfigAnalysis["parameters"] | null;
  architecture: ConfigAnalysis["architecture"] | null;
  context: ConfigAnalysis["context"] | null;
  quantization: ConfigAnalysis["quantization"] | null;
  dtype: string | null;
  confidence: "high" | "low" | null;
  notes: string[];
  /** Exact element counts of the checkpoint's safetensors headers (may include MTP layers the rule leaves out). */
  checkpoint: { total: number; parameters: Record<string, number> } | null;
  license: Pick<LicenseTerms, "id" | "name" | "class" | "commercialUse" | "conditions" | "source" | "confidence">;
  /** Memory needed at Q4_K_M with a 4096-token context (weights + KV cache + overhead), bytes. */
  memoryAtQ4: number | null;
};

const MAX_CONFIG_BYTES = 1024 * 1024;

export function createIntelligenceService(deps: { files: FilesService; licensePolicy: LicensePolicyService }) {
  const cache = new Map<string, ModelFacts>();

  async function readConfig(repo: Repo, commit: string): Promise<ConfigAnalysis | null> {
    const snapshot = await deps.files.snapshot(repo, commit);
    const entry = snapshot.byPath.get("config.json");
    if (!entry || entry.type !== "file" || entry.lfs || entry.blobSize > MAX_CONFIG_BYTES) return null;
    let json: unknown;
    try {
      json = JSON.parse((await deps.files.readRegularFile(repo, entry as FileEntry)).toString("utf8"));
    } catch {
      return null; // a broken config.json is the repository's problem, not a reason to fail info
    }
    const analysis = analyzeConfig(json);
    return isAnalysisError(analysis) ? null : analysis;
  }

  async function factsAt(repo: Repo, commit: string): Promise<ModelFacts> {
    const key = `${repo.id}@${commit}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const analysis = repo.type === "model" ? await readConfig(repo, commit) : null;
    const read = repo.type === "model" ? await deps.files.checkpointSummary(repo, commit) : undefined;
    const checkpoint = read?.summary ?? null;
    const terms = await deps.licensePolicy.termsAt(repo, commit);
    const facts: ModelFacts = {
      parameters: analysis?.parameters ?? null,
      architecture: analysis?.architecture ?? null,
      context: analysis?.context ?? null,
      quantization: analysis?.quantization ?? null,
      dtype: analysis?.dtype ?? null,
      confidence: analysis?.confidence ?? null,
      notes: analysis?.notes ?? [],
      checkpoint,
      license: { id: terms.id, name: terms.name, class: terms.class, commercialUse: terms.commercialUse, conditions: terms.conditions, source: terms.source, confidence: terms.confidence },
      memoryAtQ4: analysis ? minimumMemoryBytes(analysis) : null,
    };
    if (!facts.parameters && checkpoint) {
      facts.notes = [...facts.notes, "no usable config.json: the total comes from the safetensors headers and the active count is unknown"];
    }
    // An upstream that could not be read now may answer next time: only complete facts are kept.
    if (read?.upstreamFailed) return facts;
    cache.set(key, facts);
    if (cache.size > 1000) cache.delete(cache.keys().next().value!);
    return facts;
  }

  return {
    factsAt,

    /** The listing columns (see migration 2) for the head of the default branch. */
    async listingColumns(repo: Repo, head: string): Promise<Partial<RepoRow>> {
      const facts = await factsAt(repo, head);
      const total = facts.parameters?.total ?? facts.checkpoint?.total ?? null;
      return {
        params_total: total,
        params_active: facts.parameters?.active ?? (facts.architecture?.moe === false ? total : null),
        moe: facts.architecture ? (facts.architecture.moe ? 1 : 0) : null,
        license_id: facts.license.id,
        license_class: facts.license.class,
        commercial_use: facts.license.commercialUse,
        min_memory_bytes: facts.memoryAtQ4 === null ? null : Math.round(facts.memoryAtQ4),
        intelligence: JSON.stringify(facts),
      };
    },
  };
}

export type IntelligenceService = ReturnType<typeof createIntelligenceService>;
