/**
 * What a handler returns. The type half: the one-liners users write (`message: (ws, m) => ws.send(m)`, whose
 * `send` returns a number; `request: (req, res) => res.json(x)`) compile as `serve()`, `websocketHandler()` and
 * `cluster()` options; this file does not build if they stop compiling. The run half: a returned non-promise (a
 * number, null, a plain object) is ignored, with the ws client and fetch over loopback; a returned promise is still
 * waited for (its rejection answers 500 / closes with 1011).
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
