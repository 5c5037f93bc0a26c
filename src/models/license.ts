// License terms of a model repository, read from its card (`license`, `license_name`,
// `license_link` in the README front matter) and from the text of its LICENSE file.
//
// Pure: takes parsed card data and a file's text, returns a typed record, and never throws on
// hostile input. The conditions are plain-language summaries of each license's own clauses
// (user-count thresholds, naming and attribution rules, use policies, share-alike); they help
// an operator decide, they are not legal advice.

export const LICENSE_CLASSES = ["permissive", "copyleft", "open-weights-custom", "non-commercial", "unknown"] as const;
export type LicenseClass = (typeof LICENSE_CLASSES)[number];

export const COMMERCIAL_USE_VALUES = ["yes", "no", "conditional"] as const;
/** "conditional": commercial use is allowed, but a clause limits it (e.g. a user-count threshold). */
export type CommercialUse = (typeof COMMERCIAL_USE_VALUES)[number];

export type LicenseSource = "card" | "license-file" | "both" | "none";

export type LicenseTerms = {
  /** Normalised id: a Hub license id ("apache-2.0", "llama3.1"), a known custom id ("tongyi-qianwen", "deepseek"), the card's own name for a custom license, or "unknown". */
  id: string;
  name: string;
  class: LicenseClass;
  commercialUse: CommercialUse;
  /** Plain-language conditions attached to use or redistribution. */
  conditions: string[];
  source: LicenseSource;
  /** "high": the card names a known license (and any LICENSE file agrees); "medium": recognised from the LICENSE file's text alone; "low": unrecognised, or card and file disagree. */
  confidence: "high" | "medium" | "low";
  /** `license_link` from the card, when it has one. */
  link: string | null;
  /** How the record was reached when that is not obvious: disagreements, fallbacks. */
  notes: string[];
};

export type LicenseInput = {
  /** Parsed card front matter (null when the repository has no card). */
  card: Record<string, unknown> | null;
  /** The repository's LICENSE / LICENSE.md / LICENSE.txt, when it has one. */
  licenseFile?: { path: string; text: string } | null;
};

type Definition = {
  name: string;
  class: LicenseClass;
  commercialUse: CommercialUse;
  conditions: string[];
  /** Licenses of one family carry the same obligations for derivatives (lineage does not flag a move within a family). */
  family?: string;
};

// ---------------------------------------------------------------------------------------------
// The catalogue

const NOTICES = "keep the copyright and license notices in copies";
const APACHE = ["keep the license and any NOTICE file with copies", "state significant changes made to the files"];
const BSD2 = ["keep the copyright notice, conditions and disclaimer in source and binary copies"];
const BSD3 = [...BSD2, "the authors' names may not be used to endorse derived products"];
const ATTRIBUTION = "attribution: credit the authors and link the license";
const SHARE_ALIKE = "share-alike: adapted versions must be shared under the same or a compatible license";
const NON_COMMERCIAL = "non-commercial use only";
const NO_DERIVATIVES = "no derivatives: adapted versions (fine-tunes, merges) may not be shared";
const GPL = "copies and derivatives must be distributed under the same GPL version, with source";
const CHANGED_FILES = "modified files must carry a prominent notice that they were changed";
const RAIL_USE = "use must follow the license's use-based restrictions (Attachment A)";
const RAIL_PASS_ON = "derivatives and redistributions must carry the same use restrictions as an enforceable term, with a copy of the license";

function permissive(name: string, conditions: string[] = [NOTICES]): Definition {
  return { name, class: "permissive", commercialUse: "yes", conditions };
}

function copyleft(name: string, conditions: string[]): Definition {
  return { name, class: "copyleft", commercialUse: "yes", conditions };
}

function nonCommercial(name: string, conditions: string[]): Definition {
  return { name, class: "non-commercial", commercialUse: "no", conditions };
}

function rail(name: string): Definition {
  return { name, class: "open-weights-custom", commercialUse: "yes", conditions: [RAIL_USE, RAIL_PASS_ON], family: "openrail" };
}

/**
 * Meta's community licenses: one structure, clauses added or dropped between versions. From 3.1
 * on the derivative obligations are the same ("Built with Llama", names beginning with "Llama"),
 * so those versions share a family; Llama 2 and Llama 3 each stand alone.
 */
function llama(label: string, family: string, clauses: { builtWith?: string; namePrefix?: string; noImprovingOtherModels?: boolean; euMultimodal?: boolean }): Definition {
  const conditions = [
    `products or services with more than 700 million monthly active users (on the ${label} release date) need a separate license from Meta`,
    `use must follow Meta's ${label} Acceptable Use Policy`,
  ];
  if (clauses.builtWith) conditions.push(`products, services or models built with it must prominently display "${clauses.builtWith}"`);
  if (clauses.namePrefix) conditions.push(`derivative names must begin with "${clauses.namePrefix}" (any distributed model created, trained or improved with it)`);
  if (clauses.noImprovingOtherModels) conditions.push(`${label} and its outputs may not be used to improve other large language models (except ${label} derivatives)`);
  if (clauses.euMultimodal) conditions.push("multimodal models: the rights are not granted to individuals or companies based in the European Union (end users of products built with them are not affected)");
  conditions.push(`copies must include the license agreement and a "Notice" file with Meta's ${label} attribution notice`);
  return { name: `${label} Community License`, class: "open-weights-custom", commercialUse: "conditional", conditions, family };
}

const QWEN_MAU = "commercial use in products or services with more than 100 million monthly active users needs a separate license from Alibaba Cloud";
const QWEN_NOTICE = 'copies must include the agreement and a "Notice" file with Alibaba Cloud\'s attribution notice';
const BUILT_WITH_QWEN = 'distributed models created, trained or improved with it or its outputs must display "Built with Qwen" or "Improved using Qwen" in their documentation';

const CATALOGUE: Record<string, Definition> = {
  "apache-2.0": permissive("Apache License 2.0", APACHE),
  mit: permissive("MIT License", ["keep the copyright and permission notice in all copies"]),
  "bsd-2-clause": permissive("BSD 2-Clause License", BSD2),
  "bsd-3-clause": permissive("BSD 3-Clause License", BSD3),
  "bsd-3-clause-clear": permissive("BSD 3-Clause Clear License", [...BSD3, "no patent rights are granted"]),
  bsd: permissive("BSD License", BSD2),
  isc: permissive("ISC License"),
  "bsl-1.0": permissive("Boost Software License 1.0"),
  zlib: permissive("zlib License", ["altered versions must be marked as such", NOTICES]),
  postgresql: permissive("PostgreSQL License"),
  ncsa: permissive("University of Illinois/NCSA Open Source License"),
  "afl-3.0": permissive("Academic Free License 3.0", [NOTICES, "state changes made to the files"]),
  "ecl-2.0": permissive("Educational Community License 2.0", APACHE),
  "artistic-2.0": permissive("Artistic License 2.0", [NOTICES, "modified versions must be clearly marked and renamed or made freely available"]),
  "ms-pl": permissive("Microsoft Public License", [NOTICES, "source copies must stay under the Ms-PL"]),
  "cdla-permissive-1.0": permissive("Community Data License Agreement – Permissive 1.0"),
  "cdla-permissive-2.0": permissive("Community Data License Agreement – Permissive 2.0"),
  "odc-by": permissive("Open Data Commons Attribution License", [ATTRIBUTION]),
  "etalab-2.0": permissive("Etalab Open License 2.0", [ATTRIBUTION]),
  "ofl-1.1": permissive("SIL Open Font License 1.1", [NOTICES, "modified fonts may not use the reserved font names"]),
  "cc0-1.0": permissive("Creative Commons Zero 1.0 (public domain dedication)", []),
  unlicense: permissive("The Unlicense (public domain dedication)", []),
  wtfpl: permissive("Do What The F*ck You Want To Public License", []),
  pddl: permissive("Open Data Commons Public Domain Dedication and License", []),

  "gpl-2.0": copyleft("GNU General Public License v2.0", [GPL]),
  "gpl-3.0": copyleft("GNU General Public License v3.0", [GPL]),
  gpl: copyleft("GNU General Public License", [GPL]),
  "agpl-3.0": copyleft("GNU Affero General Public License v3.0", [GPL, "offering it to users over a network counts as distribution: they must be offered the source"]),
  "lgpl-2.1": copyleft("GNU Lesser General Public License v2.1", ["changes to the licensed work itself must stay under the LGPL, with source; works that only use it may have other terms"]),
  "lgpl-3.0": copyleft("GNU Lesser General Public License v3.0", ["changes to the licensed work itself must stay under the LGPL, with source; works that only use it may have other terms"]),
  lgpl: copyleft("GNU Lesser General Public License", ["changes to the licensed work itself must stay under the LGPL, with source; works that only use it may have other terms"]),
  "lgpl-lr": copyleft("GNU Lesser General Public License for Linguistic Resources", ["changes to the licensed resource must stay under the LGPL-LR"]),
  "mpl-2.0": copyleft("Mozilla Public License 2.0", ["modified files must stay under the MPL-2.0 with their source available"]),
  "epl-1.0": copyleft("Eclipse Public License 1.0", ["modified versions must stay under the EPL with source available"]),
  "epl-2.0": copyleft("Eclipse Public License 2.0", ["modified versions must stay under the EPL with source available"]),
  "eupl-1.1": copyleft("European Union Public License 1.1", ["derivatives must be distributed under the EUPL (or a listed compatible license), with source"]),
  "eupl-1.2": copyleft("European Union Public License 1.2", ["derivatives must be distributed under the EUPL (or a listed compatible license), with source"]),
  "osl-3.0": copyleft("Open Software License 3.0", ["derivatives must be distributed under the OSL, with source, also when offered over a network"]),
  "cdla-sharing-1.0": copyleft("Community Data License Agreement – Sharing 1.0", [SHARE_ALIKE]),
  odbl: copyleft("Open Data Commons Open Database License", [ATTRIBUTION, SHARE_ALIKE]),
  gfdl: copyleft("GNU Free Documentation License", ["copies and modified versions must stay under the GFDL"]),

  llama2: llama("Llama 2", "llama2", { noImprovingOtherModels: true }),
  llama3: llama("Meta Llama 3", "llama3", { builtWith: "Built with Meta Llama 3", namePrefix: "Llama 3", noImprovingOtherModels: true }),
  "llama3.1": llama("Llama 3.1", "llama", { builtWith: "Built with Llama", namePrefix: "Llama" }),
  "llama3.2": llama("Llama 3.2", "llama", { builtWith: "Built with Llama", namePrefix: "Llama", euMultimodal: true }),
  "llama3.3": llama("Llama 3.3", "llama", { builtWith: "Built with Llama", namePrefix: "Llama" }),
  llama4: llama("Llama 4", "llama", { builtWith: "Built with Llama", namePrefix: "Llama", euMultimodal: true }),
  gemma: {
    name: "Gemma Terms of Use",
    class: "open-weights-custom",
    commercialUse: "yes",
    conditions: [
      "use must follow the Gemma Prohibited Use Policy",
      "redistributed copies and derivatives must pass on the Gemma use restrictions as an enforceable term, with a copy of the Gemma Terms of Use",
      CHANGED_FILES,
      "Google may restrict (remotely or otherwise) use it believes violates the terms",
    ],
    family: "gemma",
  },
  "tongyi-qianwen": {
    name: "Tongyi Qianwen License Agreement",
    class: "open-weights-custom",
    commercialUse: "conditional",
    conditions: [QWEN_MAU, "Qwen and its outputs may not be used to improve other large language models (except Tongyi Qianwen derivatives)", QWEN_NOTICE, CHANGED_FILES],
    family: "qwen",
  },
  qwen: {
    name: "Qwen License Agreement",
    class: "open-weights-custom",
    commercialUse: "conditional",
    conditions: [QWEN_MAU, BUILT_WITH_QWEN, QWEN_NOTICE, CHANGED_FILES],
    family: "qwen",
  },
  deepseek: {
    name: "DeepSeek License Agreement",
    class: "open-weights-custom",
    commercialUse: "yes",
    conditions: [
      "use must follow the license's use-based restrictions (Attachment A: e.g. no military use, no harming minors, no fully automated decisions that adversely affect legal rights)",
      "derivatives and redistributions, including hosted services, must carry the same use restrictions as an enforceable term, with a copy of the license",
      CHANGED_FILES,
      "DeepSeek may restrict (remotely or otherwise) use that violates the license",
    ],
    family: "deepseek",
  },
  openrail: rail("Open RAIL License"),
  "openrail++": rail("CreativeML Open RAIL++-M License"),
  "bigscience-openrail-m": rail("BigScience Open RAIL-M License"),
  "creativeml-openrail-m": rail("CreativeML Open RAIL-M License"),
  "bigcode-openrail-m": rail("BigCode Open RAIL-M License"),
  "bigscience-bloom-rail-1.0": rail("BigScience BLOOM RAIL License 1.0"),

  "qwen-research": nonCommercial("Qwen Research License Agreement", [
    "research or evaluation use only: commercial use needs a separate license from Alibaba Cloud",
    BUILT_WITH_QWEN,
    QWEN_NOTICE,
  ]),
  "fair-noncommercial-research-license": nonCommercial("FAIR Noncommercial Research License", ["non-commercial research use only", "copies must include the license"]),
  "deepfloyd-if-license": nonCommercial("DeepFloyd IF License Agreement", ["non-commercial research use only", "copies must include the license"]),
  "apple-amlr": nonCommercial("Apple Machine Learning Research Model License", ["non-commercial scientific research use only"]),
  mrl: nonCommercial("Mistral AI Research License", ["research and non-commercial use only: commercial use needs a license from Mistral AI"]),
  mnpl: nonCommercial("Mistral AI Non-Production License", ["non-production use only (testing, research, personal use): production or commercial use needs a license from Mistral AI"]),
};

const CC_ID = /^cc-by(-nc)?(-sa|-nd)?-(\d\.\d)$/;

/** Creative Commons Attribution licenses, every version and combination of NC / SA / ND. */
function creativeCommons(id: string): Definition | undefined {
  const match = CC_ID.exec(id);
  if (!match) return undefined;
  const [, nc, variant, version] = match;
  const parts = ["Attribution", nc ? "NonCommercial" : "", variant === "-sa" ? "ShareAlike" : variant === "-nd" ? "NoDerivatives" : ""].filter(Boolean);
  const name = `Creative Commons ${parts.join("-")} ${version}`;
  const conditions = [ATTRIBUTION];
  if (nc) conditions.push(NON_COMMERCIAL);
  if (variant === "-sa") conditions.push(SHARE_ALIKE);
  if (variant === "-nd") conditions.push(NO_DERIVATIVES);
  if (nc) return nonCommercial(name, conditions);
  if (variant === "-sa") return copyleft(name, conditions);
  // No-derivatives without NC allows commercial use of the unmodified work; lineage flags its derivatives.
  return permissive(name, conditions);
}

function definitionOf(id: string): Definition | undefined {
  return Object.hasOwn(CATALOGUE, id) ? CATALOGUE[id] : creativeCommons(id);
}

// Spellings seen in cards' `license_name` (and sloppy `license` values) for the ids above.
const ALIASES: Record<string, string> = {
  apache: "apache-2.0",
  "apache-2": "apache-2.0",
  apache2: "apache-2.0",
  "apache-license-2.0": "apache-2.0",
  "apache-license-version-2.0": "apache-2.0",
  "mit-license": "mit",
  "gpl-2": "gpl-2.0",
  "gpl-3": "gpl-3.0",
  "gplv2": "gpl-2.0",
  "gplv3": "gpl-3.0",
  "agpl-3": "agpl-3.0",
  agpl: "agpl-3.0",
  "lgpl-3": "lgpl-3.0",
  "lgpl-2": "lgpl-2.1",
  "mpl-2": "mpl-2.0",
  cc0: "cc0-1.0",
  qianwen: "tongyi-qianwen",
  "tongyi-qianwen-license": "tongyi-qianwen",
  "tongyi-qianwen-license-agreement": "tongyi-qianwen",
  "qwen-license": "qwen",
  "qwen-license-agreement": "qwen",
  "qwen-research-license": "qwen-research",
  "qwen-research-license-agreement": "qwen-research",
  "deepseek-license": "deepseek",
  "deepseek-license-agreement": "deepseek",
  "deepseek-model-license": "deepseek",
  "gemma-terms-of-use": "gemma",
  "gemma-terms": "gemma",
  "gemma-license": "gemma",
  "openrail-m": "openrail",
  "creativeml-openrail++-m": "openrail++",
  "openrail++-m": "openrail++",
  "mistral-research-license": "mrl",
  "mrl-0.1": "mrl",
  "mnpl-0.1": "mnpl",
  "mistral-non-production-license": "mnpl",
};

const LLAMA_ID = /^(?:meta-)?llama-?(2|3|3[._-]1|3[._-]2|3[._-]3|4)(?:-community)?(?:-license)?(?:-agreement)?$/;

/**
 * The canonical form of a license id or name as cards write it: lower case, spaces and
 * underscores as hyphens, known aliases resolved ("Llama-3.1" → "llama3.1", "deepseek-license"
 * → "deepseek"). Unknown names come back normalised but otherwise unchanged.
 */
export function normaliseLicenseId(value: string): string {
  const id = value.trim().toLowerCase().replace(/[\s_]+/g, "-").slice(0, 100);
  const llamaMatch = LLAMA_ID.exec(id);
  if (llamaMatch) return `llama${llamaMatch[1].replace(/[._-]/, ".")}`;
  return ALIASES[id] ?? id;
}

/** Whether `id` (normalised) is a license this analyser knows the terms of. */
export function isKnownLicense(id: string): boolean {
  return definitionOf(id) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Recognising a LICENSE file by its text

// Ordered: specific model licenses before the generic ones they may quote or resemble (a custom
// license text can mention "Apache" or an MIT-style grant; its own title decides).
const MODEL_LICENSE_TEXT: [RegExp, string][] = [
  [/llama 4 community license agreement/, "llama4"],
  [/llama 3\.3 community license agreement/, "llama3.3"],
  [/llama 3\.2 community license agreement/, "llama3.2"],
  [/llama 3\.1 community license agreement/, "llama3.1"],
  [/meta llama 3 community license agreement/, "llama3"],
  [/llama 2 community license agreement/, "llama2"],
  [/gemma terms of use/, "gemma"],
  [/qwen research license agreement/, "qwen-research"],
  [/tongyi qianwen license agreement/, "tongyi-qianwen"],
  [/qwen license agreement/, "qwen"],
  [/deepseek license agreement/, "deepseek"],
  [/creativeml open rail\+\+-m/, "openrail++"],
  [/creativeml open rail-m/, "creativeml-openrail-m"],
  [/bigcode open ?rail-m/, "bigcode-openrail-m"],
  [/bigscience rail license v1\.0/, "bigscience-bloom-rail-1.0"],
  [/bigscience open ?rail-m/, "bigscience-openrail-m"],
  [/\bopen ?rail(?:-m)? license\b|\bresponsible ai license\b/, "openrail"],
  [/fair noncommercial research license/, "fair-noncommercial-research-license"],
  [/deepfloyd if license agreement/, "deepfloyd-if-license"],
  [/mistral ai research license/, "mrl"],
  [/mistral ai non-production license/, "mnpl"],
];

const GENERIC_LICENSE_TEXT: [RegExp, string][] = [
  [/cc0 1\.0 universal/, "cc0-1.0"],
  [/mozilla public license,? (?:version )?2\.0/, "mpl-2.0"],
  [/apache license,?\s+version 2\.0/, "apache-2.0"],
  [/permission is hereby granted, free of charge, to any person obtaining a copy/, "mit"],
  [/this is free and unencumbered software released into the public domain/, "unlicense"],
  [/boost software license/, "bsl-1.0"],
  [/permission to use, copy, modify, and(?:\/or)? distribute this software for any purpose with or without fee/, "isc"],
];

// Creative Commons legal code names itself "Creative Commons Attribution-NonCommercial-ShareAlike
// 4.0 International Public License", and its plain-text copies often open with the bare title
// "Attribution-NonCommercial-ShareAlike 4.0 International".
const CC_TEXT = /creative commons attribution(-noncommercial)?(-sharealike|-noderivatives|-noderivs)?\s+(\d\.\d)/;
const CC_TITLE = /^\W*attribution(-noncommercial)?(-sharealike|-noderivatives|-noderivs)?\s+(\d\.\d)\s+(?:international|unported|generic)\b/;

// The GNU licenses name each other in their bodies (the GPL's preamble points to the Lesser GPL,
// GPLv3 §13 to the Affero GPL), so only a title near the top, or the standard "under the terms
// of … either version N" notice, says which one a file is.
const GNU_TITLE = /gnu (affero |lesser |library )?general public license,? version (\d)(\.\d)?/;
const GNU_NOTICE = /under the terms of the gnu (affero |lesser |library )?general public license as published by the free software foundation,? either version (\d)(\.\d)?/;

function gnuLicense(normalised: string): string | undefined {
  const match = GNU_TITLE.exec(normalised.slice(0, 400)) ?? GNU_NOTICE.exec(normalised);
  if (!match) return undefined;
  const [, kind, major, minor] = match;
  if (kind === "affero ") return "agpl-3.0";
  if (kind === "lesser " || kind === "library ") return major === "3" ? "lgpl-3.0" : "lgpl-2.1";
  return major === "3" ? "gpl-3.0" : major === "2" ? "gpl-2.0" : "gpl";
}

/** Only the head of a file is read: titles and key clauses come first, and the bound keeps hostile input cheap. */
const MAX_TEXT = 256 * 1024;

/** The license a LICENSE file's text is, by its key phrases; undefined when not recognised. */
export function recogniseLicenseText(text: string): string | undefined {
  const normalised = text
    .slice(0, MAX_TEXT)
    .replace(/[\u2018\u2019\u201c\u201d]/g, '"')
    .replace(/\s+/g, " ")
    .toLowerCase();
  for (const [pattern, id] of MODEL_LICENSE_TEXT) if (pattern.test(normalised)) return id;
  const cc = CC_TEXT.exec(normalised) ?? (normalised.includes("creative commons") ? CC_TITLE.exec(normalised) : null);
  if (cc) return `cc-by${cc[1] ? "-nc" : ""}${cc[2] === "-sharealike" ? "-sa" : cc[2] ? "-nd" : ""}-${cc[3]}`;
  const gnu = gnuLicense(normalised);
  if (gnu) return gnu;
  for (const [pattern, id] of GENERIC_LICENSE_TEXT) if (pattern.test(normalised)) return id;
  if (/redistribution and use in source and binary forms/.test(normalised)) {
    return /neither the name|names of its contributors may (?:not )?be used/.test(normalised) ? "bsd-3-clause" : "bsd-2-clause";
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Combining card and file

const COMMERCIAL_RANK: Record<CommercialUse, number> = { yes: 0, conditional: 1, no: 2 };
const CLASS_RANK: Record<LicenseClass, number> = { permissive: 0, copyleft: 1, "open-weights-custom": 2, unknown: 3, "non-commercial": 4 };

/** Higher is more restrictive: commercial use first, then the class. */
function restrictiveness(definition: Pick<Definition, "class" | "commercialUse">): number {
  return COMMERCIAL_RANK[definition.commercialUse] * 10 + CLASS_RANK[definition.class];
}

function strings(value: unknown): string[] {
  if (typeof value === "string") return value.trim() ? [value] : [];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string" && v.trim() !== "");
  return [];
}

function text(value: unknown, max: number): string | null {
  return typeof value === "string" && value.trim() ? value.trim().slice(0, max) : null;
}

type CardReading = { known: string[]; custom: string | null; notes: string[] };

/** What the card says: known ids, or the name of a custom license it does not let us read. */
function readCard(card: Record<string, unknown> | null): CardReading {
  const notes: string[] = [];
  if (!card) return { known: [], custom: null, notes };
  const declared = strings(card.license).map(normaliseLicenseId);
  if (card.license !== undefined && card.license !== null && !declared.length) notes.push("the card's license field is not a string; ignored");
  const licenseName = text(card.license_name, 200);
  const known: string[] = [];
  let custom: string | null = null;
  for (const id of declared) {
    if (id === "unknown") continue;
    if (id === "other") {
      if (!licenseName) continue;
      const named = normaliseLicenseId(licenseName);
      if (isKnownLicense(named)) known.push(named);
      else custom ??= licenseName;
    } else if (isKnownLicense(id)) known.push(id);
    else custom ??= id;
  }
  // license_name without `license: other` still says something when the license field is silent
  if (!declared.length && licenseName) {
    const named = normaliseLicenseId(licenseName);
    if (isKnownLicense(named)) known.push(named);
    else custom = licenseName;
  }
  return { known: [...new Set(known)], custom, notes };
}

function mostRestrictive(ids: string[]): string {
  return ids.reduce((worst, id) => (restrictiveness(definitionOf(id)!) > restrictiveness(definitionOf(worst)!) ? id : worst));
}

function terms(id: string, source: LicenseSource, confidence: LicenseTerms["confidence"], link: string | null, notes: string[]): LicenseTerms {
  const definition = definitionOf(id)!;
  return { id, name: definition.name, class: definition.class, commercialUse: definition.commercialUse, conditions: [...definition.conditions], source, confidence, link, notes };
}

/** The structured license terms of a repository from its card data and LICENSE file. */
export function analyseLicense(input: LicenseInput): LicenseTerms {
  const card = input.card && typeof input.card === "object" && !Array.isArray(input.card) ? input.card : null;
  const link = card ? text(card.license_link, 2000) : null;
  const { known, custom, notes } = readCard(card);
  const file = input.licenseFile && typeof input.licenseFile.text === "string" ? input.licenseFile : null;
  const fromFile = file ? recogniseLicenseText(file.text) : undefined;

  let fromCard: string | undefined;
  if (known.length > 1) {
    fromCard = mostRestrictive(known);
    notes.push(`the card lists several licenses (${known.join(", ")}); the most restrictive, ${fromCard}, is used`);
  } else fromCard = known[0];

  if (fromCard && fromFile) {
    if (fromCard === fromFile) return terms(fromCard, "both", known.length > 1 ? "medium" : "high", link, notes);
    // The card is metadata, the file is the legal text: when they disagree neither can be
    // trusted to be the permissive one, so the stricter terms are reported.
    const chosen = mostRestrictive([fromCard, fromFile]);
    notes.push(`the card says ${fromCard} but ${file!.path} reads as ${fromFile}; the more restrictive, ${chosen}, is used`);
    return terms(chosen, "both", "low", link, notes);
  }
  if (fromCard) {
    if (file) notes.push(`${file.path} is present but its text was not recognised`);
    return terms(fromCard, "card", file || known.length > 1 ? "medium" : "high", link, notes);
  }
  if (fromFile) {
    if (custom) notes.push(`the card names "${custom}", which is not a known license; ${file!.path} reads as ${fromFile}`);
    return terms(fromFile, "license-file", "medium", link, notes);
  }
  if (custom) {
    const id = normaliseLicenseId(custom);
    return {
      id,
      name: custom,
      class: "unknown",
      commercialUse: "conditional",
      conditions: [`custom license "${custom}" is not recognised: read its terms${link ? ` at ${link}` : file ? ` in ${file.path}` : ""} before use`],
      source: "card",
      confidence: "low",
      link,
      notes: file ? [...notes, `${file.path} is present but its text was not recognised`] : notes,
    };
  }
  if (file) notes.push(`${file.path} is present but its text was not recognised`);
  const where = [file?.path, link].filter(Boolean).join(" and ");
  return {
    id: "unknown",
    name: where ? "Unrecognised license" : "No license declared",
    class: "unknown",
    commercialUse: "conditional",
    conditions: [where ? `read ${where} before use: the terms were not recognised` : "no license terms found: without a license no rights are granted; ask the publisher"],
    source: file ? "license-file" : link ? "card" : "none",
    confidence: "low",
    link,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// Lineage

const COMMERCIAL_WORDS: Record<CommercialUse, string> = {
  yes: "allows commercial use",
  conditional: "allows commercial use only under conditions",
  no: "forbids commercial use",
};

function describe(t: LicenseTerms): string {
  return t.id === t.name ? t.id : `${t.id} (${t.name})`;
}

function familyOf(t: LicenseTerms): string {
  return definitionOf(t.id)?.family ?? t.id;
}

/**
 * Warnings for a derivative whose declared terms are looser than a base model's: base terms
 * carry over to derivatives, so a fine-tune of llama3.1 or cc-by-nc-4.0 weights that declares
 * apache-2.0 or mit misstates what its users may do. Each warning names both licenses.
 * Parents may carry `repo` (their id) to name them too.
 */
export function lineageWarnings(child: LicenseTerms, parents: readonly (LicenseTerms & { repo?: string })[]): string[] {
  const warnings: string[] = [];
  for (const parent of parents) {
    if (parent.class === "unknown") continue; // nothing known to compare against
    const base = parent.repo ? `its base ${parent.repo} is under ${describe(parent)}` : `its base is under ${describe(parent)}`;
    const declared = `declares ${describe(child)}`;
    if (/-nd-\d/.test(parent.id)) {
      warnings.push(`${declared} but ${base}, which forbids sharing adapted versions`);
      continue;
    }
    if (child.class === "unknown") {
      if (parent.class !== "permissive") warnings.push(`declares no recognised license (${child.id}) but ${base}, whose terms still apply to derivatives`);
      continue;
    }
    if (child.id === parent.id) continue;
    if (COMMERCIAL_RANK[child.commercialUse] < COMMERCIAL_RANK[parent.commercialUse]) {
      const why = parent.commercialUse === "no" ? "a derivative of non-commercial weights cannot allow commercial use" : `the base's conditions carry over to derivatives (${parent.conditions[0]})`;
      warnings.push(`${declared}, which ${COMMERCIAL_WORDS[child.commercialUse]}, but ${base}, which ${COMMERCIAL_WORDS[parent.commercialUse]}: ${why}`);
    } else if (parent.class === "open-weights-custom" && child.class !== "non-commercial" && familyOf(child) !== familyOf(parent)) {
      warnings.push(`${declared} but ${base}: the base's conditions carry over to derivatives (${parent.conditions.join("; ")})`);
    } else if (parent.class === "copyleft" && (child.class === "permissive" || child.class === "open-weights-custom")) {
      warnings.push(`${declared} but ${base}: copyleft and share-alike terms require derivatives to keep the base's license`);
    }
  }
  return warnings;
}
