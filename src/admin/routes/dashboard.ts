/**
 * The dashboard page, `GET /`: served without a token (the page asks for one itself), under a
 * Content-Security-Policy with a fresh nonce per response (Hono's `secureHeaders`), so its
 * inline style and script run and nothing else does. The page is `dashboard/index.html`,
 * `style.css` and `app.ts`, built into `dashboard/_assets.ts` by `scripts/build_dashboard.ts`;
 * no external resource, so it works offline and inside the compiled binary.
 * @module
 */

import { Hono } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { AdminEnv } from "../_context.ts";
import { COMMON_HEADERS } from "../_http.ts";
import { DASHBOARD_HTML } from "../dashboard/_assets.ts";
import { NONCE_PLACEHOLDER } from "../dashboard/_nonce.ts";

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

/**
 * The dashboard page; `nonce` must match the `script-src`/`style-src` nonce of the response's
 * Content-Security-Policy.
 */
export function dashboardPage(nonce: string): string {
  return DASHBOARD_HTML.replaceAll(NONCE_PLACEHOLDER, nonce);
}
