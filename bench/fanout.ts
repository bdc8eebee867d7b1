/**
 * Fan-out (issue 17 §4): one publisher, N subscribers, messages of SIZE bytes: deliveries per second and server CPU
 * per delivery, for sockeye's `server.publish` (framed once), `ws` with a loop over its clients (the usual way), and
 * Bun's `server.publish` (uWebSockets) when the shared harness has Bun, in one run. Each server runs in a child
 * pinned to core 0 and publishes in bursts of 16 messages per event-loop turn, for SECONDS, to every subscriber;
 * the subscribers are plain sockets in this process (run it under `taskset -c 1`), counting bytes only (a frame
 * is SIZE bytes plus a 2, 4 or 10-byte header on the wire), so the load side does as little as possible per message.
 *
 *   taskset -c 1 node dist/bench/fanout.js [SUBSCRIBERS=1000] [SIZE=32] [SECONDS=5]
 *
 * A server that cannot keep up queues for its subscribers: every server gets a large maxBackpressure, and only
 * what reached the subscribers counts. CPU per delivery comes from /proc (user+sys of the server over the run).
 *
 * socket.io rooms (`io.to(room).emit`, encoded once per broadcast) join when socket.io is installed beside the
 * harness's packages, outside this repository's lock file:
 *   npm install --prefix /tmp/bench-deps --no-save socket.io@4
 * Its subscribers speak Engine.IO v4 over a plain WebSocket (`/socket.io/?EIO=4&transport=websocket`, then the
 * namespace connect `40`); a message is the event packet `42["m","<SIZE characters>"]`, so its frames are 10 bytes
 * longer than the others' and are counted as such. SOCKEYE_BEFORE=<another build's dist> adds that build of sockeye
 * to the run (before/after in one run).
 */

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const N = Number(process.argv[2] ?? 1000);
const SIZE = Number(process.argv[3] ?? 32);
const SECONDS = Number(process.argv[4] ?? 5);
const DEPS = process.env.BENCH_DEPS ?? '/tmp/bench-deps';
const BUN = path.join(DEPS, 'node_modules/@oven/bun-linux-x64/bin/bun');

const SIO = path.join(DEPS, 'node_modules/socket.io');
const BEFORE = process.env.SOCKEYE_BEFORE;

interface BenchServer {
  name: string;
  cmd: string[];
  code: string;
  /** Upgrade path (default `/`). */
  path?: string;
  /** A masked frame a subscriber sends once upgraded, and what it then waits for before it counts as subscribed. */
  hello?: { frame: Buffer; answer: string };
  /** Bytes on the wire per message (default: SIZE plus the frame header). */
  frameBytes?: number;
  /** What must exist for this server to run. */
  needs?: string;
}

/** A frame header's length for a payload of `n` bytes (server to client, unmasked). */
const headerOf = (n: number): number => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/** A client's text frame, masked with a zero key (RFC 6455 §5.3: any key will do; XOR with 0 keeps the bytes). */
function maskedText(s: string): Buffer {
  const p = Buffer.from(s);
  return Buffer.concat([Buffer.from([0x81, 0x80 | p.length, 0, 0, 0, 0]), p]);
}

const sockeyeServer = (name: string, dist: string): BenchServer => ({
  name,
  cmd: [process.execPath, '--input-type=module', '-e'],
  code: `
      const { serve } = await import(${JSON.stringify(path.join(dist, 'src/index.js'))});
      const msg = Buffer.alloc(${SIZE}, 120);
      const server = await serve({ port: 0, host: '127.0.0.1', websocket: { maxBackpressure: 1 << 30,
        open(ws) { ws.subscribe('t'); } },
        request(req, res) {
          const end = Date.now() + ${SECONDS * 1000};
          const burst = () => { for (let i = 0; i < 16; i++) server.publish('t', msg); if (Date.now() < end) setImmediate(burst); else res.send('done'); };
          burst();
        } });
      console.log('port', server.port);`,
});

const sioPayload = `42["m","${'x'.repeat(SIZE)}"]`;

// Each server: WebSocket on /, and on the HTTP request GET /go it publishes for SECONDS and answers when done.
const servers: BenchServer[] = [
  sockeyeServer('sockeye publish', path.join(root, 'dist')),
  ...(BEFORE === undefined ? [] : [sockeyeServer(`sockeye publish (${BEFORE})`, BEFORE)]),
  {
    name: 'ws loop',
    cmd: [process.execPath, '-e'],
    code: `
      const http = require('node:http'); const { WebSocketServer } = require(${JSON.stringify(path.join(DEPS, 'node_modules/ws'))});
      const msg = Buffer.alloc(${SIZE}, 120);
      const srv = http.createServer((req, res) => {
        const end = Date.now() + ${SECONDS * 1000};
        const burst = () => { for (let i = 0; i < 16; i++) for (const c of wss.clients) c.send(msg); if (Date.now() < end) setImmediate(burst); else res.end('done'); };
        burst();
      });
      const wss = new WebSocketServer({ server: srv, perMessageDeflate: false });
      srv.listen(0, '127.0.0.1', () => console.log('port', srv.address().port));`,
  },
  {
    name: 'bun publish',
    cmd: [BUN, '-e'],
    code: `
      const msg = new Uint8Array(${SIZE}).fill(120);
      const server = Bun.serve({ hostname: '127.0.0.1', port: 0,
        fetch(req, server) {
          if (server.upgrade(req)) return;
          return new Promise((resolve) => {
            const end = Date.now() + ${SECONDS * 1000};
            const burst = () => { for (let i = 0; i < 16; i++) server.publish('t', msg); if (Date.now() < end) setImmediate(burst); else resolve(new Response('done')); };
            burst();
          });
        },
        websocket: { perMessageDeflate: false, backpressureLimit: 1 << 30, open(ws) { ws.subscribe('t'); }, message() {} } });
      console.log('port', server.port);`,
  },
  {
    name: 'socket.io rooms',
    needs: SIO,
    cmd: [process.execPath, '-e'],
    path: '/socket.io/?EIO=4&transport=websocket',
    hello: { frame: maskedText('40'), answer: '40{' },
    frameBytes: sioPayload.length + headerOf(sioPayload.length),
    code: `
      const http = require('node:http'); const { Server } = require(${JSON.stringify(SIO)});
      const msg = ${JSON.stringify('x'.repeat(SIZE))};
      const srv = http.createServer((req, res) => {
        if (req.url !== '/go') return;
        const end = Date.now() + ${SECONDS * 1000};
        const burst = () => { for (let i = 0; i < 16; i++) io.to('t').emit('m', msg); if (Date.now() < end) setImmediate(burst); else res.end('done'); };
        burst();
      });
      const io = new Server(srv, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 1e6 });
      io.on('connection', (s) => s.join('t'));
      srv.listen(0, '127.0.0.1', () => console.log('port', srv.address().port));`,
  },
];

/** User and system CPU seconds of a process so far. */
function cpuOf(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}

async function runOne(s: BenchServer): Promise<{ line: string; rate: number }> {
  const needs = s.cmd[0] === BUN ? BUN : s.needs;
  if (needs !== undefined && !existsSync(needs)) return { line: `${s.name}: skipped (no ${needs})`, rate: 0 };
  const child = spawn('taskset', ['-c', '0', ...s.cmd, s.code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  let bytes = 0;
  const sockets: net.Socket[] = [];
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, () => {
        const sock = net.connect(port, '127.0.0.1');
        sockets.push(sock);
        return new Promise<void>((resolve) => {
          let head = true;
          let waiting = s.hello !== undefined;
          sock.on('data', (d: Buffer) => {
            if (head) {
              const at = d.indexOf('\r\n\r\n');
              if (at < 0) return;
              head = false;
              bytes += d.length - at - 4;
              if (s.hello === undefined) resolve();
              else sock.write(s.hello.frame);
              return;
            }
            bytes += d.length;
            if (waiting && d.includes((s.hello as { answer: string }).answer)) {
              waiting = false;
              resolve();
            }
          });
          sock.write(
            `GET ${s.path ?? '/'} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          );
        });
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 300));
  bytes = 0;
  const cpu0 = cpuOf(child.pid as number);
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/go`);
  await res.text();
  // What was published late in the window is still in flight: give it a moment, bounded.
  await new Promise((r) => setTimeout(r, 200));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = cpuOf(child.pid as number);
  const user = cpu1.user - cpu0.user;
  const sys = cpu1.sys - cpu0.sys;
  const cpu = user + sys;
  const deliveries = bytes / (s.frameBytes ?? SIZE + headerOf(SIZE));
  for (const s of sockets) s.destroy();
  child.kill('SIGKILL');
  return {
    line: `${s.name}: ${N} subscribers, ${SIZE} B: ${(deliveries / elapsed / 1e6).toFixed(2)} M deliveries/s, server CPU ${((cpu / deliveries) * 1e9).toFixed(0)} ns per delivery (user ${((user / deliveries) * 1e9).toFixed(0)} + sys ${((sys / deliveries) * 1e9).toFixed(0)}; ${(deliveries / 1e6).toFixed(1)} M in ${elapsed.toFixed(1)} s)`,
    rate: deliveries / elapsed,
  };
}

const rates: { name: string; rate: number }[] = [];
for (const s of servers) {
  const r = await runOne(s);
  console.log(r.line);
  if (r.rate > 0) rates.push({ name: s.name, rate: r.rate });
}
const first = rates[0];
if (first !== undefined) {
  for (const r of rates.slice(1)) console.log(`${first.name} / ${r.name}: ${(first.rate / r.rate).toFixed(2)}x`);
}
process.exit(0);
