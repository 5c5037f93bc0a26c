// Access decisions for git and git-lfs requests. git and git-lfs first try without
// credentials and only ask the user's credential helper after a 401 that carries a Basic
// challenge (WWW-Authenticate for git, LFS-Authenticate for git-lfs).

import { AgoraError, isAgoraError } from "../../errors.ts";
import type { RepoRouteContext } from "../route-context.ts";
import type { Repo } from "../../services/repos.ts";

const REALM = 'Basic realm="Agora"';

/** Re-throws 401s with the challenge header git (or git-lfs) needs to retry with credentials. */
export async function withAuthChallenge<T>(kind: "git" | "lfs", work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isAgoraError(error) && error.status === 401) {
      const header: Record<string, string> = kind === "git" ? { "WWW-Authenticate": REALM } : { "LFS-Authenticate": REALM, "WWW-Authenticate": REALM };
      throw new AgoraError(error.code, error.message, { status: 401, headers: { ...error.headers, ...header }, body: { ...error.body, message: error.message } });
    }
    throw error;
  }
}

/** Clone/fetch: read access and, for gated repositories, a grant. */
export async function repoForFetch({ services, caller, match, request }: RepoRouteContext): Promise<Repo> {
  return withAuthChallenge("git", async () => {
    const repo = await services.repos.findReadable(caller, match.repoType, match.repoId);
    await services.access.assertFileAccess(caller, repo, request.raw.url ?? "");
    return repo;
  });
}

/** Push: anonymous pushes are challenged; then write rights are required. */
export async function repoForPush({ services, caller, match }: RepoRouteContext): Promise<Repo> {
  return withAuthChallenge("git", async () => {
    if (!caller) throw new AgoraError("AuthRequired", "Pushing needs a write token: use it as the password (any user name)");
    return services.repos.findWritable(caller, match.repoType, match.repoId);
  });
}
