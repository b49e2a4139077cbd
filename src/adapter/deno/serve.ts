/**
 * Serves a fetch handler with `Deno.serve`. The only file of the admin endpoint that uses `Deno`.
 * @module
 */

import type { HttpListener, HttpServeOptions } from "../../admin/server.ts";

/** Listens on `hostname:port`; throws when the address cannot be bound. */
export function serveHttp(options: HttpServeOptions): Promise<HttpListener> {
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
    onError: (error) => {
      options.onError(error);
      return new Response(JSON.stringify({ error: "Internal server error" }), {
        status: 500,
        headers: { "content-type": "application/json; charset=utf-8" },
      });
    },
  }, (request) => options.handler(request, { disableIdleTimeout: () => {} }));
  const addr = server.addr as Deno.NetAddr;
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    stop: async () => {
      await server.shutdown();
    },
  });
}
