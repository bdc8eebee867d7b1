/**
 * Sans-I/O WebSocket connection (RFC 6455 §5-§7), shared by server and client: bytes in through `receive`,
 * messages and control events out through a `WsHandler`, frames out through a `WsSink`. No sockets, no timers.
 *
 * Rules (each is quoted at the line that enforces it):
 * - Frame rules (RSV bits, opcodes, control frame size and FIN, masking direction, length encoding) are checked by
 *   frame-parser.ts; message rules (continuations, `maxPayload`, UTF-8, close payloads) here.
 * - Every protocol violation fails the connection (§7.1.7): one close frame with the error's close code, one
 *   `onError`, then input is discarded. A server also closes TCP (`sink.end()`); a client waits for the server
 *   to do so (§7.1.1).
 * - After a close frame is received, further input is discarded (§1.4); the close is echoed if we had not sent
 *   one (§5.5.1), and a server closes TCP.
 *
 * Theory of operation. `state` moves OPEN → CLOSING → CLOSED:
 *
 *   WS_OPEN     messages flow both ways
 *   WS_CLOSING  a close frame was sent (by `close`, `fail`, a failure, or the echo of the peer's close); no data may
 *               be sent; `closeExpected()` is true: the adapter arms its close timer and waits for TCP to close
 *   WS_CLOSED   `receiveEof()` was called: the TCP connection is gone (`closeCode` 1006 if no close frame came)
 *
 * `closeSent` and `closeReceived` say which half of the close handshake happened (§7.1.2-§7.1.4).
 */

import { InvalidStateError, type ProtocolError, wsError } from '../errors.js';
import { WS_MAX_FRAGMENTS } from '../limits.js';
import { isValidUtf8, UTF8_ACCEPT, utf8Scan, utf8ScanState } from '../util/utf8.js';
import {
  CLOSE_CODE,
  EMPTY,
  encodeClosePayload,
  isValidCloseCode,
  MAX_CLOSE_REASON,
  MAX_CONTROL_PAYLOAD,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
} from './frame.js';
import { FrameParser, type FrameReceiver, STOPPED } from './frame-parser.js';
import { writeFrame } from './frame-writer.js';

/** This end is the server: it expects masked frames and sends unmasked ones. */
export const SIDE_SERVER = 0;
/** This end is the client: it masks what it sends and expects unmasked frames. */
export const SIDE_CLIENT = 1;

/** Messages flow both ways. */
export const WS_OPEN = 1;
/** A close frame was sent; waiting for the peer's close frame and for TCP to close. */
export const WS_CLOSING = 2;
/** The TCP connection is closed (`receiveEof`). */
export const WS_CLOSED = 3;

// WsProtocol.#bits.
const B_EOF_RECEIVED = 1;
const B_END_SENT = 2;
const B_REPORT_FRAMES = 4;

/** Name of a state, for logs and the inspector. */
export function wsStateName(state: number): string {
  return state === WS_OPEN ? 'OPEN' : state === WS_CLOSING ? 'CLOSING' : state === WS_CLOSED ? 'CLOSED' : 'UNKNOWN';
}

/** Where the core writes its bytes: the adapter implements it on the socket, tests with an array. */
export interface WsSink {
  /** Bytes to send, in order. The core never reuses a Buffer it has written. */
  write(chunk: Buffer): void;
  /**
   * Optional: copies `src[start..end)` into the output now (the core may reuse `src` right after). A sink that
   * has it lets small frames be built in place instead of in a buffer of their own (see frame-writer.ts).
   */
  writeCopy?(src: Uint8Array, start: number, end: number): void;
  /**
   * Optional: writes `buf[start..end)`, a whole frame shared with other connections that nobody changes again (see
   * `sendEncoded`). A sink that has it may keep a reference and merge it with neighbouring shared bytes; without
   * it the frame goes through `write`.
   */
  writeShared?(buf: Buffer, start: number, end: number): void;
  /** The core wants the TCP connection closed (a server after the close handshake or a failure). */
  end(): void;
}

/** What the core reports. Fixed methods, positional arguments: no event objects are allocated. */
export interface WsHandler {
  /**
   * A whole message. `data` may be a view into the received bytes. Text is valid UTF-8 unless `rsv1` is set
   * (compressed by an extension: the adapter inflates, then validates with util/utf8.ts).
   */
  onMessage(binary: boolean, data: Buffer, rsv1: boolean): void;
  /**
   * A piece of a streamed message (see `WsProtocolOptions.streamThreshold`), in order: `first` on the message's
   * first piece, `last` on its last (both on a message that came in one piece). Text pieces are UTF-8 bytes,
   * checked before they are handed on; a piece may end inside a character. `data` is a view of the input: when
   * the adapter's reads are ephemeral (a shared read buffer), it is valid during the call only.
   */
  onMessageChunk?(binary: boolean, data: Buffer, first: boolean, last: boolean): void;
  /** A ping. The core has already written the pong (same payload) unless a close frame was sent. */
  onPing(data: Buffer): void;
  /** A pong. */
  onPong(data: Buffer): void;
  /** The peer's close frame (code 1005 if it had no payload). The core has already echoed a close frame. */
  onClose(code: number, reason: string): void;
  /**
   * The peer broke the protocol. The core has already written a close frame with `err.closeCode` (and, on the
   * server side, called `sink.end()`). `onClose` does not follow.
   */
  onError(err: ProtocolError): void;
  /**
   * Optional, called only while `WsProtocol.reportFrames` is set: a frame header as it came on the wire (RFC 6455
   * §5.2), once per frame (each fragment, each control frame), before any of its payload is handed on. `length` is
   * the payload length on the wire (compressed, for a message with `rsv1`). A header that breaks a rule of §5.2
   * is not reported (`onError` follows instead).
   */
  onFrameReceived?(opcode: number, fin: boolean, rsv1: boolean, length: number): void;
}

/** Options of a `WsProtocol`. */
export interface WsProtocolOptions {
  /** `SIDE_SERVER` or `SIDE_CLIENT`. */
  side: 0 | 1;
  /** Largest message, in bytes (before decompression), summed over its fragments; over it: 1009. `0`: no limit. */
  maxPayload: number;
  /** An extension that uses RSV1 (permessage-deflate) was negotiated. Default `false`. */
  rsv1Allowed?: boolean;
  /**
   * Messages sent as one frame of at least this many payload bytes are streamed: handed to `onMessageChunk`
   * piece by piece as they arrive instead of gathered for `onMessage`. Fragmented and compressed (RSV1) messages
   * are never streamed. Default `Infinity` (never); needs a handler with `onMessageChunk`.
   */
  streamThreshold?: number;
  /**
   * Most frames one message may come in (its first frame and its continuations); past it the connection fails
   * with 1008. Default `WS_MAX_FRAGMENTS`. `0`: no limit.
   */
  maxFragments?: number;
}

/**
 * A fragmented message being received: its fragments copied into one buffer that grows by doubling (up to
 * maxPayload), so a fragment costs its bytes, not an object (a million 1-byte fragments cost 1 MB, not a million
 * Buffers); and how many continuation frames it has had (for maxFragments).
 */
class Reassembly {
  buf: Buffer | null = null;
  fill = 0;
  frames = 0;
}

/**
 * One WebSocket connection after the opening handshake, as a sans-I/O state machine.
 *
 * @example
 * const ws = new WsProtocol({ side: SIDE_SERVER, maxPayload: WS_MAX_PAYLOAD }, handler, sink);
 * socket.on('data', (chunk) => ws.receive(chunk));
 * socket.on('end', () => ws.receiveEof());
 * ws.sendText('hello');
 */
export class WsProtocol implements FrameReceiver {
  /** WS_OPEN, WS_CLOSING or WS_CLOSED. */
  state: number;
  /** A close frame was written. */
  closeSent: boolean;
  /** The peer's close frame was received. */
  closeReceived: boolean;
  /** The peer's close code: 1005 for an empty close frame, 1006 while none was received. */
  closeCode: number;
  /** The peer's close reason. */
  closeReason: string;
  /** SIDE_SERVER or SIDE_CLIENT. */
  readonly side: number;
  /** Largest incoming message in bytes; 0 for no limit. */
  readonly maxPayload: number;
  /** Whether RSV1 may be set (an extension using it was negotiated). */
  readonly rsv1Allowed: boolean;
  /** First-frame payload length from which a message is streamed (`Infinity`: never). */
  readonly streamThreshold: number;

  readonly #handler: WsHandler;
  readonly #sink: WsSink;
  readonly #parser: FrameParser;
  /** Frames we send are masked (client side). */
  readonly #mask: boolean;
  /** The connection failed (by a protocol error or `fail`). */
  #failed: boolean;
  /**
   * B_EOF_RECEIVED, B_END_SENT, B_REPORT_FRAMES: bits in one integer rather than a field each (MEMORY: every idle
   * connection holds a core; a field is 8 bytes each, bench/idle-memory.sh).
   */
  #bits: number;
  /** Opcode and FIN of the frame being received. */
  #frameOpcode: number;
  #frameFin: boolean;
  /** The current frame's pieces were already UTF-8 checked as they arrived. */
  #frameChecked: boolean;
  /** Opcode of the data message being received (0: none), its RSV1, its length so far and its fragments. */
  #msgOpcode: number;
  #msgRsv1: boolean;
  #msgLength: number;
  /** The fragmented message being reassembled (see Reassembly); null otherwise, so idle connections hold none. */
  #frag: Reassembly | null;
  /** Most frames per message (0: no limit). */
  readonly maxFragments: number;
  /** The message is streamed to `onMessageChunk`; `#msgFirstChunk`: its first piece is still to be handed on. */
  #msgStreamed: boolean;
  #msgFirstChunk: boolean;
  /** Whether the message is text to be UTF-8 checked here, and the validator state carried across pieces. */
  #msgCheckUtf8: boolean;
  #msgUtf8: number;
  /** We are in the middle of sending a fragmented message. */
  #sendingFragmented: boolean;

  constructor(options: WsProtocolOptions, handler: WsHandler, sink: WsSink) {
    if (options.side !== SIDE_SERVER && options.side !== SIDE_CLIENT) throw new RangeError('Invalid side');
    this.state = WS_OPEN;
    this.closeSent = false;
    this.closeReceived = false;
    this.closeCode = CLOSE_CODE.ABNORMAL;
    this.closeReason = '';
    this.side = options.side;
    this.maxPayload = Math.max(options.maxPayload, 0) || 0;
    this.rsv1Allowed = options.rsv1Allowed === true;
    const threshold = options.streamThreshold ?? Number.POSITIVE_INFINITY;
    this.streamThreshold =
      handler.onMessageChunk !== undefined && threshold >= 0 ? threshold : Number.POSITIVE_INFINITY;
    this.#handler = handler;
    this.#sink = sink;
    this.#parser = new FrameParser(
      { expectMasked: options.side === SIDE_SERVER, rsv1Allowed: this.rsv1Allowed },
      this as FrameReceiver,
    );
    this.#mask = options.side === SIDE_CLIENT;
    this.#failed = false;
    this.#bits = 0;
    this.#frameOpcode = 0;
    this.#frameFin = false;
    this.#frameChecked = false;
    this.#msgOpcode = 0;
    this.#msgRsv1 = false;
    this.#msgLength = 0;
    this.#frag = null;
    this.maxFragments = Math.max(options.maxFragments ?? WS_MAX_FRAGMENTS, 0) || 0;
    this.#msgStreamed = false;
    this.#msgFirstChunk = false;
    this.#msgCheckUtf8 = false;
    this.#msgUtf8 = UTF8_ACCEPT;
    this.#sendingFragmented = false;
  }

  // ── receiving ────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Parses every frame in `buf` and reports them; keeps an incomplete frame for the next call. Never throws for
   * any input. `buf` is unmasked in place: the core owns it. `ephemeral`: `buf` is only valid during this call
   * (a shared read buffer), so whatever is kept or handed on is copied. Handlers must not throw: an exception from a handler
   * propagates out of `receive` and leaves the rest of `buf` unread, so the adapter should then destroy the
   * connection.
   */
  receive(buf: Buffer, ephemeral = false): void {
    // RFC 6455 §1.4, §7.1.7: after a close frame or a failure, further input is discarded.
    if (this.#parser.state === STOPPED) return;
    this.#parser.receive(buf, ephemeral);
  }

  /** The peer closed TCP (or the socket is gone). Idempotent. */
  receiveEof(): void {
    if ((this.#bits & B_EOF_RECEIVED) !== 0) return;
    this.#bits |= B_EOF_RECEIVED;
    this.#parser.stop();
    this.#freeMessage();
    if (!this.closeReceived) {
      // RFC 6455 §7.1.5: closed without a close frame: "_The WebSocket Connection Close Code_ is considered to be
      // 1006."
      this.closeCode = CLOSE_CODE.ABNORMAL;
      this.closeReason = '';
    }
    // The client closes its side once the server has closed (§7.1.1); a server whose peer vanished does the same.
    this.#end();
    this.state = WS_CLOSED;
  }

  /**
   * Report each received frame header to `handler.onFrameReceived` (a diagnostics tap; the handler must have it).
   * Off by default; the adapter sets it at a coarse point (per read) from whether anyone listens, so a frame costs
   * one bit test when nobody does.
   */
  get reportFrames(): boolean {
    return (this.#bits & B_REPORT_FRAMES) !== 0;
  }

  set reportFrames(on: boolean) {
    this.#bits = on ? this.#bits | B_REPORT_FRAMES : this.#bits & ~B_REPORT_FRAMES;
  }

  /** A streamed message (see `streamThreshold`) is in progress: more of its pieces are to come. */
  get streaming(): boolean {
    return this.#msgStreamed;
  }

  /** Parser callback (not for adapters): message-level checks on a new frame, before any payload byte is buffered. */
  onFrameHeader(fin: boolean, rsv1: boolean, opcode: number, length: number): boolean {
    // Reported before the message rules below: the frame was on the wire even if it breaks one of them.
    if ((this.#bits & B_REPORT_FRAMES) !== 0)
      (this.#handler.onFrameReceived as NonNullable<WsHandler['onFrameReceived']>)(opcode, fin, rsv1, length);
    this.#frameOpcode = opcode;
    this.#frameFin = fin;
    this.#frameChecked = false;
    // Control frames: size, FIN and RSV1 were checked by the parser. RFC 6455 §5.4: "Control frames MAY be
    // injected in the middle of a fragmented message", so they leave the message state alone.
    if (opcode >= OP_CLOSE) return true;
    if (opcode === OP_CONTINUATION) {
      // RFC 6455 §5.4: a continuation frame belongs to a message whose first frame came before.
      if (this.#msgOpcode === 0) {
        return this.#failWith(
          wsError(1002, 'ERR_WS_UNEXPECTED_CONTINUATION', 'Continuation frame without a message to continue'),
        );
      }
      // RFC 6455 §10.4 asks for limits on what reassembly costs; a message in a great many tiny frames costs a
      // frame header's work per byte. §7.4.1: 1008, a message that violates the endpoint's policy.
      const frag = this.#frag;
      if (frag !== null && ++frag.frames >= this.maxFragments && this.maxFragments > 0) {
        return this.#failWith(
          wsError(1008, 'ERR_WS_TOO_MANY_FRAGMENTS', `Message in more than ${this.maxFragments} frames`),
        );
      }
    } else {
      // RFC 6455 §5.4: "the fragments of one message MUST NOT be interleaved between the fragments of another
      // message": a new text or binary frame while a message is unfinished is an error.
      if (this.#msgOpcode !== 0) {
        return this.#failWith(
          wsError(1002, 'ERR_WS_EXPECTED_CONTINUATION', 'New data frame while a fragmented message is unfinished'),
        );
      }
      this.#msgOpcode = opcode;
      this.#msgRsv1 = rsv1;
      this.#msgLength = 0;
      // A compressed text message is checked after inflate by the adapter.
      this.#msgCheckUtf8 = opcode === OP_TEXT && !rsv1;
      this.#msgUtf8 = UTF8_ACCEPT;
      // Only a message sent as one frame is streamed: its whole size is known (and checked against maxPayload
      // below) before any of it is handed on, so a streamed message is never cut off by a 1009. Decided on the
      // header, so that where a message goes depends on its bytes, not on how reads split them.
      this.#msgStreamed = fin && !rsv1 && length >= this.streamThreshold;
      this.#msgFirstChunk = true;
    }
    // RFC 6455 §10.4: "implementations SHOULD impose a limit on frame sizes and the total message size after
    // reassembly"; §7.4.1: 1009 "a message that is too big for it to process". Checked before buffering.
    if (this.maxPayload > 0 && length > this.maxPayload - this.#msgLength) {
      return this.#failWith(
        wsError(1009, 'ERR_WS_MESSAGE_TOO_BIG', `Message longer than maxPayload (${this.maxPayload} bytes)`),
      );
    }
    this.#msgLength += length;
    if (this.#msgStreamed) this.#parser.streamPayload = true;
    return true;
  }

  /** Parser callback (not for adapters): a piece of a payload spanning reads; text is checked now to fail fast. */
  onFramePart(part: Buffer): boolean {
    if (this.#frameOpcode < OP_CLOSE && this.#msgCheckUtf8) {
      this.#frameChecked = true;
      if (utf8Scan(this.#msgUtf8, part, 0, part.length) >= 0) return this.#failUtf8();
      this.#msgUtf8 = utf8ScanState();
    }
    // A control frame split across reads comes here in pieces too, also in the middle of a streamed message.
    if (this.#msgStreamed && this.#frameOpcode < OP_CLOSE) return this.#chunk(part, false);
    return true;
  }

  /** Parser callback (not for adapters): a whole frame payload. */
  onFramePayload(payload: Buffer): boolean {
    const opcode = this.#frameOpcode;
    if (opcode >= OP_CLOSE) return this.#onControl(opcode, payload);
    const fin = this.#frameFin;
    if (this.#msgStreamed) return this.#streamedPayload(payload);
    if (this.#msgCheckUtf8) {
      // RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is
      // not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_" (1007, §7.4.1).
      // Fragments are checked as they arrive, so a bad fragment fails before the message ends.
      if (!this.#frameChecked) {
        if (fin && this.#msgUtf8 === UTF8_ACCEPT) {
          if (!isValidUtf8(payload)) return this.#failUtf8();
        } else {
          if (utf8Scan(this.#msgUtf8, payload, 0, payload.length) >= 0) return this.#failUtf8();
          this.#msgUtf8 = utf8ScanState();
        }
      }
      // A character cut off at the end of the message is invalid too.
      if (fin && this.#msgUtf8 !== UTF8_ACCEPT) return this.#failUtf8();
    }
    this.#frameChecked = false;
    if (!fin) {
      let frag = this.#frag;
      if (frag === null) {
        frag = new Reassembly();
        this.#frag = frag;
      }
      if (payload.length > 0) this.#append(frag, payload);
      return true;
    }
    let data = payload;
    const frag = this.#frag;
    if (frag !== null) {
      // The message owns its buffer from here; the next fragmented message starts anew.
      this.#frag = null;
      if (frag.fill > 0) {
        this.#append(frag, payload);
        data = (frag.buf as Buffer).subarray(0, frag.fill);
      }
    }
    const binary = this.#msgOpcode === OP_BINARY;
    const rsv1 = this.#msgRsv1;
    this.#msgOpcode = 0;
    this.#msgRsv1 = false;
    this.#msgLength = 0;
    this.#handler.onMessage(binary, data, rsv1);
    return this.#parser.state !== STOPPED;
  }

  /** The last piece of a streamed message (sent as one frame, so this is its end): checked, then handed on. */
  #streamedPayload(payload: Buffer): boolean {
    this.#frameChecked = false;
    if (this.#msgCheckUtf8) {
      // RFC 6455 §8.1 (1007), checked piece by piece: the pieces before this one were checked as they came.
      if (utf8Scan(this.#msgUtf8, payload, 0, payload.length) >= 0) return this.#failUtf8();
      // A character cut off at the end of the message is invalid too.
      if (utf8ScanState() !== UTF8_ACCEPT) return this.#failUtf8();
    }
    return this.#chunk(payload, true);
  }

  /** Hands a piece of a streamed message on; at the last one the message is over. */
  #chunk(data: Buffer, last: boolean): boolean {
    const binary = this.#msgOpcode === OP_BINARY;
    const first = this.#msgFirstChunk;
    this.#msgFirstChunk = false;
    if (last) {
      this.#msgOpcode = 0;
      this.#msgLength = 0;
      this.#msgStreamed = false;
    }
    (this.#handler.onMessageChunk as NonNullable<WsHandler['onMessageChunk']>)(binary, data, first, last);
    return this.#parser.state !== STOPPED;
  }

  /** Parser callback (not for adapters): the parser found a bad frame header. */
  onFrameError(error: ProtocolError): void {
    this.#failWith(error);
  }

  #onControl(opcode: number, payload: Buffer): boolean {
    if (opcode === OP_PING) {
      // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
      // already received a Close frame"; §5.5.3: with "identical Application data". We also stay silent once our
      // own close frame is out: nothing may follow it.
      if (!this.closeSent) writeFrame(this.#sink, true, false, OP_PONG, payload, this.#mask);
      this.#handler.onPing(payload);
      return this.#parser.state !== STOPPED;
    }
    if (opcode === OP_PONG) {
      // RFC 6455 §5.5.3: an unsolicited pong is allowed and needs no answer.
      this.#handler.onPong(payload);
      return this.#parser.state !== STOPPED;
    }
    return this.#onCloseFrame(payload);
  }

  #onCloseFrame(payload: Buffer): boolean {
    const length = payload.length;
    let code: number = CLOSE_CODE.NO_STATUS;
    let reason = '';
    // RFC 6455 §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer":
    // a 1-byte body cannot hold one.
    if (length === 1) {
      return this.#failWith(wsError(1002, 'ERR_WS_INVALID_CLOSE_PAYLOAD', 'Close frame with a 1-byte payload'));
    }
    if (length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      // RFC 6455 §7.4: only defined, registered and private-use codes may appear in a close frame (1002 otherwise,
      // as Autobahn 7.9.x expects).
      if (!isValidCloseCode(code)) {
        return this.#failWith(wsError(1002, 'ERR_WS_INVALID_CLOSE_CODE', `Invalid close code ${code}`));
      }
      if (length > 2) {
        // RFC 6455 §5.5.1: the reason is UTF-8; §8.1: invalid UTF-8 fails with 1007.
        if (!isValidUtf8(payload, 2, length)) {
          return this.#failWith(wsError(1007, 'ERR_WS_INVALID_UTF8', 'Close reason is not valid UTF-8'));
        }
        reason = payload.toString('utf8', 2, length);
      }
    }
    this.closeReceived = true;
    this.closeCode = code;
    this.closeReason = reason;
    // RFC 6455 §1.4: "after receiving a control frame indicating the connection should be closed, a peer discards
    // any further data received."
    this.#parser.stop();
    this.#freeMessage();
    // State first: the sink may deliver synchronously into a peer that answers at once.
    this.state = WS_CLOSING;
    if (!this.closeSent) {
      // RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close frame, the
      // endpoint MUST send a Close frame in response ... (typically echoing the status code it received)".
      this.closeSent = true;
      const body = code === CLOSE_CODE.NO_STATUS ? EMPTY : encodeClosePayload(code, '');
      writeFrame(this.#sink, true, false, OP_CLOSE, body, this.#mask);
    }
    // RFC 6455 §7.1.1: "The underlying TCP connection, in most normal cases, SHOULD be closed first by the server";
    // the client waits for it (closeExpected()).
    if (this.side === SIDE_SERVER) this.#end();
    this.#handler.onClose(code, reason);
    return false;
  }

  #failUtf8(): boolean {
    return this.#failWith(wsError(1007, 'ERR_WS_INVALID_UTF8', 'Invalid UTF-8 in text message'));
  }

  /** RFC 6455 §7.1.7 _Fail the WebSocket Connection_ for a protocol error of the peer. Returns `false`. */
  #failWith(err: ProtocolError): boolean {
    if (this.#failed) return false;
    this.#startFailing(err.closeCode, truncateReason(err.message));
    this.#handler.onError(err);
    return false;
  }

  /** Sends the close frame (unless one was sent or `code` is 1006), discards input, and ends on the server side. */
  #startFailing(code: number, reason: string): void {
    this.#failed = true;
    this.#parser.stop();
    this.#freeMessage();
    if (this.state === WS_OPEN) this.state = WS_CLOSING;
    // RFC 6455 §7.1.7: "the endpoint SHOULD send a Close frame with an appropriate status code (Section 7.4)
    // before proceeding to _Close the WebSocket Connection_". 1006 is never sent (§7.4.1).
    if (!this.closeSent && code !== CLOSE_CODE.ABNORMAL) {
      this.closeSent = true;
      writeFrame(this.#sink, true, false, OP_CLOSE, encodeClosePayload(code, reason), this.#mask);
    }
    // RFC 6455 §7.1.7: "An endpoint MUST NOT continue to attempt to process data (including a responding Close
    // frame) from the remote endpoint". A server closes TCP now; a client waits for the server (§7.1.1).
    if (this.side === SIDE_SERVER) this.#end();
  }

  /** Copies a fragment's payload after the message's earlier ones (see `#frag`). */
  #append(frag: Reassembly, payload: Buffer): void {
    const need = frag.fill + payload.length;
    let buf = frag.buf;
    if (buf === null || need > buf.length) {
      // Doubling keeps the copies of regrowth under one more pass over the message; the message's length so far
      // (#msgLength, which counts the current frame whole) is a floor, maxPayload a ceiling.
      let size = Math.max(need, this.#msgLength, buf === null ? 1024 : buf.length * 2);
      if (this.maxPayload > 0 && size > this.maxPayload) size = Math.max(need, this.maxPayload);
      const grown = Buffer.allocUnsafe(size);
      if (buf !== null) buf.copy(grown, 0, 0, frag.fill);
      buf = grown;
      frag.buf = grown;
    }
    payload.copy(buf, frag.fill);
    frag.fill = need;
  }

  #freeMessage(): void {
    this.#frag = null;
    this.#msgOpcode = 0;
    this.#msgLength = 0;
    this.#msgStreamed = false;
  }

  #end(): void {
    if ((this.#bits & B_END_SENT) !== 0) return;
    this.#bits |= B_END_SENT;
    this.#sink.end();
  }

  // ── sending ─────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Sends a text message in one frame. A Buffer must hold UTF-8 (it is not checked).
   * @throws InvalidStateError after a close frame was sent, or while a fragmented message is being sent
   */
  sendText(data: string | Buffer): void {
    this.#checkCanSendMessage();
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    writeFrame(this.#sink, true, false, OP_TEXT, payload, this.#mask);
  }

  /**
   * Sends a whole message that is already one encoded frame (FIN set, unmasked, RSV1 only if an extension using
   * it was negotiated): one frame written to many connections (a publish), encoded once. A server's frames only:
   * RFC 6455 §5.3 has a client mask every frame with a fresh key. The frame is `frame[start..end)` (all of it by
   * default).
   * @throws InvalidStateError on a client, after a close frame was sent, or while a fragmented message is being sent
   */
  sendEncoded(frame: Buffer, start = 0, end = frame.length): void {
    if (this.#mask) throw new InvalidStateError('A client masks every frame with a new key: no shared encoded frames');
    this.#checkCanSendMessage();
    const sink = this.#sink;
    if (sink.writeShared !== undefined) sink.writeShared(frame, start, end);
    else sink.write(start === 0 && end === frame.length ? frame : frame.subarray(start, end));
  }

  /**
   * Sends a binary message in one frame.
   * @throws InvalidStateError after a close frame was sent, or while a fragmented message is being sent
   */
  sendBinary(data: Buffer): void {
    this.#checkCanSendMessage();
    writeFrame(this.#sink, true, false, OP_BINARY, data, this.#mask);
  }

  /**
   * Sends one data frame of a message sent in pieces (RFC 6455 §5.4): the first with `OP_TEXT` or `OP_BINARY`,
   * the next ones with `OP_CONTINUATION`, the last with `fin`. `rsv1` marks a compressed message's first frame.
   *
   * @throws RangeError for a control opcode, or RSV1 where it is not allowed
   * @throws InvalidStateError after a close frame was sent, or for an out-of-sequence opcode
   * @example
   * ws.sendFrame(OP_TEXT, Buffer.from('hel'), false);
   * ws.sendFrame(OP_CONTINUATION, Buffer.from('lo'), true);
   */
  sendFrame(opcode: number, data: Buffer, fin: boolean, rsv1 = false): void {
    if (opcode !== OP_CONTINUATION && opcode !== OP_TEXT && opcode !== OP_BINARY) {
      throw new RangeError(`Cannot send opcode ${opcode} with sendFrame: use ping, pong or close`);
    }
    if (rsv1 && !this.rsv1Allowed) throw new RangeError('Cannot set RSV1: no extension using it was negotiated');
    this.#checkCanSend();
    if (opcode === OP_CONTINUATION) {
      if (!this.#sendingFragmented) {
        throw new InvalidStateError('Cannot send a continuation frame: no fragmented message is being sent');
      }
      // RFC 7692 §6.1: RSV1 only on the first frame of a message.
      if (rsv1) throw new RangeError('Cannot set RSV1 on a continuation frame');
    } else if (this.#sendingFragmented) {
      throw new InvalidStateError('Cannot start a message: a fragmented message is being sent');
    }
    writeFrame(this.#sink, fin, rsv1, opcode, data, this.#mask);
    this.#sendingFragmented = !fin;
  }

  /**
   * Sends a ping (RFC 6455 §5.5.2).
   * @throws RangeError for a payload over 125 bytes; InvalidStateError after a close frame was sent
   */
  ping(data: Buffer = EMPTY): void {
    this.#sendControl(OP_PING, data);
  }

  /**
   * Sends an unsolicited pong (RFC 6455 §5.5.3: a unidirectional heartbeat).
   * @throws RangeError for a payload over 125 bytes; InvalidStateError after a close frame was sent
   */
  pong(data: Buffer = EMPTY): void {
    this.#sendControl(OP_PONG, data);
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2): sends a close frame; the state becomes WS_CLOSING and no
   * data may be sent after it. Without `code` the close frame is empty (the peer sees 1005). Does nothing if a
   * close frame was already sent or the connection failed.
   *
   * @throws RangeError for an invalid close code (see `isValidCloseCode`), a reason without a code, or a reason
   * over 123 bytes
   */
  close(code?: number, reason = ''): void {
    const body = encodeClosePayload(code, reason);
    if (this.closeSent || this.#failed || this.state === WS_CLOSED) return;
    this.closeSent = true;
    this.state = WS_CLOSING;
    writeFrame(this.#sink, true, false, OP_CLOSE, body, this.#mask);
  }

  /**
   * Fails the connection on the adapter's behalf (e.g. 1009 after inflate, 1011 on an internal error): sends a
   * close frame with `code` (none for 1006) unless one was sent, discards further input, and on the server side
   * calls `sink.end()`; a client waits for the server to close TCP (`closeExpected()`). Does nothing if the
   * connection already failed or is closed. `onError` is not called.
   *
   * @throws RangeError for an invalid close code other than 1006, or a reason over 123 bytes
   */
  fail(code: number, reason = ''): void {
    if (code !== CLOSE_CODE.ABNORMAL) encodeClosePayload(code, reason);
    if (this.#failed || this.state === WS_CLOSED) return;
    this.#startFailing(code, reason);
  }

  /** Whether the adapter should arm its close timer: our close frame is out and TCP has not closed yet. */
  closeExpected(): boolean {
    return this.state === WS_CLOSING;
  }

  /** Bytes held for an incomplete frame or message (for diagnostics). */
  get bufferedBytes(): number {
    return this.#parser.bufferedBytes + (this.#frag?.fill ?? 0);
  }

  #sendControl(opcode: number, data: Buffer): void {
    // RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
    if (data.length > MAX_CONTROL_PAYLOAD) {
      throw new RangeError(`Control frame payload is ${data.length} bytes, more than 125`);
    }
    this.#checkCanSend();
    writeFrame(this.#sink, true, false, opcode, data, this.#mask);
  }

  #checkCanSendMessage(): void {
    this.#checkCanSend();
    // RFC 6455 §5.4: fragments of different messages MUST NOT be interleaved.
    if (this.#sendingFragmented)
      throw new InvalidStateError('Cannot send a message: a fragmented message is being sent');
  }

  #checkCanSend(): void {
    // RFC 6455 §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data frames."
    if (this.closeSent || this.state !== WS_OPEN) {
      throw new InvalidStateError(`Cannot send: WebSocket is ${wsStateName(this.state)}, close frame already sent`);
    }
  }
}

/** A close reason from an error message: at most 123 bytes (RFC 6455 §5.5.1). */
function truncateReason(message: string): string {
  let out = message;
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON) out = out.slice(0, -1);
  return out;
}
