/**
 * Enqueue input, parsed in one place: the library (`TaskDispatcher.enqueue`), the CLI
 * (`enqueue` flags and `--file` NDJSON lines) and the admin API (`POST /api/tasks`) all go through
 * the valibot schemas below, so they accept the same forms and refuse the rest with the same
 * errors.
 *
 * Accepted forms and ranges (see the README's "Limits" table):
 * - `name`, `queue`: 1-128 characters of letters, digits and `. _ : - /`, starting with a letter
 *   or digit.
 * - `priority`: `LOW`, `NORMAL`, `HIGH` or `CRITICAL`, in any case.
 * - `delay`: 0 to 10 years, as a number of ms or a duration text (`"500ms"`, `"30s"`, `"1h30m"`,
 *   `"7d"`); a text of digits without a unit is refused (except `"0"`), so `30` is never read as
 *   30 ms by mistake.
 * - `timeout`: 1 ms to 365 days in the same forms, or `null` / `"none"` (any case) for no limit.
 * - `maxAttempts` (and `retryConfig.maxAttempts`): an integer from 1 to 1000, or a text of digits.
 * - `retryConfig.baseDelayMillis`, `retryConfig.maxDelayMillis`: 0 to 365 days, as a duration;
 *   `backoffMultiplier` a number from 1 to 100; `useJitter` a boolean.
 * - `unregistered`: `true` lets a task name this process does not define through (a worker
 *   elsewhere defines it; see `EnqueueOptions.unregistered`); `false` or absent: unknown names
 *   are refused with a "did you mean".
 * - `null` means "not given" for no field: only `timeout` takes it (no limit).
 * Every object is read by its own keys only; an unknown key is refused with a "did you mean".
 * @module
 */

import type { UniqueOptions } from "./unique.ts";
import * as v from "valibot";
import { parseDuration } from "./duration.ts";
import {
  MAX_ATTEMPTS,
  MAX_BACKOFF_DELAY_MILLIS,
  MAX_BACKOFF_MULTIPLIER,
  type RetryConfig,
} from "./retry.ts";
import { suggest } from "./suggest.ts";
import { PRIORITY_RANK, type TaskPriority } from "./task.ts";

/** The longest `delay`: 10 years (of 365 days), in ms. */
export const MAX_DELAY_MILLIS = 10 * 365 * 86_400_000;
/** The longest attempt `timeout`: 365 days, in ms. */
export const MAX_TIMEOUT_MILLIS = 365 * 86_400_000;
/** The longest task or queue name, in characters. */
export const MAX_NAME_LENGTH = 128;

/** Task and queue names: letters, digits and `. _ : - /`, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:\-\/]{0,127}$/;

/** Enqueue options after parsing: every value checked, in its one canonical form. */
export interface ParsedEnqueueOptions {
  priority?: TaskPriority;
  /** Whole milliseconds. */
  delay?: number;
  queue?: string;
  /** Whole milliseconds, or null for no limit. */
  timeout?: number | null;
  retryConfig?: Partial<RetryConfig>;
  /**
   * Uniqueness as given (`false`, or `{ key, by, states, period }`), not checked here: the
   * dispatcher checks it with `parseUnique`, which names the field of each problem.
   */
  unique?: UniqueOptions | false;
  /** Accept a task name this process does not define (see `EnqueueOptions.unregistered`). */
  unregistered?: boolean;
}

/** One task to enqueue, as the CLI's NDJSON lines and `POST /api/tasks` carry it. */
export interface ParsedEnqueueRequest {
  name: string;
  args: unknown;
  options: ParsedEnqueueOptions;
}

/**
 * A field of enqueue input is missing its form or range. `field` is its path (`delay`,
 * `retryConfig.maxAttempts`), `value` what was given and `expected` what would be accepted.
 * A `RangeError`, so callers that map option errors to usage errors (exit 2, HTTP 400) do so.
 */
export class EnqueueInputError extends RangeError {
  override name = "EnqueueInputError";
  constructor(
    message: string,
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(message);
  }
}

/** Names a field in errors: the CLI says `--max-attempts`, JSON inputs say `maxAttempts`. */
export type FieldLabel = (field: string) => string;

const DAY = 86_400_000;
const TIMEOUT_RANGE = `from 1ms to ${MAX_TIMEOUT_MILLIS / DAY}d`;
const DURATION_FORMS = `as ms or a duration such as "30s", "5m" or "1h30m"`;
const PRIORITIES = Object.keys(PRIORITY_RANK) as TaskPriority[];

/** What each field accepts, as errors say it. */
const EXPECTED: ReadonlyMap<string, string> = new Map([
  [
    "name",
    `a task name: 1-${MAX_NAME_LENGTH} characters of letters, digits and . _ : - /, ` +
    `starting with a letter or digit`,
  ],
  [
    "queue",
    `a queue name: 1-${MAX_NAME_LENGTH} characters of letters, digits and . _ : - /, ` +
    `starting with a letter or digit`,
  ],
  ["priority", `one of ${PRIORITIES.join(", ")} (any case)`],
  ["delay", `a duration from 0 to ${MAX_DELAY_MILLIS / DAY / 365} years, ${DURATION_FORMS}`],
  ["timeout", `a duration ${TIMEOUT_RANGE}, ${DURATION_FORMS}, or "none" (or null) for no limit`],
  ["maxAttempts", `an integer from 1 to ${MAX_ATTEMPTS}`],
  ["retryConfig", "an object of retry options"],
  ["retryConfig.maxAttempts", `an integer from 1 to ${MAX_ATTEMPTS}`],
  [
    "retryConfig.baseDelayMillis",
    `a duration from 0 to ${MAX_BACKOFF_DELAY_MILLIS / DAY}d, ${DURATION_FORMS}`,
  ],
  [
    "retryConfig.maxDelayMillis",
    `a duration from 0 to ${MAX_BACKOFF_DELAY_MILLIS / DAY}d, ${DURATION_FORMS}`,
  ],
  ["retryConfig.backoffMultiplier", `a number from 1 to ${MAX_BACKOFF_MULTIPLIER}`],
  ["retryConfig.useJitter", "true or false"],
  ["unregistered", "true or false"],
]);

/** A duration in whole ms from `min` to `max`, given as a number of ms or a duration text. */
function durationSchema(min: number, max: number) {
  return v.pipe(
    v.union([v.number(), v.string()]),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        const value = dataset.value;
        // A text of digits needs a unit: "30" could mean seconds as well as ms.
        return parseDuration(value, "duration", { bareMillis: typeof value === "number" });
      } catch {
        addIssue();
        return NEVER;
      }
    }),
    v.minValue(min),
    v.maxValue(max),
  );
}

const nameSchema = v.pipe(v.string(), v.regex(NAME_PATTERN));

const prioritySchema = v.pipe(
  v.string(),
  v.trim(),
  v.toUpperCase(),
  // Own keys only: "toString" and "__proto__" are not priorities.
  v.check((text) => Object.hasOwn(PRIORITY_RANK, text)),
  v.transform((text) => text as TaskPriority),
);

// The duration first: a number of ms is the common case, and a failed branch costs an issue.
const timeoutSchema = v.union([
  durationSchema(1, MAX_TIMEOUT_MILLIS),
  v.pipe(v.null()),
  v.pipe(
    v.string(),
    v.check((text) => text.trim().toLowerCase() === "none"),
    v.transform(() => null),
  ),
]);

const attemptsSchema = v.pipe(
  v.union([
    v.number(),
    v.pipe(v.string(), v.trim(), v.regex(/^\d{1,10}$/), v.transform(Number)),
  ]),
  v.integer(),
  v.minValue(1),
  v.maxValue(MAX_ATTEMPTS),
);

const RETRY_ENTRIES = {
  maxAttempts: v.optional(attemptsSchema),
  baseDelayMillis: v.optional(durationSchema(0, MAX_BACKOFF_DELAY_MILLIS)),
  backoffMultiplier: v.optional(
    v.pipe(v.number(), v.finite(), v.minValue(1), v.maxValue(MAX_BACKOFF_MULTIPLIER)),
  ),
  maxDelayMillis: v.optional(durationSchema(0, MAX_BACKOFF_DELAY_MILLIS)),
  useJitter: v.optional(v.boolean()),
};

const OPTION_ENTRIES = {
  priority: v.optional(prioritySchema),
  delay: v.optional(durationSchema(0, MAX_DELAY_MILLIS)),
  queue: v.optional(nameSchema),
  timeout: v.optional(timeoutSchema),
  retryConfig: v.optional(v.object(RETRY_ENTRIES)),
  // Checked by parseUnique (src/unique.ts), which names the field of each problem.
  unique: v.optional(v.unknown()),
  unregistered: v.optional(v.boolean()),
};

/** The schema of the library's enqueue options (`TaskDispatcher.enqueue`'s third argument). */
export const enqueueOptionsSchema = v.object(OPTION_ENTRIES);

/**
 * The schema of one task as the CLI's NDJSON lines and the admin API take it: `name`, `args`, the
 * options flat beside them, and `maxAttempts` as a short form of `retryConfig.maxAttempts`.
 */
export const enqueueRequestSchema = v.object({
  name: nameSchema,
  args: v.optional(v.unknown()),
  ...OPTION_ENTRIES,
  maxAttempts: v.optional(attemptsSchema),
});

/** The keys each object of enqueue input may have. Room for later options: add them here. */
const OPTION_KEYS = Object.keys(OPTION_ENTRIES);
const REQUEST_KEYS = Object.keys(enqueueRequestSchema.entries);
const RETRY_KEYS = Object.keys(RETRY_ENTRIES);

/** The fields a request (an NDJSON line, a `POST /api/tasks` body) may have. */
export const ENQUEUE_REQUEST_FIELDS: readonly string[] = REQUEST_KEYS;
/** The keys of the library's enqueue options. */
export const ENQUEUE_OPTION_FIELDS: readonly string[] = OPTION_KEYS;

const plain: FieldLabel = (field) => field;
/** Errors name one field: parsing stops at the first issue. */
const FIRST_ISSUE = { abortEarly: true } as const;

/**
 * Checks and normalizes the library's enqueue options. Throws {@linkcode EnqueueInputError}
 * naming the field, the value and what was expected.
 *
 * @example
 * ```ts
 * parseEnqueueOptions({ priority: "high", delay: "5m", timeout: "none" });
 * // { priority: "HIGH", delay: 300000, timeout: null }
 * ```
 */
export function parseEnqueueOptions(
  input: unknown,
  label: FieldLabel = plain,
): ParsedEnqueueOptions {
  if (input === undefined || isEmptyPlainObject(input)) return {};
  const parsed = run(enqueueOptionsSchema, input, "options", OPTION_KEYS, label);
  return compact(parsed);
}

/**
 * Checks and normalizes one task of an NDJSON line or a `POST /api/tasks` body. `args` is not
 * checked here (the task's schema does that at enqueue); a missing `args` is `{}`. Throws
 * {@linkcode EnqueueInputError}.
 *
 * @example
 * ```ts
 * parseEnqueueRequest({ name: "send-email", args: { to: "a@example.com" }, maxAttempts: "5" });
 * // { name: "send-email", args: { to: "a@example.com" }, options: { retryConfig: { maxAttempts: 5 } } }
 * ```
 */
export function parseEnqueueRequest(
  input: unknown,
  label: FieldLabel = plain,
): ParsedEnqueueRequest {
  const parsed = run(enqueueRequestSchema, input, "task", REQUEST_KEYS, label);
  const { name, args, maxAttempts, ...rest } = parsed;
  const options = compact(rest);
  if (maxAttempts !== undefined) {
    if (options.retryConfig?.maxAttempts !== undefined) {
      const message = `give ${label("maxAttempts")} or ${
        label("retryConfig.maxAttempts")
      }, not both`;
      throw new EnqueueInputError(message, "maxAttempts", maxAttempts, "one of the two");
    }
    options.retryConfig = { ...options.retryConfig, maxAttempts };
  }
  return { name, args: args ?? {}, options };
}

/** `{}` as most enqueues pass it: nothing to parse. */
function isEmptyPlainObject(input: unknown): boolean {
  try {
    return typeof input === "object" && input !== null &&
      Object.getPrototypeOf(input) === Object.prototype && Object.keys(input).length === 0;
  } catch {
    return false; // A proxy that throws: the parser reports it.
  }
}

/** The fields {@linkcode checkEnqueueField} checks on their own. */
export type EnqueueField = "name" | keyof typeof OPTION_ENTRIES;

/**
 * Checks one field on its own, as enqueue would, and returns its canonical form — e.g. a task's
 * registered defaults. Throws {@linkcode EnqueueInputError} with `label` as the field's name.
 *
 * @example
 * ```ts
 * checkEnqueueField("priority", "high", "The priority of task \"x\""); // "HIGH"
 * ```
 */
export function checkEnqueueField(field: EnqueueField, value: unknown, label: string): unknown {
  // The common case, without building a parse result: a well-formed name.
  if (field === "name" && typeof value === "string" && NAME_PATTERN.test(value)) return value;
  const schema = field === "name" ? nameSchema : OPTION_ENTRIES[field];
  const result = v.safeParse(schema, value, FIRST_ISSUE);
  if (result.success && result.output !== undefined) return result.output;
  throw fieldError(field, value, () => label);
}

type InputKind = "task" | "options";

function run<T extends v.GenericSchema>(
  schema: T,
  input: unknown,
  kind: InputKind,
  keys: readonly string[],
  label: FieldLabel,
): v.InferOutput<T> {
  const what = kind === "task" ? "A task" : "Enqueue options";
  try {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      const example = kind === "task" ? ` such as {"name": "send-email", "args": {…}}` : "";
      throw new EnqueueInputError(
        `${what} must be an object${example}, got ${show(input)}`,
        "",
        input,
        "an object",
      );
    }
    checkKeys(input, keys, "");
    const retry = (input as Record<string, unknown>).retryConfig;
    if (Object.hasOwn(input, "retryConfig") && typeof retry === "object" && retry !== null) {
      checkKeys(retry, RETRY_KEYS, "retryConfig.");
    }
    const result = v.safeParse(schema, input, FIRST_ISSUE);
    if (result.success) return result.output;
    const field = v.getDotPath(result.issues[0]) ?? "";
    throw fieldError(field, valueAt(input, field), label);
  } catch (error) {
    if (error instanceof EnqueueInputError) throw error;
    // A getter or proxy that throws: say so, without its stack.
    throw new EnqueueInputError(
      `${what} could not be read: ${oneLine(error)}`,
      "",
      undefined,
      "plain data",
    );
  }
}

function checkKeys(object: object, keys: readonly string[], prefix: string) {
  for (const key of Object.keys(object)) {
    if (keys.includes(key)) continue;
    const near = suggest(key, keys, 1);
    const where = prefix ? " of retryConfig" : "";
    throw new EnqueueInputError(
      `Unknown field ${JSON.stringify(key)}${where}` +
        (near.length
          ? `; did you mean ${JSON.stringify(near[0])}?`
          : `; expected one of ${keys.join(", ")}`),
      prefix + key,
      (object as Record<string, unknown>)[key],
      `one of ${keys.join(", ")}`,
    );
  }
}

function fieldError(field: string, value: unknown, label: FieldLabel): EnqueueInputError {
  const expected = EXPECTED.get(field) ?? "a valid value";
  let hint = "";
  if (field === "priority" && typeof value === "string") {
    const near = suggest(value.toUpperCase(), PRIORITIES, 1);
    if (near.length) hint = `; did you mean ${near[0]}?`;
  }
  return new EnqueueInputError(
    `${label(field)} must be ${expected}, got ${show(value)}${hint}`,
    field,
    value,
    expected,
  );
}

/** The value at a dot path of the input, by own properties only. */
function valueAt(input: unknown, path: string): unknown {
  let value = input;
  for (const key of path ? path.split(".") : []) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Leaves out the fields that were not given. */
function compact(parsed: v.InferOutput<typeof enqueueOptionsSchema>): ParsedEnqueueOptions {
  const options: ParsedEnqueueOptions = {};
  if (parsed.priority !== undefined) options.priority = parsed.priority;
  if (parsed.delay !== undefined) options.delay = parsed.delay;
  if (parsed.queue !== undefined) options.queue = parsed.queue;
  if (parsed.timeout !== undefined) options.timeout = parsed.timeout;
  if (parsed.retryConfig !== undefined) {
    const retry: Partial<RetryConfig> = {};
    for (const key of RETRY_KEYS as (keyof RetryConfig)[]) {
      const value = parsed.retryConfig[key];
      if (value !== undefined) (retry as Record<string, unknown>)[key] = value;
    }
    options.retryConfig = retry;
  }
  if (parsed.unique !== undefined) options.unique = parsed.unique as UniqueOptions | false;
  if (parsed.unregistered !== undefined) options.unregistered = parsed.unregistered;
  return options;
}

/** A value as errors show it: JSON, cut at 100 characters. */
function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol" || typeof value === "function") return `a ${typeof value}`;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  text ??= Object.prototype.toString.call(value);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function oneLine(error: unknown): string {
  try {
    const message = error instanceof Error ? error.message : String(error);
    return message.replace(/\s*\n\s*/g, " ").trim().slice(0, 200);
  } catch {
    return "an error that cannot be shown";
  }
}
