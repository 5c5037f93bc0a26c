// `agora fit PATH|REPO (--hardware NAME | --memory GB --bandwidth GBps) [--context N]
// [--precision P] [--runtime native|eager-python] [--kv-cache 16|8] [--json]` and
// `agora fit --list-hardware`: whether a model fits a machine and how fast it decodes there.
//
// PATH is a config.json or a model folder; a folder's safetensors or GGUF headers (read by
// `agora inspect`'s buildReport) replace the config estimate of the parameter counts when present,
// and a GGUF file adds its own bits per weight as a row. REPO (ns/name) is read from the hub's
// data directory through the services. The estimate itself is src/models/fit.ts.

import fs from "node:fs";
import path from "node:path";
import { AgoraError } from "../errors.ts";
import { analyzeConfig, isAnalysisError } from "../models/config-analysis.ts";
import {
  estimateAllPrecisions,
  estimateFit,
  GIB,
  precisionByName,
  PRECISIONS,
  RUNTIMES,
  type FitEstimate,
  type KvCacheBits,
  type Precision,
  type RuntimeClass,
} from "../models/fit.ts";
import {
  BUILTIN_HARDWARE_PROFILES,
  findProfile,
  hostUsableMemoryGB,
  loadHardwareProfilesFile,
  mergeProfiles,
  usableMemoryGB,
  type HardwareProfile,
} from "../models/hardware-profiles.ts";
import type { ConfigAnalysis } from "../models/types.ts";
import type { Services } from "../services/index.ts";
import { buildReport, formatCount } from "./inspect.ts";

type Out = (line: string) => void;

export type FitCommandOptions = {
  target?: string;
  listHardware: boolean;
  hardware?: string;
  /** --hardware-file; wins over the configured file. */
  hardwareFile?: string;
  memory?: string;
  bandwidth?: string;
  context?: string;
  precision?: string;
  runtime?: string;
  kvCache?: string;
  revision?: string;
  json: boolean;
};

export type FitDeps = {
  /** The `hardwareProfiles` setting ($AGORA_HARDWARE_PROFILES), if any. */
  configuredHardwareFile?: string;
  /** The hub's data directory, checked before opening it for REPO targets. */
  dataDir?: string;
  /** Opens the hub's services for REPO targets. */
  withServices: <T>(work: (services: Services) => Promise<T>) => Promise<T>;
};

/** config.json files are a few KB; anything this large is not one. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const DEFAULT_CONTEXT = 8192;
const MAX_CONTEXT = 100_000_000;

class FitError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function fit(options: FitCommandOptions, deps: FitDeps, out: Out, err: Out): Promise<number> {
  try {
    const profiles = loadProfiles(options, deps);
    if (options.listHardware) {
      listHardware(profiles, options.json, out);
      return 0;
    }
    if (!options.target) throw new FitError("usage", "missing a model: agora fit PATH|REPO --hardware NAME (or --list-hardware)");
    const hardware = chooseHardware(options, profiles);
    const runtime = parseRuntime(options.runtime);
    const kvCacheBits = parseKvCache(options.kvCache);
    const model = await loadModel(options.target, options.revision ?? "main", deps);
    const context = parseContext(options.context, model.analysis.context.length);

    let estimates: FitEstimate[];
    if (options.precision !== undefined) {
      const precision = model.filePrecision && options.precision.toLowerCase() === "file" ? model.filePrecision : precisionByName(options.precision);
      if (!precision) throw new FitError("bad-precision", `unknown precision "${options.precision}": use one of ${listPrecisions()}, "file" for a folder's GGUF, or a number of bits per weight`);
      estimates = [estimateFit(model.analysis, hardware, { precision, context, runtime, kvCacheBits })];
    } else {
      estimates = estimateAllPrecisions(model.analysis, hardware, { context, runtime, kvCacheBits });
      if (model.filePrecision) estimates.push(estimateFit(model.analysis, hardware, { precision: model.filePrecision, context, runtime, kvCacheBits }));
    }

    if (options.json) out(JSON.stringify(jsonReport(model, hardware, context, runtime, kvCacheBits, estimates), null, 2));
    else for (const line of summary(model, hardware, context, runtime, kvCacheBits, estimates)) out(line);
    return 0;
  } catch (error) {
    let code: string;
    let message: string;
    if (error instanceof FitError) ({ code, message } = error);
    else if (error instanceof AgoraError) {
      code = error.code;
      message = error.message;
    } else throw error;
    if (options.json) out(JSON.stringify({ error: { code, message } }));
    err(`agora: fit: ${message}`);
    return 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Hardware
// ---------------------------------------------------------------------------------------------

function loadProfiles(options: FitCommandOptions, deps: FitDeps): HardwareProfile[] {
  const file = options.hardwareFile ?? (deps.configuredHardwareFile || undefined);
  if (!file) return [...BUILTIN_HARDWARE_PROFILES];
  const result = loadHardwareProfilesFile(file);
  if (!result.ok) throw new FitError("bad-hardware-file", `invalid hardware profiles:\n  - ${result.errors.join("\n  - ")}`);
  return mergeProfiles(result.profiles);
}

function positiveNumber(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(value > 0)) throw new FitError("usage", `${flag} must be a positive number (got "${text}")`);
  return value;
}

function chooseHardware(options: FitCommandOptions, profiles: HardwareProfile[]): HardwareProfile {
  const adHoc = options.memory !== undefined || options.bandwidth !== undefined;
  if (adHoc && options.hardware) throw new FitError("usage", "use either --hardware NAME or --memory GB --bandwidth GBps, not both");
  if (adHoc) {
    if (options.memory === undefined || options.bandwidth === undefined) throw new FitError("usage", "--memory and --bandwidth go together (accelerator memory in GB, bandwidth in GB/s)");
    const memoryGB = positiveNumber(options.memory, "--memory");
    const bandwidthGBps = positiveNumber(options.bandwidth, "--bandwidth");
    return { id: "custom", name: `custom accelerator (${memoryGB} GB, ${bandwidthGBps} GB/s)`, kind: "gpu", memoryGB, bandwidthGBps };
  }
  if (!options.hardware) throw new FitError("usage", "choose the hardware: --hardware NAME (agora fit --list-hardware shows the names) or --memory GB --bandwidth GBps");
  const profile = findProfile(profiles, options.hardware);
  if (profile) return profile;
  const wanted = options.hardware.toLowerCase();
  const close = profiles.filter((p) => p.id.includes(wanted) || wanted.includes(p.id) || p.name.toLowerCase().includes(wanted)).map((p) => p.id);
  throw new FitError("unknown-hardware", `unknown hardware "${options.hardware}"${close.length ? `; did you mean ${close.slice(0, 6).join(", ")}?` : ""} (agora fit --list-hardware shows all)`);
}

function listHardware(profiles: HardwareProfile[], json: boolean, out: Out): void {
  const builtin = new Set(BUILTIN_HARDWARE_PROFILES);
  if (json) {
    out(JSON.stringify({ profiles: profiles.map((p) => ({ ...p, usableMemoryGB: usableMemoryGB(p), builtin: builtin.has(p) })) }, null, 2));
    return;
  }
  const rows = profiles.map((p) => [
    p.id,
    p.kind,
    `${(p.devices ?? 1) > 1 ? `${p.devices}x` : ""}${p.memoryGB} GB`,
    `${round1(usableMemoryGB(p))} GB`,
    `${p.bandwidthGBps} GB/s`,
    p.host ? `${p.host.memoryGB} GB @ ${p.host.bandwidthGBps} GB/s` : "-",
    p.name + (builtin.has(p) ? "" : " (from file)"),
  ]);
  for (const line of table(["ID", "KIND", "MEMORY", "USABLE", "BANDWIDTH", "HOST RAM", "NAME"], rows, [false, false, true, true, true, false, false])) out(line);
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

function parseRuntime(text: string | undefined): RuntimeClass {
  if (text === undefined) return "native";
  if (text === "native" || text === "eager-python") return text;
  throw new FitError("usage", `--runtime must be native or eager-python (got "${text}")`);
}

function parseKvCache(text: string | undefined): KvCacheBits {
  if (text === undefined || text === "16" || text === "f16" || text === "16-bit") return 16;
  if (text === "8" || text === "q8_0" || text === "fp8" || text === "8-bit") return 8;
  throw new FitError("usage", `--kv-cache must be 16 or 8 (got "${text}")`);
}

/** --context N (also "32k" = 32768); default 8192, or the model's own length when shorter. */
function parseContext(text: string | undefined, modelLength: number | null): number {
  if (text === undefined) return modelLength && modelLength < DEFAULT_CONTEXT ? modelLength : DEFAULT_CONTEXT;
  const match = /^(\d+)(k)?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * (match[2] ? 1024 : 1) : NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_CONTEXT) throw new FitError("usage", `--context must be a whole number of tokens from 1 to ${MAX_CONTEXT} (got "${text}")`);
  return value;
}

function listPrecisions(): string {
  return PRECISIONS.map((p) => p.name).join(", ");
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

type LoadedModel = {
  source: string;
  /** Where parameters.* came from. */
  parameterSource: "config" | "safetensors" | "gguf";
  analysis: ConfigAnalysis;
  /** A folder's GGUF file as a precision of its own. */
  filePrecision: Precision | null;
  notes: string[];
};

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

async function loadModel(target: string, revision: string, deps: FitDeps): Promise<LoadedModel> {
  let stat: fs.Stats | undefined;
  try {
    stat = await fs.promises.stat(target);
  } catch {
    stat = undefined;
  }
  if (stat) return loadLocal(target, stat);
  if (REPO_ID.test(target)) return loadFromHub(target, revision, deps);
  throw new FitError("not-found", `${target} is neither a file or folder nor a repository id (ns/name)`);
}

function analysed(config: unknown, where: string): ConfigAnalysis {
  const result = analyzeConfig(config);
  if (isAnalysisError(result)) throw new FitError("bad-config", `${where}: ${result.error}`);
  return result;
}

function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new FitError("not-json", `${where} is not valid JSON`);
  }
}

async function readConfigFile(file: string): Promise<unknown> {
  const { size } = await fs.promises.stat(file);
  if (size > MAX_CONFIG_BYTES) throw new FitError("too-large", `${file} has ${size} bytes; more than ${MAX_CONFIG_BYTES} is not a config.json`);
  return parseJson(await fs.promises.readFile(file), file);
}

async function loadLocal(target: string, stat: fs.Stats): Promise<LoadedModel> {
  if (stat.isFile()) {
    if (!target.endsWith(".json")) throw new FitError("needs-config", `${target}: fit reads a config.json (or a folder holding one); the KV cache shape comes from it`);
    return { source: target, parameterSource: "config", analysis: analysed(await readConfigFile(target), target), filePrecision: null, notes: [] };
  }
  const configFile = path.join(target, "config.json");
  if (!fs.existsSync(configFile)) throw new FitError("needs-config", `${target} holds no config.json; fit needs it for the attention and KV cache shape`);
  const analysis = analysed(await readConfigFile(configFile), configFile);
  const notes: string[] = [];
  let parameterSource: LoadedModel["parameterSource"] = "config";
  let filePrecision: Precision | null = null;
  try {
    // Exact counts from the weights' headers when the folder has them (inspect's reader).
    const report = await buildReport(target);
    if (report.parameterSource !== "config") {
      analysis.parameters = report.parameters;
      parameterSource = report.parameterSource;
      notes.push(`parameters counted from the ${report.parameterSource} headers`);
      // inspect's note when the headers and config.json disagree by more than 1%.
      notes.push(...report.notes.filter((n) => n.startsWith("config.json estimates")));
    }
    if (report.gguf?.bitsPerWeight) {
      const name = `${report.gguf.fileType ?? "GGUF"} (file)`;
      filePrecision = { name, bitsPerWeight: report.gguf.bitsPerWeight, expertBitsPerWeight: null, source: "average bits per weight of the folder's GGUF file" };
    }
  } catch (error) {
    notes.push(`weights headers not used (${(error as Error).message}); parameters estimated from config.json`);
  }
  return { source: target, parameterSource, analysis, filePrecision, notes };
}

async function loadFromHub(id: string, revision: string, deps: FitDeps): Promise<LoadedModel> {
  // Opening the services would create an empty hub; a mistyped path must not do that.
  if (deps.dataDir !== undefined && !fs.existsSync(deps.dataDir)) throw new FitError("not-found", `${id} is not a local path, and there is no hub data directory at ${deps.dataDir} to look it up in (--data DIR)`);
  const config = await deps.withServices(async (services) => {
    const repo = await services.repos.find("model", id);
    if (!repo) throw new FitError("RepoNotFound", `model repository ${id} not found in the hub's data directory`);
    const { commit } = await services.files.resolveRevision(repo, revision);
    const entry = await services.files.fileEntry(repo, commit, "config.json");
    if (entry.lfs) throw new FitError("bad-config", `${id}@${revision}: config.json is stored in LFS; a config.json is a small regular file`);
    if (entry.blobSize > MAX_CONFIG_BYTES) throw new FitError("too-large", `${id}@${revision}: config.json has ${entry.blobSize} bytes`);
    return parseJson(await services.files.readRegularFile(repo, entry), `${id}@${revision}: config.json`);
  });
  return { source: `${id}@${revision}`, parameterSource: "config", analysis: analysed(config, `${id}: config.json`), filePrecision: null, notes: [] };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const gb = (bytes: number) => `${(bytes / GIB).toFixed(bytes >= 100 * GIB ? 0 : bytes >= 10 * GIB ? 1 : 2)}`;
const round1 = (n: number) => Math.round(n * 10) / 10;
const speed = (e: FitEstimate) => (e.speed.tokensPerSecond === null ? "-" : e.speed.tokensPerSecond >= 100 ? e.speed.tokensPerSecond.toFixed(0) : e.speed.tokensPerSecond.toFixed(1));

function table(header: string[], rows: string[][], right: boolean[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

function describeModel(model: LoadedModel): string {
  const a = model.analysis;
  const p = a.parameters;
  const kind = a.architecture.moe ? `MoE, ${formatCount(p.total)} parameters, ${formatCount(p.active)} active` : `dense, ${formatCount(p.total)} parameters`;
  return `${model.source}: ${a.architecture.family} (${kind}; ${formatCount(p.activeRead)} read per token)`;
}

function describeHardware(h: HardwareProfile): string {
  const devices = h.devices ?? 1;
  const memory = `${devices > 1 ? `${devices} x ` : ""}${h.memoryGB} GB ${h.kind === "gpu" ? "VRAM" : h.kind === "unified" ? "unified" : "RAM"}`;
  const usable = usableMemoryGB(h);
  const host = h.kind === "gpu" && h.host ? `; host RAM ${h.host.memoryGB} GB (${round1(hostUsableMemoryGB(h.host))} usable) at ${h.host.bandwidthGBps} GB/s` : "";
  return `${h.name}: ${memory} (${round1(usable)} GB usable) at ${h.bandwidthGBps} GB/s${host}`;
}

function summary(model: LoadedModel, hardware: HardwareProfile, context: number, runtime: RuntimeClass, kvBits: KvCacheBits, estimates: FitEstimate[]): string[] {
  const info = RUNTIMES[runtime];
  const lines = [
    describeModel(model),
    `hardware: ${describeHardware(hardware)}`,
    `context: ${context} tokens, ${kvBits}-bit KV cache; runtime ${runtime} (efficiency ${info.efficiency} of peak bandwidth)`,
    "",
  ];
  if (estimates.length === 1) {
    const e = estimates[0];
    const m = e.memory;
    lines.push(`precision: ${e.precision.name} (${e.precision.bitsPerWeight}${e.precision.expertBitsPerWeight !== null ? ` bits per weight, routed experts ${e.precision.expertBitsPerWeight}` : " bits per weight"})`);
    lines.push(`memory: ${gb(m.weightsBytes)} GB weights + ${gb(m.kvCache.bytes)} GB KV cache + ${gb(m.overheadBytes)} GB overhead = ${gb(m.totalBytes)} GB (${gb(m.acceleratorUsableBytes)} GB usable${m.hostUsableBytes !== null ? `, ${gb(m.hostUsableBytes)} GB host RAM` : ""})`);
    lines.push(`verdict: ${e.verdict}`);
    if (e.speed.tokensPerSecond !== null) lines.push(`decode: about ${speed(e)} tokens/s (${gb(e.speed.bytesPerToken)} GB read per token${e.speed.hostBytesPerToken > 0 ? `, ${gb(e.speed.hostBytesPerToken)} GB of it from host RAM` : ""})`);
  } else {
    const rows = estimates.map((e) => [
      e.precision.name,
      e.precision.expertBitsPerWeight !== null ? `${e.precision.expertBitsPerWeight}/${e.precision.bitsPerWeight}` : String(round2(e.precision.bitsPerWeight)),
      gb(e.memory.weightsBytes),
      gb(e.memory.kvCache.bytes),
      gb(e.memory.overheadBytes),
      gb(e.memory.totalBytes),
      e.verdict,
      speed(e),
    ]);
    lines.push(...table(["PRECISION", "BITS/W", "WEIGHTS GB", "KV GB", "OVERHEAD GB", "TOTAL GB", "VERDICT", "TOKENS/S"], rows, [false, true, true, true, true, true, false, true]));
  }
  const notes = [...new Set([...model.notes, ...estimates.flatMap((e) => e.notes.filter((n) => !/of the (routed experts|layers) run/.test(n) || estimates.length === 1))])];
  if (estimates.length > 1 && estimates.some((e) => e.precision.expertBitsPerWeight !== null)) notes.push("MXFP4_MOE: routed experts at 4.25 bits per weight, everything else at 8.5 (BITS/W shows both)");
  if (estimates.length > 1 && estimates.some((e) => e.verdict === "fits-with-offload")) notes.push("fits-with-offload: weights that do not fit spill to host RAM (routed experts first for MoE models); speed counts the host part at host bandwidth");
  if (lines.length && notes.length) lines.push("");
  for (const note of notes) lines.push(`note: ${note}`);
  lines.push("note: estimates, not measurements: decode speed = efficiency x bandwidth / bytes read per token (docs/fit.md)");
  return lines;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function jsonReport(model: LoadedModel, hardware: HardwareProfile, context: number, runtime: RuntimeClass, kvBits: KvCacheBits, estimates: FitEstimate[]) {
  const a = model.analysis;
  return {
    model: {
      source: model.source,
      parameterSource: model.parameterSource,
      family: a.architecture.family,
      moe: a.architecture.moe,
      parameters: { total: a.parameters.total, active: a.parameters.active, activeRead: a.parameters.activeRead },
      attention: a.attention,
      contextLength: a.context.length,
      confidence: a.confidence,
    },
    hardware: { ...hardware, usableMemoryGB: usableMemoryGB(hardware) },
    context,
    runtime: RUNTIMES[runtime],
    kvCacheBits: kvBits,
    estimates: estimates.map((e) => ({
      precision: e.precision,
      verdict: e.verdict,
      tokensPerSecond: e.speed.tokensPerSecond === null ? null : round2(e.speed.tokensPerSecond),
      memory: {
        weightsGB: round2(e.memory.weightsBytes / GIB),
        kvCacheGB: round2(e.memory.kvCache.bytes / GIB),
        overheadGB: round2(e.memory.overheadBytes / GIB),
        totalGB: round2(e.memory.totalBytes / GIB),
        usableGB: round2(e.memory.acceleratorUsableBytes / GIB),
        hostUsableGB: e.memory.hostUsableBytes === null ? null : round2(e.memory.hostUsableBytes / GIB),
        bytes: { weights: e.memory.weightsBytes, kvCache: e.memory.kvCache, overhead: e.memory.overheadBytes, total: e.memory.totalBytes },
      },
      placement: e.placement,
      speed: e.speed,
      notes: e.notes,
    })),
    notes: model.notes,
  };
}
