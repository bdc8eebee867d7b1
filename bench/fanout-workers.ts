/**
 * Fan-out across workers (issue 17 §2, §4): one publisher, N subscribers, `cluster({ workers: 1 })` against
 * `cluster({ workers: 2 })` in one run (bench/fanout-workers-server.ts). Subscribers are plain sockets in this
 * process counting bytes (as bench/fanout.ts), spread over the workers by round-robin; the publishing worker
 * reaches its own subscribers directly and the other worker's through the primary (IPC, one message per publish
 * per worker). Server CPU is the primary's and the workers' user+sys from /proc, per delivery.
 *
 *   node dist/bench/fanout-workers.js [SUBSCRIBERS=1000] [SIZE=32] [SECONDS=3]
 *
 * On a 2-core machine nothing is pinned: with 2 workers the server and this load generator share both cores, so the
 * figure is what 2 workers give on such a machine, not their ceiling.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] ?? 1000);
const SIZE = Number(process.argv[3] ?? 32);
const SECONDS = Number(process.argv[4] ?? 3);

function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

async function runOne(workers: number): Promise<string> {
  const child = spawn(
    process.execPath,
    [path.join(here, 'fanout-workers-server.js'), String(workers), String(SIZE), String(SECONDS)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { port, pids } = await new Promise<{ port: number; pids: number[] }>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+) pids ([\d,]+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), pids: (m[2] as string).split(',').map(Number) });
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
          sock.on('data', (d: Buffer) => {
            if (head) {
              const at = d.indexOf('\r\n\r\n');
              if (at < 0) return;
              head = false;
              bytes += d.length - at - 4;
              resolve();
              return;
            }
            bytes += d.length;
          });
          sock.write(
            `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          );
        });
      }),
    );
  }
  // Let the workers' subscribe messages reach the primary before the run.
  await new Promise((r) => setTimeout(r, 300));
  bytes = 0;
  const cpu = () => pids.reduce((s, p) => s + cpuOf(p), 0);
  const cpu0 = cpu();
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/go`);
  await res.text();
  // What was published late in the window is still in flight (the relayed half especially): a moment, bounded.
  await new Promise((r) => setTimeout(r, 300));
  const elapsed = (performance.now() - t0) / 1000;
  const used = cpu() - cpu0;
  const deliveries = bytes / (SIZE + (SIZE < 126 ? 2 : SIZE < 65536 ? 4 : 10));
  for (const s of sockets) s.destroy();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return `workers: ${workers}: ${N} subscribers, ${SIZE} B: ${(deliveries / elapsed / 1e6).toFixed(2)} M deliveries/s, server CPU ${((used / deliveries) * 1e9).toFixed(0)} ns per delivery (${(deliveries / 1e6).toFixed(1)} M in ${elapsed.toFixed(1)} s, ${used.toFixed(1)} CPU s)`;
}

for (const w of [1, 2]) console.log(await runOne(w));
process.exit(0);
