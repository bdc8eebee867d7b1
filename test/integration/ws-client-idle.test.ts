/**
 * Dead-peer detection on the client side: with `idleTimeout`, a client whose server freezes (a child process
 * stopped with SIGSTOP: the kernel keeps the connection, nothing arrives) pings, gets no answer within
 * `pongTimeout`, and ends with `error` then `close` 1006; a live but quiet server is pinged and kept.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { WebSocket } from '../../src/index.js';
import { startServer } from '../helpers/net.js';
import { within } from '../helpers/slow-peers.js';

const FROZEN_SERVER = `
const net = require('net'); const crypto = require('crypto');
const srv = net.createServer((s) => {
  s.once('data', (d) => {
    const key = /Sec-WebSocket-Key: (.*)\\r\\n/i.exec(d.toString())[1].trim();
    const acc = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    s.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + acc + '\\r\\n\\r\\n');
    process.stdout.write('upgraded\\n');
  });
});
srv.listen(0, '127.0.0.1', () => process.stdout.write('port ' + srv.address().port + '\\n'));
`;

test('a frozen server is detected: ping, no answer, error then close 1006', async (t) => {
  const child = spawn(process.execPath, ['-e', FROZEN_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
  let out = '';
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not print ${re}`)), 10_000);
      const check = () => {
        const m = re.exec(out);
        if (m) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          resolve(m);
        }
      };
      const onData = (d: Buffer) => {
        out += d;
        check();
      };
      child.stdout.on('data', onData);
      check();
    });
  const port = Number((await waitFor(/port (\d+)/))[1]);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, [], { idleTimeout: 0.3, pongTimeout: 0.3 });
  const events: string[] = [];
  ws.onerror = () => events.push('error');
  const closed = new Promise<CloseEvent>((resolve) => {
    ws.onclose = (e) => resolve(e as unknown as CloseEvent);
  });
  await waitFor(/upgraded/);
  child.kill('SIGSTOP');
  const e = await within(closed, 10_000, 'the close');
  assert.equal(e.code, 1006);
  assert.equal(e.wasClean, false);
  assert.deepEqual(events, ['error']);
});

test('a quiet but live server answers the pings and the connection stays open', async (t) => {
  // The client has one ping outstanding at a time: it sends the next only after the last was answered (else it
  // closes after pongTimeout). So the server seeing ping N+1 means ping N's pong was taken and the connection kept.
  const PINGS = 3;
  let pings = 0;
  let seen: () => void = () => {};
  const allSeen = new Promise<void>((r) => {
    seen = r;
  });
  const server = await startServer(t, {
    websocket: {
      ping: () => {
        if (++pings === PINGS) seen();
      },
    },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, [], { idleTimeout: 0.2, pongTimeout: 0.5 });
  t.after(() => ws.close());
  const events: string[] = [];
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  ws.onerror = () => events.push('error');
  ws.onclose = () => events.push('close');
  await within(allSeen, 10_000, `ping ${PINGS} at the server`);
  assert.equal(ws.readyState, WebSocket.OPEN);
  assert.deepEqual(events, []);
});
