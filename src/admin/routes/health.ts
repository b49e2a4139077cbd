/**
 * Admin routes for probes:
 * - `GET /healthz`: the process answers (no token, any Host; mounted ahead of every check);
 * - `GET /readyz`: the store answers and accepts writes; 503 otherwise.
 * @module
 */

import { Hono } from "hono";
import type { StorageFullError } from "../../errors.ts";
import type { TaskStore } from "../../store/store.ts";
import type { AdminContext, AdminEnv } from "../_context.ts";
import { HttpError, jsonResponse } from "../_http.ts";

/** `Retry-After` of answers that say "not now". */
export const RETRY_LATER = { "retry-after": "30" };

/** `GET /healthz`, answered before the Host, origin and token checks. */
export function livenessRoute(): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.get("/healthz", () => jsonResponse({ status: "ok" }));
  return app;
}

/** `GET /readyz`. */
export function readinessRoute(ctx: AdminContext): Hono<AdminEnv> {
  const { store } = ctx;
  const app = new Hono<AdminEnv>();
  app.get("/readyz", async () => {
    let full: StorageFullError | undefined;
    try {
      await store.stats();
      full = await storageFull(store);
    } catch (error) {
      ctx.onError(error);
      throw new HttpError(503, "The store is not reachable or not migrated");
    }
    // Not ready while writes fail: a balancer sends enqueues elsewhere until space is freed.
    if (full) throw new HttpError(503, full.message, { reason: "storage-full" }, RETRY_LATER);
    return jsonResponse({ status: "ready" });
  });
  return app;
}

/**
 * The store's {@linkcode StorageFullError} while its writes fail for lack of space (the SQLite
 * store tells; other stores do not, and count as writable).
 */
async function storageFull(store: TaskStore): Promise<StorageFullError | undefined> {
  const check = (store as { storageFull?: () => Promise<StorageFullError | undefined> })
    .storageFull;
  return typeof check === "function" ? await check.call(store) : undefined;
}
