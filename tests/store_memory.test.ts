import { InMemoryTaskStore } from "../src/store/memory.ts";
import { storeConformance } from "./store_conformance.ts";

storeConformance("memory", () => Promise.resolve({ store: new InMemoryTaskStore() }));
