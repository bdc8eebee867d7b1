/**
 * What the primary and its workers say to each other over the cluster's IPC channel (node:cluster, with the
 * `advanced` serialization: Buffers travel as bytes, not as JSON arrays). Each message is an array whose first
 * element is a tag starting with `sockeye:`, so that an application's own IPC messages are left alone.
 *
 * The channel is a pipe: messages arrive in the order they were sent, which is what keeps topic messages in publish
 * order per publisher (worker → primary → worker, both hops FIFO).
 */

import type { Buffer } from 'node:buffer';
import type { CloseResult, ServerStats } from '../index.js';
import { CLUSTER_IPC_MAX_PENDING_BYTES } from '../limits.js';

// Worker → primary.
/** `[READY, port, address]`: the worker's server listens. */
export const READY = 'sockeye:ready';
/** `[FAILED, message]`: the worker's server did not start. */
export const FAILED = 'sockeye:failed';
/** `[CRASH, message]`: an uncaught exception is about to end the worker (sent best-effort, for the log). */
export const CRASH = 'sockeye:crash';
/** `[SUBSCRIBE, topic]` / `[UNSUBSCRIBE, topic]`: the worker's first local subscriber of a topic came / its last left. */
export const SUBSCRIBE = 'sockeye:sub';
export const UNSUBSCRIBE = 'sockeye:unsub';
/** `[PUBLISH, topic, data, isBinary]`: a message published in the worker, for the other workers. */
export const PUBLISH = 'sockeye:pub';
/** `[STATS, id, stats]`: the worker's `server.stats()` (answers STATS_QUERY). */
export const STATS = 'sockeye:stats';
/** `[STATS_ALL_QUERY, id]`: a worker asks for the sum over every worker. */
export const STATS_ALL_QUERY = 'sockeye:stats-all?';
/** `[CLOSED, result]`: the worker's server closed (answers CLOSE). */
export const CLOSED = 'sockeye:closed';
/** `[SHUTDOWN, deadline | null]`: a worker asks for the whole cluster to close (its `close()`, or a signal it got). */
export const SHUTDOWN = 'sockeye:shutdown';

// Primary → worker.
/** `[DELIVER, topic, data, isBinary]`: a message another worker published to a topic this worker listens to. */
export const DELIVER = 'sockeye:deliver';
/** `[STATS_QUERY, id]`: send your `server.stats()`. */
export const STATS_QUERY = 'sockeye:stats?';
/** `[STATS_ALL, id, stats | null, error]`: the sum the worker asked for. */
export const STATS_ALL = 'sockeye:stats-all';
/** `[CLOSE, deadline]`: close your server gracefully, answer CLOSED, and exit. */
export const CLOSE = 'sockeye:close';

/** The environment variable that tells a forked process it is a sockeye worker, and its slot number (1..N). */
export const WORKER_ENV = 'SOCKEYE_CLUSTER_WORKER';

export type Message = readonly [tag: string, ...rest: unknown[]];

/** Whether `m` is one of ours (any other IPC message belongs to the application). */
export function isOurs(m: unknown): m is Message {
  return Array.isArray(m) && typeof m[0] === 'string' && m[0].startsWith('sockeye:');
}

/** A published message as it crosses a channel: the topic, the bytes, the text/binary flag. */
export type TopicMessage = readonly [tag: string, topic: string, data: Buffer, isBinary: boolean];

/**
 * Bytes of topic messages written to one IPC channel and not yet flushed to the pipe. An IPC channel has no
 * `'drain'`: its `send` callback fires once a message is written, in send order, so the sizes wait in a FIFO and
 * each callback retires the oldest. Past CLUSTER_IPC_MAX_PENDING_BYTES, `admit` says no: the caller counts the
 * message as lost instead of growing the queue of a stuck peer without bound.
 */
export class IpcBudget {
  pending: number;
  #sizes: number[];
  #head: number;
  /** The send callback: one function per channel, no closure per message. */
  readonly sent: () => void;

  constructor() {
    this.pending = 0;
    this.#sizes = [];
    this.#head = 0;
    this.sent = () => {
      this.pending -= this.#sizes[this.#head++] ?? 0;
      if (this.#head >= 1024 && this.#head * 2 >= this.#sizes.length) {
        this.#sizes = this.#sizes.slice(this.#head);
        this.#head = 0;
      }
    };
  }

  /** Reserves `bytes` for a message about to be sent, or returns false when the channel holds too much already. */
  admit(bytes: number): boolean {
    if (this.pending > 0 && this.pending + bytes > CLUSTER_IPC_MAX_PENDING_BYTES) return false;
    this.pending += bytes;
    this.#sizes.push(bytes);
    return true;
  }
}

/** Topic bytes plus the payload: what a topic message weighs in a channel, near enough. */
export function weight(topic: string, data: Buffer): number {
  return topic.length + data.length + 32;
}

export type { CloseResult, ServerStats };
