/**
 * Server-sent events: `res.sse()` turns a response into a `text/event-stream` (HTML Living Standard §9.2) that a
 * handler writes events to, that subscribes to topics like a WebSocket (same registry, same backpressure policy),
 * and that sends a heartbeat comment when it has been silent for a while. The byte format is http1/event-stream.ts;
 * this is the I/O side: the connection, the backpressure policy, the coarse clock, the end.
 *
 * The body is chunked on HTTP/1.1 and delimited by the connection's close on HTTP/1.0 (RFC 9112 §6.3 rules 4 and 8),
 * as any streamed response. It never ends by itself: `close()`, the client going away, the policy, or the server's
 * shutdown end it. Ended by `close()` on a keep-alive connection, the connection goes on with the next request.
 */

import type { Buffer } from 'node:buffer';
import { InvalidStateError } from '../errors.js';
import { encodeComment, encodeEvent, HEARTBEAT, type SseEvent } from '../http1/event-stream.js';
import { SSE_HEARTBEAT_MS, WS_BACKPRESSURE_LIMIT, WS_MAX_BACKPRESSURE } from '../limits.js';
import { coarseNow } from './clock.js';
import type { PreparedMessage } from './prepared-message.js';
import type { PublishResult } from './pubsub-adapter.js';
import type { SseStats } from './stats.js';
import type { TopicHub } from './topic-hub.js';

export type { SseEvent } from '../http1/event-stream.js';

/** Options of `res.sse()`. */
export interface SseOptions {
  /**
   * Milliseconds of silence after which a heartbeat comment (`:` and LF) is written, so that proxies do not close
   * the idle connection and a client that went away is noticed. Checked on the server's 250 ms tick. Default 15 s
   * (`SSE_HEARTBEAT_MS`); 0: none.
   */
  heartbeat?: number;
  /** A `retry:` field sent first: the reconnection delay (ms) the client should use. Default: none (the client's). */
  retry?: number;
  /** `bufferedAmount` above which `send` returns -1 (queued; wait for `drained()`). Default 64 KiB, as WebSockets. */
  backpressureLimit?: number;
  /**
   * Most bytes queued for a client that does not read. An event that would pass it is not queued: with policy
   * `close` (default) the connection is cut off (there is no close frame in HTTP: the socket is destroyed); with
   * `drop` the event is skipped and counted. Default 1 MiB, as WebSockets (`WS_MAX_BACKPRESSURE`).
   */
  maxBackpressure?: number;
  /** `close` (default) or `drop`: see `maxBackpressure`. */
  backpressurePolicy?: 'close' | 'drop';
}

/**
 * Why a stream ended: `close()` was called (`'closed'`), the client went away (`'peer'`), it did not read and
 * policy `close` cut it off (`'backpressure'`), or the server shut down (`'shutdown'`).
 */
export type SseCloseCause = 'closed' | 'peer' | 'backpressure' | 'shutdown';

/** What a stream needs from its connection (implemented by HttpConnection). @internal */
export interface SseTarget {
  /** Writes part of the body now (one socket write unless inside a batch). */
  writeBody(chunk: Buffer): boolean;
  /** Writes part of the body given as it is and framed as one chunk (used when the body is chunked), held to the
   * end of this event-loop turn with whatever else is written then. */
  writeBodyHeld(chunk: Buffer, framed: Buffer): void;
  /** Bytes not yet taken by the kernel (queued in the socket, or gathered in a batch). */
  readonly bufferedAmount: number;
  /** Of those, a batch held to the end of this turn: about to be written, bounded by the writer. */
  readonly heldBytes: number;
  /** Ends the event stream's response (the last chunk on HTTP/1.1) unless it has ended. */
  endEventStream(): void;
  /** Destroys the connection (the policy `close`), recording `cause`. */
  abort(cause: string): void;
  /** Resolves when the socket's buffer has drained. */
  drained(): Promise<void>;
  /** The server's topics. */
  readonly topicHub: TopicHub;
  /** The server's event-stream counters. */
  readonly sseStats: SseStats;
  /** The stream ended (the connection forgets it). */
  sseEnded(stream: SseStream): void;
}

/**
 * A `text/event-stream` response: `send` events, `comment`, subscribe to topics, `close`.
 *
 * @example
 * ```ts
 * serve({ request(req, res) {
 *   const stream = res.sse({ retry: 2000 });
 *   stream.send({ event: 'hello', id: '1', data: `welcome back after ${stream.lastEventId || 'nothing'}` });
 *   stream.subscribe('news');                 // server.publish('news', text) reaches it
 * } });
 * ```
 */
export class SseStream {
  /** The client's `Last-Event-ID` (the id of the last event it saw, sent when it reconnects), or `''`. */
  readonly lastEventId: string;
  /** Resolves when the stream has ended, with why. */
  readonly closed: Promise<SseCloseCause>;
  #target: SseTarget | null;
  readonly #heartbeatMs: number;
  readonly #backpressureLimit: number;
  readonly #maxBackpressure: number;
  readonly #drop: boolean;
  #lastWrite: number;
  #dropped: number;
  #cause: SseCloseCause | null;
  #resolve: (cause: SseCloseCause) => void;

  /** @internal use `res.sse()` */
  constructor(target: SseTarget, lastEventId: string, options: SseOptions) {
    this.lastEventId = lastEventId;
    this.#target = target;
    const hb = options.heartbeat ?? SSE_HEARTBEAT_MS;
    if (typeof hb !== 'number' || !(hb >= 0)) throw new RangeError(`heartbeat must be a number of ms >= 0, got ${hb}`);
    this.#heartbeatMs = hb;
    this.#backpressureLimit = checkBytes('backpressureLimit', options.backpressureLimit ?? WS_BACKPRESSURE_LIMIT);
    this.#maxBackpressure = checkBytes('maxBackpressure', options.maxBackpressure ?? WS_MAX_BACKPRESSURE);
    const policy = options.backpressurePolicy ?? 'close';
    if (policy !== 'close' && policy !== 'drop') {
      throw new TypeError(`backpressurePolicy must be 'close' or 'drop', got ${String(policy)}`);
    }
    this.#drop = policy === 'drop';
    this.#lastWrite = coarseNow();
    this.#dropped = 0;
    this.#cause = null;
    let resolve: (cause: SseCloseCause) => void = noop;
    this.closed = new Promise<SseCloseCause>((r) => {
      resolve = r;
    });
    this.#resolve = resolve;
  }

  /** Whether the stream has ended. */
  get isClosed(): boolean {
    return this.#cause !== null;
  }

  /** Bytes written but not yet taken by the kernel (0 once closed). */
  get bufferedAmount(): number {
    return this.#target === null ? 0 : this.#target.bufferedAmount;
  }

  /** Events skipped by policy `drop` so far. */
  get droppedCount(): number {
    return this.#dropped;
  }

  /**
   * Sends an event: a string is its data; an object may have `data`, `event`, `id`, `retry`. Line breaks in the data
   * become several `data:` lines (the client joins them with LF). Returns the bytes written (> 0), -1 (written, but
   * over `backpressureLimit`: wait for `drained()`), or 0 (not written: the stream ended, or the backpressure policy).
   * @throws TypeError for a field with CR/LF (or NUL in `id`), or of the wrong type; RangeError for a bad `retry`
   */
  send(event: SseEvent | string): number {
    const bytes = encodeEvent(event);
    return this.#write(bytes, null);
  }

  /** Writes a comment (`: text`), which the client ignores: a heartbeat of your own, or a note for a human reader. */
  comment(text = ''): number {
    return this.#write(encodeComment(text), null);
  }

  /** Resolves when the socket's buffer has drained (at once if it is not full, or the stream ended). */
  drained(): Promise<void> {
    return this.#target === null ? Promise.resolve() : this.#target.drained();
  }

  /**
   * Subscribes this stream to `topic`: `server.publish(topic, …)` and WebSockets' `ws.publish(topic, …)` reach it,
   * text as the data of a `message` event, binary as base64 in an event of type `binary`. Returns false if it was
   * subscribed already, or the stream has ended. Unsubscribed from everything when it ends.
   * @throws TypeError when `topic` is not a string; RangeError for an empty or too long name, or past
   * `maxTopicsPerConnection`
   */
  subscribe(topic: string): boolean {
    const t = this.#target;
    if (t === null) return false;
    return t.topicHub.registry.subscribe(this, topic);
  }

  /** Unsubscribes from `topic`; false if it was not subscribed. */
  unsubscribe(topic: string): boolean {
    const t = this.#target;
    return t === null ? false : t.topicHub.registry.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    const t = this.#target;
    return t === null ? false : t.topicHub.registry.isSubscribed(this, topic);
  }

  /** The topics this stream is subscribed to (a copy). */
  get topics(): string[] {
    const t = this.#target;
    return t === null ? [] : [...t.topicHub.registry.topicsOf(this)];
  }

  /** Publishes to every subscriber of `topic` but this stream (see `server.publish`). */
  publish(topic: string, data: string | Uint8Array | ArrayBuffer, isBinary?: boolean): PublishResult {
    const t = this.#target;
    if (t === null) throw new InvalidStateError('Cannot publish: the event stream has ended', 'ERR_SSE_CLOSED');
    return t.topicHub.publish(topic, data, isBinary, undefined, this);
  }

  /** Ends the stream: the response ends (on a keep-alive connection the next request is read). */
  close(): void {
    this.end('closed');
  }

  /** @internal A message published to one of this stream's topics: its event, encoded once per publish. */
  publishPrepared(message: PreparedMessage): number {
    return this.#write(message.event(), message);
  }

  /** @internal From the server's tick: a heartbeat after `heartbeat` ms of silence (not while bytes are queued). */
  tick(now: number): void {
    const t = this.#target;
    if (t === null || this.#heartbeatMs === 0 || now - this.#lastWrite < this.#heartbeatMs) return;
    if (t.bufferedAmount > 0) return;
    this.#lastWrite = now;
    t.sseStats.events++;
    t.writeBody(HEARTBEAT);
  }

  /** @internal Ends the stream for `cause`; the response ends unless the connection is gone. */
  end(cause: SseCloseCause): void {
    const t = this.#target;
    if (t === null) return;
    this.#finish(cause);
    if (cause !== 'peer' && cause !== 'backpressure') t.endEventStream();
  }

  /** @internal The connection closed under the stream, or the client half-closed it (it is leaving). */
  connectionClosed(): void {
    this.#finish('peer');
  }

  /** @internal The handler ended the response itself (`res.end()`). */
  responseEnded(): void {
    this.#finish('closed');
  }

  #finish(cause: SseCloseCause): void {
    const t = this.#target;
    if (t === null) return;
    this.#target = null;
    this.#cause = cause;
    t.topicHub.registry.unsubscribeAll(this);
    t.sseEnded(this);
    this.#resolve(cause);
  }

  /** Writes `bytes` (from `message`, framed once for every stream, when it is a publish's event). */
  #write(bytes: Buffer, message: PreparedMessage | null): number {
    const t = this.#target;
    if (t === null) return 0;
    // A batch held to the end of this turn (a burst of publishes) is about to be written: what piles up for a
    // slow client is the rest (as ws-send.ts #admit).
    const buffered = t.bufferedAmount - t.heldBytes;
    // An event on an empty buffer always goes: the limit bounds what piles up, not event size.
    if (buffered > 0 && buffered + bytes.length > this.#maxBackpressure) {
      if (this.#drop) {
        this.#dropped++;
        t.sseStats.dropped++;
        return 0;
      }
      t.sseStats.cutOff++;
      // No close frame in HTTP, and the client is not reading what we sent: cut it off.
      this.#finish('backpressure');
      t.abort('backpressure');
      return 0;
    }
    this.#lastWrite = coarseNow();
    t.sseStats.events++;
    if (message !== null) t.writeBodyHeld(bytes, message.eventChunk());
    else t.writeBody(bytes);
    return t.bufferedAmount - t.heldBytes > this.#backpressureLimit ? -1 : bytes.length;
  }
}

function noop(): void {}

/** @throws RangeError unless `n` is a number >= 0 (named in the message). */
function checkBytes(name: string, n: number): number {
  if (typeof n !== 'number' || !(n >= 0)) throw new RangeError(`${name} must be a number of bytes >= 0, got ${n}`);
  return n;
}
