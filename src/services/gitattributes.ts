// .gitattributes handling: the default LFS patterns of a new repository, matching a path
// against the `filter=lfs` patterns of a file, and adding a line for an LFS path that no
// pattern covers (so `git clone` smudges every LFS file the API wrote).

import ignore from "ignore";

const MODEL_PATTERNS = [
  "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gguf", "*.gz", "*.h5", "*.joblib", "*.lfs.*", "*.mlmodel",
  "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth",
  "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
];
const DATASET_EXTRA = ["*.mds", "*.mp3", "*.ogg", "*.wav", "*.flac", "*.jpg", "*.jpeg", "*.png", "*.webp", "*.mp4", "*.webm"];

const LFS_ATTRS = "filter=lfs diff=lfs merge=lfs -text";

export function defaultGitAttributes(type: "model" | "dataset"): string {
  const patterns = type === "dataset" ? [...MODEL_PATTERNS, ...DATASET_EXTRA] : MODEL_PATTERNS;
  return patterns.map((p) => `${p} ${LFS_ATTRS}`).join("\n") + "\n";
}

/** A predicate telling whether a path is tracked by LFS under the given .gitattributes text. */
export function lfsMatcher(gitattributes: string): (path: string) => boolean {
  // Later lines override earlier ones, as in git: walk backwards, first decisive line wins.
  const rules: { matches: (p: string) => boolean; lfs: boolean }[] = [];
  for (const rawLine of gitattributes.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const { pattern, attrs } = splitAttributesLine(line);
    if (!pattern) continue;
    let lfs: boolean | undefined;
    for (const attr of attrs) {
      if (attr === "filter=lfs") lfs = true;
      else if (attr.startsWith("filter=") || attr === "-filter" || attr === "!filter") lfs = false;
    }
    if (lfs === undefined) continue;
    let matcher;
    try {
      matcher = ignore().add(pattern);
    } catch {
      continue;
    }
    rules.push({ matches: (p) => matcher.ignores(p), lfs });
  }
  return (path: string) => {
    for (let i = rules.length - 1; i >= 0; i--) if (rules[i].matches(path)) return rules[i].lfs;
    return false;
  };
}

function splitAttributesLine(line: string): { pattern: string; attrs: string[] } {
  if (line.startsWith('"')) {
    const end = line.indexOf('"', 1);
    if (end < 0) return { pattern: "", attrs: [] };
    return { pattern: line.slice(1, end), attrs: line.slice(end + 1).trim().split(/\s+/) };
  }
  const [pattern, ...attrs] = line.split(/\s+/);
  return { pattern, attrs };
}

/** The line that tracks exactly `path`: glob characters escaped, whitespace as [[:space:]]. */
export function lfsLineForPath(path: string): string {
  const escaped = path.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`).replace(/\s/g, "[[:space:]]");
  return `${escaped} ${LFS_ATTRS}`;
}

/** Returns .gitattributes text that tracks every path in `lfsPaths`, or undefined if it already does. */
export function ensureLfsTracked(gitattributes: string, lfsPaths: string[]): string | undefined {
  const isLfs = lfsMatcher(gitattributes);
  const missing = lfsPaths.filter((p) => !isLfs(p));
  if (!missing.length) return undefined;
  const base = gitattributes.length && !gitattributes.endsWith("\n") ? gitattributes + "\n" : gitattributes;
  return base + missing.map(lfsLineForPath).join("\n") + "\n";
}

/** A predicate for paths ignored by a .gitignore text. */
export function gitignoreMatcher(gitignore: string | undefined): (path: string) => boolean {
  if (!gitignore) return () => false;
  const matcher = ignore().add(gitignore);
  return (path) => {
    try {
      return matcher.ignores(path);
    } catch {
      return false;
    }
  };
}
