/**
 * Application handlers that throw: `open`, `ping` and `message` failures close that connection with 1011
 * (RFC 6455 §7.4.1) and are reported to `websocket.error`; a throwing `close` handler is only reported. In
 * every case the process and the other connections go on.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { startServer } from '../helpers/net.js';
import { waitFor } from '../helpers/slow-peers.js';

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no close within 5 s')), 5000);
    ws.on('close', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    ws.on('error', () => {});
  });
}

function echoOnce(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const t = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
    ws.on('open', () => ws.send('still alive'));
    ws.on('message', (d) => {
      clearTimeout(t);
      ws.close();
      resolve(String(d));
    });
    ws.on('error', reject);
  });
}

test('throwing open, ping and close handlers: 1011 where the connection is open, reported, server goes on', async (t) => {
  const errors: string[] = [];
  const ended: string[] = [];
  const server = await startServer(t, {
    websocket: {
      open(ws) {
        if (ws.path === '/open') throw new Error('open failed');
      },
      ping() {
        throw new Error('ping failed');
      },
      message(ws, m) {
        ws.send(m);
      },
      close(ws) {
        ended.push(ws.path);
        if (ws.path === '/close') throw new Error('close failed');
      },
      error(_ws, err) {
        errors.push((err as Error).message);
      },
    },
  });
  const url = `ws://127.0.0.1:${server.port}`;

  const a = new WebSocket(`${url}/open`);
  assert.equal(await closeOf(a), 1011);

  const b = new WebSocket(`${url}/ping`);
  b.on('open', () => b.ping('x'));
  assert.equal(await closeOf(b), 1011);

  const c = new WebSocket(`${url}/close`);
  await new Promise((r) => c.on('open', r));
  c.close(1000);
  assert.equal(await closeOf(c), 1000);

  assert.equal(await echoOnce(`${url}/other`), 'still alive');
  // Every connection has ended on the server's side (its close handler ran): whatever was to be reported is.
  await waitFor(() => ended.length === 4, 5000, `four close handlers (got ${ended.join(', ')})`);
  assert.deepEqual(ended.sort(), ['/close', '/open', '/other', '/ping']);
  assert.deepEqual(errors.sort(), ['close failed', 'open failed', 'ping failed']);
});
