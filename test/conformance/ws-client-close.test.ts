/**
 * Client conformance, Autobahn TestSuite section 7 (close handling, RFC 6455 §5.5.1, §7) against our `WebSocket`
 * client over loopback with a raw scripted server: a server close with each valid code is echoed, and the page's
 * CloseEvent carries the server's code and reason with wasClean true once the server closes TCP (an empty close:
 * 1005); the client never closes TCP first (§7.1.1) but gives up after `closeTimeout`; invalid close payloads fail
 * (1-byte body, codes that may not be sent, too long → 1002; reason not UTF-8 → 1007) with error + close 1006 on
 * the page; nothing is processed after a close; client-initiated closes (`ws.close()`) send what the standard
 * says and report the server's close frame.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { ioRoundTrip } from '../helpers/net.js';
import { closeBody } from '../helpers/ws-frames.js';
import { describe, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT } from '../helpers/ws-raw-client.js';
import {
  assertClientFrames,
  expectClientFail,
  expectServerClose,
  openClient,
  sf,
  startRawServer,
} from '../helpers/ws-raw-server.js';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

test('7.1.1 server close without payload: the echo is empty too, CloseEvent 1005, clean', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectServerClose(c, null);
});

test('7.1.2 a second close frame from the server is ignored', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.write([
    sf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
    sf({ opcode: OP_CLOSE, payload: closeBody(1001) }),
  ]);
  await c.conn.waitCloseFrame();
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.wasClean], [1000, true], c.events.summary());
  assertClientFrames(c.conn, [{ opcode: OP_CLOSE, payload: closeBody(1000) }]);
});

test('7.1.3/7.1.4 ping and text after the close are ignored (RFC 6455 §1.4: data after close is discarded)', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server);
  await c.conn.write([
    sf({ opcode: OP_TEXT, payload: 'before' }),
    sf({ opcode: OP_CLOSE, payload: closeBody(1000, 'done') }),
    sf({ opcode: OP_PING, payload: 'after' }),
    sf({ opcode: OP_TEXT, payload: 'after' }),
  ]);
  await c.conn.waitCloseFrame();
  // More data in a later write, too. Our FIN follows it: the client reads it before it sees the end of TCP.
  await c.conn.send({ opcode: OP_TEXT, payload: 'much later' }, { opcode: OP_PING, payload: 'later' });
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [1000, 'done', true], c.events.summary());
  assert.deepEqual(c.events.types(), ['open', 'message', 'close'], c.events.summary());
  assert.deepEqual(c.events.messages(), ['before']);
  // A pong would come before the client's FIN.
  assert.equal(await c.conn.waitClientEnd(), true);
  assertClientFrames(c.conn, [{ opcode: OP_CLOSE, payload: closeBody(1000) }]);
});

test('7.1.5 fragmented text, close, then the last fragment: the message never reaches the page', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.write([
    sf({ opcode: OP_TEXT, payload: 'fragment1', fin: false }),
    sf({ opcode: OP_CLOSE, payload: closeBody(1000) }),
    sf({ opcode: OP_CONT, payload: 'fragment2' }),
  ]);
  await c.conn.waitCloseFrame();
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.wasClean], [1000, true]);
  assert.deepEqual(c.events.types(), ['open', 'close'], c.events.summary());
  assertClientFrames(c.conn, [{ opcode: OP_CLOSE, payload: closeBody(1000) }]);
});

test('7.1.6 after the echo, readyState is CLOSING and the client waits for the server to close TCP', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_CLOSE, payload: closeBody(1000, 'done') });
  await c.conn.waitCloseFrame();
  // The sentinel: a FIN the client sent with (or right after) its echo has arrived by the end of this round trip.
  await ioRoundTrip();
  assert.equal(c.ws.readyState, c.ws.CLOSING);
  assert.equal(c.conn.clientEnded, false, 'RFC 6455 §7.1.1: the client must not close TCP first');
  assert.equal(c.events.closeEvent(), undefined, 'no close event before TCP is closed');
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [1000, 'done', true]);
  assert.equal(await c.conn.waitClientEnd(), true);
});

test('7.1.6 the server never closes TCP: the client closes it after closeTimeout, close as received', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server, { client: { closeTimeout: 300 } });
  await c.conn.send({ opcode: OP_CLOSE, payload: closeBody(4000, 'stay') });
  await c.conn.waitCloseFrame();
  assert.equal(await c.conn.waitClientEnd(), true, 'the client gives up after closeTimeout');
  assert.equal(c.conn.clientEndedFirst, true);
  const ev = await c.events.waitClose();
  // RFC 6455 §7.1.4: both close frames were exchanged before TCP closed: clean; §7.1.5: the code received.
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4000, 'stay', true], c.events.summary());
  assert.ok(!c.events.types().includes('error'));
});

test('7.1.6 after failing, the client also waits for the server to close TCP, then for closeTimeout', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server, { client: { closeTimeout: 300 } });
  await c.conn.send({ opcode: 5 });
  const close = await c.conn.waitCloseFrame();
  assert.equal(close.payload.readUInt16BE(0), 1002);
  assert.equal(c.conn.clientEnded, false, 'RFC 6455 §7.1.1: the failing client leaves the TCP close to the server');
  assert.equal(c.ws.readyState, c.ws.CLOSING);
  assert.equal(await c.conn.waitClientEnd(), true, 'the client gives up after closeTimeout');
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.wasClean], [1006, false]);
  assert.deepEqual(c.events.types(), ['open', 'error', 'close']);
});

test('7.3.1 the server drops TCP without a close frame: CloseEvent 1006, not clean', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_TEXT, payload: 'hi' });
  await c.events.waitMessages(1);
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [1006, '', false], c.events.summary());
  assert.deepEqual(c.conn.frames, [], 'nothing sent on a dropped connection');
});

test('7.3.2 close with a 1-byte payload → 1002', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_CLOSE, payload: Buffer.from([0x03]) }), 1002);
});

test('7.3.4 close with code and reason: the page gets both', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectServerClose(c, 1000, 'Hello World!');
});

test('7.3.5 close with a 123-byte (maximum) UTF-8 reason is accepted and reported whole', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const reason = `${'é'.repeat(61)}x`;
  assert.equal(Buffer.byteLength(reason), 123);
  await expectServerClose(c, 1000, reason);
});

test('7.3.6 close with a 124-byte reason (126-byte control payload) → 1002', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_CLOSE, payload: closeBody(1000, 'x'.repeat(124)) }), 1002);
});

for (const code of VALID_CODES) {
  test(`7.7 server close code ${code}: echoed, CloseEvent ${code} with the reason, clean`, async (t) => {
    const server = await startRawServer(t);
    const c = await openClient(t, server);
    await expectServerClose(c, code, `bye ${code} κόσμε`);
  });
}

for (const code of INVALID_CODES) {
  test(`7.9 invalid close code ${code} → 1002`, async (t) => {
    const server = await startRawServer(t);
    const c = await openClient(t, server);
    await expectClientFail(c, sf({ opcode: OP_CLOSE, payload: closeBody(code, 'bad') }), 1002);
  });
}

test('7.5.1 close reason that is not UTF-8 → 1007', async (t) => {
  const server = await startRawServer(t);
  for (const reason of [
    Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex'),
    Buffer.from([0xff]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xe2, 0x82]), // truncated
  ]) {
    const c = await openClient(t, server);
    await expectClientFail(c, sf({ opcode: OP_CLOSE, payload: closeBody(1000, reason) }), 1007);
  }
});

test('7.x close frame written one byte per read is echoed', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.write(sf({ opcode: OP_CLOSE, payload: closeBody(4000, 'slow') }), { chunkSize: 1, gapMs: 0 });
  const close = await c.conn.waitCloseFrame();
  assert.equal(close.payload.readUInt16BE(0), 4000);
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4000, 'slow', true]);
});

test('7.x a close frame between fragments of a message: echoed, the message dropped', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_TEXT, payload: 'part', fin: false });
  // The client has read the fragment on its own before the close frame comes.
  await ioRoundTrip();
  await expectServerClose(c, 1001, 'going away');
  assert.deepEqual(c.events.messages(), []);
});

// ── Client-initiated close ─────────────────────────────────────────────────────────────────────────────────

test('7.x ws.close(code, reason): the frame carries them; CloseEvent has the server code, clean', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server);
  c.ws.close(4001, 'client bye');
  assert.equal(c.ws.readyState, c.ws.CLOSING);
  const close = await c.conn.waitCloseFrame();
  assert.deepEqual(close.payload, closeBody(4001, 'client bye'));
  // RFC 6455 §7.1.5: the close code is the one in the close frame received.
  await c.conn.send({ opcode: OP_CLOSE, payload: closeBody(4002, 'server bye') });
  // The sentinel: a FIN the client sent on reading our close frame has arrived by the end of this round trip.
  await ioRoundTrip();
  assert.equal(c.ws.readyState, c.ws.CLOSING);
  assert.equal(c.conn.clientEnded, false, 'RFC 6455 §7.1.1: the client waits for the server to close TCP');
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4002, 'server bye', true], c.events.summary());
  assertClientFrames(c.conn, [{ opcode: OP_CLOSE, payload: closeBody(4001, 'client bye') }]);
});

test('7.x ws.close() sends an empty close; a reason without a code is sent with 1000 (WHATWG)', async (t) => {
  const server = await startRawServer(t, { echoClose: true });
  const a = await openClient(t, server);
  a.ws.close();
  const ea = await a.events.waitClose();
  assert.deepEqual([ea.code, ea.wasClean], [1005, true], a.events.summary());
  assertClientFrames(a.conn, [{ opcode: OP_CLOSE, payload: '' }]);
  const b = await openClient(t, server);
  b.ws.close(undefined, 'only a reason');
  const eb = await b.events.waitClose();
  assert.deepEqual([eb.code, eb.wasClean], [1000, true], b.events.summary());
  assertClientFrames(b.conn, [{ opcode: OP_CLOSE, payload: closeBody(1000, 'only a reason') }]);
});

test('7.x after ws.close(), messages from the server are still delivered until its close frame', async (t) => {
  // RFC 6455 §7.1.2: after sending a close, an endpoint keeps reading until the peer's close frame.
  // WHATWG: but the page only gets message events while OPEN: none after close() (readyState CLOSING).
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server);
  c.ws.close(1000);
  await c.conn.waitCloseFrame();
  await c.conn.send(
    { opcode: OP_TEXT, payload: 'late' },
    { opcode: OP_PING, payload: 'late ping' },
    { opcode: OP_CLOSE, payload: closeBody(1000) },
  );
  // Our FIN follows these frames: the client reads them before it sees the end of TCP.
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.wasClean], [1000, true], c.events.summary());
  assert.deepEqual(c.events.messages(), [], 'no message event once CLOSING');
  // A pong would come before the client's FIN.
  assert.equal(await c.conn.waitClientEnd(), true);
  // RFC 6455 §5.5.1: no data frame may follow our close frame. (A pong may: §5.5.2 only exempts pings that come
  // after the peer's close; ours stays silent, which this test allows but does not require.)
  const after = c.conn.frames.slice(1);
  assert.ok(
    after.every((f) => f.opcode === OP_PONG && f.payload.toString() === 'late ping'),
    `only a pong may follow the close frame: ${describe(c.conn.frames)}`,
  );
  assertClientFrames(c.conn, [
    { opcode: OP_CLOSE, payload: closeBody(1000) },
    ...after.map(() => ({ opcode: OP_PONG, payload: 'late ping' })),
  ]);
});

test('7.x ws.close() never answered: after closeTimeout the client closes TCP, CloseEvent 1006, not clean', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server, { client: { closeTimeout: 300 } });
  c.ws.close(1000, 'bye');
  await c.conn.waitCloseFrame();
  assert.equal(await c.conn.waitClientEnd(), true, 'the client gives up after closeTimeout');
  const ev = await c.events.waitClose();
  // RFC 6455 §7.1.5: no close frame received → 1006.
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [1006, '', false], c.events.summary());
});

test('7.x the server sends its close and closes TCP at once: echo attempted, CloseEvent with its code', async (t) => {
  const server = await startRawServer(t, { autoClose: false });
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_CLOSE, payload: closeBody(1001, 'restart') });
  c.conn.end();
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.reason], [1001, 'restart'], c.events.summary());
  assert.ok(!c.events.types().includes('error'), c.events.summary());
  await c.conn.waitCloseFrame();
  assertClientFrames(c.conn, [{ opcode: OP_CLOSE, payload: closeBody(1001) }]);
});

test('7.x ws.close() inside a message listener: later messages of the same read are not delivered', async (t) => {
  // WHATWG: a message is only fired while readyState is OPEN; close() makes it CLOSING at once.
  const server = await startRawServer(t, { echoClose: true });
  const c = await openClient(t, server);
  c.ws.addEventListener('message', () => c.ws.close(4000));
  await c.conn.send(
    { opcode: OP_TEXT, payload: 'first' },
    { opcode: OP_TEXT, payload: 'second' },
    { opcode: OP_PING, payload: 'p' },
  );
  const ev = await c.events.waitClose();
  assert.deepEqual([ev.code, ev.wasClean], [4000, true], c.events.summary());
  assert.deepEqual(c.events.messages(), ['first']);
  assert.equal(c.conn.closeFrame()?.payload.readUInt16BE(0), 4000);
});

test('7.x ws.close() with a lone surrogate in the reason sends valid UTF-8 (USVString: U+FFFD)', async (t) => {
  const server = await startRawServer(t, { echoClose: true });
  const c = await openClient(t, server);
  c.ws.close(1000, 'a\uD800b');
  await c.events.waitClose();
  assertClientFrames(c.conn, [{ opcode: OP_CLOSE, payload: closeBody(1000, Buffer.from('61efbfbd62', 'hex')) }]);
});
