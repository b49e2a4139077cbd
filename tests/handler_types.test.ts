/**
 * `src/cli/init/aether-tasks.d.ts` (the declarations `aether-tasks init` writes) matches the
 * real `"aether-tasks"` module, `src/handler_api.ts`: its types are checked equal at compile
 * time (`deno test` and `deno task check` type-check this file) and its value exports are the
 * module's.
 */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type * as Declared from "../src/cli/init/aether-tasks.d.ts";
import * as handlerApi from "../src/handler_api.ts";
import type * as Real from "../src/handler_api.ts";
import type { ArgsSchema, TaskHandler } from "../src/registry.ts";
import { ROOT } from "./_process.ts";

/** True when A and B are the same type (not only mutually assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

// Each line fails to compile when the declaration drifts from the source.
const typesMatch: [
  Equal<Declared.TaskContext, Real.TaskContext>,
  Equal<Declared.TaskDefinition, Real.TaskDefinition>,
  Equal<Declared.TaskDefinition<{ n: number }>, Real.TaskDefinition<{ n: number }>>,
  Equal<Declared.TaskSpec, Real.TaskSpec>,
  Equal<Declared.RetryConfig, Real.RetryConfig>,
  Equal<Declared.AbortCause, Real.AbortCause>,
  Equal<Declared.TaskPriority, Real.TaskPriority>,
  Equal<typeof Declared.TaskPriority, typeof Real.TaskPriority>,
  Equal<typeof Declared.defineTask, typeof Real.defineTask>,
  Equal<typeof Declared.v, typeof Real.v>,
  Equal<Declared.ArgsSchema<string>, ArgsSchema<string>>,
  Equal<Declared.TaskHandler, TaskHandler>,
  Equal<Declared.BackoffFunction, Real.BackoffFunction>,
  Equal<
    Declared.TaskDefinition<{ n: number }, { n: string }>,
    Real.TaskDefinition<{ n: number }, { n: string }>
  >,
  Equal<Declared.PermanentError, Real.PermanentError>,
  Equal<typeof Declared.PermanentError, typeof Real.PermanentError>,
] = [
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
];

describe("the aether-tasks declarations for handler authors", () => {
  it("declare the same types as src/handler_api.ts", () => {
    assert.ok(typesMatch.every(Boolean));
  });

  it("declare exactly the module's value exports", async () => {
    const text = await readFile(join(ROOT, "src/cli/init/aether-tasks.d.ts"), "utf8");
    const declared = [
      ...text.matchAll(/^export (?:declare (?:const|function|class) (\w+)|\* as (\w+) from)/gm),
    ].map((m) => m[1] ?? m[2]).sort();
    assert.deepEqual(declared, Object.keys(handlerApi).sort());
  });
});
