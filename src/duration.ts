/**
 * Durations as people type them — `"500ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"2d"` — for the CLI
 * flags and the admin endpoint alike.
 * @module
 */

const UNIT_MILLIS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART_PATTERN = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Options of {@linkcode parseDuration}. */
export interface ParseDurationOptions {
  /**
   * Whether a number without a unit (`250`, `"250"`) counts as milliseconds. Default true. The CLI
   * sets it false, so `--grace 30` is refused ("add a unit") rather than read as 30 ms; `"0"`
   * is accepted either way.
   */
  bareMillis?: boolean;
}

/**
 * Milliseconds of a duration: parts of a number and a unit (`ms`, `s`, `m`, `h`, `d`) written
 * together, or — unless `bareMillis` is false — a number of ms (>= 0) or a string of digits.
 * The result is rounded to a whole millisecond. Throws a `RangeError` naming `label` and the
 * value when it is neither.
 *
 * @example
 * ```ts
 * parseDuration("1h30m", "delay"); // 5_400_000
 * parseDuration("1.5s", "timeout"); // 1500
 * parseDuration(250, "delay"); // 250
 * parseDuration("30", "--grace", { bareMillis: false }); // RangeError: ... add a unit ...
 * ```
 */
export function parseDuration(
  value: unknown,
  label: string,
  options: ParseDurationOptions = {},
): number {
  const bareMillis = options.bareMillis ?? true;
  let hint = "";
  if (typeof value === "number") {
    if (bareMillis && Number.isFinite(value) && value >= 0) return Math.round(value);
  } else if (typeof value === "string") {
    const text = value.trim();
    if (/^\d+$/.test(text)) {
      if (bareMillis || Number(text) === 0) return Number(text);
      hint = `; add a unit (ms, s, m, h or d), e.g. ${text}s`;
    } else if (DURATION_PATTERN.test(text)) {
      let millis = 0;
      for (const [, amount, unit] of text.matchAll(PART_PATTERN)) {
        millis += Number(amount) * UNIT_MILLIS[unit!]!;
      }
      if (Number.isSafeInteger(Math.round(millis))) return Math.round(millis);
      hint = "; it is too long";
    }
  }
  const expected = bareMillis
    ? `milliseconds >= 0 or a duration such as "500ms", "30s", "5m" or "1h30m"`
    : `a duration such as 500ms, 30s, 5m, 1h30m or 7d`;
  throw new RangeError(
    `${label} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}${hint}`,
  );
}

/**
 * Milliseconds as {@linkcode parseDuration} reads them, in at most two units, rounded:
 * `250` → `"250ms"`, `1500` → `"1.5s"`, `5_400_000` → `"1h30m"`.
 */
export function formatDuration(millis: number): string {
  if (!Number.isFinite(millis)) return String(millis);
  if (millis < 0) return `-${formatDuration(-millis)}`;
  if (millis < 1000) return `${Math.round(millis)}ms`;
  if (millis < 60_000) return `${Number((millis / 1000).toFixed(millis < 10_000 ? 2 : 1))}s`;
  const units = ["d", "h", "m", "s"] as const;
  let rest = Math.round(millis / 1000) * 1000;
  const parts: string[] = [];
  for (const unit of units) {
    const size = UNIT_MILLIS[unit]!;
    if (parts.length === 0 && rest < size) continue;
    parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
    if (parts.length === 2) break;
  }
  return parts.filter((part, i) => i === 0 || !part.startsWith("0")).join("");
}
