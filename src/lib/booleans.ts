/** Query-string booleans as the clients send them: true/True/1/yes (case-insensitive). */
export function parseBooleanParam(value: unknown): boolean | undefined {
  if (Array.isArray(value)) value = value[value.length - 1];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "boolean") return value;
  const s = String(value).trim().toLowerCase();
  if (s === "" ) return true;
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  return undefined;
}
