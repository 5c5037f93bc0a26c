// Model and dataset cards: the YAML front matter at the top of README.md.
// Cards are untrusted input: malformed YAML is not an error for the repository, the card just
// has no metadata. Bounded: front matter larger than 1 MiB is ignored.

import { parseDocument } from "yaml";

export type CardParse =
  | { ok: true; data: Record<string, unknown> | null }
  | { ok: false; error: string };

// The body is optional: "---\n---\n" is an empty (closed) front matter, not an unclosed one.
const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n(?:([\s\S]*?)\r?\n)?---[ \t]*(?:\r?\n|$)/;
const MAX_FRONT_MATTER = 1024 * 1024;

/** Parses the front matter of a card. `data` is null when the card has none. */
export function parseCardFrontMatter(readme: string): CardParse {
  const match = FRONT_MATTER.exec(readme);
  if (!match) {
    // an opening `---` with no closing one is a broken front matter, not "none"
    if (/^\uFEFF?---[ \t]*\r?\n/.test(readme)) return { ok: false, error: "front matter starts with --- but is never closed" };
    return { ok: true, data: null };
  }
  const text = match[1] ?? "";
  if (text.length > MAX_FRONT_MATTER) return { ok: false, error: "front matter is larger than 1 MiB" };
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) return { ok: false, error: doc.errors[0].message };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
    // JSON round trip: a self-referencing alias (`a: &a [*a]`) cannot be represented and throws here
    if (value !== null && value !== undefined) value = JSON.parse(JSON.stringify(value));
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  if (value === null || value === undefined) return { ok: true, data: {} };
  if (typeof value !== "object" || Array.isArray(value)) return { ok: false, error: "front matter must be a YAML mapping" };
  return { ok: true, data: value as Record<string, unknown> };
}

/** Listing tags derived from card data, as the Hub shows them. */
export function tagsFromCard(card: Record<string, unknown> | null): { tags: string[]; pipelineTag: string | null; libraryName: string | null } {
  const tags = new Set<string>();
  const strings = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  let pipelineTag: string | null = null;
  let libraryName: string | null = null;
  if (card) {
    for (const t of strings(card.tags)) tags.add(t);
    for (const l of strings(card.license)) tags.add(`license:${l}`);
    for (const d of strings(card.datasets)) tags.add(`dataset:${d}`);
    for (const b of strings(card.base_model)) tags.add(`base_model:${b}`);
    for (const l of strings(card.language)) tags.add(l);
    if (typeof card.pipeline_tag === "string") {
      pipelineTag = card.pipeline_tag;
      tags.add(pipelineTag);
    }
    if (typeof card.library_name === "string") {
      libraryName = card.library_name;
      tags.add(libraryName);
    }
  }
  return { tags: [...tags].filter((t) => t.length <= 200).slice(0, 500), pipelineTag, libraryName };
}
