/**
 * A WebSocket conformance corpus written apart from the server (test/conformance/ws-probes/*.py, Python raw
 * sockets), run against `sockeye echo` and `sockeye echo --deflate` as the Autobahn TestSuite's fuzzing client would
 * be: framing, ping/pong, reserved bits, opcodes, fragmentation, UTF-8 failing fast (sections 1-7, 10), the opening
 * handshake, limits up to 16 MiB (section 9), close behaviour (who closes TCP, when), permessage-deflate negotiation
 * and compressed messages (sections 12-13, RFC 7692), and a bounded random-frame fuzz after which the server must
 * still echo.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(HERE, '../../../bin/sockeye.js');
// The Python files stay in the source tree (tsc does not copy them).
const PROBES = path.resolve(HERE, '../../../test/conformance/ws-probes');

/** Starts `sockeye echo` (with extra arguments) on a free port; resolves with its port once it listens. */
async function startEcho(t: TestContext, extra: string[] = []): Promise<number> {
  const child = spawn(process.execPath, [BIN, 'echo', '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sockeye echo did not start')), 10_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
}

/** Runs one probe file with its arguments; every probe inside is bounded in time. */
function runProbes(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', [path.join(PROBES, args[0] as string), ...args.slice(1)], {
      cwd: PROBES,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** file, the servers it takes ('plain', or 'deflate' for `--deflate`) in its argument order, least number of probes. */
const FILES: [string, ('plain' | 'deflate')[], number][] = [
  ['probe_frames.py', ['plain'], 200],
  ['probe_handshake.py', ['plain'], 40],
  ['probe_limits.py', ['plain'], 50],
  ['probe_deflate.py', ['deflate', 'plain'], 70],
  ['probe_close_behaviour.py', ['plain'], 8],
  ['probe_misc.py', ['plain', 'deflate'], 10],
];

describe('WebSocket probe corpus against sockeye echo', () => {
  for (const [file, servers, least] of FILES) {
    it(`${file}: every probe passes`, async (t) => {
      const args = [file];
      for (const kind of servers) args.push(String(await startEcho(t, kind === 'deflate' ? ['--deflate'] : [])));
      const { code, out } = await runProbes(args);
      assert.equal(code, 0, out.slice(-3000));
      const failures = out.split('\n').filter((l) => l.startsWith('FAIL'));
      assert.deepEqual(failures, [], 'failing probes');
      const m = /== (\d+) passed, (\d+) failed/.exec(out);
      assert.ok(m !== null, `no summary line:\n${out.slice(-2000)}`);
      assert.equal(Number(m[2]), 0, 'failed count');
      assert.ok(Number(m[1]) >= least, `only ${m[1]} probes ran`);
    });
  }

  for (const deflate of [false, true]) {
    it(`300 random frame sequences${deflate ? ' with permessage-deflate' : ''}: the server still echoes after`, async (t) => {
      const port = await startEcho(t, deflate ? ['--deflate'] : []);
      const { code, out } = await runProbes(['probe_fuzz.py', String(port), deflate ? '1' : '0', '300']);
      assert.equal(code, 0, out.slice(-3000));
      assert.match(out, /server alive: True/);
    });
  }
});
