/**
 * fast-check arbitraries for WebSocket frame streams, shared by the property suites: masking keys, length
 * encodings, control frames and messages to be cut into fragments (with control frames between them).
 */

import { Buffer } from 'node:buffer';
import fc from 'fast-check';

/** A 4-byte masking key. */
export const keyArb = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((k) => Buffer.from(k));

/** A payload length encoding: minimal most of the time, else a 16- or 64-bit one (RFC 6455 §5.2 accepts both). */
export const lengthBitsArb = fc.constantFrom<7 | 16 | 64 | undefined>(undefined, undefined, undefined, 16, 64);

/** A ping or pong with a masking key. */
export const controlArb = fc.record({
  opcode: fc.constantFrom(9, 10),
  payload: fc.uint8Array({ maxLength: 125 }),
  key: keyArb,
});

/**
 * A text or binary message, the cut points that split it into fragments (repeated cuts make empty fragments),
 * the control frames to put between them, its key and length encoding.
 */
export function messageArb(max: { text: number; cuts: number; controls: number }) {
  return fc.record({
    binary: fc.boolean(),
    text: fc.string({ unit: 'binary', maxLength: max.text }),
    bytes: fc.uint8Array({ maxLength: 300 }),
    cuts: fc.array(fc.nat(), { maxLength: max.cuts }),
    controls: fc.array(fc.option(controlArb, { nil: undefined }), { maxLength: max.controls }),
    key: keyArb,
    lengthBits: lengthBitsArb,
  });
}

/** An optional close frame at the end of a stream. */
export const closeArb = fc.option(
  fc.record({ code: fc.constantFrom(1000, 1001, 3000, 4999), reason: fc.string({ maxLength: 20 }) }),
);
