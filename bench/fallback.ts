/**
 * bench/run.sh on a clone without the shared harness (../shared/bench): the same workloads, measured with
 * `sockeye bench` (this checkout's CLI) against sockeye's bench server and two anchors of our own, a raw node:net
 * floor (bench/anchors/raw-net.ts) and node:http + ws (bench/anchors/node-http-ws.ts). Servers on core 0, the
 * generator on core 1 (taskset, when there is one and two cores), rounds interleaved across servers, medians.
 *
 * Not the shared harness: its C generator (wsload) and wrk drive more load than a Node generator on one core, and
 * it has Bun, nginx and Python anchors. Figures from here are comparable with each other, not with its results.
 *
 *   node dist/bench/fallback.js [--quick] [--rounds N] [--duration S] [--warmup S] [--only a,b] [--workload ids]
 *                               [--out FILE] [--no-write] [--json] [--list]
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = path.resolve(DIST, '..');
const BIN = path.join(ROOT, 'bin/sockeye.js');

interface Entry {
  name: string;
  label: string;
  role: 'candidate' | 'anchor' | 'floor';
  script: string;
}

const ENTRIES: Entry[] = [
  { name: 'sockeye', label: 'sockeye (this checkout)', role: 'candidate', script: 'bench/server.js' },
  { name: 'raw-net', label: 'raw node:net (floor)', role: 'floor', script: 'bench/anchors/raw-net.js' },
  { name: 'node-http-ws', label: 'node:http + ws', role: 'anchor', script: 'bench/anchors/node-http-ws.js' },
];

interface Workload {
  id: string;
  group: 'ws' | 'http';
  what: string;
  args: (port: number) => string[];
}

/** The shared harness's workloads that `sockeye bench` can drive (not its 1 MiB echo or connect storm). */
const WORKLOADS: Workload[] = [
  {
    id: 'ws-echo-32b',
    group: 'ws',
    what: '100 connections, 32 B binary, 16 in flight',
    args: (p) => ['-c', '100', '--in-flight', '16', '--size', '32', '--binary', `ws://127.0.0.1:${p}/`],
  },
  {
    id: 'ws-echo-1k',
    group: 'ws',
    what: '100 connections, 1 KiB binary, 4 in flight',
    args: (p) => ['-c', '100', '--in-flight', '4', '--size', '1024', '--binary', `ws://127.0.0.1:${p}/`],
  },
  {
    id: 'ws-echo-64k',
    group: 'ws',
    what: '10 connections, 64 KiB binary, 2 in flight',
    args: (p) => ['-c', '10', '--in-flight', '2', '--size', '65536', '--binary', `ws://127.0.0.1:${p}/`],
  },
  {
    id: 'http-get',
    group: 'http',
    what: 'GET /, keep-alive, 100 connections',
    args: (p) => ['-c', '100', `http://127.0.0.1:${p}/`],
  },
  {
    id: 'http-get-pipe16',
    group: 'http',
    what: '16 pipelined GET / per write, 100 connections',
    args: (p) => ['-c', '100', '--pipeline', '16', `http://127.0.0.1:${p}/`],
  },
  {
    id: 'http-post-4k',
    group: 'http',
    what: 'POST /echo with a 4 KiB body, 50 connections',
    args: (p) => ['-c', '50', '-b', '0123456789abcdef'.repeat(256), `http://127.0.0.1:${p}/echo`],
  },
];

/** One `sockeye bench --json` result. */
interface Run {
  workload: string;
  server: string;
  round: number;
  perSecond: number;
  latency: { p50: number; p90: number; p99: number; p999: number; max: number };
  errors: number;
  errorsByKind: Record<string, number>;
}

function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (err) {
    process.stderr.write(
      `${(err as Error).message.split('. ')[0]} (the fallback takes: --${Object.keys(OPTIONS).join(' --')})\n`,
    );
    process.exit(2);
  }
}

const OPTIONS = {
  quick: { type: 'boolean' },
  rounds: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  only: { type: 'string' },
  workload: { type: 'string' },
  out: { type: 'string' },
  'no-write': { type: 'boolean' },
  json: { type: 'boolean' },
  list: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
const { values } = parseOptions();

if (values.help || values.list) {
  process.stdout.write(`servers: ${ENTRIES.map((e) => `${e.name} (${e.role})`).join(', ')}\n`);
  process.stdout.write(`workloads (groups ws, http):\n${WORKLOADS.map((w) => `  ${w.id}: ${w.what}`).join('\n')}\n`);
  process.exit(0);
}

const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
const duration = Number(values.duration ?? 4);
const warmup = Number(values.warmup ?? (values.quick ? 1 : 2));
const wanted = values.only?.split(',').filter(Boolean);
const entries = wanted === undefined ? ENTRIES : ENTRIES.filter((e) => wanted.includes(e.name) || e.role === 'floor');
const missing = (wanted ?? []).filter((n) => !ENTRIES.some((e) => e.name === n));
if (missing.length > 0)
  process.stderr.write(`not available without the shared harness (skipped): ${missing.join(', ')}\n`);
const workloadSel = values.workload?.split(',').filter(Boolean);
const workloads =
  workloadSel === undefined
    ? WORKLOADS
    : WORKLOADS.filter((w) => workloadSel.includes(w.id) || workloadSel.includes(w.group));
if (workloads.length === 0 || entries.length === 0 || !(rounds >= 1) || !(duration > 0) || !(warmup >= 0)) {
  process.stderr.write('nothing to run: check --only, --workload, --rounds, --duration and --warmup (see --list)\n');
  process.exit(2);
}

/** taskset -c CORE, when the machine has it and two cores to pin to. */
const pin = (() => {
  if (os.cpus().length < 2) return null;
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return (core: number, argv: string[]) => ['taskset', '-c', String(core), ...argv];
  } catch {
    return null;
  }
})();

/** A free port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a server entry on core 0; resolves once it printed `ready`. */
async function startServer(e: Entry): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const argv = [process.execPath, path.join(DIST, e.script)];
  const full = pin ? pin(0, argv) : argv;
  const child = spawn(full[0] as string, full.slice(1), {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${e.name} did not print 'ready' within 30 s`)), 30_000);
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${e.name} exited (${code}) before it was ready`)));
  });
  return { child, port };
}

/** Runs `sockeye bench --json` on core 1; resolves with its report. */
function runBench(args: string[], seconds: number): Promise<Run> {
  const argv = [process.execPath, BIN, 'bench', '--json', '-d', String(seconds), ...args];
  const full = pin ? pin(1, argv) : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.once('error', reject);
    child.once('close', () => {
      try {
        resolve(JSON.parse(out) as Run);
      } catch {
        reject(new Error(`sockeye bench printed no report: ${out.slice(0, 200)}`));
      }
    });
  });
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

const fmt = (v: number, d = 0) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a';

process.stdout.write(
  `Shared harness not found: measuring with sockeye bench (a Node generator, not wrk/wsload) against sockeye and ` +
    `our own anchors (${entries.map((e) => e.name).join(', ')}); ${rounds} round(s) x ${duration} s` +
    `${pin ? ', servers on core 0, generator on core 1' : ' (no taskset or one core: not pinned)'}.\n`,
);
const servers = new Map<string, { child: ChildProcess; port: number }>();
const runs: Run[] = [];
try {
  for (const e of entries) servers.set(e.name, await startServer(e));
  for (const w of workloads) {
    if (warmup > 0) for (const e of entries) await runBench(w.args(servers.get(e.name)?.port as number), warmup);
    for (let round = 1; round <= rounds; round++) {
      for (const e of entries) {
        const r = await runBench(w.args(servers.get(e.name)?.port as number), duration);
        runs.push({
          workload: w.id,
          server: e.name,
          round,
          perSecond: r.perSecond,
          latency: r.latency,
          errors: r.errors,
          errorsByKind: r.errorsByKind,
        });
      }
    }
  }
} finally {
  for (const { child } of servers.values()) child.kill('SIGTERM');
}

const lines = [
  `# sockeye bench fallback (no shared harness), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Generator: sockeye bench (this checkout). ${rounds} round(s) x ${duration} s after ${warmup} s warm-up; ` +
    `${pin ? 'servers on core 0, generator on core 1' : 'not pinned'}; load average at the end ` +
    `${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')}.`,
  '',
  '| workload | server | median /s | × floor | p50 ms | p99 ms | errors |',
  '|---|---|---:|---:|---:|---:|---:|',
];
const summary: Record<string, unknown>[] = [];
for (const w of workloads) {
  const floor = median(runs.filter((r) => r.workload === w.id && r.server === 'raw-net').map((r) => r.perSecond));
  for (const e of entries) {
    const mine = runs.filter((r) => r.workload === w.id && r.server === e.name);
    const perSecond = median(mine.map((r) => r.perSecond));
    const row = {
      workload: w.id,
      server: e.name,
      perSecond,
      xFloor: perSecond / floor,
      latency: { p50: median(mine.map((r) => r.latency.p50)), p99: median(mine.map((r) => r.latency.p99)) },
      errors: mine.reduce((a, r) => a + r.errors, 0),
    };
    summary.push(row);
    lines.push(
      `| ${w.id} | ${e.label} | ${fmt(perSecond)} | ${fmt(row.xFloor, 2)} | ${fmt(row.latency.p50, 3)} | ${fmt(row.latency.p99, 3)} | ${row.errors} |`,
    );
  }
}
const markdown = `${lines.join('\n')}\n`;
process.stdout.write(markdown);
const result = { generator: 'sockeye bench', sharedHarness: false, rounds, duration, warmup, summary, runs };
if (!values['no-write']) {
  const partial = values.only !== undefined || values.workload !== undefined || values.rounds !== undefined;
  const suffix = values.quick ? '-quick' : partial ? '-partial' : '';
  const out =
    values.out ?? path.join(ROOT, 'bench/results', `fallback-${new Date().toISOString().slice(0, 10)}${suffix}.md`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, markdown);
  writeFileSync(out.replace(/\.md$/, '.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`written: ${out} (+ .json)\n`);
}
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
