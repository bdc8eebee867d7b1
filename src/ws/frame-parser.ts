/**
 * Incremental WebSocket frame reader (RFC 6455 §5.2): bytes in, one callback per frame header, payload piece
 * and whole payload out. Message-level rules (continuations, message size, UTF-8, close payloads) are the
 * receiver's (protocol.ts); this file enforces the rules that one frame header alone decides.
 *
 * Theory of operation. Two reading states and a stop state, with the frame header kept in scalar fields:
 *
 *   READ_HEADER  ── header complete, length 0 ──▶ onFrameHeader, onFramePayload(EMPTY) ── READ_HEADER
 *        │ header complete, length > 0: onFrameHeader
 *        ▼
 *   READ_PAYLOAD ── payload complete ──▶ onFramePayload(payload) ── READ_HEADER
 *   STOPPED      input is discarded (after a failure, or when the receiver says so)
 *
 * - Bytes may arrive split anywhere, down to one byte per call. A header that spans calls is gathered in a
 *   14-byte scratch buffer; a header whole in the chunk is read in place.
 * - A payload whole in the chunk is unmasked in place and handed on as a `subarray` view, with no copy.
 * - A payload that spans chunks is unmasked piece by piece as it arrives (each piece goes to `onFramePart`, so
 *   the receiver can fail fast, e.g. on invalid UTF-8). Until half of it has arrived the pieces are unmasked in
 *   place and kept as views in a list; then they are copied into the payload's final buffer, and every later
 *   piece is unmasked straight into that buffer (`maskInto`), so each byte is copied once.
 * - A streamed payload (the receiver set `streamPayload` in `onFrameHeader`) is not gathered: each piece is
 *   unmasked in place and handed on as it arrives (`onFramePart`, the last one `onFramePayload`), as a view of the
 *   input even when that is ephemeral, so a message of any size costs no allocation at all, and its first bytes
 *   can be acted on before the rest has arrived.
 * - Every frame in a chunk is parsed in one `receive` loop; no object is allocated per frame except the
 *   payload view.
 * - The chunks handed to `receive` may be modified (unmasked in place): the caller gives up ownership of them.
 */

import { type ProtocolError, wsError } from '../errors.js';
import { copyOf } from '../util/bytes.js';
import { mask, maskInto } from '../util/mask.js';
import { EMPTY, MAX_CONTROL_PAYLOAD, MAX_FRAME_HEADER } from './frame.js';

/** What a `FrameParser` reports to. `false` from a callback stops the parser (the receiver failed or closed). */
export interface FrameReceiver {
  /** A frame header was read. Called before any of its payload is buffered, so limits can be checked first. */
  onFrameHeader(fin: boolean, rsv1: boolean, opcode: number, length: number): boolean;
  /**
   * A piece of a payload that spans chunks, already unmasked. The whole payload follows in `onFramePayload`; when
   * the receiver set `streamPayload`, only the last piece does, and the pieces are not kept (views of the input:
   * of an ephemeral chunk, valid during the call only).
   */
  onFramePart(part: Buffer): boolean;
  /**
   * The whole payload of the current frame, unmasked (a view into the input when it came in one chunk); for a
   * streamed payload (`streamPayload`), its last piece only, a view even of an ephemeral chunk.
   */
  onFramePayload(payload: Buffer): boolean;
  /** The frame header broke a rule of RFC 6455 §5; the parser has stopped. */
  onFrameError(error: ProtocolError): void;
}

/** Options of a `FrameParser`. */
export interface FrameParserOptions {
  /** RFC 6455 §5.1: a server expects masked frames (`true`), a client unmasked ones (`false`). */
  expectMasked: boolean;
  /** An extension using RSV1 (permessage-deflate, RFC 7692) was negotiated. */
  rsv1Allowed: boolean;
}

/** Parser state: reading a frame header. */
export const READ_HEADER = 0;
/** Parser state: reading a payload. */
export const READ_PAYLOAD = 1;
/** Parser state: input is discarded. */
export const STOPPED = 2;

// Frame errors, as integers until one error object is built for the failure.
const E_RSV2_RSV3 = 0;
const E_RSV1 = 1;
const E_RSV1_CONTROL = 2;
const E_RSV1_CONTINUATION = 3;
const E_OPCODE = 4;
const E_CONTROL_FRAGMENTED = 5;
const E_CONTROL_TOO_LONG = 6;
const E_UNMASKED = 7;
const E_MASKED = 8;
const E_LENGTH_TOP_BIT = 9;
const E_LENGTH_UNSAFE = 10;

function frameError(e: number, opcode: number): ProtocolError {
  switch (e) {
    case E_RSV2_RSV3:
      return wsError(1002, 'ERR_WS_RESERVED_BITS', 'RSV2 and RSV3 must be clear');
    case E_RSV1:
      return wsError(1002, 'ERR_WS_RESERVED_BITS', 'RSV1 must be clear without a negotiated extension');
    case E_RSV1_CONTROL:
      return wsError(1002, 'ERR_WS_RESERVED_BITS', 'RSV1 must be clear on a control frame');
    case E_RSV1_CONTINUATION:
      return wsError(1002, 'ERR_WS_RESERVED_BITS', 'RSV1 must be clear on a continuation frame');
    case E_OPCODE:
      return wsError(1002, 'ERR_WS_INVALID_OPCODE', `Invalid opcode ${opcode}`);
    case E_CONTROL_FRAGMENTED:
      return wsError(1002, 'ERR_WS_CONTROL_FRAGMENTED', 'Control frames must not be fragmented');
    case E_CONTROL_TOO_LONG:
      return wsError(1002, 'ERR_WS_CONTROL_TOO_LONG', 'Control frame payload longer than 125 bytes');
    case E_UNMASKED:
      return wsError(1002, 'ERR_WS_UNMASKED_FRAME', 'Client frames must be masked');
    case E_MASKED:
      return wsError(1002, 'ERR_WS_MASKED_FRAME', 'Server frames must not be masked');
    case E_LENGTH_TOP_BIT:
      return wsError(1002, 'ERR_WS_BAD_LENGTH', 'Most significant bit of a 64-bit payload length must be 0');
    default:
      return wsError(1009, 'ERR_WS_MESSAGE_TOO_BIG', 'Payload length above 2^53-1');
  }
}

/**
 * Size of a frame header given its second byte (RFC 6455 §5.2: 2 bytes, then 2 or 8 bytes of extended length
 * for the markers 126 and 127, then 4 bytes of masking key when MASK is set).
 */
function headerSize(b1: number): number {
  const len7 = b1 & 0x7f;
  const n = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
  return (b1 & 0x80) !== 0 ? n + 4 : n;
}

/** Scratch for the masking key of the frame being unmasked (`FrameParser.#key`): unmasking is synchronous. */
const KEY_SCRATCH: Buffer = Buffer.alloc(4);

/**
 * Incremental frame reader. Feed it with `receive(chunk)`; it calls its `FrameReceiver`.
 *
 * @example
 * const parser = new FrameParser({ expectMasked: false, rsv1Allowed: false }, receiver);
 * parser.receive(Buffer.from([0x81, 0x02, 0x68, 0x69])); // onFrameHeader(true, false, 1, 2), onFramePayload('hi')
 */
export class FrameParser {
  /** READ_HEADER, READ_PAYLOAD or STOPPED. */
  state: number;
  /** RFC 6455 §5.1: whether incoming frames must be masked (server) or must not be (client). */
  readonly expectMasked: boolean;
  /** Whether RSV1 may be set on the first frame of a data message. */
  rsv1Allowed: boolean;
  /** FIN bit of the current frame. */
  fin: boolean;
  /** RSV1 bit of the current frame. */
  rsv1: boolean;
  /** Opcode of the current frame. */
  opcode: number;
  /** MASK bit of the current frame. */
  masked: boolean;
  /** Payload length of the current frame. */
  payloadLength: number;
  /** Payload bytes of the current frame received so far. */
  received: number;
  /**
   * Set by the receiver in `onFrameHeader` (cleared before each call): hand this frame's payload on piece by
   * piece as it arrives instead of gathering it.
   */
  streamPayload: boolean;
  /** Masking key of the current frame, byte by byte (small integers in the object: no buffer per connection). */
  #k0: number;
  #k1: number;
  #k2: number;
  #k3: number;
  /** Scratch for a header that spans chunks, allocated the first time one does (idle connections hold none). */
  #header: Buffer | null;
  /** Bytes gathered in `#header`. */
  #headerFill: number;
  /** Pieces of a payload that spans chunks. */
  #parts: Buffer[] | null;
  /** The final buffer of a spanning payload, once half of it has arrived (allocated to payloadLength). */
  #dest: Buffer | null;
  readonly #receiver: FrameReceiver;

  constructor(options: FrameParserOptions, receiver: FrameReceiver) {
    this.state = READ_HEADER;
    this.expectMasked = options.expectMasked;
    this.rsv1Allowed = options.rsv1Allowed;
    this.fin = false;
    this.rsv1 = false;
    this.opcode = 0;
    this.masked = false;
    this.payloadLength = 0;
    this.received = 0;
    this.streamPayload = false;
    // The key is kept as four small integers and put in a shared scratch buffer for each unmasking call: a Buffer
    // per connection cost ~100 bytes of heap, or, as a slice of Node's pool, kept a whole 8 KiB pool chunk alive
    // when the pool also served short-lived copies (bench/idle-memory.sh).
    this.#k0 = 0;
    this.#k1 = 0;
    this.#k2 = 0;
    this.#k3 = 0;
    this.#header = null;
    this.#headerFill = 0;
    this.#parts = null;
    this.#dest = null;
    this.#receiver = receiver;
  }

  /** Discards all further input and frees buffered payload pieces. */
  stop(): void {
    this.state = STOPPED;
    this.#parts = null;
    this.#dest = null;
    this.#headerFill = 0;
  }

  /** Bytes held for an incomplete frame (header scratch plus payload pieces). */
  get bufferedBytes(): number {
    // A streamed payload is handed on as it arrives: none of it is held.
    if (this.state === READ_PAYLOAD) return this.streamPayload ? 0 : this.received;
    return this.#headerFill;
  }

  /**
   * Parses as many frames of `chunk` as it holds and keeps the rest. Never throws for any input; a bad frame
   * ends in `onFrameError` and the STOPPED state. `chunk` is unmasked in place.
   *
   * @param ephemeral `chunk` is only valid during this call (a shared read buffer): payloads handed on and pieces
   *   kept are copies. A payload that spans reads is unmasked from it straight into its final buffer, so the
   *   bulk of a large message is still copied once.
   */
  receive(chunk: Buffer, ephemeral = false): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.state === READ_HEADER) {
        if (this.#headerFill === 0 && end - pos >= 2) {
          const need = headerSize(chunk[pos + 1]!);
          if (end - pos >= need) {
            // Fast path: the whole header is in this chunk; read it in place.
            if (!this.#readHeader(chunk, pos)) return;
            pos += need;
            if (this.payloadLength === 0 && !this.#deliver(EMPTY)) return;
            continue;
          }
        }
        // Slow path: gather the header in the scratch buffer.
        let header = this.#header;
        if (header === null) {
          header = Buffer.allocUnsafe(MAX_FRAME_HEADER);
          this.#header = header;
        }
        let fill = this.#headerFill;
        if (fill < 2) {
          while (fill < 2 && pos < end) header[fill++] = chunk[pos++]!;
          if (fill === 2) {
            const e = this.#checkStart(header[0]!, header[1]!);
            if (e >= 0) {
              this.#fail(e, header[0]! & 0x0f);
              return;
            }
          }
        }
        if (fill >= 2) {
          const need = headerSize(header[1]!);
          const take = Math.min(need - fill, end - pos);
          if (take > 0) {
            chunk.copy(header, fill, pos, pos + take);
            fill += take;
            pos += take;
          }
          if (fill === need) {
            this.#headerFill = 0;
            if (!this.#readHeader(header, 0)) return;
            if (this.payloadLength === 0 && !this.#deliver(EMPTY)) return;
            continue;
          }
        }
        this.#headerFill = fill;
        return;
      }
      if (this.state !== READ_PAYLOAD) return;
      const avail = end - pos;
      const remaining = this.payloadLength - this.received;
      if (this.received === 0 && avail >= remaining) {
        // Whole payload in this chunk: a view, unmasked in place (and copied out of an ephemeral chunk).
        const payload = chunk.subarray(pos, pos + remaining);
        pos += remaining;
        if (this.masked) mask(payload, this.#key(), 0);
        // A streamed payload is handed on as a view even from an ephemeral chunk (valid during the call only).
        if (!this.#deliver(ephemeral && !this.streamPayload ? copyOf(payload) : payload)) return;
        continue;
      }
      const take = Math.min(avail, remaining);
      let piece = chunk.subarray(pos, pos + take);
      pos += take;
      const at = this.received;
      this.received += take;
      if (this.streamPayload) {
        // Streamed: unmasked in place and handed on as a view, also of an ephemeral chunk (valid during the call
        // only): no allocation, and no copy unless the receiver keeps the piece.
        if (this.masked) mask(piece, this.#key(), at);
        if (this.received === this.payloadLength) {
          if (!this.#deliver(piece)) return;
        } else if (!this.#receiver.onFramePart(piece)) {
          this.stop();
          return;
        }
        continue;
      }
      let dest = this.#dest;
      // PERF: once half the payload has arrived, gather it into its final buffer and put every later piece
      // there as it arrives (while it is in cache), so that nothing is left to copy when the last byte comes: the
      // copy at the end was a quarter of the server's CPU with 1 MiB messages (bench ws-echo-1m). Waiting for
      // half keeps what a peer can make us allocate to twice what it has actually sent.
      if (dest === null && this.received * 2 >= this.payloadLength) {
        // Not Buffer.concat with a larger total: it would zero-fill the part still to come.
        dest = Buffer.allocUnsafe(this.payloadLength);
        const parts = this.#parts;
        if (parts !== null) {
          let off = 0;
          for (const p of parts) {
            p.copy(dest, off);
            off += p.length;
          }
          this.#parts = null;
        }
        this.#dest = dest;
      }
      let part: Buffer;
      if (dest !== null) {
        // PERF: unmasked on the way into the final buffer, one pass instead of unmasking in place then copying
        // (bench/mask.bench.ts, FrameParser rows).
        if (this.masked) maskInto(piece, this.#key(), dest, at, at);
        else piece.copy(dest, at);
        part = dest.subarray(at, this.received);
      } else {
        if (this.masked) mask(piece, this.#key(), at);
        if (ephemeral) piece = copyOf(piece);
        if (this.#parts === null) this.#parts = [piece];
        else this.#parts.push(piece);
        part = piece;
      }
      if (!this.#receiver.onFramePart(part)) {
        this.stop();
        return;
      }
      if (this.received === this.payloadLength) {
        // The last piece always finds `#dest` (it completes more than half the payload).
        this.#dest = null;
        if (!this.#deliver(dest!)) return;
      }
    }
  }

  /** The current frame's masking key in the shared scratch buffer (valid until the next call). */
  #key(): Buffer {
    const k = KEY_SCRATCH;
    k[0] = this.#k0;
    k[1] = this.#k1;
    k[2] = this.#k2;
    k[3] = this.#k3;
    return k;
  }

  /** Hands a complete payload on and goes back to READ_HEADER. */
  #deliver(payload: Buffer): boolean {
    this.state = READ_HEADER;
    this.received = 0;
    if (!this.#receiver.onFramePayload(payload)) {
      this.stop();
      return false;
    }
    return this.state === READ_HEADER;
  }

  /** Checks what the first two header bytes decide; returns a frame error or -1. */
  #checkStart(b0: number, b1: number): number {
    const opcode = b0 & 0x0f;
    // RFC 6455 §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
    // Connection_." Opcodes 3-7 and 0xB-0xF are reserved.
    if (opcode > 0x2 && (opcode < 0x8 || opcode > 0xa)) return E_OPCODE;
    // RFC 6455 §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
    // values". No extension we negotiate uses RSV2 or RSV3.
    if ((b0 & 0x30) !== 0) return E_RSV2_RSV3;
    if ((b0 & 0x40) !== 0) {
      if (!this.rsv1Allowed) return E_RSV1;
      // RFC 7692 §6.1: "An endpoint MUST NOT set the 'Per-Message Compressed' bit of control frames and
      // non-first fragments of a data message."
      if (opcode >= 0x8) return E_RSV1_CONTROL;
      if (opcode === 0x0) return E_RSV1_CONTINUATION;
    }
    if (opcode >= 0x8) {
      // RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be
      // fragmented."
      if ((b0 & 0x80) === 0) return E_CONTROL_FRAGMENTED;
      if ((b1 & 0x7f) > MAX_CONTROL_PAYLOAD) return E_CONTROL_TOO_LONG;
    }
    // RFC 6455 §5.1: "The server MUST close the connection upon receiving a frame that is not masked" and "A
    // client MUST close a connection if it detects a masked frame." Both with 1002 (§7.4.1).
    if ((b1 & 0x80) === 0) {
      if (this.expectMasked) return E_UNMASKED;
    } else if (!this.expectMasked) {
      return E_MASKED;
    }
    return -1;
  }

  /** Reads a complete header from `buf` at `p` into the scalar fields; reports it. `false` when stopped. */
  #readHeader(buf: Buffer, p: number): boolean {
    const b0 = buf[p]!;
    const b1 = buf[p + 1]!;
    const e = this.#checkStart(b0, b1);
    if (e >= 0) {
      this.#fail(e, b0 & 0x0f);
      return false;
    }
    let length = b1 & 0x7f;
    p += 2;
    // RFC 6455 §5.2: 126 → 16-bit length, 127 → 64-bit length, in network byte order. "The minimal number of
    // bytes MUST be used to encode the length", but a longer encoding is harmless, so we accept it as ws and
    // websockets do (Autobahn does not test it).
    if (length === 126) {
      length = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const hi = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      const lo = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
      p += 8;
      // RFC 6455 §5.2: "the most significant bit MUST be 0".
      if (hi > 0x7fffffff) {
        this.#fail(E_LENGTH_TOP_BIT, b0 & 0x0f);
        return false;
      }
      // SECURITY: above 2^53-1 a length cannot be held exactly in a number; no such message fits in memory.
      if (hi > 0x1fffff) {
        this.#fail(E_LENGTH_UNSAFE, b0 & 0x0f);
        return false;
      }
      length = hi * 0x100000000 + lo;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) {
      this.#k0 = buf[p]!;
      this.#k1 = buf[p + 1]!;
      this.#k2 = buf[p + 2]!;
      this.#k3 = buf[p + 3]!;
    }
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    this.fin = fin;
    this.rsv1 = rsv1;
    this.opcode = opcode;
    this.masked = masked;
    this.payloadLength = length;
    this.received = 0;
    this.streamPayload = false;
    // Set the state before the callback so that the parser is consistent whatever the receiver does.
    this.state = READ_PAYLOAD;
    if (!this.#receiver.onFrameHeader(fin, rsv1, opcode, length)) {
      this.stop();
      return false;
    }
    return this.state === READ_PAYLOAD;
  }

  #fail(e: number, opcode: number): void {
    this.stop();
    this.#receiver.onFrameError(frameError(e, opcode));
  }
}
