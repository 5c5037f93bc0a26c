// A real HTTP proxy on loopback to put in front of an upstream hub in tests. It forwards every
// request to its target, records each one, and lets a test answer requests itself (faults,
// redirects, hangs), rewrite the forwarded path, or change response bodies on their way (faults
// on bytes, holds). Bodies are relayed with backpressure: a client that stops reading stops the
// proxy reading the upstream, so byte counts show what the client actually pulled.
//
//   const proxy = await startLoopbackProxy(upstream.url, {
//     intercept: (req, res) => (state.down ? (req.socket.destroy(), true) : false),
//     body: ({ answer }) => (state.fault ? midpointFault("reset", Number(answer.headers["content-length"])) : undefined),
//   });
//   t.after(proxy.close);
//   ... proxy.requests.filter((r) => r.url.includes("/resolve/") && !r.range) ...

import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request the proxy received, and what it sent back. */
export type ProxiedRequest = {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  range: string | undefined;
  /** The status sent to the client (the upstream's, or the one an intercept answered); undefined when none was sent (a hang, a dropped connection). */
  status: number | undefined;
  /** Body bytes sent to the client. */
  bytesOut: number;
};

/** What becomes of one upstream body chunk: the bytes to send in its place, a clean end of the body here, or a reset connection. */
export type ChunkOutcome = Buffer | "end" | "reset";

/** Handling of one response body, chosen per response by the `body` option. */
export type BodyHandler = {
  /** The response headers to send instead of the upstream's. */
  headers?(upstream: http.IncomingHttpHeaders): http.OutgoingHttpHeaders;
  /** Each upstream chunk in order; `offset` counts the bytes received before it. May wait (a hold). */
  chunk?(chunk: Buffer, offset: number): ChunkOutcome | Promise<ChunkOutcome>;
  /** The body ended cleanly (the upstream's end, or an "end" outcome); called before the response ends. */
  end?(): void;
};

export type LoopbackProxyOptions = {
  /** Called first for every request; answer it yourself (or never) and return true to stop forwarding. */
  intercept?(req: http.IncomingMessage, res: http.ServerResponse, record: ProxiedRequest): boolean | void;
  /** Rewrites the forwarded path (default: unchanged; the record keeps the path asked for). */
  path?(url: string): string;
  /** Per upstream response: how to handle its body, or undefined to relay it as it is. */
  body?(context: { req: http.IncomingMessage; answer: http.IncomingMessage; record: ProxiedRequest }): BodyHandler | undefined;
};

export type LoopbackProxy = { url: string; requests: ProxiedRequest[]; close(): Promise<void> };

/** Listens on 127.0.0.1 at a free port; `close` drops open connections (hung requests included). */
export async function listenOnLoopback(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** Starts a proxy to `target` (a function when the target can change, e.g. an upstream restarted on another port). */
export async function startLoopbackProxy(target: string | (() => string), options: LoopbackProxyOptions = {}): Promise<LoopbackProxy> {
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const record: ProxiedRequest = { method: req.method!, url: req.url!, headers: req.headers, range: req.headers.range, status: undefined, bytesOut: 0 };
    requests.push(record);
    if (options.intercept?.(req, res, record)) {
      if (res.headersSent) record.status = res.statusCode;
      return;
    }
    const upstream = new URL(typeof target === "function" ? target() : target);
    const path = options.path ? options.path(req.url!) : req.url!;
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers: { ...req.headers, host: upstream.host } }, (answer) => {
      const handler = options.body?.({ req, answer, record });
      record.status = answer.statusCode;
      res.writeHead(answer.statusCode!, handler?.headers ? handler.headers(answer.headers) : answer.headers);
      void relay(answer, res, record, handler);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  return { requests, ...(await listenOnLoopback(server)) };
}

async function relay(answer: http.IncomingMessage, res: http.ServerResponse, record: ProxiedRequest, handler: BodyHandler | undefined): Promise<void> {
  let offset = 0;
  try {
    for await (const received of answer as AsyncIterable<Buffer>) {
      const outcome = handler?.chunk ? await handler.chunk(received, offset) : received;
      offset += received.length;
      if (outcome === "end") break;
      if (outcome === "reset") return void res.socket?.destroy();
      record.bytesOut += outcome.length;
      if (!res.write(outcome)) await drainedOrClosed(res);
      if (res.destroyed) return; // the client went away; leaving the loop stops reading the upstream
    }
    handler?.end?.();
    res.end();
  } catch {
    res.destroy();
  }
}

/** Waits for `drain` or `close` and removes both listeners (a race of `once` would leave one behind per wait). */
function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/**
 * A fault in the middle of a body of `length` bytes: "truncate" ends the body cleanly there and
 * sends no Content-Length (so the short body looks complete), "wrong-bytes" flips the middle
 * byte, "reset" drops the connection there.
 */
export function midpointFault(kind: "truncate" | "wrong-bytes" | "reset", length: number): BodyHandler {
  const middle = length / 2;
  return {
    headers(upstream) {
      const headers = { ...upstream };
      if (kind === "truncate") delete headers["content-length"];
      return headers;
    },
    chunk(chunk, offset) {
      const end = offset + chunk.length;
      if (kind === "truncate" && offset >= middle) return "end";
      if (kind === "reset" && end > middle) return "reset";
      if (kind === "wrong-bytes" && offset <= middle && end > middle) {
        const altered = Buffer.from(chunk);
        altered[Math.floor(middle) - offset] ^= 0xff;
        return altered;
      }
      return chunk;
    },
  };
}
