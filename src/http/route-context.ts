// What a repository-scoped route receives once the dispatcher has parsed the URL.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Caller } from "../services/accounts.ts";
import type { Services } from "../services/index.ts";
import type { RepoPathMatch } from "./hub-paths.ts";

export type RepoRouteContext = {
  request: FastifyRequest;
  reply: FastifyReply;
  services: Services;
  caller: Caller | null;
  match: RepoPathMatch;
  /** Absolute base URL of this hub, without a trailing slash. */
  baseUrl: string;
  query: Record<string, string | string[] | undefined>;
};

export type RepoRouteHandler = (ctx: RepoRouteContext) => Promise<unknown>;

export function baseUrlOf(request: FastifyRequest, services: Services): string {
  if (services.config.publicUrl) return services.config.publicUrl;
  const host = request.headers.host ?? `${services.config.host}:${services.config.port}`;
  return `${request.protocol}://${host}`;
}

/** Last value of a query parameter that may repeat. */
export function queryValue(query: Record<string, string | string[] | undefined>, key: string): string | undefined {
  const value = query[key];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** All values of a repeatable parameter, accepting `key`, `key[]` and comma-separated lists. */
export function queryList(query: Record<string, string | string[] | undefined>, key: string, splitCommas = false): string[] {
  const values: string[] = [];
  for (const k of [key, `${key}[]`]) {
    const v = query[k];
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) values.push(...(splitCommas ? item.split(",") : [item]));
  }
  return values.filter((v) => v !== "");
}

export function parseQuery(rawUrl: string): Record<string, string | string[]> {
  const q = rawUrl.indexOf("?");
  const result: Record<string, string | string[]> = {};
  if (q < 0) return result;
  for (const [key, value] of new URLSearchParams(rawUrl.slice(q + 1))) {
    const existing = result[key];
    result[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return result;
}

/** Repo URL prefix used in web/git URLs: "" for models, "datasets/" for datasets. */
export function typePrefix(type: "model" | "dataset"): string {
  return type === "dataset" ? "datasets/" : "";
}
