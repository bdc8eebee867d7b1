/**
 * Server conformance, Autobahn TestSuite section 5 (fragmentation, RFC 6455 §5.4) against the `sockeye echo`
 * WebSocket handlers over loopback: fragmented text and binary messages are echoed whole, control frames may be
 * interleaved, and every misuse (continuation without a start, a new message inside a fragmented one,
 * fragmented control frames) fails with 1002 and nothing after it is echoed.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { cf, expectEcho, expectFail, startEcho } from '../fixtures/ws/echo-server.js';
import { closeBody } from '../helpers/ws-frames.js';
import { OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT } from '../helpers/ws-raw-client.js';

test('5.1/5.2 fragmented ping and fragmented pong → 1002 (RFC 6455 §5.5: control frames MUST NOT be fragmented)', async (t) => {
  const echo = await startEcho(t);
  for (const opcode of [OP_PING, OP_PONG]) {
    const client = await echo.connect();
    await expectFail(
      client,
      [cf({ opcode, payload: 'frag1', fin: false }), cf({ opcode: OP_CONT, payload: 'frag2' })],
      1002,
    );
  }
});

test('5.x fragmented close → 1002', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: OP_CLOSE, payload: closeBody(1000), fin: false }), 1002);
});

test('5.3-5.5 text in two fragments is echoed as one message (whole, in pieces, byte by byte)', async (t) => {
  const echo = await startEcho(t);
  const frames = [cf({ opcode: OP_TEXT, payload: 'frag1', fin: false }), cf({ opcode: OP_CONT, payload: 'frag2' })];
  for (const chunkSize of [undefined, 3, 1]) {
    const client = await echo.connect();
    await expectEcho(client, frames, [{ opcode: OP_TEXT, payload: 'frag1frag2' }], { chunkSize });
  }
});

test('5.x binary in many fragments (including empty ones) is echoed as one binary message', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const parts = [Buffer.from([0, 1, 2]), Buffer.alloc(0), Buffer.from([0xff, 0xfe]), Buffer.alloc(0), Buffer.from([9])];
  const frames = parts.map((p, i) =>
    cf({ opcode: i === 0 ? OP_BINARY : OP_CONT, payload: p, fin: i === parts.length - 1 }),
  );
  await expectEcho(client, frames, [{ opcode: OP_BINARY, payload: Buffer.concat(parts) }]);
});

test('5.x a message of only empty fragments is an empty message', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectEcho(
    client,
    [
      cf({ opcode: OP_TEXT, fin: false }),
      cf({ opcode: OP_CONT, fin: false }),
      cf({ opcode: OP_CONT }),
      cf({ opcode: OP_BINARY, fin: false }),
      cf({ opcode: OP_CONT }),
    ],
    [
      { opcode: OP_TEXT, payload: '' },
      { opcode: OP_BINARY, payload: Buffer.alloc(0) },
    ],
  );
});

test('5.6-5.8 ping and pong interleaved in a fragmented text: pong first, then the whole text', async (t) => {
  const echo = await startEcho(t);
  const frames = [
    cf({ opcode: OP_TEXT, payload: 'fragment1', fin: false }),
    cf({ opcode: OP_PING, payload: 'ping payload' }),
    cf({ opcode: OP_PONG, payload: 'unsolicited pong' }),
    cf({ opcode: OP_CONT, payload: 'fragment2' }),
  ];
  for (const chunkSize of [undefined, 1]) {
    const client = await echo.connect();
    await expectEcho(
      client,
      frames,
      [
        { opcode: OP_PONG, payload: 'ping payload' },
        { opcode: OP_TEXT, payload: 'fragment1fragment2' },
      ],
      { chunkSize },
    );
  }
});

test('5.19/5.20 text in 5 fragments with pings between them', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const frames = [
    cf({ opcode: OP_TEXT, payload: 'fragment1', fin: false }),
    cf({ opcode: OP_CONT, payload: 'fragment2', fin: false }),
    cf({ opcode: OP_PING, payload: 'pongme 1!' }),
    cf({ opcode: OP_CONT, payload: 'fragment3', fin: false }),
    cf({ opcode: OP_CONT, payload: 'fragment4', fin: false }),
    cf({ opcode: OP_PING, payload: 'pongme 2!' }),
    cf({ opcode: OP_CONT, payload: 'fragment5' }),
  ];
  await expectEcho(client, frames, [
    { opcode: OP_PONG, payload: 'pongme 1!' },
    { opcode: OP_PONG, payload: 'pongme 2!' },
    { opcode: OP_TEXT, payload: 'fragment1fragment2fragment3fragment4fragment5' },
  ]);
});

test('5.9-5.11 continuation (fin) without a message to continue → 1002', async (t) => {
  const echo = await startEcho(t);
  for (const chunkSize of [undefined, 1]) {
    const client = await echo.connect();
    await expectFail(
      client,
      [cf({ opcode: OP_CONT, payload: 'non-continuation payload' }), cf({ opcode: OP_TEXT, payload: 'Hello, world!' })],
      1002,
      { chunkSize },
    );
  }
});

test('5.12-5.14 continuation (no fin) without a message to continue → 1002', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(
    client,
    [
      cf({ opcode: OP_CONT, payload: 'non-continuation payload', fin: false }),
      cf({ opcode: OP_TEXT, payload: 'Hello, world!' }),
    ],
    1002,
  );
});

test('5.15 a finished fragmented message, then a stray continuation → 1002 after the first echo', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(
    client,
    [
      cf({ opcode: OP_TEXT, payload: 'fragment1', fin: false }),
      cf({ opcode: OP_CONT, payload: 'fragment2' }),
      cf({ opcode: OP_CONT, payload: 'fragment3', fin: false }),
      cf({ opcode: OP_TEXT, payload: 'fragment4' }),
    ],
    1002,
    { before: [{ opcode: OP_TEXT, payload: 'fragment1fragment2' }] },
  );
});

test('5.16-5.18 a new text or binary message inside a fragmented one → 1002, nothing echoed', async (t) => {
  const echo = await startEcho(t);
  for (const [first, second] of [
    [OP_TEXT, OP_TEXT],
    [OP_TEXT, OP_BINARY],
    [OP_BINARY, OP_TEXT],
  ]) {
    const client = await echo.connect();
    await expectFail(
      client,
      [
        cf({ opcode: first as number, payload: 'fragment1', fin: false }),
        cf({ opcode: second as number, payload: 'fragment2', fin: false }),
        cf({ opcode: OP_CONT, payload: 'fragment3' }),
      ],
      1002,
    );
  }
});

test('5.x new message inside a fragmented one, sent after the first fragment was read', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: 'start', fin: false }));
  await client.write(cf({ opcode: OP_PING, payload: 'sync' }));
  await client.waitFrames(1);
  await expectFail(client, cf({ opcode: OP_TEXT, payload: 'intruder' }), 1002, {
    before: [{ opcode: OP_PONG, payload: 'sync' }],
  });
});

test('5.x a close frame in the middle of a fragmented message is answered; the message is dropped', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write([
    cf({ opcode: OP_TEXT, payload: 'frag1', fin: false }),
    cf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
    cf({ opcode: OP_CONT, payload: 'frag2' }),
  ]);
  const out = await client.waitClosed();
  assert.equal(out.code, 1000);
  assert.equal(out.frames.length, 1);
  assert.equal(out.tcpClosed, true);
});
