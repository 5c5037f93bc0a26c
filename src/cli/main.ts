// The `agora` command. `serve` runs the hub; the admin verbs (token, org, access, repo) work on
// the data directory in-process, so they also work while the hub is running (SQLite in WAL mode).

import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config/config.ts";
import { AgoraError } from "../errors.ts";
import type { Services } from "../services/index.ts";
import { inspect } from "./inspect.ts";
import { fit } from "./fit.ts";
import { formatPolicyCheck, policyCheck } from "./policy-check.ts";
import { mirrorPrefetch, mirrorStatus } from "./mirror.ts";
import { mirrorPin, mirrorUnpin } from "./mirror-cache.ts";
import { mirrorExport, mirrorImport } from "./mirror-transfer.ts";
import { DEFAULT_OLDER_THAN, gc } from "./gc.ts";

const USAGE = `Usage: agora <command> [options]

Commands:
  serve [--port N] [--host H] [--data DIR] [--config FILE] [--public-url URL] [--workers N] [--upstream URL]...
                                         run the hub (default 127.0.0.1:8080, data in ./agora-data or $AGORA_DATA;
                                         --workers N: N processes share the port, default 1)
  token create --user NAME [--role read|write] [--expires DAYS] [--name LABEL]
                                         print a new token (creates the user if needed)
  token list [--user NAME]               list tokens (never their secret)
  token revoke ID                        revoke a token
  org create NAME --owner USER           create an organization
  org add-member ORG USER [--role admin|write|read]
  org remove-member ORG USER
  org members ORG
  access grant REPO USER                 grant a user access to a gated repo
  access revoke REPO USER
  access list REPO
  repo create ID [--type model|dataset] [--private] [--gated auto|manual]
                                         create a repository as an administrator (allows one-segment ids like gpt2)
  policy check REPO [--revision REV] [--json]
                                         show a repository's license terms and the license policy's decision
                                         (exit code 3 when the policy refuses the license)
  inspect PATH [--json]                  parameters (total, active), architecture, context length and quantisation
                                         of a model from its config.json, safetensors or GGUF headers (a file or a folder)
  fit PATH|REPO (--hardware NAME | --memory GB --bandwidth GBps) [--context N] [--precision P]
      [--runtime native|eager-python] [--kv-cache 16|8] [--hardware-file FILE] [--revision REV] [--json]
                                         whether a model fits a machine (memory, verdict) and its decode speed, for every
                                         precision or one; PATH is a config.json or model folder, REPO a hub model
  mirror status [--json]                 mirrored repositories, their cached LFS bytes, and the upstreams' health
  mirror prefetch REPO[@REV] [--include GLOB]...
                                         fetch a repository from the upstream and its LFS objects (those matching a glob)
  mirror pin REPO[@REV]                  fetch a revision's LFS objects (REV default main) and never evict them
  mirror unpin REPO[@REV]                let a pinned revision's objects be evicted again (mirror.cacheMax)
  mirror export REPO[@REV] FILE [--ignore-license-policy]
                                         write a revision (REV default main), its git history and LFS objects to one
                                         archive file, for a hub with no network path to this one; refused when the
                                         license policy enforces a refusal of the revision's license, unless forced
  mirror import FILE                     verify an archive from \`mirror export\` and add it here as a read-only mirror
  fit --list-hardware [--hardware-file FILE]
                                         the hardware profiles (built-in, and the hardwareProfiles file's)
  gc [--older-than DURATION] [--dry-run] [--json]
                                         delete LFS objects no repository references (a deleted repository's),
                                         last written over DURATION ago (default ${DEFAULT_OLDER_THAN}; units s, m, h, d), and
                                         unreachable git objects as old (at least 1h); safe while the hub runs

Every command accepts --data DIR and --config FILE. Repositories are "ns/name" for models and
"datasets/ns/name" (or --type dataset) for datasets.`;

type Flags = Record<string, string | string[] | boolean | undefined>;

function configFrom(flags: Flags): Config {
  return loadConfig({
    configFile: typeof flags.config === "string" ? flags.config : undefined,
    flags: {
      dataDir: flags.data as string | undefined,
      port: flags.port as string | undefined,
      host: flags.host as string | undefined,
      publicUrl: flags["public-url"] as string | undefined,
      logLevel: flags["log-level"] as string | undefined,
      workers: flags.workers as string | undefined,
      upstreams: flags.upstream as string[] | undefined,
    },
  });
}

function requireFlag(flags: Flags, name: string): string {
  const value = flags[name];
  if (typeof value !== "string" || !value) throw new AgoraError("BadRequest", `--${name} is required`);
  return value;
}

function requireArg(args: string[], index: number, what: string): string {
  const value = args[index];
  if (!value) throw new AgoraError("BadRequest", `missing ${what}`);
  return value;
}

function repoArg(value: string, type?: unknown): { type: "model" | "dataset"; id: string } {
  if (value.startsWith("datasets/")) return { type: "dataset", id: value.slice(9) };
  if (type !== undefined && type !== "model" && type !== "dataset") throw new AgoraError("BadRequest", "--type must be model or dataset");
  return { type: (type as "model" | "dataset" | undefined) ?? "model", id: value };
}

// The services (and `serve`'s HTTP stack) are imported when a command needs them: loading them
// is most of a command's start-up time, which `inspect`, `fit PATH` and `--help` do without.
async function withServices<T>(flags: Flags, work: (services: Services) => Promise<T>): Promise<T> {
  const { buildServices } = await import("../services/index.ts");
  const services = buildServices({ ...configFrom(flags), logLevel: "silent" });
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      data: { type: "string" },
      config: { type: "string" },
      "public-url": { type: "string" },
      "log-level": { type: "string" },
      workers: { type: "string" },
      upstream: { type: "string", multiple: true },
      include: { type: "string", multiple: true },
      user: { type: "string" },
      role: { type: "string" },
      expires: { type: "string" },
      name: { type: "string" },
      owner: { type: "string" },
      type: { type: "string" },
      private: { type: "boolean" },
      gated: { type: "string" },
      revision: { type: "string" },
      json: { type: "boolean" },
      "ignore-license-policy": { type: "boolean" },
      // agora gc
      "older-than": { type: "string" },
      "dry-run": { type: "boolean" },
      // agora fit
      hardware: { type: "string" },
      "hardware-file": { type: "string" },
      "list-hardware": { type: "boolean" },
      memory: { type: "string" },
      bandwidth: { type: "string" },
      context: { type: "string" },
      precision: { type: "string" },
      runtime: { type: "string" },
      "kv-cache": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, sub, ...args] = positionals;
  if (!command || flags.help) {
    console.log(USAGE);
    return command || flags.help ? 0 : 1;
  }
  const out = (line: string) => process.stdout.write(line + "\n");

  switch (command) {
    case "serve": {
      const { serve } = await import("./serve.ts");
      await serve(configFrom(flags));
      return 0;
    }
    case "token":
      return withServices(flags, async (s) => {
        if (sub === "create") {
          const expires = flags.expires === undefined ? undefined : Number(flags.expires);
          if (expires !== undefined && !(expires > 0)) throw new AgoraError("BadRequest", "--expires must be a positive number of days");
          const { token } = await s.accounts.createToken(requireFlag(flags, "user"), {
            role: (flags.role as "read" | "write" | undefined) ?? "write",
            expiresInDays: expires,
            name: flags.name as string | undefined,
          });
          out(token);
        } else if (sub === "list") {
          const rows = await s.accounts.listTokens(flags.user as string | undefined);
          out(["ID", "USER", "NAME", "ROLE", "CREATED", "EXPIRES", "STATUS"].join("\t"));
          const now = Date.now();
          for (const t of rows) {
            const status = t.revoked_at ? "revoked" : t.expires_at && Date.parse(t.expires_at) <= now ? "expired" : "active";
            out([t.id, t.account_name, t.name, t.role, t.created_at, t.expires_at ?? "never", status].join("\t"));
          }
        } else if (sub === "revoke") {
          await s.accounts.revokeToken(requireArg(args, 0, "token id"));
          out("revoked");
        } else throw new AgoraError("BadRequest", `unknown token command ${sub ?? ""}: use create, list or revoke`);
        return 0;
      });
    case "org":
      return withServices(flags, async (s) => {
        if (sub === "create") {
          await s.accounts.createOrg(requireArg(args, 0, "organization name"), requireFlag(flags, "owner"));
          out(`created organization ${args[0]}`);
        } else if (sub === "add-member") {
          const role = (flags.role as "admin" | "write" | "read" | undefined) ?? "write";
          if (!["admin", "write", "read"].includes(role)) throw new AgoraError("BadRequest", "--role must be admin, write or read");
          await s.accounts.addMember(requireArg(args, 0, "organization"), requireArg(args, 1, "user"), role);
          out(`${args[1]} is now a member (${role}) of ${args[0]}`);
        } else if (sub === "remove-member") {
          await s.accounts.removeMember(requireArg(args, 0, "organization"), requireArg(args, 1, "user"));
          out(`${args[1]} is no longer a member of ${args[0]}`);
        } else if (sub === "members") {
          for (const m of await s.accounts.membersOf(requireArg(args, 0, "organization"))) out(`${m.name}\t${m.role}`);
        } else throw new AgoraError("BadRequest", `unknown org command ${sub ?? ""}: use create, add-member, remove-member or members`);
        return 0;
      });
    case "access":
      return withServices(flags, async (s) => {
        const { type, id } = repoArg(requireArg(args, 0, "repository"), flags.type);
        const repo = await s.repos.find(type, id);
        if (!repo) throw new AgoraError("RepoNotFound", `repository ${id} not found`);
        if (sub === "grant") {
          await s.access.setGrant(repo, requireArg(args, 1, "user"), "accepted");
          out(`granted ${args[1]} access to ${id}`);
        } else if (sub === "revoke") {
          await s.access.revokeGrant(repo, requireArg(args, 1, "user"));
          out(`revoked ${args[1]}'s access to ${id}`);
        } else if (sub === "list") {
          for (const g of await s.access.listGrants(repo)) out(`${g.account_name}\t${g.status}\t${g.created_at}`);
        } else throw new AgoraError("BadRequest", `unknown access command ${sub ?? ""}: use grant, revoke or list`);
        return 0;
      });
    case "repo":
      return withServices(flags, async (s) => {
        if (sub !== "create") throw new AgoraError("BadRequest", "unknown repo command: use create");
        const { type, id } = repoArg(requireArg(args, 0, "repository id"), flags.type);
        const gated = flags.gated === undefined ? undefined : flags.gated;
        if (gated !== undefined && gated !== "auto" && gated !== "manual") throw new AgoraError("BadRequest", "--gated must be auto or manual");
        const [namespace, name] = id.includes("/") ? id.split("/", 2) : ["", id];
        await s.repos.createUnchecked(type, namespace, name, { private: flags.private === true, gated: gated as "auto" | "manual" | undefined });
        out(`created ${type} ${id}`);
        return 0;
      });
    case "policy":
      return withServices(flags, async (s) => {
        if (sub !== "check") throw new AgoraError("BadRequest", "unknown policy command: use check");
        const { type, id } = repoArg(requireArg(args, 0, "repository"), flags.type);
        const result = await policyCheck(s, type, id, typeof flags.revision === "string" ? flags.revision : "main");
        if (flags.json) out(JSON.stringify(result, null, 2));
        else for (const line of formatPolicyCheck(result)) out(line);
        return result.decision.allowed ? 0 : 3;
      });
    case "mirror":
      return withServices(flags, async (s) => {
        if (sub === "status") return mirrorStatus(s, out, { json: flags.json === true });
        if (sub === "import") return mirrorImport(s, requireArg(args, 0, "archive file"), out);
        if (sub !== "prefetch" && sub !== "pin" && sub !== "unpin" && sub !== "export") throw new AgoraError("BadRequest", "unknown mirror command: use status, prefetch, pin, unpin, export or import");
        const spec = requireArg(args, 0, "repository");
        const at = spec.lastIndexOf("@");
        const { type, id } = repoArg(at > 0 ? spec.slice(0, at) : spec, flags.type);
        if (sub === "pin") return mirrorPin(s, { type, id, rev: at > 0 ? spec.slice(at + 1) : "main" }, out);
        if (sub === "unpin") return mirrorUnpin(s, { type, id, rev: at > 0 ? spec.slice(at + 1) : "main" }, out);
        if (sub === "export") {
          const options = { ignoreLicensePolicy: flags["ignore-license-policy"] === true };
          return mirrorExport(s, { type, id, rev: at > 0 ? spec.slice(at + 1) : "main" }, requireArg(args, 1, "archive file"), options, out);
        }
        return mirrorPrefetch(s, { type, id, rev: at > 0 ? spec.slice(at + 1) : "main" }, (flags.include as string[] | undefined) ?? [], out);
      });
    case "gc":
      if (sub) throw new AgoraError("BadRequest", `gc takes no argument (got ${sub})`);
      return withServices(flags, (s) => gc(s, { olderThan: flags["older-than"] as string | undefined, dryRun: flags["dry-run"] === true, json: flags.json === true }, out));
    case "inspect":
      return inspect(requireArg(positionals, 1, "path to a model file or folder"), { json: flags.json === true }, out, (line) => console.error(line));
    case "fit": {
      const text = (name: keyof typeof flags) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);
      const config = configFrom(flags);
      return fit(
        {
          target: positionals[1],
          listHardware: flags["list-hardware"] === true,
          hardware: text("hardware"),
          hardwareFile: text("hardware-file"),
          memory: text("memory"),
          bandwidth: text("bandwidth"),
          context: text("context"),
          precision: text("precision"),
          runtime: text("runtime"),
          kvCache: text("kv-cache"),
          revision: text("revision"),
          json: flags.json === true,
        },
        { configuredHardwareFile: config.hardwareProfiles, dataDir: config.dataDir, withServices: (work) => withServices(flags, work) },
        out,
        (line) => console.error(line),
      );
    }
    default:
      console.error(`agora: unknown command ${command}\n\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof AgoraError) console.error(`agora: ${error.message}`);
    else if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) console.error(`agora: ${(error as Error).message}\n\n${USAGE}`);
    else console.error(error);
    process.exitCode = 1;
  },
);
