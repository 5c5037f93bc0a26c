// Starts a real Agora for a test: a fresh temp data directory, real SQLite, real git, listening
// on 127.0.0.1:0. Cleanup is registered on the test context.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, type TestContext } from "node:test";
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

export function tempDir(t: { after: (fn: () => void) => void }, prefix = "agora-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startHub(t: Pick<TestContext, "after">, options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestHub> {
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
  t.after(close);
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
