/**
 * What an idle connection keeps alive, over real loopback sockets: once a keep-alive request and its response
 * are both over, the connection holds neither (nor their headers), and an idle WebSocket holds no message it
 * received. Checked with WeakRefs and forced GCs (V8's gc, exposed for this file only).
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import WebSocket from 'ws';
import { startServer } from '../helpers/net.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** True once `ref` has been collected (several GCs: a young object may need more than one). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

test('keep-alive HTTP: after the response, the idle connection keeps neither request nor response', async (t) => {
  let reqRef: WeakRef<object> | null = null;
  let resRef: WeakRef<object> | null = null;
  const server = await startServer(t, {
    request(req, res) {
      reqRef = new WeakRef(req);
      resRef = new WeakRef(res);
      res.send('ok');
    },
  });
  const sock = net.connect(server.port, '127.0.0.1');
  t.after(() => sock.destroy());
  const answer = new Promise<string>((resolve) => {
    let text = '';
    sock.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.endsWith('ok')) resolve(text);
    });
  });
  sock.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'v'.repeat(1000)}\r\n\r\n`);
  assert.match(await answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(server.stats().connections.total, 1, 'the connection is still open (keep-alive)');
  assert.ok(reqRef !== null && resRef !== null);
  assert.equal(await collected(reqRef), true, 'the request was collected');
  assert.equal(await collected(resRef), true, 'the response was collected');
});

test('WebSocket: a message the handler did not keep is collected while the connection stays open', async (t) => {
  let msgRef: WeakRef<object> | null = null;
  const server = await startServer(t, {
    websocket: {
      message(ws, message) {
        msgRef = new WeakRef(message as Buffer);
        ws.send('got it');
      },
    },
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  t.after(() => client.terminate());
  await new Promise((r) => client.once('open', r));
  const reply = new Promise((r) => client.once('message', r));
  client.send(Buffer.alloc(100_000, 1));
  await reply;
  assert.ok(msgRef !== null);
  assert.equal(await collected(msgRef), true, 'the 100 kB message was collected');
  assert.equal(client.readyState, WebSocket.OPEN);
});
