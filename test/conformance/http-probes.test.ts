/**
 * An HTTP/1.1 conformance and smuggling corpus written apart from the server (test/conformance/http-probes/*.py,
 * Python raw sockets, RFC 9112 §2-§9 and RFC 9110 §5, §6.6.1, §8.6, §9.3.6, §10.1.1, §15): request-line forms and
 * whitespace, methods, the four request-target forms, version variants, field syntax (CTLs, obs-text, obs-fold,
 * whitespace before the colon, bare CR and LF), Host rules, Content-Length and Transfer-Encoding shapes (signs,
 * lists, NBSP and other look-alikes, obfuscated codings), chunked bodies and trailers, pipelining with an error in
 * request N+1, Connection lists, keep-alive on 1.0 and 1.1, Expect, HEAD, CONNECT, the response's own syntax (status
 * line, Date format, Content-Length, `Connection: close` on errors), and the idle, slow-sender and body-stall
 * timeouts. Each probe sends exact bytes to `sockeye echo` and checks the exact answer and whether the connection
 * closed. The corpus found the NBSP Transfer-Encoding/Content-Length smuggling shapes, the CONNECT framing and the
 * empty Expect element fixed on 2026-12-04.
 */

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runPython, startEchoProcess, TEST_SRC } from '../helpers/echo-process.js';

const PROBES = path.join(TEST_SRC, 'conformance/http-probes');

const FILES: [string, number][] = [
  // file, least number of probes it must have run (a file that stops early must not pass)
  ['probes_1_line_fields_host.py', 160],
  ['probes_2_framing.py', 120],
  ['probes_3_conn.py', 60],
];

describe('HTTP/1.1 probe corpus against sockeye echo', () => {
  for (const [file, least] of FILES) {
    it(`${file}: every probe passes`, async (t) => {
      const { port } = await startEchoProcess(t);
      const { code, out } = await runPython(PROBES, [file], { ...process.env, PORT: String(port) });
      assert.equal(code, 0, out.slice(-3000));
      const failures = out.split('\n').filter((l) => l.startsWith('FAIL'));
      assert.deepEqual(failures, [], 'failing probes');
      // The last summary line: "--- [total N: ]P passed, F failed".
      const m = /--- (?:total \d+: )?(\d+) passed, (\d+) failed\s*$/.exec(out.trim());
      assert.ok(m !== null, `no summary line:\n${out.slice(-2000)}`);
      assert.equal(Number(m[2]), 0, 'failed count');
      assert.ok(Number(m[1]) >= least, `only ${m[1]} probes ran`);
    });
  }
});
