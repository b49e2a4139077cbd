/**
 * The rows of tasks this store claimed and has not finished yet, as the claim returned them, so
 * a completed outcome can be written with a plain `UPDATE` (no `RETURNING *`, which costs more
 * than the update itself) and its record built from the row it started from.
 *
 * Exact by construction: the fast update also requires `cancel_requested = 0`, the one column
 * another connection may change while the claim holds the task; this store's own writes to a
 * held task (a start mark, progress, logs) update or drop the cached row. Whatever the cache
 * cannot vouch for takes the `RETURNING *` path.
 * @module
 */

/** The columns of a held row the fast path reads or changes. */
export interface HeldRow {
  id: string;
  attempt_token: string | null;
  started_at: number | null;
  progress: string | null;
  logs: string | null;
}

/**
 * The most rows kept (a worker holds its concurrency plus at most 256 prefetched tasks); beyond
 * it the oldest are forgotten and take the slow path. Bounds the memory of rows whose outcome
 * never comes (a lease lost to a rescue).
 */
export const MAX_HELD_ROWS = 4096;

/** Claimed rows by task id (see the module notes). */
export class HeldRows<R extends HeldRow> {
  readonly #rows = new Map<string, R>();

  /** Remembers the rows a claim returned. */
  add(rows: readonly R[]): void {
    for (const row of rows) this.#rows.set(row.id, row);
    if (this.#rows.size > MAX_HELD_ROWS) {
      let excess = this.#rows.size - MAX_HELD_ROWS;
      for (const id of this.#rows.keys()) {
        if (excess-- <= 0) break;
        this.#rows.delete(id);
      }
    }
  }

  /** Takes out the row held under `token`, or undefined (then any row of `id` is dropped). */
  take(id: string, token: string): R | undefined {
    const row = this.#rows.get(id);
    if (row === undefined) return undefined;
    this.#rows.delete(id);
    return row.attempt_token === token ? row : undefined;
  }

  /** The row held under `token`, left in place, or undefined. */
  peek(id: string, token: string): R | undefined {
    const row = this.#rows.get(id);
    return row !== undefined && row.attempt_token === token ? row : undefined;
  }

  /** Forgets the row of `id` (its other columns changed). */
  drop(id: string): void {
    this.#rows.delete(id);
  }

  /** Forgets every row. */
  clear(): void {
    this.#rows.clear();
  }

  /** How many rows are held. */
  get size(): number {
    return this.#rows.size;
  }
}
