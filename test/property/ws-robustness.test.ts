/**
 * Property tests (fast-check, seeded, bounded runs) for the robustness of the WebSocket core: arbitrary bytes,
 * and valid streams with random bytes corrupted, never make `receive()` throw, on either side and at any split.
 * Each run ends with at most one `onError`, whose code is a documented ERR_WS_* code, announced by exactly one
 * close frame carrying its close code; nothing is reported after it.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { closeCodeOf, frame, makeCore, outcome, SIDE_CLIENT, SIDE_SERVER } from '../helpers/ws-frames.js';

const SEED = 0x0b5e55ed;

const DOCUMENTED: Record<string, number> = {
  ERR_WS_RESERVED_BITS: 1002,
  ERR_WS_INVALID_OPCODE: 1002,
  ERR_WS_CONTROL_TOO_LONG: 1002,
  ERR_WS_CONTROL_FRAGMENTED: 1002,
  ERR_WS_UNEXPECTED_CONTINUATION: 1002,
  ERR_WS_EXPECTED_CONTINUATION: 1002,
  ERR_WS_UNMASKED_FRAME: 1002,
  ERR_WS_MASKED_FRAME: 1002,
  ERR_WS_BAD_LENGTH: 1002,
  ERR_WS_INVALID_CLOSE_CODE: 1002,
  ERR_WS_INVALID_CLOSE_PAYLOAD: 1002,
  ERR_WS_INVALID_UTF8: 1007,
  ERR_WS_MESSAGE_TOO_BIG: 1009,
};

function check(chunks: Uint8Array[], side: 0 | 1, rsv1Allowed: boolean): void {
  const { ws, handler, sink } = makeCore({ side, rsv1Allowed, maxPayload: 4096 });
  for (const c of chunks) ws.receive(Buffer.from(c));
  ws.receiveEof();
  const o = outcome(ws, handler, sink);
  const errors = o.events.filter((e) => e[0] === 'error');
  assert.ok(errors.length <= 1, 'at most one error');
  const closesWritten = o.written.filter((f) => f.opcode === 8);
  assert.ok(closesWritten.length <= 1, 'at most one close frame');
  if (errors.length === 1) {
    const [, closeCode, code] = errors[0]! as ['error', number, string];
    assert.equal(DOCUMENTED[code], closeCode, `${code} is documented with close code ${closeCode}`);
    assert.deepEqual(o.events.at(-1), errors[0], 'nothing after the error');
    assert.equal(closesWritten.length, 1);
    assert.equal(closeCodeOf(closesWritten[0]!.payload), closeCode);
    assert.equal(o.written.at(-1)!.opcode, 8, 'nothing written after the close frame');
  }
  for (const f of o.written) assert.equal(f.masked, side === SIDE_CLIENT);
  assert.equal(o.ends, 1, 'one end() in all (failure, close or EOF)');
}

const chunkedBytes = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 });

describe('property: receive() never throws', () => {
  for (const side of [SIDE_SERVER, SIDE_CLIENT] as const) {
    it(`random bytes, ${side === SIDE_SERVER ? 'server' : 'client'} side`, () => {
      fc.assert(
        fc.property(chunkedBytes, fc.boolean(), (chunks, rsv1Allowed) => check(chunks, side, rsv1Allowed)),
        { seed: SEED + side, numRuns: 1000 },
      );
    });
  }
  it('valid streams with corrupted bytes', () => {
    const valid = Buffer.concat([
      frame({ opcode: 1, fin: false, payload: 'héllo ' }),
      frame({ opcode: 9, payload: 'ping' }),
      frame({ opcode: 0, payload: 'wörld' }),
      frame({ opcode: 2, payload: Buffer.alloc(200, 7), lengthBits: 16 }),
      frame({ opcode: 10 }),
      frame({ opcode: 2, payload: Buffer.alloc(10, 1), lengthBits: 64 }),
      frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0x6f, 0x6b]) }),
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.nat({ max: valid.length }), { maxLength: 6 }),
        fc.boolean(),
        (flips, cuts, rsv1Allowed) => {
          const bytes = Buffer.from(valid);
          for (const [at, value] of flips) bytes[at] = value;
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            chunks.push(bytes.subarray(prev, p));
            prev = p;
          }
          check(chunks, SIDE_SERVER, rsv1Allowed);
        },
      ),
      { seed: SEED + 7, numRuns: 2000 },
    );
  });
});
