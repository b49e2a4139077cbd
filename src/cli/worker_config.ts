/**
 * The configuration of `aether-tasks worker`: every setting from its flag, else its environment
 * variable, else its default — and where each came from, for `worker --print-config`.
 * @module
 */

import {
  DEFAULT_CONCURRENCY,
  DEFAULT_GRACE_MILLIS,
  DEFAULT_LEASE_MILLIS,
  DEFAULT_POLL_INTERVAL,
} from "../worker.ts";
import { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TIMEOUT } from "../heartbeat.ts";
import { formatDuration } from "../duration.ts";
import { DEFAULT_RETENTION, parseRetention, type Retention } from "../pruner.ts";
import type { OptionSpec, OptionValues } from "./command.ts";
import { oneLine, UsageError } from "./exit.ts";
import { DEFAULT_HANDLERS_DIR, HANDLERS_OPTION } from "./load_registry.ts";
import {
  DB_OPTION,
  DEFAULT_DB_PATH,
  displayDb,
  DURABILITY_OPTION,
  resolveDurability,
} from "./open_store.ts";
import { ADMIN_ALLOWED_HOSTS_ENV, parseAdminAddress } from "../admin/server.ts";
import { HostAllowList } from "../admin/security.ts";
import { defaultPoolSize } from "../pool/pool.ts";
import {
  duration,
  nameList,
  oneOf,
  positiveDuration,
  positiveInteger,
  resolveSetting,
  type Setting,
  type SettingParser,
  text,
} from "./settings.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./worker_log.ts";

/** Where the admin endpoint listens unless `--admin`/`AETHER_ADMIN` says otherwise. */
export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:7070";

/** Where the admin endpoint listens. */
export interface AdminAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPv6]:PORT`, `HOST` or `:PORT`, as the admin server reads it. */
const adminAddress: SettingParser<AdminAddress> = (value, label) => {
  try {
    return parseAdminAddress(value);
  } catch (error) {
    throw new UsageError(`${label}: ${oneLine(error)}`);
  }
};

/** `host`, `host:port` or `*`, comma-separated, as the admin endpoint's `allowedHosts`. */
const allowedHosts: SettingParser<string[]> = (value, label) => {
  const hosts = value.split(",").map((h) => h.trim()).filter((h) => h !== "");
  try {
    if (hosts.length === 0) throw new TypeError("it is empty");
    new HostAllowList(hosts);
  } catch (error) {
    throw new UsageError(
      `${label} must be a comma-separated list of host names, name:port or *, such as ` +
        `tasks.internal,10.0.0.5:7070; got ${JSON.stringify(value)} (${oneLine(error)})`,
    );
  }
  return [...new Set(hosts)];
};

/** The options of the `worker` command. */
export const WORKER_OPTIONS = {
  db: DB_OPTION,
  handlers: HANDLERS_OPTION,
  concurrency: {
    type: "string",
    value: "N",
    description: "Tasks running at once across the pool",
    default: String(DEFAULT_CONCURRENCY),
    env: "AETHER_CONCURRENCY",
  },
  workers: {
    type: "string",
    value: "N",
    description: "Web Workers that run handlers",
    default: "one per logical CPU",
    env: "AETHER_WORKERS",
  },
  queues: {
    type: "string",
    value: "a,b",
    description: "Queues to take tasks from",
    default: "every queue the handlers name",
    env: "AETHER_QUEUES",
  },
  "poll-interval": {
    type: "string",
    value: "DURATION",
    description: "How often to look for tasks other processes enqueued",
    default: formatDuration(DEFAULT_POLL_INTERVAL),
    env: "AETHER_POLL_INTERVAL",
  },
  grace: {
    type: "string",
    value: "DURATION",
    description: "On SIGTERM/SIGINT, how long running tasks may finish before they are released",
    default: formatDuration(DEFAULT_GRACE_MILLIS),
    env: "AETHER_GRACE",
  },
  lease: {
    type: "string",
    value: "DURATION",
    description:
      "How long a claimed task stays this worker's without a renewal (renewed every third of it); " +
      "the last line of defence when a worker hangs",
    default: formatDuration(DEFAULT_LEASE_MILLIS),
    env: "AETHER_LEASE",
  },
  "heartbeat-interval": {
    type: "string",
    value: "DURATION",
    description: "How often the worker beats in the worker registry",
    default: formatDuration(DEFAULT_HEARTBEAT_INTERVAL),
    env: "AETHER_HEARTBEAT_INTERVAL",
  },
  "heartbeat-timeout": {
    type: "string",
    value: "DURATION",
    description:
      "A worker silent this long is gone and its tasks run again (a dead process on this host is " +
      "found at once); longer than --heartbeat-interval, shorter than --lease",
    default: formatDuration(DEFAULT_HEARTBEAT_TIMEOUT),
    env: "AETHER_HEARTBEAT_TIMEOUT",
  },
  "log-format": {
    type: "string",
    value: "pretty|json",
    description: "Log line format (logs go to stderr)",
    default: "pretty",
    env: "AETHER_LOG_FORMAT",
  },
  "log-level": {
    type: "string",
    value: "LEVEL",
    description: "Least severe level logged: debug, info, warn or error",
    default: "info",
    env: "AETHER_LOG_LEVEL",
  },
  durability: DURABILITY_OPTION,
  admin: {
    type: "string",
    value: "HOST:PORT",
    description:
      "Address of the admin HTTP endpoint (HOST:PORT, HOST or :PORT; port 0 picks a free one); AETHER_ADMIN=off disables it",
    default: DEFAULT_ADMIN_ADDRESS,
    env: "AETHER_ADMIN",
  },
  "no-admin": { type: "boolean", description: "Do not start the admin endpoint" },
  "admin-token": {
    type: "string",
    value: "TOKEN",
    description: "Bearer token the admin endpoint requires",
    env: "AETHER_ADMIN_TOKEN",
  },
  "admin-allowed-hosts": {
    type: "string",
    value: "HOST,...",
    description:
      "Host headers the admin endpoint answers (name, name:port or *); default: loopback names when bound to loopback, any Host otherwise (a token is required there)",
    env: ADMIN_ALLOWED_HOSTS_ENV,
  },
  retention: {
    type: "string",
    value: "STATUS=DURATION,...",
    description:
      "How long finished tasks are kept (the leader prunes them), e.g. completed=1d,failed=90d; never keeps all",
    default: "completed=7d,failed=30d,cancelled=7d",
    env: "AETHER_RETENTION",
  },
  "print-config": { type: "boolean", description: "Print the resolved configuration and exit" },
  json: { type: "boolean", description: "With --print-config: print JSON" },
} as const satisfies Record<string, OptionSpec>;

/** The resolved configuration of a worker. */
export interface WorkerConfig {
  db: Setting<string>;
  handlers: Setting<string>;
  concurrency: Setting<number>;
  workers: Setting<number>;
  /** null: every queue the loaded handlers name. */
  queues: Setting<string[] | null>;
  pollInterval: Setting<number>;
  grace: Setting<number>;
  lease: Setting<number>;
  heartbeatInterval: Setting<number>;
  heartbeatTimeout: Setting<number>;
  logFormat: Setting<LogFormat>;
  logLevel: Setting<LogLevel>;
  durability: Setting<"normal" | "full">;
  /** null: no admin endpoint. */
  admin: Setting<AdminAddress | null>;
  adminToken: Setting<string | null>;
  /** null: the admin server's default (loopback names on a loopback address, else any Host). */
  adminAllowedHosts: Setting<string[] | null>;
  retention: Setting<Retention>;
}

/**
 * Resolves every setting: flag, else environment variable, else default. A bad value throws
 * {@linkcode UsageError} naming the flag or the variable and the value.
 */
export function resolveWorkerConfig(
  values: OptionValues<typeof WORKER_OPTIONS>,
  env: Readonly<Record<string, string | undefined>>,
): WorkerConfig {
  const option = <K extends keyof typeof WORKER_OPTIONS & keyof typeof values>(name: K) =>
    values[name] as string | undefined;
  const setting = <T>(
    name: keyof typeof WORKER_OPTIONS,
    fallback: T,
    parse: (text: string, label: string) => T,
  ) => {
    const spec: OptionSpec = WORKER_OPTIONS[name];
    return resolveSetting(name, option(name), spec.env, env, fallback, parse);
  };
  if (values["no-admin"] && values.admin !== undefined) {
    throw new UsageError("worker: --admin and --no-admin contradict each other; give one");
  }
  const admin: Setting<AdminAddress | null> = values["no-admin"]
    ? { value: null, source: "flag", origin: "--no-admin" }
    : setting<AdminAddress | null>(
      "admin",
      adminAddress(DEFAULT_ADMIN_ADDRESS, "default"),
      (value, label) =>
        label === "AETHER_ADMIN" && ["off", "false", "no"].includes(value.trim().toLowerCase())
          ? null
          : adminAddress(value, label),
    );
  const lease = setting("lease", DEFAULT_LEASE_MILLIS, positiveDuration);
  const heartbeatInterval = setting(
    "heartbeat-interval",
    DEFAULT_HEARTBEAT_INTERVAL,
    positiveDuration,
  );
  const heartbeatTimeout = setting(
    "heartbeat-timeout",
    DEFAULT_HEARTBEAT_TIMEOUT,
    positiveDuration,
  );
  const [timeoutText, intervalText, leaseText] = [
    describeDuration(heartbeatTimeout, "heartbeat-timeout"),
    describeDuration(heartbeatInterval, "heartbeat-interval"),
    describeDuration(lease, "lease"),
  ];
  if (heartbeatTimeout.value <= heartbeatInterval.value) {
    throw new UsageError(`${timeoutText} must be longer than ${intervalText}`);
  }
  if (heartbeatTimeout.value >= lease.value) {
    throw new UsageError(
      `${timeoutText} must be shorter than ${leaseText}; otherwise the lease always runs out first`,
    );
  }
  return {
    db: setting("db", DEFAULT_DB_PATH, text),
    handlers: setting("handlers", DEFAULT_HANDLERS_DIR, text),
    concurrency: setting("concurrency", DEFAULT_CONCURRENCY, positiveInteger),
    workers: setting("workers", defaultPoolSize(), positiveInteger),
    queues: setting<string[] | null>("queues", null, nameList),
    pollInterval: setting("poll-interval", DEFAULT_POLL_INTERVAL, positiveDuration),
    grace: setting("grace", DEFAULT_GRACE_MILLIS, duration),
    lease,
    heartbeatInterval,
    heartbeatTimeout,
    logFormat: setting("log-format", "pretty" as LogFormat, oneOf(LOG_FORMATS)),
    logLevel: setting("log-level", "info" as LogLevel, oneOf(LOG_LEVELS)),
    durability: resolveDurability(option("durability"), env),
    admin,
    adminToken: setting<string | null>("admin-token", null, text),
    adminAllowedHosts: setting<string[] | null>("admin-allowed-hosts", null, allowedHosts),
    retention: setting<Retention>("retention", { ...DEFAULT_RETENTION }, (value, label) => {
      try {
        return parseRetention(value, label);
      } catch (error) {
        throw new UsageError(oneLine(error));
      }
    }),
  };
}

/** The configuration as `--print-config --json` prints it: plain values and their sources. */
export function describeWorkerConfig(config: WorkerConfig): {
  config: Record<string, unknown>;
  sources: Record<string, string>;
} {
  const shown: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const [key, setting] of Object.entries(config) as [string, Setting<unknown>][]) {
    shown[key] = key === "adminToken" && setting.value !== null
      ? "(set)"
      : key === "admin" && setting.value !== null
      ? formatAdminAddress(setting.value as AdminAddress)
      : key === "db"
      ? displayDb(setting.value as string)
      : setting.value;
    sources[key] = setting.source === "default" ? "default" : setting.origin;
  }
  return { config: shown, sources };
}

/** The rows `worker --print-config` prints: setting, value as flags take it, where it came from. */
export function workerConfigRows(config: WorkerConfig): [string, string, string][] {
  const { config: shown, sources } = describeWorkerConfig(config);
  return Object.entries(shown).map(([key, value]) => {
    let text: string;
    if (value === null) {
      text = key === "queues"
        ? "every queue the handlers name"
        : key === "admin"
        ? "off"
        : key === "adminAllowedHosts"
        ? "loopback names on loopback, else any"
        : "-";
    } else if (DURATION_SETTINGS.has(key)) text = formatDuration(value as number);
    else if (Array.isArray(value)) text = value.join(",");
    else if (key === "retention") text = formatRetention(value as Retention);
    else text = String(value);
    return [key, text, sources[key]!];
  });
}

/** Retention as `--retention` takes it. */
export function formatRetention(retention: Retention): string {
  return (["completed", "failed", "cancelled"] as const).map((status) => {
    const millis = retention[status.toUpperCase() as keyof Retention];
    return `${status}=${millis === null ? "never" : formatDuration(millis)}`;
  }).join(",");
}

/** Settings shown as durations. */
const DURATION_SETTINGS = new Set([
  "pollInterval",
  "grace",
  "lease",
  "heartbeatInterval",
  "heartbeatTimeout",
]);

/** A duration setting as an error names it: `--lease (default 30s)`, `AETHER_LEASE (5s)`. */
function describeDuration(setting: Setting<number>, name: string): string {
  const value = formatDuration(setting.value);
  return setting.source === "default"
    ? `--${name} (default ${value})`
    : `${setting.origin} (${value})`;
}

/** `HOST:PORT`, with brackets around an IPv6 host. */
export function formatAdminAddress({ host, port }: AdminAddress): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
