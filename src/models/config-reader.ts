// Safe, bounded access to an untrusted config.json. Every read goes through ConfigReader so that
// hostile values (strings where numbers belong, negative sizes, inherited keys such as
// "constructor") are handled in one place and explained in the analysis notes instead of
// throwing or silently producing nonsense.

export type JsonObject = { [key: string]: unknown };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Sizes are sometimes written as strings ("4096"); accept plain decimal integers only. */
const INTEGER_STRING = /^\s*\d{1,15}\s*$/;

/** Keeps notes unique and bounded, whatever the input throws at us. */
export class Notes {
  private readonly items: string[] = [];
  add(note: string): void {
    if (this.items.length < 64 && !this.items.includes(note)) this.items.push(note);
  }
  list(): string[] {
    return [...this.items];
  }
}

export class ConfigReader {
  constructor(
    private readonly source: JsonObject,
    readonly notes: Notes,
    /** Where this object sits in the config ("config", "config.text_config"), for notes. */
    readonly path: string,
  ) {}

  /** An own property only: a key like "__proto__" or "constructor" must never reach Object.prototype. */
  raw(key: string): unknown {
    return Object.prototype.hasOwnProperty.call(this.source, key) ? this.source[key] : undefined;
  }

  /** True when the key is present with a value other than null. */
  has(key: string): boolean {
    const value = this.raw(key);
    return value !== undefined && value !== null;
  }

  /** The first key of `keys` that is present (not null), e.g. the several spellings of one setting. */
  firstKey(keys: readonly string[]): string | undefined {
    return keys.find((key) => this.has(key));
  }

  /** A non-negative integer from the first key that holds one; invalid values are noted and skipped. */
  int(keys: string | readonly string[]): number | undefined {
    for (const key of typeof keys === "string" ? [keys] : keys) {
      const value = this.raw(key);
      if (value === undefined || value === null) continue;
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
      if (typeof value === "string" && INTEGER_STRING.test(value)) {
        this.notes.add(`${this.path}.${key} is a string; read as the number ${Number(value)}.`);
        return Number(value);
      }
      this.notes.add(`${this.path}.${key} is not a non-negative integer; ignored.`);
    }
    return undefined;
  }

  /** A finite number (fractions allowed, e.g. partial_rotary_factor). */
  num(keys: string | readonly string[]): number | undefined {
    for (const key of typeof keys === "string" ? [keys] : keys) {
      const value = this.raw(key);
      if (typeof value === "number" && Number.isFinite(value)) return value;
      if (typeof value === "string" && value.length < 32 && Number.isFinite(Number(value)) && value.trim() !== "") return Number(value);
    }
    return undefined;
  }

  bool(keys: string | readonly string[], fallback: boolean): boolean {
    for (const key of typeof keys === "string" ? [keys] : keys) {
      const value = this.raw(key);
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "false") return value === "true";
    }
    return fallback;
  }

  /** A string of at most `maxLength` characters (names are short; per-layer patterns can be long). */
  str(keys: string | readonly string[], maxLength = 200): string | undefined {
    for (const key of typeof keys === "string" ? [keys] : keys) {
      const value = this.raw(key);
      if (typeof value === "string" && value.length <= maxLength) return value;
    }
    return undefined;
  }

  /** An array, cut to `max` entries so a hostile million-entry list costs nothing. */
  list(key: string, max: number): unknown[] | undefined {
    const value = this.raw(key);
    return Array.isArray(value) ? value.slice(0, max) : undefined;
  }

  /** Integers of a list (e.g. mlp_only_layers); other entries are dropped. */
  intList(key: string, max: number): number[] | undefined {
    const values = this.list(key, max);
    return values?.filter((v): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0);
  }

  /** Strings of a list (e.g. layer_types); other entries become "". */
  strList(key: string, max: number): string[] | undefined {
    const values = this.list(key, max);
    return values?.map((v) => (typeof v === "string" && v.length <= 64 ? v : ""));
  }

  /** The first `max` own keys, e.g. the group names of a compressed-tensors config. */
  keys(max: number): string[] {
    const keys: string[] = [];
    for (const key in this.source) {
      if (keys.length >= max) break;
      if (Object.prototype.hasOwnProperty.call(this.source, key)) keys.push(key);
    }
    return keys;
  }

  child(key: string): ConfigReader | undefined {
    const value = this.raw(key);
    return isJsonObject(value) ? new ConfigReader(value, this.notes, `${this.path}.${key}`) : undefined;
  }
}
