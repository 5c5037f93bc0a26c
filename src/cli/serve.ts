// `agora serve`: build the services and the app, listen, print the URL, and shut down
// gracefully on SIGINT/SIGTERM (stop accepting, finish in-flight requests, close the database).
//
// With `workers` > 1 this process supervises that many worker processes (node:cluster) sharing
// the listening socket: a Node process moves response bytes on one thread, so several processes
// let concurrent downloads use several cores. What requests share lives in SQLite (WAL) and git,
// both safe across processes, and ref updates are compare-and-swap, so workers stay consistent.

import cluster from "node:cluster";
import type { Config } from "../config/config.ts";
import { buildServices, type Services } from "../services/index.ts";
import { buildApp } from "../http/app.ts";
import { formatBytes } from "./mirror.ts";
import { DEFAULT_OLDER_THAN, parseDuration } from "./gc.ts";

export async function serve(config: Config): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) return supervise(config);
  const services = buildServices(config);
  if (cluster.isPrimary) await services.reconcileListings(); // workers: the supervisor did it
  const app = await buildApp(services);
  const address = await app.listen({ port: config.port, host: config.host }).catch((error: unknown) => {
    cluster.worker?.disconnect(); // a worker stays alive while connected to the supervisor
    throw error;
  });
  const url = config.publicUrl || address;
  if (cluster.isWorker) process.send!({ listening: url });
  else process.stdout.write(`Agora is listening on ${url} (data: ${config.dataDir})\n`);
  if (cluster.isPrimary) void evictAtStart(services); // workers: the supervisor did it
  const collections = cluster.isPrimary ? scheduleGarbageCollection(config, (work) => work(services)) : undefined; // workers: the supervisor runs them

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    if (cluster.isPrimary) process.stdout.write(`received ${signal}, shutting down\n`);
    const timer = setTimeout(() => process.exit(1), 30_000);
    timer.unref();
    await app.close();
    await collections?.stop();
    await services.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

/**
 * One eviction pass of the mirror cache at start-up, so a `cacheMax` lowered while the hub was
 * stopped takes effect without waiting for the next download. Never throws.
 */
async function evictAtStart(services: Services): Promise<void> {
  try {
    const report = await services.mirrorCache.evictIfNeeded();
    if (report.evicted.length > 0) {
      const freed = report.evicted.reduce((sum, object) => sum + object.size, 0);
      process.stdout.write(`mirror cache: evicted ${report.evicted.length} objects (${formatBytes(freed)}) at start-up to fit its limit of ${formatBytes(report.limitBytes ?? 0)}\n`);
    }
  } catch (error) {
    process.stderr.write(`agora: warning: mirror cache eviction at start-up failed: ${(error as Error).message}\n`);
  }
}

/**
 * Runs a garbage collection every `gcIntervalSeconds` (the first one interval after start-up), one
 * at a time, and prints what it freed. `withServices` lends the services for one run. Never throws.
 */
function scheduleGarbageCollection(config: Config, withServices: <T>(work: (services: Services) => Promise<T>) => Promise<T>): { stop(): Promise<void> } | undefined {
  if (config.gcIntervalSeconds <= 0) return undefined;
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= withServices(async (services) => {
      const report = await services.garbageCollector.collect({ olderThanMs: parseDuration(DEFAULT_OLDER_THAN), dryRun: false });
      const { lfs, git, temporary } = report;
      if (lfs.removed.length || git.unreachableObjects || git.orphanDirectories.length || temporary.removed.length) {
        process.stdout.write(
          `gc: removed ${lfs.removed.length} LFS objects (${formatBytes(lfs.removedBytes)}), ${git.unreachableObjects} unreachable git objects, ` +
            `${git.orphanDirectories.length} orphan repository directories, ${temporary.removed.length} temporary entries\n`,
        );
      }
      for (const failure of git.failures) process.stderr.write(`agora: warning: gc: ${failure}\n`);
    })
      .catch((error: unknown) => void process.stderr.write(`agora: warning: gc failed: ${(error as Error).message}\n`))
      .finally(() => (running = undefined));
  }, config.gcIntervalSeconds * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** Runs the start-up reconciliation once, forks the workers, replaces one that dies, and stops them all on SIGINT/SIGTERM. */
async function supervise(config: Config): Promise<void> {
  const services = buildServices(config);
  await services.reconcileListings();
  await evictAtStart(services);
  await services.close();
  // The supervisor serves no request: it opens the data directory only for each collection.
  const collections = scheduleGarbageCollection(config, async (work) => {
    const services = buildServices(config);
    try {
      return await work(services);
    } finally {
      await services.close();
    }
  });

  let ready = 0;
  let closing = false;
  const stopAll = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  cluster.on("message", (_worker, message: { listening?: string }) => {
    if (message?.listening && ++ready === config.workers) {
      process.stdout.write(`Agora is listening on ${message.listening} (data: ${config.dataDir}, workers: ${config.workers})\n`);
    }
  });
  cluster.on("exit", (worker, code, signal) => {
    if (!closing && ready >= config.workers) {
      process.stderr.write(`agora: worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another\n`);
      cluster.fork();
      return;
    }
    if (!closing) {
      // A worker that cannot start (port taken, bad data directory): the others cannot either.
      closing = true;
      process.exitCode = 1;
      stopAll("SIGTERM");
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit();
  });
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`received ${signal}, shutting down\n`);
    setTimeout(() => process.exit(1), 35_000).unref(); // workers give up after 30 s themselves
    void collections?.stop();
    stopAll("SIGTERM");
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  for (let i = 0; i < config.workers; i++) cluster.fork();
}
