/**
 * Http1ServerProtocol (src/http1/protocol.ts) and the serializer it writes with: persistence (RFC 9112 §9.3)
 * for HTTP/1.0 and 1.1, pipelining order (§9.3.2), Expect: 100-continue (RFC 9110 §10.1.1), Upgrade
 * detection and hand-over (RFC 9110 §7.8), and responses: framing (Content-Length, chunked, close-delimited),
 * bodiless responses (HEAD, 204, 304), Date, field validation (CR/LF injection) and misuse errors.
 * Assertions are on the exact bytes written to the sink, end(), and the handler's event log.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { InvalidStateError, SockeyeError } from '../../../src/errors.js';
import type { RequestHead } from '../../../src/http1/parser.js';
import {
  Http1ServerCache,
  Http1ServerProtocol,
  type RequestInfo,
  S_CLOSING,
  S_UPGRADED,
} from '../../../src/http1/protocol.js';
import { statusLine } from '../../../src/http1/serializer.js';
import {
  ArraySink,
  AutoResponder,
  createProtocol,
  FIXED_DATE,
  feedEverySplit,
  feedWhole,
  field,
  makeOptions,
  parseResponses,
  RecordingHandler,
  req,
} from '../../helpers/http1.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Targets of the requests the handler saw, in order. */
function targets(h: RecordingHandler): string[] {
  return h.requests.map((r) => r.target);
}

/** A fresh protocol whose handler records and never answers; the test drives responses by hand. */
function manual() {
  return createProtocol({ handler: 'record' });
}

describe('RFC 9112 §9.3: persistence', () => {
  it('HTTP/1.1 is persistent by default: no Connection field, the connection stays open', () => {
    const res = feedWhole(req('GET /1 HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a'));
    const responses = parseResponses(res.sink.text);
    assert.deepEqual(
      responses.map((r) => r.body),
      ['GET /1', 'GET /2'],
    );
    assert.equal(field(responses[0] as never, 'connection'), undefined);
    assert.equal(res.sink.ended, false);
    assert.equal(res.handler.infos[0]?.keepAlive, true);
  });

  for (const value of [
    'close',
    'Close',
    ' CLOSE ',
    'keep-alive, close',
    'foo,\tclose',
    'close,foo',
    'Upgrade ,  cLoSe',
  ]) {
    it(`HTTP/1.1 "Connection: ${value}" closes after the response; later bytes are ignored`, () => {
      const res = feedWhole(
        req('GET /1 HTTP/1.1', 'Host: a', `Connection: ${value}`) + req('GET /2 HTTP/1.1', 'Host: a'),
      );
      assert.deepEqual(targets(res.handler), ['/1']);
      assert.equal(res.handler.infos[0]?.keepAlive, false);
      const responses = parseResponses(res.sink.text);
      assert.equal(responses.length, 1);
      assert.equal(field(responses[0] as never, 'connection'), 'close');
      assert.equal(res.sink.ended, true);
      assert.equal(res.sink.writesAfterEnd, 0);
      assert.equal(res.protocol.state, S_CLOSING);
    });
  }

  for (const value of ['closed', 'xclose', 'close-ish', '"close"']) {
    it(`HTTP/1.1 "Connection: ${value}" is not the close option`, () => {
      const res = feedWhole(req('GET / HTTP/1.1', 'Host: a', `Connection: ${value}`));
      assert.equal(res.handler.infos[0]?.keepAlive, true);
      assert.equal(res.sink.ended, false);
    });
  }

  it('HTTP/1.0 closes by default, with "Connection: close" in the response', () => {
    const res = feedWhole(req('GET /1 HTTP/1.0') + req('GET /2 HTTP/1.0'));
    assert.deepEqual(targets(res.handler), ['/1']);
    const [r] = parseResponses(res.sink.text);
    assert.equal(r?.statusLine, 'HTTP/1.1 200 OK', 'RFC 9110 §2.5: we answer with our own version');
    assert.equal(field(r as never, 'connection'), 'close');
    assert.equal(field(r as never, 'content-length'), '6');
    assert.equal(res.sink.ended, true);
  });

  for (const value of ['keep-alive', 'Keep-Alive', ' KEEP-ALIVE ', 'foo ,keep-alive', 'keep-alive,\tfoo']) {
    it(`HTTP/1.0 "Connection: ${value}" persists and says "Connection: keep-alive"`, () => {
      const res = feedWhole(
        req('GET /1 HTTP/1.0', `Connection: ${value}`) + req('GET /2 HTTP/1.0', 'Connection: keep-alive'),
      );
      assert.deepEqual(targets(res.handler), ['/1', '/2']);
      const responses = parseResponses(res.sink.text);
      assert.equal(responses.length, 2);
      for (const r of responses) assert.equal(field(r, 'connection'), 'keep-alive');
      assert.equal(res.sink.ended, false);
    });
  }

  it('HTTP/1.0 with both keep-alive and close closes', () => {
    const res = feedWhole(req('GET / HTTP/1.0', 'Connection: keep-alive, close'));
    assert.equal(res.handler.infos[0]?.keepAlive, false);
    assert.equal(field(parseResponses(res.sink.text)[0] as never, 'connection'), 'close');
    assert.equal(res.sink.ended, true);
  });

  it('a "Connection: close" field from the handler closes, without a second Connection field', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET /1 HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a')));
    protocol.respond(200, ['Connection', 'close'], b('x'));
    assert.equal(
      sink.text,
      `HTTP/1.1 200 OK\r\nConnection: close\r\nDate: ${FIXED_DATE}\r\nContent-Length: 1\r\n\r\nx`,
    );
    assert.equal(sink.ended, true);
  });

  it('a response shorter than its Content-Length ends the connection (RFC 9112 §6.3)', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(req('GET /1 HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a')));
    protocol.writeHead(200, [], 10);
    protocol.writeBody(b('12345'));
    protocol.endResponse(null);
    assert.equal(sink.ended, true);
    assert.deepEqual(targets(handler), ['/1']);
  });
});

describe('RFC 9112 §9.3.2: pipelining', () => {
  it('three requests in one chunk are answered in order (synchronous responder)', () => {
    const input =
      req('GET /1 HTTP/1.1', 'Host: a') +
      `${req('POST /2 HTTP/1.1', 'Host: a', 'Content-Length: 3')}abc` +
      `${req('POST /3 HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked')}1\r\nz\r\n0\r\n\r\n`;
    const res = feedEverySplit(input);
    assert.deepEqual(
      res.events.map((e) => (e.type === 'request' ? e.target : e.type === 'body' ? e.data : e.type)),
      ['/1', 'end', '/2', 'abc', 'end', '/3', 'z', 'end'],
    );
    assert.deepEqual(
      parseResponses(res.sink.text).map((r) => r.body),
      ['GET /1', 'POST /2', 'POST /3'],
    );
    assert.equal(res.protocol.requests, 3);
    assert.equal(res.protocol.isIdle, true);
  });

  it('with an asynchronous responder, request N+1 is not delivered until response N has ended', () => {
    const handler = new AutoResponder('manual');
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(
      b(req('GET /1 HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a') + req('GET /3 HTTP/1.1', 'Host: a')),
    );
    assert.deepEqual(targets(handler), ['/1']);
    assert.equal(sink.text, '');
    assert.ok(protocol.pendingBytes > 0);
    handler.respondNext();
    assert.deepEqual(targets(handler), ['/1', '/2']);
    handler.respondNext();
    assert.deepEqual(targets(handler), ['/1', '/2', '/3']);
    handler.respondNext();
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['GET /1', 'GET /2', 'GET /3'],
    );
    assert.equal(protocol.isIdle, true);
  });

  it('a streamed response holds back the next request until endResponse', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(req('GET /1 HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a')));
    protocol.writeHead(200, [], -1);
    protocol.writeBody(b('part'));
    assert.deepEqual(targets(handler), ['/1']);
    protocol.endResponse(null);
    assert.deepEqual(targets(handler), ['/1', '/2']);
    assert.equal(sink.ended, false);
  });

  it('an error in request N+1 is written only after response N', () => {
    const handler = new AutoResponder('manual');
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(b(`${req('GET /1 HTTP/1.1', 'Host: a')}GET /2 HTTP/1.1\r\nBad Header: x\r\n\r\n`));
    assert.equal(sink.text, '', 'nothing written while response 1 is pending');
    assert.deepEqual(
      handler.events.map((e) => e.type),
      ['request', 'end'],
    );
    handler.respondNext();
    const responses = parseResponses(sink.text);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 400],
    );
    assert.equal(responses[0]?.body, 'GET /1');
    assert.equal(field(responses[1] as never, 'connection'), 'close');
    assert.equal(sink.ended, true);
    assert.deepEqual(handler.events[2], { type: 'error', status: 400, code: 'ERR_HTTP_INVALID_HEADER_NAME' });
  });

  it('requests arriving across several receive() calls keep their order', () => {
    const handler = new AutoResponder('manual');
    const { protocol, sink } = createProtocol({ handler });
    const all = `${req('GET /1 HTTP/1.1', 'Host: a')}${req('PUT /2 HTTP/1.1', 'Host: a', 'Content-Length: 4')}data`;
    protocol.receive(b(all.slice(0, 30)));
    protocol.receive(b(all.slice(30, 60)));
    handler.respondNext();
    protocol.receive(b(all.slice(60)));
    assert.deepEqual(
      handler.events.map((e) => (e.type === 'request' ? e.target : e.type === 'body' ? e.data : e.type)),
      ['/1', 'end', '/2', 'data', 'end'],
    );
    handler.respondNext();
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['GET /1', 'PUT /2'],
    );
  });

  it('a response written before the request body is read: the body is still consumed, then the next request', () => {
    class EarlyResponder extends RecordingHandler {
      override onRequest(head: RequestHead, info: RequestInfo): void {
        super.onRequest(head, info);
        this.protocol?.respond(200, [], b(head.target));
      }
    }
    const handler = new EarlyResponder();
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(b(`${req('POST /1 HTTP/1.1', 'Host: a', 'Content-Length: 6')}ab`));
    assert.equal(protocol.needsBodyDrain, true);
    protocol.receive(b(`cdef${req('GET /2 HTTP/1.1', 'Host: a')}`));
    assert.deepEqual(
      handler.events.map((e) => (e.type === 'request' ? e.target : e.type === 'body' ? e.data : e.type)),
      ['/1', 'abcdef', 'end', '/2', 'end'],
    );
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['/1', '/2'],
    );
  });
});

describe('RFC 9112 §9.3.2: one response per request, even when the request fails after it was answered', () => {
  class EarlyResponder extends RecordingHandler {
    override onRequest(head: RequestHead, info: RequestInfo): void {
      super.onRequest(head, info);
      this.protocol?.respond(200, [], b('early'));
    }
  }
  const early = `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nContent-Length: 5\r\n\r\nearly`;

  it('a body framing error after the response ended: no second response, the connection ends', () => {
    const handler = new EarlyResponder();
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(b(`${req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked')}zz\r\n`));
    assert.equal(sink.text, early);
    assert.equal(sink.ended, true);
    assert.deepEqual(handler.events[handler.events.length - 1], {
      type: 'error',
      status: 400,
      code: 'ERR_HTTP_INVALID_CHUNK',
    });
  });

  it('EOF in the body after the response ended: no second response', () => {
    const handler = new EarlyResponder();
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(b(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 10')}abc`));
    protocol.receiveEof();
    assert.equal(sink.text, early);
    assert.equal(sink.ended, true);
  });

  it('an error in the next request is still answered with its own error response', () => {
    const handler = new EarlyResponder();
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(b(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1')}xBAD / HTTP/1.1\r\n\r\n`));
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.status),
      [200, 400],
    );
  });

  it('a stray CRLF after a body, then EOF: no error response, the connection is idle', () => {
    const { protocol, sink } = createProtocol({ handler: 'sync' });
    protocol.receive(b(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1')}x\r\n`));
    assert.equal(protocol.isIdle, true);
    protocol.receiveEof();
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.status),
      [200],
    );
  });
});

describe('RFC 9110 §10.1.1: Expect: 100-continue', () => {
  it('sendContinue writes "HTTP/1.1 100 Continue" once, before the final response', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Expect: 100-continue')));
    assert.equal(handler.infos[0]?.expectContinue, true);
    protocol.sendContinue();
    protocol.sendContinue();
    assert.equal(sink.text, 'HTTP/1.1 100 Continue\r\n\r\n');
    protocol.receive(b('hello'));
    assert.deepEqual(handler.events[1], { type: 'body', data: 'hello' });
    protocol.respond(200, [], null);
    assert.equal(
      sink.text,
      `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nContent-Length: 0\r\n\r\n`,
    );
  });

  it('100-continue listed twice, in one line or in two, is still 100-continue (Expect = #expectation)', () => {
    for (const fields of [['Expect: 100-continue, 100-Continue'], ['Expect: 100-continue', 'Expect: 100-continue']]) {
      const { protocol, handler } = manual();
      protocol.receive(b(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', ...fields)));
      assert.equal(handler.infos[0]?.expectContinue, true, fields.join(' / '));
    }
  });

  it('with a chunked body too', () => {
    const { protocol, handler } = manual();
    protocol.receive(b(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Expect: 100-continue')));
    assert.equal(handler.infos[0]?.expectContinue, true);
  });

  it('not for HTTP/1.0 (the expectation MUST be ignored)', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(req('POST / HTTP/1.0', 'Content-Length: 5', 'Expect: 100-continue')));
    assert.equal(handler.infos[0]?.expectContinue, false);
    protocol.sendContinue();
    assert.equal(sink.text, '');
  });

  it('not without Expect, and not after the response head', () => {
    const a = manual();
    a.protocol.receive(b(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5')));
    a.protocol.sendContinue();
    assert.equal(a.sink.text, '');
    const c = manual();
    c.protocol.receive(b(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Expect: 100-continue')));
    c.protocol.writeHead(413, [], 0);
    const head = c.sink.text;
    c.protocol.sendContinue();
    assert.equal(c.sink.text, head);
    assert.ok(!head.includes('100 Continue'));
  });

  it('the expectation does not carry over to the next request', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(`${req('POST /1 HTTP/1.1', 'Host: a', 'Content-Length: 1', 'Expect: 100-continue')}x`));
    protocol.sendContinue();
    protocol.respond(200, [], null);
    protocol.receive(b(`${req('POST /2 HTTP/1.1', 'Host: a', 'Content-Length: 1')}y`));
    const before = sink.text;
    protocol.sendContinue();
    assert.equal(sink.text, before);
    assert.equal(before.split('100 Continue').length, 2);
  });
});

describe('RFC 9110 §7.8: Upgrade', () => {
  const upgrade = req('GET /chat HTTP/1.1', 'Host: a', 'Connection: keep-alive, Upgrade', 'Upgrade: websocket');

  it('Connection: upgrade + Upgrade sets info.upgrade; takeRemainder returns the bytes after the head', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(`${upgrade}\x81\x05hel`));
    protocol.receive(b('lo'));
    assert.equal(handler.infos[0]?.upgrade, true);
    const rest = Buffer.concat(protocol.takeRemainder()).toString('latin1');
    assert.equal(rest, '\x81\x05hello');
    assert.equal(protocol.state, S_UPGRADED);
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    assert.equal(handler.requests.length, 1, 'nothing is parsed after the hand-over');
    assert.equal(sink.text, '');
  });

  it('detach() from onRequest stops parsing right after the head', () => {
    class Detacher extends RecordingHandler {
      override onRequest(head: RequestHead, info: RequestInfo): void {
        super.onRequest(head, info);
        if (info.upgrade) this.protocol?.detach();
      }
    }
    const handler = new Detacher();
    const { protocol, sink } = createProtocol({ handler });
    protocol.receive(b(`${upgrade}${req('GET /not-http HTTP/1.1', 'Host: a')}`));
    assert.deepEqual(targets(handler), ['/chat']);
    assert.equal(Buffer.concat(protocol.takeRemainder()).toString('latin1'), req('GET /not-http HTTP/1.1', 'Host: a'));
    assert.equal(sink.text, '');
  });

  it('pipelined: two requests answered, then the upgrade; takeRemainder starts right after its head', () => {
    class AnswerThenDetach extends AutoResponder {
      override onRequest(head: RequestHead, info: RequestInfo): void {
        super.onRequest(head, info);
        if (info.upgrade) this.protocol?.detach();
      }
    }
    const handler = new AnswerThenDetach('sync');
    const { protocol, sink } = createProtocol({ handler });
    const frames = '\x81\x05hello';
    protocol.receive(b(`${req('GET /1 HTTP/1.1', 'Host: a')}${req('GET /2 HTTP/1.1', 'Host: a')}${upgrade}${frames}`));
    assert.deepEqual(targets(handler), ['/1', '/2', '/chat']);
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['GET /1', 'GET /2'],
    );
    assert.equal(Buffer.concat(protocol.takeRemainder()).toString('latin1'), frames);
    assert.equal(protocol.pendingBytes, 0);
  });

  const notUpgrade: [string, string][] = [
    ['Upgrade without the Connection option', req('GET / HTTP/1.1', 'Host: a', 'Upgrade: websocket')],
    ['Connection: upgrade without Upgrade', req('GET / HTTP/1.1', 'Host: a', 'Connection: upgrade')],
    ['HTTP/1.0 (MUST ignore Upgrade)', req('GET / HTTP/1.0', 'Connection: upgrade', 'Upgrade: websocket')],
  ];
  for (const [name, request] of notUpgrade) {
    it(`no upgrade: ${name}`, () => {
      const res = feedWhole(request);
      assert.equal(res.handler.infos[0]?.upgrade, false);
      assert.equal(parseResponses(res.sink.text)[0]?.status, 200);
    });
  }
});

describe('RFC 9112 §6 / RFC 9110 §6.4: response framing', () => {
  it('a 2xx answer to CONNECT has no Content-Length or Transfer-Encoding and ends the connection (RFC 9110 §9.3.6)', () => {
    for (const [body, streamed] of [
      ['tunnel bytes', false],
      ['', false],
      ['streamed', true],
    ] as const) {
      const { protocol, sink, handler } = manual();
      // Bytes after the head belong to the tunnel (RFC 9112 §6.3 rule 2): never parsed as a request.
      protocol.receive(
        b(`${req('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443')}GET /inner HTTP/1.1\r\nHost: a\r\n\r\n`),
      );
      if (streamed) {
        protocol.writeHead(200, [], -1);
        protocol.writeBody(b(body));
        protocol.endResponse(null);
      } else {
        protocol.respond(200, [], b(body));
      }
      assert.equal(sink.text, `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nConnection: close\r\n\r\n${body}`);
      assert.equal(sink.ended, true);
      assert.deepEqual(targets(handler), ['a.example:443']);
      assert.equal(protocol.state, S_CLOSING);
    }
  });

  it('a handler cannot put Content-Length on a 2xx answer to CONNECT; a 4xx answer is framed as usual', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443')));
    assert.throws(() => protocol.respond(200, ['Content-Length', '2'], b('hi')), RangeError);
    assert.equal(sink.text, '');
    protocol.respond(405, [], b('no'));
    assert.equal(sink.text, `HTTP/1.1 405 Method Not Allowed\r\nDate: ${FIXED_DATE}\r\nContent-Length: 2\r\n\r\nno`);
    assert.equal(sink.ended, false);
  });

  it('respond() adds Content-Length and Date; fields keep their order and case', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    protocol.respond(200, ['Content-Type', 'text/plain', 'x-b', '1', 'X-B', '2'], b('hello'));
    assert.equal(
      sink.text,
      `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nx-b: 1\r\nX-B: 2\r\nDate: ${FIXED_DATE}\r\nContent-Length: 5\r\n\r\nhello`,
    );
    assert.equal(sink.ended, false);
  });

  it('a Date field from the handler replaces the automatic one (RFC 9110 §6.6.1)', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    protocol.respond(404, ['date', 'Sun, 06 Nov 1994 08:49:37 GMT'], null);
    assert.equal(
      sink.text,
      'HTTP/1.1 404 Not Found\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n',
    );
  });

  it('a Content-Length from the handler is used, and must agree with the body', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    assert.throws(() => protocol.respond(200, ['Content-Length', '4'], b('hello')), RangeError);
    assert.equal(sink.text, '');
    protocol.respond(200, ['Content-Length', '5'], b('hello'));
    assert.equal(sink.text, `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: ${FIXED_DATE}\r\n\r\nhello`);
  });

  it('a streamed HTTP/1.1 response is chunked; empty writes send nothing; trailers after the last chunk', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    protocol.writeHead(200, [], -1);
    protocol.writeBody(b('hello'));
    protocol.writeBody(b(''));
    protocol.writeBody(b('x'.repeat(26)));
    protocol.endResponse(['X-Checksum', 'abc']);
    assert.equal(
      sink.text,
      `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a\r\n${'x'.repeat(26)}\r\n0\r\nX-Checksum: abc\r\n\r\n`,
    );
    assert.equal(sink.ended, false);
  });

  it('a streamed HTTP/1.0 response is close-delimited with "Connection: close"', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.0', 'Connection: keep-alive')));
    protocol.writeHead(200, [], -1);
    protocol.writeBody(b('hello'));
    assert.equal(sink.ended, false);
    protocol.endResponse(null);
    assert.equal(sink.text, `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nConnection: close\r\n\r\nhello`);
    assert.equal(sink.ended, true);
  });

  it('HTTP/1.0 keep-alive with a known length says "Connection: keep-alive"', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.0', 'Connection: keep-alive')));
    protocol.respond(200, [], b('ok'));
    assert.equal(
      sink.text,
      `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok`,
    );
  });

  it('HEAD: Content-Length of the would-be body, no body bytes (RFC 9110 §9.3.2)', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('HEAD / HTTP/1.1', 'Host: a') + req('GET /next HTTP/1.1', 'Host: a')));
    protocol.respond(200, [], b('hello'));
    assert.equal(sink.text, `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\nContent-Length: 5\r\n\r\n`);
    assert.equal(sink.ended, false);
  });

  it('HEAD: a streamed response has neither chunked framing nor body, and the connection persists', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(req('HEAD / HTTP/1.1', 'Host: a') + req('GET /next HTTP/1.1', 'Host: a')));
    protocol.writeHead(200, [], -1);
    protocol.writeBody(b('dropped'));
    protocol.endResponse(null);
    assert.equal(sink.text, `HTTP/1.1 200 OK\r\nDate: ${FIXED_DATE}\r\n\r\n`);
    assert.equal(sink.ended, false);
    assert.deepEqual(targets(handler), ['/', '/next']);
  });

  for (const status of [204, 304]) {
    it(`${status}: no Content-Length, no Transfer-Encoding, no body`, () => {
      const { protocol, handler, sink } = manual();
      protocol.receive(b(req('GET / HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a')));
      protocol.respond(status, [], b('dropped'));
      assert.equal(sink.text, `${statusLine(status)}Date: ${FIXED_DATE}\r\n\r\n`);
      assert.deepEqual(targets(handler), ['/', '/2']);
      sink.chunks.length = 0;
      protocol.writeHead(status, [], -1);
      protocol.writeBody(b('dropped'));
      protocol.endResponse(null);
      assert.equal(sink.text, `${statusLine(status)}Date: ${FIXED_DATE}\r\n\r\n`);
    });
  }

  it('status lines carry the reason phrase (RFC 9112 §4); unknown codes still form a valid line', () => {
    assert.equal(statusLine(200), 'HTTP/1.1 200 OK\r\n');
    assert.equal(statusLine(413), 'HTTP/1.1 413 Content Too Large\r\n');
    assert.equal(statusLine(431), 'HTTP/1.1 431 Request Header Fields Too Large\r\n');
    assert.equal(statusLine(599), 'HTTP/1.1 599 Unknown\r\n');
  });
});

describe('RFC 9110 §5.5 / §5.1: field validation before anything is written', () => {
  const badValues = ['a\r\nSet-Cookie: evil=1', 'a\nb', 'a\rb', 'a\x00b', 'a\x7f', '\u2028', 'caf\u00e9\u0100'];
  for (const v of badValues) {
    it(`writeHead refuses value ${JSON.stringify(v)} and writes nothing`, () => {
      const { protocol, sink } = manual();
      protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
      assert.throws(
        () => protocol.writeHead(200, ['X-Ok', 'fine', 'X-Evil', v], 0),
        (err: unknown) => err instanceof SockeyeError && err.code === 'ERR_HTTP_INVALID_HEADER_VALUE',
      );
      assert.equal(sink.text, '');
      assert.equal(protocol.responseStarted, false);
      protocol.respond(200, [], null);
      assert.equal(parseResponses(sink.text)[0]?.status, 200, 'a valid response can still be written');
    });
  }
  const badNames = ['Bad Name', 'X:Y', '', 'X\r\nY', 'X\n', 'Caf\u00e9', '(x)'];
  for (const n of badNames) {
    it(`writeHead refuses name ${JSON.stringify(n)} and writes nothing`, () => {
      const { protocol, sink } = manual();
      protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
      assert.throws(
        () => protocol.respond(200, [n, 'v'], b('x')),
        (err: unknown) => err instanceof SockeyeError && err.code === 'ERR_HTTP_INVALID_HEADER_NAME',
      );
      assert.equal(sink.text, '');
    });
  }
  it('obs-text and HTAB in values are allowed', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    protocol.respond(200, ['X', 'caf\u00e9\tok'], null);
    assert.ok(sink.text.includes('X: caf\u00e9\tok\r\n'));
  });
  it('trailer fields are validated before the last chunk is written', () => {
    const { protocol, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    protocol.writeHead(200, [], -1);
    const head = sink.text;
    assert.throws(() => protocol.endResponse(['X', 'a\r\nb']), SockeyeError);
    assert.equal(sink.text, head);
  });
});

describe('misuse: response state errors', () => {
  it('writeHead twice, writeBody before the head, endResponse twice, invalid status', () => {
    const { protocol } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    assert.throws(() => protocol.writeBody(b('x')), InvalidStateError);
    assert.throws(() => protocol.endResponse(null), InvalidStateError);
    for (const s of [99, 100, 101, 199, 1000, 200.5, Number.NaN])
      assert.throws(() => protocol.writeHead(s, [], 0), RangeError);
    protocol.writeHead(200, [], 1);
    assert.throws(
      () => protocol.writeHead(200, [], 1),
      (e: unknown) => e instanceof InvalidStateError && e.code === 'ERR_HTTP_HEADERS_SENT',
    );
    assert.throws(() => protocol.writeBody(b('xy')), RangeError, 'longer than Content-Length');
    protocol.writeBody(b('x'));
    protocol.endResponse(null);
    assert.throws(() => protocol.endResponse(null), InvalidStateError);
    assert.throws(() => protocol.writeBody(b('x')), InvalidStateError);
  });
});

describe('RFC 9112 §8 / §9.6: end of input', () => {
  it('EOF in the middle of a head: 400 written, connection ends', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b('GET / HTTP/1.1\r\nHost: a\r\n'));
    protocol.receiveEof();
    assert.deepEqual(handler.events, [{ type: 'error', status: 400, code: 'ERR_HTTP_INCOMPLETE_MESSAGE' }]);
    assert.equal(parseResponses(sink.text)[0]?.status, 400);
    assert.equal(sink.ended, true);
  });

  it('EOF while idle writes nothing', () => {
    const { protocol, handler, sink } = manual();
    protocol.receiveEof();
    assert.deepEqual(handler.events, []);
    assert.equal(sink.text, '');
  });

  it('EOF after a complete request: the response is still written', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: a')));
    protocol.receiveEof();
    assert.deepEqual(
      handler.events.map((e) => e.type),
      ['request', 'end'],
    );
    protocol.respond(200, [], b('ok'));
    assert.equal(parseResponses(sink.text)[0]?.body, 'ok');
  });

  it('EOF in the middle of a body after the response started: no second response, connection ends', () => {
    const { protocol, handler, sink } = manual();
    protocol.receive(b(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 10')}abc`));
    protocol.writeHead(200, [], -1);
    const head = sink.text;
    protocol.receiveEof();
    assert.deepEqual(handler.events[handler.events.length - 1], {
      type: 'error',
      status: 400,
      code: 'ERR_HTTP_INCOMPLETE_MESSAGE',
    });
    assert.equal(sink.text, head, 'a response under way is not replaced');
    assert.equal(sink.ended, true);
  });
});

describe('the analysis of a head is reused only for the same fields, method, target and version', () => {
  it('GET, GET, HEAD, POST with a body, GET over HTTP/1.0: each gets its own framing and persistence', () => {
    const input =
      req('GET / HTTP/1.1', 'Host: a', 'Content-Length: 0') +
      req('GET / HTTP/1.1', 'Host: a', 'Content-Length: 0') +
      req('HEAD / HTTP/1.1', 'Host: a', 'Content-Length: 0') +
      req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 2') +
      'hi' +
      req('GET / HTTP/1.0', 'Host: a', 'Content-Length: 0');
    const res = feedWhole(input);
    assert.deepEqual(
      res.handler.infos.map((i) => [i.isHead, i.contentLength, i.keepAlive, i.versionMinor]),
      [
        [false, 0, true, 1],
        [false, 0, true, 1],
        [true, 0, true, 1],
        [false, 2, true, 1],
        [false, 0, false, 0],
      ],
    );
    // The automatic body is "<method> <target>": none for HEAD (RFC 9110 §9.3.2), the others all there.
    assert.equal(res.sink.text.split('\r\n\r\nGET /').length, 4);
    assert.equal(res.sink.text.includes('HEAD /'), false, 'no body for HEAD');
    assert.equal(res.sink.text.includes('\r\n\r\nPOST /'), true);
    assert.equal(res.sink.ended, true, 'HTTP/1.0 without keep-alive closes');
  });

  it('a later request with the same fields is still refused when its target is not (userinfo in absolute-form)', () => {
    const res = feedWhole(req('GET / HTTP/1.1', 'Host: a') + req('GET http://u@b/ HTTP/1.1', 'Host: a'));
    const responses = parseResponses(res.sink.text);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 400],
    );
  });

  it("the remembered analysis does not carry one target's host to the next (RFC 9112 §3.2.2)", () => {
    const res = feedWhole(
      req('GET / HTTP/1.1', 'Host: a') +
        req('GET / HTTP/1.1', 'Host: a') +
        req('GET http://b/ HTTP/1.1', 'Host: a') +
        req('GET http://c:8080/ HTTP/1.1', 'Host: a') +
        req('GET / HTTP/1.1', 'Host: a'),
    );
    assert.deepEqual(
      res.handler.infos.map((i) => i.host),
      ['a', 'a', 'b', 'c:8080', 'a'],
    );
  });
});

describe('RFC 9110 §9.1: bytes that cannot begin a request are answered at once', () => {
  it('a TLS ClientHello on the cleartext port: 400 and end() on its first byte, behind a good request too', () => {
    const hello = '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03';
    for (const input of [hello, req('GET / HTTP/1.1', 'Host: a') + hello]) {
      const res = feedEverySplit(input);
      const responses = parseResponses(res.sink.text);
      assert.equal(responses[responses.length - 1]?.status, 400);
      assert.equal(field(responses[responses.length - 1] as (typeof responses)[number], 'connection'), 'close');
      assert.equal(res.sink.ended, true);
      assert.equal(res.handler.errors[0]?.code, 'ERR_HTTP_INVALID_METHOD');
    }
    // One byte is enough.
    const first = feedWhole('\x16');
    assert.equal(parseResponses(first.sink.text)[0]?.status, 400);
    assert.equal(first.sink.ended, true);
  });
});

describe('RFC 9110 §2.5: HTTP/1.2 to 1.9 are processed as HTTP/1.1', () => {
  const cases: [string, string][] = [
    ['HTTP/1.2', req('GET / HTTP/1.2', 'Host: a')],
    ['HTTP/1.9', req('GET / HTTP/1.9', 'Host: a')],
  ];
  for (const [name, request] of cases) {
    it(`${name}: 1.1 persistence (keep-alive without Connection), chunked allowed, answered as HTTP/1.1`, () => {
      const chunkedPost = req('POST /p HTTP/1.2', 'Host: a', 'Transfer-Encoding: chunked');
      const res = feedEverySplit(`${request}${chunkedPost}3\r\nabc\r\n0\r\n\r\n`);
      assert.deepEqual(
        res.handler.infos.map((i) => [i.versionMinor, i.keepAlive, i.chunked]),
        [
          [1, true, false],
          [1, true, true],
        ],
      );
      assert.deepEqual(
        res.handler.requests.map((r) => r.version),
        ['1.1', '1.1'],
      );
      const responses = parseResponses(res.sink.text);
      assert.deepEqual(
        responses.map((r) => r.statusLine),
        ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'],
      );
      assert.equal(res.sink.ended, false, 'the connection stays open');
    });
  }
  it('HTTP/1.2 without Host is refused as HTTP/1.1 would be (RFC 9112 §3.2)', () => {
    const res = feedWhole(req('GET / HTTP/1.2'));
    assert.equal(parseResponses(res.sink.text)[0]?.status, 400);
    assert.equal(res.handler.errors[0]?.code, 'ERR_HTTP_MISSING_HOST');
  });
});

describe('RFC 9110 §9.1 / §15.6.2: methods are case-sensitive; allowedMethods answers others 501', () => {
  const allowed = new Set(['GET', 'HEAD', 'POST']);
  // [request, status without allowedMethods, status with them]
  const cases: [string, string, number, number][] = [
    ['GET', req('GET / HTTP/1.1', 'Host: a'), 200, 200],
    ['HEAD', req('HEAD / HTTP/1.1', 'Host: a'), 200, 200],
    ['POST with a body', `${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 2')}hi`, 200, 200],
    ['lower-case get (an unknown method, not GET)', req('get / HTTP/1.1', 'Host: a'), 200, 501],
    ['Get', req('Get / HTTP/1.1', 'Host: a'), 200, 501],
    ['an extension method', req('PURGE /x HTTP/1.1', 'Host: a'), 200, 501],
    ['DELETE (standard, not listed)', req('DELETE /x HTTP/1.1', 'Host: a'), 200, 501],
    ['an unknown method with a body', `${req('BREW /pot HTTP/1.1', 'Host: a', 'Content-Length: 3')}tea`, 200, 501],
    ['an unknown method without Host: the 400 comes first', req('PURGE / HTTP/1.1'), 400, 400],
  ];
  for (const [name, request, plain, restricted] of cases) {
    it(`${name}: ${plain} by default, ${restricted} with allowedMethods`, () => {
      const bodyless = request.startsWith('HEAD') ? [0] : [];
      const open = feedEverySplit(request);
      assert.equal(parseResponses(open.sink.text, bodyless)[0]?.status, plain);
      if (plain === 200) assert.equal(open.handler.requests[0]?.method, request.slice(0, request.indexOf(' ')));
      const res = feedEverySplit(request, { options: { allowedMethods: allowed } });
      const responses = parseResponses(res.sink.text, bodyless);
      assert.equal(responses.length, 1);
      assert.equal(responses[0]?.status, restricted);
      if (restricted === 501) {
        assert.equal(res.handler.requests.length, 0, 'the handler never sees it');
        assert.equal(res.handler.errors[0]?.code, 'ERR_HTTP_METHOD_NOT_IMPLEMENTED');
        assert.equal(field(responses[0] as (typeof responses)[number], 'connection'), 'close');
        assert.equal(res.sink.ended, true);
      }
    });
  }
  it('an allowed request then a refused one on the same connection: 200 then 501, in order', () => {
    const res = feedWhole(req('GET /1 HTTP/1.1', 'Host: a') + req('get /2 HTTP/1.1', 'Host: a'), {
      options: { allowedMethods: allowed },
    });
    assert.deepEqual(
      parseResponses(res.sink.text).map((r) => r.status),
      [200, 501],
    );
  });
});

describe('memos: owned by the server (Http1ServerCache), not by the module', () => {
  /** Keeps the Buffers the protocol writes as they are (ArraySink copies them). */
  class RawSink extends ArraySink {
    readonly raw: Buffer[] = [];
    override write(chunk: Buffer): void {
      this.raw.push(chunk);
      super.write(chunk);
    }
  }
  /** A connection that has received one request and answered it with a validated 200. */
  function answered(cache: Http1ServerCache | undefined, host = 'example.com'): { sink: RawSink; head: Buffer } {
    const handler = new RecordingHandler();
    const sink = new RawSink();
    const protocol = new Http1ServerProtocol(makeOptions(cache === undefined ? {} : { cache }), handler, sink);
    handler.protocol = protocol;
    protocol.receive(b(req('GET / HTTP/1.1', `Host: ${host}`)));
    assert.equal(handler.requests.length, 1);
    protocol.respond(200, ['Content-Type', 'text/plain'], b('hi'), true);
    const head = sink.raw[0] as Buffer;
    assert.ok(head.toString('latin1').startsWith('HTTP/1.1 200 OK\r\n'));
    return { sink, head };
  }

  it("reuses one connection's head bytes on another connection of the same server", () => {
    const cache = new Http1ServerCache();
    const a = answered(cache);
    const b2 = answered(cache);
    assert.equal(b2.head, a.head, 'the second connection wrote the memo of the first');
    assert.equal(b2.sink.text, a.sink.text);
  });
  it('keeps no memo between protocols that share no cache (no module state)', () => {
    const a = answered(undefined);
    const b2 = answered(undefined);
    assert.notEqual(b2.head, a.head);
    assert.ok(b2.head.equals(a.head));
    const other = answered(new Http1ServerCache());
    assert.notEqual(other.head, a.head);
  });
  it('remembers the last valid Host in the cache it is given, and only there', () => {
    const cache = new Http1ServerCache();
    answered(cache, 'a.example:8080');
    assert.equal(cache.validHost, 'a.example:8080');
    answered(new Http1ServerCache(), 'b.example');
    answered(undefined, 'c.example');
    assert.equal(cache.validHost, 'a.example:8080');
  });
  it('a Host value the cache holds is taken as valid without checking it again', () => {
    // Shows the memo is read from the cache: a value planted there skips isValidHost (which would refuse it).
    const cache = new Http1ServerCache();
    cache.validHost = 'bad host';
    answered(cache, 'bad host');
    const { protocol, handler } = createProtocol({ handler: 'record' });
    protocol.receive(b(req('GET / HTTP/1.1', 'Host: bad host')));
    assert.equal(handler.requests.length, 0);
    assert.equal(handler.errors[0]?.code, 'ERR_HTTP_INVALID_HOST');
  });
});
