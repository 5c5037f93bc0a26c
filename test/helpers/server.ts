// Starts a real Agora for a test: a fresh temp data directory, real SQLite, real git, listening
// on 127.0.0.1:0. Cleanup is registered on the test context.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { buildServices, type Services } from "../../src/services/index.ts";
import { buildApp } from "../../src/http/app.ts";

export type TestHub = {
  url: string;
  dataDir: string;
  services: Services;
  /** Creates a user (if needed) and returns a new token for it. */
  token(user: string, role?: "read" | "write", expiresInDays?: number): Promise<string>;
  close(): Promise<void>;
};

type CleanupScope = { after: (fn: () => unknown) => void };

const cleanupStacks = new WeakMap<CleanupScope, Array<() => unknown>>();

/**
 * Runs `fn` after the test, in reverse order of registration, like a stack of `defer`s: a hub
 * started on a temp directory is closed before the directory is removed. node:test runs `t.after`
 * hooks in the order they were added, which would remove the directory first, under a hub that
 * may still be packing objects into it; and a failing hook would skip the close, leaving the
 * hub listening and the test process alive. Every cleanup runs; the first failure is rethrown.
 */
export function deferCleanup(t: CleanupScope, fn: () => unknown): void {
  let stack = cleanupStacks.get(t);
  if (!stack) {
    const fns: Array<() => unknown> = [];
    cleanupStacks.set(t, fns);
    t.after(async () => {
      let failure: unknown;
      for (const cleanup of fns.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== undefined) throw failure;
    });
    stack = fns;
  }
  stack.push(fn);
}

export function tempDir(t: CleanupScope, prefix = "agora-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  deferCleanup(t, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startHub(t: CleanupScope, options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestHub> {
  const dataDir = options.dataDir ?? tempDir(t);
  const config = loadConfig({ env: { AGORA_DATA: dataDir, AGORA_PORT: "0", AGORA_LOG_LEVEL: "silent", ...options.env } });
  const services = buildServices(config);
  const app = await buildApp(services);
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await services.close();
  };
  deferCleanup(t, close);
  return {
    url: address,
    dataDir,
    services,
    async token(user, role = "write", expiresInDays) {
      return (await services.accounts.createToken(user, { role, expiresInDays })).token;
    },
    close,
  };
}

/**
 * Cleanups for hubs and directories shared by the tests of a suite (`describe`), run in reverse
 * order after its last test: pass it where `startHub` or `tempDir` expect a test context.
 */
export function suiteScope(): { after: (fn: () => unknown) => void } {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return { after: (fn: () => unknown) => void cleanups.push(fn) };
}
