/**
 * RequestParser (src/http1/parser.ts) and HeaderList (src/http1/headers.ts), straight from RFC 9112: the
 * request-line (methods, the four request-target forms, HTTP-version), field lines (token names, OWS,
 * obs-fold, forbidden octets), size limits (414 / 431) exactly at and one past each limit, chunked decoding
 * (chunk-size, chunk-ext, trailer section, CRLFs, overflow, body limit) and Content-Length bodies.
 * Most inputs are fed in one chunk, byte by byte and split in two at every offset, and must give the same
 * events each way. Framing is decided by the test handler (the smuggling rules are in smuggling.test.ts).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { HeaderList, splitList } from '../../../src/http1/headers.js';
import { BODY_CHUNKED, BODY_NONE, BODY_REJECT, RequestParser } from '../../../src/http1/parser.js';
import {
  type Http1Event,
  parseChunks,
  parseEverySplit,
  RecordingParserHandler,
  req,
  splitAt,
  toBuffer,
} from '../../helpers/http1.js';

type RequestEvent = Extract<Http1Event, { type: 'request' }>;

/** The single request of `events`, asserting it parsed cleanly as one message without body. */
function onlyRequest(events: Http1Event[]): RequestEvent {
  assert.deepEqual(
    events.map((e) => e.type),
    ['request', 'end'],
    JSON.stringify(events),
  );
  return events[0] as RequestEvent;
}

function error(status: number, code: string): Http1Event {
  return { type: 'error', status, code };
}

/** Asserts that `input` fails (in every split) with exactly this error and nothing else. */
function assertFails(
  input: string,
  status: number,
  code: string,
  opts: Parameters<typeof parseEverySplit>[1] = {},
): void {
  assert.deepEqual(parseEverySplit(input, opts), [error(status, code)]);
}

describe('RFC 9112 §3: request-line = method SP request-target SP HTTP-version', () => {
  describe('RFC 9110 §9.1: method is a case-sensitive token', () => {
    const methods = [
      'GET',
      'HEAD',
      'POST',
      'PUT',
      'DELETE',
      'CONNECT',
      'OPTIONS',
      'TRACE',
      'PATCH',
      'M-SEARCH',
      'get',
      "X!#$%&'*+-.^_`|~9",
    ];
    for (const m of methods) {
      it(`accepts ${JSON.stringify(m)}`, () => {
        const target = m === 'CONNECT' ? 'a.example:443' : '/';
        const r = onlyRequest(parseEverySplit(req(`${m} ${target} HTTP/1.1`, 'Host: a.example')));
        assert.equal(r.method, m);
        assert.equal(r.target, target);
        assert.equal(r.version, '1.1');
      });
    }
    for (const m of ['GE(T', 'GE"T', 'G\x00T', 'G\xe9T', 'GET/', 'GE,T', '']) {
      it(`rejects method ${JSON.stringify(m)} with 400`, () => {
        assertFails(req(`${m} / HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_METHOD');
      });
    }
  });

  describe('RFC 9112 §3.2: the four request-target forms are kept exactly as received', () => {
    const forms: [string, string, string][] = [
      ['origin-form', 'GET', '/a/b%20c;p?q=1&r=%2F'],
      ['origin-form "/"', 'GET', '/'],
      ['absolute-form', 'GET', 'http://a.example:8080/p?q'],
      ['authority-form (CONNECT)', 'CONNECT', 'a.example:443'],
      ['asterisk-form (OPTIONS)', 'OPTIONS', '*'],
    ];
    for (const [name, method, target] of forms) {
      it(name, () => {
        const r = onlyRequest(parseEverySplit(req(`${method} ${target} HTTP/1.1`, 'Host: a.example:8080')));
        assert.equal(r.method, method);
        assert.equal(r.target, target);
      });
    }
    for (const [name, target] of [
      ['a control character', '/a\x01b'],
      ['DEL', '/a\x7fb'],
      ['NUL', '/\x00'],
      ['obs-text', '/caf\xe9'],
    ]) {
      it(`rejects a target with ${name} (400)`, () => {
        assertFails(req(`GET ${target} HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET');
      });
    }
  });

  describe('RFC 9112 §3.2: request-target octets outside RFC 3986, by `targetChars`', () => {
    const strict = { limits: { targetChars: 'rfc3986' as const } };
    const any = { limits: { targetChars: 'any' as const } };
    const lenient = any;
    // Every octet RFC 3986 allows, in each place it can stand: accepted at every level.
    for (const target of [
      "/azAZ09-._~:@!$&'()*+,;=/?/?[]%20",
      "/p?q=azAZ09-._~:@!$&'()*+,;=/?",
      'http://[::1]:80/a?b',
      'http://user-less.example/a(b)',
    ]) {
      it(`accepts ${JSON.stringify(target)} at every level`, () => {
        assert.equal(onlyRequest(parseEverySplit(req(`GET ${target} HTTP/1.1`, 'Host: a'))).target, target);
        assert.equal(onlyRequest(parseEverySplit(req(`GET ${target} HTTP/1.1`, 'Host: a'), strict)).target, target);
        assert.equal(onlyRequest(parseEverySplit(req(`GET ${target} HTTP/1.1`, 'Host: a'), any)).target, target);
      });
    }
    // What browsers send unencoded (WHATWG URL): accepted by default ('browser') and with 'any', 400 with 'rfc3986'.
    for (const c of ['\\', '^', '`', '{', '|', '}']) {
      for (const target of [`/a${c}b`, `/p?q=${c}`, `http://a.example/${c}`]) {
        it(`${JSON.stringify(target)}: accepted by default and with 'any', 400 with 'rfc3986'`, () => {
          assert.equal(onlyRequest(parseEverySplit(req(`GET ${target} HTTP/1.1`, 'Host: a'))).target, target);
          assert.equal(onlyRequest(parseEverySplit(req(`GET ${target} HTTP/1.1`, 'Host: a'), any)).target, target);
          assertFails(req(`GET ${target} HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET', strict);
        });
      }
    }
    // What a browser always percent-encodes: 400 by default and with 'rfc3986', accepted with 'any' only.
    for (const c of ['"', '<', '>']) {
      for (const target of [`/a${c}b`, `/p?q=${c}`, `http://a.example/${c}`]) {
        it(`${JSON.stringify(target)}: 400 by default and with 'rfc3986', accepted with 'any'`, () => {
          assertFails(req(`GET ${target} HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET');
          assertFails(req(`GET ${target} HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET', strict);
          assert.equal(onlyRequest(parseEverySplit(req(`GET ${target} HTTP/1.1`, 'Host: a'), any)).target, target);
        });
      }
    }
    // Never accepted: no form carries a fragment, and a target is ASCII (obs-text, CTLs, SP, DEL are not VCHARs).
    for (const target of ['/a#b', '/caf\xe9', '/\x80', '/a\x7f', '/a\x1b', '/%zz']) {
      it(`${JSON.stringify(target)}: 400 either way`, () => {
        assertFails(req(`GET ${target} HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET');
        assertFails(req(`GET ${target} HTTP/1.1`, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET', lenient);
      });
    }
  });

  describe('RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT', () => {
    it('HTTP/1.0 and HTTP/1.1', () => {
      assert.equal(onlyRequest(parseEverySplit(req('GET / HTTP/1.0'))).version, '1.0');
      assert.equal(onlyRequest(parseEverySplit(req('GET / HTTP/1.1', 'Host: a'))).version, '1.1');
    });
    for (const v of ['HTTP/1.2', 'HTTP/1.5', 'HTTP/1.9']) {
      it(`${v}: a higher minor version is processed as HTTP/1.1 (RFC 9110 §2.5)`, () => {
        assert.equal(onlyRequest(parseEverySplit(req(`GET / ${v}`, 'Host: a'))).version, '1.1');
      });
    }
    for (const v of ['HTTP/2.0', 'HTTP/0.9', 'HTTP/3.0', 'HTTP/9.9', 'HTTP/2.1', 'HTTP/0.1']) {
      it(`well-formed but unsupported ${v} -> 505 (RFC 9110 §15.6.6)`, () => {
        assertFails(req(`GET / ${v}`, 'Host: a'), 505, 'ERR_HTTP_VERSION_NOT_SUPPORTED');
      });
    }
    for (const v of [
      'HTTP/1',
      'HTTP/1.1.1',
      'http/1.1',
      'HTTP/11',
      'HTTP/1.x',
      'HTTPS/1.1',
      'HTTP/1.1 ',
      'HTTP/1,1',
      'HTTP /1.1',
      'HTTP/ 1.1',
    ]) {
      it(`malformed version ${JSON.stringify(v)} -> 400 (HTTP-name is case-sensitive)`, () => {
        assertFails(req(`GET / ${v}`, 'Host: a'), 400, 'ERR_HTTP_INVALID_VERSION');
      });
    }
    it('a request-line without a version (HTTP/0.9 style) -> 400', () => {
      assertFails(req('GET /', 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET');
    });
  });

  describe('RFC 9112 §3: exactly one SP between the three parts', () => {
    const cases: [string, string, string][] = [
      ['double SP after the method', 'GET  / HTTP/1.1', 'ERR_HTTP_INVALID_TARGET'],
      ['double SP before the version', 'GET /  HTTP/1.1', 'ERR_HTTP_INVALID_VERSION'],
      ['leading SP', ' GET / HTTP/1.1', 'ERR_HTTP_INVALID_METHOD'],
      ['HTAB after the method', 'GET\t/ HTTP/1.1', 'ERR_HTTP_INVALID_METHOD'],
      ['HTAB before the version', 'GET /\tHTTP/1.1', 'ERR_HTTP_INVALID_TARGET'],
      ['SP inside the target', 'GET /a b HTTP/1.1', 'ERR_HTTP_INVALID_VERSION'],
      ['trailing SP', 'GET / HTTP/1.1 ', 'ERR_HTTP_INVALID_VERSION'],
      ['only a method', 'GET', 'ERR_HTTP_INVALID_METHOD'],
    ];
    for (const [name, line, code] of cases) {
      it(`${name} -> 400`, () => {
        assertFails(req(line, 'Host: a'), 400, code);
      });
    }
  });

  describe('RFC 9112 §2.2: line endings are CRLF; bare CR and bare LF are refused', () => {
    const cases: [string, string, string][] = [
      ['bare LF after the request-line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'ERR_HTTP_BARE_LF'],
      ['bare LF after a field line', 'GET / HTTP/1.1\r\nHost: a\n\r\n', 'ERR_HTTP_BARE_LF'],
      ['bare LF as the empty line', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'ERR_HTTP_BARE_LF'],
      ['LF LF', 'GET / HTTP/1.1\n\n', 'ERR_HTTP_BARE_LF'],
      ['bare CR ending the request-line', 'GET / HTTP/1.1\rHost: a\r\n\r\n', 'ERR_HTTP_BARE_CR'],
      ['bare CR inside a field value', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n', 'ERR_HTTP_BARE_CR'],
      ['bare CR inside the target', 'GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP_INVALID_TARGET'],
      ['a leading bare LF', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'ERR_HTTP_BARE_LF'],
    ];
    for (const [name, input, code] of cases) {
      it(`${name} -> 400`, () => {
        assertFails(input, 400, code);
      });
    }

    it('empty lines before the request-line are ignored (up to 8)', () => {
      for (const n of [1, 2, 8]) {
        const r = onlyRequest(parseEverySplit(`${'\r\n'.repeat(n)}${req('GET /x HTTP/1.1', 'Host: a')}`));
        assert.equal(r.target, '/x');
      }
    });

    it('more than 8 empty lines before the request-line -> 400', () => {
      assertFails(`${'\r\n'.repeat(9)}${req('GET / HTTP/1.1', 'Host: a')}`, 400, 'ERR_HTTP_INVALID_REQUEST_LINE');
      // A stream of CRLFs alone is refused without waiting for a request-line.
      assert.deepEqual(parseChunks([toBuffer('\r\n'.repeat(40))]), [error(400, 'ERR_HTTP_INVALID_REQUEST_LINE')]);
    });

    it('an empty line between two pipelined requests is ignored', () => {
      const events = parseEverySplit(`${req('GET /1 HTTP/1.1', 'Host: a')}\r\n${req('GET /2 HTTP/1.1', 'Host: a')}`);
      assert.deepEqual(
        events.map((e) => (e.type === 'request' ? e.target : e.type)),
        ['/1', 'end', '/2', 'end'],
      );
    });
  });
});

describe('RFC 9112 §3 / RFC 9110 §9.1: a request-line is refused at its first impossible byte, before its CRLF', () => {
  // Each input stops short of any CRLF: a verdict now means the parser did not wait for the line to end (nor for
  // the header timeout). An empty list means "no verdict yet": those bytes can still begin a valid request.
  const TLS_CLIENT_HELLO = '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03';
  const cases: [string, string, Http1Event[]][] = [
    ['a TLS ClientHello (0x16 is no tchar)', TLS_CLIENT_HELLO, [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['a NUL as the first byte', '\x00GET', [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.6', []],
    ['a non-tchar inside the method', 'GE(T', [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['obs-text inside the method', 'G\xc9', [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['a leading SP', ' GET', [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['a method ended by CR', 'GET\r', [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['a method ended by LF', 'GET\n', [error(400, 'ERR_HTTP_INVALID_METHOD')]],
    ['two SPs after the method', 'GET  ', [error(400, 'ERR_HTTP_INVALID_TARGET')]],
    ['a CTL in the target', 'GET /a\x01', [error(400, 'ERR_HTTP_INVALID_TARGET')]],
    ['obs-text in the target', 'GET /caf\xe9', [error(400, 'ERR_HTTP_INVALID_TARGET')]],
    ['a fragment in the target', 'GET /a#', [error(400, 'ERR_HTTP_INVALID_TARGET')]],
    ['a "%" without HEXDIGs', 'GET /%zz', [error(400, 'ERR_HTTP_INVALID_TARGET')]],
    ['a "%" with one HEXDIG so far', 'GET /%4', []],
    ['a target ended by CR', 'GET /\r', [error(400, 'ERR_HTTP_INVALID_TARGET')]],
    ['a version not starting with HTTP/', 'GET / HTTQ', [error(400, 'ERR_HTTP_INVALID_VERSION')]],
    ['a lower-case HTTP-name', 'GET / http', [error(400, 'ERR_HTTP_INVALID_VERSION')]],
    ['a version with a letter for a digit', 'GET / HTTP/x', [error(400, 'ERR_HTTP_INVALID_VERSION')]],
    ['a version with two digits', 'GET / HTTP/1.11', [error(400, 'ERR_HTTP_INVALID_VERSION')]],
    ['a version followed by SP', 'GET / HTTP/1.1 ', [error(400, 'ERR_HTTP_INVALID_VERSION')]],
    ['a version cut short by CR', 'GET / HTTP/1\r', [error(400, 'ERR_HTTP_INVALID_VERSION')]],
    ['a valid line so far', 'GET /a?b=%20 HTTP/1.1\r', []],
    ['HTTP/2.0 (505 waits for the whole head)', 'PRI * HTTP/2.0\r', []],
    ['an empty line and half of another', '\r\n\r', []],
    ['a method alone', 'M-SEARCH', []],
  ];
  for (const [name, input, expected] of cases) {
    it(`${name} -> ${expected.length === 0 ? 'no verdict yet' : 'refused now'}`, () => {
      assert.deepEqual(parseEverySplit(input), expected);
    });
  }

  it('an impossible byte inside the line limit wins over 414, as it does when the line comes in pieces', () => {
    const limits = { maxRequestLineBytes: 16 };
    const longLine = `GET /aa\x01${'a'.repeat(40)} HTTP/1.1`;
    assertFails(req(longLine, 'Host: a'), 400, 'ERR_HTTP_INVALID_TARGET', { limits });
    assert.deepEqual(parseEverySplit(longLine, { limits }), [error(400, 'ERR_HTTP_INVALID_TARGET')]);
    // Past the limit nothing is judged: 414, complete or not.
    const pastLimit = `GET /${'a'.repeat(20)}\x01 HTTP/1.1`;
    assertFails(req(pastLimit, 'Host: a'), 414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG', { limits });
    assert.deepEqual(parseEverySplit(pastLimit, { limits }), [error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG')]);
  });

  it('the request-line verdict comes before a bare LF later in the head', () => {
    assertFails('GET /a\x7f HTTP/1.1\nHost: a\n\n', 400, 'ERR_HTTP_INVALID_TARGET');
    assertFails('\x16\x03\x01\n\n', 400, 'ERR_HTTP_INVALID_METHOD');
  });

  it('a dripped request-line that stays valid is judged once per byte and ends in a request', () => {
    const input = req('GET /a%20b?c HTTP/1.1', 'Host: a');
    assert.equal(onlyRequest(parseEverySplit(input)).target, '/a%20b?c');
  });
});

describe('RFC 9112 §5: field lines', () => {
  it('names are tokens; order, duplicates and case are kept', () => {
    const input = req(
      'GET / HTTP/1.1',
      'Host: a',
      "X-!#$%&'*+-.^_`|~09az: 1",
      'Set-Thing: a',
      'set-thing: b',
      'SET-THING: c',
      'accept: */*',
    );
    const r = onlyRequest(parseEverySplit(input));
    assert.deepEqual(r.headers, [
      'Host',
      'a',
      "X-!#$%&'*+-.^_`|~09az",
      '1',
      'Set-Thing',
      'a',
      'set-thing',
      'b',
      'SET-THING',
      'c',
      'accept',
      '*/*',
    ]);
  });

  it('OWS around the value is trimmed, inner whitespace kept (RFC 9112 §5.1)', () => {
    const r = onlyRequest(
      parseEverySplit(req('GET / HTTP/1.1', 'Host:a', 'A: \t v  w \t ', 'B:', 'C:   ', 'D:x:y: z', 'E: "q" , r')),
    );
    assert.deepEqual(r.headers, ['Host', 'a', 'A', 'v  w', 'B', '', 'C', '', 'D', 'x:y: z', 'E', '"q" , r']);
  });

  it('obs-text (0x80-0xFF) in values is kept as latin1 (RFC 9110 §5.5)', () => {
    const r = onlyRequest(parseEverySplit(req('GET / HTTP/1.1', 'Host: a', 'X: caf\xe9 \xff\x80')));
    assert.equal(r.headers[3], 'caf\xe9 \xff\x80');
  });

  it('HTAB inside a value is allowed', () => {
    const r = onlyRequest(parseEverySplit(req('GET / HTTP/1.1', 'Host: a', 'X: a\tb')));
    assert.equal(r.headers[3], 'a\tb');
  });

  describe('RFC 9112 §5.1: no whitespace between field name and colon (400)', () => {
    for (const line of ['Host : a', 'Host\t: a', 'X  : y']) {
      it(JSON.stringify(line), () => {
        assertFails(req('GET / HTTP/1.1', line), 400, 'ERR_HTTP_INVALID_HEADER_NAME');
      });
    }
  });

  describe('RFC 9112 §5.2: obs-fold is rejected with 400', () => {
    for (const cont of [' folded', '\tfolded', '  ']) {
      it(`continuation ${JSON.stringify(cont)}`, () => {
        assertFails(req('GET / HTTP/1.1', 'Host: a', 'X: a', cont), 400, 'ERR_HTTP_OBS_FOLD');
      });
    }
    it('whitespace before the first field line (RFC 9112 §2.2)', () => {
      assertFails(req('GET / HTTP/1.1', ' Host: a'), 400, 'ERR_HTTP_OBS_FOLD');
    });
  });

  describe('RFC 9110 §5.1: field-name = token', () => {
    for (const line of ['X@Y: 1', 'X(Y): 1', ': empty-name', 'NoColon', 'X\xe9: 1', 'X\x00: 1', '"X": 1', 'X/Y: 1']) {
      it(`${JSON.stringify(line)} -> 400`, () => {
        assertFails(req('GET / HTTP/1.1', 'Host: a', line), 400, 'ERR_HTTP_INVALID_HEADER_NAME');
      });
    }
  });

  describe('RFC 9110 §5.5: field values exclude NUL, CR, LF and other CTLs (400)', () => {
    const bad = [0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x0e, 0x1b, 0x1f, 0x7f];
    for (const c of bad) {
      it(`0x${c.toString(16).padStart(2, '0')} in a value`, () => {
        assertFails(
          req('GET / HTTP/1.1', 'Host: a', `X: a${String.fromCharCode(c)}b`),
          400,
          'ERR_HTTP_INVALID_HEADER_VALUE',
        );
      });
    }
    it('NUL at the end of a value', () => {
      assertFails(req('GET / HTTP/1.1', 'Host: a', 'X: ab\x00'), 400, 'ERR_HTTP_INVALID_HEADER_VALUE');
    });
    it('a bare LF inside a value', () => {
      assertFails('GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n', 400, 'ERR_HTTP_BARE_LF');
    });
  });

  describe('RFC 9110 §5.1 / §5.3: HeaderList lookups are case-insensitive', () => {
    const h = new HeaderList([
      'Host',
      'a',
      'Accept',
      'text/html',
      'ACCEPT',
      'text/plain',
      'Connection',
      'Keep-Alive , UPGRADE',
    ]);
    it('get / getAll / has / getJoined', () => {
      assert.equal(h.size, 4);
      assert.equal(h.get('host'), 'a');
      assert.equal(h.get('HOST'), 'a');
      assert.equal(h.get('accept'), 'text/html');
      assert.equal(h.get('missing'), undefined);
      assert.deepEqual(h.getAll('Accept'), ['text/html', 'text/plain']);
      assert.deepEqual(h.getAll('nope'), []);
      assert.equal(h.has('connection'), true);
      assert.equal(h.has('connectio'), false);
      assert.equal(h.getJoined('accept'), 'text/html, text/plain');
      assert.equal(h.getJoined('x'), undefined);
      assert.deepEqual(h.entries()[1], ['Accept', 'text/html']);
    });
    it('hasToken matches list members with any OWS and case', () => {
      assert.equal(h.hasToken('connection', 'upgrade'), true);
      assert.equal(h.hasToken('Connection', 'keep-alive'), true);
      assert.equal(h.hasToken('connection', 'close'), false);
      assert.equal(h.hasToken('connection', 'keep'), false);
    });
    it('hasToken and get agree with a split/trim/lower-case reference on random lists and names', () => {
      let x = 12345;
      const next = (n: number): number => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) % n;
      };
      const alphabet = ['a', 'A', 'b', 'B', ' ', '\t', ',', 'é', 'É', '\u00a0', '-'];
      const pick = (len: number): string => Array.from({ length: len }, () => alphabet[next(alphabet.length)]).join('');
      const asciiLower = (v: string): string => v.replace(/[A-Z]/g, (c) => c.toLowerCase());
      const ows = (v: string): string => v.replace(/^[ \t]+|[ \t]+$/g, '');
      for (let i = 0; i < 20000; i++) {
        const value = pick(next(12));
        const token = Array.from({ length: 1 + next(3) }, () => 'ab-'[next(3)]).join(''); // tokens are ASCII
        const name = next(2) === 0 ? 'Connection' : 'CONNECTION';
        const list = new HeaderList(['Host', 'h', name, value]);
        const expected = value.split(',').some((p) => asciiLower(ows(p)) === token);
        assert.equal(
          list.hasToken('connection', token),
          expected,
          `${JSON.stringify(value)} has ${JSON.stringify(token)}`,
        );
        assert.equal(list.get('connection'), value);
        assert.equal(list.get('connectioN'), value);
        assert.equal(list.get('connectiom'), undefined);
      }
    });
    it('splitList drops empty elements (RFC 9110 §5.6.1)', () => {
      assert.deepEqual(splitList(' a ,, b,\tc , '), ['a', 'b', 'c']);
      assert.deepEqual(splitList(''), []);
    });
    it('a parsed head exposes the same lookups', () => {
      const handler = new RecordingParserHandler();
      let seen: HeaderList | null = null;
      handler.framing = (head) => {
        seen = head.headers;
        return BODY_NONE;
      };
      new RequestParser(handler).receive(toBuffer(req('GET / HTTP/1.1', 'hOsT: a', 'x-A: 1', 'X-a: 2')));
      assert.ok(seen !== null);
      const headers = seen as HeaderList;
      assert.equal(headers.get('Host'), 'a');
      assert.deepEqual(headers.getAll('X-A'), ['1', '2']);
    });
  });
});

/** A request-line of exactly `n` bytes (without its CRLF). */
function requestLineOf(n: number): string {
  const line = `GET /${'a'.repeat(n - 14)} HTTP/1.1`;
  assert.equal(line.length, n);
  return line;
}

/** A head whose header section (field lines with their CRLFs, RFC 9112 §2.1) is exactly `n` bytes. */
function headWithSection(n: number, requestLine = 'GET / HTTP/1.1'): string {
  const fill = `X: ${'v'.repeat(n - 9 - 5)}`;
  const head = req(requestLine, 'Host: a', fill);
  assert.equal(head.length - requestLine.length - 4, n);
  return head;
}

/** Split points around `at`, plus the start and the end of `input`. */
function around(input: string, ...at: number[]): number[] {
  const pts = [1, 2, input.length - 2, input.length - 1];
  for (const a of at) for (let d = -3; d <= 3; d++) pts.push(a + d);
  return pts;
}

describe('limits: request-line 8 KiB (RFC 9112 §3 -> 414), header section 16 KiB and 100 fields (RFC 6585 §5 -> 431)', () => {
  it('a request-line of exactly 8192 bytes is accepted in any split', () => {
    const line = requestLineOf(8192);
    const input = req(line, 'Host: a');
    const events = parseEverySplit(input, { points: around(input, line.length) });
    assert.equal(onlyRequest(events).target.length, 8192 - 13);
  });

  it('a request-line of 8193 bytes -> 414, in any split', () => {
    const line = requestLineOf(8193);
    const input = req(line, 'Host: a');
    assert.deepEqual(parseEverySplit(input, { points: around(input, line.length) }), [
      error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG'),
    ]);
    // Refused as soon as the line is over the limit, without waiting for its end.
    assert.deepEqual(parseChunks([toBuffer(line.slice(0, 8193))]), [error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG')]);
  });

  it('a header section of exactly 16384 bytes is accepted in any split', () => {
    const input = headWithSection(16384);
    const events = parseEverySplit(input, { points: around(input, 16, input.length - 2) });
    assert.equal(onlyRequest(events).headers.length, 4);
  });

  it('a header section of 16385 bytes -> 431, in any split', () => {
    const input = headWithSection(16385);
    assert.deepEqual(parseEverySplit(input, { points: around(input, 16, input.length - 2) }), [
      error(431, 'ERR_HTTP_HEADERS_TOO_LARGE'),
    ]);
    // An endless header section is refused once it passes the limit.
    const endless = `GET / HTTP/1.1\r\nX: ${'v'.repeat(20000)}`;
    assert.deepEqual(parseChunks([toBuffer(endless)]), [error(431, 'ERR_HTTP_HEADERS_TOO_LARGE')]);
    assert.deepEqual(parseChunks(splitAt(toBuffer(endless), [100, 5000, 10000, 15000])), [
      error(431, 'ERR_HTTP_HEADERS_TOO_LARGE'),
    ]);
  });

  it('both limits at once, at their maximum, after 8 empty lines, are accepted in any split', () => {
    const line = requestLineOf(8192);
    const input = '\r\n'.repeat(8) + headWithSection(16384, line);
    const events = parseEverySplit(input, { points: around(input, 16, 16 + line.length, input.length - 2) });
    assert.equal(onlyRequest(events).target.length, 8192 - 13);
  });

  it('100 field lines are accepted, 101 -> 431', () => {
    const fields = Array.from({ length: 99 }, (_, i) => `X-${i}: ${i}`);
    const ok = onlyRequest(parseEverySplit(req('GET / HTTP/1.1', 'Host: a', ...fields)));
    assert.equal(ok.headers.length, 200);
    assertFails(req('GET / HTTP/1.1', 'Host: a', ...fields, 'X-last: 1'), 431, 'ERR_HTTP_TOO_MANY_HEADERS');
  });

  it('configured limits are honoured at every split, at and past each limit', () => {
    const limits = { maxRequestLineBytes: 24, maxHeaderBytes: 32, maxHeaderCount: 3 };
    const okLine = requestLineOf(24);
    assert.equal(onlyRequest(parseEverySplit(req(okLine, 'Host: a'), { limits })).target.length, 11);
    assert.deepEqual(parseEverySplit(req(requestLineOf(25), 'Host: a'), { limits }), [
      error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG'),
    ]);
    assert.equal(onlyRequest(parseEverySplit(headWithSection(32), { limits })).headers.length, 4);
    assert.deepEqual(parseEverySplit(headWithSection(33), { limits }), [error(431, 'ERR_HTTP_HEADERS_TOO_LARGE')]);
    assert.equal(
      onlyRequest(parseEverySplit(req('GET / HTTP/1.1', 'A: 1', 'B: 2', 'C: 3'), { limits })).headers.length,
      6,
    );
    assert.deepEqual(parseEverySplit(req('GET / HTTP/1.1', 'A: 1', 'B: 2', 'C: 3', 'D: 4'), { limits }), [
      error(431, 'ERR_HTTP_TOO_MANY_HEADERS'),
    ]);
  });
});

const CHUNKED_HEAD = req('POST /c HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked');

/** Events of a chunked request whose body (after the head) is `body`. */
function chunked(body: string, opts: Parameters<typeof parseEverySplit>[1] = {}): Http1Event[] {
  return parseEverySplit(CHUNKED_HEAD + body, opts).slice(1);
}

describe('RFC 9112 §7.1: chunked transfer coding', () => {
  it('decodes chunks; chunk-size is hex in either case, leading zeros allowed', () => {
    const body = `a\r\n0123456789\r\nA\r\nabcdefghij\r\n00010\r\n${'z'.repeat(16)}\r\n1\r\n!\r\n0\r\n\r\n`;
    assert.deepEqual(chunked(body), [
      { type: 'body', data: `0123456789abcdefghij${'z'.repeat(16)}!` },
      { type: 'end', trailers: [] },
    ]);
  });

  it('leading zeros do not count toward the chunk-size overflow limit; 14 significant hex digits -> 400', () => {
    assert.deepEqual(chunked(`${'0'.repeat(40)}5\r\nhello\r\n${'0'.repeat(30)}\r\n\r\n`), [
      { type: 'body', data: 'hello' },
      { type: 'end', trailers: [] },
    ]);
    assert.deepEqual(chunked('00000000000001\r\nx\r\n0\r\n\r\n'), [
      { type: 'body', data: 'x' },
      { type: 'end', trailers: [] },
    ]);
    assert.deepEqual(chunked('10000000000000\r\nx\r\n0\r\n\r\n'), [error(400, 'ERR_HTTP_INVALID_CHUNK')]);
  });

  it('an empty body is just the last-chunk (no body event); last-chunk = 1*"0"', () => {
    assert.deepEqual(chunked('0\r\n\r\n'), [{ type: 'end', trailers: [] }]);
    assert.deepEqual(chunked('000\r\n\r\n'), [{ type: 'end', trailers: [] }]);
  });

  it('chunk data may contain CRLF and anything else', () => {
    assert.deepEqual(chunked('7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n'), [
      { type: 'body', data: '\r\n0\r\n\r\n' },
      { type: 'end', trailers: [] },
    ]);
  });

  describe('RFC 9112 §7.1.1: chunk extensions are parsed and ignored', () => {
    const good = [
      '5;name',
      '5;name=value',
      '5 ; name = value',
      '5\t;\tname\t=\tvalue',
      '5;a;b=c;d="e"',
      '5;q="quoted \\"escaped\\" ;=,\\\\"',
      '5;q=""',
      '5;q="tab\there"',
      "5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
    ];
    for (const line of good) {
      it(`accepts ${JSON.stringify(line)}`, () => {
        assert.deepEqual(chunked(`${line}\r\nhello\r\n0;last=1\r\n\r\n`), [
          { type: 'body', data: 'hello' },
          { type: 'end', trailers: [] },
        ]);
      });
    }
    const bad = [
      '5;',
      '5;=x',
      '5;a=',
      '5;a="unterminated',
      '5;a=b c',
      '5;a="x\x00"',
      '5;a=x"y"',
      '5 x',
      '5;a="\\',
      '5;a=b;',
      '5,a',
      '5 ',
      '5\t',
      '5;a=b ',
      '5;a ',
      '5;a="b"\t',
    ];
    for (const line of bad) {
      it(`rejects ${JSON.stringify(line)} with 400`, () => {
        assert.deepEqual(chunked(`${line}\r\nhello\r\n0\r\n\r\n`), [error(400, 'ERR_HTTP_INVALID_CHUNK')]);
      });
    }
    it('a chunk line longer than 4 KiB -> 400 (extension abuse)', () => {
      assert.deepEqual(chunked(`5;a=${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`, { points: [200, 300, 4000, 4200] }), [
        error(400, 'ERR_HTTP_INVALID_CHUNK'),
      ]);
    });
    describe('chunk extensions summed over a message: 16 KiB (MAX_CHUNK_EXTENSIONS_BYTES), then 400', () => {
      // Each line's extension is 1 KiB (";e=" + 1021 bytes): far under the 4 KiB line bound.
      const ext = `;e=${'v'.repeat(1021)}`;
      const lines = (n: number, lastExt = '') => `${`1${ext}\r\nx\r\n`.repeat(n)}0${lastExt}\r\n\r\n`;
      const cases: [string, string, Http1Event[]][] = [
        [
          '16 lines of 1 KiB (exactly 16 KiB)',
          lines(16),
          [
            { type: 'body', data: 'x'.repeat(16) },
            { type: 'end', trailers: [] },
          ],
        ],
        [
          '17 lines of 1 KiB',
          lines(17),
          [{ type: 'body', data: 'x'.repeat(16) }, error(400, 'ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE')],
        ],
        [
          '16 lines of 1 KiB, then ";a" on the last-chunk',
          lines(16, ';a'),
          [{ type: 'body', data: 'x'.repeat(16) }, error(400, 'ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE')],
        ],
        [
          '100 lines of 1 KiB (100 KiB)',
          lines(100),
          [{ type: 'body', data: 'x'.repeat(16) }, error(400, 'ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE')],
        ],
      ];
      for (const [name, body, expected] of cases) {
        it(name, () => {
          const input = CHUNKED_HEAD + body;
          const pts = around(input, CHUNKED_HEAD.length + 16 * (ext.length + 6));
          assert.deepEqual(chunked(body, { points: pts }), expected);
        });
      }
      it('the sum starts again with each message', () => {
        const events = parseEverySplit(CHUNKED_HEAD + lines(12) + CHUNKED_HEAD + lines(12), { points: [100, 20000] });
        assert.deepEqual(
          events.map((e) => e.type),
          ['request', 'body', 'end', 'request', 'body', 'end'],
        );
      });
    });
    it('a chunk line of exactly 4096 bytes is accepted in any split', () => {
      const line = `5;a=${'x'.repeat(4096 - 4)}`;
      const input = `${line}\r\nhello\r\n0\r\n\r\n`;
      const pts = around(CHUNKED_HEAD + input, CHUNKED_HEAD.length + line.length);
      assert.deepEqual(chunked(input, { points: pts }), [
        { type: 'body', data: 'hello' },
        { type: 'end', trailers: [] },
      ]);
    });
  });

  describe('RFC 9112 §7.1.2: trailer section', () => {
    it('trailer fields are parsed like header fields and reported at the end', () => {
      assert.deepEqual(chunked('3\r\nabc\r\n0\r\nX-Sum:  123 \r\nx-sum: 4\r\nEmpty:\r\n\r\n'), [
        { type: 'body', data: 'abc' },
        { type: 'end', trailers: ['X-Sum', '123', 'x-sum', '4', 'Empty', ''] },
      ]);
    });
    const bad: [string, string][] = [
      ['Bad Name: x', 'ERR_HTTP_INVALID_HEADER_NAME'],
      ['X : x', 'ERR_HTTP_INVALID_HEADER_NAME'],
      ['X: a\x00b', 'ERR_HTTP_INVALID_HEADER_VALUE'],
      [' folded', 'ERR_HTTP_OBS_FOLD'],
      ['X: a\rb', 'ERR_HTTP_BARE_CR'],
    ];
    for (const [line, code] of bad) {
      it(`invalid trailer line ${JSON.stringify(line)} -> 400`, () => {
        assert.deepEqual(chunked(`0\r\nX: 1\r\n${line}\r\n\r\n`), [error(400, code)]);
      });
    }
    it('a trailer section at maxTrailerBytes is accepted, one byte more -> 431', () => {
      const limits = { maxTrailerBytes: 40 };
      // Field lines with their CRLFs: 20 + 20 = 40 bytes.
      const ok = `0\r\nA: ${'a'.repeat(15)}\r\nB: ${'b'.repeat(15)}\r\n\r\n`;
      assert.deepEqual(chunked(ok, { limits }), [
        { type: 'end', trailers: ['A', 'a'.repeat(15), 'B', 'b'.repeat(15)] },
      ]);
      const over = `0\r\nA: ${'a'.repeat(15)}\r\nB: ${'b'.repeat(16)}\r\n\r\n`;
      assert.deepEqual(chunked(over, { limits }), [error(431, 'ERR_HTTP_TRAILERS_TOO_LARGE')]);
      // One endless trailer line is refused without waiting for its end.
      assert.deepEqual(parseChunks([toBuffer(`${CHUNKED_HEAD}0\r\nA: ${'a'.repeat(100)}`)], { limits }).slice(1), [
        error(431, 'ERR_HTTP_TRAILERS_TOO_LARGE'),
      ]);
    });
    it('more trailer fields than maxHeaderCount -> 431', () => {
      const limits = { maxHeaderCount: 3 };
      assert.deepEqual(chunked('0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n', { limits }), [
        { type: 'end', trailers: ['A', '1', 'B', '2', 'C', '3'] },
      ]);
      assert.deepEqual(chunked('0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n', { limits }), [
        error(431, 'ERR_HTTP_TOO_MANY_HEADERS'),
      ]);
    });
  });

  describe('chunk framing errors (400)', () => {
    const cases: [string, string][] = [
      ['chunk data followed by CR X', '5\r\nhello\rX0\r\n\r\n'],
      ['chunk data followed by LF', '5\r\nhello\n0\r\n\r\n'],
      ['chunk data longer than chunk-size', '3\r\nhello\r\n0\r\n\r\n'],
      ['chunk-size overflow: 14 hex digits', 'fffffffffffff0\r\nx\r\n0\r\n\r\n'],
      ['chunk-size overflow: 40 hex digits', `${'f'.repeat(40)}\r\nx\r\n0\r\n\r\n`],
      ['chunk-size that is not hex', 'g\r\nx\r\n0\r\n\r\n'],
    ];
    for (const [name, body] of cases) {
      it(name, () => {
        const events = chunked(body);
        assert.deepEqual(events[events.length - 1], error(400, 'ERR_HTTP_INVALID_CHUNK'));
        assert.ok(!events.some((e) => e.type === 'end'));
      });
    }
  });

  describe('RFC 9110 §15.5.14: chunked body over maxBodyBytes -> 413', () => {
    it('the chunk-size that crosses the limit is refused before its data', () => {
      assert.deepEqual(chunked('5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n', { maxBodyBytes: 10 }), [
        { type: 'body', data: 'hello' },
        error(413, 'ERR_HTTP_BODY_TOO_LARGE'),
      ]);
    });
    it('exactly maxBodyBytes is accepted', () => {
      assert.deepEqual(chunked('5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n', { maxBodyBytes: 10 }), [
        { type: 'body', data: 'helloworld' },
        { type: 'end', trailers: [] },
      ]);
    });
    it('a 13-hex-digit chunk-size (2^52 - 1) is a size, over the limit: 413', () => {
      assert.deepEqual(chunked('fffffffffffff\r\nx', { maxBodyBytes: 1024 * 1024 }), [
        error(413, 'ERR_HTTP_BODY_TOO_LARGE'),
      ]);
    });
  });
});

describe('RFC 9112 §6.2 / §6.3: Content-Length bodies and message boundaries', () => {
  it('exactly Content-Length bytes are the body; the next bytes are the next request', () => {
    const input = `${req('POST /1 HTTP/1.1', 'Host: a', 'Content-Length: 10')}0123456789${req('GET /2 HTTP/1.1', 'Host: a')}`;
    assert.deepEqual(
      parseEverySplit(input).map((e) => (e.type === 'request' ? e.target : e)),
      ['/1', { type: 'body', data: '0123456789' }, { type: 'end', trailers: [] }, '/2', { type: 'end', trailers: [] }],
    );
  });

  it('a body that looks like a request is body', () => {
    const body = req('GET /smuggled HTTP/1.1', 'Host: a');
    const input = `${req('POST / HTTP/1.1', 'Host: a', `Content-Length: ${body.length}`)}${body}`;
    const events = parseEverySplit(input);
    assert.deepEqual(events.slice(1), [
      { type: 'body', data: body },
      { type: 'end', trailers: [] },
    ]);
  });

  it('BODY_REJECT from onHead stops the parser', () => {
    const events = parseChunks([toBuffer(`${req('POST / HTTP/1.1', 'Host: a')}GET / HTTP/1.1\r\n\r\n`)], {
      framing: () => BODY_REJECT,
    });
    assert.deepEqual(
      events.map((e) => e.type),
      ['request'],
    );
  });

  it('BODY_CHUNKED and a length from onHead frame the body', () => {
    const framing = (head: { method: string }) => (head.method === 'A' ? 3 : BODY_CHUNKED);
    const events = parseEverySplit(`${req('A / HTTP/1.1')}xyz${req('B / HTTP/1.1')}1\r\nq\r\n0\r\n\r\n`, { framing });
    assert.deepEqual(
      events.filter((e) => e.type === 'body'),
      [
        { type: 'body', data: 'xyz' },
        { type: 'body', data: 'q' },
      ],
    );
  });

  describe('RFC 9112 §8: incomplete messages', () => {
    it('EOF before the body is complete -> 400', () => {
      const events = parseChunks([toBuffer(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 10')}01234`)], {
        eof: true,
      });
      assert.deepEqual(events.slice(1), [{ type: 'body', data: '01234' }, error(400, 'ERR_HTTP_INCOMPLETE_MESSAGE')]);
    });
    it('EOF inside a chunked body -> 400', () => {
      const events = parseChunks([toBuffer(`${CHUNKED_HEAD}5\r\nhel`)], { eof: true });
      assert.deepEqual(events.slice(1), [{ type: 'body', data: 'hel' }, error(400, 'ERR_HTTP_INCOMPLETE_MESSAGE')]);
    });
    it('EOF inside a head -> 400', () => {
      assert.deepEqual(parseChunks([toBuffer('GET / HTTP/1.1\r\nHo')], { eof: true }), [
        error(400, 'ERR_HTTP_INCOMPLETE_MESSAGE'),
      ]);
    });
    it('EOF after stray empty lines is not an error (RFC 9112 §2.2: they are ignored)', () => {
      const events = parseChunks([toBuffer(`${req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1')}x\r\n`)], {
        eof: true,
      });
      assert.deepEqual(
        events.map((e) => e.type),
        ['request', 'body', 'end'],
      );
      const handler = new RecordingParserHandler();
      const parser = new RequestParser(handler);
      parser.receive(toBuffer('\r\n\r\n'));
      assert.equal(parser.isIdle, true);
      parser.receiveEof();
      assert.deepEqual(handler.events, []);
      // A lone CR is the start of something else: incomplete.
      assert.deepEqual(parseChunks([toBuffer('\r\n\r')], { eof: true }), [error(400, 'ERR_HTTP_INCOMPLETE_MESSAGE')]);
    });
    it('EOF between messages is not an error', () => {
      const events = parseChunks([toBuffer(req('GET / HTTP/1.1', 'Host: a'))], { eof: true });
      assert.deepEqual(
        events.map((e) => e.type),
        ['request', 'end'],
      );
      assert.deepEqual(parseChunks([], { eof: true }), []);
    });
  });

  it('the parser reports one error and then ignores all input', () => {
    const handler = new RecordingParserHandler();
    const parser = new RequestParser(handler);
    parser.receive(toBuffer('BAD\r\n\r\n'));
    assert.equal(parser.isFailed, true);
    assert.equal(parser.receive(toBuffer(req('GET / HTTP/1.1', 'Host: a'))), 0);
    parser.receiveEof();
    assert.deepEqual(handler.events, [error(400, 'ERR_HTTP_INVALID_METHOD')]);
  });

  it('receive() stops at the end of each message until next() is called', () => {
    const handler = new RecordingParserHandler();
    const parser = new RequestParser(handler);
    const first = req('GET /1 HTTP/1.1', 'Host: a');
    const buf = Buffer.from(first + req('GET /2 HTTP/1.1', 'Host: a'), 'latin1');
    assert.equal(parser.receive(buf), first.length);
    assert.equal(parser.isDone, true);
    assert.equal(parser.receive(buf, first.length), first.length, 'nothing parsed while DONE');
    parser.next();
    assert.equal(parser.receive(buf, first.length), buf.length);
    assert.deepEqual(
      handler.events.map((e) => (e.type === 'request' ? e.target : e.type)),
      ['/1', 'end', '/2', 'end'],
    );
  });
});

describe('every split gives the same events (pipelined mix)', () => {
  it('GET, Content-Length POST, chunked POST with extensions and trailers, leading CRLF', () => {
    const input =
      '\r\n' +
      req('GET /a?x=1 HTTP/1.1', 'Host: a', 'Accept: */*') +
      req('POST /b HTTP/1.1', 'Host: a', 'Content-Length: 8') +
      'abc\r\ndef' +
      CHUNKED_HEAD +
      '4;x="y\\"z"\r\nwxyz\r\n1\r\n\n\r\n0\r\nT: v\r\n\r\n' +
      req('GET /d HTTP/1.0');
    const events = parseEverySplit(input);
    assert.deepEqual(
      events.map((e) => (e.type === 'request' ? `${e.method} ${e.target}` : e.type === 'body' ? e.data : e.type)),
      ['GET /a?x=1', 'end', 'POST /b', 'abc\r\ndef', 'end', 'POST /c', 'wxyz\n', 'end', 'GET /d', 'end'],
    );
    assert.deepEqual(events[7], { type: 'end', trailers: ['T', 'v'] });
  });
});

describe('keep-alive: a field section with the same bytes as the previous request reuses its parsed fields', () => {
  const fields = (events: Http1Event[]): string[][] =>
    events.filter((e): e is RequestEvent => e.type === 'request').map((e) => e.headers);

  it('same, same, one byte different (same length), same again: every request gets its own values', () => {
    const a = req('GET /1 HTTP/1.1', 'Host: a', 'X-Id: 1');
    const b = req('GET /2 HTTP/1.1', 'Host: a', 'X-Id: 2');
    const events = parseEverySplit(a + a + b + a);
    assert.deepEqual(fields(events), [
      ['Host', 'a', 'X-Id', '1'],
      ['Host', 'a', 'X-Id', '1'],
      ['Host', 'a', 'X-Id', '2'],
      ['Host', 'a', 'X-Id', '1'],
    ]);
  });

  it('from the third request on, identical bytes share the previous field list; a different section gets a new one', () => {
    const seen: string[][] = [];
    const handler = new RecordingParserHandler();
    handler.framing = (head) => {
      seen.push(head.headers.raw);
      return BODY_NONE;
    };
    const parser = new RequestParser(handler);
    const input = Buffer.from(
      req('GET / HTTP/1.1', 'Host: a') +
        req('GET /x HTTP/1.1', 'Host: a') +
        req('GET /y HTTP/1.1', 'Host: a') +
        req('GET / HTTP/1.1', 'Host: b'),
      'latin1',
    );
    let pos = 0;
    while (pos < input.length) {
      pos = parser.receive(input, pos);
      if (parser.isDone) parser.next();
    }
    assert.equal(seen.length, 4);
    assert.notEqual(seen[1], seen[0], "a connection's first field section is not kept (most send one request)");
    assert.equal(seen[2], seen[1], 'same bytes: the same (never modified) list');
    assert.notEqual(seen[3], seen[2]);
    assert.deepEqual(seen[3], ['Host', 'b']);
    assert.deepEqual(seen[2], ['Host', 'a']);
  });

  it('an invalid section after a valid one of the same length is still refused (RFC 9112 §5.1: 400)', () => {
    const ok = req('GET / HTTP/1.1', 'Host: a', 'X-A: 1');
    const bad = req('GET / HTTP/1.1', 'Host: a', 'X-A :1');
    assert.deepEqual(
      parseEverySplit(ok + bad).map((e) => e.type),
      ['request', 'end', 'error'],
    );
  });

  it('a field section over 1 KiB is parsed every time (not kept), and gives the same fields', () => {
    const big = req('GET / HTTP/1.1', 'Host: a', `Cookie: ${'c'.repeat(2000)}`);
    assert.deepEqual(fields(parseEverySplit(big + big, { points: [100, big.length + 50] })), [
      ['Host', 'a', 'Cookie', 'c'.repeat(2000)],
      ['Host', 'a', 'Cookie', 'c'.repeat(2000)],
    ]);
  });
});
