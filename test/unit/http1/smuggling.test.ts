/**
 * Request-smuggling and framing rules of Http1ServerProtocol (src/http1/protocol.ts analyzeHead + parser):
 * CL.TE, TE.CL, TE.TE obfuscations, Content-Length shapes, chunk-line shapes, Host and request-target rules,
 * Expect. Every rejected shape is fed in one chunk, byte by byte and at every two-way split; each run must
 * write exactly one error response with the expected status and `Connection: close`, call sink.end(), report
 * one ProtocolError, and never hand the rejected request to the handler. Accepted look-alikes are checked too.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import {
  CHUNK_CASES,
  CL_CASES,
  EXPECT_CASES,
  GET,
  HOST_CASES,
  type RejectCase,
  TE_CL_CASES,
} from '../../fixtures/http1/requests.js';
import {
  FIXED_DATE,
  feedEverySplit,
  feedWhole,
  field,
  parseResponses,
  type RunResult,
  req,
} from '../../helpers/http1.js';

/**
 * Asserts the one-error outcome. `requestsBefore` good requests precede the bad one. With `inBody`, the bad
 * request's head was valid (so the handler saw it) and its body broke the framing: it must never end.
 */
function assertRejected(
  res: RunResult,
  status: number,
  code: string | undefined,
  requestsBefore = 0,
  inBody = false,
): void {
  assert.equal(res.thrown, undefined);
  const requests = res.events.filter((e) => e.type === 'request');
  const ends = res.events.filter((e) => e.type === 'end');
  if (inBody) {
    assert.equal(requests.length, requestsBefore + 1);
    assert.equal(ends.length, requestsBefore, 'the broken request must never end');
  } else {
    assert.equal(requests.length, requestsBefore, 'the rejected request must not reach the handler');
    assert.equal(ends.length, requestsBefore);
  }
  assert.equal(res.events[res.events.length - 1]?.type, 'error', 'the error is the last event');
  const errors = res.events.filter((e) => e.type === 'error');
  assert.equal(errors.length, 1, 'exactly one error');
  assert.equal(errors[0]?.type === 'error' && errors[0].status, status);
  if (code !== undefined) assert.equal(errors[0]?.type === 'error' && errors[0].code, code);
  const responses = parseResponses(res.sink.text);
  assert.equal(responses.length, requestsBefore + 1);
  const last = responses[responses.length - 1];
  assert.ok(last !== undefined);
  assert.ok(last.statusLine.startsWith(`HTTP/1.1 ${status} `));
  assert.equal(last.status, status);
  assert.equal(field(last, 'connection'), 'close');
  assert.equal(field(last, 'date'), FIXED_DATE);
  assert.equal(Number(field(last, 'content-length')), Buffer.byteLength(last.body));
  assert.equal(res.sink.ended, true, 'sink.end() called');
  assert.equal(res.sink.endCalls, 1);
  assert.equal(res.sink.writesAfterEnd, 0, 'nothing written after end()');
}

function rejectTable(cases: RejectCase[], inBody = false): void {
  for (const c of cases) {
    it(`${c.name} -> ${c.status} (${c.rule})`, () => {
      const res = feedEverySplit(c.request);
      assertRejected(res, c.status, c.code, 0, inBody);
      // Behind a good request on the same connection: answered after it, in order.
      const after = feedWhole(GET + c.request);
      assertRejected(after, c.status, c.code, 1, inBody);
      assert.equal(parseResponses(after.sink.text)[0]?.status, 200);
    });
  }
}

describe('RFC 9112 §6.1 / §6.3: Transfer-Encoding and Content-Length together, TE obfuscations', () => {
  rejectTable(TE_CL_CASES);

  it('a smuggled request behind a rejected one is never parsed, even after a good request', () => {
    for (const c of TE_CL_CASES) {
      const res = feedWhole(GET + c.request);
      assertRejected(res, c.status, c.code, 1);
      const responses = parseResponses(res.sink.text);
      assert.equal(responses[0]?.status, 200, `${c.name}: the good request is answered first`);
      assert.equal(responses[0]?.body, 'GET /');
    }
  });
});

describe('RFC 9110 §8.6 / RFC 9112 §6.3 rule 5: Content-Length', () => {
  rejectTable(CL_CASES);

  it('a list of identical values is folded to one ("5, 5")', () => {
    const res = feedEverySplit(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5, 5')}hello`);
    assert.deepEqual(
      res.events.map((e) => e.type),
      ['request', 'body', 'end'],
    );
    assert.deepEqual(res.events[1], { type: 'body', data: 'hello' });
  });

  it('two identical Content-Length lines are folded', () => {
    const res = feedWhole(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'content-length: 5')}hello`);
    assert.deepEqual(res.events[1], { type: 'body', data: 'hello' });
    assert.equal(res.handler.infos[0]?.contentLength, 5);
  });

  it('leading zeros are decimal digits ("007")', () => {
    const res = feedWhole(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 007')}1234567GET`);
    assert.deepEqual(res.events[1], { type: 'body', data: '1234567' });
    assert.equal(res.handler.infos[0]?.contentLength, 7);
  });

  it('leading zeros do not count towards the size: 16 and 30 digits of value 5 are 5', () => {
    for (const v of ['0000000000000005', `${'0'.repeat(29)}5`, `0000000000000005, ${'0'.repeat(20)}5`]) {
      const res = feedEverySplit(`${req('POST / HTTP/1.1', 'Host: a', `Content-Length: ${v}`)}hello`);
      assert.deepEqual(
        res.events.map((e) => e.type),
        ['request', 'body', 'end'],
        v,
      );
      assert.equal(res.handler.infos[0]?.contentLength, 5, v);
    }
  });

  it('Content-Length exactly at maxBodyBytes is accepted, one more is 413', () => {
    const ok = feedWhole(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 10')}0123456789`, {
      options: { maxBodyBytes: 10 },
    });
    assert.deepEqual(ok.events[1], { type: 'body', data: '0123456789' });
    const over = feedEverySplit(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 11')}01234567890`, {
      options: { maxBodyBytes: 10 },
    });
    assertRejected(over, 413, 'ERR_HTTP_BODY_TOO_LARGE');
  });
});

describe('RFC 9112 §7.1: chunk lines', () => {
  rejectTable(CHUNK_CASES, true);

  it('an accepted chunked body with OWS around the Transfer-Encoding value', () => {
    for (const v of ['chunked', ' chunked', 'chunked ', '\tchunked\t', 'Chunked', 'CHUNKED']) {
      const res = feedEverySplit(
        `${req('POST / HTTP/1.1', 'Host: a', `Transfer-Encoding: ${v}`)}3\r\nabc\r\n0\r\n\r\n`,
      );
      assert.deepEqual(
        res.events.map((e) => e.type),
        ['request', 'body', 'end'],
        v,
      );
      assert.deepEqual(res.events[1], { type: 'body', data: 'abc' });
      assert.equal(res.handler.infos[0]?.chunked, true);
      assert.equal(res.handler.infos[0]?.contentLength, -1);
    }
  });

  it('chunked body over maxBodyBytes -> 413 before its data is read', () => {
    const res = feedEverySplit(
      `${req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked')}5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n`,
      {
        options: { maxBodyBytes: 10 },
      },
    );
    // The request was accepted (head ok), its body broke the limit: the error comes after the request event.
    assert.deepEqual(
      res.events.map((e) => e.type),
      ['request', 'body', 'error'],
    );
    assert.deepEqual(res.events[1], { type: 'body', data: 'hello' });
    assertRejected(res, 413, 'ERR_HTTP_BODY_TOO_LARGE', 0, true);
  });
});

describe('RFC 9112 §3.2 / RFC 9110 §7.2: Host and request-target', () => {
  rejectTable(HOST_CASES);

  const accepted: [string, string][] = [
    ['HTTP/1.0 without Host', req('GET / HTTP/1.0')],
    ['Host with a port', req('GET / HTTP/1.1', 'Host: a.example:8080')],
    ['Host as an IPv6 literal with a port', req('GET / HTTP/1.1', 'Host: [::1]:8080')],
    ['Host as an IPv4 address', req('GET / HTTP/1.1', 'Host: 127.0.0.1')],
    ['empty Host (RFC 9110 §7.2)', req('GET / HTTP/1.1', 'Host:')],
    ['Host with pct-encoding', req('GET / HTTP/1.1', 'Host: %41.example')],
    ['absolute-form agreeing with Host (any case)', req('GET http://A.Example/x?y HTTP/1.1', 'Host: a.example')],
    [
      'absolute-form with the default port (RFC 3986 §6.2.3)',
      req('GET http://a.example:80/ HTTP/1.1', 'Host: a.example'),
    ],
    ['absolute-form, Host with the default port', req('GET http://a.example/ HTTP/1.1', 'Host: a.example:80')],
    ['https absolute-form with :443', req('GET https://a.example:443/ HTTP/1.1', 'Host: a.example')],
    ['absolute-form with an empty port', req('GET http://a.example:/ HTTP/1.1', 'Host: a.example')],
    ['pct-encoded triplets in path and query', req('GET /a%20b/%2F?q=%e2%82%AC HTTP/1.1', 'Host: a.example')],
    ['absolute-form in HTTP/1.0 without Host', req('GET http://a.example/ HTTP/1.0')],
    ['CONNECT authority-form', req('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443')],
    ['OPTIONS asterisk-form', req('OPTIONS * HTTP/1.1', 'Host: a.example')],
    // RFC 9112 §3.2.2: an origin server MUST ignore Host when the target is in absolute-form.
    ['absolute-form whose authority differs from Host', req('GET http://a.example/ HTTP/1.1', 'Host: b.example')],
    ['absolute-form whose port differs from Host', req('GET http://a.example:81/ HTTP/1.1', 'Host: a.example')],
    ['absolute-form with an empty Host', req('GET http://a.example/ HTTP/1.1', 'Host:')],
  ];
  for (const [name, request] of accepted) {
    it(`accepts ${name}`, () => {
      const res = feedWhole(request);
      assert.deepEqual(
        res.events.map((e) => e.type),
        ['request', 'end'],
      );
      assert.equal(parseResponses(res.sink.text)[0]?.status, 200);
    });
  }

  // RFC 9112 §3.3: the target URI's authority is the absolute-form target's (Host ignored, §3.2.2), the
  // authority-form target itself, else the Host field value.
  const hosts: [string, string, string][] = [
    ['origin-form: Host', req('GET /x HTTP/1.1', 'Host: a.example:8080'), 'a.example:8080'],
    [
      'absolute-form: the target, not Host',
      req('GET http://B.example:81/x?y HTTP/1.1', 'Host: a.example'),
      'B.example:81',
    ],
    ['absolute-form: the target, Host empty', req('GET https://[::1]:8443/ HTTP/1.1', 'Host:'), '[::1]:8443'],
    ['absolute-form in HTTP/1.0 without Host', req('GET http://a.example/ HTTP/1.0'), 'a.example'],
    ['authority-form (CONNECT): the target', req('CONNECT b.example:443 HTTP/1.1', 'Host: a.example'), 'b.example:443'],
    ['asterisk-form: Host', req('OPTIONS * HTTP/1.1', 'Host: a.example'), 'a.example'],
    ['HTTP/1.0 origin-form without Host: empty', req('GET / HTTP/1.0'), ''],
  ];
  for (const [name, request, host] of hosts) {
    it(`request host, ${name}`, () => {
      const res = feedEverySplit(request);
      assert.deepEqual(
        res.handler.infos.map((i) => i.host),
        [host],
      );
    });
  }
});

describe('RFC 9110 §10.1.1: Expect', () => {
  rejectTable(EXPECT_CASES);

  it('empty list elements are ignored (RFC 9110 §5.6.1.2): "Expect:" expects nothing, "100-continue," is 100-continue', () => {
    const none = feedEverySplit(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1', 'Expect:')}x`);
    assert.deepEqual(
      none.events.map((e) => e.type),
      ['request', 'body', 'end'],
    );
    assert.equal(none.handler.infos[0]?.expectContinue, false);
    for (const v of ['100-continue,', ', 100-continue', '100-continue, ,']) {
      const res = feedWhole(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1', `Expect: ${v}`)}x`);
      assert.deepEqual(
        res.events.map((e) => e.type),
        ['request', 'body', 'end'],
        v,
      );
      assert.equal(res.handler.infos[0]?.expectContinue, true, v);
    }
  });

  it('Expect: 100-continue in any case is accepted', () => {
    const res = feedWhole(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1', 'Expect: 100-Continue')}x`);
    assert.deepEqual(
      res.events.map((e) => e.type),
      ['request', 'body', 'end'],
    );
  });
});

describe('RFC 9112 §9.6: nothing is parsed after an error', () => {
  it('bytes arriving after the error response are ignored', () => {
    const res = feedWhole(req('GET / HTTP/1.1'));
    assertRejected(res, 400, 'ERR_HTTP_MISSING_HOST');
    const before = res.sink.text;
    res.protocol.receive(Buffer.from(GET, 'latin1'));
    res.protocol.receiveEof();
    assert.equal(res.sink.text, before);
    assert.equal(res.events.filter((e) => e.type === 'request').length, 0);
  });
});
