/**
 * The primary's side of `cluster()`: it forks the workers (node:cluster, round-robin: the primary accepts and hands
 * each connection to the next worker), replaces a worker that dies (logging why, with a backoff when one keeps
 * dying at start), relays topic messages between workers by interest, sums their stats, and closes them all.
 *
 * Interest-based relay: each worker tells the primary when a topic gains its first and loses its last local
 * subscriber; a message a worker publishes goes only to the other workers with subscribers of its topic (never back
 * to its publisher), each getting it once and framing it once for all its subscribers. Both hops (worker → primary
 * → worker) are FIFO pipes and the primary relays in arrival order: messages of one publisher to one topic reach
 * every subscriber in publish order. Both hops are batched per event-loop turn: a worker sends the publishes of its
 * turn as one IPC message, and the primary sends each worker the relayed messages of its own turn as one (Outbox).
 */

import cluster, { type Worker } from 'node:cluster';
import process from 'node:process';
import type { CloseResult, ServerStats } from '../index.js';
import {
  CLUSTER_CRASH_LOOP_MS,
  CLUSTER_EXIT_GRACE_MS,
  CLUSTER_RESPAWN_MAX_DELAY_MS,
  CLUSTER_RESPAWN_MIN_DELAY_MS,
  CLUSTER_STATS_TIMEOUT_MS,
} from '../limits.js';
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
  WORKER_ENV,
} from './messages.js';
import { type ClusterStats, type ClusterWorkerStats, sumStats } from './stats.js';

/** What `close()` of a cluster reports: the workers' close results summed. */
export interface ClusterCloseResult extends CloseResult {
  /** Workers that closed and reported their counts. */
  workers: number;
  /** Workers that had not exited CLUSTER_EXIT_GRACE_MS after the deadline and were killed (SIGKILL). */
  killed: number;
}

/** What the primary needs from `cluster()`'s options. */
export interface PrimarySetup {
  workers: number;
  log: (line: string) => void;
  signals: readonly NodeJS.Signals[];
  deadline: number;
}

type StatsWaiter = (s: ServerStats | null) => void;

/** One worker slot (1..N): the live worker in it, what it subscribes to, its outbox of relayed messages. */
class Slot {
  readonly id: number;
  worker: Worker | null;
  pid: number;
  ready: boolean;
  startedAt: number;
  readonly topics: Set<string>;
  /** Relayed messages for this worker, sent once per event-loop turn; every other message goes through it too. */
  readonly outbox: Outbox;
  /** Why it is dying, if it said so (an uncaught exception, a failed start). */
  lastWords: string | null;
  crashesInRow: number;
  respawnTimer: NodeJS.Timeout | null;
  closeResult: CloseResult | null;
  readonly statsWaiters: Map<number, StatsWaiter>;

  constructor(id: number) {
    this.id = id;
    this.worker = null;
    this.pid = 0;
    this.ready = false;
    this.startedAt = 0;
    this.topics = new Set();
    this.outbox = new Outbox(
      DELIVER,
      (m, callback) => this.write(m, callback),
      () => this.worker?.isConnected() ?? false,
    );
    this.lastWords = null;
    this.crashesInRow = 0;
    this.respawnTimer = null;
    this.closeResult = null;
    this.statsWaiters = new Map();
  }

  /** Sends `m` after the relayed messages gathered so far. */
  send(m: Message, callback?: () => void): boolean {
    return this.outbox.send(m, callback);
  }

  write(m: Message, callback?: () => void): boolean {
    const w = this.worker;
    if (w === null || !w.isConnected()) return false;
    // biome-ignore lint/suspicious/noExplicitAny: worker.send's callback overload wants an Error-taking function
    return w.send(m, undefined, callback as any);
  }
}

export class Primary {
  readonly #setup: PrimarySetup;
  readonly #slots: Slot[];
  /** Topic → the slots with local subscribers of it. */
  readonly #interest: Map<string, Set<Slot>>;
  readonly #counts: { crashes: number; restarts: number; relayed: number; relayLost: number };
  #starting: { resolve: () => void; reject: (e: Error) => void } | null;
  #closing: Promise<ClusterCloseResult> | null;
  #onAllExited: (() => void) | null;
  #nextQuery: number;
  #signalled: boolean;
  port: number;
  address: string;

  constructor(setup: PrimarySetup) {
    this.#setup = setup;
    this.#slots = [];
    for (let i = 1; i <= setup.workers; i++) this.#slots.push(new Slot(i));
    this.#interest = new Map();
    this.#counts = { crashes: 0, restarts: 0, relayed: 0, relayLost: 0 };
    this.#starting = null;
    this.#closing = null;
    this.#onAllExited = null;
    this.#nextQuery = 1;
    this.#signalled = false;
    this.port = 0;
    this.address = '';
  }

  /** Forks every worker; resolves once all of them listen, rejects (and stops the others) if one cannot start. */
  start(): Promise<void> {
    // Round-robin is node:cluster's default except on Windows; said explicitly, since the docs rely on it.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    // Buffers cross the channel as bytes (structured clone), not as JSON arrays of numbers.
    cluster.setupPrimary({ serialization: 'advanced' });
    for (const signal of this.#setup.signals) process.on(signal, () => this.#onSignal(signal));
    return new Promise((resolve, reject) => {
      this.#starting = { resolve, reject };
      for (const slot of this.#slots) this.#fork(slot);
    });
  }

  /** Pids of the live workers, by slot. */
  pids(): number[] {
    return this.#slots.filter((s) => s.worker !== null).map((s) => s.pid);
  }

  #fork(slot: Slot): void {
    slot.respawnTimer = null;
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.id) });
    slot.worker = worker;
    slot.pid = worker.process.pid ?? 0;
    slot.ready = false;
    slot.startedAt = Date.now();
    // A new worker starts with an empty channel: what was gathered for the dead one is lost with it.
    slot.outbox.drop();
    slot.lastWords = null;
    slot.closeResult = null;
    // A send to a worker that just died reports here; its 'exit' does the cleanup.
    worker.on('error', () => {});
    worker.on('message', (m: unknown) => {
      if (isOurs(m)) this.#onMessage(slot, m);
    });
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(slot, worker, code, signal));
  }

  #onMessage(slot: Slot, m: Message): void {
    switch (m[0]) {
      case PUBLISH:
        this.#relay(slot, m as unknown as TopicBatchMessage);
        break;
      case SUBSCRIBE: {
        const topic = m[1] as string;
        slot.topics.add(topic);
        let set = this.#interest.get(topic);
        if (set === undefined) {
          set = new Set();
          this.#interest.set(topic, set);
        }
        set.add(slot);
        break;
      }
      case UNSUBSCRIBE:
        this.#forget(slot, m[1] as string);
        break;
      case READY:
        this.#onReady(slot, m[1] as number, m[2] as string);
        break;
      case STATS: {
        const waiter = slot.statsWaiters.get(m[1] as number);
        slot.statsWaiters.delete(m[1] as number);
        waiter?.(m[2] as ServerStats);
        break;
      }
      case STATS_ALL_QUERY:
        this.stats().then(
          (s) => slot.send([STATS_ALL, m[1], s, '']),
          (e: unknown) => slot.send([STATS_ALL, m[1], null, e instanceof Error ? e.message : String(e)]),
        );
        break;
      case CLOSED:
        slot.closeResult = m[1] as CloseResult;
        break;
      case FAILED:
      case CRASH:
        slot.lastWords = m[1] as string;
        break;
      case SHUTDOWN:
        this.#shutdownAndExit(typeof m[1] === 'number' ? m[1] : this.#setup.deadline, `worker ${slot.id} asked`);
        break;
    }
  }

  /** Relays a worker's batch, message by message in order, into the outbox of each other interested worker. */
  #relay(from: Slot, m: TopicBatchMessage): void {
    const [, topics, lengths, binary, bytes] = m;
    const all = bufferOf(bytes);
    let offset = 0;
    for (let i = 0; i < topics.length; i++) {
      const end = offset + (lengths[i] as number);
      const set = this.#interest.get(topics[i] as string);
      if (set !== undefined) {
        for (const to of set) {
          // The publisher's own subscribers got it at publish time.
          if (to === from) continue;
          if (to.worker !== null && to.outbox.add(topics[i] as string, all, offset, end, binary[i] as boolean))
            this.#counts.relayed++;
          else this.#counts.relayLost++;
        }
      }
      offset = end;
    }
  }

  #forget(slot: Slot, topic: string): void {
    slot.topics.delete(topic);
    const set = this.#interest.get(topic);
    if (set === undefined) return;
    set.delete(slot);
    if (set.size === 0) this.#interest.delete(topic);
  }

  #onReady(slot: Slot, port: number, address: string): void {
    slot.ready = true;
    this.port = port;
    this.address = address;
    const starting = this.#starting;
    if (starting !== null) {
      if (this.#slots.every((s) => s.ready)) {
        this.#starting = null;
        starting.resolve();
      }
      return;
    }
    this.#setup.log(`worker ${slot.id} (pid ${slot.pid}) is serving`);
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    for (const topic of [...slot.topics]) this.#forget(slot, topic);
    for (const waiter of slot.statsWaiters.values()) waiter(null);
    slot.statsWaiters.clear();
    if (this.#closing !== null) {
      if (this.#slots.every((s) => s.worker === null)) this.#onAllExited?.();
      return;
    }
    const cause = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const words = slot.lastWords === null ? '' : ` (${slot.lastWords})`;
    const starting = this.#starting;
    if (starting !== null) {
      // A worker that cannot start now will not start on retry either (port taken, bad options): stop.
      this.#starting = null;
      const err = new Error(`worker ${slot.id} (pid ${slot.pid}) ${cause} before it listened${words}`);
      this.close(0).then(
        () => starting.reject(err),
        () => starting.reject(err),
      );
      return;
    }
    this.#counts.crashes++;
    const lived = Date.now() - slot.startedAt;
    slot.crashesInRow = lived < CLUSTER_CRASH_LOOP_MS ? slot.crashesInRow + 1 : 0;
    const delay =
      slot.crashesInRow === 0
        ? 0
        : Math.min(CLUSTER_RESPAWN_MIN_DELAY_MS * 2 ** (slot.crashesInRow - 1), CLUSTER_RESPAWN_MAX_DELAY_MS);
    this.#setup.log(
      `worker ${slot.id} (pid ${slot.pid}) ${cause}${words}; its connections are lost; ` +
        (delay === 0
          ? 'starting a replacement'
          : `starting a replacement in ${delay} ms (it died ${slot.crashesInRow} times in a row within ${CLUSTER_CRASH_LOOP_MS} ms of starting)`),
    );
    this.#counts.restarts++;
    if (delay === 0) this.#fork(slot);
    else slot.respawnTimer = setTimeout(() => this.#fork(slot), delay);
  }

  /** The workers' stats summed, each worker, and the primary's counters. Rejects when no worker answers. */
  async stats(): Promise<ClusterStats> {
    const live = this.#slots.filter((s) => s.ready);
    const id = this.#nextQuery++;
    const answers = await Promise.all(
      live.map(
        (slot) =>
          new Promise<[Slot, ServerStats | null]>((resolve) => {
            const timer = setTimeout(() => {
              slot.statsWaiters.delete(id);
              resolve([slot, null]);
            }, CLUSTER_STATS_TIMEOUT_MS);
            slot.statsWaiters.set(id, (s) => {
              clearTimeout(timer);
              resolve([slot, s]);
            });
            if (!slot.send([STATS_QUERY, id])) slot.statsWaiters.get(id)?.(null);
          }),
      ),
    );
    const got = answers.filter((a): a is [Slot, ServerStats] => a[1] !== null);
    const lostAtFlush = this.#slots.reduce((n, s) => n + s.outbox.lostAtFlush, 0);
    if (got.length === 0) throw new Error('no worker answered');
    const perWorker: ClusterWorkerStats[] = got.map(([slot, s]) => ({
      id: slot.id,
      pid: slot.pid,
      connections: s.connections.total,
      uptimeSeconds: s.uptimeSeconds,
      pubsub: s.pubsub,
    }));
    return {
      ...sumStats(got.map((a) => a[1])),
      cluster: {
        workers: this.#slots.length,
        answered: got.length,
        ...this.#counts,
        // Relays counted when gathered whose batch then found the worker gone are lost after all.
        relayed: this.#counts.relayed - lostAtFlush,
        relayLost: this.#counts.relayLost + lostAtFlush,
        relayBatches: this.#slots.reduce((n, s) => n + s.outbox.batches, 0),
        perWorker,
      },
    };
  }

  /**
   * Closes every worker gracefully (each sends its WebSockets 1001 and waits for their close handshakes until
   * `deadline` ms), kills any that has not exited CLUSTER_EXIT_GRACE_MS later, and resolves with the counts summed.
   */
  close(deadline: number): Promise<ClusterCloseResult> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = new Promise<ClusterCloseResult>((resolve) => {
      const result: ClusterCloseResult = { closed: 0, terminated: 0, workers: 0, killed: 0 };
      let killTimer: NodeJS.Timeout | null = null;
      const finish = () => {
        if (killTimer !== null) clearTimeout(killTimer);
        this.#onAllExited = null;
        for (const slot of this.#slots) {
          const r = slot.closeResult;
          if (r === null) continue;
          result.workers++;
          result.closed += r.closed;
          result.terminated += r.terminated;
        }
        resolve(result);
      };
      this.#onAllExited = finish;
      for (const slot of this.#slots) {
        if (slot.respawnTimer !== null) clearTimeout(slot.respawnTimer);
        slot.respawnTimer = null;
        const w = slot.worker;
        if (w === null) continue;
        // A worker still starting serves nobody yet: it is stopped; the others close in order.
        if (!slot.ready || !slot.send([CLOSE, deadline])) w.process.kill('SIGKILL');
      }
      if (this.#slots.every((s) => s.worker === null)) {
        finish();
        return;
      }
      killTimer = setTimeout(() => {
        for (const slot of this.#slots) {
          if (slot.worker === null) continue;
          result.killed++;
          slot.worker.process.kill('SIGKILL');
        }
      }, deadline + CLUSTER_EXIT_GRACE_MS);
    });
    return this.#closing;
  }

  #onSignal(signal: NodeJS.Signals): void {
    // A signal sent to the process group (Ctrl-C, `timeout`, systemd) reaches the workers too, and one of them may
    // have asked for the close already: only a second signal to the primary itself means "stop waiting".
    const again = this.#signalled;
    this.#signalled = true;
    if (this.#closing !== null) {
      if (!again) return;
      this.#setup.log(`${signal} again: killing the workers`);
      for (const slot of this.#slots) slot.worker?.process.kill('SIGKILL');
      return;
    }
    this.#shutdownAndExit(this.#setup.deadline, signal);
  }

  #shutdownAndExit(deadline: number, why: string): void {
    if (this.#closing !== null) return;
    this.#setup.log(`${why}: closing ${this.#slots.length} workers (deadline ${deadline} ms)`);
    this.close(deadline).then((r) => {
      this.#setup.log(
        `closed: ${r.workers} workers, ${r.closed} connections closed, ${r.terminated} terminated at the deadline` +
          (r.killed > 0 ? `, ${r.killed} workers killed` : ''),
      );
      process.exit(0);
    });
  }
}
