/**
 * Dead and idle peers over real loopback sockets: a peer frozen with SIGSTOP after its handshake (the kernel keeps
 * the connection: no FIN, no RST) is pinged after `idleTimeout`, then dropped after `pongTimeout` — close handler
 * 1006 with cause 'idle-timeout', wsOpen back to 0; a live idle peer that answers pings stays open through several
 * idle periods; an HTTP head that never completes ends with 408, a headers timeout in stats() and cause
 * 'headers-timeout' in onConnectionEnd.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import type { CloseInfo, ConnectionEndInfo } from '../../src/index.js';
import { rawExchange, startServer } from '../helpers/net.js';
import { openWs, spawnFrozenPeer, waitFor } from '../helpers/slow-peers.js';

test('a frozen peer (SIGSTOP) is pinged, then dropped: 1006, cause idle-timeout, wsOpen back to 0', async (t) => {
  const closes: { code: number; wasClean: boolean; info: CloseInfo }[] = [];
  const ends: ConnectionEndInfo[] = [];
  const server = await startServer(t, {
    websocket: {
      idleTimeout: 1,
      pongTimeout: 1,
      close(_ws, code, _reason, wasClean, info) {
        closes.push({ code, wasClean, info });
      },
    },
    onConnectionEnd: (info) => ends.push(info),
  });
  const child = await spawnFrozenPeer(t, server.port);
  await waitFor(() => server.stats().connections.wsOpen === 1, 2000, 'the upgrade to complete');
  assert.ok(child.kill('SIGSTOP'));

  // idleTimeout (1 s) + pongTimeout (1 s) + the 250 ms tick, with room for a loaded machine.
  await waitFor(() => closes.length === 1, 8000, 'the frozen peer to be dropped');
  const [c] = closes;
  assert.equal(c?.code, 1006);
  assert.equal(c?.wasClean, false);
  assert.equal(c?.info.cause, 'idle-timeout');
  assert.equal(c?.info.initiator, 'server');
  assert.equal(c?.info.code, 1006);
  assert.ok((c?.info.bytesWritten ?? 0) > 0);
  const stats = server.stats();
  assert.equal(stats.connections.wsOpen, 0);
  assert.equal(stats.connections.total, 0);
  assert.equal(stats.websocket.ends['idle-timeout'], 1);
  assert.ok((stats.websocket.framesOut.ping ?? 0) >= 1, 'the liveness ping was sent');
  assert.equal(stats.websocket.framesIn.pong, 0, 'and never answered');
  assert.deepEqual(
    ends.map((e) => [e.kind, e.cause, e.code]),
    [['websocket', 'idle-timeout', 1006]],
  );

  child.kill('SIGCONT');
  child.kill('SIGKILL');
});

test('a live idle peer that answers pings stays open through several idle periods', async (t) => {
  const closes: number[] = [];
  let pongs = 0;
  const server = await startServer(t, {
    websocket: {
      idleTimeout: 1,
      pongTimeout: 1,
      pong() {
        pongs++;
      },
      close(_ws, code) {
        closes.push(code);
      },
      message(ws, m) {
        ws.send(m);
      },
    },
  });
  // `ws` answers pings with pongs by itself; the client sends nothing else.
  const client = await openWs(t, `ws://127.0.0.1:${server.port}`);
  let pings = 0;
  client.on('ping', () => pings++);
  // The server pings again only once the last ping was answered (else it drops the peer after pongTimeout): the
  // third ping means two idle periods survived, each ping answered in time.
  await waitFor(() => pings >= 3, 12_000, 'three liveness pings');
  assert.equal(client.readyState, WebSocket.OPEN, 'still open');
  assert.deepEqual(closes, [], 'the server closed nothing');
  assert.equal(server.stats().connections.wsOpen, 1);
  assert.ok(pongs >= 2, `the server got the pongs (${pongs})`);
  t.diagnostic(`pings received: ${pings}`);

  // Still usable.
  const echo = new Promise<string>((resolve) => client.once('message', (d) => resolve(String(d))));
  client.send('alive');
  assert.equal(await echo, 'alive');
});

test('an HTTP head that never completes: 408, headers timeout in stats(), cause headers-timeout', async (t) => {
  const ends: ConnectionEndInfo[] = [];
  const server = await startServer(t, {
    timeouts: { headers: 500 },
    onConnectionEnd: (info) => ends.push(info),
  });
  // Slowloris: part of a head, then silence.
  const res = await rawExchange(server.port, ['GET / HTTP/1.1\r\nHost: x\r\nX-Slow: '], { waitMs: 5000 });
  assert.match(res.text, /^HTTP\/1\.1 408 /);
  assert.match(res.text, /connection: close/i);
  assert.ok(res.closed, 'the server closed the connection');
  await waitFor(() => ends.length === 1, 3000, 'onConnectionEnd');
  const stats = server.stats();
  assert.equal(stats.http.timeouts.headers, 1);
  assert.equal(stats.http.ends['headers-timeout'], 1);
  const [e] = ends;
  assert.equal(e?.kind, 'http');
  assert.equal(e?.cause, 'headers-timeout');
  assert.equal(e?.initiator, 'server');
  assert.equal(e?.requests, 0);
  assert.ok((e?.bytesRead ?? 0) > 0);
  assert.ok((e?.bytesWritten ?? 0) > 0);
  assert.ok((e?.durationMs ?? 0) > 0);
});
