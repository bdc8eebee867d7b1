/**
 * WebSocket frame vocabulary (RFC 6455 §5.2, §7.4): opcodes, close codes, and the frame header encoder.
 * Pure functions and constants; the reader is frame-parser.ts, the sender frame-writer.ts.
 *
 * Frame header layout (RFC 6455 §5.2):
 *
 *    0                   1                   2                   3
 *   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *   |  masking-key (0 or 4 bytes, if MASK set) | payload data ...    |
 */

/** A shared empty Buffer (never written to). */
export const EMPTY: Buffer = Buffer.alloc(0);

/** Opcodes of RFC 6455 §5.2 and §11.8. 3-7 and 0xB-0xF are reserved. */
export const OPCODE = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** One of the defined opcodes. */
export type Opcode = (typeof OPCODE)[keyof typeof OPCODE];

/** Continuation frame (RFC 6455 §5.4). */
export const OP_CONTINUATION = 0x0;
/** Text frame: payload is UTF-8 (RFC 6455 §5.6). */
export const OP_TEXT = 0x1;
/** Binary frame (RFC 6455 §5.6). */
export const OP_BINARY = 0x2;
/** Close frame (RFC 6455 §5.5.1). */
export const OP_CLOSE = 0x8;
/** Ping frame (RFC 6455 §5.5.2). */
export const OP_PING = 0x9;
/** Pong frame (RFC 6455 §5.5.3). */
export const OP_PONG = 0xa;

/** Whether `opcode` is a control opcode: RFC 6455 §5.5, "the most significant bit of the opcode is 1". */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Whether `opcode` is one RFC 6455 defines (0, 1, 2, 8, 9, 10). */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= OP_BINARY || (opcode >= OP_CLOSE && opcode <= OP_PONG);
}

/** Close codes of RFC 6455 §7.4.1 and the IANA registry (§11.7). */
export const CLOSE_CODE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Reserved: "no status code was actually present". Never sent on the wire. */
  NO_STATUS: 1005,
  /** Reserved: the connection closed without a close frame. Never sent on the wire. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  /** Reserved: TLS handshake failure. Never sent on the wire. */
  TLS_HANDSHAKE: 1015,
} as const;

/** Longest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
/** Longest close reason: 125 bytes of control payload minus the 2-byte code (RFC 6455 §5.5.1). */
export const MAX_CLOSE_REASON = 123;
/** Longest frame header: 2 + 8 (64-bit length) + 4 (masking key). */
export const MAX_FRAME_HEADER = 14;
/** Largest payload length we can represent exactly: Number.MAX_SAFE_INTEGER (2^53 - 1). */
export const MAX_SAFE_PAYLOAD = Number.MAX_SAFE_INTEGER;

/**
 * Whether `code` may appear in a close frame (received or sent), per RFC 6455 §7.4.
 *
 * - 1000-1003, 1007-1011: defined by §7.4.1.
 * - 1012-1014: registered with IANA later (service restart, try again later, bad gateway); Autobahn accepts them.
 * - 1004 (reserved), 1005, 1006, 1015 ("MUST NOT be set as a status code in a Close control frame"): invalid.
 * - 0-999 ("not used"), 1016-2999 (reserved for future RFCs): invalid.
 * - 3000-3999 (IANA-registered libraries and frameworks), 4000-4999 (private use): valid.
 *
 * @example
 * isValidCloseCode(1000); // true
 * isValidCloseCode(1005); // false: never on the wire
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 1000 && code <= 1014) return code !== 1004 && code !== 1005 && code !== 1006;
  return code >= 3000 && code <= 4999;
}

/**
 * Length of the header of a frame with `payloadLength` bytes of payload.
 * RFC 6455 §5.2: lengths up to 125 fit in 7 bits, up to 65535 in 16 bits (marker 126), longer in 64 (127).
 */
export function frameHeaderLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header into `target` at `offset`, with the minimal length encoding.
 *
 * @param fin last frame of the message
 * @param rsv1 RSV1 bit (set by an extension such as permessage-deflate on a message's first frame)
 * @param opcode frame opcode (0x0-0xF)
 * @param payloadLength payload length in bytes, 0 .. 2^53-1
 * @param maskKey the 4-byte masking key, or `undefined` for an unmasked (server) frame
 * @returns the offset just past the header
 * @throws RangeError if `target` is too short or the length is out of range
 * @example
 * const h = Buffer.allocUnsafe(MAX_FRAME_HEADER);
 * const n = encodeFrameHeader(h, 0, true, false, OP_TEXT, 5, undefined); // n === 2: 0x81 0x05
 */
export function encodeFrameHeader(
  target: Uint8Array,
  offset: number,
  fin: boolean,
  rsv1: boolean,
  opcode: number,
  payloadLength: number,
  maskKey: Uint8Array | undefined,
): number {
  if (!(payloadLength >= 0 && payloadLength <= MAX_SAFE_PAYLOAD) || !Number.isInteger(payloadLength)) {
    throw new RangeError(`Invalid payload length: ${payloadLength}`);
  }
  const size = frameHeaderLength(payloadLength, maskKey !== undefined);
  if (offset < 0 || offset + size > target.length) throw new RangeError('Frame header does not fit in the target');
  let p = offset;
  target[p++] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f);
  const maskBit = maskKey !== undefined ? 0x80 : 0;
  if (payloadLength < 126) {
    target[p++] = maskBit | payloadLength;
  } else if (payloadLength < 0x10000) {
    target[p++] = maskBit | 126;
    target[p++] = payloadLength >>> 8;
    target[p++] = payloadLength & 0xff;
  } else {
    target[p++] = maskBit | 127;
    const hi = Math.floor(payloadLength / 0x100000000);
    const lo = payloadLength >>> 0;
    target[p++] = hi >>> 24;
    target[p++] = (hi >>> 16) & 0xff;
    target[p++] = (hi >>> 8) & 0xff;
    target[p++] = hi & 0xff;
    target[p++] = lo >>> 24;
    target[p++] = (lo >>> 16) & 0xff;
    target[p++] = (lo >>> 8) & 0xff;
    target[p++] = lo & 0xff;
  }
  if (maskKey !== undefined) {
    target[p++] = maskKey[0]!;
    target[p++] = maskKey[1]!;
    target[p++] = maskKey[2]!;
    target[p++] = maskKey[3]!;
  }
  return p;
}

/**
 * Builds the payload of a close frame (RFC 6455 §5.5.1): 2-byte code in network order, then the UTF-8 reason.
 * `code === undefined` gives an empty payload (the peer will see 1005).
 *
 * @throws RangeError for an invalid code (see `isValidCloseCode`), a reason without a code, or a reason longer
 * than 123 bytes
 */
export function encodeClosePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) {
    if (reason !== '') throw new RangeError('Cannot send a close reason without a close code');
    return EMPTY;
  }
  if (!isValidCloseCode(code)) throw new RangeError(`Invalid close code: ${code}`);
  const reasonLength = Buffer.byteLength(reason);
  if (reasonLength > MAX_CLOSE_REASON) throw new RangeError(`Close reason is ${reasonLength} bytes, more than 123`);
  const out = Buffer.allocUnsafe(2 + reasonLength);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  if (reasonLength > 0) out.write(reason, 2, 'utf8');
  return out;
}
