// GET requests to an upstream hub, through undici's `request` (the HTTP client Node's own fetch is
// built on, without fetch's web streams).
//
// Why not fetch: a cold mirror download moves every byte of a file through this client. fetch hands
// the body out as a web ReadableStream, and turning that into Node stream chunks cost ~2.8 s of CPU
// per GiB on loopback here, against ~1.7–2.0 s for `request`'s Node stream (same machine, same
// 1 GiB, alternating runs). Redirects are not followed here: the caller decides, hop by hop,
// which credentials each host may see.

import type { Readable } from "node:stream";
import { request } from "undici";

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

export async function httpGet(url: string, options: { headers: Record<string, string>; signal: AbortSignal }): Promise<HttpGetResponse> {
  const answer = await request(url, { method: "GET", headers: options.headers, signal: options.signal });
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
