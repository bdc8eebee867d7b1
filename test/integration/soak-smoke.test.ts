/**
 * The scale, soak and churn scripts (bench/soak.ts, issue 15 §2) at a tiny scale, so they cannot rot: each mode
 * runs against its own server process and must print its report with the figures it promises and a pass verdict.
 * The full-scale runs and their figures are in bench/results/soak-*.md; they never run in `npm test`.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bench/soak.js');

/** Runs the script (its server unpinned) and returns the parsed `REPORT` line; fails with the output if none. */
async function runSoak(args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [SCRIPT, ...args], {
    env: { ...process.env, SOAK_SERVER_CPU: 'none' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.split('\n').find((l) => l.startsWith('REPORT '));
  assert.ok(line, `no REPORT line (exit ${code}):\n${out}`);
  const report = JSON.parse(line.slice('REPORT '.length)) as Record<string, unknown>;
  assert.equal(report.verdict, 'pass', `verdict: ${JSON.stringify(report.failures)}\n${out}`);
  assert.equal(code, 0);
  assert.match(out, /\| t s \|/, 'a table of samples');
  return report;
}

const memory = (s: unknown) => {
  const m = s as Record<string, number>;
  for (const k of ['rss', 'heapUsed', 'handles', 'conns']) assert.equal(typeof m[k], 'number', k);
  return m;
};

test('soak: 50 WebSockets echoing for 2 s: every echo back, event-loop delay and memory reported', async () => {
  const r = await runSoak(['soak', '--sockets', '50', '--seconds', '2', '--every', '200', '--sample', '1']);
  assert.equal(r.opened, 50);
  assert.equal(r.errors, 0);
  assert.ok((r.sent as number) >= 50, `sent ${r.sent}`);
  assert.equal(r.echoed, r.sent);
  const eld = r.eld as Record<string, number>;
  for (const k of ['p50', 'p99', 'max']) assert.equal(typeof eld[k], 'number', k);
  assert.equal(typeof r.rssSlopeMiBPerMin, 'number');
  memory(r.before);
  assert.equal(memory(r.after).conns, 1, 'only the sampling connection is left');
});

test('churn: 200 cycles of four kinds, the server back to its baseline handles', async () => {
  const r = await runSoak(['churn', '--cycles', '200', '--concurrency', '20']);
  assert.deepEqual(Object.values(r.kinds as Record<string, number>), [50, 50, 50, 50]);
  assert.equal(r.failed, 0);
  assert.equal(r.wsAccepted, 150);
  const before = memory(r.before);
  memory(r.mid);
  assert.equal(memory(r.after).handles, before.handles);
});

test('slow: 20 consumers that stop reading are each failed with 1008, the fast ones keep receiving', async () => {
  const r = await runSoak([
    'slow',
    ...['--slow', '20', '--fast', '2', '--size', '16384', '--burst', '4', '--every', '5'],
    ...['--seconds', '1', '--max-backpressure', '65536', '--close-timeout', '500'],
  ]);
  assert.equal(r.backpressureCloses, 20);
  assert.equal(r.closes1008, 20);
  const rates = r.rates as Record<string, number>;
  for (const k of ['before', 'while', 'after']) assert.ok((rates[k] as number) > 0, `fast rate ${k}`);
  assert.equal(typeof r.peakAboveMiB, 'number');
  assert.ok((r.buffersAboveMiB as number) <= (r.boundMiB as number) + 16, 'queues within the bound and constant');
  assert.ok((memory(r.after).arrayBuffers as number) - (memory(r.before).arrayBuffers as number) < 16 * 2 ** 20);
});
