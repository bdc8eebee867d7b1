/**
 * The node:http bridge behind the frameworks people run: an Express 5 app (`app.listen()`'s server) and Fastify 5
 * (`fastify.server`, its raw node:http server), each with `wss.handleUpgrade` on the server's 'upgrade' event. The
 * framework keeps answering its own routes; WebSockets on the same port echo, the `upgrade` hook's refusal reaches
 * the client with its status and body, and `wss.close()` sends 1001.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import Fastify from 'fastify';
import type WebSocket from 'ws';
import { type WebSocketHandler, websocketHandler } from '../../src/index.js';
import { closeOf, openWs, within } from '../helpers/slow-peers.js';
import { handshakeRequest, requestHead } from '../helpers/ws-raw-client.js';

/** The part of Express this test uses (the package ships no types; @types/express is not a dependency). */
interface ExpressApp {
  get(path: string, handler: (req: http.IncomingMessage, res: { send(body: string): void }) => void): void;
  listen(port: number, host: string): http.Server;
}

/** The echo every framework gets: refuses /private with 401, echoes messages. */
function echoHandler(): WebSocketHandler {
  return websocketHandler({
    upgrade(req, ctx) {
      return req.path === '/private' ? ctx.reject(401, 'log in first\n') : undefined;
    },
    message(ws, message, isBinary) {
      ws.send(message, isBinary);
    },
  });
}

function nextMessage(ws: WebSocket): Promise<string> {
  return within(
    new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString()))),
    5000,
    'a message',
  );
}

/** The checks every framework passes: its route, an echo, a refusal with status and body, close() → 1001. */
async function exercise(t: TestContext, port: number, wss: WebSocketHandler, route: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/hello`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), route);

  const ws = await openWs(t, `ws://127.0.0.1:${port}/chat`);
  const reply = nextMessage(ws);
  ws.send('through the framework');
  assert.equal(await reply, 'through the framework');

  const refused = await requestHead(port, handshakeRequest(port, { path: '/private' }));
  assert.equal(refused.response.status, 401);
  assert.match(refused.text, /\r\n\r\nlog in first\n$/);

  const closed = closeOf(ws);
  assert.deepEqual(await within(wss.close({ deadline: 2000 }), 5000, 'close()'), { closed: 1, terminated: 0 });
  assert.equal((await closed).code, 1001);
}

test('Express 5: app routes and sockeye WebSockets on one port', async (t) => {
  const { default: express } = (await import('express' as string)) as { default: () => ExpressApp };
  const app = express();
  app.get('/hello', (_req, res) => res.send('hello from express'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const wss = echoHandler();
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
  t.after(async () => {
    await wss.close({ deadline: 200 });
    server.closeAllConnections();
    server.close();
  });
  await exercise(t, (server.address() as AddressInfo).port, wss, 'hello from express');
});

test("Fastify 5: routes and sockeye WebSockets on one port (fastify.server's 'upgrade' event)", async (t) => {
  const fastify = Fastify();
  fastify.get('/hello', async () => 'hello from fastify');
  const wss = echoHandler();
  fastify.server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => {
    await wss.close({ deadline: 200 });
    await fastify.close();
  });
  await exercise(t, (fastify.server.address() as AddressInfo).port, wss, 'hello from fastify');
});
