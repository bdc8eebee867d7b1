/**
 * `sockeye/cluster`: one server on every core. `cluster(options)` takes `serve()`'s options plus `workers`, and runs
 * that many worker processes sharing the port (node:cluster, round-robin), with topics across them, `stats()` and
 * `/metrics` summed over them, one graceful close for all, and a dead worker replaced.
 *
 * Cluster semantics: the script that calls `cluster()` runs in the primary and again in every worker. In the primary
 * `cluster()` forks the workers and resolves once they all listen; in a worker it starts the server and resolves with
 * it. Code after it runs in both: `c.isPrimary` tells which.
 *
 * @example
 * import { cluster } from 'sockeye/cluster';
 *
 * const c = await cluster({
 *   workers: 4,
 *   port: 8080,
 *   metrics: '/metrics',              // the sum over the workers
 *   websocket: {
 *     open(ws) { ws.subscribe('chat'); },
 *     message(ws, data, isBinary) { ws.publish('chat', data, isBinary); },   // reaches every worker's subscribers
 *   },
 * });
 * if (c.isPrimary) console.log(`listening on ${c.url} with ${c.pids().length} workers`);
 */

import nodeCluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import process from 'node:process';
import type { PubSubAdapter, ServeOptions, Server } from '../index.js';
import { CLOSE_DEADLINE_MS } from '../limits.js';
import { WORKER_ENV } from './messages.js';
import { type ClusterCloseResult, Primary } from './primary.js';
import type { ClusterStats } from './stats.js';
import { runWorker } from './worker.js';

export type { ClusterCloseResult } from './primary.js';
export type { ClusterStats, ClusterSupervisorStats, ClusterWorkerStats } from './stats.js';
export type { ClusterPubSubStats } from './worker.js';

/** Options of `cluster()`: `serve()`'s, plus the workers and their supervision. */
export interface ClusterOptions<T = unknown> extends Omit<ServeOptions<T>, 'pubsub'> {
  /** Worker processes. Default: `os.availableParallelism()`. */
  workers?: number;
  /**
   * Each worker's pub/sub adapter, made in the worker (not in the primary, which serves nothing). Default: topics
   * across this machine's workers, relayed by the primary over IPC. Give `() => redisPubSub({ url })` to make every
   * worker a node of a Redis-connected fleet instead (then Redis carries topics between workers too).
   */
  pubsub?: () => PubSubAdapter;
  /** Where the primary's lines go (a worker replaced and why, shutdown). Default: stderr, `sockeye cluster: ` first. */
  log?: (line: string) => void;
  /** Signals that close the whole cluster gracefully and end the primary. Default `['SIGINT', 'SIGTERM']`; `[]`:
   * none (close it yourself with `c.close()`). */
  signals?: readonly NodeJS.Signals[];
  /** The close deadline those signals use (ms). Default 10 s, as `server.close()`. */
  deadline?: number;
}

/** What `cluster()` resolves with, in the primary and in each worker. */
export interface Cluster {
  /** True in the primary (which serves nothing itself), false in a worker. */
  readonly isPrimary: boolean;
  /** This worker's server (`server.publish`, `server.stats()` of this worker alone); null in the primary. */
  readonly server: Server | null;
  /** This worker's slot, 1..N (a replacement takes the slot of the worker it replaces); 0 in the primary. */
  readonly workerId: number;
  /** The port the workers share, and their `http://host:port`. */
  readonly port: number;
  readonly url: string;
  /** Pids of the live workers (in the primary; in a worker, its own). */
  pids(): number[];
  /** The workers' `server.stats()` summed (see src/cluster/stats.ts), each worker, and the primary's counters. */
  stats(): Promise<ClusterStats>;
  /**
   * Closes every worker gracefully (1001 to every WebSocket, `deadline` ms for the close handshakes and in-flight
   * requests) and resolves with the counts summed. From a worker it asks the primary, and resolves when asked.
   */
  close(options?: { deadline?: number }): Promise<ClusterCloseResult | null>;
}

function defaultLog(line: string): void {
  process.stderr.write(`sockeye cluster: ${line}\n`);
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Runs `workers` processes serving `options` on one port (see the top of this file). In the primary, resolves once
 * every worker listens, and rejects (having stopped the others) when one cannot start; in a worker, resolves once
 * its server listens.
 */
export async function cluster<T = unknown>(options: ClusterOptions<T>): Promise<Cluster> {
  const { workers, pubsub, log, signals, deadline, metrics, ...serveOptions } = options;
  const n = workers ?? availableParallelism();
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`workers must be a positive integer, got ${String(n)}`);
  const closeDeadline = deadline ?? CLOSE_DEADLINE_MS;
  const onSignals = signals ?? ['SIGINT', 'SIGTERM'];
  const workerId = Number(process.env[WORKER_ENV] ?? 0);
  if (nodeCluster.isWorker && workerId > 0) {
    const metricsPath = metrics === undefined ? null : typeof metrics === 'string' ? metrics : metrics.path;
    const w = await runWorker({
      id: workerId,
      serveOptions: serveOptions as ServeOptions<unknown>,
      metricsPath,
      pubsub: pubsub ?? null,
      signals: onSignals,
    });
    return {
      isPrimary: false,
      server: w.server,
      workerId,
      port: w.server.port,
      url: w.server.url,
      pids: () => [process.pid],
      stats: w.stats,
      close: async (o = {}) => {
        w.shutdown(o.deadline ?? closeDeadline);
        return null;
      },
    };
  }
  const primary = new Primary({ workers: n, log: log ?? defaultLog, signals: onSignals, deadline: closeDeadline });
  await primary.start();
  return {
    isPrimary: true,
    server: null,
    workerId: 0,
    port: primary.port,
    url: urlOf(primary.address, primary.port),
    pids: () => primary.pids(),
    stats: () => primary.stats(),
    close: (o = {}) => primary.close(o.deadline ?? closeDeadline),
  };
}
