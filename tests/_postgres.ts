/**
 * Test helpers for the PostgreSQL store: the server URL from `AETHER_TEST_PG_URL` (set by
 * `scripts/test.sh`, which starts a throwaway server with `scripts/pg_server.sh`), and a fresh
 * schema per store so tests never see each other's rows.
 */

import assert from "node:assert/strict";
import { it } from "node:test";
import postgres from "postgres";
import { type PostgresStoreOptions, PostgresTaskStore } from "../src/store/postgres/store.ts";

/** The environment variable naming the test server. */
export const PG_URL_ENV = "AETHER_TEST_PG_URL";

/** The test server's URL, or undefined when it is not set. */
export const pgUrl: string | undefined = process.env[PG_URL_ENV] || undefined;

/**
 * Registers a failing test when no server is configured: PostgreSQL tests never skip silently.
 * Returns the URL (tests that need it run only when this is a string).
 */
export function requirePgUrl(): string | undefined {
  if (pgUrl === undefined) {
    it(`${PG_URL_ENV} names a PostgreSQL server`, () => {
      assert.fail(
        `${PG_URL_ENV} is not set: run the tests with \`npm test\` (it starts a server), or start ` +
          `one with \`scripts/pg_server.sh start DIR\` and export its URL`,
      );
    });
  }
  return pgUrl;
}

let schemas = 0;

/** A schema name no other test uses. */
export function freshSchema(prefix = "t"): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++schemas}`;
}

/** Drops a schema and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Opens a store on a fresh schema; `cleanup` drops the schema. */
export async function openPgStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<{ store: PostgresTaskStore; schema: string; cleanup: () => Promise<void> }> {
  const schema = options.schema ?? freshSchema();
  const store = await PostgresTaskStore.open(url, { clock: "caller", ...options, schema });
  return { store, schema, cleanup: () => dropSchema(url, schema) };
}
