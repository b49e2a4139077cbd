/**
 * Counts what a worker's signals report (outcomes, durations, lease rescues) and renders them,
 * with the store's counts and the Worker pool's state, in the Prometheus text format.
 * @module
 */

import type { Clock } from "../clock.ts";
import type { TaskSignals } from "../signals.ts";
import type { TaskStats } from "../store/store.ts";
import type { TaskRecord } from "../task.ts";

/** What the Web Worker pool reports about itself. */
export interface PoolStats {
  /** Workers alive. */
  size: number;
  /** Workers running a task now. */
  busy: number;
  /** Workers that died since the pool started. */
  crashes: number;
  /** Workers replaced on purpose (after N tasks, or after a timeout) since the pool started. */
  recycles: number;
}

/** Completed and failed attempts per time bucket, oldest first. */
export interface Throughput {
  /** Width of one bucket. */
  bucketMillis: number;
  /** End of the last (current) bucket, epoch ms. */
  endsAt: number;
  completed: number[];
  failed: number[];
}

/** Upper bounds of the task duration histogram, in seconds. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
];
/** Width of one throughput bucket: 10 seconds. */
export const THROUGHPUT_BUCKET_MILLIS = 10_000;
/** Throughput buckets kept: 60 of 10 s, the last 10 minutes. */
export const THROUGHPUT_BUCKETS = 60;
/** Distinct task names counted separately; further names share the label `"_other"`. */
export const MAX_METRIC_TASK_NAMES = 500;
/** The `Content-Type` of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The error name the lease rescuer gives the failures it records. */
const LEASE_EXPIRED = "LeaseExpired";

interface PerName {
  processed: number;
  completed: number;
  retried: number;
  failed: number;
  cancelled: number;
  /** Counts per bucket of DURATION_BUCKETS_SECONDS, then +Inf. */
  buckets: number[];
  durationSum: number;
  durationCount: number;
}

interface Slot {
  index: number;
  completed: number;
  failed: number;
}

/**
 * Listens to a worker's {@linkcode TaskSignals} and keeps counters, a duration histogram per task
 * name, and recent throughput. Without signals it still renders the store's counts.
 *
 * @example
 * ```ts
 * const metrics = new TaskMetrics({ signals: worker.signals });
 * const text = metrics.render(await store.stats());
 * metrics.close();
 * ```
 */
export class TaskMetrics {
  readonly #clock: Clock;
  readonly #poolStats: (() => PoolStats) | undefined;
  readonly #byName = new Map<string, PerName>();
  readonly #slots: Slot[] = Array.from(
    { length: THROUGHPUT_BUCKETS },
    () => ({ index: -1, completed: 0, failed: 0 }),
  );
  readonly #disconnect: (() => void)[] = [];
  #leaseRescues = 0;

  constructor(
    options: {
      signals?: TaskSignals | undefined;
      clock: Clock;
      poolStats?: (() => PoolStats) | undefined;
    },
  ) {
    this.#clock = options.clock;
    this.#poolStats = options.poolStats;
    const signals = options.signals;
    if (!signals) return;
    this.#disconnect.push(
      signals.taskCompleted.connect(({ task }) => {
        const counts = this.#counts(task.name);
        counts.processed++;
        counts.completed++;
        this.#observeDuration(counts, task);
        this.#slot().completed++;
      }),
      signals.taskFailed.connect(({ task, error }) => {
        const counts = this.#counts(task.name);
        counts.processed++;
        counts.failed++;
        if (error.name === LEASE_EXPIRED) this.#leaseRescues++;
        else this.#observeDuration(counts, task);
        this.#slot().failed++;
      }),
      signals.taskRetrying.connect(({ task, error }) => {
        const counts = this.#counts(task.name);
        counts.processed++;
        counts.retried++;
        if (error.name === LEASE_EXPIRED) this.#leaseRescues++;
        this.#slot().failed++;
      }),
      signals.taskCancelled.connect(({ task }) => {
        this.#counts(task.name).cancelled++;
      }),
    );
  }

  /** Disconnects from the signals. */
  close(): void {
    for (const disconnect of this.#disconnect.splice(0)) disconnect();
  }

  /** The pool's state, or null without a pool. */
  poolStats(): PoolStats | null {
    return this.#poolStats?.() ?? null;
  }

  /** Completed and failed attempts (retries count as failed) per bucket over the last minutes. */
  throughput(): Throughput {
    const current = Math.floor(this.#clock.now() / THROUGHPUT_BUCKET_MILLIS);
    const completed: number[] = [];
    const failed: number[] = [];
    for (let index = current - THROUGHPUT_BUCKETS + 1; index <= current; index++) {
      const slot = this.#slots[index % THROUGHPUT_BUCKETS]!;
      completed.push(slot.index === index ? slot.completed : 0);
      failed.push(slot.index === index ? slot.failed : 0);
    }
    return {
      bucketMillis: THROUGHPUT_BUCKET_MILLIS,
      endsAt: (current + 1) * THROUGHPUT_BUCKET_MILLIS,
      completed,
      failed,
    };
  }

  /** Everything in the Prometheus text exposition format (version 0.0.4). */
  render(stats: TaskStats): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };

    family("aether_tasks", "gauge", "Tasks in the store by queue and status.");
    for (const queue of Object.keys(stats.queues).sort()) {
      for (const [status, count] of Object.entries(stats.queues[queue]!)) {
        out.push(`aether_tasks${labels({ queue, status })} ${count}`);
      }
    }

    const names = [...this.#byName.keys()].sort();
    const counter = (metric: string, help: string, pick: (c: PerName) => number) => {
      family(metric, "counter", help);
      for (const name of names) {
        out.push(`${metric}${labels({ name })} ${pick(this.#byName.get(name)!)}`);
      }
    };
    counter(
      "aether_tasks_processed_total",
      "Attempts this process's worker finished: completed, failed, or failed with a retry left.",
      (c) => c.processed,
    );
    counter("aether_tasks_completed_total", "Tasks that completed.", (c) => c.completed);
    counter("aether_tasks_failed_total", "Tasks that failed for good.", (c) => c.failed);
    counter(
      "aether_tasks_retried_total",
      "Failed attempts that will be retried.",
      (c) => c.retried,
    );
    counter(
      "aether_tasks_cancelled_total",
      "Tasks cancelled while this worker held them.",
      (c) => c.cancelled,
    );

    family(
      "aether_task_duration_seconds",
      "histogram",
      "Duration of attempts that completed or failed for good, from start to end.",
    );
    for (const name of names) {
      const c = this.#byName.get(name)!;
      let cumulative = 0;
      DURATION_BUCKETS_SECONDS.forEach((le, i) => {
        cumulative += c.buckets[i]!;
        out.push(
          `aether_task_duration_seconds_bucket${labels({ name, le: String(le) })} ${cumulative}`,
        );
      });
      out.push(
        `aether_task_duration_seconds_bucket${labels({ name, le: "+Inf" })} ${c.durationCount}`,
      );
      out.push(`aether_task_duration_seconds_sum${labels({ name })} ${round(c.durationSum)}`);
      out.push(`aether_task_duration_seconds_count${labels({ name })} ${c.durationCount}`);
    }

    family(
      "aether_lease_rescues_total",
      "counter",
      "Tasks taken back from a worker that stopped renewing its lease (crashed or hung).",
    );
    out.push(`aether_lease_rescues_total ${this.#leaseRescues}`);

    const pool = this.poolStats();
    if (pool) {
      family("aether_pool_workers", "gauge", "Web Workers alive in the pool.");
      out.push(`aether_pool_workers ${pool.size}`);
      family("aether_pool_busy_workers", "gauge", "Web Workers running a task.");
      out.push(`aether_pool_busy_workers ${pool.busy}`);
      family("aether_pool_worker_crashes_total", "counter", "Web Workers that crashed.");
      out.push(`aether_pool_worker_crashes_total ${pool.crashes}`);
      family("aether_pool_worker_recycles_total", "counter", "Web Workers replaced on purpose.");
      out.push(`aether_pool_worker_recycles_total ${pool.recycles}`);
    }
    return out.join("\n") + "\n";
  }

  #counts(taskName: string): PerName {
    let name = taskName;
    if (!this.#byName.has(name) && this.#byName.size >= MAX_METRIC_TASK_NAMES) name = "_other";
    let counts = this.#byName.get(name);
    if (!counts) {
      counts = {
        processed: 0,
        completed: 0,
        retried: 0,
        failed: 0,
        cancelled: 0,
        buckets: DURATION_BUCKETS_SECONDS.map(() => 0),
        durationSum: 0,
        durationCount: 0,
      };
      this.#byName.set(name, counts);
    }
    return counts;
  }

  #observeDuration(counts: PerName, task: TaskRecord): void {
    if (task.startedAt === null || task.completedAt === null) return;
    const seconds = Math.max(0, task.completedAt - task.startedAt) / 1000;
    const bucket = DURATION_BUCKETS_SECONDS.findIndex((le) => seconds <= le);
    if (bucket >= 0) counts.buckets[bucket]!++;
    counts.durationSum += seconds;
    counts.durationCount++;
  }

  #slot(): Slot {
    const index = Math.floor(this.#clock.now() / THROUGHPUT_BUCKET_MILLIS);
    const slot = this.#slots[index % THROUGHPUT_BUCKETS]!;
    if (slot.index !== index) {
      slot.index = index;
      slot.completed = 0;
      slot.failed = 0;
    }
    return slot;
  }
}

/** `{a="x",b="y"}` with label values escaped as the text format requires. */
function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(([key, value]) =>
    `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
  );
  return `{${parts.join(",")}}`;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
