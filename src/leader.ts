/**
 * Leader election over the store: of all the workers on one database, one holds the leadership
 * `"maintenance"` and runs the maintenance services (lease rescue now; pruning and cron later).
 * It is a row with a TTL that the store takes or extends atomically (`store.lead`), so several
 * processes on one SQLite file, or many hosts on one PostgreSQL, agree on one holder.
 *
 * The leader renews every third of the TTL; when it dies, another elector takes over at its
 * next attempt after the TTL ran out (at most TTL + TTL/3 later). A clean stop resigns, so a
 * successor takes over at its next attempt.
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { type LongTimer, setLongInterval } from "./long_timer.ts";
import { positiveInteger } from "./options.ts";
import { reportListenerError, Signal } from "./signals.ts";
import { logErrorTo } from "./log.ts";
import type { TaskStore } from "./store/store.ts";

/** The leadership the maintenance services run under. */
export const MAINTENANCE_LEADERSHIP = "maintenance";
/** Default TTL of a leadership: it lapses this long after the leader's last renewal. */
export const DEFAULT_LEADER_TTL_MILLIS = 10_000;

/** Options of {@linkcode LeaderElector}. */
export interface LeaderElectorOptions {
  /** Who this elector stands for (a worker id). */
  holder: string;
  /** The leadership. Default {@linkcode MAINTENANCE_LEADERSHIP}. */
  name?: string;
  /**
   * How long the leadership outlives the last renewal, in ms. Shorter: a dead leader is
   * replaced sooner; longer: fewer writes. Default 10000.
   */
  ttlMillis?: number;
  /** Milliseconds between attempts (renewals, or bids while another leads). Default TTL / 3. */
  interval?: number;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Store errors of the background attempts (they are retried). Default: logged through LogTape. */
  onError?: (error: unknown) => void;
}

/** A change of leadership, as {@linkcode LeaderElector.gained} and `lost` report it. */
export interface LeadershipEvent {
  name: string;
  holder: string;
}

/**
 * Bids for a leadership and keeps it while this process lives.
 *
 * @example
 * ```ts
 * await using elector = new LeaderElector(store, { holder: worker.workerId });
 * elector.gained.connect(() => console.log("leading"));
 * elector.start();
 * if (elector.isLeader) await rescuer.runOnce();
 * ```
 */
export class LeaderElector {
  /** Emitted when this elector becomes the leader. */
  readonly gained: Signal<LeadershipEvent>;
  /** Emitted when it stops being the leader (another took over, it expired, or it resigned). */
  readonly lost: Signal<LeadershipEvent>;
  readonly holder: string;
  readonly name: string;
  readonly ttlMillis: number;
  readonly #store: TaskStore;
  readonly #interval: number;
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  /** Until when the leadership is ours, by our clock; 0 while another leads. */
  #leadingUntil = 0;
  #leading = false;
  #timer: LongTimer | undefined;
  /** The bid in progress, or the last one. */
  #attempt: Promise<unknown> = Promise.resolve();
  #busy = false;
  #state: "new" | "running" | "stopped" = "new";

  constructor(store: TaskStore, options: LeaderElectorOptions) {
    if (typeof options?.holder !== "string" || options.holder === "") {
      throw new TypeError(`holder must be a non-empty string, got ${String(options?.holder)}`);
    }
    const name = options.name ?? MAINTENANCE_LEADERSHIP;
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`name must be a non-empty string, got ${String(name)}`);
    }
    this.#store = store;
    this.holder = options.holder;
    this.name = name;
    this.ttlMillis = positiveInteger(options.ttlMillis ?? DEFAULT_LEADER_TTL_MILLIS, "ttlMillis");
    this.#interval = positiveInteger(
      options.interval ?? Math.max(1, Math.floor(this.ttlMillis / 3)),
      "interval",
    );
    if (this.#interval >= this.ttlMillis) {
      throw new RangeError(
        `interval must be shorter than ttlMillis (${this.ttlMillis}), got ${this.#interval}`,
      );
    }
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? logErrorTo("leader", `leader election (${this.holder})`);
    this.gained = new Signal("leadershipGained", reportListenerError);
    this.lost = new Signal("leadershipLost", reportListenerError);
  }

  /**
   * Whether this elector leads now: its last bid won and the leadership has not expired since,
   * by the injected clock.
   */
  get isLeader(): boolean {
    return this.#leading && this.#clock.now() < this.#leadingUntil;
  }

  /** Bids at once, then every `interval`. Calling it again does nothing. */
  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    this.#timer = setLongInterval(() => {
      if (!this.#busy) void this.runOnce();
    }, this.#interval);
    void this.runOnce();
  }

  /**
   * Stops bidding and, when leading, resigns so another elector can take over at once.
   * Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#timer?.clear();
    this.#timer = undefined;
    await this.#attempt;
    if (!this.#leading) return;
    this.#setLeading(false, 0);
    try {
      await this.#store.resign(this.name, this.holder);
    } catch (error) {
      this.#onError(error); // It lapses after the TTL instead.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * One bid: takes the leadership when it is free or expired, renews it when ours. Resolves
   * with whether this elector leads afterwards; a store error is reported to `onError` and
   * counts as not leading once the TTL of the last renewal ran out. A call while a bid runs
   * bids again after it. After `stop()`, resolves false without asking the store.
   */
  runOnce(): Promise<boolean> {
    const bid = this.#attempt.then(() => {
      if (this.#state === "stopped") return false;
      this.#busy = true;
      return this.#bid();
    }).finally(() => (this.#busy = false));
    this.#attempt = bid;
    return bid;
  }

  async #bid(): Promise<boolean> {
    const now = this.#clock.now();
    try {
      const leadership = await this.#store.lead({
        name: this.name,
        holder: this.holder,
        now,
        ttlMillis: this.ttlMillis,
      });
      // stop() may have run meanwhile: it resigns when this bid made us the leader.
      const won = leadership.holder === this.holder;
      // Count the TTL from before the request: the store may have written it a little later.
      this.#setLeading(won, won ? now + this.ttlMillis : 0);
    } catch (error) {
      this.#onError(error);
      if (this.#leading && this.#clock.now() >= this.#leadingUntil) this.#setLeading(false, 0);
    }
    return this.isLeader;
  }

  #setLeading(leading: boolean, until: number): void {
    this.#leadingUntil = until;
    if (leading === this.#leading) return;
    this.#leading = leading;
    (leading ? this.gained : this.lost).emit({ name: this.name, holder: this.holder });
  }
}
