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

/**
 * Returns a description of the first part of `value` that is not plain JSON, or null when it is.
 * Functions, symbols, BigInt, non-finite numbers, cycles, `undefined` in arrays and objects that
 * are not plain (Date, Map, class instances) are refused; an object property that is `undefined`
 * is allowed, since JSON leaves it out.
 *
 * @example
 * ```ts
 * findNonJson({ a: [1, 2n] }, "args"); // "args.a[1] is a bigint"
 * ```
 */
export function findNonJson(value: unknown, path: string): string | null {
  const seen = new Set<object>();
  const visit = (v: unknown, at: string): string | null => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return null;
      case "number":
        return Number.isFinite(v) ? null : `${at} is ${v}, which JSON cannot represent`;
      case "undefined":
        return `${at} is undefined`;
      case "bigint":
      case "symbol":
      case "function":
        return `${at} is a ${typeof v}`;
    }
    if (v === null) return null;
    const obj = v as object;
    if (seen.has(obj)) return `${at} refers back to itself (a cycle)`;
    seen.add(obj);
    try {
      if (Array.isArray(obj)) {
        for (let i = 0; i < obj.length; i++) {
          const problem = visit(obj[i], `${at}[${i}]`);
          if (problem) return problem;
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
        const problem = visit(inner, `${at}.${key}`);
        if (problem) return problem;
      }
      return null;
    } finally {
      seen.delete(obj);
    }
  };
  return visit(value, path);
}
