/**
 * The shared suites a store backend must pass, for authors of another `TaskStore`:
 *
 * ```ts
 * import { storeConformance, workerSuite } from "aether-tasks/testing";
 * storeConformance("mystore", async () => ({ store: await MyStore.open(), cleanup: async () => {} }));
 * ```
 *
 * They are written with `node:test` and `node:assert/strict`, so `bun test` and `deno test` run
 * them.
 * @module
 */

export { storeConformance } from "./tests/store_conformance.ts";
export { workerSuite } from "./tests/worker_suite.ts";
export { FakeClock, makeTask } from "./tests/_helpers.ts";
