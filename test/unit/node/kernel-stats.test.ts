/**
 * The kernel counter readers (src/node/kernel-stats.ts) on text shaped like Linux's /proc files: the
 * "Section: names" / "Section: values" pairs of /proc/net/snmp and /proc/net/netstat, the drop columns of
 * /proc/net/dev, the hex columns of /proc/net/softnet_stat; and `KernelCounters` over a procfs made in a temporary
 * directory: deltas since construction, settings read once, null where a file is missing.
 */

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { KernelCounters, parseProcNetDev, parseProcPairs, parseSoftnetStat } from '../../../src/node/kernel-stats.js';

const SNMP = (inSegs: number, retrans: number) => `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 12345
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 10 10 0 0 2 ${inSegs} 900 ${retrans} 0 7 0
Udp: InDatagrams NoPorts
Udp: 5 6
`;

const NETSTAT = (
  backlogDrop: number,
  toZero: number,
) => `TcpExt: SyncookiesSent PruneCalled RcvPruned TCPBacklogDrop TCPToZeroWindowAdv TCPRcvQDrop
TcpExt: 0 3 0 ${backlogDrop} ${toZero} 0
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
`;

const DEV = (loDrop: number) => `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 5352 4995    0  ${loDrop}    0     0          0         0 5352 4995    0    0    0     0       0          0
  eth0: 1222 33109    0    2    1     0          0         0  2371 23945    0    5    0     0       0          0
`;

const SOFTNET = (dropped: number) =>
  `0f37233a ${dropped.toString(16).padStart(8, '0')} 0000000c 00000000 00000000 00000000 00000000 00000000 00000000
0e8f39a5 00000010 00000006 00000000 00000000 00000000 00000000 00000000 00000000
`;

test('parseProcPairs: every section of /proc/net/snmp and /proc/net/netstat, by name', () => {
  const snmp = parseProcPairs(SNMP(100, 4));
  assert.equal(snmp.Tcp?.InSegs, 100);
  assert.equal(snmp.Tcp?.RetransSegs, 4);
  assert.equal(snmp.Tcp?.MaxConn, -1);
  assert.equal(snmp.Udp?.NoPorts, 6);
  assert.equal(snmp.Ip?.InReceives, 12345);
  const netstat = parseProcPairs(NETSTAT(2, 9));
  assert.equal(netstat.TcpExt?.TCPBacklogDrop, 2);
  assert.equal(netstat.TcpExt?.TCPToZeroWindowAdv, 9);
  assert.deepEqual(parseProcPairs(''), {});
});

test('parseProcNetDev: drop and fifo columns summed over interfaces, headers skipped', () => {
  assert.deepEqual(parseProcNetDev(DEV(551)), { rxDropped: 553, rxFifo: 1, txDropped: 5 });
  assert.equal(parseProcNetDev('Inter-|   Receive\n face |bytes\n'), null);
});

test('parseSoftnetStat: hex dropped and time_squeeze columns summed over CPUs', () => {
  assert.deepEqual(parseSoftnetStat(SOFTNET(0xa0)), { dropped: 0xa0 + 0x10, timeSqueeze: 0x0c + 0x06 });
  assert.equal(parseSoftnetStat(''), null);
});

test('KernelCounters: deltas since construction, settings once, scope namespace; null without the files', (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'sockeye-proc-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'net'));
  mkdirSync(path.join(root, 'sys/net/ipv4'), { recursive: true });
  mkdirSync(path.join(root, 'sys/net/core'), { recursive: true });
  const write = (file: string, text: string) => writeFileSync(path.join(root, file), text);
  write('net/snmp', SNMP(100, 4));
  write('net/netstat', NETSTAT(2, 9));
  write('net/dev', DEV(551));
  write('net/softnet_stat', SOFTNET(0xa0));
  write('sys/net/ipv4/tcp_rmem', '4096\t131072\t33554432\n');
  write('sys/net/ipv4/tcp_wmem', '4096\t16384\t4194304\n');
  write('sys/net/core/rmem_max', '212992\n');
  write('sys/net/core/wmem_max', '212992\n');
  write('sys/net/core/netdev_max_backlog', '1000\n');

  const counters = new KernelCounters({ procRoot: root });
  const zero = counters.snapshot();
  assert.equal(zero.scope, 'namespace');
  assert.equal(zero.tcp.inSegs, 0);
  assert.equal(zero.tcp.retransSegs, 0);
  assert.equal(zero.tcp.synRetrans, null, 'a counter this kernel does not print is null, not 0');
  assert.deepEqual(zero.settings, {
    tcpRmem: [4096, 131072, 33554432],
    tcpWmem: [4096, 16384, 4194304],
    rmemMax: 212992,
    wmemMax: 212992,
    netdevMaxBacklog: 1000,
  });

  write('net/snmp', SNMP(160, 7));
  write('net/netstat', NETSTAT(5, 10));
  write('net/dev', DEV(600));
  write('net/softnet_stat', SOFTNET(0xa5));
  write('sys/net/core/netdev_max_backlog', '2000\n');
  const later = counters.snapshot();
  assert.equal(later.tcp.inSegs, 60);
  assert.equal(later.tcp.outSegs, 0);
  assert.equal(later.tcp.retransSegs, 3);
  assert.equal(later.tcp.backlogDrop, 3);
  assert.equal(later.tcp.toZeroWindowAdv, 1);
  assert.equal(later.tcp.pruneCalled, 0);
  assert.deepEqual(later.device, { rxDropped: 49, rxFifo: 0, txDropped: 0, softnetDropped: 5, softnetTimeSqueeze: 0 });
  assert.equal(later.settings.netdevMaxBacklog, 1000, 'settings are read once, at construction');

  const none = new KernelCounters({ procRoot: path.join(root, 'absent') }).snapshot();
  assert.equal(none.tcp.inSegs, null);
  assert.equal(none.device.softnetDropped, null);
  assert.equal(none.settings.tcpRmem, null);
});
