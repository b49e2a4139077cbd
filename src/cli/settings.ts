/**
 * Settings the CLI reads from a flag, else an environment variable, else a default, with the
 * parsers that turn their text into values and name the flag or variable when the text is wrong.
 * @module
 */

import { suggest } from "../suggest.ts";
import { parseDuration } from "../duration.ts";
import { UsageError } from "./exit.ts";

/** Where a setting's value came from. */
export type SettingSource = "flag" | "env" | "default";

/** A resolved setting. */
export interface Setting<T> {
  value: T;
  source: SettingSource;
  /** The flag or environment variable it came from, e.g. `--db` or `AETHER_DB`. */
  origin: string;
}

/** Turns a setting's text into its value; throws {@linkcode UsageError} naming `label`. */
export type SettingParser<T> = (text: string, label: string) => T;

/**
 * The value of `--<flag>` when given, else of the environment variable `envName` when set and
 * not empty, else `fallback`.
 */
export function resolveSetting<T>(
  flag: string,
  flagValue: string | undefined,
  envName: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  fallback: T,
  parse: SettingParser<T>,
): Setting<T> {
  if (flagValue !== undefined) {
    return { value: parse(flagValue, `--${flag}`), source: "flag", origin: `--${flag}` };
  }
  const fromEnv = envName ? env[envName] : undefined;
  if (envName && fromEnv !== undefined && fromEnv !== "") {
    return { value: parse(fromEnv, envName), source: "env", origin: envName };
  }
  return { value: fallback, source: "default", origin: "default" };
}

/** Text as it is (paths, tokens); an empty value is refused. */
export const text: SettingParser<string> = (value, label) => {
  if (value === "") throw new UsageError(`${label} must not be empty`);
  return value;
};

/** A positive integer. */
export const positiveInteger: SettingParser<number> = (value, label) => {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${label} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
};

/** A duration such as `500ms`, `30s`, `5m`, `1h30m`, in milliseconds. */
export const duration: SettingParser<number> = (value, label) => {
  try {
    return parseDuration(value, label, { bareMillis: false });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
};

/** A positive duration (zero refused). */
export const positiveDuration: SettingParser<number> = (value, label) => {
  const millis = duration(value, label);
  if (millis < 1) {
    throw new UsageError(`${label} must be at least 1ms, got ${JSON.stringify(value)}`);
  }
  return millis;
};

/** One of `choices`, ignoring case; a near miss gets a "did you mean". */
export function oneOf<const C extends string>(choices: readonly C[]): SettingParser<C> {
  return (value, label) => {
    const found = choices.find((c) => c.toLowerCase() === value.trim().toLowerCase());
    if (found !== undefined) return found;
    const near = suggest(value, choices, 1);
    throw new UsageError(
      `${label} must be one of ${choices.join(", ")}, got ${JSON.stringify(value)}` +
        (near.length ? `; did you mean ${near[0]}?` : ""),
    );
  };
}

/** A comma-separated list of names (`a,b`), without empty entries. */
export const nameList: SettingParser<string[]> = (value, label) => {
  const names = value.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw new UsageError(
      `${label} must be a comma-separated list of names such as a,b; got ${JSON.stringify(value)}`,
    );
  }
  return [...new Set(names)];
};
