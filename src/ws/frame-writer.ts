/**
 * Outgoing WebSocket frames (RFC 6455 §5.2): a header, and the payload kept apart so that large payloads are
 * never copied; the adapter writes both under cork (one writev).
 *
 * Rules:
 * - RFC 6455 §5.1: "a client MUST mask all frames that it sends to the server"; "A server MUST NOT mask any
 *   frames that it sends to the client".
 * - RFC 6455 §5.3: each frame gets a fresh masking key from a strong source (util/random.ts).
 * - A client masks a copy: the caller's buffer is never modified (it may be reused or sent to others).
 *
 * PERF: a client copies the payload anyway to mask it, so header and masked payload share one allocation and one
 * write. A server merges header and payload into one buffer only below `MERGE_THRESHOLD` bytes, where one small
 * copy is cheaper than a second write in the writev; above it the payload goes out as it is. The threshold is
 * the style guide's starting point (about 1 KiB) until bench/ measures it.
 */

import { maskInto } from '../util/mask.js';
import { takeMaskKey } from '../util/random.js';
import { encodeFrameHeader, frameHeaderLength } from './frame.js';

/** Where frames are written: the protocol's sink (`writeCopy` as in WsSink). */
export interface FrameSink {
  write(chunk: Buffer): void;
  writeCopy?(src: Uint8Array, start: number, end: number): void;
}

/** Header of the frame being written through `writeCopy` (copied out before another frame is encoded). */
const scratchHeader: Buffer = Buffer.alloc(14);

/** Masking key of the frame being encoded (copied into the header before any other frame is encoded). */
const scratchKey: Buffer = Buffer.alloc(4);

/** Payloads shorter than this are copied behind their header into one buffer (server side). */
export const MERGE_THRESHOLD = 1024;

/**
 * Writes one frame to `sink`: the header, then the payload, as one or two `write` calls.
 *
 * @param masked mask the frame with a fresh key (client side); `payload` is left untouched
 * @example
 * writeFrame(sink, true, false, OP_TEXT, Buffer.from('hi'), false); // one write: 81 02 68 69
 */
export function writeFrame(
  sink: FrameSink,
  fin: boolean,
  rsv1: boolean,
  opcode: number,
  payload: Buffer,
  masked: boolean,
): void {
  const length = payload.length;
  if (!masked && sink.writeCopy !== undefined) {
    // PERF: the header, and a small payload, are copied straight into the sink's output: no buffer per frame
    // (two copies and an allocation per message fewer for the 32-byte echo benchmark).
    const headerLength = encodeFrameHeader(scratchHeader, 0, fin, rsv1, opcode, length, undefined);
    sink.writeCopy(scratchHeader, 0, headerLength);
    if (length < MERGE_THRESHOLD) {
      if (length > 0) sink.writeCopy(payload, 0, length);
    } else sink.write(payload);
    return;
  }
  if (masked || length < MERGE_THRESHOLD) {
    sink.write(encodeFrame(fin, rsv1, opcode, payload, masked));
    return;
  }
  const header = Buffer.allocUnsafe(frameHeaderLength(length, false));
  encodeFrameHeader(header, 0, fin, rsv1, opcode, length, undefined);
  sink.write(header);
  sink.write(payload);
}

/**
 * Encodes one whole frame (header and payload, masked with a fresh key when `masked`) into a new Buffer.
 * Useful to frame a message once and send it to many peers (server frames are identical for every peer).
 */
export function encodeFrame(fin: boolean, rsv1: boolean, opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length = payload.length;
  const headerLength = frameHeaderLength(length, masked);
  const out = Buffer.allocUnsafe(headerLength + length);
  // RFC 6455 §5.3: a fresh, unpredictable masking key per frame.
  const key = masked ? takeMaskKey(scratchKey, 0) : undefined;
  encodeFrameHeader(out, 0, fin, rsv1, opcode, length, key);
  if (length > 0) {
    // A client masks on the way into the frame (one pass); the caller's payload stays as it was.
    if (key !== undefined) maskInto(payload, key, out, headerLength);
    else payload.copy(out, headerLength);
  }
  return out;
}
