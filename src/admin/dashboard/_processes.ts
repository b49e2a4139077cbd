/**
 * The dashboard's processes panel: every registered worker of the store, with the late ones
 * marked.
 * @module
 */

import type { WorkerInfo } from "../../store/store.ts";
import { $, type Child, el, emptyRow, type Props } from "./_dom.ts";
import { ago, dateTime, plural, shortId } from "./_format.ts";

/** The worker heartbeat's default interval, for workers whose row does not say theirs. */
export const DEFAULT_BEAT_MILLIS = 2000;
/** A worker is shown as late once this many beats are missing. */
export const LATE_AFTER_BEATS = 3;

/** Whether a worker's last beat is later than {@linkcode LATE_AFTER_BEATS} of its beats. */
export function isLate(worker: WorkerInfo, now: number): boolean {
  const meta = worker.meta as { heartbeatIntervalMillis?: unknown } | null;
  const every = typeof meta?.heartbeatIntervalMillis === "number"
    ? meta.heartbeatIntervalMillis
    : DEFAULT_BEAT_MILLIS;
  return now - worker.lastBeatAt > LATE_AFTER_BEATS * every;
}

/** The processes panel's columns: heading and cell class ("wide-only" ones hide on a phone). */
const PROCESS_COLUMNS: readonly [string, string][] = [
  ["Worker", "mono"],
  ["Host", "mono"],
  ["PID", "num"],
  ["Started", "wide-only"],
  ["Queues", "mono wide-only"],
  ["Concurrency", "num wide-only"],
  ["Busy", "num busy"],
  ["Last seen", "seen"],
];

/** Waiting tasks of a name no live worker defines, as `GET /api/workers` lists them. */
export interface Unrunnable {
  name: string;
  waiting: number;
}

/** Renders `GET /api/workers` as of `now` (the server's clock). */
export function renderProcesses(
  body: { workers: WorkerInfo[]; unrunnable?: Unrunnable[] },
  now: number,
): void {
  renderUnrunnable(body.unrunnable ?? []);
  const head = el(
    "tr",
    {},
    PROCESS_COLUMNS.map(([text, className]) => el("th", { className, text })),
  );
  const rows = body.workers.map((w) => {
    const late = isLate(w, now);
    const meta = w.meta as { running?: unknown } | null;
    const cells: [Props, Child[]][] = [
      [{ title: w.id, text: shortId(w.id) }, []],
      [{ text: w.host }, []],
      [{ text: w.pid }, []],
      [{ title: dateTime(w.startedAt), text: ago(w.startedAt, now) }, []],
      [{ text: w.queues.join(", ") }, []],
      [{ text: w.concurrency }, []],
      [{ text: typeof meta?.running === "number" ? meta.running : "-" }, []],
      [{ title: dateTime(w.lastBeatAt) }, [
        ago(w.lastBeatAt, now),
        late ? " " : null,
        late ? el("span", { className: "badge", text: "late" }) : null,
      ]],
    ];
    return el(
      "tr",
      { data: { worker: w.id, late: String(late) }, className: late ? "stale" : "" },
      cells.map(([props, children], i) =>
        el("td", { ...props, className: PROCESS_COLUMNS[i]![1] }, children)
      ),
    );
  });
  $("processes").replaceChildren(
    el("thead", {}, [head]),
    el(
      "tbody",
      {},
      rows.length ? rows : [emptyRow(PROCESS_COLUMNS.length, "No worker is registered")],
    ),
  );
  const late = rows.filter((r) => r.dataset.late === "true").length;
  $("processes-caption").textContent = plural(body.workers.length, "process", "processes") +
    (late ? `, ${late} late` : "") + ", every host";
}

/** The line under the processes: task names that wait because no live worker defines them. */
function renderUnrunnable(list: readonly Unrunnable[]): void {
  const line = $("unrunnable");
  line.hidden = list.length === 0;
  line.replaceChildren(
    "Waiting, but no live worker defines them: ",
    ...list.flatMap((u, i) => [
      i ? ", " : "",
      el("span", { className: "mono", data: { name: u.name }, text: u.name }),
      ` (${u.waiting})`,
    ]),
  );
}
