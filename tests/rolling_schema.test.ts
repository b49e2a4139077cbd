/**
 * The JSON Schema checker against valibot itself: for schemas `@valibot/to-json-schema` converts
 * in full, the checker accepts exactly what the valibot schema accepts.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { checkJsonSchema, MAX_SCHEMA_ISSUES } from "../src/json_schema_check.ts";

const SCHEMAS: Record<string, v.GenericSchema> = {
  object: v.object({
    width: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4096)),
    label: v.optional(v.pipe(v.string(), v.minLength(2), v.maxLength(5))),
  }),
  strict: v.strictObject({ id: v.string() }),
  nested: v.object({
    tags: v.array(v.picklist(["a", "b"])),
    meta: v.record(v.string(), v.number()),
  }),
  union: v.union([v.string(), v.pipe(v.number(), v.minValue(0))]),
  nullable: v.object({ at: v.nullable(v.number()) }),
  tuple: v.tuple([v.string(), v.boolean()]),
  literal: v.object({ kind: v.literal("resize"), mode: v.pipe(v.string(), v.regex(/^[a-z]+$/)) }),
  sized: v.pipe(v.array(v.number()), v.minLength(1), v.maxLength(2)),
};

const VALUES: unknown[] = [
  {},
  { width: 640 },
  { width: 0 },
  { width: 1.5 },
  { width: 5000 },
  { width: "640" },
  { width: 10, label: "ok" },
  { width: 10, label: "x" },
  { width: 10, label: "toolong" },
  { id: "a" },
  { id: "a", extra: true },
  { id: 1 },
  { tags: ["a", "b"], meta: { x: 1 } },
  { tags: ["c"], meta: {} },
  { tags: [], meta: { x: "1" } },
  "text",
  -1,
  3,
  null,
  [],
  [1],
  [1, 2, 3],
  ["a", true],
  ["a", "b"],
  { at: null },
  { at: 3 },
  { at: "3" },
  { kind: "resize", mode: "fit" },
  { kind: "crop", mode: "fit" },
  { kind: "resize", mode: "Fit" },
];

describe("checkJsonSchema", () => {
  for (const [label, schema] of Object.entries(SCHEMAS)) {
    it(`agrees with valibot on a ${label} schema`, () => {
      const json = toJsonSchema(schema, { errorMode: "throw" });
      for (const value of VALUES) {
        const valibot = v.safeParse(schema, value).success;
        const issues = checkJsonSchema(json, value);
        assert.equal(
          issues.length === 0,
          valibot,
          `${label} ${JSON.stringify(value)}: valibot ${valibot}, checker ${
            JSON.stringify(issues)
          }`,
        );
      }
    });
  }

  it("names the path of each problem, and bounds how many it lists", () => {
    const json = toJsonSchema(SCHEMAS.object!);
    assert.deepEqual(checkJsonSchema(json, { width: "x", label: 3 }).map((i) => i.path), [
      "args.width",
      "args.label",
    ]);
    assert.deepEqual(checkJsonSchema(json, {}), [{ path: "args.width", message: "Required" }]);
    const many = checkJsonSchema({ type: "array", items: { type: "string" } }, Array(50).fill(1));
    assert.equal(many.length, MAX_SCHEMA_ISSUES);
  });

  it("accepts what it cannot check: unknown keywords, a schema that is not an object", () => {
    assert.deepEqual(checkJsonSchema({ format: "email", $ref: "#/x" }, "not an email"), []);
    assert.deepEqual(checkJsonSchema(true, 1), []);
    assert.deepEqual(checkJsonSchema({ type: "decimal" }, "1"), []);
    assert.deepEqual(checkJsonSchema({ type: "string", pattern: "(" }, "x"), []);
  });
});
