/**
 * The sum of the workers' `server.stats()`: what `/metrics` and the cluster's `stats()` report.
 *
 * Every counter and gauge is summed (connections by state, accepted, rejected, requests, errors, ends by cause,
 * messages, frames, bytes, close codes, deflate, the pub/sub adapter's numbers); `uptimeSeconds` is the longest;
 * `listen` and `kernel` are one worker's, since every worker looks at the same listening socket and at
 * namespace-wide counters (summing would count them once per worker). A string (the adapter's `state`) is kept when every worker says
 * the same, else the distinct values are joined with `,`.
 */

import type { ServerStats } from '../index.js';

/** One worker, as the cluster's `stats()` lists it. */
export interface ClusterWorkerStats {
  /** Slot number, 1..N (a replacement takes the slot of the worker it replaces). */
  id: number;
  pid: number;
  /** Open connections of this worker (`connections.total`). */
  connections: number;
  /** Seconds since this worker's server started listening. */
  uptimeSeconds: number;
  /** This worker's pub/sub adapter counters (`server.stats().pubsub`). */
  pubsub: Record<string, number | string> | null;
}

/** The figures of the primary itself. */
export interface ClusterSupervisorStats {
  /** Workers asked for, and workers that answered this `stats()` call (those summed). */
  workers: number;
  answered: number;
  /** Workers that died without being asked to (crashes, kills) and replacements started, since the start. */
  crashes: number;
  restarts: number;
  /** Topic messages the primary relayed to a worker, and relays it dropped because that worker's IPC channel held
   * CLUSTER_IPC_MAX_PENDING_BYTES already. */
  relayed: number;
  relayLost: number;
  /** IPC messages those relays travelled in: one per worker per event-loop turn of the primary with relays for it
   * (at most CLUSTER_IPC_BATCH_BYTES of payload each). */
  relayBatches: number;
}

/** `stats()` of a cluster: the sum of the workers' `server.stats()` (see src/cluster/stats.ts), each worker, and
 * the primary's own counters. */
export interface ClusterStats extends ServerStats {
  cluster: ClusterSupervisorStats & { perWorker: ClusterWorkerStats[] };
}

/** Sums the workers' stats (see the top of this file). `list` must not be empty. */
export function sumStats(list: readonly ServerStats[]): ServerStats {
  const first = list[0] as ServerStats;
  let sum = structuredClone(first) as unknown as Record<string, unknown>;
  for (let i = 1; i < list.length; i++) sum = add(sum, list[i]) as Record<string, unknown>;
  const out = sum as unknown as ServerStats;
  out.uptimeSeconds = Math.max(...list.map((s) => s.uptimeSeconds));
  out.listen = structuredClone(first.listen);
  out.kernel = structuredClone(first.kernel);
  return out;
}

function add(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === null || a === undefined) return b === undefined ? a : structuredClone(b);
  if (b === null || b === undefined) return a;
  if (typeof a === 'string' && typeof b === 'string') {
    if (a === b || a.split(',').includes(b)) return a;
    return `${a},${b}`;
  }
  if (typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    for (const k of Object.keys(y)) x[k] = add(x[k], y[k]);
    return x;
  }
  return a;
}
