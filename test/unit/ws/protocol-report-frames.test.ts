/**
 * The core's frame tap (`WsProtocol.reportFrames` → `WsHandler.onFrameReceived`): each received frame header as
 * on the wire (each fragment, each control frame, RSV1 and the compressed length of a compressed message), in wire
 * order and before the message it belongs to; nothing while the flag is off; the same reports however the bytes
 * are split; no report for a header that breaks a rule of RFC 6455 §5.2.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT } from '../../../src/ws/frame.js';
import { allSplits, closeBody, frame, makeCore, RecordingHandler, stream } from '../../helpers/ws-frames.js';

/** Records frame reports among the core's other events, so their order is asserted too. */
class TapHandler extends RecordingHandler {
  frames: string[] = [];
  log: string[] = [];
  onFrameReceived(opcode: number, fin: boolean, rsv1: boolean, length: number): void {
    const f = `${opcode}${fin ? ' fin' : ''}${rsv1 ? ' rsv1' : ''} ${length}`;
    this.frames.push(f);
    this.log.push(`frame ${f}`);
  }
  constructor() {
    super();
    this.after = (e) => this.log.push(String(e[0]));
  }
}

const fragmented = stream(
  frame({ opcode: OP_TEXT, payload: 'hel', fin: false, mask: true }),
  frame({ opcode: OP_PING, payload: 'p', mask: true }),
  frame({ opcode: OP_CONTINUATION, payload: 'lo', fin: false, mask: true }),
  frame({ opcode: OP_CONTINUATION, payload: '', fin: true, mask: true }),
  frame({ opcode: OP_BINARY, payload: Buffer.alloc(300, 1), mask: true }),
  frame({ opcode: OP_CLOSE, payload: closeBody(1000, 'bye'), mask: true }),
);

test('every frame header is reported as on the wire, in order, before its message', () => {
  const { ws, handler } = makeCore({}, new TapHandler());
  ws.reportFrames = true;
  ws.receive(Buffer.from(fragmented));
  assert.deepEqual(handler.log, [
    'frame 1 3',
    'frame 9 fin 1',
    'ping',
    'frame 0 2',
    'frame 0 fin 0',
    'message',
    'frame 2 fin 300',
    'message',
    'frame 8 fin 5',
    'close',
  ]);
});

test('the same reports at every split of the input', () => {
  let first: string[] | null = null;
  for (const chunks of allSplits(fragmented)) {
    const { ws, handler } = makeCore({}, new TapHandler());
    ws.reportFrames = true;
    for (const c of chunks) ws.receive(c);
    if (first === null) first = handler.frames;
    else assert.deepEqual(handler.frames, first);
  }
  assert.equal(first?.length, 6);
});

test('off (the default): nothing is reported; the flag can change between reads', () => {
  const { ws, handler } = makeCore({}, new TapHandler());
  assert.equal(ws.reportFrames, false);
  ws.receive(frame({ opcode: OP_TEXT, payload: 'a', mask: true }));
  assert.deepEqual(handler.frames, []);
  ws.reportFrames = true;
  ws.receive(frame({ opcode: OP_TEXT, payload: 'bb', mask: true }));
  ws.reportFrames = false;
  ws.receive(frame({ opcode: OP_TEXT, payload: 'ccc', mask: true }));
  assert.deepEqual(handler.frames, ['1 fin 2']);
  assert.equal(handler.events.length, 3);
});

test('a compressed message: RSV1 and the length on the wire (client side, unmasked frames)', () => {
  const { ws, handler } = makeCore({ side: 1, rsv1Allowed: true }, new TapHandler());
  ws.reportFrames = true;
  // "Hello" compressed (RFC 7692 §7.2.3.1), as one frame then as two fragments.
  const deflated = Buffer.from('f248cdc9c90700', 'hex');
  ws.receive(frame({ opcode: OP_TEXT, payload: deflated, rsv1: true, mask: false }));
  ws.receive(
    stream(
      frame({ opcode: OP_TEXT, payload: deflated.subarray(0, 3), rsv1: true, fin: false, mask: false }),
      frame({ opcode: OP_CONTINUATION, payload: deflated.subarray(3), mask: false }),
    ),
  );
  assert.deepEqual(handler.frames, ['1 fin rsv1 7', '1 rsv1 3', '0 fin 4']);
});

test('a header that breaks §5.2 is not reported; one that breaks a message rule is, then the error', () => {
  const bad = makeCore({}, new TapHandler());
  bad.ws.reportFrames = true;
  bad.ws.receive(frame({ opcode: OP_TEXT, payload: 'x', rsv2: true, mask: true }));
  assert.deepEqual(bad.handler.log, ['error']);
  const orphan = makeCore({}, new TapHandler());
  orphan.ws.reportFrames = true;
  orphan.ws.receive(frame({ opcode: OP_CONTINUATION, payload: 'x', mask: true }));
  assert.deepEqual(orphan.handler.log, ['frame 0 fin 1', 'error']);
  assert.equal(orphan.handler.events[0]?.[1], 1002);
});
