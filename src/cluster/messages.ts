/**
 * What the primary and its workers say to each other over the cluster's IPC channel (node:cluster, with the
 * `advanced` serialization: Buffers travel as bytes, not as JSON arrays). Each message is an array whose first
 * element is a tag starting with `sockeye:`, so that an application's own IPC messages are left alone.
 *
 * The channel is a pipe: messages arrive in the order they were sent, which is what keeps topic messages in publish
 * order per publisher (worker → primary → worker, both hops FIFO).
 */

import { Buffer } from 'node:buffer';
import type { CloseResult, ServerStats } from '../index.js';
import { CLUSTER_IPC_BATCH_BYTES, CLUSTER_IPC_MAX_PENDING_BYTES } from '../limits.js';

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
/** `[PUBLISH, topics, lengths, binary, bytes]`: the messages published in the worker during one event-loop turn, for
 * the other workers (see TopicBatchMessage). */
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
/** `[DELIVER, topics, lengths, binary, bytes]`: messages other workers published to topics this worker listens to,
 * relayed during one event-loop turn of the primary (see TopicBatchMessage). */
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

/**
 * Bytes of topic messages handed to one IPC channel and not yet written to the pipe: those in the batch being
 * gathered, and those of batches sent whose write has not completed. An IPC channel has no `'drain'`: its `send`
 * callback fires once a message is written, in send order, so the batch sizes wait in a FIFO and each callback
 * retires the oldest. Past CLUSTER_IPC_MAX_PENDING_BYTES, `admit` says no: the caller counts the message as lost
 * instead of growing the queue of a stuck peer without bound.
 */
export class IpcBudget {
  pending: number;
  /** Bytes admitted into the batch being gathered (not yet in the FIFO). */
  #open: number;
  #sizes: number[];
  #head: number;
  /** The send callback: one function per channel, no closure per message. */
  readonly sent: () => void;

  constructor() {
    this.pending = 0;
    this.#open = 0;
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

  /** Reserves `bytes` for a message joining the batch, or returns false when the channel holds too much already. */
  admit(bytes: number): boolean {
    if (this.pending > 0 && this.pending + bytes > CLUSTER_IPC_MAX_PENDING_BYTES) return false;
    this.pending += bytes;
    this.#open += bytes;
    return true;
  }

  /** The batch is being sent: its bytes wait for the send callback. */
  seal(): void {
    this.#sizes.push(this.#open);
    this.#open = 0;
  }

  /** The batch could not be sent (the channel is closed): its bytes are released. */
  release(): void {
    this.pending -= this.#open;
    this.#open = 0;
  }
}

/** Topic bytes plus the payload: what a topic message weighs in a channel, near enough. */
export function weight(topic: string, length: number): number {
  return topic.length + length + 32;
}

/**
 * The topic messages of one batch as they cross a channel: `[tag, topics, lengths, binary, bytes]`, message i being
 * `topics[i]`, the next `lengths[i]` bytes of `bytes`, and its text/binary flag. One IPC message (one structured
 * clone, one pipe write, one read and one deserialization on the other side) carries every message of a turn.
 */
export type TopicBatchMessage = readonly [
  tag: string,
  topics: string[],
  lengths: number[],
  binary: boolean[],
  bytes: Uint8Array,
];

/**
 * The topic messages published to one IPC channel during one event-loop turn, flushed as one IPC message at the end
 * of the turn (setImmediate: after every I/O callback of the turn, so a burst of publishes from many sockets' reads
 * travels together), or earlier when the batch reaches CLUSTER_IPC_BATCH_BYTES. Payloads are copied into one reused
 * buffer as they come (the caller may reuse its bytes at once: a received message can be a view of a shared read
 * buffer), and the arrays are reused too: `process.send` serializes them before it returns. Order is kept: messages
 * leave in the order they were added, and `send` (every other message on the channel) flushes the batch first, so
 * the channel stays a FIFO of everything said on it.
 */
export class Outbox {
  readonly #tag: string;
  readonly #write: (m: Message, callback?: () => void) => boolean;
  readonly #connected: () => boolean;
  budget: IpcBudget;
  readonly #topics: string[];
  readonly #lengths: number[];
  readonly #binary: boolean[];
  #bytes: Buffer;
  #used: number;
  #scheduled: boolean;
  /** Batches sent, and messages of batches that found the channel closed at the flush. */
  batches: number;
  lostAtFlush: number;
  readonly #flushLater: () => void;

  constructor(tag: string, write: (m: Message, callback?: () => void) => boolean, connected: () => boolean) {
    this.#tag = tag;
    this.#write = write;
    this.#connected = connected;
    this.budget = new IpcBudget();
    this.#topics = [];
    this.#lengths = [];
    this.#binary = [];
    this.#bytes = Buffer.allocUnsafeSlow(CLUSTER_IPC_BATCH_BYTES);
    this.#used = 0;
    this.#scheduled = false;
    this.batches = 0;
    this.lostAtFlush = 0;
    this.#flushLater = () => {
      this.#scheduled = false;
      this.flush();
    };
  }

  /** Messages waiting for the flush. */
  get size(): number {
    return this.#topics.length;
  }

  /**
   * Adds `src[start, end)` as a message to `topic`; false (nothing kept) when the channel's budget is spent: the
   * caller counts it as lost.
   */
  add(topic: string, src: Uint8Array, start: number, end: number, isBinary: boolean): boolean {
    const length = end - start;
    if (this.#used + length > this.#bytes.length) {
      this.flush();
      // One message larger than the batch buffer travels alone, in a buffer of its size (dropped at its flush).
      if (length > this.#bytes.length) this.#bytes = Buffer.allocUnsafeSlow(length);
    }
    if (!this.budget.admit(weight(topic, length))) return false;
    this.#bytes.set(src.subarray(start, end), this.#used);
    this.#used += length;
    this.#topics.push(topic);
    this.#lengths.push(length);
    this.#binary.push(isBinary);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushLater);
    }
    return true;
  }

  /**
   * Sends the batch now, as one IPC message. Returns how many messages it held; those that found the channel
   * closed are added to `lostAtFlush` instead.
   */
  flush(): number {
    const n = this.#topics.length;
    if (n > 0) this.#send(n);
    // A buffer grown for one big message is not kept.
    if (this.#bytes.length > CLUSTER_IPC_BATCH_BYTES) this.#bytes = Buffer.allocUnsafeSlow(CLUSTER_IPC_BATCH_BYTES);
    return n;
  }

  #send(n: number): void {
    if (this.#connected()) {
      this.budget.seal();
      // Serialized before `send` returns: the arrays and the buffer are free again after it. Its return value says
      // whether Node's own queue is short, not whether the message will go: the budget bounds the queue instead.
      this.#write(
        [this.#tag, this.#topics, this.#lengths, this.#binary, this.#bytes.subarray(0, this.#used)],
        this.budget.sent,
      );
      this.batches++;
    } else {
      this.budget.release();
      this.lostAtFlush += n;
    }
    this.#topics.length = 0;
    this.#lengths.length = 0;
    this.#binary.length = 0;
    this.#used = 0;
  }

  /** The channel was replaced (a new worker in the slot): the batch gathered for the old one is lost, the budget
   * starts afresh (the old channel's send callbacks will not come). */
  drop(): void {
    this.lostAtFlush += this.#topics.length;
    this.#topics.length = 0;
    this.#lengths.length = 0;
    this.#binary.length = 0;
    this.#used = 0;
    this.budget = new IpcBudget();
  }

  /** Sends a message that is not a topic message, after the batch (the channel's order is the order things were said). */
  send(m: Message, callback?: () => void): boolean {
    this.flush();
    return this.#write(m, callback);
  }
}

/** `bytes` of a received batch as a Buffer (structured clone gives a Uint8Array or a Buffer), without a copy. */
export function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export type { CloseResult, ServerStats };
