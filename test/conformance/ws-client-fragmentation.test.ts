/**
 * Client conformance, Autobahn TestSuite section 5 (fragmentation, RFC 6455 §5.4) against our `WebSocket` client
 * over loopback with a raw scripted server: fragmented text and binary messages (two fragments, one byte per
 * fragment, empty fragments) are delivered whole and once; pings between fragments are answered at once;
 * fragmented control frames, a continuation without a message, and a new data frame inside a fragmented
 * message fail with 1002 (on the wire) and error + close 1006 (on the page).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT } from '../helpers/ws-raw-client.js';
import { echoed, expectClientFail, expectDelivered, openClient, sf, startRawServer } from '../helpers/ws-raw-server.js';

/** `payload` cut into frames at `cuts` (offsets), the first with `opcode`, the others continuations. */
function fragments(opcode: number, payload: Buffer, cuts: number[]): Buffer[] {
  const bounds = [0, ...cuts, payload.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push(
      sf({
        opcode: i === 0 ? opcode : OP_CONT,
        payload: payload.subarray(bounds[i], bounds[i + 1]),
        fin: i + 2 === bounds.length,
      }),
    );
  }
  return out;
}

test('5.3/5.4 text message in two fragments, delivered whole (and echoed as one message)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server, { echo: true });
  const text = 'fragment1fragment2';
  await expectDelivered(c, fragments(OP_TEXT, Buffer.from(text), [9]), [text], { sent: echoed([text]) });
});

test('5.x binary message in two fragments, written one byte per read', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 0xfd, 7, 8]);
  await expectDelivered(c, fragments(OP_BINARY, bin, [3]), [bin], { chunkSize: 1, gapMs: 0 });
});

test('5.x text message of one byte per fragment (multi-byte characters cut everywhere)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const text = 'κόσμε-😀-€';
  const bytes = Buffer.from(text);
  const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  await expectDelivered(c, fragments(OP_TEXT, bytes, cuts), [text]);
});

test('5.17-5.19 empty fragments: first, middle, last, and all empty', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const e = Buffer.alloc(0);
  await expectDelivered(
    c,
    [
      sf({ opcode: OP_TEXT, payload: e, fin: false }),
      sf({ opcode: OP_CONT, payload: 'abc' }),
      sf({ opcode: OP_TEXT, payload: 'ab', fin: false }),
      sf({ opcode: OP_CONT, payload: e, fin: false }),
      sf({ opcode: OP_CONT, payload: 'c' }),
      sf({ opcode: OP_BINARY, payload: Buffer.from([1, 2, 3]), fin: false }),
      sf({ opcode: OP_CONT, payload: e }),
      sf({ opcode: OP_TEXT, payload: e, fin: false }),
      sf({ opcode: OP_CONT, payload: e, fin: false }),
      sf({ opcode: OP_CONT, payload: e }),
    ],
    ['abc', 'abc', Buffer.from([1, 2, 3]), ''],
  );
});

test('5.6-5.8 a ping between fragments is answered before the message ends; the message comes whole', async (t) => {
  const server = await startRawServer(t);
  for (const options of [{}, { chunkSize: 1, gapMs: 0 }]) {
    const c = await openClient(t, server);
    await c.conn.write(
      [
        sf({ opcode: OP_TEXT, payload: 'fragment1', fin: false }),
        sf({ opcode: OP_PING, payload: 'between' }),
        sf({ opcode: OP_CONT, payload: 'fragment2', fin: false }),
      ],
      options,
    );
    const [pong] = await c.conn.waitFrames(1);
    assert.equal(pong?.opcode, OP_PONG);
    assert.deepEqual(c.events.messages(), [], 'no message before its last fragment');
    await expectDelivered(c, sf({ opcode: OP_CONT, payload: 'fragment3' }), ['fragment1fragment2fragment3'], {
      ...options,
      sent: [{ opcode: OP_PONG, payload: 'between' }],
    });
  }
});

test('5.20 fragments and pings spread over separate writes, with a pong between', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const parts = ['one', 'two', 'three', 'four'];
  for (let i = 0; i < parts.length - 1; i++) {
    await c.conn.send({ opcode: i === 0 ? OP_BINARY : OP_CONT, payload: parts[i], fin: false });
    await c.conn.send({ opcode: OP_PING, payload: `p${i}` }, { opcode: OP_PONG, payload: 'unsolicited' });
    await c.conn.waitFrames(i + 1);
  }
  await expectDelivered(c, sf({ opcode: OP_CONT, payload: 'four' }), [Buffer.from(parts.join(''))], {
    sent: [0, 1, 2].map((i) => ({ opcode: OP_PONG, payload: `p${i}` })),
  });
});

test('5.1/5.2 fragmented ping and fragmented pong → 1002 (RFC 6455 §5.5: control frames not fragmented)', async (t) => {
  const server = await startRawServer(t);
  for (const opcode of [OP_PING, OP_PONG]) {
    const c = await openClient(t, server);
    await expectClientFail(
      c,
      [sf({ opcode, payload: 'frag1', fin: false }), sf({ opcode: OP_CONT, payload: 'frag2' })],
      1002,
    );
  }
});

test('5.9-5.12 continuation without a message to continue → 1002 (final and non-final, first or later)', async (t) => {
  const server = await startRawServer(t);
  for (const [bytes, before] of [
    [[sf({ opcode: OP_CONT, payload: 'cont' })], []],
    [[sf({ opcode: OP_CONT, payload: 'cont', fin: false }), sf({ opcode: OP_TEXT, payload: 'never' })], []],
    [[sf({ opcode: OP_TEXT, payload: 'whole' }), sf({ opcode: OP_CONT, payload: 'cont' })], ['whole']],
    [
      [
        sf({ opcode: OP_TEXT, payload: 'a', fin: false }),
        sf({ opcode: OP_CONT, payload: 'b' }),
        sf({ opcode: OP_CONT, payload: 'c' }),
      ],
      ['ab'],
    ],
  ] as [Buffer[], string[]][]) {
    const c = await openClient(t, server);
    await expectClientFail(c, bytes, 1002, { before });
  }
});

test('5.13-5.15 continuation without a message, written one byte per read → 1002', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_CONT, payload: 'fragment', fin: false }), 1002, {
    chunkSize: 1,
    gapMs: 0,
  });
});

test('5.x a new text or binary frame inside a fragmented message → 1002, nothing delivered', async (t) => {
  const server = await startRawServer(t);
  for (const [first, second] of [
    [OP_TEXT, OP_TEXT],
    [OP_TEXT, OP_BINARY],
    [OP_BINARY, OP_TEXT],
    [OP_BINARY, OP_BINARY],
  ] as const) {
    for (const secondFin of [true, false]) {
      const c = await openClient(t, server);
      await expectClientFail(
        c,
        [
          sf({ opcode: first, payload: 'start', fin: false }),
          sf({ opcode: second, payload: 'intruder', fin: secondFin }),
          sf({ opcode: OP_CONT, payload: 'end' }),
        ],
        1002,
      );
    }
  }
});

test('5.x fail fast: the intruding frame header alone (no payload yet) → 1002', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const intruder = sf({ opcode: OP_TEXT, payload: Buffer.alloc(1000, 0x61) });
  // Only the header of the second data frame: the client must not wait for its payload.
  await expectClientFail(c, [sf({ opcode: OP_TEXT, payload: 'start', fin: false }), intruder.subarray(0, 4)], 1002);
});
