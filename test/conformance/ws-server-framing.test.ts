/**
 * Server conformance, Autobahn TestSuite sections 1-4 and 10 against the `sockeye echo` WebSocket handlers, over
 * real loopback sockets: 1 framing (payload lengths at every length-encoding boundary, minimal encodings in what
 * the server sends), 2 ping/pong (RFC 6455 §5.5.2-§5.5.3), 3 reserved bits (§5.2), 4 reserved opcodes (§5.2),
 * 10 misc (unmasked client frames, §5.1). Every failure is checked by its exact close code and the TCP close.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { assertFrames, cf, expectCleanClose, expectEcho, expectFail, startEcho } from '../fixtures/ws/echo-server.js';
import { closeBody, frame } from '../helpers/ws-frames.js';
import { OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT } from '../helpers/ws-raw-client.js';

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

/** Header length a sender must use for `len` (RFC 6455 §5.2: "the minimal number of bytes MUST be used"). */
function minimalHeader(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

function textOf(len: number): string {
  return 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(len / 36)).slice(0, len);
}

function binaryOf(len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

// ── 1 Framing ──────────────────────────────────────────────────────────────────────────────────────────────

for (const [kind, opcode] of [
  ['text', OP_TEXT],
  ['binary', OP_BINARY],
] as const) {
  for (const len of LENGTHS) {
    test(`1 framing: ${kind} message of ${len} bytes is echoed with a minimal length encoding`, async (t) => {
      const echo = await startEcho(t);
      const client = await echo.connect();
      const payload = kind === 'text' ? Buffer.from(textOf(len)) : binaryOf(len);
      await client.write(cf({ opcode, payload }));
      const [f] = await client.waitFrames(1);
      // A message of 64 KiB or more comes back streamed, in fragments (each checked in expectCleanClose): the
      // first frame's header is minimal for the bytes it carries.
      const carried = len < 65536 ? len : (f?.payload.length ?? -1);
      assert.equal(f?.header.length, minimalHeader(carried), 'RFC 6455 §5.2: minimal payload length encoding');
      await expectCleanClose(client, [{ opcode, payload }]);
    });
  }
}

test('1 framing: 16-bit and 64-bit length encodings of the same payloads are all accepted', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const small = Buffer.from('non-minimal');
  const mid = binaryOf(300);
  await expectEcho(
    client,
    [
      cf({ opcode: OP_TEXT, payload: small, lengthBits: 16 }),
      cf({ opcode: OP_TEXT, payload: small, lengthBits: 64 }),
      cf({ opcode: OP_BINARY, payload: mid, lengthBits: 64 }),
      cf({ opcode: OP_BINARY, payload: mid, lengthBits: 16 }),
    ],
    [
      { opcode: OP_TEXT, payload: small },
      { opcode: OP_TEXT, payload: small },
      { opcode: OP_BINARY, payload: mid },
      { opcode: OP_BINARY, payload: mid },
    ],
  );
});

test('1 framing: many messages in one write are echoed in order', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const expected = LENGTHS.flatMap((len) => [
    { opcode: OP_TEXT, payload: Buffer.from(textOf(len)) },
    { opcode: OP_BINARY, payload: binaryOf(len) },
  ]);
  await expectEcho(
    client,
    expected.map((e) => cf(e)),
    expected,
  );
});

test('1 framing: 64-bit length with the most significant bit set → 1002 (RFC 6455 §5.2)', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, frame({ opcode: OP_BINARY, length64: 1n << 63n }).subarray(0, 14), 1002);
});

// ── 2 Ping/pong ────────────────────────────────────────────────────────────────────────────────────────────

test('2 ping/pong: ping without payload is answered by a pong without payload', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectEcho(client, cf({ opcode: OP_PING }), [{ opcode: OP_PONG, payload: Buffer.alloc(0) }]);
});

test('2 ping/pong: ping with text and binary payloads, 125 bytes, answered with the same payload', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const p125 = binaryOf(125);
  await expectEcho(
    client,
    [
      cf({ opcode: OP_PING, payload: 'Hello, world!' }),
      cf({ opcode: OP_PING, payload: Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]) }),
      cf({ opcode: OP_PING, payload: p125 }),
    ],
    [
      { opcode: OP_PONG, payload: 'Hello, world!' },
      { opcode: OP_PONG, payload: Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]) },
      { opcode: OP_PONG, payload: p125 },
    ],
  );
});

test('2 ping/pong: ping of 126 bytes → 1002, no pong (RFC 6455 §5.5: control payload ≤ 125)', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: OP_PING, payload: binaryOf(126) }), 1002);
});

test('2 ping/pong: 125-byte ping written one byte at a time', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const p = binaryOf(125);
  await expectEcho(client, cf({ opcode: OP_PING, payload: p }), [{ opcode: OP_PONG, payload: p }], { chunkSize: 1 });
});

test('2 ping/pong: unsolicited pongs are ignored (RFC 6455 §5.5.3)', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectEcho(
    client,
    [
      cf({ opcode: OP_PONG }),
      cf({ opcode: OP_PONG, payload: 'unsolicited' }),
      cf({ opcode: OP_TEXT, payload: 'after' }),
    ],
    [{ opcode: OP_TEXT, payload: 'after' }],
  );
});

test('2 ping/pong: 10 pings are answered by 10 pongs in order', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const pings = Array.from({ length: 10 }, (_, i) => `ping ${i}`);
  await expectEcho(
    client,
    pings.map((p) => cf({ opcode: OP_PING, payload: p })),
    pings.map((p) => ({ opcode: OP_PONG, payload: p })),
  );
});

test('2 ping/pong: 10 pings, each frame written one byte at a time', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const pings = Array.from({ length: 10 }, (_, i) => `ping #${i}`);
  await expectEcho(
    client,
    pings.map((p) => cf({ opcode: OP_PING, payload: p })),
    pings.map((p) => ({ opcode: OP_PONG, payload: p })),
    { chunkSize: 1 },
  );
});

// ── 3 Reserved bits ────────────────────────────────────────────────────────────────────────────────────────

for (const [name, bits] of [
  ['RSV1', { rsv1: true }],
  ['RSV2', { rsv2: true }],
  ['RSV3', { rsv3: true }],
  ['RSV1+RSV2', { rsv1: true, rsv2: true }],
  ['RSV1+RSV2+RSV3', { rsv1: true, rsv2: true, rsv3: true }],
] as const) {
  test(`3 reserved bits: text with ${name} (no extension) → 1002, later frames not echoed`, async (t) => {
    const echo = await startEcho(t);
    const client = await echo.connect();
    // Autobahn 3.2: a good message, the bad one, then more; only the first is echoed.
    await expectFail(
      client,
      [
        cf({ opcode: OP_TEXT, payload: 'hello' }),
        cf({ opcode: OP_TEXT, payload: 'bad', ...bits }),
        cf({ opcode: OP_PING, payload: 'x' }),
        cf({ opcode: OP_TEXT, payload: 'never' }),
      ],
      1002,
      { before: [{ opcode: OP_TEXT, payload: 'hello' }] },
    );
  });
}

test('3 reserved bits: RSV2 on a binary frame, RSV3 on a ping, RSV1 on a close → 1002', async (t) => {
  const echo = await startEcho(t);
  for (const bad of [
    cf({ opcode: OP_BINARY, payload: binaryOf(10), rsv2: true }),
    cf({ opcode: OP_PING, payload: 'p', rsv3: true }),
    cf({ opcode: OP_CLOSE, payload: closeBody(1000), rsv1: true }),
    cf({ opcode: 0, payload: 'x', rsv1: true }),
  ]) {
    const client = await echo.connect();
    await expectFail(client, bad, 1002);
  }
});

test('3 reserved bits: the bad frame is sent after the first message was echoed, in pieces, still 1002', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: 'first' }));
  // The echo: 'first' was read and handled before any byte of the bad frame is sent (Autobahn's "delay").
  await client.waitFrames(1);
  await expectFail(client, cf({ opcode: OP_TEXT, payload: 'bad', rsv3: true }), 1002, {
    chunkSize: 1,
    before: [{ opcode: OP_TEXT, payload: 'first' }],
  });
});

// ── 4 Opcodes ──────────────────────────────────────────────────────────────────────────────────────────────

for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
  const kind = opcode < 8 ? 'non-control' : 'control';
  test(`4 opcodes: reserved ${kind} opcode ${opcode} → 1002, later frames not echoed`, async (t) => {
    const echo = await startEcho(t);
    const client = await echo.connect();
    // Autobahn 4.1.3 / 4.2.3: a message, the reserved opcode (with payload), then a ping.
    await expectFail(
      client,
      [
        cf({ opcode: OP_TEXT, payload: 'before' }),
        cf({ opcode, payload: 'reserved' }),
        cf({ opcode: OP_PING, payload: 'after' }),
      ],
      1002,
      { before: [{ opcode: OP_TEXT, payload: 'before' }] },
    );
  });
}

test('4 opcodes: reserved opcode with an empty payload as the very first frame → 1002', async (t) => {
  const echo = await startEcho(t);
  for (const opcode of [3, 11]) {
    const client = await echo.connect();
    await expectFail(client, cf({ opcode }), 1002);
  }
});

// ── 10 Misc ────────────────────────────────────────────────────────────────────────────────────────────────

test('10 misc: unmasked text frame from the client → 1002 (RFC 6455 §5.1)', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, frame({ opcode: OP_TEXT, payload: 'unmasked', mask: false }), 1002);
});

test('10 misc: unmasked ping, and an unmasked frame after a good one → 1002', async (t) => {
  const echo = await startEcho(t);
  const a = await echo.connect();
  await expectFail(a, frame({ opcode: OP_PING, payload: 'p', mask: false }), 1002);
  const b = await echo.connect();
  await expectFail(
    b,
    [cf({ opcode: OP_TEXT, payload: 'masked' }), frame({ opcode: OP_TEXT, payload: 'unmasked', mask: false })],
    1002,
    { before: [{ opcode: OP_TEXT, payload: 'masked' }] },
  );
});

test('10 misc: an all-zero masking key is still a masked frame', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectEcho(client, cf({ opcode: OP_TEXT, payload: 'zero key', mask: Buffer.alloc(4) }), [
    { opcode: OP_TEXT, payload: 'zero key' },
  ]);
});

test('10 misc: the server close handler sees each failure as not clean with the code it sent', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: 5 }), 1002);
  const [c] = await echo.waitCloses(1);
  assert.equal(c?.code, 1002);
  assert.equal(c?.wasClean, false);
  assertFrames(client, [{ opcode: OP_CLOSE, payload: client.frames[0]?.payload ?? Buffer.alloc(0) }]);
});

test('10 misc: a message handler that rejects → 1011 (RFC 6455 §7.4.1), the server keeps serving', async (t) => {
  const echo = await startEcho(t, {
    async message(ws, m, isBinary) {
      if (m === 'boom') throw new Error('handler failed');
      ws.send(m, isBinary);
    },
  });
  const client = await echo.connect();
  await expectFail(client, [cf({ opcode: OP_TEXT, payload: 'ok' }), cf({ opcode: OP_TEXT, payload: 'boom' })], 1011, {
    before: [{ opcode: OP_TEXT, payload: 'ok' }],
  });
  const [c] = await echo.waitCloses(1);
  assert.deepEqual([c?.code, c?.wasClean], [1011, false]);
  const other = await echo.connect();
  await expectEcho(other, cf({ opcode: OP_TEXT, payload: 'still here' }), [{ opcode: OP_TEXT, payload: 'still here' }]);
});

test('10 misc: a message handler that throws synchronously → 1011, later frames not processed, server alive', async (t) => {
  const echo = await startEcho(t, {
    message(ws, m, isBinary) {
      if (m === 'boom') throw new Error('handler failed');
      ws.send(m, isBinary);
    },
  });
  const client = await echo.connect();
  await expectFail(
    client,
    [
      cf({ opcode: OP_TEXT, payload: 'ok' }),
      cf({ opcode: OP_TEXT, payload: 'boom' }),
      cf({ opcode: OP_TEXT, payload: 'after' }),
    ],
    1011,
    { before: [{ opcode: OP_TEXT, payload: 'ok' }] },
  );
  const [c] = await echo.waitCloses(1);
  assert.deepEqual([c?.code, c?.wasClean], [1011, false]);
  const other = await echo.connect();
  await expectEcho(other, cf({ opcode: OP_TEXT, payload: 'still here' }), [{ opcode: OP_TEXT, payload: 'still here' }]);
});
