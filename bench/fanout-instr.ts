/**
 * Instructions per delivery of a fan-out (issue 17 §4), counted by valgrind's callgrind, which does not depend on
 * what else the machine runs (wall-clock figures on a shared 2-core VM drift 10-30 %; this repeats to ~0.5 %).
 * The server (bench/fanout-instr-server.ts) runs under callgrind with instrumentation off; N subscribers (plain
 * sockets in this process, counting bytes) connect; a warm-up of WARM bursts runs (the JIT settles); then
 * instrumentation goes on for exactly BURSTS bursts of 16 publishes, off again once every subscriber has every byte
 * of them, and the server exits. Instructions collected / deliveries = instructions per delivery (everything the
 * server process executes: JS, V8, libuv, the syscalls' user side).
 *
 *   node dist/bench/fanout-instr.js [SUBSCRIBERS=1000] [SIZE=32] [BURSTS=40] [WARM=60]
 *   SOCKEYE_DIST=/tmp/other/dist node dist/bench/fanout-instr.js ...   # another build ("before")
 *   PROFILE=1 ...  keeps the callgrind file (and node's --perf-basic-prof map) in /tmp/fanout-instr-*, for
 *                  callgrind_annotate (JS functions show as ???:0x...; the map names them)
 */

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] ?? 1000);
const SIZE = Number(process.argv[3] ?? 32);
const BURSTS = Number(process.argv[4] ?? 40);
const WARM = Number(process.argv[5] ?? 60);
const PROFILE = process.env.PROFILE === '1';
const FRAME = SIZE + (SIZE < 126 ? 2 : SIZE < 65536 ? 4 : 10);
const out = `/tmp/fanout-instr-${process.pid}`;

const child = spawn(
  'valgrind',
  [
    '--tool=callgrind',
    '--instr-atstart=no',
    `--callgrind-out-file=${out}.callgrind`,
    process.execPath,
    '--single-threaded',
    ...(PROFILE ? ['--perf-basic-prof'] : []),
    path.join(here, 'fanout-instr-server.js'),
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let stderr = '';
child.stderr.on('data', (d) => {
  stderr += d;
});
const [port, pid] = await new Promise<[number, number]>((resolve, reject) => {
  let s = '';
  child.stdout.on('data', (d) => {
    s += d;
    const m = /port (\d+) pid (\d+)/.exec(s);
    if (m) resolve([Number(m[1]), Number(m[2])]);
  });
  child.on('exit', () => reject(new Error(`server exited: ${stderr}`)));
});

let bytes = 0;
let want = 0;
let reached: (() => void) | null = null;
const sockets: net.Socket[] = [];
for (let i = 0; i < N; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, N - i) }, () => {
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
          if (reached !== null && bytes >= want) {
            const r = reached;
            reached = null;
            r();
          }
        });
        sock.write(
          'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      });
    }),
  );
}

/** Publishes `bursts` bursts and waits until every subscriber has all of them. */
async function run(bursts: number): Promise<void> {
  bytes = 0;
  want = N * 16 * bursts * FRAME;
  const all = new Promise<void>((r) => {
    reached = r;
  });
  const res = await fetch(`http://127.0.0.1:${port}/go?bursts=${bursts}&size=${SIZE}`);
  await res.text();
  await all;
}

await run(WARM);
spawnSync('callgrind_control', ['-i', 'on', String(pid)], { stdio: 'ignore' });
await run(BURSTS);
spawnSync('callgrind_control', ['-i', 'off', String(pid)], { stdio: 'ignore' });
if (PROFILE && existsSync(`/tmp/perf-${pid}.map`)) copyFileSync(`/tmp/perf-${pid}.map`, `${out}.perf.map`);
for (const s of sockets) s.destroy();
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
const collected = Number(/Collected : (\d+)/.exec(stderr)?.[1] ?? Number.NaN);
const deliveries = N * 16 * BURSTS;
console.log(
  `${process.env.SOCKEYE_DIST ?? 'this checkout'}: ${N} subscribers, ${SIZE} B, ${deliveries} deliveries: ` +
    `${collected} instructions, ${(collected / deliveries).toFixed(0)} per delivery` +
    (PROFILE ? ` (profile: ${out}.callgrind, map ${out}.perf.map)` : ''),
);
if (!PROFILE) spawnSync('rm', ['-f', `${out}.callgrind`]);
process.exit(0);
