// The `licensePolicy` setting: a mapping in the configuration file, each field overridable by
// an environment variable (lists comma-separated). Problems are reported with where the value
// came from, like every other setting.
//
//   licensePolicy:
//     mode: enforce                    # enforce | dry-run | off
//     denyClasses: [non-commercial]
//     denyLicenses: [llama3.1]
//     allowLicenses: [qwen-research]

import { COMMERCIAL_USE_VALUES, LICENSE_CLASSES, normaliseLicenseId } from "../models/license.ts";
import { DEFAULT_LICENSE_POLICY, LICENSE_POLICY_MODES, type LicensePolicy } from "../models/license-policy.ts";

type Field = keyof LicensePolicy;

export const LICENSE_POLICY_ENV: Record<Field, string> = {
  mode: "AGORA_LICENSE_POLICY_MODE",
  denyClasses: "AGORA_LICENSE_POLICY_DENY_CLASSES",
  allowClasses: "AGORA_LICENSE_POLICY_ALLOW_CLASSES",
  denyCommercialUse: "AGORA_LICENSE_POLICY_DENY_COMMERCIAL_USE",
  denyLicenses: "AGORA_LICENSE_POLICY_DENY_LICENSES",
  allowLicenses: "AGORA_LICENSE_POLICY_ALLOW_LICENSES",
};

const FIELDS = Object.keys(LICENSE_POLICY_ENV) as Field[];

/**
 * Builds the policy from the file's `licensePolicy` value (default when absent) and the
 * environment, appending any problem to `problems`.
 */
export function readLicensePolicy(fileValue: { value: unknown; from: string } | undefined, env: NodeJS.ProcessEnv, problems: string[]): LicensePolicy {
  const raw: Partial<Record<Field, { value: unknown; from: string }>> = {};
  if (fileValue && fileValue.value !== undefined && fileValue.value !== null) {
    const { value, from } = fileValue;
    if (typeof value !== "object" || Array.isArray(value)) {
      problems.push(`licensePolicy must be a mapping with keys ${FIELDS.join(", ")} (got ${JSON.stringify(value)} from ${from})`);
    } else {
      for (const [key, fieldValue] of Object.entries(value as Record<string, unknown>)) {
        if (!FIELDS.includes(key as Field)) problems.push(`licensePolicy: unknown key "${key}" in ${from} (known: ${FIELDS.join(", ")})`);
        else raw[key as Field] = { value: fieldValue, from: `${from}.${key}` };
      }
    }
  }
  for (const field of FIELDS) {
    const value = env[LICENSE_POLICY_ENV[field]];
    if (value !== undefined && value !== "") raw[field] = { value, from: `$${LICENSE_POLICY_ENV[field]}` };
  }

  const list = (field: Field, allowed?: readonly string[]): string[] => {
    const entry = raw[field];
    if (!entry) return [...(DEFAULT_LICENSE_POLICY[field] as readonly string[])];
    const items = typeof entry.value === "string" ? entry.value.split(",") : Array.isArray(entry.value) ? entry.value : undefined;
    if (!items || items.some((item) => typeof item !== "string")) {
      problems.push(`licensePolicy.${field} must be a list of strings (got ${JSON.stringify(entry.value)} from ${entry.from})`);
      return [];
    }
    const values = (items as string[]).map((item) => item.trim()).filter(Boolean);
    if (allowed) {
      for (const value of values) if (!allowed.includes(value)) problems.push(`licensePolicy.${field}: "${value}" is not one of ${allowed.join(", ")} (from ${entry.from})`);
      return values.filter((value) => allowed.includes(value));
    }
    const ids = values.map(normaliseLicenseId);
    for (const id of ids) if (!/^[a-z0-9][a-z0-9.+_-]*$/.test(id)) problems.push(`licensePolicy.${field}: "${id}" is not a license id (from ${entry.from})`);
    return ids;
  };

  let mode = DEFAULT_LICENSE_POLICY.mode;
  if (raw.mode) {
    const { value, from } = raw.mode;
    if (typeof value === "string" && (LICENSE_POLICY_MODES as readonly string[]).includes(value.trim())) mode = value.trim() as LicensePolicy["mode"];
    else problems.push(`licensePolicy.mode must be one of ${LICENSE_POLICY_MODES.join(", ")} (got ${JSON.stringify(value)} from ${from})`);
  }
  const policy = {
    mode,
    denyClasses: list("denyClasses", LICENSE_CLASSES),
    allowClasses: list("allowClasses", LICENSE_CLASSES),
    denyCommercialUse: list("denyCommercialUse", COMMERCIAL_USE_VALUES),
    denyLicenses: list("denyLicenses"),
    allowLicenses: list("allowLicenses"),
  } as LicensePolicy;
  // A class both allowed and denied, or a license both allowed and denied, is a contradiction the
  // operator should resolve rather than have Agora pick a winner silently.
  for (const cls of policy.denyClasses) if (policy.allowClasses.includes(cls)) problems.push(`licensePolicy: class "${cls}" is in both allowClasses and denyClasses`);
  for (const id of policy.denyLicenses) if (policy.allowLicenses.includes(id)) problems.push(`licensePolicy: license "${id}" is in both allowLicenses and denyLicenses`);
  return Object.freeze({
    ...policy,
    denyClasses: Object.freeze([...policy.denyClasses]),
    allowClasses: Object.freeze([...policy.allowClasses]),
    denyCommercialUse: Object.freeze([...policy.denyCommercialUse]),
    denyLicenses: Object.freeze([...policy.denyLicenses]),
    allowLicenses: Object.freeze([...policy.allowLicenses]),
  });
}
