/**
 * PostgreSQL connection URLs: parsing `postgres://user:password@host:port/database?schema=name`,
 * and masking the password wherever a URL is shown (errors, logs, `--print-config`).
 * @module
 */

import { StoreConnectionError } from "../../errors.ts";

/** The schema the store uses when neither the URL nor the options name one. */
export const DEFAULT_PG_SCHEMA = "aether_tasks";

/** A schema name the store accepts: a plain lower-case identifier, short enough for a channel name. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/** What {@linkcode parsePostgresUrl} found in a URL. */
export interface ParsedPostgresUrl {
  /** The URL to connect with: the input without the `schema` parameter. */
  connectUrl: string;
  /** The `schema` query parameter, if present. */
  schema: string | undefined;
  /** The URL with its password masked, for messages. */
  display: string;
}

/** Replaces the password of a URL-like string by `***` (works on URLs that do not parse, too). */
export function maskPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@?#]*):[^@/?#]*@/i, "$1:***@");
}

/** True when `url` starts with a PostgreSQL scheme (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Parses a PostgreSQL URL. Throws {@linkcode StoreConnectionError} naming the (masked) URL and
 * what was expected when it does not parse.
 */
export function parsePostgresUrl(url: string): ParsedPostgresUrl {
  const display = maskPassword(String(url));
  const expected = "expected postgres://user:password@host:port/database?schema=name";
  if (typeof url !== "string" || !isPostgresUrl(url)) {
    throw new StoreConnectionError(
      `Invalid PostgreSQL URL ${JSON.stringify(display)}: ${expected}`,
      display,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreConnectionError(
      `Invalid PostgreSQL URL ${JSON.stringify(display)}: ${expected}`,
      display,
    );
  }
  if (parsed.hostname === "" && !parsed.searchParams.has("host")) {
    throw new StoreConnectionError(
      `Invalid PostgreSQL URL ${JSON.stringify(display)}: no host; ${expected}`,
      display,
    );
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  if (schema !== undefined) assertSchemaName(schema, "schema parameter of the URL");
  parsed.searchParams.delete("schema");
  return { connectUrl: parsed.href, schema, display: maskPassword(parsed.href) };
}

/** Checks a schema name; `what` names where it came from. */
export function assertSchemaName(schema: unknown, what = "schema"): asserts schema is string {
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
    throw new RangeError(
      `${what} must be a lower-case identifier (a-z, 0-9, _; at most 48 characters), got ${
        JSON.stringify(schema)
      }`,
    );
  }
}

/**
 * A one-line description of why connecting failed, from a `postgres` client error, with
 * `password` (if any) removed.
 */
export function describeConnectError(error: unknown, password: string): string {
  const e = error as { code?: unknown; message?: unknown; errno?: unknown };
  const code = typeof e?.code === "string" ? e.code : undefined;
  let reason = typeof e?.message === "string" ? e.message : String(error);
  switch (code) {
    case "ECONNREFUSED":
      reason = "connection refused (is the server running and listening there?)";
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      reason = "host not found";
      break;
    case "CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      reason = "the connection timed out";
      break;
    case "28P01":
    case "28000":
      reason = `login refused: ${reason}`;
      break;
  }
  reason = reason.split("\n")[0]!;
  if (password) reason = reason.replaceAll(password, "***");
  return code && !reason.includes(code) ? `${reason} [${code}]` : reason;
}
