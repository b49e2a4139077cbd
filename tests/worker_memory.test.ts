import { InMemoryTaskStore } from "../src/store/memory.ts";
import { workerSuite } from "./worker_suite.ts";

workerSuite("memory", () => Promise.resolve({ store: new InMemoryTaskStore() }));
