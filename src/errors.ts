// The one registry of error codes Agora answers with.
//
// Every failure a service can report is an `AgoraError` carrying one of these codes. The HTTP
// error handler turns it into the Hub's wire format: the status below, `X-Error-Code`,
// `X-Error-Message` and a JSON body `{"error": message}`. The codes the official clients
// recognise (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`) keep the Hub's
// exact spelling; see docs/errors.md for the table generated from this file.

export const errorCodes = {
  BadRequest: { status: 400, message: "Bad request", description: "The request is malformed." },
  InvalidPath: { status: 400, message: "Invalid path", description: "A file path is unsafe or malformed." },
  InvalidRepoName: { status: 400, message: "Invalid repository name", description: "The repository id breaks the naming rules." },
  InvalidRefName: { status: 400, message: "Invalid reference name", description: "A branch or tag name is not allowed." },
  InvalidCredentials: { status: 401, message: "Invalid credentials in Authorization header", description: "The token is unknown, revoked or expired." },
  AuthRequired: { status: 401, message: "Authentication required", description: "The operation needs a token." },
  RepoNotFound: { status: 404, message: "Repository not found", description: "The repository does not exist or is not visible to the caller." },
  RevisionNotFound: { status: 404, message: "Invalid rev id", description: "The branch, tag or commit does not exist." },
  EntryNotFound: { status: 404, message: "Entry not found", description: "The file or folder does not exist at that revision." },
  GatedRepo: { status: 403, message: "Access to this model is restricted", description: "The repository is gated and the caller has no grant." },
  Forbidden: { status: 403, message: "Forbidden", description: "The token lacks the rights for this operation." },
  LicensePolicy: {
    status: 403,
    message: "Download refused by this hub's license policy",
    description: "The repository's license is denied by the hub's license policy (`licensePolicy` setting); the message names the license and the rule.",
  },
  NotFound: { status: 404, message: "Not found", description: "The requested object does not exist." },
  RepoExists: { status: 409, message: "You already created this repo", description: "A repository with that id exists." },
  RefExists: { status: 409, message: "Reference already exists", description: "A branch or tag with that name exists." },
  Conflict: { status: 409, message: "Conflict", description: "The request conflicts with the repository state." },
  StaleParent: {
    status: 412,
    message: "The branch was updated since you opened this page. Please refresh and try again.",
    description: "parentCommit is not the head of the branch.",
  },
  RequestTimeout: { status: 408, message: "Request timeout", description: "An upload body stopped arriving." },
  PayloadTooLarge: { status: 413, message: "Payload too large", description: "A body, line or file exceeds its limit." },
  RangeNotSatisfiable: { status: 416, message: "Requested range not satisfiable", description: "The Range header lies outside the file." },
  UnprocessableEntity: { status: 422, message: "Unprocessable entity", description: "The request is well-formed but cannot be applied." },
  LfsObjectMismatch: { status: 422, message: "Uploaded bytes do not match the announced oid or size", description: "An LFS upload failed verification." },
  LfsObjectMissing: { status: 422, message: "LFS object not found", description: "A commit names an LFS object that was never uploaded to this repository." },
  NotImplemented: { status: 501, message: "Not implemented", description: "The operation is not supported by Agora." },
  XetNotSupported: {
    status: 501,
    message:
      "Agora serves files over plain HTTP and LFS, not Xet. Set HF_HUB_DISABLE_XET=1 in the client's environment (or uninstall hf_xet) and retry.",
    description: "Xet token endpoints; clients must use LFS.",
  },
  UpstreamUnavailable: {
    status: 503,
    message: "The upstream hub this repository is mirrored from cannot be reached",
    description: "Pull-through mirror: the repository (or file) is not cached yet and the upstream is down, slow or answered with an error; retry later.",
  },
  Internal: { status: 500, message: "Internal error", description: "An unexpected failure; the log has details." },
} as const satisfies Record<string, { status: number; message: string; description: string }>;

export type ErrorCode = keyof typeof errorCodes;

export class AgoraError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra headers the wire response must carry (e.g. X-Repo-Commit on EntryNotFound). */
  readonly headers: Record<string, string>;
  /** Extra JSON fields beside `error` (e.g. `url` on RepoExists). */
  readonly body: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { status?: number; headers?: Record<string, string>; body?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message ?? errorCodes[code].message, { cause: options.cause });
    this.name = "AgoraError";
    this.code = code;
    this.status = options.status ?? errorCodes[code].status;
    this.headers = options.headers ?? {};
    this.body = options.body ?? {};
  }
}

export function isAgoraError(value: unknown): value is AgoraError {
  return value instanceof AgoraError;
}
