/**
 * Enqueue options from the `enqueue` command's flags (`--priority high --max-attempts 5`), parsed
 * by the one enqueue parser ({@linkcode parseEnqueueOptions}) that NDJSON lines, the admin API
 * and the library use too.
 * @module
 */

import type { EnqueueOptions } from "../dispatcher.ts";
import { EnqueueInputError, parseEnqueueOptions } from "../enqueue_input.ts";
import { UsageError } from "./exit.ts";

/** The option flags, as text (undefined when not given). */
export interface EnqueueFlags {
  priority?: string | undefined;
  delay?: string | undefined;
  queue?: string | undefined;
  maxAttempts?: string | undefined;
  timeout?: string | undefined;
}

/** The flag that sets each field of the enqueue input. */
const FLAG_OF_FIELD: ReadonlyMap<string, string> = new Map([
  ["priority", "--priority"],
  ["delay", "--delay"],
  ["queue", "--queue"],
  ["timeout", "--timeout"],
  ["retryConfig.maxAttempts", "--max-attempts"],
]);

/**
 * Converts the flags: a priority in any case; a delay and a timeout as a duration (`30s`; a
 * timeout of `none` means no limit); an integer of attempts. Throws {@linkcode UsageError}
 * naming the flag, the value and the accepted range.
 */
export function toEnqueueOptions(flags: EnqueueFlags): EnqueueOptions {
  const input: Record<string, unknown> = {};
  if (flags.priority !== undefined) input.priority = flags.priority;
  if (flags.delay !== undefined) input.delay = flags.delay;
  if (flags.queue !== undefined) input.queue = flags.queue;
  if (flags.timeout !== undefined) input.timeout = flags.timeout;
  if (flags.maxAttempts !== undefined) input.retryConfig = { maxAttempts: flags.maxAttempts };
  try {
    return parseEnqueueOptions(input, (field) => FLAG_OF_FIELD.get(field) ?? field);
  } catch (error) {
    if (error instanceof EnqueueInputError) throw new UsageError(error.message);
    throw error;
  }
}
