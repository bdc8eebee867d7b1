/**
 * `server.stats().kernel` on this machine's real kernel (Linux; skipped where /proc is absent): every counter and
 * setting is a number, scope says namespace, and the zero-window counter moves under a load this test makes: a
 * client that asks for a 16 MiB response and never reads it. Its receive buffer fills and its kernel advertises a
 * zero window (TcpExt TCPToZeroWindowAdv) — the client is in the same network namespace, which is the point of
 * `scope: 'namespace'`. /metrics prints the same family.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { startServer } from '../helpers/net.js';
import { waitFor } from '../helpers/slow-peers.js';

const HAS_PROC = existsSync('/proc/net/snmp') && existsSync('/proc/net/netstat');
const BODY = Buffer.alloc(16 * 1024 * 1024, 0x61);

test('stats().kernel: numbers on Linux; a reader that stops makes a zero window the counters see', {
  skip: !HAS_PROC && 'no /proc',
}, async (t) => {
  const server = await startServer(t, {
    metrics: '/metrics',
    request: (req, res) => {
      if (req.path === '/big') res.send(BODY);
      else res.send('ok\n');
    },
  });
  const before = server.stats().kernel;
  assert.equal(before.scope, 'namespace');
  for (const [name, v] of Object.entries({ ...before.tcp, ...before.device })) {
    assert.equal(typeof v, 'number', `kernel.${name} is a number on Linux`);
  }
  for (const [name, v] of Object.entries(before.settings)) {
    assert.ok(typeof v === 'number' || (Array.isArray(v) && v.length === 3), `settings.${name}`);
  }
  const rmem = before.settings.tcpRmem as [number, number, number];
  assert.ok(rmem[0] <= rmem[1] && rmem[1] <= rmem[2], 'tcp_rmem is min <= default <= max');

  const sock = net.connect(server.port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.on('error', () => {});
  sock.pause(); // never read: the kernel receive buffer fills, then the window closes
  sock.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');

  await waitFor(
    () => (server.stats().kernel.tcp.toZeroWindowAdv ?? 0) > 0,
    10_000,
    'TCPToZeroWindowAdv to move while the client does not read',
  );
  const after = server.stats().kernel;
  assert.ok((after.tcp.outSegs ?? 0) > (before.tcp.outSegs ?? 0), 'segments went out');
  assert.ok((after.tcp.inSegs ?? 0) > (before.tcp.inSegs ?? 0), 'segments came in');

  const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  const text = await res.text();
  const m = /^sockeye_kernel_tcp_zero_window_adverts_total (\d+)$/m.exec(text);
  assert.ok(m !== null, 'the zero-window family is in /metrics');
  assert.ok(Number(m[1]) >= (after.tcp.toZeroWindowAdv ?? 0), 'and it has at least the figure stats() saw');
  assert.match(text, /^sockeye_kernel_tcp_segments_total\{direction="out"\} \d+$/m);
});
