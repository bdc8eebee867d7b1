/**
 * The path underneath, measured (issue 18 §3, docs/socket-life.md "The path underneath"): makes one load per
 * stage where a packet can drop or stall on Linux, and prints the kernel counters' deltas over each, as
 * `server.stats().kernel` / `.listen` read them (src/node/kernel-stats.ts). A quiet interval of the same length
 * comes first: the counters are namespace-wide, so on a shared machine they also count everyone else's traffic,
 * and the quiet row says how much of each figure is that.
 *
 *   npm run build && node dist/bench/kernel-paths.js
 *
 * Loads (a few seconds in all; loopback only):
 * - quiet: nothing, for QUIET_MS.
 * - listen queue full: a listener with backlog 2 whose event loop is blocked (no accept()) for BLOCK_MS while
 *   CLIENTS connections arrive: ListenOverflows / ListenDrops; the clients' SYNs are answered late or not at
 *   all and retransmitted (TCPSynRetrans, RetransSegs).
 * - a reader that stops: a sockeye server answers GET with 16 MiB to a client that never reads: the client's
 *   receive buffer fills, its kernel advertises a zero window (TCPToZeroWindowAdv), the server's send buffer and
 *   then its user-space queue fill; the client reads again (TCPFromZeroWindowAdv). Also prints both sockets'
 *   kernel queues (/proc/net/tcp tx_queue / rx_queue) at the stall.
 * - receive buffer too small for tiny segments: Debian's Python (Node cannot set SO_RCVBUF on TCP) shrinks an
 *   accepted socket's SO_RCVBUF to 2 KiB after the window was advertised, and a TCP_NODELAY sender writes 1-byte
 *   segments for a second: each costs a whole skb of buffer memory, so the kernel collapses the queue
 *   (PruneCalled, TCPRcvCollapsed), prunes it (RcvPruned), drops (TCPRcvQDrop), and the sender retransmits.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../src/index.js';
import { KernelCounters, type KernelStats, parseProcPairs } from '../src/node/kernel-stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const QUIET_MS = 1000;
const BLOCK_MS = 2500;
const CLIENTS = 20;
const BODY_BYTES = 16 * 1024 * 1024;
/** Every load ends within this long (each has its own end; this is the backstop). */
const LOAD_LIMIT_MS = 15_000;

/** TcpExt counters stats().listen reads (deltas kept here because KernelStats leaves them to ListenStats). */
function listenCounters(): Record<string, number> {
  const text = readFileSync('/proc/net/netstat', 'latin1');
  const ext = parseProcPairs(text).TcpExt ?? {};
  return { ListenOverflows: ext.ListenOverflows ?? 0, ListenDrops: ext.ListenDrops ?? 0 };
}

function flat(k: KernelStats, listen: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(k.tcp)) if (v !== null) out[`tcp.${key}`] = v;
  for (const [key, v] of Object.entries(k.device)) if (v !== null) out[`device.${key}`] = v;
  for (const [key, v] of Object.entries(listen)) out[`listen.${key}`] = v;
  return out;
}

/** Runs `load` between two readings; returns the deltas and how long it took. */
async function measure(
  load: () => Promise<string | undefined>,
): Promise<{ ms: number; deltas: Record<string, number>; note: string }> {
  const listen0 = listenCounters();
  const counters = new KernelCounters();
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const note = await Promise.race([
    load(),
    new Promise<string>((_, reject) => {
      timer = setTimeout(() => reject(new Error('load did not finish in time')), LOAD_LIMIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  const ms = performance.now() - t0;
  const listen1 = listenCounters();
  const listen: Record<string, number> = {};
  for (const k of Object.keys(listen0)) listen[k] = (listen1[k] ?? 0) - (listen0[k] ?? 0);
  return { ms, deltas: flat(counters.snapshot(), listen), note: note ?? '' };
}

const quiet = () => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), QUIET_MS));

/** A child whose listener (backlog 2) never accepts for BLOCK_MS; CLIENTS connect meanwhile. */
async function listenQueueFull(): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const net = require('node:net');
       const srv = net.createServer((s) => s.destroy());
       srv.listen({ port: 0, host: '127.0.0.1', backlog: 2 }, () => {
         process.stdout.write(srv.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${BLOCK_MS});
         setTimeout(() => process.exit(0), 500);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d)))));
  let connected = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const s = net.connect(port, '127.0.0.1', () => connected++);
    s.on('error', () => {});
    sockets.push(s);
  }
  await new Promise((resolve) => child.once('exit', resolve));
  for (const s of sockets) s.destroy();
  return `${CLIENTS} clients, ${connected} saw their handshake complete`;
}

type Queues = { tx: number; rx: number };

/**
 * /proc/net/tcp tx_queue and rx_queue of the ESTABLISHED (01) loopback connection between ports `a` and `b`, for
 * each end: [the socket whose local port is a, the one whose local port is b].
 */
function queuesOf(a: number, b: number): [Queues | null, Queues | null] {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const out: [Queues | null, Queues | null] = [null, null];
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== '01') continue;
    const local = f[1]?.slice(-4);
    const remote = f[2]?.slice(-4);
    const [tx, rx] = (f[4] ?? '0:0').split(':').map((x) => Number.parseInt(x, 16));
    const q = { tx: tx ?? 0, rx: rx ?? 0 };
    if (local === hex(a) && remote === hex(b)) out[0] = q;
    else if (local === hex(b) && remote === hex(a)) out[1] = q;
  }
  return out;
}

/** A sockeye server sends 16 MiB to a client that stops reading, then reads again. */
async function readerStops(): Promise<string> {
  const body = Buffer.alloc(BODY_BYTES, 0x61);
  const server = await serve({ host: '127.0.0.1', port: 0, request: (_req, res) => res.send(body) });
  try {
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.pause();
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    // Wait for the stall: the client's receive queue stops growing (the zero-window counter alone is not enough:
    // it is namespace-wide, another connection may move it first). Each read of /proc/net/tcp is O(sockets).
    let client: Queues | null = null;
    let serverSide: Queues | null = null;
    for (let i = 0, last = -1; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      [client, serverSide] = queuesOf(sock.localPort ?? 0, server.port);
      if (client !== null && client.rx > 0 && client.rx === last) break;
      last = client?.rx ?? -1;
    }
    let got = 0;
    sock.on('data', (d: Buffer) => {
      got += d.length;
    });
    sock.resume();
    await new Promise((resolve) => sock.once('close', resolve));
    return (
      `at the stall: client rx_queue ${client?.rx ?? '?'} B (unread, in its receive buffer), ` +
      `server tx_queue ${serverSide?.tx ?? '?'} B (written, not yet acknowledged: its send buffer); then read ${got} B`
    );
  } finally {
    await server.close({ deadline: 200 });
  }
}

const PRUNE_PY = `
import socket, time
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(1)
c = socket.socket(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); c.connect(ls.getsockname())
s, _ = ls.accept()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # after the window was advertised
c.setblocking(False)
sent = 0; t0 = time.time()
while time.time() - t0 < 1.0:
    try: sent += c.send(b'x')
    except BlockingIOError: time.sleep(0.001)
print(f"{sent} one-byte writes, receiver SO_RCVBUF {s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)} B")
`;

async function tinySegments(): Promise<string> {
  const child = spawn('/usr/bin/python3', ['-c', PRUNE_PY], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  await new Promise((resolve) => child.once('exit', resolve));
  return out.trim();
}

const loads: [string, () => Promise<string | undefined>][] = [
  ['quiet', quiet],
  ['listen queue full', listenQueueFull],
  ['a reader that stops', readerStops],
  ['tiny segments, small SO_RCVBUF', tinySegments],
];

const settings = new KernelCounters().snapshot().settings;
console.log(`# kernel-paths on ${readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim()}, root ${root}`);
console.log(`# settings: ${JSON.stringify(settings)}`);
const results: { name: string; ms: number; deltas: Record<string, number>; note: string }[] = [];
for (const [name, load] of loads) {
  const r = await measure(load);
  results.push({ name, ...r });
  const moved = Object.entries(r.deltas)
    .filter(([, v]) => v !== 0)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(
    `\n## ${name} (${Math.round(r.ms)} ms)${r.note === '' ? '' : `: ${r.note}`}\n${moved || '(nothing moved)'}`,
  );
}
// One table, every counter that moved anywhere: rows are counters, columns the loads.
const keys = [...new Set(results.flatMap((r) => Object.keys(r.deltas).filter((k) => r.deltas[k] !== 0)))].sort();
console.log(`\n| counter | ${results.map((r) => r.name).join(' | ')} |`);
console.log(`|---|${results.map(() => '---:').join('|')}|`);
for (const k of keys) console.log(`| ${k} | ${results.map((r) => r.deltas[k] ?? 0).join(' | ')} |`);
