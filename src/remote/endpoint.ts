/**
 * What the admin handler mounts: the worker protocol's Hono app with its protocol built from
 * the handler's store, clock and limits, and the paths it serves.
 * @module
 */

import type { Hono } from "hono";
import type { AdminConnection } from "../admin/handler.ts";
import type { Clock } from "../clock.ts";
import type { TaskRegistry } from "../registry.ts";
import type { TaskStore } from "../store/store.ts";
import { RemoteWorkerProtocol } from "./protocol.ts";
import { type RemoteBindings, remoteRoutes } from "./routes.ts";

/** Options of the worker protocol on the admin endpoint (`createAdminHandler({ remote })`). */
export interface RemoteEndpointOptions {
  /** This process's task definitions, published by `GET /api/v1/task-types`. Default: none. */
  registry?: TaskRegistry | undefined;
  /** Lease of a remote worker that asks for none. Default 30000 ms. */
  leaseMillis?: number | undefined;
  /** The local workers' heartbeat timeout, told to remote workers. Default 10000 ms. */
  heartbeatTimeoutMillis?: number | undefined;
  /** Fallback poll of a long-polling fetch. Default 1000 ms. */
  pollMillis?: number | undefined;
}

/** The mounted app. */
export interface RemoteEndpoint {
  readonly app: Hono<{ Bindings: RemoteBindings }>;
  readonly protocol: RemoteWorkerProtocol;
  /** Whether the path is one of this app's: under `/api/v1/`, or `/api/openapi.json`. */
  serves(path: string): boolean;
  fetch(request: Request, connection: AdminConnection): Promise<Response>;
}

/** Builds the endpoint; throws `TypeError`/`RangeError` for a bad option. */
export function createRemoteEndpoint(
  options: RemoteEndpointOptions & {
    store: TaskStore;
    clock: Clock;
    signal: AbortSignal;
    readBody: (request: Request) => Promise<unknown>;
  },
): RemoteEndpoint {
  const { store, clock, signal, readBody, registry } = options;
  if (registry !== undefined && typeof registry?.definitions !== "function") {
    throw new TypeError(`remote.registry must be a TaskRegistry, got ${String(registry)}`);
  }
  const protocol = new RemoteWorkerProtocol({
    store,
    clock,
    signal,
    ...(options.leaseMillis === undefined ? {} : { leaseMillis: options.leaseMillis }),
    ...(options.heartbeatTimeoutMillis === undefined
      ? {}
      : { heartbeatTimeoutMillis: options.heartbeatTimeoutMillis }),
    ...(options.pollMillis === undefined ? {} : { pollMillis: options.pollMillis }),
  });
  const app = remoteRoutes({ protocol, store, clock, registry, readBody });
  return {
    app,
    protocol,
    serves: (path) => path.startsWith("/api/v1/") || path === "/api/openapi.json",
    fetch: async (request, connection) => await app.fetch(request, { connection }),
  };
}
