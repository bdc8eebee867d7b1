/**
 * `sockeye bench` as users run it (bin/sockeye.js in a child process), in short runs against real servers: `sockeye
 * echo` over HTTP (plain and pipelined), ws: (text and binary) and wss: (through a TLS terminator with a certificate
 * made by openssl for this run); a node:net server whose responses use every framing (Content-Length, chunked with
 * trailers, 204, split writes, some 503s), whose count the bench must match; a ws echo server that corrupts some
 * echoes, which must count as mismatches; the --json shape, the plain progress lines when stderr is not a TTY, and
 * the usage errors (exit 2) and a refused connection (exit 3).
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import { BIN, startEchoProcess } from '../helpers/echo-process.js';
import { run } from '../helpers/net.js';

/** The JSON report's fields the tests read. */
interface Report {
  kind: string;
  connections: number;
  durationSeconds: number;
  requests: number;
  ok: number;
  perSecond: number;
  bytes: { sent: number; received: number };
  latency: { p50: number; p90: number; p99: number; p999: number; max: number; min: number; mean: number };
  errors: number;
  errorsByKind: Record<string, number>;
  statuses?: Record<string, number>;
}

/** Runs `sockeye bench ARGS --json`; returns the exit code, the parsed report and stderr. */
async function benchJson(args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const r = await run(process.execPath, [BIN, 'bench', '--json', ...args], { timeoutMs: 30_000 });
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line expected, got: ${r.stdout}\n${r.stderr}`);
  return { code: r.code, report: JSON.parse(lines[0] as string) as Report, stderr: r.stderr };
}

/** The shape every report has, whatever the load: numbers in order, counts that add up. */
function assertShape(r: Report): void {
  for (const v of Object.values(r.latency)) assert.equal(typeof v, 'number');
  const l = r.latency;
  assert.ok(
    l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
    JSON.stringify(l),
  );
  assert.ok(r.durationSeconds > 0);
  assert.equal(
    r.errors,
    Object.values(r.errorsByKind).reduce((a, b) => a + b, 0),
  );
  assert.ok(Math.abs(r.perSecond - r.requests / r.durationSeconds) <= 1 + r.perSecond * 0.01);
}

describe('sockeye bench against sockeye echo', () => {
  test('HTTP: every request answered with 200, no errors, latency percentiles in order', async (t) => {
    const { port } = await startEchoProcess(t);
    const { code, report } = await benchJson(['-c', '4', '-d', '0.3', `http://127.0.0.1:${port}/hello`]);
    assertShape(report);
    assert.equal(report.kind, 'http');
    assert.equal(report.connections, 4);
    assert.ok(report.requests > 0);
    assert.equal(report.ok, report.requests);
    assert.deepEqual(report.statuses, { 200: report.requests });
    assert.equal(report.errors, 0);
    assert.ok(report.latency.max > 0);
    assert.equal(code, 0);
  });

  test('HTTP pipelined POST with headers: the server sees them, every response counted', async (t) => {
    const { port } = await startEchoProcess(t);
    const { code, report } = await benchJson([
      '-c',
      '2',
      '-d',
      '0.5',
      '--pipeline',
      '16',
      '-b',
      'ping body',
      '-H',
      'X-Bench: yes',
      `http://127.0.0.1:${port}/p`,
    ]);
    assertShape(report);
    assert.ok(report.requests >= 16, `${report.requests} responses`);
    assert.equal(report.errors, 0);
    assert.equal(report.ok, report.requests);
    // Each request is the same bytes: what was sent is a whole number of requests.
    const curl = await run('curl', [
      '-sS',
      '--data-binary',
      'ping body',
      '-H',
      'X-Bench: yes',
      `http://127.0.0.1:${port}/p`,
    ]);
    assert.match(curl.stdout, /"X-Bench","yes"/);
    assert.equal(code, 0);
  });

  test('ws: text and binary echoes all match', async (t) => {
    const { port } = await startEchoProcess(t);
    for (const extra of [[], ['--binary', '--size', '5k']]) {
      const { code, report } = await benchJson([
        '-c',
        '3',
        '-d',
        '0.3',
        '--in-flight',
        '8',
        ...extra,
        `ws://127.0.0.1:${port}/`,
      ]);
      assertShape(report);
      assert.equal(report.kind, 'websocket');
      assert.ok(report.requests > 0);
      assert.equal(report.ok, report.requests);
      assert.equal(report.errors, 0, JSON.stringify(report.errorsByKind));
      const size = extra.length > 0 ? 5 * 1024 : 32;
      assert.equal(report.bytes.received, report.requests * size);
      assert.equal(code, 0);
    }
  });
});

describe('sockeye bench over TLS', () => {
  /** A self-signed certificate for 127.0.0.1, made for this run; null without openssl. */
  function makeCertificate(dir: string): boolean {
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-days',
          '1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore', timeout: 10_000 },
      );
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** A TLS terminator on 127.0.0.1:0 in front of `port`; closed after the test. */
  async function tlsFront(t: TestContext, dir: string, port: number): Promise<number> {
    const front = tls.createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (clear) => {
        const back = net.connect(port, '127.0.0.1');
        clear.pipe(back).pipe(clear);
        clear.on('error', () => back.destroy());
        back.on('error', () => clear.destroy());
      },
    );
    front.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => front.close(() => resolve())));
    return (front.address() as net.AddressInfo).port;
  }

  test('wss: and https: with --ca; without it the certificate error is counted by kind, exit 3', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sockeye-bench-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    if (!makeCertificate(dir)) {
      t.skip('openssl is not installed');
      return;
    }
    const { port } = await startEchoProcess(t);
    const front = await tlsFront(t, dir, port);
    const ca = join(dir, 'cert.pem');

    const ws = await benchJson(['-c', '2', '-d', '0.3', '--ca', ca, '--binary', `wss://127.0.0.1:${front}/`]);
    assertShape(ws.report);
    assert.ok(ws.report.requests > 0);
    assert.equal(ws.report.errors, 0, JSON.stringify(ws.report.errorsByKind));
    assert.equal(ws.code, 0);

    const http = await benchJson(['-c', '2', '-d', '0.3', '--ca', ca, `https://127.0.0.1:${front}/`]);
    assert.ok(http.report.requests > 0);
    assert.equal(http.report.errors, 0, JSON.stringify(http.report.errorsByKind));

    const untrusted = await benchJson(['-c', '1', '-d', '0.3', `wss://127.0.0.1:${front}/`]);
    assert.equal(untrusted.report.requests, 0);
    assert.ok(untrusted.report.errors > 0);
    for (const kind of Object.keys(untrusted.report.errorsByKind)) assert.match(kind, /^connect .*(SELF_SIGNED|CERT)/);
    assert.equal(untrusted.code, 3);
  });
});

describe('sockeye bench counts what the server does', () => {
  test('HTTP: responses in every framing are counted one by one; 503s are errors by kind', async (t) => {
    // Every 4th response is chunked with a trailer, every 4th+1 a 204, every 4th+2 a 503 with a body, the rest
    // 200 with Content-Length; each is written in two pieces split inside its head. Requests are GETs: each ends
    // at its empty line.
    let served = 0;
    const statuses: Record<number, number> = {};
    const server = net.createServer((socket) => {
      let buffered = '';
      socket.on('data', (d) => {
        buffered += d.toString('latin1');
        let end = buffered.indexOf('\r\n\r\n');
        let out = '';
        while (end >= 0) {
          buffered = buffered.slice(end + 4);
          const n = served++;
          const kind = n % 4;
          const status = [200, 204, 503, 200][kind] as number;
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (kind === 0)
            out += 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n';
          else if (kind === 1) out += 'HTTP/1.1 204 No Content\r\n\r\n';
          else if (kind === 2) out += 'HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy';
          else out += 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
          end = buffered.indexOf('\r\n\r\n');
        }
        if (out) {
          const cut = Math.floor(out.length / 2) + 1;
          socket.write(out.slice(0, cut), 'latin1');
          socket.write(out.slice(cut), 'latin1');
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const connections = 3;
    const pipeline = 5;
    const { code, report } = await benchJson([
      '-c',
      String(connections),
      '-d',
      '0.5',
      '--pipeline',
      String(pipeline),
      `http://127.0.0.1:${port}/`,
    ]);
    assertShape(report);
    // The bench stops with at most one batch per connection unanswered: what it counted is what was served,
    // less what was still on the way.
    assert.ok(report.requests <= served, `${report.requests} counted, ${served} served`);
    assert.ok(report.requests >= served - connections * pipeline, `${report.requests} counted, ${served} served`);
    const s = report.statuses ?? {};
    assert.ok((s[503] ?? 0) > 0);
    assert.deepEqual(report.errorsByKind, { 'status 503': s[503] });
    assert.equal(report.ok, (s[200] ?? 0) + (s[204] ?? 0));
    assert.ok(Math.abs((s[204] ?? 0) - (statuses[204] ?? 0)) <= connections * pipeline);
    assert.equal(code, 1);
  });

  test('ws: an echo server that corrupts every 5th echo: each counted as a mismatch, the others ok', async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    t.after(() => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    });
    let corrupted = 0;
    let echoed = 0;
    wss.on('connection', (peer) => {
      let n = 0;
      peer.on('message', (data: Buffer, isBinary) => {
        echoed++;
        if (++n % 5 === 0) {
          corrupted++;
          const copy = Buffer.from(data);
          copy[copy.length - 1] = 0x21; // '!' is not in the filler
          peer.send(copy, { binary: isBinary });
        } else peer.send(data, { binary: isBinary });
      });
    });
    const port = (wss.address() as net.AddressInfo).port;
    const inFlight = 4;
    const connections = 2;
    const { code, report } = await benchJson([
      '-c',
      String(connections),
      '-d',
      '0.5',
      '--in-flight',
      String(inFlight),
      '--binary',
      `ws://127.0.0.1:${port}/`,
    ]);
    assertShape(report);
    const mismatches = report.errorsByKind['echo mismatch (echo payload)'] ?? 0;
    assert.deepEqual(Object.keys(report.errorsByKind), ['echo mismatch (echo payload)']);
    assert.ok(
      mismatches <= corrupted && mismatches >= corrupted - connections * inFlight,
      `${mismatches} of ${corrupted}`,
    );
    assert.ok(report.requests <= echoed && report.requests >= echoed - connections * inFlight);
    assert.equal(report.ok + mismatches, report.requests);
    assert.equal(code, 1);
  });
});

describe('sockeye bench when the server stops answering', () => {
  test('--timeout: a request or message left unanswered is a timeout error, and the connection is opened anew', async (t) => {
    // An HTTP server that reads and never answers, and a WebSocket server that never echoes.
    const silent = net.createServer((s) => {
      s.resume();
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const mute = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => mute.once('listening', resolve));
    t.after(() => {
      silent.close();
      for (const c of mute.clients) c.terminate();
      mute.close();
    });
    const httpPort = (silent.address() as net.AddressInfo).port;
    const wsPort = (mute.address() as net.AddressInfo).port;
    const [http, ws] = await Promise.all([
      benchJson(['-c', '2', '-d', '1.5', '--timeout', '0.2', `http://127.0.0.1:${httpPort}/`]),
      benchJson(['-c', '2', '-d', '1.5', '--timeout', '0.2', `ws://127.0.0.1:${wsPort}/`]),
    ]);
    for (const { code, report } of [http, ws]) {
      assert.equal(report.requests, 0);
      assert.deepEqual(Object.keys(report.errorsByKind), ['timeout']);
      // The check runs once a second: each connection timed out at least once.
      assert.ok((report.errorsByKind.timeout ?? 0) >= 2, JSON.stringify(report.errorsByKind));
      assert.equal(code, 3);
    }
  });
});

describe('sockeye bench output and errors', () => {
  test('text report, and one plain progress line per second on stderr when it is not a TTY', async (t) => {
    const { port } = await startEchoProcess(t);
    const r = await run(process.execPath, [BIN, 'bench', '-c', '2', '-d', '1.5s', `ws://127.0.0.1:${port}/`], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stderr, /\r|\x1b/);
    assert.match(r.stderr, /^1\.\d s elapsed, 0\.\d s left: [\d,]+\/s, [\d,]+ done, 0 errors$/m);
    assert.match(r.stdout, /^sockeye bench ws:\/\/127\.0\.0\.1:\d+\/: 2 connections, text 32 B, 1 in flight/);
    assert.match(r.stdout, /^ {2}messages {2}[\d,]+ \([\d,]+\/s\)/m);
    assert.match(
      r.stdout,
      /^ {2}latency {3}p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms, p99\.9 [\d.]+ ms, max [\d.]+ ms/m,
    );
    assert.match(r.stdout, /^ {2}errors {4}none$/m);
    // The histogram's rows add up to 100 % (each rounded to 0.1).
    const shares = [...r.stdout.matchAll(/\| +([\d.]+) %$/gm)].map((m) => Number(m[1]));
    assert.ok(shares.length >= 1);
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 100) <= 0.1 * shares.length);
  });

  test('on a TTY (script(1) gives stderr a terminal): one progress line rewritten in place', async (t) => {
    const { port } = await startEchoProcess(t);
    const dir = mkdtempSync(join(tmpdir(), 'sockeye-bench-tty-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const report = join(dir, 'report.txt');
    const command = `'${process.execPath}' '${BIN}' bench -c 1 -d 1.5 http://127.0.0.1:${port}/ > '${report}'`;
    const r = await run('script', ['-qec', command, '/dev/null'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout);
    // Each update starts with a carriage return and ends by clearing the rest of the line; the last is erased.
    assert.match(r.stdout, /\r1\.\d s elapsed, 0\.\d s left: [\d,]+\/s, [\d,]+ done, 0 errors\x1b\[K/);
    assert.match(r.stdout, /\r\x1b\[K$/);
    assert.doesNotMatch(r.stdout, /\n/);
    assert.match(readFileSync(report, 'utf8'), /^ {2}requests {2}[\d,]+ \(/m);
  });

  test('usage errors: one sentence naming the flag, exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['-c', 'abc', 'http://127.0.0.1:1/'],
        /^sockeye bench: --connections must be a whole number from 1 to 10000, got 'abc'\n$/,
      ],
      [
        ['--in-flight', '4', 'http://127.0.0.1:1/'],
        /^sockeye bench: --in-flight applies to ws:\/\/ and wss:\/\/ URLs only\n$/,
      ],
      [
        ['--pipeline', '4', 'ws://127.0.0.1:1/'],
        /^sockeye bench: --pipeline applies to http:\/\/ and https:\/\/ URLs only\n$/,
      ],
      [['--bogus', 'http://127.0.0.1:1/'], /^sockeye bench: Unknown option '--bogus' \(see sockeye bench --help\)\n$/],
      [
        ['ftp://127.0.0.1/'],
        /^sockeye bench: the URL must start with http:\/\/, https:\/\/, ws:\/\/ or wss:\/\/, got 'ftp:/,
      ],
      [
        ['-d', '0', 'http://127.0.0.1:1/'],
        /^sockeye bench: --duration must be a number of seconds above 0 \(or 2m\), got '0'\n$/,
      ],
      [['-H', 'nocolon', 'http://127.0.0.1:1/'], /^sockeye bench: --header 'nocolon' is not a header/],
      [['-H', 'Authorization: Bearer …', 'http://127.0.0.1:1/'], /U\+2026/],
      [[], /^sockeye bench: sockeye bench needs a URL\n$/],
      [
        ['--size', '2g', 'ws://127.0.0.1:1/'],
        /^sockeye bench: --size must be a number of bytes from 1 to 67108864 \(or 16k, 64m\), got '2g'\n$/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => run(process.execPath, [BIN, 'bench', ...args])));
    for (const [i, [args, message]] of cases.entries()) {
      const r = runs[i] as Awaited<ReturnType<typeof run>>;
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2, args.join(' '));
    }
    const help = await run(process.execPath, [BIN, 'bench', '--help']);
    assert.match(help.stdout, /--in-flight <n>/);
    assert.equal(help.code, 0);
  });

  test('nothing listening: every attempt counted as a connect error, exit code 3', async () => {
    const { code, report } = await benchJson(['-c', '2', '-d', '0.3', 'http://127.0.0.1:1/']);
    assert.equal(report.requests, 0);
    assert.ok(report.errors >= 2);
    assert.deepEqual(Object.keys(report.errorsByKind), ['connect ECONNREFUSED']);
    assert.equal(code, 3);
  });
});
