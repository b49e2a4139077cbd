/**
 * The dashboard's formatters: ids, counts, times and durations (with the server's
 * `formatDuration`, so the page writes durations as the CLI does).
 * @module
 */

import { formatDuration } from "../../duration.ts";

/**
 * UUIDv7: 12 hex digits of milliseconds, the version and a 12-bit counter, so the first 18
 * characters tell apart the tasks one process made (a CLI accepts any unique prefix).
 */
export const SHORT_ID_LENGTH = 18;

/** The first {@linkcode SHORT_ID_LENGTH} characters of an id. */
export const shortId = (id: string) => id.slice(0, SHORT_ID_LENGTH);
/** `3 tasks`, `1 task`. */
export const plural = (n: number, word: string, words = `${word}s`) =>
  `${n.toLocaleString()} ${n === 1 ? word : words}`;
/** A local time of day, "-" for none. */
export const time = (ms: number | null) => (ms ? new Date(ms).toLocaleTimeString() : "-");
/** A local date and time, "-" for none. */
export const dateTime = (ms: number | null) => (ms ? new Date(ms).toLocaleString() : "-");
/** A duration as the CLI and the server write it (`1.5s`, `1h30m`); "-" for none. */
export const duration = (ms: number | null | undefined) =>
  ms === null || ms === undefined || ms < 0 ? "-" : formatDuration(ms);
/** How long ago `ms` was (`5s ago`, `in 3m`), by `now`. */
export function ago(ms: number | null, now = Date.now()): string {
  if (!ms) return "-";
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return `in ${duration(-s * 1000)}`;
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(ms).toLocaleDateString();
}
/** JSON, indented, for `<pre>`. */
export const json = (value: unknown) => JSON.stringify(value, null, 2);

/** How long a finished attempt ran; "-" while it runs. */
export const runTime = (task: { startedAt: number | null; completedAt: number | null }) =>
  task.completedAt && task.startedAt ? duration(task.completedAt - task.startedAt) : "-";
