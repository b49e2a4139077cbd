/**
 * The request bodies of the HTTP worker protocol, as valibot schemas: one place that both
 * validates requests (`parseBody`) and documents them (the OpenAPI document converts these
 * schemas to JSON Schema).
 * @module
 */

import * as v from "valibot";
import { NAME_PATTERN } from "../enqueue_input.ts";
import { findNonJson, MAX_JSON_BYTES, MAX_JSON_DEPTH } from "../json.ts";
import { MAX_LOG_LINE_LENGTH, MAX_LOG_LINES } from "../store/store.ts";
import {
  MAX_BATCH,
  MAX_FETCH,
  MAX_FETCH_WAIT_MILLIS,
  MAX_REMOTE_CONCURRENCY,
  MAX_REMOTE_LEASE_MILLIS,
  MIN_REMOTE_LEASE_MILLIS,
} from "./limits.ts";

const name = v.pipe(
  v.string(),
  v.regex(NAME_PATTERN, "1-128 letters, digits and . _ : - /, starting with a letter or digit"),
);
const id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const token = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const workerId = v.pipe(v.string(), v.regex(/^remote-[0-9a-f-]{36}$/, "a workerId from register"));
const integer = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
/** Any JSON value within the limits of args and results (`MAX_JSON_DEPTH`, `MAX_JSON_BYTES`). */
const json = v.pipe(
  v.unknown(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = findNonJson(dataset.value, "it");
    if (problem) {
      addIssue({
        message: problem,
        expected: `JSON of at most ${MAX_JSON_DEPTH} levels and ${MAX_JSON_BYTES} bytes`,
        received: `a value that is not: ${problem}`,
      });
    }
  }),
);

/** `POST /api/v1/worker/register`. */
export const RegisterBody = v.strictObject({
  queues: v.pipe(v.array(name), v.minLength(1), v.maxLength(100)),
  /** Only tasks of these names; default: every task of the queues. */
  names: v.optional(v.pipe(v.array(name), v.minLength(1), v.maxLength(1000))),
  concurrency: integer(1, MAX_REMOTE_CONCURRENCY),
  /** Default: the serving process's lease. */
  leaseMillis: v.optional(integer(MIN_REMOTE_LEASE_MILLIS, MAX_REMOTE_LEASE_MILLIS)),
  host: v.optional(text(255)),
  pid: v.optional(integer(0, 2 ** 31 - 1)),
  /** Free-form details shown in the processes list (e.g. language, version). */
  meta: v.optional(v.record(v.pipe(v.string(), v.maxLength(64)), json)),
});
export type RegisterBody = v.InferOutput<typeof RegisterBody>;

/** `POST /api/v1/worker/fetch`, and the `fetch` of a batched `complete`. */
export const FetchBody = v.strictObject({
  workerId,
  /** At most this many tasks (and at most the worker's concurrency). */
  limit: integer(1, MAX_FETCH),
  /** Long-poll this long when nothing is due; 0 answers at once. Default 0. */
  waitMillis: v.optional(integer(0, MAX_FETCH_WAIT_MILLIS)),
});
export type FetchBody = v.InferOutput<typeof FetchBody>;

const lease = v.strictObject({ id, token });

/** `POST /api/v1/worker/heartbeat`. */
export const HeartbeatBody = v.strictObject({
  workerId,
  tasks: v.pipe(v.array(lease), v.maxLength(MAX_BATCH)),
});
export type HeartbeatBody = v.InferOutput<typeof HeartbeatBody>;

const taskError = v.union([
  text(10_000),
  v.strictObject({ message: text(10_000), stack: v.optional(text(50_000)) }),
]);

/** One outcome of a batched `complete`. */
export const OutcomeItem = v.variant("outcome", [
  v.strictObject({ outcome: v.literal("completed"), id, token, result: v.optional(json) }),
  v.strictObject({
    outcome: v.literal("failed"),
    id,
    token,
    error: taskError,
    /** false: fail for good, no retry. Default true. */
    retryable: v.optional(v.boolean()),
  }),
  v.strictObject({ outcome: v.literal("released"), id, token }),
]);
export type OutcomeItem = v.InferOutput<typeof OutcomeItem>;

/** `POST /api/v1/worker/complete`: outcomes, and optionally the next tasks in the same round trip. */
export const CompleteBatchBody = v.strictObject({
  workerId: v.optional(workerId),
  outcomes: v.pipe(v.array(OutcomeItem), v.maxLength(MAX_BATCH)),
  fetch: v.optional(v.strictObject({
    limit: integer(1, MAX_FETCH),
    waitMillis: v.optional(integer(0, MAX_FETCH_WAIT_MILLIS)),
  })),
});
export type CompleteBatchBody = v.InferOutput<typeof CompleteBatchBody>;

/** `POST /api/v1/worker/tasks/{id}/complete`. */
export const CompleteBody = v.strictObject({ token, result: v.optional(json) });
/** `POST /api/v1/worker/tasks/{id}/fail`. */
export const FailBody = v.strictObject({
  token,
  error: taskError,
  retryable: v.optional(v.boolean()),
});
/** `POST /api/v1/worker/tasks/{id}/release`. */
export const ReleaseBody = v.strictObject({ token });
/** `POST /api/v1/worker/tasks/{id}/progress`. */
export const ProgressBody = v.strictObject({ token, progress: json });
/** `POST /api/v1/worker/tasks/{id}/log`. */
export const LogBody = v.strictObject({
  token,
  lines: v.pipe(
    v.array(v.pipe(v.string(), v.maxLength(MAX_LOG_LINE_LENGTH * 4))),
    v.minLength(1),
    v.maxLength(MAX_LOG_LINES),
  ),
});

/** `POST /api/v1/worker/deregister`: a clean stop; `release` gives held tasks back. */
export const DeregisterBody = v.strictObject({
  workerId,
  release: v.optional(v.pipe(v.array(lease), v.maxLength(MAX_BATCH))),
});
export type DeregisterBody = v.InferOutput<typeof DeregisterBody>;

/** What `expected` says of a field the request does not have. */
export const UNKNOWN_FIELD = "no such field";

/** A body that does not fit its schema: the field, what was expected and what came. */
export class BodyError extends Error {
  override name = "BodyError";
  constructor(readonly field: string, readonly expected: string, received: string) {
    super(
      expected === UNKNOWN_FIELD
        ? `Unknown field "${field}"; see /api/openapi.json for the fields of this request`
        : `${field}: expected ${expected}, got ${
          received.length > 200 ? `${received.slice(0, 200)}…` : received
        }`,
    );
  }
}

/** Parses `body` with `schema`; the first problem throws a {@linkcode BodyError}. */
export function parseBody<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  const parsed = v.safeParse(schema, body);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
  const field = path === "" ? "body" : path;
  if (issue.type === "strict_object" && issue.expected === "never") {
    throw new BodyError(field, UNKNOWN_FIELD, "");
  }
  if (issue.received === "undefined" && path !== "") {
    throw new BodyError(field, "a value (the field is required)", "none");
  }
  const expected = issue.expected && issue.type !== "regex" ? issue.expected : issue.message;
  throw new BodyError(field, expected, issue.received);
}
