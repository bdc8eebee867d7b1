/**
 * The node:http bridge (`websocketHandler().handleUpgrade` on a plain node:http server's 'upgrade' event) over real
 * loopback sockets, with the `ws` client and raw clients: echo with the `upgrade` hook's subprotocol and data,
 * permessage-deflate, frames sent with the handshake (`head`, also while an async hook decides), refusals (bad key 400, version 426, missing Host
 * 400, the hook's own status and body, async hook 403, 503 after close) with node:http still serving other requests,
 * maxPayload (1009), a slow consumer cut off at maxBackpressure (1008), the idle ping on the coarse clock, topics,
 * stats and onConnectionEnd, and `close()` (1001 to every client, counts). node:https: wss:// through the bridge.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import WebSocket from 'ws';
import { type ConnectionEndInfo, OPEN, websocketHandler } from '../../src/index.js';
import { startHttpBridge } from '../helpers/bridge.js';
import { makeCertificate } from '../helpers/certificate.js';
import { ioRoundTrip } from '../helpers/net.js';
import { closeOf, openWs, waitFor, within } from '../helpers/slow-peers.js';
import { closeBody, frame } from '../helpers/ws-frames.js';
import {
  connectRaw,
  handshakeRequest,
  OP_CLOSE,
  OP_PING,
  OP_TEXT,
  randomMask,
  requestHead,
} from '../helpers/ws-raw-client.js';

const MiB = 1024 * 1024;

/** The next message a `ws` client receives (bounded). */
function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return within(
    new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }))),
    5000,
    'a message',
  );
}

test('node:http + bridge: the upgrade hook sees the request, picks the subprotocol and data; echo both ways', async (t) => {
  const closes: { code: number; reason: string; wasClean: boolean }[] = [];
  const seen: { path: string; query: string; user: string | undefined; protocols: string[]; origin?: string }[] = [];
  const { port, httpServer } = await startHttpBridge<{ user: string }>(t, {
    upgrade(req, ctx) {
      seen.push({
        path: req.path,
        query: req.query,
        user: req.cookies.user,
        protocols: ctx.protocols,
        ...(ctx.origin === undefined ? {} : { origin: ctx.origin }),
      });
      return { protocol: 'chat.v2', data: { user: req.cookies.user ?? 'anon' } };
    },
    open(ws) {
      ws.send(`hello ${ws.data.user} on ${ws.path}`);
    },
    message(ws, message, isBinary) {
      ws.send(message, isBinary);
    },
    close(_ws, code, reason, wasClean) {
      closes.push({ code, reason, wasClean });
    },
  });
  // node:http still answers plain requests on the same port.
  const plain = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(await plain.text(), 'plain HTTP from node:http\n');

  const ws = new WebSocket(`ws://127.0.0.1:${port}/room/7?x=1`, ['chat.v1', 'chat.v2'], {
    headers: { cookie: 'user=ada', origin: 'http://example.test' },
  });
  t.after(() => ws.terminate());
  const greeting = nextMessage(ws);
  await within(new Promise((r) => ws.once('open', r)), 5000, 'open');
  assert.equal(ws.protocol, 'chat.v2');
  assert.equal((await greeting).data.toString(), 'hello ada on /room/7');
  assert.deepEqual(seen, [
    { path: '/room/7', query: 'x=1', user: 'ada', protocols: ['chat.v1', 'chat.v2'], origin: 'http://example.test' },
  ]);

  const text = nextMessage(ws);
  ws.send('héllo 😀');
  assert.deepEqual(await text, { data: Buffer.from('héllo 😀'), isBinary: false });
  const big = Buffer.alloc(3 * MiB, 0xab);
  const bin = nextMessage(ws);
  ws.send(big);
  const echoed = await bin;
  assert.equal(echoed.isBinary, true);
  assert.ok(echoed.data.equals(big), 'a 3 MiB binary message comes back intact');

  ws.close(4000, 'bye');
  assert.equal((await closeOf(ws)).code, 4000);
  await waitFor(() => closes.length === 1, 5000, 'the close handler');
  assert.deepEqual(closes, [{ code: 4000, reason: 'bye', wasClean: true }]);
  assert.ok(httpServer.listening);
});

test('node:http + bridge: permessage-deflate is negotiated with the ws client and messages round-trip compressed', async (t) => {
  const { port, wss } = await startHttpBridge(t, {
    perMessageDeflate: true,
    message: (ws, message, isBinary) => void ws.send(message, isBinary),
  });
  const ws = await openWs(t, `ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
  assert.match(ws.extensions, /^permessage-deflate/);
  const text = 'compress me '.repeat(2000);
  const reply = nextMessage(ws);
  ws.send(text);
  assert.equal((await reply).data.toString(), text);
  const stats = wss.stats();
  assert.equal(stats.websocket.deflateNegotiated, 1);
  assert.ok(stats.deflate !== null, 'deflate stats are reported when it is enabled');
  // The wire carried less than the text: it was compressed both ways.
  assert.ok(stats.websocket.bytesIn < text.length, `bytes in ${stats.websocket.bytesIn}`);
});

test('node:http + bridge: frames sent in the same write as the handshake (node:http `head`) are the first messages', async (t) => {
  const { port } = await startHttpBridge(t, { message: (ws, message, isBinary) => void ws.send(message, isBinary) });
  const first = frame({ opcode: OP_TEXT, payload: Buffer.from('early-1'), mask: randomMask() });
  const second = frame({ opcode: OP_TEXT, payload: Buffer.from('early-2'), mask: randomMask() });
  const client = await connectRaw(port, { head: Buffer.concat([first, second]) });
  t.after(() => client.destroy());
  const frames = await client.waitFrames(2);
  assert.deepEqual(
    frames.map((f) => f.payload.toString()),
    ['early-1', 'early-2'],
  );
});

test('node:http + bridge: an async upgrade hook; frames sent with the handshake wait for it and come first', async (t) => {
  const order: string[] = [];
  const { port } = await startHttpBridge<{ room: string }>(t, {
    async upgrade(req) {
      // The decision takes a few turns of the event loop (a session lookup, say) while the early frames are read.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('decided');
      return { data: { room: req.searchParams.get('room') ?? '' } };
    },
    open(ws) {
      order.push('open');
      ws.send(`room ${ws.data.room}`);
    },
    message(ws, message) {
      order.push(`message ${String(message)}`);
      ws.send(message);
    },
  });
  const early = frame({ opcode: OP_TEXT, payload: Buffer.from('early'), mask: randomMask() });
  const client = await connectRaw(port, { path: '/?room=42', head: early });
  t.after(() => client.destroy());
  const frames = await client.waitFrames(2);
  assert.deepEqual(
    frames.map((f) => f.payload.toString()),
    ['room 42', 'early'],
  );
  assert.deepEqual(order, ['decided', 'open', 'message early']);
});

test('node:http + bridge: bad handshakes get their status and only that connection ends', async (t) => {
  const ends: string[] = [];
  const { port, wss } = await startHttpBridge(t, {
    upgrade(req, ctx) {
      if (req.path === '/private') return ctx.reject(401, 'log in first\n', [['WWW-Authenticate', 'Bearer']]);
      if (req.path === '/slow-no') return Promise.resolve(false);
      return undefined;
    },
    message: (ws, message) => void ws.send(message),
    close: (_ws, code) => ends.push(String(code)),
  });
  // A connection that is open throughout: refusals elsewhere do not touch it.
  const bystander = await openWs(t, `ws://127.0.0.1:${port}/`);

  const badKey = await requestHead(port, handshakeRequest(port, { key: 'not-a-key' }));
  assert.equal(badKey.response.status, 400);
  assert.match(badKey.text, /Sec-WebSocket-Key/i);
  assert.equal(badKey.closed, true);

  const version = await requestHead(
    port,
    handshakeRequest(port).replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8'),
  );
  assert.equal(version.response.status, 426);
  assert.equal(version.response.headers.get('sec-websocket-version'), '13');

  // RFC 9112 §3.2: the same Host rule as serve(): an HTTP/1.1 request without Host is refused with 400.
  const noHost = await requestHead(port, handshakeRequest(port).replace(/Host: [^\r]*\r\n/, ''));
  assert.equal(noHost.response.status, 400);
  assert.match(noHost.text, /Missing Host header/);

  const hook = await requestHead(port, handshakeRequest(port, { path: '/private' }));
  assert.equal(hook.response.status, 401);
  assert.equal(hook.response.headers.get('www-authenticate'), 'Bearer');
  assert.match(hook.text, /\r\n\r\nlog in first\n$/);

  const asyncNo = await requestHead(port, handshakeRequest(port, { path: '/slow-no' }));
  assert.equal(asyncNo.response.status, 403);

  const stats = wss.stats();
  assert.equal(stats.websocket.rejected, 5);
  assert.equal(stats.websocket.accepted, 1);
  const reply = nextMessage(bystander);
  bystander.send('still here');
  assert.equal((await reply).data.toString(), 'still here');
  assert.deepEqual(ends, []);
});

test('node:http + bridge: a message over maxPayload fails the connection with 1009', async (t) => {
  const { port, wss } = await startHttpBridge(t, { maxPayload: 1024, message: (ws, m) => void ws.send(m) });
  const client = await connectRaw(port);
  t.after(() => client.destroy());
  await client.write(frame({ opcode: OP_TEXT, payload: Buffer.alloc(2048, 0x61), mask: randomMask() }));
  const out = await client.waitClosed();
  assert.equal(out.code, 1009);
  assert.equal(out.tcpClosed, true);
  await waitFor(() => wss.websockets.size === 0, 5000, 'the connection to end');
  assert.equal(wss.stats().websocket.ends['protocol-error'], 1);
});

test('node:http + bridge: a consumer that stops reading is cut off at maxBackpressure (1008), others unaffected', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const causes: string[] = [];
  let sendsBeforeCut = 0;
  const { port, wss } = await startHttpBridge(t, {
    maxBackpressure: 256 * 1024,
    // The close frame cannot reach a peer that does not read: do not wait the default 5 s for it.
    closeTimeout: 300,
    message(ws, message) {
      if (message !== 'flood') {
        ws.send(message);
        return;
      }
      // Bounded: 64 MiB at most; the kernel buffers take a few MiB, then the limit is reached.
      for (let i = 0; i < 1024 && ws.readyState === OPEN; i++) {
        ws.send(chunk);
        sendsBeforeCut = i + 1;
      }
    },
    close: (_ws, _code, _reason, _clean, info) => causes.push(info.cause),
  });
  const other = await openWs(t, `ws://127.0.0.1:${port}/`);
  const slow = await connectRaw(port);
  t.after(() => slow.destroy());
  slow.socket.pause();
  await slow.write(frame({ opcode: OP_TEXT, payload: Buffer.from('flood'), mask: randomMask() }));
  await waitFor(() => causes.length === 1, 10_000, 'the slow consumer to be cut off');
  assert.deepEqual(causes, ['backpressure']);
  assert.ok(sendsBeforeCut < 1024, `cut off after ${sendsBeforeCut} sends, before the loop ended`);
  const stats = wss.stats();
  assert.equal(stats.websocket.backpressureCloses, 1);
  assert.equal(stats.websocket.ends.backpressure, 1);

  slow.socket.resume();
  const out = await slow.waitClosed(10_000);
  assert.equal(out.tcpClosed, true);
  if (out.code !== null) assert.equal(out.code, 1008);
  const reply = nextMessage(other);
  other.send('fine');
  assert.equal((await reply).data.toString(), 'fine');
});

test('node:http + bridge: a silent peer is pinged after idleTimeout (the coarse clock runs for the bridge)', async (t) => {
  const { port } = await startHttpBridge(t, { idleTimeout: 1, pongTimeout: 30 });
  const client = await connectRaw(port);
  t.after(() => client.destroy());
  const [ping] = await client.waitFrames(1, 5000);
  assert.equal(ping?.opcode, OP_PING);
});

test('node:http + bridge: topics, stats and onConnectionEnd', async (t) => {
  const ends: ConnectionEndInfo[] = [];
  const { port, wss } = await startHttpBridge(t, {
    open: (ws) => ws.subscribe('room'),
    message: (ws, message) => void ws.publish('room', message),
    onConnectionEnd: (info) => ends.push(info),
  });
  const a = await openWs(t, `ws://127.0.0.1:${port}/`);
  const b = await openWs(t, `ws://127.0.0.1:${port}/`);
  await waitFor(() => wss.subscriberCount('room') === 2, 5000, 'two subscribers');
  const toA = nextMessage(a);
  const toB = nextMessage(b);
  assert.deepEqual(wss.publish('room', 'from the server'), { sent: 2, queued: 0, dropped: 0 });
  assert.equal((await toA).data.toString(), 'from the server');
  assert.equal((await toB).data.toString(), 'from the server');
  const relayed = nextMessage(b);
  a.send('from a');
  assert.equal((await relayed).data.toString(), 'from a');

  const st = wss.stats();
  assert.equal(st.connections.wsOpen, 2);
  assert.equal(st.websocket.accepted, 2);
  assert.equal(st.websocket.messagesIn, 1);

  a.close(1000, 'done');
  await closeOf(a);
  await waitFor(() => ends.length === 1, 5000, 'onConnectionEnd');
  const [end] = ends;
  assert.equal(end?.kind, 'websocket');
  assert.equal(end?.code, 1000);
  assert.equal(end?.cause, 'peer-close');
  assert.equal(end?.remoteAddress, '127.0.0.1');
  assert.equal(wss.subscriberCount('room'), 1);
});

test('node:http + bridge: close() sends 1001 to every client, resolves with the counts, then refuses upgrades (503)', async (t) => {
  const { port, wss, httpServer } = await startHttpBridge(t, { message: (ws, m) => void ws.send(m) });
  const a = await openWs(t, `ws://127.0.0.1:${port}/`);
  const b = await openWs(t, `ws://127.0.0.1:${port}/`);
  const closes = [closeOf(a), closeOf(b)];
  const result = await within(wss.close({ deadline: 2000 }), 5000, 'close()');
  assert.deepEqual(result, { closed: 2, terminated: 0 });
  for (const c of await Promise.all(closes)) assert.deepEqual(c, { code: 1001, reason: 'Server shutting down' });
  assert.equal(wss.websockets.size, 0);

  const after = await requestHead(port, handshakeRequest(port));
  assert.equal(after.response.status, 503);
  assert.ok(httpServer.listening, 'the HTTP server is the application’s to close');
});

test('node:http + bridge: a peer that closes gets its close echoed and the TCP close', async (t) => {
  const { port, wss } = await startHttpBridge(t, {});
  const client = await connectRaw(port);
  t.after(() => client.destroy());
  await client.write(frame({ opcode: OP_CLOSE, payload: closeBody(1000, 'bye'), mask: randomMask() }));
  const out = await client.waitClosed();
  assert.equal(out.code, 1000);
  assert.equal(out.tcpClosed, true);
  await ioRoundTrip();
  assert.equal(wss.websockets.size, 0);
});

test('handleUpgrade() refuses a socket that is not a net.Socket with a TypeError', async () => {
  const wss = websocketHandler({});
  try {
    // biome-ignore lint/suspicious/noExplicitAny: a wrong request object on purpose; the socket check comes first
    assert.throws(() => wss.handleUpgrade({} as any, new PassThrough()), {
      name: 'TypeError',
      message: /net\.Socket/,
    });
  } finally {
    await wss.close();
  }
});

test('node:https + bridge: wss:// with the ws client (the TLS socket of the upgrade event)', async (t) => {
  const pair = makeCertificate();
  if (pair === null) {
    t.skip('openssl is not installed');
    return;
  }
  const wss = websocketHandler({
    message(ws, message, isBinary) {
      ws.send(message, isBinary);
    },
  });
  const server = https.createServer({ key: pair.key, cert: pair.cert }, (_req, res) => res.end('secure plain'));
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    await wss.close({ deadline: 200 });
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const ws = await openWs(t, `wss://127.0.0.1:${port}/secure`, { ca: pair.cert });
  const reply = nextMessage(ws);
  ws.send('over TLS');
  assert.equal((await reply).data.toString(), 'over TLS');
  const closed = closeOf(ws);
  await wss.close({ deadline: 2000 });
  assert.equal((await closed).code, 1001);
});
