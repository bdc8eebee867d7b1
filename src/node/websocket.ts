/**
 * The server's WebSocket: `ServerWebSocket`, the face an application's handlers get, over one `WsConnection`
 * (ws-connection.ts: core, transport, codec, timers, backpressure policy); the per-server context its
 * connections share; and the options and types of `serve({ websocket })`. The handshake is upgrade.ts.
 *
 * What the face adds to the connection: the application's handlers (with receive-side flow control for async
 * ones: at most `maxPendingMessages` unsettled, then reading pauses), per-connection `data`, and the API.
 */

import type { Buffer } from 'node:buffer';
import {
  WS_BACKPRESSURE_LIMIT,
  WS_CLOSE_TIMEOUT_MS,
  WS_IDLE_TIMEOUT_S,
  WS_MAX_BACKPRESSURE,
  WS_MAX_FRAGMENTS,
  WS_MAX_PAYLOAD,
  WS_MAX_PENDING_MESSAGES,
  WS_PONG_TIMEOUT_S,
  WS_STREAM_THRESHOLD,
} from '../limits.js';
import type { TopicRegistry } from '../pubsub/topics.js';
import { checkDeflatePolicy, type DeflateParams, type DeflateServerPolicy } from '../ws/permessage-deflate.js';
import { SIDE_SERVER, WS_CLOSED, WS_OPEN } from '../ws/protocol.js';
import {
  DeflateCodec,
  type DeflateCodecOptions,
  type DeflateSettings,
  isDeflateSupported,
  resolveDeflateSettings,
} from './deflate.js';
import type { PublishResult, PubSubAdapter } from './pubsub-adapter.js';
import type { SockeyeRequest } from './request.js';
import type { ConnectionEndInfo } from './server.js';
import { TopicHub, type TopicSubscriber } from './topic-hub.js';
import type { Transport } from './transport.js';
import {
  type CloseInfo,
  newWebSocketStats,
  type WebSocketStats,
  WsConnection,
  type WsConnectionConfig,
  type WsConnectionHandler,
} from './ws-connection.js';
import type { FrameTap } from './ws-types.js';

export type { PublishResult } from './pubsub-adapter.js';
export {
  type CloseCause,
  type CloseInfo,
  newWebSocketStats,
  SEND_BACKPRESSURE,
  SEND_DROPPED,
  type WebSocketStats,
} from './ws-connection.js';

/** What the application's `upgrade` hook may return. */
export type UpgradeResult<T> =
  | undefined
  | boolean
  | {
      /**
       * The subprotocol chosen from `ctx.protocols` (must be one of them); `undefined` (or absent): none, so that
       * `protocol: ctx.protocols.includes('chat') ? 'chat' : undefined` compiles with `exactOptionalPropertyTypes`.
       */
      protocol?: string | undefined;
      /** Per-connection data, available as `ws.data`. */
      data?: T;
      /** Extra headers for the 101 response. */
      headers?: [string, string][];
      /** `false` declines permessage-deflate for this connection even if the client offered it. */
      perMessageDeflate?: boolean;
    }
  | UpgradeRejection;

/** A refusal of the handshake, made with `ctx.reject()`. */
export interface UpgradeRejection {
  readonly reject: true;
  status: number;
  body: string;
  headers: [string, string][];
}

/** What the `upgrade` hook learns besides the request. */
export interface UpgradeContext {
  /** Subprotocols offered by the client (`Sec-WebSocket-Protocol`), in its order of preference. */
  protocols: string[];
  /** `Origin` header, if any. */
  origin: string | undefined;
  /** Builds a refusal: `return ctx.reject(403, 'forbidden')`. */
  reject(status: number, body?: string, headers?: [string, string][]): UpgradeRejection;
}

/**
 * `serve({ websocket: { perMessageDeflate } })`: what the server accepts in the negotiation (RFC 7692 §7) and how
 * it compresses. See docs/limits.md for the measured memory and CPU of each setting.
 */
export interface PerMessageDeflateOptions extends DeflateServerPolicy, DeflateCodecOptions {}

/** What to do when a peer's unread data reaches `maxBackpressure`. */
export type BackpressurePolicy = 'close' | 'drop';

/** `serve({ websocket })` handlers and options. `T` is the type of `ws.data`. */
export interface WebSocketOptions<T = unknown> {
  /**
   * Decides on each handshake (may be async): return `false` or `ctx.reject(status)` to refuse, or
   * `{ protocol, data, headers }` to accept. Without it every valid handshake is accepted.
   */
  upgrade?(req: SockeyeRequest, ctx: UpgradeContext): UpgradeResult<T> | Promise<UpgradeResult<T>>;
  /**
   * The connection is open. Messages are not held back for it: if it returns a promise, a rejection closes the
   * connection with 1011 and goes to `error`, as a throw does (so does one from `drain`, `ping` and `pong`).
   */
  open?(ws: ServerWebSocket<T>): unknown;
  /**
   * A whole message: text as a string, binary as a Buffer. If it returns a promise (a thenable), reading pauses
   * while `maxPendingMessages` of them are unsettled (TCP flow control then slows the peer down); any other
   * return value is ignored, so `message: (ws, m, isBinary) => ws.send(m, isBinary)` is a whole echo.
   */
  message?(ws: ServerWebSocket<T>, message: string | Buffer, isBinary: boolean): unknown;
  /**
   * Optional: large messages piece by piece, as they arrive, instead of whole in `message`. A message sent as one
   * frame of `streamThreshold` bytes or more comes here (at most one read, 64 KiB, per piece), others still go to
   * `message`: fragmented and compressed messages are always whole. The size of a streamed message is known, and
   * checked against `maxPayload`, before its first piece. Text comes as UTF-8 bytes, checked before each piece
   * is handed on (a piece may end inside a character; invalid bytes close the connection with 1007 before they
   * are delivered). `isFirst` / `isLast` mark the message's ends. A returned promise counts against
   * `maxPendingMessages` like one of `message`'s: a slow consumer pauses reading.
   *
   * `chunk` is a view of the server's read buffer, valid until the handler returns (as uWebSockets.js does):
   * `send`/`sendFragment` copy it, anything else that keeps it must copy it (`Buffer.from(chunk)`). So streaming
   * costs no allocation per read, which is what makes a large echo run at the speed of the sockets.
   *
   * @example
   * // echo a large message as it arrives, in fragments
   * messageChunk(ws, chunk, isBinary, _isFirst, isLast) { ws.sendFragment(chunk, isLast, isBinary); }
   */
  messageChunk?(ws: ServerWebSocket<T>, chunk: Buffer, isBinary: boolean, isFirst: boolean, isLast: boolean): unknown;
  /** Size from which single-frame messages go to `messageChunk` (when it is set). Default 64 KiB. */
  streamThreshold?: number;
  /**
   * The connection ended: close code (1005 none given, 1006 dropped), reason, whether clean, and why. A throw or
   * a rejected promise from it goes to `error`.
   */
  close?(ws: ServerWebSocket<T>, code: number, reason: string, wasClean: boolean, info: CloseInfo): unknown;
  /** The socket's buffer emptied after `send` reported backpressure (-1). */
  drain?(ws: ServerWebSocket<T>): unknown;
  /** A ping arrived (the pong is already sent). */
  ping?(ws: ServerWebSocket<T>, data: Buffer): unknown;
  /** A pong arrived. */
  pong?(ws: ServerWebSocket<T>, data: Buffer): unknown;
  /**
   * A handler threw or rejected (the connection was closed with 1011 if it was open). Default: ignore. What this
   * one throws or rejects with is dropped: a reporter never takes the server down.
   */
  error?(ws: ServerWebSocket<T>, err: unknown): unknown;
  /** Largest incoming message in bytes (1009 above). Default 64 MiB. */
  maxPayload?: number;
  /**
   * Most frames one incoming message may come in (its first frame and its continuations); past it the connection
   * fails with 1008. Default 131,072 (`WS_MAX_FRAGMENTS`); 0: no limit. A fragment costs only its bytes.
   */
  maxFragments?: number;
  /** How long to wait for the peer's close frame / TCP close after ours (ms). Default 5 s. */
  closeTimeout?: number;
  /** How long an async `upgrade` hook may take (ms); then 503. Default 10 s. */
  upgradeTimeout?: number;
  /** `bufferedAmount` above which `send` returns -1 (queued, wait for `drain`). Default 64 KiB. */
  backpressureLimit?: number;
  /**
   * Most bytes queued for a peer that does not read. A message that would pass it is not queued: with policy
   * `close` (default) the connection is closed with 1008 and destroyed if the close frame cannot be delivered
   * within `closeTimeout`; with `drop` the message is skipped and counted. The pongs answering a peer's pings
   * count too: past the limit, `close` fails the connection with 1008 and `drop` stops reading until the peer has
   * read (RFC 6455 §5.5.3: only the latest ping needs its pong). Default 1 MiB.
   */
  maxBackpressure?: number;
  backpressurePolicy?: BackpressurePolicy;
  /** Seconds without receiving anything before we ping the peer (0: never). Default 120. */
  idleTimeout?: number;
  /** Seconds to wait for any frame after that ping before the connection is dropped. Default 30. */
  pongTimeout?: number;
  /** Unsettled async `message` handlers per connection before reading pauses. Default 16. */
  maxPendingMessages?: number;
  /** Most topics one connection may subscribe to (`ws.subscribe` throws a RangeError above). Default 1,000. */
  maxTopicsPerConnection?: number;
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or options. Off by default. Compression and
   * decompression run synchronously, one message at a time; inflating stops at `maxPayload` (1009).
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

/**
 * Whether a handler's return value is a promise (any thenable) to wait for. Handlers are typed to return `unknown`
 * so that one-liners such as `(ws, m) => ws.send(m)` compile; a number, null or anything else is ignored.
 */
export function isThenable(r: unknown): r is PromiseLike<unknown> {
  return (
    (typeof r === 'object' || typeof r === 'function') &&
    r !== null &&
    typeof (r as { then?: unknown }).then === 'function'
  );
}

/** A rejection nobody acts on (an error reporter's own). */
export function ignore(): void {}

/** readyState values, as in the WHATWG WebSocket. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/**
 * A synchronous observer of every WebSocket frame of one server, both ways (`server.observeFrames`): the cheap
 * way for a tool that records frames (the inspector does) to see them, with no object built per frame. The
 * `sockeye:ws:frame:*` diagnostics channels say the same with a message object per frame.
 *
 * It is called inside the server's receive and send paths: keep it short, allocate nothing, never throw.
 *
 * @example
 * const counts = new Map<ServerWebSocket, { in: number; out: number }>();
 * server.observeFrames({
 *   connection: (ws) => {
 *     const c = { in: 0, out: 0 };
 *     counts.set(ws, c);
 *     return c;
 *   },
 *   frame: (c, sent) => void (sent ? c.out++ : c.in++),
 * });
 */
export interface FrameObserver<S = unknown> {
  /**
   * The first frame of a connection since this observer was set: returns what `frame` is given for this
   * connection's frames (the server keeps it with the connection), or `null` to skip them.
   */
  connection(websocket: ServerWebSocket): S | null;
  /**
   * One frame. `sent`: ours (else the peer's); `opcode`, `fin`, `rsv1` as RFC 6455 §5.2 says them; `length`: the
   * payload length, as `FrameMessage.length` (received: on the wire; sent: as handed over, before compression);
   * `at`: the server's coarse clock in ms since the epoch (it moves every 250 ms, not per frame).
   */
  frame(state: S, sent: boolean, opcode: number, fin: boolean, rsv1: boolean, length: number, at: number): void;
}

/**
 * What every connection of one server shares: resolved options, counters, the set of open connections.
 * Connections point here instead of holding their own copies.
 * @internal
 */
export class WsServerContext<T = unknown> implements WsConnectionConfig {
  readonly side = SIDE_SERVER;
  readonly options: WebSocketOptions<T>;
  readonly maxPayload: number;
  readonly maxFragments: number;
  readonly closeTimeoutMs: number;
  /** Connections whose close handshake is over, waiting for the peer's FIN (their deadline is checked by the tick). */
  finWaiting: number;
  readonly backpressureLimit: number;
  readonly maxBackpressure: number;
  readonly dropOnBackpressure: boolean;
  readonly idleTimeoutMs: number;
  readonly pongTimeoutMs: number;
  readonly maxPendingMessages: number;
  /** Messages from this size go to `messageChunk` (`Infinity` without one). */
  readonly streamThreshold: number;
  /** permessage-deflate policy and codec settings, or null when off (or unsupported by this Node). */
  readonly deflatePolicy: DeflateServerPolicy | null;
  readonly deflateSettings: DeflateSettings | null;
  readonly stats: WebSocketStats;
  readonly open: Set<ServerWebSocket<T>>;
  /** The topics, shared with the server's event streams (node/topic-hub.ts). */
  readonly hub: TopicHub;
  /** Which subscribers (connections, event streams) are in which topics (src/pubsub/topics.ts). */
  readonly topics: TopicRegistry<TopicSubscriber>;
  /** Server-level hook for every end (logging). */
  onEnd: ((ws: ServerWebSocket<T>, info: CloseInfo) => void) | null;
  /** `server.observeFrames()`: told of every frame, or null. */
  frameObserver: FrameTap | null;

  constructor(options: WebSocketOptions<T>, hub?: TopicHub) {
    this.options = options;
    this.maxPayload = options.maxPayload ?? WS_MAX_PAYLOAD;
    this.maxFragments = options.maxFragments ?? WS_MAX_FRAGMENTS;
    this.closeTimeoutMs = options.closeTimeout ?? WS_CLOSE_TIMEOUT_MS;
    this.backpressureLimit = options.backpressureLimit ?? WS_BACKPRESSURE_LIMIT;
    this.maxBackpressure = options.maxBackpressure ?? WS_MAX_BACKPRESSURE;
    this.dropOnBackpressure = options.backpressurePolicy === 'drop';
    this.idleTimeoutMs = (options.idleTimeout ?? WS_IDLE_TIMEOUT_S) * 1000;
    this.pongTimeoutMs = (options.pongTimeout ?? WS_PONG_TIMEOUT_S) * 1000;
    this.maxPendingMessages = options.maxPendingMessages ?? WS_MAX_PENDING_MESSAGES;
    this.streamThreshold =
      options.messageChunk === undefined
        ? Number.POSITIVE_INFINITY
        : Math.max(0, options.streamThreshold ?? WS_STREAM_THRESHOLD);
    const pmd = options.perMessageDeflate;
    if (pmd !== undefined && pmd !== false && isDeflateSupported()) {
      const o = pmd === true ? {} : pmd;
      checkDeflatePolicy(o);
      // Our side compresses without context takeover unless told otherwise: one compressor shared by every
      // connection instead of one per connection (docs/limits.md has the figures). The client's side keeps
      // context takeover, as browsers expect.
      this.deflatePolicy = { serverNoContextTakeover: true, ...o };
      this.deflateSettings = resolveDeflateSettings(o);
    } else {
      this.deflatePolicy = null;
      this.deflateSettings = null;
    }
    this.stats = newWebSocketStats();
    this.open = new Set();
    this.hub = hub ?? new TopicHub({ maxTopicsPerSubscriber: options.maxTopicsPerConnection });
    this.topics = this.hub.registry;
    this.finWaiting = 0;
    this.onEnd = null;
    this.frameObserver = null;
  }

  /** Connects `adapter`: it hears of topics gaining their first and losing their last local subscriber. */
  useAdapter(adapter: PubSubAdapter): void {
    this.hub.useAdapter(adapter);
  }

  /** The bridge to other nodes (`serve({ pubsub })`), or null. */
  get adapter(): PubSubAdapter | null {
    return this.hub.adapter;
  }

  /**
   * Publishes to every subscriber of `topic` but `except` (node/topic-hub.ts): framed once, the same bytes written
   * to each, each connection's backpressure policy applying to it alone.
   */
  publish(
    topic: string,
    data: string | Uint8Array | ArrayBuffer,
    isBinary: boolean | undefined,
    compress: boolean | undefined,
    except: ServerWebSocket<T> | null,
  ): PublishResult {
    return this.hub.publish(topic, data, isBinary, compress, except);
  }

  /** Idle and close deadlines of every open connection, from the server's coarse tick. */
  checkTimeouts(now: number): void {
    if (this.idleTimeoutMs <= 0 && this.deflateSettings === null && this.finWaiting === 0) return;
    for (const ws of this.open) ws.checkTimers(now);
  }
}

// What a backlog entry / `#dispatch` call holds: a whole message or a streamed piece, and its flags.
const K_BINARY = 1;
const K_CHUNK = 2;
const K_FIRST = 4;
const K_LAST = 8;

const _EMPTY = new Uint8Array(0);

/**
 * A server-side WebSocket connection: the application's face of a `WsConnection` (it extends it, as Python
 * websockets' ServerProtocol extends Protocol: one object per connection, MEMORY). The connection gives it the
 * protocol, the send policy and the end; the face adds the handlers, `data`, and receive-side flow control.
 */
export class ServerWebSocket<T = unknown> extends WsConnection {
  /** Data attached by the `upgrade` hook. */
  data: T;
  /** The subprotocol agreed on, or `''`. */
  readonly protocol: string;
  /** The extensions agreed on (`Sec-WebSocket-Extensions` of the 101), or `''`. */
  readonly extensions: string;
  /** Path of the upgrade request. */
  readonly path: string;
  /** Async message handlers not yet settled. */
  #pending: number;
  /** Messages and pieces parsed from an already-read chunk while `maxPendingMessages` handlers were unsettled:
   * kind (K_* bits) and payload, in arrival order. At most one read's worth (reading is paused meanwhile). */
  #backlog: (number | Buffer)[] | null;

  /** @internal */
  constructor(
    transport: Transport,
    req: SockeyeRequest,
    protocol: string,
    data: T,
    ctx: WsServerContext<T>,
    extensions = '',
    deflate: DeflateParams | null = null,
  ) {
    super(
      ctx,
      transport,
      deflate !== null && ctx.deflateSettings !== null ? new DeflateCodec(deflate, true, ctx.deflateSettings) : null,
      null,
    );
    this.data = data;
    this.protocol = protocol;
    this.extensions = extensions;
    // PERF: getpeername is read on demand (it was 2-3 % of the connect-storm benchmark). Node keeps it once read,
    // so it is read now when a close handler may ask for it after the socket is gone (with onConnectionEnd, the
    // server read it at accept).
    if (ctx.options.close !== undefined) void transport.remoteAddress;
    this.path = req.path;
    this.#pending = 0;
    this.#backlog = null;
  }

  /** The server's shared context (the connection's config). */
  #ctx(): WsServerContext<T> {
    return this.config as WsServerContext<T>;
  }

  /** @internal starts reading; `head` holds bytes that came after the handshake request. */
  start(head: Buffer[]): void {
    this.attach();
    const ctx = this.#ctx();
    ctx.open.add(this as ServerWebSocket<unknown> as ServerWebSocket<T>);
    const open = ctx.options.open;
    if (open !== undefined) {
      try {
        this.#watch(open(this));
      } catch (err) {
        this.#handlerFailed(err);
      }
    }
    this.receiveHead(head);
    this.resumeIfPaused();
  }

  /** Peer IP address, or `''` once the socket is gone if it was never read while open and no close handler or
   * `onConnectionEnd` is set (then it is kept from the start). */
  get remoteAddress(): string {
    return this.transport.remoteAddress ?? '';
  }

  /** Peer port (0 when unknown, as `remoteAddress`). */
  get remotePort(): number {
    return this.transport.remotePort ?? 0;
  }

  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (WHATWG values). */
  get readyState(): number {
    if (this.closed) return CLOSED;
    const state = this.core.state;
    return state === WS_OPEN ? (this.closeQueued ? CLOSING : OPEN) : state === WS_CLOSED ? CLOSED : CLOSING;
  }

  /** Bytes read from the socket so far (handshake included). */
  get bytesRead(): number {
    return this.transport.bytesRead;
  }

  /** Bytes written to the socket so far (handshake included). */
  get bytesWritten(): number {
    return this.transport.bytesWritten;
  }

  // ── WsConnectionHandler ────────────────────────────────────────────────────────────────────────────

  /** @internal */
  onWsMessage(binary: boolean, data: Buffer): void {
    if (this.#ctx().options.message === undefined) return;
    // Pausing the socket stops the next read, not the rest of this one: messages that were already read wait
    // here, so that no more than maxPendingMessages handlers are ever unsettled.
    if (this.readingPaused) this.#defer(binary ? K_BINARY : 0, data);
    else this.#dispatch(binary ? K_BINARY : 0, data);
  }

  /** @internal A piece of a streamed message (`messageChunk`): a view of the read buffer (see `#defer`). */
  onWsMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void {
    const kind = K_CHUNK | (binary ? K_BINARY : 0) | (first ? K_FIRST : 0) | (last ? K_LAST : 0);
    if (this.readingPaused) this.#defer(kind, data);
    else this.#dispatch(kind, data);
  }

  /** @internal */
  onWsPing(data: Buffer): void {
    const fn = this.#ctx().options.ping;
    if (fn === undefined) return;
    try {
      this.#watch(fn(this, data));
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal */
  onWsPong(data: Buffer): void {
    const fn = this.#ctx().options.pong;
    if (fn === undefined) return;
    try {
      this.#watch(fn(this, data));
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal readyState follows the core; nothing to do. */
  onWsClosing(): void {}

  /** @internal */
  onWsDrain(): void {
    const fn = this.#ctx().options.drain;
    if (fn === undefined) return;
    try {
      this.#watch(fn(this));
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal The connection ended: report it. */
  onWsEnd(): void {
    const ctx = this.#ctx();
    ctx.open.delete(this as ServerWebSocket<unknown> as ServerWebSocket<T>);
    const onEnd = ctx.onEnd;
    const onClose = ctx.options.close;
    // PERF: the report (byte counters, clock) only when someone reads it (bench ws-storm).
    if (onClose === undefined && onEnd === null) {
      ctx.topics.unsubscribeAll(this);
      return;
    }
    // The close handler still sees `ws.topics` (to tell a room someone left); the connection leaves them after.
    try {
      this.#reportEnd(ctx, onClose, onEnd);
    } finally {
      ctx.topics.unsubscribeAll(this);
    }
  }

  /** Tells the close handler and the server's end hook. */
  #reportEnd(
    _ctx: WsServerContext<T>,
    onClose: WebSocketOptions<T>['close'],
    onEnd: ((ws: ServerWebSocket<T>, info: CloseInfo) => void) | null,
  ): void {
    const info = this.closeInfo();
    try {
      const r = onClose?.(this, info.code, info.reason, info.wasClean, info);
      // The connection is gone: a rejection is only reported.
      if (isThenable(r)) r.then(undefined, (err: unknown) => this.#report(err));
    } catch (err) {
      // The connection is gone already; only report it.
      this.#report(err);
    }
    if (onEnd !== null) {
      try {
        onEnd(this, info);
      } catch {
        // a logging hook that throws must not take the server down
      }
    }
  }

  /** Keeps a message or piece parsed while reading is paused, for `#settled`. */
  #defer(kind: number, data: Buffer): void {
    // A streamed piece or an inflated text is a view of a shared buffer that the next read or inflate overwrites.
    data = WsConnection.keep(data);
    if (this.#backlog === null) this.#backlog = [kind, data];
    else this.#backlog.push(kind, data);
  }

  /** Calls `message` or `messageChunk` (K_CHUNK) with what `kind` says. */
  #dispatch(kind: number, data: Buffer): void {
    const ctx = this.#ctx();
    const binary = (kind & K_BINARY) !== 0;
    let r: unknown;
    try {
      if ((kind & K_CHUNK) !== 0) {
        r = (ctx.options.messageChunk as NonNullable<WebSocketOptions<T>['messageChunk']>)(
          this,
          data,
          binary,
          (kind & K_FIRST) !== 0,
          (kind & K_LAST) !== 0,
        );
      } else {
        const fn = ctx.options.message;
        if (fn === undefined) return;
        r = binary ? fn(this, data, true) : fn(this, data.toString('utf8'), false);
      }
    } catch (err) {
      // A handler that throws must not take the server down (it would escape the socket's read).
      this.#handlerFailed(err);
      return;
    }
    // Only a thenable is waited for: whatever else a handler returns (`ws.send`'s byte count, null) is ignored.
    if (isThenable(r)) {
      // Receive-side flow control: while too many async handlers are behind, stop reading (the kernel's
      // receive buffer fills and TCP pushes back on the peer) instead of queueing messages without bound.
      if (++this.#pending >= ctx.maxPendingMessages) this.pauseReading();
      r.then(
        () => this.#settled(),
        (err: unknown) => {
          this.#settled();
          this.#handlerFailed(err);
        },
      );
    }
  }

  #settled(): void {
    this.#pending--;
    const max = this.#ctx().maxPendingMessages;
    if (!this.readingPaused || this.#pending > max >> 1) return;
    const backlog = this.#backlog;
    if (backlog !== null) {
      let i = 0;
      while (i < backlog.length && this.#pending < max) {
        const kind = backlog[i] as number;
        const data = backlog[i + 1] as Buffer;
        i += 2;
        this.#dispatch(kind, data);
      }
      backlog.splice(0, i);
      if (backlog.length > 0) return;
      this.#backlog = null;
    }
    if (this.#pending < max) this.resumeReading();
  }

  /** An application handler threw or rejected: close with 1011 and report the error. */
  #handlerFailed(err: unknown): void {
    // RFC 6455 §7.4.1: 1011, the server hit an unexpected condition. Details stay in the server.
    this.fail(1011, 'Internal error', 'handler-error', err);
    this.#report(err);
  }

  #report(err: unknown): void {
    const onError = this.#ctx().options.error;
    if (onError === undefined) return;
    try {
      const r = onError(this, err);
      if (isThenable(r)) r.then(undefined, ignore);
    } catch {
      // an error reporter that throws must not take the server down
    }
  }

  /**
   * A handler's return value: a promise that rejects fails the connection (1011) and is reported, as a throw is,
   * instead of becoming an unhandled rejection (which ends a Node process by default).
   */
  #watch(r: unknown): void {
    if (isThenable(r)) r.then(undefined, (err: unknown) => this.#handlerFailed(err));
  }

  // ── topics (pub/sub) ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Subscribes this connection to `topic` (any string of 1 to 1,024 UTF-8 bytes): `server.publish(topic, …)` and
   * other connections' `ws.publish(topic, …)` reach it. Returns false if it was subscribed already, or the connection
   * has ended. Unsubscribed from everything when it ends.
   * @throws TypeError when `topic` is not a string; RangeError for an empty or too long name, or past
   * `maxTopicsPerConnection`
   */
  subscribe(topic: string): boolean {
    if (this.closed) {
      this.#ctx().topics.checkTopic(topic);
      return false;
    }
    return this.#ctx().topics.subscribe(this, topic);
  }

  /** Unsubscribes from `topic`; false if it was not subscribed. @throws TypeError when `topic` is not a string */
  unsubscribe(topic: string): boolean {
    return this.#ctx().topics.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    return this.#ctx().topics.isSubscribed(this, topic);
  }

  /** The topics this connection is subscribed to (a copy). */
  get topics(): string[] {
    return [...this.#ctx().topics.topicsOf(this)];
  }

  /**
   * Publishes to every subscriber of `topic` but this connection (see `server.publish`): framed once, written to
   * each, in order; each subscriber's backpressure policy applies to it alone.
   * @throws TypeError when `topic` is not a string
   */
  publish(
    topic: string,
    data: string | Uint8Array | ArrayBuffer,
    isBinary?: boolean,
    compress?: boolean,
  ): PublishResult {
    return this.#ctx().publish(topic, data, isBinary, compress, this);
  }

  /** Sends text (`compress: false` skips permessage-deflate for this message). */
  sendText(data: string, compress?: boolean): number {
    return this.send(data, false, compress);
  }

  /** Sends bytes as a binary message (`compress: false` skips permessage-deflate for this message). */
  sendBinary(data: Uint8Array | ArrayBuffer, compress?: boolean): number {
    return this.send(data, true, compress);
  }
}

/**
 * @internal A compile-time check that `ServerWebSocket` is its connection's `WsConnectionHandler` (it passes itself
 * as the handler: see WsSendPath's constructor). Not an `implements` clause because the handler methods are marked
 * internal: they are stripped from the published types (tsconfig `stripInternal`), and a published class cannot
 * claim an interface whose members it does not show.
 */
export type ServerWebSocketIsHandler<W extends WsConnectionHandler = ServerWebSocket> = W;

/** What `onConnectionEnd` (and the diagnostics end event) says of a WebSocket that ended: from its close info. */
export function websocketEndInfo(ws: ServerWebSocket<unknown>, info: CloseInfo): ConnectionEndInfo {
  return {
    kind: 'websocket',
    remoteAddress: ws.remoteAddress,
    remotePort: ws.remotePort,
    cause: info.cause,
    initiator: info.initiator,
    code: info.code,
    reason: info.reason,
    wasClean: info.wasClean,
    requests: 1,
    bytesRead: info.bytesRead,
    bytesWritten: info.bytesWritten,
    durationMs: info.durationMs,
  };
}

/**
 * Tells `onConnectionEnd` of an end. A logging hook that throws, or returns a promise that rejects, must not take
 * the server down (an unhandled rejection ends a Node process by default): both are dropped.
 */
export function tellEnd(onEnd: (info: ConnectionEndInfo) => unknown, info: ConnectionEndInfo): void {
  try {
    const r = onEnd(info);
    if (isThenable(r)) r.then(undefined, ignore);
  } catch {
    // dropped, as said
  }
}
