// GET .../xet-read-token/{rev} and .../xet-write-token/{rev} — Agora speaks plain LFS. The 501
// tells users of huggingface_hub ≥ 1.20 (which uploads through Xet whenever hf_xet is
// installed) exactly what to set.

import { AgoraError } from "../../errors.ts";
import type { RepoRouteContext } from "../route-context.ts";

export async function xetTokenRoute({ services, caller, match }: RepoRouteContext) {
  await services.repos.findReadable(caller, match.repoType, match.repoId);
  throw new AgoraError("XetNotSupported");
}
