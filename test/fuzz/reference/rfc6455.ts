/**
 * Reference models for the WebSocket fuzz targets, written from RFC 6455 (and RFC 7692 §6.1 for RSV1) apart from
 * src/ws: a frame decoder (§5.2: header, extended length, masking key, payload; the rules of §5.1-§5.5 one frame
 * decides), a receiver (§5.4 fragmentation, §5.5 control frames, §5.5.1 close payloads, §7.4 close codes, §8.1
 * UTF-8 with WHATWG's decoder, and the library's limits: maxPayload 1009, maxFragments 1008), and a lenient
 * frame codec for the structure-aware mutator.
 *
 * Where a frame breaks several rules the model lists every error it may be reported with: which one a library
 * names first is its choice. Message-level rules are applied in the order the frames come.
 */

import { Buffer } from 'node:buffer';

export interface RefFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  /** The payload length the header announces. */
  length: number;
  /** The payload bytes present (unmasked): all of them when `complete`. */
  payload: Buffer;
  complete: boolean;
}

export interface RefError {
  closeCode: number;
  /** Every documented code the broken rule(s) may be reported with. */
  codes: string[];
}

export interface Decoded {
  frames: RefFrame[];
  /** The header rule the frame after the last one broke, or null. */
  error: RefError | null;
}

/** Decodes frames as RFC 6455 §5.2 lays them out, failing on the rules one frame header decides. */
export function decodeFrames(b: Uint8Array, expectMasked: boolean, rsv1Allowed: boolean): Decoded {
  const frames: RefFrame[] = [];
  let p = 0;
  const n = b.length;
  while (n - p >= 2) {
    const b0 = b[p]!;
    const b1 = b[p + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    // §5.5: opcodes with the top bit set are control frames (0xB-0xF are reserved control opcodes).
    const control = opcode >= 8;
    const codes: string[] = [];
    // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_."
    if ((opcode >= 3 && opcode <= 7) || opcode >= 0xb) codes.push('ERR_WS_INVALID_OPCODE');
    // §5.2: RSV1-3 MUST be 0 unless an extension defines them; RFC 7692 §6.1: RSV1 only on a data message's first
    // frame, when permessage-deflate was negotiated.
    if ((b0 & 0x30) !== 0) codes.push('ERR_WS_RESERVED_BITS');
    if (rsv1 && (!rsv1Allowed || control || opcode === 0)) codes.push('ERR_WS_RESERVED_BITS');
    // §5.5: control frames have 125 bytes of payload at most and are not fragmented.
    if (control && !fin) codes.push('ERR_WS_CONTROL_FRAGMENTED');
    if (control && len7 > 125) codes.push('ERR_WS_CONTROL_TOO_LONG');
    // §5.1: a server fails on an unmasked frame, a client on a masked one.
    if (masked !== expectMasked) codes.push(expectMasked ? 'ERR_WS_UNMASKED_FRAME' : 'ERR_WS_MASKED_FRAME');
    if (codes.length > 0) return { frames, error: { closeCode: 1002, codes } };
    // The header is read whole (extended length and masking key) before its length is judged.
    const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    if (n - p < 2 + extended + (masked ? 4 : 0)) break;
    let q = p + 2;
    let length = len7;
    if (len7 === 126) {
      length = (b[q]! << 8) | b[q + 1]!;
      q += 2;
    } else if (len7 === 127) {
      const big = Buffer.from(b.subarray(q, q + 8)).readBigUInt64BE(0);
      q += 8;
      // §5.2: "the most significant bit MUST be 0".
      if (big >= 1n << 63n) return { frames, error: { closeCode: 1002, codes: ['ERR_WS_BAD_LENGTH'] } };
      // No message of 2^53 bytes or more can be held: "too big to process" (§7.4.1, 1009).
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        return { frames, error: { closeCode: 1009, codes: ['ERR_WS_MESSAGE_TOO_BIG'] } };
      }
      length = Number(big);
    }
    let key: Uint8Array | null = null;
    if (masked) {
      key = b.subarray(q, q + 4);
      q += 4;
    }
    const avail = Math.min(length, n - q);
    const payload = Buffer.from(b.subarray(q, q + avail));
    // §5.3: octet i of the payload is XORed with octet i MOD 4 of the masking key.
    if (key !== null) for (let i = 0; i < avail; i++) payload[i] = payload[i]! ^ key[i % 4]!;
    frames.push({ fin, rsv1, opcode, masked, length, payload, complete: avail === length });
    if (avail < length) break;
    p = q + length;
  }
  return { frames, error: null };
}

export interface ReceiverConfig {
  server: boolean;
  rsv1Allowed: boolean;
  /** Largest message (sum of its frames' lengths); 0: none. */
  maxPayload: number;
  /** Most frames per message; 0: none. */
  maxFragments: number;
}

export type ModelEvent =
  | ['message', 'text' | 'binary', string, boolean]
  | ['ping', string]
  | ['pong', string]
  | ['close', number, string]
  | ['error', number, string[]];

/** A frame the receiver writes: a pong, the close echo, or the close frame of a failure (its code only). */
export type ModelWrite = ['pong', string] | ['close', string] | ['fail', number];

export interface ModelResult {
  events: ModelEvent[];
  written: ModelWrite[];
  closeReceived: boolean;
  /** The peer's close code (1005 for an empty close frame), or 1006 when none came. */
  closeCode: number;
  /** Whether the connection failed or closed (input after that is not read). */
  over: boolean;
}

/** RFC 6455 §7.4.1, §7.4.2 and the IANA registry: the codes a close frame may carry. */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function utf8Ok(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** What a receiver does with `bytes` (then the end of the connection). */
export function receive(bytes: Uint8Array, cfg: ReceiverConfig): ModelResult {
  const { frames, error } = decodeFrames(bytes, cfg.server, cfg.rsv1Allowed);
  const r: ModelResult = { events: [], written: [], closeReceived: false, closeCode: 1006, over: false };
  let closeSent = false;
  let msgOpcode = 0;
  let msgRsv1 = false;
  let msgLength = 0;
  let frameCount = 0;
  let parts: Buffer[] = [];
  let text: TextDecoder | null = null;
  const fail = (closeCode: number, codes: string[]): ModelResult => {
    r.events.push(['error', closeCode, codes]);
    if (!closeSent) r.written.push(['fail', closeCode]);
    r.over = true;
    return r;
  };
  for (const f of frames) {
    const control = f.opcode >= 8;
    if (!control) {
      if (f.opcode === 0) {
        // §5.4: a continuation frame continues a message that was started.
        if (msgOpcode === 0) return fail(1002, ['ERR_WS_UNEXPECTED_CONTINUATION']);
        if (cfg.maxFragments > 0 && ++frameCount > cfg.maxFragments) return fail(1008, ['ERR_WS_TOO_MANY_FRAGMENTS']);
      } else {
        // §5.4: fragments of different messages are not interleaved.
        if (msgOpcode !== 0) return fail(1002, ['ERR_WS_EXPECTED_CONTINUATION']);
        msgOpcode = f.opcode;
        msgRsv1 = f.rsv1;
        msgLength = 0;
        frameCount = 1;
        parts = [];
        // §8.1 text is UTF-8; a compressed message (RSV1) is checked once inflated, by the adapter.
        text = f.opcode === 1 && !f.rsv1 ? new TextDecoder('utf-8', { fatal: true }) : null;
      }
      // The library's maxPayload: 1009 (§7.4.1) before the payload is read.
      if (cfg.maxPayload > 0 && msgLength + f.length > cfg.maxPayload) return fail(1009, ['ERR_WS_MESSAGE_TOO_BIG']);
      msgLength += f.length;
      if (text !== null) {
        try {
          text.decode(f.payload, { stream: true });
        } catch {
          return fail(1007, ['ERR_WS_INVALID_UTF8']);
        }
      }
    }
    if (!f.complete) return r;
    if (f.opcode === 9) {
      // §5.5.2: a pong with identical application data, unless a close frame was sent.
      if (!closeSent) r.written.push(['pong', f.payload.toString('hex')]);
      r.events.push(['ping', f.payload.toString('hex')]);
    } else if (f.opcode === 10) {
      r.events.push(['pong', f.payload.toString('hex')]);
    } else if (f.opcode === 8) {
      // §5.5.1: a body starts with a 2-byte code, then UTF-8 reason.
      const body = f.payload;
      let code = 1005;
      let reason = '';
      if (body.length === 1) return fail(1002, ['ERR_WS_INVALID_CLOSE_PAYLOAD']);
      if (body.length >= 2) {
        code = body.readUInt16BE(0);
        if (!validCloseCode(code)) return fail(1002, ['ERR_WS_INVALID_CLOSE_CODE']);
        if (!utf8Ok(body.subarray(2))) return fail(1007, ['ERR_WS_INVALID_UTF8']);
        reason = body.toString('utf8', 2);
      }
      r.closeReceived = true;
      r.closeCode = code;
      // §5.5.1: the endpoint sends a Close frame in response, "typically echoing the status code it received".
      if (!closeSent) r.written.push(['close', code === 1005 ? '' : body.subarray(0, 2).toString('hex')]);
      closeSent = true;
      r.events.push(['close', code, reason]);
      // §1.4: after a close frame, further data is discarded.
      r.over = true;
      return r;
    } else if (f.fin) {
      if (text !== null) {
        try {
          text.decode();
        } catch {
          return fail(1007, ['ERR_WS_INVALID_UTF8']);
        }
      }
      parts.push(f.payload);
      r.events.push(['message', msgOpcode === 2 ? 'binary' : 'text', Buffer.concat(parts).toString('hex'), msgRsv1]);
      msgOpcode = 0;
      parts = [];
      text = null;
    } else {
      parts.push(f.payload);
    }
  }
  if (error !== null) return fail(error.closeCode, error.codes);
  return r;
}

// --- a lenient codec for the mutator ------------------------------------------------------------------------

export interface LooseFrame {
  b0: number;
  masked: boolean;
  key: Buffer;
  payload: Buffer;
  /** 7, 16 or 64: how the length is written. */
  lengthBits: 7 | 16 | 64;
}

/** Reads whatever frames it can (no rule is checked; a cut-off frame keeps what is there). */
export function looseDecode(b: Buffer): LooseFrame[] {
  const out: LooseFrame[] = [];
  let p = 0;
  while (p + 2 <= b.length) {
    const b0 = b[p]!;
    const b1 = b[p + 1]!;
    let len = b1 & 0x7f;
    let q = p + 2;
    let lengthBits: 7 | 16 | 64 = 7;
    if (len === 126) {
      if (q + 2 > b.length) break;
      len = b.readUInt16BE(q);
      q += 2;
      lengthBits = 16;
    } else if (len === 127) {
      if (q + 8 > b.length) break;
      const big = b.readBigUInt64BE(q);
      len = big > BigInt(b.length) ? b.length : Number(big);
      q += 8;
      lengthBits = 64;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? Buffer.from(b.subarray(q, q + 4)) : Buffer.alloc(4);
    if (masked) q += 4;
    if (q > b.length) break;
    const raw = Buffer.from(b.subarray(q, q + len));
    if (masked) for (let i = 0; i < raw.length; i++) raw[i] = raw[i]! ^ (key[i % 4] ?? 0);
    out.push({ b0, masked, key, payload: raw, lengthBits });
    p = q + len;
  }
  return out;
}

/** Writes frames back (masked with each frame's key when masked). */
export function looseEncode(frames: readonly LooseFrame[]): Buffer {
  const out: Buffer[] = [];
  for (const f of frames) {
    const len = f.payload.length;
    const bits =
      f.lengthBits === 7 && len > 125
        ? len < 65536
          ? 16
          : 64
        : f.lengthBits === 16 && len > 65535
          ? 64
          : f.lengthBits;
    const m = f.masked ? 0x80 : 0;
    if (bits === 7) out.push(Buffer.from([f.b0, m | len]));
    else if (bits === 16) {
      const h = Buffer.from([f.b0, m | 126, 0, 0]);
      h.writeUInt16BE(len, 2);
      out.push(h);
    } else {
      const h = Buffer.alloc(10);
      h[0] = f.b0;
      h[1] = m | 127;
      h.writeBigUInt64BE(BigInt(len), 2);
      out.push(h);
    }
    if (f.masked) {
      out.push(f.key);
      const p = Buffer.from(f.payload);
      for (let i = 0; i < p.length; i++) p[i] = p[i]! ^ f.key[i % 4]!;
      out.push(p);
    } else out.push(f.payload);
  }
  return Buffer.concat(out);
}
