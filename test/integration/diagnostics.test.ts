/**
 * diagnostics_channel events (src/node/diagnostics.ts): a test subscribes to every sockeye channel and asserts the
 * sequence of events for a real HTTP request (Node's fetch), a WebSocket upgrade accepted and one refused, a
 * message both ways and a close (the `ws` package as peer), and a backpressure cut-off (a raw peer that never reads).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import dc from 'node:diagnostics_channel';
import net from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { DIAGNOSTICS_CHANNELS } from '../../src/index.js';
import { startServer } from '../helpers/net.js';

type Rec = { ch: string; m: Record<string, unknown> };

function record(t: { after: (fn: () => void) => void }): Rec[] {
  const out: Rec[] = [];
  for (const [key, name] of Object.entries(DIAGNOSTICS_CHANNELS)) {
    const fn = (m: unknown) => out.push({ ch: key, m: m as Record<string, unknown> });
    dc.subscribe(name, fn);
    t.after(() => dc.unsubscribe(name, fn));
  }
  return out;
}

function waitFor(events: Rec[], pred: (r: Rec) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const look = () => {
      if (events.some(pred)) resolve();
      else if (++n > 500) reject(new Error('event never came'));
      else setTimeout(look, 10);
    };
    look();
  });
}

test('an HTTP request: accept, request start, response finish, end', async (t) => {
  const events = record(t);
  const server = await startServer(t, { request: (_req, res) => res.send('hi', 201) });
  const r = await fetch(`${server.url}/hello?x=1`, { headers: { connection: 'close' } });
  assert.equal(await r.text(), 'hi');
  await waitFor(events, (e) => e.ch === 'end');
  const mine = events.filter((e) => e.m.server === server || e.ch === 'responseFinish');
  assert.deepEqual(
    mine.map((e) => e.ch),
    ['accept', 'requestStart', 'responseFinish', 'end'],
  );
  const socket = mine[0]?.m.socket;
  assert.ok(socket instanceof net.Socket);
  assert.equal(mine[1]?.m.socket, socket);
  assert.equal((mine[1]?.m.request as { path: string } | undefined)?.path, '/hello');
  assert.equal(mine[2]?.m.status, 201);
  const info = mine[3]?.m.info as { kind: string; cause: string };
  assert.equal(info.kind, 'http');
  assert.equal(info.cause, 'server-close');
});

test('an upgrade, a message each way, a close: the sequence of events', async (t) => {
  const events = record(t);
  const server = await startServer(t, {
    websocket: {
      message: (ws, data) => {
        ws.send(`echo:${String(data)}`);
      },
    },
  });
  const client = new WebSocket(`${server.url.replace('http', 'ws')}/chat`);
  await new Promise((r) => client.once('open', r));
  client.send('hello');
  await new Promise((r) => client.once('message', r));
  client.close(1000, 'bye');
  await new Promise((r) => client.once('close', r));
  await waitFor(events, (e) => e.ch === 'end' && e.m.server === server);
  const ws = events.find((e) => e.ch === 'open')?.m.websocket;
  assert.ok(ws !== undefined);
  const seq = events
    .filter((e) => (e.m.websocket === ws && e.ch !== 'payload') || e.ch === 'accept' || e.ch === 'upgrade')
    .map((e) => {
      if (e.ch === 'frameReceived' || e.ch === 'frameSent') return `${e.ch}:${e.m.opcode}:${e.m.length}`;
      if (e.ch === 'close') return `close:${e.m.step}:${e.m.code}`;
      if (e.ch === 'upgrade') return `upgrade:${e.m.accepted}:${e.m.status}`;
      return e.ch;
    });
  assert.deepEqual(seq, [
    'accept',
    'upgrade:true:101',
    'open',
    'frameReceived:1:5',
    'frameSent:1:10',
    'frameReceived:8:5',
    'frameSent:8:2', // the echo carries the code only (RFC 6455 §5.5.1)
    'close:close-received:1000',
    'close:fin-wait:1000',
    'end',
  ]);
  const end = events.find((e) => e.ch === 'end' && e.m.websocket === ws)?.m.info as { code: number; cause: string };
  assert.equal(end.code, 1000);
  assert.equal(end.cause, 'peer-close');
});

test('payloads only on the opt-in channel', async (t) => {
  const payloads: { direction: string; data: string | Uint8Array }[] = [];
  const frames: unknown[] = [];
  const onPayload = (m: unknown) => payloads.push(m as { direction: string; data: string | Uint8Array });
  const onFrame = (m: unknown) => frames.push(m);
  dc.subscribe(DIAGNOSTICS_CHANNELS.frameReceived, onFrame);
  t.after(() => dc.unsubscribe(DIAGNOSTICS_CHANNELS.frameReceived, onFrame));
  const server = await startServer(t, {
    websocket: {
      message: (ws, data) => {
        ws.send(String(data).toUpperCase());
      },
    },
  });
  const client = new WebSocket(`${server.url.replace('http', 'ws')}/`);
  await new Promise((r) => client.once('open', r));
  client.send('first');
  await new Promise((r) => client.once('message', r));
  assert.equal(payloads.length, 0);
  assert.ok(frames.length >= 1);
  assert.equal(Object.hasOwn(frames[0] as object, 'data'), false);
  dc.subscribe(DIAGNOSTICS_CHANNELS.payload, onPayload);
  t.after(() => dc.unsubscribe(DIAGNOSTICS_CHANNELS.payload, onPayload));
  client.send('second');
  await new Promise((r) => client.once('message', r));
  client.close();
  assert.deepEqual(
    payloads.map((p) => [p.direction, Buffer.from(p.data as Uint8Array).toString()]),
    [
      ['received', 'second'],
      ['sent', 'SECOND'],
    ],
  );
});

test('a refused upgrade: upgrade event with the status, no open', async (t) => {
  const events = record(t);
  const server = await startServer(t, {
    websocket: { upgrade: (_req, ctx) => ctx.reject(401, 'who are you'), message: () => {} },
  });
  const client = new WebSocket(`${server.url.replace('http', 'ws')}/x`);
  const status = await new Promise<number>((resolve) =>
    client.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    }),
  );
  assert.equal(status, 401);
  await waitFor(events, (e) => e.ch === 'upgrade');
  const up = events.find((e) => e.ch === 'upgrade')?.m;
  assert.equal(up?.accepted, false);
  assert.equal(up?.status, 401);
  assert.equal(up?.websocket, null);
  assert.equal(
    events.some((e) => e.ch === 'open'),
    false,
  );
});

test('a peer that never reads: backpressure reached, then cut off with 1008', async (t) => {
  const events = record(t);
  const big = Buffer.alloc(256 * 1024, 0x61);
  const server = await startServer(t, {
    websocket: {
      maxBackpressure: 1024 * 1024,
      backpressureLimit: 64 * 1024,
      open: (ws) => {
        // Bounded: at most 64 MiB offered; the policy cuts the connection off long before.
        for (let i = 0; i < 256 && ws.readyState === 1; i++) ws.send(big);
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
  await waitFor(events, (e) => e.ch === 'backpressure' && e.m.event === 'cut-off');
  const bp = events.filter((e) => e.ch === 'backpressure').map((e) => e.m.event);
  assert.equal(bp[0], 'reached');
  assert.ok(bp.includes('cut-off'));
  const cut = events.find((e) => e.ch === 'backpressure' && e.m.event === 'cut-off')?.m;
  assert.equal(cut?.limit, 1024 * 1024);
  const fail = events.find((e) => e.ch === 'close');
  assert.equal(fail?.m.step, 'fail');
  assert.equal(fail?.m.code, 1008);
});
