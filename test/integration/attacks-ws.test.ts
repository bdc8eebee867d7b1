/**
 * Known attacks on a WebSocket server (issue 15 §3), each over real loopback sockets against a real sockeye
 * server, each with the answer it must get: the close code (or status), the attacking connection ending (or, for
 * policy drop, held), and a well-behaved client on the same server echoed during and after the attack. Where the
 * attack is about memory, the server runs in a child process (test/fixtures/attacks/) with default limits, and
 * its peak RSS must stay far below what the attack would cost an unbounded server. No timing thresholds.
 * docs/attacks.md lists them all.
 *
 * - 1,000,000 one-byte continuation frames: 1008 at maxFragments, memory bounded;
 * - a ping flood from a peer that never reads: 1008 at maxBackpressure (policy close), memory bounded; policy
 *   drop: reading stops until the peer reads, then every ping is answered and the connection goes on;
 * - a compression bomb (1 GiB of zeros in a 1 MiB message): 1009 at maxPayload, memory bounded;
 * - `Sec-WebSocket-Extensions` with thousands of offers: 101 with the one offer agreed (or none acceptable);
 *   over the header section limit or the field count: 431.
 * Covered elsewhere: a half-open (SIGSTOPed) peer, socket-life-dead-peers.test.ts; a zero-window peer (never reads
 * while the server sends), socket-life-backpressure.test.ts ('policy close: a slow consumer is failed...').
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type TestContext, test } from 'node:test';
import type WebSocket from 'ws';
import { SEND_DROPPED, type ServerWebSocket } from '../../src/index.js';
import { MiB, memoryOf, peakGrowthMiB } from '../fixtures/attacks/attacks.js';
import { connectHttp, firstStatus } from '../helpers/attack-peers.js';
import { connectDeflate, zeroBomb } from '../helpers/deflate-peer.js';
import { startServer } from '../helpers/net.js';
import { forkServer, openWs, waitFor, within } from '../helpers/slow-peers.js';
import { frame } from '../helpers/ws-frames.js';
import {
  connectRaw,
  handshakeRequest,
  OP_BINARY,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  type RawWsClient,
} from '../helpers/ws-raw-client.js';

const ATTACK_SERVER = new URL('../fixtures/attacks/attack-server.js', import.meta.url);

/** Sends `text` on a well-behaved client and waits (bounded) for its echo. */
function echoOnce(ws: WebSocket, text: string): Promise<void> {
  const got = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  ws.send(text);
  return within(got, 10_000, `the echo of ${text}`).then((echo) => assert.equal(echo, text));
}

/** Resolves once a raw client's socket drained or closed (bounded). */
function drainOrClose(c: RawWsClient, ms: number): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const done = () => {
        c.socket.off('drain', done);
        c.socket.off('close', done);
        resolve();
      };
      c.socket.on('drain', done);
      c.socket.on('close', done);
    }),
    Math.max(ms, 0),
    'the attacking socket to drain or close',
  );
}

/** Raw clients destroyed when the test ends. */
function track(t: TestContext): RawWsClient[] {
  const clients: RawWsClient[] = [];
  t.after(() => {
    for (const c of clients) c.destroy();
  });
  return clients;
}

/** The child's `ws-closed` report for `path` (bounded). */
async function serverClose(server: Awaited<ReturnType<typeof forkServer>>, path: string) {
  await waitFor(
    () => server.messages.some((m) => m.type === 'ws-closed' && m.path === path),
    10_000,
    `the server's close of ${path}`,
  );
  return server.messages.find((m) => m.type === 'ws-closed' && m.path === path) as unknown as {
    code: number;
    cause: string;
  };
}

// ── 6. tiny fragments ────────────────────────────────────────────────────────────────────────────────────────

test('1,000,000 one-byte continuation frames → 1008 at maxFragments, closed; peak RSS bounded; others echo', async (t) => {
  const clients = track(t);
  const server = await forkServer(t, ATTACK_SERVER, []);
  const port = (await server.next('ready')).port as number;
  const other = await openWs(t, `ws://127.0.0.1:${port}/other`);
  await echoOnce(other, 'before');
  const before = await memoryOf(server);

  const attacker = await connectRaw(port, { path: '/fragments' }, clients);
  const n = 1_000_000;
  const cont = frame({ opcode: OP_CONT, payload: 'a', fin: false });
  const frames = new Array<Buffer>(n).fill(cont);
  frames[0] = frame({ opcode: OP_TEXT, payload: 'a', fin: false });
  frames[n - 1] = frame({ opcode: OP_CONT, payload: 'a', fin: true });
  // 7 MB at once: the server stops reading at the frame past maxFragments; the kernel holds the rest.
  attacker.socket.write(Buffer.concat(frames));
  const during = echoOnce(other, 'during');
  const out = await attacker.waitClosed(20_000);
  assert.equal(out.code, 1008, 'RFC 6455 §7.4.1: 1008, a message that violates the policy');
  assert.ok(out.tcpClosed);
  const closed = await serverClose(server, '/fragments');
  assert.deepEqual([closed.code, closed.cause], [1008, 'protocol-error']);
  await during;
  await echoOnce(other, 'after');
  const after = await memoryOf(server);
  t.diagnostic(`peak RSS +${peakGrowthMiB(before, after)} MiB`);
  assert.ok(after.maxRss - before.maxRss < 64 * MiB, `peak RSS grew by ${peakGrowthMiB(before, after)} MiB`);
  other.close();
  await server.ask('close');
});

// ── 7. ping flood ────────────────────────────────────────────────────────────────────────────────────────────

/** 1,000 pings of 125 bytes (131 KB); their pongs are 127 KB. */
const PINGS = Buffer.concat(new Array<Buffer>(1000).fill(frame({ opcode: OP_PING, payload: Buffer.alloc(125, 0x70) })));

test('ping flood, never read (policy close): 1008 at maxBackpressure, the attacker cut off; peak RSS bounded; others echo', async (t) => {
  const clients = track(t);
  const server = await forkServer(t, ATTACK_SERVER, []);
  const port = (await server.next('ready')).port as number;
  const other = await openWs(t, `ws://127.0.0.1:${port}/other`);
  await echoOnce(other, 'before');
  const before = await memoryOf(server);

  const attacker = await connectRaw(port, { path: '/pings' }, clients);
  attacker.socket.pause();
  // Up to 2,000 batches (2,000,000 pings, whose pongs would be 254 MB), each written once the previous one was
  // taken, until the connection ends (the server stops reading it, then drops it after closeTimeout).
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 2000 && !attacker.tcpClosed && Date.now() < deadline; i++) {
    if (!attacker.socket.write(PINGS)) await drainOrClose(attacker, deadline - Date.now());
  }
  const closed = await serverClose(server, '/pings');
  assert.deepEqual([closed.code, closed.cause], [1008, 'backpressure']);
  await echoOnce(other, 'during');
  // The attacker, reading at last, finds pongs and then the 1008, or a dropped connection.
  attacker.socket.resume();
  const out = await attacker.waitClosed(10_000);
  assert.ok(out.tcpClosed, 'the attacking connection ended');
  assert.ok(
    out.frames.every((f) => f.opcode === OP_PONG || f.opcode === OP_CLOSE),
    'only pongs (and a close)',
  );
  if (out.code !== null) assert.equal(out.code, 1008);
  t.diagnostic(`the attacker read ${out.frames.length} frames; close frame: ${out.code ?? 'none (dropped)'}`);
  const after = await memoryOf(server);
  t.diagnostic(`peak RSS +${peakGrowthMiB(before, after)} MiB`);
  assert.ok(after.maxRss - before.maxRss < 64 * MiB, `peak RSS grew by ${peakGrowthMiB(before, after)} MiB`);
  const stats = (await server.ask('stats')).stats as { websocket: { backpressureCloses: number } };
  assert.equal(stats.websocket.backpressureCloses, 1);
  await echoOnce(other, 'after');
  other.close();
  await server.ask('close');
});

test('ping flood, never read (policy drop): reading stops near maxBackpressure; once read, every ping is answered', async (t) => {
  const clients = track(t);
  let attacked: ServerWebSocket | null = null;
  const server = await startServer(t, {
    websocket: {
      backpressurePolicy: 'drop',
      open(ws) {
        if (ws.path === '/pings') attacked = ws;
      },
      message(ws, m, isBinary) {
        ws.send(m, isBinary);
      },
    },
  });
  const other = await openWs(t, `ws://127.0.0.1:${server.port}/other`);
  const attacker = await connectRaw(server.port, { path: '/pings' }, clients);
  attacker.socket.pause();
  // 200,000 pings (26 MB) handed to the client's socket at once: the kernel takes what the server reads.
  const batches = 200;
  for (let i = 0; i < batches; i++) attacker.socket.write(PINGS);
  // The server reads until the pongs pass maxBackpressure (1 MiB), then stops: the pings it has seen settle.
  const pingsIn = () => server.stats().websocket.framesIn.ping ?? 0;
  let last = -1;
  for (let i = 0; i < 100 && pingsIn() !== last; i++) {
    last = pingsIn();
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(pingsIn(), last, 'the pings read settled');
  assert.ok(last < batches * 1000, `reading stopped: ${last} of ${batches * 1000} pings read`);
  const ws = attacked as ServerWebSocket | null;
  assert.ok(ws !== null && ws.readyState === 1, 'the attacked connection stays open (policy drop)');
  assert.ok(ws.bufferedAmount < 2 * MiB, `queued for the attacker: ${ws.bufferedAmount} bytes`);
  assert.equal(ws.send('dropped'), SEND_DROPPED, 'messages past the limit are dropped, as the policy says');
  await echoOnce(other, 'during');

  // The attacker reads: the server reads on, and every ping gets its pong; then the connection still echoes.
  attacker.socket.resume();
  let pongs = 0;
  let looked = 0;
  const countPongs = (): boolean => {
    const frames = attacker.frames;
    for (; looked < frames.length; looked++) if (frames[looked]?.opcode === OP_PONG) pongs++;
    return pongs >= batches * 1000;
  };
  await attacker.waitUntil(countPongs, 30_000);
  assert.equal(pongs, batches * 1000, 'every ping answered once the peer reads');
  const seen = attacker.frames.length;
  await attacker.write(frame({ opcode: OP_TEXT, payload: 'still here' }));
  await attacker.waitFrames(seen + 1);
  const echo = attacker.frames[seen];
  assert.deepEqual([echo?.opcode, echo?.payload.toString()], [OP_TEXT, 'still here']);
  assert.equal(server.stats().websocket.backpressureCloses, 0);
  await echoOnce(other, 'after');
});

// ── 8. compression bomb ──────────────────────────────────────────────────────────────────────────────────────

test('compression bomb: 1 GiB of zeros in a 1 MiB message → 1009 at maxPayload (64 MiB), closed; peak RSS bounded; others echo', async (t) => {
  const clients = track(t);
  const server = await forkServer(t, ATTACK_SERVER, []);
  const port = (await server.next('ready')).port as number;
  const other = await openWs(t, `ws://127.0.0.1:${port}/other`);
  await echoOnce(other, 'before');
  const bomber = await connectDeflate(port, undefined, clients, { path: '/bomb' });
  assert.ok(bomber.agreed !== null, 'permessage-deflate agreed');
  const bomb = zeroBomb(1024);
  assert.ok(bomb.length < 1.5 * MiB, `the bomb is ${bomb.length} bytes`);
  const before = await memoryOf(server);

  await bomber.client.write(frame({ opcode: OP_BINARY, payload: bomb, rsv1: true }));
  const during = echoOnce(other, 'during');
  const out = await bomber.client.waitClosed(30_000);
  assert.equal(out.code, 1009, 'RFC 6455 §7.4.1: 1009, a message too big to process');
  assert.ok(out.tcpClosed);
  const closed = await serverClose(server, '/bomb');
  assert.deepEqual([closed.code, closed.cause], [1009, 'protocol-error']);
  await during;
  await echoOnce(other, 'after');
  const after = await memoryOf(server);
  t.diagnostic(`peak RSS +${peakGrowthMiB(before, after)} MiB`);
  // maxPayload of inflated bytes is what the server may hold for a message: 64 MiB by default, not 1 GiB.
  assert.ok(after.maxRss - before.maxRss < 200 * MiB, `peak RSS grew by ${peakGrowthMiB(before, after)} MiB`);
  other.close();
  await server.ask('close');
});

// ── 9. Sec-WebSocket-Extensions with thousands of offers ─────────────────────────────────────────────────────

test('Sec-WebSocket-Extensions with 5,000 offers (15 KB): 101 with the one acceptable offer agreed', async (t) => {
  const clients = track(t);
  const server = await startServer(t, {
    websocket: { perMessageDeflate: true, message: (ws, m, b) => void ws.send(m, b) },
  });
  const other = await openWs(t, `ws://127.0.0.1:${server.port}/other`);
  // 4,999 unknown extensions, then permessage-deflate.
  const dc = await connectDeflate(
    server.port,
    `${'x, '.repeat(4999)}permessage-deflate; client_max_window_bits`,
    clients,
  );
  assert.ok(dc.agreed !== null, 'permessage-deflate agreed (parseDeflateAnswer checks there is one element)');
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'hello' }));
  const [echo] = await dc.client.waitFrames(1);
  assert.equal(echo?.payload.toString(), 'hello');
  // 600 permessage-deflate offers, each with a parameter it does not define (RFC 7692 §7: declined): 101 without.
  const none = await connectDeflate(server.port, 'permessage-deflate; x, '.repeat(600).slice(0, -2), clients);
  assert.equal(none.agreed, null);
  assert.equal(none.client.response.headers.get('sec-websocket-extensions'), undefined);
  await echoOnce(other, 'after');
});

test('Sec-WebSocket-Extensions past the header limits: 431 (20 KB of offers, while still sent; 150 field lines)', async (t) => {
  const server = await startServer(t, {
    websocket: { perMessageDeflate: true, message: (ws, m, b) => void ws.send(m, b) },
  });
  const other = await openWs(t, `ws://127.0.0.1:${server.port}/other`);
  // 20 KB of offers, written 1 KB per loop turn.
  const big = handshakeRequest(server.port, { headers: [`Sec-WebSocket-Extensions: ${'x, '.repeat(6666)}y`] });
  const attacker = await connectHttp(t, server.port);
  const pieces = await attacker.writeUntilAnswered(Math.ceil(big.length / 1024), (i) =>
    big.slice(i * 1024, (i + 1) * 1024),
  );
  const text = await attacker.closedText();
  assert.equal(firstStatus(text), 431, text.slice(0, 120));
  assert.ok(pieces * 1024 < big.length, `answered after ${pieces} of ${Math.ceil(big.length / 1024)} KB`);
  const many = handshakeRequest(server.port, {
    headers: Array.from({ length: 150 }, () => 'Sec-WebSocket-Extensions: permessage-deflate'),
  });
  const attacker2 = await connectHttp(t, server.port);
  attacker2.socket.write(many);
  const text2 = await attacker2.closedText();
  assert.equal(firstStatus(text2), 431, text2.slice(0, 120));
  assert.equal(server.stats().http.errors.ERR_HTTP_HEADERS_TOO_LARGE, 1);
  assert.equal(server.stats().http.errors.ERR_HTTP_TOO_MANY_HEADERS, 1);
  await echoOnce(other, 'after');
});
