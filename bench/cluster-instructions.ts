/**
 * Instructions per delivery of cluster fan-out, summed over the primary and its workers, for two builds: the CPU cost
 * of a delivery counted by valgrind (callgrind), which does not depend on what else the machine does (bench/ab.sh's
 * seconds are noise on a shared 2-core machine; see bench/instructions.sh for the single-process version).
 *
 *   node dist/bench/cluster-instructions.js OLD_CHECKOUT [SUBSCRIBERS=100] [MESSAGES=2000] [SIZE=32] [WORKERS=2]
 *
 * For each build (this one, then OLD_CHECKOUT, both built, both with this bench/fanout-workers-server.ts in their
 * dist/bench): the cluster runs under `valgrind --tool=callgrind --trace-children=yes --instr-atstart=no`, every
 * process with `node --single-threaded` (no compiler or GC threads: the same work counted in the same thread);
 * SUBSCRIBERS raw-socket subscribers in this process (outside valgrind) spread over the workers by round-robin; a
 * warm-up of MESSAGES publishes; then instrumentation on in every process (`callgrind_control -i on PID`), MESSAGES
 * publishes by the worker that gets GET /go?count=MESSAGES (bursts of 16 per turn; its own subscribers directly, the
 * others through the primary), waiting until every subscriber has every frame, instrumentation off, a dump of
 * each process, and the sum of their instruction counts divided by the deliveries.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const OLD = process.argv[2];
const N = Number(process.argv[3] ?? 100);
const MESSAGES = Number(process.argv[4] ?? 2000);
const SIZE = Number(process.argv[5] ?? 32);
const WORKERS = Number(process.argv[6] ?? 2);
if (OLD === undefined) {
  console.error(
    'usage: node dist/bench/cluster-instructions.js OLD_CHECKOUT [SUBSCRIBERS] [MESSAGES] [SIZE] [WORKERS]',
  );
  process.exit(2);
}
const FRAME = SIZE + (SIZE < 126 ? 2 : SIZE < 65536 ? 4 : 10);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Instructions (Ir) of every callgrind file in `dir` named for `pid`, from their `totals:` lines. */
function instructionsOf(dir: string, pid: number): number {
  let sum = 0;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(`cg.${pid}`)) continue;
    const text = readFileSync(path.join(dir, f), 'utf8');
    const m = /^totals: (\d+)/m.exec(text);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

async function runOne(label: string, checkout: string): Promise<{ perProcess: number[]; deliveries: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `cg-${label}-`));
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--trace-children=yes',
      '--instr-atstart=no',
      '--dump-instr=no',
      `--callgrind-out-file=${dir}/cg.%p`,
      process.execPath,
      '--single-threaded',
      path.join(checkout, 'dist/bench/fanout-workers-server.js'),
      String(WORKERS),
      String(SIZE),
      '1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const { port, pids } = await new Promise<{ port: number; pids: number[] }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+) pids ([\d,]+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), pids: (m[2] as string).split(',').map(Number) });
    });
    child.once('exit', (code) => reject(new Error(`${label}: the server exited (${code}):\n${err.slice(-2000)}`)));
  });
  let bytes = 0;
  const sockets: net.Socket[] = [];
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  for (let i = 0; i < N; i++) {
    const sock = net.connect(port, '127.0.0.1');
    sockets.push(sock);
    await new Promise<void>((resolve) => {
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
  }
  const expected = N * MESSAGES * FRAME;
  const go = async (what: string) => {
    bytes = 0;
    const res = await fetch(`http://127.0.0.1:${port}/go?count=${MESSAGES}`, { headers: { connection: 'close' } });
    await res.text();
    await waitUntil(() => bytes >= expected, 600_000, `${what}: ${expected} bytes (${bytes} so far)`);
  };
  // The warm-up also makes sure every worker has told the primary of its subscribers.
  await sleep(1000);
  await go(`${label} warm-up`);
  for (const pid of pids) spawnSync('callgrind_control', ['-i', 'on', String(pid)], { stdio: 'ignore' });
  await go(label);
  for (const pid of pids) spawnSync('callgrind_control', ['-i', 'off', String(pid)], { stdio: 'ignore' });
  for (const pid of pids) spawnSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const perProcess = pids.map((pid) => instructionsOf(dir, pid));
  for (const s of sockets) s.destroy();
  for (const pid of pids.slice(1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return { perProcess, deliveries: N * MESSAGES };
}

const rows: string[] = [];
const results: Record<string, number> = {};
for (const [label, checkout] of [
  ['this', path.resolve(here, '../..')],
  ['old', path.resolve(OLD)],
] as const) {
  const r = await runOne(label, checkout);
  const total = r.perProcess.reduce((a, b) => a + b, 0);
  results[label] = total / r.deliveries;
  const parts = r.perProcess.map(
    (x, i) =>
      `${i === 0 ? 'primary' : `worker ${i}`} ${(x / r.deliveries).toFixed(0)} (${(x / MESSAGES).toFixed(0)} per message)`,
  );
  rows.push(
    `${label}: ${(total / r.deliveries).toFixed(0)} instructions per delivery (${parts.join(', ')}; ${r.deliveries} deliveries, ${N} subscribers, ${MESSAGES} × ${SIZE} B, ${WORKERS} workers)`,
  );
}
for (const r of rows) console.log(r);
console.log(`this/old: ${((results.this as number) / (results.old as number)).toFixed(3)}`);
process.exit(0);
