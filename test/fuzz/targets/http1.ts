/**
 * Fuzz targets of the HTTP/1.1 core: `http1-parser` (RequestParser: heads, Content-Length and chunked bodies,
 * pipelining), `http1-chunked` (the chunked decoder alone, behind a fixed head) and `http1-protocol`
 * (Http1ServerProtocol: the smuggling rules, responses, pipelining order, errors).
 *
 * Oracles (see docs/fuzzing.md): the events are the same in one piece, byte by byte and at random splits; every head
 * the parser accepts is the one the reference reader (reference/http1.ts) reads, and every head it refuses breaks a
 * rule the reference names, with that rule's status; Content-Length bodies have exactly that length and chunked bodies
 * are what the reference decoder decodes, with its trailers and up to the same offset; `receive` returns an offset
 * inside its input and writes nothing outside it; errors are documented ProtocolErrors with their status, at most one,
 * and nothing is reported after one; the server protocol frames each request as RFC 9112 §6 says or refuses it, never
 * hands a request to the handler after an error, and writes well-formed responses in request order.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { ProtocolError } from '../../../src/errors.js';
import {
  BODY_CHUNKED,
  BODY_NONE,
  DEFAULT_PARSER_LIMITS,
  type RequestHead,
  RequestParser,
  type RequestParserHandler,
  type RequestParserLimits,
} from '../../../src/http1/parser.js';
import {
  type Http1ServerHandler,
  Http1ServerProtocol,
  type Http1Sink,
  type RequestInfo,
} from '../../../src/http1/protocol.js';
import { FIXED_DATE, parseResponses } from '../../helpers/http1.js';
import type { FuzzTarget } from '../engine.js';
import { checkHttpError, chunksOf, Guarded, sameAs, splitsOf } from '../oracle.js';
import { decodeChunked, framingOf, type HeadLimits, type HttpErr, readHead } from '../reference/http1.js';

type Ev =
  | ['request', string, string, string, string[], number]
  | ['body', string]
  | ['end', string[]]
  | ['error', number, string];

/** Small limits, so that inputs of a few hundred bytes reach every limit; and the defaults. */
const SMALL: RequestParserLimits = {
  maxRequestLineBytes: 48,
  maxHeaderBytes: 160,
  maxHeaderCount: 6,
  maxTrailerBytes: 40,
  targetChars: 'browser',
};
const CONFIGS: readonly { limits: RequestParserLimits; maxBodyBytes: number }[] = [
  { limits: DEFAULT_PARSER_LIMITS, maxBodyBytes: 4096 },
  { limits: SMALL, maxBodyBytes: 64 },
  { limits: { ...DEFAULT_PARSER_LIMITS, targetChars: 'rfc3986' }, maxBodyBytes: 1 << 20 },
  { limits: { ...DEFAULT_PARSER_LIMITS, targetChars: 'any' }, maxBodyBytes: 1 << 20 },
];

function headLimits(l: RequestParserLimits): HeadLimits {
  return {
    maxRequestLineBytes: l.maxRequestLineBytes,
    maxHeaderBytes: l.maxHeaderBytes,
    maxHeaderCount: l.maxHeaderCount,
    targetChars: l.targetChars ?? 'browser',
  };
}

/** The framing the test's owner gives a head: any Transfer-Encoding is chunked, else a small Content-Length. */
function naiveFraming(head: RequestHead): number {
  if (head.headers.has('transfer-encoding')) return BODY_CHUNKED;
  const cl = head.headers.get('content-length');
  return cl !== undefined && /^[0-9]{1,5}$/.test(cl) ? Number(cl) : BODY_NONE;
}

function pushBody(events: Ev[], chunk: Buffer): void {
  const last = events[events.length - 1];
  if (last !== undefined && last[0] === 'body') last[1] += chunk.toString('latin1');
  else events.push(['body', chunk.toString('latin1')]);
}

class ParserRecorder implements RequestParserHandler {
  events: Ev[] = [];
  errors: ProtocolError[] = [];
  /** The chunk being parsed: body pieces must be views of it. */
  current: Buffer = Buffer.alloc(0);
  framing: (head: RequestHead) => number = naiveFraming;
  onHead(head: RequestHead): number {
    assert.equal(this.errors.length, 0, 'a head after an error');
    const framing = this.framing(head);
    this.events.push(['request', head.method, head.target, head.httpVersion, head.headers.raw.slice(), framing]);
    return framing;
  }
  onBody(chunk: Buffer): void {
    assert.equal(this.errors.length, 0, 'a body after an error');
    const c = this.current;
    assert.ok(
      chunk.buffer === c.buffer &&
        chunk.byteOffset >= c.byteOffset &&
        chunk.byteOffset + chunk.length <= c.byteOffset + c.length,
      'a body piece is not a view of the chunk being parsed',
    );
    pushBody(this.events, chunk);
  }
  onMessageEnd(trailers: string[]): void {
    assert.equal(this.errors.length, 0, 'a message end after an error');
    this.events.push(['end', trailers.slice()]);
  }
  onError(err: ProtocolError): void {
    checkHttpError(err);
    assert.equal(this.errors.length, 0, 'a second error');
    this.errors.push(err);
    this.events.push(['error', err.status, err.code]);
  }
}

interface ParserRun {
  events: Ev[];
  /** Offsets (in the whole input) where each message ended, in order. */
  ends: number[];
}

/** Feeds `data` in the chunks of `cuts` to a RequestParser, calling next() after each message, then EOF. */
function runParser(
  data: Buffer,
  cuts: number[],
  config: { limits: RequestParserLimits; maxBodyBytes: number },
  framing?: (head: RequestHead) => number,
): ParserRun {
  const rec = new ParserRecorder();
  if (framing !== undefined) rec.framing = framing;
  const parser = new RequestParser(rec, config.limits);
  parser.maxBodyBytes = config.maxBodyBytes;
  const ends: number[] = [];
  let base = 0;
  for (const piece of chunksOf(data, { name: '', cuts })) {
    const g = new Guarded(piece);
    rec.current = g.chunk;
    let pos = 0;
    while (pos < piece.length && !parser.isFailed) {
      const next = parser.receive(g.chunk, pos);
      // RequestParser.receive: "Returns the offset where it stopped", inside the chunk.
      assert.ok(next >= pos && next <= piece.length, `receive() returned ${next} for a chunk of ${piece.length} bytes`);
      pos = next;
      if (parser.isDone) {
        ends.push(base + pos);
        parser.next();
      } else if (!parser.isFailed) {
        assert.equal(pos, piece.length, 'receive() stopped early without ending a message or failing');
      }
    }
    g.check('RequestParser.receive');
    base += piece.length;
  }
  parser.receiveEof();
  return { events: rec.events, ends };
}

/** Checks one message's events against the reference readers, from `at` in `data`; returns where it ended. */
function checkMessages(data: Buffer, run: ParserRun, config: { limits: RequestParserLimits; maxBodyBytes: number }) {
  const limits = headLimits(config.limits);
  let at = 0;
  let k = 0;
  const ev = run.events;
  for (let m = 0; ; m++) {
    const head = readHead(data, at, limits);
    const e = ev[k];
    if (e === undefined) {
      // Nothing more reported: the input ended inside a head (EOF after a partial head is an error, so only
      // leading empty lines or nothing at all can be left).
      assert.ok(head.kind === 'incomplete' && isEmptyLines(data, at), `message ${m}: the reference reads more`);
      return;
    }
    if (e[0] === 'error') {
      assert.equal(k, ev.length - 1, 'events after an error');
      if (head.kind === 'error') {
        assert.ok(
          head.statuses.has(e[1]),
          `message ${m}: status ${e[1]} (${e[2]}), the reference says ${[...head.statuses]}`,
        );
      } else {
        // EOF inside a head the reference would still wait for.
        assert.equal(head.kind, 'incomplete', `message ${m}: ${e[2]} for a head the reference accepts`);
        assert.equal(e[2], 'ERR_HTTP_INCOMPLETE_MESSAGE', `message ${m}: ${e[2]} for an incomplete head`);
      }
      return;
    }
    assert.equal(e[0], 'request');
    assert.equal(head.kind, 'ok', `message ${m}: the parser read a head the reference does not`);
    if (head.kind !== 'ok') return;
    sameAs(
      { method: e[1], target: e[2], version: e[3], headers: e[4] },
      { method: head.head.method, target: head.head.target, version: head.head.version, headers: head.head.headers },
      `message ${m}: head`,
    );
    const framing = e[5];
    k++;
    const bodyEv = ev[k]?.[0] === 'body' ? (ev[k++] as ['body', string]) : null;
    const body = bodyEv === null ? '' : bodyEv[1];
    const next = ev[k];
    if (framing === BODY_CHUNKED) {
      const ref = decodeChunked(data, head.end, {
        maxBodyBytes: config.maxBodyBytes,
        maxTrailerBytes: config.limits.maxTrailerBytes,
        maxHeaderCount: config.limits.maxHeaderCount,
      });
      assert.equal(body, ref.body.toString('latin1'), `message ${m}: chunked body`);
      if (ref.errors.length > 0) {
        assert.ok(next?.[0] === 'error', `message ${m}: no error for a chunked body that breaks ${codes(ref.errors)}`);
        assert.ok(isOneOf(next, ref.errors), `message ${m}: ${next?.[2]}, the reference says ${codes(ref.errors)}`);
        return;
      }
      if (ref.end < 0) {
        assert.ok(
          next?.[0] === 'error' && next[2] === 'ERR_HTTP_INCOMPLETE_MESSAGE',
          `message ${m}: cut-off chunked body`,
        );
        return;
      }
      assert.ok(next?.[0] === 'end', `message ${m}: the chunked body ends at ${ref.end}`);
      sameAs(next[1], ref.trailers, `message ${m}: trailers`);
      assert.equal(run.ends[m], ref.end, `message ${m}: ends at ${run.ends[m]}, the chunked body at ${ref.end}`);
      at = ref.end;
    } else {
      const length = Math.max(framing, 0);
      // RFC 9112 §6.2: exactly Content-Length bytes of body, as they came.
      assert.equal(body, data.toString('latin1', head.end, head.end + length), `message ${m}: body`);
      if (head.end + length > data.length) {
        assert.ok(next?.[0] === 'error' && next[2] === 'ERR_HTTP_INCOMPLETE_MESSAGE', `message ${m}: body cut off`);
        return;
      }
      assert.ok(next?.[0] === 'end', `message ${m}: end after ${length} bytes of body`);
      assert.deepEqual(next[1], [], 'trailers without chunked coding');
      assert.equal(run.ends[m], head.end + length, `message ${m}: end offset`);
      at = head.end + length;
    }
    k++;
  }
}

function isEmptyLines(data: Buffer, at: number): boolean {
  return /^(\r\n)*$/.test(data.toString('latin1', at));
}

function codes(errors: HttpErr[]): string {
  return errors.map((e) => `${e.status} ${e.code}`).join(' | ');
}

function isOneOf(e: Ev | undefined, errors: HttpErr[]): boolean {
  return e !== undefined && e[0] === 'error' && errors.some((x) => x.status === e[1] && x.code === e[2]);
}

/** Tokens of HTTP/1.1 requests for the mutator. */
const HTTP_DICTIONARY: readonly string[] = [
  'GET ',
  'POST ',
  'HEAD ',
  'OPTIONS * ',
  'CONNECT a:1 ',
  ' HTTP/1.1\r\n',
  ' HTTP/1.0\r\n',
  ' HTTP/2.0\r\n',
  '\r\n',
  '\r\n\r\n',
  '\n',
  '\r',
  'Host: a\r\n',
  'Host: ',
  'Content-Length: ',
  'Content-Length: 5\r\n',
  'Content-Length: 0\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: ',
  'chunked',
  'gzip, chunked',
  'Connection: close\r\n',
  'Connection: keep-alive\r\n',
  'Connection: Upgrade\r\nUpgrade: websocket\r\n',
  'Expect: 100-continue\r\n',
  'Trailer: x\r\n',
  '0\r\n\r\n',
  '5\r\nhello\r\n',
  'ffffffffffffff',
  '0000000000000000000005',
  ';ext=1',
  ';e="q\\"s"',
  ' ; a = b',
  ':',
  ': ',
  ' \t',
  '%2F',
  '%zz',
  'http://a/',
  'http://u@a/',
  '\x00',
  '\x7f',
  '\xff',
  'X: y\r\n',
];

export const http1ParserTarget: FuzzTarget = {
  name: 'http1-parser',
  checks: 'RequestParser: heads vs a reference reader, CL/chunked bodies exact, any split, offsets in input',
  corpus: ['http1'],
  dictionary: HTTP_DICTIONARY,
  maxLen: 4096,
  run(data: Buffer): void {
    for (const config of CONFIGS) {
      const splits = splitsOf(data, 512);
      const whole = runParser(data, [], config);
      for (const s of splits.slice(1)) sameAs(runParser(data, s.cuts, config).events, whole.events, s.name);
      checkMessages(data, whole, config);
    }
  },
};

const CHUNKED_HEAD = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
const CHUNKED_CONFIGS: readonly { limits: RequestParserLimits; maxBodyBytes: number }[] = [
  { limits: DEFAULT_PARSER_LIMITS, maxBodyBytes: 4096 },
  { limits: SMALL, maxBodyBytes: 64 },
];

export const http1ChunkedTarget: FuzzTarget = {
  name: 'http1-chunked',
  checks: 'chunked decoder behind a fixed head vs a reference RFC 9112 §7.1 decoder (body, trailers, end, error)',
  corpus: ['http1-chunked'],
  dictionary: ['\r\n', '0\r\n\r\n', ';', '="', '\\"', ' ', '\t', 'f', '10', '0000', 'X: y\r\n', ' a\r\n', '\r', '\n'],
  maxLen: 8192,
  run(data: Buffer): void {
    const input = Buffer.concat([CHUNKED_HEAD, data]);
    for (const config of CHUNKED_CONFIGS) {
      const whole = runParser(input, [], config, () => BODY_CHUNKED);
      const splits = splitsOf(data, 512);
      for (const s of splits.slice(1)) {
        const cuts = [CHUNKED_HEAD.length, ...s.cuts.map((c) => c + CHUNKED_HEAD.length)];
        sameAs(runParser(input, cuts, config, () => BODY_CHUNKED).events, whole.events, s.name);
      }
      checkMessages(input, whole, config);
    }
  },
};

// --- Http1ServerProtocol ----------------------------------------------------------------------------------

class Sink implements Http1Sink {
  text = '';
  ended = 0;
  writesAfterEnd = 0;
  writeString(s: string): void {
    if (this.ended > 0) this.writesAfterEnd++;
    this.text += s;
  }
  write(chunk: Buffer): void {
    if (this.ended > 0) this.writesAfterEnd++;
    this.text += chunk.toString('latin1');
  }
  end(): void {
    this.ended++;
  }
}

type Mode = 'sync' | 'early' | 'upgrade';

/** A handler that answers each request with `<method> <target>` at its end ('sync') or at once ('early'). */
class Responder implements Http1ServerHandler {
  events: Ev[] = [];
  heads: RequestHead[] = [];
  infos: RequestInfo[] = [];
  errors = 0;
  protocol: Http1ServerProtocol | null = null;
  current: RequestHead | null = null;
  upgraded = false;
  readonly mode: Mode;
  constructor(mode: Mode) {
    this.mode = mode;
  }
  onRequest(head: RequestHead, info: RequestInfo): void {
    // The rule the brief names first: no request reaches the handler after an error.
    assert.equal(this.errors, 0, 'a request reached the handler after an error');
    assert.ok(!this.upgraded, 'a request after an upgrade');
    this.heads.push(head);
    this.infos.push(info);
    const f = info.chunked ? BODY_CHUNKED : info.contentLength;
    this.events.push(['request', head.method, head.target, head.httpVersion, head.headers.raw.slice(), f]);
    this.current = head;
    const p = this.protocol!;
    if (this.mode === 'upgrade' && info.upgrade) {
      this.upgraded = true;
      p.detach();
      return;
    }
    if (this.mode === 'early') p.respond(200, [], Buffer.from(`${head.method} ${head.target}`, 'latin1'));
  }
  onBody(chunk: Buffer): void {
    assert.equal(this.errors, 0, 'body after an error');
    pushBody(this.events, chunk);
  }
  onRequestEnd(trailers: string[]): void {
    assert.equal(this.errors, 0, 'request end after an error');
    this.events.push(['end', trailers.slice()]);
    if (this.mode !== 'early') {
      const head = this.current!;
      this.protocol!.respond(200, [], Buffer.from(`${head.method} ${head.target}`, 'latin1'));
    }
  }
  onError(err: ProtocolError): void {
    checkHttpError(err);
    this.errors++;
    assert.equal(this.errors, 1, 'a second error');
    this.events.push(['error', err.status, err.code]);
  }
}

interface ProtocolRun {
  events: Ev[];
  written: string;
  ended: number;
  remainder: string | null;
  responder: Responder;
}

function runProtocol(data: Buffer, cuts: number[], mode: Mode, limits: RequestParserLimits): ProtocolRun {
  const responder = new Responder(mode);
  const sink = new Sink();
  const protocol = new Http1ServerProtocol(
    { limits, maxBodyBytes: 4096, date: () => FIXED_DATE, allowedMethods: null },
    responder,
    sink,
  );
  responder.protocol = protocol;
  let remainder: string | null = null;
  for (const piece of chunksOf(data, { name: '', cuts })) {
    if (responder.upgraded) {
      remainder = (remainder ?? '') + Buffer.from(piece).toString('latin1');
      continue;
    }
    const g = new Guarded(piece);
    protocol.receive(g.chunk);
    g.check('Http1ServerProtocol.receive');
    if (responder.upgraded) {
      remainder = protocol
        .takeRemainder()
        .map((b) => b.toString('latin1'))
        .join('');
    }
  }
  if (!responder.upgraded) protocol.receiveEof();
  assert.equal(sink.writesAfterEnd, 0, 'bytes written after end()');
  assert.ok(sink.ended <= 1, 'end() more than once');
  return { events: responder.events, written: sink.text, ended: sink.ended, remainder, responder };
}

function checkProtocol(data: Buffer, run: ProtocolRun, mode: Mode, limits: RequestParserLimits): void {
  const r = run.responder;
  const errorEv = run.events.find((e) => e[0] === 'error');
  if (errorEv !== undefined) assert.deepEqual(run.events.at(-1), errorEv, 'events after the error');
  // Each request the handler saw: its framing is the one RFC 9112 §6 gives its head (refusals never reach it).
  for (let i = 0; i < r.heads.length; i++) {
    const head = r.heads[i]!;
    const info = r.infos[i]!;
    const ref = framingOf(
      {
        method: head.method,
        target: head.target,
        version: head.httpVersion === '1.0' ? '1.0' : '1.1',
        headers: head.headers.raw,
      },
      4096,
    );
    assert.notEqual(ref.kind, 'reject', `request ${i}: reached the handler, but RFC 9112 §6 framing refuses it`);
    if (ref.kind === 'chunked') assert.ok(info.chunked, `request ${i}: should be chunked`);
    else {
      assert.ok(!info.chunked, `request ${i}: chunked without Transfer-Encoding: chunked`);
      assert.equal(info.contentLength, ref.kind === 'length' ? ref.length : 0, `request ${i}: Content-Length`);
    }
  }
  // A first head that RFC 9112 §6 framing refuses never reaches the handler: it is answered with an error.
  const first = readHead(data, 0, headLimits(limits));
  if (first.kind === 'ok' && framingOf(first.head, 4096).kind === 'reject') {
    assert.equal(r.heads.length, 0, 'a request whose framing RFC 9112 §6 refuses reached the handler');
    assert.ok(errorEv !== undefined, 'a request whose framing RFC 9112 §6 refuses was not refused');
  }
  // Responses: well formed, one per request answered in order, then the error's (if no response had started).
  const bodyless = r.heads.map((h, i) => (h.method === 'HEAD' ? i : -1)).filter((i) => i >= 0);
  const responses = parseResponses(run.written, bodyless);
  // 'early' answers every request at its head; the others at its end (an upgrade accepted is not answered here).
  const answered = mode === 'early' ? r.heads.length : run.events.filter((e) => e[0] === 'end').length;
  assert.ok(responses.length >= answered, `${responses.length} responses for ${answered} requests answered`);
  for (let i = 0; i < answered; i++) {
    const head = r.heads[i]!;
    assert.equal(responses[i]!.status, 200, `response ${i}: status`);
    if (head.method !== 'HEAD')
      assert.equal(responses[i]!.body, `${head.method} ${head.target}`, `response ${i}: body`);
  }
  if (errorEv !== undefined) {
    const last = responses.at(-1);
    if (last !== undefined && last.status === errorEv[1]) {
      assert.ok(
        /close/i.test(last.fields.find(([n]) => n.toLowerCase() === 'connection')?.[1] ?? ''),
        'error answer without Connection: close',
      );
    }
    assert.equal(run.ended, 1, 'the connection is ended after an error');
  }
  if (run.remainder !== null) {
    // RFC 9112 §9.3.2, RFC 6455 §4.2: the bytes after the upgrade request's head belong to the next protocol.
    const head = readHead(data, 0, headLimits(limits));
    if (r.heads.length === 1 && head.kind === 'ok')
      assert.equal(run.remainder, data.toString('latin1', head.end), 'upgrade remainder');
  }
}

export const http1ProtocolTarget: FuzzTarget = {
  name: 'http1-protocol',
  checks: 'Http1ServerProtocol: RFC 9112 §6 framing, no request after an error, responses in order, any split',
  corpus: ['http1'],
  dictionary: HTTP_DICTIONARY,
  maxLen: 4096,
  run(data: Buffer): void {
    for (const mode of ['sync', 'early', 'upgrade'] as const) {
      for (const limits of [DEFAULT_PARSER_LIMITS, SMALL]) {
        const whole = runProtocol(data, [], mode, limits);
        for (const s of splitsOf(data, 256).slice(1)) {
          const other = runProtocol(data, s.cuts, mode, limits);
          sameAs(
            { events: other.events, written: other.written, ended: other.ended, remainder: other.remainder },
            { events: whole.events, written: whole.written, ended: whole.ended, remainder: whole.remainder },
            `${mode}: ${s.name}`,
          );
        }
        checkProtocol(data, whole, mode, limits);
      }
    }
  },
};
