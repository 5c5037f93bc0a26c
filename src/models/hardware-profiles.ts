// Hardware profiles for the fit estimator (src/models/fit.ts): how much memory a machine gives a
// model and how fast that memory can be read. Decoding one token reads every active weight once,
// so memory bandwidth, not compute, sets the speed of single-user generation; that is why a
// profile carries bandwidth and nothing about FLOPS.
//
// Units: memory capacities are binary gigabytes (1 GB = 2^30 bytes), the unit GPU and unified
// memory are sold in (a "24 GB" card has 24 GiB); bandwidths are decimal GB/s, the unit vendors
// quote. Every built-in figure is the vendor's published specification (source in each entry);
// what a runtime actually reaches of that peak is the estimator's efficiency factor, not a
// property of the profile.
//
// Users add their own machines in a JSON or YAML file (the `hardwareProfiles` setting,
// $AGORA_HARDWARE_PROFILES, or `agora fit --hardware-file`); parseHardwareProfiles validates it
// and reports every problem with where it is.

import fs from "node:fs";
import { parse as parseYaml } from "yaml";

export type HardwareKind = "gpu" | "unified" | "cpu";

export type HostMemory = {
  /** System RAM the runtime may spill weights to. */
  memoryGB: number;
  bandwidthGBps: number;
  /** What the OS and other programs leave free; default HOST_USABLE_FRACTION of memoryGB. */
  usableMemoryGB?: number;
};

export type HardwareProfile = {
  id: string;
  name: string;
  /**
   * gpu: discrete accelerator memory (VRAM), optionally with host RAM to spill to.
   * unified: CPU and GPU share one pool (Apple Silicon, GB10); nothing to spill to.
   * cpu: the model runs from system RAM on the CPU.
   */
  kind: HardwareKind;
  /** Memory of ONE device (binary GB). */
  memoryGB: number;
  /** Peak memory bandwidth of ONE device (GB/s). */
  bandwidthGBps: number;
  /** Identical devices; memory adds up, bandwidth per token does not (layer split, see fit.ts). */
  devices?: number;
  /** Memory of ALL devices a model may use (binary GB); default from kind, see usableMemoryGB(). */
  usableMemoryGB?: number;
  host?: HostMemory;
  sources?: string[];
  notes?: string[];
};

/** Share of system RAM a model can take when the OS and a desktop keep running beside it. */
export const HOST_USABLE_FRACTION = 0.85;

/**
 * macOS lets the GPU wire only part of unified memory by default (Metal's
 * recommendedMaxWorkingSetSize): about two thirds on machines up to 36 GB, three quarters above.
 * `sudo sysctl iogpu.wired_limit_mb=N` raises it; the estimate keeps the default a user gets.
 */
export function appleGpuLimitGB(memoryGB: number): number {
  return Math.round(memoryGB * (memoryGB <= 36 ? 2 / 3 : 3 / 4) * 10) / 10;
}

/** Accelerator memory a model may use over all devices (binary GB). */
export function usableMemoryGB(profile: HardwareProfile): number {
  if (profile.usableMemoryGB !== undefined) return profile.usableMemoryGB;
  const total = profile.memoryGB * (profile.devices ?? 1);
  if (profile.kind === "unified") return appleGpuLimitGB(total);
  if (profile.kind === "cpu") return total * HOST_USABLE_FRACTION;
  return total; // VRAM: the runtime's own context is counted as overhead by the estimator
}

export function hostUsableMemoryGB(host: HostMemory): number {
  return host.usableMemoryGB ?? host.memoryGB * HOST_USABLE_FRACTION;
}

// Host RAM of the consumer-GPU profiles: a typical desktop or laptop of the card's generation.
// Dual-channel bandwidth = 2 channels x 8 bytes x transfer rate (MT/s).
const DDR4_3200 = 51.2; // 2 x 8 B x 3200 MT/s
const DDR5_5600 = 89.6; // 2 x 8 B x 5600 MT/s
const DDR5_6000 = 96; // 2 x 8 B x 6000 MT/s

const M2 = "https://www.apple.com/newsroom/2022/06/apple-unveils-m2-with-breakthrough-performance-and-capabilities/ (100 GB/s, up to 24 GB)";
const M2_PRO_MAX = "https://www.apple.com/newsroom/2023/01/apple-unveils-m2-pro-and-m2-max-next-generation-chips-for-next-level-workflows/ (M2 Pro 200 GB/s up to 32 GB, M2 Max 400 GB/s up to 96 GB)";
const M3 = "https://www.apple.com/newsroom/2023/10/apple-unveils-m3-m3-pro-and-m3-max-the-most-advanced-chips-for-a-personal-computer/ (M3 100 GB/s, M3 Pro 150 GB/s, M3 Max up to 400 GB/s)";
const M3_MAX_BINNED = "Apple MacBook Pro (Nov 2023) tech specs: M3 Max with 14-core CPU / 30-core GPU has 300 GB/s, the 16-core / 40-core part 400 GB/s";
const M4 = "https://www.apple.com/newsroom/2024/05/apple-introduces-m4-chip/ (120 GB/s)";
const M4_PRO_MAX = "https://www.apple.com/newsroom/2024/10/apple-introduces-m4-pro-and-m4-max/ (M4 Pro 273 GB/s, M4 Max 546 GB/s)";
const M4_MAX_BINNED = "Apple MacBook Pro (Nov 2024) tech specs: M4 Max with 14-core CPU / 32-core GPU has 410 GB/s, the 16-core / 40-core part 546 GB/s";

function apple(id: string, name: string, memoryGB: number, bandwidthGBps: number, source: string): HardwareProfile {
  return {
    id,
    name,
    kind: "unified",
    memoryGB,
    bandwidthGBps,
    usableMemoryGB: appleGpuLimitGB(memoryGB),
    sources: [source],
    notes: [`macOS lets the GPU use about ${appleGpuLimitGB(memoryGB)} GB of the ${memoryGB} GB by default (raise with sysctl iogpu.wired_limit_mb)`],
  };
}

export const BUILTIN_HARDWARE_PROFILES: readonly HardwareProfile[] = [
  // --- NVIDIA GeForce (bandwidth = bus width / 8 x data rate) ---
  {
    id: "rtx-3060-laptop",
    name: "NVIDIA GeForce RTX 3060 Laptop GPU",
    kind: "gpu",
    // The laptop part only exists with 6 GB (192-bit GDDR6 at up to 14 Gbps); the 12 GB card is the desktop one.
    memoryGB: 6,
    bandwidthGBps: 336,
    host: { memoryGB: 16, bandwidthGBps: DDR4_3200 },
    sources: ["https://www.nvidia.com/en-us/geforce/laptops/30-series/ (RTX 3060 Laptop: 6 GB GDDR6, 192-bit)"],
  },
  {
    id: "rtx-3060",
    name: "NVIDIA GeForce RTX 3060 12GB",
    kind: "gpu",
    memoryGB: 12,
    bandwidthGBps: 360, // 192-bit x 15 Gbps
    host: { memoryGB: 32, bandwidthGBps: DDR4_3200 },
    sources: ["https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3060-3060ti/ (12 GB GDDR6, 192-bit)"],
  },
  {
    id: "rtx-3090",
    name: "NVIDIA GeForce RTX 3090",
    kind: "gpu",
    memoryGB: 24,
    bandwidthGBps: 936, // 384-bit x 19.5 Gbps GDDR6X
    host: { memoryGB: 64, bandwidthGBps: DDR4_3200 },
    sources: ["https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3090-3090ti/ (24 GB GDDR6X, 384-bit, 936 GB/s)"],
  },
  {
    id: "2x-rtx-3090",
    name: "2x NVIDIA GeForce RTX 3090",
    kind: "gpu",
    memoryGB: 24,
    bandwidthGBps: 936,
    devices: 2,
    host: { memoryGB: 128, bandwidthGBps: DDR4_3200 },
    sources: ["https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3090-3090ti/"],
    notes: ["layers split over the two cards: memory adds up, decoding runs through them one after the other"],
  },
  {
    id: "rtx-4060-laptop",
    name: "NVIDIA GeForce RTX 4060 Laptop GPU",
    kind: "gpu",
    memoryGB: 8,
    bandwidthGBps: 256, // 128-bit x 16 Gbps GDDR6
    host: { memoryGB: 16, bandwidthGBps: DDR5_5600 },
    sources: ["https://www.nvidia.com/en-us/geforce/laptops/40-series/ (RTX 4060 Laptop: 8 GB GDDR6, 128-bit)"],
  },
  {
    id: "rtx-4070",
    name: "NVIDIA GeForce RTX 4070",
    kind: "gpu",
    memoryGB: 12,
    bandwidthGBps: 504, // 192-bit x 21 Gbps GDDR6X
    host: { memoryGB: 32, bandwidthGBps: DDR5_5600 },
    sources: ["https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4070-family/ (12 GB GDDR6X, 192-bit)"],
  },
  {
    id: "rtx-4090",
    name: "NVIDIA GeForce RTX 4090",
    kind: "gpu",
    memoryGB: 24,
    bandwidthGBps: 1008, // 384-bit x 21 Gbps GDDR6X
    host: { memoryGB: 64, bandwidthGBps: DDR5_5600 },
    sources: ["https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4090/ (24 GB GDDR6X, 384-bit, 1008 GB/s)"],
  },
  {
    id: "rtx-5090",
    name: "NVIDIA GeForce RTX 5090",
    kind: "gpu",
    memoryGB: 32,
    bandwidthGBps: 1792, // 512-bit x 28 Gbps GDDR7
    host: { memoryGB: 64, bandwidthGBps: DDR5_6000 },
    sources: ["https://www.nvidia.com/en-us/geforce/graphics-cards/50-series/rtx-5090/ (32 GB GDDR7, 512-bit, 1792 GB/s)"],
  },

  // --- Apple Silicon (unified memory; Apple's tech specs give the bandwidth of each chip) ---
  apple("m2-24gb", "Apple M2 (24 GB)", 24, 100, M2),
  apple("m2-pro-32gb", "Apple M2 Pro (32 GB)", 32, 200, M2_PRO_MAX),
  apple("m2-max-64gb", "Apple M2 Max (64 GB)", 64, 400, M2_PRO_MAX),
  apple("m2-max-96gb", "Apple M2 Max (96 GB)", 96, 400, M2_PRO_MAX),
  apple("m2-ultra-192gb", "Apple M2 Ultra (192 GB)", 192, 800, "https://www.apple.com/newsroom/2023/06/apple-introduces-m2-ultra/ (800 GB/s, up to 192 GB)"),
  apple("m3-24gb", "Apple M3 (24 GB)", 24, 100, M3),
  apple("m3-pro-36gb", "Apple M3 Pro (36 GB)", 36, 150, M3),
  // The binned M3 Max (14-core CPU, 30-core GPU) has a narrower bus than the full chip.
  apple("m3-max-36gb", "Apple M3 Max 30-core GPU (36 GB)", 36, 300, M3_MAX_BINNED),
  apple("m3-max-128gb", "Apple M3 Max 40-core GPU (128 GB)", 128, 400, M3),
  apple("m3-ultra-256gb", "Apple M3 Ultra (256 GB)", 256, 819, "https://www.apple.com/newsroom/2025/03/apple-reveals-m3-ultra-taking-apple-silicon-to-a-new-extreme/ (819 GB/s, up to 512 GB)"),
  apple("m3-ultra-512gb", "Apple M3 Ultra (512 GB)", 512, 819, "https://www.apple.com/newsroom/2025/03/apple-reveals-m3-ultra-taking-apple-silicon-to-a-new-extreme/"),
  apple("m4-32gb", "Apple M4 (32 GB)", 32, 120, M4),
  apple("m4-pro-48gb", "Apple M4 Pro (48 GB)", 48, 273, M4_PRO_MAX),
  apple("m4-pro-64gb", "Apple M4 Pro (64 GB)", 64, 273, M4_PRO_MAX),
  // The binned M4 Max (14-core CPU, 32-core GPU) reaches 410 GB/s; the full chip 546 GB/s.
  apple("m4-max-36gb", "Apple M4 Max 32-core GPU (36 GB)", 36, 410, M4_MAX_BINNED),
  apple("m4-max-64gb", "Apple M4 Max 40-core GPU (64 GB)", 64, 546, M4_PRO_MAX),
  apple("m4-max-128gb", "Apple M4 Max 40-core GPU (128 GB)", 128, 546, M4_PRO_MAX),

  // --- Other unified-memory machines ---
  {
    id: "dgx-spark",
    name: "NVIDIA DGX Spark (GB10, 128 GB)",
    kind: "unified",
    memoryGB: 128,
    bandwidthGBps: 273, // 256-bit LPDDR5x-8533
    // Linux, not macOS: the GPU may allocate nearly all of it; keep a few GB for the OS.
    usableMemoryGB: 120,
    sources: ["https://www.nvidia.com/en-us/products/workstations/dgx-spark/ (128 GB LPDDR5x unified, 273 GB/s)"],
  },

  // --- Data-centre accelerators ---
  {
    id: "h100-sxm",
    name: "NVIDIA H100 SXM 80GB",
    kind: "gpu",
    memoryGB: 80,
    bandwidthGBps: 3350,
    sources: ["https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM: 80 GB HBM3, 3.35 TB/s)"],
  },
  {
    id: "8x-h100-sxm",
    name: "8x NVIDIA H100 SXM 80GB (HGX node)",
    kind: "gpu",
    memoryGB: 80,
    bandwidthGBps: 3350,
    devices: 8,
    sources: ["https://www.nvidia.com/en-us/data-center/h100/"],
    notes: ["estimated as a layer split over 8 GPUs; tensor parallelism (vLLM, SGLang) decodes several times faster"],
  },
  {
    id: "h200",
    name: "NVIDIA H200 SXM 141GB",
    kind: "gpu",
    memoryGB: 141,
    bandwidthGBps: 4800,
    sources: ["https://www.nvidia.com/en-us/data-center/h200/ (141 GB HBM3e, 4.8 TB/s)"],
  },
  {
    id: "mi300x",
    name: "AMD Instinct MI300X",
    kind: "gpu",
    memoryGB: 192,
    bandwidthGBps: 5300,
    sources: ["https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html (192 GB HBM3, 5.3 TB/s)"],
  },

  // --- CPU only ---
  {
    id: "cpu-ddr5-desktop",
    name: "Desktop CPU, 64 GB dual-channel DDR5-5600",
    kind: "cpu",
    memoryGB: 64,
    bandwidthGBps: DDR5_5600,
    usableMemoryGB: 56, // leave 8 GB to the OS and a desktop
    sources: ["JEDEC DDR5-5600: 5600 MT/s x 8 bytes x 2 channels = 89.6 GB/s"],
  },
];

// ---------------------------------------------------------------------------------------------
// User profiles: a file of profiles, validated
// ---------------------------------------------------------------------------------------------

export type ProfilesResult = { ok: true; profiles: HardwareProfile[] } | { ok: false; errors: string[] };

const PROFILE_KEYS = new Set(["id", "name", "kind", "memoryGB", "bandwidthGBps", "devices", "usableMemoryGB", "host", "sources", "notes"]);
const HOST_KEYS = new Set(["memoryGB", "bandwidthGBps", "usableMemoryGB"]);
const KINDS: readonly HardwareKind[] = ["gpu", "unified", "cpu"];
/** Beyond these a number is a typo (a unit mix-up), not a machine. */
const MAX_MEMORY_GB = 1_000_000;
const MAX_BANDWIDTH_GBPS = 1_000_000;
const MAX_DEVICES = 4096;
const MAX_PROFILES = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/**
 * Profiles from parsed JSON/YAML: either a list of profiles or `{ profiles: [...] }`. Every
 * problem is collected (not only the first) with the path of the bad value.
 */
export function parseHardwareProfiles(data: unknown, source = "hardware profiles"): ProfilesResult {
  const errors: string[] = [];
  const list = Array.isArray(data) ? data : isObject(data) && Array.isArray(data.profiles) ? data.profiles : undefined;
  if (isObject(data) && !Array.isArray(data.profiles)) {
    const extra = Object.keys(data).filter((k) => k !== "profiles");
    return { ok: false, errors: [`${source}: expected a list of profiles or a mapping with a "profiles" list${extra.length ? ` (found keys ${extra.slice(0, 5).join(", ")})` : ""}`] };
  }
  if (!list) return { ok: false, errors: [`${source}: expected a list of profiles or a mapping with a "profiles" list`] };
  if (list.length > MAX_PROFILES) return { ok: false, errors: [`${source}: ${list.length} profiles; at most ${MAX_PROFILES} are read`] };

  const profiles: HardwareProfile[] = [];
  const seen = new Set<string>();
  list.forEach((entry, index) => {
    const at = `${source}: profiles[${index}]`;
    if (!isObject(entry)) {
      errors.push(`${at} must be a mapping (got ${show(entry)})`);
      return;
    }
    const problems: string[] = [];
    for (const key of Object.keys(entry)) if (!PROFILE_KEYS.has(key)) problems.push(`${at}: unknown key "${key}" (known: ${[...PROFILE_KEYS].join(", ")})`);
    const where = typeof entry.id === "string" ? `${source}: profile "${entry.id}"` : at;

    const id = entry.id;
    if (typeof id !== "string" || !/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(id)) problems.push(`${at}.id must be a name of letters, digits, ".", "_" or "-" (got ${show(id)})`);
    else if (seen.has(id.toLowerCase())) problems.push(`${at}.id "${id}" appears twice in the file`);
    const name = entry.name === undefined ? id : entry.name;
    if (typeof name !== "string" || name.length === 0 || name.length > 200) problems.push(`${where}.name must be a non-empty string (got ${show(entry.name)})`);
    const kind = entry.kind === undefined ? "gpu" : entry.kind;
    if (!KINDS.includes(kind as HardwareKind)) problems.push(`${where}.kind must be one of ${KINDS.join(", ")} (got ${show(entry.kind)})`);

    const positive = (value: unknown, path: string, max: number, required: boolean): number | undefined => {
      if (value === undefined && !required) return undefined;
      if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
        problems.push(`${path} must be a positive number of at most ${max} (got ${show(value)})`);
        return undefined;
      }
      return value;
    };
    const memoryGB = positive(entry.memoryGB, `${where}.memoryGB`, MAX_MEMORY_GB, true);
    const bandwidthGBps = positive(entry.bandwidthGBps, `${where}.bandwidthGBps`, MAX_BANDWIDTH_GBPS, true);
    const usable = positive(entry.usableMemoryGB, `${where}.usableMemoryGB`, MAX_MEMORY_GB, false);
    let devices: number | undefined;
    if (entry.devices !== undefined) {
      if (typeof entry.devices !== "number" || !Number.isInteger(entry.devices) || entry.devices < 1 || entry.devices > MAX_DEVICES) problems.push(`${where}.devices must be a whole number from 1 to ${MAX_DEVICES} (got ${show(entry.devices)})`);
      else devices = entry.devices;
    }
    if (usable !== undefined && memoryGB !== undefined && usable > memoryGB * (devices ?? 1)) problems.push(`${where}.usableMemoryGB ${usable} is more than the ${memoryGB * (devices ?? 1)} GB the profile has`);

    let host: HostMemory | undefined;
    if (entry.host !== undefined) {
      if (!isObject(entry.host)) problems.push(`${where}.host must be a mapping with memoryGB and bandwidthGBps (got ${show(entry.host)})`);
      else {
        for (const key of Object.keys(entry.host)) if (!HOST_KEYS.has(key)) problems.push(`${where}.host: unknown key "${key}" (known: ${[...HOST_KEYS].join(", ")})`);
        const hm = positive(entry.host.memoryGB, `${where}.host.memoryGB`, MAX_MEMORY_GB, true);
        const hb = positive(entry.host.bandwidthGBps, `${where}.host.bandwidthGBps`, MAX_BANDWIDTH_GBPS, true);
        const hu = positive(entry.host.usableMemoryGB, `${where}.host.usableMemoryGB`, MAX_MEMORY_GB, false);
        if (hu !== undefined && hm !== undefined && hu > hm) problems.push(`${where}.host.usableMemoryGB ${hu} is more than host.memoryGB ${hm}`);
        if (hm !== undefined && hb !== undefined) host = { memoryGB: hm, bandwidthGBps: hb, ...(hu !== undefined ? { usableMemoryGB: hu } : {}) };
      }
      // Offloading needs a separate pool: unified and CPU machines have one pool only.
      if (kind !== "gpu") problems.push(`${where}.host is only meaningful for kind gpu (a ${String(kind)} machine has one memory pool)`);
    }
    const strings = (value: unknown, path: string): string[] | undefined => {
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || value.some((s) => typeof s !== "string")) {
        problems.push(`${path} must be a list of strings`);
        return undefined;
      }
      return value as string[];
    };
    const sources = strings(entry.sources, `${where}.sources`);
    const notes = strings(entry.notes, `${where}.notes`);

    if (problems.length) {
      errors.push(...problems);
      return;
    }
    seen.add((id as string).toLowerCase());
    profiles.push({
      id: id as string,
      name: name as string,
      kind: kind as HardwareKind,
      memoryGB: memoryGB!,
      bandwidthGBps: bandwidthGBps!,
      ...(devices !== undefined ? { devices } : {}),
      ...(usable !== undefined ? { usableMemoryGB: usable } : {}),
      ...(host ? { host } : {}),
      ...(sources ? { sources } : {}),
      ...(notes ? { notes } : {}),
    });
  });
  return errors.length ? { ok: false, errors } : { ok: true, profiles };
}

/** A profile file is a few KB; anything larger is not one. */
const MAX_PROFILE_FILE = 4 * 1024 * 1024;

/** Reads and validates a JSON or YAML file of profiles (YAML is a superset of JSON). */
export function loadHardwareProfilesFile(file: string): ProfilesResult {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_PROFILE_FILE) return { ok: false, errors: [`${file}: ${size} bytes; a hardware profile file is at most ${MAX_PROFILE_FILE}`] };
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    return { ok: false, errors: [`cannot read hardware profile file ${file}: ${(error as Error).message}`] };
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    return { ok: false, errors: [`${file} is not valid YAML/JSON: ${(error as Error).message.split("\n")[0]}`] };
  }
  return parseHardwareProfiles(data, file);
}

/** Built-in profiles followed by the user's; a user profile with a built-in id replaces it. */
export function mergeProfiles(user: readonly HardwareProfile[]): HardwareProfile[] {
  const ids = new Set(user.map((p) => p.id.toLowerCase()));
  return [...BUILTIN_HARDWARE_PROFILES.filter((p) => !ids.has(p.id.toLowerCase())), ...user];
}

export function findProfile(profiles: readonly HardwareProfile[], id: string): HardwareProfile | undefined {
  const wanted = id.toLowerCase();
  return profiles.find((p) => p.id.toLowerCase() === wanted);
}
