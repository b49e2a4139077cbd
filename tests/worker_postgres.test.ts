import { openPgStore, requirePgUrl } from "./_postgres.ts";
import { workerSuite } from "./worker_suite.ts";

const url = requirePgUrl();
if (url !== undefined) {
  workerSuite("postgres", () => openPgStore(url));
}
