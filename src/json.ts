/**
 * JSON values and a strict check that a value survives `JSON.stringify` unchanged.
 * @module
 */

/** A value that round-trips through JSON. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** How deeply arrays and objects may nest in args, results and progress: 64 levels. */
export const MAX_JSON_DEPTH = 64;
/** The largest args, result or progress value, as JSON text: 1 MiB (UTF-8 bytes). */
export const MAX_JSON_BYTES = 1024 * 1024;

/** Limits of {@linkcode findNonJson}. */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects; the value itself is level 1. Default 64. */
  maxDepth?: number;
  /** Largest size as JSON text, in UTF-8 bytes. Default 1 MiB. */
  maxBytes?: number;
}

/**
 * Returns a description of the first part of `value` that is not plain JSON or breaks a limit,
 * or null when it is fine. Functions, symbols, BigInt, non-finite numbers, cycles, `undefined`
 * in arrays and objects that are not plain (Date, Map, class instances) are refused; an object
 * property that is `undefined` is allowed, since JSON leaves it out. Nesting deeper than
 * `maxDepth` and JSON text larger than `maxBytes` are refused, and a getter or proxy that throws
 * is reported with where it threw ("args could not be read at args.a: …"), never rethrown.
 *
 * @example
 * ```ts
 * findNonJson({ a: [1, 2n] }, "args"); // "args.a[1] is a bigint"
 * ```
 */
export function findNonJson(value: unknown, path: string, limits: JsonLimits = {}): string | null {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH;
  const maxBytes = limits.maxBytes ?? MAX_JSON_BYTES;
  const seen = new Set<object>();
  // Bounds of the JSON size so far, in UTF-8 bytes: the lower one refuses a huge value without
  // walking all of it (a UTF-16 unit is at least one byte); below the upper one (a unit is at
  // most 6 bytes, escaped; a number at most 24) the text need not be made to be measured.
  let bytes = 0;
  let upper = 0;
  const tooLarge = () =>
    `${path} is larger than ${maxBytes} bytes as JSON; at most ${maxBytes} are allowed`;
  const visit = (v: unknown, at: string, depth: number): string | null => {
    switch (typeof v) {
      case "string":
        bytes += v.length + 2;
        upper += 6 * v.length + 2;
        return null;
      case "boolean":
        bytes += 4;
        upper += 5;
        return null;
      case "number":
        bytes += 1;
        upper += 24;
        return Number.isFinite(v) ? null : `${at} is ${v}, which JSON cannot represent`;
      case "undefined":
        return `${at} is undefined`;
      case "bigint":
      case "symbol":
      case "function":
        return `${at} is a ${typeof v}`;
    }
    if (v === null) {
      bytes += 4;
      upper += 4;
      return null;
    }
    if (depth > maxDepth) {
      return `${path} is nested more than ${maxDepth} levels deep (at ${shortPath(at)})`;
    }
    const obj = v as object;
    if (seen.has(obj)) return `${at} refers back to itself (a cycle)`;
    seen.add(obj);
    bytes += 2;
    upper += 2;
    try {
      if (Array.isArray(obj)) {
        for (let i = 0; i < obj.length; i++) {
          const problem = visit(obj[i], `${at}[${i}]`, depth + 1);
          if (problem) return problem;
          upper++;
          if (++bytes > maxBytes) return tooLarge();
        }
        return null;
      }
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (obj.constructor as { name?: string } | undefined)?.name ?? "object";
        return `${at} is a ${kind}, not a plain object`;
      }
      for (const [key, inner] of Object.entries(obj)) {
        if (inner === undefined) continue;
        const problem = visit(inner, `${at}.${key}`, depth + 1);
        if (problem) return problem;
        bytes += key.length + 4;
        upper += 6 * key.length + 4;
        if (bytes > maxBytes) return tooLarge();
      }
      return null;
    } catch (error) {
      return `${path} could not be read at ${shortPath(at)}: ${describeError(error)}`;
    } finally {
      seen.delete(obj);
    }
  };
  const problem = visit(value, path, 1);
  if (problem) return problem;
  if (bytes > maxBytes) return tooLarge();
  if (upper <= maxBytes) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return `${path} could not be read: ${describeError(error)}`;
  }
  if (text !== undefined && text.length * 3 > maxBytes && utf8Length(text) > maxBytes) {
    return tooLarge();
  }
  return null;
}

/** A path cut in the middle when it is long, so a message stays one readable line. */
function shortPath(at: string): string {
  return at.length <= 120 ? at : `${at.slice(0, 60)}…${at.slice(-50)}`;
}

function describeError(error: unknown): string {
  let message: string;
  try {
    message = error instanceof Error ? error.message : String(error);
  } catch {
    message = "an error that cannot be shown";
  }
  message = message.replace(/\s*\n\s*/g, " ").trim();
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}
