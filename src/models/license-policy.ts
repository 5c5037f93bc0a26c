// A hub's license policy and the pure decision it makes about one set of license terms.
//
// Rules are checked in a fixed order, and the first that matches decides:
//   1. allowLicenses      — listed ids are always allowed (exceptions to every rule below)
//   2. denyLicenses       — listed ids are refused
//   3. allowClasses       — when non-empty, only these classes are allowed
//   4. denyClasses        — listed classes are refused
//   5. denyCommercialUse  — terms whose commercial use is one of these values are refused
// Nothing matched: allowed. The decision is the same in every mode; the mode only says what
// the hub does with a refusal (enforce: refuse the download; dry-run: log it and serve).

import { normaliseLicenseId, type CommercialUse, type LicenseClass, type LicenseTerms } from "./license.ts";

export const LICENSE_POLICY_MODES = ["enforce", "dry-run", "off"] as const;
export type LicensePolicyMode = (typeof LICENSE_POLICY_MODES)[number];

export type LicensePolicy = Readonly<{
  mode: LicensePolicyMode;
  denyClasses: readonly LicenseClass[];
  allowClasses: readonly LicenseClass[];
  denyCommercialUse: readonly CommercialUse[];
  /** Normalised license ids (see normaliseLicenseId). */
  denyLicenses: readonly string[];
  allowLicenses: readonly string[];
}>;

export const DEFAULT_LICENSE_POLICY: LicensePolicy = Object.freeze({
  mode: "off",
  denyClasses: [],
  allowClasses: [],
  denyCommercialUse: [],
  denyLicenses: [],
  allowLicenses: [],
});

export type LicenseDecision = {
  allowed: boolean;
  /** The rule that decided, e.g. "denyClasses: non-commercial"; null when no rule matched or the policy is off. */
  rule: string | null;
  explanation: string;
};

export function decideLicensePolicy(terms: LicenseTerms, policy: LicensePolicy): LicenseDecision {
  if (policy.mode === "off") return { allowed: true, rule: null, explanation: "the license policy is off" };
  const license = terms.id === terms.name ? terms.id : `${terms.name} (${terms.id})`;
  const id = normaliseLicenseId(terms.id);
  if (policy.allowLicenses.includes(id)) {
    return { allowed: true, rule: `allowLicenses: ${id}`, explanation: `${license} is listed in allowLicenses` };
  }
  if (policy.denyLicenses.includes(id)) {
    return { allowed: false, rule: `denyLicenses: ${id}`, explanation: `${license} is listed in denyLicenses` };
  }
  if (policy.allowClasses.length && !policy.allowClasses.includes(terms.class)) {
    return {
      allowed: false,
      rule: `allowClasses: ${policy.allowClasses.join(", ")}`,
      explanation: `${license} is of class ${terms.class}, which is not in allowClasses (${policy.allowClasses.join(", ")})`,
    };
  }
  if (policy.denyClasses.includes(terms.class)) {
    return { allowed: false, rule: `denyClasses: ${terms.class}`, explanation: `${license} is of class ${terms.class}, which is listed in denyClasses` };
  }
  if (policy.denyCommercialUse.includes(terms.commercialUse)) {
    return {
      allowed: false,
      rule: `denyCommercialUse: ${terms.commercialUse}`,
      explanation: `${license} allows commercial use "${terms.commercialUse}", which is listed in denyCommercialUse`,
    };
  }
  return { allowed: true, rule: null, explanation: `no rule of the license policy refuses ${license}` };
}
