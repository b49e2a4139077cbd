/**
 * A small JSON Schema checker for the subset `@valibot/to-json-schema` emits, so a producer
 * without the handler code can refuse bad args at enqueue against the schema a worker published
 * (see `task_types.ts`). The worker still checks with the valibot schema itself before it runs
 * the task: that check is the authority (transforms and custom checks exist only there).
 *
 * Keywords checked: `type` (one or a list), `const`, `enum`, `properties`, `required`,
 * `additionalProperties`, `items` (one schema or a tuple), `minItems`, `maxItems`, `minLength`,
 * `maxLength`, `pattern`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
 * `multipleOf`, `anyOf`, `oneOf`, `allOf`, `not`. Any other keyword (`format`, `$ref`, …) is
 * accepted unchecked, so the checker never refuses what the worker would take for a keyword it
 * does not know.
 * @module
 */

import type { ArgumentIssue } from "./errors.ts";

/** At most this many issues are reported for one value. */
export const MAX_SCHEMA_ISSUES = 20;

type Schema = Record<string, unknown>;

/**
 * The issues of `value` against `schema`, each with its path from `path` (`args.width`); empty
 * when it passes. A schema that is not an object (or `true`) accepts everything.
 *
 * @example
 * ```ts
 * checkJsonSchema({ type: "object", required: ["to"] }, {}, "args");
 * // [{ path: "args.to", message: "Required" }]
 * ```
 */
export function checkJsonSchema(schema: unknown, value: unknown, path = "args"): ArgumentIssue[] {
  const issues: ArgumentIssue[] = [];
  check(schema, value, path, issues);
  return issues.slice(0, MAX_SCHEMA_ISSUES);
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function matchesType(type: unknown, value: unknown): boolean {
  const actual = typeOf(value);
  switch (type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
    case "boolean":
    case "object":
    case "array":
    case "null":
      return actual === type;
    default:
      return true; // a type we do not know: the worker decides
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function check(schema: unknown, value: unknown, path: string, issues: ArgumentIssue[]): void {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return;
  if (issues.length >= MAX_SCHEMA_ISSUES) return;
  const s = schema as Schema;
  const add = (message: string): void => void issues.push({ path, message });
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => matchesType(t, value))) {
      return add(`Expected ${types.join(" or ")} but received ${show(value)}`);
    }
  }
  if ("const" in s && JSON.stringify(s.const) !== JSON.stringify(value)) {
    return add(`Expected ${show(s.const)} but received ${show(value)}`);
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    return add(`Expected one of ${s.enum.map(show).join(", ")} but received ${show(value)}`);
  }
  if (typeof value === "string") checkString(s, value, add);
  if (typeof value === "number") checkNumber(s, value, add);
  if (Array.isArray(value)) checkArray(s, value, path, issues);
  else if (typeOf(value) === "object") checkObject(s, value as Schema, path, issues);
  if (Array.isArray(s.allOf)) { for (const part of s.allOf) check(part, value, path, issues); }
  const passing = (list: unknown[]) => list.filter((part) => !checkJsonSchema(part, value).length);
  if (Array.isArray(s.anyOf) && passing(s.anyOf).length === 0) {
    add(`Expected a value matching one of ${s.anyOf.length} schemas, received ${show(value)}`);
  }
  if (Array.isArray(s.oneOf) && passing(s.oneOf).length !== 1) {
    add(`Expected a value matching exactly one of ${s.oneOf.length} schemas`);
  }
  if (s.not !== undefined && checkJsonSchema(s.not, value).length === 0) {
    add(`Received ${show(value)}, which the schema excludes`);
  }
}

function checkString(s: Schema, value: string, add: (message: string) => void): void {
  const length = [...value].length;
  if (typeof s.minLength === "number" && length < s.minLength) {
    add(`Expected at least ${s.minLength} characters but received ${length}`);
  }
  if (typeof s.maxLength === "number" && length > s.maxLength) {
    add(`Expected at most ${s.maxLength} characters but received ${length}`);
  }
  if (typeof s.pattern === "string") {
    let pattern: RegExp | undefined;
    try {
      pattern = new RegExp(s.pattern, "u");
    } catch {
      pattern = undefined; // a pattern this runtime cannot read: the worker decides
    }
    if (pattern && !pattern.test(value)) add(`Expected text matching ${s.pattern}`);
  }
}

function checkNumber(s: Schema, value: number, add: (message: string) => void): void {
  if (typeof s.minimum === "number" && value < s.minimum) {
    add(`Expected >= ${s.minimum} but received ${value}`);
  }
  if (typeof s.maximum === "number" && value > s.maximum) {
    add(`Expected <= ${s.maximum} but received ${value}`);
  }
  if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum) {
    add(`Expected > ${s.exclusiveMinimum} but received ${value}`);
  }
  if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum) {
    add(`Expected < ${s.exclusiveMaximum} but received ${value}`);
  }
  if (typeof s.multipleOf === "number" && s.multipleOf > 0) {
    const ratio = value / s.multipleOf;
    if (Math.abs(ratio - Math.round(ratio)) > 1e-9) {
      add(`Expected a multiple of ${s.multipleOf} but received ${value}`);
    }
  }
}

function checkArray(s: Schema, value: unknown[], path: string, issues: ArgumentIssue[]): void {
  if (typeof s.minItems === "number" && value.length < s.minItems) {
    issues.push({
      path,
      message: `Expected at least ${s.minItems} items but received ${value.length}`,
    });
  }
  if (typeof s.maxItems === "number" && value.length > s.maxItems) {
    issues.push({
      path,
      message: `Expected at most ${s.maxItems} items but received ${value.length}`,
    });
  }
  if (Array.isArray(s.items)) {
    s.items.forEach((item, i) => i < value.length && check(item, value[i], `${path}.${i}`, issues));
  } else if (s.items !== undefined) {
    value.forEach((item, i) => check(s.items, item, `${path}.${i}`, issues));
  }
}

function checkObject(s: Schema, value: Schema, path: string, issues: ArgumentIssue[]): void {
  const properties = typeof s.properties === "object" && s.properties !== null
    ? s.properties as Schema
    : {};
  if (Array.isArray(s.required)) {
    for (const key of s.required) {
      if (typeof key === "string" && !Object.hasOwn(value, key)) {
        issues.push({ path: `${path}.${key}`, message: "Required" });
      }
    }
  }
  for (const [key, item] of Object.entries(value)) {
    if (Object.hasOwn(properties, key)) check(properties[key], item, `${path}.${key}`, issues);
    else if (s.additionalProperties === false) {
      issues.push({ path: `${path}.${key}`, message: `Unknown key ${JSON.stringify(key)}` });
    } else if (typeof s.additionalProperties === "object") {
      check(s.additionalProperties, item, `${path}.${key}`, issues);
    }
  }
}
