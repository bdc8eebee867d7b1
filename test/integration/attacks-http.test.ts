/**
 * Known attacks on an HTTP/1.1 server (issue 15 §3), each over real loopback sockets against a real sockeye
 * server, each with the answer it must get: the precise status, the attacking connection ending (or, for a
 * client that does not read, held), and a well-behaved client on the same server answered during and after the
 * attack. Where the attack is about memory, the server runs in a child process (test/fixtures/attacks/) and its
 * peak RSS must stay far below what the attack would cost an unbounded server. No timing thresholds: answers and
 * orderings only; every loop is bounded in count and time. docs/attacks.md lists them all.
 *
 * - slowloris on the head (bytes trickled, the head never ends): 408 at timeouts.headers; on the body (bytes
 *   slower than timeouts.body): 408;
 * - 100,000 tiny header lines: 431 while the client is still sending; 3,000 lines in one complete head: 431;
 * - a chunk line of 1 MiB of extensions: 400 while the client is still sending; extensions summed over 10,000
 *   chunks: 400 (MAX_CHUNK_EXTENSIONS_BYTES);
 * - chunk-size 2^64 and other overflowing sizes: 400;
 * - a client that pipelines thousands of requests and never reads: held (no more requests parsed, reading
 *   stopped), memory bounded; once it reads, every response comes in order.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_CHUNK_EXTENSIONS_BYTES } from '../../src/limits.js';
import { MiB, memoryOf, peakGrowthMiB, RESPONSE_SIZE } from '../fixtures/attacks/attacks.js';
import { connectHttp, firstStatus, politeGet, ResponseReader } from '../helpers/attack-peers.js';
import { startServer } from '../helpers/net.js';
import { forkServer, waitFor, within } from '../helpers/slow-peers.js';

const ATTACK_SERVER = new URL('../fixtures/attacks/attack-server.js', import.meta.url);

/** A handler that reads the body (recording how that ended) and answers `ok <path>`. */
function okServer(seen: string[] = []) {
  return async (
    req: import('../../src/index.js').SockeyeRequest,
    res: import('../../src/index.js').SockeyeResponse,
  ) => {
    const body = await req.bytes().catch((e: { code?: string }) => e.code ?? 'error');
    if (typeof body === 'string') seen.push(body);
    if (!res.headersSent) res.send(`ok ${req.path}`);
  };
}

// ── 1. slowloris ─────────────────────────────────────────────────────────────────────────────────────────────

test('slowloris on the head: one byte per 20 ms, the head never ends → 408 at timeouts.headers, closed; others served', async (t) => {
  const server = await startServer(t, { timeouts: { headers: 500 }, request: okServer() });
  const slow = await connectHttp(t, server.port);
  slow.socket.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  // A well-behaved client while the slowloris is on.
  const during = politeGet(server.port, '/during');
  // At most 500 bytes (10 s): each keeps the connection busy, none ends the head.
  const written = await slow.trickleUntilAnswered(500, 20, () => 'a');
  const text = await slow.closedText();
  assert.equal(firstStatus(text), 408, text.slice(0, 120));
  assert.match(text, /\r\nConnection: close\r\n/i);
  assert.ok(written < 500, `answered while the client was still trickling (after ${written} bytes)`);
  assert.equal(await during, 'ok /during');
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
  assert.equal(server.stats().http.timeouts.headers, 1);
});

test('slowloris on the body: bytes slower than timeouts.body → 408, closed, the handler sees the body fail; others served', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, { timeouts: { body: 300 }, request: okServer(seen) });
  const slow = await connectHttp(t, server.port);
  slow.socket.write('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nx');
  const during = politeGet(server.port, '/during');
  // One body byte per second at most (100 would end the body): each gap is longer than timeouts.body.
  const written = await slow.trickleUntilAnswered(99, 1000, () => 'x');
  const text = await slow.closedText();
  assert.equal(firstStatus(text), 408, text.slice(0, 120));
  assert.ok(written < 99, `answered before the body was complete (after ${written + 1} of 100 bytes)`);
  assert.deepEqual(seen, ['ERR_HTTP_BODY_TIMEOUT']);
  assert.equal(await during, 'ok /during');
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
  assert.equal(server.stats().http.timeouts.body, 1);
});

// ── 2. many headers ──────────────────────────────────────────────────────────────────────────────────────────

test('100,000 header lines "a:b": 431 while the client is still sending them (maxHeaderBytes), closed; others served', async (t) => {
  const server = await startServer(t, { request: okServer() });
  const attacker = await connectHttp(t, server.port);
  attacker.socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
  const during = politeGet(server.port, '/during');
  // 1,000 writes of 100 lines each, one per loop turn, stopping at the answer.
  const pieces = await attacker.writeUntilAnswered(1000, () => 'a:b\r\n'.repeat(100));
  const text = await attacker.closedText();
  assert.equal(firstStatus(text), 431, text.slice(0, 120));
  assert.ok(pieces < 1000, `answered while the client was still writing (after ${pieces * 100} of 100,000 lines)`);
  assert.equal(server.stats().http.errors.ERR_HTTP_HEADERS_TOO_LARGE, 1);
  assert.equal(await during, 'ok /during');
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
});

test('3,000 header lines in one complete head (under maxHeaderBytes): 431 at maxHeaderCount, closed', async (t) => {
  const server = await startServer(t, { request: okServer() });
  const attacker = await connectHttp(t, server.port);
  attacker.socket.write(`GET / HTTP/1.1\r\nHost: a\r\n${'a:b\r\n'.repeat(3000)}\r\n`);
  const text = await attacker.closedText();
  assert.equal(firstStatus(text), 431, text.slice(0, 120));
  assert.equal(server.stats().http.errors.ERR_HTTP_TOO_MANY_HEADERS, 1);
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
});

test('100,000 header lines against a server in a child process: 431, closed, peak RSS bounded', async (t) => {
  const server = await forkServer(t, ATTACK_SERVER, []);
  const port = (await server.next('ready')).port as number;
  assert.equal(await politeGet(port, '/warm'), 'ok /warm');
  const before = await memoryOf(server);
  const attacker = await connectHttp(t, port);
  // All at once this time: the kernel takes what the server does not read.
  attacker.socket.write(`GET / HTTP/1.1\r\nHost: a\r\n${'a:b\r\n'.repeat(100_000)}\r\n`);
  const text = await attacker.closedText();
  assert.equal(firstStatus(text), 431, text.slice(0, 120));
  assert.equal(await politeGet(port, '/after'), 'ok /after');
  const after = await memoryOf(server);
  t.diagnostic(`peak RSS +${peakGrowthMiB(before, after)} MiB`);
  assert.ok(after.maxRss - before.maxRss < 64 * MiB, `peak RSS grew by ${peakGrowthMiB(before, after)} MiB`);
  await server.ask('close');
});

// ── 3. chunk extensions ──────────────────────────────────────────────────────────────────────────────────────

const CHUNKED_HEAD = 'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';

test('a chunk line of 1 MiB of ";a=b": 400 while the client is still sending it, closed; the handler sees the body fail', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, { request: okServer(seen) });
  const attacker = await connectHttp(t, server.port);
  attacker.socket.write(`${CHUNKED_HEAD}1`);
  const during = politeGet(server.port, '/during');
  // 256 writes of 4 KiB (1 MiB), one per loop turn, stopping at the answer.
  const pieces = await attacker.writeUntilAnswered(256, () => ';a=b'.repeat(1024));
  const text = await attacker.closedText();
  assert.equal(firstStatus(text), 400, text.slice(0, 120));
  assert.ok(pieces < 256, `answered while the client was still writing (after ${pieces * 4} of 1024 KiB)`);
  assert.deepEqual(seen, ['ERR_HTTP_INVALID_CHUNK']);
  assert.equal(await during, 'ok /during');
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
});

test('extensions over 10,000 chunks ("1;a=b", 4 bytes each): 400 past MAX_CHUNK_EXTENSIONS_BYTES, closed', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, { request: okServer(seen) });
  const attacker = await connectHttp(t, server.port);
  attacker.socket.write(CHUNKED_HEAD);
  const during = politeGet(server.port, '/during');
  // 100 writes of 100 chunks; the bound is passed after MAX_CHUNK_EXTENSIONS_BYTES / 4 chunks.
  const pieces = await attacker.writeUntilAnswered(100, () => '1;a=b\r\nx\r\n'.repeat(100));
  const text = await attacker.closedText();
  assert.equal(firstStatus(text), 400, text.slice(0, 120));
  assert.ok(pieces < 100, `answered after ${pieces * 100} chunks (the bound: ${MAX_CHUNK_EXTENSIONS_BYTES / 4})`);
  assert.deepEqual(seen, ['ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE']);
  assert.equal(await during, 'ok /during');
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
});

// ── 4. chunk-size overflow ───────────────────────────────────────────────────────────────────────────────────

test('chunk-size 2^64 and other sizes past 2^52: 400 and closed; 13 hex digits (2^52 - 1): 413; others served', async (t) => {
  const seen: string[] = [];
  const server = await startServer(t, { request: okServer(seen) });
  const cases: [string, number][] = [
    ['10000000000000000', 400], // 2^64: wraps to 0 in a 64-bit parser
    ['ffffffffffffffff', 400], // 2^64 - 1
    ['8000000000000000', 400], // 2^63: negative as a signed 64-bit integer
    ['20000000000000', 400], // 2^53: past exact integers in a double
    ['10000000000000', 400], // 2^52: 14 significant digits
    [`${'0'.repeat(1000)}10000000000000000`, 400], // leading zeros do not hide it
    [`1${'0'.repeat(1000)}`, 400],
    ['fffffffffffff', 413], // 2^52 - 1: a number, but far past maxBodyBytes
  ];
  for (const [size, status] of cases) {
    const attacker = await connectHttp(t, server.port);
    attacker.socket.write(`${CHUNKED_HEAD}${size}\r\nabc`);
    const text = await attacker.closedText();
    assert.equal(firstStatus(text), status, `${size.slice(0, 30)}: ${text.slice(0, 120)}`);
  }
  assert.equal(server.stats().http.errors.ERR_HTTP_INVALID_CHUNK, cases.length - 1);
  assert.equal(server.stats().http.errors.ERR_HTTP_BODY_TOO_LARGE, 1);
  assert.equal(seen.length, cases.length);
  assert.equal(await politeGet(server.port, '/after'), 'ok /after');
});

// ── 5. pipelined flood, never read ───────────────────────────────────────────────────────────────────────────

test('60,000 pipelined GETs never read: the server stops short (held), peak RSS bounded, others served; then all in order', async (t) => {
  const server = await forkServer(t, ATTACK_SERVER, []);
  const port = (await server.next('ready')).port as number;
  assert.equal(await politeGet(port, '/warm'), 'ok /warm');
  const before = await memoryOf(server);
  const requestsBefore = ((await server.ask('stats')).stats as { http: { requests: number } }).http.requests;

  const N = 60_000;
  const attacker = await connectHttp(t, port);
  attacker.socket.pause();
  // Each ~30 bytes asks for RESPONSE_SIZE (4 KiB): 240 MiB of responses if the server answered them all now.
  let requests = '';
  for (let i = 0; i < N; i++) requests += `GET /r/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
  attacker.socket.write(requests);

  // The server answers what the kernel buffers take, then holds: it parses no more of this connection's
  // requests, so its count of requests stops growing below N. Waited for (bounded), not timed.
  const served = async () =>
    ((await server.ask('stats')).stats as { http: { requests: number } }).http.requests - requestsBefore;
  let last = -1;
  let now = await served();
  for (let i = 0; i < 100 && now !== last; i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = now;
    now = await served();
  }
  assert.equal(now, last, 'the count of requests served settled');
  assert.ok(now < N, `the server held the pipeline: ${now} of ${N} requests answered while the client reads nothing`);

  // Another client is served meanwhile.
  assert.equal(await politeGet(port, '/during'), 'ok /during');
  const held = await memoryOf(server);
  const unbounded = ((N * RESPONSE_SIZE) / MiB).toFixed(0);
  t.diagnostic(`held after ${now} responses; peak RSS +${peakGrowthMiB(before, held)} MiB (unbounded: ${unbounded})`);
  assert.ok(held.maxRss - before.maxRss < 64 * MiB, `peak RSS grew by ${peakGrowthMiB(before, held)} MiB`);

  // The client reads: the held requests are answered, in order (the first 10,000 beyond those already answered
  // are enough to show it; then the client leaves).
  const want = Math.min(N, now + 10_000);
  const reader = new ResponseReader((body, i) => {
    const index = body.toString('latin1', 0, body.indexOf(0x0a));
    assert.equal(index, String(i), `response ${i} in order`);
    assert.equal(body.length, RESPONSE_SIZE);
  });
  const done = new Promise<void>((resolve) => {
    attacker.socket.on('data', (d: Buffer) => {
      reader.push(d);
      if (reader.count >= want) resolve();
    });
  });
  attacker.socket.resume();
  await within(done, 30_000, `${want} responses`);
  attacker.socket.destroy();
  assert.equal(await politeGet(port, '/after'), 'ok /after');
  await server.ask('close');
});

test('a pipelining client that reads: 20,000 GETs in one write are all answered, in order (the hold lets go)', async (t) => {
  const server = await startServer(t, {
    request: (req, res) => res.send(`${req.path.slice(3)}\n${'.'.repeat(RESPONSE_SIZE)}`),
  });
  const N = 20_000;
  const client = await connectHttp(t, server.port);
  const reader = new ResponseReader((body, i) => {
    assert.equal(body.toString('latin1', 0, body.indexOf(0x0a)), String(i), `response ${i} in order`);
  });
  const done = new Promise<void>((resolve) => {
    client.socket.on('data', (d: Buffer) => {
      reader.push(d);
      if (reader.count >= N) resolve();
    });
  });
  let requests = '';
  for (let i = 0; i < N; i++) requests += `GET /r/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
  client.socket.write(requests);
  await within(done, 30_000, `${N} responses`);
  assert.equal(reader.count, N);
  await waitFor(() => server.stats().http.requests === N, 5000, 'the request count');
});
