// Access to the config.json fixtures, their reference counts (REFERENCE-COUNTS.md: what
// transformers 5.17 builds from each config) and the publishers' figures (published-figures.json).
// Shared by the tests and by scripts/gen-parameter-docs.ts so both compare against the same data.

import fs from "node:fs";
import path from "node:path";
import type { ConfigAnalysis } from "../../src/models/types.ts";

export const FIXTURE_DIR = path.resolve(import.meta.dirname, "../fixtures/model-configs");

export type ReferenceRow = {
  config: string;
  /** The transformers class the reference was built as, or "(not built: …)". */
  className: string;
  languageModel: number | null;
  vision: number | null;
};

export type PublishedFigure = {
  publisher: string | null;
  total: number | null;
  active: number | null;
  /** Which of our figures the publisher's "active" corresponds to; null: not compared. */
  compare: "active" | "activeRead" | "activeWithoutEmbeddings" | null;
  why: string;
};

/** The shared configs (top level of the fixture folder), file names sorted. */
export function sharedConfigFiles(): string[] {
  return fs
    .readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith(".json") && f !== "published-figures.json")
    .sort();
}

/** The further configs of extra/, as "extra/<file>". */
export function extraConfigFiles(): string[] {
  return fs
    .readdirSync(path.join(FIXTURE_DIR, "extra"))
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => `extra/${f}`);
}

export function loadConfig(file: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, file), "utf8"));
}

const parseCount = (cell: string): number | null => (cell.trim() === "" ? null : Number(cell.replace(/,/g, "")));

/** Rows of the table in REFERENCE-COUNTS.md, keyed by config file name. */
export function readReferenceCounts(): Map<string, ReferenceRow> {
  const rows = new Map<string, ReferenceRow>();
  for (const line of fs.readFileSync(path.join(FIXTURE_DIR, "REFERENCE-COUNTS.md"), "utf8").split("\n")) {
    const cells = line.split("|").slice(1, -1);
    if (cells.length !== 4 || cells[0].trim() === "config" || cells[0].includes("---")) continue;
    const [config, className, languageModel, vision] = cells.map((c) => c.trim());
    rows.set(`${config}.json`, { config: `${config}.json`, className, languageModel: parseCount(languageModel), vision: parseCount(vision) });
  }
  return rows;
}

export function readPublishedFigures(): Record<string, PublishedFigure> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, "published-figures.json"), "utf8"));
}

/**
 * Our figure that corresponds to a reference row. The reference counts what transformers built:
 * when it built a text-only class (…ForCausalLM) from a multimodal config, the encoders that our
 * total includes by the counting rule are taken back out before comparing.
 */
export function comparableToReference(analysis: ConfigAnalysis, row: ReferenceRow): { ours: number; reference: number; textOnly: boolean } {
  const textOnly = !row.className.endsWith("ForConditionalGeneration");
  const { total, breakdown } = analysis.parameters;
  return {
    ours: textOnly ? total - breakdown.vision - breakdown.audio : total,
    reference: (row.languageModel ?? 0) + (row.vision ?? 0),
    textOnly,
  };
}

/** Our figure matching the publisher's "active", following `compare`. */
export function comparableActive(analysis: ConfigAnalysis, compare: NonNullable<PublishedFigure["compare"]>): number {
  const p = analysis.parameters;
  if (compare === "activeRead") return p.activeRead;
  if (compare === "activeWithoutEmbeddings") return p.active - p.breakdown.embedding - p.breakdown.lm_head;
  return p.active;
}

export const relativeError = (ours: number, expected: number) => Math.abs(ours - expected) / expected;
