// Configuration: defaults, then a YAML/JSON file, then AGORA_* environment variables, then
// command-line flags. Validated once at boot; every problem is reported with where the bad
// value came from, and the result is frozen.

import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { DEFAULT_LICENSE_POLICY, type LicensePolicy } from "../models/license-policy.ts";
import { readLicensePolicy } from "./license-policy.ts";
import { DEFAULT_MIRROR, readMirrorSettings, readUpstreams, type MirrorSettings, type Upstream } from "./mirror.ts";

export type Config = Readonly<{
  host: string;
  port: number;
  dataDir: string;
  /** Absolute base URL used in links the server hands out (Link, commitUrl, LFS hrefs). Empty = derive from the request. */
  publicUrl: string;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Largest regular (non-LFS) file accepted in a commit, bytes. */
  maxRegularFileSize: number;
  /** An upload body that brings no byte for this long is refused (408) and its connection closed. */
  uploadIdleTimeoutSeconds: number;
  /** A response whose client takes no byte for this long is cut (its connection closed), like nginx's send_timeout. */
  sendIdleTimeoutSeconds: number;
  /** A repository's reachable loose git objects are packed once this many more have appeared (git/pack-objects.ts); 0 = never. */
  packLooseObjects: number;
  /** `agora serve` runs a garbage collection (services/garbage-collector.ts, default age) this often; 0 = never. */
  gcIntervalSeconds: number;
  /** Which licenses the hub serves files of (see license-policy.ts); off by default. */
  licensePolicy: LicensePolicy;
  /** A JSON/YAML file of extra hardware profiles for `agora fit` (models/hardware-profiles.ts); "" = none. */
  hardwareProfiles: string;
  /** Processes serving requests (`agora serve`); above 1, a supervisor forks them (cli/serve.ts). */
  workers: number;
  /** Hubs a repository missing here is mirrored from, in order (config/mirror.ts); empty = no mirror. */
  upstreams: readonly Upstream[];
  /** Which repositories may be mirrored, branch freshness, offline mode. */
  mirror: MirrorSettings;
}>;

export type ConfigSource = "default" | "file" | "env" | "flag";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const defaults: Config = {
  host: "127.0.0.1",
  port: 8080,
  dataDir: "./agora-data",
  publicUrl: "",
  logLevel: "info",
  maxRegularFileSize: 10 * 1024 * 1024,
  uploadIdleTimeoutSeconds: 120,
  sendIdleTimeoutSeconds: 120,
  packLooseObjects: 1000,
  gcIntervalSeconds: 86400,
  licensePolicy: DEFAULT_LICENSE_POLICY,
  hardwareProfiles: "",
  workers: 1,
  upstreams: [],
  mirror: DEFAULT_MIRROR,
};

// licensePolicy is a mapping: each of its fields has its own variable (config/license-policy.ts).
// upstreams and mirror read their variables in config/mirror.ts.
const envNames: Record<Exclude<keyof Config, "licensePolicy" | "upstreams" | "mirror">, string> = {
  host: "AGORA_HOST",
  port: "AGORA_PORT",
  dataDir: "AGORA_DATA",
  publicUrl: "AGORA_PUBLIC_URL",
  logLevel: "AGORA_LOG_LEVEL",
  maxRegularFileSize: "AGORA_MAX_REGULAR_FILE_SIZE",
  uploadIdleTimeoutSeconds: "AGORA_UPLOAD_IDLE_TIMEOUT",
  sendIdleTimeoutSeconds: "AGORA_SEND_IDLE_TIMEOUT",
  packLooseObjects: "AGORA_PACK_LOOSE_OBJECTS",
  gcIntervalSeconds: "AGORA_GC_INTERVAL",
  hardwareProfiles: "AGORA_HARDWARE_PROFILES",
  workers: "AGORA_WORKERS",
};

const fileKeys: Record<string, keyof Config> = {
  host: "host",
  port: "port",
  data: "dataDir",
  dataDir: "dataDir",
  publicUrl: "publicUrl",
  logLevel: "logLevel",
  maxRegularFileSize: "maxRegularFileSize",
  uploadIdleTimeoutSeconds: "uploadIdleTimeoutSeconds",
  sendIdleTimeoutSeconds: "sendIdleTimeoutSeconds",
  packLooseObjects: "packLooseObjects",
  gcIntervalSeconds: "gcIntervalSeconds",
  licensePolicy: "licensePolicy",
  hardwareProfiles: "hardwareProfiles",
  workers: "workers",
  upstreams: "upstreams",
  mirror: "mirror",
};

export type ConfigInput = {
  /** Path of a configuration file; defaults to $AGORA_CONFIG, else none. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<Record<keyof Config, string | number | string[]>>;
};

export function loadConfig(input: ConfigInput = {}): Config {
  const env = input.env ?? process.env;
  const raw: Record<string, { value: unknown; from: string }> = {};
  for (const [key, value] of Object.entries(defaults)) raw[key] = { value, from: "default" };

  const configFile = input.configFile ?? env.AGORA_CONFIG;
  if (configFile) {
    let text: string;
    try {
      text = fs.readFileSync(configFile, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read configuration file ${configFile}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new ConfigError(`configuration file ${configFile} is not valid YAML/JSON: ${(error as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`configuration file ${configFile} must hold a mapping of settings`);
      for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
        const target = fileKeys[key];
        if (!target) throw new ConfigError(`configuration file ${configFile}: unknown setting "${key}" (known: ${Object.keys(fileKeys).join(", ")})`);
        raw[target] = { value, from: `${configFile}:${key}` };
      }
    }
  }
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== "") raw[key] = { value, from: `$${name}` };
  }
  for (const [key, value] of Object.entries(input.flags ?? {})) {
    if (value !== undefined) raw[key] = { value, from: `--${key === "dataDir" ? "data" : key}` };
  }
  return Object.freeze(validate(raw, env));
}

function validate(raw: Record<string, { value: unknown; from: string }>, env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const str = (key: keyof Config): string => {
    const { value, from } = raw[key];
    if (typeof value !== "string") {
      problems.push(`${key} must be a string (got ${JSON.stringify(value)} from ${from})`);
      return String(defaults[key]);
    }
    return value;
  };
  const int = (key: keyof Config, min: number, max: number): number => {
    const { value, from } = raw[key];
    const n = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${key} must be an integer between ${min} and ${max} (got ${JSON.stringify(value)} from ${from})`);
      return defaults[key] as number;
    }
    return n;
  };
  const host = str("host");
  const port = int("port", 0, 65535);
  const dataDir = path.resolve(str("dataDir"));
  let publicUrl = str("publicUrl").replace(/\/+$/, "");
  if (publicUrl && !/^https?:\/\/[^/\s]+(\/[^\s]*)?$/.test(publicUrl)) {
    problems.push(`publicUrl must be an absolute http(s) URL (got ${JSON.stringify(publicUrl)} from ${raw.publicUrl.from})`);
    publicUrl = "";
  }
  const logLevel = str("logLevel") as Config["logLevel"];
  const levels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
  if (!levels.includes(logLevel)) problems.push(`logLevel must be one of ${levels.join(", ")} (got ${JSON.stringify(logLevel)} from ${raw.logLevel.from})`);
  const maxRegularFileSize = int("maxRegularFileSize", 0, 2 ** 40);
  const uploadIdleTimeoutSeconds = int("uploadIdleTimeoutSeconds", 1, 86400);
  const sendIdleTimeoutSeconds = int("sendIdleTimeoutSeconds", 1, 86400);
  const packLooseObjects = int("packLooseObjects", 0, 10_000_000);
  const gcIntervalSeconds = int("gcIntervalSeconds", 0, 366 * 86400);
  const licensePolicy = readLicensePolicy(raw.licensePolicy.from === "default" ? undefined : raw.licensePolicy, env, problems);
  // The file itself is read and validated by `agora fit` when used; here only its path.
  const hardwareProfilesPath = str("hardwareProfiles").trim();
  const hardwareProfiles = hardwareProfilesPath ? path.resolve(hardwareProfilesPath) : "";
  const workers = int("workers", 1, 256);
  const upstreams = readUpstreams(raw.upstreams, env, problems);
  const mirror = readMirrorSettings(raw.mirror, env, problems);
  if (problems.length) throw new ConfigError(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  return { host, port, dataDir, publicUrl, logLevel, maxRegularFileSize, uploadIdleTimeoutSeconds, sendIdleTimeoutSeconds, packLooseObjects, gcIntervalSeconds, licensePolicy, hardwareProfiles, workers, upstreams, mirror };
}
