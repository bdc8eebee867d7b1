/**
 * ws/handshake.ts: the opening handshake of RFC 6455 §4. Server side: the accept key of the RFC example, every
 * required header missing or wrong (400), unsupported versions (426 with Sec-WebSocket-Version: 13), keys that
 * are not base64 of 16 bytes, case-insensitive token lists, subprotocol and extension offers, the 101 and
 * refusal heads. Client side: key generation, the request head, and every check of the server's response.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { HeaderList } from '../../../src/http1/headers.js';
import { setRandomFill } from '../../../src/util/random.js';
import {
  acceptKey,
  buildAcceptResponse,
  buildRejectResponse,
  buildRequestHead,
  generateKey,
  isValidKey,
  type UpgradeRequestRejected,
  validateUpgradeRequest,
  validateUpgradeResponse,
  WS_GUID,
} from '../../../src/ws/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function headers(pairs: [string, string][]): HeaderList {
  return new HeaderList(pairs.flat());
}

/** The RFC 6455 §1.2 example request, with overrides: `null` removes a header, an array repeats it. */
function request(overrides: Record<string, string | string[] | null> = {}): HeaderList {
  const base: Record<string, string | string[] | null> = {
    Host: 'server.example.com',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    Origin: 'http://example.com',
    'Sec-WebSocket-Protocol': 'chat, superchat',
    'Sec-WebSocket-Version': '13',
    ...overrides,
  };
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(base)) {
    if (v === null) continue;
    for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
  }
  return headers(pairs);
}

function rejected(method: string, version: string, h: HeaderList): UpgradeRequestRejected {
  const r = validateUpgradeRequest(method, version, h);
  assert.equal(r.ok, false, 'expected a rejection');
  return r as UpgradeRequestRejected;
}

describe('RFC 6455 §4.2.2 Sec-WebSocket-Accept', () => {
  it('computes the RFC example', () => assert.equal(acceptKey(KEY), ACCEPT));

  /** The textbook form with a Hash object: the reference for the one-shot hash acceptKey uses. */
  const reference = (key: string): string =>
    createHash('sha1')
      .update(key + WS_GUID, 'latin1')
      .digest('base64');

  it('agrees with node:crypto on 5,000 random keys and on keys made of one base64 character', () => {
    for (let i = 0; i < 5000; i++) {
      const key = randomBytes(16).toString('base64');
      assert.equal(acceptKey(key), reference(key), key);
    }
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const c of alphabet) {
      const key = `${c.repeat(22)}==`;
      assert.equal(acceptKey(key), reference(key), key);
    }
  });
});

describe('RFC 6455 §4.2.1 server: reading the handshake', () => {
  it('accepts the RFC example and reads its offers', () => {
    const r = validateUpgradeRequest('GET', '1.1', request());
    assert.deepEqual(r, { ok: true, key: KEY, protocols: ['chat', 'superchat'], extensions: [] });
  });
  it('treats Upgrade and Connection as case-insensitive token lists', () => {
    for (const [upgrade, connection] of [
      ['WebSocket', 'upgrade'],
      ['WEBSOCKET', 'keep-alive, Upgrade'],
      ['h2c, websocket', 'UPGRADE ,keep-alive'],
      ['websocket', 'keep-alive,upgrade'],
    ] as const) {
      const r = validateUpgradeRequest('GET', '1.1', request({ Upgrade: upgrade, Connection: connection }));
      assert.equal(r.ok, true, `${upgrade} / ${connection}`);
    }
  });
  it('reads subprotocols from several header lines and extension offers', () => {
    const r = validateUpgradeRequest(
      'GET',
      '1.1',
      request({
        'Sec-WebSocket-Protocol': ['a, b', 'c'],
        'Sec-WebSocket-Extensions': ['permessage-deflate; client_max_window_bits', 'x-foo'],
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.protocols, ['a', 'b', 'c']);
    assert.deepEqual(r.extensions, [
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'x-foo', params: [] },
    ]);
  });
  it('accepts a key with surrounding whitespace and no subprotocols', () => {
    const r = validateUpgradeRequest(
      'GET',
      '1.1',
      request({ 'Sec-WebSocket-Key': ` ${KEY} `, 'Sec-WebSocket-Protocol': null }),
    );
    assert.deepEqual(r, { ok: true, key: KEY, protocols: [], extensions: [] });
  });

  const bad: [string, string, string, Record<string, string | string[] | null>][] = [
    ['a POST', 'POST', '1.1', {}],
    ['HTTP/1.0', 'GET', '1.0', {}],
    ['HTTP/2.0', 'GET', '2.0', {}],
    ['no Host', 'GET', '1.1', { Host: null }],
    ['two Host headers', 'GET', '1.1', { Host: ['a', 'b'] }],
    ['no Upgrade', 'GET', '1.1', { Upgrade: null }],
    ['Upgrade without websocket', 'GET', '1.1', { Upgrade: 'h2c' }],
    ['Upgrade: websocket2', 'GET', '1.1', { Upgrade: 'websocket2' }],
    ['no Connection', 'GET', '1.1', { Connection: null }],
    ['Connection without upgrade', 'GET', '1.1', { Connection: 'keep-alive' }],
    ['Connection: upgraded', 'GET', '1.1', { Connection: 'upgraded' }],
    ['no Sec-WebSocket-Key', 'GET', '1.1', { 'Sec-WebSocket-Key': null }],
    ['two Sec-WebSocket-Key headers', 'GET', '1.1', { 'Sec-WebSocket-Key': [KEY, KEY] }],
    ['an empty key', 'GET', '1.1', { 'Sec-WebSocket-Key': '' }],
    ['a key of 15 bytes', 'GET', '1.1', { 'Sec-WebSocket-Key': Buffer.alloc(15).toString('base64') }],
    ['a key of 17 bytes', 'GET', '1.1', { 'Sec-WebSocket-Key': Buffer.alloc(17).toString('base64') }],
    ['a key without padding', 'GET', '1.1', { 'Sec-WebSocket-Key': KEY.slice(0, 22) }],
    ['a key in base64url', 'GET', '1.1', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ_-' }],
    ['a key with a bad character', 'GET', '1.1', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZ!==' }],
    ['a non-token subprotocol', 'GET', '1.1', { 'Sec-WebSocket-Protocol': 'chat, sup er' }],
    ['a malformed extension header', 'GET', '1.1', { 'Sec-WebSocket-Extensions': 'foo; =bar' }],
  ];
  for (const [name, method, version, overrides] of bad) {
    it(`refuses ${name} with 400`, () => {
      const r = rejected(method, version, request(overrides));
      assert.equal(r.status, 400);
      assert.ok(r.reason.length > 0);
    });
  }
  for (const version of [null, '', '8', '12', '14', '13, 8', 'abc', ['13', '8']] as const) {
    it(`refuses Sec-WebSocket-Version ${JSON.stringify(version)} with 426 and the supported version`, () => {
      const r = rejected('GET', '1.1', request({ 'Sec-WebSocket-Version': version as string | string[] | null }));
      assert.equal(r.status, 426);
      assert.deepEqual(
        r.headers.find(([n]) => n === 'Sec-WebSocket-Version'),
        ['Sec-WebSocket-Version', '13'],
      );
    });
  }
});

describe('RFC 6455 §4.2.2 server: answering', () => {
  it('builds the 101 head of the RFC example', () => {
    assert.equal(
      buildAcceptResponse(KEY, 'chat'),
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
    );
  });
  it('adds extensions and extra headers', () => {
    const head = buildAcceptResponse(KEY, '', 'permessage-deflate', [['X-Server', 'sockeye']]);
    assert.ok(head.endsWith('Sec-WebSocket-Extensions: permessage-deflate\r\nX-Server: sockeye\r\n\r\n'));
    assert.ok(!head.includes('Sec-WebSocket-Protocol'));
  });
  it('refuses values that would inject header lines', () => {
    assert.throws(() => buildAcceptResponse(KEY, 'a b'), TypeError);
    assert.throws(() => buildAcceptResponse(KEY, '', 'x\r\nEvil: 1'), TypeError);
    assert.throws(() => buildAcceptResponse(KEY, '', '', [['X', 'a\r\nb']]), TypeError);
    assert.throws(() => buildAcceptResponse(KEY, '', '', [['X Y', 'a']]), TypeError);
  });
  it('builds a complete refusal', () => {
    const r = rejected('GET', '1.1', request({ 'Sec-WebSocket-Version': '8' }));
    const text = buildRejectResponse(r);
    assert.ok(text.startsWith('HTTP/1.1 426 Upgrade Required\r\n'));
    assert.ok(text.includes('\r\nSec-WebSocket-Version: 13\r\n'));
    assert.ok(text.includes('\r\nConnection: Upgrade, close\r\n'));
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    assert.ok(head.includes(`Content-Length: ${Buffer.byteLength(body)}`));
    const r400 = buildRejectResponse(rejected('POST', '1.1', request()));
    assert.ok(r400.startsWith('HTTP/1.1 400 Bad Request\r\n'));
    assert.ok(r400.includes('\r\nConnection: close\r\n'));
  });
  it('dates a refusal with the date it is given (RFC 9110 §6.6.1), and reads no clock', () => {
    const date = 'Sun, 06 Nov 1994 08:49:37 GMT';
    const r = rejected('POST', '1.1', request());
    const text = buildRejectResponse(r, date);
    assert.ok(text.startsWith('HTTP/1.1 400 Bad Request\r\n'));
    assert.ok(text.includes(`\r\nDate: ${date}\r\n`));
    assert.ok(!buildRejectResponse(r).includes('Date:'));
  });
  it('refuses rejection headers that would inject a line, with a TypeError', () => {
    const r = rejected('POST', '1.1', request());
    assert.throws(() => buildRejectResponse({ ...r, headers: [['X', 'a\r\nb']] }), TypeError);
  });
});

describe('RFC 6455 §4.1 client: the request', () => {
  afterEach(() => setRandomFill(undefined));

  it('generates a base64 key of 16 random bytes', () => {
    const k = generateKey();
    assert.equal(isValidKey(k), true);
    assert.equal(Buffer.from(k, 'base64').length, 16);
    assert.notEqual(generateKey(), k);
    setRandomFill((b) => b.fill(0));
    assert.equal(generateKey(), 'AAAAAAAAAAAAAAAAAAAAAA==');
  });
  it('builds the request head', () => {
    const head = buildRequestHead({
      target: '/chat?x=1',
      host: 'server.example.com:8080',
      key: KEY,
      protocols: ['chat', 'superchat'],
      extensions: 'permessage-deflate; client_max_window_bits',
      origin: 'http://example.com',
      headers: [['Authorization', 'Bearer t']],
    });
    assert.equal(
      head,
      'GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://example.com\r\n' +
        'Authorization: Bearer t\r\n\r\n',
    );
    // The server side accepts what the client side builds.
    const lines = head.split('\r\n').slice(1, -2);
    const parsed = headers(lines.map((l) => l.split(': ') as [string, string]));
    assert.equal(validateUpgradeRequest('GET', '1.1', parsed).ok, true);
  });
  it('refuses values that are not valid in a request head', () => {
    const base = { target: '/', host: 'h', key: KEY };
    assert.throws(() => buildRequestHead({ ...base, target: '/a b' }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, target: '' }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, host: 'h\r\nX: y' }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, key: 'short' }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, protocols: ['a', 'a'] }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, protocols: ['a,b'] }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, origin: 'x\ny' }), TypeError);
    assert.throws(() => buildRequestHead({ ...base, headers: [['A:', 'b']] }), TypeError);
  });
});

describe('RFC 6455 §4.1 client: validating the response', () => {
  function response(overrides: Record<string, string | string[] | null> = {}): HeaderList {
    const base: Record<string, string | string[] | null> = {
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Accept': ACCEPT,
      ...overrides,
    };
    const pairs: [string, string][] = [];
    for (const [k, v] of Object.entries(base)) {
      if (v === null) continue;
      for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
    }
    return headers(pairs);
  }
  const offeredP = ['chat', 'superchat'];
  const offeredE = ['permessage-deflate'];

  it('accepts a plain 101', () => {
    assert.deepEqual(validateUpgradeResponse(101, response(), KEY, [], []), { ok: true, protocol: '', extensions: [] });
  });
  it('accepts case variations and a chosen subprotocol and extension', () => {
    const r = validateUpgradeResponse(
      101,
      response({
        Upgrade: 'WebSocket',
        Connection: 'keep-alive, upgrade',
        'Sec-WebSocket-Protocol': 'superchat',
        'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover',
        'Sec-WebSocket-Accept': ` ${ACCEPT} `,
      }),
      KEY,
      offeredP,
      offeredE,
    );
    assert.deepEqual(r, {
      ok: true,
      protocol: 'superchat',
      extensions: [{ name: 'permessage-deflate', params: [['server_no_context_takeover', true]] }],
    });
  });
  it('accepts no subprotocol even when some were offered', () => {
    const r = validateUpgradeResponse(101, response(), KEY, offeredP, offeredE);
    assert.ok(r.ok);
    assert.equal(r.protocol, '');
  });
  const bad: [string, number, Record<string, string | string[] | null>, string][] = [
    ['status 200', 200, {}, 'ERR_WS_HANDSHAKE_STATUS'],
    ['status 400', 400, {}, 'ERR_WS_HANDSHAKE_STATUS'],
    ['no Upgrade', 101, { Upgrade: null }, 'ERR_WS_HANDSHAKE_UPGRADE'],
    ['Upgrade: h2c', 101, { Upgrade: 'h2c' }, 'ERR_WS_HANDSHAKE_UPGRADE'],
    ['no Connection', 101, { Connection: null }, 'ERR_WS_HANDSHAKE_CONNECTION'],
    ['Connection: close', 101, { Connection: 'close' }, 'ERR_WS_HANDSHAKE_CONNECTION'],
    ['no Sec-WebSocket-Accept', 101, { 'Sec-WebSocket-Accept': null }, 'ERR_WS_HANDSHAKE_ACCEPT'],
    [
      'a wrong Sec-WebSocket-Accept',
      101,
      { 'Sec-WebSocket-Accept': acceptKey('AAAAAAAAAAAAAAAAAAAAAA==') },
      'ERR_WS_HANDSHAKE_ACCEPT',
    ],
    ['two Sec-WebSocket-Accept', 101, { 'Sec-WebSocket-Accept': [ACCEPT, ACCEPT] }, 'ERR_WS_HANDSHAKE_ACCEPT'],
    ['a subprotocol not offered', 101, { 'Sec-WebSocket-Protocol': 'other' }, 'ERR_WS_HANDSHAKE_PROTOCOL'],
    ['a list of subprotocols', 101, { 'Sec-WebSocket-Protocol': 'chat, superchat' }, 'ERR_WS_HANDSHAKE_PROTOCOL'],
    ['two subprotocol headers', 101, { 'Sec-WebSocket-Protocol': ['chat', 'chat'] }, 'ERR_WS_HANDSHAKE_PROTOCOL'],
    ['an empty subprotocol', 101, { 'Sec-WebSocket-Protocol': '' }, 'ERR_WS_HANDSHAKE_PROTOCOL'],
    ['an extension not offered', 101, { 'Sec-WebSocket-Extensions': 'x-foo' }, 'ERR_WS_HANDSHAKE_EXTENSIONS'],
    [
      'an extension accepted twice',
      101,
      { 'Sec-WebSocket-Extensions': 'permessage-deflate, permessage-deflate' },
      'ERR_WS_HANDSHAKE_EXTENSIONS',
    ],
    [
      'a malformed extension header',
      101,
      { 'Sec-WebSocket-Extensions': 'permessage-deflate;' },
      'ERR_WS_HANDSHAKE_EXTENSIONS',
    ],
  ];
  for (const [name, status, overrides, code] of bad) {
    it(`fails on ${name} with ${code}`, () => {
      const r = validateUpgradeResponse(status, response(overrides), KEY, offeredP, offeredE);
      assert.equal(r.ok, false);
      assert.equal(r.ok === false && r.code, code);
    });
  }
});

describe('isValidKey (RFC 6455 §4.2.1 item 5)', () => {
  // The reference: the grammar as a regex, which the loop replaced for speed.
  const reference = (k: string) => /^[A-Za-z0-9+/]{22}==$/.test(k);
  it('agrees with the base64-of-16-bytes grammar on random keys and near misses', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .:@[`{\u00e9\u0100';
    const keyChar = fc.constantFrom(...alphabet);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(keyChar, { minLength: 20, maxLength: 26 }).map((a) => a.join('')),
          fc.uint8Array({ minLength: 14, maxLength: 18 }).map((b) => Buffer.from(b).toString('base64')),
          fc.string(),
        ),
        (k) => isValidKey(k) === reference(k),
      ),
      { numRuns: 20_000 },
    );
    for (let i = 0; i < 100; i++) assert.equal(isValidKey(randomBytes(16).toString('base64')), true);
  });
});
