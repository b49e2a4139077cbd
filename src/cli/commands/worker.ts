/**
 * `aether-tasks worker`: runs the handlers of a folder in a pool of Web Workers, taking tasks from
 * the database until SIGTERM or SIGINT, with the admin endpoint beside it.
 * @module
 */

import { configure, reset } from "@logtape/logtape";
import process from "node:process";
import { AdminPortInUseError, AdminServer } from "../../admin/server.ts";
import { TaskDispatcher } from "../../dispatcher.ts";
import { formatDuration } from "../../duration.ts";
import { LOG_CATEGORY } from "../../log.ts";
import { HandlerLoadError } from "../../handlers/load.ts";
import { WorkerPool, type WorkerPoolStats } from "../../pool/pool.ts";
import { TaskRegistry } from "../../registry.ts";
import type { TaskStore } from "../../store/store.ts";
import { TaskSignals } from "../../signals.ts";
import { TaskWorker } from "../../worker.ts";
import { defineCommand } from "../command.ts";
import { EXIT_FAILED, EXIT_OK, oneLine, UsageError } from "../exit.ts";
import { formatTable, type Palette } from "../output.ts";
import { requireHandlersDir } from "../load_registry.ts";
import { displayDb, LOCK_TIMEOUT_OPTION, openStore, resolveLockTimeout } from "../open_store.ts";
import { DEFAULT_REPEAT_WINDOW_MILLIS, RateLimitedLog } from "../../rate_limited_log.ts";
import { backupBeforeMigration } from "../migration_backup.ts";
import {
  describeWorkerConfig,
  resolveWorkerConfig,
  WORKER_OPTIONS,
  type WorkerConfig,
  workerConfigRows,
} from "../worker_config.ts";
import { WorkerLog } from "../worker_log.ts";

/** After a second signal, how long releasing the running tasks may take before the process exits anyway. */
export const FORCED_EXIT_MILLIS = 5000;

/** The `worker` command. */
export const workerCommand = defineCommand({
  name: "worker",
  summary: "Run the handlers of a folder, taking tasks from the database until stopped",
  usage: "",
  positionals: [0, 0],
  options: { ...WORKER_OPTIONS, "lock-timeout": LOCK_TIMEOUT_OPTION },
  details: [
    "Settings come from a flag, else its environment variable, else the default; " +
    "--print-config shows the result and where each value came from.",
    "SIGTERM or SIGINT: stop taking tasks, let running ones finish within --grace, give the rest " +
    "back to the queue (another worker takes them at once), close the database and exit 0. " +
    "A second signal gives the running tasks back at once.",
    "Logs go to stderr, one line per event (task started, completed, retrying, failed); an error " +
    "that repeats is written once, then with its count every 10s.",
    "A database that cannot be written (read-only file or folder) is refused at start (exit 2).",
  ],
  async run({ values, out, env }) {
    const config = resolveWorkerConfig(values, env);
    if (values["print-config"] && values.json) {
      await out.printJson(describeWorkerConfig(config));
      return EXIT_OK;
    }
    if (values["print-config"]) {
      const rows = workerConfigRows(config);
      await out.print(formatTable(out.palette, ["SETTING", "VALUE", "FROM"], rows));
      return EXIT_OK;
    }
    const lockTimeoutMillis = resolveLockTimeout(values["lock-timeout"], env).value;
    return await runWorker(config, lockTimeoutMillis, out.errorPalette);
  },
});

async function runWorker(
  config: WorkerConfig,
  lockTimeoutMillis: number,
  palette: Palette,
): Promise<number> {
  const log = new WorkerLog({
    format: config.logFormat.value,
    level: config.logLevel.value,
    palette,
  });
  // The library logs through LogTape: its records (handler output among them) become lines here.
  await configure({
    reset: true,
    sinks: { cli: log.sink() },
    loggers: [
      { category: [LOG_CATEGORY], sinks: ["cli"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: ["cli"], lowestLevel: "warning" },
    ],
  });
  try {
    return await runConfiguredWorker(config, lockTimeoutMillis, log);
  } finally {
    await reset();
  }
}

async function runConfiguredWorker(
  config: WorkerConfig,
  lockTimeoutMillis: number,
  log: WorkerLog,
): Promise<number> {
  const handlersDir = await requireHandlersDir(config.handlers.value);
  const backup = await backupBeforeMigration(config.db.value);
  if (backup) {
    log.info("db.backup", `backed up schema ${backup.fromVersion} to ${backup.path}`, {
      ...backup,
    });
  }
  // Opening writable refuses a database this process cannot write, before anything starts.
  const store = await openStore(config.db.value, {
    missing: "create",
    durability: config.durability.value,
    lockTimeoutMillis,
  });
  // Background loops call onError on every failed turn: one line per error and window.
  const errors = new RateLimitedLog({ write: (line) => log.error("worker.error", line) });
  const errorSummaries = setInterval(() => errors.flushExpired(), DEFAULT_REPEAT_WINDOW_MILLIS);
  let pool: WorkerPool | undefined;
  let worker: TaskWorker | undefined;
  let admin: AdminServer | undefined;
  try {
    pool = await startPool(handlersDir, config);
    const registry = new TaskRegistry();
    for (const definition of pool.definitions) registry.add(definition);
    const queues = config.queues.value ?? queuesOf(registry);
    const signals = new TaskSignals((error, signal) =>
      log.error("worker.error", `a ${signal} listener threw: ${oneLine(error)}`)
    );
    worker = new TaskWorker(store, {
      executor: pool,
      schedulerRegistry: registry,
      retention: config.retention.value,
      concurrency: config.concurrency.value,
      queues,
      pollInterval: config.pollInterval.value,
      leaseMillis: config.lease.value,
      heartbeatInterval: config.heartbeatInterval.value,
      heartbeatTimeout: config.heartbeatTimeout.value,
      signals,
      onError: (error) => errors.report(oneLine(error)),
    });
    log.connect(signals);
    connectRecoveryLog(worker, log);
    if (config.admin.value) {
      const started = pool;
      admin = createAdminServer(config, {
        store,
        registry,
        signals,
        poolStats: () => started.stats(),
      }, log);
      await startAdmin(admin);
    }
    const stopped = waitForStopSignal(worker, pool, log, config.grace.value);
    worker.start();
    const names = registry.names();
    const summary = [
      `${names.length} handlers (${names.join(", ")})`,
      `queues ${queues.join(",")}`,
      `concurrency ${config.concurrency.value}`,
      `${config.workers.value} workers`,
      `db ${displayDb(config.db.value)}`,
      ...(admin ? [`admin ${admin.url}`] : []),
    ];
    log.info("worker.started", `worker ${worker.workerId} started: ${summary.join(", ")}`, {
      workerId: worker.workerId,
      handlers: names,
      queues,
      concurrency: config.concurrency.value,
      workers: config.workers.value,
      db: displayDb(config.db.value),
      admin: admin?.url ?? null,
      pid: process.pid,
    });
    const code = await stopped;
    log.info("worker.stopped", `worker ${worker.workerId} stopped`, { workerId: worker.workerId });
    return code;
  } finally {
    // Each is idempotent; after a signal the worker has stopped (and closed the pool) already.
    await admin?.stop().catch((error) => log.error("admin.error", oneLine(error)));
    if (worker) await worker.stop({ graceMillis: 0 });
    else await pool?.close();
    clearInterval(errorSummaries);
    errors.flush();
    await store.close();
  }
}

/** Starts the admin server; a taken port is a one-line usage error that says what to do. */
async function startAdmin(admin: AdminServer): Promise<void> {
  try {
    await admin.start();
  } catch (error) {
    throw error instanceof AdminPortInUseError ? new UsageError(`admin: ${error.message}`) : error;
  }
}

/** Starts the pool; a handler file that does not load is a usage error naming it. */
async function startPool(handlersDir: string, config: WorkerConfig): Promise<WorkerPool> {
  try {
    const pool = await WorkerPool.start({ handlersDir, size: config.workers.value });
    if (pool.definitions.length === 0) {
      await pool.close();
      throw new UsageError(
        `The handlers folder "${config.handlers.value}" has no handlers (*.ts or *.js files not starting with _ or .)`,
      );
    }
    return pool;
  } catch (error) {
    throw error instanceof HandlerLoadError ? new UsageError(oneLine(error)) : error;
  }
}

function createAdminServer(
  config: WorkerConfig,
  parts: {
    store: TaskStore;
    registry: TaskRegistry;
    signals: TaskSignals;
    poolStats: () => WorkerPoolStats;
  },
  log: WorkerLog,
): AdminServer {
  try {
    return new AdminServer({
      store: parts.store,
      dispatcher: new TaskDispatcher(parts.store, { registry: parts.registry }),
      signals: parts.signals,
      poolStats: parts.poolStats,
      token: config.adminToken.value ?? undefined,
      allowedHosts: config.adminAllowedHosts.value ?? undefined,
      host: config.admin.value!.host,
      port: config.admin.value!.port,
      onError: (error) => log.error("admin.error", oneLine(error)),
      // The HTTP worker protocol: remote workers get this worker's lease and heartbeat timeout.
      remote: {
        registry: parts.registry,
        leaseMillis: config.lease.value,
        heartbeatTimeoutMillis: config.heartbeatTimeout.value,
      },
    });
  } catch (error) {
    // A token that is too short, a public address without a token: the configuration is wrong.
    throw new UsageError(
      `${config.admin.origin === "default" ? "admin" : config.admin.origin}: ${oneLine(error)}`,
    );
  }
}

/**
 * Resolves with the exit code once the worker stopped after SIGTERM or SIGINT: 0 when it stopped
 * within the grace or gave its tasks back on a second signal. When that takes longer than
 * {@linkcode FORCED_EXIT_MILLIS} after the second signal, exits with 1.
 */
function waitForStopSignal(
  worker: TaskWorker,
  pool: WorkerPool,
  log: WorkerLog,
  graceMillis: number,
): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    let forced: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: number) => {
      clearTimeout(forced);
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve(code);
    };
    const onSignal = (signal: string) => {
      const running = worker.runningCount;
      if (++received === 1) {
        const grace = formatDuration(graceMillis);
        log.info(
          "worker.stopping",
          `${signal}: stopping; ${running} running task(s) have ${grace} to finish`,
          {
            signal,
            running,
            graceMs: graceMillis,
          },
        );
        worker.stop({ graceMillis }).then(() => finish(EXIT_OK), (error) => {
          log.error("worker.error", `stopping failed: ${oneLine(error)}`);
          finish(EXIT_FAILED);
        });
        return;
      }
      log.warn("worker.stopping", `${signal} again: giving ${running} running task(s) back now`, {
        signal,
        running,
      });
      // End the Workers now: the pool settles their attempts as released, the worker gives the
      // tasks back to the store and its stop() completes.
      void pool.close();
      forced ??= setTimeout(() => {
        // SQLite stays consistent; a task not given back returns to the queue when its lease ends.
        const waited = formatDuration(FORCED_EXIT_MILLIS);
        log.error("worker.error", `running tasks were not given back within ${waited}; exiting`);
        process.exit(EXIT_FAILED);
      }, FORCED_EXIT_MILLIS);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

/** Logs leadership changes and workers found gone. */
function connectRecoveryLog(worker: TaskWorker, log: WorkerLog): void {
  const { workerId } = worker;
  worker.leader.gained.connect(() =>
    log.info("worker.leader", `worker ${workerId} leads maintenance (lease rescue)`, { workerId })
  );
  worker.leader.lost.connect(() =>
    log.info("worker.leader", `worker ${workerId} no longer leads maintenance`, { workerId })
  );
  worker.heartbeat.workerGone.connect(({ worker: gone, reason, rescued }) =>
    log.warn(
      "worker.gone",
      `worker ${gone.id} (pid ${gone.pid} on ${gone.host}) is gone: ${reason}; ` +
        `${rescued} of its task(s) run again`,
      { goneWorkerId: gone.id, host: gone.host, pid: gone.pid, reason, rescued },
    )
  );
}

/** Every queue the handlers name, sorted. */
function queuesOf(registry: TaskRegistry): string[] {
  return [...new Set(registry.names().map((name) => registry.get(name).queue))].sort();
}
