/**
 * Server conformance, permessage-deflate (RFC 7692) end to end against `sockeye echo --deflate` in a child
 * process, modelled on the Autobahn TestSuite's compression sections, with Python `websockets` 10 and a raw
 * Python client (socket + zlib) as independent peers (test/fixtures/ws/autobahn-deflate-client.py):
 *
 * - Autobahn 12.1-12.3, offer `permessage-deflate`: 50 messages per case of 16..131072 bytes, text (a JSON
 *   corpus with non-ASCII characters), binary (a bitmap) and random (incompressible) binary, every echo
 *   byte-identical, same type, in order; 12.1.11-18 and 12.2.11-18: the compressed payload split into frames
 *   of 256 octets (RFC 7692 §6.1: RSV1 on the first frame only).
 * - Autobahn 13.1-13.7 (the exact offers of Autobahn's PerMessageDeflateOffer), and 13.8-13.36: each parameter
 *   alone, server_max_window_bits 8/9/12/15, client_max_window_bits 8..15, combinations, several offers in one
 *   header (RFC 7692 §5: the first acceptable one wins), offers the server must decline (§7: unknown parameter,
 *   duplicate, bits out of range, leading zero). Every response is checked against the offer it answers
 *   (§7.1.1.1 server_no_context_takeover present when asked, §7.1.2.1 server_max_window_bits present and not
 *   larger, §7.1.2.2 client_max_window_bits only when offered and not larger), and the clients decompress with
 *   exactly what was agreed: a server that takes over its context or uses a larger window than agreed fails.
 * - 13.W: an offer `client_max_window_bits=N` answered without that parameter lets the client compress with a
 *   32 KiB window (§7.1.2.2: "The absence of this extension parameter in an extension negotiation response
 *   indicates that the server can receive messages compressed using an LZ77 sliding window of up to 32,768
 *   bytes").
 * - Extras: uncompressed messages between compressed ones (§6), context takeover across the server's idle
 *   release of zlib contexts, and the server still serving (HTTP and a compressed echo) after everything.
 * - `sockeye echo` without `--deflate`: offers are declined (no Sec-WebSocket-Extensions, RFC 6455 §9.1) and
 *   messages echo uncompressed.
 *
 * One test per case, named by its Autobahn-style id. Python (/usr/bin/python3, Debian python3-websockets) runs
 * all cases of a server once, in `before`; each test reports its own case. test/integration/bridge-deflate.test.ts
 * runs this very file against the same handlers behind node:http (`websocketHandler()`, test/fixtures/ws/bridge-echo.ts).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { echoArgv, echoProcessName, PYTHON, runPython } from '../helpers/echo-process.js';
import { closeBody, frame } from '../helpers/ws-frames.js';
import { connectRaw, OP_CLOSE, OP_TEXT, randomMask } from '../helpers/ws-raw-client.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLIENT = path.join(ROOT, 'test/fixtures/ws/autobahn-deflate-client.py');
/** Bound of one Python run (every case of one server). */
const RUN_TIMEOUT_MS = 90_000;
/** RFC 7692 §7.2.1: the tail of a sync flush, removed by the sender and appended by the receiver. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** `sockeye echo`, or the bridge echo when test/integration/bridge-deflate.test.ts runs this file. */
const NAME = echoProcessName();

type Suite = 'deflate' | 'plain';

interface CaseInfo {
  id: string;
  group: string;
  title: string;
}

interface CaseResult {
  id: string;
  ok: boolean;
  error: string | null;
  response_extensions: string | null;
  agreed: { snct: boolean; cnct: boolean; sbits: number; cbits: number | null } | null;
  messages: number;
  compressed_in: number;
  ms: number;
}

/** The cases of a suite, by group, in order (known before any server runs, so that each gets its own test). */
function listCases(suite: Suite): Map<string, CaseInfo[]> {
  const out = execFileSync(PYTHON, [CLIENT, '--list', '--suite', suite], { encoding: 'utf8', timeout: 20_000 });
  const groups = new Map<string, CaseInfo[]>();
  for (const c of JSON.parse(out) as CaseInfo[]) {
    let list = groups.get(c.group);
    if (list === undefined) groups.set(c.group, (list = []));
    list.push(c);
  }
  return groups;
}

interface Echo {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/**
 * Starts `sockeye echo [args]` on a free port (or the bridge echo, test/integration/bridge-deflate.test.ts);
 * resolves once it listens.
 */
function startEcho(args: string[]): Promise<Echo> {
  const child = spawn(process.execPath, echoArgv(args), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${NAME} did not start: ${stderr}`));
    }, 10_000);
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => stderr });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${NAME} exited (${code ?? signal}) before listening: ${stderr}`));
    });
  });
}

/** Runs every case of `suite` against the server on `port`; resolves with the results by case id. */
async function runClient(port: number, suite: Suite): Promise<Map<string, CaseResult>> {
  const run = await runPython(ROOT, [CLIENT, '--port', String(port), '--suite', suite], process.env, RUN_TIMEOUT_MS);
  if (run.code !== 0) {
    throw new Error(`the Python client failed (${run.code ?? 'killed'}): ${run.stderr.slice(-4000)}`);
  }
  try {
    const { results } = JSON.parse(run.stdout) as { results: CaseResult[] };
    return new Map(results.map((r) => [r.id, r]));
  } catch (e) {
    throw new Error(`unreadable output of the Python client (${(e as Error).message}): ${run.stdout.slice(0, 2000)}`);
  }
}

function explain(r: CaseResult): string {
  return [
    r.error ?? 'not ok',
    `response Sec-WebSocket-Extensions: ${r.response_extensions ?? '(none)'}`,
    `agreed: ${JSON.stringify(r.agreed)}`,
    `messages echoed: ${r.messages}, compressed echoes: ${r.compressed_in}`,
  ].join('\n  ');
}

/** Declares one test per case of `suite`; `results()` is the Python run, started by the caller's `before`. */
function declareCases(suite: Suite, results: () => Promise<Map<string, CaseResult>>): void {
  for (const [group, cases] of listCases(suite)) {
    describe(group, () => {
      for (const c of cases) {
        it(`${c.id} ${c.title}`, async () => {
          const r = (await results()).get(c.id);
          assert.ok(r, `no result for case ${c.id}`);
          assert.equal(r.error, null, explain(r));
          assert.equal(r.ok, true, explain(r));
        });
      }
    });
  }
}

/** RFC 7692 §7.2.1 by hand with node:zlib: deflate, sync flush, the trailing 00 00 ff ff removed. */
function compress(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(out.subarray(-4), TAIL);
  return out.subarray(0, -4);
}

describe(`permessage-deflate: Autobahn 12 and 13 against ${NAME} --deflate`, () => {
  let echo: Echo | undefined;
  let results: Promise<Map<string, CaseResult>> = Promise.reject(new Error('the echo server did not start'));
  results.catch(() => {});

  before(async () => {
    echo = await startEcho(['--deflate']);
    results = runClient(echo.port, 'deflate');
    results.catch(() => {});
  });
  after(() => {
    echo?.child.kill('SIGKILL');
  });

  declareCases('deflate', () => results);

  it('afterwards the server is alive: process running, HTTP answered, a compressed message echoed', async () => {
    await results.catch(() => {});
    assert.ok(echo, 'the echo server did not start');
    assert.equal(echo.child.exitCode, null, `${NAME} exited: ${echo.stderr()}`);
    assert.equal(echo.child.signalCode, null, `${NAME} was killed: ${echo.stderr()}`);

    const res = await fetch(`http://127.0.0.1:${echo.port}/alive?after=autobahn`);
    assert.equal(res.status, 200);
    const json = (await res.json()) as { method: string; target: string };
    assert.equal(json.method, 'GET');
    assert.equal(json.target, '/alive?after=autobahn');

    // A third client, by hand on node:net + node:zlib, with context takeover on both sides.
    const ws = await connectRaw(echo.port, {
      path: '/alive',
      headers: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'],
    });
    try {
      const ext = ws.response.headers.get('sec-websocket-extensions') ?? '';
      assert.match(ext, /^permessage-deflate(\s*;|$)/, `response Sec-WebSocket-Extensions: ${ext}`);
      const text = Buffer.from(`{"alive":true,"check":"${'après tout, '.repeat(400)}"}`);
      for (let i = 0; i < 2; i++) {
        const before = ws.frames.length;
        await ws.write(frame({ opcode: OP_TEXT, rsv1: true, payload: compress(text), mask: randomMask() }));
        const [echoed] = (await ws.waitFrames(before + 1, 5000)).slice(before);
        assert.ok(echoed);
        assert.equal(echoed.opcode, OP_TEXT);
        assert.equal(echoed.fin, true);
        assert.equal(echoed.rsv1, true, 'a 5 KB echo is compressed (threshold 1024)');
        const plain = zlib.inflateRawSync(Buffer.concat([echoed.payload, TAIL]), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        });
        assert.deepEqual(plain, text);
      }
      const before = ws.frames.length;
      await ws.write(frame({ opcode: OP_CLOSE, payload: closeBody(1000), mask: randomMask() }));
      const [close] = (await ws.waitFrames(before + 1, 5000)).slice(before);
      assert.equal(close?.opcode, OP_CLOSE);
      assert.equal(close?.payload.readUInt16BE(0), 1000);
    } finally {
      ws.destroy();
    }
    assert.equal(echo.child.exitCode, null, `${NAME} exited: ${echo.stderr()}`);
  });
});

describe(`permessage-deflate declined: ${NAME} without --deflate`, () => {
  let echo: Echo | undefined;
  let results: Promise<Map<string, CaseResult>> = Promise.reject(new Error('the echo server did not start'));
  results.catch(() => {});

  before(async () => {
    echo = await startEcho([]);
    results = runClient(echo.port, 'plain');
    results.catch(() => {});
  });
  after(() => {
    echo?.child.kill('SIGKILL');
  });

  declareCases('plain', () => results);
});
