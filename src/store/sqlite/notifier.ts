/**
 * The SQLite store's notifier: this process's listeners at once, and other processes' commits by
 * polling `PRAGMA data_version`, which changes when another connection commits to the file.
 * @module
 */

import { LocalNotifier } from "../store.ts";
import type { SqliteDriver } from "./driver.ts";

/**
 * Polls `PRAGMA data_version` every `intervalMillis` while anyone listens, and emits `changed`
 * when another connection committed. 0 turns the polling off (this process's events still flow).
 */
export class DataVersionNotifier extends LocalNotifier {
  readonly #driver: SqliteDriver;
  readonly #intervalMillis: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #version = 0;
  #closed = false;

  constructor(driver: SqliteDriver, intervalMillis: number) {
    super();
    this.#driver = driver;
    this.#intervalMillis = intervalMillis;
  }

  protected override onListenersChanged(): void {
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

  override close(): Promise<void> {
    this.#closed = true;
    return super.close();
  }

  #read(): number {
    try {
      return this.#driver.get<{ data_version: number }>("PRAGMA data_version")?.data_version ?? 0;
    } catch {
      return this.#version; // busy or closing: try again next tick
    }
  }
}
