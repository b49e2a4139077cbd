/**
 * Which SQLite files are ours. Every database aether-tasks creates carries
 * {@linkcode AETHER_TASKS_APPLICATION_ID} in its header (`PRAGMA application_id`); a file is
 * opened only when it carries it, is empty, or is one of ours from before the mark (schema
 * version 1 or more, id 0, and exactly the tables and indexes our migrations create). Anything
 * else is refused with {@linkcode ForeignDatabaseError} before anything is written to it.
 *
 * Only SQLite touches the file: opening and closing a database file with plain file I/O in a
 * process that has it open in SQLite releases that process's POSIX locks on it (a known way to
 * corrupt a SQLite database), so the header is never read with `node:fs`.
 * @module
 */

import { ForeignDatabaseError } from "../../errors.ts";
import type { SqliteDriver } from "./driver.ts";
import { openSqliteDriver } from "./open.ts";

/**
 * The `PRAGMA application_id` of an aether-tasks database: 0x41455448, the ASCII bytes "AETH"
 * (decimal 1095062600), at offset 68 of the file's header. Never change it.
 */
export const AETHER_TASKS_APPLICATION_ID = 0x41455448;

/** How a connected database is ours. */
export type Ownership =
  /** It carries our application id. */
  | "ours"
  /** One of ours from before the mark: the id is 0 and the schema is exactly ours. */
  | "unmarked"
  /** No schema and user_version 0: it becomes ours when opened writable. */
  | "empty";

/**
 * The schema (`sqlite_master`) each of our versions has, as {@linkcode schemaText} gives it:
 * index `v` is the schema after the first `v` migrations. Built once per list in an in-memory
 * database.
 */
export function referenceSchemas(migrations: readonly string[]): Promise<readonly string[]> {
  let built = referenceCache.get(migrations);
  if (built === undefined) {
    built = buildReferenceSchemas(migrations);
    referenceCache.set(migrations, built);
  }
  return built;
}

const referenceCache = new WeakMap<readonly string[], Promise<readonly string[]>>();

async function buildReferenceSchemas(migrations: readonly string[]): Promise<readonly string[]> {
  const driver = await openSqliteDriver(":memory:");
  try {
    const schemas = [schemaText(driver)];
    for (const step of migrations) {
      driver.exec(step);
      schemas.push(schemaText(driver));
    }
    return schemas;
  } finally {
    driver.close();
  }
}

/**
 * Every table, index, view and trigger with its SQL, in one string to compare. SQLite keeps the
 * SQL text as the CREATE statement gave it, so a database our migrations built has exactly the
 * text the same migrations give in memory. `sqlite_stat*` tables (ANALYZE) are left out.
 */
function schemaText(driver: SqliteDriver): string {
  return JSON.stringify(
    driver.all(
      `SELECT type, name, tbl_name, sql FROM sqlite_master
        WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name`,
    ),
  );
}

/**
 * Decides whether the connected database is ours, with reads only; `references` comes from
 * {@linkcode referenceSchemas} (its last index is the newest version). Throws
 * {@linkcode ForeignDatabaseError} naming what makes it foreign.
 */
export function checkOwnership(driver: SqliteDriver, references: readonly string[]): Ownership {
  const applicationId =
    driver.get<{ application_id: number }>("PRAGMA application_id")?.application_id ?? 0;
  if (applicationId === AETHER_TASKS_APPLICATION_ID) return "ours";
  refuseForeignId(driver.path, applicationId);
  const version = driver.get<{ user_version: number }>("PRAGMA user_version")?.user_version ?? 0;
  const schema = schemaText(driver);
  if (version === 0 && schema === references[0]) return "empty";
  if (version >= 1 && version < references.length && schema === references[version]) {
    return "unmarked";
  }
  const tables = driver.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ).map((row) => row.name);
  let reason: string;
  if (tables.length === 0) reason = `it has no tables but user_version ${version}`;
  else if (!tables.includes("tasks")) {
    const shown = tables.slice(0, 5).join(", ") + (tables.length > 5 ? ", …" : "");
    reason = `it holds other tables (${shown}) and no aether-tasks mark`;
  } else if (version >= 1 && version < references.length) {
    reason = `it has a "tasks" table, but not the schema version ${version} of aether-tasks`;
  } else {
    reason = `it has a "tasks" table, but user_version ${version} and no aether-tasks mark`;
  }
  throw new ForeignDatabaseError(driver.path, reason);
}

/** Marks the database as ours. A write: only inside the transaction that checked ownership. */
export function markOurs(driver: SqliteDriver): void {
  driver.exec(`PRAGMA application_id = ${AETHER_TASKS_APPLICATION_ID}`);
}

/** Throws when `applicationId` is another application's (neither 0 nor ours). */
function refuseForeignId(path: string, applicationId: number): void {
  if (applicationId === 0 || applicationId === AETHER_TASKS_APPLICATION_ID) return;
  throw new ForeignDatabaseError(
    path,
    `its application_id is ${hex(applicationId)}, not aether-tasks' ${
      hex(AETHER_TASKS_APPLICATION_ID)
    }`,
  );
}

function hex(id: number): string {
  return `0x${(id >>> 0).toString(16).padStart(8, "0")}`;
}
