/**
 * The dashboard's charts: throughput per slot (an SVG bar chart) and queue wait percentiles.
 * @module
 */

import type { ThroughputSeries, WaitTimes } from "../routes/charts.ts";
import { $, el, svg } from "./_dom.ts";
import { dateTime, duration, plural, time } from "./_format.ts";

const RANGE_LABELS = { hour: ["-60m", "-30m", "now"], day: ["-24h", "-12h", "now"] } as const;
export function renderChart(series: ThroughputSeries): void {
  const chart = $("chart");
  chart.replaceChildren();
  const defs = svg("defs", {});
  const hatch = svg("pattern", {
    id: "hatch-failed",
    width: 4,
    height: 4,
    patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)",
  });
  hatch.append(
    svg("rect", { width: 4, height: 4, class: "hatch-bg" }),
    svg("line", { x1: 1, y1: 0, x2: 1, y2: 4, class: "hatch-line" }),
  );
  defs.append(hatch);
  chart.append(defs);
  const width = 600, height = 150, top = 12, bottom = 20, left = 30;
  const n = series.completed.length;
  const totals = series.completed.map((c, i) => c + (series.failed[i] ?? 0));
  const max = Math.max(4, ...totals);
  const scale = (height - top - bottom) / max;
  const slot = (width - left) / n;
  for (const f of [0, 0.5, 1]) {
    const y = height - bottom - f * max * scale;
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "grid-line" }));
    chart.append(
      svg(
        "text",
        { x: left - 4, y: y + 3, "text-anchor": "end", class: "axis" },
        String(Math.round(f * max)),
      ),
    );
  }
  const sums = { completed: 0, failed: 0, retried: 0 };
  for (let i = 0; i < n; i++) {
    const x = left + i * slot + 0.5;
    const c = series.completed[i] ?? 0, f = series.failed[i] ?? 0, r = series.retried[i] ?? 0;
    sums.completed += c;
    sums.failed += f;
    sums.retried += r;
    const at = series.at[i] ?? 0;
    const title = `${
      series.range === "day" ? dateTime(at) : time(at)
    }: ${c} completed, ${f} failed, ${r} retried`;
    const bar = (y: number, h: number, cls: string) => {
      const rect = svg("rect", { x, width: Math.max(1, slot - 1), y, height: h, class: cls });
      rect.append(svg("title", {}, title));
      chart.append(rect);
    };
    if (c) bar(height - bottom - c * scale, c * scale, "bar-completed");
    if (f) bar(height - bottom - (c + f) * scale, f * scale, "bar-failed");
  }
  const [first, middle, last] = RANGE_LABELS[series.range];
  chart.append(svg("text", { x: left, y: height - 5, class: "axis" }, first));
  chart.append(
    svg("text", {
      x: left + (width - left) / 2,
      y: height - 5,
      "text-anchor": "middle",
      class: "axis",
    }, middle),
  );
  chart.append(svg("text", { x: width, y: height - 5, "text-anchor": "end", class: "axis" }, last));
  const span = series.range === "day" ? "the last day" : "the last hour";
  $("chart-caption").textContent = `${
    series.range === "day" ? "attempts per 15 minutes" : "attempts per minute"
  }, ${span}, every worker process`;
  const summary = $("chart-summary");
  summary.textContent = `In ${span}: ${
    plural(sums.completed, "task")
  } completed, ${sums.failed.toLocaleString()} failed, ${sums.retried.toLocaleString()} retried.`;
  summary.dataset.completed = String(sums.completed);
  document.querySelectorAll<HTMLElement>(".range button").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.range === series.range));
  });
}

export function renderWaits(waits: WaitTimes): void {
  const box = $("waits");
  box.replaceChildren(
    ...([["p50", waits.p50], ["p90", waits.p90], ["p99", waits.p99], ["max", waits.max]] as const)
      .map(([label, value]) =>
        el("div", { data: { percentile: label } }, [
          el("dt", { text: label }),
          el("dd", { text: duration(value) }),
        ])
      ),
  );
  box.title = `Over the ${plural(waits.sample, "most recently created completed task")}`;
}
