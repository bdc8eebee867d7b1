/**
 * A WebSocket conformance corpus written apart from the server (test/conformance/ws-probes/*.py, Python raw
 * sockets), run against `sockeye echo` and `sockeye echo --deflate` as the Autobahn TestSuite's fuzzing client would
 * be: framing, ping/pong, reserved bits, opcodes, fragmentation, UTF-8 failing fast (sections 1-7, 10), the opening
 * handshake, limits up to 16 MiB (section 9), close behaviour (who closes TCP, when), permessage-deflate negotiation
 * and compressed messages (sections 12-13, RFC 7692), and a bounded random-frame fuzz after which the server must
 * still echo.
 */

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runPython, startEchoProcess, TEST_SRC } from '../helpers/echo-process.js';

const PROBES = path.join(TEST_SRC, 'conformance/ws-probes');

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
      for (const kind of servers)
        args.push(String((await startEchoProcess(t, kind === 'deflate' ? ['--deflate'] : [])).port));
      const { code, out } = await runPython(PROBES, args);
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
      const { port } = await startEchoProcess(t, deflate ? ['--deflate'] : []);
      const { code, out } = await runPython(PROBES, ['probe_fuzz.py', String(port), deflate ? '1' : '0', '300']);
      assert.equal(code, 0, out.slice(-3000));
      assert.match(out, /server alive: True/);
    });
  }
});
