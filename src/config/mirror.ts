// The pull-through mirror settings: which upstream hubs to fall through to, and which
// repositories may be mirrored from them (see services/mirror.ts).
//
//   upstreams:
//     - url: https://huggingface.co
//       tokenEnv: HF_UPSTREAM_TOKEN      # name of the variable holding the token (default AGORA_UPSTREAM_TOKEN)
//   mirror:
//     allow: ["*"]                       # globs over repository ids ("ns/name"; datasets as "datasets/ns/name")
//     deny: []
//     maxAgeSeconds: 600                 # branch names older than this are revalidated with the upstream
//     offline: false                     # never contact an upstream; serve what is cached
//     cacheMax: 200GB                    # LFS bytes the mirror keeps; least recently used objects are evicted
//
// Environment: AGORA_UPSTREAM (comma list of URLs), AGORA_MIRROR_ALLOW, AGORA_MIRROR_DENY (comma
// lists), AGORA_MIRROR_MAX_AGE (seconds), AGORA_MIRROR_OFFLINE, AGORA_MIRROR_CACHE_MAX. The token itself is only ever
// read from the environment and kept in memory; it is sent to its upstream and nowhere else.

import bytes from "bytes-iec";

export type Upstream = Readonly<{ url: string; tokenEnv: string; token: string | undefined }>;

export type MirrorSettings = Readonly<{
  allow: readonly string[];
  deny: readonly string[];
  maxAgeSeconds: number;
  offline: boolean;
  /** Bytes of mirrored LFS objects to keep (services/mirror-cache.ts); absent = unlimited. */
  cacheMaxBytes?: number;
}>;

export const DEFAULT_MIRROR: MirrorSettings = { allow: ["*"], deny: [], maxAgeSeconds: 600, offline: false };
export const DEFAULT_TOKEN_ENV = "AGORA_UPSTREAM_TOKEN";

type Raw = { value: unknown; from: string } | undefined;

export function readUpstreams(raw: Raw, env: NodeJS.ProcessEnv, problems: string[]): Upstream[] {
  let entries: { value: unknown; from: string }[] = [];
  const fromEnv = env.AGORA_UPSTREAM;
  // Priority: flags, then $AGORA_UPSTREAM, then the file.
  const fromFlag = raw?.from.startsWith("--") ?? false;
  if (raw && raw.from !== "default" && raw.value !== undefined && raw.value !== null && (fromFlag || !fromEnv)) {
    const { value, from } = raw;
    const list = typeof value === "string" ? value.split(",") : Array.isArray(value) ? value : undefined;
    if (!list) problems.push(`upstreams must be a list of URLs or of {url, tokenEnv} (got ${JSON.stringify(value)} from ${from})`);
    else entries = list.map((v) => ({ value: v, from }));
  } else if (fromEnv) {
    entries = fromEnv.split(",").map((v) => ({ value: v, from: "$AGORA_UPSTREAM" }));
  }
  const upstreams: Upstream[] = [];
  for (const { value, from } of entries) {
    let url: unknown = value;
    let tokenEnv: unknown = DEFAULT_TOKEN_ENV;
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const object = value as Record<string, unknown>;
      for (const key of Object.keys(object)) if (key !== "url" && key !== "tokenEnv") problems.push(`upstreams: unknown key "${key}" in ${from} (known: url, tokenEnv)`);
      url = object.url;
      tokenEnv = object.tokenEnv ?? DEFAULT_TOKEN_ENV;
    }
    if (typeof url === "string") url = url.trim().replace(/\/+$/, "");
    if (typeof url === "string" && url === "") continue;
    if (typeof url !== "string" || !/^https?:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(url)) {
      problems.push(`an upstream must be an absolute http(s) URL (got ${JSON.stringify(url)} from ${from})`);
      continue;
    }
    if (/^https?:\/\/[^/]*@/.test(url)) {
      problems.push(`an upstream URL must not carry credentials; put the token in the variable named by tokenEnv (from ${from})`);
      continue;
    }
    if (typeof tokenEnv !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(tokenEnv)) {
      problems.push(`upstreams: tokenEnv must be an environment variable name (got ${JSON.stringify(tokenEnv)} from ${from})`);
      continue;
    }
    upstreams.push(Object.freeze({ url, tokenEnv, token: env[tokenEnv] || undefined }));
  }
  return upstreams;
}

export function readMirrorSettings(raw: Raw, env: NodeJS.ProcessEnv, problems: string[]): MirrorSettings {
  const fields: Record<string, { value: unknown; from: string }> = {};
  if (raw && raw.from !== "default" && raw.value !== undefined && raw.value !== null) {
    if (typeof raw.value !== "object" || Array.isArray(raw.value)) problems.push(`mirror must be a mapping with keys allow, deny, maxAgeSeconds, offline, cacheMax (got ${JSON.stringify(raw.value)} from ${raw.from})`);
    else
      for (const [key, value] of Object.entries(raw.value as Record<string, unknown>)) {
        if (!["allow", "deny", "maxAgeSeconds", "offline", "cacheMax"].includes(key)) problems.push(`mirror: unknown key "${key}" in ${raw.from} (known: allow, deny, maxAgeSeconds, offline, cacheMax)`);
        else fields[key] = { value, from: `${raw.from}.${key}` };
      }
  }
  const envNames = { allow: "AGORA_MIRROR_ALLOW", deny: "AGORA_MIRROR_DENY", maxAgeSeconds: "AGORA_MIRROR_MAX_AGE", offline: "AGORA_MIRROR_OFFLINE", cacheMax: "AGORA_MIRROR_CACHE_MAX" };
  for (const [key, name] of Object.entries(envNames)) if (env[name] !== undefined && env[name] !== "") fields[key] = { value: env[name], from: `$${name}` };

  const list = (key: "allow" | "deny"): string[] => {
    const entry = fields[key];
    if (!entry) return [...DEFAULT_MIRROR[key]];
    const value = typeof entry.value === "string" ? entry.value.split(",").map((s) => s.trim()).filter(Boolean) : entry.value;
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || !v)) {
      problems.push(`mirror.${key} must be a list of globs (got ${JSON.stringify(entry.value)} from ${entry.from})`);
      return [...DEFAULT_MIRROR[key]];
    }
    return value as string[];
  };
  let maxAgeSeconds = DEFAULT_MIRROR.maxAgeSeconds;
  if (fields.maxAgeSeconds) {
    const { value, from } = fields.maxAgeSeconds;
    const n = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < 0) problems.push(`mirror.maxAgeSeconds must be a whole number of seconds (got ${JSON.stringify(value)} from ${from})`);
    else maxAgeSeconds = n;
  }
  let offline = DEFAULT_MIRROR.offline;
  if (fields.offline) {
    const { value, from } = fields.offline;
    if (typeof value === "boolean") offline = value;
    else if (typeof value === "string" && /^(1|true|yes|on)$/i.test(value.trim())) offline = true;
    else if (typeof value === "string" && /^(0|false|no|off)$/i.test(value.trim())) offline = false;
    else problems.push(`mirror.offline must be true or false (got ${JSON.stringify(value)} from ${from})`);
  }
  let cacheMaxBytes: number | undefined;
  if (fields.cacheMax) {
    const { value, from } = fields.cacheMax;
    const parsed = parseByteSize(value);
    if (parsed === undefined) problems.push(`mirror.cacheMax must be a byte count or a size such as 500MB, 200GB or 1.5TiB, or "unlimited" (got ${JSON.stringify(value)} from ${from})`);
    else if (parsed !== "unlimited") cacheMaxBytes = parsed;
  }
  const settings: MirrorSettings = { allow: list("allow"), deny: list("deny"), maxAgeSeconds, offline };
  return Object.freeze(cacheMaxBytes === undefined ? settings : { ...settings, cacheMaxBytes });
}

/**
 * A whole number of bytes, or a size with a unit: decimal kB/MB/GB/TB (powers of 1000) or binary
 * KiB/MiB/GiB/TiB (powers of 1024), case-insensitive, fractions allowed with a unit. Undefined
 * when malformed: a bare "5M" or "5G" is refused rather than guessed.
 */
export function parseByteSize(value: unknown): number | "unlimited" | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^(unlimited|none)$/i.test(text)) return "unlimited";
  // Checked here first: bytes-iec also takes a bare fraction of a byte, and throws on "5ib".
  if (!/^\d+$/.test(text) && !/^\d+(\.\d+)?\s*([kmgtp]i?)?b$/i.test(text)) return undefined;
  const n = bytes.parse(text);
  return n !== null && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** `*` matches any run of characters (also "/"), `?` one character; matching ignores case like repository ids. */
export function globMatches(glob: string, id: string): boolean {
  let pattern = "";
  for (const c of glob) {
    if (c === "*") pattern += ".*";
    else if (c === "?") pattern += ".";
    else pattern += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${pattern}$`, "i").test(id);
}
