// POST /{id}[.git]/git-upload-pack — clone and fetch: the request body streams into
// `git upload-pack --stateless-rpc`, its output streams back.

import type { Readable } from "node:stream";
import { isAgoraError } from "../../errors.ts";
import { gitProtocolFrom, runService } from "../../git/smart-http.ts";
import { sendError } from "../plugins/errors.ts";
import type { RepoRouteContext } from "../route-context.ts";
import { repoForFetch } from "./git-auth.ts";

export async function gitUploadPackRoute(ctx: RepoRouteContext) {
  let repo;
  try {
    repo = await repoForFetch(ctx);
    // Enforced here too, for a client that skips info/refs; a dry-run refusal was logged there.
    const refusal = await ctx.services.licensePolicy.repositoryRefusal(repo, { download: "git clone/fetch", baseUrl: ctx.baseUrl });
    if (refusal) throw refusal;
  } catch (error) {
    if (isAgoraError(error)) return sendError(ctx.reply, error, { plainText: true });
    throw error;
  }
  const exchange = runService(ctx.services.repos.repoDir(repo), "upload-pack", ctx.request.body as Readable, {
    gzip: ctx.request.headers["content-encoding"] === "gzip",
    gitProtocol: gitProtocolFrom(ctx.request.headers["git-protocol"]),
  });
  // A client that goes away mid-clone must not leave git running ('close' on the response
  // fires on completion too, hence the writableFinished check).
  ctx.reply.raw.on("close", () => {
    if (!ctx.reply.raw.writableFinished) exchange.kill();
  });
  ctx.reply.header("Content-Type", "application/x-git-upload-pack-result");
  ctx.reply.header("Cache-Control", "no-cache, max-age=0, must-revalidate");
  return ctx.reply.send(exchange.stream);
}
