/**
 * The version of this build of aether-tasks and the database schema it writes.
 * @module
 */

import process from "node:process";
import packageJson from "../../package.json" with { type: "json" };
import { SCHEMA_VERSION } from "../store/sqlite/schema.ts";

/** The aether-tasks version, from package.json. */
export const VERSION: string = packageJson.version;

/** What `aether-tasks version --json` prints. */
export interface VersionInfo {
  version: string;
  schemaVersion: number;
  /** The runtime and its version, e.g. `bun 1.4.5` or `deno 2.9.6`. */
  runtime: string;
}

/** The version, schema version and runtime. */
export function versionInfo(): VersionInfo {
  const versions = process.versions as Record<string, string | undefined>;
  const runtime = versions.bun
    ? `bun ${versions.bun}`
    : versions.deno
    ? `deno ${versions.deno}`
    : `node ${versions.node}`;
  return { version: VERSION, schemaVersion: SCHEMA_VERSION, runtime };
}
