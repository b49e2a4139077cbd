/**
 * What the browser tests share: Debian's Chromium, the flags it runs headless with here (as
 * root, without network), and the folder screenshots go to.
 * @module
 */

import { fileURLToPath } from "node:url";

/** Debian's Chromium (`apt-get install -y chromium`). */
export const CHROMIUM = "/usr/bin/chromium";
/** Headless, no sandbox (root), nothing that reaches the network. */
export const CHROMIUM_ARGS: string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Where browser tests leave screenshots (ignored by git). */
export const ARTIFACTS: string = fileURLToPath(new URL("../.test-artifacts/", import.meta.url));
