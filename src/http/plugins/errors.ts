// The one error handler: every failure leaves in the Hub's wire format (hub-api.md §3.3):
// status, `X-Error-Code`, `X-Error-Message`, and JSON `{"error": message}`. Unknown routes get
// a plain 404 *without* X-Error-Code (transformers relies on that to fall back).

import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import { AgoraError, errorCodes, isAgoraError, type ErrorCode } from "../../errors.ts";
import { MalformedPathError } from "../hub-paths.ts";

/** Header values must be Latin-1 without line breaks; keep them short. */
function headerSafe(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, "?").slice(0, 1000);
}

/**
 * `plainText`: the body is the message as text/plain, for git's smart HTTP, which shows such
 * a body to the user (as "remote: …" lines) and nothing of a JSON one.
 */
export function sendError(reply: FastifyReply, error: AgoraError, options: { plainText?: boolean } = {}): FastifyReply {
  reply.code(error.status);
  // Drop the success headers a route may have set first; the error's own headers (e.g.
  // `Content-Range: bytes */size` on a 416) are applied after, so they survive.
  reply.removeHeader("Content-Length");
  reply.removeHeader("Content-Range");
  reply.removeHeader("ETag");
  reply.removeHeader("X-Linked-Etag");
  reply.removeHeader("X-Linked-Size");
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  reply.header("X-Error-Code", error.code);
  reply.header("X-Error-Message", headerSafe(error.message));
  if (options.plainText) return reply.header("Content-Type", "text/plain; charset=utf-8").send(`${error.message}\n`);
  reply.header("Content-Type", "application/json; charset=utf-8");
  return reply.send(JSON.stringify({ error: error.message, ...error.body }));
}

/** Maps Fastify's own errors (bad JSON, body too large, …) onto our codes. */
function fromFastifyError(error: FastifyError): AgoraError | undefined {
  const status = error.statusCode ?? 500;
  if (status >= 500) return undefined;
  const code: ErrorCode = status === 413 ? "PayloadTooLarge" : status === 415 ? "BadRequest" : status === 404 ? "NotFound" : "BadRequest";
  return new AgoraError(code, error.message, { status: code === "BadRequest" ? 400 : errorCodes[code].status });
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let agoraError: AgoraError | undefined;
    if (isAgoraError(error)) agoraError = error;
    else if (error instanceof MalformedPathError) agoraError = new AgoraError("BadRequest", error.message);
    else agoraError = fromFastifyError(error);
    if (!agoraError) {
      request.log.error({ err: error }, "unhandled error");
      agoraError = new AgoraError("Internal", `Internal error (request ${request.id})`);
    }
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    return sendError(reply, agoraError);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type("text/plain; charset=utf-8").send("Not Found");
  });
}
