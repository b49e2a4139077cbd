/**
 * What every admin route file shares: the Hono environment of the admin app, the context the
 * app hands each route file, and small helpers for path parameters and JSON requests.
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { Clock } from "../clock.ts";
import type { TaskDispatcher } from "../dispatcher.ts";
import { TaskNotFoundError } from "../errors.ts";
import type { TaskSignals } from "../signals.ts";
import type { TaskStore } from "../store/store.ts";
import type { TaskRecord } from "../task.ts";
import { HttpError, requireJsonContentType } from "./_http.ts";
import type { TaskMetrics } from "./metrics.ts";

/** What a server lends the app about the connection of one request. */
export interface AdminConnection {
  /** The response may take long (long poll, event stream): lift the server's idle timeout. */
  disableIdleTimeout(): void;
}

/**
 * The Hono environment of the admin app: the connection comes in as a binding
 * (`app.fetch(request, { connection })`); `secureHeadersNonce` is set by Hono's `secureHeaders`.
 */
export interface AdminEnv {
  Bindings: { connection?: AdminConnection | undefined };
  Variables: { secureHeadersNonce?: string };
}

/** What the app hands each route file. */
export interface AdminContext {
  store: TaskStore;
  dispatcher: TaskDispatcher;
  signals: TaskSignals | undefined;
  clock: Clock;
  metrics: TaskMetrics;
  /** Aborts when the app closes: ends event streams and long polls. */
  closing: AbortSignal;
  maxListLimit: number;
  maxWaitMillis: number;
  heartbeatMillis: number;
  maxEventStreams: number;
  /** Reads a JSON body within the app's size and time limits (see `readJsonBody`). */
  readBody(request: Request): Promise<unknown>;
  /** Unexpected errors. */
  onError(error: unknown): void;
}

/** Longest task id a path may carry; a longer one is a 404 without a store query. */
export const MAX_ID_LENGTH = 128;

const NO_CONNECTION: AdminConnection = { disableIdleTimeout() {} };

/** The connection the server lent for this request (a no-op one when called without a socket). */
export function connectionOf(c: Context<AdminEnv>): AdminConnection {
  return c.env?.connection ?? NO_CONNECTION;
}

/** The `:id` path parameter, decoded; a 404 when it is longer than any id. */
export function idParam(c: Context<AdminEnv>, name = "id"): string {
  const id = c.req.param(name) ?? "";
  if (id.length > MAX_ID_LENGTH) throw new TaskNotFoundError(id.slice(0, MAX_ID_LENGTH) + "…");
  return id;
}

/** Middleware of routes that take a body: 415 unless it is declared JSON. */
export const requireJson: MiddlewareHandler<AdminEnv> = async (c, next) => {
  requireJsonContentType(c.req.raw);
  await next();
};

/** Turns a `TypeError`/`RangeError` of the library (bad input) into a 400. */
export async function badInputAs400<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new HttpError(400, error.message);
    }
    throw error;
  }
}

/** A task as the API returns it: the record without its attempt token. */
export function publicTask(task: TaskRecord): Omit<TaskRecord, "attemptToken"> {
  const { attemptToken: _token, ...rest } = task;
  return rest;
}
