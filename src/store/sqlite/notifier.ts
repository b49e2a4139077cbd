/**
 * The SQLite store's notifier: this process's listeners at once; other processes on this host
 * by UDP wake-ups on loopback (see `wake.ts`); and any other commit by polling
 * `PRAGMA data_version`, which changes when another connection commits to the file.
 * @module
 */

import { LocalNotifier, type StoreEvent } from "../store.ts";
import type { SqliteDriver } from "./driver.ts";
import { WakeChannel, type WakeTable } from "./wake.ts";

/**
 * While anyone listens: receives other processes' wake-ups (when given a `wakeTable`), and polls
 * `PRAGMA data_version` every `intervalMillis`, emitting `changed` when another connection
 * committed. 0 turns the polling off (this process's events still flow). This process's own
 * events are also sent to the other listeners on this host.
 */
export class DataVersionNotifier extends LocalNotifier {
  readonly #driver: SqliteDriver;
  readonly #intervalMillis: number;
  readonly #wake: WakeChannel | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #version = 0;
  #closed = false;

  constructor(driver: SqliteDriver, intervalMillis: number, wakeTable?: WakeTable) {
    super();
    this.#driver = driver;
    this.#intervalMillis = intervalMillis;
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
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    this.#version = this.#read();
    this.#timer = setInterval(() => {
      const version = this.#read();
      if (version === this.#version) return;
      this.#version = version;
      this.notify({ type: "changed" });
    }, this.#intervalMillis);
  }

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
