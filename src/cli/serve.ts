// `agora serve`: build the services and the app, listen, print the URL, and shut down
// gracefully on SIGINT/SIGTERM (stop accepting, finish in-flight requests, close the database).

import type { Config } from "../config/config.ts";
import { buildServices } from "../services/index.ts";
import { buildApp } from "../http/app.ts";

export async function serve(config: Config): Promise<void> {
  const services = buildServices(config);
  await services.reconcileListings();
  const app = await buildApp(services);
  const address = await app.listen({ port: config.port, host: config.host });
  const url = config.publicUrl || address;
  process.stdout.write(`Agora is listening on ${url} (data: ${config.dataDir})\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`received ${signal}, shutting down\n`);
    const timer = setTimeout(() => process.exit(1), 30_000);
    timer.unref();
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
