/**
 * ReDoS (issue 15 §3.10): every regular expression in src/ that sees peer-controlled input, fed a pathological
 * input of about 100 KB (100 times more than the default limits let through: the limits are raised here so that
 * the expression, not a limit, is what gets the input). Each must return the right answer; a backtracking
 * expression would not return within the test's timeout. No timing threshold: answers only.
 *
 * The audit (docs/attacks.md lists it): the regex on the absolute-form target lost its `(.*)$` (quadratic were a
 * line terminator ever in a target); every other one is anchored, with each quantified part stopping at a
 * character the next part cannot start with (at most one retry per position), or of fixed length. Not peer input:
 * listen-stats.ts (/proc lines, readlink), metrics.ts (label escaping, one character at a time), cli/connect.ts
 * (the user's own terminal lines), cli/echo.ts (one character class, linear).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { HeaderList } from '../../src/http1/headers.js';
import { DEFAULT_PARSER_LIMITS } from '../../src/http1/parser.js';
import { isValidHost } from '../../src/http1/protocol.js';
import { parseResponseHead } from '../../src/http1/response-head.js';
import { parseExtensions } from '../../src/ws/extensions.js';
import { isValidKey, validateUpgradeRequest } from '../../src/ws/handshake.js';
import { createProtocol, feedWhole, parseResponses, type RunResult } from '../helpers/http1.js';

/** About 100 KB. */
const N = 100_000;
const BIG = 4 * N;
/** Limits that let a 100 KB request-line or field through to the rules after the parser. */
const LIMITS = {
  limits: { ...DEFAULT_PARSER_LIMITS, maxRequestLineBytes: BIG, maxHeaderBytes: BIG, maxHeaderCount: 1000 },
  maxBodyBytes: Number.MAX_SAFE_INTEGER,
};

function feed(request: string): RunResult {
  return feedWhole(request, { options: LIMITS });
}

/** The one error the protocol reported, as "status code". */
function errorOf(r: RunResult): string {
  assert.equal(r.handler.errors.length, 1, `one error: ${JSON.stringify(r.events.slice(0, 3))}`);
  const e = r.handler.errors[0];
  return `${e?.status} ${e?.code}`;
}

describe('ReDoS: request rules (src/http1/protocol.ts) on 100 KB inputs', () => {
  it('Content-Length list, /^[0-9]+$/ and /^0+(?=[0-9])/: 100,000 zeros then 7, twice, is 7', () => {
    const v = `${'0'.repeat(N)}7`;
    const r = feed(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${v}, ${v}\r\n\r\n1234567`);
    assert.equal(r.handler.errors.length, 0);
    assert.equal(r.handler.infos[0]?.contentLength, 7);
  });

  it('Content-Length list: 100,000 digits then a letter is 400', () => {
    const r = feed(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, ${'9'.repeat(N)}x\r\n\r\n`);
    assert.equal(errorOf(r), '400 ERR_HTTP_INVALID_CONTENT_LENGTH');
  });

  it('transfer-coding /^[tchar]+([ \\t]*;.*)?$/: a long token, long spaces, no ";" → 400', () => {
    const coding = `${'a'.repeat(N / 2)}${' '.repeat(N / 2)}x`;
    const r = feed(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${coding}, chunked\r\n\r\n`);
    assert.equal(errorOf(r), '400 ERR_HTTP_INVALID_TRANSFER_ENCODING');
  });

  it('transfer-coding: a long token with long parameters before chunked → 501 (a valid coding we do not do)', () => {
    const coding = `${'a'.repeat(N / 2)} ;${' ;x'.repeat(16_666)}`;
    const r = feed(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${coding}, chunked\r\n\r\n`);
    assert.equal(errorOf(r), '501 ERR_HTTP_UNSUPPORTED_TRANSFER_CODING');
  });

  it('Host reg-name /^(?:[unreserved]|%HH)*$/: 33,333 %41 then a cut-off %4 → 400; whole → accepted', () => {
    const bad = feed(`GET / HTTP/1.1\r\nHost: ${'%41'.repeat(33_333)}%4\r\n\r\n`);
    assert.equal(errorOf(bad), '400 ERR_HTTP_INVALID_HOST');
    const good = feed(`GET / HTTP/1.1\r\nHost: ${'%41'.repeat(33_333)}:8080\r\n\r\n`);
    assert.equal(good.handler.errors.length, 0);
    assert.equal(good.handler.requests.length, 1);
  });

  it('Host port /^[0-9]*$/ and the IP-literal alternatives, 100 KB each', () => {
    assert.equal(isValidHost(`a:${'1'.repeat(N)}x`), false);
    assert.equal(isValidHost(`a:${'1'.repeat(N)}`), true);
    assert.equal(isValidHost(`[${':'.repeat(N)}]`), true); // the grammar's shape only (IPv6 digits not counted)
    assert.equal(isValidHost(`[${':'.repeat(N)}]x`), false);
    assert.equal(isValidHost(`[v${'a'.repeat(N / 2)}.${':'.repeat(N / 2)}]:${'9'.repeat(N)}`), true);
    assert.equal(isValidHost(`[v${'a'.repeat(N / 2)}.${':'.repeat(N / 2)}"]`), false);
    assert.equal(isValidHost(`[v${'a'.repeat(N / 2)}${':'.repeat(N / 2)}]`), false);
    assert.equal(isValidHost(`${'a'.repeat(N)}@`), false);
  });

  it('CONNECT target /:[0-9]+$/: 50,000 ":1" then x → 400; then a port → accepted', () => {
    const bad = feed(`CONNECT ${'a:1'.repeat(33_333)}x HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(errorOf(bad), '400 ERR_HTTP_INVALID_TARGET');
    const good = feed(`CONNECT ${'a'.repeat(N)}:${'4'.repeat(N)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(good.handler.errors.length, 0);
  });

  it('absolute-form /^scheme:\\/\\/[^/?#]*/: a 100 KB scheme with no ":" → 400; a 100 KB authority → accepted', () => {
    const bad = feed(`GET ${'a'.repeat(N)}+/x HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(errorOf(bad), '400 ERR_HTTP_INVALID_TARGET');
    const good = feed(`GET http://${'a'.repeat(N)}/${'b'.repeat(N)}?q HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(good.handler.errors.length, 0);
    assert.equal(good.handler.requests[0]?.target.length, 2 * N + 10);
    const userinfo = feed(`GET http://${'a'.repeat(N)}@b/ HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.equal(errorOf(userinfo), '400 ERR_HTTP_INVALID_TARGET');
  });

  it("the response's Connection field /(^|,)\\s*close\\s*(,|$)/i: 100 KB of commas and spaces, then close", () => {
    /** Whether answering with this Connection field ends the connection (the protocol calls sink.end()). */
    const closes = (value: string): boolean => {
      const { protocol, sink } = createProtocol({ handler: 'record', options: LIMITS });
      protocol.receive(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
      protocol.respond(200, ['Connection', value], Buffer.from('x'));
      assert.equal(parseResponses(sink.text).length, 1);
      return sink.ended;
    };
    assert.equal(closes(`${', '.repeat(N / 2)}x`), false);
    assert.equal(closes(`${' ,'.repeat(N / 2)}  close${' '.repeat(N)}`), true);
    assert.equal(closes(`close${' '.repeat(N)}x`), false);
    assert.equal(closes(`${'closed,'.repeat(N / 7)} CLOSE `), true);
  });
});

describe('ReDoS: WebSocket handshake and response head on 100 KB inputs', () => {
  it('Sec-WebSocket-Key /^[A-Za-z0-9+/]{22}==$/ (fixed length) and the version, 100 KB', () => {
    assert.equal(isValidKey(`${'A'.repeat(N)}==`), false);
    assert.equal(isValidKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
    const headers = new HeaderList([
      'Host',
      'a',
      'Upgrade',
      'websocket',
      'Connection',
      'Upgrade',
      'Sec-WebSocket-Key',
      `${'A'.repeat(N)}==`,
      'Sec-WebSocket-Version',
      '13',
    ]);
    const r = validateUpgradeRequest('GET', '1.1', headers);
    assert.equal(r.ok, false);
    assert.equal(r.ok === false && r.status, 400);
  });

  it('status line of a response the client reads /^HTTP\\/1\\.[01] [0-9]{3} ?[...]*$/: a 100 KB reason', () => {
    const ok = parseResponseHead(Buffer.from(`HTTP/1.1 101 ${' x'.repeat(N / 2)}\r\n\r\n`, 'latin1'), BIG);
    assert.ok(ok !== null && !(ok instanceof Error), 'parsed');
    assert.equal((ok as { status: number }).status, 101);
    const bad = parseResponseHead(Buffer.from(`HTTP/1.1 101 ${' '.repeat(N)}\x01\r\n\r\n`, 'latin1'), BIG);
    assert.ok(bad instanceof Error && (bad as { code?: string }).code === 'ERR_HTTP_INVALID_STATUS_LINE');
  });

  it('Sec-WebSocket-Extensions (a loop, no regex): 20,000 offers and 100 KB of OWS parse in one pass', () => {
    const offers = parseExtensions(`${'x; a=1, '.repeat(N / 8)}permessage-deflate; client_max_window_bits`);
    assert.equal(offers?.length, N / 8 + 1);
    assert.equal(offers?.[N / 8]?.name, 'permessage-deflate');
    assert.equal(parseExtensions(`a${' '.repeat(N)};${' '.repeat(N)}b${' '.repeat(N)}=${' '.repeat(N)}"c`), null);
    assert.equal(parseExtensions(`${','.repeat(N)}a`)?.length, 1);
  });
});
