import { join } from "node:path";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";
import { tempDir } from "./_helpers.ts";
import { workerSuite } from "./worker_suite.ts";

workerSuite("sqlite", async () => {
  const dir = await tempDir("aether-worker-sqlite-");
  const store = await SqliteTaskStore.open(join(dir.path, "tasks.db"));
  return { store, cleanup: dir.remove };
});
