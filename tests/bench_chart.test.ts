/** The benchmark chart: SVG drawn with no browser, runtimes merged into one file. */

import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  type BenchRun,
  drawBenchChart,
  readChartData,
  writeBenchChart,
} from "../scripts/_bench_chart.ts";
import { element } from "../scripts/_svg.ts";
import { tempDir } from "./_helpers.ts";

const bun: BenchRun = {
  runtime: "bun 1.4.5",
  measurements: [
    { panel: "drain 20,000 no-op tasks", unit: "tasks/s", label: "sqlite", value: 27_800 },
    { panel: "drain 20,000 no-op tasks", unit: "tasks/s", label: "memory", value: 183_000 },
    { panel: "pickup latency", unit: "ms", label: "sqlite p99", value: 1.7 },
  ],
};
const deno: BenchRun = {
  runtime: "deno 2.9.6",
  measurements: [
    { panel: "drain 20,000 no-op tasks", unit: "tasks/s", label: "sqlite", value: 19_500 },
  ],
};

describe("benchmark chart", () => {
  it("escapes text and attributes", () => {
    assert.equal(
      element("text", { x: 1.234, title: 'a "b"' }, { text: "<drain & co>" }),
      '<text x="1.23" title="a &quot;b&quot;">&lt;drain &amp; co&gt;</text>',
    );
  });

  it("draws a bar per store and runtime, labelled in text as well as colour", () => {
    const svg = drawBenchChart({ title: "bench <1>", runs: [deno, bun] });
    assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns=/);
    assert.match(svg, /bench &lt;1&gt;/);
    for (const text of ["sqlite, bun", "memory, bun", "sqlite, deno", "27,800 tasks/s", "1.7 ms"]) {
      assert.ok(svg.includes(`>${text}</text>`), text);
    }
    assert.equal(svg.match(/<rect [^>]*rx="2"/g)?.length, 4, "four bars");
    assert.deepEqual(readChartData(svg), { title: "bench <1>", runs: [deno, bun] });
    const reformatted = svg.replace("<metadata id=", "<metadata\n    id=");
    assert.deepEqual(readChartData(reformatted), { title: "bench <1>", runs: [deno, bun] });
  });

  it("keeps the other runtime's run and replaces this runtime's", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "docs/bench.svg");
      await writeBenchChart(path, "t", bun);
      await writeBenchChart(path, "t", deno);
      const faster = { ...bun, runtime: "bun 1.4.6", measurements: bun.measurements.slice(0, 1) };
      await writeBenchChart(path, "t", faster);
      const data = readChartData(await readFile(path, "utf8"));
      assert.deepEqual(data?.runs.map((r) => r.runtime), ["deno 2.9.6", "bun 1.4.6"]);
    } finally {
      await dir.remove();
    }
  });

  it("refuses to overwrite a file that is not its chart", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "picture.svg");
      await writeFile(path, "<svg/>");
      await assert.rejects(writeBenchChart(path, "t", bun), /is not a chart this benchmark wrote/);
      assert.equal(await readFile(path, "utf8"), "<svg/>");
    } finally {
      await dir.remove();
    }
  });
});
