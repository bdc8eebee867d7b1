/**
 * The request-line and message rules of issue 15 over real loopback sockets, against sockeye's server: an
 * absolute-form target whose authority differs from Host (RFC 9112 §3.2.2), sent by node:http and by raw bytes; a
 * real TLS ClientHello (from node:tls) sent to the cleartext port, answered 400 at once rather than at the header
 * timeout.
 * Each case asserts the status, what the handler saw, and whether the connection stayed open.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import type { SockeyeRequest, SockeyeResponse } from '../../src/index.js';
import { rawExchange, run, startServer, statusCodes } from '../helpers/net.js';

/** Answers with what the request looked like to a handler. */
const describeRequest = (req: SockeyeRequest, res: SockeyeResponse) =>
  res.json({ method: req.method, target: req.target, host: req.host, path: req.path, version: req.httpVersion });

/** A headers timeout no test waits for: a 408 can only come from it, so a 400 before it is an early verdict. */
const LONG_HEADERS_TIMEOUT = 120_000;

/** The first bytes node:tls sends (its ClientHello), caught by a plain TCP listener. */
async function captureClientHello(): Promise<Buffer> {
  const catcher = net.createServer();
  const hello = new Promise<Buffer>((resolve) => {
    catcher.once('connection', (socket) => {
      socket.once('data', (d: Buffer) => {
        resolve(d);
        socket.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => catcher.listen(0, '127.0.0.1', resolve));
  const { port } = catcher.address() as net.AddressInfo;
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost' });
  client.on('error', () => {});
  const bytes = await hello;
  client.destroy();
  catcher.close();
  return bytes;
}

/** The JSON body of the last response in a raw exchange. */
function lastJson(text: string): Record<string, unknown> {
  return JSON.parse(text.slice(text.lastIndexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

describe('RFC 9112 §3.2.2: absolute-form target, Host ignored', () => {
  test('node:http sends an absolute-form target with another Host: 200, req.host is the target authority', async (t) => {
    const server = await startServer(t, { request: describeRequest });
    const body = await new Promise<string>((resolve, reject) => {
      const r = http.request(
        { host: '127.0.0.1', port: server.port, path: 'http://b.example:8080/p?q=1', headers: { host: 'a.example' } },
        (res) => {
          assert.equal(res.statusCode, 200);
          let data = '';
          res.setEncoding('latin1');
          res.on('data', (d) => {
            data += d;
          });
          res.on('end', () => resolve(data));
        },
      );
      r.on('error', reject);
      r.end();
    });
    assert.deepEqual(JSON.parse(body), {
      method: 'GET',
      target: 'http://b.example:8080/p?q=1',
      host: 'b.example:8080',
      path: '/p',
      version: '1.1',
    });
  });

  test('raw bytes: two requests on one connection, the second absolute-form with a different Host', async (t) => {
    const server = await startServer(t, { request: describeRequest });
    const r = await rawExchange(server.port, [
      'GET /x HTTP/1.1\r\nHost: a.example\r\n\r\nGET http://b.example/y HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
    ]);
    assert.deepEqual(statusCodes(r.text), [200, 200]);
    assert.equal(lastJson(r.text).host, 'b.example');
    assert.ok(r.closed);
  });

  const refused: [string, string][] = [
    ['HTTP/1.1 absolute-form without Host (RFC 9112 §3.2)', 'GET http://b.example/ HTTP/1.1\r\n\r\n'],
    ['userinfo in absolute-form (RFC 9110 §4.2.4)', 'GET http://u@b.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n'],
  ];
  for (const [name, input] of refused) {
    test(`${name} → 400 and close`, async (t) => {
      let reached = 0;
      const server = await startServer(t, {
        request: (req, res) => {
          reached++;
          describeRequest(req, res);
        },
      });
      const r = await rawExchange(server.port, [input]);
      assert.deepEqual(statusCodes(r.text), [400]);
      assert.ok(r.closed);
      assert.equal(reached, 0);
    });
  }
});

describe('RFC 9110 §9.1: a TLS ClientHello on the cleartext port', () => {
  test('is answered 400 and closed on its first bytes, not at the header timeout (408)', async (t) => {
    const hello = await captureClientHello();
    assert.equal(hello[0], 0x16, 'a TLS handshake record');
    let reached = 0;
    const server = await startServer(t, {
      timeouts: { headers: LONG_HEADERS_TIMEOUT },
      request: (_req, res) => {
        reached++;
        res.send('x');
      },
    });
    // waitMs only bounds a failure: the exchange ends when the server closes.
    const r = await rawExchange(server.port, [hello], { waitMs: 30_000 });
    assert.deepEqual(statusCodes(r.text), [400]);
    assert.match(r.text, /\r\nConnection: close\r\n/);
    assert.ok(r.closed, 'the server closed the connection');
    assert.equal(reached, 0);
    assert.equal(server.stats().http.errors.ERR_HTTP_INVALID_METHOD, 1);
    assert.equal(server.stats().http.timeouts.headers, 0);
  });

  test('node:tls connecting to it fails at once instead of hanging', async (t) => {
    const server = await startServer(t, {
      timeouts: { headers: LONG_HEADERS_TIMEOUT },
      request: (_req, res) => res.send('x'),
    });
    const err = await new Promise<Error>((resolve) => {
      const client = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost' });
      client.once('secureConnect', () => resolve(new Error('handshake succeeded')));
      client.once('error', resolve);
    });
    // OpenSSL reads "HTTP/1.1 400" as a record with an impossible version or length.
    assert.notEqual(err.message, 'handshake succeeded');
    assert.equal(server.stats().http.errors.ERR_HTTP_INVALID_METHOD, 1);
    assert.equal(server.stats().http.timeouts.headers, 0);
  });
});

describe('RFC 9112 §7.1.1: chunk extensions are bounded per message, not only per line', () => {
  const head = 'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
  /** `n` one-byte chunks, each with a 1 KiB extension (a quarter of the per-line bound). */
  const chunks = (n: number) => `1;e=${'v'.repeat(1021)}\r\nx\r\n`.repeat(n);

  test('100 KiB of extensions over 100 chunk lines → 400 and close; the handler sees the body fail', async (t) => {
    const seen: string[] = [];
    const server = await startServer(t, {
      request: async (req, res) => {
        const body = await req.bytes().catch((e: { code?: string }) => e.code ?? 'error');
        seen.push(typeof body === 'string' ? body : `${body.length} bytes`);
        if (!res.headersSent) res.send('ok');
      },
    });
    const r = await rawExchange(server.port, [head, chunks(100), '0\r\n\r\n']);
    assert.deepEqual(statusCodes(r.text), [400]);
    assert.ok(r.closed);
    assert.equal(server.stats().http.errors.ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE, 1);
    assert.deepEqual(seen, ['ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE']);
  });

  test('16 KiB of extensions (the bound) is read as usual, and the next request on the connection too', async (t) => {
    const server = await startServer(t, {
      request: async (req, res) => res.send(`${(await req.bytes()).length}`),
    });
    const r = await rawExchange(server.port, [
      head,
      chunks(16),
      '0\r\n\r\n',
      `${head}${chunks(16)}0\r\n\r\n`.replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n'),
    ]);
    assert.deepEqual(statusCodes(r.text), [200, 200]);
    assert.ok(r.text.endsWith('16'));
  });
});

describe('RFC 9110 §2.5: HTTP/1.x above 1.1 is processed as HTTP/1.1', () => {
  test('two pipelined HTTP/1.2 requests: both answered as HTTP/1.1, the connection kept alive between them', async (t) => {
    const server = await startServer(t, { request: describeRequest });
    const r = await rawExchange(server.port, [
      'GET /a HTTP/1.2\r\nHost: a\r\n\r\nGET /b HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n',
    ]);
    assert.deepEqual(statusCodes(r.text), [200, 200]);
    assert.equal(r.text.split('HTTP/1.1 200 OK\r\n').length, 3, 'two HTTP/1.1 status lines');
    assert.equal(lastJson(r.text).version, '1.1');
    assert.ok(r.closed);
  });

  for (const version of ['HTTP/2.0', 'HTTP/3.0']) {
    test(`${version} on an HTTP/1 connection → 505 and close (RFC 9110 §15.6.6)`, async (t) => {
      const server = await startServer(t, { request: describeRequest });
      const r = await rawExchange(server.port, [`GET / ${version}\r\nHost: a\r\n\r\n`]);
      assert.deepEqual(statusCodes(r.text), [505]);
      assert.ok(r.closed);
    });
  }
});

describe('RFC 9110 §9.1: methods are case-sensitive tokens; allowedMethods answers others 501 (§15.6.2)', () => {
  test('by default, "get" and an extension method reach the handler as sent', async (t) => {
    const server = await startServer(t, { request: describeRequest });
    for (const method of ['get', 'PURGE']) {
      const r = await run('curl', ['-sS', '-X', method, `${server.url}/m`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).method, method);
    }
  });

  test('with allowedMethods: listed methods served, "get" and PURGE 501 and closed, the handler never called', async (t) => {
    const methods: string[] = [];
    const server = await startServer(t, {
      allowedMethods: ['GET', 'HEAD', 'POST'],
      request: (req, res) => {
        methods.push(req.method);
        describeRequest(req, res);
      },
    });
    for (const [method, status] of [
      ['GET', 200],
      ['POST', 200],
      ['get', 501],
      ['PURGE', 501],
    ] as const) {
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', method, `${server.url}/m`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(Number(r.stdout), status, method);
    }
    assert.deepEqual(methods, ['GET', 'POST']);
    const raw = await rawExchange(server.port, ['get / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n']);
    assert.deepEqual(statusCodes(raw.text), [501], 'nothing after the 501');
    assert.ok(raw.closed);
    assert.equal(server.stats().http.errors.ERR_HTTP_METHOD_NOT_IMPLEMENTED, 3);
  });
});

describe('RFC 9112 §3.2: request-target octets outside RFC 3986 (targetChars)', () => {
  // curl --globoff sends [] {} as typed; browsers send { } | ^ ` \\ unencoded in a query too (WHATWG URL), never
  // " < > (always percent-encoded).
  const browserSends = ['/search?q=a|b', '/x^y', '/a\\b', '/q?`id`', '/t?f={a}'];
  const neverFromBrowsers = ['/<script>', '/t?f={"a":1}', '/a>b'];

  /** Raw requests on one connection each; the statuses and what reached the handler. */
  async function statuses(port: number, targets: string[]): Promise<number[]> {
    const out: number[] = [];
    for (const target of targets) {
      const r = await rawExchange(port, [`GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`]);
      out.push(...statusCodes(r.text));
      assert.ok(r.closed, target);
    }
    return out;
  }

  test("default ('browser'): what browsers send reaches the handler as sent; \" < > are 400, never seen", async (t) => {
    const seen: string[] = [];
    const server = await startServer(t, {
      request: (req, res) => {
        seen.push(req.target);
        describeRequest(req, res);
      },
    });
    assert.deepEqual(
      await statuses(server.port, browserSends),
      browserSends.map(() => 200),
    );
    assert.deepEqual(seen, browserSends);
    assert.deepEqual(
      await statuses(server.port, neverFromBrowsers),
      neverFromBrowsers.map(() => 400),
    );
    assert.deepEqual(seen, browserSends, 'the handler never saw the refused ones');
    const curl = await run('curl', ['-sS', '--globoff', `${server.url}/q?a={b}|c`]);
    assert.equal(JSON.parse(curl.stdout).target, '/q?a={b}|c');
    assert.equal(server.stats().http.errors.ERR_HTTP_INVALID_TARGET, neverFromBrowsers.length);
  });

  test("'rfc3986': all nine are 400 and closed; the handler never sees them", async (t) => {
    let reached = 0;
    const server = await startServer(t, {
      targetChars: 'rfc3986',
      request: (req, res) => {
        reached++;
        describeRequest(req, res);
      },
    });
    const all = [...browserSends, ...neverFromBrowsers];
    assert.deepEqual(
      await statuses(server.port, all),
      all.map(() => 400),
    );
    const curl = await run('curl', [
      '-sS',
      '--globoff',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${server.url}/q?a={b}|c`,
    ]);
    assert.equal(curl.stdout, '400');
    assert.equal(reached, 0);
    assert.equal(server.stats().http.errors.ERR_HTTP_INVALID_TARGET, all.length + 1);
  });

  test("'any': all nine reach the handler as sent, on a kept-alive connection; # and non-ASCII still never", async (t) => {
    const server = await startServer(t, { targetChars: 'any', request: describeRequest });
    const all = [...browserSends, ...neverFromBrowsers];
    const r = await rawExchange(server.port, [
      `${all.map((u) => `GET ${u} HTTP/1.1\r\nHost: a\r\n\r\n`).join('')}GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    ]);
    assert.deepEqual(statusCodes(r.text), all.map(() => 200).concat(200));
    const targets = [...r.text.matchAll(/"target":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`));
    assert.deepEqual(targets, [...all, '/last']);
    for (const target of ['/a#b', '/caf\xe9']) {
      const bad = await rawExchange(server.port, [Buffer.from(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, 'latin1')]);
      assert.deepEqual(statusCodes(bad.text), [400], target);
    }
  });
});
