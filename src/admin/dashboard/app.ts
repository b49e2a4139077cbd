/**
 * The dashboard's script, run in the browser. `scripts/build_dashboard.ts` bundles it (with the
 * shared status lists and formatters it imports from the server's modules) into
 * `_assets.ts`, inline in the page under the response's CSP nonce.
 *
 * The page asks for the admin token and keeps it in `sessionStorage` (this tab only). It reads
 * the live event stream with `fetch` and a stream reader rather than `EventSource`, because
 * `EventSource` cannot send an `Authorization` header: the token stays in a header and never
 * appears in a URL, a log line or the browser history.
 *
 * Its requests use paths relative to the page (`api/stats`), so the dashboard also works under a
 * path prefix a reverse proxy strips (served at `https://host/tasks/`, with the trailing slash).
 *
 * Everything it shows comes from the store, so it covers every worker process: counts
 * (`/api/stats`), throughput (`/api/history`), processes (`/api/workers`), activity
 * (`/api/activity`). Events (this process's and the store's, other processes' included) only
 * say when to read again.
 *
 * This file holds the page's state, its API calls and the panels that act on tasks; the charts
 * (`_chart.ts`), the processes panel (`_processes.ts`), DOM helpers (`_dom.ts`), formatters
 * (`_format.ts`) and the API's shapes (`_types.ts`) sit beside it.
 * @module
 */

import {
  CANCELLABLE_STATUSES,
  DELETABLE_STATUSES,
  RETRYABLE_STATUSES,
  type WorkerInfo,
} from "../../store/store.ts";
import { TASK_STATUSES, type TaskStatus } from "../../task.ts";
import type { ActivityEntry } from "../routes/activity.ts";
import type { ThroughputSeries, WaitTimes } from "../routes/charts.ts";
import { renderChart, renderWaits } from "./_chart.ts";
import { $, badge, confirmAction, el, emptyRow, type Timer, toast } from "./_dom.ts";
import { ago, dateTime, duration, json, plural, runTime, shortId, time } from "./_format.ts";
import { renderProcesses, type Unrunnable } from "./_processes.ts";
import type { Attempt, BulkAction, Filter, QueueRow, Schedule, Stats, Task } from "./_types.ts";

const TOKEN_KEY = "aether-tasks:admin-token";
const PAGE_SIZE = 25;
/** How often the page reads everything again while no event says so (heartbeats are none). */
const POLL_MILLIS = 5000;
/** The charts change by the minute: read them at most this often. */
const CHART_REFRESH_MILLIS = 5000;
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? "",
  status: "" as TaskStatus | "",
  name: "",
  queue: "",
  idPrefix: "",
  args: "",
  range: "hour" as "hour" | "day",
  cursor: null as string | null,
  selected: null as string | null,
  refreshTimer: undefined as Timer | undefined,
  stream: null as AbortController | null,
  needsToken: false,
  openSingleMatch: false,
};
type TextKey = "name" | "queue" | "idPrefix" | "args";

class AuthNeeded extends Error {}

/** The server's clock, from the `Date` of its last answer (for "last seen" and lateness). */
let serverOffsetMillis = 0;
const serverNow = () => Date.now() + serverOffsetMillis;

async function api<T>(path: string, init: { method?: string; body?: string } = {}): Promise<T> {
  const headers = new Headers();
  if (state.token) headers.set("authorization", `Bearer ${state.token}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const response = await fetch(path, {
    method: init.method ?? "GET",
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  if (response.status === 401) {
    askToken(state.token ? "That token was refused." : "");
    throw new AuthNeeded();
  }
  const date = Date.parse(response.headers.get("date") ?? "");
  if (Number.isFinite(date)) serverOffsetMillis = date - Date.now();
  const body = await response.json().catch(() => null) as { error?: string } | null;
  if (!response.ok) throw new Error(body?.error ?? `${response.status} ${response.statusText}`);
  return body as T;
}
function quietly(error: unknown): void {
  if (!(error instanceof AuthNeeded)) toast(error instanceof Error ? error.message : String(error));
}

function askToken(message: string): void {
  state.needsToken = true;
  stopStream();
  $("login-error").textContent = message;
  const login = $<HTMLDialogElement>("login");
  if (!login.open) login.showModal();
  $("token-input").focus();
}
$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("token-input");
  state.token = input.value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  input.value = "";
  $<HTMLDialogElement>("login").close();
  state.needsToken = false;
  start();
});
$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = "";
  askToken("");
});

function renderCounts(stats: Stats): void {
  const card = (status: TaskStatus | "", label: string, value: number) =>
    el("button", {
      className: status ? `card s-${status}` : "card",
      "aria-pressed": String(state.status === status),
      data: { status },
      onclick: () => setStatus(status),
    }, [
      el("div", { className: "label", text: label }),
      el("div", { className: "value", text: value }),
    ]);
  $("counts").replaceChildren(
    card("", "All tasks", stats.total),
    ...TASK_STATUSES.map((s) => card(s, s.toLowerCase(), stats.byStatus[s] ?? 0)),
  );
}

function renderQueues(stats: Stats): void {
  const shown: TaskStatus[] = ["PENDING", "PROCESSING", "FAILED", "COMPLETED"];
  const labels: Partial<Record<TaskStatus, string>> = {
    PENDING: "waiting",
    PROCESSING: "running",
    FAILED: "failed",
    COMPLETED: "done",
  };
  const head = el("tr", {}, [
    el("th", { text: "Queue" }),
    ...shown.map((s) => el("th", { className: "num", text: labels[s] })),
  ]);
  const rows = Object.keys(stats.queues).sort().map((queue) => {
    const counts: Partial<Record<TaskStatus, number>> = stats.queues[queue] ?? {};
    const link = el("a", {
      className: "link mono",
      href: viewHash({ queue }),
      text: queue,
      onclick: (e: Event) => {
        e.preventDefault();
        navigate({ queue, status: "", name: "", idPrefix: "", args: "" });
      },
    });
    return el("tr", { data: { queue } }, [
      el("td", {}, [link]),
      ...shown.map((s) => {
        let n = counts[s] ?? 0;
        if (s === "PENDING") n += (counts.SCHEDULED ?? 0) + (counts.RETRYING ?? 0);
        return el("td", { className: "num", text: n });
      }),
    ]);
  });
  $("queues").replaceChildren(
    el("thead", {}, [head]),
    el("tbody", {}, rows.length ? rows : [emptyRow(5, "No queues yet")]),
  );
  const pool = $("pool");
  pool.replaceChildren();
  if (stats.pool) {
    const rows: [string, number][] = [
      ["Workers", stats.pool.size],
      ["Busy", stats.pool.busy],
      ["Crashes", stats.pool.crashes],
      ["Recycled", stats.pool.recycles],
    ];
    pool.append(
      el("h2", { text: "Worker pool (this process)" }),
      el("table", {}, [
        el(
          "tbody",
          {},
          rows.map(([label, n]) =>
            el("tr", {}, [el("td", { text: label }), el("td", { className: "num", text: n })])
          ),
        ),
      ]),
    );
  }
}

function renderFailures(tasks: Task[]): void {
  const list = $("failures");
  if (!tasks.length) {
    list.replaceChildren(el("li", { className: "empty", text: "No failed tasks" }));
    return;
  }
  list.replaceChildren(...tasks.map((task) =>
    el("li", { data: { id: task.id } }, [
      el("div", { className: "meta" }, [
        el("button", {
          className: "link mono",
          text: task.name,
          onclick: () => openDetail(task.id),
        }),
        el("span", { text: ago(task.completedAt) }),
        el("span", { className: "mono", text: shortId(task.id) }),
      ]),
      el("div", {
        className: "error",
        title: task.lastError?.message ?? "",
        text: task.lastError?.message ?? "(no error recorded)",
      }),
    ])
  ));
}

function renderActivity(body: { activity: ActivityEntry[] }): void {
  const list = $("activity");
  if (!body.activity.length) {
    list.replaceChildren(
      el("li", { className: "empty", text: "Tasks show here as workers run them" }),
    );
    return;
  }
  list.replaceChildren(...body.activity.map(({ at, workerId, task }) => {
    const item = el("li", { data: { id: task.id, status: task.status, worker: workerId ?? "" } }, [
      el("div", { className: "meta" }, [
        el("span", { title: dateTime(at), text: time(at) }),
        badge(task.status),
        el("button", {
          className: "link mono",
          text: task.name,
          onclick: () => openDetail(task.id),
        }),
        workerId
          ? el("span", {
            className: "who mono",
            title: `worker ${workerId}`,
            text: shortId(workerId),
          })
          : null,
      ]),
    ]);
    // A completed task keeps the error of an earlier attempt: not news here.
    if (task.error && task.status !== "COMPLETED") {
      item.append(el("div", { className: "error", text: task.error }));
    }
    return item;
  }));
}

function actionButtons(task: Task): HTMLButtonElement[] {
  const buttons: HTMLButtonElement[] = [];
  const button = (action: string, text: string, run: () => unknown, label?: string) =>
    el("button", {
      className: "action",
      data: { action },
      text,
      "aria-label": label,
      onclick: (e: Event) => {
        e.stopPropagation();
        run();
      },
    });
  if (CANCELLABLE_STATUSES.includes(task.status) && !task.cancelRequested) {
    buttons.push(button("cancel", "Cancel", () => act(task.id, "cancel")));
  }
  if (RETRYABLE_STATUSES.includes(task.status)) {
    buttons.push(button("retry", "Retry", () => act(task.id, "retry")));
  }
  if (DELETABLE_STATUSES.includes(task.status)) {
    buttons.push(
      button("delete", "Delete", () => deleteTask(task), `Delete task ${shortId(task.id)}`),
    );
  }
  return buttons;
}

function taskRow(task: Task): HTMLTableRowElement {
  return el("tr", { data: { id: task.id, status: task.status } }, [
    el("td", {}, [
      el("a", {
        className: "link mono task-link",
        text: shortId(task.id),
        title: task.id,
        href: viewHash({ task: task.id }),
        onclick: (e: Event) => {
          e.preventDefault();
          openDetail(task.id);
        },
      }),
    ]),
    el("td", { className: "mono", text: task.name }),
    el("td", { className: "mono wide-only", text: task.queue }),
    el("td", { className: "status" }, [badge(task.status)]),
    el("td", { className: "num wide-only", text: `${task.attempts}/${task.maxAttempts}` }),
    el("td", {
      className: "wide-only",
      title: dateTime(task.createdAt),
      text: ago(task.createdAt),
    }),
    el("td", { className: "num wide-only", text: runTime(task) }),
    el("td", { className: "actions" }, actionButtons(task)),
  ]);
}

/** The filters of the task list, as the API names them. */
function currentFilter(): Filter {
  const filter: Filter = {};
  if (state.status) filter.status = state.status;
  if (state.name) filter.name = state.name;
  if (state.queue) filter.queue = state.queue;
  if (state.idPrefix) filter.idPrefix = state.idPrefix.toLowerCase();
  if (state.args) filter.argsContains = state.args;
  return filter;
}
function listQuery(cursor: string | null): string {
  const params = new URLSearchParams(currentFilter());
  params.set("limit", String(PAGE_SIZE));
  if (cursor) params.set("cursor", cursor);
  return `api/tasks?${params}`;
}

// Responses can arrive out of order: a page is shown only if no newer load started since.
let tasksGeneration = 0;
async function loadTasks(append: boolean): Promise<void> {
  const generation = ++tasksGeneration;
  const problem = $("filter-error");
  const body = $<HTMLTableElement>("tasks").tBodies[0]!;
  if (state.idPrefix && !/^[0-9a-fA-F-]{1,36}$/.test(state.idPrefix)) {
    problem.textContent =
      "A task id has only hex digits (0-9, a-f) and dashes, at most 36 characters.";
    problem.hidden = false;
    body.replaceChildren();
    $("tasks-empty").hidden = false;
    $("more").hidden = true;
    return;
  }
  let page: { tasks: Task[]; nextCursor: string | null };
  try {
    page = await api(listQuery(append ? state.cursor : null));
  } catch (error) {
    if (generation !== tasksGeneration || error instanceof AuthNeeded) throw error;
    problem.textContent = (error as Error).message;
    problem.hidden = false;
    return;
  }
  if (generation !== tasksGeneration) return;
  problem.hidden = true;
  if (!append) body.replaceChildren();
  for (const task of page.tasks) body.append(taskRow(task));
  state.cursor = page.nextCursor;
  $("more").hidden = !page.nextCursor;
  $("tasks-empty").hidden = body.rows.length > 0;
  // A search by id that finds one task opens it.
  const only = page.tasks[0];
  if (
    state.openSingleMatch && !append && state.idPrefix && page.tasks.length === 1 &&
    !page.nextCursor && only
  ) {
    state.openSingleMatch = false;
    if (state.selected !== only.id) void openDetail(only.id, true);
  }
}

function setStatus(status: TaskStatus | ""): void {
  navigate({ status });
}

async function deleteTask(task: Task): Promise<void> {
  try {
    const ok = await confirmAction(
      "Delete this task?",
      `Delete ${task.status.toLowerCase()} task ${task.name} ${
        shortId(task.id)
      }? This cannot be undone.`,
      "Delete",
    );
    if (!ok) return;
    await api(`api/tasks/${encodeURIComponent(task.id)}`, { method: "DELETE" });
    toast(`Deleted ${task.name} ${shortId(task.id)}`);
    if (state.selected === task.id) closeDetail();
    void refresh();
  } catch (error) {
    quietly(error);
  }
}

// Bulk actions on every task the filters select: the confirmation says how many the server
// counts; the server then works through them in bounded batches.
const BULK: Record<BulkAction, { verb: string; noun: string; done: string }> = {
  retry: { verb: "Retry", noun: "failed", done: "Retried" },
  cancel: { verb: "Cancel", noun: "waiting", done: "Cancelled" },
  delete: { verb: "Delete", noun: "finished", done: "Deleted" },
};
function bulkFilter(action: BulkAction): Filter {
  const filter = currentFilter();
  if (action === "retry" && !filter.status) filter.status = "FAILED";
  return filter;
}
function describeFilter(filter: Filter): string {
  const parts: string[] = [];
  if (filter.name) parts.push(`named ${filter.name}`);
  if (filter.queue) parts.push(`in queue ${filter.queue}`);
  if (filter.idPrefix) parts.push(`with an id starting ${filter.idPrefix}`);
  if (filter.argsContains) parts.push(`whose args contain "${filter.argsContains}"`);
  return parts.length ? ` ${parts.join(", ")}` : "";
}
async function bulk(action: BulkAction): Promise<void> {
  const spec = BULK[action];
  const filter = bulkFilter(action);
  const params = new URLSearchParams(filter);
  params.set("action", action);
  try {
    const counted = await api<{ count: number }>(`api/tasks/count?${params}`);
    const kind = filter.status ? filter.status.toLowerCase() : spec.noun;
    if (!counted.count) {
      toast(`No ${kind} tasks${describeFilter(filter)} to ${action}`);
      return;
    }
    const what = plural(counted.count, `${kind} task`) + describeFilter(filter);
    const ok = await confirmAction(
      `${spec.verb} ${plural(counted.count, "task")}?`,
      `${spec.verb} ${what}?${action === "delete" ? " This cannot be undone." : ""}`,
      `${spec.verb} ${counted.count.toLocaleString()}`,
    );
    if (!ok) return;
    const done = await api<{ count: number }>("api/tasks/bulk", {
      method: "POST",
      body: JSON.stringify({ action, filter }),
    });
    toast(`${spec.done} ${plural(done.count, "task")}`);
    void refresh();
  } catch (error) {
    quietly(error);
  }
}

function rateText(q: QueueRow): string {
  const parts: string[] = [];
  if (q.rateLimit) parts.push(`${q.rateLimit.limit}/${duration(q.rateLimit.perMillis)}`);
  if (q.maxRunning !== null) parts.push(`max ${q.maxRunning} running`);
  return parts.join(", ") || "-";
}
function renderQueueControl(body: { queues: QueueRow[] }): void {
  const rows = body.queues.map((q) => {
    const action = q.paused ? "resume" : "pause";
    return el("tr", { data: { queue: q.name } }, [
      el("td", { className: "mono", text: q.name }),
      el("td", { text: q.paused ? "paused" : "active" }),
      el("td", { text: rateText(q) }),
      el("td", {}, [
        el("button", {
          className: "action",
          data: { action },
          text: q.paused ? "Resume" : "Pause",
          onclick: () => setQueue(q.name, action),
        }),
      ]),
    ]);
  });
  $("queue-control").replaceChildren(
    el("tbody", {}, rows.length ? rows : [emptyRow(4, "No queues yet")]),
  );
}
async function setQueue(queue: string, action: "pause" | "resume"): Promise<void> {
  try {
    const q = await api<QueueRow>(`api/queues/${encodeURIComponent(queue)}/${action}`, {
      method: "POST",
      body: "{}",
    });
    toast(`Queue ${q.name}${q.paused ? " paused" : " resumed"}`);
    void refresh();
  } catch (error) {
    quietly(error);
  }
}
function renderSchedules(body: { schedules: Schedule[] }): void {
  const head = el("tr", {}, ["Schedule", "Cron", "Last", "Next"].map((h) => el("th", { text: h })));
  const rows = body.schedules.map((s) =>
    el("tr", { data: { schedule: s.id } }, [
      el("td", { className: "mono", text: s.id + (s.retired ? " (retired)" : "") }),
      el("td", { className: "mono", text: s.cron + (s.timezone ? ` ${s.timezone}` : "") }),
      el("td", { text: dateTime(s.lastSlotAt) }),
      el("td", { text: dateTime(s.nextRunAt) }),
    ])
  );
  $("schedules").replaceChildren(
    el("thead", {}, [head]),
    el("tbody", {}, rows.length ? rows : [emptyRow(4, "No schedules")]),
  );
}

async function act(id: string, action: "cancel" | "retry"): Promise<void> {
  try {
    const task = await api<Task>(`api/tasks/${encodeURIComponent(id)}/${action}`, {
      method: "POST",
      body: "{}",
    });
    toast(`${action === "retry" ? "Retrying" : "Cancelling"} ${task.name} ${shortId(task.id)}`);
    void refresh();
  } catch (error) {
    quietly(error);
  }
}

const field = (label: string, value: string | number) => [
  el("dt", { text: label }),
  el("dd", { text: value }),
];

function attemptsTable(attempts: readonly Attempt[]): HTMLTableElement {
  const head = el(
    "tr",
    {},
    ["#", "Outcome", "Started", "Took", "Worker", "Error"].map((h) => el("th", { text: h })),
  );
  const rows = attempts.map((a) => {
    const error = typeof a.error === "string" ? a.error : a.error?.message ?? "";
    return el("tr", { data: { attempt: a.attempt } }, [
      el("td", { className: "num", text: a.attempt }),
      el("td", {}, [a.outcome ? badge(a.outcome.toUpperCase()) : "-"]),
      el("td", { text: dateTime(a.startedAt) }),
      el("td", {
        className: "num",
        text: runTime({ startedAt: a.startedAt, completedAt: a.endedAt }),
      }),
      el("td", {
        className: "mono",
        title: a.workerId ?? "",
        text: a.workerId ? shortId(a.workerId) : "-",
      }),
      el("td", { className: "error", title: error, text: error }),
    ]);
  });
  return el("table", { className: "attempts" }, [el("thead", {}, [head]), el("tbody", {}, rows)]);
}

function renderDetail(task: Task): void {
  const panel = $("detail");
  const parts: Node[] = [
    el("div", { className: "detail-actions" }, [
      badge(task.status),
      el("span", { className: "spacer" }),
      ...actionButtons(task),
      el("button", {
        className: "action",
        id: "detail-close",
        text: "Close",
        onclick: () => closeDetail(),
      }),
    ]),
    el("h2", { className: "mono", text: task.name }),
    el("div", { className: "mono", text: task.id }),
    el("dl", {}, [
      ...field("Queue", task.queue),
      ...field("Priority", task.priority),
      ...field("Attempts", `${task.attempts} of ${task.maxAttempts}`),
      ...field("Created", dateTime(task.createdAt)),
      ...field("Run at", dateTime(task.runAt)),
      ...field("Started", dateTime(task.startedAt)),
      ...field("Finished", dateTime(task.completedAt)),
      ...field("Duration", runTime(task)),
      ...field("Timeout", task.timeoutMillis === null ? "none" : duration(task.timeoutMillis)),
      ...field("Worker", task.workerId ?? "-"),
      ...field("Lease until", dateTime(task.leaseExpiresAt)),
      ...(task.cancelRequested ? field("Cancel", "requested") : []),
    ]),
  ];
  if (task.progress !== null) {
    const p = task.progress;
    parts.push(el("h3", { text: "Progress" }));
    if (typeof p === "number" && p >= 0 && p <= 1) {
      parts.push(el("progress", { value: String(p), max: "1" }));
    } else if (typeof p === "number" && p >= 0 && p <= 100) {
      parts.push(el("progress", { value: String(p), max: "100" }));
    }
    parts.push(el("pre", { text: json(p) }));
  }
  parts.push(
    el("h3", { text: "Arguments" }),
    el("pre", { className: "args", text: json(task.args) }),
  );
  if (task.status === "COMPLETED") {
    parts.push(
      el("h3", { text: "Result" }),
      el("pre", { className: "result", text: json(task.result) }),
    );
  }
  if (task.lastError) {
    parts.push(
      el("h3", { text: task.status === "FAILED" ? "Error" : "Last error" }),
      el("pre", { className: "error", text: task.lastError.message }),
    );
    if (task.lastError.stack) {
      parts.push(
        el("h3", { text: "Stack" }),
        el("pre", { className: "stack", text: task.lastError.stack }),
      );
    }
  }
  // Recorded by stores that keep an attempt history; absent otherwise.
  const history = (task as { attemptHistory?: unknown }).attemptHistory;
  if (Array.isArray(history) && history.length) {
    parts.push(
      el("h3", { text: `Attempts (${history.length})` }),
      el("div", { className: "table-wrap" }, [attemptsTable(history as Attempt[])]),
    );
  }
  parts.push(
    el("h3", { text: `Log (${task.logs.length} lines)` }),
    el("pre", { className: "logs", text: task.logs.length ? task.logs.join("\n") : "(empty)" }),
  );
  panel.replaceChildren(...parts);
  panel.dataset.id = task.id;
  panel.dataset.status = task.status;
  panel.hidden = false;
}

async function showDetail(id: string): Promise<void> {
  try {
    const task = await api<Task>(`api/tasks/${encodeURIComponent(id)}`);
    if (state.selected === task.id) renderDetail(task);
  } catch (error) {
    if (error instanceof AuthNeeded || state.selected !== id) throw error;
    toast((error as Error).message);
    closeDetail(true);
  }
}
let openedFrom: Element | null = null;
async function openDetail(id: string, replace = false): Promise<void> {
  const wasOpen = !$("detail").hidden;
  if (!wasOpen) openedFrom = document.activeElement;
  state.selected = id;
  saveView(replace);
  try {
    await showDetail(id);
    const close = document.getElementById("detail-close");
    if (close && !wasOpen) close.focus();
  } catch (error) {
    quietly(error);
  }
}
function closeDetail(replace = false): void {
  if (state.selected === null && $("detail").hidden) return;
  state.selected = null;
  $("detail").hidden = true;
  saveView(replace);
  if (openedFrom instanceof HTMLElement && document.contains(openedFrom)) openedFrom.focus();
  openedFrom = null;
}
document.addEventListener("keydown", (e) => {
  if (
    e.key === "Escape" && !$<HTMLDialogElement>("confirm").open &&
    !$<HTMLDialogElement>("login").open
  ) closeDetail();
});

// One refresh at a time; events that arrive meanwhile ask for one more when it ends, so a
// slow, stale answer never lands after a newer one.
let refreshing: Promise<void> | null = null;
let refreshAgain = false;
function refresh(): Promise<void> {
  if (state.needsToken) return Promise.resolve();
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = reload().then(() => {
    refreshing = null;
    if (refreshAgain) {
      refreshAgain = false;
      return refresh();
    }
  });
  return refreshing;
}
async function reload(): Promise<void> {
  const jobs: Promise<unknown>[] = [
    api<Stats>("api/stats").then((stats) => {
      renderCounts(stats);
      renderQueues(stats);
      $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
      $("forget").hidden = !state.token;
    }),
    api<{ workers: WorkerInfo[]; unrunnable?: Unrunnable[] }>("api/workers").then((body) =>
      renderProcesses(body, serverNow())
    ),
    api<{ activity: ActivityEntry[] }>("api/activity").then(renderActivity),
    api<{ tasks: Task[] }>("api/tasks?status=FAILED&limit=8").then((page) =>
      renderFailures(page.tasks)
    ),
    api<{ queues: QueueRow[] }>("api/queues").then(renderQueueControl),
    api<{ schedules: Schedule[] }>("api/schedules").then(renderSchedules),
    loadTasks(false),
  ];
  if (Date.now() - chartsReadAt >= CHART_REFRESH_MILLIS) jobs.push(loadCharts());
  if (state.selected) jobs.push(showDetail(state.selected));
  await Promise.all(jobs).catch(quietly);
}
let chartsReadAt = -Infinity;
function loadCharts(): Promise<unknown> {
  chartsReadAt = Date.now();
  return Promise.all([
    api<ThroughputSeries>(`api/history?range=${state.range}`).then(renderChart),
    api<WaitTimes>("api/wait-times").then(renderWaits),
  ]);
}
function scheduleRefresh(): void {
  if (state.refreshTimer !== undefined) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = undefined;
    void refresh();
  }, 250);
}

function setLive(mode: "live" | "offline" | "connecting"): void {
  const live = $("live");
  live.dataset.state = mode;
  live.textContent = mode === "live"
    ? "live"
    : mode === "offline"
    ? "offline, polling"
    : "connecting";
}

function stopStream(): void {
  state.stream?.abort();
  state.stream = null;
}

/** Reads the event stream; every event (any process's, through the store) asks for a refresh. */
async function connect(delay: number): Promise<void> {
  stopStream();
  const controller = new AbortController();
  state.stream = controller;
  setLive("connecting");
  const headers: Record<string, string> = state.token
    ? { authorization: `Bearer ${state.token}` }
    : {};
  try {
    const response = await fetch("api/events", {
      headers,
      signal: controller.signal,
      cache: "no-store",
    });
    if (response.status === 401) {
      askToken("That token was refused.");
      return;
    }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    setLive("live");
    delay = 1000;
    void refresh();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    while (true) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error("The event stream ended");
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        if (/^(event|data):/m.test(buffer.slice(0, end))) scheduleRefresh();
        buffer = buffer.slice(end + 2);
      }
    }
  } catch {
    if (controller.signal.aborted || state.needsToken) return;
    setLive("offline");
    setTimeout(() => {
      if (state.stream === controller) void connect(Math.min(delay * 2, 30000));
    }, delay);
  }
}

async function start(): Promise<void> {
  try {
    // One call first: without a valid token it is the only one refused.
    await api("api/stats");
    await refresh();
    if (!state.needsToken) void connect(1000);
  } catch (error) {
    quietly(error);
  }
}

// The view (filters, open task, chart range) lives in the URL hash, so every view has a link
// that survives a reload and can be shared: #status=FAILED&queue=media&task=<id>&range=day.
type View = Record<TextKey | "status" | "task" | "range", string>;
const VIEW_KEYS: readonly (keyof View)[] = [
  "status",
  "name",
  "queue",
  "idPrefix",
  "args",
  "task",
  "range",
];
const INPUTS: Record<TextKey, string> = {
  name: "name-filter",
  queue: "queue-filter",
  idPrefix: "id-filter",
  args: "args-filter",
};
const TEXT_KEYS = Object.keys(INPUTS) as TextKey[];
function viewHash(changes: Partial<View>): string {
  const view: View = {
    status: state.status,
    name: state.name,
    queue: state.queue,
    idPrefix: state.idPrefix,
    args: state.args,
    task: state.selected ?? "",
    range: state.range,
    ...changes,
  };
  const params = new URLSearchParams();
  for (const key of VIEW_KEYS) {
    if (view[key] && !(key === "range" && view[key] === "hour")) params.set(key, view[key]);
  }
  const text = params.toString();
  return text ? `#${text}` : "#";
}
let appliedHash: string | null = null;
function saveView(replace: boolean): void {
  const hash = viewHash({});
  if (hash === (location.hash || "#")) return;
  history[replace ? "replaceState" : "pushState"](
    null,
    "",
    hash === "#" ? location.pathname + location.search : hash,
  );
  appliedHash = location.hash;
}
function readView(): void {
  appliedHash = location.hash;
  const params = new URLSearchParams(location.hash.slice(1));
  const status = (params.get("status") ?? "").toUpperCase();
  state.status = (TASK_STATUSES as readonly string[]).includes(status) ? status as TaskStatus : "";
  for (const key of TEXT_KEYS) {
    state[key] = (params.get(key) ?? "").trim();
    $<HTMLInputElement>(INPUTS[key]).value = state[key];
  }
  $<HTMLSelectElement>("status-filter").value = state.status;
  state.range = params.get("range") === "day" ? "day" : "hour";
  state.selected = params.get("task") || null;
  if (!state.selected) {
    $("detail").hidden = true;
    state.openSingleMatch = Boolean(state.idPrefix);
  }
}
/** Applies a change made on the page: a new history entry, then the data. */
function navigate(changes: Partial<View>): void {
  for (const [key, value] of Object.entries(changes) as [keyof View, string][]) {
    if (key === "task") state.selected = value || null;
    else if (key === "status") state.status = value as TaskStatus | "";
    else if (key === "range") state.range = value === "day" ? "day" : "hour";
    else {
      state[key] = value;
      $<HTMLInputElement>(INPUTS[key]).value = value;
    }
  }
  if ("status" in changes) $<HTMLSelectElement>("status-filter").value = state.status;
  saveView(false);
  void refresh();
}
function onLocationChange(): void {
  if (location.hash === appliedHash) return;
  readView();
  chartsReadAt = -Infinity;
  void refresh();
}
addEventListener("hashchange", onLocationChange);
addEventListener("popstate", onLocationChange);

const statusFilter = $<HTMLSelectElement>("status-filter");
statusFilter.append(
  el("option", { value: "", text: "All statuses" }),
  ...TASK_STATUSES.map((s) => el("option", { value: s, text: s.toLowerCase() })),
);
statusFilter.addEventListener("change", () => setStatus(statusFilter.value as TaskStatus | ""));
// One pause per field: typing in one does not drop a change just made in another.
const typing: Partial<Record<TextKey, Timer>> = {};
for (const key of TEXT_KEYS) {
  $<HTMLInputElement>(INPUTS[key]).addEventListener("input", (e) => {
    clearTimeout(typing[key]);
    typing[key] = setTimeout(() => {
      state[key] = (e.target as HTMLInputElement).value.trim();
      if (key === "idPrefix") state.openSingleMatch = true;
      saveView(true);
      loadTasks(false).catch(quietly);
    }, 250);
  });
}
$("clear-filters").addEventListener("click", () => {
  navigate({ status: "", name: "", queue: "", idPrefix: "", args: "" });
});
document.querySelectorAll<HTMLElement>("[data-bulk]").forEach((button) => {
  button.addEventListener("click", () => bulk(button.dataset.bulk as BulkAction));
});
document.querySelectorAll<HTMLElement>(".range button").forEach((button) => {
  button.addEventListener("click", () => {
    state.range = button.dataset.range === "day" ? "day" : "hour";
    saveView(true);
    loadCharts().catch(quietly);
  });
});
readView();
$("more").addEventListener("click", () => {
  loadTasks(true).catch(quietly);
});
// Counts, processes and activity change without events too (heartbeats, other hosts' writes
// seen late): read them again every POLL_MILLIS whatever the stream says.
setInterval(scheduleRefresh, POLL_MILLIS);
void start();
