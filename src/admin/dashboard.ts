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
#chart .bar-completed { fill: var(--completed); } #chart .bar-failed { fill: url(#hatch-failed); }
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
dialog form, dialog .dialog-body { display: grid; gap: 10px; }
dialog p { margin: 0; color: var(--muted); font-size: 13px; }
dialog .error { color: var(--failed); min-height: 1em; font-size: 13px; }
button.primary { font: inherit; padding: 7px 12px; border-radius: 6px; border: 0; background: var(--accent);
  color: #fff; cursor: pointer; }
#toast { position: fixed; bottom: 16px; left: 50%; transform: translateX(-50%); background: var(--text);
  color: var(--panel); padding: 8px 14px; border-radius: 6px; font-size: 13px; z-index: 5; }
.link.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
a.link { text-decoration: none; } a.link:hover { text-decoration: underline; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.range { margin: 0 0 6px; }
.range button[aria-pressed="true"] { border-color: var(--accent); color: var(--accent); font-weight: 600; }
#chart .hatch-bg { fill: var(--failed); } #chart .hatch-line { stroke: #ffffffaa; stroke-width: 1.5; }
.summary { font-size: 12px; color: var(--muted); margin: 4px 0 0; }
.waits { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 0; }
.waits div { background: var(--bg); border-radius: 6px; padding: 6px 8px; }
.waits dt { font-size: 11px; color: var(--muted); text-transform: uppercase; } .waits dd { margin: 0; font-weight: 600; }
.toolbar input, .toolbar select { flex: 1 1 140px; min-width: 0; }
.bulk { align-items: center; font-size: 12px; color: var(--muted); }
p.error { color: var(--failed); margin: 0 0 8px; font-size: 13px; }
.side { display: grid; gap: 16px; align-content: start; min-width: 0; }
dialog .buttons { display: flex; gap: 8px; justify-content: flex-end; }
@media (max-width: 640px) {
  header { padding: 10px 12px; flex-wrap: wrap; gap: 8px; }
  main { padding: 12px 10px 32px; gap: 12px; }
  .cards { grid-template-columns: repeat(auto-fit, minmax(92px, 1fr)); }
  .wide-only { display: none; }
  th, td { padding: 6px 5px; }
  #detail { padding: 14px 12px; }
  #detail dl { grid-template-columns: 92px 1fr; }
  .waits { grid-template-columns: repeat(2, 1fr); }
}
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
    <section class="panel" aria-labelledby="chart-title">
      <h2 id="chart-title">Throughput <small id="chart-caption"></small></h2>
      <div class="toolbar range" role="group" aria-label="Chart range">
        <button class="action" data-range="hour" aria-pressed="true">Last hour</button>
        <button class="action" data-range="day" aria-pressed="false">Last day</button>
      </div>
      <svg id="chart" viewBox="0 0 600 150" preserveAspectRatio="none" role="img" aria-labelledby="chart-summary"></svg>
      <div class="legend"><span><i class="s-COMPLETED"></i>completed (solid)</span><span><i class="s-FAILED"></i>failed (striped)</span></div>
      <p class="summary" id="chart-summary"></p>
    </section>
    <div class="side">
      <section class="panel">
        <h2>Queues</h2>
        <div class="table-wrap"><table id="queues"></table></div>
        <div id="pool"></div>
      </section>
      <section class="panel" aria-labelledby="waits-title">
        <h2 id="waits-title">Queue wait <small>start &minus; run at, recent completed tasks</small></h2>
        <dl class="waits" id="waits"></dl>
      </section>
    </div>
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
    <h2 id="tasks-title">Tasks</h2>
    <div class="toolbar" role="search" aria-label="Find tasks">
      <select id="status-filter" aria-label="Status"></select>
      <input id="name-filter" placeholder="Task name" aria-label="Task name" autocomplete="off">
      <input id="queue-filter" placeholder="Queue" aria-label="Queue" autocomplete="off">
      <input id="id-filter" class="mono" placeholder="Task id or prefix" aria-label="Task id or prefix" autocomplete="off" spellcheck="false">
      <input id="args-filter" placeholder="Args contain" aria-label="Arguments contain" autocomplete="off" spellcheck="false">
      <button id="clear-filters" class="action">Clear</button>
    </div>
    <p id="filter-error" class="error" role="alert" hidden></p>
    <div class="toolbar bulk" role="group" aria-label="Bulk actions on every task matching the filters">
      <span>All matching:</span>
      <button class="action" data-bulk="retry">Retry failed&hellip;</button>
      <button class="action" data-bulk="cancel">Cancel waiting&hellip;</button>
      <button class="action" data-bulk="delete">Delete finished&hellip;</button>
    </div>
    <div class="table-wrap">
      <table id="tasks" aria-labelledby="tasks-title">
        <thead><tr><th>ID</th><th>Name</th><th class="wide-only">Queue</th><th>Status</th><th class="num wide-only">Attempts</th>
        <th class="wide-only">Created</th><th class="num wide-only">Duration</th><th><span hidden>Actions</span></th></tr></thead>
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
<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <div class="dialog-body">
    <strong id="confirm-title"></strong>
    <p id="confirm-text"></p>
    <div class="buttons">
      <button type="button" class="action" id="confirm-no">Cancel</button>
      <button type="button" class="primary" id="confirm-yes"></button>
    </div>
  </div>
</dialog>
<div id="toast" role="status" aria-live="polite" hidden></div>
`;

// Plain ES2020 without template literals, so it can sit in this module's string.
const SCRIPT = `
"use strict";
var STATUSES = ["PENDING", "SCHEDULED", "PROCESSING", "RETRYING", "COMPLETED", "FAILED", "CANCELLED"];
var CANCELLABLE = ["PENDING", "SCHEDULED", "RETRYING", "PROCESSING"];
var RETRYABLE = ["FAILED", "CANCELLED"];
var DELETABLE = ["COMPLETED", "FAILED", "CANCELLED"];
var TOKEN_KEY = "aether-tasks:admin-token";
var PAGE_SIZE = 25;
// UUIDv7: 12 hex digits of milliseconds, the version and a 12-bit counter, so the first 18
// characters tell apart the tasks one process made (a CLI accepts any unique prefix).
var SHORT_ID_LENGTH = 18;
var state = { token: sessionStorage.getItem(TOKEN_KEY) || "", status: "", name: "", queue: "", idPrefix: "",
  args: "", range: "hour", cursor: null, selected: null, refreshTimer: 0, pollTimer: 0, stream: null,
  needsToken: false, openSingleMatch: false };

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
function shortId(id) { return id.slice(0, SHORT_ID_LENGTH); }
function plural(n, word) { return n.toLocaleString() + " " + word + (n === 1 ? "" : "s"); }
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
  if (init.body !== undefined) headers.set("content-type", "application/json");
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
    var link = el("a", { className: "link mono", href: viewHash({ queue: queue }), text: queue,
      onclick: function (e) { e.preventDefault(); navigate({ queue: queue, status: "", name: "", idPrefix: "", args: "" }); } });
    return el("tr", { data: { queue: queue } }, [el("td", {}, [link])].concat(shown.map(function (s) {
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

var RANGE_LABELS = { hour: ["-60m", "-30m", "now"], day: ["-24h", "-12h", "now"] };
function renderChart(series) {
  var chart = $("chart");
  chart.replaceChildren();
  var defs = svg("defs", {});
  var hatch = svg("pattern", { id: "hatch-failed", width: 4, height: 4, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" });
  hatch.append(svg("rect", { width: 4, height: 4, "class": "hatch-bg" }),
    svg("line", { x1: 1, y1: 0, x2: 1, y2: 4, "class": "hatch-line" }));
  defs.append(hatch);
  chart.append(defs);
  var width = 600, height = 150, top = 12, bottom = 20, left = 30;
  var n = series.completed.length;
  var totals = series.completed.map(function (c, i) { return c + series.failed[i]; });
  var max = Math.max.apply(null, totals.concat([4]));
  var scale = (height - top - bottom) / max;
  var slot = (width - left) / n;
  [0, 0.5, 1].forEach(function (f) {
    var y = height - bottom - f * max * scale;
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, "class": "grid-line" }));
    chart.append(svg("text", { x: left - 4, y: y + 3, "text-anchor": "end", "class": "axis" }, String(Math.round(f * max))));
  });
  var sums = { completed: 0, failed: 0, retried: 0 };
  for (var i = 0; i < n; i++) {
    var x = left + i * slot + 0.5;
    var c = series.completed[i], f = series.failed[i];
    sums.completed += c; sums.failed += f; sums.retried += series.retried[i];
    var title = (series.range === "day" ? dateTime(series.at[i]) : time(series.at[i])) + ": " + c + " completed, " +
      f + " failed, " + series.retried[i] + " retried";
    if (c) {
      var rc = svg("rect", { x: x, width: Math.max(1, slot - 1), y: height - bottom - c * scale, height: c * scale,
        "class": "bar-completed" });
      rc.append(svg("title", {}, title));
      chart.append(rc);
    }
    if (f) {
      var rf = svg("rect", { x: x, width: Math.max(1, slot - 1), y: height - bottom - (c + f) * scale, height: f * scale,
        "class": "bar-failed" });
      rf.append(svg("title", {}, title));
      chart.append(rf);
    }
  }
  var labels = RANGE_LABELS[series.range];
  chart.append(svg("text", { x: left, y: height - 5, "class": "axis" }, labels[0]));
  chart.append(svg("text", { x: left + (width - left) / 2, y: height - 5, "text-anchor": "middle", "class": "axis" }, labels[1]));
  chart.append(svg("text", { x: width, y: height - 5, "text-anchor": "end", "class": "axis" }, labels[2]));
  var span = series.range === "day" ? "the last day" : "the last hour";
  $("chart-caption").textContent = (series.range === "day" ? "attempts per 15 minutes" : "attempts per minute") +
    ", " + span;
  $("chart-summary").textContent = "In " + span + ": " + plural(sums.completed, "task") + " completed, " +
    sums.failed.toLocaleString() + " failed, " + sums.retried.toLocaleString() + " retried.";
  document.querySelectorAll(".range button").forEach(function (b) {
    b.setAttribute("aria-pressed", String(b.dataset.range === series.range));
  });
}

function renderWaits(waits) {
  var box = $("waits");
  box.replaceChildren();
  [["p50", waits.p50], ["p90", waits.p90], ["p99", waits.p99], ["max", waits.max]].forEach(function (row) {
    box.append(el("div", { data: { percentile: row[0] } }, [el("dt", { text: row[0] }),
      el("dd", { text: row[1] === null ? "-" : duration(row[1]) })]));
  });
  box.title = "Over the " + plural(waits.sample, "most recently created completed task");
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
  if (DELETABLE.indexOf(task.status) >= 0) {
    buttons.push(el("button", { className: "action", data: { action: "delete" }, text: "Delete",
      "aria-label": "Delete task " + shortId(task.id), onclick: function (e) { e.stopPropagation(); deleteTask(task); } }));
  }
  return buttons;
}

function taskRow(task) {
  return el("tr", { data: { id: task.id, status: task.status } }, [
    el("td", {}, [el("a", { className: "link mono task-link", text: shortId(task.id), title: task.id,
      href: viewHash({ task: task.id }), onclick: function (e) { e.preventDefault(); openDetail(task.id); } })]),
    el("td", { className: "mono", text: task.name }),
    el("td", { className: "mono wide-only", text: task.queue }),
    el("td", { className: "status" }, [badge(task.status)]),
    el("td", { className: "num wide-only", text: task.attempts + "/" + task.maxAttempts }),
    el("td", { className: "wide-only", title: dateTime(task.createdAt), text: ago(task.createdAt) }),
    el("td", { className: "num wide-only", text: task.completedAt && task.startedAt ? duration(task.completedAt - task.startedAt) : "-" }),
    el("td", { className: "actions" }, actionButtons(task)),
  ]);
}

// The filters of the task list, as the API names them.
function currentFilter() {
  var filter = {};
  if (state.status) filter.status = state.status;
  if (state.name) filter.name = state.name;
  if (state.queue) filter.queue = state.queue;
  if (state.idPrefix) filter.idPrefix = state.idPrefix.toLowerCase();
  if (state.args) filter.argsContains = state.args;
  return filter;
}
function listQuery(cursor) {
  var params = new URLSearchParams(currentFilter());
  params.set("limit", String(PAGE_SIZE));
  if (cursor) params.set("cursor", cursor);
  return "/api/tasks?" + params;
}

// Responses can arrive out of order: a page is shown only if no newer load started since.
var tasksGeneration = 0;
function loadTasks(append) {
  var generation = ++tasksGeneration;
  var problem = $("filter-error");
  if (state.idPrefix && !/^[0-9a-fA-F-]{1,36}$/.test(state.idPrefix)) {
    problem.textContent = "A task id has only hex digits (0-9, a-f) and dashes, at most 36 characters.";
    problem.hidden = false;
    $("tasks").tBodies[0].replaceChildren();
    $("tasks-empty").hidden = false;
    $("more").hidden = true;
    return Promise.resolve();
  }
  return api(listQuery(append ? state.cursor : null)).then(function (page) {
    if (generation !== tasksGeneration) return;
    problem.hidden = true;
    var body = $("tasks").tBodies[0];
    if (!append) body.replaceChildren();
    page.tasks.forEach(function (task) { body.append(taskRow(task)); });
    state.cursor = page.nextCursor;
    $("more").hidden = !page.nextCursor;
    $("tasks-empty").hidden = body.rows.length > 0;
    // A search by id that finds one task opens it.
    if (state.openSingleMatch && !append && state.idPrefix && page.tasks.length === 1 && !page.nextCursor) {
      state.openSingleMatch = false;
      if (state.selected !== page.tasks[0].id) openDetail(page.tasks[0].id, true);
    }
  }, function (error) {
    if (generation !== tasksGeneration || error instanceof AuthNeeded) throw error;
    problem.textContent = error.message;
    problem.hidden = false;
  });
}

function setStatus(status) { navigate({ status: status }); }

function deleteTask(task) {
  return confirmAction("Delete this task?", "Delete " + task.status.toLowerCase() + " task " + task.name + " " +
    shortId(task.id) + "? This cannot be undone.", "Delete").then(function (ok) {
    if (!ok) return;
    return api("/api/tasks/" + encodeURIComponent(task.id), { method: "DELETE" }).then(function () {
      toast("Deleted " + task.name + " " + shortId(task.id));
      if (state.selected === task.id) closeDetail();
      refresh();
    });
  }).catch(quietly);
}

// Bulk actions on every task the filters select: the confirmation says how many the server
// counts; the server then works through them in bounded batches.
var BULK = {
  retry: { verb: "Retry", noun: "failed", done: "Retried" },
  cancel: { verb: "Cancel", noun: "waiting", done: "Cancelled" },
  delete: { verb: "Delete", noun: "finished", done: "Deleted" },
};
function bulkFilter(action) {
  var filter = currentFilter();
  if (action === "retry" && !filter.status) filter.status = "FAILED";
  return filter;
}
function describeFilter(filter) {
  var parts = [];
  if (filter.name) parts.push("named " + filter.name);
  if (filter.queue) parts.push("in queue " + filter.queue);
  if (filter.idPrefix) parts.push("with an id starting " + filter.idPrefix);
  if (filter.argsContains) parts.push('whose args contain "' + filter.argsContains + '"');
  return parts.length ? " " + parts.join(", ") : "";
}
function bulk(action) {
  var spec = BULK[action];
  var filter = bulkFilter(action);
  var params = new URLSearchParams(filter);
  params.set("action", action);
  return api("/api/tasks/count?" + params).then(function (counted) {
    var kind = filter.status ? filter.status.toLowerCase() : spec.noun;
    var what = plural(counted.count, kind + " task") + describeFilter(filter);
    if (!counted.count) { toast("No " + kind + " tasks" + describeFilter(filter) + " to " + action); return; }
    return confirmAction(spec.verb + " " + plural(counted.count, "task") + "?",
      spec.verb + " " + what + "?" + (action === "delete" ? " This cannot be undone." : ""),
      spec.verb + " " + counted.count.toLocaleString()).then(function (ok) {
      if (!ok) return;
      return api("/api/tasks/bulk", { method: "POST", body: JSON.stringify({ action: action, filter: filter }) })
        .then(function (done) {
          toast(spec.done + " " + plural(done.count, "task"));
          refresh();
        });
    });
  }).catch(quietly);
}

// A modal confirmation; resolves true only for the confirm button.
function confirmAction(title, text, confirmLabel) {
  var dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = confirmLabel;
  dialog.showModal();
  $("confirm-no").focus();
  return new Promise(function (resolve) {
    function finish(ok) {
      $("confirm-yes").removeEventListener("click", yes);
      $("confirm-no").removeEventListener("click", no);
      dialog.removeEventListener("close", no);
      if (dialog.open) dialog.close();
      resolve(ok);
    }
    function yes() { finish(true); }
    function no() { finish(false); }
    $("confirm-yes").addEventListener("click", yes);
    $("confirm-no").addEventListener("click", no);
    dialog.addEventListener("close", no);
  });
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
      .concat([el("button", { className: "action", id: "detail-close", text: "Close", onclick: function () { closeDetail(); } })])),
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
  }, function (error) {
    if (error instanceof AuthNeeded || state.selected !== id) throw error;
    toast(error.message);
    closeDetail(true);
  });
}
var openedFrom = null;
function openDetail(id, replace) {
  var wasOpen = !$("detail").hidden;
  if (!wasOpen) openedFrom = document.activeElement;
  state.selected = id;
  saveView(replace);
  return showDetail(id).then(function () {
    var close = $("detail-close");
    if (close && !wasOpen) close.focus();
  }).catch(quietly);
}
function closeDetail(replace) {
  if (state.selected === null && $("detail").hidden) return;
  state.selected = null;
  $("detail").hidden = true;
  saveView(replace === true);
  if (openedFrom && document.contains(openedFrom)) openedFrom.focus();
  openedFrom = null;
}
document.addEventListener("keydown", function (e) {
  if (e.key === "Escape" && !$("confirm").open && !$("login").open) closeDetail();
});

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
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      $("forget").hidden = !state.token;
    }),
    api("/api/tasks?status=FAILED&limit=8").then(function (page) { renderFailures(page.tasks); }),
    api("/api/queues").then(renderQueueControl),
    api("/api/schedules").then(renderSchedules),
    loadTasks(false),
  ];
  // The charts change by the minute: read them at most every CHART_REFRESH_MILLIS.
  if (Date.now() - chartsReadAt >= CHART_REFRESH_MILLIS) jobs.push(loadCharts());
  if (state.selected) jobs.push(showDetail(state.selected));
  return Promise.all(jobs).catch(quietly);
}
var CHART_REFRESH_MILLIS = 5000;
var chartsReadAt = -Infinity;
function loadCharts() {
  chartsReadAt = Date.now();
  return Promise.all([api("/api/history?range=" + state.range).then(renderChart),
    api("/api/wait-times").then(renderWaits)]);
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

// The view (filters, open task, chart range) lives in the URL hash, so every view has a link
// that survives a reload and can be shared: #status=FAILED&queue=media&task=<id>&range=day.
var VIEW_KEYS = ["status", "name", "queue", "idPrefix", "args", "task", "range"];
var INPUTS = { name: "name-filter", queue: "queue-filter", idPrefix: "id-filter", args: "args-filter" };
function viewOf(changes) {
  var view = { status: state.status, name: state.name, queue: state.queue, idPrefix: state.idPrefix,
    args: state.args, task: state.selected || "", range: state.range };
  Object.keys(changes || {}).forEach(function (key) { view[key] = changes[key]; });
  return view;
}
function viewHash(changes) {
  var view = viewOf(changes);
  var params = new URLSearchParams();
  VIEW_KEYS.forEach(function (key) {
    if (view[key] && !(key === "range" && view[key] === "hour")) params.set(key, view[key]);
  });
  var text = params.toString();
  return text ? "#" + text : "#";
}
function saveView(replace) {
  var hash = viewHash({});
  if (hash === (location.hash || "#")) return;
  history[replace ? "replaceState" : "pushState"](null, "", hash === "#" ? location.pathname + location.search : hash);
  appliedHash = location.hash;
}
var appliedHash = null;
function readView() {
  appliedHash = location.hash;
  var params = new URLSearchParams(location.hash.slice(1));
  var status = (params.get("status") || "").toUpperCase();
  state.status = STATUSES.indexOf(status) >= 0 ? status : "";
  Object.keys(INPUTS).forEach(function (key) {
    state[key] = (params.get(key) || "").trim();
    $(INPUTS[key]).value = state[key];
  });
  $("status-filter").value = state.status;
  state.range = params.get("range") === "day" ? "day" : "hour";
  state.selected = params.get("task") || null;
  if (!state.selected) { $("detail").hidden = true; state.openSingleMatch = Boolean(state.idPrefix); }
}
// Applies a change made on the page: a new history entry, then the data.
function navigate(changes) {
  Object.keys(changes).forEach(function (key) {
    if (key === "task") state.selected = changes.task || null;
    else state[key] = changes[key];
    if (INPUTS[key]) $(INPUTS[key]).value = changes[key];
  });
  if ("status" in changes) $("status-filter").value = state.status;
  saveView(false);
  refresh();
}
function onLocationChange() {
  if (location.hash === appliedHash) return;
  readView();
  chartsReadAt = -Infinity;
  refresh();
}
window.addEventListener("hashchange", onLocationChange);
window.addEventListener("popstate", onLocationChange);

var filter = $("status-filter");
filter.append(el("option", { value: "", text: "All statuses" }));
STATUSES.forEach(function (s) { filter.append(el("option", { value: s, text: s.toLowerCase() })); });
filter.addEventListener("change", function () { setStatus(filter.value); });
// One pause per field: typing in one does not drop a change just made in another.
var typing = {};
Object.keys(INPUTS).forEach(function (key) {
  $(INPUTS[key]).addEventListener("input", function (e) {
    clearTimeout(typing[key]);
    typing[key] = setTimeout(function () {
      state[key] = e.target.value.trim();
      if (key === "idPrefix") state.openSingleMatch = true;
      saveView(true);
      loadTasks(false).catch(quietly);
    }, 250);
  });
});
$("clear-filters").addEventListener("click", function () {
  navigate({ status: "", name: "", queue: "", idPrefix: "", args: "" });
});
document.querySelectorAll("[data-bulk]").forEach(function (button) {
  button.addEventListener("click", function () { bulk(button.dataset.bulk); });
});
document.querySelectorAll(".range button").forEach(function (button) {
  button.addEventListener("click", function () {
    state.range = button.dataset.range;
    saveView(true);
    loadCharts().catch(quietly);
  });
});
readView();
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
