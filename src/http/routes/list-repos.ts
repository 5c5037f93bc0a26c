// GET /api/models and /api/datasets — search, author, filter (tags, all must match), sort,
// direction, limit (page size), full, cardData, config, expand; `Link` pagination.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import type { RepoType } from "../../db/repos-store.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import { baseUrlOf, parseQuery, queryList, queryValue } from "../route-context.ts";
import { BUILTIN_HARDWARE_PROFILES, findProfile, usableMemoryGB } from "../../models/hardware-profiles.ts";
import { LICENSE_CLASSES, COMMERCIAL_USE_VALUES } from "../../models/license.ts";
import { applyExpand, decodeCursor, encodeCursor, nextLink, repoSummaryJson, siblingJson } from "../wire.ts";

const DEFAULT_PAGE = 1000;
const MAX_PAGE = 1000;
const SORTS = { lastModified: "lastModified", last_modified: "lastModified", createdAt: "createdAt", created_at: "createdAt", downloads: "downloads", likes: "likes", id: "id", modelId: "id", trendingScore: "downloads", trending_score: "downloads" } as const;

export async function listReposRoute(request: FastifyRequest, reply: FastifyReply, services: Services, type: RepoType) {
  const rawUrl = request.raw.url ?? "";
  const query = parseQuery(rawUrl);
  const sortParam = queryValue(query, "sort") ?? "lastModified";
  const sort = SORTS[sortParam as keyof typeof SORTS];
  if (!sort) throw new AgoraError("BadRequest", `unknown sort ${JSON.stringify(sortParam)}; use one of ${Object.keys(SORTS).join(", ")}`);
  const direction = queryValue(query, "direction");
  const limitParam = queryValue(query, "limit");
  const limit = limitParam === undefined ? DEFAULT_PAGE : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 1) throw new AgoraError("BadRequest", "limit must be a positive integer");
  let offset: number;
  try {
    offset = decodeCursor(queryValue(query, "cursor"));
  } catch {
    throw new AgoraError("BadRequest", "invalid cursor");
  }
  const pageSize = Math.min(limit, MAX_PAGE);
  const gated = parseBooleanParam(queryValue(query, "gated"));
  const intelligence = intelligenceFilters(query);
  const rows = await services.reposStore.list({
    type,
    search: queryList(query, "search"),
    author: queryValue(query, "author"),
    tags: queryList(query, "filter"),
    gated: queryValue(query, "gated") === undefined ? undefined : gated,
    pipelineTag: queryValue(query, "pipeline_tag"),
    ...intelligence,
    viewerId: request.caller?.account.id,
    sort,
    descending: direction === undefined ? sort !== "id" : direction === "-1" || direction === "desc",
    offset,
    limit: pageSize + 1,
  });
  const hasMore = rows.length > pageSize;
  const page = rows.slice(0, pageSize);
  const full = parseBooleanParam(queryValue(query, "full")) === true;
  const withCard = full || parseBooleanParam(queryValue(query, "cardData")) === true;
  const expand = queryList(query, "expand", true);
  const items = [];
  for (const repo of page) {
    const item = repoSummaryJson(repo);
    // A compact view of Agora's model facts; the full object is in the repository info.
    item.agora = {
      parameters: { total: repo.params_total ?? null, active: repo.params_active ?? null },
      moe: repo.moe === null || repo.moe === undefined ? null : Boolean(repo.moe),
      license: { id: repo.license_id ?? null, class: repo.license_class ?? null, commercialUse: repo.commercial_use ?? null },
    };
    if (withCard || expand.includes("cardData")) item.cardData = repo.card_data ? JSON.parse(repo.card_data) : undefined;
    if ((full || expand.includes("siblings")) && repo.head_sha) {
      const snapshot = await services.files.snapshot(repo, repo.head_sha);
      item.siblings = snapshot.entries.filter((e) => e.type === "file").map((e) => siblingJson(e as never, false));
    }
    items.push(expand.length ? applyExpand(item, expand) : item);
  }
  if (hasMore) reply.header("Link", nextLink(baseUrlOf(request, services), rawUrl, encodeCursor(offset + pageSize)));
  return reply.send(items);
}

/** Billions as the user writes them (`params_min=7`, `active_max=3.5`) → a parameter count. */
function billions(query: Record<string, string | string[] | undefined>, key: string): number | undefined {
  const value = queryValue(query, key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new AgoraError("BadRequest", `${key} must be a non-negative number of billions of parameters (got ${JSON.stringify(value)})`);
  return Math.round(n * 1e9);
}

/**
 * Agora's own listing filters on model intelligence: moe, params_min/max and active_min/max
 * (billions), license_class, commercial, and fits=PROFILE (runs in the profile's accelerator
 * memory at Q4_K_M with a 4096-token context; see services/fit-summary.ts).
 */
function intelligenceFilters(query: Record<string, string | string[] | undefined>) {
  const moeParam = queryValue(query, "moe");
  const moe = moeParam === undefined ? undefined : parseBooleanParam(moeParam);
  if (moeParam !== undefined && moe === undefined) throw new AgoraError("BadRequest", "moe must be true or false");
  const licenseClass = queryValue(query, "license_class");
  if (licenseClass !== undefined && !(LICENSE_CLASSES as readonly string[]).includes(licenseClass)) {
    throw new AgoraError("BadRequest", `license_class must be one of ${LICENSE_CLASSES.join(", ")}`);
  }
  const commercialUse = queryValue(query, "commercial");
  if (commercialUse !== undefined && !(COMMERCIAL_USE_VALUES as readonly string[]).includes(commercialUse)) {
    throw new AgoraError("BadRequest", `commercial must be one of ${COMMERCIAL_USE_VALUES.join(", ")}`);
  }
  const fits = queryValue(query, "fits");
  let maxMemoryBytes: number | undefined;
  if (fits !== undefined) {
    const profile = findProfile(BUILTIN_HARDWARE_PROFILES, fits);
    if (!profile) throw new AgoraError("BadRequest", `unknown hardware profile ${JSON.stringify(fits)}; \`agora fit --list-hardware\` lists them`);
    maxMemoryBytes = Math.floor(usableMemoryGB(profile) * 1024 ** 3);
  }
  return {
    moe,
    paramsMin: billions(query, "params_min"),
    paramsMax: billions(query, "params_max"),
    activeMin: billions(query, "active_min"),
    activeMax: billions(query, "active_max"),
    licenseClass,
    commercialUse,
    maxMemoryBytes,
  };
}
