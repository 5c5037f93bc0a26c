// Builds the Fastify application from the services. Never listens: `serve` and the tests do.

import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import type { Services } from "../services/index.ts";
import { registerAuth } from "./plugins/auth.ts";
import { registerBodyParsers } from "./plugins/body-parsers.ts";
import { registerErrorHandling } from "./plugins/errors.ts";
import { registerCors } from "./plugins/cors.ts";
import { registerRoutes } from "./routes/index.ts";
import { createSendStallWatch, type SendStallWatch } from "./send-stall.ts";

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    logger: services.config.logLevel === "silent" ? false : { level: services.config.logLevel },
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: 16 * 1024 * 1024,
    // Repository URLs are routed on the raw path (hub-paths.ts), so keep Fastify's router out of the way.
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 4096 },
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });
  app.decorate("services", services);
  // One log line per request is noise at info level: request logs only at debug and trace.
  if (services.config.logLevel !== "debug" && services.config.logLevel !== "trace") {
    app.addHook("onRoute", (route) => {
      route.logLevel ??= "warn";
    });
  }
  app.addHook("onRequest", async (request, reply) => {
    reply.header("X-Request-Id", request.id);
  });
  // Closing only drops connections idle at that moment: one still streaming a response would
  // then stay open for the whole keep-alive timeout (72 s) and hold close() up. End such a
  // connection as soon as its response is done.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onResponse", async (request) => {
    if (closing) request.raw.socket?.end();
  });
  // A response whose client takes no byte for sendIdleTimeoutSeconds is cut (send-stall.ts).
  // Responses that take the socket over (send-file.ts) watch themselves.
  const sendStalls = createSendStallWatch(services.config.sendIdleTimeoutSeconds * 1000);
  app.decorate("sendStalls", sendStalls);
  app.addHook("onSend", async (request, reply, payload) => {
    sendStalls.watch(reply.raw, (seconds) => request.log.warn(`the client took no byte of the response for ${seconds} s; connection closed`));
    return payload;
  });
  app.addHook("onClose", async () => sendStalls.close());
  registerCors(app);
  registerErrorHandling(app);
  registerBodyParsers(app);
  registerAuth(app, services);
  registerRoutes(app, services);
  await app.ready();
  return app;
}

declare module "fastify" {
  interface FastifyInstance {
    services: Services;
    sendStalls: SendStallWatch;
  }
}
