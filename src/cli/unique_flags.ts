/**
 * The `unique` enqueue option from the `enqueue` command's flags: `--unique` (the default scope:
 * same name, queue and args while waiting or running), refined by `--unique-key`, `--unique-by`,
 * `--unique-period` and `--unique-states`. Checked by the one parser of the option
 * (`parseUnique`), with its messages naming the flag.
 * @module
 */

import { parseUnique, type UniqueField, type UniqueOptions } from "../unique.ts";
import { UNIQUE_REQUIRED_STATUSES } from "../store/store.ts";
import { TASK_STATUSES, type TaskStatus } from "../task.ts";
import type { OptionSpec } from "./command.ts";
import { oneLine, UsageError } from "./exit.ts";

/** The unique flags of `enqueue`. */
export const UNIQUE_OPTIONS = {
  unique: {
    type: "boolean",
    description:
      "Add the task only if no task with the same name, queue and args is waiting or running; else print that task's id",
  },
  "unique-key": {
    type: "string",
    value: "KEY",
    description: "Also part of what makes the task unique (e.g. a customer id); implies --unique",
  },
  "unique-by": {
    type: "string",
    value: "name,queue,args",
    description: "The fields that make two tasks the same; implies --unique",
    default: "name,queue,args",
  },
  "unique-period": {
    type: "string",
    value: "DURATION",
    description:
      "Unique within each period of this length (e.g. 1h: at most one such task per hour); implies --unique",
  },
  "unique-states": {
    type: "string",
    value: "STATUS,…",
    description:
      "Statuses in which a stored task blocks a new one, besides PENDING, SCHEDULED, RETRYING and PROCESSING, which always do (COMPLETED: never run twice within the period); implies --unique",
  },
} as const satisfies Record<string, OptionSpec>;

/** The unique flags' values, as text (undefined when not given). */
export interface UniqueFlags {
  unique?: boolean | undefined;
  "unique-key"?: string | undefined;
  "unique-by"?: string | undefined;
  "unique-period"?: string | undefined;
  "unique-states"?: string | undefined;
}

/** The flag of each field of the option, for messages. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  key: "--unique-key",
  by: "--unique-by",
  period: "--unique-period",
  states: "--unique-states",
};

/**
 * The `unique` option the flags ask for, or undefined when none is given. Throws
 * {@linkcode UsageError} naming the flag, its value and what is expected.
 */
export function toUniqueOption(flags: UniqueFlags): UniqueOptions | undefined {
  const option: { -readonly [K in keyof UniqueOptions]: UniqueOptions[K] } = {};
  if (flags["unique-key"] !== undefined) option.key = flags["unique-key"];
  if (flags["unique-by"] !== undefined) {
    option.by = list(flags["unique-by"]).map((field) => field.toLowerCase() as UniqueField);
  }
  if (flags["unique-period"] !== undefined) option.period = flags["unique-period"];
  if (flags["unique-states"] !== undefined) {
    // The waiting and running statuses always block; the flag adds to them.
    const given = list(flags["unique-states"]).map((state) => state.toUpperCase() as TaskStatus);
    const unknown = given.filter((state) => !TASK_STATUSES.includes(state));
    if (unknown.length || !given.length) {
      throw new UsageError(
        `enqueue: --unique-states must list statuses of ${TASK_STATUSES.join(", ")}, got ${
          JSON.stringify(flags["unique-states"])
        }`,
      );
    }
    option.states = [...new Set([...UNIQUE_REQUIRED_STATUSES, ...given])];
  }
  if (!flags.unique && Object.keys(option).length === 0) return undefined;
  try {
    parseUnique(option, "unique");
  } catch (error) {
    const message = oneLine(error).replace(
      /^unique\.(\w+)/,
      (whole, field: string) => FLAG_OF_FIELD[field] ?? whole,
    );
    throw new UsageError(`enqueue: ${message}`);
  }
  return option;
}

/** `a, b,c` as `["a", "b", "c"]` (empty items dropped, so `""` is an empty list). */
function list(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}
