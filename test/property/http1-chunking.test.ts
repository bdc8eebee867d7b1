/**
 * Property tests (fast-check, fixed seeds, bounded runs) for the HTTP/1.1 core (src/http1/protocol.ts +
 * parser.ts): generated valid pipelined requests (any method, target, fields, Content-Length or chunked body
 * with extensions and trailers) give the same events and bytes written whatever the chunk boundaries, and the
 * events are the requests that were generated; random bytes, request-shaped junk and random mutations of valid
 * requests never throw out of receive(), are split-invariant, and end in valid requests or in exactly one error
 * whose status is one the core may answer with.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Http1ServerOptions } from '../../src/http1/protocol.js';
import {
  bytewise,
  feedChunks,
  field,
  type Http1Event,
  parseResponses,
  type RunResult,
  splitAt,
  type WrittenResponse,
} from '../helpers/http1.js';

const SEED = 0x5eed1;
const ERROR_STATUSES = new Set([400, 408, 413, 414, 417, 431, 501, 505]);

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
// RFC 3986 pchar and "/": "%" only as a pct-encoded triplet.
const PCHARS = [..."abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/", '%20', '%2F', '%aB'];
// field-vchar and obs-text, without SP/HTAB (those are added inside values only).
const VCHARS = `${Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i)).join('')}\x80\xa0\xe9\xff`;

const token = (max: number) => fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: max });

/** A field value with inner whitespace, and the OWS the sender puts around it. */
const fieldValue = fc
  .tuple(
    fc.array(fc.string({ unit: fc.constantFrom(...VCHARS), minLength: 1, maxLength: 8 }), { maxLength: 3 }),
    fc.constantFrom(' ', '\t', ' \t'),
    fc.constantFrom('', ' ', '\t', ' \t '),
    fc.constantFrom('', ' ', '\t'),
  )
  .map(([words, inner, before, after]) => ({ value: words.join(inner), wire: before + words.join(inner) + after }));

interface GenRequest {
  method: string;
  target: string;
  fields: [string, string][];
  body: string;
  wire: string;
  trailers: [string, string][];
}

// RFC 9112 §7.1.1: BWS only before ";" and around "=", never at the end of the line.
const chunkExt = fc.constantFrom('', ';a', ';a=b', ' ; a = "q \\" ;"', ';x;y=z', '\t;n="v"');

const genRequest: fc.Arbitrary<GenRequest> = fc
  .record({
    method: fc.oneof(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      token(10).map((t) => `X${t}`),
    ),
    target: fc
      .array(fc.constantFrom(...PCHARS), { maxLength: 30 })
      .map((a) => a.join(''))
      .map((p) => `/${p}`),
    fields: fc.array(fc.tuple(token(12), fieldValue), { maxLength: 6 }),
    framing: fc.constantFrom('none', 'length', 'chunked'),
    body: fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
    cuts: fc.array(fc.nat(60), { maxLength: 4 }),
    exts: fc.array(chunkExt, { minLength: 6, maxLength: 6 }),
    hexUpper: fc.boolean(),
    trailers: fc.array(fc.tuple(token(8), fieldValue), { maxLength: 2 }),
  })
  .map((g) => {
    // Field names get a prefix so that no generated field is one the framing rules look at.
    const fields: [string, string][] = [['Host', 'example.com']];
    let head = `${g.method} ${g.target} HTTP/1.1\r\nHost: example.com\r\n`;
    for (const [name, v] of g.fields) {
      fields.push([`X-${name}`, v.value]);
      head += `X-${name}:${v.wire}\r\n`;
    }
    let body = '';
    let wireBody = '';
    const trailers: [string, string][] = [];
    if (g.framing === 'length') {
      body = g.body;
      fields.push(['Content-Length', String(body.length)]);
      head += `Content-Length: ${body.length}\r\n`;
      wireBody = body;
    } else if (g.framing === 'chunked') {
      body = g.body;
      fields.push(['Transfer-Encoding', 'chunked']);
      head += 'Transfer-Encoding: chunked\r\n';
      const cuts = [...new Set(g.cuts.filter((c) => c > 0 && c < body.length))].sort((a, b) => a - b);
      let prev = 0;
      let i = 0;
      for (const c of [...cuts, body.length]) {
        if (c === prev) continue;
        const size = (c - prev).toString(16);
        wireBody += `${g.hexUpper ? size.toUpperCase() : size}${g.exts[i++ % 6]}\r\n${body.slice(prev, c)}\r\n`;
        prev = c;
      }
      wireBody += `0${g.exts[5]}\r\n`;
      for (const [name, v] of g.trailers) {
        trailers.push([`T-${name}`, v.value]);
        wireBody += `T-${name}:${v.wire}\r\n`;
      }
      wireBody += '\r\n';
    }
    return { method: g.method, target: g.target, fields, body, trailers, wire: `${head}\r\n${wireBody}` };
  });

/** The events a correct core reports for `reqs`. */
function expectedEvents(reqs: GenRequest[]): unknown[] {
  const out: unknown[] = [];
  for (const r of reqs) {
    out.push({ type: 'request', method: r.method, target: r.target, headers: r.fields.flat() });
    if (r.body !== '') out.push({ type: 'body', data: r.body });
    out.push({ type: 'end', trailers: r.trailers.flat() });
  }
  return out;
}

function shape(events: Http1Event[]): unknown[] {
  return events.map((e) =>
    e.type === 'request' ? { type: 'request', method: e.method, target: e.target, headers: e.headers } : e,
  );
}

function observable(r: RunResult) {
  return { events: r.events, written: r.sink.text, ended: r.sink.ended, thrown: r.thrown };
}

/**
 * For invalid input the error may be found at a different byte depending on what has arrived (a header section
 * that is both too large and malformed is 431 when it arrives slowly, 400 when the whole head is scanned at
 * once): everything up to the error must agree, the error's status may not.
 */
function observableUpToError(r: RunResult) {
  const failed = r.events.some((e) => e.type === 'error');
  const events = r.events.map((e) => (e.type === 'error' ? { type: 'error' } : e));
  const chunks = r.sink.chunks.map((c) => (typeof c === 'string' ? c : c.toString('latin1')));
  if (failed && /^HTTP\/1\.1 [45]\d\d /.test(chunks[chunks.length - 1] ?? '')) chunks.pop();
  return { events, written: chunks.join(''), ended: r.sink.ended, thrown: r.thrown };
}

/** Ended requests' methods in order: the responder answers exactly these, in this order. */
function answeredMethods(r: RunResult): string[] {
  const out: string[] = [];
  let method = '';
  for (const e of r.events) {
    if (e.type === 'request') method = e.method;
    else if (e.type === 'end') out.push(method);
  }
  return out;
}

/** The invariants every input must keep, valid or not. */
function checkOutcome(r: RunResult): void {
  assert.equal(r.thrown, undefined, `receive() threw: ${String(r.thrown)}`);
  const errors = r.events.filter((e) => e.type === 'error');
  assert.ok(errors.length <= 1, 'at most one error per connection');
  const answered = answeredMethods(r);
  const responses = parseResponses(
    r.sink.text,
    answered.flatMap((m, i) => (m === 'HEAD' ? [i] : [])),
  );
  const err = errors[0];
  if (err !== undefined && err.type === 'error') {
    assert.ok(ERROR_STATUSES.has(err.status), `unexpected status ${err.status}`);
    assert.equal(r.events[r.events.length - 1], err, 'nothing after the error');
    assert.equal(r.sink.ended, true);
    // The error response follows the answers to the requests that ended (none is under way with this responder).
    assert.equal(responses.length, answered.length + 1);
    assert.equal(responses[responses.length - 1]?.status, err.status);
    assert.equal(field(responses[responses.length - 1] as WrittenResponse, 'connection'), 'close');
  } else {
    assert.equal(responses.length, answered.length, 'every request that ended was answered');
  }
  assert.equal(r.sink.writesAfterEnd, 0);
}

/**
 * Feeds `input` whole, byte by byte and at `points`; asserts identical observable behaviour (up to the error's
 * status unless `strict`) and checks the outcome of every run.
 */
function runAllWays(input: Buffer, points: number[], options?: Partial<Http1ServerOptions>, strict = true): RunResult {
  const run = options === undefined ? { eof: true } : { eof: true, options };
  const view = strict ? observable : observableUpToError;
  const whole = feedChunks([input], run);
  const split = feedChunks(splitAt(input, points), run);
  const bytes = feedChunks(bytewise(input), run);
  assert.deepStrictEqual(view(split), view(whole), `split at ${points}`);
  assert.deepStrictEqual(view(bytes), view(whole), 'byte by byte');
  for (const r of [whole, split, bytes]) checkOutcome(r);
  return whole;
}

/** Limits small enough for generated requests to cross each of them (414, 431, 413 at every boundary). */
const TIGHT: Partial<Http1ServerOptions> = {
  limits: { maxRequestLineBytes: 40, maxHeaderBytes: 80, maxHeaderCount: 4, maxTrailerBytes: 24 },
  maxBodyBytes: 30,
};

describe('RFC 9112 §2.2 / §7.1: valid requests, any split', () => {
  it('generated pipelined requests give the generated events in one chunk, byte by byte and at random splits', () => {
    fc.assert(
      fc.property(
        fc.array(genRequest, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(2000), { maxLength: 8 }),
        (reqs, pts) => {
          const input = Buffer.from(reqs.map((r) => r.wire).join(''), 'latin1');
          const whole = runAllWays(
            input,
            pts.map((p) => p % (input.length + 1)),
          );
          assert.deepStrictEqual(shape(whole.events), expectedEvents(reqs));
          checkOutcome(whole);
          assert.deepStrictEqual(
            parseResponses(whole.sink.text).map((x) => x.body),
            reqs.map((r) => `${r.method} ${r.target}`),
          );
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});

const REQUEST_LINES = [
  'GET / HTTP/1.1',
  'POST /x HTTP/1.1',
  'HEAD / HTTP/1.1',
  'POST / HTTP/1.0',
  'GET / HTTP/2.0',
  'GET  / HTTP/1.1',
];
const FIELD_LINES = [
  'Host: a',
  'Host: a',
  'Host: a',
  'Host: b',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, x',
  'Content-Length: 3',
  'Content-Length: 3',
  'Content-Length: 3, 4',
  'Content-Length: 99999999999',
  'Connection: close',
  'Connection: keep-alive',
  'Expect: 100-continue',
  'Expect: x',
  'X: y',
  ' folded',
  'Transfer-Encoding : chunked',
  'Upgrade: websocket',
];
const BODY_LINES = [
  '0',
  '0',
  '3',
  '3;x=y',
  '3;x="a\\"b"',
  'abc',
  'abc',
  'X: t',
  'fffffffffffffff',
  '',
  '',
  'GET / HTTP/1.1',
  'Host: a',
];

/** A line end: usually CRLF, sometimes a wrong one. */
const eol = fc.oneof(
  { weight: 12, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\r', ' ', '') },
);
const lines = (pieces: string[], max: number) =>
  fc.array(fc.tuple(fc.constantFrom(...pieces), eol), { maxLength: max });

/** Request-shaped junk: a request-line, field lines, an empty line and body lines, with some wrong line ends. */
const junk = fc
  .array(fc.tuple(fc.constantFrom(...REQUEST_LINES), eol, lines(FIELD_LINES, 5), eol, lines(BODY_LINES, 6)), {
    minLength: 1,
    maxLength: 3,
  })
  .map((reqs) => {
    let s = '';
    for (const [line, e1, fields, e2, body] of reqs) {
      s += line + e1;
      for (const [f, e] of fields) s += f + e;
      s += e2;
      for (const [b, e] of body) s += b + e;
    }
    return Buffer.from(s, 'latin1');
  });

const INTERESTING_BYTES = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x30, 0x61, 0x80, 0x2c, 0x3b, 0x22, 0x5c, 0x7f, 0x0b];

/** A valid request with a few bytes replaced, inserted or deleted. */
const mutated = fc
  .tuple(
    fc.array(genRequest, { minLength: 1, maxLength: 2 }),
    fc.array(
      fc.tuple(
        fc.constantFrom('replace', 'insert', 'delete'),
        fc.nat(),
        fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.nat(255)),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([reqs, muts]) => {
    const bytes = [...Buffer.from(reqs.map((r) => r.wire).join(''), 'latin1')];
    for (const [kind, at, byte] of muts) {
      const i = at % (bytes.length + 1);
      if (kind === 'insert') bytes.splice(i, 0, byte);
      else if (i < bytes.length) {
        if (kind === 'replace') bytes[i] = byte;
        else bytes.splice(i, 1);
      }
    }
    return Buffer.from(bytes);
  });

describe('robustness: the receive path never throws and fails with one known status', () => {
  const chunkedHead = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
  const valid = fc
    .array(genRequest, { minLength: 1, maxLength: 3 })
    .map((reqs) => Buffer.from(reqs.map((r) => r.wire).join(''), 'latin1'));
  // [name, input, runs, options, strict split invariance (the error's status too)]
  const cases: [string, fc.Arbitrary<Buffer>, number, Partial<Http1ServerOptions> | undefined, boolean][] = [
    ['random bytes', fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), 500, undefined, false],
    [
      'random bytes after a chunked head',
      fc.uint8Array({ maxLength: 100 }).map((u) => Buffer.concat([chunkedHead, u])),
      500,
      undefined,
      true,
    ],
    ['request-shaped junk', junk, 1500, undefined, false],
    ['mutations of valid requests', mutated, 1500, undefined, false],
    ['valid requests under tight limits (414, 431, 413)', valid, 500, TIGHT, true],
    ['mutations under tight limits', mutated, 500, TIGHT, false],
  ];
  for (const [name, arb, numRuns, options, strict] of cases) {
    it(name, () => {
      fc.assert(
        fc.property(arb, fc.array(fc.nat(2000), { maxLength: 6 }), (input, pts) => {
          const whole = runAllWays(
            input,
            pts.map((p) => p % (input.length + 1)),
            options,
            strict,
          );
          assert.ok(whole.events.length > 0 || input.length === 0 || /^(\r\n)*$/.test(input.toString('latin1')));
        }),
        { seed: SEED, numRuns },
      );
    });
  }
});
