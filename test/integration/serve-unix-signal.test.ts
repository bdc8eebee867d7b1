/**
 * `serve({ listen: { path } })` on a Unix domain socket, with real peers over it: curl (`--unix-socket`) for HTTP
 * and the `ws` client (`ws+unix:`) for a WebSocket; a stale socket file is replaced, a live one is not taken over,
 * and the file is gone after close(). `serve({ signal })`: aborting closes the server gracefully (WebSocket
 * clients get 1001, the port stops accepting); an already aborted signal makes serve() reject and bind nothing.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { serve } from '../../src/index.js';
import { run } from '../helpers/net.js';
import { closeOf, within } from '../helpers/slow-peers.js';

/** A fresh directory for socket files, removed after the test. */
function socketDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sockeye-unix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a `ws` client (bounded); terminated when the test ends. */
async function openWs(t: TestContext, url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  ws.on('error', () => {});
  await within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    5000,
    `${url} to open`,
  );
  return ws;
}

test('serve({ listen: { path } }): HTTP with curl --unix-socket and a WebSocket with ws+unix:, file removed on close', async (t) => {
  const sock = path.join(socketDir(t), 'app.sock');
  const server = await serve({
    listen: { path: sock },
    request: (req, res) => res.send(`hello over unix ${req.path}`),
    websocket: {
      message(ws, message) {
        ws.send(`echo:${String(message)}`);
      },
    },
  });
  t.after(() => server.close({ deadline: 200 }));
  assert.equal(server.port, 0);
  assert.equal(server.hostname, sock);
  assert.equal(server.url, `http+unix://${encodeURIComponent(sock)}`);

  const r = await run('curl', ['-sS', '--max-time', '5', '--unix-socket', sock, 'http://localhost/there']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello over unix /there');

  const ws = await openWs(t, `ws+unix://${sock}:/chat`);
  const reply = within(
    new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString()))),
    5000,
    'the echo',
  );
  ws.send('over a unix socket');
  assert.equal(await reply, 'echo:over a unix socket');
  assert.equal(server.stats().websocket.accepted, 1);

  const closed = closeOf(ws);
  await server.close({ deadline: 2000 });
  assert.equal((await closed).code, 1001);
  assert.equal(existsSync(sock), false, 'the socket file is removed on close');
});

test('serve({ listen: { path } }) replaces a stale socket file but not one a live server accepts on', async (t) => {
  const dir = socketDir(t);
  const stale = path.join(dir, 'stale.sock');
  // A socket file nobody accepts on: a process that listened there and was killed (SIGKILL: no unlink).
  const crash = await run(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.notEqual(crash.code, 0);
  assert.ok(existsSync(stale), 'the crashed listener left its socket file');
  const server = await serve({ listen: { path: stale }, request: (_req, res) => res.send('fresh') });
  t.after(() => server.close({ deadline: 200 }));
  const r = await run('curl', ['-sS', '--max-time', '5', '--unix-socket', stale, 'http://localhost/']);
  assert.equal(r.stdout, 'fresh');

  await assert.rejects(serve({ listen: { path: stale } }), { code: 'EADDRINUSE' });
  const again = await run('curl', ['-sS', '--max-time', '5', '--unix-socket', stale, 'http://localhost/']);
  assert.equal(again.stdout, 'fresh', 'the live server keeps its socket');
});

test('serve({ listen }) with port or host is a usage error', async () => {
  await assert.rejects(serve({ listen: { path: '/tmp/x.sock' }, port: 0 }), {
    name: 'TypeError',
    message: /leave out port and host/,
  });
});

test('serve({ signal }): abort closes gracefully (WebSocket clients get 1001) and the port stops accepting', async (t) => {
  const controller = new AbortController();
  const ends: string[] = [];
  const server = await serve({
    host: '127.0.0.1',
    port: 0,
    signal: controller.signal,
    websocket: { close: (_ws, code) => void ends.push(String(code)) },
  });
  t.after(() => server.close({ deadline: 200 }));
  const port = server.port;
  const a = await openWs(t, `ws://127.0.0.1:${port}/`);
  const b = await openWs(t, `ws://127.0.0.1:${port}/`);
  const closes = [closeOf(a), closeOf(b)];
  controller.abort();
  for (const c of await Promise.all(closes)) assert.deepEqual(c, { code: 1001, reason: 'Server shutting down' });
  // close() after an abort is the same close, already under way or done.
  assert.deepEqual(await within(server.close(), 5000, 'the close started by abort'), { closed: 2, terminated: 0 });
  assert.deepEqual(ends, ['1001', '1001']);
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED');
});

test('serve({ signal }) with an aborted signal rejects with its reason and binds nothing', async () => {
  const controller = new AbortController();
  controller.abort(new Error('not today'));
  await assert.rejects(serve({ host: '127.0.0.1', port: 0, signal: controller.signal }), { message: 'not today' });
});
