/**
 * A one-line progress bar on stderr, redrawn in place, for terminals only.
 * @module
 */

import process from "node:process";

/** How often the bar is redrawn at most, in ms. */
export const PROGRESS_REDRAW_MILLIS = 100;

const WIDTH = 24;

/**
 * Draws `[#####-----]  42%  <text>` on stderr; does nothing when stderr is not a terminal.
 *
 * @example
 * ```ts
 * const bar = new ProgressBar(process.stderr.isTTY === true);
 * bar.update(0.5, "500 lines");
 * bar.clear();
 * ```
 */
export class ProgressBar {
  #lastDraw = 0;
  #drawn = false;

  constructor(private readonly enabled: boolean) {}

  /** Redraws with `fraction` (0 to 1, or null when the total is unknown) and `text`. */
  update(fraction: number | null, text: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < PROGRESS_REDRAW_MILLIS) return;
    this.#lastDraw = now;
    let bar = "";
    if (fraction !== null) {
      const clamped = Math.min(1, Math.max(0, fraction));
      const filled = Math.round(clamped * WIDTH);
      bar = `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${
        String(Math.floor(clamped * 100)).padStart(3)
      }%  `;
    }
    process.stderr.write(`\r\x1b[K${bar}${text}`);
    this.#drawn = true;
  }

  /** Removes the bar so the next output starts on a clean line. */
  clear(): void {
    if (this.#drawn) process.stderr.write("\r\x1b[K");
    this.#drawn = false;
  }
}
