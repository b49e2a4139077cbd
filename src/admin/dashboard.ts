/**
 * The dashboard: one HTML page with its CSS and script inline, no build step and no external
 * resources, so it works offline and under a strict Content-Security-Policy (a nonce per
 * response).
 *
 * The page asks for the admin token and keeps it in `sessionStorage` (this tab only). It reads
 * the live event stream with `fetch` and a stream reader rather than `EventSource`, because
 * `EventSource` cannot send an `Authorization` header: the token stays in a header and never
 * appears in a URL, a log line or the browser history.
 * @module
 */

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --panel: #fff; --text: #1d2330; --muted: #687083; --line: #e2e5eb;
  --accent: #3b6fe0; --pending: #64748b; --scheduled: #8b5cf6; --processing: #2563eb;
  --retrying: #d97706; --completed: #16a34a; --failed: #dc2626; --cancelled: #9ca3af;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #11141a; --panel: #1a1f28; --text: #e5e8ee; --muted: #98a1b3; --line: #2b3240; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 12px; padding: 12px 24px; background: var(--panel);
  border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 17px; margin: 0; letter-spacing: .2px; }
header h1 span { color: var(--accent); }
.spacer { flex: 1; }
#live { font-size: 12px; color: var(--muted); display: inline-flex; align-items: center; gap: 6px; }
#live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--cancelled); }
#live[data-state="live"]::before { background: var(--completed); box-shadow: 0 0 0 3px #16a34a33; }
#live[data-state="offline"]::before { background: var(--failed); }
main { padding: 20px 24px 40px; max-width: 1280px; margin: 0 auto; display: grid; gap: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px;
  text-align: left; cursor: pointer; color: inherit; font: inherit; border-top: 3px solid var(--line); }
.card:hover, .card[aria-pressed="true"] { outline: 2px solid var(--accent); outline-offset: -1px; }
.card .label { font-size: 11px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); }
.card .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: 2fr 1fr; gap: 16px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
  min-width: 0; }
.panel h2 { font-size: 13px; margin: 0 0 10px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); }
.panel h2 small { text-transform: none; letter-spacing: 0; font-weight: 400; }
#chart { width: 100%; height: 150px; display: block; }
#chart .axis { fill: var(--muted); font-size: 10px; }
#chart .grid-line { stroke: var(--line); }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px;
  background: var(--c); }
#chart .bar-completed { fill: var(--completed); } #chart .bar-failed { fill: var(--failed); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
tbody tr:hover { background: color-mix(in srgb, var(--accent) 6%, transparent); }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.link { color: var(--accent); cursor: pointer; background: none; border: 0; padding: 0; font: inherit; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11px; font-weight: 600;
  color: #fff; background: var(--pending); letter-spacing: .3px; }
.s-PENDING { --c: var(--pending); } .s-SCHEDULED { --c: var(--scheduled); } .s-PROCESSING { --c: var(--processing); }
.s-RETRYING { --c: var(--retrying); } .s-COMPLETED { --c: var(--completed); } .s-FAILED { --c: var(--failed); }
.s-CANCELLED { --c: var(--cancelled); }
.badge[class*="s-"] { background: var(--c); } .card[class*="s-"] { border-top-color: var(--c); }
button.action { font: inherit; font-size: 12px; padding: 2px 10px; border-radius: 5px; cursor: pointer;
  border: 1px solid var(--line); background: var(--panel); color: var(--text); }
button.action:hover { border-color: var(--accent); color: var(--accent); }
button.action[data-action="cancel"]:hover { border-color: var(--failed); color: var(--failed); }
.toolbar { display: flex; gap: 8px; margin-bottom: 8px; flex-wrap: wrap; }
select, input { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--panel); color: var(--text); }
.table-wrap { overflow-x: auto; }
.empty { color: var(--muted); padding: 12px 0; text-align: center; }
ul.feed { list-style: none; margin: 0; padding: 0; max-height: 240px; overflow-y: auto; }
ul.feed li { padding: 6px 0; border-bottom: 1px solid var(--line); display: grid; gap: 2px; }
ul.feed li:last-child { border-bottom: 0; }
.feed .meta { display: flex; gap: 8px; align-items: center; font-size: 12px; color: var(--muted); }
.feed .error { color: var(--failed); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 12px; }
#detail { position: fixed; top: 0; right: 0; bottom: 0; width: min(560px, 100%); background: var(--panel);
  border-left: 1px solid var(--line); box-shadow: -8px 0 24px #0002; overflow-y: auto; padding: 18px 20px; z-index: 3; }
#detail h2 { margin: 0 0 4px; font-size: 18px; }
#detail dl { display: grid; grid-template-columns: 120px 1fr; gap: 4px 12px; margin: 12px 0; }
#detail dt { color: var(--muted); } #detail dd { margin: 0; overflow-wrap: anywhere; }
#detail h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 16px 0 6px; }
pre { margin: 0; padding: 10px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px;
  overflow: auto; max-height: 260px; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.error { color: var(--failed); }
.detail-actions { display: flex; gap: 8px; align-items: center; }
progress { width: 100%; }
dialog { border: 1px solid var(--line); border-radius: 10px; padding: 20px; background: var(--panel); color: var(--text);
  width: min(380px, 90vw); }
dialog::backdrop { background: #0006; }
dialog form { display: grid; gap: 10px; }
dialog p { margin: 0; color: var(--muted); font-size: 13px; }
dialog .error { color: var(--failed); min-height: 1em; font-size: 13px; }
button.primary { font: inherit; padding: 7px 12px; border-radius: 6px; border: 0; background: var(--accent);
  color: #fff; cursor: pointer; }
#toast { position: fixed; bottom: 16px; left: 50%; transform: translateX(-50%); background: var(--text);
  color: var(--panel); padding: 8px 14px; border-radius: 6px; font-size: 13px; z-index: 5; }
[hidden] { display: none !important; }
`;

const BODY = `
<header>
  <h1><span>&#9670;</span> aether-tasks</h1>
  <span id="live" data-state="connecting">connecting</span>
  <span class="spacer"></span>
  <span id="updated" class="mono"></span>
  <button id="forget" class="action" hidden>Forget token</button>
</header>
<main>
  <section class="cards" id="counts" aria-label="Tasks by status"></section>
  <div class="grid">
    <section class="panel">
      <h2>Throughput <small>attempts per 10 s, last 10 minutes</small></h2>
      <svg id="chart" viewBox="0 0 600 150" preserveAspectRatio="none" role="img" aria-label="Throughput"></svg>
      <div class="legend"><span><i class="s-COMPLETED"></i>completed</span><span><i class="s-FAILED"></i>failed or retried</span></div>
    </section>
    <section class="panel">
      <h2>Queues</h2>
      <div class="table-wrap"><table id="queues"></table></div>
      <div id="pool"></div>
    </section>
  </div>
  <div class="grid">
    <section class="panel">
      <h2>Recent failures</h2>
      <ul class="feed" id="failures"></ul>
    </section>
    <section class="panel">
      <h2>Live activity</h2>
      <ul class="feed" id="activity"><li class="empty">Events show here as workers run tasks</li></ul>
    </section>
  </div>
  <div class="grid">
    <section class="panel">
      <h2>Queue control <small>pause stops every worker claiming; enqueues still land</small></h2>
      <div class="table-wrap"><table id="queue-control"></table></div>
    </section>
    <section class="panel">
      <h2>Schedules</h2>
      <div class="table-wrap"><table id="schedules"></table></div>
    </section>
  </div>
  <section class="panel">
    <h2>Tasks</h2>
    <div class="toolbar">
      <select id="status-filter" aria-label="Status"></select>
      <input id="name-filter" placeholder="Task name" aria-label="Task name">
      <input id="queue-filter" placeholder="Queue" aria-label="Queue">
    </div>
    <div class="table-wrap">
      <table id="tasks">
        <thead><tr><th>ID</th><th>Name</th><th>Queue</th><th>Status</th><th class="num">Attempts</th>
        <th>Created</th><th class="num">Duration</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <div class="empty" id="tasks-empty" hidden>No tasks</div>
    <div class="toolbar"><button id="more" class="action" hidden>Load more</button></div>
  </section>
</main>
<aside id="detail" hidden aria-label="Task detail"></aside>
<dialog id="login">
  <form id="login-form">
    <strong>Admin token</strong>
    <p>This endpoint needs a token. It is kept for this tab only.</p>
    <input id="token-input" type="password" autocomplete="off" required aria-label="Admin token">
    <div class="error" id="login-error"></div>
    <button class="primary" type="submit">Open dashboard</button>
  </form>
</dialog>
<div id="toast" hidden></div>
`;

// Plain ES2020 without template literals, so it can sit in this module's string.
const SCRIPT = `
"use strict";
var STATUSES = ["PENDING", "SCHEDULED", "PROCESSING", "RETRYING", "COMPLETED", "FAILED", "CANCELLED"];
var CANCELLABLE = ["PENDING", "SCHEDULED", "RETRYING", "PROCESSING"];
var RETRYABLE = ["FAILED", "CANCELLED"];
var TOKEN_KEY = "aether-tasks:admin-token";
var PAGE_SIZE = 25;
var state = { token: sessionStorage.getItem(TOKEN_KEY) || "", status: "", name: "", queue: "", cursor: null,
  selected: null, refreshTimer: 0, pollTimer: 0, stream: null, needsToken: false };

function $(id) { return document.getElementById(id); }
function el(tag, props, children) {
  var node = document.createElement(tag);
  props = props || {};
  Object.keys(props).forEach(function (key) {
    var value = props[key];
    if (value === undefined || value === null) return;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key === "data") Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
    else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  });
  (children || []).forEach(function (child) {
    if (child !== null && child !== undefined) node.append(child);
  });
  return node;
}
function svg(tag, attrs, text) {
  var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  Object.keys(attrs).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
  if (text !== undefined) node.textContent = text;
  return node;
}
function badge(status) { return el("span", { className: "badge s-" + status, text: status }); }
function shortId(id) { return id.slice(-12); }
function time(ms) { return ms ? new Date(ms).toLocaleTimeString() : "-"; }
function dateTime(ms) { return ms ? new Date(ms).toLocaleString() : "-"; }
function ago(ms) {
  if (!ms) return "-";
  var s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return "in " + duration(-s * 1000);
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return new Date(ms).toLocaleDateString();
}
function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "-";
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) {
    var seconds = Math.round((ms % 60000) / 1000);
    return Math.floor(ms / 60000) + "m" + (seconds ? " " + seconds + "s" : "");
  }
  var minutes = Math.round((ms % 3600000) / 60000);
  return Math.floor(ms / 3600000) + "h" + (minutes ? " " + minutes + "m" : "");
}
function json(value) { return JSON.stringify(value, null, 2); }
function toast(message) {
  var t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(function () { t.hidden = true; }, 4000);
}

function AuthNeeded() {}
function api(path, init) {
  init = init || {};
  var headers = new Headers(init.headers || {});
  if (state.token) headers.set("authorization", "Bearer " + state.token);
  if (init.method === "POST") headers.set("content-type", "application/json");
  return fetch(path, { method: init.method || "GET", headers: headers, body: init.body, signal: init.signal })
    .then(function (response) {
      if (response.status === 401) { askToken(state.token ? "That token was refused." : ""); throw new AuthNeeded(); }
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) throw new Error((body && body.error) || (response.status + " " + response.statusText));
        return body;
      });
    });
}
function quietly(error) { if (!(error instanceof AuthNeeded)) toast(error.message || String(error)); }

function askToken(message) {
  state.needsToken = true;
  stopStream();
  $("login-error").textContent = message || "";
  if (!$("login").open) $("login").showModal();
  $("token-input").focus();
}
$("login-form").addEventListener("submit", function (event) {
  event.preventDefault();
  state.token = $("token-input").value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("token-input").value = "";
  $("login").close();
  state.needsToken = false;
  start();
});
$("forget").addEventListener("click", function () {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = "";
  askToken("");
});

function renderCounts(stats) {
  var box = $("counts");
  box.replaceChildren();
  var all = el("button", { className: "card", "aria-pressed": String(state.status === ""), data: { status: "" },
    onclick: function () { setStatus(""); } }, [
    el("div", { className: "label", text: "All tasks" }), el("div", { className: "value", text: stats.total })]);
  box.append(all);
  STATUSES.forEach(function (status) {
    box.append(el("button", { className: "card s-" + status, "aria-pressed": String(state.status === status),
      data: { status: status }, onclick: function () { setStatus(status); } }, [
      el("div", { className: "label", text: status.toLowerCase() }),
      el("div", { className: "value", text: stats.byStatus[status] || 0 })]));
  });
}

function renderQueues(stats) {
  var table = $("queues");
  var shown = ["PENDING", "PROCESSING", "FAILED", "COMPLETED"];
  var labels = { PENDING: "waiting", PROCESSING: "running", FAILED: "failed", COMPLETED: "done" };
  var head = el("tr", {}, [el("th", { text: "Queue" })].concat(shown.map(function (s) {
    return el("th", { className: "num", text: labels[s] });
  })));
  var rows = Object.keys(stats.queues).sort().map(function (queue) {
    var counts = stats.queues[queue];
    return el("tr", { data: { queue: queue } }, [el("td", { className: "mono", text: queue })].concat(shown.map(function (s) {
      var n = counts[s] || 0;
      if (s === "PENDING") n += (counts.SCHEDULED || 0) + (counts.RETRYING || 0);
      return el("td", { className: "num", text: n });
    })));
  });
  table.replaceChildren(el("thead", {}, [head]), el("tbody", {}, rows.length ? rows :
    [el("tr", {}, [el("td", { className: "empty", colspan: "5", text: "No queues yet" })])]));
  var pool = $("pool");
  pool.replaceChildren();
  if (stats.pool) {
    pool.append(el("h2", { text: "Worker pool" }), el("table", {}, [el("tbody", {}, [
      ["Workers", stats.pool.size], ["Busy", stats.pool.busy], ["Crashes", stats.pool.crashes],
      ["Recycled", stats.pool.recycles]].map(function (row) {
      return el("tr", {}, [el("td", { text: row[0] }), el("td", { className: "num", text: row[1] })]);
    }))]));
  }
}

function renderChart(throughput) {
  var chart = $("chart");
  chart.replaceChildren();
  var width = 600, height = 150, top = 12, bottom = 20, left = 30;
  var n = throughput.completed.length;
  var totals = throughput.completed.map(function (c, i) { return c + throughput.failed[i]; });
  var max = Math.max.apply(null, totals.concat([4]));
  var scale = (height - top - bottom) / max;
  var slot = (width - left) / n;
  [0, 0.5, 1].forEach(function (f) {
    var y = height - bottom - f * max * scale;
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, "class": "grid-line" }));
    chart.append(svg("text", { x: left - 4, y: y + 3, "text-anchor": "end", "class": "axis" }, String(Math.round(f * max))));
  });
  for (var i = 0; i < n; i++) {
    var x = left + i * slot + 1;
    var c = throughput.completed[i], f = throughput.failed[i];
    var at = throughput.endsAt - (n - i) * throughput.bucketMillis;
    var title = time(at) + ": " + c + " completed, " + f + " failed";
    if (c) {
      var rc = svg("rect", { x: x, width: Math.max(1, slot - 2), y: height - bottom - c * scale, height: c * scale,
        "class": "bar-completed", rx: 1 });
      rc.append(svg("title", {}, title));
      chart.append(rc);
    }
    if (f) {
      var rf = svg("rect", { x: x, width: Math.max(1, slot - 2), y: height - bottom - (c + f) * scale, height: f * scale,
        "class": "bar-failed", rx: 1 });
      rf.append(svg("title", {}, title));
      chart.append(rf);
    }
  }
  var minutes = Math.round(n * throughput.bucketMillis / 60000);
  chart.append(svg("text", { x: left, y: height - 5, "class": "axis" }, "-" + minutes + "m"));
  chart.append(svg("text", { x: left + (width - left) / 2, y: height - 5, "text-anchor": "middle", "class": "axis" },
    "-" + Math.round(minutes / 2) + "m"));
  chart.append(svg("text", { x: width, y: height - 5, "text-anchor": "end", "class": "axis" }, "now"));
}

function renderFailures(tasks) {
  var list = $("failures");
  list.replaceChildren();
  if (!tasks.length) { list.append(el("li", { className: "empty", text: "No failed tasks" })); return; }
  tasks.forEach(function (task) {
    list.append(el("li", { data: { id: task.id } }, [
      el("div", { className: "meta" }, [
        el("button", { className: "link mono", text: task.name, onclick: function () { openDetail(task.id); } }),
        el("span", { text: ago(task.completedAt) }),
        el("span", { className: "mono", text: shortId(task.id) })]),
      el("div", { className: "error", title: task.lastError ? task.lastError.message : "",
        text: task.lastError ? task.lastError.message : "(no error recorded)" })]));
  });
}

function actionButtons(task) {
  var buttons = [];
  if (CANCELLABLE.indexOf(task.status) >= 0 && !task.cancelRequested) {
    buttons.push(el("button", { className: "action", data: { action: "cancel" }, text: "Cancel",
      onclick: function (e) { e.stopPropagation(); act(task.id, "cancel"); } }));
  }
  if (RETRYABLE.indexOf(task.status) >= 0) {
    buttons.push(el("button", { className: "action", data: { action: "retry" }, text: "Retry",
      onclick: function (e) { e.stopPropagation(); act(task.id, "retry"); } }));
  }
  return buttons;
}

function taskRow(task) {
  return el("tr", { data: { id: task.id, status: task.status } }, [
    el("td", {}, [el("button", { className: "link mono", text: shortId(task.id), title: task.id,
      onclick: function () { openDetail(task.id); } })]),
    el("td", { className: "mono", text: task.name }),
    el("td", { className: "mono", text: task.queue }),
    el("td", { className: "status" }, [badge(task.status)]),
    el("td", { className: "num", text: task.attempts + "/" + task.maxAttempts }),
    el("td", { title: dateTime(task.createdAt), text: ago(task.createdAt) }),
    el("td", { className: "num", text: task.completedAt && task.startedAt ? duration(task.completedAt - task.startedAt) : "-" }),
    el("td", { className: "actions" }, actionButtons(task)),
  ]);
}

function listQuery(cursor) {
  var params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.status) params.set("status", state.status);
  if (state.name) params.set("name", state.name);
  if (state.queue) params.set("queue", state.queue);
  if (cursor) params.set("cursor", cursor);
  return "/api/tasks?" + params;
}

// Responses can arrive out of order: a page is shown only if no newer load started since.
var tasksGeneration = 0;
function loadTasks(append) {
  var generation = ++tasksGeneration;
  return api(listQuery(append ? state.cursor : null)).then(function (page) {
    if (generation !== tasksGeneration) return;
    var body = $("tasks").tBodies[0];
    if (!append) body.replaceChildren();
    page.tasks.forEach(function (task) { body.append(taskRow(task)); });
    state.cursor = page.nextCursor;
    $("more").hidden = !page.nextCursor;
    $("tasks-empty").hidden = body.rows.length > 0;
  });
}

function setStatus(status) {
  state.status = status;
  $("status-filter").value = status;
  refresh();
}

function rateText(q) {
  var parts = [];
  if (q.rateLimit) parts.push(q.rateLimit.limit + "/" + duration(q.rateLimit.perMillis));
  if (q.maxRunning !== null) parts.push("max " + q.maxRunning + " running");
  return parts.join(", ") || "-";
}
function renderQueueControl(body) {
  var rows = body.queues.map(function (q) {
    var action = q.paused ? "resume" : "pause";
    return el("tr", { data: { queue: q.name } }, [
      el("td", { className: "mono", text: q.name }),
      el("td", { text: q.paused ? "paused" : "active" }),
      el("td", { text: rateText(q) }),
      el("td", {}, [el("button", { className: "action", data: { action: action },
        text: q.paused ? "Resume" : "Pause", onclick: function () { setQueue(q.name, action); } })])]);
  });
  $("queue-control").replaceChildren(el("tbody", {}, rows.length ? rows :
    [el("tr", {}, [el("td", { className: "empty", colspan: "4", text: "No queues yet" })])]));
}
function setQueue(queue, action) {
  return api("/api/queues/" + encodeURIComponent(queue) + "/" + action, { method: "POST", body: "{}" })
    .then(function (q) { toast("Queue " + q.name + (q.paused ? " paused" : " resumed")); refresh(); })
    .catch(quietly);
}
function renderSchedules(body) {
  var head = el("tr", {}, ["Schedule", "Cron", "Last", "Next"].map(function (h) { return el("th", { text: h }); }));
  var rows = body.schedules.map(function (s) {
    return el("tr", { data: { schedule: s.id } }, [
      el("td", { className: "mono", text: s.id + (s.retired ? " (retired)" : "") }),
      el("td", { className: "mono", text: s.cron + (s.timezone ? " " + s.timezone : "") }),
      el("td", { text: dateTime(s.lastSlotAt) }),
      el("td", { text: dateTime(s.nextRunAt) })]);
  });
  $("schedules").replaceChildren(el("thead", {}, [head]), el("tbody", {}, rows.length ? rows :
    [el("tr", {}, [el("td", { className: "empty", colspan: "4", text: "No schedules" })])]));
}

function act(id, action) {
  return api("/api/tasks/" + encodeURIComponent(id) + "/" + action, { method: "POST", body: "{}" })
    .then(function (task) {
      toast((action === "retry" ? "Retrying " : "Cancelling ") + task.name + " " + shortId(task.id));
      refresh();
    }).catch(quietly);
}

function field(label, value) { return [el("dt", { text: label }), el("dd", { text: value })]; }

function renderDetail(task) {
  var panel = $("detail");
  var parts = [
    el("div", { className: "detail-actions" }, [badge(task.status), el("span", { className: "spacer" })]
      .concat(actionButtons(task))
      .concat([el("button", { className: "action", id: "detail-close", text: "Close", onclick: closeDetail })])),
    el("h2", { className: "mono", text: task.name }),
    el("div", { className: "mono", text: task.id }),
    el("dl", {}, [].concat(
      field("Queue", task.queue), field("Priority", task.priority),
      field("Attempts", task.attempts + " of " + task.maxAttempts),
      field("Created", dateTime(task.createdAt)), field("Run at", dateTime(task.runAt)),
      field("Started", dateTime(task.startedAt)), field("Finished", dateTime(task.completedAt)),
      field("Duration", task.completedAt && task.startedAt ? duration(task.completedAt - task.startedAt) : "-"),
      field("Timeout", task.timeoutMillis === null ? "none" : duration(task.timeoutMillis)),
      field("Worker", task.workerId || "-"),
      field("Lease until", dateTime(task.leaseExpiresAt)),
      task.cancelRequested ? field("Cancel", "requested") : [])),
  ];
  if (task.progress !== null) {
    var p = task.progress;
    parts.push(el("h3", { text: "Progress" }));
    if (typeof p === "number" && p >= 0 && p <= 1) parts.push(el("progress", { value: String(p), max: "1" }));
    else if (typeof p === "number" && p >= 0 && p <= 100) parts.push(el("progress", { value: String(p), max: "100" }));
    parts.push(el("pre", { text: json(p) }));
  }
  parts.push(el("h3", { text: "Arguments" }), el("pre", { className: "args", text: json(task.args) }));
  if (task.status === "COMPLETED") parts.push(el("h3", { text: "Result" }), el("pre", { className: "result", text: json(task.result) }));
  if (task.lastError) {
    parts.push(el("h3", { text: task.status === "FAILED" ? "Error" : "Last error" }),
      el("pre", { className: "error", text: task.lastError.message }));
    if (task.lastError.stack) parts.push(el("h3", { text: "Stack" }), el("pre", { className: "stack", text: task.lastError.stack }));
  }
  parts.push(el("h3", { text: "Log (" + task.logs.length + " lines)" }),
    el("pre", { className: "logs", text: task.logs.length ? task.logs.join("\\n") : "(empty)" }));
  panel.replaceChildren.apply(panel, parts);
  panel.dataset.id = task.id;
  panel.dataset.status = task.status;
  panel.hidden = false;
}

function showDetail(id) {
  return api("/api/tasks/" + encodeURIComponent(id)).then(function (task) {
    if (state.selected === task.id) renderDetail(task);
  });
}
function openDetail(id) {
  state.selected = id;
  return showDetail(id).catch(quietly);
}
function closeDetail() { state.selected = null; $("detail").hidden = true; }
document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeDetail(); });

// One refresh at a time; events that arrive meanwhile ask for one more when it ends, so a
// slow, stale answer never lands after a newer one.
var refreshing = null, refreshAgain = false;
function refresh() {
  if (state.needsToken) return Promise.resolve();
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = reload().then(function () {
    refreshing = null;
    if (refreshAgain) {
      refreshAgain = false;
      return refresh();
    }
  });
  return refreshing;
}
function reload() {
  var jobs = [
    api("/api/stats").then(function (stats) {
      renderCounts(stats);
      renderQueues(stats);
      renderChart(stats.throughput);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      $("forget").hidden = !state.token;
    }),
    api("/api/tasks?status=FAILED&limit=8").then(function (page) { renderFailures(page.tasks); }),
    api("/api/queues").then(renderQueueControl),
    api("/api/schedules").then(renderSchedules),
    loadTasks(false),
  ];
  if (state.selected) jobs.push(showDetail(state.selected));
  return Promise.all(jobs).catch(quietly);
}
function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(function () { state.refreshTimer = 0; refresh(); }, 250);
}

function activity(name, data) {
  var list = $("activity");
  var task = data.task;
  var placeholder = list.querySelector(".empty");
  if (placeholder) placeholder.remove();
  var item = el("li", { data: { event: name } }, [el("div", { className: "meta" }, [
    el("span", { text: time(Date.now()) }),
    badge(task.status),
    el("button", { className: "link mono", text: task.name, onclick: function () { openDetail(task.id); } })])]);
  if (data.error) item.append(el("div", { className: "error", text: data.error.message }));
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

function onEvent(name, data) {
  if (data.task) activity(name, data);
  scheduleRefresh();
}

function parseFrame(frame) {
  var name = "message", data = [];
  frame.split("\\n").forEach(function (line) {
    if (line.slice(0, 6) === "event:") name = line.slice(6).trim();
    else if (line.slice(0, 5) === "data:") data.push(line.slice(5).replace(/^ /, ""));
  });
  if (!data.length) return;
  try { onEvent(name, JSON.parse(data.join("\\n"))); } catch (e) { /* a malformed event is skipped */ }
}

function setLive(mode) {
  var live = $("live");
  live.dataset.state = mode;
  live.textContent = mode === "live" ? "live" : mode === "offline" ? "offline, polling" : "connecting";
  clearInterval(state.pollTimer);
  if (mode !== "live") state.pollTimer = setInterval(refresh, 5000);
}

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

function connect(delay) {
  stopStream();
  var controller = new AbortController();
  state.stream = controller;
  setLive("connecting");
  var headers = state.token ? { authorization: "Bearer " + state.token } : {};
  fetch("/api/events", { headers: headers, signal: controller.signal, cache: "no-store" }).then(function (response) {
    if (response.status === 401) { askToken("That token was refused."); return; }
    if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
    setLive("live");
    delay = 1000;
    refresh();
    var reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) throw new Error("The event stream ended");
        buffer += chunk.value.replace(/\\r\\n?/g, "\\n");
        var end;
        while ((end = buffer.indexOf("\\n\\n")) >= 0) {
          parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        return pump();
      });
    }
    return pump();
  }).catch(function () {
    if (controller.signal.aborted || state.needsToken) return;
    setLive("offline");
    setTimeout(function () { if (state.stream === controller) connect(Math.min(delay * 2, 30000)); }, delay);
  });
}

function start() {
  // One call first: without a valid token it is the only one refused.
  api("/api/stats").then(function () { return refresh(); }).then(function () {
    if (!state.needsToken) connect(1000);
  }).catch(quietly);
}

var filter = $("status-filter");
filter.append(el("option", { value: "", text: "All statuses" }));
STATUSES.forEach(function (s) { filter.append(el("option", { value: s, text: s.toLowerCase() })); });
filter.addEventListener("change", function () { setStatus(filter.value); });
var typing = 0;
["name", "queue"].forEach(function (key) {
  $(key + "-filter").addEventListener("input", function (e) {
    clearTimeout(typing);
    typing = setTimeout(function () { state[key] = e.target.value.trim(); loadTasks(false).catch(quietly); }, 250);
  });
});
$("more").addEventListener("click", function () { loadTasks(true).catch(quietly); });
setInterval(scheduleRefresh, 30000);
start();
`;

/**
 * The dashboard page; `nonce` must match the `script-src`/`style-src` nonce of the response's
 * Content-Security-Policy.
 */
export function dashboardPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aether-tasks</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>${BODY}
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}
