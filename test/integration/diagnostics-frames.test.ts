/**
 * diagnostics_channel events not covered by diagnostics.test.ts, with real peers: received frames one event per
 * wire frame (a fragmented message from `ws`, a compressed one with RSV1 and its length on the wire), the idle
 * ping and its pong, backpressure drained (a peer that reads) and dropped (policy 'drop', a raw peer that never
 * reads), the close steps of a close the server starts, the events of a client `WebSocket`'s connection (against
 * a `ws` server), and `server.observeFrames` seeing the same frames as the channels.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import dc from 'node:diagnostics_channel';
import net from 'node:net';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { DIAGNOSTICS_CHANNELS, type ServerWebSocket, WebSocket as SockeyeWebSocket } from '../../src/index.js';
import { startServer } from '../helpers/net.js';

type Rec = { ch: string; m: Record<string, unknown> };

/** Subscribes to every channel for the test's duration; `until` resolves when an event matching `pred` came. */
function record(t: { after: (fn: () => void) => void }) {
  const events: Rec[] = [];
  const waiters: { pred: (r: Rec) => boolean; resolve: () => void }[] = [];
  for (const [key, name] of Object.entries(DIAGNOSTICS_CHANNELS)) {
    const fn = (m: unknown) => {
      const r = { ch: key, m: m as Record<string, unknown> };
      events.push(r);
      for (const w of waiters.splice(0)) {
        if (w.pred(r)) w.resolve();
        else waiters.push(w);
      }
    };
    dc.subscribe(name, fn);
    t.after(() => dc.unsubscribe(name, fn));
  }
  const until = (pred: (r: Rec) => boolean): Promise<void> =>
    events.some(pred) ? Promise.resolve() : new Promise((resolve) => waiters.push({ pred, resolve }));
  return { events, until };
}

/** A frame event as `channel:opcode:fin:rsv1:length`. */
function frameOf(e: Rec): string {
  return `${e.ch}:${e.m.opcode}:${e.m.fin ? 'fin' : '-'}:${e.m.rsv1 ? 'rsv1' : '-'}:${e.m.length}`;
}

function wsUrl(server: { url: string }, path = '/'): string {
  return `${server.url.replace('http', 'ws')}${path}`;
}

test('received frames: one event per wire frame (fragments, a ping between), before the message', async (t) => {
  const { events, until } = record(t);
  let got = '';
  const server = await startServer(t, {
    websocket: {
      message: (ws, data) => {
        got = String(data);
        ws.close(1000);
      },
    },
  });
  const client = new WebSocket(wsUrl(server));
  await new Promise((r) => client.once('open', r));
  // RFC 6455 §5.4: a message in three frames, a control frame between two of them.
  client.send('hel', { fin: false });
  client.ping('p');
  client.send('lo', { fin: false });
  client.send('!', { fin: true });
  await new Promise((r) => client.once('close', r));
  await until((e) => e.ch === 'end' && e.m.server === server);
  assert.equal(got, 'hello!');
  const ws = events.find((e) => e.ch === 'open')?.m.websocket;
  const frames = events.filter((e) => e.m.websocket === ws && e.ch === 'frameReceived').map(frameOf);
  assert.deepEqual(frames, [
    'frameReceived:1:-:-:3',
    'frameReceived:9:fin:-:1',
    'frameReceived:0:-:-:2',
    'frameReceived:0:fin:-:1',
    'frameReceived:8:fin:-:2',
  ]);
});

test('a compressed message: RSV1 set and the length on the wire (smaller than the text)', async (t) => {
  const { events, until } = record(t);
  const text = 'sockeye '.repeat(200);
  let got = '';
  const server = await startServer(t, {
    websocket: {
      perMessageDeflate: true,
      message: (ws, data) => {
        got = String(data);
        ws.close(1000);
      },
    },
  });
  const client = new WebSocket(wsUrl(server), { perMessageDeflate: { threshold: 0 } });
  await new Promise((r) => client.once('open', r));
  client.send(text, { compress: true });
  await new Promise((r) => client.once('close', r));
  await until((e) => e.ch === 'end' && e.m.server === server);
  assert.equal(got, text);
  const first = events.find((e) => e.ch === 'frameReceived');
  assert.equal(first?.m.opcode, 1);
  assert.equal(first?.m.rsv1, true);
  assert.ok((first?.m.length as number) > 0 && (first?.m.length as number) < text.length / 4);
  // The payload channel gives the message as the application sees it: inflated.
  const payload = events.find((e) => e.ch === 'payload' && e.m.direction === 'received');
  assert.equal(Buffer.from(payload?.m.data as Uint8Array).toString(), text);
});

test('idle ping: the ping event, our ping frame, the peer’s pong', async (t) => {
  const { events, until } = record(t);
  const server = await startServer(t, { websocket: { idleTimeout: 0.5, pongTimeout: 30, message: () => {} } });
  const client = new WebSocket(wsUrl(server)); // `ws` answers pings by itself (RFC 6455 §5.5.2)
  t.after(() => client.terminate());
  const pinged = new Promise((r) => client.once('ping', r));
  await new Promise((r) => client.once('open', r));
  await pinged;
  await until((e) => e.ch === 'frameReceived' && e.m.opcode === 10);
  const ws = events.find((e) => e.ch === 'open')?.m.websocket;
  const seq = events
    .filter((e) => e.m.websocket === ws && e.ch !== 'upgrade')
    .map((e) => (e.ch === 'frameSent' || e.ch === 'frameReceived' ? frameOf(e) : e.ch));
  assert.deepEqual(seq, ['open', 'idlePing', 'frameSent:9:fin:-:0', 'frameReceived:10:fin:-:0']);
});

test('backpressure reached, then drained once the peer has read it', async (t) => {
  const { events, until } = record(t);
  const big = Buffer.alloc(512 * 1024, 0x62);
  const server = await startServer(t, {
    websocket: {
      backpressureLimit: 16 * 1024,
      maxBackpressure: 64 * 1024 * 1024,
      message: (ws) => {
        ws.send(big);
      },
    },
  });
  const client = new WebSocket(wsUrl(server));
  t.after(() => client.terminate());
  await new Promise((r) => client.once('open', r));
  const received = new Promise<Buffer>((r) => client.once('message', (d) => r(d as Buffer)));
  client.send('go');
  assert.equal((await received).length, big.length);
  await until((e) => e.ch === 'backpressure' && e.m.event === 'drained');
  const bp = events.filter((e) => e.ch === 'backpressure');
  assert.deepEqual(
    bp.map((e) => [e.m.event, e.m.limit]),
    [
      ['reached', 16 * 1024],
      ['drained', 16 * 1024],
    ],
  );
  assert.ok((bp[0]?.m.bufferedAmount as number) > 16 * 1024);
  assert.ok((bp[1]?.m.bufferedAmount as number) <= 16 * 1024);
});

test("policy 'drop': a peer that never reads gets messages dropped, the connection stays open", async (t) => {
  const { events, until } = record(t);
  const big = Buffer.alloc(256 * 1024, 0x61);
  let results: number[] = [];
  let sockeyeWs: ServerWebSocket | null = null;
  const server = await startServer(t, {
    websocket: {
      maxBackpressure: 1024 * 1024,
      backpressureLimit: 64 * 1024,
      backpressurePolicy: 'drop',
      open: (ws) => {
        sockeyeWs = ws;
        // Bounded: 64 sends of 256 KiB; the kernel's buffers take a few MiB, the policy drops the rest.
        results = [];
        for (let i = 0; i < 64; i++) results.push(ws.send(big));
      },
    },
  });
  const sock = net.connect(server.port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.on('error', () => {});
  sock.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  sock.pause(); // never read
  await until((e) => e.ch === 'backpressure' && e.m.event === 'dropped');
  const dropped = events.filter((e) => e.ch === 'backpressure' && e.m.event === 'dropped');
  assert.equal(dropped.length, results.filter((r) => r === 0).length);
  assert.equal(dropped[0]?.m.limit, 1024 * 1024);
  assert.equal(dropped[0]?.m.websocket, sockeyeWs);
  // Dropping is not failing: no close step, no cut-off, still open.
  assert.equal(
    events.some((e) => e.ch === 'close' || e.m.event === 'cut-off'),
    false,
  );
  assert.equal((sockeyeWs as ServerWebSocket | null)?.readyState, 1);
});

test('a close the server starts: our close frame, close-sent, the peer’s, close-received, fin-wait, end', async (t) => {
  const { events, until } = record(t);
  const server = await startServer(t, {
    websocket: {
      message: (ws) => {
        ws.close(4000, 'done');
      },
    },
  });
  const client = new WebSocket(wsUrl(server));
  await new Promise((r) => client.once('open', r));
  const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
  client.send('please');
  assert.equal(await closed, 4000);
  await until((e) => e.ch === 'end' && e.m.server === server);
  const ws = events.find((e) => e.ch === 'open')?.m.websocket;
  const seq = events
    .filter((e) => e.m.websocket === ws && e.ch !== 'open' && e.ch !== 'upgrade' && e.ch !== 'payload')
    .map((e) =>
      e.ch === 'close'
        ? `close:${e.m.step}:${e.m.code}`
        : e.ch === 'end'
          ? 'end'
          : `${e.ch}:${e.m.opcode}:${e.m.length}`,
    );
  assert.deepEqual(seq, [
    'frameReceived:1:6',
    'frameSent:8:6', // RFC 6455 §5.5.1: 2-byte code + "done"
    'close:close-sent:4000',
    'frameReceived:8:6', // `ws` echoes code and reason
    'close:close-received:4000',
    'close:fin-wait:4000',
    'end',
  ]);
  const info = events.find((e) => e.ch === 'end' && e.m.websocket === ws)?.m.info as Record<string, unknown>;
  assert.equal(info.cause, 'server-close');
  assert.equal(info.wasClean, true);
});

test('a client WebSocket: its frames (a fragmented message from the server) and close steps', async (t) => {
  const { events, until } = record(t);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => new Promise((r) => wss.close(r)));
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (peer) => {
    peer.on('message', () => {
      peer.send('ab', { fin: false });
      peer.send('cd', { fin: true });
    });
  });
  const port = (wss.address() as net.AddressInfo).port;
  const ws = new SockeyeWebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((r) => ws.addEventListener('open', r, { once: true }));
  const got = new Promise<string>((r) => ws.addEventListener('message', (e) => r(String(e.data)), { once: true }));
  ws.send('hi');
  assert.equal(await got, 'abcd');
  const closed = new Promise<number>((r) => ws.addEventListener('close', (e) => r(e.code), { once: true }));
  ws.close(1000, 'ok');
  assert.equal(await closed, 1000);
  await until((e) => e.ch === 'close' && e.m.step === 'close-received');
  const conn = events.find((e) => e.ch === 'frameSent')?.m.websocket;
  assert.ok(conn !== undefined && conn !== ws);
  const seq = events
    .filter((e) => e.m.websocket === conn && e.ch !== 'payload')
    .map((e) => (e.ch === 'close' ? `close:${e.m.step}:${e.m.code}` : frameOf(e)));
  assert.deepEqual(seq.slice(0, 6), [
    'frameSent:1:fin:-:2',
    'frameReceived:1:-:-:2',
    'frameReceived:0:fin:-:2',
    'frameSent:8:fin:-:4',
    'close:close-sent:1000',
    'frameReceived:8:fin:-:4', // `ws` echoes code and reason
  ]);
  assert.equal(seq[6], 'close:close-received:1000');
});

test('server.observeFrames sees the frames the channels report, with the state it returned', async (t) => {
  const { events, until } = record(t);
  const seen: string[] = [];
  const server = await startServer(t, {
    websocket: {
      message: (ws, data) => {
        ws.send(String(data).toUpperCase());
      },
    },
  });
  let attached = 0;
  server.observeFrames({
    connection: (ws) => {
      attached++;
      return { ws, tag: 'mine' };
    },
    frame: (s, sent, opcode, fin, rsv1, length, at) => {
      assert.equal(s.tag, 'mine');
      assert.ok(at > 0);
      seen.push(
        `${sent ? 'frameSent' : 'frameReceived'}:${opcode}:${fin ? 'fin' : '-'}:${rsv1 ? 'rsv1' : '-'}:${length}`,
      );
    },
  });
  const client = new WebSocket(wsUrl(server));
  await new Promise((r) => client.once('open', r));
  client.send('a', { fin: false });
  client.send('b', { fin: true });
  await new Promise((r) => client.once('message', r));
  client.close(1000);
  await new Promise((r) => client.once('close', r));
  await until((e) => e.ch === 'end' && e.m.server === server);
  const fromChannels = events.filter((e) => e.ch === 'frameSent' || e.ch === 'frameReceived').map(frameOf);
  assert.deepEqual(seen, fromChannels);
  assert.deepEqual(seen, [
    'frameReceived:1:-:-:1',
    'frameReceived:0:fin:-:1',
    'frameSent:1:fin:-:2',
    'frameReceived:8:fin:-:2',
    'frameSent:8:fin:-:2',
  ]);
  assert.equal(attached, 1);
  // Removed: the next connection's frames reach nobody.
  server.observeFrames(null);
  const again = new WebSocket(wsUrl(server));
  await new Promise((r) => again.once('open', r));
  again.send('x');
  await new Promise((r) => again.once('message', r));
  again.terminate();
  assert.equal(seen.length, 5);
});
