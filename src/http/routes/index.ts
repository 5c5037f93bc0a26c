// Every route of the hub, in one greppable list. Fixed paths are ordinary Fastify routes;
// repository-scoped paths (irregular: one- or two-segment ids, encoded or raw revisions) go
// through two dispatchers that parse the raw URL (hub-paths.ts) and look the operation up in
// the tables below.

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Services } from "../../services/index.ts";
import { parseApiRepoPath, parseFileRepoPath, splitPath, withRepoId, type RepoOp, type RepoPathMatch } from "../hub-paths.ts";
import { baseUrlOf, parseQuery, type RepoRouteHandler } from "../route-context.ts";
import { whoamiRoute } from "./whoami.ts";
import { validateYamlRoute } from "./validate-yaml.ts";
import { listReposRoute } from "./list-repos.ts";
import { createRepoRoute } from "./create-repo.ts";
import { deleteRepoRoute } from "./delete-repo.ts";
import { repoInfoRoute } from "./repo-info.ts";
import { listTreeRoute } from "./list-tree.ts";
import { pathsInfoRoute } from "./paths-info.ts";
import { listRefsRoute } from "./list-refs.ts";
import { listCommitsRoute } from "./list-commits.ts";
import { commitRoute } from "./commit.ts";
import { preuploadRoute } from "./preupload.ts";
import { updateSettingsRoute } from "./update-settings.ts";
import { createBranchRoute } from "./create-branch.ts";
import { deleteBranchRoute } from "./delete-branch.ts";
import { createTagRoute } from "./create-tag.ts";
import { deleteTagRoute } from "./delete-tag.ts";
import { xetTokenRoute } from "./xet-token.ts";
import { authCheckRoute } from "./auth-check.ts";
import { askAccessRoute } from "./ask-access.ts";
import { resolveFileRoute } from "./resolve-file.ts";
import { lfsBatchRoute } from "./lfs-batch.ts";
import { lfsUploadRoute } from "./lfs-upload.ts";
import { lfsVerifyRoute } from "./lfs-verify.ts";
import { lfsDownloadRoute } from "./lfs-download.ts";
import { gitInfoRefsRoute } from "./git-info-refs.ts";
import { gitUploadPackRoute } from "./git-upload-pack.ts";
import { gitReceivePackRoute } from "./git-receive-pack.ts";
import { gitHookRoute } from "./git-hook.ts";

type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

/** Reads that make a missing repository fall through to the mirror's upstreams (services/mirror.ts); the value: whether a stale branch is revalidated first. */
const mirrorReads: Partial<Record<RepoOp, boolean>> = {
  info: true,
  revision: true,
  tree: true,
  "paths-info": true,
  refs: true,
  commits: true,
  resolve: true,
  raw: true,
  "git-info-refs": true,
  "git-upload-pack": false,
  "ask-access": false,
};

/** op → method → handler, for `/api/{models|datasets}/{id}/...`. */
const apiRepoRoutes: Partial<Record<RepoOp, Partial<Record<Method, RepoRouteHandler>>>> = {
  info: { GET: repoInfoRoute },
  revision: { GET: repoInfoRoute },
  tree: { GET: listTreeRoute },
  "paths-info": { POST: pathsInfoRoute },
  refs: { GET: listRefsRoute },
  commits: { GET: listCommitsRoute },
  commit: { POST: commitRoute },
  preupload: { POST: preuploadRoute },
  settings: { PUT: updateSettingsRoute },
  branch: { POST: createBranchRoute, DELETE: deleteBranchRoute },
  tag: { POST: createTagRoute, DELETE: deleteTagRoute },
  "xet-read-token": { GET: xetTokenRoute },
  "xet-write-token": { GET: xetTokenRoute },
  "auth-check": { GET: authCheckRoute },
  "ask-access": { POST: askAccessRoute },
};

/** op → method → handler, for `/{id}/resolve/...`, `/datasets/{id}/...`, `/{id}.git/info/lfs/...`. */
const fileRepoRoutes: Partial<Record<RepoOp, Partial<Record<Method, RepoRouteHandler>>>> = {
  resolve: { GET: resolveFileRoute, HEAD: resolveFileRoute },
  raw: { GET: resolveFileRoute, HEAD: resolveFileRoute },
  "lfs-batch": { POST: lfsBatchRoute },
  "ask-access": { POST: askAccessRoute },
  "git-info-refs": { GET: gitInfoRefsRoute },
  "git-upload-pack": { POST: gitUploadPackRoute },
  "git-receive-pack": { POST: gitReceivePackRoute },
};

export function registerRoutes(app: FastifyInstance, services: Services): void {
  app.get("/api/whoami-v2", (request, reply) => whoamiRoute(request, reply, services));
  app.post("/api/validate-yaml", (request, reply) => validateYamlRoute(request, reply));
  app.get("/api/models", (request, reply) => listReposRoute(request, reply, services, "model"));
  app.get("/api/datasets", (request, reply) => listReposRoute(request, reply, services, "dataset"));
  app.post("/api/repos/create", (request, reply) => createRepoRoute(request, reply, services));
  app.delete("/api/repos/delete", (request, reply) => deleteRepoRoute(request, reply, services));
  app.put("/lfs-upload/:oid", (request, reply) => lfsUploadRoute(request, reply, services));
  app.post("/lfs-verify/:oid", (request, reply) => lfsVerifyRoute(request, reply, services));
  app.get("/lfs-download/:oid", (request, reply) => lfsDownloadRoute(request, reply, services));
  app.post("/internal/git-hooks/pre-receive", (request, reply) => gitHookRoute(request, reply, services));

  for (const [prefix, type] of [["/api/models/*", "model"], ["/api/datasets/*", "dataset"]] as const) {
    app.route({
      method: ["GET", "POST", "PUT", "DELETE"],
      url: prefix,
      handler: (request, reply) => {
        const segments = splitPath(request.raw.url ?? "").slice(2);
        return dispatch(request, reply, services, parseApiRepoPath(type, segments), apiRepoRoutes);
      },
    });
  }
  app.route({
    method: ["GET", "HEAD", "POST"],
    url: "/*",
    exposeHeadRoute: false,
    handler: (request, reply) => dispatch(request, reply, services, parseFileRepoPath(splitPath(request.raw.url ?? "")), fileRepoRoutes),
  });
}

async function dispatch(
  request: FastifyRequest,
  reply: FastifyReply,
  services: Services,
  candidates: RepoPathMatch[],
  table: Partial<Record<RepoOp, Partial<Record<Method, RepoRouteHandler>>>>,
): Promise<unknown> {
  const routable = candidates.filter((c) => table[c.op]?.[request.method as Method]);
  if (!routable.length) return reply.code(404).type("text/plain; charset=utf-8").send("Not Found");
  let chosen = routable[0];
  if (routable.length > 1) {
    for (const candidate of routable) {
      if (await services.repos.find(candidate.repoType, candidate.repoId)) {
        chosen = candidate;
        break;
      }
    }
  }
  const handler = table[chosen.op]![request.method as Method]!;
  const refresh = mirrorReads[chosen.op];
  if (refresh !== undefined && services.mirror.enabled) {
    const warning = await services.mirror.prepare(chosen.repoType, chosen.repoId, chosen.rev, { refresh });
    if (warning) reply.header("X-HF-Warning", warning);
  }
  // A repository renamed upstream answers under its new id: a 307 like the Hub's, relative so that
  // the Python client's HEAD (which follows only relative redirects) follows it too.
  const renamed = await services.mirror.renamedTo(chosen.repoType, chosen.repoId);
  const moved = renamed ? withRepoId(request.raw.url ?? "", chosen, renamed) : undefined;
  if (moved) {
    const location = `${new URL(baseUrlOf(request, services)).pathname.replace(/\/$/, "")}${moved}`;
    reply.code(307).header("Location", location);
    return request.method === "HEAD" ? reply.send() : reply.type("text/plain; charset=utf-8").send(`Temporary Redirect. Redirecting to ${location}`);
  }
  return handler({
    request,
    reply,
    services,
    caller: request.caller,
    match: chosen,
    baseUrl: baseUrlOf(request, services),
    query: parseQuery(request.raw.url ?? ""),
  });
}
