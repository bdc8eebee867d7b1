/**
 * The HTTP/1.1 server over real loopback sockets, with clients nobody here wrote: curl (1.0, 1.1, chunked
 * upload, Expect: 100-continue), Node's fetch (undici) and node:http with keep-alive; raw socket writes for
 * pipelining, slowloris, oversize input and errors; handler failures; graceful close; maxConnections.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { rawExchange, run, startServer, statusCodes } from '../helpers/net.js';
import { waitFor, within } from '../helpers/slow-peers.js';

const echoJson = async (
  req: import('../../src/index.js').SockeyeRequest,
  res: import('../../src/index.js').SockeyeResponse,
) => {
  const body = await req.bytes();
  res.json({
    method: req.method,
    path: req.path,
    query: req.query,
    version: req.httpVersion,
    body: body.toString('latin1'),
    port: req.remotePort,
    trailers: req.trailers,
  });
};

describe('curl as the client', () => {
  test('HTTP/1.1 GET with query and headers', async (t) => {
    const server = await startServer(t, {
      request: (req, res) => res.send(`${req.method} ${req.path} ${req.searchParams.get('x')} ${req.header('x-test')}`),
    });
    const r = await run('curl', ['-sS', '-i', '-H', 'X-Test: yes', `${server.url}/p/q?x=42`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r.stdout, /\r\nContent-Length: 15\r\n/i);
    assert.match(r.stdout, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    assert.ok(r.stdout.endsWith('GET /p/q 42 yes'));
  });

  test('HTTP/1.0 request gets Connection: close and a close-delimited streamed body', async (t) => {
    const server = await startServer(t, {
      request: (req, res) => {
        res.write(`v${req.httpVersion} `);
        res.end('streamed');
      },
    });
    const r = await run('curl', ['-sS', '-0', '-i', `${server.url}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\r\nConnection: close\r\n/i);
    assert.doesNotMatch(r.stdout, /Transfer-Encoding/i);
    assert.ok(r.stdout.endsWith('v1.0 streamed'));
  });

  test('chunked upload is decoded', async (t) => {
    const server = await startServer(t, { request: echoJson });
    const payload = 'x'.repeat(100_000);
    const r = await run(
      'curl',
      ['-sS', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-', `${server.url}/up`],
      { input: payload },
    );
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.body.length, payload.length);
    assert.equal(json.body, payload);
  });

  test('Expect: 100-continue gets 100 Continue before the body is sent', async (t) => {
    const server = await startServer(t, { request: echoJson });
    const r = await run('curl', [
      '-sS',
      '-v',
      '-H',
      'Expect: 100-continue',
      '--expect100-timeout',
      '10',
      '--data-binary',
      'hello-body',
      `${server.url}/e`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /HTTP\/1\.1 100 Continue/);
    assert.equal(JSON.parse(r.stdout).body, 'hello-body');
  });

  test('unknown expectation is answered 417', async (t) => {
    const server = await startServer(t, { request: echoJson });
    const r = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'Expect: magic',
      `${server.url}/`,
    ]);
    assert.equal(r.stdout, '417');
  });
});

describe('Node clients', () => {
  test('fetch: POST JSON round trip', async (t) => {
    const server = await startServer(t, {
      request: async (req, res) => res.json({ got: await req.json(), ct: req.header('content-type') }),
    });
    const resp = await fetch(`${server.url}/j`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: [1, 2, 3] }),
    });
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('content-type'), 'application/json');
    assert.deepEqual(await resp.json(), { got: { a: [1, 2, 3] }, ct: 'application/json' });
  });

  test('cookies are parsed from every Cookie header', async (t) => {
    const server = await startServer(t, { request: (req, res) => res.json(req.cookies) });
    const r = await rawExchange(server.port, [
      'GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; b="two"\r\nCookie: c=3; a=ignored\r\nConnection: close\r\n\r\n',
    ]);
    assert.deepEqual(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)), { a: '1', b: 'two', c: '3' });
  });

  test('invalid JSON body is answered 400 by the server', async (t) => {
    const server = await startServer(t, { request: async (req, res) => res.json(await req.json()) });
    const resp = await fetch(`${server.url}/j`, { method: 'POST', body: '{nope' });
    assert.equal(resp.status, 400);
    await resp.text();
  });

  test('node:http keep-alive agent reuses one connection for many requests', async (t) => {
    const server = await startServer(t, { request: (req, res) => res.send(String(req.remotePort)) });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const ports = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get(`${server.url}/k${i}`, { agent }, (res) => {
            let s = '';
            res.setEncoding('latin1');
            res.on('data', (d) => {
              s += d;
            });
            res.on('end', () => resolve(s));
          })
          .on('error', reject);
      });
      ports.add(body);
    }
    assert.equal(ports.size, 1);
    assert.equal(server.stats().http.requests, 5);
  });

  test('a streamed response arrives chunked and whole', async (t) => {
    const server = await startServer(t, {
      request: async (_req, res) => {
        await res.stream(
          (async function* () {
            for (let i = 0; i < 50; i++) yield `${i},`;
          })(),
        );
      },
    });
    const resp = await fetch(`${server.url}/s`);
    assert.equal(resp.headers.get('transfer-encoding'), 'chunked');
    const text = await resp.text();
    assert.equal(text, Array.from({ length: 50 }, (_, i) => `${i},`).join(''));
  });

  test('a large request body is streamed to a slow reader completely', async (t) => {
    const size = 4 * 1024 * 1024;
    const server = await startServer(t, {
      limits: { maxBodyBytes: 8 * 1024 * 1024 },
      request: async (req, res) => {
        let total = 0;
        let n = 0;
        for await (const chunk of req) {
          total += chunk.length;
          // A slow reader (kept: it paces the handler; the test asserts the total, not time).
          if (++n % 16 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        res.send(String(total));
      },
    });
    const resp = await fetch(`${server.url}/big`, { method: 'POST', body: Buffer.alloc(size, 7) });
    assert.equal(await resp.text(), String(size));
  });
});

// The last request of an exchange that should leave the connection open says `Connection: close`: the server's
// close then ends the exchange, after everything it had to send (not a fixed wait for more bytes).
describe('RFC 9112 §9.3 pipelining over a raw socket', () => {
  test('three pipelined requests are answered in order in one exchange', async (t) => {
    const server = await startServer(t, { request: (req, res) => res.send(req.path) });
    const r = await rawExchange(server.port, [
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    ]);
    assert.ok(r.closed);
    assert.deepEqual(statusCodes(r.text), [200, 200, 200]);
    const bodies = r.text
      .split('\r\n\r\n')
      .slice(1)
      .map((s) => s.slice(0, 2));
    assert.deepEqual(bodies, ['/1', '/2', '/3']);
  });

  test('async handlers of different speeds still answer in request order', async (t) => {
    const server = await startServer(t, {
      request: async (req, res) => {
        // Kept: handlers run one at a time here, so no event can make /slow wait for /fast; order is asserted.
        const delay = req.path === '/slow' ? 100 : 0;
        await new Promise((r) => setTimeout(r, delay));
        res.send(req.path);
      },
    });
    const r = await rawExchange(server.port, [
      'GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    ]);
    assert.ok(r.closed);
    assert.ok(r.text.indexOf('/slow') < r.text.indexOf('/fast'), r.text);
    assert.deepEqual(statusCodes(r.text), [200, 200]);
  });

  test('a pipelined request keeps its whole body when it starts while the previous response ends', async (t) => {
    // Regression: the connection took the next request (already started by the protocol) for the one just
    // answered, and discarded the part of its body still to come. Bodies larger than one socket read.
    const server = await startServer(t, {
      async request(req, res) {
        const body = await req.bytes();
        res.send(`${req.path} ${body.length} ${body.toString('latin1').replaceAll('a', '').length}`);
      },
    });
    const big = 'a'.repeat(70_000);
    const chunkedBig = `${(5000).toString(16)}\r\n${'a'.repeat(5000)}\r\n`.repeat(14);
    const r = await rawExchange(
      server.port,
      [
        'GET /first HTTP/1.1\r\nHost: a\r\n\r\n' +
          `POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: ${big.length}\r\n\r\n${big}` +
          `POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBig}0\r\n\r\n` +
          'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      ],
      { waitMs: 3000 },
    );
    assert.ok(r.closed);
    assert.deepEqual(statusCodes(r.text), [200, 200, 200, 200]);
    for (const expected of ['/first 0 0', '/cl 70000 0', '/chunked 70000 0', '/last 0 0']) {
      assert.ok(r.text.includes(expected), `${expected} in ${r.text.replaceAll('\r\n', ' | ')}`);
    }
  });

  test('an error in request N+1 does not replace the response to request N', async (t) => {
    const server = await startServer(t, {
      request: async (req, res) => {
        // Kept: a slow handler (the error behind it is counted only once it is answered: no event to wait for).
        await new Promise((r) => setTimeout(r, 50));
        res.send(`ok ${req.path}`);
      },
    });
    const r = await rawExchange(server.port, [
      'GET /good HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\nHost : a\r\n\r\n',
    ]);
    assert.deepEqual(statusCodes(r.text), [200, 400]);
    assert.ok(r.text.includes('ok /good'));
    assert.ok(r.closed);
  });

  test('bytes after a Connection: close request are ignored', async (t) => {
    const server = await startServer(t, { request: (req, res) => res.send(req.path) });
    const r = await rawExchange(server.port, [
      'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n',
    ]);
    assert.deepEqual(statusCodes(r.text), [200]);
    assert.match(r.text, /Connection: close/);
    assert.ok(!r.text.includes('/never'));
    assert.ok(r.closed);
  });

  test('a response that does not read the body still lets the next request through', async (t) => {
    const server = await startServer(t, { request: (req, res) => res.send(req.path) });
    const r = await rawExchange(server.port, [
      'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    ]);
    assert.ok(r.closed);
    assert.deepEqual(statusCodes(r.text), [200, 200]);
    assert.ok(r.text.includes('/b'));
  });
});

describe('bad input gets a precise status and the connection ends', () => {
  const cases: [string, string, number][] = [
    ['request line over 8 KiB', `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
    ['header section over 16 KiB', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'b'.repeat(17000)}\r\n\r\n`, 431],
    [
      'more than 100 header fields',
      `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
      431,
    ],
    ['body over the limit', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n', 413],
    [
      'CL and TE together',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['unknown transfer coding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
    ['HTTP/2.0 in a request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n', 400],
    ['bare LF', 'GET / HTTP/1.1\nHost: a\n\n', 400],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n', 400],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
  ];
  for (const [name, input, status] of cases) {
    test(`${name} → ${status}`, async (t) => {
      let reached = 0;
      const server = await startServer(t, {
        request: async (req, res) => {
          reached++;
          await req.bytes().catch(() => null);
          if (!res.finished && !res.headersSent) res.send('ok');
        },
      });
      const r = await rawExchange(server.port, [input]);
      assert.deepEqual(statusCodes(r.text), [status], r.text.slice(0, 200));
      assert.match(r.text, /\r\nConnection: close\r\n/);
      assert.ok(r.closed, 'connection closed');
      if (status !== 400 || !name.startsWith('bad chunk')) assert.equal(reached, 0);
    });
  }

  test('one broken connection does not disturb another', async (t) => {
    const server = await startServer(t, { request: (req, res) => res.send(req.path) });
    const good = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => good.once('connect', r));
    const bad = await rawExchange(server.port, ['\x00\x01\x02 garbage\r\n\r\n']);
    assert.deepEqual(statusCodes(bad.text), [400]);
    const reply = new Promise<string>((resolve) => good.once('data', (d) => resolve(d.toString('latin1'))));
    good.write('GET /still-here HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.match(await reply, /still-here/);
    good.destroy();
  });
});

describe('timeouts', () => {
  test('slowloris: a head not complete within the headers timeout gets 408 and is closed', async (t) => {
    const server = await startServer(t, { timeouts: { headers: 300 }, request: (_q, s) => s.send('x') });
    const r = await rawExchange(server.port, ['GET / HTTP/1.1\r\n', 'Host: a\r\n'], { gapMs: 50, waitMs: 3000 });
    assert.deepEqual(statusCodes(r.text), [408]);
    assert.ok(r.closed);
    assert.equal(server.stats().http.timeouts.headers, 1);
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
    const server = await startServer(t, { timeouts: { keepAlive: 300 }, request: (_q, s) => s.send('x') });
    const r = await rawExchange(server.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'], { waitMs: 3000 });
    assert.deepEqual(statusCodes(r.text), [200]);
    assert.ok(r.closed);
  });

  test('a stalled body gets 408', async (t) => {
    const server = await startServer(t, {
      timeouts: { body: 300 },
      request: async (req, res) => {
        await req.bytes().catch(() => null);
        if (!res.headersSent) res.send('x');
      },
    });
    const r = await rawExchange(server.port, ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc'], {
      waitMs: 3000,
    });
    assert.deepEqual(statusCodes(r.text), [408]);
    assert.ok(r.closed);
  });
});

describe('responses', () => {
  test('HEAD, 204 and 304 carry no body', async (t) => {
    const server = await startServer(t, {
      request: (req, res) => {
        if (req.path === '/204') res.send('ignored', 204);
        else if (req.path === '/304') res.send(null, 304);
        else res.send('hello body');
      },
    });
    const r = await rawExchange(server.port, [
      'HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    ]);
    assert.ok(r.closed);
    assert.deepEqual(statusCodes(r.text), [200, 204, 304, 200]);
    assert.equal(r.text.split('hello body').length, 2, 'only the GET carries the body');
    assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*?Content-Length: 10\r\n/);
    const r204 = r.text.slice(r.text.indexOf('HTTP/1.1 204'), r.text.indexOf('HTTP/1.1 304'));
    assert.doesNotMatch(r204, /Content-Length/i);
  });

  test('CR/LF in a header value throws before anything is written; the handler error becomes 500', async (t) => {
    let thrown: unknown = null;
    const server = await startServer(t, {
      request: (_req, res) => {
        try {
          res.setHeader('X-Evil', 'a\r\nSet-Cookie: pwned=1');
        } catch (e) {
          thrown = e;
          throw e;
        }
      },
    });
    const r = await rawExchange(server.port, ['GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
    assert.ok(r.closed);
    assert.deepEqual(statusCodes(r.text), [500]);
    assert.ok(!r.text.includes('pwned'));
    assert.equal((thrown as { code: string }).code, 'ERR_HTTP_INVALID_HEADER_VALUE');
  });

  test('a handler that throws after the head was sent aborts the connection', async (t) => {
    const server = await startServer(t, {
      request: async (_req, res) => {
        res.write('partial');
        // Kept: the throw comes in a later turn than the write (what is asserted is the cut response, not time).
        await new Promise((r) => setTimeout(r, 10));
        throw new Error('boom');
      },
    });
    const r = await rawExchange(server.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'], { waitMs: 2000 });
    assert.deepEqual(statusCodes(r.text), [200]);
    assert.ok(r.text.includes('partial'));
    assert.ok(!r.text.endsWith('0\r\n\r\n'), 'no last-chunk: the response is visibly cut');
    assert.ok(r.closed);
  });
});

describe('server lifecycle', () => {
  test('maxConnections: the extra connection is answered 503', async (t) => {
    const server = await startServer(t, { maxConnections: 1, request: (_q, s) => s.send('x') });
    const first = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => first.once('connect', r));
    await waitFor(() => server.stats().accepted === 1, 3000, 'the server to accept the first connection');
    const r = await rawExchange(server.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.deepEqual(statusCodes(r.text), [503]);
    assert.equal(server.stats().rejected.maxConnections, 1);
    first.destroy();
  });

  test('graceful close: in-flight request finishes with Connection: close, idle ones close, counts reported', async (t) => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered: () => void = () => {};
    const slowStarted = new Promise<void>((r) => {
      entered = r;
    });
    const server = await startServer(t, {
      request: async (req, res) => {
        if (req.path === '/slow') {
          entered();
          await gate;
        }
        res.send('done');
      },
    });
    // One idle keep-alive connection, answered and left open.
    const idle = net.connect(server.port, '127.0.0.1');
    t.after(() => idle.destroy());
    let idleText = '';
    const idleAnswered = new Promise<void>((resolve) => {
      idle.on('data', (d) => {
        idleText += d.toString('latin1');
        if (idleText.endsWith('done')) resolve();
      });
    });
    const idleClosed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
    idle.on('error', () => {});
    idle.write('GET /fast HTTP/1.1\r\nHost: a\r\n\r\n');
    await within(idleAnswered, 3000, 'the idle connection to be answered');
    assert.deepEqual(statusCodes(idleText), [200]);
    const busy = rawExchange(server.port, ['GET /slow HTTP/1.1\r\nHost: a\r\n\r\n'], { waitMs: 3000 });
    await within(slowStarted, 3000, 'the slow request to reach its handler');
    const closing = server.close({ deadline: 2000 });
    // The idle connection is closed by the server: close() is under way while the slow handler still runs.
    await within(idleClosed, 3000, 'the idle connection to be closed');
    release();
    const b = await busy;
    assert.deepEqual(statusCodes(b.text), [200]);
    assert.match(b.text, /Connection: close/);
    assert.ok(b.closed);
    const result = await closing;
    assert.equal(result.terminated, 0);
    // New connections are refused.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = net.connect(server.port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve(null);
        });
        s.on('error', reject);
      }),
    );
  });

  test('graceful close terminates what is still running at the deadline', async (t) => {
    let entered: () => void = () => {};
    const started = new Promise<void>((r) => {
      entered = r;
    });
    const server = await startServer(t, {
      request: async () => {
        entered();
        // Never answers (a pending promise holds no timer: nothing keeps the process alive).
        await new Promise(() => {});
      },
    });
    const busy = rawExchange(server.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'], { waitMs: 3000 });
    await within(started, 3000, 'the request to reach its handler');
    const result = await server.close({ deadline: 200 });
    assert.equal(result.terminated, 1);
    assert.ok((await busy).closed);
  });

  test('upgrade hook receives the request, the socket and the bytes after the head', async (t) => {
    const server = await startServer(t, {
      request: (_q, s) => s.send('plain'),
      upgrade: (req, socket, head) => {
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n${req.path}|${head.toString()}`,
        );
        socket.resume();
        socket.on('data', (d) => socket.end(`|${d.toString()}`));
      },
    });
    // LATER is written once the hook has answered with what came with the head: it reaches the hook's socket.
    const sock = net.connect(server.port, '127.0.0.1');
    t.after(() => sock.destroy());
    let text = '';
    let wrote = false;
    const ended = new Promise<void>((resolve) => sock.on('end', () => resolve()));
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (!wrote && text.endsWith('/up|EARLY')) {
        wrote = true;
        sock.write('LATER');
      }
    });
    sock.write('GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nEARLY');
    await within(ended, 3000, 'the hook to end the connection');
    assert.deepEqual(statusCodes(text), [101]);
    assert.ok(text.endsWith('/up|EARLY|LATER'), text);
  });
});
