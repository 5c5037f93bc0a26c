// CORS, so browser code (the JS client in a page) can call the API: every origin may read,
// and the headers the clients need are exposed (hub-api.md §2.7, minus Xet).

import type { FastifyInstance } from "fastify";

const EXPOSED = [
  "X-Repo-Commit", "X-Request-Id", "X-Error-Code", "X-Error-Message", "X-Total-Count", "ETag", "Link",
  "Accept-Ranges", "Content-Range", "X-Linked-Etag", "X-Linked-Size", "Content-Length", "Content-Disposition", "X-HF-Warning",
].join(", ");

export function registerCors(app: FastifyInstance): void {
  app.addHook("onRequest", async (request, reply) => {
    const origin = request.headers.origin;
    reply.header("Access-Control-Allow-Origin", origin ?? "*");
    if (origin) reply.header("Vary", "Origin");
    reply.header("Access-Control-Expose-Headers", EXPOSED);
  });
  app.options("/*", async (request, reply) => {
    const requested = request.headers["access-control-request-headers"];
    reply
      .code(204)
      .header("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
      .header("Access-Control-Allow-Headers", typeof requested === "string" ? requested : "Authorization, Content-Type, Range, X-Request-Id")
      .header("Access-Control-Max-Age", "86400")
      .send();
  });
}
