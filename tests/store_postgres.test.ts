import { openPgStore, requirePgUrl } from "./_postgres.ts";
import { storeConformance } from "./store_conformance.ts";

const url = requirePgUrl();
if (url !== undefined) {
  storeConformance("postgres", () => openPgStore(url));
}
