/**
 * Typed enqueue: `dispatcher.enqueue(definition, args)` checks `args` against the input type of
 * the definition's schema at compile time. `deno test` and `deno task check` type-check this
 * file: each `@ts-expect-error` line fails the check when the wrong call would compile. At run
 * time the same calls are validated by the schema.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as v from "valibot";
import { enqueueRequest, TaskDispatcher } from "../src/dispatcher.ts";
import { InvalidArgumentsError } from "../src/errors.ts";
import { defineTask } from "../src/handlers/define.ts";
import { TaskRegistry } from "../src/registry.ts";
import { InMemoryTaskStore } from "../src/store/memory.ts";

const resizeTask = defineTask({
  name: "resize",
  args: v.object({
    path: v.string(),
    // The input is a string of digits; the handler receives a number.
    width: v.pipe(v.string(), v.transform(Number)),
  }),
  run: ({ path, width }) => ({ path, width: width + 0 }),
});
const anyArgsTask = defineTask({ name: "any-args", run: () => null });

/** Calls that must not compile; never run (they would throw at run time). */
function wrongCalls(dispatcher: TaskDispatcher): void {
  // @ts-expect-error width must be the schema's input type (a string), not its output (a number)
  void dispatcher.enqueue(resizeTask, { path: "a.png", width: 100 });
  // @ts-expect-error path is required
  void dispatcher.enqueue(resizeTask, { width: "100" });
  // @ts-expect-error an unknown field
  void dispatcher.enqueue(resizeTask, { path: "a.png", width: "1", height: 2 });
  // @ts-expect-error args are required for a typed enqueue
  void dispatcher.enqueue(resizeTask);
  // @ts-expect-error enqueueDetailed is typed the same way
  void dispatcher.enqueueDetailed(resizeTask, { path: 1, width: "1" });
  // @ts-expect-error so is a request for enqueueMany
  void enqueueRequest(resizeTask, { path: "a.png" });
}

describe("typed enqueue", () => {
  const setup = () => {
    const registry = new TaskRegistry();
    registry.add(resizeTask);
    registry.add(anyArgsTask);
    const store = new InMemoryTaskStore();
    return { store, dispatcher: new TaskDispatcher(store, { registry }) };
  };

  it("takes the definition defineTask returned and args of its schema's input type", async () => {
    const { store, dispatcher } = setup();
    assert.equal(typeof wrongCalls, "function");
    const id = await dispatcher.enqueue(resizeTask, { path: "a.png", width: "100" });
    assert.deepEqual((await store.get(id))?.args, { path: "a.png", width: "100" });
    assert.equal((await store.get(id))?.name, "resize");
    const detailed = await dispatcher.enqueueDetailed(anyArgsTask, { anything: [1] });
    assert.equal(detailed.duplicate, false);
    const ids = await dispatcher.enqueueMany([
      enqueueRequest(resizeTask, { path: "b.png", width: "5" }),
      enqueueRequest(resizeTask, { path: "c.png", width: "6" }, { priority: "HIGH" }),
      { name: "any-args", args: {} },
    ]);
    assert.equal(ids.length, 3);
    assert.equal((await store.get(ids[1]!))?.priority, "HIGH");
    assert.equal(
      await dispatcher.enqueue("resize", { path: "d.png", width: "7" }).then(Boolean),
      true,
    );
  });

  it("still validates args at run time", async () => {
    const { dispatcher } = setup();
    await assert.rejects(
      dispatcher.enqueue(resizeTask, { path: 1 } as unknown as { path: string; width: string }),
      InvalidArgumentsError,
    );
  });

  it("uses the definition itself when the dispatcher's registry does not know the task", async () => {
    const store = new InMemoryTaskStore();
    const dispatcher = new TaskDispatcher(store, { registry: new TaskRegistry() });
    const id = await dispatcher.enqueue(resizeTask, { path: "a.png", width: "1" });
    assert.equal((await store.get(id))?.queue, "default");
    await assert.rejects(
      dispatcher.enqueue(resizeTask, {} as { path: string; width: string }),
      /Invalid arguments for task "resize"/,
    );
    await assert.rejects(dispatcher.enqueue("resize", {}), /Unknown task "resize"/);
  });
});
