import { openPgStore, requirePgUrl } from "./_postgres.ts";
import { remoteProtocolSuite } from "./remote_suite.ts";

const url = requirePgUrl();
if (url !== undefined) remoteProtocolSuite("postgres", () => openPgStore(url));
