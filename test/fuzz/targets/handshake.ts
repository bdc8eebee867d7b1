/**
 * Fuzz targets of the opening handshake: `ws-handshake` (validateUpgradeRequest on every head the request parser
 * reads from the input, validateUpgradeResponse on the same fields taken as a 101 answer, and the answers the
 * library builds) and `ws-extensions` (parseExtensions / formatExtensions and permessage-deflate negotiation on the
 * input taken as a Sec-WebSocket-Extensions value).
 *
 * Oracles (see docs/fuzzing.md): each validator agrees with the reference reader of reference/handshake.ts (accepts
 * what it accepts, with the same key, subprotocols and extensions; otherwise answers with a status or code the broken
 * rule calls for); a refusal's reason is a fixed text (no peer bytes) and its built response is a well-formed HTTP
 * answer with that status; an accepted request's 101, built by the library, is accepted by the library's client check
 * with the chosen subprotocol and extensions; the extension parser agrees with the reference grammar and formatting
 * what it parsed parses back the same; the server's permessage-deflate choice is the first offer RFC 7692 §7 lets it
 * accept, and the client check of its answer accepts it with the same parameters. Never an exception.
 */

import assert from 'node:assert/strict';
import type { Buffer } from 'node:buffer';
import { HeaderList } from '../../../src/http1/headers.js';
import { type RequestHead, RequestParser } from '../../../src/http1/parser.js';
import { extensionNames, formatExtensions, parseExtensions } from '../../../src/ws/extensions.js';
import {
  acceptKey,
  buildAcceptResponse,
  buildRejectResponse,
  validateUpgradeRequest,
  validateUpgradeResponse,
} from '../../../src/ws/handshake.js';
import {
  checkDeflateResponse,
  type DeflateServerPolicy,
  negotiateDeflate,
} from '../../../src/ws/permessage-deflate.js';
import { FIXED_DATE, parseResponses } from '../../helpers/http1.js';
import type { FuzzTarget } from '../engine.js';
import { sameAs } from '../oracle.js';
import {
  acceptRef,
  checkRequestRef,
  checkResponseRef,
  deflateOfferRef,
  parseExtensionsRef,
} from '../reference/handshake.js';

/** Every head the request parser reads from `data` (pipelined; bodies skipped as Content-Length says). */
function headsOf(data: Buffer): RequestHead[] {
  const heads: RequestHead[] = [];
  const parser = new RequestParser({
    onHead(head) {
      heads.push(head);
      return 0;
    },
    onBody() {},
    onMessageEnd() {},
    onError() {},
  });
  let pos = 0;
  while (pos < data.length && !parser.isFailed) {
    pos = parser.receive(data, pos);
    if (parser.isDone) parser.next();
  }
  return heads;
}

/** The field lines of a response head the library built (status line first). */
function fieldsOfHead(head: string): { status: number; fields: string[] } {
  const lines = head.split('\r\n');
  assert.equal(lines.at(-1), '', 'a head ends with an empty line');
  assert.equal(lines.at(-2), '', 'a head ends with an empty line');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!);
  assert.ok(m !== null, `status line ${JSON.stringify(lines[0])}`);
  const fields: string[] = [];
  for (const l of lines.slice(1, -2)) {
    const c = l.indexOf(': ');
    assert.ok(c > 0, `field line ${JSON.stringify(l)}`);
    fields.push(l.slice(0, c), l.slice(c + 2));
  }
  return { status: Number(m[1]), fields };
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const OFFERED_PROTOCOLS = ['chat', 'superchat'];
const OFFERED_EXTENSIONS = ['permessage-deflate', 'x-test'];

function checkHead(head: RequestHead): void {
  const raw = head.headers.raw;
  const r = validateUpgradeRequest(head.method, head.httpVersion, head.headers);
  const ref = checkRequestRef(head.method, head.httpVersion, raw);
  if (ref.ok) {
    assert.ok(r.ok, `refused (${r.ok ? '' : `${r.status} ${r.reason}`}) a handshake RFC 6455 §4.2.1 accepts`);
    sameAs(
      { key: r.key, protocols: r.protocols, extensions: r.extensions },
      { key: ref.key, protocols: ref.protocols, extensions: ref.extensions },
      'what the handshake asks for',
    );
    // §4.2.2: the 101 the library builds, for a subprotocol and the extensions offered (each name once), is one the
    // library's own client check accepts.
    assert.equal(acceptKey(r.key), acceptRef(r.key), 'Sec-WebSocket-Accept');
    const protocol = r.protocols[0] ?? '';
    const chosen = r.extensions.filter((e, i) => r.extensions.findIndex((x) => x.name === e.name) === i);
    const built = fieldsOfHead(buildAcceptResponse(r.key, protocol, formatExtensions(chosen)));
    assert.equal(built.status, 101);
    const back = validateUpgradeResponse(101, new HeaderList(built.fields), r.key, r.protocols, extensionNames(chosen));
    assert.ok(back.ok, `the library refuses its own 101: ${back.ok ? '' : back.message}`);
    assert.equal(back.protocol, protocol);
    sameAs(back.extensions, chosen, 'extensions of the built 101');
  } else {
    assert.ok(!r.ok, 'accepted a handshake RFC 6455 §4.2.1 refuses');
    assert.ok(ref.statuses.has(r.status), `${r.status} (${r.reason}); the reference says ${[...ref.statuses]}`);
    // "Never contains the peer's bytes."
    assert.match(r.reason, /^[A-Za-z0-9 ./-]+$/, 'reason is a fixed text');
    const answer = parseResponses(buildRejectResponse(r, FIXED_DATE));
    assert.equal(answer.length, 1);
    assert.equal(answer[0]!.status, r.status);
    assert.equal(answer[0]!.body, `${r.reason}\n`);
    if (r.status === 426) {
      assert.ok(
        answer[0]!.fields.some(([n, v]) => n === 'Sec-WebSocket-Version' && v === '13'),
        '426 names version 13',
      );
    }
  }
  // The same fields as the server's answer to our handshake (client side, §4.1).
  const resp = validateUpgradeResponse(101, head.headers, KEY, OFFERED_PROTOCOLS, OFFERED_EXTENSIONS);
  const refResp = checkResponseRef(raw, KEY, OFFERED_PROTOCOLS, OFFERED_EXTENSIONS);
  if (refResp.ok) {
    assert.ok(resp.ok, `refused (${resp.ok ? '' : resp.code}) an answer RFC 6455 §4.1 accepts`);
    sameAs(
      { protocol: resp.protocol, extensions: resp.extensions },
      { protocol: refResp.protocol, extensions: refResp.extensions },
      'what the answer agrees to',
    );
  } else {
    assert.ok(!resp.ok, `accepted an answer RFC 6455 §4.1 refuses (${[...refResp.codes]})`);
    assert.ok(refResp.codes.has(resp.code), `${resp.code}; the reference says ${[...refResp.codes]}`);
  }
  assert.equal(validateUpgradeResponse(200, head.headers, KEY, [], []).ok, false, 'a status other than 101');
}

export const wsHandshakeTarget: FuzzTarget = {
  name: 'ws-handshake',
  checks: 'validateUpgradeRequest/Response vs reference RFC 6455 §4 checks; built 101 and refusals well formed',
  corpus: ['ws-handshake'],
  dictionary: [
    'Upgrade: websocket\r\n',
    'Connection: Upgrade\r\n',
    'Connection: keep-alive, Upgrade\r\n',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
    'Sec-WebSocket-Version: 13\r\n',
    'Sec-WebSocket-Version: 8\r\n',
    'Sec-WebSocket-Protocol: chat, superchat\r\n',
    'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n',
    'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n',
    'Host: a\r\n',
    'GET / HTTP/1.1\r\n',
    '\r\n',
    ', ',
    ';',
    '="',
    'x-test',
  ],
  maxLen: 4096,
  run(data: Buffer): void {
    for (const head of headsOf(data)) checkHead(head);
  },
};

const POLICIES: readonly DeflateServerPolicy[] = [
  {},
  { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
];

function checkExtensionValue(value: string): void {
  const parsed = parseExtensions(value);
  const ref = parseExtensionsRef(value);
  sameAs(parsed, ref, 'parseExtensions vs the RFC 6455 §9.1 grammar');
  if (parsed === null) return;
  // Formatting what was parsed gives a value that parses the same (quoted values are tokens, written bare).
  sameAs(parseExtensions(formatExtensions(parsed)), parsed, 'format then parse');
  for (const policy of POLICIES) {
    const agreement = negotiateDeflate(parsed, policy);
    // RFC 7692 §7: the server takes the first permessage-deflate offer it may accept, in the client's order.
    const offers = parsed.map(deflateOfferRef);
    const first = offers.find((o) => o !== null) ?? null;
    if (first === null) {
      assert.equal(agreement, null, 'accepted a permessage-deflate offer RFC 7692 §7 declines');
      continue;
    }
    assert.ok(agreement !== null, 'declined every offer, though one is acceptable');
    // The client that made that offer accepts the answer, and both ends agree on the parameters.
    const response = parseExtensions(formatExtensions([agreement.response]));
    assert.ok(response !== null && response.length === 1, 'the response element formats and parses');
    const check = checkDeflateResponse(response[0]!, first);
    assert.ok(check.ok, `the client refuses the server's answer: ${check.ok ? '' : check.reason}`);
    sameAs(check.params, agreement.params, 'server and client agree on the parameters');
  }
}

export const wsExtensionsTarget: FuzzTarget = {
  name: 'ws-extensions',
  checks: 'parseExtensions vs the RFC 6455 §9.1 grammar, format round trip, permessage-deflate offer/answer agreement',
  corpus: ['ws-extensions'],
  dictionary: [
    'permessage-deflate',
    'client_max_window_bits',
    'server_max_window_bits',
    'client_no_context_takeover',
    'server_no_context_takeover',
    '=15',
    '=8',
    '="10"',
    '=08',
    ', ',
    '; ',
    '"\\"',
    '\t',
  ],
  maxLen: 1024,
  run(data: Buffer): void {
    checkExtensionValue(data.toString('latin1'));
    checkExtensionValue(data.toString('utf8'));
  },
};
