// `agora inspect PATH [--json]`: what a model is, from its files. PATH is a config.json, a
// .safetensors file, a model.safetensors.index.json (with its shards beside it), a .gguf file,
// or a directory holding them. Files are read by byte ranges only (headers, never weights), so
// inspecting a folder of multi-GB checkpoints costs a few small reads per file.
//
// Exact counts from safetensors headers win over GGUF headers, which win over the estimate from
// config.json; the output says which was used.

import fs from "node:fs";
import path from "node:path";
import { analyzeConfig, isAnalysisError } from "../models/config-analysis.ts";
import { analyzeGguf, readGgufFile, type GgufAnalysis, type GgufFile } from "../models/gguf.ts";
import { quantizationFromConfig } from "../models/quantization.ts";
import {
  combineSafetensorsShards,
  MAX_SAFETENSORS_INDEX,
  parseSafetensorsIndex,
  readSafetensorsHeader,
  readShardedSafetensors,
  safetensorsParameterCounts,
  type ByteSource,
  type DtypeCount,
  type SafetensorsHeader,
  type SafetensorsModel,
} from "../models/safetensors.ts";
import { BREAKDOWN_KEYS, type ConfigAnalysis, type ParameterCounts, type QuantizationInfo } from "../models/types.ts";

/** config.json files are a few KB; anything this large is not one. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** No single read of the analysers is larger than a bounded header; refuse anything else. */
const MAX_SINGLE_READ = 64 * 1024 * 1024;

export type InspectOptions = { json: boolean };
type Out = (line: string) => void;

class InspectError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly file?: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Byte-range file access
// ---------------------------------------------------------------------------------------------

type OpenFile = ByteSource & { close(): Promise<void> };

async function openFile(file: string): Promise<OpenFile> {
  const handle = await fs.promises.open(file, "r");
  const { size } = await handle.stat();
  return {
    size,
    async read(start: number, endInclusive: number): Promise<Buffer> {
      const end = Math.min(endInclusive, size - 1);
      const length = Math.max(0, end - start + 1);
      if (length > MAX_SINGLE_READ) throw new Error(`refusing to read ${length} bytes at once`);
      const buffer = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, start + done);
        if (bytesRead === 0) break; // the file shrank under us: return what there is
        done += bytesRead;
      }
      return buffer.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

async function withFile<T>(file: string, work: (source: ByteSource) => Promise<T>): Promise<T> {
  const source = await openFile(file);
  try {
    return await work(source);
  } finally {
    await source.close();
  }
}

/** A small JSON file (config, index), read whole but only below a bound. */
async function readSmallJson(file: string, limit: number): Promise<unknown> {
  return withFile(file, async (source) => {
    if (source.size > limit) throw new InspectError("too-large", `${path.basename(file)} has ${source.size} bytes; more than ${limit} is not a ${path.basename(file)}`, file);
    const bytes = await source.read(0, source.size - 1);
    try {
      return JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new InspectError("not-json", `${path.basename(file)} is not valid JSON`, file);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Finding the files
// ---------------------------------------------------------------------------------------------

type Plan = {
  dir: string;
  config: string | null;
  index: string | null;
  safetensors: string[];
  gguf: string[];
  note?: string | null;
};

const isIndexName = (name: string) => name.endsWith(".safetensors.index.json");

async function plan(target: string): Promise<Plan> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(target);
  } catch {
    throw new InspectError("not-found", `${target} does not exist`);
  }
  if (stat.isDirectory()) {
    const names = (await fs.promises.readdir(target, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    const indexes = names.filter(isIndexName);
    const index = indexes.includes("model.safetensors.index.json") ? "model.safetensors.index.json" : (indexes[0] ?? null);
    let safetensors = names.filter((n) => n.endsWith(".safetensors"));
    // Mistral repositories ship the same weights twice (consolidated.safetensors and HF shards)
    if (safetensors.some((n) => !n.startsWith("consolidated"))) safetensors = safetensors.filter((n) => !n.startsWith("consolidated"));
    return {
      dir: target,
      config: names.includes("config.json") ? path.join(target, "config.json") : null,
      index: index ? path.join(target, index) : null,
      safetensors: index ? [] : safetensors.map((n) => path.join(target, n)),
      gguf: names.filter((n) => n.endsWith(".gguf")).map((n) => path.join(target, n)),
    };
  }
  const dir = path.dirname(target);
  const name = path.basename(target);
  const beside = path.join(dir, "config.json");
  const configBeside = fs.existsSync(beside) ? beside : null;
  if (name.endsWith(".gguf")) return { dir, config: null, index: null, safetensors: [], gguf: [target] };
  if (name.endsWith(".safetensors")) {
    const shard = /-\d{5}-of-(\d{5})\.safetensors$/.exec(name);
    const note = shard && fs.existsSync(path.join(dir, "model.safetensors.index.json")) ? `${name} is one of ${Number(shard[1])} shards: inspect the folder or its index for the whole model` : null;
    return { dir, config: configBeside, index: null, safetensors: [target], gguf: [], note };
  }
  if (isIndexName(name)) return { dir, config: configBeside, index: target, safetensors: [], gguf: [] };
  if (name.endsWith(".json")) return { dir, config: target, index: null, safetensors: [], gguf: [] };
  throw new InspectError("unsupported", `${name} is not a config.json, .safetensors, .safetensors.index.json or .gguf file`);
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/** What the counting of tensors needs from a config, read directly when the analyser gives nothing. */
type ConfigFacts = {
  experts: number | null;
  expertsPerToken: number | null;
  sharedExperts: number | null;
  layers: number | null;
  tiedEmbeddings: boolean | null;
  contextLength: number | null;
  modelType: string | null;
};

function basicConfigFacts(config: unknown): ConfigFacts {
  const root = (config && typeof config === "object" && !Array.isArray(config) ? config : {}) as Record<string, unknown>;
  const text = (root.text_config && typeof root.text_config === "object" ? root.text_config : root) as Record<string, unknown>;
  const int = (...keys: string[]): number | null => {
    for (const key of keys) {
      const v = Object.prototype.hasOwnProperty.call(text, key) ? text[key] : root[key];
      if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
    }
    return null;
  };
  const tie = text.tie_word_embeddings ?? root.tie_word_embeddings;
  return {
    experts: int("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", "num_routed_experts"),
    expertsPerToken: int("num_experts_per_tok", "num_experts_per_token", "moe_topk", "top_k", "moe_k"),
    sharedExperts: int("n_shared_experts", "num_shared_experts", "shared_expert_count"),
    layers: int("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    tiedEmbeddings: typeof tie === "boolean" ? tie : null,
    contextLength: int("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"),
    modelType: typeof root.model_type === "string" ? root.model_type : null,
  };
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

type Source = { kind: "config" | "safetensors" | "gguf"; files: string[]; detail?: string };

export type InspectReport = {
  path: string;
  /** Where parameters.* came from. */
  parameterSource: "safetensors" | "gguf" | "config";
  parameters: ParameterCounts;
  architecture: {
    family: string;
    modelType: string | null;
    moe: boolean;
    experts: number | null;
    expertsPerToken: number | null;
    sharedExperts: number | null;
    layers: number | null;
    hiddenSize: number | null;
    vocabSize: number | null;
    mtpLayers: number;
    modalities: string[];
  };
  context: { length: number | null };
  sources: Source[];
  /** Safetensors: dtype -> tensors, stored elements, parameters, bytes. */
  dtypes: Record<string, DtypeCount> | null;
  quantization: QuantizationInfo | null;
  gguf: {
    architecture: string | null;
    fileType: string | null;
    bitsPerWeight: number | null;
    quantizationMix: GgufAnalysis["quantizationMix"];
    files: number;
  } | null;
  /** The config.json estimate, when counts came from weights headers. */
  configEstimate: { total: number; active: number; confidence: string } | null;
  notes: string[];
};

export async function inspect(target: string, options: InspectOptions, out: Out, err: Out): Promise<number> {
  try {
    const report = await buildReport(target);
    if (options.json) out(JSON.stringify(report, null, 2));
    else for (const line of summary(report)) out(line);
    return 0;
  } catch (caught) {
    // file system failures (permissions, a folder vanishing) are reported like format errors
    const system = caught instanceof Error && typeof (caught as NodeJS.ErrnoException).code === "string" && !(caught instanceof InspectError);
    if (!(caught instanceof InspectError) && !system) throw caught;
    const error = caught instanceof InspectError ? caught : new InspectError("read-failed", (caught as Error).message);
    const where = error.file ? `${path.basename(error.file)}: ` : "";
    if (options.json) out(JSON.stringify({ error: { code: error.code, message: error.message, file: error.file ?? null } }));
    err(`agora: inspect: ${where}${error.message} (${error.code})`);
    return 1;
  }
}

export async function buildReport(target: string): Promise<InspectReport> {
  const files = await plan(target);
  const notes: string[] = files.note ? [files.note] : [];
  const sources: Source[] = [];
  const rel = (file: string) => path.relative(files.dir, file) || path.basename(file);

  // config.json
  let config: unknown = null;
  let analysis: ConfigAnalysis | null = null;
  if (files.config) {
    try {
      config = await readSmallJson(files.config, MAX_CONFIG_BYTES);
    } catch (error) {
      // a broken config next to weights does not hide what the weights say
      if (!(error instanceof InspectError) || path.resolve(files.config) === path.resolve(target)) throw error;
      notes.push(`config.json ignored: ${error.message}`);
      config = null;
    }
  }
  if (files.config && config !== null) {
    const result = analyzeConfig(config);
    if (isAnalysisError(result)) notes.push(`config.json: ${result.error}`);
    else analysis = result;
    sources.push({ kind: "config", files: [rel(files.config)], detail: analysis ? `${analysis.confidence}-confidence estimate` : "read for expert and layer counts" });
  }
  const facts = basicConfigFacts(config);
  const arch = analysis?.architecture;
  const experts = arch?.experts ?? facts.experts;
  const expertsPerToken = arch?.expertsPerToken ?? facts.expertsPerToken;
  const quantization = config !== null ? (quantizationFromConfig(config) ?? analysis?.quantization ?? null) : null;
  const countOptions = {
    experts,
    expertsPerToken,
    layers: arch?.layers ?? facts.layers,
    tiedEmbeddings: arch?.tiedEmbeddings ?? facts.tiedEmbeddings,
  };

  // safetensors
  let model: SafetensorsModel | null = null;
  if (files.index) {
    const indexPath = files.index;
    const index = await withFile(indexPath, async (source) => {
      if (source.size > MAX_SAFETENSORS_INDEX) throw new InspectError("index-too-large", `the index has ${source.size} bytes; indexes over ${MAX_SAFETENSORS_INDEX} are refused`, indexPath);
      return parseSafetensorsIndex(await source.read(0, source.size - 1));
    });
    if (!index.ok) throw new InspectError(index.code, index.error, indexPath);
    const present = await Promise.all(index.files.map((f) => fs.promises.stat(path.join(path.dirname(indexPath), f)).then(() => true, () => false)));
    if (present.every(Boolean)) {
      // shards are read one after the other: one open file at a time, even for hundreds of shards
      let current: OpenFile | null = null;
      try {
        const result = await readShardedSafetensors(index, async (file) => {
          await current?.close();
          current = null;
          current = await openFile(path.join(path.dirname(indexPath), file));
          return current;
        }, { quantization });
        if (!result.ok) throw new InspectError(result.code, result.error, indexPath);
        model = result;
      } finally {
        await (current as OpenFile | null)?.close();
      }
      sources.push({ kind: "safetensors", files: [rel(indexPath), ...index.files], detail: `${model.tensors.length} tensors in ${index.files.length} shards` });
    } else {
      notes.push(`${index.files.length - present.filter(Boolean).length} of the ${index.files.length} shards named by ${path.basename(indexPath)} are absent: no exact counts from weights`);
    }
  } else if (files.safetensors.length) {
    const shards: { file: string; header: SafetensorsHeader }[] = [];
    for (const file of files.safetensors) {
      const header = await withFile(file, (source) => readSafetensorsHeader(source.read, source.size, { quantization }));
      if (!header.ok) throw new InspectError(header.code, header.error, file);
      shards.push({ file: rel(file), header });
    }
    const combined = combineSafetensorsShards(shards, null, { quantization });
    if (!combined.ok) throw new InspectError(combined.code, combined.error);
    model = combined;
    sources.push({ kind: "safetensors", files: shards.map((s) => s.file), detail: `${model.tensors.length} tensors` });
  }
  if (model) notes.push(...model.notes);

  // gguf
  let ggufAnalysis: GgufAnalysis | null = null;
  if (files.gguf.length) {
    const parsed: { file: string; gguf: GgufFile }[] = [];
    for (const file of files.gguf) {
      const result = await withFile(file, (source) => readGgufFile(source.read, source.size));
      if (!result.ok) throw new InspectError(result.code, result.error, file);
      parsed.push({ file, gguf: result });
    }
    const groups = ggufGroups(parsed);
    ggufAnalysis = analyzeGguf(groups[0].map((p) => p.gguf));
    sources.push({ kind: "gguf", files: groups[0].map((p) => rel(p.file)), detail: ggufAnalysis.fileType?.name ?? undefined });
    notes.push(...ggufAnalysis.notes);
    for (const other of groups.slice(1)) {
      const a = analyzeGguf(other.map((p) => p.gguf));
      notes.push(`also ${other.map((p) => rel(p.file)).join(", ")}: ${a.fileType?.name ?? a.architecture ?? "GGUF"}, ${formatCount(a.parameters.total)} parameters, ${a.bitsPerWeight ?? "?"} bits per weight`);
    }
  }

  // which counts
  let parameterSource: InspectReport["parameterSource"];
  let parameters: ParameterCounts;
  let mtpLayers = 0;
  let expertsSeen: number | null = null;
  if (model) {
    const counted = safetensorsParameterCounts(model, countOptions);
    parameterSource = "safetensors";
    parameters = counted.parameters;
    mtpLayers = counted.mtpLayers.length;
    expertsSeen = counted.expertsSeen;
    notes.push(...counted.notes);
  } else if (ggufAnalysis) {
    parameterSource = "gguf";
    parameters = ggufAnalysis.parameters;
    mtpLayers = ggufAnalysis.mtpLayers.length;
  } else if (analysis) {
    parameterSource = "config";
    parameters = analysis.parameters;
    mtpLayers = analysis.architecture.mtpLayers;
  } else {
    throw new InspectError("nothing-to-inspect", files.config ? "config.json was not recognised and no weights headers were found" : `no config.json, .safetensors or .gguf file in ${target}`);
  }
  if (analysis && parameterSource !== "config") {
    const estimate = analysis.parameters.total;
    const exact = parameters.total;
    if (exact > 0 && Math.abs(estimate - exact) / exact > 0.01) notes.push(`config.json estimates ${formatCount(estimate)} parameters, the ${parameterSource} headers hold ${formatCount(exact)}`);
  }

  const ggufExperts = ggufAnalysis && !model ? ggufAnalysis : null;
  const moeExperts = experts ?? ggufExperts?.experts ?? expertsSeen;
  const moe = Boolean((moeExperts && moeExperts > 1) || parameters.breakdown.experts > 0 || arch?.moe);
  const modalities = arch?.modalities ?? ["text", ...(parameters.breakdown.vision > 0 ? ["vision"] : []), ...(parameters.breakdown.audio > 0 ? ["audio"] : [])];

  return {
    path: target,
    parameterSource,
    parameters: { total: parameters.total, active: parameters.active, activeRead: parameters.activeRead, breakdown: normalisedBreakdown(parameters) },
    architecture: {
      family: arch?.family ?? facts.modelType ?? ggufAnalysis?.architecture ?? "unknown",
      modelType: arch?.modelType ?? facts.modelType ?? null,
      moe,
      experts: moe ? (moeExperts ?? null) : null,
      expertsPerToken: moe ? (expertsPerToken ?? ggufAnalysis?.expertsPerToken ?? null) : null,
      sharedExperts: moe ? (arch?.sharedExperts ?? facts.sharedExperts ?? ggufAnalysis?.sharedExperts ?? null) : null,
      layers: arch?.layers ?? facts.layers ?? ggufAnalysis?.layers ?? null,
      hiddenSize: arch?.hiddenSize ?? ggufAnalysis?.hiddenSize ?? null,
      vocabSize: arch?.vocabSize ?? ggufAnalysis?.vocabSize ?? null,
      mtpLayers,
      modalities,
    },
    context: { length: analysis?.context.length ?? facts.contextLength ?? ggufAnalysis?.contextLength ?? null },
    sources,
    dtypes: model ? model.dtypes : null,
    quantization: quantization ?? ggufAnalysis?.quantization ?? null,
    gguf: ggufAnalysis
      ? { architecture: ggufAnalysis.architecture, fileType: ggufAnalysis.fileType?.name ?? null, bitsPerWeight: ggufAnalysis.bitsPerWeight, quantizationMix: ggufAnalysis.quantizationMix, files: ggufAnalysis.files }
      : null,
    configEstimate: analysis && parameterSource !== "config" ? { total: analysis.parameters.total, active: analysis.parameters.active, confidence: analysis.confidence } : null,
    notes: [...new Set([...notes, ...(analysis?.notes ?? [])])],
  };
}

function normalisedBreakdown(p: ParameterCounts): ParameterCounts["breakdown"] {
  return Object.fromEntries(BREAKDOWN_KEYS.map((k) => [k, Math.round(p.breakdown[k] ?? 0)])) as ParameterCounts["breakdown"];
}

const SHARD = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/**
 * GGUF files of a folder grouped into models: the shards of a split model together, a
 * multimodal projector (mmproj) attached to the model. Several quantisations of one model are
 * separate groups; the first (by name) is reported, the others in the notes.
 */
function ggufGroups(files: { file: string; gguf: GgufFile }[]): { file: string; gguf: GgufFile }[][] {
  const projector = (p: { file: string; gguf: GgufFile }) => p.gguf.metadata["general.architecture"] === "clip" || /mmproj/i.test(path.basename(p.file));
  const groups = new Map<string, { file: string; gguf: GgufFile }[]>();
  for (const p of files.filter((f) => !projector(f))) {
    const m = SHARD.exec(path.basename(p.file));
    const key = m ? m[1] : path.basename(p.file);
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const list = [...groups.values()];
  const projectors = files.filter(projector);
  if (!list.length) return [projectors];
  if (projectors.length) list[0] = [...list[0], projectors[0]];
  return list;
}

// ---------------------------------------------------------------------------------------------
// Readable summary
// ---------------------------------------------------------------------------------------------

export function formatCount(n: number): string {
  const units: [number, string][] = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [size, unit] of units) if (n >= size) return `${(n / size).toFixed(n / size >= 100 ? 0 : 1)}${unit}`;
  return String(n);
}

const FAMILY_LABELS: Record<string, string> = {
  llama: "Llama", llama4: "Llama 4", mistral: "Mistral", mixtral: "Mixtral", qwen2: "Qwen2", qwen2_moe: "Qwen2-MoE", qwen3: "Qwen3",
  qwen3_moe: "Qwen3-MoE", qwen3_next: "Qwen3-Next", deepseek_v2: "DeepSeek-V2", deepseek_v3: "DeepSeek-V3", deepseek2: "DeepSeek-V2/V3",
  gpt_oss: "gpt-oss", "gpt-oss": "gpt-oss", gemma: "Gemma", gemma2: "Gemma 2", gemma3: "Gemma 3", phi3: "Phi-3", glm4_moe: "GLM-4.5",
  olmoe: "OLMoE", dbrx: "DBRX", jamba: "Jamba", granitemoe: "Granite-MoE",
  // GGUF architecture names
  qwen2moe: "Qwen2-MoE", qwen3moe: "Qwen3-MoE", glm4moe: "GLM-4.5",
};

function familyLabel(family: string): string {
  if (FAMILY_LABELS[family]) return FAMILY_LABELS[family];
  if (family === "unknown") return "Unrecognised";
  return family.charAt(0).toUpperCase() + family.slice(1).replace(/_/g, "-");
}

export function summary(r: InspectReport): string[] {
  const a = r.architecture;
  const p = r.parameters;
  const lines: string[] = [];
  if (a.moe) {
    const detail = [a.experts ? `${a.experts} experts` : null, a.expertsPerToken ? `${a.expertsPerToken} per token` : null, a.sharedExperts ? `${a.sharedExperts} shared` : null].filter(Boolean).join(", ");
    lines.push(`${familyLabel(a.family)}-style MoE: ${formatCount(p.total)} total, ${formatCount(p.active)} active${detail ? ` (${detail})` : ""}`);
  } else {
    lines.push(`${familyLabel(a.family)}-style dense model: ${formatCount(p.total)} parameters`);
  }
  const source = r.sources.find((s) => s.kind === r.parameterSource);
  const how = r.parameterSource === "config" ? "estimated from config.json" : `exact, from ${r.parameterSource} headers${source?.detail ? ` (${source.detail})` : ""}`;
  lines.push(`  parameters: ${how}`);
  if (r.configEstimate) lines.push(`  config.json estimate: ${formatCount(r.configEstimate.total)} total, ${formatCount(r.configEstimate.active)} active`);
  lines.push(`  read per token: ${formatCount(p.activeRead)}`);
  if (a.layers) lines.push(`  layers: ${a.layers}${a.mtpLayers ? ` (+${a.mtpLayers} multi-token-prediction, not counted)` : ""}`);
  if (r.context.length) lines.push(`  context: ${r.context.length} tokens`);
  if (a.modalities.length > 1) lines.push(`  modalities: ${a.modalities.join(", ")}`);
  if (r.dtypes) lines.push(`  weights: ${Object.entries(r.dtypes).map(([d, c]) => `${d} ${formatCount(c.parameters || c.elements)}`).join(", ")}`);
  if (r.gguf) {
    const mix = Object.entries(r.gguf.quantizationMix).sort((x, y) => y[1].bytes - x[1].bytes).map(([t, c]) => `${t} x${c.tensors}`).join(", ");
    lines.push(`  gguf: ${r.gguf.fileType ?? "unknown file type"}, ${r.gguf.bitsPerWeight ?? "?"} bits per weight (${mix})`);
  }
  if (r.quantization && r.quantization.method !== "gguf") {
    const q = r.quantization;
    lines.push(`  quantisation: ${q.method}${q.bits ? ` ${q.bits}-bit` : ""}${q.bitsPerWeight ? `, ~${q.bitsPerWeight} bits per weight` : ""}`);
  }
  const parts = BREAKDOWN_KEYS.filter((k) => p.breakdown[k] > 0).map((k) => `${k} ${formatCount(p.breakdown[k])}`);
  if (parts.length) lines.push(`  breakdown: ${parts.join(", ")}`);
  for (const note of r.notes) lines.push(`  note: ${note}`);
  return lines;
}
