/**
 * A worker's side of `cluster()`: it starts the application's server with the IPC pub/sub adapter, answers the
 * primary's questions (stats, close), and leaves signals to the primary.
 *
 * The adapter (`IpcPubSub`) is the public `PubSubAdapter` over the worker's IPC channel: a local publish goes to the
 * primary once (the primary relays it to the workers with subscribers of the topic, never back here: this worker's
 * own subscribers got it at publish time), and a relayed message is delivered to the local subscribers through
 * `hub.deliver`, which frames it once for all of them. The publishes of one event-loop turn travel to the primary
 * as one IPC message (an `Outbox` batch), and the primary relays the messages of its turn the same way.
 */

import type { Buffer } from 'node:buffer';
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
  bufferOf,
  CLOSE,
  CLOSED,
  CRASH,
  DELIVER,
  FAILED,
  isOurs,
  type Message,
  Outbox,
  PUBLISH,
  READY,
  SHUTDOWN,
  STATS,
  STATS_ALL,
  STATS_ALL_QUERY,
  STATS_QUERY,
  SUBSCRIBE,
  type TopicBatchMessage,
  UNSUBSCRIBE,
} from './messages.js';
import type { ClusterStats } from './stats.js';

/** `server.stats().pubsub` of a worker's IPC adapter. */
export interface ClusterPubSubStats extends Record<string, number | string> {
  /** `connected` while the worker's IPC channel to the primary is open, else `disconnected`. */
  state: string;
  /** Local publishes sent to the primary, and those that could not be (channel closed, or full: see limits.ts). */
  published: number;
  lost: number;
  /** IPC messages those publishes travelled in (one per event-loop turn with publishes, at most 64 KiB each). */
  batches: number;
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

function connected(): boolean {
  return process.connected;
}

/** The PubSubAdapter of a worker: topics across the workers of one machine, relayed by the primary. */
export class IpcPubSub implements PubSubAdapter {
  #hub: PubSubHub | null;
  readonly #topics: Set<string>;
  /** Every message to the primary goes through it, so that topic batches and the rest keep their order. */
  readonly outbox: Outbox;
  readonly #counts: { published: number; lost: number; received: number; delivered: number };

  constructor() {
    this.#hub = null;
    this.#topics = new Set();
    this.outbox = new Outbox(PUBLISH, send, connected);
    this.#counts = { published: 0, lost: 0, received: 0, delivered: 0 };
  }

  attach(hub: PubSubHub): void {
    this.#hub = hub;
    for (const topic of hub.topics()) this.subscribe(topic);
  }

  publish(topic: string, data: Buffer, isBinary: boolean): void {
    // Copied into the batch now, so `data` may be reused by the caller.
    if (!process.connected || !this.outbox.add(topic, data, 0, data.length, isBinary)) {
      this.#counts.lost++;
      return;
    }
    this.#counts.published++;
  }

  subscribe(topic: string): void {
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    this.outbox.send([SUBSCRIBE, topic]);
  }

  unsubscribe(topic: string): void {
    if (!this.#topics.delete(topic)) return;
    this.outbox.send([UNSUBSCRIBE, topic]);
  }

  /** @internal A batch of messages relayed by the primary, delivered in order. */
  deliver(m: TopicBatchMessage): void {
    const hub = this.#hub;
    if (hub === null) return;
    const [, topics, lengths, binary, bytes] = m;
    const all = bufferOf(bytes);
    let offset = 0;
    for (let i = 0; i < topics.length; i++) {
      const end = offset + (lengths[i] as number);
      this.#counts.received++;
      // A view, not a copy: a plain frame is encoded from it at once (header and payload copied into one buffer);
      // a compression queued for a connection keeps the batch's buffer (at most 64 KiB but for one big message)
      // alive until it has run.
      const r = hub.deliver(topics[i] as string, all.subarray(offset, end), binary[i] as boolean);
      this.#counts.delivered += r.sent + r.queued;
      offset = end;
    }
  }

  async close(): Promise<void> {
    this.outbox.flush();
  }

  stats(): ClusterPubSubStats {
    // Messages counted as published whose batch then found the channel closed are lost after all.
    const lostAtFlush = this.outbox.lostAtFlush;
    return {
      state: process.connected ? 'connected' : 'disconnected',
      published: this.#counts.published - lostAtFlush,
      lost: this.#counts.lost + lostAtFlush,
      batches: this.outbox.batches,
      received: this.#counts.received,
      delivered: this.#counts.delivered,
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
  // What the worker says goes after the topic messages published before it (one FIFO channel).
  const say = (m: Message, callback?: () => void): boolean =>
    ipc === null ? send(m, callback) : ipc.outbox.send(m, callback);
  const queries = new Map<number, { resolve: (s: ClusterStats) => void; reject: (e: Error) => void }>();
  let nextQuery = 1;
  const stats = (): Promise<ClusterStats> =>
    new Promise((resolve, reject) => {
      const id = nextQuery++;
      if (!say([STATS_ALL_QUERY, id])) {
        reject(new Error('the cluster primary is gone'));
        return;
      }
      queries.set(id, { resolve, reject });
    });
  const options: ServeOptions<unknown> = { ...setup.serveOptions, pubsub: adapter };
  if (setup.metricsPath !== null) options.metrics = { path: setup.metricsPath, stats };

  // An uncaught exception ends the worker as usual; the primary hears its message first, for its log line.
  process.on('uncaughtExceptionMonitor', (err) => {
    say([CRASH, err instanceof Error ? `${err.name}: ${err.message}` : String(err)]);
  });
  // A signal to a worker (Ctrl-C reaches the whole process group; systemd's control-group kill too) asks the
  // primary to close everything in order, instead of ending this worker alone without its 1001s.
  for (const signal of setup.signals) process.on(signal, () => say([SHUTDOWN, null]));

  let server: Server;
  try {
    server = await serve(options);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    say([FAILED, message], () => process.exit(1));
    setTimeout(() => process.exit(1), CLUSTER_EXIT_GRACE_MS).unref();
    throw err;
  }

  let closing = false;
  process.on('message', (m: unknown) => {
    if (!isOurs(m)) return;
    switch (m[0]) {
      case DELIVER:
        ipc?.deliver(m as unknown as TopicBatchMessage);
        break;
      case STATS_QUERY:
        say([STATS, m[1], server.stats()]);
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
          if (!say([CLOSED, result], () => process.exit(0))) process.exit(0);
        });
        break;
      }
    }
  });
  // If the primary dies, node:cluster ends the worker at once (child.js: an unexpected 'disconnect' exits).
  say([READY, server.port, server.hostname]);
  return {
    server,
    stats,
    shutdown: (deadline) => {
      say([SHUTDOWN, deadline ?? null]);
    },
  };
}
