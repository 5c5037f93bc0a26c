// GET /{id}[.git]/info/refs?service=git-upload-pack|git-receive-pack — the ref advertisement
// that starts every clone, fetch and push (hub-api.md §12.1). Errors answer in plain text,
// which git shows to the user as "remote: …" lines (it shows nothing of a JSON body).

import { AgoraError, isAgoraError } from "../../errors.ts";
import { advertiseRefs, gitProtocolFrom } from "../../git/smart-http.ts";
import { sendError } from "../plugins/errors.ts";
import { queryValue, type RepoRouteContext } from "../route-context.ts";
import { repoForFetch, repoForPush } from "./git-auth.ts";

export async function gitInfoRefsRoute(ctx: RepoRouteContext) {
  const service = queryValue(ctx.query, "service");
  try {
    if (service !== "git-upload-pack" && service !== "git-receive-pack") {
      throw new AgoraError("BadRequest", "Agora serves git over smart HTTP only: ?service=git-upload-pack or git-receive-pack");
    }
    const repo = service === "git-receive-pack" ? await repoForPush(ctx) : await repoForFetch(ctx);
    // The license policy judges clones and fetches (never pushes); a fetch starts here, so a
    // dry-run refusal is logged here once rather than on each upload-pack request that follows.
    if (service === "git-upload-pack") {
      const refusal = await ctx.services.licensePolicy.repositoryRefusal(repo, { download: "git clone/fetch", baseUrl: ctx.baseUrl, log: ctx.request.log });
      if (refusal) throw refusal;
    }
    const dir = ctx.services.repos.repoDir(repo);
    const { prefix, stream } = advertiseRefs(dir, service === "git-receive-pack" ? "receive-pack" : "upload-pack", gitProtocolFrom(ctx.request.headers["git-protocol"]));
    ctx.reply.header("Content-Type", `application/x-${service}-advertisement`);
    ctx.reply.header("Cache-Control", "no-cache, max-age=0, must-revalidate");
    if (prefix) stream.unshift(Buffer.from(prefix));
    return ctx.reply.send(stream);
  } catch (error) {
    if (isAgoraError(error)) return sendError(ctx.reply, error, { plainText: true });
    throw error;
  }
}
