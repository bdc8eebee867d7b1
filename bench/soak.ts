/**
 * Scale, soak and churn (issue 15 §2): a sockeye server in its own process (bench/soak-server.ts, pinned to core
 * SOAK_SERVER_CPU, default 0) and its clients in this one (run it under `taskset -c 1`; bench/soak.sh does, and
 * raises `ulimit -n`). The server is sampled over HTTP (RSS, heap, open handles, event-loop delay, its counters);
 * each run prints a table of samples, then one line `REPORT {json}` with the figures and `"verdict": "pass"` or
 * `"fail"` (and the reasons). Every loop is bounded in count and time; all traffic goes to 127.0.0.1.
 *
 *   soak   N WebSockets (`ws` clients), each echoing one message every EVERY ms (jittered ±50 %), for SECONDS:
 *          no error, RSS flat, event-loop delay percentiles.
 *            --sockets 10000 --seconds 600 --every 3000 --sample 5 --print 30
 *   churn  CYCLES connect / handshake / close cycles at CONCURRENCY, four kinds in turn: close handshake; one echo
 *          then close handshake; terminate right after the 101 (no close frame); upgrade request cut off halfway.
 *          RSS, heap and open handles before, at half-way and at the end, each after two full GCs.
 *            --cycles 100000 --concurrency 100
 *   slow   FAST `ws` subscribers and a server publishing SIZE-byte messages (BURST every EVERY ms) to their topic;
 *          then SLOW raw subscribers connect and never read. Each slow one must be failed with 1008 at
 *          maxBackpressure, the server's RSS stay under SLOW × (maxBackpressure + one frame) + a constant, and the
 *          fast ones keep receiving (their rate before, while, after).
 *            --slow 1000 --fast 10 --size 1024 --burst 4 --every 5 --seconds 10 --max-backpressure 1048576
 *            --close-timeout 5000 --hold 0 (seconds to keep the server up after the last reading)
 * Common: --addresses 4 (client source addresses 127.0.0.1…127.0.0.4, against ephemeral-port exhaustion).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

// ── arguments ──────────────────────────────────────────────────────────────────────────────────────────────

const mode = process.argv[2] ?? '';
const flags = new Map<string, number>();
for (let i = 3; i < process.argv.length; i += 2) {
  const k = process.argv[i] ?? '';
  const v = Number(process.argv[i + 1]);
  if (!k.startsWith('--') || !Number.isFinite(v)) {
    console.error(`bad argument ${k} ${process.argv[i + 1]}: flags are --name NUMBER`);
    process.exit(2);
  }
  flags.set(k.slice(2), v);
}
const flag = (name: string, def: number) => flags.get(name) ?? def;
const ADDRESSES = Math.max(1, Math.min(250, flag('addresses', 4)));
const localAddress = (i: number) => `127.0.0.${1 + (i % ADDRESSES)}`;

// ── the server process ─────────────────────────────────────────────────────────────────────────────────────

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  handles: number;
  cpu: number;
  handleKinds: Record<string, number>;
  wsOpen: number;
  conns: number;
  eld: { p50: number; p99: number; max: number };
  eldRun: { p50: number; p99: number; max: number };
  wsAccepted: number;
  backpressureCloses: number;
  closeCodesFromServer: Record<string, number>;
  protocolErrors: Record<string, number>;
  ends: Record<string, number>;
}

let child: ChildProcess | null = null;
let port = 0;

async function startServer(options: object): Promise<void> {
  const script = path.join(here, 'soak-server.js');
  const cpu = process.env.SOAK_SERVER_CPU ?? '0';
  const argv = [process.execPath, '--expose-gc', script];
  child = spawn(
    cpu === 'none' ? (argv[0] as string) : 'taskset',
    cpu === 'none' ? argv.slice(1) : ['-c', cpu, ...argv],
    {
      env: { ...process.env, PORT: '0', SOAK_SERVER: JSON.stringify(options) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const c = child;
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('the server did not start within 10 s')), 10_000);
    c.stdout?.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    c.on('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
  });
  c.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`the server exited unexpectedly (${code ?? signal})`);
      process.exit(1);
    }
  });
}

let stopping = false;
async function stopServer(): Promise<void> {
  stopping = true;
  if (child === null || child.exitCode !== null) return;
  const c = child;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** GET on its own connection (no keep-alive pool), so each sample sees the same one sampling connection. */
function get(p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}
const sample = async (): Promise<Sample> => JSON.parse(await get('/sample')) as Sample;
/**
 * Two full GCs, then a sample. The previous sampling connection may still be closing on the server's side when the
 * next one arrives: up to five tries until it is the only connection, so every reading counts the same handles.
 */
async function gcSample(): Promise<Sample> {
  let s = JSON.parse(await get('/gc')) as Sample;
  for (let i = 0; i < 4 && s.conns > 1; i++) {
    await sleep(200);
    s = JSON.parse(await get('/gc')) as Sample;
  }
  return s;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the server until only the sampling connection is left (and handles at most `handles`), up to `ms`. */
async function settle(ms: number, handles = Number.POSITIVE_INFINITY): Promise<Sample> {
  const end = Date.now() + ms;
  let s = await sample();
  while ((s.conns > 1 || s.wsOpen > 0 || s.handles > handles) && Date.now() < end) {
    await sleep(250);
    s = await sample();
  }
  return s;
}

// ── output ─────────────────────────────────────────────────────────────────────────────────────────────────

const mib = (b: number) => (b / MiB).toFixed(1);
function table(head: string[], rows: (string | number)[][]): void {
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---:').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
function report(fields: Record<string, unknown>, failures: string[]): void {
  const r = { mode, ...fields, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))), failures };
  console.log(`verdict: ${failures.length === 0 ? 'pass' : `FAIL (${failures.join('; ')})`}`);
  console.log(`REPORT ${JSON.stringify({ ...r, verdict: failures.length === 0 ? 'pass' : 'fail' })}`);
}
const memRow = (name: string, s: Sample) => [name, mib(s.rss), mib(s.heapUsed), mib(s.external), s.handles, s.conns];

// ── clients ────────────────────────────────────────────────────────────────────────────────────────────────

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at once. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
}

/** A `ws` client, open; rejects on error or after 15 s. */
function openWs(i: number, p = '/'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`, { localAddress: localAddress(i), perMessageDeflate: false });
    const t = setTimeout(() => {
      ws.terminate();
      reject(new Error('handshake timed out after 15 s'));
    }, 15_000);
    ws.once('open', () => {
      clearTimeout(t);
      resolve(ws);
    });
    ws.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

const UPGRADE = (p: string) =>
  `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

// ── soak ───────────────────────────────────────────────────────────────────────────────────────────────────

async function soak(): Promise<void> {
  const N = flag('sockets', 10_000);
  const SECONDS = flag('seconds', 600);
  const EVERY = flag('every', 3000);
  const SAMPLE = flag('sample', 5);
  const PRINT = Math.max(SAMPLE, flag('print', 30));
  const CONCURRENCY = flag('concurrency', 200);
  await startServer({});
  const base = await gcSample();
  const errors: string[] = [];
  const error = (what: string) => {
    if (errors.length < 20) errors.push(what);
    errorCount++;
  };
  let errorCount = 0;
  let running = true;
  let sent = 0;
  let echoed = 0;
  const rtt = createHistogram();
  const clients: { ws: WebSocket; seq: number; sentAt: number; timer: NodeJS.Timeout | null }[] = [];
  const pad = 'x'.repeat(48);

  const t0 = Date.now();
  await pool(N, CONCURRENCY, async (i) => {
    let ws: WebSocket;
    try {
      ws = await openWs(i);
    } catch (e) {
      error(`connect ${i}: ${(e as Error).message}`);
      return;
    }
    const c = { ws, seq: 0, sentAt: 0, timer: null as NodeJS.Timeout | null };
    clients.push(c);
    const fire = () => {
      c.timer = null;
      if (!running) return;
      c.seq++;
      c.sentAt = performance.now();
      sent++;
      ws.send(`${i}:${c.seq}:${pad}`);
    };
    ws.on('message', (data, isBinary) => {
      const expected = `${i}:${c.seq}:${pad}`;
      if (isBinary || String(data) !== expected) error(`client ${i}: echo ${String(data).slice(0, 20)} ≠ ${expected}`);
      echoed++;
      rtt.record(Math.max(1, Math.round((performance.now() - c.sentAt) * 1000)));
      c.sentAt = 0;
      if (running) c.timer = setTimeout(fire, EVERY * (0.5 + Math.random()));
    });
    ws.on('error', (e) => error(`client ${i}: ${e.message}`));
    ws.on('close', (code) => {
      if (running) error(`client ${i}: closed with ${code} during the run`);
    });
    // The first message within one interval, spread over it.
    c.timer = setTimeout(fire, EVERY * Math.random());
  });
  const connectSeconds = (Date.now() - t0) / 1000;
  console.log(`${clients.length} of ${N} WebSockets open in ${connectSeconds.toFixed(1)} s; running ${SECONDS} s`);

  const samples: (Sample & { at: number; load: number; msgs: number; rttP99: number })[] = [];
  const rows: (string | number)[][] = [];
  const start = Date.now();
  let lastEchoed = echoed;
  let lastPrint = 0;
  let pending = { max: 0, stalled: 0 };
  for (let k = 1; k <= Math.ceil(SECONDS / SAMPLE); k++) {
    await sleep(Math.max(0, start + k * SAMPLE * 1000 - Date.now()));
    const s = await sample();
    const at = Math.round((Date.now() - start) / 1000);
    const now = performance.now();
    // A message without its echo for 30 s is lost, as far as a user can tell.
    let stalled = 0;
    for (const c of clients) if (c.sentAt !== 0 && now - c.sentAt > 30_000) stalled++;
    if (stalled > pending.stalled) pending = { max: Math.max(pending.max, stalled), stalled };
    const msgs = echoed - lastEchoed;
    lastEchoed = echoed;
    const row = { ...s, at, load: os.loadavg()[0] as number, msgs, rttP99: rtt.percentile(99) / 1000 };
    samples.push(row);
    if (at - lastPrint >= PRINT || k === Math.ceil(SECONDS / SAMPLE)) {
      lastPrint = at;
      const r = [at, mib(s.rss), mib(s.heapUsed), s.handles, s.wsOpen, s.cpu, s.eld.p50, s.eld.p99, s.eld.max];
      rows.push([...r, Math.round(msgs / SAMPLE), row.rttP99.toFixed(1), row.load.toFixed(2)]);
      console.log(`  t=${at}s rss ${mib(s.rss)} MiB heap ${mib(s.heapUsed)} MiB handles ${s.handles} ws ${s.wsOpen}`);
    }
  }
  running = false;
  for (const c of clients) if (c.timer !== null) clearTimeout(c.timer);
  // The last echoes in flight (bounded wait), then every client closes with a close handshake.
  const drainEnd = Date.now() + 30_000;
  while (echoed < sent && Date.now() < drainEnd) await sleep(100);
  const unanswered = sent - echoed;
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(() => {
            c.ws.terminate();
            resolve();
          }, 30_000);
          c.ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          c.ws.close(1000);
        }),
    ),
  );
  const after = await settle(30_000);
  const end = await gcSample();
  await stopServer();

  console.log(
    `\nsoak: ${N} WebSockets, one echo each every ${EVERY} ms ±50 %, ${SECONDS} s, samples every ${SAMPLE} s`,
  );
  table(
    [
      't s',
      'RSS MiB',
      'heap MiB',
      'handles',
      'ws open',
      'server CPU',
      'eld p50 ms',
      'eld p99 ms',
      'eld max ms',
      'echo/s',
      'rtt p99 ms (so far)',
      'load',
    ],
    rows,
  );
  // RSS flat: the second half of the run against its first sample. The first minutes are warm-up (V8's heap and
  // malloc's arenas growing to the load's working set: 136 → 194 → 173 MiB in the first 4 minutes of a 10-minute
  // run, then flat to ±0.5 MiB); a leak goes on growing through the second half.
  const ref = samples[Math.min(samples.length - 1, Math.floor(samples.length / 2))] as Sample;
  const last = samples[samples.length - 1] as Sample;
  const tail = samples.slice(samples.indexOf(ref as (typeof samples)[number]));
  const slope = linearSlope(tail.map((s) => [(s.t - ref.t) / 60_000, s.rss / MiB]));
  console.log('\nserver memory, after two full GCs:');
  table(
    ['when', 'RSS MiB', 'heap MiB', 'external MiB', 'handles', 'connections'],
    [memRow('before', base), memRow('after, all closed', end)],
  );
  const eldRun = last.eldRun;
  console.log(`event-loop delay over the run: p50 ${eldRun.p50} ms, p99 ${eldRun.p99} ms, max ${eldRun.max} ms`);
  const failures: string[] = [];
  if (clients.length !== N) failures.push(`${N - clients.length} sockets did not open`);
  if (errorCount > 0) failures.push(`${errorCount} client errors: ${errors.slice(0, 3).join(' | ')}`);
  if (unanswered > 0) failures.push(`${unanswered} messages without their echo`);
  const growth = last.rss - ref.rss;
  if (growth > 16 * MiB + ref.rss * 0.05) failures.push(`RSS grew ${mib(growth)} MiB over the second half`);
  if (after.conns > 1 || after.wsOpen > 0)
    failures.push(`${after.conns - 1} connections left after the clients closed`);
  report(
    {
      sockets: N,
      opened: clients.length,
      seconds: SECONDS,
      connectSeconds,
      sent,
      echoed,
      errors: errorCount,
      rssRefMiB: Number(mib(ref.rss)),
      rssLastMiB: Number(mib(last.rss)),
      rssSlopeMiBPerMin: Number(slope.toFixed(3)),
      eld: eldRun,
      rttP50ms: rtt.percentile(50) / 1000,
      rttP99ms: rtt.percentile(99) / 1000,
      rttMaxMs: rtt.max / 1000,
      before: base,
      after: end,
    },
    failures,
  );
}

/** Least-squares slope of y over x. */
function linearSlope(points: number[][]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const [x = 0, y = 0] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

// ── churn ──────────────────────────────────────────────────────────────────────────────────────────────────

const KINDS = ['close handshake', 'echo + close handshake', 'terminate after 101', 'upgrade cut halfway'] as const;

async function churnCycle(i: number, counts: number[], fail: (what: string) => void): Promise<void> {
  const kind = i % KINDS.length;
  counts[kind] = (counts[kind] ?? 0) + 1;
  if (kind === 3) {
    // An abrupt peer before the handshake ends: half the upgrade request, then a reset.
    await new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: localAddress(i) });
      s.on('error', () => {});
      s.on('close', () => resolve());
      s.on('connect', () => {
        const head = UPGRADE('/');
        s.write(head.slice(0, head.length >> 1), () => s.destroy());
      });
    });
    return;
  }
  let ws: WebSocket;
  try {
    ws = await openWs(i);
  } catch (e) {
    fail(`cycle ${i}: ${(e as Error).message}`);
    return;
  }
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      fail(`cycle ${i}: no close within 10 s`);
      ws.terminate();
    }, 10_000);
    ws.on('error', (e) => {
      if (kind !== 2) fail(`cycle ${i}: ${e.message}`);
    });
    ws.on('close', (code) => {
      clearTimeout(t);
      if (kind !== 2 && code !== 1000) fail(`cycle ${i}: closed with ${code}, not 1000`);
      resolve();
    });
    if (kind === 0) ws.close(1000);
    else if (kind === 2) ws.terminate();
    else {
      ws.once('message', (data) => {
        if (String(data) !== `churn ${i}`) fail(`cycle ${i}: wrong echo`);
        ws.close(1000);
      });
      ws.send(`churn ${i}`);
    }
  });
}

async function churn(): Promise<void> {
  const CYCLES = flag('cycles', 100_000);
  const CONCURRENCY = flag('concurrency', 100);
  await startServer({});
  const base = await gcSample();
  let failCount = 0;
  const fails: string[] = [];
  const fail = (what: string) => {
    failCount++;
    if (fails.length < 5) fails.push(what);
  };
  const counts = [0, 0, 0, 0];
  const rows: (string | number)[][] = [];
  const peaks = { rss: 0, heapUsed: 0, handles: 0 };
  let done = 0;
  let sampling = true;
  const t0 = Date.now();
  const sampler = (async () => {
    while (sampling) {
      await sleep(5000);
      if (!sampling) break;
      const s = await sample();
      peaks.rss = Math.max(peaks.rss, s.rss);
      peaks.heapUsed = Math.max(peaks.heapUsed, s.heapUsed);
      peaks.handles = Math.max(peaks.handles, s.handles);
      const at = Math.round((Date.now() - t0) / 1000);
      rows.push([at, done, mib(s.rss), mib(s.heapUsed), s.handles, s.conns, s.cpu, s.eld.p99, s.eld.max]);
      console.log(`  t=${at}s ${done} cycles, rss ${mib(s.rss)} MiB, handles ${s.handles}`);
    }
  })();
  const half = Math.floor(CYCLES / 2);
  const run = async (from: number, to: number) =>
    pool(to - from, CONCURRENCY, async (k) => {
      await churnCycle(from + k, counts, fail);
      done++;
    });
  await run(0, half);
  const midSettled = await settle(30_000, base.handles);
  const mid = await gcSample();
  await run(half, CYCLES);
  const seconds = (Date.now() - t0) / 1000;
  sampling = false;
  await sampler;
  const endSettled = await settle(30_000, base.handles);
  const end = await gcSample();
  await stopServer();

  console.log(
    `\nchurn: ${CYCLES} cycles at concurrency ${CONCURRENCY} in ${seconds.toFixed(1)} s (${Math.round(CYCLES / seconds)}/s)`,
  );
  console.log(`kinds: ${KINDS.map((k, i) => `${k} ${counts[i]}`).join(', ')}`);
  table(
    ['t s', 'cycles', 'RSS MiB', 'heap MiB', 'handles', 'connections', 'server CPU', 'eld p99 ms', 'eld max ms'],
    rows,
  );
  console.log('\nserver memory, after two full GCs (the sampling connection counts as one connection):');
  table(
    ['when', 'RSS MiB', 'heap MiB', 'external MiB', 'handles', 'connections'],
    [memRow('before', base), memRow(`after ${half} cycles`, mid), memRow(`after ${CYCLES} cycles`, end)],
  );
  const failures: string[] = [];
  if (failCount > 0) failures.push(`${failCount} failed cycles: ${fails.join(' | ')}`);
  if (midSettled.conns > 1 || endSettled.conns > 1) failures.push(`connections left: ${endSettled.conns - 1}`);
  if (end.handles > base.handles) failures.push(`open handles ${base.handles} → ${end.handles}`);
  if (end.heapUsed - base.heapUsed > 4 * MiB) failures.push(`heap grew ${mib(end.heapUsed - base.heapUsed)} MiB`);
  if (end.rss - mid.rss > 16 * MiB) failures.push(`RSS grew ${mib(end.rss - mid.rss)} MiB in the second half`);
  const accepted = end.wsAccepted;
  const expectedAccepted = counts[0]! + counts[1]! + counts[2]!;
  if (accepted !== expectedAccepted)
    failures.push(`server accepted ${accepted} WebSockets, expected ${expectedAccepted}`);
  report(
    {
      cycles: CYCLES,
      concurrency: CONCURRENCY,
      seconds,
      kinds: Object.fromEntries(KINDS.map((k, i) => [k, counts[i]])),
      failed: failCount,
      wsAccepted: accepted,
      ends: end.ends,
      peaks,
      before: base,
      mid,
      after: end,
    },
    failures,
  );
}

// ── slow consumers ─────────────────────────────────────────────────────────────────────────────────────────

async function slow(): Promise<void> {
  const SLOW = flag('slow', 1000);
  const FAST = flag('fast', 10);
  const SIZE = Math.max(8, flag('size', 1024));
  const BURST = flag('burst', 4);
  const EVERY = flag('every', 5);
  const SECONDS = flag('seconds', 10);
  const MAX_BP = flag('max-backpressure', MiB);
  const CLOSE_TIMEOUT = flag('close-timeout', 5000);
  await startServer({ maxBackpressure: MAX_BP, closeTimeout: CLOSE_TIMEOUT });
  const beforeGc = await gcSample();
  const fast: { ws: WebSocket; got: number; closed: boolean }[] = [];
  const latency = createHistogram();
  let fastClosed = 0;
  for (let i = 0; i < FAST; i++) {
    const ws = await openWs(i, '/fast');
    const f = { ws, got: 0, closed: false };
    ws.on('message', (data: Buffer) => {
      f.got++;
      latency.record(Math.max(1, Math.round((Date.now() - data.readDoubleLE(0)) * 1000)));
    });
    ws.on('close', () => {
      f.closed = true;
      fastClosed++;
    });
    ws.on('error', () => {});
    fast.push(f);
  }
  const total = () => fast.reduce((n, f) => n + f.got, 0);
  await get(`/publish?size=${SIZE}&burst=${BURST}&every=${EVERY}`);
  const rows: (string | number)[][] = [];
  const t0 = Date.now();
  const phase = async (name: string, until: (s: Sample) => boolean, maxMs: number) => {
    const start = Date.now();
    const got0 = total();
    latency.reset();
    let peak = 0;
    let peakBuffers = 0;
    let s = await sample();
    while (Date.now() - start < maxMs && !until(s)) {
      await sleep(250);
      s = await sample();
      peak = Math.max(peak, s.rss);
      peakBuffers = Math.max(peakBuffers, s.arrayBuffers);
      if (rows.length < 400 && (Date.now() - t0) % 1000 < 250)
        rows.push([
          ((Date.now() - t0) / 1000).toFixed(1),
          name,
          mib(s.rss),
          mib(s.arrayBuffers),
          s.backpressureCloses,
          s.wsOpen,
          s.cpu,
          s.eld.p99,
        ]);
    }
    const secs = (Date.now() - start) / 1000;
    const rate = (total() - got0) / secs / FAST;
    return { name, secs, rate, peak, peakBuffers, last: s, latencyP99ms: latency.percentile(99) / 1000 };
  };
  const before = await phase('before', () => false, SECONDS * 1000);
  const baseRss = before.peak;

  // The slow subscribers: raw sockets that read the 101 and then stop reading.
  const slowSockets: net.Socket[] = [];
  let upgraded = 0;
  const connecting = pool(SLOW, 100, (i) => {
    return new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: localAddress(i) });
      slowSockets.push(s);
      let head = '';
      s.setEncoding('latin1');
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('data', (d: string) => {
        head += d;
        if (head.includes('\r\n\r\n')) {
          s.pause();
          s.removeAllListeners('data');
          if (head.startsWith('HTTP/1.1 101')) upgraded++;
          resolve();
        }
      });
      s.write(UPGRADE('/slow'));
    });
  });
  const cutBase = before.last.backpressureCloses;
  // Until every slow one is cut off (bounded in time), then as long again as 'before'.
  const whileP = await phase('while', (s) => s.backpressureCloses - cutBase >= SLOW, Math.max(SECONDS * 1000, 120_000));
  await connecting;
  // At least closeTimeout and a bit: the failed connections' queues are freed when they are destroyed.
  const after = await phase('after', () => false, Math.max(SECONDS * 1000, CLOSE_TIMEOUT + 2000));
  const fastClosedBeforeEnd = fastClosed;
  const cut = after.last.backpressureCloses - cutBase;
  const published = Number(await get('/stop'));
  for (const s of slowSockets) s.destroy();
  for (const f of fast) f.ws.terminate();
  await settle(10_000);
  // What the failed connections held must be gone once they are: two full GCs, then a reading.
  const final = await gcSample();
  // --hold S keeps the idle server S more seconds, to look at it from outside (gdb, /proc/PID/smaps).
  if (flag('hold', 0) > 0) {
    console.log(`holding the server (pid ${child?.pid}) for ${flag('hold', 0)} s`);
    await sleep(Math.min(600, flag('hold', 0)) * 1000);
  }
  await stopServer();

  const frame = SIZE + (SIZE < 126 ? 2 : SIZE < 65536 ? 4 : 10);
  // Per connection: maxBackpressure, the message that crossed it, and the socket writer's one 8 KiB arena
  // (WRITER_ARENA_SIZE in src/limits.ts: a kept segment pins its arena).
  const bound = SLOW * (MAX_BP + frame + 8 * 1024);
  const peakAbove = Math.max(whileP.peak, after.peak) - baseRss;
  const buffersAbove = Math.max(whileP.peakBuffers, after.peakBuffers) - before.peakBuffers;
  console.log(
    `\nslow consumers: ${SLOW} that stop reading, ${FAST} fast, ${BURST} × ${SIZE} B every ${EVERY} ms, maxBackpressure ${MAX_BP}`,
  );
  table(
    ['t s', 'phase', 'RSS MiB', 'ArrayBuffers MiB', 'backpressure closes', 'ws open', 'server CPU', 'eld p99 ms'],
    rows,
  );
  table(
    ['phase', 'seconds', 'msgs/s per fast client', 'delivery p99 ms', 'peak RSS MiB'],
    [before, whileP, after].map((p) => [
      p.name,
      p.secs.toFixed(1),
      Math.round(p.rate),
      p.latencyP99ms.toFixed(1),
      mib(p.peak),
    ]),
  );
  console.log(
    `peak RSS above the 'before' phase: ${mib(peakAbove)} MiB (ArrayBuffers ${mib(buffersAbove)} MiB); at the end ${mib(after.last.rss)} MiB; bound ${SLOW} × (maxBackpressure + one frame + 8 KiB) = ${mib(bound)} MiB`,
  );
  console.log('\nserver memory, after two full GCs:');
  table(
    ['when', 'RSS MiB', 'heap MiB', 'external MiB', 'handles', 'connections'],
    [memRow('before', beforeGc), memRow('after, all closed', final)],
  );
  const failures: string[] = [];
  if (final.arrayBuffers - beforeGc.arrayBuffers > 16 * MiB)
    failures.push(
      `ArrayBuffers ${mib(final.arrayBuffers - beforeGc.arrayBuffers)} MiB above baseline after all closed`,
    );
  if (upgraded !== SLOW) failures.push(`${SLOW - upgraded} slow subscribers were not upgraded`);
  if (cut !== SLOW) failures.push(`${cut} of ${SLOW} slow subscribers failed for backpressure`);
  const code1008 = (final.closeCodesFromServer['1008'] ?? 0) - (before.last.closeCodesFromServer['1008'] ?? 0);
  if (code1008 < SLOW) failures.push(`${code1008} close frames with 1008, expected ${SLOW}`);
  if (fastClosedBeforeEnd > 0) failures.push(`${fastClosedBeforeEnd} fast subscribers were closed`);
  if (whileP.rate === 0 || after.rate === 0) failures.push('fast subscribers stopped receiving');
  // The constant: what is in flight besides the slow ones' queues (the fast subscribers' queues, this turn's
  // published frames, reads), 16 MiB of ArrayBuffers; RSS adds the allocator's and V8's own (64 MiB).
  if (buffersAbove > bound + 16 * MiB)
    failures.push(`peak ArrayBuffers ${mib(buffersAbove)} MiB above baseline exceed the bound`);
  // RSS adds the allocator's own: the queues are many small buffers (one per message and connection), and
  // glibc's per-chunk overhead and page granularity came to 7 % of them at 1,000 × 1 MiB (bench/results/soak-*.md).
  if (peakAbove > bound * 1.25 + 64 * MiB)
    failures.push(`peak RSS ${mib(peakAbove)} MiB above baseline exceeds the bound`);
  report(
    {
      slow: SLOW,
      fast: FAST,
      size: SIZE,
      maxBackpressure: MAX_BP,
      published,
      backpressureCloses: cut,
      closes1008: code1008,
      rates: { before: before.rate, while: whileP.rate, after: after.rate },
      latencyP99ms: { before: before.latencyP99ms, while: whileP.latencyP99ms, after: after.latencyP99ms },
      cutOffSeconds: whileP.secs,
      baseRssMiB: Number(mib(baseRss)),
      peakAboveMiB: Number(mib(peakAbove)),
      buffersAboveMiB: Number(mib(buffersAbove)),
      endRssMiB: Number(mib(after.last.rss)),
      before: beforeGc,
      after: final,
      boundMiB: Number(mib(bound)),
      perSlowKiB: Math.round(buffersAbove / SLOW / 1024),
      rssPerSlowKiB: Math.round(peakAbove / SLOW / 1024),
    },
    failures,
  );
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────────────────

const modes: Record<string, () => Promise<void>> = { soak, churn, slow };
const run = modes[mode];
if (run === undefined) {
  console.error('usage: node dist/bench/soak.js soak|churn|slow [--flag NUMBER]...  (see the top of bench/soak.ts)');
  process.exit(2);
}
try {
  await run();
} catch (e) {
  console.error(e);
  await stopServer();
  process.exit(1);
}
process.exit(0);
