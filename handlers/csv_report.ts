/**
 * Builds a CSV report (RFC 4180) from rows passed as args, with an optional totals line, and
 * returns it as the task's result. Cells that a spreadsheet would run as a formula are
 * neutralised with a leading apostrophe.
 */

import { defineTask, v } from "aether-tasks";

const cell = v.union([v.string(), v.number(), v.boolean(), v.null()]);

export default defineTask({
  name: "csv-report",
  args: v.pipe(
    v.object({
      columns: v.pipe(
        v.array(
          v.object({ key: v.pipe(v.string(), v.minLength(1)), label: v.optional(v.string()) }),
        ),
        v.minLength(1),
        v.maxLength(100),
      ),
      rows: v.pipe(v.array(v.record(v.string(), cell)), v.maxLength(100_000)),
      /** Keys of numeric columns to sum in a last "Total" line. */
      totals: v.optional(v.array(v.string()), []),
    }),
    v.check(
      ({ columns, totals }) => totals.every((key) => columns.some((c) => c.key === key)),
      "totals must name columns of the report",
    ),
  ),
  timeout: 60_000,
  async run({ columns, rows, totals }, ctx) {
    const lines = [columns.map((c) => field(c.label ?? c.key)).join(",")];
    const sums = new Map(totals.map((key) => [key, 0]));
    for (const [index, row] of rows.entries()) {
      lines.push(columns.map((c) => field(row[c.key] ?? null)).join(","));
      for (const [key, sum] of sums) {
        const value = row[key];
        if (typeof value === "number") sums.set(key, sum + value);
      }
      if (index % 10_000 === 9_999) {
        ctx.signal.throwIfAborted();
        await ctx.progress({ rows: index + 1, of: rows.length });
      }
    }
    if (sums.size) {
      lines.push(
        columns.map((c, i) => field(sums.get(c.key) ?? (i === 0 ? "Total" : null))).join(","),
      );
    }
    ctx.log(`built a report of ${rows.length} rows`);
    return {
      csv: `${lines.join("\r\n")}\r\n`,
      rows: rows.length,
      totals: Object.fromEntries(sums),
    };
  },
});

/** One CSV field: quoted when needed, formulas neutralised. */
function field(value: string | number | boolean | null): string {
  if (value === null) return "";
  let text = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
