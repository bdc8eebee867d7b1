/**
 * Fan-out to server-sent event streams (issue 17 §6) against the same fan-out to WebSockets, one process, in one
 * run: one publisher, N subscribers, text messages of SIZE bytes, deliveries per second and server CPU per delivery.
 * The shape of bench/fanout.ts: the server runs in a child pinned to core 0 and publishes in bursts of 16 messages
 * per event-loop turn for SECONDS; the subscribers are plain sockets in this process (run it under `taskset -c 1`)
 * counting bytes only. An event on the wire is `data: ` + SIZE + LF LF in one chunk (hex size, CRLF, CRLF); a frame
 * is SIZE plus a 2 or 4-byte header.
 *
 *   taskset -c 1 node dist/bench/sse-fanout.js [SUBSCRIBERS=1000] [SIZE=32] [SECONDS=3]
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const N = Number(process.argv[2] ?? 1000);
const SIZE = Number(process.argv[3] ?? 32);
const SECONDS = Number(process.argv[4] ?? 3);

const eventBytes = 6 + SIZE + 2;
const kinds = [
  { name: 'sockeye publish → WebSocket', wire: SIZE + (SIZE < 126 ? 2 : 4) },
  { name: 'sockeye publish → SSE', wire: eventBytes.toString(16).length + 2 + eventBytes + 2 },
];

const serverCode = (sse: boolean) => `
  const { serve } = await import(${JSON.stringify(path.join(root, 'dist/src/index.js'))});
  const msg = Buffer.alloc(${SIZE}, 120);
  const server = await serve({ port: 0, host: '127.0.0.1',
    websocket: { maxBackpressure: 1 << 30, open(ws) { ws.subscribe('t'); } },
    request(req, res) {
      if (req.path === '/events') {
        const s = res.sse({ maxBackpressure: 1 << 30, heartbeat: 0 });
        s.subscribe('t');
        return;
      }
      const end = Date.now() + ${SECONDS * 1000};
      const burst = () => { for (let i = 0; i < 16; i++) server.publish('t', msg, false); if (Date.now() < end) setImmediate(burst); else res.send('done'); };
      burst();
    } });
  console.log('port', server.port, ${sse});`;

function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function runOne(sse: boolean): Promise<string> {
  const kind = kinds[sse ? 1 : 0] as (typeof kinds)[number];
  const child = spawn('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', serverCode(sse)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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
  const request = sse
    ? 'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'
    : 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, () => {
        const sock = net.connect(port, '127.0.0.1');
        sockets.push(sock);
        return new Promise<void>((resolve) => {
          let head = true;
          sock.on('data', (d: Buffer) => {
            if (head) {
              const at = d.indexOf('\r\n\r\n');
              if (at < 0) return;
              head = false;
              resolve();
              return;
            }
            bytes += d.length;
          });
          sock.write(request);
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
  const cpu = cpuOf(child.pid as number) - cpu0;
  const deliveries = bytes / kind.wire;
  for (const s of sockets) s.destroy();
  child.kill('SIGKILL');
  return `${kind.name}: ${N} subscribers, ${SIZE} B: ${(deliveries / elapsed / 1e6).toFixed(2)} M deliveries/s, server CPU ${((cpu / deliveries) * 1e9).toFixed(0)} ns per delivery (${(deliveries / 1e6).toFixed(1)} M in ${elapsed.toFixed(1)} s)`;
}

console.log(await runOne(false));
console.log(await runOne(true));
process.exit(0);
