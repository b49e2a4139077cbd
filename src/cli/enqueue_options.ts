/**
 * Enqueue options as the CLI takes them — from flags (`--priority high`) or from a line of an
 * NDJSON import (`"priority": "high"`) — turned into {@linkcode EnqueueOptions}.
 * @module
 */

import type { EnqueueOptions } from "../dispatcher.ts";
import { TaskPriority } from "../task.ts";
import { UsageError } from "./exit.ts";
import { duration, oneOf, positiveInteger } from "./settings.ts";

/** The option fields, as text from flags or as JSON values from an import line. */
export interface EnqueueFields {
  priority?: unknown;
  delay?: unknown;
  queue?: unknown;
  maxAttempts?: unknown;
  timeout?: unknown;
}

/** The names of {@linkcode EnqueueFields}, as an import line spells them. */
export const ENQUEUE_FIELD_NAMES: readonly (keyof EnqueueFields)[] = [
  "priority",
  "delay",
  "queue",
  "maxAttempts",
  "timeout",
];

const parsePriority = oneOf(Object.values(TaskPriority));

/**
 * Converts option fields: a priority in any case; a delay and a timeout as a duration text or a
 * number of ms (a timeout of `"none"` or `null` means no limit); a positive integer of attempts.
 * `label(field)` names a field in errors, e.g. `--max-attempts` or `maxAttempts`. Throws
 * {@linkcode UsageError}.
 */
export function toEnqueueOptions(
  fields: EnqueueFields,
  label: (field: keyof EnqueueFields) => string,
): EnqueueOptions {
  const options: EnqueueOptions = {};
  if (fields.priority !== undefined) {
    options.priority = parsePriority(asText(fields.priority, label("priority")), label("priority"));
  }
  if (fields.delay !== undefined) options.delay = millis(fields.delay, label("delay"));
  if (fields.queue !== undefined) options.queue = asText(fields.queue, label("queue"));
  if (fields.maxAttempts !== undefined) {
    const attempts = typeof fields.maxAttempts === "number"
      ? String(fields.maxAttempts)
      : fields.maxAttempts;
    options.retryConfig = {
      maxAttempts: positiveInteger(asText(attempts, label("maxAttempts")), label("maxAttempts")),
    };
  }
  if (fields.timeout !== undefined) {
    const none = fields.timeout === null ||
      (typeof fields.timeout === "string" && fields.timeout.toLowerCase() === "none");
    options.timeout = none ? null : millis(fields.timeout, label("timeout"));
    if (options.timeout === 0) {
      throw new UsageError(`${label("timeout")} must be more than 0 (or "none" for no limit)`);
    }
  }
  return options;
}

function asText(value: unknown, label: string): string {
  if (typeof value !== "string") {
    throw new UsageError(`${label} must be a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function millis(value: unknown, label: string): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) {
      throw new UsageError(
        `${label} must be a duration such as "30s" or an integer of ms >= 0, got ${value}`,
      );
    }
    return value;
  }
  return duration(asText(value, label), label);
}
