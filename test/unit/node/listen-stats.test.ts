/**
 * node/listen-stats.ts on captured /proc text (test/fixtures/proc, see its README): LISTEN rows picked by hex port
 * among accepted and TIME_WAIT rows on the same port, IPv4 and IPv6, a non-zero accept queue, several listeners on
 * one port, the inode filter; TcpExt counters and their absence; the backlog the kernel really uses; and the monitor
 * against a fixture procfs (deltas since construction, null fields when /proc is absent).
 */

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  effectiveBacklog,
  ListenQueueMonitor,
  parseNetstat,
  parseProcNetTcp,
  socketInode,
} from '../../../src/node/listen-stats.js';

const PROC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../test/fixtures/proc');
const read = (name: string) => readFileSync(path.join(PROC, name), 'latin1');
const TCP = read('net/tcp');
const TCP6 = read('net/tcp6');

// The captured listeners (README): A on 127.0.0.1:0x941B backlog 4 with 10 clients; B on 0.0.0.0:0xB1B1 and on
// [::]:0xB1B1 (ipv6Only), backlog 8, with 3 and 12 clients; an idle listener of the host on 0.0.0.0:0x07E8.
const PORT_A = 0x941b;
const PORT_B = 0xb1b1;
const PORT_IDLE = 0x07e8;

describe('parseProcNetTcp', () => {
  it('reads the accept-queue length of a LISTEN row from rx_queue', () => {
    assert.deepEqual(parseProcNetTcp(TCP, PORT_A), { queueDepth: 5, listeners: 1 });
  });

  it('reports an idle listener as depth 0, not as absent', () => {
    assert.deepEqual(parseProcNetTcp(TCP, PORT_IDLE), { queueDepth: 0, listeners: 1 });
  });

  it('skips ESTABLISHED rows whose local port is the listening port', () => {
    // B has 2 accepted-by-kernel rows in state 01 with local port B1B1 besides its LISTEN row.
    assert.ok(TCP.split('\n').some((l) => / 0100007F:B1B1 \S+ 01 /.test(l)));
    assert.deepEqual(parseProcNetTcp(TCP, PORT_B), { queueDepth: 3, listeners: 1 });
  });

  it('reads IPv6 rows (32-hex-digit addresses)', () => {
    assert.deepEqual(parseProcNetTcp(TCP6, PORT_B), { queueDepth: 9, listeners: 1 });
  });

  it('parses the port as hex, not decimal', () => {
    assert.equal(parseProcNetTcp(TCP, 941), null);
    assert.equal(parseProcNetTcp(TCP, 37915)?.queueDepth, 5);
  });

  it('returns null for a port that only has TIME_WAIT rows, or is only a remote port', () => {
    assert.equal(parseProcNetTcp(TCP, 0x9cb1), null);
    assert.equal(parseProcNetTcp(TCP, 0xc266), null);
    assert.equal(parseProcNetTcp(TCP, 1), null);
  });

  it('sums several LISTEN rows on the same port and counts them', () => {
    const both = TCP + TCP6.split('\n').slice(1).join('\n');
    assert.deepEqual(parseProcNetTcp(both, PORT_B), { queueDepth: 12, listeners: 2 });
  });

  it('matches one socket only when given its inode', () => {
    assert.deepEqual(parseProcNetTcp(TCP, PORT_B, 1087882), { queueDepth: 3, listeners: 1 });
    assert.deepEqual(parseProcNetTcp(TCP6, PORT_B, 1087881), { queueDepth: 9, listeners: 1 });
    assert.equal(parseProcNetTcp(TCP, PORT_B, 1087881), null);
  });

  it('returns null for empty, header-only and malformed text', () => {
    assert.equal(parseProcNetTcp('', PORT_A), null);
    assert.equal(parseProcNetTcp(`${TCP.split('\n')[0]}\n`, PORT_A), null);
    assert.equal(parseProcNetTcp('garbage\n   0: 0100007F:941B 00000000:0000 0A\n', PORT_A), null);
  });
});

describe('parseNetstat', () => {
  it('zips the TcpExt names with their values', () => {
    const c = parseNetstat(read('net/netstat'));
    assert.equal(c.ListenOverflows, 2293);
    assert.equal(c.ListenDrops, 2293);
    assert.equal(c.SyncookiesSent, 325);
    assert.equal(c.SyncookiesRecv, 1864);
    assert.equal(c.SyncookiesFailed, 0);
    assert.equal(c.TCPReqQFullDrop, 0);
    assert.equal(c.TCPReqQFullDoCookies, 325);
  });

  it('ignores the other sections (IpExt, MPTcpExt)', () => {
    const c = parseNetstat(read('net/netstat'));
    assert.equal(c.InOctets, undefined);
    assert.equal(c.MPCapableSYNRX, undefined);
  });

  it('returns no counters when there is no TcpExt pair', () => {
    assert.deepEqual(parseNetstat(read('netstat-no-tcpext')), {});
    assert.deepEqual(parseNetstat(''), {});
    assert.deepEqual(parseNetstat('TcpExt: SyncookiesSent ListenOverflows\n'), {});
  });
});

describe('effectiveBacklog', () => {
  it('is min(backlog, somaxconn), with Node turning 0 into 511', () => {
    assert.equal(effectiveBacklog(4, 4096), 4);
    assert.equal(effectiveBacklog(0, 4096), 511);
    assert.equal(effectiveBacklog(511, 128), 128);
    assert.equal(effectiveBacklog(8192, 4096), 4096);
    assert.equal(effectiveBacklog(-1, 4096), 4096);
  });
});

describe('ListenQueueMonitor on a fixture procfs', () => {
  it('reports the queue, the computed limit and zero deltas', () => {
    const s = new ListenQueueMonitor(PORT_A, { backlog: 4, procRoot: PROC }).snapshot();
    assert.deepEqual(s, {
      queueDepth: 5,
      queueLimit: 4,
      listenOverflows: 0,
      listenDrops: 0,
      syncookiesSent: 0,
      syncookiesRecv: 0,
      syncookiesFailed: 0,
      reqQFullDrop: 0,
    });
  });

  it('adds the IPv4 and IPv6 listeners of one port, limits included', () => {
    const s = new ListenQueueMonitor(PORT_B, { backlog: 8, procRoot: PROC }).snapshot();
    assert.equal(s.queueDepth, 12);
    assert.equal(s.queueLimit, 16);
    const v6 = new ListenQueueMonitor(PORT_B, { backlog: 8, procRoot: PROC, inode: 1087881 }).snapshot();
    assert.equal(v6.queueDepth, 9);
    assert.equal(v6.queueLimit, 8);
  });

  it('reports counters as deltas since construction', (t) => {
    const root = mkdtempSync(path.join(tmpdir(), 'sockeye-proc-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(path.join(root, 'net'));
    copyFileSync(path.join(PROC, 'net/tcp'), path.join(root, 'net/tcp'));
    copyFileSync(path.join(PROC, 'netstat-before-burst'), path.join(root, 'net/netstat'));
    const monitor = new ListenQueueMonitor(PORT_A, { backlog: 4, procRoot: root });
    copyFileSync(path.join(PROC, 'net/netstat'), path.join(root, 'net/netstat'));
    const s = monitor.snapshot();
    // The burst: A refused 10 - 5 SYNs, B's IPv6 socket 12 - 9; nothing needed a cookie.
    assert.equal(s.listenOverflows, 8);
    assert.equal(s.listenDrops, 8);
    assert.equal(s.syncookiesSent, 0);
    assert.equal(s.reqQFullDrop, 0);
    // No tcp6 file and no somaxconn here: the IPv4 row alone, and no limit.
    assert.equal(s.queueDepth, 5);
    assert.equal(s.queueLimit, null);
    // A counter missing now (or at the start) has no delta.
    writeFileSync(path.join(root, 'net/netstat'), read('netstat-no-tcpext'));
    assert.equal(monitor.snapshot().listenOverflows, null);
  });

  it('gives null fields where /proc is absent', () => {
    const s = new ListenQueueMonitor(PORT_A, { procRoot: path.join(PROC, 'does-not-exist') }).snapshot();
    for (const v of Object.values(s)) assert.equal(v, null);
    assert.equal(Object.keys(s).length, 8);
    assert.equal(socketInode(0, path.join(PROC, 'does-not-exist')), null);
  });
});
