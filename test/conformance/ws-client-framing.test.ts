/**
 * Client conformance, Autobahn TestSuite sections 1-4 and 10 against our `WebSocket` client (src/node/client.ts),
 * driven by a raw scripted server over loopback: 1 framing (payload lengths at every length-encoding boundary,
 * non-minimal encodings accepted, minimal ones in what the client sends), 2 ping/pong (RFC 6455 §5.5.2-§5.5.3),
 * 3 reserved bits (§5.2), 4 reserved opcodes (§5.2), 10 misc (masked server frames, §5.1; the client masks every
 * frame with a fresh key, §5.3). Every failure is checked twice: the close code the client put on the wire, and
 * the page's events (WHATWG: `error`, then `close` with 1006, wasClean false).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { closeBody, frame } from '../helpers/ws-frames.js';
import { OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT } from '../helpers/ws-raw-client.js';
import {
  assertClientFrames,
  echoed,
  expectClientFail,
  expectDelivered,
  expectServerClose,
  openClient,
  sf,
  startRawServer,
} from '../helpers/ws-raw-server.js';

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

function textOf(len: number): string {
  return 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(len / 36)).slice(0, len);
}

function binaryOf(len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

// ── 1 Framing ──────────────────────────────────────────────────────────────────────────────────────────────

for (const kind of ['text', 'binary'] as const) {
  for (const len of LENGTHS) {
    test(`1 framing: ${kind} message of ${len} bytes is delivered intact and echoed with a minimal length`, async (t) => {
      const server = await startRawServer(t);
      const c = await openClient(t, server, { echo: true });
      const message = kind === 'text' ? textOf(len) : binaryOf(len);
      await expectDelivered(c, sf({ opcode: kind === 'text' ? OP_TEXT : OP_BINARY, payload: message }), [message], {
        sent: echoed([message]),
      });
    });
  }
}

test('1 framing: 16-bit and 64-bit (non-minimal) length encodings are accepted', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const small = 'non-minimal';
  const mid = binaryOf(300);
  await expectDelivered(
    c,
    [
      sf({ opcode: OP_TEXT, payload: small, lengthBits: 16 }),
      sf({ opcode: OP_TEXT, payload: small, lengthBits: 64 }),
      sf({ opcode: OP_BINARY, payload: mid, lengthBits: 64 }),
      sf({ opcode: OP_BINARY, payload: mid, lengthBits: 16 }),
      sf({ opcode: OP_BINARY, payload: Buffer.alloc(0), lengthBits: 64 }),
      sf({ opcode: OP_TEXT, payload: '', lengthBits: 16 }),
    ],
    [small, small, mid, mid, Buffer.alloc(0), ''],
  );
});

test('1 framing: many messages in one write are delivered in order', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const messages = LENGTHS.flatMap((len) => [textOf(len), binaryOf(len)]);
  await expectDelivered(
    c,
    messages.map((m) => sf({ opcode: typeof m === 'string' ? OP_TEXT : OP_BINARY, payload: m })),
    messages,
  );
});

test('1 framing: frames in the same TCP write as the 101 are delivered after open', async (t) => {
  const server = await startRawServer(t, {
    firstBytes: Buffer.concat([sf({ opcode: OP_TEXT, payload: 'early' }), sf({ opcode: OP_PING, payload: 'hi' })]),
  });
  const c = await openClient(t, server);
  await c.events.waitMessages(1);
  await expectDelivered(c, [], ['early'], { sent: [{ opcode: OP_PONG, payload: 'hi' }] });
});

test('1 framing: 64-bit length with the most significant bit set → 1002 (RFC 6455 §5.2)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_BINARY, length64: 1n << 63n }).subarray(0, 10), 1002);
});

// ── 2 Ping/pong ────────────────────────────────────────────────────────────────────────────────────────────

test('2 ping/pong: ping without payload is answered by a pong without payload, no message event', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_PING });
  await c.conn.waitFrames(1);
  assert.deepEqual(c.events.messages(), []);
  await expectDelivered(c, [], [], { sent: [{ opcode: OP_PONG, payload: '' }] });
});

test('2 ping/pong: pings with text, binary and 125-byte payloads are answered with the same payload', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const bin = Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]);
  const p125 = binaryOf(125);
  await c.conn.send(
    { opcode: OP_PING, payload: 'Hello, world!' },
    { opcode: OP_PING, payload: bin },
    { opcode: OP_PING, payload: p125 },
  );
  await c.conn.waitFrames(3);
  // The Node extra `ping` event carries the payload too.
  const pings = c.events.events.filter((e) => e.type === 'ping').map((e) => (e as { data: Buffer }).data);
  assert.deepEqual(pings, [Buffer.from('Hello, world!'), bin, p125]);
  await expectDelivered(c, [], [], {
    sent: [
      { opcode: OP_PONG, payload: 'Hello, world!' },
      { opcode: OP_PONG, payload: bin },
      { opcode: OP_PONG, payload: p125 },
    ],
  });
});

test('2 ping/pong: ping of 126 bytes → 1002, no pong (RFC 6455 §5.5: control payload ≤ 125)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_PING, payload: binaryOf(126) }), 1002);
});

test('2 ping/pong: 125-byte ping written one byte per read', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const p = binaryOf(125);
  await expectDelivered(c, sf({ opcode: OP_PING, payload: p }), [], {
    chunkSize: 1,
    gapMs: 0,
    sent: [{ opcode: OP_PONG, payload: p }],
  });
});

test('2 ping/pong: unsolicited pongs are ignored (RFC 6455 §5.5.3)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectDelivered(
    c,
    [
      sf({ opcode: OP_PONG }),
      sf({ opcode: OP_PONG, payload: 'unsolicited' }),
      sf({ opcode: OP_TEXT, payload: 'after' }),
    ],
    ['after'],
  );
  assert.deepEqual(
    c.events.events.filter((e) => e.type === 'pong').map((e) => (e as { data: Buffer }).data.toString()),
    ['', 'unsolicited'],
  );
});

test('2 ping/pong: 10 pings are answered by 10 pongs in order, also when written one byte per read', async (t) => {
  const server = await startRawServer(t);
  const pings = Array.from({ length: 10 }, (_, i) => `ping #${i}`);
  for (const options of [{}, { chunkSize: 1, gapMs: 0 }]) {
    const c = await openClient(t, server);
    await expectDelivered(
      c,
      pings.map((p) => sf({ opcode: OP_PING, payload: p })),
      [],
      { ...options, sent: pings.map((p) => ({ opcode: OP_PONG, payload: p })) },
    );
  }
});

// ── 3 Reserved bits ────────────────────────────────────────────────────────────────────────────────────────

for (const [name, bits] of [
  ['RSV1', { rsv1: true }],
  ['RSV2', { rsv2: true }],
  ['RSV3', { rsv3: true }],
  ['RSV1+RSV2', { rsv1: true, rsv2: true }],
  ['RSV1+RSV2+RSV3', { rsv1: true, rsv2: true, rsv3: true }],
] as const) {
  test(`3 reserved bits: text with ${name} (no extension) → 1002, later frames ignored`, async (t) => {
    const server = await startRawServer(t);
    const c = await openClient(t, server);
    // Autobahn 3.x: a good message, the bad one, then a ping and a message that must be ignored.
    await expectClientFail(
      c,
      [
        sf({ opcode: OP_TEXT, payload: 'hello' }),
        sf({ opcode: OP_TEXT, payload: 'bad', ...bits }),
        sf({ opcode: OP_PING, payload: 'x' }),
        sf({ opcode: OP_TEXT, payload: 'never' }),
      ],
      1002,
      { before: ['hello'] },
    );
  });
}

test('3 reserved bits: RSV2 on binary, RSV3 on ping, RSV1 on close, RSV1 on a continuation → 1002', async (t) => {
  const server = await startRawServer(t);
  for (const bad of [
    [sf({ opcode: OP_BINARY, payload: binaryOf(10), rsv2: true })],
    [sf({ opcode: OP_PING, payload: 'p', rsv3: true })],
    [sf({ opcode: OP_CLOSE, payload: closeBody(1000), rsv1: true })],
    [sf({ opcode: OP_TEXT, payload: 'a', fin: false }), sf({ opcode: OP_CONT, payload: 'b', rsv1: true })],
  ]) {
    const c = await openClient(t, server);
    await expectClientFail(c, bad, 1002);
  }
});

test('3 reserved bits: the bad frame comes after the first message was delivered, one byte per read → still 1002', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_TEXT, payload: 'first' });
  // Delivered: 'first' was read and handled before any byte of the bad frame is sent (Autobahn's "delay").
  await c.events.waitMessages(1);
  await expectClientFail(c, sf({ opcode: OP_TEXT, payload: 'bad', rsv3: true }), 1002, {
    chunkSize: 1,
    gapMs: 0,
    before: ['first'],
  });
});

// ── 4 Opcodes ──────────────────────────────────────────────────────────────────────────────────────────────

for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
  const kind = opcode < 8 ? 'non-control' : 'control';
  test(`4 opcodes: reserved ${kind} opcode ${opcode} → 1002, later frames ignored`, async (t) => {
    const server = await startRawServer(t);
    const c = await openClient(t, server);
    // Autobahn 4.1.3 / 4.2.3: a message, the reserved opcode (with payload), then a ping that must not be answered.
    await expectClientFail(
      c,
      [
        sf({ opcode: OP_TEXT, payload: 'before' }),
        sf({ opcode, payload: 'reserved' }),
        sf({ opcode: OP_PING, payload: 'after' }),
      ],
      1002,
      { before: ['before'] },
    );
  });
}

test('4 opcodes: reserved opcode with an empty payload as the very first frame → 1002', async (t) => {
  const server = await startRawServer(t);
  for (const opcode of [3, 11]) {
    const c = await openClient(t, server);
    await expectClientFail(c, sf({ opcode }), 1002);
  }
});

// ── 10 Misc ────────────────────────────────────────────────────────────────────────────────────────────────

test('10 misc: masked text frame from the server → 1002 (RFC 6455 §5.1)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, frame({ opcode: OP_TEXT, payload: 'masked', mask: true }), 1002);
});

test('10 misc: masked ping, all-zero masking key, masked frame after a good one → 1002', async (t) => {
  const server = await startRawServer(t);
  const a = await openClient(t, server);
  await expectClientFail(a, frame({ opcode: OP_PING, payload: 'p', mask: true }), 1002);
  const b = await openClient(t, server);
  await expectClientFail(b, frame({ opcode: OP_TEXT, payload: 'zero key', mask: Buffer.alloc(4) }), 1002);
  const c = await openClient(t, server);
  await expectClientFail(
    c,
    [sf({ opcode: OP_TEXT, payload: 'unmasked' }), frame({ opcode: OP_BINARY, payload: 'masked', mask: true })],
    1002,
    { before: ['unmasked'] },
  );
});

test("10 misc: the client's own frames are all masked, each with a different key, minimal lengths", async (t) => {
  const server = await startRawServer(t, { echoClose: true });
  const c = await openClient(t, server);
  const sent = [
    ...LENGTHS.map(textOf),
    ...LENGTHS.map(binaryOf),
    ...Array.from({ length: 20 }, (_, i) => `same text ${i % 2}`),
  ];
  const copies = sent.map((m) => (typeof m === 'string' ? m : Buffer.from(m)));
  for (const m of sent) c.ws.send(m);
  c.ws.ping('are you there');
  c.ws.close(4000, 'done');
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4000, '', true], c.events.summary());
  assertClientFrames(c.conn, [
    ...echoed(sent),
    { opcode: OP_PING, payload: 'are you there' },
    { opcode: OP_CLOSE, payload: closeBody(4000, 'done') },
  ]);
  assert.deepEqual(sent, copies, 'masking must not modify the buffers passed to send()');
});

test('10 misc: pongs and the close echo are masked with fresh keys too', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.send(...Array.from({ length: 5 }, () => ({ opcode: OP_PING, payload: 'same' })));
  await c.conn.waitFrames(5);
  // expectServerClose checks every frame (pongs and close echo) with assertMasking.
  await expectServerClose(
    c,
    1001,
    'going',
    Array.from({ length: 5 }, () => ({ opcode: OP_PONG, payload: 'same' })),
  );
});
