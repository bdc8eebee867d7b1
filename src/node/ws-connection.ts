/**
 * One WebSocket connection after the opening handshake, for both roles: it owns the protocol core (`WsProtocol`),
 * the byte transport beneath it (`transport.ts`), the permessage-deflate codec, the close timer, the idle ping and
 * pong timeout, the backpressure accounting and send policy, and the facts of how the connection ended. The
 * server's `ServerWebSocket` (websocket.ts) and the client's WHATWG `WebSocket` (client.ts) are thin faces over
 * it (the shape of Python websockets' protocol.py + connection.py): a close-handshake rule is fixed here, once.
 *
 * Timing without a timer per connection: idle pings, pong timeouts and the wait for the peer's TCP close after a
 * finished close handshake are checked by `checkTimers(now)` from the process's coarse tick (clock.ts), which the
 * server (for its connections) and the client module (for its own) call. Only a close we start arms a timer.
 */

import { Buffer } from 'node:buffer';
import { ConnectionClosedError, InvalidStateError, type ProtocolError } from '../errors.js';
import { copyOf } from '../util/bytes.js';
import { OP_BINARY, OP_CONTINUATION, OP_TEXT } from '../ws/frame.js';
import { checkInflated, rsv1ForFrame } from '../ws/permessage-deflate.js';
import { SIDE_CLIENT, WS_CLOSED, WS_OPEN, type WsHandler, WsProtocol } from '../ws/protocol.js';
import { coarseNow } from './clock.js';
import { type DeflateCodec, deflateStats, INFLATE_PENDING, isInflateScratch } from './deflate.js';
import type { PreparedMessage } from './prepared-message.js';
import { readBuffer } from './read-buffer.js';
import type { Transport, TransportTarget } from './transport.js';

/** `send()` result: bytes handed to the transport (> 0), or one of these. */
export const SEND_BACKPRESSURE = -1;
export const SEND_DROPPED = 0;

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

/** @internal */
export function bump(table: Record<string, number>, key: string | number): void {
  table[key] = (table[key] ?? 0) + 1;
}

/**
 * What a connection needs to know about its settings. A server's context implements it once for all its
 * connections (they point to it instead of holding copies); a client has one per connection.
 */
export interface WsConnectionConfig {
  /** `SIDE_SERVER` or `SIDE_CLIENT`. */
  readonly side: 0 | 1;
  /** Largest incoming message in bytes (1009 above); 0: no limit. */
  readonly maxPayload: number;
  /** How long a close we started waits for the peer's close frame, and a finished handshake for its TCP close. */
  readonly closeTimeoutMs: number;
  /** Quiet time before we ping (0: never), and how long we then wait for anything at all. */
  readonly idleTimeoutMs: number;
  readonly pongTimeoutMs: number;
  /** `bufferedAmount` above which a send reports backpressure (-1) and a drain is awaited (Infinity: never). */
  readonly backpressureLimit: number;
  /** Most bytes queued for a peer that does not read before the policy applies (Infinity: no limit). */
  readonly maxBackpressure: number;
  /** Policy past `maxBackpressure`: skip the message (true) or fail the connection with 1008. */
  readonly dropOnBackpressure: boolean;
  /** Single-frame messages from this size are streamed to `onWsMessageChunk` (Infinity: never). */
  readonly streamThreshold: number;
  /** Most frames one incoming message may come in (1008 past it); 0: no limit. */
  readonly maxFragments: number;
  /** Counters to keep (a server's), or null. */
  readonly stats: WebSocketStats | null;
  /** Connections of this config waiting for the peer's TCP close after a finished close handshake. */
  finWaiting: number;
}

/** What a face learns from its connection. Fixed methods, positional arguments: nothing allocated per event. */
export interface WsConnectionHandler {
  /**
   * A whole message, decompressed and checked. `data` may be ephemeral (a view of the shared read buffer or of the
   * inflate scratch buffer, see `isEphemeral`): use it or copy it before returning.
   */
  onWsMessage(binary: boolean, data: Buffer): void;
  /** A piece of a streamed message (a view of the shared read buffer when reads are shared). */
  onWsMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void;
  /** A ping (the pong is already written) / a pong. */
  onWsPing(data: Buffer): void;
  onWsPong(data: Buffer): void;
  /** The connection is closing because of the peer (its close frame, echoed) or a failure. */
  onWsClosing(): void;
  /** `bufferedAmount` went back under `backpressureLimit` after a send reported backpressure. */
  onWsDrain(): void;
  /** The transport closed; the connection's facts (`closeInfo()`, `failed`, `error`) say how. Called once. */
  onWsEnd(): void;
}

// Connection flags (one integer instead of several booleans).
const F_CLOSED = 1;
const F_WANT_DRAIN = 2;
const F_FRAGMENT_OPEN = 4;
const F_PAUSED = 8;
const F_FRAGMENT_COMPRESSED = 16;
const F_FAILED = 32;
/** Reading stopped for good (failed for backpressure): `resumeReading` does nothing. */
const F_READ_STOPPED = 64;

const EMPTY_BUFFER = Buffer.alloc(0);

/** Whether `data` is a view that the next read or inflate overwrites (a face copies it before keeping it). */
export function isEphemeral(data: Buffer): boolean {
  return data.buffer === readBuffer.buffer || isInflateScratch(data);
}

/** One WebSocket connection over a transport (see the top of this file). */
export class WsConnection implements WsHandler, TransportTarget {
  readonly core: WsProtocol;
  readonly transport: Transport;
  readonly config: WsConnectionConfig;
  readonly #handler: WsConnectionHandler;
  /** permessage-deflate codec, when negotiated. */
  readonly #codec: DeflateCodec | null;
  #closeTimer: NodeJS.Timeout | null;
  /** When the wait for the peer's TCP close began (0: not waiting). */
  #finWaitSince: number;
  #flags: number;
  /** Close code of the close frame we sent (0: none), why we are ending once known, and why we failed. */
  #sentCode: number;
  #cause: CloseCause | null;
  #error: unknown;
  /** Last time anything arrived; when we pinged for liveness (0: no ping outstanding). */
  #lastSeen: number;
  #pingedAt: number;
  readonly #openedAt: number;
  /** This connection's `maxBackpressure` (the config's unless changed: see ServerWebSocket.maxBackpressure). */
  maxBackpressure: number;
  /** While a message is inflated in slices: what the core reported after it, in order (else null). */
  #deferred: (() => void)[] | null;
  #inflatingBinary: boolean;
  /** The transport closed while messages were still being inflated. */
  #endDeferred: boolean;

  constructor(
    config: WsConnectionConfig,
    transport: Transport,
    codec: DeflateCodec | null,
    handler: WsConnectionHandler,
  ) {
    this.transport = transport;
    this.config = config;
    this.#handler = handler;
    this.#codec = codec;
    this.#closeTimer = null;
    this.#finWaitSince = 0;
    this.#flags = 0;
    this.#sentCode = 0;
    this.#cause = null;
    this.#error = undefined;
    this.#lastSeen = coarseNow();
    this.#pingedAt = 0;
    this.#openedAt = this.#lastSeen;
    this.maxBackpressure = config.maxBackpressure;
    this.#deferred = null;
    this.#inflatingBinary = false;
    this.#endDeferred = false;
    this.#drainCheckFn = null;
    this.core = new WsProtocol(
      {
        side: config.side,
        maxPayload: config.maxPayload,
        rsv1Allowed: codec !== null,
        streamThreshold: config.streamThreshold,
        maxFragments: config.maxFragments,
      },
      this,
      transport,
    );
  }

  /** Takes the transport's reads and events. */
  attach(): void {
    this.transport.attach(this);
  }

  /** Parses bytes that came before the connection took the transport (after the handshake's head). */
  receiveHead(head: readonly Buffer[]): void {
    for (const chunk of head) if (chunk.length > 0 && (this.#flags & F_CLOSED) === 0) this.onData(chunk);
  }

  /** Resumes a transport left paused by the handshake (an async `upgrade` hook), unless reading is held. */
  resumeIfPaused(): void {
    // `resume()` on a flowing socket still schedules a tick to restart a stream that never stopped (PERF: bench
    // ws-storm): only a paused one.
    if ((this.#flags & (F_CLOSED | F_PAUSED | F_READ_STOPPED)) === 0 && this.transport.isPaused) {
      this.transport.resume();
    }
  }

  // ── facts ────────────────────────────────────────────────────────────────────────────────────────────

  get closed(): boolean {
    return (this.#flags & F_CLOSED) !== 0;
  }

  /** We failed the connection (protocol error, handler error, no answer to a liveness ping...). */
  get failed(): boolean {
    return (this.#flags & F_FAILED) !== 0;
  }

  /** Why we failed it (a ProtocolError, a handler's error...), or undefined. */
  get error(): unknown {
    return this.#error;
  }

  /** Whether messages may be sent now. */
  get isOpen(): boolean {
    return this.core.state === WS_OPEN && (this.#flags & F_CLOSED) === 0;
  }

  /** Bytes queued but not yet taken by the transport's peer (the open batch included). */
  get bufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  /** Whether permessage-deflate holds zlib contexts for this connection now (see idleRelease). */
  get holdsDeflateContexts(): boolean {
    return this.#codec?.holdsContexts === true;
  }

  /** The end as a server reports it (RFC 6455 §7.1.5, §7.1.4), with the transport's byte counts. */
  closeInfo(): CloseInfo {
    const core = this.core;
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
    } else if (failedCode) {
      code = this.#sentCode;
    }
    const cause = this.#finalCause();
    const t = this.transport;
    return {
      code,
      reason,
      wasClean: clean,
      initiator: cause === 'peer-close' ? 'peer' : cause === 'connection-lost' ? 'none' : 'server',
      cause,
      bytesRead: t.bytesRead,
      bytesWritten: t.bytesWritten,
      durationMs: Date.now() - this.#openedAt,
    };
  }

  #finalCause(): CloseCause {
    return this.#cause ?? (this.core.closeReceived ? 'peer-close' : 'connection-lost');
  }

  // ── reading (TransportTarget) ────────────────────────────────────────────────────────────────────────

  /** @internal A read into the shared buffer; the core copies what it keeps. */
  onRead(view: Buffer): void {
    this.#receive(view, true);
  }

  /** @internal Bytes the core may keep. */
  onData(chunk: Buffer): void {
    this.#receive(chunk, false);
  }

  #receive(chunk: Buffer, ephemeral: boolean): void {
    this.#lastSeen = coarseNow();
    this.#pingedAt = 0;
    const t = this.transport;
    t.begin();
    try {
      this.core.receive(chunk, ephemeral);
      // Inside a streamed message, what this read made (its echo) may wait for the next reads: see holdOpen.
      if (this.core.streaming) t.holdOpen();
    } catch (err) {
      // Handlers catch what applications throw; anything reaching here is a bug: do not read on.
      this.#flags |= F_FAILED;
      if (this.#error === undefined) this.#error = err;
      this.#end('handler-error');
      t.destroy();
    } finally {
      t.commit();
    }
  }

  /** @internal The peer ended its side. */
  onPeerEnd(): void {
    const t = this.transport;
    t.begin();
    try {
      this.core.receiveEof();
    } finally {
      t.commit();
    }
    // We have nothing more to say either (we may have ended already: the server closes first after a handshake).
    if (!t.writableEnded && !t.destroyed) t.shutdown();
  }

  /** @internal After the handshake, a transport error (a reset) ends the connection like a drop: 1006. */
  onTransportError(_err: Error): void {}

  /**
   * @internal The transport flushed its buffer. `drain` means "under backpressureLimit again", never merely "the
   * transport wrote something": bytes queued since (or a batch still open) keep it waiting for the next flush.
   */
  onDrain(): void {
    if ((this.#flags & F_WANT_DRAIN) === 0 || (this.#flags & F_CLOSED) !== 0) return;
    if (!this.#belowLimit()) {
      this.#afterFlush(this.#drainCheck);
      return;
    }
    this.#flags &= ~F_WANT_DRAIN;
    // Nothing can be sent any more once our side ended: no drain to tell of.
    if (!this.transport.writableEnded && !this.transport.destroyed) this.#handler.onWsDrain();
  }

  /** The callback of a wait for the transport to flush: made once, on the first wait (idle connections hold none). */
  #drainCheckFn: (() => void) | null;

  get #drainCheck(): () => void {
    let fn = this.#drainCheckFn;
    if (fn === null) {
      fn = () => {
        if ((this.#flags & F_CLOSED) === 0) this.onDrain();
      };
      this.#drainCheckFn = fn;
    }
    return fn;
  }

  /**
   * Calls `fn` once the transport may hold less: after its own queue is written, or, when all of the excess sits
   * in an open batch (held for a streamed echo), in the next loop turn, once the batch is written. (An empty write
   * completes at once when the transport's queue is empty: waiting on one then would spin without the batch ever
   * being released.)
   */
  #afterFlush(fn: () => void): void {
    const t = this.transport;
    if (t.bufferedAmount - t.pendingBytes === 0) setImmediate(fn);
    else t.whenWritten(fn);
  }

  /** Under the limit again, or nothing more can be sent (our side ended, or the transport is gone). */
  #belowLimit(): boolean {
    const t = this.transport;
    return (
      t.bufferedAmount <= this.config.backpressureLimit ||
      t.destroyed ||
      t.writableEnded ||
      (this.#flags & F_CLOSED) !== 0
    );
  }

  /** @internal The core asked for the end and the batch is written: end our side, then wait for the peer's. */
  onWriterEnd(): void {
    const t = this.transport;
    if (!t.writableEnded && !t.destroyed) t.shutdown();
    // RFC 6455 §7.1.1: the server closes TCP first once the close handshake is done; then only the peer's FIN is
    // awaited, checked by the coarse tick (PERF: no timer set and cleared per connection, bench ws-storm).
    if (this.#closeTimer === null) this.#startFinWait();
  }

  #startFinWait(): void {
    if (this.#finWaitSince !== 0 || (this.#flags & F_CLOSED) !== 0) return;
    this.#finWaitSince = coarseNow();
    this.config.finWaiting++;
  }

  /** @internal The transport is gone: settle the end and tell the face. */
  onTransportClose(): void {
    if ((this.#flags & F_CLOSED) !== 0) return;
    if (this.#deferred !== null) {
      // Messages are still being inflated: the end is told after them.
      this.#endDeferred = true;
      return;
    }
    this.#flags |= F_CLOSED;
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    if (this.#finWaitSince !== 0) this.config.finWaiting--;
    this.#codec?.close();
    const core = this.core;
    core.receiveEof();
    const stats = this.config.stats;
    if (stats !== null) {
      if (core.closeReceived) bump(stats.closeCodesFromPeer, core.closeCode);
      if (this.#sentCode !== 0) bump(stats.closeCodesFromServer, this.#sentCode);
      bump(stats.ends, this.#finalCause());
    }
    this.#handler.onWsEnd();
  }

  // ── timing ──────────────────────────────────────────────────────────────────────────────────────────

  /** Dead-peer detection (RFC 6455 §5.5.2: a ping "may serve ... as a keepalive") and close deadlines, per tick. */
  checkTimers(now: number): void {
    if ((this.#flags & F_CLOSED) !== 0) return;
    const config = this.config;
    if (this.#finWaitSince !== 0) {
      if (now - this.#finWaitSince > config.closeTimeoutMs) {
        this.#endUnanswered('close-timeout');
        this.transport.destroy();
      }
      return;
    }
    this.#codec?.releaseIfIdle(now);
    if (config.idleTimeoutMs <= 0) return;
    if (this.#pingedAt !== 0) {
      if (now - this.#pingedAt > config.pongTimeoutMs) {
        // Nothing at all since our ping: the peer is gone (or frozen). Nothing can be delivered: drop it.
        this.#flags |= F_FAILED;
        if (this.#error === undefined) {
          this.#error = new ConnectionClosedError(1006, 'No answer to a liveness ping', false);
        }
        this.#end('idle-timeout');
        this.transport.destroy();
      }
      return;
    }
    if (now - this.#lastSeen > config.idleTimeoutMs && this.core.state === WS_OPEN) {
      this.#pingedAt = now;
      this.#control(true, EMPTY_BUFFER);
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

  #armCloseTimer(): void {
    if (this.#closeTimer !== null || (this.#flags & F_CLOSED) !== 0) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = null;
      this.#endUnanswered('close-timeout');
      this.transport.destroy();
    }, this.config.closeTimeoutMs);
    this.#closeTimer.unref();
  }

  // ── failing and closing ─────────────────────────────────────────────────────────────────────────────

  /**
   * Fails the connection (RFC 6455 §7.1.7) with `code`: a close frame, then the TCP close (the server's side
   * ends it; a client waits for the server, at most `closeTimeout`). `error` says why, for the face.
   */
  fail(code: number, reason: string, cause: CloseCause, error?: unknown): void {
    this.#end(cause);
    if ((this.#flags & F_CLOSED) !== 0) return;
    this.#flags |= F_FAILED;
    if (this.#error === undefined) this.#error = error;
    if (this.core.state !== WS_OPEN) return;
    this.#sentCode = code;
    const t = this.transport;
    t.begin();
    try {
      this.core.fail(code, reason);
      const stats = this.config.stats;
      if (stats !== null) bump(stats.framesOut, 'close');
    } finally {
      t.commit();
    }
    this.#armCloseTimer();
    this.#handler.onWsClosing();
  }

  #protocolError(err: ProtocolError): void {
    const stats = this.config.stats;
    if (stats !== null) bump(stats.protocolErrors, err.code);
    this.fail(err.closeCode as number, err.message, 'protocol-error', err);
  }

  /**
   * Starts the close handshake: a close frame (`code` undefined: none in it, the peer sees 1005), then waits up
   * to `closeTimeout` for the peer's. Does nothing unless open.
   * @throws RangeError for a code that may not be sent, or a reason over 123 bytes
   */
  close(code: number | undefined, reason: string): void {
    if (!this.isOpen || this.core.closeSent) return;
    const t = this.transport;
    t.begin();
    try {
      this.core.close(code, reason);
    } finally {
      t.commit();
    }
    this.#sentCode = code ?? 1005;
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesOut, 'close');
    this.#end('server-close');
    this.#armCloseTimer();
  }

  /** Destroys the connection at once, without a close handshake (1006). */
  terminate(): void {
    this.#endUnanswered('terminated');
    this.transport.discard();
    this.transport.destroy();
  }

  // ── the core's events (WsHandler) ───────────────────────────────────────────────────────────────────

  /** @internal */
  onMessage(binary: boolean, data: Buffer, rsv1: boolean): void {
    const deferred = this.#deferred;
    if (deferred !== null) {
      // A message before this one is still being inflated: this one waits behind it (order is kept).
      const kept = WsConnection.keep(data);
      deferred.push(() => this.onMessage(binary, kept, rsv1));
      return;
    }
    if (rsv1) {
      // RFC 7692 §7.2.2: decompress; the 1007/1009 decision is the sans-I/O side's (checkInflated).
      const out = (this.#codec as DeflateCodec).decompress(
        data,
        this.config.maxPayload || Number.MAX_SAFE_INTEGER,
        coarseNow(),
      );
      if (out === INFLATE_PENDING) this.#inflateInSlices(binary);
      else this.#deliverInflated(binary, out);
      return;
    }
    this.#deliver(binary, data);
  }

  /** A decompressed message (or why it could not be): checked, then delivered. */
  #deliverInflated(binary: boolean, out: Buffer | number): void {
    const err = checkInflated(out, binary, this.config.maxPayload);
    if (err !== null) {
      this.#protocolError(err);
      return;
    }
    // Text is decoded at once; binary data outlives the shared scratch buffer, so it gets its own copy.
    this.#deliver(binary, binary && isInflateScratch(out as Buffer) ? Buffer.from(out as Buffer) : (out as Buffer));
  }

  /**
   * The message inflates to more than one slice (INFLATE_SLICE_BYTES): it goes on one slice per event-loop turn,
   * reading stops, and what the core reports meanwhile (the rest of the read) waits in `#deferred`, in order.
   */
  #inflateInSlices(binary: boolean): void {
    this.#deferred = [];
    this.#inflatingBinary = binary;
    this.transport.pause();
    setImmediate(runInflateStep, this);
  }

  /** @internal One slice of a sliced inflate (from setImmediate). */
  inflateStep(): void {
    const t = this.transport;
    const codec = this.#codec as DeflateCodec;
    if (t.destroyed) {
      // Gone meanwhile (reset, terminate): nothing can be answered; end as a dropped connection (1006).
      this.#deferred = null;
      codec.close();
      if (this.#endDeferred) this.onTransportClose();
      return;
    }
    const out = codec.continueDecompress(coarseNow());
    if (out === INFLATE_PENDING) {
      setImmediate(runInflateStep, this);
      return;
    }
    const queue = this.#deferred as (() => void)[];
    this.#deferred = null;
    t.begin();
    try {
      this.#deliverInflated(this.#inflatingBinary, out);
      this.#replay(queue);
    } finally {
      t.commit();
    }
  }

  /** Runs what waited behind a sliced inflate; stops if one of them starts another (the rest waits again). */
  #replay(queue: (() => void)[]): void {
    for (let i = 0; i < queue.length; i++) {
      // RFC 6455 §7.1.7: once the connection is failed (the inflated message was invalid, a handler threw), nothing
      // more of the peer's is processed.
      if ((this.#flags & F_FAILED) !== 0) break;
      (queue[i] as () => void)();
      if (this.#deferred !== null) {
        for (let j = i + 1; j < queue.length; j++) this.#deferred.push(queue[j] as () => void);
        return;
      }
    }
    if (this.#endDeferred) {
      this.onTransportClose();
      return;
    }
    if ((this.#flags & (F_PAUSED | F_READ_STOPPED | F_CLOSED)) === 0) this.transport.resume();
  }

  #deliver(binary: boolean, data: Buffer): void {
    const stats = this.config.stats;
    if (stats !== null) {
      stats.messagesIn++;
      stats.payloadBytesIn += data.length;
      bump(stats.framesIn, binary ? 'binary' : 'text');
    }
    this.#handler.onWsMessage(binary, data);
  }

  /** @internal */
  onMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void {
    const deferred = this.#deferred;
    if (deferred !== null) {
      const kept = WsConnection.keep(data);
      deferred.push(() => this.onMessageChunk(binary, kept, first, last));
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) {
      if (first) bump(stats.framesIn, binary ? 'binary' : 'text');
      stats.payloadBytesIn += data.length;
      if (last) stats.messagesIn++;
    }
    this.#handler.onWsMessageChunk(binary, data, first, last);
  }

  /** @internal */
  onPing(data: Buffer): void {
    const deferred = this.#deferred;
    if (deferred !== null) {
      const kept = Buffer.from(data);
      deferred.push(() => this.onPing(kept));
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) {
      bump(stats.framesIn, 'ping');
      if (this.core.state === WS_OPEN) bump(stats.framesOut, 'pong');
    }
    this.#handler.onWsPing(data);
  }

  /** @internal */
  onPong(data: Buffer): void {
    const deferred = this.#deferred;
    if (deferred !== null) {
      const kept = Buffer.from(data);
      deferred.push(() => this.onPong(kept));
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesIn, 'pong');
    this.#handler.onWsPong(data);
  }

  /** @internal The peer's close frame; the core echoed it (unless ours was sent) and, on a server, ends TCP. */
  onClose(code: number, reason: string): void {
    const deferred = this.#deferred;
    if (deferred !== null) {
      deferred.push(() => this.onClose(code, reason));
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesIn, 'close');
    if (this.#sentCode === 0) {
      this.#sentCode = this.core.closeCode;
      if (stats !== null) bump(stats.framesOut, 'close');
    }
    this.#end('peer-close');
    // RFC 6455 §7.1.1: a client waits for the server to close TCP (bounded by closeTimeout, from the tick).
    if (this.config.side === SIDE_CLIENT) this.#startFinWait();
    this.#handler.onWsClosing();
  }

  /** @internal The core failed the connection: its close frame (err.closeCode) is written. */
  onError(err: ProtocolError): void {
    const deferred = this.#deferred;
    if (deferred !== null) {
      deferred.push(() => this.onError(err));
      return;
    }
    this.#sentCode = err.closeCode as number;
    const stats = this.config.stats;
    if (stats !== null) {
      bump(stats.protocolErrors, err.code);
      bump(stats.framesOut, 'close');
    }
    this.#flags |= F_FAILED;
    if (this.#error === undefined) this.#error = err;
    this.#end('protocol-error');
    // The server's core ends TCP itself; a client waits for the server's close, at most closeTimeout.
    if (this.config.side === SIDE_CLIENT) this.#armCloseTimer();
    this.#handler.onWsClosing();
  }

  // ── reading flow control ────────────────────────────────────────────────────────────────────────────

  /** Stops reading (the kernel's buffer fills and TCP pushes back on the peer) until `resumeReading`. */
  pauseReading(): void {
    if ((this.#flags & F_PAUSED) !== 0) return;
    this.#flags |= F_PAUSED;
    this.transport.pause();
  }

  resumeReading(): void {
    if ((this.#flags & F_PAUSED) === 0) return;
    this.#flags &= ~F_PAUSED;
    if ((this.#flags & (F_CLOSED | F_READ_STOPPED)) === 0) this.transport.resume();
  }

  get readingPaused(): boolean {
    return (this.#flags & F_PAUSED) !== 0;
  }

  // ── sending: the backpressure policy ────────────────────────────────────────────────────────────────

  /**
   * Room for `n` more bytes under `maxBackpressure`; otherwise applies the policy: `drop` skips the message,
   * `close` fails the connection with 1008. Returns whether the message may be queued.
   */
  #admit(n: number): boolean {
    const config = this.config;
    const buffered = this.transport.bufferedAmount;
    // A message on an empty buffer always goes: the limit bounds what piles up, not message size.
    if (buffered === 0 || buffered + n <= this.maxBackpressure) return true;
    const stats = config.stats;
    if (config.dropOnBackpressure) {
      if (stats !== null) stats.backpressureDrops++;
      return false;
    }
    if (stats !== null) stats.backpressureCloses++;
    // RFC 6455 §7.4.1: 1008, a message that violates the server's policy. The frame queues behind what the
    // peer has not read; if it cannot be delivered within closeTimeout the transport is destroyed.
    this.fail(1008, `Backpressure limit of ${this.maxBackpressure} bytes exceeded`, 'backpressure');
    // RFC 6455 §7.1.7: after failing the connection nothing more of the peer's is processed, so nothing more is
    // read either: a peer that sends and never reads costs no more reads (and no more echoes) until it is gone.
    this.#flags |= F_READ_STOPPED;
    this.transport.pause();
    return false;
  }

  /**
   * Sends a message: a string as text, bytes as binary unless `binary` is false. Returns the bytes handed to the
   * transport, `SEND_BACKPRESSURE` (queued, over `backpressureLimit`) or `SEND_DROPPED` (closing, or the policy).
   * With permessage-deflate, messages the codec wants are compressed unless `compress` is `false`.
   */
  send(data: string | Uint8Array | ArrayBuffer, binary?: boolean, compress?: boolean): number {
    if (!this.isOpen) return SEND_DROPPED;
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
    const t = this.transport;
    t.begin();
    try {
      if (b === null) this.core.sendText(data as string);
      else if (binary === false) this.core.sendText(b);
      else this.core.sendBinary(b);
    } finally {
      t.commit();
    }
    this.#countOut(n, isText ? 'text' : 'binary', true);
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

  /** Sends a message prepared once for many connections (see prepared-message.ts). Returns as `send`. */
  sendPrepared(message: PreparedMessage, compress?: boolean): number {
    if (!this.isOpen) return SEND_DROPPED;
    const plain = message.data;
    const codec = this.#codec;
    if (codec === null || compress === false || !codec.wants(plain.length)) {
      if (codec !== null) deflateStats.skipped++;
      return this.#sendFrameCounted(plain, plain.length, !message.binary, false, true);
    }
    this.#checkNoFragmentOpen();
    if (!codec.sharesOutput && !this.#admit(plain.length)) return SEND_DROPPED;
    const payload = message.compressedFor(codec, coarseNow());
    return this.#sendFrameCounted(payload, plain.length, !message.binary, true, codec.sharesOutput);
  }

  /** One whole message in one frame, counted and (when `admit`) checked against the backpressure limits. */
  #sendFrameCounted(payload: Buffer, plainLength: number, isText: boolean, rsv1: boolean, admit: boolean): number {
    if (admit && !this.#admit(payload.length)) return SEND_DROPPED;
    const t = this.transport;
    t.begin();
    try {
      this.core.sendFrame(isText ? OP_TEXT : OP_BINARY, payload, true, rsv1);
    } finally {
      t.commit();
    }
    this.#countOut(plainLength, isText ? 'text' : 'binary', true);
    return this.#afterSend(payload.length);
  }

  #countOut(payloadBytes: number, frame: string, messageEnds: boolean): void {
    const stats = this.config.stats;
    if (stats === null) return;
    if (messageEnds) stats.messagesOut++;
    stats.payloadBytesOut += payloadBytes;
    bump(stats.framesOut, frame);
  }

  /**
   * Sends one fragment of a message (RFC 6455 §5.4): the first call's `binary` sets the message type; `fin`
   * ends the message. With permessage-deflate the whole message is compressed (RSV1 on its first frame) unless
   * the first call passes `compress: false`.
   */
  sendFragment(data: string | Uint8Array | ArrayBuffer, fin: boolean, binary: boolean, compress?: boolean): number {
    if (!this.isOpen) return SEND_DROPPED;
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
    const t = this.transport;
    t.begin();
    try {
      this.core.sendFrame(opcode, b, fin, rsv1ForFrame(compressed, open));
    } finally {
      t.commit();
    }
    if (fin) this.#flags &= ~(F_FRAGMENT_OPEN | F_FRAGMENT_COMPRESSED);
    else this.#flags |= F_FRAGMENT_OPEN;
    this.#countOut(plainLength, open ? 'continuation' : binary ? 'binary' : 'text', fin);
    return this.#afterSend(b.length);
  }

  /** Streams an iterable as one fragmented message, waiting for `drain` under backpressure. */
  async sendStream(
    source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
    binary: boolean,
  ): Promise<void> {
    let pending: Buffer | null = null;
    for await (const part of source) {
      const b = typeof part === 'string' ? Buffer.from(part, 'utf8') : toBuffer(part);
      if (pending !== null) {
        if (this.sendFragment(pending, false, binary) === SEND_DROPPED) {
          throw new ConnectionClosedError(1006, '', false);
        }
        if (this.bufferedAmount > this.config.backpressureLimit) await this.#waitDrain();
      }
      pending = b;
    }
    if (this.sendFragment(pending ?? EMPTY_BUFFER, true, binary) === SEND_DROPPED) {
      throw new ConnectionClosedError(1006, '', false);
    }
  }

  /** Resolves once `bufferedAmount` is back under `backpressureLimit` (at once if it is), or the connection is gone. */
  drained(): Promise<void> {
    const limit = this.config.backpressureLimit;
    if (this.bufferedAmount <= limit || (this.#flags & F_CLOSED) !== 0) return Promise.resolve();
    // Called in a handler, the bytes may still be gathered by the read's batch, which is written when the handler
    // returns, often whole (no 'drain' would ever come for them): look again once it has been written.
    return Promise.resolve().then(() =>
      this.bufferedAmount > limit && (this.#flags & F_CLOSED) === 0 ? this.#waitDrain() : undefined,
    );
  }

  /** Resolves once `bufferedAmount` is under `backpressureLimit` (or the connection is gone): each flush of the
   * transport is one look, so a peer that never reads keeps it waiting. */
  #waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      const look = (): void => {
        if (this.#belowLimit()) resolve();
        else this.#afterFlush(look);
      };
      this.#afterFlush(look);
    });
  }

  #afterSend(n: number): number {
    if (this.transport.bufferedAmount <= this.config.backpressureLimit) return n;
    if ((this.#flags & F_WANT_DRAIN) === 0) {
      this.#flags |= F_WANT_DRAIN;
      // The bytes may still sit in the open batch: once it is written (after the current handler), make sure the
      // drain handler is called even when the transport will not signal a drain (see Transport.whenWritten).
      queueMicrotask(() => {
        if ((this.#flags & F_WANT_DRAIN) !== 0 && !this.transport.needsDrain) {
          this.transport.whenWritten(this.#drainCheck);
        }
      });
    }
    return SEND_BACKPRESSURE;
  }

  /** Sends a ping (payload ≤ 125 bytes; RangeError above). Does nothing unless open. */
  ping(data: Buffer): void {
    if (!this.isOpen || this.core.closeSent) return;
    this.#control(true, data);
  }

  /** Sends an unsolicited pong (payload ≤ 125 bytes). Does nothing unless open. */
  pong(data: Buffer): void {
    if (!this.isOpen || this.core.closeSent) return;
    this.#control(false, data);
  }

  #control(ping: boolean, data: Buffer): void {
    const t = this.transport;
    t.begin();
    try {
      if (ping) this.core.ping(data);
      else this.core.pong(data);
    } finally {
      t.commit();
    }
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesOut, ping ? 'ping' : 'pong');
  }

  /** Copies `data` if it is ephemeral (see `isEphemeral`), for a face that keeps it. */
  static keep(data: Buffer): Buffer {
    return isEphemeral(data) ? copyOf(data) : data;
  }

  /** @internal whether the core reached its end (for faces mapping readyState). */
  get coreClosed(): boolean {
    return this.core.state === WS_CLOSED;
  }
}

function runInflateStep(conn: WsConnection): void {
  conn.inflateStep();
}

/** A view of `data` as a Buffer (no copy). */
export function toBuffer(data: Uint8Array | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
