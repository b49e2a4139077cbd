/**
 * The PostgreSQL store's {@linkcode Notifier}: LISTEN/NOTIFY on one channel per schema, on a
 * connection of its own that is open while anyone listens.
 *
 * Payloads are small JSON objects written by the store's SQL (`pg_notify` inside the statement
 * that made the change, so a notification leaves only when its transaction commits):
 * - `{"t":"i","o":origin,"q":queue,"r":runAt}`: tasks became waiting;
 * - `{"t":"x","o":origin,"id":id}`: a cancel was requested for a running task;
 * - `{"t":"c","o":origin}`: something else changed (tasks finished); listeners re-read.
 *
 * `origin` names the store instance that wrote it. A store tells its own listeners directly
 * after its commit, so it drops notifications of its own origin; an insert into an
 * application's transaction carries the empty origin, so that its own process, too, hears of it
 * only through the database, after the commit.
 * @module
 */

import postgres, { type Options, type Sql } from "postgres";
import { LocalNotifier, type StoreEvent } from "../store.ts";

/** How long to wait before the first attempt to listen again after a lost connection, in ms. */
export const DEFAULT_PG_RECONNECT_MIN_MILLIS = 50;
/** The longest pause between attempts to listen again, in ms. */
export const DEFAULT_PG_RECONNECT_MAX_MILLIS = 2000;
/** While the listening connection is down, listeners are told `changed` this often, in ms. */
export const DEFAULT_PG_POLL_FALLBACK_MILLIS = 1000;
/** A burst of finishes sends one `changed` notification per this many ms at most. */
export const DEFAULT_PG_CHANGED_DEBOUNCE_MILLIS = 25;

/** What the notifier needs from the store. */
export interface PostgresNotifierOptions {
  /** Connection options of the store (the notifier opens one connection of its own). */
  connection: { url: string; options: Options<Record<string, never>> };
  /** The pool the store uses, for notifications the notifier sends itself. */
  sql: Sql;
  channel: string;
  /** This store instance's origin id. */
  origin: string;
  /** Errors of the listening connection (it keeps retrying). */
  onError: (error: unknown) => void;
  /** Default {@linkcode DEFAULT_PG_POLL_FALLBACK_MILLIS}. */
  pollFallbackMillis?: number;
}

/** A wire payload, as the store's SQL builds it. */
interface Payload {
  t: "i" | "x" | "c";
  o: string;
  q?: string;
  r?: number;
  id?: string;
}

/**
 * LISTEN/NOTIFY for one store. It listens from {@linkcode PostgresNotifier.start} (the store
 * awaits it in `open`) until `close`, whether or not anyone subscribed: a NOTIFY reaches only
 * sessions that were listening when it was committed, so a listener that subscribes later still
 * hears of every commit that follows its subscription. After a lost connection it listens again
 * (with backoff) and emits `changed` once; while it is down it emits `changed` every
 * `pollFallbackMillis`.
 */
export class PostgresNotifier extends LocalNotifier {
  readonly #options: PostgresNotifierOptions;
  readonly #pollFallbackMillis: number;
  #client: Sql | undefined;
  #listening = false;
  /** Bumped by every connect and disconnect; stale reconnect loops stop when it moved on. */
  #generation = 0;
  #closed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #changedTimer: ReturnType<typeof setTimeout> | undefined;
  #connected: Promise<void> = Promise.resolve();

  constructor(options: PostgresNotifierOptions) {
    super();
    this.#options = options;
    this.#pollFallbackMillis = options.pollFallbackMillis ?? DEFAULT_PG_POLL_FALLBACK_MILLIS;
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Resolves once the current connect attempt settled (tests await it before writing). */
  get connected(): Promise<void> {
    return this.#connected;
  }

  /** Tells this process's listeners, without sending anything to the database. */
  emitLocal(event: StoreEvent): void {
    super.notify(event);
  }

  /** Tells this process's listeners and, through NOTIFY, other processes'. */
  override notify(event: StoreEvent): void {
    super.notify(event);
    const payload: Payload = event.type === "inserted"
      ? { t: "i", o: this.#options.origin, q: event.queue, r: event.runAt }
      : event.type === "cancelRequested"
      ? { t: "x", o: this.#options.origin, id: event.id }
      : { t: "c", o: this.#options.origin };
    this.#send(payload);
  }

  /**
   * Tells other processes, at most once per {@linkcode DEFAULT_PG_CHANGED_DEBOUNCE_MILLIS},
   * that tasks changed (finished): their `waitFor` and workers re-read.
   */
  changedSoon(): void {
    if (this.#changedTimer !== undefined || this.#closed) return;
    this.#changedTimer = setTimeout(() => {
      this.#changedTimer = undefined;
      this.#send({ t: "c", o: this.#options.origin });
    }, DEFAULT_PG_CHANGED_DEBOUNCE_MILLIS);
  }

  override async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#changedTimer);
    await super.close();
    await this.#disconnect();
  }

  /** Starts listening; resolves once LISTEN is in place (or the first attempt failed). */
  start(): Promise<void> {
    if (this.#client === undefined && !this.#closed) this.#connected = this.#connect(false);
    return this.#connected;
  }

  #send(payload: Payload): void {
    if (this.#closed) return;
    this.#options.sql.unsafe("SELECT pg_notify($1, $2)", [
      this.#options.channel,
      JSON.stringify(payload),
    ]).catch(this.#options.onError);
  }

  #receive(text: string): void {
    let payload: Payload;
    try {
      payload = JSON.parse(text) as Payload;
    } catch {
      return; // not ours
    }
    if (payload.o === this.#options.origin) return;
    if (payload.t === "i" && typeof payload.q === "string" && typeof payload.r === "number") {
      this.emitLocal({ type: "inserted", queue: payload.q, runAt: payload.r });
    } else if (payload.t === "x" && typeof payload.id === "string") {
      this.emitLocal({ type: "cancelRequested", id: payload.id });
    } else if (payload.t === "c") {
      this.emitLocal({ type: "changed" });
    }
  }

  /** Opens the listening connection and LISTENs; on failure, retries with backoff. */
  async #connect(reconnect: boolean): Promise<void> {
    const generation = ++this.#generation;
    const { url, options } = this.#options.connection;
    const client = postgres(
      url,
      <Options<Record<string, never>>> {
        ...options,
        max: 1,
        idle_timeout: 0,
        max_lifetime: null,
        onnotify: (_channel: string, payload: string) => this.#receive(payload),
        onclose: () => {
          if (generation === this.#generation && this.#listening) this.#lost();
        },
      },
    );
    this.#client = client;
    await this.#listen(generation, reconnect, DEFAULT_PG_RECONNECT_MIN_MILLIS);
  }

  async #listen(generation: number, reconnect: boolean, pause: number): Promise<void> {
    const client = this.#client;
    if (client === undefined || generation !== this.#generation) return;
    try {
      await client.unsafe(`LISTEN "${this.#options.channel}"`);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#options.onError(error);
      this.#startPolling();
      this.#retryTimer = setTimeout(
        () =>
          void this.#listen(generation, true, Math.min(pause * 2, DEFAULT_PG_RECONNECT_MAX_MILLIS)),
        pause,
      );
      return;
    }
    if (generation !== this.#generation) return;
    this.#listening = true;
    this.#stopPolling();
    // Notifications sent while nobody listened are gone: listeners re-read once.
    if (reconnect) this.emitLocal({ type: "changed" });
  }

  /** The listening connection closed under us: listen again on a fresh one. */
  #lost(): void {
    this.#listening = false;
    const old = this.#client;
    this.#client = undefined;
    void old?.end({ timeout: 0 }).catch(() => {});
    if (this.#closed) return;
    this.#startPolling();
    this.#connected = this.#connect(true);
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined || this.#pollFallbackMillis <= 0) return;
    this.#pollTimer = setInterval(
      () => this.emitLocal({ type: "changed" }),
      this.#pollFallbackMillis,
    );
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  async #disconnect(): Promise<void> {
    this.#generation++;
    this.#listening = false;
    clearTimeout(this.#retryTimer);
    this.#stopPolling();
    const client = this.#client;
    this.#client = undefined;
    await client?.end({ timeout: 1 }).catch(() => {});
  }
}
