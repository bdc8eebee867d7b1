/**
 * The client's `HandshakeError` for a refusal (a status other than 101, RFC 6455 §4.1): status, reason phrase
 * (`statusText`) and the first bytes of the body (`body`), from sockeye's own `ctx.reject`, from a raw server that
 * sends no Content-Length and closes, and from one whose body is over the 4 KiB the client keeps.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { HandshakeError, WebSocket } from '../../src/index.js';
import { WS_CLIENT_MAX_REFUSAL_BODY_BYTES } from '../../src/limits.js';
import { startServer } from '../helpers/net.js';

/** Opens a client to `url` and resolves with the error its `error` event carries. */
function refusal(url: string): Promise<HandshakeError> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => reject(new Error('opened'));
    ws.onerror = (e) => {
      const err = (e as ErrorEvent).error;
      if (err instanceof HandshakeError) resolve(err);
      else reject(err);
    };
  });
}

/** A raw server that answers every connection with `response` and then closes (or `end: false`: stays open). */
async function rawServer(t: import('node:test').TestContext, response: string): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end(response));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

test("ctx.reject(401, 'log in first'): status, statusText and body", async (t) => {
  const server = await startServer(t, {
    request: (_req, res) => res.send('no'),
    websocket: { upgrade: (_req, ctx) => ctx.reject(401, 'log in first\nsecond line') },
  });
  const err = await refusal(`ws://127.0.0.1:${server.port}/`);
  assert.equal(err.code, 'ERR_WS_HANDSHAKE_STATUS');
  assert.equal(err.status, 401);
  assert.equal(err.statusText, 'Unauthorized');
  assert.equal(err.body.toString(), 'log in first\nsecond line');
});

test('no Content-Length: the body is what came before the server closed', async (t) => {
  const port = await rawServer(t, 'HTTP/1.1 403 Go Away Now\r\nConnection: close\r\n\r\nnot you');
  const err = await refusal(`ws://127.0.0.1:${port}/`);
  assert.equal(err.status, 403);
  assert.equal(err.statusText, 'Go Away Now');
  assert.equal(err.body.toString(), 'not you');
});

test('a body over the limit: the first WS_CLIENT_MAX_REFUSAL_BODY_BYTES bytes', async (t) => {
  const body = 'x'.repeat(WS_CLIENT_MAX_REFUSAL_BODY_BYTES + 1000);
  const port = await rawServer(t, `HTTP/1.1 400 Bad Request\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const err = await refusal(`ws://127.0.0.1:${port}/`);
  assert.equal(err.status, 400);
  assert.equal(err.body.length, WS_CLIENT_MAX_REFUSAL_BODY_BYTES);
});

test('a chunked body is not decoded: empty body, status and statusText kept', async (t) => {
  const port = await rawServer(t, 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  const err = await refusal(`ws://127.0.0.1:${port}/`);
  assert.equal(err.status, 404);
  assert.equal(err.statusText, 'Not Found');
  assert.equal(err.body.length, 0);
});
