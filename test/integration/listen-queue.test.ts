/**
 * The listen queue seen from the kernel (Linux /proc), for real: a server with backlog 4 whose event loop is
 * blocked, so it never calls accept(), while a child process opens many connections. The accept queue fills to
 * its limit (read from /proc/net/tcp by the blocked loop itself), the kernel counts the connections it refuses
 * (ListenOverflows / ListenDrops / SYN cookies, as it decides), and once the loop runs again every connection the
 * client saw complete gets its 200: TCP's retransmissions (SYN, SYN-ACK, data) bring the refused ones back.
 * Also: `socketInode` narrows the monitor to one listening socket.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import { ListenQueueMonitor, type ListenStats, socketInode } from '../../src/node/listen-stats.js';
import { run, startServer } from '../helpers/net.js';

const HAS_PROC = existsSync('/proc/net/tcp') && existsSync('/proc/net/netstat');

const BACKLOG = 4;
/**
 * Four times what the queue holds. Not hundreds: the refused clients retry in lockstep (same SYN timeout, then the
 * same 1 s initial RTO, doubling), and each synchronised burst finds room for limit + 1 of them only, so draining
 * takes one exponentially spaced round per limit + 1 clients (200 clients need well over 15 s; see the report).
 */
const CLIENTS = 4 * (BACKLOG + 1);
/** The child gives up after this long and reports what it has. */
const CLIENT_DEADLINE_MS = 12_000;
/** The longest the event loop stays blocked waiting for the queue to fill. */
const BLOCK_LIMIT_MS = 5_000;

/**
 * Child process: opens `n` connections to 127.0.0.1:`port` at once, sends one request on each as soon as it
 * connects, and prints one JSON line when all are settled or the deadline passes.
 */
const CLIENT_SCRIPT = `
const net = require('node:net');
const [port, n, deadlineMs] = process.argv.slice(1).map(Number);
const t0 = Date.now();
let connected = 0, ok = 0, failed = 0, settled = 0;
const errors = {};
function report() {
  process.stdout.write(JSON.stringify({ connected, ok, failed, neverConnected: n - connected,
    waiting: connected - ok - failed, errors, ms: Date.now() - t0 }) + '\\n');
  process.exit(0);
}
for (let i = 0; i < n; i++) {
  const s = net.connect(port, '127.0.0.1');
  const parts = [];
  let up = false;
  s.on('connect', () => {
    up = true;
    connected++;
    s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');
  });
  s.on('data', (d) => parts.push(d));
  s.on('error', (e) => { errors[e.code] = (errors[e.code] || 0) + 1; });
  s.on('close', () => {
    settled++;
    if (up) {
      if (Buffer.concat(parts).toString('latin1').startsWith('HTTP/1.1 200 ')) ok++;
      else failed++;
    }
    if (settled === n) report();
  });
}
setTimeout(report, deadlineMs);
`;

interface ClientReport {
  connected: number;
  ok: number;
  failed: number;
  neverConnected: number;
  waiting: number;
  errors: Record<string, number>;
  ms: number;
}

/** Sleeps the whole thread (not just this task): no event-loop turn, so no accept(). */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Loss seen by the kernel at any listener, in whichever counter it chose. */
function lost(s: ListenStats): number {
  return (s.listenOverflows ?? 0) + (s.listenDrops ?? 0) + (s.syncookiesSent ?? 0) + (s.reqQFullDrop ?? 0);
}

describe('the listen queue, seen from /proc', {
  skip: HAS_PROC ? false : 'needs Linux /proc/net/tcp and netstat',
}, () => {
  test('a blocked loop fills the accept queue, the kernel counts the refusals, every connected client is served', async (t) => {
    const server = await startServer(t, { backlog: BACKLOG, request: (_req, res) => res.send('ok') });
    const monitor = new ListenQueueMonitor(server.port, { backlog: BACKLOG });
    const idle = monitor.snapshot();
    assert.equal(idle.queueDepth, 0);
    assert.equal(idle.queueLimit, BACKLOG, 'Linux uses min(backlog, somaxconn)');

    // Spawned before the loop blocks: the child runs on its own while this thread never reaches accept().
    const clients = run(
      process.execPath,
      ['-e', CLIENT_SCRIPT, String(server.port), String(CLIENTS), String(CLIENT_DEADLINE_MS)],
      {
        timeoutMs: CLIENT_DEADLINE_MS + 3_000,
      },
    );

    // Block until the queue is full and the kernel has refused someone, or BLOCK_LIMIT_MS passes.
    const start = Date.now();
    let full = monitor.snapshot();
    let deepest = full.queueDepth ?? 0;
    while (Date.now() - start < BLOCK_LIMIT_MS) {
      full = monitor.snapshot();
      deepest = Math.max(deepest, full.queueDepth ?? 0);
      if (deepest >= BACKLOG && lost(full) > 0) break;
      blockFor(5);
    }
    const blockedMs = Date.now() - start;
    t.diagnostic(`blocked ${blockedMs} ms; while blocked: ${JSON.stringify(full)}`);

    assert.ok(deepest > 0, `the accept queue never rose: ${JSON.stringify(full)}`);
    assert.ok(deepest <= BACKLOG + 1, `sk_acceptq_is_full lets the queue hold limit + 1, saw ${deepest}`);
    assert.equal(full.queueLimit, BACKLOG);
    assert.ok(lost(full) > 0, `no overflow, drop or SYN cookie counted: ${JSON.stringify(full)}`);

    // The listener's limit as the kernel reports it over inet_diag (ss Send-Q), when ss is installed.
    const ss = await run('ss', ['-Hltn', `sport = :${server.port}`], { timeoutMs: 5_000 }).catch(() => null);
    if (ss !== null && ss.code === 0 && ss.stdout.trim() !== '') {
      assert.equal(Number(ss.stdout.trim().split(/\s+/)[2]), BACKLOG, `ss -l Send-Q: ${ss.stdout}`);
    } else t.diagnostic('ss not available: limit not cross-checked');

    // Now the loop runs: accept() drains the queue, and TCP retransmits bring back the refused ones.
    const out = await clients;
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout) as ClientReport;
    const after = monitor.snapshot();
    t.diagnostic(`clients: ${JSON.stringify(report)}; after: ${JSON.stringify(after)}`);

    assert.equal(report.failed, 0, 'a connection the kernel completed was closed without a 200');
    assert.equal(report.waiting, 0, `connected clients still waiting for their response after ${report.ms} ms`);
    assert.equal(report.ok, report.connected);
    assert.ok(report.ok >= deepest, 'the connections that sat in the queue were served');
    assert.equal(after.queueDepth, 0, 'nothing left in the accept queue');
    assert.ok(lost(after) >= lost(full), 'counters only grow');
  });

  test('socketInode narrows the monitor to one listening socket', async (t) => {
    const srv = net.createServer((s) => s.destroy());
    t.after(() => srv.close());
    srv.listen({ port: 0, host: '127.0.0.1', backlog: 7 });
    await new Promise((resolve) => srv.once('listening', resolve));
    const { port } = srv.address() as net.AddressInfo;
    // Node's internal handle is the only place the listening fd is exposed.
    const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
    const inode = socketInode(fd);
    assert.ok(inode !== null && inode > 0, `fd ${fd} is not a socket in /proc/self/fd`);

    const mine = new ListenQueueMonitor(port, { backlog: 7, inode }).snapshot();
    assert.equal(mine.queueDepth, 0);
    assert.equal(mine.queueLimit, 7);
    const other = new ListenQueueMonitor(port, { backlog: 7, inode: inode + 1 }).snapshot();
    assert.equal(other.queueDepth, null);
    assert.equal(other.queueLimit, null);
  });

  test('server.stats().listen reports our own listener: empty queue, limit = min(backlog, somaxconn)', async (t) => {
    const server = await startServer(t, { backlog: 7, request: (_q, r) => r.send('ok') });
    const listen = server.stats().listen;
    assert.equal(listen.queueDepth, 0);
    assert.equal(listen.queueLimit, 7);
    assert.equal(typeof listen.listenOverflows, 'number');
  });
});
