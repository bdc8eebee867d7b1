/**
 * The 'data'-event path that the server falls back to when this Node lacks what shared-buffer reads need
 * (src/node/socket-reads.ts): the suites that exercise reading hardest run again in a child process with
 * SOCKEYE_SHARED_READS=0, where `useSharedReads` declines and every socket reads through its Readable side.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SUITES = [
  'integration/socket-reads.test.js',
  'integration/http-server.test.js',
  'conformance/ws-server-framing.test.js',
  'conformance/ws-server-fragmentation.test.js',
  'conformance/ws-server-close.test.js',
  'integration/ws-server-interop.test.js',
];

it("the server passes its read-heavy suites on 'data' events (SOCKEYE_SHARED_READS=0)", () => {
  const files = SUITES.map((f) => fileURLToPath(new URL(`../${f}`, import.meta.url)));
  // Without NODE_TEST_CONTEXT: with it, a nested `node --test` skips its files.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...files], {
    env: { ...env, SOCKEYE_SHARED_READS: '0' },
    encoding: 'utf8',
    timeout: 240_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${child.stdout.slice(-6000)}\n${child.stderr.slice(-2000)}`;
  assert.equal(child.status, 0, `child test run failed:\n${out}`);
  const passed = Number(/^# pass (\d+)$/m.exec(child.stdout)?.[1] ?? 0);
  assert.ok(passed >= 100, `the child ran the suites (${passed} passed):\n${out}`);
  assert.match(child.stdout, /^# fail 0$/m);
});
