/**
 * Test helpers for the sans-I/O HTTP/1.1 core: a recording Http1ServerHandler, an array sink, a recording
 * RequestParserHandler, feeders (one chunk, byte by byte, every two-way split, given split points) that return
 * the event log, an auto-responder (synchronous or on demand) and a small response splitter for the bytes the
 * protocol wrote. Events are plain data so that runs can be compared with deepStrictEqual.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { ProtocolError } from '../../src/errors.js';
import {
  BODY_CHUNKED,
  BODY_NONE,
  DEFAULT_PARSER_LIMITS,
  type RequestHead,
  RequestParser,
  type RequestParserHandler,
  type RequestParserLimits,
} from '../../src/http1/parser.js';
import {
  DEFAULT_HTTP1_OPTIONS,
  type Http1ServerHandler,
  type Http1ServerOptions,
  Http1ServerProtocol,
  type Http1Sink,
  type RequestInfo,
} from '../../src/http1/protocol.js';

/** The Date every test response carries (the core takes its clock from options). */
export const FIXED_DATE = 'Thu, 01 Jan 1970 00:00:00 GMT';

export interface InfoSnapshot {
  keepAlive: boolean;
  expectContinue: boolean;
  upgrade: boolean;
  contentLength: number;
  chunked: boolean;
  isHead: boolean;
  versionMinor: number;
}

/** One observed event. Consecutive body pieces are merged so that runs with different splits compare equal. */
export type Http1Event =
  | { type: 'request'; method: string; target: string; version: string; headers: string[]; info: InfoSnapshot | null }
  | { type: 'body'; data: string }
  | { type: 'end'; trailers: string[] }
  | { type: 'error'; status: number; code: string };

function snapshot(info: RequestInfo): InfoSnapshot {
  return {
    keepAlive: info.keepAlive,
    expectContinue: info.expectContinue,
    upgrade: info.upgrade,
    contentLength: info.contentLength,
    chunked: info.chunked,
    isHead: info.isHead,
    versionMinor: info.versionMinor,
  };
}

function pushBody(events: Http1Event[], chunk: Buffer): void {
  const last = events[events.length - 1];
  const data = chunk.toString('latin1');
  if (last !== undefined && last.type === 'body') last.data += data;
  else events.push({ type: 'body', data });
}

/** Collects everything the protocol writes; records end() and anything written after it. */
export class ArraySink implements Http1Sink {
  readonly chunks: (string | Buffer)[] = [];
  ended = false;
  endCalls = 0;
  writesAfterEnd = 0;
  writeString(s: string): void {
    if (this.ended) this.writesAfterEnd++;
    this.chunks.push(s);
  }
  write(chunk: Buffer): void {
    if (this.ended) this.writesAfterEnd++;
    this.chunks.push(Buffer.from(chunk));
  }
  end(): void {
    this.ended = true;
    this.endCalls++;
  }
  /** Everything written, as one latin1 string. */
  get text(): string {
    let out = '';
    for (const c of this.chunks) out += typeof c === 'string' ? c : c.toString('latin1');
    return out;
  }
}

/** Records every Http1ServerHandler call. `protocol` is set by the feeders so subclasses can answer. */
export class RecordingHandler implements Http1ServerHandler {
  readonly events: Http1Event[] = [];
  readonly heads: RequestHead[] = [];
  readonly infos: RequestInfo[] = [];
  readonly errors: ProtocolError[] = [];
  protocol: Http1ServerProtocol | null = null;
  onRequest(head: RequestHead, info: RequestInfo): void {
    this.heads.push(head);
    this.infos.push(info);
    this.events.push({
      type: 'request',
      method: head.method,
      target: head.target,
      version: head.httpVersion,
      headers: head.headers.raw.slice(),
      info: snapshot(info),
    });
  }
  onBody(chunk: Buffer): void {
    pushBody(this.events, chunk);
  }
  onRequestEnd(trailers: string[]): void {
    this.events.push({ type: 'end', trailers: trailers.slice() });
  }
  onError(err: ProtocolError): void {
    this.errors.push(err);
    this.events.push({ type: 'error', status: err.status, code: err.code });
  }
  get requests(): Extract<Http1Event, { type: 'request' }>[] {
    return this.events.filter((e) => e.type === 'request');
  }
}

export interface AutoResponse {
  status: number;
  fields: string[];
  body: string;
}

/**
 * Answers each request with a fixed response (by default `200`, body `<method> <target>` so that order is
 * visible). `sync`: answers inside onRequestEnd; `manual`: queues requests, the test calls `respondNext()`.
 */
export class AutoResponder extends RecordingHandler {
  readonly mode: 'sync' | 'manual';
  readonly make: (head: RequestHead) => AutoResponse;
  /** Requests whose message ended and that still wait for an answer (manual mode). */
  readonly queue: RequestHead[] = [];
  private current: RequestHead | null = null;
  constructor(mode: 'sync' | 'manual', make?: (head: RequestHead) => AutoResponse) {
    super();
    this.mode = mode;
    this.make = make ?? ((head) => ({ status: 200, fields: [], body: `${head.method} ${head.target}` }));
  }
  override onRequest(head: RequestHead, info: RequestInfo): void {
    super.onRequest(head, info);
    this.current = head;
  }
  override onRequestEnd(trailers: string[]): void {
    super.onRequestEnd(trailers);
    const head = this.current as RequestHead;
    if (this.mode === 'sync') this.answer(head);
    else this.queue.push(head);
  }
  /** Answers the oldest waiting request (manual mode). */
  respondNext(): void {
    const head = this.queue.shift();
    assert.ok(head !== undefined, 'no request waiting for a response');
    this.answer(head);
  }
  private answer(head: RequestHead): void {
    const r = this.make(head);
    (this.protocol as Http1ServerProtocol).respond(r.status, r.fields, Buffer.from(r.body, 'latin1'));
  }
}

export function makeOptions(overrides: Partial<Http1ServerOptions> = {}): Http1ServerOptions {
  return {
    limits: overrides.limits ?? DEFAULT_HTTP1_OPTIONS.limits,
    maxBodyBytes: overrides.maxBodyBytes ?? DEFAULT_HTTP1_OPTIONS.maxBodyBytes,
    date: overrides.date ?? (() => FIXED_DATE),
    cache: overrides.cache,
    allowedMethods: overrides.allowedMethods ?? DEFAULT_HTTP1_OPTIONS.allowedMethods,
  };
}

export type HandlerKind = 'record' | 'sync' | 'manual';

export interface RunOptions {
  handler?: HandlerKind | RecordingHandler;
  options?: Partial<Http1ServerOptions>;
  /** Call receiveEof() after the last chunk. */
  eof?: boolean;
}

export interface RunResult {
  events: Http1Event[];
  sink: ArraySink;
  handler: RecordingHandler;
  protocol: Http1ServerProtocol;
  /** First exception thrown out of receive()/receiveEof(), if any. */
  thrown: unknown;
}

export function toBuffer(input: string | Uint8Array): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'latin1') : Buffer.from(input);
}

/** Builds a protocol with a recording handler and an array sink. */
export function createProtocol(run: RunOptions = {}): {
  protocol: Http1ServerProtocol;
  handler: RecordingHandler;
  sink: ArraySink;
} {
  const kind = run.handler ?? 'sync';
  const handler =
    typeof kind === 'string' ? (kind === 'record' ? new RecordingHandler() : new AutoResponder(kind)) : kind;
  const sink = new ArraySink();
  const protocol = new Http1ServerProtocol(makeOptions(run.options), handler, sink);
  handler.protocol = protocol;
  return { protocol, handler, sink };
}

/** Feeds `chunks` (copied, so no chunk shares memory with another) and returns the log. */
export function feedChunks(chunks: readonly Uint8Array[], run: RunOptions = {}): RunResult {
  const { protocol, handler, sink } = createProtocol(run);
  let thrown: unknown;
  try {
    for (const c of chunks) protocol.receive(Buffer.from(c));
    if (run.eof === true) protocol.receiveEof();
  } catch (err) {
    thrown = err;
  }
  return { events: handler.events, sink, handler, protocol, thrown };
}

/** Splits `input` at the given offsets (sorted, deduplicated, inside the input). */
export function splitAt(input: Uint8Array, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points)].filter((p) => p > 0 && p < input.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(Buffer.from(input.subarray(prev, c)));
    prev = c;
  }
  out.push(Buffer.from(input.subarray(prev)));
  return out;
}

export function bytewise(input: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(Buffer.from(input.subarray(i, i + 1)));
  return out;
}

/** Feeds the input in one chunk. */
export function feedWhole(input: string | Uint8Array, run: RunOptions = {}): RunResult {
  return feedChunks([toBuffer(input)], run);
}

/** Feeds the input one byte per receive(). */
export function feedBytewise(input: string | Uint8Array, run: RunOptions = {}): RunResult {
  return feedChunks(bytewise(toBuffer(input)), run);
}

function comparable(r: RunResult): { events: Http1Event[]; written: string; ended: boolean; thrown: string } {
  return { events: r.events, written: r.sink.text, ended: r.sink.ended, thrown: String(r.thrown) };
}

/**
 * Feeds `input` in one chunk, byte by byte, and split in two at every offset (or at `points` when the input
 * is too long for that), asserts that all runs give the same events, the same bytes written and the same
 * end(), and returns the one-chunk run. `handler` must be a kind, since each run needs a fresh handler.
 */
export function feedEverySplit(
  input: string | Uint8Array,
  run: Omit<RunOptions, 'handler'> & { handler?: HandlerKind; points?: readonly number[] } = {},
): RunResult {
  const buf = toBuffer(input);
  const whole = feedChunks([buf], run);
  const expected = comparable(whole);
  assert.deepStrictEqual(comparable(feedChunks(bytewise(buf), run)), expected, 'byte-by-byte differs from one chunk');
  const points = run.points ?? Array.from({ length: Math.max(0, buf.length - 1) }, (_, i) => i + 1);
  for (const p of points) {
    assert.deepStrictEqual(
      comparable(feedChunks(splitAt(buf, [p]), run)),
      expected,
      `split at ${p} differs from one chunk`,
    );
  }
  return whole;
}

// --- parser-level helpers --------------------------------------------------------------------------------

/**
 * Records RequestParser events. Framing is decided naively (Content-Length number, any Transfer-Encoding
 * means chunked) unless `framing` is given: the parser itself does not apply the smuggling rules.
 */
export class RecordingParserHandler implements RequestParserHandler {
  readonly events: Http1Event[] = [];
  framing: ((head: RequestHead) => number) | null = null;
  onHead(head: RequestHead): number {
    this.events.push({
      type: 'request',
      method: head.method,
      target: head.target,
      version: head.httpVersion,
      headers: head.headers.raw.slice(),
      info: null,
    });
    if (this.framing !== null) return this.framing(head);
    if (head.headers.has('transfer-encoding')) return BODY_CHUNKED;
    const cl = head.headers.get('content-length');
    return cl === undefined ? BODY_NONE : Number(cl);
  }
  onBody(chunk: Buffer): void {
    pushBody(this.events, chunk);
  }
  onMessageEnd(trailers: string[]): void {
    this.events.push({ type: 'end', trailers: trailers.slice() });
  }
  onError(err: ProtocolError): void {
    this.events.push({ type: 'error', status: err.status, code: err.code });
  }
}

export interface ParserRunOptions {
  limits?: Partial<RequestParserLimits>;
  maxBodyBytes?: number;
  framing?: (head: RequestHead) => number;
  eof?: boolean;
}

/** Feeds chunks to a bare RequestParser, calling next() after each message (pipelining without responses). */
export function parseChunks(chunks: readonly Uint8Array[], opts: ParserRunOptions = {}): Http1Event[] {
  const handler = new RecordingParserHandler();
  if (opts.framing !== undefined) handler.framing = opts.framing;
  const parser = new RequestParser(handler, { ...DEFAULT_PARSER_LIMITS, ...opts.limits });
  if (opts.maxBodyBytes !== undefined) parser.maxBodyBytes = opts.maxBodyBytes;
  for (const c of chunks) {
    const buf = Buffer.from(c);
    let pos = 0;
    while (pos < buf.length) {
      pos = parser.receive(buf, pos);
      if (parser.isDone) parser.next();
      else if (parser.isFailed) return handler.events;
    }
  }
  if (opts.eof === true) parser.receiveEof();
  return handler.events;
}

/** parseChunks in one chunk, byte by byte and at every two-way split (or `points`); asserts equal events. */
export function parseEverySplit(
  input: string | Uint8Array,
  opts: ParserRunOptions & { points?: readonly number[] } = {},
): Http1Event[] {
  const buf = toBuffer(input);
  const expected = parseChunks([buf], opts);
  assert.deepStrictEqual(parseChunks(bytewise(buf), opts), expected, 'byte-by-byte differs from one chunk');
  const points = opts.points ?? Array.from({ length: Math.max(0, buf.length - 1) }, (_, i) => i + 1);
  for (const p of points) {
    assert.deepStrictEqual(parseChunks(splitAt(buf, [p]), opts), expected, `split at ${p} differs from one chunk`);
  }
  return expected;
}

// --- reading what the protocol wrote ---------------------------------------------------------------------

export interface WrittenResponse {
  statusLine: string;
  status: number;
  /** Field lines in order, as [name, value]. */
  fields: [string, string][];
  body: string;
  /** The raw head, CRLFs included. */
  head: string;
}

/** First value of `name` (any case) in a written response. */
export function field(r: WrittenResponse, name: string): string | undefined {
  const lower = name.toLowerCase();
  return r.fields.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/**
 * Splits the sink's bytes into responses: Content-Length bodies, chunked bodies (decoded), bodiless statuses
 * (1xx/204/304, and the indexes listed in `bodyless`, e.g. answers to HEAD), else everything that remains.
 * Throws on malformed output, which is itself a failure of the serializer.
 */
export function parseResponses(text: string, bodyless: readonly number[] = []): WrittenResponse[] {
  const out: WrittenResponse[] = [];
  let p = 0;
  while (p < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', p);
    if (headEnd < 0) throw new Error(`incomplete response head at ${p}: ${JSON.stringify(text.slice(p, p + 80))}`);
    const head = text.slice(p, headEnd + 4);
    const lines = text.slice(p, headEnd).split('\r\n');
    const statusLine = lines[0] as string;
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const fields: [string, string][] = lines.slice(1).map((l) => {
      const c = l.indexOf(':');
      if (c <= 0) throw new Error(`bad field line ${JSON.stringify(l)}`);
      return [l.slice(0, c), l.slice(c + 1).trim()];
    });
    p = headEnd + 4;
    const r: WrittenResponse = { statusLine, status, fields, body: '', head };
    const te = field(r, 'transfer-encoding');
    const cl = field(r, 'content-length');
    if (
      status < 200 ||
      status === 204 ||
      status === 304 ||
      bodyless.includes(out.filter((x) => x.status >= 200).length)
    ) {
      // no content
    } else if (te !== undefined) {
      for (;;) {
        const le = text.indexOf('\r\n', p);
        if (le < 0) throw new Error('incomplete chunk line');
        const size = Number.parseInt(text.slice(p, le), 16);
        p = le + 2;
        if (size === 0) {
          const end = text.indexOf('\r\n\r\n', p - 2);
          if (end < 0) throw new Error('incomplete trailers');
          p = end + 4;
          break;
        }
        r.body += text.slice(p, p + size);
        if (text.slice(p + size, p + size + 2) !== '\r\n') throw new Error('chunk data not followed by CRLF');
        p += size + 2;
      }
    } else if (cl !== undefined) {
      r.body = text.slice(p, p + Number(cl));
      if (r.body.length !== Number(cl)) throw new Error('body shorter than Content-Length');
      p += Number(cl);
    } else {
      r.body = text.slice(p);
      p = text.length;
    }
    out.push(r);
  }
  return out;
}

/** The request `lines` joined with CRLF, ending with the empty line. */
export function req(...lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}
