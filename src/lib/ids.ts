import { randomBytes } from "node:crypto";

/** A 24-hex id shaped like the Hub's Mongo ids, which clients expect in `_id` and `id` fields. */
export function newObjectId(): string {
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, "0");
  return seconds + randomBytes(8).toString("hex");
}
