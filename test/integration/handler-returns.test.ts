/**
 * What a handler returns. The type half: the one-liners users write (`message: (ws, m) => ws.send(m)`, whose
 * `send` returns a number; `request: (req, res) => res.json(x)`) compile as `serve()`, `websocketHandler()` and
 * `cluster()` options; this file does not build if they stop compiling. The run half: a returned non-promise (a
 * number, null, a plain object) is ignored, with the ws client and fetch over loopback; a returned promise is still
 * waited for (its rejection answers 500 / closes with 1011), and the other handlers' rejections (open, ping, pong,
 * drain; close, error and the end and error hooks) never become unhandled rejections, which end a Node process.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import type { ClusterOptions } from '../../src/cluster/index.js';
import type { RequestHandler, WebSocketHandlerOptions, WebSocketOptions } from '../../src/index.js';
import { startServer } from '../helpers/net.js';

// Type level: each of these must compile (the build fails otherwise).
const echo: WebSocketOptions = {
  message: (ws, m, isBinary) => ws.send(m, isBinary),
  messageChunk: (ws, chunk, isBinary, _first, last) => ws.sendFragment(chunk, last, isBinary),
  open: (ws) => ws.subscribe('all'),
  close: (ws) => ws.publish('all', 'left'),
  drain: (ws) => ws.send('drained'),
};
const asyncEcho: WebSocketOptions = {
  async message(ws, m) {
    await ws.drained();
    return ws.send(m);
  },
};
const reply: RequestHandler = (_req, res) => res.json({ ok: true });
const bridged: WebSocketHandlerOptions = { message: (ws, m) => ws.send(m) };
const clustered: Pick<ClusterOptions, 'websocket' | 'request'> = {
  request: (_req, res) => res.send('hi'),
  websocket: { message: (ws, m) => ws.send(m) },
};
void [echo, asyncEcho, reply, bridged, clustered];

function echoOf(url: string, text: string): Promise<{ echoed: string; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const t = setTimeout(() => reject(new Error('no echo and close within 5 s')), 5000);
    let echoed = '';
    ws.on('open', () => ws.send(text));
    ws.on('message', (d) => {
      echoed = String(d);
      ws.close(1000);
    });
    ws.on('close', (code) => {
      clearTimeout(t);
      resolve({ echoed, code });
    });
    ws.on('error', reject);
  });
}

test('a message handler that returns null, a number or an object: ignored, the connection stays open', async (t) => {
  const errors: unknown[] = [];
  const returns: Record<string, unknown> = {
    '/null': null,
    '/number': 7,
    // biome-ignore lint/suspicious/noThenProperty: a `then` that is not a function must not be taken for a promise
    '/object': { then: 42 },
  };
  const server = await startServer(t, {
    websocket: {
      message(ws, m) {
        ws.send(m);
        return returns[ws.path];
      },
      error: (_ws, err) => errors.push(err),
    },
  });
  for (const p of Object.keys(returns)) {
    const { echoed, code } = await echoOf(`ws://127.0.0.1:${server.port}${p}`, `via ${p}`);
    assert.equal(echoed, `via ${p}`, p);
    assert.equal(code, 1000, `${p}: closed by our close, not 1011`);
  }
  assert.deepEqual(errors, []);
});

test('a message handler that returns a rejected promise still closes with 1011', async (t) => {
  const errors: string[] = [];
  const server = await startServer(t, {
    websocket: {
      message: (ws) => Promise.reject(new Error(`failed on ${ws.path}`)),
      error: (_ws, err) => errors.push((err as Error).message),
    },
  });
  const code = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/x`);
    const timer = setTimeout(() => reject(new Error('no close within 5 s')), 5000);
    ws.on('open', () => ws.send('boom'));
    ws.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
    ws.on('error', () => {});
  });
  assert.equal(code, 1011);
  assert.deepEqual(errors, ['failed on /x']);
});

test('a request handler that returns null or a number: the response it sent stands; a rejection answers 500', async (t) => {
  const server = await startServer(t, {
    request(req, res) {
      if (req.path === '/reject') return Promise.reject(new Error('nope'));
      res.send(`answered ${req.path}`);
      return req.path === '/null' ? null : 3;
    },
    onError: () => {},
  });
  for (const p of ['/null', '/number']) {
    const r = await fetch(`http://127.0.0.1:${server.port}${p}`);
    assert.equal(r.status, 200, p);
    assert.equal(await r.text(), `answered ${p}`);
  }
  const r = await fetch(`http://127.0.0.1:${server.port}/reject`);
  assert.equal(r.status, 500);
  await r.arrayBuffer();
});

/**
 * Collects unhandled rejections while a test runs. With a listener Node no longer ends the process on one, so the
 * test can say which promise leaked instead of the whole file dying.
 */
function watchUnhandled(t: { after(fn: () => void): void }): unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  t.after(() => process.off('unhandledRejection', onRejection));
  return seen;
}

/** Opens a ws client on `path`, runs `act` once open, and resolves with the close code it sees. */
function closeCodeOf(url: string, act: (ws: WebSocket) => void = () => {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`no close within 5 s on ${url}`)), 5000);
    ws.on('open', () => act(ws));
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on('error', () => {});
  });
}

/** A turn of the event loop after the I/O in flight, for rejections to be reported. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

test('async open, ping, pong and drain handlers that reject: 1011, the error handler hears it, nothing unhandled', async (t) => {
  const unhandled = watchUnhandled(t);
  const errors: string[] = [];
  const server = await startServer(t, {
    websocket: {
      backpressureLimit: 64 * 1024,
      async open(ws) {
        if (ws.path === '/open') throw new Error('open failed');
        if (ws.path === '/drain') {
          // Until send says the peer is behind (-1), so that a drain follows when the paused client reads again.
          const chunk = Buffer.alloc(64 * 1024, 1);
          for (let i = 0; i < 4096 && ws.send(chunk) !== -1; i++);
        }
      },
      message: (ws, m) => ws.send(m),
      ping: async (ws) => Promise.reject(new Error(`ping failed on ${ws.path}`)),
      pong: async (ws) => Promise.reject(new Error(`pong failed on ${ws.path}`)),
      drain: async (ws) => Promise.reject(new Error(`drain failed on ${ws.path}`)),
      error: (_ws, err) => void errors.push((err as Error).message),
    },
  });
  const base = `ws://127.0.0.1:${server.port}`;
  assert.equal(await closeCodeOf(`${base}/open`), 1011);
  assert.equal(await closeCodeOf(`${base}/ping`, (ws) => ws.ping('x')), 1011);
  assert.equal(await closeCodeOf(`${base}/pong`, (ws) => ws.pong('x')), 1011);
  const drainCode = await closeCodeOf(`${base}/drain`, (ws) => {
    ws.pause();
    setTimeout(() => ws.resume(), 100);
  });
  assert.equal(drainCode, 1011);
  // The server and its other connections go on.
  assert.deepEqual(await echoOf(`${base}/after`, 'still here'), { echoed: 'still here', code: 1000 });
  await settle();
  assert.deepEqual(errors.sort(), [
    'drain failed on /drain',
    'open failed',
    'ping failed on /ping',
    'pong failed on /pong',
  ]);
  assert.deepEqual(unhandled, []);
});

test('async close, error, onConnectionEnd and onError hooks that reject are dropped or reported, never unhandled', async (t) => {
  const unhandled = watchUnhandled(t);
  const errors: string[] = [];
  let ends = 0;
  let httpErrors = 0;
  const server = await startServer(t, {
    request(req, res) {
      if (req.path === '/fail') throw new Error('request failed');
      res.send('ok');
    },
    onError: async () => {
      httpErrors++;
      throw new Error('onError rejected');
    },
    onConnectionEnd: async () => {
      ends++;
      throw new Error('onConnectionEnd rejected');
    },
    websocket: {
      message: (ws, m) => ws.send(m),
      close: async (ws) => Promise.reject(new Error(`close failed on ${ws.path}`)),
      error: async (_ws, err) => {
        errors.push((err as Error).message);
        throw new Error('the error handler rejected too');
      },
    },
  });
  const base = `ws://127.0.0.1:${server.port}`;
  assert.deepEqual(await echoOf(`${base}/a`, 'one'), { echoed: 'one', code: 1000 });
  const failed = await fetch(`http://127.0.0.1:${server.port}/fail`);
  assert.equal(failed.status, 500);
  await failed.arrayBuffer();
  // The server goes on: a second WebSocket and a plain request still work.
  assert.deepEqual(await echoOf(`${base}/b`, 'two'), { echoed: 'two', code: 1000 });
  const ok = await fetch(`http://127.0.0.1:${server.port}/`, { headers: { connection: 'close' } });
  assert.equal(await ok.text(), 'ok');
  await settle();
  assert.deepEqual(errors.sort(), ['close failed on /a', 'close failed on /b']);
  assert.equal(httpErrors, 1);
  assert.ok(ends >= 2, `onConnectionEnd heard ${ends} ends`);
  assert.deepEqual(unhandled, []);
});
