/**
 * One WebSocket connection after the opening handshake, for both roles: it owns the protocol core (`WsProtocol`),
 * the byte transport beneath it (`transport.ts`), the permessage-deflate codec, the close timer, the idle ping and
 * pong timeout, the backpressure accounting and send policy (its base class, ws-send.ts), and the facts of how the
 * connection ended. The
 * server's `ServerWebSocket` (websocket.ts) and the client's WHATWG `WebSocket` (client.ts) are thin faces over
 * it (the shape of Python websockets' protocol.py + connection.py): a close-handshake rule is fixed here, once.
 *
 * Timing without a timer per connection: idle pings, pong timeouts and the wait for the peer's TCP close after a
 * finished close handshake are checked by `checkTimers(now)` from the process's coarse tick (clock.ts), which the
 * server (for its connections) and the client module (for its own) call. Only a close we start arms a timer.
 */

import { Buffer } from 'node:buffer';
import { ConnectionClosedError, type ProtocolError } from '../errors.js';
import { copyOf } from '../util/bytes.js';
import { encodeClosePayload } from '../ws/frame.js';
import { checkInflated } from '../ws/permessage-deflate.js';
import { SIDE_CLIENT, WS_CLOSED, WS_OPEN, WsProtocol } from '../ws/protocol.js';
import { coarseNow, refreshNow } from './clock.js';
import { type DeflateCodec, INFLATE_PENDING, isInflateScratch } from './deflate.js';
import {
  chFrameIn,
  chFrameOut,
  chIdlePing,
  chPayload,
  closeFrameLength,
  publishCloseStep,
  publishFrame,
  publishFrameReceived,
  publishIdlePing,
  publishPayload,
} from './diagnostics.js';
import { readBuffer } from './read-buffer.js';
import type { Transport } from './transport.js';
import {
  F_CLOSE_QUEUED,
  F_CLOSED,
  F_END_DEFERRED,
  F_FAILED,
  F_INFLATING_BINARY,
  F_PAUSED,
  F_PONG_HELD,
  F_READ_STOPPED,
  F_REPORTING,
  type RareState,
  WsSendPath,
} from './ws-send.js';
import {
  bump,
  type CloseCause,
  type CloseInfo,
  type WsConnectionConfig,
  type WsConnectionHandler,
} from './ws-types.js';

export { SEND_BACKPRESSURE, SEND_DROPPED } from './ws-send.js';
export {
  type CloseCause,
  type CloseInfo,
  newWebSocketStats,
  type WebSocketStats,
  type WsConnectionConfig,
  type WsConnectionHandler,
} from './ws-types.js';

const EMPTY_BUFFER = Buffer.alloc(0);
// RFC 6455 §5.2 opcodes of the frames this file reports sending.
const OP_CLOSE_CODE = 8;
const OP_PONG_CODE = 10;

/** Whether `data` is a view that the next read or inflate overwrites (a face copies it before keeping it). */
export function isEphemeral(data: Buffer): boolean {
  return data.buffer === readBuffer.buffer || isInflateScratch(data);
}

/**
 * One WebSocket connection over a transport (see the top of this file). It is its core's `WsHandler` and its
 * transport's `TransportTarget` (checked where it is handed to them); those clauses are not declared because the
 * methods are marked internal, so they are stripped from the published types (tsconfig `stripInternal`), where the
 * server's `ServerWebSocket` extends this class.
 */
export class WsConnection extends WsSendPath {
  /** @internal */
  readonly core: WsProtocol;
  /** Last time anything arrived; when we pinged for liveness (0: no ping outstanding). */
  #lastSeen: number;
  #pingedAt: number;
  readonly #openedAt: number;

  /** @internal */
  constructor(
    config: WsConnectionConfig,
    transport: Transport,
    codec: DeflateCodec | null,
    handler: WsConnectionHandler | null,
  ) {
    super(config, transport, codec, handler);
    this.#lastSeen = coarseNow();
    this.#pingedAt = 0;
    this.#openedAt = this.#lastSeen;
    this.core = new WsProtocol(
      {
        side: config.side,
        maxPayload: config.maxPayload,
        rsv1Allowed: codec !== null,
        streamThreshold: config.streamThreshold,
        maxFragments: config.maxFragments,
      },
      this,
      transport.writer,
    );
  }

  /** @internal Takes the transport's reads and events. */
  attach(): void {
    this.transport.attach(this);
  }

  /** @internal Parses bytes that came before the connection took the transport (after the handshake's head). */
  receiveHead(head: readonly Buffer[]): void {
    for (const chunk of head) if (chunk.length > 0 && (this.flags & F_CLOSED) === 0) this.onData(chunk);
  }

  /** @internal Resumes a transport left paused by the handshake (an async `upgrade` hook), unless reading is held. */
  resumeIfPaused(): void {
    // `resume()` on a flowing socket still schedules a tick to restart a stream that never stopped (PERF: bench
    // ws-storm): only a paused one.
    if ((this.flags & (F_CLOSED | F_PAUSED | F_READ_STOPPED | F_PONG_HELD)) === 0 && this.transport.isPaused) {
      this.transport.resume();
    }
  }

  // ── facts ────────────────────────────────────────────────────────────────────────────────────────────

  /** @internal */
  get closed(): boolean {
    return (this.flags & F_CLOSED) !== 0;
  }

  /** @internal We failed the connection (protocol error, handler error, no answer to a liveness ping...). */
  get failed(): boolean {
    return (this.flags & F_FAILED) !== 0;
  }

  /** @internal Why we failed it (a ProtocolError, a handler's error...), or undefined. */
  get error(): unknown {
    return this.rare?.error;
  }

  /** @internal Whether permessage-deflate holds zlib contexts for this connection now (see idleRelease). */
  get holdsDeflateContexts(): boolean {
    return this.codec?.holdsContexts === true;
  }

  /** @internal The end as a server reports it (RFC 6455 §7.1.5, §7.1.4), with the transport's byte counts. */
  closeInfo(): CloseInfo {
    const core = this.core;
    const failure = this.rare?.cause ?? null;
    const failedCode = failure === 'protocol-error' || failure === 'handler-error' || failure === 'backpressure';
    let code = 1006; // RFC 6455 §7.1.5: no close frame received
    let reason = '';
    let clean = false;
    if (core.closeReceived) {
      code = core.closeCode;
      reason = core.closeReason;
      // Clean: both close frames were exchanged and nobody failed the connection.
      clean = core.closeSent && !failedCode;
    } else if (failedCode) {
      code = (this.rare as RareState).sentCode;
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
    return this.rare?.cause ?? (this.core.closeReceived ? 'peer-close' : 'connection-lost');
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
    // PERF: whether anyone wants each frame is asked once per read, not per frame; the core then costs one boolean
    // test per frame header (bench/instructions.sh: no change per message with nobody listening). A frame observer
    // stamps frames with the coarse clock, brought up to date once per read instead of read per frame.
    const observer = this.config.frameObserver;
    // The core's bit is set only when the answer changes: a read costs a test of our flags, no call.
    if (chFrameIn.hasSubscribers || observer !== null) {
      if ((this.flags & F_REPORTING) === 0) this.#reportFrames(true);
    } else if ((this.flags & F_REPORTING) !== 0) this.#reportFrames(false);
    this.#lastSeen = observer === null ? coarseNow() : refreshNow();
    this.#pingedAt = 0;
    const t = this.transport;
    this.transport.writer.begin();
    try {
      this.core.receive(chunk, ephemeral);
      // Inside a streamed message, what this read made (its echo) may wait for the next reads: see holdOpen.
      if (this.core.streaming) this.transport.writer.holdOpen();
    } catch (err) {
      // Handlers catch what applications throw; anything reaching here is a bug: do not read on.
      this.flags |= F_FAILED;
      if (this.rare?.error === undefined) this.st().error = err;
      this.#end('handler-error');
      t.destroy();
    } finally {
      this.transport.writer.commit();
    }
  }

  #reportFrames(on: boolean): void {
    this.flags = on ? this.flags | F_REPORTING : this.flags & ~F_REPORTING;
    this.core.reportFrames = on;
  }

  /** @internal The peer ended its side. */
  onPeerEnd(): void {
    const t = this.transport;
    this.transport.writer.begin();
    try {
      this.core.receiveEof();
    } finally {
      this.transport.writer.commit();
    }
    // We have nothing more to say either (we may have ended already: the server closes first after a handshake).
    if (!t.writableEnded && !t.destroyed) t.shutdown();
  }

  /** @internal After the handshake, a transport error (a reset) ends the connection like a drop: 1006. */
  onTransportError(_err: Error): void {}

  /** @internal The core asked for the end and the batch is written: end our side, then wait for the peer's. */
  onWriterEnd(): void {
    const t = this.transport;
    if (!t.writableEnded && !t.destroyed) t.shutdown();
    // RFC 6455 §7.1.1: the server closes TCP first once the close handshake is done; then only the peer's FIN is
    // awaited, checked by the coarse tick (PERF: no timer set and cleared per connection, bench ws-storm).
    if ((this.rare?.closeTimer ?? null) === null) this.#startFinWait();
    // A close we started keeps its timer for the wait; the step is the same for those who watch it.
    else if ((this.flags & F_CLOSED) === 0) publishCloseStep(this, 'fin-wait', this.rare?.sentCode ?? 0, '');
  }

  #startFinWait(): void {
    if ((this.rare?.finWaitSince ?? 0) !== 0 || (this.flags & F_CLOSED) !== 0) return;
    this.st().finWaitSince = coarseNow();
    this.config.finWaiting++;
    publishCloseStep(this, 'fin-wait', this.rare?.sentCode ?? 0, '');
  }

  /** @internal The transport is gone: settle the end and tell the face. */
  onTransportClose(): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    if ((this.rare?.deferred ?? null) !== null) {
      // Messages are still being inflated: the end is told after them.
      this.flags |= F_END_DEFERRED;
      return;
    }
    this.flags |= F_CLOSED;
    this.dropQueued();
    const rare = this.rare;
    if (rare !== null) {
      if (rare.closeTimer !== null) clearTimeout(rare.closeTimer);
      rare.closeTimer = null;
      if (rare.finWaitSince !== 0) this.config.finWaiting--;
    }
    this.codec?.close();
    const core = this.core;
    core.receiveEof();
    const stats = this.config.stats;
    if (stats !== null) {
      if (core.closeReceived) bump(stats.closeCodesFromPeer, core.closeCode);
      if ((this.rare?.sentCode ?? 0) !== 0) bump(stats.closeCodesFromServer, (this.rare as RareState).sentCode);
      bump(stats.ends, this.#finalCause());
    }
    this.handler.onWsEnd();
  }

  // ── timing ──────────────────────────────────────────────────────────────────────────────────────────

  /** @internal Dead-peer detection (RFC 6455 §5.5.2: a ping "may serve ... as a keepalive") and close deadlines, per tick. */
  checkTimers(now: number): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    const config = this.config;
    if ((this.rare?.finWaitSince ?? 0) !== 0) {
      if (now - (this.rare as RareState).finWaitSince > config.closeTimeoutMs) {
        this.#endUnanswered('close-timeout');
        this.transport.destroy();
      }
      return;
    }
    this.codec?.releaseIfIdle(now);
    if (config.idleTimeoutMs <= 0) return;
    if (this.#pingedAt !== 0) {
      if (now - this.#pingedAt > config.pongTimeoutMs) {
        // Nothing at all since our ping: the peer is gone (or frozen). Nothing can be delivered: drop it.
        this.flags |= F_FAILED;
        if (this.rare?.error === undefined) {
          this.st().error = new ConnectionClosedError(1006, 'No answer to a liveness ping', false);
        }
        this.#end('idle-timeout');
        this.transport.destroy();
      }
      return;
    }
    if (now - this.#lastSeen > config.idleTimeoutMs && this.core.state === WS_OPEN) {
      this.#pingedAt = now;
      if (chIdlePing.hasSubscribers) publishIdlePing(this);
      this.control(true, EMPTY_BUFFER);
    }
  }

  /** Records why the connection is ending (the first cause wins). */
  #end(cause: CloseCause): void {
    if ((this.rare?.cause ?? null) === null) this.st().cause = cause;
  }

  /** A close handshake we started that the peer never answered ends by timeout or termination: say which. */
  #endUnanswered(cause: 'close-timeout' | 'terminated'): void {
    if ((this.rare?.cause ?? null) === 'server-close' && !this.core.closeReceived) this.st().cause = cause;
    else this.#end(cause);
  }

  #armCloseTimer(): void {
    if ((this.rare?.closeTimer ?? null) !== null || (this.flags & F_CLOSED) !== 0) return;
    const st = this.st();
    st.closeTimer = setTimeout(() => {
      st.closeTimer = null;
      this.#endUnanswered('close-timeout');
      this.transport.destroy();
    }, this.config.closeTimeoutMs);
    st.closeTimer.unref();
  }

  // ── failing and closing ─────────────────────────────────────────────────────────────────────────────

  /**
   * @internal Fails the connection (RFC 6455 §7.1.7) with `code`: a close frame, then the TCP close (the server's side
   * ends it; a client waits for the server, at most `closeTimeout`). `error` says why, for the face.
   */
  fail(code: number, reason: string, cause: CloseCause, error?: unknown): void {
    this.#end(cause);
    if ((this.flags & F_CLOSED) !== 0) return;
    this.flags |= F_FAILED;
    if (this.rare?.error === undefined) this.st().error = error;
    // RFC 6455 §7.1.7: the close frame goes now; messages still waiting to be compressed are not sent.
    this.dropQueued();
    if (this.core.state !== WS_OPEN) return;
    this.st().sentCode = code;
    // RFC 6455 §7.4.1: 1006 is never sent; any other code goes out in the close frame the core writes now.
    if (code !== 1006) this.#closeOrPongOut(OP_CLOSE_CODE, closeFrameLength(code, reason));
    publishCloseStep(this, 'fail', code, reason);
    this.transport.writer.begin();
    try {
      this.core.fail(code, reason);
      const stats = this.config.stats;
      if (stats !== null) bump(stats.framesOut, 'close');
    } finally {
      this.transport.writer.commit();
    }
    this.#armCloseTimer();
    this.handler.onWsClosing();
  }

  #protocolError(err: ProtocolError): void {
    const stats = this.config.stats;
    if (stats !== null) bump(stats.protocolErrors, err.code);
    this.fail(err.closeCode as number, err.message, 'protocol-error', err);
  }

  /**
   * Starts the close handshake: a close frame (`code` undefined: none in it, the peer sees 1005), then waits up
   * to `closeTimeout` for the peer's. Does nothing unless open. Messages sent before and still being compressed
   * (a large message is compressed over several loop turns) go first: the close frame follows them.
   * @throws RangeError for a code that may not be sent, or a reason over 123 bytes
   */
  close(code?: number, reason = ''): void {
    if (!this.isOpen || this.core.closeSent) return;
    // Checked now, not when the queued close frame is written.
    encodeClosePayload(code, reason);
    if (this.afterQueued(() => this.#closeNow(code, reason))) {
      this.flags |= F_CLOSE_QUEUED;
      return;
    }
    this.#closeNow(code, reason);
  }

  #closeNow(code: number | undefined, reason: string): void {
    if (this.core.state !== WS_OPEN || this.core.closeSent || (this.flags & F_CLOSED) !== 0) return;
    this.transport.writer.begin();
    try {
      this.core.close(code, reason);
    } finally {
      this.transport.writer.commit();
    }
    this.st().sentCode = code ?? 1005;
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesOut, 'close');
    this.#closeOrPongOut(OP_CLOSE_CODE, closeFrameLength(code ?? 1005, reason));
    publishCloseStep(this, 'close-sent', this.rare?.sentCode ?? 0, reason);
    this.#end('server-close');
    this.#armCloseTimer();
  }

  /** Destroys the connection at once, without a close handshake (1006). */
  terminate(): void {
    this.#endUnanswered('terminated');
    this.transport.writer.discard();
    this.transport.destroy();
  }

  // ── the core's events (WsHandler) ───────────────────────────────────────────────────────────────────

  /** @internal */
  onMessage(binary: boolean, data: Buffer, rsv1: boolean): void {
    // PERF: the common case (plain, nothing being inflated) stays small enough to be inlined into the core's caller.
    if (rsv1 || (this.rare?.deferred ?? null) !== null) {
      this.#onMessageSlow(binary, data, rsv1);
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) {
      stats.messagesIn++;
      stats.payloadBytesIn += data.length;
      // PERF: named fields, not `bump`'s keyed access: that one's feedback is megamorphic (every table, every key),
      // a generic keyed load and store per message wherever V8 does not fold the key (bench/instructions.sh).
      if (binary) stats.framesIn.binary++;
      else stats.framesIn.text++;
    }
    if (chPayload.hasSubscribers) publishPayload(this, 'received', !binary, data);
    this.handler.onWsMessage(binary, data);
  }

  /** A compressed message, or one behind a message still being inflated. */
  #onMessageSlow(binary: boolean, data: Buffer, rsv1: boolean): void {
    const deferred = this.rare?.deferred ?? null;
    if (deferred !== null) {
      // A message before this one is still being inflated: this one waits behind it (order is kept).
      const kept = WsConnection.keep(data);
      deferred.push(() => this.onMessage(binary, kept, rsv1));
      return;
    }
    if (rsv1) {
      // RFC 7692 §7.2.2: decompress; the 1007/1009 decision is the sans-I/O side's (checkInflated).
      const out = (this.codec as DeflateCodec).decompress(
        data,
        this.config.maxPayload || Number.MAX_SAFE_INTEGER,
        coarseNow(),
      );
      if (out === INFLATE_PENDING) this.#inflateInSlices(binary);
      else this.#deliverInflated(binary, out);
      return;
    }
    this.onMessage(binary, data, false);
  }

  /** A decompressed message (or why it could not be): checked, then delivered. */
  #deliverInflated(binary: boolean, out: Buffer | number): void {
    const err = checkInflated(out, binary, this.config.maxPayload);
    if (err !== null) {
      this.#protocolError(err);
      return;
    }
    // Text is decoded at once; binary data outlives the shared scratch buffer, so it gets its own copy.
    // Plain from here: the fast path of onMessage delivers it (nothing is deferred while this runs).
    this.onMessage(
      binary,
      binary && isInflateScratch(out as Buffer) ? Buffer.from(out as Buffer) : (out as Buffer),
      false,
    );
  }

  /**
   * The message inflates to more than one slice (INFLATE_SLICE_BYTES): it goes on one slice per event-loop turn,
   * reading stops, and what the core reports meanwhile (the rest of the read) waits in `#deferred`, in order.
   */
  #inflateInSlices(binary: boolean): void {
    this.st().deferred = [];
    if (binary) this.flags |= F_INFLATING_BINARY;
    else this.flags &= ~F_INFLATING_BINARY;
    this.transport.pause();
    setImmediate(runInflateStep, this);
  }

  /** @internal One slice of a sliced inflate (from setImmediate). */
  inflateStep(): void {
    const t = this.transport;
    const codec = this.codec as DeflateCodec;
    if (t.destroyed) {
      // Gone meanwhile (reset, terminate): nothing can be answered; end as a dropped connection (1006).
      this.st().deferred = null;
      codec.close();
      if ((this.flags & F_END_DEFERRED) !== 0) this.onTransportClose();
      return;
    }
    const out = codec.continueDecompress(coarseNow());
    if (out === INFLATE_PENDING) {
      setImmediate(runInflateStep, this);
      return;
    }
    const queue = (this.rare?.deferred ?? null) as (() => void)[];
    this.st().deferred = null;
    this.transport.writer.begin();
    try {
      this.#deliverInflated((this.flags & F_INFLATING_BINARY) !== 0, out);
      this.#replay(queue);
    } finally {
      this.transport.writer.commit();
    }
  }

  /** Runs what waited behind a sliced inflate; stops if one of them starts another (the rest waits again). */
  #replay(queue: (() => void)[]): void {
    for (let i = 0; i < queue.length; i++) {
      // RFC 6455 §7.1.7: once the connection is failed (the inflated message was invalid, a handler threw), nothing
      // more of the peer's is processed.
      if ((this.flags & F_FAILED) !== 0) break;
      (queue[i] as () => void)();
      const later = this.rare?.deferred ?? null;
      if (later !== null) {
        for (let j = i + 1; j < queue.length; j++) later.push(queue[j] as () => void);
        return;
      }
    }
    if ((this.flags & F_END_DEFERRED) !== 0) {
      this.onTransportClose();
      return;
    }
    if ((this.flags & (F_PAUSED | F_READ_STOPPED | F_CLOSED | F_PONG_HELD)) === 0) this.transport.resume();
  }

  /** @internal */
  onMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void {
    const deferred = this.rare?.deferred ?? null;
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
    this.handler.onWsMessageChunk(binary, data, first, last);
  }

  /** @internal */
  onPing(data: Buffer): void {
    // The core has written the pong already: a peer that pings and never reads must not grow our queue.
    this.checkPongBacklog();
    const deferred = this.rare?.deferred ?? null;
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
    // The pong the core answered with (RFC 6455 §5.5.3); the ping itself was reported as its header came.
    if (this.core.state === WS_OPEN && !this.core.closeSent) this.#closeOrPongOut(OP_PONG_CODE, data.length);
    this.handler.onWsPing(data);
  }

  /** @internal */
  onPong(data: Buffer): void {
    const deferred = this.rare?.deferred ?? null;
    if (deferred !== null) {
      const kept = Buffer.from(data);
      deferred.push(() => this.onPong(kept));
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesIn, 'pong');
    this.handler.onWsPong(data);
  }

  /** @internal The peer's close frame; the core echoed it (unless ours was sent) and, on a server, ends TCP. */
  onClose(code: number, reason: string): void {
    const deferred = this.rare?.deferred ?? null;
    if (deferred !== null) {
      deferred.push(() => this.onClose(code, reason));
      return;
    }
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesIn, 'close');
    const echoed = (this.rare?.sentCode ?? 0) === 0;
    if (echoed) {
      this.st().sentCode = this.core.closeCode;
      if (stats !== null) bump(stats.framesOut, 'close');
    }
    this.#end('peer-close');
    // RFC 6455 §5.5.1: the echo carries the code only (protocol.ts); the peer's frame was reported as it came.
    if (echoed) this.#closeOrPongOut(OP_CLOSE_CODE, closeFrameLength(code, ''));
    publishCloseStep(this, 'close-received', code, reason);
    // RFC 6455 §7.1.1: a client waits for the server to close TCP (bounded by closeTimeout, from the tick).
    if (this.config.side === SIDE_CLIENT) this.#startFinWait();
    this.handler.onWsClosing();
  }

  /** @internal The core failed the connection: its close frame (err.closeCode) is written. */
  onError(err: ProtocolError): void {
    const deferred = this.rare?.deferred ?? null;
    if (deferred !== null) {
      deferred.push(() => this.onError(err));
      return;
    }
    // The core wrote its close frame unless ours was out already (a close we started, then a bad frame).
    const wrote = (this.rare?.sentCode ?? 0) === 0;
    this.st().sentCode = err.closeCode as number;
    const stats = this.config.stats;
    if (stats !== null) {
      bump(stats.protocolErrors, err.code);
      bump(stats.framesOut, 'close');
    }
    this.flags |= F_FAILED;
    if (this.rare?.error === undefined) this.st().error = err;
    this.#end('protocol-error');
    if (wrote) this.#closeOrPongOut(OP_CLOSE_CODE, closeFrameLength(err.closeCode as number, err.message));
    publishCloseStep(this, 'fail', err.closeCode as number, err.message);
    // The server's core ends TCP itself; a client waits for the server's close, at most closeTimeout.
    if (this.config.side === SIDE_CLIENT) this.#armCloseTimer();
    this.handler.onWsClosing();
  }

  /**
   * @internal The core's frame tap (only while `core.reportFrames`, set per read): a frame header as it came on the
   * wire, for the diagnostics channel and a server's frame observer.
   */
  onFrameReceived(opcode: number, fin: boolean, rsv1: boolean, length: number): void {
    if (chFrameIn.hasSubscribers) publishFrameReceived(this, opcode, fin, rsv1, length);
    const observer = this.config.frameObserver;
    if (observer !== null) this.observeFrame(observer, false, opcode, fin, rsv1, length);
  }

  /** A frame the core wrote by itself or on a close step (a pong, a close frame): to those who watch frames. */
  #closeOrPongOut(opcode: number, length: number): void {
    if (chFrameOut.hasSubscribers)
      publishFrame(this, 'sent', opcode === OP_PONG_CODE ? 'pong' : 'close', true, false, length);
    const observer = this.config.frameObserver;
    if (observer !== null) this.observeFrame(observer, true, opcode, true, false, length);
  }

  // ── reading flow control ────────────────────────────────────────────────────────────────────────────

  /** @internal Stops reading (the kernel's buffer fills and TCP pushes back on the peer) until `resumeReading`. */
  pauseReading(): void {
    if ((this.flags & F_PAUSED) !== 0) return;
    this.flags |= F_PAUSED;
    this.transport.pause();
  }

  /** @internal */
  resumeReading(): void {
    if ((this.flags & F_PAUSED) === 0) return;
    this.flags &= ~F_PAUSED;
    if ((this.flags & (F_CLOSED | F_READ_STOPPED | F_PONG_HELD)) === 0) this.transport.resume();
  }

  /** @internal */
  get readingPaused(): boolean {
    return (this.flags & F_PAUSED) !== 0;
  }

  /** @internal Copies `data` if it is ephemeral (see `isEphemeral`), for a face that keeps it. */
  static keep(data: Buffer): Buffer {
    return isEphemeral(data) ? copyOf(data) : data;
  }

  /** @internal `close()` was called and its close frame waits behind messages being compressed. */
  get closeQueued(): boolean {
    return (this.flags & F_CLOSE_QUEUED) !== 0;
  }

  /** @internal whether the core reached its end (for faces mapping readyState). */
  get coreClosed(): boolean {
    return this.core.state === WS_CLOSED;
  }
}

function runInflateStep(conn: WsConnection): void {
  conn.inflateStep();
}

export { toBuffer } from './ws-send.js';
