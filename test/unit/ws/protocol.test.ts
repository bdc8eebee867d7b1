/**
 * ws/protocol.ts: the WebSocket core end to end, byte by byte. Every receive rule of RFC 6455 as a table with
 * its close code (checked in the `onError` event and in the close frame written to the sink), each fed whole,
 * byte by byte and at every two-way split; messages and fragmentation, interleaved control frames, automatic
 * pongs, the close handshake on both sides, discarding after close and after failure, UTF-8 fail-fast across
 * fragments and reads, maxPayload, RSV1 plumbing, the send API and its errors, EOF, and a 16 MiB message.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InvalidStateError } from '../../../src/errors.js';
import { setRandomFill } from '../../../src/util/random.js';
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from '../../../src/ws/frame.js';
import { WS_CLOSED, WS_CLOSING, WS_OPEN, wsStateName } from '../../../src/ws/protocol.js';
import {
  closeBody,
  closeCodeOf,
  feedAllSplits,
  frame,
  makeCore,
  type Outcome,
  outcome,
  runCore,
  SIDE_CLIENT,
  SIDE_SERVER,
  stream,
} from '../../helpers/ws-frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Asserts that the outcome is one failure with `closeCode`/`code`, announced by one close frame. */
function assertFailed(o: Outcome, closeCode: number, code: string, side: 0 | 1 = SIDE_SERVER): void {
  const errors = o.events.filter((e) => e[0] === 'error');
  assert.deepEqual(errors, [['error', closeCode, code]]);
  assert.deepEqual(o.events.at(-1), ['error', closeCode, code], 'the error is the last event');
  assert.ok(!o.events.some((e) => e[0] === 'close'), 'no onClose after onError');
  const closes = o.written.filter((f) => f.opcode === OP_CLOSE);
  assert.equal(closes.length, 1, 'one close frame');
  assert.equal(o.written.at(-1)!.opcode, OP_CLOSE, 'the close frame is the last frame');
  assert.equal(closeCodeOf(closes[0]!.payload), closeCode, 'close frame carries the code');
  assert.equal(closes[0]!.masked, side === SIDE_CLIENT);
  // RFC 6455 §7.1.1: the server closes TCP; the client waits for it.
  assert.equal(o.ends, side === SIDE_SERVER ? 1 : 0);
  assert.equal(o.state, WS_CLOSING);
  assert.equal(o.closeSent, true);
  assert.equal(o.closeReceived, false);
}

const TEXT = OP_TEXT;
const BIN = OP_BINARY;
const CONT = OP_CONTINUATION;

describe('RFC 6455 §5 receive rules (table, every split)', () => {
  // [name, input (client frames, masked), options, close code, error code]
  const rules: [string, Buffer, { rsv1Allowed?: boolean; maxPayload?: number }, number, string][] = [
    // §5.2 RSV bits
    [
      'RSV1 without a negotiated extension',
      frame({ opcode: TEXT, rsv1: true, payload: 'a' }),
      {},
      1002,
      'ERR_WS_RESERVED_BITS',
    ],
    ['RSV2', frame({ opcode: BIN, rsv2: true }), { rsv1Allowed: true }, 1002, 'ERR_WS_RESERVED_BITS'],
    ['RSV3', frame({ opcode: BIN, rsv3: true }), { rsv1Allowed: true }, 1002, 'ERR_WS_RESERVED_BITS'],
    [
      'RSV1 on a ping, even with an extension',
      frame({ opcode: OP_PING, rsv1: true }),
      { rsv1Allowed: true },
      1002,
      'ERR_WS_RESERVED_BITS',
    ],
    [
      'RSV1 on a close, even with an extension',
      frame({ opcode: OP_CLOSE, rsv1: true }),
      { rsv1Allowed: true },
      1002,
      'ERR_WS_RESERVED_BITS',
    ],
    [
      'RSV1 on a continuation, even with an extension',
      stream(
        frame({ opcode: TEXT, fin: false, rsv1: true, payload: 'a' }),
        frame({ opcode: CONT, rsv1: true, payload: 'b' }),
      ),
      { rsv1Allowed: true },
      1002,
      'ERR_WS_RESERVED_BITS',
    ],
    // §5.5 control frames
    ['a 126-byte ping', frame({ opcode: OP_PING, payload: Buffer.alloc(126) }), {}, 1002, 'ERR_WS_CONTROL_TOO_LONG'],
    ['a 126-byte pong', frame({ opcode: OP_PONG, payload: Buffer.alloc(126) }), {}, 1002, 'ERR_WS_CONTROL_TOO_LONG'],
    ['a 126-byte close', frame({ opcode: OP_CLOSE, payload: Buffer.alloc(126) }), {}, 1002, 'ERR_WS_CONTROL_TOO_LONG'],
    ['a fragmented ping', frame({ opcode: OP_PING, fin: false }), {}, 1002, 'ERR_WS_CONTROL_FRAGMENTED'],
    ['a fragmented close', frame({ opcode: OP_CLOSE, fin: false }), {}, 1002, 'ERR_WS_CONTROL_FRAGMENTED'],
    // §5.4 fragmentation
    [
      'a continuation with no message started',
      frame({ opcode: CONT, payload: 'x' }),
      {},
      1002,
      'ERR_WS_UNEXPECTED_CONTINUATION',
    ],
    [
      'a continuation after a complete message',
      stream(frame({ opcode: TEXT, payload: 'a' }), frame({ opcode: CONT, payload: 'b' })),
      {},
      1002,
      'ERR_WS_UNEXPECTED_CONTINUATION',
    ],
    [
      'a text frame inside a fragmented message',
      stream(frame({ opcode: TEXT, fin: false, payload: 'a' }), frame({ opcode: TEXT, payload: 'b' })),
      {},
      1002,
      'ERR_WS_EXPECTED_CONTINUATION',
    ],
    [
      'a binary frame inside a fragmented message',
      stream(frame({ opcode: BIN, fin: false, payload: 'a' }), frame({ opcode: BIN, fin: false, payload: 'b' })),
      {},
      1002,
      'ERR_WS_EXPECTED_CONTINUATION',
    ],
    // §5.1 masking
    [
      'an unmasked frame to a server',
      frame({ opcode: TEXT, payload: 'a', mask: false }),
      {},
      1002,
      'ERR_WS_UNMASKED_FRAME',
    ],
    // §5.2 lengths
    [
      'a 64-bit length with the top bit set',
      frame({ opcode: BIN, length64: 1n << 63n }),
      {},
      1002,
      'ERR_WS_BAD_LENGTH',
    ],
    [
      'a length above 2^53-1',
      frame({ opcode: BIN, length64: 1n << 53n }),
      { maxPayload: 0 },
      1009,
      'ERR_WS_MESSAGE_TOO_BIG',
    ],
    // §10.4 maxPayload
    [
      'a frame above maxPayload',
      frame({ opcode: BIN, payload: Buffer.alloc(11) }),
      { maxPayload: 10 },
      1009,
      'ERR_WS_MESSAGE_TOO_BIG',
    ],
    [
      'a fragmented message above maxPayload in total',
      stream(
        frame({ opcode: BIN, fin: false, payload: Buffer.alloc(4) }),
        frame({ opcode: CONT, fin: false, payload: Buffer.alloc(4) }),
        frame({ opcode: CONT, payload: Buffer.alloc(3) }),
      ),
      { maxPayload: 10 },
      1009,
      'ERR_WS_MESSAGE_TOO_BIG',
    ],
    // §8.1 UTF-8
    [
      'invalid UTF-8 in a text frame',
      frame({ opcode: TEXT, payload: hex('cebae1bdb9cf83cebcceb5eda080656469746564') }),
      {},
      1007,
      'ERR_WS_INVALID_UTF8',
    ],
    [
      'a character cut off at the end of a text message',
      frame({ opcode: TEXT, payload: hex('41e282') }),
      {},
      1007,
      'ERR_WS_INVALID_UTF8',
    ],
    [
      'a character cut off at the end of a fragmented text message',
      stream(frame({ opcode: TEXT, fin: false, payload: hex('e2') }), frame({ opcode: CONT, payload: hex('82') })),
      {},
      1007,
      'ERR_WS_INVALID_UTF8',
    ],
    // §5.5.1, §7.4 close frames
    [
      'a close frame with a 1-byte payload',
      frame({ opcode: OP_CLOSE, payload: hex('03') }),
      {},
      1002,
      'ERR_WS_INVALID_CLOSE_PAYLOAD',
    ],
    [
      'a close reason that is not UTF-8',
      frame({ opcode: OP_CLOSE, payload: closeBody(1000, hex('ff')) }),
      {},
      1007,
      'ERR_WS_INVALID_UTF8',
    ],
    [
      'a close reason with a surrogate',
      frame({ opcode: OP_CLOSE, payload: closeBody(1000, hex('eda080')) }),
      {},
      1007,
      'ERR_WS_INVALID_UTF8',
    ],
  ];
  for (const op of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    rules.push([`reserved opcode ${op}`, frame({ opcode: op }), {}, 1002, 'ERR_WS_INVALID_OPCODE']);
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
    rules.push([
      `close code ${code}`,
      frame({ opcode: OP_CLOSE, payload: closeBody(code) }),
      {},
      1002,
      'ERR_WS_INVALID_CLOSE_CODE',
    ]);
  }
  for (const [name, bytes, options, closeCode, code] of rules) {
    it(`fails on ${name} with ${closeCode}`, () => {
      assertFailed(feedAllSplits(bytes, options), closeCode, code);
    });
  }

  it('fails on a masked frame to a client with 1002 (client waits for TCP close)', () => {
    const o = feedAllSplits(frame({ opcode: TEXT, payload: 'a' }), { side: SIDE_CLIENT });
    assertFailed(o, 1002, 'ERR_WS_MASKED_FRAME', SIDE_CLIENT);
  });
  it('fails the client side with a masked close frame and no end()', () => {
    const o = feedAllSplits(frame({ opcode: 4, mask: false }), { side: SIDE_CLIENT });
    assertFailed(o, 1002, 'ERR_WS_INVALID_OPCODE', SIDE_CLIENT);
  });
  it('discards everything after a failure, including a close frame', () => {
    const bytes = stream(
      frame({ opcode: TEXT, payload: 'ok' }),
      frame({ opcode: 5 }),
      frame({ opcode: TEXT, payload: 'after' }),
      frame({ opcode: OP_CLOSE, payload: closeBody(1000) }),
    );
    const o = feedAllSplits(bytes);
    assert.deepEqual(o.events, [
      ['message', 'text', 'ok', false],
      ['error', 1002, 'ERR_WS_INVALID_OPCODE'],
    ]);
    assertFailed(o, 1002, 'ERR_WS_INVALID_OPCODE');
  });
  it('keeps the error object with its closeCode for the adapter', () => {
    const { ws, handler } = makeCore();
    ws.receive(frame({ opcode: 0xb }));
    assert.equal(handler.errors.length, 1);
    assert.equal(handler.errors[0]!.closeCode, 1002);
    assert.equal(handler.errors[0]!.name, 'ProtocolError');
  });
});

describe('RFC 6455 §7.4 close codes received (every code)', () => {
  it('accepts exactly the valid codes and echoes them', () => {
    for (let code = 0; code < 5100; code++) {
      const o = runCore([frame({ opcode: OP_CLOSE, payload: closeBody(code, 'r') })]);
      const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      if (valid) {
        assert.deepEqual(o.events, [['close', code, 'r']], `code ${code}`);
        assert.equal(closeCodeOf(o.written[0]!.payload), code);
      } else {
        assert.deepEqual(o.events, [['error', 1002, 'ERR_WS_INVALID_CLOSE_CODE']], `code ${code}`);
      }
    }
  });
});

describe('RFC 6455 §5.4, §5.6 messages', () => {
  it('delivers text and binary messages', () => {
    const o = feedAllSplits(
      stream(frame({ opcode: TEXT, payload: 'héllo €' }), frame({ opcode: BIN, payload: hex('00ff10') })),
    );
    assert.deepEqual(o.events, [
      ['message', 'text', 'héllo €', false],
      ['message', 'binary', '00ff10', false],
    ]);
    assert.deepEqual(o.written, []);
    assert.equal(o.state, WS_OPEN);
  });
  it('delivers empty messages and empty fragments', () => {
    const o = feedAllSplits(
      stream(
        frame({ opcode: TEXT }),
        frame({ opcode: BIN, fin: false }),
        frame({ opcode: CONT, fin: false }),
        frame({ opcode: CONT }),
      ),
    );
    assert.deepEqual(o.events, [
      ['message', 'text', '', false],
      ['message', 'binary', '', false],
    ]);
  });
  it('reassembles a fragmented message with control frames interleaved', () => {
    const o = feedAllSplits(
      stream(
        frame({ opcode: TEXT, fin: false, payload: 'Hel' }),
        frame({ opcode: OP_PING, payload: 'p1' }),
        frame({ opcode: CONT, fin: false, payload: 'lo, ' }),
        frame({ opcode: OP_PONG, payload: 'q' }),
        frame({ opcode: CONT, payload: 'world' }),
      ),
    );
    assert.deepEqual(o.events, [
      ['ping', '7031'],
      ['pong', '71'],
      ['message', 'text', 'Hello, world', false],
    ]);
    assert.deepEqual(o.written, [{ opcode: OP_PONG, fin: true, rsv1: false, masked: false, payload: '7031' }]);
  });
  it('hands a message whole in one chunk on as a view of the input', () => {
    let data: Buffer | undefined;
    const { ws, handler } = makeCore();
    handler.onMessage = (_b, d) => {
      data = d;
    };
    const chunk = frame({ opcode: BIN, payload: 'zero-copy' });
    ws.receive(chunk);
    assert.equal(data!.buffer, chunk.buffer);
  });
  it('parses many small frames from one chunk', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(frame({ opcode: TEXT, payload: `m${i}` }));
    const o = runCore([stream(...frames)]);
    assert.equal(o.events.length, 1000);
    assert.deepEqual(o.events[999], ['message', 'text', 'm999', false]);
  });
  it('delivers a 16 MiB binary message sent in 64 KiB reads', () => {
    const size = 16 * 1024 * 1024;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) payload.writeUInt32LE(i, i);
    const bytes = frame({ opcode: BIN, payload, mask: Buffer.from([0x12, 0x34, 0x56, 0x78]) });
    const { ws, handler } = makeCore({ maxPayload: size });
    let got: Buffer | undefined;
    handler.onMessage = (binary, data) => {
      assert.equal(binary, true);
      got = data;
    };
    for (let p = 0; p < bytes.length; p += 65536) ws.receive(bytes.subarray(p, p + 65536));
    assert.ok(got !== undefined);
    assert.equal(got.length, size);
    assert.ok(got.equals(payload));
  });
  it('delivers a 16 MiB text message in 1 MiB fragments cut inside characters', () => {
    const text = 'aé€😀'.repeat(Math.ceil((16 * 1024 * 1024) / 10));
    const whole = Buffer.from(text);
    const mib = 1024 * 1024;
    const frames: Buffer[] = [];
    const count = Math.ceil(whole.length / mib);
    for (let i = 0; i < count; i++) {
      const piece = whole.subarray(i * mib, (i + 1) * mib);
      frames.push(frame({ opcode: i === 0 ? TEXT : CONT, fin: i === count - 1, payload: piece }));
    }
    const { ws, handler } = makeCore();
    let got: Buffer | undefined;
    handler.onMessage = (binary, data) => {
      assert.equal(binary, false);
      got = data;
    };
    handler.onError = (e) => assert.fail(e.message);
    for (const f of frames) ws.receive(f);
    assert.ok(got?.equals(whole));
  });
});

describe('RFC 6455 §10.4 maxPayload', () => {
  it('accepts a message of exactly maxPayload bytes, in one frame or in fragments', () => {
    assert.deepEqual(feedAllSplits(frame({ opcode: BIN, payload: Buffer.alloc(10, 1) }), { maxPayload: 10 }).events, [
      ['message', 'binary', '01'.repeat(10), false],
    ]);
    const o = feedAllSplits(
      stream(
        frame({ opcode: BIN, fin: false, payload: Buffer.alloc(6, 1) }),
        frame({ opcode: CONT, payload: Buffer.alloc(4, 2) }),
      ),
      { maxPayload: 10 },
    );
    assert.deepEqual(o.events, [['message', 'binary', `${'01'.repeat(6)}${'02'.repeat(4)}`, false]]);
  });
  it('fails before buffering: the header alone is enough', () => {
    const header = frame({ opcode: BIN, length64: 1n << 40n });
    const o = runCore([header.subarray(0, 14)], { maxPayload: 1024 });
    assertFailed(o, 1009, 'ERR_WS_MESSAGE_TOO_BIG');
  });
  it('does not count control frames and starts each message from zero', () => {
    const o = feedAllSplits(
      stream(
        frame({ opcode: BIN, fin: false, payload: Buffer.alloc(5) }),
        frame({ opcode: OP_PING, payload: Buffer.alloc(100) }),
        frame({ opcode: CONT, payload: Buffer.alloc(5) }),
        frame({ opcode: BIN, payload: Buffer.alloc(10) }),
      ),
      { maxPayload: 10 },
    );
    assert.deepEqual(
      o.events.map((e) => e[0]),
      ['ping', 'message', 'message'],
    );
  });
});

describe('RFC 6455 §8.1 UTF-8 fail-fast', () => {
  it('fails as soon as a bad fragment arrives, before the message ends (Autobahn 6.4.1)', () => {
    const { ws, handler, sink } = makeCore();
    ws.receive(frame({ opcode: TEXT, fin: false, payload: hex('cebae1bdb9cf83cebcceb5') }));
    assert.deepEqual(handler.events, []);
    ws.receive(frame({ opcode: CONT, fin: false, payload: hex('f4908080') }));
    assert.deepEqual(handler.events, [['error', 1007, 'ERR_WS_INVALID_UTF8']]);
    assert.equal(closeCodeOf(sink.frames()[0]!.payload.toString('hex')), 1007);
    ws.receive(frame({ opcode: CONT, payload: hex('656469746564') }));
    assert.equal(handler.events.length, 1);
  });
  it('fails inside one frame as soon as the bad bytes arrive over the network (Autobahn 6.4.3)', () => {
    const payload = hex('cebae1bdb9cf83cebcceb5 f4908080 656469746564');
    const bytes = frame({ opcode: TEXT, payload });
    const { ws, handler } = makeCore();
    ws.receive(bytes.subarray(0, 6 + 11)); // header + valid prefix
    assert.deepEqual(handler.events, []);
    ws.receive(bytes.subarray(6 + 11, 6 + 15)); // the bad code point: frame not complete yet
    assert.deepEqual(handler.events, [['error', 1007, 'ERR_WS_INVALID_UTF8']]);
  });
  it('does not fail an open sequence at a fragment boundary', () => {
    const { ws, handler } = makeCore();
    ws.receive(frame({ opcode: TEXT, fin: false, payload: hex('f09f') }));
    ws.receive(frame({ opcode: CONT, fin: false, payload: hex('98') }));
    assert.deepEqual(handler.events, []);
    ws.receive(frame({ opcode: CONT, payload: hex('80') }));
    assert.deepEqual(handler.events, [['message', 'text', '😀', false]]);
  });
  const valid = Buffer.from('aé€😀z');
  it('accepts a valid message split into two fragments at every position', () => {
    for (let i = 0; i <= valid.length; i++) {
      const o = feedAllSplits(
        stream(
          frame({ opcode: TEXT, fin: false, payload: valid.subarray(0, i) }),
          frame({ opcode: CONT, payload: valid.subarray(i) }),
        ),
      );
      assert.deepEqual(o.events, [['message', 'text', valid.toString(), false]], `cut ${i}`);
    }
  });
  const invalids: [string, Buffer][] = [
    ['overlong', hex('61 c0af 62')],
    ['surrogate', hex('61 eda080 62')],
    ['above U+10FFFF', hex('61 f4908080 62')],
    ['truncated at the end', hex('61 62 f09f98')],
  ];
  for (const [name, bytes] of invalids) {
    it(`fails on ${name} split into two fragments at every position`, () => {
      for (let i = 0; i <= bytes.length; i++) {
        const o = feedAllSplits(
          stream(
            frame({ opcode: TEXT, fin: false, payload: bytes.subarray(0, i) }),
            frame({ opcode: CONT, payload: bytes.subarray(i) }),
          ),
        );
        assertFailed(o, 1007, 'ERR_WS_INVALID_UTF8');
      }
    });
  }
  it('does not check binary messages', () => {
    assert.deepEqual(feedAllSplits(frame({ opcode: BIN, payload: hex('ff') })).events, [
      ['message', 'binary', 'ff', false],
    ]);
  });
});

describe('RFC 7692 §6 RSV1 plumbing', () => {
  it('passes the RSV1 of the first frame to onMessage and leaves compressed text unchecked', () => {
    const o = feedAllSplits(
      stream(
        frame({ opcode: TEXT, rsv1: true, fin: false, payload: hex('ff') }),
        frame({ opcode: CONT, payload: hex('fe') }),
      ),
      { rsv1Allowed: true },
    );
    assert.deepEqual(o.events, [['message', 'text', 'fffe', true]]);
  });
  it('reports rsv1 false for uncompressed messages when the extension is negotiated', () => {
    const o = feedAllSplits(frame({ opcode: TEXT, payload: 'plain' }), { rsv1Allowed: true });
    assert.deepEqual(o.events, [['message', 'text', 'plain', false]]);
  });
  it('sends RSV1 only when allowed and only on a first frame', () => {
    const { ws, sink } = makeCore({ rsv1Allowed: true });
    ws.sendFrame(OP_BINARY, hex('01'), false, true);
    assert.throws(() => ws.sendFrame(OP_CONTINUATION, hex('02'), true, true), RangeError);
    ws.sendFrame(OP_CONTINUATION, hex('02'), true);
    assert.deepEqual(
      sink.frames().map((f) => [f.rsv1, f.opcode, f.fin]),
      [
        [true, OP_BINARY, false],
        [false, OP_CONTINUATION, true],
      ],
    );
    const plain = makeCore();
    assert.throws(() => plain.ws.sendFrame(OP_BINARY, hex('01'), true, true), RangeError);
  });
});

describe('RFC 6455 §5.5.2 ping and pong', () => {
  it('answers a ping with a pong carrying the same payload, before onPing', () => {
    const { ws, handler, sink } = makeCore();
    handler.after = () => assert.equal(sink.frames().length, 1, 'pong already written');
    ws.receive(frame({ opcode: OP_PING, payload: 'are you there?' }));
    assert.deepEqual(handler.events, [['ping', Buffer.from('are you there?').toString('hex')]]);
    assert.deepEqual(
      sink.frames().map((f) => [f.opcode, f.payload.toString()]),
      [[OP_PONG, 'are you there?']],
    );
  });
  it('answers a 125-byte ping', () => {
    const o = feedAllSplits(frame({ opcode: OP_PING, payload: Buffer.alloc(125, 9) }));
    assert.equal(o.written[0]!.payload, '09'.repeat(125));
  });
  it('a client masks its pong', () => {
    const o = feedAllSplits(frame({ opcode: OP_PING, payload: 'x', mask: false }), { side: SIDE_CLIENT });
    assert.deepEqual(o.written, [{ opcode: OP_PONG, fin: true, rsv1: false, masked: true, payload: '78' }]);
  });
  it('does not answer pings once its close frame is out', () => {
    const { ws, handler, sink } = makeCore();
    ws.close(1000);
    ws.receive(frame({ opcode: OP_PING, payload: 'p' }));
    assert.deepEqual(handler.events, [['ping', '70']]);
    assert.deepEqual(
      sink.frames().map((f) => f.opcode),
      [OP_CLOSE],
    );
  });
  it('does not answer pongs', () => {
    const o = feedAllSplits(frame({ opcode: OP_PONG, payload: 'unsolicited' }));
    assert.deepEqual(o.written, []);
    assert.equal(o.events.length, 1);
  });
});

describe('RFC 6455 §5.5.1, §7.1 close handshake', () => {
  it('server: echoes the peer close code, closes TCP, reports onClose, discards the rest', () => {
    const bytes = stream(
      frame({ opcode: OP_CLOSE, payload: closeBody(1001, 'going away') }),
      frame({ opcode: TEXT, payload: 'late' }),
    );
    const o = feedAllSplits(bytes);
    assert.deepEqual(o.events, [['close', 1001, 'going away']]);
    assert.deepEqual(o.written, [{ opcode: OP_CLOSE, fin: true, rsv1: false, masked: false, payload: '03e9' }]);
    assert.equal(o.ends, 1);
    assert.equal(o.state, WS_CLOSING);
    assert.equal(o.closeReceived, true);
    assert.equal(o.closeCode, 1001);
  });
  it('echoes an empty close frame and reports 1005', () => {
    const o = feedAllSplits(frame({ opcode: OP_CLOSE }));
    assert.deepEqual(o.events, [['close', 1005, '']]);
    assert.deepEqual(
      o.written.map((f) => [f.opcode, f.payload]),
      [[OP_CLOSE, '']],
    );
  });
  it('accepts a 123-byte UTF-8 reason', () => {
    const reason = `${'é'.repeat(61)}x`;
    const o = feedAllSplits(frame({ opcode: OP_CLOSE, payload: closeBody(4000, reason) }));
    assert.deepEqual(o.events, [['close', 4000, reason]]);
  });
  it('server closing first: sends close, then ends TCP when the peer answers', () => {
    const { ws, handler, sink } = makeCore();
    ws.close(1000, 'done');
    assert.equal(ws.state, WS_CLOSING);
    assert.equal(ws.closeExpected(), true);
    assert.equal(sink.ends, 0);
    ws.receive(frame({ opcode: TEXT, payload: 'still flowing' }));
    ws.receive(frame({ opcode: OP_CLOSE, payload: closeBody(1000) }));
    assert.deepEqual(handler.events, [
      ['message', 'text', 'still flowing', false],
      ['close', 1000, ''],
    ]);
    assert.deepEqual(
      sink.frames().map((f) => [f.opcode, f.payload.toString('hex')]),
      [[OP_CLOSE, '03e8646f6e65']],
    );
    assert.equal(sink.ends, 1);
    ws.receiveEof();
    assert.equal(ws.state, WS_CLOSED);
    assert.equal(ws.closeCode, 1000);
    assert.equal(sink.ends, 1, 'end() once');
  });
  it('client: echoes a masked close and waits for the server to close TCP', () => {
    const { ws, handler, sink } = makeCore({ side: SIDE_CLIENT });
    ws.receive(frame({ opcode: OP_CLOSE, payload: closeBody(1000, 'bye'), mask: false }));
    assert.deepEqual(handler.events, [['close', 1000, 'bye']]);
    const [f] = sink.frames();
    assert.equal(f!.masked, true);
    assert.equal(f!.payload.readUInt16BE(0), 1000);
    assert.equal(sink.ends, 0);
    assert.equal(ws.closeExpected(), true);
    ws.receiveEof();
    assert.equal(sink.ends, 1, 'the client closes its side after the server');
    assert.equal(ws.state, WS_CLOSED);
    assert.equal(ws.closeExpected(), false);
  });
  it('client closing first: no end() until EOF', () => {
    const { ws, sink } = makeCore({ side: SIDE_CLIENT });
    ws.close();
    assert.deepEqual(
      sink.frames().map((f) => [f.opcode, f.masked, f.payload.length]),
      [[OP_CLOSE, true, 0]],
    );
    ws.receive(frame({ opcode: OP_CLOSE, payload: closeBody(1000), mask: false }));
    assert.equal(sink.frames().length, 1, 'no second close frame');
    assert.equal(sink.ends, 0);
    ws.receiveEof();
    assert.equal(sink.ends, 1);
  });
  it('a close frame between fragments ends the message without delivering it', () => {
    const o = feedAllSplits(
      stream(
        frame({ opcode: TEXT, fin: false, payload: 'part' }),
        frame({ opcode: OP_CLOSE, payload: closeBody(1000) }),
        frame({ opcode: CONT, payload: 'rest' }),
      ),
    );
    assert.deepEqual(o.events, [['close', 1000, '']]);
  });
  it('close() validates its arguments and is a no-op once a close frame was sent', () => {
    const { ws, sink } = makeCore();
    assert.throws(() => ws.close(1005), RangeError);
    assert.throws(() => ws.close(1006), RangeError);
    assert.throws(() => ws.close(999), RangeError);
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), RangeError);
    assert.throws(() => ws.close(undefined, 'reason'), RangeError);
    assert.equal(sink.chunks.length, 0);
    ws.close(4001, 'x'.repeat(123));
    ws.close(1000);
    assert.equal(sink.frames().length, 1);
    assert.equal(sink.frames()[0]!.payload.readUInt16BE(0), 4001);
  });
  it('onClose may call close() (no-op) and the handler sees state CLOSING', () => {
    const { ws, handler, sink } = makeCore();
    handler.after = (e) => {
      if (e[0] === 'close') {
        assert.equal(ws.state, WS_CLOSING);
        ws.close(1000);
      }
    };
    ws.receive(frame({ opcode: OP_CLOSE, payload: closeBody(1000) }));
    assert.equal(sink.frames().length, 1);
  });
});

describe('RFC 6455 §7.1.5 closing without a close frame', () => {
  it('receiveEof without a close frame gives 1006 and is idempotent', () => {
    const { ws, sink, handler } = makeCore();
    ws.receive(frame({ opcode: TEXT, payload: 'hi' }).subarray(0, 3));
    ws.receiveEof();
    ws.receiveEof();
    assert.equal(ws.state, WS_CLOSED);
    assert.equal(ws.closeCode, 1006);
    assert.equal(sink.ends, 1);
    assert.deepEqual(handler.events, []);
    assert.deepEqual(sink.chunks, []);
    ws.receive(frame({ opcode: TEXT, payload: 'ignored' }));
    assert.deepEqual(handler.events, []);
    assert.throws(() => ws.sendText('x'), InvalidStateError);
  });
});

describe('fail() on behalf of the adapter', () => {
  it('server: sends the close frame, ends, discards input, no onError', () => {
    const { ws, handler, sink } = makeCore();
    ws.fail(1009, 'Message too big after inflate');
    ws.receive(frame({ opcode: TEXT, payload: 'x' }));
    const o = outcome(ws, handler, sink);
    assert.deepEqual(o.events, []);
    assert.equal(o.written.length, 1);
    assert.equal(closeCodeOf(o.written[0]!.payload), 1009);
    assert.equal(Buffer.from(o.written[0]!.payload, 'hex').subarray(2).toString(), 'Message too big after inflate');
    assert.equal(o.ends, 1);
    assert.equal(ws.state, WS_CLOSING);
    ws.fail(1011);
    assert.equal(sink.frames().length, 1, 'second fail is a no-op');
  });
  it('client: sends a masked close frame and waits for TCP close', () => {
    const { ws, sink } = makeCore({ side: SIDE_CLIENT });
    ws.fail(1011, 'internal');
    assert.equal(sink.frames()[0]!.masked, true);
    assert.equal(sink.ends, 0);
    assert.equal(ws.closeExpected(), true);
  });
  it('after close(), fail() sends no second close frame', () => {
    const { ws, sink } = makeCore();
    ws.close(1000);
    ws.fail(1011);
    assert.equal(sink.frames().length, 1);
    assert.equal(sink.ends, 1);
  });
  it('fail(1006) sends no close frame, and close() after it does nothing', () => {
    const { ws, sink } = makeCore();
    ws.fail(1006);
    ws.close(1000);
    assert.deepEqual(sink.chunks, []);
    assert.equal(sink.ends, 1);
    assert.equal(ws.closeExpected(), true);
  });
  it('refuses invalid codes', () => {
    const { ws } = makeCore();
    assert.throws(() => ws.fail(1005), RangeError);
    assert.equal(ws.state, WS_OPEN);
  });
});

describe('RFC 6455 §5.4, §5.5 sending', () => {
  afterEach(() => setRandomFill(undefined));

  it('server sends unmasked text, binary, ping and pong frames', () => {
    const { ws, sink } = makeCore();
    ws.sendText('hé');
    ws.sendText(Buffer.from('raw'));
    ws.sendBinary(hex('0102'));
    ws.ping(Buffer.from('p'));
    ws.pong();
    assert.deepEqual(
      sink.frames().map((f) => [f.opcode, f.masked, f.fin, f.payload.toString('hex')]),
      [
        [OP_TEXT, false, true, Buffer.from('hé').toString('hex')],
        [OP_TEXT, false, true, Buffer.from('raw').toString('hex')],
        [OP_BINARY, false, true, '0102'],
        [OP_PING, false, true, '70'],
        [OP_PONG, false, true, ''],
      ],
    );
  });
  it('client masks every frame with a fresh key and leaves the caller buffer alone', () => {
    let n = 0;
    setRandomFill((b) => {
      for (let i = 0; i < b.length; i++) b[i] = (n++ * 13) & 0xff;
    });
    const { ws, sink } = makeCore({ side: SIDE_CLIENT });
    const data = Buffer.from('payload');
    ws.sendBinary(data);
    ws.sendBinary(data);
    assert.equal(data.toString(), 'payload');
    const raw = sink.chunks.map((c) => c.subarray(2, 6).toString('hex'));
    assert.notEqual(raw[0], raw[1], 'fresh keys');
    assert.deepEqual(
      sink.frames().map((f) => [f.masked, f.payload.toString()]),
      [
        [true, 'payload'],
        [true, 'payload'],
      ],
    );
  });
  it('sends a fragmented message with sendFrame, with pings in between', () => {
    const { ws, sink } = makeCore();
    ws.sendFrame(OP_TEXT, Buffer.from('a'), false);
    ws.ping();
    assert.throws(() => ws.sendText('interleaved'), InvalidStateError);
    assert.throws(() => ws.sendFrame(OP_BINARY, Buffer.from('b'), true), InvalidStateError);
    ws.sendFrame(OP_CONTINUATION, Buffer.from('b'), false);
    ws.sendFrame(OP_CONTINUATION, Buffer.from('c'), true);
    assert.throws(() => ws.sendFrame(OP_CONTINUATION, Buffer.from('d'), true), InvalidStateError);
    ws.sendText('next');
    assert.deepEqual(
      sink.frames().map((f) => [f.opcode, f.fin, f.payload.toString()]),
      [
        [OP_TEXT, false, 'a'],
        [OP_PING, true, ''],
        [OP_CONTINUATION, false, 'b'],
        [OP_CONTINUATION, true, 'c'],
        [OP_TEXT, true, 'next'],
      ],
    );
  });
  it('refuses control opcodes in sendFrame and oversize control payloads', () => {
    const { ws } = makeCore();
    for (const op of [OP_CLOSE, OP_PING, OP_PONG, 3, 0xb])
      assert.throws(() => ws.sendFrame(op, hex('00'), true), RangeError);
    assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError);
    assert.throws(() => ws.pong(Buffer.alloc(126)), RangeError);
    ws.ping(Buffer.alloc(125));
  });
  it('throws InvalidStateError for every send once a close frame was sent', () => {
    for (const how of ['close', 'received', 'failed', 'fail'] as const) {
      const { ws } = makeCore();
      if (how === 'close') ws.close(1000);
      else if (how === 'received') ws.receive(frame({ opcode: OP_CLOSE }));
      else if (how === 'failed') ws.receive(frame({ opcode: 3 }));
      else ws.fail(1011);
      assert.equal(ws.closeSent, true);
      assert.throws(() => ws.sendText('x'), InvalidStateError, how);
      assert.throws(() => ws.sendBinary(hex('00')), InvalidStateError, how);
      assert.throws(() => ws.sendFrame(OP_TEXT, hex('00'), true), InvalidStateError, how);
      assert.throws(() => ws.ping(), InvalidStateError, how);
      assert.throws(() => ws.pong(), InvalidStateError, how);
    }
  });
  it('can close in the middle of an outgoing fragmented message', () => {
    const { ws, sink } = makeCore();
    ws.sendFrame(OP_BINARY, hex('01'), false);
    ws.close(1001);
    assert.deepEqual(
      sink.frames().map((f) => f.opcode),
      [OP_BINARY, OP_CLOSE],
    );
  });
});

describe('buffered bytes', () => {
  it('counts an incomplete frame and the fragments of an unfinished message', () => {
    const { ws } = makeCore();
    assert.equal(ws.bufferedBytes, 0);
    ws.receive(frame({ opcode: BIN, fin: false, payload: 'abc' }));
    assert.equal(ws.bufferedBytes, 3);
    ws.receive(frame({ opcode: CONT, payload: 'defgh' }).subarray(0, 8));
    assert.equal(ws.bufferedBytes, 5);
  });
  it('is 0 again after the message is delivered', () => {
    const { ws } = makeCore();
    ws.receive(frame({ opcode: BIN, fin: false, payload: 'abc' }));
    ws.receive(frame({ opcode: CONT, payload: 'd' }));
    assert.equal(ws.bufferedBytes, 0);
  });
});

describe('state names', () => {
  it('names every state', () => {
    assert.deepEqual([WS_OPEN, WS_CLOSING, WS_CLOSED, 0].map(wsStateName), ['OPEN', 'CLOSING', 'CLOSED', 'UNKNOWN']);
  });
  it('refuses an invalid side', () => {
    assert.throws(() => makeCore({ side: 2 as 0 }), RangeError);
  });
});

/** A client core and a server core wired back to back; bytes are delivered when `flush()` runs. */
function corePair() {
  const client = makeCore({ side: SIDE_CLIENT });
  const server = makeCore({ side: SIDE_SERVER });
  let toServer = 0;
  let toClient = 0;
  const flush = (): void => {
    for (let moved = true; moved; ) {
      moved = false;
      while (toServer < client.sink.chunks.length) {
        server.ws.receive(Buffer.from(client.sink.chunks[toServer++]!));
        moved = true;
      }
      while (toClient < server.sink.chunks.length) {
        client.ws.receive(Buffer.from(server.sink.chunks[toClient++]!));
        moved = true;
      }
    }
  };
  return { client, server, flush };
}

describe('client and server cores back to back (RFC 6455 §5, §7)', () => {
  it('exchange messages, pings and a clean close started by the client', () => {
    const { client, server, flush } = corePair();
    client.ws.sendText('hello');
    client.ws.sendFrame(OP_BINARY, hex('01'), false);
    client.ws.ping(Buffer.from('p'));
    client.ws.sendFrame(OP_CONTINUATION, hex('02'), true);
    server.ws.sendText('welcome');
    flush();
    assert.deepEqual(server.handler.events, [
      ['message', 'text', 'hello', false],
      ['ping', '70'],
      ['message', 'binary', '0102', false],
    ]);
    assert.deepEqual(client.handler.events, [
      ['message', 'text', 'welcome', false],
      ['pong', '70'],
    ]);
    client.ws.close(1000, 'bye');
    flush();
    assert.deepEqual(server.handler.events.at(-1), ['close', 1000, 'bye']);
    assert.deepEqual(client.handler.events.at(-1), ['close', 1000, '']);
    assert.equal(server.sink.ends, 1, 'the server closes TCP');
    assert.equal(client.sink.ends, 0, 'the client waits for it');
    assert.equal(client.ws.closeExpected(), true);
    client.ws.receiveEof();
    server.ws.receiveEof();
    assert.equal(client.ws.state, WS_CLOSED);
    assert.equal(server.ws.state, WS_CLOSED);
    assert.equal(client.ws.closeCode, 1000);
    assert.equal(server.ws.closeCode, 1000);
  });
  it('a close started by the server', () => {
    const { client, server, flush } = corePair();
    server.ws.close(1001, 'restart');
    flush();
    assert.deepEqual(client.handler.events, [['close', 1001, 'restart']]);
    assert.deepEqual(server.handler.events, [['close', 1001, '']]);
    assert.equal(server.sink.ends, 1);
    assert.equal(client.sink.ends, 0);
  });
  it('a server failure reaches the client as a close frame with the code', () => {
    const { client, server, flush } = corePair();
    server.ws.fail(1011, 'internal error');
    flush();
    assert.deepEqual(client.handler.events, [['close', 1011, 'internal error']]);
    // The failed server discards the client's echo.
    assert.deepEqual(server.handler.events, []);
    assert.equal(server.sink.ends, 1);
  });
});
