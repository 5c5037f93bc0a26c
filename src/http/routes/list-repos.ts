// GET /api/models and /api/datasets — search, author, filter (tags, all must match), sort,
// direction, limit (page size), full, cardData, config, expand; `Link` pagination.

import type { FastifyReply, FastifyRequest } from "fastify";
import { AgoraError } from "../../errors.ts";
import type { Services } from "../../services/index.ts";
import type { RepoType } from "../../db/repos-store.ts";
import { parseBooleanParam } from "../../lib/booleans.ts";
import { baseUrlOf, parseQuery, queryList, queryValue } from "../route-context.ts";
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
  const rows = await services.reposStore.list({
    type,
    search: queryList(query, "search"),
    author: queryValue(query, "author"),
    tags: queryList(query, "filter"),
    gated: queryValue(query, "gated") === undefined ? undefined : gated,
    pipelineTag: queryValue(query, "pipeline_tag"),
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
