/**
 * A worker's side of `cluster()`: it starts the application's server with the IPC pub/sub adapter, answers the
 * primary's questions (stats, close), and leaves signals to the primary.
 *
 * The adapter (`IpcPubSub`) is the public `PubSubAdapter` over the worker's IPC channel: a local publish goes to the
 * primary once (the primary relays it to the workers with subscribers of the topic, never back here: this worker's
 * own subscribers got it at publish time), and a relayed message is delivered to the local subscribers through
 * `hub.deliver`, which frames it once for all of them.
 */

import { Buffer } from 'node:buffer';
import process from 'node:process';
import {
  type CloseResult,
  type PubSubAdapter,
  type PubSubHub,
  type ServeOptions,
  type Server,
  serve,
} from '../index.js';
import { CLUSTER_EXIT_GRACE_MS } from '../limits.js';
import {
  CLOSE,
  CLOSED,
  CRASH,
  DELIVER,
  FAILED,
  IpcBudget,
  isOurs,
  type Message,
  PUBLISH,
  READY,
  SHUTDOWN,
  STATS,
  STATS_ALL,
  STATS_ALL_QUERY,
  STATS_QUERY,
  SUBSCRIBE,
  UNSUBSCRIBE,
  weight,
} from './messages.js';
import type { ClusterStats } from './stats.js';

/** `server.stats().pubsub` of a worker's IPC adapter. */
export interface ClusterPubSubStats extends Record<string, number | string> {
  /** `connected` while the worker's IPC channel to the primary is open, else `disconnected`. */
  state: string;
  /** Local publishes sent to the primary, and those that could not be (channel closed, or full: see limits.ts). */
  published: number;
  lost: number;
  /** Messages other workers published that reached this worker, and the local deliveries they made. */
  received: number;
  delivered: number;
  /** Topics this worker has local subscribers for (and told the primary about). */
  topics: number;
}

function send(m: Message, callback?: () => void): boolean {
  if (process.send === undefined || !process.connected) return false;
  // biome-ignore lint/suspicious/noExplicitAny: process.send's callback overload wants an Error-taking function
  return process.send(m, undefined, undefined, callback as any);
}

/** The PubSubAdapter of a worker: topics across the workers of one machine, relayed by the primary. */
export class IpcPubSub implements PubSubAdapter {
  #hub: PubSubHub | null;
  readonly #topics: Set<string>;
  readonly #budget: IpcBudget;
  readonly #counts: { published: number; lost: number; received: number; delivered: number };

  constructor() {
    this.#hub = null;
    this.#topics = new Set();
    this.#budget = new IpcBudget();
    this.#counts = { published: 0, lost: 0, received: 0, delivered: 0 };
  }

  attach(hub: PubSubHub): void {
    this.#hub = hub;
    for (const topic of hub.topics()) this.subscribe(topic);
  }

  publish(topic: string, data: Buffer, isBinary: boolean): void {
    // Serialized now (process.send copies the bytes before it returns), so `data` may be reused by the caller.
    if (!process.connected || !this.#budget.admit(weight(topic, data))) {
      this.#counts.lost++;
      return;
    }
    send([PUBLISH, topic, data, isBinary], this.#budget.sent);
    this.#counts.published++;
  }

  subscribe(topic: string): void {
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    send([SUBSCRIBE, topic]);
  }

  unsubscribe(topic: string): void {
    if (!this.#topics.delete(topic)) return;
    send([UNSUBSCRIBE, topic]);
  }

  /** @internal A message relayed by the primary. */
  deliver(topic: string, data: Buffer, isBinary: boolean): void {
    const hub = this.#hub;
    if (hub === null) return;
    this.#counts.received++;
    const r = hub.deliver(topic, data, isBinary);
    this.#counts.delivered += r.sent + r.queued;
  }

  async close(): Promise<void> {}

  stats(): ClusterPubSubStats {
    return {
      state: process.connected ? 'connected' : 'disconnected',
      ...this.#counts,
      topics: this.#topics.size,
    };
  }
}

/** What a worker needs from `cluster()`'s options. */
export interface WorkerSetup {
  id: number;
  serveOptions: ServeOptions<unknown>;
  metricsPath: string | null;
  pubsub: (() => PubSubAdapter) | null;
  signals: readonly NodeJS.Signals[];
}

/** The worker's handle: its server, and questions for the primary. */
export interface WorkerHandle {
  server: Server;
  stats(): Promise<ClusterStats>;
  shutdown(deadline: number | undefined): void;
}

/** Starts the worker's server and wires it to the primary. Exits the process if the server does not start. */
export async function runWorker(setup: WorkerSetup): Promise<WorkerHandle> {
  const ipc = setup.pubsub === null ? new IpcPubSub() : null;
  const adapter = setup.pubsub === null ? (ipc as IpcPubSub) : setup.pubsub();
  const queries = new Map<number, { resolve: (s: ClusterStats) => void; reject: (e: Error) => void }>();
  let nextQuery = 1;
  const stats = (): Promise<ClusterStats> =>
    new Promise((resolve, reject) => {
      const id = nextQuery++;
      if (!send([STATS_ALL_QUERY, id])) {
        reject(new Error('the cluster primary is gone'));
        return;
      }
      queries.set(id, { resolve, reject });
    });
  const options: ServeOptions<unknown> = { ...setup.serveOptions, pubsub: adapter };
  if (setup.metricsPath !== null) options.metrics = { path: setup.metricsPath, stats };

  // An uncaught exception ends the worker as usual; the primary hears its message first, for its log line.
  process.on('uncaughtExceptionMonitor', (err) => {
    send([CRASH, err instanceof Error ? `${err.name}: ${err.message}` : String(err)]);
  });
  // A signal to a worker (Ctrl-C reaches the whole process group; systemd's control-group kill too) asks the
  // primary to close everything in order, instead of ending this worker alone without its 1001s.
  for (const signal of setup.signals) process.on(signal, () => send([SHUTDOWN, null]));

  let server: Server;
  try {
    server = await serve(options);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    send([FAILED, message], () => process.exit(1));
    setTimeout(() => process.exit(1), CLUSTER_EXIT_GRACE_MS).unref();
    throw err;
  }

  let closing = false;
  process.on('message', (m: unknown) => {
    if (!isOurs(m)) return;
    switch (m[0]) {
      case DELIVER: {
        const data = m[2] as Uint8Array;
        ipc?.deliver(
          m[1] as string,
          Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
          m[3] as boolean,
        );
        break;
      }
      case STATS_QUERY:
        send([STATS, m[1], server.stats()]);
        break;
      case STATS_ALL: {
        const q = queries.get(m[1] as number);
        queries.delete(m[1] as number);
        if (m[2] === null) q?.reject(new Error(m[3] as string));
        else q?.resolve(m[2] as ClusterStats);
        break;
      }
      case CLOSE: {
        if (closing) break;
        closing = true;
        const deadline = m[1] as number;
        server.close({ deadline }).then((result: CloseResult) => {
          // Exit once the answer is written (pipes are written in order, and stdout/stderr pipes synchronously).
          if (!send([CLOSED, result], () => process.exit(0))) process.exit(0);
        });
        break;
      }
    }
  });
  // If the primary dies, node:cluster ends the worker at once (child.js: an unexpected 'disconnect' exits).
  send([READY, server.port, server.hostname]);
  return {
    server,
    stats,
    shutdown: (deadline) => {
      send([SHUTDOWN, deadline ?? null]);
    },
  };
}
