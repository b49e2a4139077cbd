/**
 * Wake-ups between processes on one host that share a SQLite file: each process that listens
 * binds a UDP socket on 127.0.0.1 and records its port in the `listeners` table; a process that
 * commits sends its store events to the other ports as one small datagram. A task enqueued by
 * the CLI or another application starts within about a millisecond, with no polling.
 * The `PRAGMA data_version` poll stays as the fallback (a lost datagram, another host's write).
 * @module
 */

import dgram from "node:dgram";
import { hostname } from "node:os";
import process from "node:process";
import type { StoreEvent } from "../store.ts";

/** Every datagram starts with this, so a stray packet on the port is ignored. */
const MAGIC = "aether-tasks/wake/1 ";
/** How long the list of other listeners is trusted before it is read again, in ms. */
const PEERS_TTL_MILLIS = 1000;
/** The longest a flush waits for a datagram to leave (see `end`). */
const SEND_WAIT_MILLIS = 100;
/** A `finished` event with more ids than this travels as `changed` (listeners re-read). */
const MAX_IDS_PER_EVENT = 64;

/** What the channel needs from its store: its table, read and written through the store. */
export interface WakeTable {
  register(row: { port: number; host: string; pid: number }): Promise<void>;
  unregister(port: number): Promise<void>;
  /** The ports of listeners on `host`, with their pids. */
  peers(host: string): Promise<{ port: number; pid: number }[]>;
  /** Removes the rows of these ports (their process is gone). */
  forget(ports: number[]): Promise<void>;
}

/** A process's end of the wake-up channel. */
export class WakeChannel {
  readonly #table: WakeTable;
  readonly #onEvents: (events: StoreEvent[]) => void;
  readonly #onError: (error: unknown) => void;
  readonly #host = hostname();
  #socket: dgram.Socket | undefined;
  #port = 0;
  #opening: Promise<void> | undefined;
  #peers: { port: number; pid: number }[] = [];
  #peersReadAt = -Infinity;
  #reading: Promise<void> | undefined;
  #outgoing: StoreEvent[] = [];
  /** Resolves once the sends queued so far are out. */
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    table: WakeTable,
    onEvents: (events: StoreEvent[]) => void,
    onError: (error: unknown) => void,
  ) {
    this.#table = table;
    this.#onEvents = onEvents;
    this.#onError = onError;
  }

  /** True while the socket is bound and its port recorded: other processes' commits wake us. */
  get listening(): boolean {
    return this.#listening;
  }
  #listening = false;

  /** Starts receiving (binds the socket, records the port). Idempotent. */
  open(): Promise<void> {
    this.#opening ??= this.#bind().catch((error) => {
      // A read-only database or no loopback: other processes' commits still arrive by polling.
      this.#socket?.close();
      this.#socket = undefined;
      this.#listening = false;
      this.#onError(error);
    });
    return this.#opening;
  }

  /** Stops receiving and removes the port's row. */
  async close(): Promise<void> {
    await this.#opening;
    this.#opening = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#listening = false;
    if (!socket) return;
    socket.close();
    await this.#table.unregister(this.#port).catch(() => {});
  }

  /**
   * For good: no more sends either. Events sent before are still delivered first, so a process
   * that writes and exits (the CLI's `cancel`) wakes the others.
   */
  async end(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.close();
  }

  /** Sends `event` to the other listeners, batched with others of this microtask. */
  send(event: StoreEvent): void {
    if (this.#closed || event.type === "changed") return;
    if (event.type === "finished" && event.ids.length > MAX_IDS_PER_EVENT) {
      event = { type: "changed" };
    }
    if (!this.#outgoing.length) {
      const flushing = new Promise<void>((resolve) =>
        queueMicrotask(() => void this.#flush().finally(resolve))
      );
      this.#flushing = this.#flushing.then(() => flushing);
    }
    this.#outgoing.push(event);
  }

  async #bind(): Promise<void> {
    const socket = dgram.createSocket("udp4");
    this.#socket = socket;
    socket.on("message", (message) => this.#receive(message.toString()));
    socket.on("error", (error) => this.#onError(error));
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.unref?.();
    this.#port = socket.address().port;
    await this.#table.register({ port: this.#port, host: this.#host, pid: process.pid });
    this.#listening = this.#socket === socket;
    await this.#pruneDead();
  }

  #receive(text: string): void {
    if (!text.startsWith(MAGIC)) return;
    let events: StoreEvent[];
    try {
      events = JSON.parse(text.slice(MAGIC.length)) as StoreEvent[];
      if (!Array.isArray(events)) return;
    } catch {
      return;
    }
    this.#onEvents(events);
  }

  async #flush(): Promise<void> {
    const events = this.#outgoing;
    this.#outgoing = [];
    if (!events.length) return;
    try {
      if (performance.now() - this.#peersReadAt > PEERS_TTL_MILLIS) await this.#readPeers();
      const targets = this.#peers.filter((p) => p.port !== this.#port);
      if (!targets.length) return;
      const sender = this.#socket ?? await this.#senderSocket();
      const data = MAGIC + JSON.stringify(compact(events));
      // Awaited (a socket closed right after, as by a process that writes and exits, drops unsent
      // data), but never longer than SEND_WAIT_MILLIS: a datagram is a hint, polling the fallback.
      await Promise.all(targets.map(({ port }) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, SEND_WAIT_MILLIS);
          sender.send(data, port, "127.0.0.1", () => {
            clearTimeout(timer);
            resolve();
          });
        })
      ));
    } catch (error) {
      this.#onError(error);
    }
  }

  #sender: dgram.Socket | undefined;
  /** A socket to send from when this process does not listen itself. */
  async #senderSocket(): Promise<dgram.Socket> {
    if (!this.#sender) {
      const socket = dgram.createSocket("udp4");
      socket.on("error", () => {});
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
      socket.unref?.();
      this.#sender = socket;
    }
    return this.#sender;
  }

  #readPeers(): Promise<void> {
    this.#reading ??= this.#table.peers(this.#host).then((peers) => {
      this.#peers = peers;
      this.#peersReadAt = performance.now();
    }).finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  /** Removes rows of listeners on this host whose process no longer exists. */
  async #pruneDead(): Promise<void> {
    await this.#readPeers();
    const dead = this.#peers.filter((p) => p.pid !== process.pid && !alive(p.pid));
    if (dead.length) await this.#table.forget(dead.map((p) => p.port));
  }

  /** Also closes the send-only socket. */
  dispose(): void {
    this.#sender?.close();
    this.#sender = undefined;
  }
}

/** Merges a batch: one `inserted` per queue (earliest due), cancel requests, finished ids. */
function compact(events: StoreEvent[]): StoreEvent[] {
  const inserted = new Map<string, number>();
  const out: StoreEvent[] = [];
  for (const event of events) {
    if (event.type === "inserted") {
      const runAt = inserted.get(event.queue);
      if (runAt === undefined || event.runAt < runAt) inserted.set(event.queue, event.runAt);
    } else out.push(event);
  }
  for (const [queue, runAt] of inserted) out.push({ type: "inserted", queue, runAt });
  return out;
}

/** Whether a process with this pid exists (EPERM means it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}
