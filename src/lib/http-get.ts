// GET requests to an upstream hub, through undici's `request` (the HTTP client Node's own fetch is
// built on, without fetch's web streams).
//
// Why not fetch: a cold mirror download moves every byte of a file through this client. fetch hands
// the body out as a web ReadableStream, and turning that into Node stream chunks cost ~2.8 s of CPU
// per GiB on loopback here, against ~1.7–2.0 s for `request`'s Node stream (same machine, same
// 1 GiB, alternating runs). Redirects are not followed here: the caller decides, hop by hop,
// which credentials each host may see. A connection that breaks before the answer is retried once
// (see below); one that breaks mid-body is the caller's failure to handle.

import type { Readable } from "node:stream";

export interface HttpGetResponse {
  readonly status: number;
  /** The URL that answered. */
  readonly url: string;
  /** A response header (several values joined with ", "), or undefined. */
  header(name: string): string | undefined;
  /** The body, as a Node stream of Buffers; it errors if the connection breaks mid-body. */
  readonly body: Readable;
  json(): Promise<unknown>;
  /** Drops the rest of the body; never throws. */
  discard(): Promise<void>;
}

/**
 * How a kept-alive connection that the server closed just as it was reused fails, before any
 * answer (undici's "other side closed"). Servers close idle connections on their own schedule
 * (Node's after 5 s), so under load this race is routine; browsers and curl retry such a request
 * once on a fresh connection, and so does this (a GET may be repeated).
 */
const BROKEN_BEFORE_ANSWER = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export async function httpGet(url: string, options: { headers: Record<string, string>; signal: AbortSignal }): Promise<HttpGetResponse> {
  // Imported on first use: only a hub with upstreams needs it, and loading it costs every
  // `agora` command ~0.15 s of start-up.
  const { request } = await import("undici");
  const send = () => request(url, { method: "GET", headers: options.headers, signal: options.signal });
  let answer: Awaited<ReturnType<typeof send>>;
  try {
    answer = await send();
  } catch (error) {
    if (options.signal.aborted || !BROKEN_BEFORE_ANSWER.has((error as { code?: string }).code ?? "")) throw error;
    answer = await send(); // the broken connection is gone: this one is new, or another idle one
  }
  return {
    status: answer.statusCode,
    url,
    header(name) {
      const value = answer.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(", ") : value;
    },
    body: answer.body,
    json: () => answer.body.json(),
    discard: () => answer.body.dump().catch(() => {}),
  };
}
