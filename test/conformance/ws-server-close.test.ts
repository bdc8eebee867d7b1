/**
 * Server conformance, Autobahn TestSuite section 7 (close handling, RFC 6455 §5.5.1, §7) against the
 * `sockeye echo` WebSocket handlers over loopback: the close frame is echoed (empty stays empty: 1005 semantics;
 * a code is echoed), invalid payloads fail (1-byte body, codes that may not be sent → 1002, reason not UTF-8 →
 * 1007, reason too long → 1002), nothing is processed after a close, and the server closes TCP first (§7.1.1).
 * The server's close handler is checked too (code, reason, wasClean).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { test } from 'node:test';
import type { ServerWebSocket } from '../../src/index.js';
import { assertFrames, cf, expectFail, startEcho } from '../fixtures/ws/echo-server.js';
import { ioRoundTrip } from '../helpers/net.js';
import { closeBody } from '../helpers/ws-frames.js';
import { delay, describe, handshakeRequest, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT } from '../helpers/ws-raw-client.js';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

test('7.1.1 close without payload: the echo is empty too (1005 semantics), TCP closed, clean on the server', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_CLOSE }));
  const out = await client.waitClosed();
  assert.equal(out.tcpClosed, true, 'RFC 6455 §7.1.1: the server closes TCP after the close handshake');
  assertFrames(client, [{ opcode: OP_CLOSE, payload: Buffer.alloc(0) }]);
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 1005, reason: '', wasClean: true });
});

test('7.1.2 a second close frame is ignored', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write([
    cf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
    cf({ opcode: OP_CLOSE, payload: closeBody(1001) }),
  ]);
  const out = await client.waitClosed();
  assertFrames(client, [{ opcode: OP_CLOSE, payload: closeBody(1000) }]);
  assert.equal(out.tcpClosed, true);
});

test('7.1.3/7.1.4 ping and text after the close are not answered (RFC 6455 §1.4: data after close is discarded)', async (t) => {
  const echo = await startEcho(t);
  let messages = 0;
  const counted = await startEcho(t, {
    message(ws, m, bin) {
      messages++;
      ws.send(m, bin);
    },
  });
  for (const e of [echo, counted]) {
    const client = await e.connect();
    await client.write([
      cf({ opcode: OP_TEXT, payload: 'before' }),
      cf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
      cf({ opcode: OP_PING, payload: 'after' }),
      cf({ opcode: OP_TEXT, payload: 'after' }),
    ]);
    await client.waitClosed();
    assertFrames(client, [
      { opcode: OP_TEXT, payload: 'before' },
      { opcode: OP_CLOSE, payload: closeBody(1000) },
    ]);
  }
  assert.equal(messages, 1, 'only the message before the close reaches the handler');
});

test('7.1.5 fragmented text, close, then the last fragment: the message is never delivered', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write([
    cf({ opcode: OP_TEXT, payload: 'fragment1', fin: false }),
    cf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
    cf({ opcode: OP_CONT, payload: 'fragment2' }),
  ]);
  await client.waitClosed();
  assertFrames(client, [{ opcode: OP_CLOSE, payload: closeBody(1000) }]);
});

test('7.1.6 data after close sent in later writes is ignored and the TCP close still comes', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_CLOSE, payload: closeBody(1000, 'done') }));
  await client.waitFrames(1);
  await client.write(cf({ opcode: OP_TEXT, payload: 'too late' }));
  const out = await client.waitClosed();
  assert.equal(out.tcpClosed, true);
  assertFrames(client, [{ opcode: OP_CLOSE, payload: closeBody(1000) }]);
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 1000, reason: 'done', wasClean: true });
});

test('7.3.2 close with a 1-byte payload → 1002', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: OP_CLOSE, payload: Buffer.from([0x03]) }), 1002);
  const [c] = await echo.waitCloses(1);
  assert.equal(c?.code, 1002);
  assert.equal(c?.wasClean, false);
});

test('7.3.4 close with code and reason: the code is echoed; the handler gets code and reason', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_CLOSE, payload: closeBody(1000, 'Hello World!') }));
  const out = await client.waitClosed();
  assert.equal(out.code, 1000, describe(out.frames));
  assert.equal(out.tcpClosed, true);
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 1000, reason: 'Hello World!', wasClean: true });
});

test('7.3.5 close with a 123-byte (maximum) UTF-8 reason is accepted', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const reason = `${'é'.repeat(61)}x`; // 123 bytes
  assert.equal(Buffer.byteLength(reason), 123);
  await client.write(cf({ opcode: OP_CLOSE, payload: closeBody(1000, reason) }));
  const out = await client.waitClosed();
  assert.equal(out.code, 1000);
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 1000, reason, wasClean: true });
});

test('7.3.6 close with a 124-byte reason (126-byte control payload) → 1002', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: OP_CLOSE, payload: closeBody(1000, 'x'.repeat(124)) }), 1002);
});

for (const code of VALID_CODES) {
  test(`7.7 close code ${code} is echoed`, async (t) => {
    const echo = await startEcho(t);
    const client = await echo.connect();
    await client.write(cf({ opcode: OP_CLOSE, payload: closeBody(code, 'bye') }));
    const out = await client.waitClosed();
    assert.equal(out.code, code, describe(out.frames));
    assert.equal(out.frames.length, 1);
    assert.equal(out.tcpClosed, true);
    const [c] = await echo.waitCloses(1);
    assert.deepEqual(c, { code, reason: 'bye', wasClean: true });
  });
}

for (const code of INVALID_CODES) {
  test(`7.9 invalid close code ${code} → 1002`, async (t) => {
    const echo = await startEcho(t);
    const client = await echo.connect();
    await expectFail(client, cf({ opcode: OP_CLOSE, payload: closeBody(code) }), 1002);
    const [c] = await echo.waitCloses(1);
    assert.equal(c?.code, 1002);
    assert.equal(c?.wasClean, false);
  });
}

test('7.5.1 close reason that is not UTF-8 → 1007', async (t) => {
  const echo = await startEcho(t);
  for (const reason of [
    Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex'),
    Buffer.from([0xff]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xe2, 0x82]), // truncated
  ]) {
    const client = await echo.connect();
    await expectFail(client, cf({ opcode: OP_CLOSE, payload: closeBody(1000, reason) }), 1007);
  }
});

test('7.x close frame written one byte at a time is echoed', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_CLOSE, payload: closeBody(4000, 'slow') }), { chunkSize: 1 });
  const out = await client.waitClosed();
  assert.equal(out.code, 4000);
  assert.equal(out.tcpClosed, true);
});

test('7.x the client closes TCP without a close frame: the server reports 1006, not clean', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: 'hi' }));
  await client.waitFrames(1);
  client.socket.end();
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 1006, reason: '', wasClean: false });
});

// ── Server-initiated close ─────────────────────────────────────────────────────────────────────────────────

/** Echo handlers where the text `close-me` makes the server start the close handshake with 4000 "x". */
const closeOnCommand = {
  message(ws: ServerWebSocket, m: string | Buffer, isBinary: boolean) {
    if (m === 'close-me') ws.close(4000, 'x');
    else ws.send(m, isBinary);
  },
};

test('7.x server-initiated close answered by the client: the server closes TCP at once (RFC 6455 §7.1.1)', async (t) => {
  // A long closeTimeout: the TCP close must come from the handshake, not from the timer.
  const echo = await startEcho(t, { ...closeOnCommand, closeTimeout: 30_000 });
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: 'close-me' }));
  const [f] = await client.waitFrames(1);
  assert.equal(f?.opcode, OP_CLOSE);
  assert.deepEqual(f?.payload, closeBody(4000, 'x'));
  assert.equal(client.tcpClosed, false, 'the server waits for our close frame');
  await client.write(cf({ opcode: OP_CLOSE, payload: closeBody(4000) }));
  const out = await client.waitClosed();
  assert.equal(out.tcpClosed, true);
  assert.equal(out.frames.length, 1, 'nothing more after the server close frame');
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 4000, reason: '', wasClean: true });
});

test('7.x server-initiated close: messages sent by the client before its close frame are not echoed', async (t) => {
  const echo = await startEcho(t, { ...closeOnCommand, closeTimeout: 30_000 });
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: 'close-me' }));
  await client.waitFrames(1);
  // RFC 6455 §5.5.1: after sending a close frame the endpoint sends no more data frames (a pong neither).
  await client.write([
    cf({ opcode: OP_TEXT, payload: 'late' }),
    cf({ opcode: OP_PING, payload: 'late' }),
    cf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
  ]);
  const out = await client.waitClosed();
  assert.equal(out.tcpClosed, true);
  assert.equal(out.frames.length, 1, describe(out.frames));
});

test('7.x server-initiated close never answered: dropped after closeTimeout, handler gets 1006, not clean', async (t) => {
  const echo = await startEcho(t, { ...closeOnCommand, closeTimeout: 200 });
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: 'close-me' }));
  const out = await client.waitClosed(5000);
  assert.equal(out.code, 4000);
  assert.equal(out.tcpClosed, true);
  const [c] = await echo.waitCloses(1);
  assert.deepEqual(c, { code: 1006, reason: '', wasClean: false });
});

test('7.x the client answers nothing after the close handshake (no FIN): the server drops it after closeTimeout', async (t) => {
  const echo = await startEcho(t, { closeTimeout: 400 });
  // allowHalfOpen: this client keeps its side open after the server's FIN, as a vanished or broken peer would.
  const socket = net.connect({ port: echo.port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => socket.destroy());
  let received = Buffer.alloc(0);
  let ended = false;
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
  });
  socket.on('end', () => {
    ended = true;
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(handshakeRequest(echo.port));
  for (let i = 0; i < 100 && received.indexOf('\r\n\r\n') < 0; i++) await delay(10);
  assert.ok(received.toString('latin1').startsWith('HTTP/1.1 101 '), 'handshake');
  socket.write(cf({ opcode: OP_CLOSE, payload: closeBody(1000) }));
  for (let i = 0; i < 100 && !ended; i++) await delay(10);
  assert.equal(ended, true, 'the server closed its side first (RFC 6455 §7.1.1)');
  // The sentinel: had the server dropped the connection on sending its FIN, it would have by the end of this.
  await ioRoundTrip();
  assert.equal(echo.closes.length, 0, 'the server still waits for our FIN');
  const [c] = await echo.waitCloses(1, 5000);
  assert.deepEqual(c, { code: 1000, reason: '', wasClean: true });
  assert.equal(echo.server.websockets.size, 0);
});
