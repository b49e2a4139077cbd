/**
 * Benchmark figures as an SVG chart: one panel per figure (drain rate, enqueue rate, latency
 * percentiles …), one bar per store (or setting) and runtime. The measurements travel inside the
 * SVG (a `<metadata>` element), so running a benchmark under Bun and then under Deno with the
 * same `--svg` file draws both runtimes side by side; a runtime's new run replaces its old one.
 * @module
 */

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { element, svgDocument, unescapeXml } from "./_svg.ts";

/** One figure of one benchmark run. */
export interface Measurement {
  /** The panel it is drawn in, e.g. "drain 20,000 no-op tasks". */
  panel: string;
  /** Unit of the panel's values, e.g. "tasks/s" or "ms". */
  unit: string;
  /** What the bar is, within the panel: a store, a setting, a percentile. */
  label: string;
  value: number;
}

/** The measurements of one runtime. */
export interface BenchRun {
  /** e.g. "bun 1.4.5"; the first word tells runtimes apart. */
  runtime: string;
  measurements: Measurement[];
}

/** What the chart file holds: every runtime's latest run, and the chart's title. */
export interface BenchChartData {
  title: string;
  runs: BenchRun[];
}

/** Chart width in user units (px at 100%). */
export const CHART_WIDTH = 760;
const LEFT = 190;
const RIGHT = 110;
const BAR = 14;
const GAP = 4;
const PANEL_TITLE = 26;
const PANEL_GAP = 14;
const COLORS = ["#3b6fe0", "#e07a3b", "#16a34a", "#8b5cf6"];
const METADATA_ID = "aether-bench-data";

/** Draws the chart of `data`. */
export function drawBenchChart(data: BenchChartData): string {
  const runs = [...data.runs].sort((a, b) => a.runtime.localeCompare(b.runtime));
  const panels = [...new Set(runs.flatMap((r) => r.measurements.map((m) => m.panel)))];
  const parts: string[] = [
    element("rect", { width: "100%", height: "100%", fill: "#ffffff" }),
    element("text", { x: 12, y: 22, "font-size": 15, "font-weight": 600, fill: "#1d2330" }, {
      text: data.title,
    }),
  ];
  // Legend: a swatch and the runtime's name (the bars say it again, so colour is not needed).
  let legendX = 12;
  runs.forEach((run, i) => {
    parts.push(
      element("rect", {
        x: legendX,
        y: 32,
        width: 10,
        height: 10,
        fill: COLORS[i % COLORS.length],
      }),
      element("text", { x: legendX + 14, y: 41, fill: "#1d2330" }, { text: run.runtime }),
    );
    legendX += 24 + run.runtime.length * 7;
  });
  let y = 58;
  for (const panel of panels) {
    const rows = runs.flatMap((run, i) =>
      run.measurements.filter((m) => m.panel === panel).map((m) => ({ ...m, run, color: i }))
    );
    const labels = [...new Set(rows.map((r) => r.label))];
    const unit = rows[0]?.unit ?? "";
    const max = Math.max(...rows.map((r) => r.value), Number.MIN_VALUE);
    const scale = (CHART_WIDTH - LEFT - RIGHT) / max;
    parts.push(
      element("text", { x: 12, y: y + 16, "font-weight": 600, fill: "#1d2330" }, {
        text: `${panel} (${unit})`,
      }),
    );
    y += PANEL_TITLE;
    for (const label of labels) {
      for (const row of rows.filter((r) => r.label === label)) {
        const width = Math.max(1, row.value * scale);
        const runtimeName = row.run.runtime.split(" ")[0]!;
        parts.push(
          element("text", { x: LEFT - 8, y: y + BAR - 3, "text-anchor": "end", fill: "#444c5c" }, {
            text: `${label}, ${runtimeName}`,
          }),
          element("rect", {
            x: LEFT,
            y,
            width,
            height: BAR,
            rx: 2,
            fill: COLORS[row.color % COLORS.length],
          }, [
            element("title", {}, {
              text: `${label}, ${row.run.runtime}: ${formatValue(row.value)} ${unit}`,
            }),
          ]),
          element("text", { x: LEFT + width + 6, y: y + BAR - 3, fill: "#1d2330" }, {
            text: `${formatValue(row.value)} ${unit}`,
          }),
        );
        y += BAR + GAP;
      }
      y += GAP;
    }
    y += PANEL_GAP;
  }
  parts.push(element("metadata", { id: METADATA_ID }, { text: JSON.stringify(data) }));
  return svgDocument(CHART_WIDTH, Math.ceil(y), parts);
}

/** The data a chart made by {@linkcode drawBenchChart} carries, or null for another file. */
export function readChartData(svg: string): BenchChartData | null {
  const match = new RegExp(`<metadata\\s+id="${METADATA_ID}">\\s*([^<]*)</metadata>`).exec(svg);
  if (!match) return null;
  try {
    const data = JSON.parse(unescapeXml(match[1]!)) as BenchChartData;
    return Array.isArray(data.runs) ? data : null;
  } catch {
    return null;
  }
}

/**
 * Writes `run` into the chart at `path`: keeps the other runtimes' runs the file holds, replaces
 * this runtime's, and redraws. A file there that is not such a chart is refused, not overwritten.
 */
export async function writeBenchChart(path: string, title: string, run: BenchRun): Promise<void> {
  const existing = await readFile(path, "utf8").catch((error) => {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw error;
  });
  const previous = existing === null ? { title, runs: [] } : readChartData(existing);
  if (previous === null) {
    throw new Error(
      `--svg ${path}: the file exists and is not a chart this benchmark wrote; give another path`,
    );
  }
  const family = (runtime: string) => runtime.split(" ")[0];
  const runs = [...previous.runs.filter((r) => family(r.runtime) !== family(run.runtime)), run];
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, drawBenchChart({ title, runs }));
}

/** The `--svg PATH` argument of a benchmark script, or null. */
export function svgPathArgument(args: readonly string[]): string | null {
  const i = args.indexOf("--svg");
  if (i < 0) return null;
  const path = args[i + 1];
  if (path === undefined || path.startsWith("--")) {
    throw new Error("--svg needs a file path, e.g. --svg docs/bench.svg");
  }
  return path;
}

function formatValue(value: number): string {
  return value >= 100
    ? Math.round(value).toLocaleString("en-US")
    : String(Number(value.toPrecision(3)));
}
