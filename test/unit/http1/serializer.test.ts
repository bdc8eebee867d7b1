/**
 * The one writer of complete, connection-ending responses (src/http1/serializer.ts `simpleResponse`,
 * `simpleResponseHead`, `errorResponse`): status line with the shared reason phrases (RFC 9110 §15), Date
 * (RFC 9110 §6.6.1), validated fields (RFC 9110 §5.5: no CR/LF injection), `Connection: close` (with `Upgrade`
 * when an Upgrade field is sent, RFC 9110 §7.8), and Content-Length counted in bytes of the UTF-8 body.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { SockeyeError } from '../../../src/errors.js';
import {
  errorResponse,
  STATUS_TEXT,
  serializeFieldPairs,
  simpleResponse,
  simpleResponseHead,
} from '../../../src/http1/serializer.js';

const DATE = 'Sun, 06 Nov 1994 08:49:37 GMT';

/** Splits a response into its head (latin1) and its body bytes. */
function split(res: Buffer): { head: string; body: Buffer } {
  const end = res.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'the head ends with a blank line');
  return { head: res.toString('latin1', 0, end + 4), body: res.subarray(end + 4) };
}

describe('simpleResponse', () => {
  for (const status of [400, 403, 404, 426, 500, 503]) {
    it(`writes the status line of ${status} with its reason phrase`, () => {
      const { head } = split(simpleResponse(status, [], 'x\n', DATE));
      assert.ok(head.startsWith(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n`), head);
    });
  }
  it('names an unknown status "Unknown"', () => {
    assert.ok(split(simpleResponse(599, [], '', DATE)).head.startsWith('HTTP/1.1 599 Unknown\r\n'));
  });
  it('carries Date, Connection: close, the text content type and the length', () => {
    const { head, body } = split(simpleResponse(503, [['Retry-After', '1']], 'Too many connections\n', DATE));
    assert.equal(
      head,
      'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n' +
        `Date: ${DATE}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n\r\n`,
    );
    assert.equal(body.toString(), 'Too many connections\n');
  });
  it('leaves Date out only when given no date', () => {
    assert.ok(!split(simpleResponse(400, [], '', '')).head.includes('Date:'));
    assert.equal(split(simpleResponse(400, [], '', DATE)).head.split(`\r\nDate: ${DATE}\r\n`).length, 2);
  });
  it('counts Content-Length in bytes of the UTF-8 body, and writes the body as UTF-8', () => {
    const text = 'héllo € 🐟\n';
    const { head, body } = split(simpleResponse(400, [], text, DATE));
    const bytes = Buffer.from(text, 'utf8');
    assert.equal(bytes.length, 16);
    assert.ok(head.includes('\r\nContent-Length: 16\r\n'), head);
    assert.ok(body.equals(bytes));
  });
  it('writes header values as latin1 (obs-text is one octet)', () => {
    const res = simpleResponse(400, [['X-Name', 'caf\u00e9']], '', DATE);
    assert.ok(res.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])));
  });
  it('sends "Connection: Upgrade, close" with an Upgrade field (RFC 9110 §7.8)', () => {
    const { head } = split(simpleResponse(426, [['upgrade', 'websocket']], '', DATE));
    assert.ok(head.includes('\r\nConnection: Upgrade, close\r\n'), head);
    assert.ok(!head.includes('\r\nConnection: close\r\n'));
  });
  it('throws on a header value that could inject a line', () => {
    assert.throws(
      () => simpleResponse(400, [['X', 'a\r\nSet-Cookie: evil=1']], '', DATE),
      (err: unknown) => err instanceof SockeyeError && err.code === 'ERR_HTTP_INVALID_HEADER_VALUE',
    );
    assert.throws(
      () => simpleResponse(400, [['X Y', 'a']], '', DATE),
      (err: unknown) => err instanceof SockeyeError && err.code === 'ERR_HTTP_INVALID_HEADER_NAME',
    );
  });
  it('with dropInvalidHeaders, sends none of the headers when one is invalid', () => {
    const { head } = split(
      simpleResponse(
        403,
        [
          ['X-Ok', '1'],
          ['X-Bad', 'a\nb'],
        ],
        '',
        DATE,
        { dropInvalidHeaders: true },
      ),
    );
    assert.ok(!head.includes('X-Ok'));
    assert.ok(!head.includes('X-Bad'));
    assert.ok(head.startsWith('HTTP/1.1 403 Forbidden\r\n'));
  });
  it('simpleResponseHead is the head of simpleResponse', () => {
    const headers: [string, string][] = [['Sec-WebSocket-Version', '13']];
    const res = simpleResponse(426, headers, 'no\n', DATE);
    assert.equal(res.toString('latin1'), `${simpleResponseHead(426, headers, 3, DATE)}no\n`);
  });
});

describe('errorResponse', () => {
  it('is simpleResponse with the message and a newline as its body (bytes as before the single writer)', () => {
    assert.equal(
      errorResponse(408, 'Request Timeout', DATE).toString('latin1'),
      `HTTP/1.1 408 Request Timeout\r\nDate: ${DATE}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\nRequest Timeout\n`,
    );
  });
});

describe('serializeFieldPairs', () => {
  it('validates and serializes pairs in order', () => {
    assert.equal(
      serializeFieldPairs([
        ['A', '1'],
        ['B', ''],
      ]),
      'A: 1\r\nB: \r\n',
    );
    assert.throws(() => serializeFieldPairs([['A', '\0']]), SockeyeError);
  });
});
