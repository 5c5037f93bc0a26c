// The license analyser: card ids and names, LICENSE files recognised by their text, card/file
// agreement and disagreement, absent and hostile input, lineage warnings, and the policy
// decision over the resulting terms.

import { test } from "node:test";
import assert from "node:assert/strict";
import { analyseLicense, lineageWarnings, normaliseLicenseId, recogniseLicenseText, type LicenseTerms } from "../../src/models/license.ts";
import { decideLicensePolicy, DEFAULT_LICENSE_POLICY, type LicensePolicy } from "../../src/models/license-policy.ts";

type Expected = { id: string; class: LicenseTerms["class"]; commercialUse: LicenseTerms["commercialUse"]; conditions: RegExp[] };

/** Card front matter → expected terms. Every condition regex must match some condition. */
const CARD_CASES: [Record<string, unknown>, Expected][] = [
  [{ license: "apache-2.0" }, { id: "apache-2.0", class: "permissive", commercialUse: "yes", conditions: [/NOTICE/, /changes/] }],
  [{ license: "mit" }, { id: "mit", class: "permissive", commercialUse: "yes", conditions: [/permission notice/] }],
  [{ license: "bsd-2-clause" }, { id: "bsd-2-clause", class: "permissive", commercialUse: "yes", conditions: [/copyright notice/] }],
  [{ license: "bsd-3-clause" }, { id: "bsd-3-clause", class: "permissive", commercialUse: "yes", conditions: [/copyright notice/, /endorse/] }],
  [{ license: "cc-by-4.0" }, { id: "cc-by-4.0", class: "permissive", commercialUse: "yes", conditions: [/attribution/] }],
  [{ license: "cc-by-3.0" }, { id: "cc-by-3.0", class: "permissive", commercialUse: "yes", conditions: [/attribution/] }],
  [{ license: "cc-by-2.0" }, { id: "cc-by-2.0", class: "permissive", commercialUse: "yes", conditions: [/attribution/] }],
  [{ license: "cc-by-nd-4.0" }, { id: "cc-by-nd-4.0", class: "permissive", commercialUse: "yes", conditions: [/attribution/, /no derivatives/] }],
  [{ license: "cc-by-sa-4.0" }, { id: "cc-by-sa-4.0", class: "copyleft", commercialUse: "yes", conditions: [/attribution/, /share-alike/] }],
  [{ license: "cc-by-sa-3.0" }, { id: "cc-by-sa-3.0", class: "copyleft", commercialUse: "yes", conditions: [/share-alike/] }],
  [{ license: "cc-by-nc-4.0" }, { id: "cc-by-nc-4.0", class: "non-commercial", commercialUse: "no", conditions: [/attribution/, /non-commercial use only/] }],
  [{ license: "cc-by-nc-2.0" }, { id: "cc-by-nc-2.0", class: "non-commercial", commercialUse: "no", conditions: [/non-commercial/] }],
  [{ license: "cc-by-nc-sa-4.0" }, { id: "cc-by-nc-sa-4.0", class: "non-commercial", commercialUse: "no", conditions: [/non-commercial/, /share-alike/] }],
  [{ license: "cc-by-nc-nd-4.0" }, { id: "cc-by-nc-nd-4.0", class: "non-commercial", commercialUse: "no", conditions: [/non-commercial/, /no derivatives/] }],
  [{ license: "openrail" }, { id: "openrail", class: "open-weights-custom", commercialUse: "yes", conditions: [/use-based restrictions/, /same use restrictions/] }],
  [{ license: "openrail++" }, { id: "openrail++", class: "open-weights-custom", commercialUse: "yes", conditions: [/use-based restrictions/] }],
  [{ license: "bigscience-openrail-m" }, { id: "bigscience-openrail-m", class: "open-weights-custom", commercialUse: "yes", conditions: [/use-based restrictions/] }],
  [{ license: "creativeml-openrail-m" }, { id: "creativeml-openrail-m", class: "open-weights-custom", commercialUse: "yes", conditions: [/use-based restrictions/, /enforceable/] }],
  [
    { license: "llama2" },
    { id: "llama2", class: "open-weights-custom", commercialUse: "conditional", conditions: [/more than 700 million monthly active users .*separate license from Meta/, /Acceptable Use Policy/, /may not be used to improve other large language models/] },
  ],
  [
    { license: "llama3" },
    { id: "llama3", class: "open-weights-custom", commercialUse: "conditional", conditions: [/700 million monthly active users/, /"Built with Meta Llama 3"/, /derivative names must begin with "Llama 3"/, /Acceptable Use Policy/] },
  ],
  [
    { license: "llama3.1" },
    { id: "llama3.1", class: "open-weights-custom", commercialUse: "conditional", conditions: [/more than 700 million monthly active users .*need a separate license from Meta/, /"Built with Llama"/, /derivative names must begin with "Llama"/, /Acceptable Use Policy/, /"Notice" file/] },
  ],
  [
    { license: "llama3.2" },
    { id: "llama3.2", class: "open-weights-custom", commercialUse: "conditional", conditions: [/700 million/, /"Built with Llama"/, /begin with "Llama"/, /European Union/] },
  ],
  [{ license: "llama3.3" }, { id: "llama3.3", class: "open-weights-custom", commercialUse: "conditional", conditions: [/700 million/, /"Built with Llama"/, /begin with "Llama"/] }],
  [{ license: "llama4" }, { id: "llama4", class: "open-weights-custom", commercialUse: "conditional", conditions: [/700 million/, /"Built with Llama"/, /begin with "Llama"/, /European Union/] }],
  [
    { license: "gemma" },
    { id: "gemma", class: "open-weights-custom", commercialUse: "yes", conditions: [/Gemma Prohibited Use Policy/, /pass on the Gemma use restrictions/, /restrict/] },
  ],
  [
    { license: "other", license_name: "tongyi-qianwen", license_link: "https://huggingface.co/Qwen/Qwen-7B/blob/main/LICENSE" },
    { id: "tongyi-qianwen", class: "open-weights-custom", commercialUse: "conditional", conditions: [/more than 100 million monthly active users .*Alibaba Cloud/, /improve other large language models/] },
  ],
  [
    { license: "other", license_name: "qwen" },
    { id: "qwen", class: "open-weights-custom", commercialUse: "conditional", conditions: [/100 million monthly active users/, /"Built with Qwen" or "Improved using Qwen"/] },
  ],
  [
    { license: "other", license_name: "qwen-research" },
    { id: "qwen-research", class: "non-commercial", commercialUse: "no", conditions: [/research or evaluation use only/, /"Built with Qwen"/] },
  ],
  [
    { license: "other", license_name: "deepseek", license_link: "LICENSE" },
    { id: "deepseek", class: "open-weights-custom", commercialUse: "yes", conditions: [/use-based restrictions .*military/, /same use restrictions/] },
  ],
  [{ license: "other", license_name: "deepseek-license" }, { id: "deepseek", class: "open-weights-custom", commercialUse: "yes", conditions: [/use-based restrictions/] }],
  [{ license: "gpl-3.0" }, { id: "gpl-3.0", class: "copyleft", commercialUse: "yes", conditions: [/same GPL version, with source/] }],
  [{ license: "gpl-2.0" }, { id: "gpl-2.0", class: "copyleft", commercialUse: "yes", conditions: [/GPL/] }],
  [{ license: "agpl-3.0" }, { id: "agpl-3.0", class: "copyleft", commercialUse: "yes", conditions: [/GPL/, /network/] }],
  [{ license: "lgpl-3.0" }, { id: "lgpl-3.0", class: "copyleft", commercialUse: "yes", conditions: [/LGPL/] }],
  [{ license: "lgpl-2.1" }, { id: "lgpl-2.1", class: "copyleft", commercialUse: "yes", conditions: [/LGPL/] }],
];

function assertTerms(terms: LicenseTerms, expected: Expected, what: string): void {
  assert.equal(terms.id, expected.id, `${what}: id`);
  assert.equal(terms.class, expected.class, `${what}: class`);
  assert.equal(terms.commercialUse, expected.commercialUse, `${what}: commercialUse`);
  for (const pattern of expected.conditions) {
    assert.ok(terms.conditions.some((c) => pattern.test(c)), `${what}: a condition matches ${pattern}; conditions: ${JSON.stringify(terms.conditions)}`);
  }
  assert.ok(terms.name.length > 0, `${what}: has a name`);
}

test("every card license id: class, commercial use and conditions", () => {
  for (const [card, expected] of CARD_CASES) {
    const terms = analyseLicense({ card });
    assertTerms(terms, expected, JSON.stringify(card));
    assert.equal(terms.source, "card");
    assert.equal(terms.confidence, "high");
    assert.deepEqual(terms.notes, []);
    assert.equal(terms.link, (card.license_link as string | undefined) ?? null);
  }
});

// Key phrases (titles and characteristic clauses) as they open each license's own text.
const FILE_CASES: [string, string][] = [
  ["LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024\n\n\u201cAgreement\u201d means the terms and conditions", "llama3.1"],
  [" LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\n\nLlama 3.2 Version Release Date: September 25, 2024", "llama3.2"],
  ["LLAMA 3.3 COMMUNITY LICENSE AGREEMENT\nLlama 3.3 Version Release Date: December 6, 2024", "llama3.3"],
  ["LLAMA 4 COMMUNITY LICENSE AGREEMENT\nLlama 4 Version Effective Date: April 5, 2025", "llama4"],
  ["META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024", "llama3"],
  ["LLAMA 2 COMMUNITY LICENSE AGREEMENT\nLlama 2 Version Release Date: July 18, 2023", "llama2"],
  ["Gemma Terms of Use\n\nLast modified: February 21, 2024\n\nBy using, reproducing, modifying, distributing", "gemma"],
  ["Tongyi Qianwen LICENSE AGREEMENT\n\nTongyi Qianwen Release Date: August 3, 2023", "tongyi-qianwen"],
  ["Qwen RESEARCH LICENSE AGREEMENT\n\nQwen RESEARCH LICENSE AGREEMENT Release Date: September 19, 2024", "qwen-research"],
  ["Qwen LICENSE AGREEMENT\n\nQwen LICENSE AGREEMENT Release Date: September 19, 2024", "qwen"],
  ["DEEPSEEK LICENSE AGREEMENT\n\nVersion 1.0, 23 October 2023\n\nCopyright (c) 2023 DeepSeek", "deepseek"],
  ["CreativeML Open RAIL-M\ndated August 22, 2022\n\nSection I: PREAMBLE", "creativeml-openrail-m"],
  ["CreativeML Open RAIL++-M License\ndated July 26, 2023", "openrail++"],
  ["BigScience Open RAIL-M License\ndated August 18, 2022", "bigscience-openrail-m"],
  ["\n                                 Apache License\n                           Version 2.0, January 2004\n                        http://www.apache.org/licenses/", "apache-2.0"],
  ["MIT License\n\nCopyright (c) 2024 Example\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software", "mit"],
  ["Copyright 2024 Example\n\nRedistribution and use in source and binary forms, with or without modification, are permitted\n...\n3. Neither the name of the copyright holder nor the names of its contributors may be used", "bsd-3-clause"],
  ["Copyright 2024 Example\n\nRedistribution and use in source and binary forms, with or without modification, are permitted provided that", "bsd-2-clause"],
  ["                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007", "gpl-3.0"],
  ["                    GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991", "gpl-2.0"],
  ["                    GNU AFFERO GENERAL PUBLIC LICENSE\n                       Version 3, 19 November 2007", "agpl-3.0"],
  ["                   GNU LESSER GENERAL PUBLIC LICENSE\n                       Version 2.1, February 1999", "lgpl-2.1"],
  // the GNU licenses name each other: the title decides, not a later mention
  ["GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991\n\nPreamble\n(Some other Free Software Foundation software is covered by\nthe GNU Lesser General Public License instead.)", "gpl-2.0"],
  ["GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n" + "terms ".repeat(3000) + "13. Use with the GNU Affero General Public License.", "gpl-3.0"],
  ["Copyright 2024 Example\n\nThis program is free software: you can redistribute it and/or modify it under the terms of the GNU Affero General Public License as published by the Free Software Foundation, either version 3 of the License", "agpl-3.0"],
  ["Attribution-NonCommercial-ShareAlike 4.0 International\n\n=====\n\nCreative Commons Corporation (\"Creative Commons\") is not a law firm", "cc-by-nc-sa-4.0"],
  ["Creative Commons Attribution-NonCommercial 4.0 International Public License\n\nBy exercising the Licensed Rights", "cc-by-nc-4.0"],
  ["Creative Commons Attribution 4.0 International Public License", "cc-by-4.0"],
  ["Attribution-ShareAlike 4.0 International\n\nCreative Commons Corporation", "cc-by-sa-4.0"],
  ["Creative Commons Legal Code\n\nCC0 1.0 Universal", "cc0-1.0"],
];

test("LICENSE file only: recognised by its text when the card says nothing or 'other'", () => {
  for (const [text, id] of FILE_CASES) {
    assert.equal(recogniseLicenseText(text), id, `text ${JSON.stringify(text.slice(0, 60))}`);
    for (const card of [null, {}, { license: "other" }, { license: "unknown" }]) {
      const terms = analyseLicense({ card, licenseFile: { path: "LICENSE", text } });
      assert.equal(terms.id, id, `${id} with card ${JSON.stringify(card)}`);
      assert.equal(terms.source, "license-file");
      assert.equal(terms.confidence, "medium");
    }
  }
  const llama = analyseLicense({ card: null, licenseFile: { path: "LICENSE.txt", text: FILE_CASES[0][0] } });
  assertTerms(llama, CARD_CASES.find(([card]) => card.license === "llama3.1")![1], "llama3.1 from LICENSE.txt");
  assert.equal(recogniseLicenseText("This model may be used for anything at all.\n"), undefined);
  assert.equal(recogniseLicenseText(""), undefined);
});

test("card and LICENSE file together: agreement is 'both'; a disagreement takes the stricter terms and says so", () => {
  const agree = analyseLicense({ card: { license: "llama3.1" }, licenseFile: { path: "LICENSE", text: FILE_CASES[0][0] } });
  assert.equal(agree.id, "llama3.1");
  assert.equal(agree.source, "both");
  assert.equal(agree.confidence, "high");

  // a permissive label on Llama-licensed weights: the legal text is not to be talked down
  const disagree = analyseLicense({ card: { license: "apache-2.0" }, licenseFile: { path: "LICENSE", text: FILE_CASES[0][0] } });
  assert.equal(disagree.id, "llama3.1");
  assert.equal(disagree.source, "both");
  assert.equal(disagree.confidence, "low");
  assert.match(disagree.notes.join(" "), /card says apache-2\.0 but LICENSE reads as llama3\.1/);

  // and the other way round: a non-commercial card over an Apache text stays non-commercial
  const stricterCard = analyseLicense({ card: { license: "cc-by-nc-4.0" }, licenseFile: { path: "LICENSE", text: FILE_CASES[14][0] } });
  assert.equal(stricterCard.id, "cc-by-nc-4.0");
  assert.equal(stricterCard.commercialUse, "no");

  // an unrecognised file beside a known card id lowers the confidence but keeps the card's terms
  const unreadable = analyseLicense({ card: { license: "mit" }, licenseFile: { path: "LICENSE.md", text: "All rights reserved, see our website." } });
  assert.equal(unreadable.id, "mit");
  assert.equal(unreadable.source, "card");
  assert.equal(unreadable.confidence, "medium");
  assert.match(unreadable.notes.join(" "), /LICENSE\.md is present but its text was not recognised/);
});

test("other with an unrecognised license_name: unknown class, the card's name, and where to read the terms", () => {
  const terms = analyseLicense({ card: { license: "other", license_name: "Acme Model License v2", license_link: "https://acme.example/license" } });
  assert.equal(terms.id, "acme-model-license-v2");
  assert.equal(terms.name, "Acme Model License v2");
  assert.equal(terms.class, "unknown");
  assert.equal(terms.commercialUse, "conditional");
  assert.equal(terms.source, "card");
  assert.equal(terms.confidence, "low");
  assert.equal(terms.link, "https://acme.example/license");
  assert.match(terms.conditions[0], /"Acme Model License v2" is not recognised: read its terms at https:\/\/acme\.example\/license/);

  // a known license reached through license_name aliases
  assert.equal(analyseLicense({ card: { license: "other", license_name: "Llama 3.1 Community License" } }).id, "llama3.1");
  assert.equal(analyseLicense({ card: { license: "other", license_name: "Tongyi Qianwen License Agreement" } }).id, "tongyi-qianwen");
  // license_name alone (no license field) still counts
  assert.equal(analyseLicense({ card: { license_name: "qwen-research" } }).id, "qwen-research");
  // `other` with a recognisable LICENSE file is read from the file
  const fromFile = analyseLicense({ card: { license: "other", license_name: "deepseek-model-agreement" }, licenseFile: { path: "LICENSE", text: FILE_CASES[10][0] } });
  assert.equal(fromFile.id, "deepseek");
  assert.equal(fromFile.source, "license-file");
  assert.match(fromFile.notes.join(" "), /deepseek-model-agreement/);
});

test("absent or unknown: class unknown, source none", () => {
  for (const card of [null, {}, { license: "unknown" }, { license: "other" }, { tags: ["text-generation"] }]) {
    const terms = analyseLicense({ card });
    assert.equal(terms.id, "unknown", JSON.stringify(card));
    assert.equal(terms.class, "unknown");
    assert.equal(terms.commercialUse, "conditional");
    assert.equal(terms.source, "none");
    assert.equal(terms.confidence, "low");
    assert.match(terms.conditions[0], /no license terms found/);
  }
  const unreadableFile = analyseLicense({ card: null, licenseFile: { path: "LICENSE", text: "Proprietary. Do not distribute." } });
  assert.equal(unreadableFile.id, "unknown");
  assert.equal(unreadableFile.source, "license-file");
  assert.match(unreadableFile.conditions[0], /read LICENSE before use/);
  // `other` with only a link: the card points somewhere Agora cannot read
  const linkOnly = analyseLicense({ card: { license: "other", license_link: "https://example.org/terms" } });
  assert.deepEqual([linkOnly.id, linkOnly.class, linkOnly.source, linkOnly.link], ["unknown", "unknown", "card", "https://example.org/terms"]);
  assert.match(linkOnly.conditions[0], /read https:\/\/example\.org\/terms before use/);
});

test("hostile and odd card values never throw", () => {
  const odd: unknown[] = [{ license: 42 }, { license: { nested: true } }, { license: [null, 3] }, { license: "" }, { license_name: ["x"] }, { license: "a".repeat(10_000) }];
  for (const card of odd) {
    const terms = analyseLicense({ card: card as Record<string, unknown> });
    assert.ok(terms.id.length <= 100, "ids are bounded");
  }
  assert.match(analyseLicense({ card: { license: 42 } }).notes.join(" "), /not a string/);
  // several licenses: the most restrictive is reported, with a note
  const several = analyseLicense({ card: { license: ["mit", "cc-by-nc-4.0"] } });
  assert.equal(several.id, "cc-by-nc-4.0");
  assert.equal(several.confidence, "medium");
  assert.match(several.notes.join(" "), /several licenses \(mit, cc-by-nc-4\.0\)/);
  // a huge file is read only at its head
  const huge = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n" + "x".repeat(5_000_000);
  assert.equal(analyseLicense({ card: null, licenseFile: { path: "LICENSE", text: huge } }).id, "mit");
});

test("normaliseLicenseId resolves the spellings cards use", () => {
  const cases: [string, string][] = [
    ["Apache-2.0", "apache-2.0"],
    ["apache 2.0", "apache-2.0"],
    ["Llama-3.1", "llama3.1"],
    ["llama3_2", "llama3.2"],
    ["LLAMA 3.3 Community License", "llama3.3"],
    ["meta-llama-3-community-license", "llama3"],
    ["llama-4", "llama4"],
    ["Tongyi Qianwen", "tongyi-qianwen"],
    ["qwen-research-license", "qwen-research"],
    ["DeepSeek License Agreement", "deepseek"],
    ["gemma-terms-of-use", "gemma"],
    ["CC-BY-NC-4.0", "cc-by-nc-4.0"],
    ["my_custom license", "my-custom-license"],
  ];
  for (const [input, id] of cases) assert.equal(normaliseLicenseId(input), id, input);
});

const card = (license: string, extra: Record<string, unknown> = {}) => analyseLicense({ card: { license, ...extra } });
const other = (name: string) => analyseLicense({ card: { license: "other", license_name: name } });

test("lineage: a derivative declaring looser terms than its base is warned about, naming both", () => {
  const cases: [LicenseTerms, LicenseTerms, RegExp][] = [
    [card("apache-2.0"), card("llama3.1"), /declares apache-2\.0 \(Apache License 2\.0\).*base .*llama3\.1 \(Llama 3\.1 Community License\).*700 million/],
    [card("mit"), card("cc-by-nc-4.0"), /declares mit \(MIT License\), which allows commercial use, but .*cc-by-nc-4\.0 .*forbids commercial use.*non-commercial weights/],
    [card("apache-2.0"), other("qwen-research"), /apache-2\.0.*qwen-research/],
    [card("mit"), card("gemma"), /declares mit .*gemma \(Gemma Terms of Use\).*Prohibited Use Policy/],
    [card("mit"), other("deepseek"), /declares mit .*deepseek \(DeepSeek License Agreement\).*use-based restrictions/],
    [card("apache-2.0"), card("creativeml-openrail-m"), /apache-2\.0.*creativeml-openrail-m/],
    [other("qwen"), card("llama3.1"), /declares qwen .*llama3\.1/],
    [card("mit"), card("gpl-3.0"), /declares mit .*gpl-3\.0.*copyleft/],
    [card("apache-2.0"), card("cc-by-sa-4.0"), /apache-2\.0.*cc-by-sa-4\.0.*share-alike/],
    [card("cc-by-nd-4.0"), card("cc-by-nd-4.0"), /forbids sharing adapted versions/],
    [analyseLicense({ card: null }), card("llama3.1"), /declares no recognised license \(unknown\) but .*llama3\.1/],
  ];
  for (const [child, parent, pattern] of cases) {
    const warnings = lineageWarnings(child, [parent]);
    assert.equal(warnings.length, 1, `${child.id} from ${parent.id}: ${JSON.stringify(warnings)}`);
    assert.match(warnings[0], pattern);
  }
  // with a repository id, the base is named too; one warning per offending parent
  const named = lineageWarnings(card("mit"), [{ ...card("llama3.1"), repo: "meta-llama/Llama-3.1-8B" }, card("apache-2.0"), { ...card("cc-by-nc-4.0"), repo: "acme/nc-base" }]);
  assert.equal(named.length, 2);
  assert.match(named[0], /its base meta-llama\/Llama-3\.1-8B is under llama3\.1/);
  assert.match(named[1], /its base acme\/nc-base is under cc-by-nc-4\.0/);
});

test("lineage: no warning when the derivative keeps, tightens or stays within the base's terms", () => {
  const cases: [LicenseTerms, LicenseTerms][] = [
    [card("llama3.1"), card("llama3.1")],
    [card("llama3.3"), card("llama3.1")], // same family of Meta licenses
    [other("qwen"), other("tongyi-qianwen")],
    [card("creativeml-openrail-m"), card("openrail++")], // RAIL licenses carry the same use restrictions
    [card("cc-by-nc-4.0"), card("apache-2.0")], // stricter than the base
    [card("apache-2.0"), card("mit")],
    [card("mit"), card("apache-2.0")],
    [other("qwen-research"), other("qwen")], // non-commercial derivative of a conditional base
    [card("cc-by-nc-sa-4.0"), card("llama3.1")],
    [card("gpl-3.0"), card("gpl-3.0")],
    [card("mit"), analyseLicense({ card: null })], // nothing known about the base
    [analyseLicense({ card: null }), card("apache-2.0")], // no license on a derivative of permissive weights
    [card("mit"), other("acme-license")],
  ];
  for (const [child, parent] of cases) assert.deepEqual(lineageWarnings(child, [parent]), [], `${child.id} from ${parent.id}`);
  assert.deepEqual(lineageWarnings(card("mit"), []), []);
});

function policy(fields: Partial<LicensePolicy>): LicensePolicy {
  return { ...DEFAULT_LICENSE_POLICY, mode: "enforce", ...fields };
}

test("decideLicensePolicy: each rule, its order, and explanations naming the license and the rule", () => {
  const nc = card("cc-by-nc-4.0");
  const llama = card("llama3.1");
  const apache = card("apache-2.0");

  assert.deepEqual(decideLicensePolicy(nc, { ...DEFAULT_LICENSE_POLICY, denyClasses: ["non-commercial"] }), { allowed: true, rule: null, explanation: "the license policy is off" });

  const byClass = decideLicensePolicy(nc, policy({ denyClasses: ["non-commercial"] }));
  assert.equal(byClass.allowed, false);
  assert.equal(byClass.rule, "denyClasses: non-commercial");
  assert.match(byClass.explanation, /Creative Commons Attribution-NonCommercial 4\.0 \(cc-by-nc-4\.0\) is of class non-commercial/);

  const byId = decideLicensePolicy(llama, policy({ denyLicenses: ["llama3.1"] }));
  assert.deepEqual([byId.allowed, byId.rule], [false, "denyLicenses: llama3.1"]);
  assert.match(byId.explanation, /Llama 3\.1 Community License \(llama3\.1\) is listed in denyLicenses/);

  const byCommercial = decideLicensePolicy(nc, policy({ denyCommercialUse: ["no"] }));
  assert.deepEqual([byCommercial.allowed, byCommercial.rule], [false, "denyCommercialUse: no"]);
  assert.equal(decideLicensePolicy(llama, policy({ denyCommercialUse: ["no"] })).allowed, true);
  assert.equal(decideLicensePolicy(llama, policy({ denyCommercialUse: ["no", "conditional"] })).rule, "denyCommercialUse: conditional");

  const onlyPermissive = policy({ allowClasses: ["permissive"] });
  assert.equal(decideLicensePolicy(apache, onlyPermissive).allowed, true);
  const notListed = decideLicensePolicy(llama, onlyPermissive);
  assert.deepEqual([notListed.allowed, notListed.rule], [false, "allowClasses: permissive"]);
  assert.match(notListed.explanation, /class open-weights-custom, which is not in allowClasses \(permissive\)/);

  // allowLicenses is an exception to every deny rule
  const exception = decideLicensePolicy(other("qwen-research"), policy({ denyClasses: ["non-commercial"], allowLicenses: ["qwen-research"] }));
  assert.deepEqual([exception.allowed, exception.rule], [true, "allowLicenses: qwen-research"]);
  // denyLicenses is checked before the class rules
  assert.equal(decideLicensePolicy(apache, policy({ allowClasses: ["permissive"], denyLicenses: ["apache-2.0"] })).rule, "denyLicenses: apache-2.0");
  // unknown terms are refused only by a rule that names them
  assert.equal(decideLicensePolicy(analyseLicense({ card: null }), policy({ denyClasses: ["non-commercial"] })).allowed, true);
  assert.equal(decideLicensePolicy(analyseLicense({ card: null }), policy({ denyClasses: ["unknown"] })).rule, "denyClasses: unknown");

  const allowed = decideLicensePolicy(apache, policy({ denyClasses: ["non-commercial"] }));
  assert.deepEqual(allowed, { allowed: true, rule: null, explanation: "no rule of the license policy refuses Apache License 2.0 (apache-2.0)" });
  // dry-run decides the same; only the hub's reaction differs
  assert.deepEqual(decideLicensePolicy(nc, policy({ mode: "dry-run", denyClasses: ["non-commercial"] })), byClass);
});
