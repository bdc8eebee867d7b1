/**
 * bench/run.sh on a clone without the shared harness (SOCKEYE_SHARED pointed at an empty folder): it says so, and
 * measures with `sockeye bench` against sockeye and its own anchors (raw node:net floor, node:http + ws). A very
 * short run: the test checks the report's fields and that every server answered without errors, not the figures.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('without ../shared, bench/run.sh uses sockeye bench and its own anchors, and says so', async (t) => {
  const empty = mkdtempSync(path.join(tmpdir(), 'sockeye-no-shared-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const { stdout, stderr } = await promisify(execFile)(
    'bash',
    [
      path.join(ROOT, 'bench/run.sh'),
      '--quick',
      '--duration',
      // 1 s, not less: a cold anchor on a loaded 2-core machine may answer nothing in its first few hundred ms.
      '1',
      '--warmup',
      '0',
      '--workload',
      'ws-echo-32b,http-get',
      '--no-write',
      '--json',
    ],
    { env: { ...process.env, SOCKEYE_SHARED: empty }, timeout: 60_000 },
  );
  assert.match(stderr, /no shared harness at .*: using sockeye bench and bench\/anchors/);
  assert.match(stdout, /^Shared harness not found: measuring with sockeye bench/m);
  assert.match(stdout, /^\| ws-echo-32b \| raw node:net \(floor\) \| [\d,]+ \| 1\.00 \|/m);
  const result = JSON.parse(stdout.trim().split('\n').pop() as string);
  assert.equal(result.generator, 'sockeye bench');
  assert.equal(result.sharedHarness, false);
  const seen = result.runs.map((r: { workload: string; server: string }) => `${r.workload} ${r.server}`).sort();
  assert.deepEqual(seen, [
    'http-get node-http-ws',
    'http-get raw-net',
    'http-get sockeye',
    'ws-echo-32b node-http-ws',
    'ws-echo-32b raw-net',
    'ws-echo-32b sockeye',
  ]);
  for (const r of result.runs) {
    assert.ok(r.perSecond > 0, `${r.workload} ${r.server}`);
    assert.equal(r.errors, 0, `${r.workload} ${r.server}: ${JSON.stringify(r.errorsByKind)}`);
    for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) assert.equal(typeof r.latency[k], 'number');
  }
  for (const s of result.summary) assert.equal(typeof s.xFloor, 'number');
});
