// POST /{id}[.git]/git-receive-pack — push. Runs under the repository's write lock, so a push
// and an API commit never interleave: an API commit waiting behind a push lands on top of it
// (or gets 412 if its parentCommit went stale), and a push whose refs moved after the
// advertisement is refused by git's own compare-and-swap. Agora's pre-receive hook checks the
// pushed objects before any ref moves; afterwards the listing metadata follows the new head.

import { PassThrough, type Readable } from "node:stream";
import { listRefs } from "../../git/bare-repo.ts";
import { HOOKS_DIR, gitProtocolFrom, runService } from "../../git/smart-http.ts";
import type { RepoRouteContext } from "../route-context.ts";
import { repoForPush } from "./git-auth.ts";
import path from "node:path";

export async function gitReceivePackRoute(ctx: RepoRouteContext) {
  const repo = await repoForPush(ctx);
  const dir = ctx.services.repos.repoDir(repo);
  const socket = ctx.request.raw.socket;
  const host = socket.localAddress?.includes(":") ? `[${socket.localAddress}]` : socket.localAddress;
  const release = await acquire(ctx, repo.id);
  const push = ctx.services.gitPush.begin(repo);
  try {
    const before = (await listRefs(dir)).branches.get("main");
    const exchange = runService(dir, "receive-pack", ctx.request.body as Readable, {
      gzip: ctx.request.headers["content-encoding"] === "gzip",
      gitProtocol: gitProtocolFrom(ctx.request.headers["git-protocol"]),
      env: {
        AGORA_NODE: process.execPath,
        AGORA_HOOK_SCRIPT: path.join(HOOKS_DIR, "pre-receive-client.mjs"),
        AGORA_HOOK_URL: `http://${host}:${socket.localPort}/internal/git-hooks/pre-receive`,
        AGORA_HOOK_SECRET: push.secret,
      },
    });
    ctx.reply.header("Content-Type", "application/x-git-receive-pack-result");
    ctx.reply.header("Cache-Control", "no-cache, max-age=0, must-revalidate");
    // The response ends only once the listing follows the new head: when `git push` returns,
    // the API (lastModified, cardData, listing order) already shows the push.
    const output = new PassThrough();
    exchange.stream.pipe(output, { end: false });
    exchange.done
      .then(async () => {
        try {
          const after = (await listRefs(dir)).branches.get("main");
          if (after && after !== before) await ctx.services.repos.refreshListing(repo, after);
          ctx.services.objectPacker.afterWrite(dir); // a small push is unpacked into loose objects
        } finally {
          push.end();
          release();
          output.end();
        }
      })
      .catch((error: unknown) => ctx.request.log.error({ err: error }, "updating the listing after a push failed"));
    return ctx.reply.send(output);
  } catch (error) {
    push.end();
    release();
    throw error;
  }
}

/** Takes the repository's write lock and returns its release function. */
function acquire(ctx: RepoRouteContext, repoId: string): Promise<() => void> {
  return new Promise((resolveAcquired) => {
    void ctx.services.lock(repoId, () => new Promise<void>((release) => resolveAcquired(release)));
  });
}
