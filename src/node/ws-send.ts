/**
 * The send side of one WebSocket connection (the base of `WsConnection`, ws-connection.ts): the backpressure policy
 * (`maxBackpressure`: admit, or drop, or fail with 1008), what `send` returns (`SEND_BACKPRESSURE` over
 * `backpressureLimit`), when `drain` fires (under the limit again, never merely "the socket flushed"), permessage-
 * deflate on what we send (whole messages, prepared ones, fragments), and control frames.
 */

import { Buffer } from 'node:buffer';
import { ConnectionClosedError, InvalidStateError } from '../errors.js';
import { copyOf } from '../util/bytes.js';
import { OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from '../ws/frame.js';
import { rsv1ForFrame } from '../ws/permessage-deflate.js';
import { WS_OPEN, type WsProtocol } from '../ws/protocol.js';
import { coarseNow } from './clock.js';
import { DeflateCodec, type DeflateJob, deflateStats } from './deflate.js';
import {
  chBackpressure,
  chFrameOut,
  chPayload,
  publishBackpressure,
  publishFrame,
  publishPayload,
} from './diagnostics.js';
import type { PreparedMessage } from './prepared-message.js';
import type { Transport } from './transport.js';
import { bump, type CloseCause, type FrameTap, type WsConnectionConfig, type WsConnectionHandler } from './ws-types.js';

/** `send()` result: bytes handed to the transport (> 0), or one of these. */
export const SEND_BACKPRESSURE = -1;
export const SEND_DROPPED = 0;

// Connection flags (one integer instead of several booleans), shared by both halves of the connection.
/** @internal */ export const F_CLOSED = 1;
/** @internal */ export const F_WANT_DRAIN = 2;
/** @internal */ export const F_FRAGMENT_OPEN = 4;
/** @internal */ export const F_PAUSED = 8;
/** @internal */ export const F_FRAGMENT_COMPRESSED = 16;
/** @internal */ export const F_FAILED = 32;
/** Reading stopped for good (failed for backpressure): `resumeReading` does nothing. @internal */
export const F_READ_STOPPED = 64;
/** The message being inflated in slices is binary. @internal */
export const F_INFLATING_BINARY = 128;
/** The transport closed while messages were still being inflated: the end is told after them. @internal */
export const F_END_DEFERRED = 256;
/** Reading is held until the peer reads the pongs it made us queue (policy drop, see `checkPongBacklog`). @internal */
export const F_PONG_HELD = 512;
/** Messages wait in `RareState.sendQueue` behind one being compressed in slices: later ones queue too. @internal */
export const F_SEND_QUEUED = 1024;
/** `close()` was called while messages were queued: the close frame follows them; nothing more is accepted. @internal */
export const F_CLOSE_QUEUED = 2048;

/**
 * A send waiting behind a message compressed in slices (see `WsSendPath.#pump`). `size` bytes count in
 * `bufferedAmount` meanwhile. `start` (a large compressed message) starts its compression when its turn comes;
 * `job` is a compression it waits for (its own, or a publish's shared one); `write` sends it, given the job's
 * result (null when there is no job).
 * @internal
 */
export class QueuedSend {
  readonly size: number;
  start: (() => DeflateJob) | null;
  job: DeflateJob | null;
  readonly write: (compressed: Buffer | null) => void;

  constructor(
    size: number,
    start: (() => DeflateJob) | null,
    job: DeflateJob | null,
    write: (compressed: Buffer | null) => void,
  ) {
    this.size = size;
    this.start = start;
    this.job = job;
    this.write = write;
  }
}
/** The core reports frame headers (`core.reportFrames`), as last set by a read. @internal */
export const F_REPORTING = 4096;

const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * Per-connection state that an open, idle connection never needs, made on first use (MEMORY: an idle connection
 * holds one null instead of seven fields; bench/idle-memory.sh): how the end is going (close timer, the wait for
 * the peer's FIN, the code we sent, the cause, why we failed), messages waiting behind a sliced inflate, and the
 * drain callback.
 * @internal
 */
export class RareState {
  closeTimer: NodeJS.Timeout | null = null;
  /** When the wait for the peer's TCP close began (0: not waiting). */
  finWaitSince = 0;
  /** Close code of the close frame we sent (0: none). */
  sentCode = 0;
  cause: CloseCause | null = null;
  error: unknown = undefined;
  /** While a message is inflated in slices: what the core reported after it, in order. */
  deferred: (() => void)[] | null = null;
  drainCheck: (() => void) | null = null;
  /** Sends waiting behind a message being compressed in slices, in order (see `#pump`), and their plain bytes. */
  sendQueue: QueuedSend[] | null = null;
  queuedBytes = 0;
  pump: (() => void) | null = null;
  /** The frame observer this connection last saw (config.frameObserver), and what it said to pass it back. */
  observer: FrameTap | null = null;
  observed: unknown = null;
}

/** The send half of a WebSocket connection; `WsConnection` adds the receive half, timers and the end. */
export abstract class WsSendPath {
  /** @internal */
  abstract readonly core: WsProtocol;
  /** @internal */
  readonly transport: Transport;
  /** @internal */
  readonly config: WsConnectionConfig;
  /** @internal */
  protected readonly handler: WsConnectionHandler;
  /** @internal permessage-deflate codec, when negotiated. */
  protected readonly codec: DeflateCodec | null;
  /** @internal */
  protected flags: number;
  /** This connection's `maxBackpressure` (the config's unless changed, see the accessor). */
  #maxBackpressure: number;
  /** @internal What only a closing, draining or inflating connection needs, made on first use (see RareState). */
  protected rare: RareState | null;

  /** @internal */
  constructor(
    config: WsConnectionConfig,
    transport: Transport,
    codec: DeflateCodec | null,
    handler: WsConnectionHandler | null,
  ) {
    this.transport = transport;
    this.config = config;
    // A face that extends the connection (ServerWebSocket) is its own handler: one object per connection.
    this.handler = handler ?? (this as unknown as WsConnectionHandler);
    this.codec = codec;
    this.flags = 0;
    this.#maxBackpressure = config.maxBackpressure;
    this.rare = null;
  }

  /** @internal The connection's RareState, made now if it has none yet. */
  protected st(): RareState {
    let r = this.rare;
    if (r === null) {
      r = new RareState();
      this.rare = r;
    }
    return r;
  }

  /**
   * This connection's `maxBackpressure`: most bytes it may leave unread before the policy applies. Starts as the
   * server's option; a handler may change it per connection (e.g. `sockeye echo` allows what the peer's own
   * messages need).
   */
  get maxBackpressure(): number {
    return this.#maxBackpressure;
  }

  set maxBackpressure(bytes: number) {
    if (!(bytes > 0)) throw new RangeError(`maxBackpressure must be a positive number of bytes, got ${bytes}`);
    this.#maxBackpressure = bytes;
  }

  /** @internal Fails the connection (RFC 6455 §7.1.7): see WsConnection.fail. */
  abstract fail(code: number, reason: string, cause: CloseCause, error?: unknown): void;

  /** @internal Whether messages may be sent now. */
  get isOpen(): boolean {
    return this.core.state === WS_OPEN && (this.flags & (F_CLOSED | F_CLOSE_QUEUED)) === 0;
  }

  /**
   * Bytes queued but not yet taken by the transport's peer (the open batch included), and the plain bytes of
   * messages still waiting to be compressed (a large message is compressed over several loop turns).
   */
  get bufferedAmount(): number {
    return this.transport.bufferedAmount + this.#queuedBytes();
  }

  /** Plain bytes of the messages waiting behind a sliced compression (0 almost always). */
  #queuedBytes(): number {
    const r = this.rare;
    return r === null ? 0 : r.queuedBytes;
  }

  /** Plain bytes queued behind the message being compressed in slices. */
  #waitingBytes(): number {
    const r = this.rare;
    if (r === null || r.sendQueue === null) return 0;
    return r.queuedBytes - (r.sendQueue[0]?.size ?? 0);
  }

  /** @internal Whether a message of `n` bytes sent now would be kept to be sent later (a sliced compression, or
   * behind one): a face whose caller may reuse its buffer copies it first. */
  defersSend(n: number): boolean {
    if ((this.flags & F_SEND_QUEUED) !== 0) return true;
    const codec = this.codec;
    return codec?.wants(n) === true && DeflateCodec.slices(n);
  }

  /**
   * @internal The transport flushed its buffer. `drain` means "under backpressureLimit again", never merely "the
   * transport wrote something": bytes queued since (or a batch still open) keep it waiting for the next flush.
   */
  onDrain(): void {
    if ((this.flags & F_WANT_DRAIN) === 0 || (this.flags & F_CLOSED) !== 0) return;
    if (!this.#belowLimit()) {
      this.#afterFlush(this.#drainCheck());
      return;
    }
    this.flags &= ~F_WANT_DRAIN;
    if (chBackpressure.hasSubscribers) this.#diagBackpressure('drained');
    // Nothing can be sent any more once our side ended: no drain to tell of.
    if (!this.transport.writableEnded && !this.transport.destroyed) this.handler.onWsDrain();
  }

  /** The callback of a wait for the transport to flush: made once, on the first wait. */
  #drainCheck(): () => void {
    const st = this.st();
    let fn = st.drainCheck;
    if (fn === null) {
      fn = () => {
        if ((this.flags & F_CLOSED) === 0) this.onDrain();
      };
      st.drainCheck = fn;
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
    if (t.bufferedAmount - this.transport.writer.pendingBytes === 0) setImmediate(fn);
    else t.whenWritten(fn);
  }

  /** Under the limit again, or nothing more can be sent (our side ended, or the transport is gone). */
  #belowLimit(): boolean {
    const t = this.transport;
    return (
      t.bufferedAmount + this.#queuedBytes() <= this.config.backpressureLimit ||
      t.destroyed ||
      t.writableEnded ||
      (this.flags & F_CLOSED) !== 0
    );
  }

  // ── sending: the backpressure policy ────────────────────────────────────────────────────────────────

  /**
   * Room for `n` more bytes under `maxBackpressure`; otherwise applies the policy: `drop` skips the message,
   * `close` fails the connection with 1008. Returns whether the message may be queued.
   */
  #admit(n: number): boolean {
    // A batch held to the end of this turn (a burst of publishes, a streamed echo) is about to be written and is
    // bounded by the writer (HOLD_MAX): what piles up for a slow peer is the rest.
    // The message at the head of a sliced-compression queue is being compressed: like a message being written, it
    // always goes; the ones behind it are what piles up.
    const t = this.transport;
    const buffered = t.bufferedAmount - t.writer.heldBytes + this.#waitingBytes();
    // PERF: the common answer here, the policy out of line (#admitOver was no longer inlined: +45 instructions per
    // 32 B message).
    if (buffered === 0 || buffered + n <= this.#maxBackpressure) return true;
    return this.#admitOver(buffered, n);
  }

  /** `#admit` for a connection that has `buffered` bytes piled up (outside a held batch and a sliced compression). */
  #admitOver(buffered: number, n: number): boolean {
    // A message on an empty buffer always goes: the limit bounds what piles up, not message size.
    if (buffered === 0 || buffered + n <= this.#maxBackpressure) return true;
    const stats = this.config.stats;
    if (this.config.dropOnBackpressure) {
      if (stats !== null) stats.backpressureDrops++;
      if (chBackpressure.hasSubscribers) this.#diagBackpressure('dropped');
      return false;
    }
    this.#failBackpressure();
    return false;
  }

  /** Policy `close` past `maxBackpressure`: fail with 1008 and read no more. */
  #failBackpressure(): void {
    const stats = this.config.stats;
    if (stats !== null) stats.backpressureCloses++;
    if (chBackpressure.hasSubscribers) this.#diagBackpressure('cut-off');
    // RFC 6455 §7.4.1: 1008, a message that violates the server's policy. The frame queues behind what the
    // peer has not read; if it cannot be delivered within closeTimeout the transport is destroyed.
    this.fail(1008, `Backpressure limit of ${this.#maxBackpressure} bytes exceeded`, 'backpressure');
    // RFC 6455 §7.1.7: after failing the connection nothing more of the peer's is processed, so nothing more is
    // read either: a peer that sends and never reads costs no more reads (and no more echoes) until it is gone.
    this.flags |= F_READ_STOPPED;
    this.transport.pause();
  }

  /**
   * @internal The core has just queued a pong (it answers each ping as it parses it). SECURITY: a peer that sends pings and
   * never reads would otherwise make us queue pongs without bound. RFC 6455 §5.5.2 has a ping answered, but
   * §5.5.3 lets an endpoint that has not yet answered earlier pings answer "only the most recently processed"
   * one: a backlog of pongs answers nothing the last one does not. So pongs count against `maxBackpressure` as
   * messages do: past it, policy `close` fails the connection with 1008 and reads no more; policy `drop` (which
   * cannot drop a pong already queued) stops reading until the peer has read its backlog down to
   * `backpressureLimit`, so that no more pings, hence pongs, come in meanwhile.
   */
  protected checkPongBacklog(): void {
    // No pong was queued once our close frame is out (the core answers no ping then).
    if (this.core.closeSent || (this.flags & F_CLOSED) !== 0) return;
    if (this.transport.bufferedAmount - this.transport.writer.heldBytes <= this.#maxBackpressure) return;
    if (!this.config.dropOnBackpressure) {
      this.#failBackpressure();
      return;
    }
    if ((this.flags & F_PONG_HELD) !== 0) return;
    this.flags |= F_PONG_HELD;
    this.transport.pause();
    const look = (): void => {
      if (!this.#belowLimit()) {
        this.#afterFlush(look);
        return;
      }
      this.flags &= ~F_PONG_HELD;
      // Unless something else holds reading: the application (pauseReading), a failure, a sliced inflate.
      if ((this.flags & (F_CLOSED | F_PAUSED | F_READ_STOPPED)) === 0 && (this.rare?.deferred ?? null) === null) {
        this.transport.resume();
      }
    };
    this.#afterFlush(look);
  }

  /**
   * Sends a message: a string as text, bytes as binary unless `binary` is false. Returns the bytes handed to the
   * transport, `SEND_BACKPRESSURE` (queued, over `backpressureLimit`) or `SEND_DROPPED` (closing, or the policy).
   * With permessage-deflate, messages the codec wants are compressed unless `compress` is `false`.
   */
  send(data: string | Uint8Array | ArrayBuffer, binary?: boolean, compress?: boolean): number {
    if (!this.isOpen) return SEND_DROPPED;
    // PERF: the rare paths (diagnostics, a queue behind a sliced compression) are calls out of line: more bytecode
    // in send() made V8 stop inlining isOpen and #admitOver here (+200 instructions per 32 B message;
    // bench/results/quiet-run-2026-12-07.md).
    if (chPayload.hasSubscribers) this.#diagPayloadOut(data, binary);
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
    const codec = this.codec;
    if (codec !== null) {
      // The threshold is in bytes; a string's UTF-8 length is 1 to 3 times its length in UTF-16 units.
      if (
        compress !== false &&
        (codec.wants(n) || (b === null && codec.wants(n * 3) && codec.wants(Buffer.byteLength(data as string))))
      ) {
        return this.#sendCompressed(b ?? Buffer.from(data as string), isText, b === null);
      }
      deflateStats.skipped++;
    }
    if (!this.#admit(n)) return SEND_DROPPED;
    if ((this.flags & F_SEND_QUEUED) !== 0) return this.#sendQueued(data, b, n, isText);
    this.transport.writer.begin();
    try {
      if (b === null) this.core.sendText(data as string);
      else if (binary === false) this.core.sendText(b);
      else this.core.sendBinary(b);
    } finally {
      this.transport.writer.commit();
    }
    this.#countOut(n, isText ? 'text' : 'binary', true, false);
    return this.#afterSend(n);
  }

  /** `send`'s payload event (diagnostics.ts). */
  #diagPayloadOut(data: string | Uint8Array | ArrayBuffer, binary: boolean | undefined): void {
    publishPayload(this, 'sent', typeof data === 'string' && binary !== true, data as string | Buffer);
  }

  /** `send` behind a message being compressed: sent in its turn (a string as its bytes; the order is kept). */
  #sendQueued(data: string | Uint8Array | ArrayBuffer, b: Buffer | null, n: number, isText: boolean): number {
    // Kept past this call: a Buffer of the caller's (or a view the next read overwrites, as a message handler's
    // argument may be) is copied now.
    const bytes = b === null ? Buffer.from(data as string) : copyOf(b);
    const type = isText ? OP_TEXT : OP_BINARY;
    return this.#enqueue(
      new QueuedSend(n, null, null, () => {
        this.core.sendFrame(type, bytes, true, false);
        this.#countOut(n, isText ? 'text' : 'binary', true, false);
        this.#afterSend(n);
      }),
    );
  }

  /** RFC 7692 §7.2.1: one frame with RSV1 set, holding the compressed message. */
  #sendCompressed(plain: Buffer, isText: boolean, owned: boolean): number {
    const codec = this.codec as DeflateCodec;
    this.#checkNoFragmentOpen();
    // With context takeover, whatever we compress joins the history the peer must have seen: a message the
    // backpressure policy then dropped would corrupt the next ones. So such a connection is admitted on the
    // uncompressed size first; without takeover, on what is queued: the compressed bytes.
    const big = DeflateCodec.slices(plain.length);
    if (big || (this.flags & F_SEND_QUEUED) !== 0) {
      // Compressed in slices (or behind such a message): admitted now on its plain size, which counts in
      // bufferedAmount until the frame is written.
      if (!this.#admit(plain.length)) return SEND_DROPPED;
      // Compressed later (and over several turns): the bytes must stay as they are until then, so a caller's
      // buffer, or a view of a read buffer, is copied now.
      if (!owned) plain = copyOf(plain);
      return this.#enqueue(
        new QueuedSend(plain.length, big ? () => codec.startCompress(plain, coarseNow()) : null, null, (compressed) => {
          const payload = compressed ?? codec.compress(plain, coarseNow());
          this.#sendFrameCounted(payload, plain.length, isText, true, false);
        }),
      );
    }
    if (!codec.sharesOutput && !this.#admit(plain.length)) return SEND_DROPPED;
    const payload = codec.compress(plain, coarseNow());
    return this.#sendFrameCounted(payload, plain.length, isText, true, codec.sharesOutput);
  }

  /** A new message cannot start inside a fragmented one (checked before compressing it into the context). */
  #checkNoFragmentOpen(): void {
    if ((this.flags & F_FRAGMENT_OPEN) !== 0) {
      throw new InvalidStateError('Cannot start a message: a fragmented message is being sent');
    }
  }

  /** Sends a message prepared once for many connections (see prepared-message.ts). Returns as `send`. */
  sendPrepared(message: PreparedMessage, compress?: boolean): number {
    if (!this.isOpen) return SEND_DROPPED;
    this.#checkNoFragmentOpen();
    return this.#sendPrepared(message, compress);
  }

  /**
   * @internal A publish's send: as `sendPrepared`, but a connection that cannot take a message now (closing, or in
   * the middle of a fragmented send, which another message must not interleave: RFC 6455 §5.4) counts as dropped
   * instead of throwing, so one subscriber never stops a publish to the others.
   */
  publishPrepared(message: PreparedMessage, compress?: boolean): number {
    if (!this.isOpen || (this.flags & F_FRAGMENT_OPEN) !== 0) return SEND_DROPPED;
    if (this.codec === null) return this.#publishShared(message);
    return this.#sendPrepared(message, compress);
  }

  /**
   * A publish's plain frame to a connection without permessage-deflate: `#sendEncoded`'s work, made for the
   * per-subscriber path of a publish (bench/fanout-instr.ts). The core's checks for a shared frame were made by
   * `publishPrepared`: open, so no close frame was sent (RFC 6455 §5.5.1), and no fragmented message is open
   * (§5.4); a server's frame is never masked (§5.1) and only a server publishes. Without a codec nothing is ever
   * queued behind a sliced compression (F_SEND_QUEUED), so the frame goes now.
   */
  #publishShared(message: PreparedMessage): number {
    // As #sendPrepared: the payload is reported before admission.
    if (chPayload.hasSubscribers) publishPayload(this, 'sent', !message.binary, message.data);
    message.shareFrame();
    const start = message.sharedStart;
    const end = message.sharedEnd;
    const n = end - start;
    const t = this.transport;
    const w = t.writer;
    const queued = t.bufferedAmount - w.heldBytes;
    if (!this.#admitOver(queued, n)) return SEND_DROPPED;
    w.writeSharedHeld(message.sharedBuf as Buffer, start, end);
    if (chFrameOut.hasSubscribers || this.config.frameObserver !== null) {
      this.#watchOut(message.binary ? 'binary' : 'text', true, false, message.data.length);
    }
    const stats = this.config.stats;
    if (stats !== null) {
      stats.messagesOut++;
      stats.payloadBytesOut += message.data.length;
      // framesOut has these keys from the start: a property increment, not a keyed lookup per delivery.
      if (message.binary) (stats.framesOut.binary as number)++;
      else (stats.framesOut.text as number)++;
    }
    // Held, the frame waits in the batch and what is queued beyond it is what it was before (the batch began
    // empty, or it was the same held batch): no second look at the socket.
    return this.#afterSendQueued(n, w.heldBytes !== 0 ? queued : t.bufferedAmount - w.heldBytes);
  }

  /** The frame is encoded once per message (and per shared compressor setting) and written as it is. */
  #sendPrepared(message: PreparedMessage, compress: boolean | undefined): number {
    const plain = message.data;
    const isText = !message.binary;
    if (chPayload.hasSubscribers) publishPayload(this, 'sent', isText, plain);
    const codec = this.codec;
    if (codec === null || compress === false || !codec.wants(plain.length)) {
      if (codec !== null) deflateStats.skipped++;
      message.shareFrame();
      return this.#sendEncoded(
        message.sharedBuf as Buffer,
        message.sharedStart,
        message.sharedEnd,
        plain.length,
        isText,
      );
    }
    // With context takeover the compressed bytes depend on this connection's history: compressed for it alone,
    // admitted first (see #sendCompressed).
    if (!codec.sharesOutput) return this.#sendCompressed(plain, isText, false);
    const frame = message.compressedFrameFor(codec, coarseNow());
    if (Buffer.isBuffer(frame)) return this.#sendEncoded(frame, 0, frame.length, plain.length, isText);
    // A large message compressed once for all such subscribers, in slices: this connection waits for it in order.
    if (!this.#admit(plain.length)) return SEND_DROPPED;
    return this.#enqueue(
      new QueuedSend(plain.length, null, frame, () => {
        const encoded = message.compressedFrameFor(codec, coarseNow()) as Buffer;
        this.#writeEncoded(encoded, 0, encoded.length, plain.length, isText);
      }),
    );
  }

  /**
   * A message already encoded as one frame (`frame[start..end)`), shared with other connections: written as it is
   * (no copy), or queued behind a sliced compression.
   */
  #sendEncoded(frame: Buffer, start: number, end: number, plainLength: number, isText: boolean): number {
    const n = end - start;
    if (!this.#admit(n)) return SEND_DROPPED;
    if ((this.flags & F_SEND_QUEUED) !== 0) {
      return this.#enqueue(
        new QueuedSend(n, null, null, () => this.#writeEncoded(frame, start, end, plainLength, isText)),
      );
    }
    return this.#writeEncoded(frame, start, end, plainLength, isText);
  }

  #writeEncoded(frame: Buffer, start: number, end: number, plainLength: number, isText: boolean): number {
    const n = end - start;
    // PERF: held until the end of this event-loop turn (as uWebSockets corks): the messages a burst of publishes
    // brings one subscriber leave in one socket write, not one write each (bench/fanout.ts).
    const w = this.transport.writer;
    w.begin();
    try {
      this.core.sendEncoded(frame, start, end);
      w.holdOpen();
    } finally {
      w.commit();
    }
    this.#countOut(plainLength, isText ? 'text' : 'binary', true, ((frame[start] as number) & 0x40) !== 0);
    return this.#afterSend(n);
  }

  /** One whole message in one frame, counted and (when `admit`) checked against the backpressure limits. */
  #sendFrameCounted(payload: Buffer, plainLength: number, isText: boolean, rsv1: boolean, admit: boolean): number {
    if (admit && !this.#admit(payload.length)) return SEND_DROPPED;
    this.transport.writer.begin();
    try {
      this.core.sendFrame(isText ? OP_TEXT : OP_BINARY, payload, true, rsv1);
    } finally {
      this.transport.writer.commit();
    }
    this.#countOut(plainLength, isText ? 'text' : 'binary', true, rsv1);
    return this.#afterSend(payload.length);
  }

  #countOut(payloadBytes: number, frame: string, messageEnds: boolean, rsv1: boolean): void {
    // PERF: one test for both watchers, the work out of line: this method is inlined into every send, and more
    // bytecode here kept V8 from inlining the getters of send() (bench/instructions.sh, +110 instructions/message).
    if (chFrameOut.hasSubscribers || this.config.frameObserver !== null)
      this.#watchOut(frame, messageEnds, rsv1, payloadBytes);
    const stats = this.config.stats;
    if (stats === null) return;
    if (messageEnds) stats.messagesOut++;
    stats.payloadBytesOut += payloadBytes;
    // Keyed, as before: named increments here made this method large enough that V8 stopped inlining send()'s
    // `isOpen` (+56 instructions per message with nobody watching, bench/instructions.sh). With a tab open (this
    // method then not inlined) the keyed bump costs a generic keyed access instead.
    bump(stats.framesOut, frame);
  }

  /**
   * Sends one fragment of a message (RFC 6455 §5.4): the first call's `binary` sets the message type; `fin`
   * ends the message. With permessage-deflate the whole message is compressed (RSV1 on its first frame) unless
   * the first call passes `compress: false`.
   */
  sendFragment(
    data: string | Uint8Array | ArrayBuffer,
    fin: boolean,
    binary = typeof data !== 'string',
    compress?: boolean,
  ): number {
    if (!this.isOpen) return SEND_DROPPED;
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    const plainLength = b.length;
    const open = (this.flags & F_FRAGMENT_OPEN) !== 0;
    // The first fragment decides whether the message is compressed (RFC 7692 §6.1: RSV1 on the first frame).
    if (!open && this.codec !== null && compress !== false) this.flags |= F_FRAGMENT_COMPRESSED;
    const compressed = (this.flags & F_FRAGMENT_COMPRESSED) !== 0;
    // Admitted before compressing: a fragment compressed and then dropped would corrupt the stream.
    if (!this.#admit(b.length)) {
      if (!open) this.flags &= ~F_FRAGMENT_COMPRESSED;
      return SEND_DROPPED;
    }
    const opcode = open ? OP_CONTINUATION : binary ? OP_BINARY : OP_TEXT;
    if (fin) this.flags &= ~(F_FRAGMENT_OPEN | F_FRAGMENT_COMPRESSED);
    else this.flags |= F_FRAGMENT_OPEN;
    if ((this.flags & F_SEND_QUEUED) !== 0) {
      // Behind a message being compressed: this fragment (compressed in its turn, in one pass) follows it.
      // Kept past this call: copied (a streamed piece is a view that the next read overwrites).
      const piece = copyOf(b);
      return this.#enqueue(
        new QueuedSend(plainLength, null, null, () => {
          this.#writeFragment(piece, plainLength, opcode, fin, compressed, open);
        }),
      );
    }
    return this.#writeFragment(b, plainLength, opcode, fin, compressed, open);
  }

  #writeFragment(data: Buffer, plainLength: number, opcode: number, fin: boolean, compressed: boolean, open: boolean) {
    const b = compressed ? (this.codec as DeflateCodec).compressFragment(data, fin, coarseNow()) : data;
    this.transport.writer.begin();
    try {
      this.core.sendFrame(opcode, b, fin, rsv1ForFrame(compressed, open));
    } finally {
      this.transport.writer.commit();
    }
    this.#countOut(
      plainLength,
      open ? 'continuation' : opcode === OP_BINARY ? 'binary' : 'text',
      fin,
      compressed && !open,
    );
    return this.#afterSend(b.length);
  }

  // ── sending later: messages behind one compressed in slices ─────────────────────────────────────────

  /**
   * Queues a send behind (or as) a message compressed in slices; the first one starts the pump. Returns as `send`:
   * the size, or SEND_BACKPRESSURE when bufferedAmount (queued bytes included) is over `backpressureLimit`.
   */
  #enqueue(entry: QueuedSend): number {
    const st = this.st();
    let q = st.sendQueue;
    if (q === null) {
      q = [];
      st.sendQueue = q;
      this.flags |= F_SEND_QUEUED;
    }
    q.push(entry);
    st.queuedBytes += entry.size;
    if (q.length === 1) this.#pump();
    return this.#afterSend(entry.size);
  }

  /** @internal Queues `write` (a close frame) behind the messages queued now; it runs at once if none are. */
  protected afterQueued(write: () => void): boolean {
    if ((this.flags & F_SEND_QUEUED) === 0) return false;
    this.#enqueue(new QueuedSend(0, null, null, write));
    return true;
  }

  /**
   * Writes the queued sends in order, as far as it can: a compression not yet done (its own, started when its
   * turn comes, or a publish's shared one) stops it until that job calls back. RFC 6455 §5.4: the frames of one
   * message are contiguous, so nothing of another message passes it; control frames (pings, pongs) need no turn
   * (§5.5: they may be sent between messages). Once the connection is closing or gone, what is left is dropped
   * (§5.5.1: no data frame after a close frame).
   */
  #pump(): void {
    const st = this.rare as RareState;
    const q = st.sendQueue;
    if (q === null) return;
    const w = this.transport.writer;
    w.begin();
    try {
      while (q.length > 0) {
        if ((this.flags & F_CLOSED) !== 0 || this.core.state !== WS_OPEN || this.core.closeSent) {
          this.dropQueued();
          return;
        }
        const e = q[0] as QueuedSend;
        if (e.start !== null) {
          const start = e.start;
          e.start = null;
          e.job = start();
        }
        const job = e.job;
        if (job !== null && !job.done) {
          let fn = st.pump;
          if (fn === null) {
            fn = () => this.#pump();
            st.pump = fn;
          }
          job.whenDone(fn);
          return;
        }
        q.shift();
        st.queuedBytes -= e.size;
        // A job cancelled or failed (the connection is ending): nothing to send for it.
        if (job === null || job.result !== null) e.write(job === null ? null : job.result);
      }
      st.sendQueue = null;
      st.queuedBytes = 0;
      this.flags &= ~F_SEND_QUEUED;
    } finally {
      w.commit();
    }
    // Sends made while queued may have reported backpressure: the drain comes once all is under the limit.
    if ((this.flags & F_WANT_DRAIN) !== 0) this.#afterFlush(this.#drainCheck());
  }

  /** @internal Forgets the queued sends (the connection failed or ended) and stops a compression of ours. */
  protected dropQueued(): void {
    const st = this.rare;
    if (st === null || st.sendQueue === null) return;
    st.sendQueue = null;
    st.queuedBytes = 0;
    this.flags &= ~F_SEND_QUEUED;
    this.codec?.cancelSend();
  }

  /** Streams an iterable as one fragmented message, waiting for `drain` under backpressure. */
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
    if (this.bufferedAmount <= limit || (this.flags & F_CLOSED) !== 0) return Promise.resolve();
    // Called in a handler, the bytes may still be gathered by the read's batch, which is written when the handler
    // returns, often whole (no 'drain' would ever come for them): look again once it has been written.
    return Promise.resolve().then(() =>
      this.bufferedAmount > limit && (this.flags & F_CLOSED) === 0 ? this.#waitDrain() : undefined,
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
    const t = this.transport;
    const buffered = t.bufferedAmount - t.writer.heldBytes + this.#queuedBytes();
    // PERF: the common answer inline, the rest out of line (as #admit).
    if (buffered <= this.config.backpressureLimit) return n;
    return this.#afterSendQueued(n, buffered);
  }

  /** `#afterSend` for a connection with `buffered` bytes queued outside a held batch. */
  #afterSendQueued(n: number, buffered: number): number {
    if (buffered <= this.config.backpressureLimit) return n;
    if ((this.flags & F_WANT_DRAIN) === 0) {
      this.flags |= F_WANT_DRAIN;
      if (chBackpressure.hasSubscribers) this.#diagBackpressure('reached');
      // The bytes may still sit in the open batch: once it is written (after the current handler), make sure the
      // drain handler is called even when the transport will not signal a drain (see Transport.whenWritten).
      queueMicrotask(() => {
        if ((this.flags & F_WANT_DRAIN) !== 0 && !this.transport.needsDrain) {
          this.transport.whenWritten(this.#drainCheck());
        }
      });
    }
    return SEND_BACKPRESSURE;
  }

  /** Sends a ping (payload ≤ 125 bytes; RangeError above). Does nothing unless open. */
  ping(data: string | Uint8Array = EMPTY_BUFFER): void {
    if (!this.isOpen || this.core.closeSent) return;
    this.control(true, toPayload(data));
  }

  /** Sends an unsolicited pong (payload ≤ 125 bytes). Does nothing unless open. */
  pong(data: string | Uint8Array = EMPTY_BUFFER): void {
    if (!this.isOpen || this.core.closeSent) return;
    this.control(false, toPayload(data));
  }

  /** @internal */
  protected control(ping: boolean, data: Buffer): void {
    this.transport.writer.begin();
    try {
      if (ping) this.core.ping(data);
      else this.core.pong(data);
    } finally {
      this.transport.writer.commit();
    }
    const stats = this.config.stats;
    if (stats !== null) bump(stats.framesOut, ping ? 'ping' : 'pong');
    if (chFrameOut.hasSubscribers) publishFrame(this, 'sent', ping ? 'ping' : 'pong', true, false, data.length);
    const observer = this.config.frameObserver;
    if (observer !== null) this.observeFrame(observer, true, ping ? OP_PING : OP_PONG, true, false, data.length);
  }

  /** @internal The frame observer was removed: drop what it kept for this connection. */
  forgetObserver(): void {
    const st = this.rare;
    if (st === null) return;
    st.observer = null;
    st.observed = null;
  }

  /**
   * @internal Tells `observer` (a server's `observeFrames`) of a frame. What it keeps for this connection sits in
   * the connection's RareState (made now: only connections with frames while an observer is set get one), so a
   * frame costs no lookup; the time is the coarse clock's (clock.ts), not a clock read per frame.
   */
  protected observeFrame(
    observer: FrameTap,
    sent: boolean,
    opcode: number,
    fin: boolean,
    rsv1: boolean,
    length: number,
  ): void {
    const st = this.st();
    if (st.observer !== observer) {
      st.observer = observer;
      st.observed = observer.connection(this);
    }
    if (st.observed !== null) observer.frame(st.observed, sent, opcode, fin, rsv1, length, coarseNow());
  }

  /** A sent message or fragment, to the diagnostics channel and the frame observer (whichever is there). */
  #watchOut(frame: string, messageEnds: boolean, rsv1: boolean, payloadBytes: number): void {
    if (chFrameOut.hasSubscribers) publishFrame(this, 'sent', frame, messageEnds, rsv1, payloadBytes);
    const observer = this.config.frameObserver;
    if (observer === null) return;
    const opcode = frame === 'text' ? OP_TEXT : frame === 'binary' ? OP_BINARY : OP_CONTINUATION;
    this.observeFrame(observer, true, opcode, messageEnds, rsv1, payloadBytes);
  }

  #diagBackpressure(event: 'reached' | 'drained' | 'dropped' | 'cut-off'): void {
    const limit = event === 'dropped' || event === 'cut-off' ? this.#maxBackpressure : this.config.backpressureLimit;
    publishBackpressure(this, event, this.transport.bufferedAmount, limit);
  }
}

function toPayload(data: string | Uint8Array): Buffer {
  return typeof data === 'string' ? Buffer.from(data) : toBuffer(data);
}

/** A view of `data` as a Buffer (no copy). */
export function toBuffer(data: Uint8Array | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
