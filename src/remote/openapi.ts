/**
 * The OpenAPI 3.1 document of the whole HTTP API (`GET /api/openapi.json`), built from one
 * table of routes ({@linkcode API_ROUTES}) that the tests also walk, so a route the handler
 * serves and the document lists cannot drift apart unnoticed. Request bodies of the worker
 * protocol come from their valibot schemas.
 * @module
 */

import { toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import packageJson from "../../package.json" with { type: "json" };
import {
  CompleteBatchBody,
  CompleteBody,
  DeregisterBody,
  FailBody,
  FetchBody,
  HeartbeatBody,
  LogBody,
  ProgressBody,
  RegisterBody,
  ReleaseBody,
} from "./requests.ts";

/** One route of the HTTP API as the document lists it. */
export interface ApiRoute {
  method: "get" | "post" | "delete";
  /** OpenAPI path, parameters in braces: `/api/tasks/{id}`. */
  path: string;
  summary: string;
  tag: "health" | "tasks" | "queues" | "workers" | "worker-protocol" | "meta";
  /** Served without a token. */
  public?: boolean;
  /** The request body's schema (valibot), or a JSON Schema. */
  body?: v.GenericSchema | { [key: string]: unknown };
  /** Query parameters, by name. */
  query?: readonly string[];
  /** Statuses besides 200 this route answers, with what they mean. */
  responses?: Readonly<Record<string, string>>;
}

const STALE = {
  "409":
    "The attempt token no longer holds the task: nothing changed; `details.current` is its state",
  "404": "No such task",
};
const ENQUEUE = {
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string" },
    args: {},
    queue: { type: "string" },
    priority: { enum: ["LOW", "NORMAL", "HIGH", "CRITICAL"] },
    delay: { type: ["string", "integer"], description: 'ms or a duration such as "5m"' },
    timeout: { type: ["string", "integer", "null"] },
    maxAttempts: { type: "integer", minimum: 1 },
    retryConfig: { type: "object" },
    unique: {},
  },
};

/** Every route of the admin endpoint and the worker protocol. */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: "get",
    path: "/healthz",
    summary: "Liveness: the process answers",
    tag: "health",
    public: true,
  },
  {
    method: "get",
    path: "/readyz",
    summary: "Readiness: the store is reachable and writable",
    tag: "health",
    responses: { "503": "Not ready" },
  },
  { method: "get", path: "/metrics", summary: "Prometheus metrics (text format)", tag: "health" },
  { method: "get", path: "/", summary: "The dashboard page (HTML)", tag: "meta", public: true },
  {
    method: "get",
    path: "/api/stats",
    summary: "Counts per status and queue, throughput, pool",
    tag: "tasks",
  },
  {
    method: "get",
    path: "/api/tasks",
    summary: "One page of tasks, newest first",
    tag: "tasks",
    query: ["status", "name", "queue", "idPrefix", "argsContains", "limit", "cursor"],
  },
  {
    method: "post",
    path: "/api/tasks",
    summary: "Enqueue a task; answers 201 with its id",
    tag: "tasks",
    body: ENQUEUE,
    responses: { "201": "Enqueued", "400": "Unknown task or invalid args" },
  },
  {
    method: "get",
    path: "/api/tasks/count",
    summary: "How many tasks a filter selects",
    tag: "tasks",
    query: ["status", "name", "queue", "idPrefix", "argsContains"],
  },
  {
    method: "post",
    path: "/api/tasks/bulk",
    summary: "Retry, cancel or delete the tasks a filter selects",
    tag: "tasks",
    body: {
      type: "object",
      required: ["action"],
      properties: { action: { enum: ["retry", "cancel", "delete"] }, filter: { type: "object" } },
    },
  },
  {
    method: "get",
    path: "/api/tasks/{id}",
    summary: "One task",
    tag: "tasks",
    responses: { "404": "No such task" },
  },
  {
    method: "delete",
    path: "/api/tasks/{id}",
    summary: "Delete a finished task",
    tag: "tasks",
    responses: { "404": "No such task", "409": "Not finished" },
  },
  {
    method: "post",
    path: "/api/tasks/{id}/cancel",
    summary: "Cancel a waiting task, or request a running one to stop",
    tag: "tasks",
    body: { type: "object" },
    responses: { "409": "Already final" },
  },
  {
    method: "post",
    path: "/api/tasks/{id}/retry",
    summary: "Run a FAILED or CANCELLED task again",
    tag: "tasks",
    body: { type: "object" },
    responses: { "409": "Not FAILED or CANCELLED" },
  },
  {
    method: "get",
    path: "/api/tasks/{id}/wait",
    summary: "Long-poll until the task is final (202 with the task on timeout)",
    tag: "tasks",
    query: ["timeout"],
    responses: { "202": "Not final yet" },
  },
  {
    method: "get",
    path: "/api/history",
    summary: "Finished attempts per minute",
    tag: "tasks",
    query: ["range"],
  },
  {
    method: "get",
    path: "/api/wait-times",
    summary: "How long due tasks wait to start",
    tag: "tasks",
  },
  { method: "get", path: "/api/events", summary: "Task events (Server-Sent Events)", tag: "tasks" },
  {
    method: "get",
    path: "/api/queues",
    summary: "Queues with their paused state and limits",
    tag: "queues",
  },
  {
    method: "post",
    path: "/api/queues/{queue}/pause",
    summary: "Pause a queue",
    tag: "queues",
    body: { type: "object" },
  },
  {
    method: "post",
    path: "/api/queues/{queue}/resume",
    summary: "Resume a queue",
    tag: "queues",
    body: { type: "object" },
  },
  {
    method: "get",
    path: "/api/schedules",
    summary: "Cron schedules with their last slot",
    tag: "queues",
  },
  {
    method: "get",
    path: "/api/workers",
    summary: "The worker registry (local and remote workers)",
    tag: "workers",
  },
  {
    method: "get",
    path: "/api/activity",
    summary: "What every process started and finished lately, newest first, from the store",
    tag: "tasks",
    query: ["limit"],
  },
  {
    method: "get",
    path: "/api/v1/task-types",
    summary: "Task names with their args' JSON Schema and defaults",
    tag: "meta",
  },
  { method: "get", path: "/api/openapi.json", summary: "This document", tag: "meta" },
  {
    method: "post",
    path: "/api/v1/worker/register",
    summary: "Register a remote worker",
    tag: "worker-protocol",
    body: RegisterBody,
    responses: { "201": "Registered" },
  },
  {
    method: "post",
    path: "/api/v1/worker/fetch",
    summary: "Claim up to `limit` tasks, long-polling up to `waitMillis`",
    tag: "worker-protocol",
    body: FetchBody,
    responses: { "404": "Unknown worker: register again" },
  },
  {
    method: "post",
    path: "/api/v1/worker/heartbeat",
    summary: "Extend held leases; answers lost and cancelled tasks",
    tag: "worker-protocol",
    body: HeartbeatBody,
    responses: { "404": "Unknown worker: register again" },
  },
  {
    method: "post",
    path: "/api/v1/worker/complete",
    summary: "Batched outcomes (completed, failed, released), optionally with the next fetch",
    tag: "worker-protocol",
    body: CompleteBatchBody,
  },
  {
    method: "post",
    path: "/api/v1/worker/deregister",
    summary: "Clean stop: release held tasks, leave the registry",
    tag: "worker-protocol",
    body: DeregisterBody,
  },
  {
    method: "post",
    path: "/api/v1/worker/tasks/{id}/complete",
    summary: "Complete one attempt",
    tag: "worker-protocol",
    body: CompleteBody,
    responses: STALE,
  },
  {
    method: "post",
    path: "/api/v1/worker/tasks/{id}/fail",
    summary: "Fail one attempt (retryable: false fails for good)",
    tag: "worker-protocol",
    body: FailBody,
    responses: STALE,
  },
  {
    method: "post",
    path: "/api/v1/worker/tasks/{id}/release",
    summary: "Give one attempt back without spending it",
    tag: "worker-protocol",
    body: ReleaseBody,
    responses: STALE,
  },
  {
    method: "post",
    path: "/api/v1/worker/tasks/{id}/progress",
    summary: "Report progress of one attempt",
    tag: "worker-protocol",
    body: ProgressBody,
    responses: STALE,
  },
  {
    method: "post",
    path: "/api/v1/worker/tasks/{id}/log",
    summary: "Append log lines to one attempt",
    tag: "worker-protocol",
    body: LogBody,
    responses: STALE,
  },
];

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document of {@linkcode API_ROUTES}. */
export function openApiDocument(): Record<string, unknown> {
  cached ??= build();
  return cached;
}

function build(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const query = (route.query ?? []).map((name) => ({
      name,
      in: "query",
      schema: { type: "string" },
    }));
    const responses: Record<string, unknown> = {
      "200": { description: "OK", content: { "application/json": {} } },
      "400": {
        description: "Bad input: `error` names the field, the value and what was expected",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      },
      ...(route.public ? {} : { "401": { description: "Missing or wrong bearer token" } }),
    };
    for (const [status, description] of Object.entries(route.responses ?? {})) {
      responses[status] = {
        description,
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      summary: route.summary,
      tags: [route.tag],
      operationId: operationId(route),
      ...(route.public ? { security: [] } : {}),
      ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
      ...(route.body
        ? {
          requestBody: {
            required: true,
            content: { "application/json": { schema: schemaOf(route.body) } },
          },
        }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "aether-tasks HTTP API",
      version: packageJson.version,
      description: "The admin API and the HTTP worker protocol (see docs/PROTOCOL.md).",
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: { error: { type: "string" }, details: {} },
        },
      },
    },
  };
}

function schemaOf(body: NonNullable<ApiRoute["body"]>): unknown {
  if (!("~standard" in body)) return body;
  const schema = toJsonSchema(body as v.GenericSchema, { errorMode: "ignore" }) as Record<
    string,
    unknown
  >;
  const { $schema: _draft, ...rest } = schema;
  return rest;
}

function operationId(route: ApiRoute): string {
  const words = route.path.replace(/[{}]/g, "").split(/[\/.\-]/).filter(Boolean);
  return route.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}
