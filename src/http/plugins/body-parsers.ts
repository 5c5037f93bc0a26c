// Request bodies: JSON (and git-lfs JSON) and form bodies are parsed with a size limit; every
// other content type (NDJSON commits, LFS object uploads) reaches the route as a raw stream,
// so multi-gigabyte bodies are never buffered.

import type { FastifyInstance } from "fastify";
import { AgoraError } from "../../errors.ts";

const JSON_LIMIT = 16 * 1024 * 1024;

export function registerBodyParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ["application/json", "application/vnd.git-lfs+json", "text/json"],
    { parseAs: "string", bodyLimit: JSON_LIMIT },
    (_request, body, done) => {
      const text = String(body);
      if (!text.trim()) return done(null, {});
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new AgoraError("BadRequest", "the request body is not valid JSON"), undefined);
      }
    },
  );
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: JSON_LIMIT }, (_request, body, done) => {
    const params = new URLSearchParams(String(body));
    const result: Record<string, string | string[]> = {};
    for (const [key, value] of params) {
      const existing = result[key];
      if (existing === undefined) result[key] = value;
      else result[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    done(null, result);
  });
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
}
