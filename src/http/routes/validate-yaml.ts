// POST /api/validate-yaml — Python calls it before every commit that adds README.md and reads
// the JSON before the status, so the answer is always JSON: 200 with no errors, or 400 listing them.

import type { FastifyReply, FastifyRequest } from "fastify";
import { parseCardFrontMatter } from "../../models/card-data.ts";

export async function validateYamlRoute(request: FastifyRequest, reply: FastifyReply) {
  const body = request.body as { content?: unknown } | undefined;
  if (!body || typeof body.content !== "string") {
    return reply.code(400).send({ errors: [{ message: "`content` must be the README text" }], warnings: [] });
  }
  const parsed = parseCardFrontMatter(body.content);
  if (!parsed.ok) return reply.code(400).send({ errors: [{ message: `Invalid YAML front matter: ${parsed.error}` }], warnings: [] });
  return reply.send({ errors: [], warnings: [] });
}
