/**
 * Admin route of live events: `GET /api/events`, a Server-Sent Events stream (see
 * `event_stream.ts`); at most `maxEventStreams` at once, more get 503 with `Retry-After`.
 * @module
 */

import { Hono } from "hono";
import { type AdminContext, type AdminEnv, connectionOf } from "../_context.ts";
import { COMMON_HEADERS, HttpError } from "../_http.ts";
import { taskEventStream } from "../event_stream.ts";

/** The route above. */
export function eventRoutes(ctx: AdminContext): Hono<AdminEnv> {
  let open = 0;
  const app = new Hono<AdminEnv>();
  app.get("/api/events", (c) => {
    if (open >= ctx.maxEventStreams) {
      const message = `Too many event streams are open (limit ${ctx.maxEventStreams})`;
      throw new HttpError(503, message, undefined, { "retry-after": "5" });
    }
    open++;
    connectionOf(c).disableIdleTimeout();
    // The stream is cancelled when the client leaves; `request.signal` is not watched, since
    // Deno warns about its legacy abort-on-success behaviour once it is touched.
    const body = taskEventStream({
      store: ctx.store,
      signals: ctx.signals,
      heartbeatMillis: ctx.heartbeatMillis,
      signal: ctx.closing,
      onClose: () => open--,
    });
    return new Response(body, {
      headers: {
        ...COMMON_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        "x-accel-buffering": "no",
      },
    });
  });
  return app;
}
