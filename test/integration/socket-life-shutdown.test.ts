/**
 * Graceful shutdown over real loopback sockets: `server.close({ deadline })` with 1,000 open WebSockets and one
 * in-flight HTTP request — every client gets close code 1001, the request completes with `Connection: close`,
 * and the result counts 1,001 closed and 0 terminated; then peers that never answer the close frame (one that
 * does not read, one that reads but does not reply) are destroyed at the deadline and counted as terminated
 * (cause 'terminated'); and a `ws.close()` the peer never answers ends after `closeTimeout` (cause 'close-timeout').
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type WebSocket from 'ws';
import { type Server, serve } from '../../src/index.js';
import { closeOf, connectSlowConsumer, openWs, waitFor, within } from '../helpers/slow-peers.js';
import { connectRaw, OP_CLOSE, type RawWsClient } from '../helpers/ws-raw-client.js';

async function startUnclosed(
  t: import('node:test').TestContext,
  options: Parameters<typeof serve>[0],
): Promise<Server> {
  const server = await serve({ host: '127.0.0.1', port: 0, ...options });
  // The test closes it; this only covers a failure before that.
  t.after(() => server.close({ deadline: 100 }));
  return server;
}

/** Sends one request on a raw socket and resolves with the whole response once the server closes. */
function inFlightRequest(port: number, path: string): { sent: Promise<void>; response: Promise<string> } {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  sock.on('data', (d) => {
    text += d.toString('latin1');
  });
  const sent = new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, () => resolve()));
  });
  const response = within(
    new Promise<string>((resolve) => {
      sock.on('end', () => {
        sock.end();
        resolve(text);
      });
      sock.on('close', () => resolve(text));
    }),
    10_000,
    'the in-flight response',
  );
  return { sent, response };
}

test('close({ deadline }): 1,000 WebSockets get 1001, an in-flight request completes with Connection: close', async (t) => {
  let release: () => void = () => {};
  let started: () => void = () => {};
  const requestStarted = new Promise<void>((r) => {
    started = r;
  });
  const serverCloses: number[] = [];
  const server = await startUnclosed(t, {
    async request(_req, res) {
      started();
      await new Promise<void>((r) => {
        release = r;
      });
      res.send('finished');
    },
    websocket: {
      close(_ws, code) {
        serverCloses.push(code);
      },
    },
  });
  const url = `ws://127.0.0.1:${server.port}`;
  const N = 1000;
  const clients: WebSocket[] = [];
  // In batches, to stay within the listen backlog.
  for (let i = 0; i < N; i += 100) {
    clients.push(...(await Promise.all(Array.from({ length: 100 }, () => openWs(t, url)))));
  }
  await waitFor(() => server.stats().connections.wsOpen === N, 5000, `${N} open WebSockets`);
  const codes = clients.map((c) => closeOf(c, 10_000));

  const req = inFlightRequest(server.port, '/slow');
  await req.sent;
  await within(requestStarted, 5000, 'the request to reach its handler');
  assert.equal(server.stats().connections.httpActive, 1);

  const closing = server.close({ deadline: 5000 });
  // The handler finishes while the server is closing: once a WebSocket has seen the server's 1001.
  await within(codes[0]!, 8000, 'the first WebSocket to be closed');
  release();
  const result = await within(closing, 8000, 'close() to resolve');
  assert.deepEqual(result, { closed: N + 1, terminated: 0 });

  const got = await Promise.all(codes);
  const by = new Map<number, number>();
  for (const { code } of got) by.set(code, (by.get(code) ?? 0) + 1);
  assert.deepEqual([...by], [[1001, N]], 'every client saw 1001');
  assert.equal(got[0]?.reason, 'Server shutting down');

  const text = await req.response;
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /\r\nconnection: close\r\n/i);
  assert.ok(text.endsWith('finished'), 'the whole body');

  await waitFor(() => serverCloses.length === N, 3000, 'every close handler');
  assert.ok(
    serverCloses.every((c) => c === 1001),
    'the server saw the peers echo 1001',
  );
  const stats = server.stats();
  assert.equal(stats.connections.total, 0);
  assert.equal(stats.websocket.closeCodesFromServer['1001'], N);
  assert.equal(stats.websocket.ends['server-close'], N);
});

test('close({ deadline }): peers that never answer the close frame are terminated and counted', async (t) => {
  const causes: string[] = [];
  const server = await startUnclosed(t, {
    websocket: {
      // Longer than the deadline: the deadline, not the close timeout, ends them.
      closeTimeout: 30_000,
      close(_ws, _code, _reason, _clean, info) {
        causes.push(info.cause);
      },
    },
  });
  const url = `ws://127.0.0.1:${server.port}`;
  const polite = await Promise.all(Array.from({ length: 5 }, () => openWs(t, url)));
  const politeCodes = polite.map((c) => closeOf(c, 10_000));
  // Does not read at all.
  const deaf: RawWsClient[] = await Promise.all(Array.from({ length: 3 }, () => connectSlowConsumer(t, server.port)));
  // Reads (and sees the 1001) but never replies.
  const mute: RawWsClient[] = [];
  for (let i = 0; i < 2; i++) {
    const c = await connectRaw(server.port);
    t.after(() => c.destroy());
    mute.push(c);
  }
  await waitFor(() => server.stats().connections.wsOpen === 10, 3000, '10 open WebSockets');

  const result = await within(server.close({ deadline: 1000 }), 5000, 'close() to resolve');
  assert.deepEqual(result, { closed: 5, terminated: 5 });
  for (const p of await Promise.all(politeCodes)) assert.equal(p.code, 1001);
  for (const m of mute) {
    const out = await m.waitClosed(3000);
    assert.ok(out.tcpClosed, 'terminated');
    assert.equal(out.frames[0]?.opcode, OP_CLOSE);
    assert.equal(out.code, 1001);
  }
  await waitFor(() => causes.length === 10, 3000, 'every close handler');
  assert.deepEqual(causes.sort(), [...Array(5).fill('server-close'), ...Array(5).fill('terminated')].sort());
  assert.equal(server.stats().connections.total, 0);
  for (const d of deaf) d.destroy();
});

test('ws.close() that the peer never answers ends after closeTimeout with cause close-timeout', async (t) => {
  const infos: { code: number; cause: string; wasClean: boolean }[] = [];
  const server = await startUnclosed(t, {
    websocket: {
      closeTimeout: 300,
      open(ws) {
        ws.close(4000, 'bye');
      },
      close(_ws, code, _reason, wasClean, info) {
        infos.push({ code, cause: info.cause, wasClean });
      },
    },
  });
  const mute = await connectRaw(server.port);
  t.after(() => mute.destroy());
  const out = await mute.waitClosed(3000);
  assert.equal(out.code, 4000, 'the close frame came');
  assert.ok(out.tcpClosed, 'then the server dropped the connection');
  await waitFor(() => infos.length === 1, 3000, 'the close handler');
  assert.deepEqual(infos, [{ code: 1006, cause: 'close-timeout', wasClean: false }]);
  assert.equal(server.stats().websocket.ends['close-timeout'], 1);
  await server.close({ deadline: 100 });
});
