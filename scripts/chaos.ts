/**
 * The chaos harness: kills busy workers with SIGKILL and checks that nothing acknowledged is
 * lost and that orphaned tasks come back in seconds. Each worker is the compiled binary
 * (`dist/aether-tasks`, built by `npm run build`) or, when it is missing or older than `src/`,
 * the CLI from source under Bun. Handlers append `<task id> <attempt> <time> <pid>` to a ledger
 * file when they start. Three scenarios:
 *
 * - `kill`: `--rounds` rounds of SIGKILL at a random moment of a busy worker (concurrency 16),
 *   then a replacement, over `--tasks` tasks; a last worker drains what is left. Reports tasks
 *   lost, tasks that ran twice against tasks in flight at each kill, and per orphan the time
 *   from its replacement's start to the start of its re-run.
 * - `bulk`: a worker holding `--orphans` tasks (400) is killed; a replacement starts. Target:
 *   all re-running within 5 s of the replacement's start.
 * - `remote`: a worker holding 16 tasks stops heartbeating (SIGSTOP), as a worker on another
 *   host that lost its network would; a live worker runs them again. Target: within the
 *   heartbeat timeout + 2 s of the stop. It then resumes (SIGCONT): its late outcomes must be
 *   rejected (each task's result names the worker that ran it again).
 *
 * Ends with `PRAGMA integrity_check` of each database, JSON on stdout, then a table.
 *
 *   deno task chaos        bun run chaos
 *   bun run chaos --rounds 20 --tasks 4000 --seed 7
 *   bun run chaos --ci     (3 rounds, short heartbeat; exits 1 when a target is missed)
 *
 * Options: --rounds N (5), --tasks N (400 per round), --orphans N (400), --seed N (random),
 * --concurrency N (16), --scenarios kill,bulk,remote (all), --heartbeat-interval D (2s),
 * --heartbeat-timeout D (10s), --from-source, --ci, --keep (keep the temp folder).
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatDuration, parseDuration } from "../src/duration.ts";
import { TaskDispatcher } from "../src/dispatcher.ts";
import { TaskRegistry } from "../src/registry.ts";
import { openSqliteDriver } from "../src/store/sqlite/open.ts";
import { SqliteTaskStore } from "../src/store/sqlite/store.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BINARY = join(ROOT, "dist/aether-tasks");
const BUN = join(ROOT, "node_modules/.bin/bun");
/** Bulk orphans must all be re-running this soon after the replacement starts. */
const BULK_TARGET_MILLIS = 5_000;
/** A silent worker's tasks must be re-running within its heartbeat timeout plus this. */
const REMOTE_MARGIN_MILLIS = 2_000;
/** Longest wait for one awaited event before the harness gives up. */
const WAIT_LIMIT_MILLIS = 120_000;
/** Default tasks per kill round: more than a busy worker finishes between two kills. */
const TASKS_PER_ROUND = 400;
/** How long a task of the kill scenario runs. */
const KILL_WORK_MILLIS = 50;
/** Enough attempts that repeated kills never exhaust a task. */
const MAX_ATTEMPTS = 100;

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rounds: { type: "string" },
    tasks: { type: "string" },
    orphans: { type: "string" },
    seed: { type: "string" },
    concurrency: { type: "string" },
    scenarios: { type: "string" },
    "heartbeat-interval": { type: "string" },
    "heartbeat-timeout": { type: "string" },
    "from-source": { type: "boolean" },
    ci: { type: "boolean" },
    keep: { type: "boolean" },
  },
  strict: true,
});

function integerFlag(name: keyof typeof flags, fallback: number, min: number): number {
  const text = flags[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (typeof text !== "string" || !/^\d+$/.test(text) || value < min) {
    console.error(`chaos: --${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

function durationFlag(name: keyof typeof flags, fallback: number): number {
  const text = flags[name];
  if (text === undefined) return fallback;
  try {
    return parseDuration(text, `--${name}`, { bareMillis: false });
  } catch (error) {
    console.error(`chaos: ${(error as Error).message}`);
    process.exit(2);
  }
}

const ci = flags.ci === true;
const rounds = integerFlag("rounds", ci ? 3 : 5, 1);
const options = {
  rounds,
  tasks: integerFlag("tasks", rounds * TASKS_PER_ROUND, 1),
  orphans: integerFlag("orphans", 400, 1),
  seed: integerFlag("seed", Math.floor(Math.random() * 2 ** 31), 0),
  concurrency: integerFlag("concurrency", 16, 1),
  heartbeatInterval: durationFlag("heartbeat-interval", ci ? 500 : 2_000),
  heartbeatTimeout: durationFlag("heartbeat-timeout", ci ? 3_000 : 10_000),
  scenarios: (flags.scenarios ?? "kill,bulk,remote").split(",").map((s) => s.trim()),
};
for (const scenario of options.scenarios) {
  if (!["kill", "bulk", "remote"].includes(scenario)) {
    console.error(
      `chaos: --scenarios takes kill, bulk and remote, got ${JSON.stringify(scenario)}`,
    );
    process.exit(2);
  }
}

/** A small seeded generator (mulberry32), so a run can be repeated with --seed. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const random = seededRandom(options.seed);

// ---- the worker command ----

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestMtime(join(path, entry)));
  }
  return newest;
}

/** The binary when it is built and newer than the sources, else the CLI from source under Bun. */
async function workerCommand(): Promise<{ command: string[]; what: string }> {
  if (!flags["from-source"] && existsSync(BINARY)) {
    if (statSync(BINARY).mtimeMs >= await newestMtime(join(ROOT, "src"))) {
      return { command: [BINARY], what: "dist/aether-tasks" };
    }
    console.error(
      "chaos: dist/aether-tasks is older than src/; running from source (npm run build)",
    );
  }
  return { command: [BUN, join(ROOT, "src/cli/main.ts")], what: "bun src/cli/main.ts" };
}

const LEDGER_HANDLER = `
import { appendFileSync } from "node:fs";
import process from "node:process";
import { defineTask, v } from "aether-tasks";

export default defineTask({
  name: "ledger",
  args: v.object({ i: v.number() }),
  retryConfig: { maxAttempts: ${MAX_ATTEMPTS}, baseDelayMillis: 100, maxDelayMillis: 1000 },
  async run(_args, ctx) {
    appendFileSync(process.env.CHAOS_LEDGER, \`\${ctx.taskId} \${ctx.attempt} \${Date.now()} \${process.pid}\\n\`);
    const ms = Number(process.env.CHAOS_WORK_MS);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener("abort", () => { clearTimeout(timer); reject(ctx.signal.reason); });
    });
    return { pid: process.pid };
  },
});
`;

interface Ledger {
  /** Start lines: task id, attempt, time, pid. */
  read(): { id: string; attempt: number; at: number; pid: number }[];
}

function ledgerAt(path: string): Ledger {
  return {
    read() {
      if (!existsSync(path)) return [];
      return readFileSync(path, "utf8").split("\n").filter(Boolean).map((line) => {
        const [id, attempt, at, pid] = line.split(" ");
        return { id: id!, attempt: Number(attempt), at: Number(at), pid: Number(pid) };
      });
    },
  };
}

/** A started worker process. */
interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** When it was spawned (epoch ms). */
  spawnedAt: number;
  /** Resolves with the worker id once it logged `worker.started`. */
  started: Promise<string>;
  exited: Promise<void>;
}

interface Lab {
  dir: string;
  db: string;
  handlers: string;
  ledger: Ledger;
  ledgerPath: string;
  logPath: string;
  command: string[];
}

async function newLab(root: string, name: string, command: string[]): Promise<Lab> {
  const dir = join(root, name);
  const handlers = join(dir, "handlers");
  await mkdir(handlers, { recursive: true });
  await writeFile(join(handlers, "ledger.ts"), LEDGER_HANDLER);
  const ledgerPath = join(dir, "ledger.txt");
  return {
    dir,
    db: join(dir, "tasks.db"),
    handlers,
    ledger: ledgerAt(ledgerPath),
    ledgerPath,
    logPath: join(dir, "workers.log"),
    command,
  };
}

function startWorker(
  lab: Lab,
  settings: { concurrency: number; workMillis: number; extra?: string[] },
): WorkerProcess {
  const [program, ...args] = lab.command;
  const child = spawn(program!, [
    ...args,
    "worker",
    "--db",
    lab.db,
    "--handlers",
    lab.handlers,
    "--concurrency",
    String(settings.concurrency),
    "--no-admin",
    "--log-format",
    "json",
    "--heartbeat-interval",
    formatDuration(options.heartbeatInterval),
    "--heartbeat-timeout",
    formatDuration(options.heartbeatTimeout),
    "--grace",
    "0s",
    ...(settings.extra ?? []),
  ], {
    env: {
      ...process.env,
      NO_COLOR: "1",
      CHAOS_LEDGER: lab.ledgerPath,
      CHAOS_WORK_MS: String(settings.workMillis),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const spawnedAt = Date.now();
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const started = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (line) => {
      appendFileSync(lab.logPath, `${child.pid} ${line}\n`);
      try {
        const entry = JSON.parse(line) as { event?: string; workerId?: string };
        if (entry.event === "worker.started" && entry.workerId) resolve(entry.workerId);
      } catch {
        // Not a log line (a stack trace): it is in the log file.
      }
    });
    exited.then(() => reject(new Error(`worker ${child.pid} exited; see ${lab.logPath}`)));
  });
  started.catch(() => {});
  return { child, pid: child.pid!, spawnedAt, started, exited };
}

async function killHard(worker: WorkerProcess): Promise<number> {
  worker.child.kill("SIGKILL");
  const at = Date.now();
  await worker.exited;
  return at;
}

async function stopGracefully(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill("SIGTERM");
  await worker.exited;
}

/** Polls `check` every 20 ms until it returns a value (this is a script, not a unit test). */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + WAIT_LIMIT_MILLIS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`chaos: gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function enqueue(lab: Lab, count: number): Promise<string[]> {
  const registry = new TaskRegistry();
  registry.register("ledger", () => {}, { retryConfig: { maxAttempts: MAX_ATTEMPTS } });
  const store = await SqliteTaskStore.open(lab.db);
  try {
    await store.migrate();
    const dispatcher = new TaskDispatcher(store, { registry });
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1000) {
      const n = Math.min(1000, count - i);
      ids.push(
        ...await dispatcher.enqueueMany(
          Array.from({ length: n }, (_, j) => ({ name: "ledger", args: { i: i + j } })),
        ),
      );
    }
    return ids;
  } finally {
    await store.close();
  }
}

/** The ids of PROCESSING tasks held by `workerId`, with their attempt. */
async function heldBy(store: SqliteTaskStore, workerId: string): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const page = await store.list({
      status: "PROCESSING",
      limit: 500,
      ...(cursor === null ? {} : { cursor }),
    });
    for (const task of page.tasks) if (task.workerId === workerId) held.set(task.id, task.attempts);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return held;
}

async function integrity(db: string): Promise<string> {
  const driver = await openSqliteDriver(db);
  try {
    return driver.all<{ integrity_check: string }>("PRAGMA integrity_check")
      .map((r) => r.integrity_check).join("; ");
  } finally {
    driver.close();
  }
}

/** For each orphan, when its re-run started (first ledger start after the attempt it lost). */
function rerunTimes(lab: Lab, orphans: Map<string, number>): Map<string, number> {
  const times = new Map<string, number>();
  for (const entry of lab.ledger.read()) {
    const lostAttempt = orphans.get(entry.id);
    if (lostAttempt !== undefined && entry.attempt > lostAttempt && !times.has(entry.id)) {
      times.set(entry.id, entry.at);
    }
  }
  return times;
}

interface Spread {
  count: number;
  minMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return {
    count: sorted.length,
    minMs: sorted[0] ?? 0,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    maxMs: sorted[sorted.length - 1] ?? 0,
  };
}

/** Waits until every task is COMPLETED (or reports what is not). */
async function drained(lab: Lab, total: number): Promise<void> {
  const store = await SqliteTaskStore.open(lab.db);
  try {
    await until("every task to complete", async () => {
      const stats = await store.stats();
      return stats.byStatus.COMPLETED === total ? true : undefined;
    });
  } finally {
    await store.close();
  }
}

async function lostTasks(lab: Lab, ids: readonly string[]): Promise<number> {
  const store = await SqliteTaskStore.open(lab.db);
  try {
    let lost = 0;
    for (const id of ids) if ((await store.get(id))?.status !== "COMPLETED") lost++;
    return lost;
  } finally {
    await store.close();
  }
}

// ---- scenarios ----

async function killScenario(lab: Lab) {
  const ids = await enqueue(lab, options.tasks);
  const store = await SqliteTaskStore.open(lab.db);
  const kills: { round: number; afterMs: number; inFlight: number; recovery: Spread }[] = [];
  const inFlightAtKills = new Set<string>();
  const recoveries: number[] = [];
  let unrecovered = 0;
  try {
    let worker = startWorker(lab, {
      concurrency: options.concurrency,
      workMillis: KILL_WORK_MILLIS,
    });
    for (let round = 1; round <= options.rounds; round++) {
      const workerId = await worker.started;
      // A random moment of a busy worker: 200 ms to 1.2 s after it started.
      const afterMs = Math.round(200 + random() * 1000);
      await new Promise((resolve) => setTimeout(resolve, afterMs));
      await killHard(worker);
      const orphans = await heldBy(store, workerId);
      for (const id of orphans.keys()) inFlightAtKills.add(id);
      const replacement = startWorker(lab, {
        concurrency: options.concurrency,
        workMillis: KILL_WORK_MILLIS,
      });
      await replacement.started;
      const reruns = await until(`the re-runs of round ${round}`, () => {
        const times = rerunTimes(lab, orphans);
        return times.size === orphans.size ? times : undefined;
      }).catch(() => rerunTimes(lab, orphans));
      unrecovered += orphans.size - reruns.size;
      const times = [...reruns.values()].map((at) => at - replacement.spawnedAt);
      recoveries.push(...times);
      kills.push({ round, afterMs, inFlight: orphans.size, recovery: spread(times) });
      worker = replacement;
    }
    await drained(lab, ids.length);
    await stopGracefully(worker);
  } finally {
    await store.close();
  }
  const runs = new Map<string, number>();
  for (const entry of lab.ledger.read()) runs.set(entry.id, (runs.get(entry.id) ?? 0) + 1);
  const duplicates = [...runs.entries()].filter(([, n]) => n > 1);
  const unexplained = duplicates.filter(([id]) => !inFlightAtKills.has(id)).length;
  return {
    tasks: ids.length,
    rounds: options.rounds,
    lost: await lostTasks(lab, ids),
    neverRan: ids.filter((id) => !runs.has(id)).length,
    inFlightAtKills: inFlightAtKills.size,
    tasksRunTwiceOrMore: duplicates.length,
    extraRuns: duplicates.reduce((sum, [, n]) => sum + n - 1, 0),
    duplicatesNotInFlightAtAKill: unexplained,
    orphansNotRerun: unrecovered,
    recovery: spread(recoveries),
    kills,
    integrity: await integrity(lab.db),
  };
}

async function bulkScenario(lab: Lab) {
  const ids = await enqueue(lab, options.orphans);
  const store = await SqliteTaskStore.open(lab.db);
  let result;
  try {
    // Long tasks: the victim holds every one of them when it dies.
    const victim = startWorker(lab, { concurrency: options.orphans, workMillis: 600_000 });
    const victimId = await victim.started;
    const orphans = await until(`the victim to hold ${options.orphans} tasks`, async () => {
      const held = await heldBy(store, victimId);
      return held.size === options.orphans && lab.ledger.read().length >= options.orphans
        ? held
        : undefined;
    });
    const killedAt = await killHard(victim);
    const replacement = startWorker(lab, { concurrency: options.concurrency, workMillis: 20 });
    const reruns = await until("every orphan to re-run", () => {
      const times = rerunTimes(lab, orphans);
      return times.size === orphans.size ? times : undefined;
    });
    const times = [...reruns.values()].map((at) => at - replacement.spawnedAt);
    await drained(lab, ids.length);
    await stopGracefully(replacement);
    const recovery = spread(times);
    result = {
      orphans: orphans.size,
      killToReplacementMs: replacement.spawnedAt - killedAt,
      recovery,
      targetMs: BULK_TARGET_MILLIS,
      met: recovery.maxMs <= BULK_TARGET_MILLIS,
    };
  } finally {
    await store.close();
  }
  return { ...result, lost: await lostTasks(lab, ids), integrity: await integrity(lab.db) };
}

async function remoteScenario(lab: Lab) {
  const count = options.concurrency;
  const ids = await enqueue(lab, count);
  const store = await SqliteTaskStore.open(lab.db);
  let result;
  try {
    // The silent worker's tasks last long enough that it resumes mid-attempt.
    const silentWork = options.heartbeatTimeout + 4_000;
    const silent = startWorker(lab, { concurrency: count, workMillis: silentWork });
    const silentId = await silent.started;
    const orphans = await until(`the silent worker to hold ${count} tasks`, async () => {
      const held = await heldBy(store, silentId);
      return held.size === count && lab.ledger.read().length >= count ? held : undefined;
    });
    const live = startWorker(lab, { concurrency: count, workMillis: 20 });
    await live.started;
    silent.child.kill("SIGSTOP");
    const stoppedAt = Date.now();
    const reruns = await until("the silent worker's tasks to re-run", () => {
      const times = rerunTimes(lab, orphans);
      return times.size === orphans.size ? times : undefined;
    });
    const times = [...reruns.values()].map((at) => at - stoppedAt);
    await drained(lab, ids.length);
    // It wakes up: its attempts are over, its outcomes must not land.
    silent.child.kill("SIGCONT");
    await new Promise((resolve) => setTimeout(resolve, silentWork));
    const ranBySilent = [];
    for (const id of ids) {
      const task = await store.get(id);
      const pid = (task?.result as { pid?: number } | null)?.pid;
      if (task?.status !== "COMPLETED" || pid === silent.pid) ranBySilent.push(id);
    }
    await Promise.all([stopGracefully(silent), stopGracefully(live)]);
    const recovery = spread(times);
    const targetMs = options.heartbeatTimeout + REMOTE_MARGIN_MILLIS;
    result = {
      orphans: orphans.size,
      heartbeatTimeoutMs: options.heartbeatTimeout,
      recovery,
      targetMs,
      met: recovery.maxMs <= targetMs,
      lateOutcomesAccepted: ranBySilent.length,
    };
  } finally {
    await store.close();
  }
  return { ...result, lost: await lostTasks(lab, ids), integrity: await integrity(lab.db) };
}

// ---- main ----

const runtime = "Bun" in globalThis
  ? `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`
  : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;
const { command, what } = await workerCommand();
const root = await mkdtemp(join(tmpdir(), "aether-chaos-"));
const started = Date.now();
const report: Record<string, unknown> = {
  runtime,
  worker: what,
  seed: options.seed,
  concurrency: options.concurrency,
  heartbeatIntervalMs: options.heartbeatInterval,
  heartbeatTimeoutMs: options.heartbeatTimeout,
};
let failed = false;
try {
  if (options.scenarios.includes("kill")) {
    const r = await killScenario(await newLab(root, "kill", command));
    report.kill = r;
    failed ||= r.lost > 0 || r.duplicatesNotInFlightAtAKill > 0 || r.orphansNotRerun > 0 ||
      r.integrity !== "ok";
  }
  if (options.scenarios.includes("bulk")) {
    const r = await bulkScenario(await newLab(root, "bulk", command));
    report.bulk = r;
    failed ||= r.lost > 0 || !r.met || r.integrity !== "ok";
  }
  if (options.scenarios.includes("remote")) {
    const r = await remoteScenario(await newLab(root, "remote", command));
    report.remote = r;
    failed ||= r.lost > 0 || !r.met || r.lateOutcomesAccepted > 0 || r.integrity !== "ok";
  }
} catch (error) {
  failed = true;
  report.error = (error as Error).message;
} finally {
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  report.ok = !failed;
  if (flags.keep || failed) report.folder = root;
  else await rm(root, { recursive: true, force: true });
}

console.log(JSON.stringify(report, null, 2));
const ms = (s: Spread) => `${s.p50Ms} / ${s.p95Ms} / ${s.maxMs} ms (n=${s.count})`;
const rows: [string, string][] = [["worker", `${what} (${runtime}), seed ${options.seed}`]];
const k = report.kill as Awaited<ReturnType<typeof killScenario>> | undefined;
if (k) {
  rows.push(
    ["kill: rounds / tasks", `${k.rounds} / ${k.tasks}`],
    ["kill: lost", String(k.lost)],
    [
      "kill: ran twice / in flight at kills",
      `${k.tasksRunTwiceOrMore} / ${k.inFlightAtKills} (unexplained ${k.duplicatesNotInFlightAtAKill})`,
    ],
    ["kill: recovery p50 / p95 / max", ms(k.recovery)],
    ["kill: integrity_check", k.integrity],
  );
}
const b = report.bulk as Awaited<ReturnType<typeof bulkScenario>> | undefined;
if (b) {
  rows.push(
    ["bulk: orphans / lost", `${b.orphans} / ${b.lost}`],
    ["bulk: recovery p50 / p95 / max", `${ms(b.recovery)} (target ${b.targetMs} ms)`],
    ["bulk: integrity_check", b.integrity],
  );
}
const r = report.remote as Awaited<ReturnType<typeof remoteScenario>> | undefined;
if (r) {
  rows.push(
    [
      "remote: orphans / lost / late accepted",
      `${r.orphans} / ${r.lost} / ${r.lateOutcomesAccepted}`,
    ],
    ["remote: recovery after SIGSTOP", `${ms(r.recovery)} (target ${r.targetMs} ms)`],
    ["remote: integrity_check", r.integrity],
  );
}
if (report.error) rows.push(["error", String(report.error)]);
rows.push(["result", failed ? "FAILED" : "ok"], ["seconds", String(report.seconds)]);
const width = Math.max(...rows.map(([key]) => key.length));
console.log(`\n${rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n")}`);
process.exit(failed ? 1 : 0);
