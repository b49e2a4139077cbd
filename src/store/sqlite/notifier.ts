/**
 * The SQLite store's notifier: this process's listeners at once; other processes on this host
 * by UDP wake-ups on loopback (see `wake.ts`); and any other commit by polling
 * `PRAGMA data_version`, which changes when another connection commits to the file.
 * @module
 */

import { LocalNotifier, type StoreEvent } from "../store.ts";
import type { SqliteDriver } from "./driver.ts";
import { RUNTIME_TIMERS, type TimerFunctions } from "../../long_timer.ts";
import { WakeChannel, type WakeTable } from "./wake.ts";

/**
 * The slowest the `data_version` poll gets while the UDP wake-up channel listens and nothing
 * changes, in ms: other processes on this host wake us by datagram, so the poll only catches a
 * lost datagram or a writer that sends none; polling every 10 ms for that cost about 1% of a core
 * in an idle worker.
 */
export const DATA_VERSION_IDLE_INTERVAL_MILLIS = 250;

/**
 * While anyone listens: receives other processes' wake-ups (when given a `wakeTable`), and polls
 * `PRAGMA data_version` every `intervalMillis`, emitting `changed` when another connection
 * committed. While the wake-up channel listens, each poll that finds no change doubles the pause
 * before the next, up to {@linkcode DATA_VERSION_IDLE_INTERVAL_MILLIS}; a change seen brings it
 * back to `intervalMillis`. 0 turns the polling off (this process's events still flow). This
 * process's own events are also sent to the other listeners on this host.
 */
export class DataVersionNotifier extends LocalNotifier {
  readonly #driver: SqliteDriver;
  readonly #intervalMillis: number;
  readonly #wake: WakeChannel | undefined;
  readonly #timers: TimerFunctions;
  #timer: unknown;
  /** The pause before the next poll, in ms. */
  #delay: number;
  #version = 0;
  #closed = false;

  /** `timers`: what the polls are scheduled with (tests pass their own). */
  constructor(
    driver: SqliteDriver,
    intervalMillis: number,
    wakeTable?: WakeTable,
    timers: TimerFunctions = RUNTIME_TIMERS,
  ) {
    super();
    this.#timers = timers;
    this.#driver = driver;
    this.#intervalMillis = intervalMillis;
    this.#delay = intervalMillis;
    this.#wake = wakeTable && new WakeChannel(wakeTable, (events) => {
      // The sender committed before it sent: the poll need not report that commit again.
      this.#version = this.#read();
      for (const event of events) super.notify(event);
    }, () => {});
  }

  override notify(event: StoreEvent): void {
    super.notify(event);
    this.#wake?.send(event);
  }

  protected override onListenersChanged(): void {
    if (this.size > 0 && !this.#closed) void this.#wake?.open();
    else void this.#wake?.close();
    const wanted = this.size > 0 && this.#intervalMillis > 0 && !this.#closed;
    if (wanted === (this.#timer !== undefined)) return;
    if (!wanted) {
      this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    this.#version = this.#read();
    this.#delay = this.#intervalMillis;
    this.#timer = this.#timers.setTimeout(this.#poll, this.#delay);
  }

  /** True while the wake-up channel listens (the poll may slow down then). */
  get wakeListening(): boolean {
    return this.#wake?.listening ?? false;
  }

  readonly #poll = (): void => {
    const version = this.#read();
    if (version !== this.#version) {
      this.#version = version;
      this.#delay = this.#intervalMillis;
      this.notify({ type: "changed" });
    } else if (this.#wake?.listening) {
      this.#delay = Math.min(
        this.#delay * 2,
        Math.max(this.#intervalMillis, DATA_VERSION_IDLE_INTERVAL_MILLIS),
      );
    } else this.#delay = this.#intervalMillis;
    // Not re-armed once polling stopped (the last listener left, or closed) during notify.
    if (this.#timer !== undefined) this.#timer = this.#timers.setTimeout(this.#poll, this.#delay);
  };

  override async close(): Promise<void> {
    this.#closed = true;
    await super.close();
    await this.#wake?.end();
    this.#wake?.dispose();
  }

  #read(): number {
    try {
      return this.#driver.get<{ data_version: number }>("PRAGMA data_version")?.data_version ?? 0;
    } catch {
      return this.#version; // busy or closing: try again next tick
    }
  }
}
