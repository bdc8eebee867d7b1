/**
 * Fragmented messages in the WebSocket core (issue 15, "tiny fragments"): a message may come in at most
 * `maxFragments` frames (1008 past it, both roles), and a fragment costs its bytes, not an object: a message of
 * 300,000 one-byte fragments is reassembled in one growing buffer (heap growth bounded) and equals the
 * concatenation of its fragments.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT } from '../../../src/ws/frame.js';
import { frame, makeCore, RecordingHandler, SIDE_CLIENT, SIDE_SERVER } from '../../helpers/ws-frames.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A message of `n` frames carrying `payload` split as evenly as possible. */
function fragmented(side: number, opcode: number, payload: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  const step = Math.ceil(payload.length / n);
  for (let i = 0; i < n; i++) {
    out.push(
      frame({
        opcode: i === 0 ? opcode : OP_CONTINUATION,
        payload: payload.subarray(i * step, (i + 1) * step),
        fin: i === n - 1,
        mask: side === SIDE_SERVER,
      }),
    );
  }
  return out;
}

for (const side of [SIDE_SERVER, SIDE_CLIENT] as const) {
  const role = side === SIDE_SERVER ? 'server' : 'client';

  test(`${role}: a message in exactly maxFragments frames is delivered whole, control frames between`, () => {
    const { ws, handler } = makeCore({ side, maxFragments: 4 });
    const frames = fragmented(side, OP_TEXT, Buffer.from('abcdefgh'), 4);
    frames.splice(2, 0, frame({ opcode: OP_PING, payload: 'p', mask: side === SIDE_SERVER }));
    ws.receive(Buffer.concat(frames));
    assert.deepEqual(handler.events, [
      ['ping', '70'],
      ['message', 'text', 'abcdefgh', false],
    ]);
  });

  test(`${role}: one frame more than maxFragments: 1008 ERR_WS_TOO_MANY_FRAGMENTS, no message`, () => {
    const { ws, handler, sink } = makeCore({ side, maxFragments: 4 });
    ws.receive(Buffer.concat(fragmented(side, OP_BINARY, Buffer.alloc(10, 7), 5)));
    assert.deepEqual(handler.events, [['error', 1008, 'ERR_WS_TOO_MANY_FRAGMENTS']]);
    const close = sink.frames().at(-1);
    assert.equal(close?.payload.readUInt16BE(0), 1008);
  });

  test(`${role}: the count starts again with each message`, () => {
    const { ws, handler } = makeCore({ side, maxFragments: 3 });
    for (let i = 0; i < 5; i++) ws.receive(Buffer.concat(fragmented(side, OP_BINARY, Buffer.from([1, 2, 3]), 3)));
    assert.equal(handler.events.filter((e) => e[0] === 'message').length, 5);
  });
}

test('300,000 one-byte fragments: reassembled in place, heap growth bounded, bytes exact', () => {
  const n = 300_000;
  const payload = Buffer.alloc(n);
  for (let i = 0; i < n; i++) payload[i] = i & 0xff;
  const input = Buffer.concat(fragmented(SIDE_CLIENT, OP_BINARY, payload, n));
  let got: Buffer | null = null;
  const handler = new (class extends RecordingHandler {
    override onMessage(_binary: boolean, data: Buffer): void {
      got = data;
    }
  })();
  const { ws } = makeCore({ side: SIDE_CLIENT, maxFragments: 0, maxPayload: 0 }, handler);
  gc();
  const before = process.memoryUsage().heapUsed;
  // All but the last frame: the message is held by the core.
  const last = input.length - 3;
  for (let off = 0; off < last; off += 64 * 1024) ws.receive(input.subarray(off, Math.min(off + 64 * 1024, last)));
  gc();
  const held = process.memoryUsage().heapUsed - before;
  assert.equal(ws.bufferedBytes, n - 1);
  // An object per fragment (the old array of Buffers) cost ~100 bytes each: 30 MB here. One buffer costs none
  // of the JS heap (its bytes are external).
  assert.ok(held < 8 * 1024 * 1024, `heap grew ${held} bytes holding ${n - 1} fragments`);
  ws.receive(input.subarray(last));
  assert.ok(got !== null && (got as Buffer).equals(payload), 'the message is the fragments in order');
});
