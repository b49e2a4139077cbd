/**
 * The dashboard page, `GET /`: served without a token (the page asks for one itself), under a
 * Content-Security-Policy with a fresh nonce per response (Hono's `secureHeaders`), so its
 * inline style and script run and nothing else does.
 * @module
 */

import { Hono } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { AdminEnv } from "../_context.ts";
import { COMMON_HEADERS } from "../_http.ts";
import { dashboardPage } from "../dashboard.ts";

/** The paths served without a token. */
export const DASHBOARD_PATHS: readonly string[] = ["/"];

/** The route above. */
export function dashboardRoutes(): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.get(
    "/",
    secureHeaders({
      xFrameOptions: "DENY",
      strictTransportSecurity: false,
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: [NONCE],
        styleSrc: [NONCE],
        connectSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
    }),
    (c) =>
      new Response(dashboardPage(c.get("secureHeadersNonce") ?? ""), {
        headers: { ...COMMON_HEADERS, "content-type": "text/html; charset=utf-8" },
      }),
  );
  return app;
}
