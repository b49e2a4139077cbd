/**
 * Serves a fetch handler with `Bun.serve`. The only file of the admin endpoint that uses `Bun`.
 * @module
 */

import type { HttpListener, HttpServeOptions } from "../../admin/server.ts";

/** Seconds a connection may stay idle (headers, body, keep-alive) before Bun closes it. */
const IDLE_TIMEOUT_SECONDS = 30;

/** The part of Bun's server this adapter uses. */
interface BunServer {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
  timeout(request: Request, seconds: number): void;
}

interface BunServeOptions {
  hostname: string;
  port: number;
  idleTimeout: number;
  maxRequestBodySize: number;
  development: boolean;
  reusePort: boolean;
  fetch(request: Request, server: BunServer): Promise<Response>;
  error(error: Error): Response;
}

/** Listens on `hostname:port`; throws when the address cannot be bound. */
export function serveHttp(options: HttpServeOptions): Promise<HttpListener> {
  const bun =
    (globalThis as unknown as { Bun: { serve(options: BunServeOptions): BunServer } }).Bun;
  const server = bun.serve({
    hostname: options.hostname,
    port: options.port,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    // Far above the handler's own limit: Bun refuses a larger Content-Length itself with an
    // empty 413, so the handler (which refuses by Content-Length before reading, and counts a
    // streamed body) answers instead, with its JSON error.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    development: false,
    // With `development: false` Bun 1.4 sets SO_REUSEPORT unless told otherwise, and a second
    // server on the same port would start and share the traffic instead of failing.
    reusePort: false,
    fetch(request, server) {
      return options.handler(request, { disableIdleTimeout: () => server.timeout(request, 0) });
    },
    error(error) {
      options.onError(error);
      return new Response(JSON.stringify({ error: "Internal server error" }), {
        status: 500,
        headers: { "content-type": "application/json; charset=utf-8" },
      });
    },
  });
  return Promise.resolve({
    hostname: server.hostname,
    port: server.port,
    stop: () => server.stop(true),
  });
}
