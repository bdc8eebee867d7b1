/**
 * The response counter of `sockeye bench` (src/cli/bench-http.ts), byte by byte: every framing of RFC 9112 §6.3
 * (Content-Length, chunked with extensions and trailers, 204/304 and HEAD without a body, 1xx interim responses,
 * a body that ends with the connection) gives the same responses however the stream is split; malformed streams
 * are refused with a reason. And the request writer's bytes.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRequest, ResponseCounter } from '../../../src/cli/bench-http.js';

const STREAM = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 100 Continue\r\n\r\n',
  'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n',
  'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n',
  'HTTP/1.1 503 Service Unavailable\r\nCONTENT-LENGTH:  4 \r\n\r\nbusy',
  'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
].join('');
const EXPECTED = [
  [200, false],
  [201, false],
  [204, false],
  [304, false],
  [503, false],
  [200, true],
];

/** Feeds `parts` to a counter (then the end of the connection); returns the responses it reported. */
function feed(parts: Buffer[], head = false): [number, boolean][] {
  const seen: [number, boolean][] = [];
  const counter = new ResponseCounter(head, (status, closing) => seen.push([status, closing]));
  for (const p of parts) counter.receive(p);
  counter.receiveEof();
  return seen;
}

test('every framing, whole, split at every byte, and one byte at a time', () => {
  const bytes = Buffer.from(STREAM, 'latin1');
  assert.deepEqual(feed([bytes]), EXPECTED);
  for (let i = 1; i < bytes.length; i++) {
    assert.deepEqual(feed([bytes.subarray(0, i), bytes.subarray(i)]), EXPECTED, `split at ${i}`);
  }
  assert.deepEqual(feed([...bytes].map((b) => Buffer.from([b]))), EXPECTED);
});

test('HEAD: no response has a body, whatever Content-Length says', () => {
  const two = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n';
  assert.deepEqual(feed([Buffer.from(two)], true), [
    [200, false],
    [404, false],
  ]);
});

test('Connection: close: the response is the last one; bytes after it are refused', () => {
  const last = 'HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n';
  assert.deepEqual(feed([Buffer.from(last)]), [[200, true]]);
  assert.throws(() => feed([Buffer.from(`${last}HTTP/1.1 200 OK\r\n`)]), /bytes after the connection was to close/);
});

test('malformed responses are refused with the reason', () => {
  const cases: [string, RegExp][] = [
    ['SSH-2.0-OpenSSH_9.2\r\n\r\n', /not an HTTP\/1\.x status line/],
    ['HTTP/1.1 2x0 OK\r\n\r\n', /invalid status code/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk-size/],
    ['HTTP/1.1 101 Switching Protocols\r\n\r\n', /101 Switching Protocols/],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`, /response head too large/],
  ];
  for (const [input, reason] of cases) assert.throws(() => feed([Buffer.from(input)]), reason, input.slice(0, 30));
});

test('the request: request-line, Host from the URL, headers as given, Content-Length for a body', () => {
  const url = new URL('http://127.0.0.1:8080/p/a?q=1');
  assert.equal(
    buildRequest({ url, method: 'POST', body: Buffer.from('hey'), headers: [['X-A', 'b']] }).toString(),
    'POST /p/a?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: b\r\nContent-Length: 3\r\n\r\nhey',
  );
  assert.equal(
    buildRequest({ url, method: 'GET', body: null, headers: [['host', 'example.com']] }).toString(),
    'GET /p/a?q=1 HTTP/1.1\r\nhost: example.com\r\n\r\n',
  );
});
