/**
 * The ID argument of `get`, `cancel`, `retry` and `delete`: a full task id or a unique prefix
 * of one (such as the short id the dashboard shows).
 * @module
 */

import type { TaskDispatcher } from "../dispatcher.ts";
import { TaskNotFoundError } from "../errors.ts";

/** The help paragraph of a command that takes an ID. */
export const ID_DETAILS = "ID is a task id or any unique prefix of one (any case), such as the " +
  "short id the dashboard shows. A prefix that several tasks share is refused with a few of " +
  "them listed (exit 2); one that matches no task exits 1.";

/**
 * The full id the ID argument names (upper-case hex is accepted). Passes on the dispatcher's
 * `TaskNotFoundError` and `AmbiguousIdError`; text that cannot begin a task id ("no-such-id")
 * names no task either, as before prefixes were accepted.
 */
export function resolveTaskId(dispatcher: TaskDispatcher, text: string): Promise<string> {
  if (!/^[0-9a-f-]{1,36}$/i.test(text)) return Promise.reject(new TaskNotFoundError(text));
  return dispatcher.resolveId(text);
}
