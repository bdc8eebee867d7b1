/**
 * Server-side WebSockets over node:net: the upgrade (validate, ask the application, answer 101 or refuse),
 * then `ServerWebSocket`, which drives a `WsProtocol` core over the socket: every frame of a read is parsed
 * in one go and all replies leave in one batched write; close handshake with a timeout; backpressure figures.
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { ConnectionClosedError, InvalidStateError, type ProtocolError } from '../errors.js';
import { STATUS_TEXT, serializeFields, statusLine } from '../http1/serializer.js';
import {
  WS_BACKPRESSURE_LIMIT,
  WS_CLOSE_TIMEOUT_MS,
  WS_HANDSHAKE_TIMEOUT_MS,
  WS_IDLE_TIMEOUT_S,
  WS_MAX_BACKPRESSURE,
  WS_MAX_PAYLOAD,
  WS_MAX_PENDING_MESSAGES,
  WS_PONG_TIMEOUT_S,
  WS_STREAM_THRESHOLD,
} from '../limits.js';
import { copyOf } from '../util/bytes.js';
import { isValidUtf8 } from '../util/utf8.js';
import { formatExtensions } from '../ws/extensions.js';
import { OP_BINARY, OP_CONTINUATION, OP_TEXT } from '../ws/frame.js';
import {
  buildAcceptResponse,
  buildRejectResponse,
  type UpgradeRequestAccepted,
  validateUpgradeRequest,
} from '../ws/handshake.js';
import {
  checkDeflatePolicy,
  type DeflateParams,
  type DeflateServerPolicy,
  negotiateDeflate,
} from '../ws/permessage-deflate.js';
import { SIDE_SERVER, WS_CLOSED, WS_OPEN, type WsHandler, WsProtocol } from '../ws/protocol.js';
import { coarseNow, httpDateNow } from './clock.js';
import {
  DeflateCodec,
  type DeflateCodecOptions,
  type DeflateSettings,
  deflateStats,
  INFLATE_TOO_BIG,
  isDeflateSupported,
  isInflateScratch,
  type PreparedMessage,
  resolveDeflateSettings,
} from './deflate.js';
import { readBuffer } from './read-buffer.js';
import type { SockeyeRequest } from './request.js';
import { type ReadTarget, setReadTarget } from './socket-reads.js';
import { SocketWriter } from './socket-writer.js';

/** What the application's `upgrade` hook may return. */
export type UpgradeResult<T> =
  | undefined
  | boolean
  | {
      /** The subprotocol chosen from `ctx.protocols` (must be one of them). */
      protocol?: string;
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

/** Why a connection ended, as told to the close handler and to `serve({ onConnectionEnd })`. */
export type CloseCause =
  /** The peer started the close handshake. */
  | 'peer-close'
  /** `ws.close()` (or the server's graceful shutdown) started it. */
  | 'server-close'
  /** The peer broke the protocol (1002, 1007, 1009...). */
  | 'protocol-error'
  /** An application handler threw (1011). */
  | 'handler-error'
  /** The peer did not read: `maxBackpressure` was exceeded (1008). */
  | 'backpressure'
  /** Nothing arrived within `idleTimeout`, nor an answer to our ping within `pongTimeout`. */
  | 'idle-timeout'
  /** The close handshake did not finish within `closeTimeout`. */
  | 'close-timeout'
  /** `ws.terminate()`. */
  | 'terminated'
  /** The TCP connection dropped without a close handshake. */
  | 'connection-lost';

/** The end of a WebSocket connection, with everything needed to log it. */
export interface CloseInfo {
  /** Close code: the peer's (1005 when its frame had none), ours when we failed the connection, 1006 when none. */
  code: number;
  reason: string;
  /** Both close frames were exchanged and nobody failed the connection. */
  wasClean: boolean;
  /** Who started the end: the peer, the server (us), or nobody (the connection dropped). */
  initiator: 'peer' | 'server' | 'none';
  cause: CloseCause;
  /** Bytes read from / written to the socket over the connection's life (handshake included). */
  bytesRead: number;
  bytesWritten: number;
  /** Milliseconds since the connection opened. */
  durationMs: number;
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
  /** The connection is open. */
  open?(ws: ServerWebSocket<T>): void;
  /**
   * A whole message: text as a string, binary as a Buffer. If it returns a promise, reading pauses while
   * `maxPendingMessages` of them are unsettled (TCP flow control then slows the peer down).
   */
  message?(ws: ServerWebSocket<T>, message: string | Buffer, isBinary: boolean): void | Promise<void>;
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
  messageChunk?(
    ws: ServerWebSocket<T>,
    chunk: Buffer,
    isBinary: boolean,
    isFirst: boolean,
    isLast: boolean,
  ): void | Promise<void>;
  /** Size from which single-frame messages go to `messageChunk` (when it is set). Default 64 KiB. */
  streamThreshold?: number;
  /** The connection ended: close code (1005 none given, 1006 dropped), reason, whether clean, and why. */
  close?(ws: ServerWebSocket<T>, code: number, reason: string, wasClean: boolean, info: CloseInfo): void;
  /** The socket's buffer emptied after `send` reported backpressure (-1). */
  drain?(ws: ServerWebSocket<T>): void;
  /** A ping arrived (the pong is already sent). */
  ping?(ws: ServerWebSocket<T>, data: Buffer): void;
  /** A pong arrived. */
  pong?(ws: ServerWebSocket<T>, data: Buffer): void;
  /** A handler threw or rejected (the connection was closed with 1011 if it was open). Default: ignore. */
  error?(ws: ServerWebSocket<T>, err: unknown): void;
  /** Largest incoming message in bytes (1009 above). Default 64 MiB. */
  maxPayload?: number;
  /** How long to wait for the peer's close frame / TCP close after ours (ms). Default 5 s. */
  closeTimeout?: number;
  /** How long an async `upgrade` hook may take (ms); then 503. Default 10 s. */
  upgradeTimeout?: number;
  /** `bufferedAmount` above which `send` returns -1 (queued, wait for `drain`). Default 64 KiB. */
  backpressureLimit?: number;
  /**
   * Most bytes queued for a peer that does not read. A message that would pass it is not queued: with policy
   * `close` (default) the connection is closed with 1008 and destroyed if the close frame cannot be delivered
   * within `closeTimeout`; with `drop` the message is skipped and counted. Default 1 MiB.
   */
  maxBackpressure?: number;
  backpressurePolicy?: BackpressurePolicy;
  /** Seconds without receiving anything before we ping the peer (0: never). Default 120. */
  idleTimeout?: number;
  /** Seconds to wait for any frame after that ping before the connection is dropped. Default 30. */
  pongTimeout?: number;
  /** Unsettled async `message` handlers per connection before reading pauses. Default 16. */
  maxPendingMessages?: number;
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or options. Off by default. Compression and
   * decompression run synchronously, one message at a time; inflating stops at `maxPayload` (1009).
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

/** `send()` result: bytes handed to the socket (> 0), or one of these. */
export const SEND_BACKPRESSURE = -1;
export const SEND_DROPPED = 0;

/** readyState values, as in the WHATWG WebSocket. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/** WebSocket counters of a server. */
export interface WebSocketStats {
  /** Handshakes answered 101. */
  accepted: number;
  /** Handshakes refused (bad request, upgrade hook, errors). */
  rejected: number;
  /** The client went away while the `upgrade` hook was deciding. */
  abandoned: number;
  messagesIn: number;
  messagesOut: number;
  /** Payload bytes of messages received / sent. */
  payloadBytesIn: number;
  payloadBytesOut: number;
  /** Frames by opcode name (text, binary, continuation, ping, pong, close), in and out. */
  framesIn: Record<string, number>;
  framesOut: Record<string, number>;
  /** Close codes by who sent the close frame. */
  closeCodesFromPeer: Record<string, number>;
  closeCodesFromServer: Record<string, number>;
  /** Connection ends by cause. */
  ends: Record<string, number>;
  backpressureCloses: number;
  backpressureDrops: number;
  /** Connections that agreed on permessage-deflate. */
  deflateNegotiated: number;
  /** Protocol errors by ERR_WS_* code. */
  protocolErrors: Record<string, number>;
}

/** A zeroed set of WebSocket counters. @internal */
export function newWebSocketStats(): WebSocketStats {
  return {
    accepted: 0,
    rejected: 0,
    abandoned: 0,
    messagesIn: 0,
    messagesOut: 0,
    payloadBytesIn: 0,
    payloadBytesOut: 0,
    framesIn: { text: 0, binary: 0, continuation: 0, ping: 0, pong: 0, close: 0 },
    framesOut: { text: 0, binary: 0, continuation: 0, ping: 0, pong: 0, close: 0 },
    closeCodesFromPeer: {},
    closeCodesFromServer: {},
    ends: {},
    backpressureCloses: 0,
    backpressureDrops: 0,
    deflateNegotiated: 0,
    protocolErrors: {},
  };
}

function bump(table: Record<string, number>, key: string | number): void {
  table[key] = (table[key] ?? 0) + 1;
}

/**
 * What every connection of one server shares: resolved options, counters, the set of open connections.
 * Connections point here instead of holding their own copies.
 * @internal
 */
export class WsServerContext<T = unknown> {
  readonly options: WebSocketOptions<T>;
  readonly maxPayload: number;
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
  /** Server-level hook for every end (logging). */
  onEnd: ((ws: ServerWebSocket<T>, info: CloseInfo) => void) | null;

  constructor(options: WebSocketOptions<T>) {
    this.options = options;
    this.maxPayload = options.maxPayload ?? WS_MAX_PAYLOAD;
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
    this.finWaiting = 0;
    this.onEnd = null;
  }

  /** Idle and close deadlines of every open connection, from the server's coarse tick. */
  checkTimeouts(now: number): void {
    if (this.idleTimeoutMs <= 0 && this.deflateSettings === null && this.finWaiting === 0) return;
    for (const ws of this.open) ws.checkIdle(now, this.idleTimeoutMs, this.pongTimeoutMs);
  }
}

// Connection flags (one integer instead of several booleans).
const F_CLOSED = 1;
const F_WANT_DRAIN = 2;
const F_FRAGMENT_OPEN = 4;
const F_PAUSED = 8;
const F_FRAGMENT_COMPRESSED = 16;

// What a backlog entry / `#dispatch` call holds: a whole message or a streamed piece, and its flags.
const K_BINARY = 1;
const K_CHUNK = 2;
const K_FIRST = 4;
const K_LAST = 8;

/** A server-side WebSocket connection. */
export class ServerWebSocket<T = unknown> implements WsHandler, ReadTarget {
  /** Data attached by the `upgrade` hook. */
  data: T;
  /** The subprotocol agreed on, or `''`. */
  readonly protocol: string;
  /** The extensions agreed on (`Sec-WebSocket-Extensions` of the 101), or `''`. */
  readonly extensions: string;
  /** Path of the upgrade request. */
  readonly path: string;
  /** @internal */ readonly core: WsProtocol;
  /** permessage-deflate codec, when negotiated. */
  #codec: DeflateCodec | null;
  #socket: Socket;
  #writer: SocketWriter;
  #ctx: WsServerContext<T>;
  #closeTimer: NodeJS.Timeout | null;
  /** When our FIN went out after a finished close handshake (0: not waiting for the peer's FIN). */
  #finWaitSince: number;
  #flags: number;
  /** Close code of the close frame we sent (0: none), and why we are ending, once known. */
  #sentCode: number;
  #cause: CloseCause | null;
  /** Last time anything arrived; when we pinged for liveness (0: no ping outstanding). */
  #lastSeen: number;
  #pingedAt: number;
  #openedAt: number;
  /** Async message handlers not yet settled. */
  #pending: number;
  /** Messages and pieces parsed from an already-read chunk while `maxPendingMessages` handlers were unsettled:
   * kind (K_* bits) and payload, in arrival order. At most one read's worth (the socket is paused meanwhile). */
  #backlog: (number | Buffer)[] | null;

  /** @internal */
  constructor(
    socket: Socket,
    req: SockeyeRequest,
    protocol: string,
    data: T,
    ctx: WsServerContext<T>,
    extensions = '',
    deflate: DeflateParams | null = null,
  ) {
    this.data = data;
    this.protocol = protocol;
    this.extensions = extensions;
    this.#codec =
      deflate !== null && ctx.deflateSettings !== null ? new DeflateCodec(deflate, true, ctx.deflateSettings) : null;
    // PERF: getpeername is read on demand (it was 2-3 % of the connect-storm benchmark). Node keeps it once read,
    // so it is read now when a close handler may ask for it after the socket is gone (with onConnectionEnd, the
    // server read it at accept).
    if (ctx.options.close !== undefined) void socket.remoteAddress;
    this.path = req.path;
    this.#socket = socket;
    this.#writer = new SocketWriter(socket, this);
    this.#ctx = ctx;
    this.#closeTimer = null;
    this.#finWaitSince = 0;
    this.#flags = 0;
    this.#sentCode = 0;
    this.#cause = null;
    this.#lastSeen = coarseNow();
    this.#pingedAt = 0;
    this.#openedAt = this.#lastSeen;
    this.#pending = 0;
    this.#backlog = null;
    this.core = new WsProtocol(
      {
        side: SIDE_SERVER,
        maxPayload: ctx.maxPayload,
        rsv1Allowed: this.#codec !== null,
        streamThreshold: ctx.streamThreshold,
      },
      this,
      this.#writer,
    );
  }

  /** @internal starts reading; `head` holds bytes that came after the handshake request. */
  start(head: Buffer[]): void {
    const socket = this.#socket as SocketWithWs;
    socket[kWebSocket] = this as ServerWebSocket<unknown>;
    if (!setReadTarget(socket, this)) socket.on('data', wsSocketOnData);
    socket.on('end', wsSocketOnEnd);
    socket.on('error', wsSocketOnError);
    socket.on('close', wsSocketOnClose);
    socket.on('drain', wsSocketOnDrain);
    this.#ctx.open.add(this);
    const open = this.#ctx.options.open;
    if (open !== undefined) {
      try {
        open(this);
      } catch (err) {
        this.#handlerFailed(err);
      }
    }
    for (const chunk of head) if (chunk.length > 0 && (this.#flags & F_CLOSED) === 0) this.onData(chunk);
    // Only a socket that was paused (by an async `upgrade` hook) needs resuming: `resume()` on a flowing socket
    // still schedules a tick to restart a stream that never stopped (PERF: bench ws-storm).
    if ((this.#flags & (F_CLOSED | F_PAUSED)) === 0 && socket.isPaused()) socket.resume();
  }

  /** Peer IP address, or `''` once the socket is gone if it was never read while open and no close handler or
   * `onConnectionEnd` is set (then it is kept from the start). */
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }

  /** Peer port (0 when unknown, as `remoteAddress`). */
  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }

  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (WHATWG values). */
  get readyState(): number {
    if ((this.#flags & F_CLOSED) !== 0) return CLOSED;
    return this.core.state === WS_OPEN ? OPEN : this.core.state === WS_CLOSED ? CLOSED : CLOSING;
  }

  /** Bytes read from the socket so far (handshake included). */
  get bytesRead(): number {
    return this.#socket.bytesRead;
  }

  /** Bytes written to the socket so far (handshake included). */
  get bytesWritten(): number {
    return this.#socket.bytesWritten;
  }

  /** @internal Whether permessage-deflate holds zlib contexts for this connection now (see idleRelease). */
  get holdsDeflateContexts(): boolean {
    return this.#codec?.holdsContexts === true;
  }

  /** Bytes queued but not yet taken by the kernel (our batch + the socket's buffer). */
  get bufferedAmount(): number {
    return this.#writer.pendingBytes + this.#socket.writableLength;
  }

  /** @internal */ onData(chunk: Buffer): void {
    this.#lastSeen = coarseNow();
    this.#pingedAt = 0;
    const w = this.#writer;
    w.begin();
    try {
      this.core.receive(chunk);
      if (this.core.streaming) w.holdOpen();
    } finally {
      w.commit();
    }
  }

  /** @internal ReadTarget: a read into the shared buffer; the core copies what it keeps. */
  onRead(view: Buffer): void {
    this.#lastSeen = coarseNow();
    this.#pingedAt = 0;
    const w = this.#writer;
    w.begin();
    try {
      this.core.receive(view, true);
      // Inside a streamed message, what this read made (its echo) may wait for the next reads: see holdOpen.
      if (this.core.streaming) w.holdOpen();
    } finally {
      w.commit();
    }
  }

  /** @internal */ onEnd(): void {
    this.core.receiveEof();
    // The peer closed its side; we have nothing more to say either (we may have ended already: the server
    // closes first after a close handshake).
    if (!this.#socket.writableEnded) this.#socket.end();
  }

  /** @internal */ onDrain(): void {
    if ((this.#flags & F_WANT_DRAIN) !== 0) {
      this.#flags &= ~F_WANT_DRAIN;
      try {
        this.#ctx.options.drain?.(this);
      } catch (err) {
        this.#handlerFailed(err);
      }
    }
  }

  /** @internal dead-peer detection, from the server's tick. */
  checkIdle(now: number, idleMs: number, pongMs: number): void {
    if ((this.#flags & F_CLOSED) !== 0) return;
    if (this.#finWaitSince !== 0) {
      if (now - this.#finWaitSince > this.#ctx.closeTimeoutMs) {
        this.#endUnanswered('close-timeout');
        this.#socket.destroy();
      }
      return;
    }
    this.#codec?.releaseIfIdle(now);
    if (idleMs <= 0) return;
    if (this.#pingedAt !== 0) {
      if (now - this.#pingedAt > pongMs) {
        // Nothing at all since our ping: the peer is gone (or frozen). Nothing can be delivered: drop it.
        this.#end('idle-timeout');
        this.#socket.destroy();
      }
      return;
    }
    if (now - this.#lastSeen > idleMs && this.core.state === WS_OPEN) {
      this.#pingedAt = now;
      this.#writer.begin();
      try {
        this.core.ping(EMPTY_BUFFER);
        bump(this.#ctx.stats.framesOut, 'ping');
      } finally {
        this.#writer.commit();
      }
    }
  }

  /** Records why the connection is ending (the first cause wins). */
  #end(cause: CloseCause): void {
    if (this.#cause === null) this.#cause = cause;
  }

  /** A close handshake we started that the peer never answered ends by timeout or termination: say which. */
  #endUnanswered(cause: 'close-timeout' | 'terminated'): void {
    if (this.#cause === 'server-close' && !this.core.closeReceived) this.#cause = cause;
    else this.#end(cause);
  }

  /** @internal */ onSocketClose(): void {
    if ((this.#flags & F_CLOSED) !== 0) return;
    this.#flags |= F_CLOSED;
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    const ctx = this.#ctx;
    if (this.#finWaitSince !== 0) ctx.finWaiting--;
    ctx.open.delete(this);
    this.#codec?.close();
    const core = this.core;
    const stats = ctx.stats;
    const failedCode =
      this.#cause === 'protocol-error' || this.#cause === 'handler-error' || this.#cause === 'backpressure';
    let code = 1006; // RFC 6455 §7.1.5: no close frame received
    let reason = '';
    let clean = false;
    if (core.closeReceived) {
      code = core.closeCode;
      reason = core.closeReason;
      // Clean: both close frames were exchanged and nobody failed the connection.
      clean = core.closeSent && !failedCode;
      bump(stats.closeCodesFromPeer, code);
    } else if (failedCode) {
      code = this.#sentCode;
    }
    if (this.#sentCode !== 0) bump(stats.closeCodesFromServer, this.#sentCode);
    let cause = this.#cause;
    if (cause === null) cause = core.closeReceived ? 'peer-close' : 'connection-lost';
    bump(stats.ends, cause);
    const onEnd = ctx.onEnd;
    const onClose = ctx.options.close;
    // PERF: the report (byte counters, clock) only when someone reads it (bench ws-storm).
    if (onClose === undefined && onEnd === null) return;
    const initiator = cause === 'peer-close' ? 'peer' : cause === 'connection-lost' ? 'none' : 'server';
    const socket = this.#socket;
    const info: CloseInfo = {
      code,
      reason,
      wasClean: clean,
      initiator,
      cause,
      bytesRead: socket.bytesRead,
      bytesWritten: socket.bytesWritten,
      durationMs: Date.now() - this.#openedAt,
    };
    try {
      onClose?.(this, code, reason, clean, info);
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

  /** @internal SocketWriterOwner: a core asked for the end, and the batch is written. */
  onWriterEnd(): void {
    this.#endTcp();
  }

  #endTcp(): void {
    // RFC 6455 §7.1.1: the server closes the TCP connection first once the close handshake is done.
    if (!this.#socket.writableEnded) this.#socket.end();
    if (this.#closeTimer !== null || this.#finWaitSince !== 0 || (this.#flags & F_CLOSED) !== 0) return;
    // Only the peer's FIN is awaited now: the server's tick (every 250 ms) enforces closeTimeout on it, with no
    // timer per connection (PERF: a timer set and cleared per connection, bench ws-storm).
    this.#finWaitSince = coarseNow();
    this.#ctx.finWaiting++;
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== null || (this.#flags & F_CLOSED) !== 0) return;
    this.#closeTimer = setTimeout(() => {
      this.#endUnanswered('close-timeout');
      this.#socket.destroy();
    }, this.#ctx.closeTimeoutMs);
    this.#closeTimer.unref();
  }

  /** Fails the connection with `code` (a close frame, then TCP close). */
  #fail(code: number, reason: string, cause: CloseCause): void {
    this.#end(cause);
    if (this.core.state === WS_OPEN && (this.#flags & F_CLOSED) === 0) {
      this.#sentCode = code;
      this.#writer.begin();
      try {
        this.core.fail(code, reason);
        bump(this.#ctx.stats.framesOut, 'close');
      } finally {
        this.#writer.commit();
      }
      this.#armCloseTimer();
    }
  }

  // --- WsHandler (core events) -----------------------------------------------------------------

  /** @internal */
  onMessage(binary: boolean, data: Buffer, rsv1: boolean): void {
    const ctx = this.#ctx;
    const stats = ctx.stats;
    if (rsv1) {
      const plain = this.#inflate(binary, data);
      if (plain === null) return;
      // The inflated bytes may sit in a scratch buffer: a binary message, or one that waits, gets its own copy.
      data = isInflateScratch(plain) && (binary || (this.#flags & F_PAUSED) !== 0) ? Buffer.from(plain) : plain;
    }
    stats.messagesIn++;
    stats.payloadBytesIn += data.length;
    bump(stats.framesIn, binary ? 'binary' : 'text');
    if (ctx.options.message === undefined) return;
    // Pausing the socket stops the next read, not the rest of this one: messages that were already read wait
    // here, so that no more than maxPendingMessages handlers are ever unsettled.
    if ((this.#flags & F_PAUSED) !== 0) {
      this.#defer(binary ? K_BINARY : 0, data);
      return;
    }
    this.#dispatch(binary ? K_BINARY : 0, data);
  }

  /** @internal A piece of a streamed message (`messageChunk`): a view of the read buffer (see `#defer`). */
  onMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void {
    const stats = this.#ctx.stats;
    if (first) bump(stats.framesIn, binary ? 'binary' : 'text');
    stats.payloadBytesIn += data.length;
    if (last) stats.messagesIn++;
    const kind = K_CHUNK | (binary ? K_BINARY : 0) | (first ? K_FIRST : 0) | (last ? K_LAST : 0);
    if ((this.#flags & F_PAUSED) !== 0) this.#defer(kind, data);
    else this.#dispatch(kind, data);
  }

  /** Keeps a message or piece parsed while reading is paused, for `#settled`. */
  #defer(kind: number, data: Buffer): void {
    // A streamed piece is a view of the shared read buffer, which the next read overwrites.
    if (data.buffer === readBuffer.buffer) data = copyOf(data);
    if (this.#backlog === null) this.#backlog = [kind, data];
    else this.#backlog.push(kind, data);
  }

  /** RFC 7692 §7.2.2: decompress a message; fails the connection (1009 or 1007) and returns null if it cannot. */
  #inflate(binary: boolean, data: Buffer): Buffer | null {
    const codec = this.#codec as DeflateCodec;
    const out = codec.decompress(data, this.#ctx.maxPayload || Number.MAX_SAFE_INTEGER, coarseNow());
    if (typeof out === 'number') {
      if (out === INFLATE_TOO_BIG) {
        // RFC 6455 §7.4.1: 1009, a message too big to process; stopped while inflating, before it was all built.
        this.#protocolError(
          1009,
          'ERR_WS_MESSAGE_TOO_BIG',
          `Message longer than maxPayload (${this.#ctx.maxPayload} bytes) once decompressed`,
        );
      } else {
        // The compressed data is not a valid DEFLATE stream: 1007, data inconsistent with the message (as ws).
        this.#protocolError(1007, 'ERR_WS_INVALID_COMPRESSED_DATA', 'Invalid compressed data');
      }
      return null;
    }
    // RFC 6455 §8.1: a text message must be UTF-8, checked on the decompressed bytes.
    if (!binary && !isValidUtf8(out)) {
      this.#protocolError(1007, 'ERR_WS_INVALID_UTF8', 'Invalid UTF-8 in a text message');
      return null;
    }
    return out;
  }

  #protocolError(code: number, errCode: string, reason: string): void {
    bump(this.#ctx.stats.protocolErrors, errCode);
    this.#fail(code, reason, 'protocol-error');
  }

  /** Calls `message` or `messageChunk` (K_CHUNK) with what `kind` says. */
  #dispatch(kind: number, data: Buffer): void {
    const ctx = this.#ctx;
    const binary = (kind & K_BINARY) !== 0;
    let r: void | Promise<void>;
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
      // A handler that throws must not take the server down (it would escape the socket's 'data' event).
      this.#handlerFailed(err);
      return;
    }
    if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
      // Receive-side flow control: while too many async handlers are behind, stop reading (the kernel's
      // receive buffer fills and TCP pushes back on the peer) instead of queueing messages without bound.
      if (++this.#pending >= ctx.maxPendingMessages && (this.#flags & F_PAUSED) === 0) {
        this.#flags |= F_PAUSED;
        this.#socket.pause();
      }
      (r as Promise<void>).then(
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
    const max = this.#ctx.maxPendingMessages;
    if ((this.#flags & F_PAUSED) === 0 || this.#pending > max >> 1) return;
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
    if (this.#pending < max) {
      this.#flags &= ~F_PAUSED;
      if ((this.#flags & F_CLOSED) === 0) this.#socket.resume();
    }
  }

  /** An application handler threw or rejected: close with 1011 and report the error. */
  #handlerFailed(err: unknown): void {
    // RFC 6455 §7.4.1: 1011, the server hit an unexpected condition. Details stay in the server.
    this.#fail(1011, 'Internal error', 'handler-error');
    this.#report(err);
  }

  #report(err: unknown): void {
    const onError = this.#ctx.options.error;
    if (onError === undefined) return;
    try {
      onError(this, err);
    } catch {
      // an error reporter that throws must not take the server down
    }
  }

  /** @internal */
  onPing(data: Buffer): void {
    const stats = this.#ctx.stats;
    bump(stats.framesIn, 'ping');
    if (this.core.state === WS_OPEN) bump(stats.framesOut, 'pong');
    try {
      this.#ctx.options.ping?.(this, data);
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal */
  onPong(data: Buffer): void {
    bump(this.#ctx.stats.framesIn, 'pong');
    try {
      this.#ctx.options.pong?.(this, data);
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal */
  onClose(_code: number, _reason: string): void {
    // The core echoed the close frame (unless we had sent ours) and asked for the TCP close; 'close' reports.
    const stats = this.#ctx.stats;
    bump(stats.framesIn, 'close');
    if (this.#sentCode === 0) {
      this.#sentCode = this.core.closeCode === 1005 ? 1005 : this.core.closeCode;
      bump(stats.framesOut, 'close');
    }
    this.#end('peer-close');
  }

  /** @internal */
  onError(err: ProtocolError): void {
    this.#sentCode = err.closeCode;
    bump(this.#ctx.stats.protocolErrors, err.code);
    bump(this.#ctx.stats.framesOut, 'close');
    this.#end('protocol-error');
  }

  // --- sending ----------------------------------------------------------------------------------

  /**
   * Room for `n` more bytes under `maxBackpressure`; otherwise applies the policy: `drop` skips the message,
   * `close` fails the connection with 1008. Returns whether the message may be queued.
   */
  #admit(n: number): boolean {
    const ctx = this.#ctx;
    const buffered = this.bufferedAmount;
    // A message on an empty buffer always goes: the limit bounds what piles up, not message size.
    if (buffered === 0 || buffered + n <= ctx.maxBackpressure) return true;
    if (ctx.dropOnBackpressure) {
      ctx.stats.backpressureDrops++;
      return false;
    }
    ctx.stats.backpressureCloses++;
    // RFC 6455 §7.4.1: 1008, a message that violates the server's policy. The frame queues behind what the
    // peer has not read; if it cannot be delivered within closeTimeout the socket is destroyed.
    this.#fail(1008, `Backpressure limit of ${ctx.maxBackpressure} bytes exceeded`, 'backpressure');
    return false;
  }

  /**
   * Sends a message: a string as text, bytes as binary. Returns the bytes handed to the socket; or
   * `SEND_BACKPRESSURE` (-1) when the message was queued but the socket's buffer is above `backpressureLimit`
   * (wait for `drain`); or `SEND_DROPPED` (0) when it was not sent: the connection is closing or closed, or
   * the peer's unread data would pass `maxBackpressure` (see `backpressurePolicy`).
   *
   * With permessage-deflate, messages of `threshold` bytes or more are compressed unless `compress` is `false`.
   */
  send(data: string | Uint8Array | ArrayBuffer, binary?: boolean, compress?: boolean): number {
    if (this.core.state !== WS_OPEN || (this.#flags & F_CLOSED) !== 0) return SEND_DROPPED;
    let b: Buffer | null = null;
    let n: number;
    if (typeof data === 'string') {
      if (binary === true) {
        b = Buffer.from(data, 'utf8');
        n = b.length;
      } else n = data.length;
    } else {
      b = toBuffer(data);
      n = b.length;
    }
    const isText = b === null || binary === false;
    const codec = this.#codec;
    if (codec !== null) {
      // The threshold is in bytes; a string's UTF-8 length is 1 to 3 times its length in UTF-16 units.
      if (
        compress !== false &&
        (codec.wants(n) || (b === null && codec.wants(n * 3) && codec.wants(Buffer.byteLength(data as string))))
      ) {
        return this.#sendCompressed(b ?? Buffer.from(data as string), isText);
      }
      deflateStats.skipped++;
    }
    if (!this.#admit(n)) return SEND_DROPPED;
    const w = this.#writer;
    w.begin();
    try {
      if (b === null) this.core.sendText(data as string);
      else if (binary === false) this.core.sendText(b);
      else this.core.sendBinary(b);
    } finally {
      w.commit();
    }
    const stats = this.#ctx.stats;
    stats.messagesOut++;
    stats.payloadBytesOut += n;
    bump(stats.framesOut, isText ? 'text' : 'binary');
    return this.#afterSend(n);
  }

  /** RFC 7692 §7.2.1: one frame with RSV1 set, holding the compressed message. */
  #sendCompressed(plain: Buffer, isText: boolean): number {
    const codec = this.#codec as DeflateCodec;
    this.#checkNoFragmentOpen();
    // With context takeover, whatever we compress joins the history the peer must have seen: a message the
    // backpressure policy then dropped would corrupt the next ones. So such a connection is admitted on the
    // uncompressed size first; without takeover, on what is queued: the compressed bytes.
    if (!codec.sharesOutput && !this.#admit(plain.length)) return SEND_DROPPED;
    const payload = codec.compress(plain, coarseNow());
    return this.#sendFrameCounted(payload, plain.length, isText, true, codec.sharesOutput);
  }

  /** A new message cannot start inside a fragmented one (checked before compressing it into the context). */
  #checkNoFragmentOpen(): void {
    if ((this.#flags & F_FRAGMENT_OPEN) !== 0) {
      throw new InvalidStateError('Cannot start a message: a fragmented message is being sent');
    }
  }

  /**
   * Sends a message prepared once for many connections (`new PreparedMessage(data)`): with permessage-deflate
   * its compressed form is computed once for all connections that compress without context takeover (the
   * default). Returns as `send`.
   */
  sendPrepared(message: PreparedMessage, compress?: boolean): number {
    if (this.core.state !== WS_OPEN || (this.#flags & F_CLOSED) !== 0) return SEND_DROPPED;
    const plain = message.data;
    const codec = this.#codec;
    if (codec === null || compress === false || !codec.wants(plain.length)) {
      if (codec !== null) deflateStats.skipped++;
      return this.#sendPlain(plain, !message.binary);
    }
    this.#checkNoFragmentOpen();
    if (!codec.sharesOutput && !this.#admit(plain.length)) return SEND_DROPPED;
    const payload = message.compressedFor(codec, coarseNow());
    return this.#sendFrameCounted(payload, plain.length, !message.binary, true, codec.sharesOutput);
  }

  #sendPlain(plain: Buffer, isText: boolean): number {
    return this.#sendFrameCounted(plain, plain.length, isText, false, true);
  }

  /** One whole message in one frame, counted and (when `admit`) checked against the backpressure limits. */
  #sendFrameCounted(payload: Buffer, plainLength: number, isText: boolean, rsv1: boolean, admit: boolean): number {
    if (admit && !this.#admit(payload.length)) return SEND_DROPPED;
    const w = this.#writer;
    w.begin();
    try {
      this.core.sendFrame(isText ? OP_TEXT : OP_BINARY, payload, true, rsv1);
    } finally {
      w.commit();
    }
    const stats = this.#ctx.stats;
    stats.messagesOut++;
    stats.payloadBytesOut += plainLength;
    bump(stats.framesOut, isText ? 'text' : 'binary');
    return this.#afterSend(payload.length);
  }

  /** Sends text (`compress: false` skips permessage-deflate for this message). */
  sendText(data: string, compress?: boolean): number {
    return this.send(data, false, compress);
  }

  /** Sends bytes as a binary message (`compress: false` skips permessage-deflate for this message). */
  sendBinary(data: Uint8Array | ArrayBuffer, compress?: boolean): number {
    return this.send(data, true, compress);
  }

  /**
   * Sends one fragment of a message (RFC 6455 §5.4): the first call's `binary` sets the message type; `fin`
   * ends the message. Other messages cannot be sent until it is finished. With permessage-deflate the whole
   * message is compressed (RSV1 on its first frame) unless the first call passes `compress: false`.
   */
  sendFragment(
    data: string | Uint8Array | ArrayBuffer,
    fin: boolean,
    binary = typeof data !== 'string',
    compress?: boolean,
  ): number {
    if (this.core.state !== WS_OPEN || (this.#flags & F_CLOSED) !== 0) return SEND_DROPPED;
    let b = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    const plainLength = b.length;
    const open = (this.#flags & F_FRAGMENT_OPEN) !== 0;
    // The first fragment decides whether the message is compressed (RFC 7692 §6.1: RSV1 on the first frame).
    if (!open && this.#codec !== null && compress !== false) this.#flags |= F_FRAGMENT_COMPRESSED;
    const compressed = (this.#flags & F_FRAGMENT_COMPRESSED) !== 0;
    // Admitted before compressing: a fragment compressed and then dropped would corrupt the stream.
    if (!this.#admit(b.length)) {
      if (!open) this.#flags &= ~F_FRAGMENT_COMPRESSED;
      return SEND_DROPPED;
    }
    if (compressed) b = (this.#codec as DeflateCodec).compressFragment(b, fin, coarseNow());
    const opcode = open ? OP_CONTINUATION : binary ? OP_BINARY : OP_TEXT;
    this.#writer.begin();
    try {
      this.core.sendFrame(opcode, b, fin, compressed && !open);
    } finally {
      this.#writer.commit();
    }
    if (fin) this.#flags &= ~(F_FRAGMENT_OPEN | F_FRAGMENT_COMPRESSED);
    else this.#flags |= F_FRAGMENT_OPEN;
    const stats = this.#ctx.stats;
    stats.payloadBytesOut += plainLength;
    if (fin) stats.messagesOut++;
    bump(stats.framesOut, open ? 'continuation' : binary ? 'binary' : 'text');
    return this.#afterSend(b.length);
  }

  /** Streams an async iterable as one fragmented message, waiting for `drain` under backpressure. */
  async sendStream(
    source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
    binary = true,
  ): Promise<void> {
    let pending: Buffer | null = null;
    for await (const part of source) {
      const b = typeof part === 'string' ? Buffer.from(part, 'utf8') : toBuffer(part);
      if (pending !== null) {
        if (this.sendFragment(pending, false, binary) === SEND_DROPPED) {
          throw new ConnectionClosedError(1006, '', false);
        }
        if (this.bufferedAmount > this.#ctx.backpressureLimit) await this.#waitDrain();
      }
      pending = b;
    }
    if (this.sendFragment(pending ?? EMPTY_BUFFER, true, binary) === SEND_DROPPED) {
      throw new ConnectionClosedError(1006, '', false);
    }
  }

  /**
   * Resolves once `bufferedAmount` is back under `backpressureLimit` (at once if it is), or the connection is
   * gone. A `messageChunk` handler that returns it after `send…` reported -1 stops reading while the peer is
   * slow to read what it is sent.
   */
  drained(): Promise<void> {
    const limit = this.#ctx.backpressureLimit;
    if (this.bufferedAmount <= limit || (this.#flags & F_CLOSED) !== 0) return Promise.resolve();
    // Called in a handler, the bytes may still be gathered by the read's batch, which is written when the handler
    // returns, often whole (no 'drain' would ever come for them): look again once it has been written.
    return Promise.resolve().then(() =>
      this.bufferedAmount > limit && (this.#flags & F_CLOSED) === 0 ? this.#waitDrain() : undefined,
    );
  }

  #waitDrain(): Promise<void> {
    return new Promise((resolve) => this.#whenWritten(resolve));
  }

  /**
   * Calls `fn` once what the socket has queued now is written (or the socket is gone). Node emits 'drain' only
   * after a write found the socket's highWaterMark (16 KiB) reached; with less queued (a `backpressureLimit`
   * under 16 KiB) no 'drain' comes, and the callback of an empty write, which completes after every write before
   * it, says when instead.
   */
  #whenWritten(fn: () => void): void {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) {
      fn();
      return;
    }
    if (!socket.writableNeedDrain) {
      socket.write(EMPTY_BUFFER, () => fn());
      return;
    }
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      fn();
    };
    socket.on('drain', done);
    socket.on('close', done);
  }

  #afterSend(n: number): number {
    if (this.bufferedAmount > this.#ctx.backpressureLimit) {
      if ((this.#flags & F_WANT_DRAIN) === 0) {
        this.#flags |= F_WANT_DRAIN;
        // The bytes may still sit in the open batch: once it is written (after the current handler), make sure
        // the `drain` handler is called even when the socket will not emit 'drain' (see #whenWritten).
        queueMicrotask(() => {
          if ((this.#flags & F_WANT_DRAIN) !== 0 && !this.#socket.writableNeedDrain) {
            this.#whenWritten(() => {
              if ((this.#flags & F_CLOSED) === 0) this.onDrain();
            });
          }
        });
      }
      return SEND_BACKPRESSURE;
    }
    return n;
  }

  /** Sends a ping (payload ≤ 125 bytes). */
  ping(data: string | Uint8Array = EMPTY_BUFFER): void {
    if (this.core.state !== WS_OPEN || (this.#flags & F_CLOSED) !== 0) return;
    this.#writer.begin();
    try {
      this.core.ping(typeof data === 'string' ? Buffer.from(data) : toBuffer(data));
    } finally {
      this.#writer.commit();
    }
    bump(this.#ctx.stats.framesOut, 'ping');
  }

  /** Sends an unsolicited pong (payload ≤ 125 bytes). */
  pong(data: string | Uint8Array = EMPTY_BUFFER): void {
    if (this.core.state !== WS_OPEN || (this.#flags & F_CLOSED) !== 0) return;
    this.#writer.begin();
    try {
      this.core.pong(typeof data === 'string' ? Buffer.from(data) : toBuffer(data));
    } finally {
      this.#writer.commit();
    }
    bump(this.#ctx.stats.framesOut, 'pong');
  }

  /**
   * Starts the close handshake: sends a close frame (code 1000 by default; RangeError for a code that may not
   * be sent, or a reason over 123 bytes), then waits up to `closeTimeout` for the peer's.
   */
  close(code?: number, reason = ''): void {
    if (this.core.state !== WS_OPEN || (this.#flags & F_CLOSED) !== 0) return;
    this.#writer.begin();
    try {
      this.core.close(code, reason);
    } finally {
      this.#writer.commit();
    }
    this.#sentCode = code ?? 1005;
    bump(this.#ctx.stats.framesOut, 'close');
    this.#end('server-close');
    this.#armCloseTimer();
  }

  /** Destroys the connection at once, without a close handshake (the close handler gets 1006). */
  terminate(): void {
    this.#endUnanswered('terminated');
    this.#writer.discard();
    this.#socket.destroy();
  }
}

const EMPTY_BUFFER = Buffer.alloc(0);

const kWebSocket = Symbol('sockeye.websocket');
type SocketWithWs = Socket & { [kWebSocket]?: ServerWebSocket<unknown> };

// Module-level listeners that find their WebSocket on the socket: no closures per connection.
function wsSocketOnData(this: SocketWithWs, chunk: Buffer): void {
  this[kWebSocket]?.onData(chunk);
}
function wsSocketOnEnd(this: SocketWithWs): void {
  this[kWebSocket]?.onEnd();
}
function wsSocketOnError(this: SocketWithWs): void {
  // ECONNRESET, EPIPE...: 'close' follows and reports 1006.
}
function wsSocketOnClose(this: SocketWithWs): void {
  this[kWebSocket]?.onSocketClose();
}
function wsSocketOnDrain(this: SocketWithWs): void {
  this[kWebSocket]?.onDrain();
}

function toBuffer(data: Uint8Array | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function rejectWith(status: number, body = '', headers: [string, string][] = []): UpgradeRejection {
  return { reject: true, status, body, headers };
}

function writeRefusal(socket: Socket, status: number, body: string, headers: [string, string][]): void {
  let head = statusLine(status);
  try {
    head += serializeFields(headers.flat());
  } catch {
    // invalid headers from the application: send none of them
  }
  const text = body === '' ? `${STATUS_TEXT[status] ?? 'Error'}\n` : body;
  socket.end(
    `${head}Date: ${httpDateNow()}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
  setTimeout(() => socket.destroy(), 2000).unref();
}

/**
 * Runs a WebSocket handshake on a socket handed over by the HTTP layer in the turn that read the request
 * (`head` = bytes after the request head; the socket is not paused, and nothing is read before this returns). Returns a promise only when the `upgrade` hook is asynchronous: the common path (no hook, or
 * a hook that answers at once) allocates no promise (PERF: connect-storm benchmark).
 * @internal
 */
export function upgradeToWebSocket<T>(
  req: SockeyeRequest,
  socket: Socket,
  head: Buffer[],
  ctx: WsServerContext<T>,
): Promise<void> | undefined {
  const options = ctx.options;
  const stats = ctx.stats;
  // RFC 6455 §4.2.1: what a valid opening handshake carries; anything else is refused (400, or 426).
  const check = validateUpgradeRequest(req.method, req.httpVersion, req.headers);
  if (!check.ok) {
    stats.rejected++;
    socket.end(buildRejectResponse(check));
    setTimeout(() => socket.destroy(), 2000).unref();
    return undefined;
  }
  if (options.upgrade === undefined) {
    completeUpgrade(req, socket, head, ctx, check, undefined);
    return undefined;
  }
  let gone = false;
  const onGone = () => {
    gone = true;
  };
  socket.once('close', onGone);
  socket.on('error', noop);
  let r: UpgradeResult<T> | Promise<UpgradeResult<T>>;
  try {
    const hookCtx: UpgradeContext = {
      protocols: check.protocols,
      origin: req.headers.get('origin'),
      reject: rejectWith,
    };
    r = options.upgrade(req, hookCtx);
  } catch (err) {
    socket.off('close', onGone);
    hookFailed(socket, stats, err, false);
    return undefined;
  }
  if (!isPromise(r)) {
    socket.off('close', onGone);
    if (socket.destroyed) {
      stats.abandoned++;
      return undefined;
    }
    completeUpgrade(req, socket, head, ctx, check, r);
    return undefined;
  }
  // Read while the hook decides: early frames are kept for the connection, and a client that leaves (FIN) is
  // noticed.
  const unwatch = watchWhileDeciding(socket, head, onGone);
  return withTimeout(r, options.upgradeTimeout ?? WS_HANDSHAKE_TIMEOUT_MS).then(
    (result) => {
      unwatch();
      socket.off('close', onGone);
      // The client may have gone while we were deciding: check the socket again after the await.
      if (gone || socket.destroyed) {
        stats.abandoned++;
        socket.destroy();
        return;
      }
      completeUpgrade(req, socket, head, ctx, check, result);
    },
    (err: unknown) => {
      unwatch();
      socket.off('close', onGone);
      hookFailed(socket, stats, err, gone);
    },
  );
}

/** The `upgrade` hook threw, rejected or timed out: 503 on a timeout, else 500 (or nothing if the client left). */
function hookFailed(socket: Socket, stats: WebSocketStats, err: unknown, gone: boolean): void {
  stats.rejected++;
  if (!gone) writeRefusal(socket, err === TIMEOUT ? 503 : 500, '', []);
  else socket.destroy();
}

/** Acts on the hook's answer (`undefined`: no hook): refuse, or write the 101 and open the connection. */
function completeUpgrade<T>(
  req: SockeyeRequest,
  socket: Socket,
  head: Buffer[],
  ctx: WsServerContext<T>,
  check: UpgradeRequestAccepted,
  result: UpgradeResult<T> | undefined,
): void {
  const stats = ctx.stats;
  let protocol = '';
  let data: T = undefined as T;
  let extraHeaders: [string, string][] = [];
  let deflate = ctx.deflatePolicy !== null;
  if (result === false) {
    stats.rejected++;
    writeRefusal(socket, 403, '', []);
    return;
  }
  if (typeof result === 'object' && result !== null) {
    if ('reject' in result) {
      stats.rejected++;
      writeRefusal(socket, result.status, result.body, result.headers);
      return;
    }
    if (result.protocol !== undefined && result.protocol !== '') {
      // RFC 6455 §4.2.2: the server selects one of the values the client offered.
      if (!check.protocols.includes(result.protocol)) {
        stats.rejected++;
        writeRefusal(socket, 500, '', []);
        return;
      }
      protocol = result.protocol;
    }
    if (result.data !== undefined) data = result.data;
    if (result.headers !== undefined) extraHeaders = result.headers;
    if (result.perMessageDeflate === false) deflate = false;
  }
  // RFC 7692 §5: accept the first permessage-deflate offer we can, or go on without compression.
  let extensions = '';
  let deflateParams: DeflateParams | null = null;
  if (deflate && check.extensions.length > 0) {
    const agreement = negotiateDeflate(check.extensions, ctx.deflatePolicy as DeflateServerPolicy);
    if (agreement !== null) {
      extensions = formatExtensions([agreement.response]);
      deflateParams = agreement.params;
      stats.deflateNegotiated++;
    }
  }
  let response: string;
  try {
    response = buildAcceptResponse(check.key, protocol, extensions, extraHeaders);
  } catch {
    stats.rejected++;
    writeRefusal(socket, 500, '', []);
    return;
  }
  stats.accepted++;
  // PERF: as a Buffer. Node writes a latin1 string through libuv's queued write path here, which costs two
  // epoll_ctl calls and one more event-loop callback per handshake; a Buffer is written at once (strace, bench
  // ws-storm).
  socket.write(Buffer.from(response, 'latin1'));
  const ws = new ServerWebSocket<T>(socket, req, protocol, data, ctx, extensions, deflateParams);
  ws.start(head);
}

/** Bytes read ahead while an async `upgrade` hook decides; then reading pauses again (TCP pushes back). */
const EARLY_BYTES_LIMIT = 64 * 1024;

/**
 * Reads the socket while an async `upgrade` hook runs: bytes (frames sent early) are kept in `head` for the
 * connection, and end of input means the client left (`onEnd`). Returns the function that stops it.
 */
function watchWhileDeciding(socket: Socket, head: Buffer[], onEnd: () => void): () => void {
  let bytes = 0;
  const onData = (chunk: Buffer) => {
    head.push(chunk);
    bytes += chunk.length;
    if (bytes > EARLY_BYTES_LIMIT) socket.pause();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.resume();
  return () => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
  };
}

const TIMEOUT = Symbol('timeout');

function withTimeout<V>(p: Promise<V>, ms: number): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const t = setTimeout(() => reject(TIMEOUT), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function isPromise<V>(v: V | Promise<V>): v is Promise<V> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<V>).then === 'function';
}

function noop(): void {}
