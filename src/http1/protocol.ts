/**
 * Http1ServerProtocol: one HTTP/1.1 server connection, sans-I/O. Keep-alive, pipelining order,
 * Expect: 100-continue, Upgrade, message framing and the request-smuggling rules.
 *
 * Theory of operation. Requests are handled one at a time, in order: after a request's message ends the
 * parser stops, and the bytes of later pipelined requests wait in `pending` until the response to the
 * current one has ended. So an error in request N+1 (or bytes after `Connection: close`) can never replace
 * or cut short the response to request N, and responses leave in request order. With a handler that answers
 * synchronously, a whole batch of pipelined requests is parsed and answered within one `receive()`.
 *
 * Rules enforced here (SECURITY: each closes a request-smuggling or desync door):
 *   R1 Transfer-Encoding and Content-Length together: 400, close (RFC 9112 §6.1 allows either; we choose strict).
 *   R2 Transfer-Encoding whose final coding is not chunked: 400 (RFC 9112 §6.3 rule 4); chunked twice: 400;
 *      other codings before chunked: 501 (RFC 9112 §6.1: "SHOULD respond with 501").
 *   R3 Transfer-Encoding in an HTTP/1.0 request: 400 (RFC 9112 §6.1: framing "MUST" be treated as faulty).
 *   R4 Content-Length: 1*DIGIT; a list of identical values folds to one; differing values: 400 (RFC 9110 §8.6).
 *   R5 HTTP/1.1 without exactly one valid Host: 400 (RFC 9112 §3.2), absolute-form or not; an absolute-form
 *      target's authority wins over Host (RFC 9112 §3.2.2: the origin server MUST ignore Host there).
 *   R6 Expect other than 100-continue: 417 (RFC 9110 §10.1.1).
 *   R7 With `allowedMethods`, a method outside the list: 501 (RFC 9110 §9.1, §15.6.2); by default every method
 *      (a case-sensitive token: `get` is an unknown method, not GET) reaches the handler.
 */

import { Buffer } from 'node:buffer';
import { httpError, InvalidStateError, type ProtocolError } from '../errors.js';
import { MAX_BODY_BYTES } from '../limits.js';
import { trimOws } from '../util/ascii.js';
import { listHasToken, sameNameAs } from './headers.js';
import {
  BODY_CHUNKED,
  BODY_NONE,
  BODY_REJECT,
  DEFAULT_PARSER_LIMITS,
  type RequestHead,
  RequestParser,
  type RequestParserHandler,
  type RequestParserLimits,
} from './parser.js';
import { chunkHeader, errorResponse, hasNoBody, lastChunk, serializeFields, statusLine } from './serializer.js';

/** What the connection owner learns. */
export interface Http1ServerHandler {
  /** A request head passed every rule. `info` says how it is framed and what the client expects. */
  onRequest(head: RequestHead, info: RequestInfo): void;
  onBody(chunk: Buffer): void;
  onRequestEnd(trailers: string[]): void;
  /** The peer broke the protocol. The error response (if any could be sent) is already written. */
  onError(err: ProtocolError): void;
}

/** Byte sink: the adapter writes latin1 strings and Buffers to the socket. */
export interface Http1Sink {
  writeString(s: string): void;
  write(chunk: Buffer): void;
  /** The connection should close once everything written has been flushed. */
  end(): void;
}

/** Facts about the current request, decided by the rules above. One object per request. */
export class RequestInfo {
  /** Whether the connection may stay open after this exchange (RFC 9112 §9.3). */
  keepAlive: boolean;
  /** The client sent `Expect: 100-continue` (1.1) and is waiting for a 100 before sending its body. */
  expectContinue: boolean;
  /** The request asks for a protocol switch (`Connection: upgrade` + `Upgrade`). */
  upgrade: boolean;
  /** Content-Length, or -1 when chunked, 0 when no body. */
  contentLength: number;
  chunked: boolean;
  isHead: boolean;
  /** The method is CONNECT: a 2xx answer turns the connection into a tunnel (RFC 9110 §9.3.6). */
  isConnect: boolean;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  /**
   * The target URI's authority (RFC 9112 §3.3): the authority of an absolute-form target (§3.2.2: Host is ignored
   * then), the target itself for CONNECT (authority-form), else the Host field value; '' when there is none.
   */
  host: string;
  constructor() {
    this.keepAlive = true;
    this.expectContinue = false;
    this.upgrade = false;
    this.contentLength = 0;
    this.chunked = false;
    this.isHead = false;
    this.isConnect = false;
    this.versionMinor = 1;
    this.host = '';
  }
}

export interface Http1ServerOptions {
  limits: RequestParserLimits;
  /** Largest request body (413 above it). */
  maxBodyBytes: number;
  /** Clock for the Date header: returns the current IMF-fixdate string (the adapter caches it per second). */
  date: () => string;
  /**
   * Memos shared by the connections of one server (the adapter owns one per server): identical response heads and
   * Host values repeat across connections, not only within one. Without it, each protocol has its own.
   */
  cache?: Http1ServerCache;
  /**
   * Methods served (compared case-sensitively, RFC 9110 §9.1); a request with any other method is answered 501
   * (RFC 9110 §15.6.2). null: every method reaches the handler.
   */
  allowedMethods: ReadonlySet<string> | null;
}

/** Defaults of the options that have one. `date` has none: the adapter passes its clock (a core never reads it). */
export const DEFAULT_HTTP1_OPTIONS: Pick<Http1ServerOptions, 'limits' | 'maxBodyBytes' | 'allowedMethods'> = {
  limits: DEFAULT_PARSER_LIMITS,
  maxBodyBytes: MAX_BODY_BYTES,
  allowedMethods: null,
};

// Connection states (integer, see `state`).
/** Waiting for (or reading) a request head. */
export const S_IDLE = 0;
/** A request is being handled: body being read and/or response being written. */
export const S_ACTIVE = 1;
/** The connection was handed to another protocol (Upgrade). */
export const S_UPGRADED = 2;
/** The connection is closing: no more requests are parsed. */
export const S_CLOSING = 3;

// Response states.
const R_NONE = 0;
const R_HEAD_SENT = 1;
const R_DONE = 2;

const CRLF = '\r\n';

export class Http1ServerProtocol implements RequestParserHandler {
  state: number;
  readonly parser: RequestParser;
  /** Info for the request being handled. */
  info: RequestInfo;
  /** Bytes received but not yet parsed (pipelined requests waiting for the current response). */
  pending: Buffer[];
  /** Where parsing goes on in `pending[0]` (PERF: pipelined requests are not cut off one `subarray` each). */
  private pendingOffset: number;
  pendingBytes: number;
  /** Whether the current request's message (head + body) has been fully received. */
  requestDone: boolean;
  /** Response state of the current request. */
  response: number;
  /** The response body is chunk-framed (1.1, unknown length). */
  private chunkedResponse: boolean;
  /** The response has no content (HEAD, 1xx, 204, 304): body writes are dropped. */
  private bodyless: boolean;
  /** Remaining bytes of a Content-Length response (to refuse writing more than declared). */
  private contentRemaining: number;
  private continueSent: boolean;
  private inReceive: boolean;
  /**
   * Set by the adapter while the peer is not reading the responses already written: the next pipelined request
   * is not started (its bytes wait in `pending`, bounded by the adapter pausing its reads) until this is cleared
   * and `drive()` called. Without it a client that pipelines requests and never reads makes the server queue one
   * response per request it parses, without bound.
   */
  holdNext: boolean;
  /** Requests seen on this connection. */
  requests: number;
  /** The previous accepted request's analysis and what it was made from (see onHead). */
  private lastAnalysis: RequestInfo | null;
  private lastAnalyzedFields: readonly string[] | null;
  private lastAnalyzedTarget: string;
  private lastAnalyzedMethod: string;
  private readonly handler: Http1ServerHandler;
  private readonly sink: Http1Sink;
  private readonly options: Http1ServerOptions;
  /** The response-head and Host memos: the server's (shared by its connections) or this connection's own. */
  private readonly cache: Http1ServerCache;

  constructor(options: Http1ServerOptions, handler: Http1ServerHandler, sink: Http1Sink) {
    this.state = S_IDLE;
    this.parser = new RequestParser(this, options.limits);
    this.parser.maxBodyBytes = options.maxBodyBytes;
    this.info = new RequestInfo();
    this.pending = [];
    this.pendingOffset = 0;
    this.pendingBytes = 0;
    this.requestDone = true;
    this.response = R_DONE;
    this.chunkedResponse = false;
    this.bodyless = false;
    this.contentRemaining = -1;
    this.continueSent = false;
    this.inReceive = false;
    this.holdNext = false;
    this.requests = 0;
    this.lastAnalysis = null;
    this.lastAnalyzedFields = null;
    this.lastAnalyzedTarget = '';
    this.lastAnalyzedMethod = '';
    this.handler = handler;
    this.sink = sink;
    this.options = options;
    this.cache = options.cache ?? new Http1ServerCache();
  }

  /** True when nothing of a request is in progress (an idle keep-alive connection). */
  get isIdle(): boolean {
    return this.state === S_IDLE && this.parser.isIdle && this.pendingBytes === 0;
  }

  /** True while a head is partially received (the slowloris deadline applies). */
  get isReadingHead(): boolean {
    return this.state === S_IDLE && !this.parser.isIdle;
  }

  /** True while a request body is being received. */
  get isReadingBody(): boolean {
    return this.state === S_ACTIVE && !this.requestDone;
  }

  /** True while `receive()`/`drive()` is on the stack (responses written now are already corked). */
  get isInReceive(): boolean {
    return this.inReceive;
  }

  /** Whether a response has been started (head written) for the current request. */
  get responseStarted(): boolean {
    return this.response !== R_NONE;
  }

  /** Feeds bytes from the socket. */
  receive(buf: Buffer): void {
    if (this.state >= S_UPGRADED) return;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.drive();
  }

  /** Parses pending input as far as the pipelining order allows. */
  drive(): void {
    if (this.inReceive) return;
    this.inReceive = true;
    try {
      while (this.pending.length > 0 && this.state !== S_UPGRADED && this.state !== S_CLOSING) {
        if (this.parser.isDone) {
          // The previous request has been fully received: wait for its response before parsing the next.
          if (this.response !== R_DONE) break;
          this.parser.next();
          this.state = S_IDLE;
        }
        // Between two requests, the adapter may hold the next one (see holdNext).
        if (this.holdNext && this.state === S_IDLE && this.parser.isIdle) break;
        if (this.parser.isFailed) break;
        const pending = this.pending;
        const buf = pending[0] as Buffer;
        const from = this.pendingOffset;
        const used = this.parser.receive(buf, from);
        // stop()/failRequest() during the parse drop the queue: nothing left to account for.
        if (this.pending !== pending) break;
        if (used >= buf.length) {
          pending.shift();
          this.pendingOffset = 0;
          this.pendingBytes -= buf.length - from;
        } else {
          this.pendingOffset = used;
          this.pendingBytes -= used - from;
        }
      }
    } finally {
      this.inReceive = false;
    }
    if (this.parser.isDone && this.response === R_DONE && this.state === S_ACTIVE) this.afterExchange();
  }

  /** The peer half-closed. An incomplete message is an error; a complete one is still answered. */
  receiveEof(): void {
    if (this.state >= S_UPGRADED) return;
    this.drive();
    if (this.pendingBytes === 0) this.parser.receiveEof();
  }

  /**
   * Called from `onRequest` to accept an Upgrade: parsing stops right after this request's head. Once
   * `receive()` returns, `takeRemainder()` gives the bytes that followed the head.
   */
  detach(): void {
    this.state = S_UPGRADED;
  }

  /** Hands the connection to another protocol after an Upgrade; returns the bytes that follow the head. */
  takeRemainder(): Buffer[] {
    this.state = S_UPGRADED;
    this.parser.stop();
    const rest = this.pending;
    if (this.pendingOffset > 0) rest[0] = (rest[0] as Buffer).subarray(this.pendingOffset);
    this.dropPending();
    return rest;
  }

  /** Stops parsing; the adapter is closing the connection (timeout, server close). */
  stop(): void {
    this.state = S_CLOSING;
    this.parser.stop();
    this.dropPending();
  }

  // --- parser events -------------------------------------------------------------------------

  /** @internal */
  onHead(head: RequestHead): number {
    const info = new RequestInfo();
    let rejected: ProtocolError | null = null;
    const memo = this.lastAnalysis;
    if (
      memo !== null &&
      head.headers.raw === this.lastAnalyzedFields &&
      head.target === this.lastAnalyzedTarget &&
      head.method === this.lastAnalyzedMethod &&
      head.versionMinor === memo.versionMinor
    ) {
      // PERF: the same field list (the parser reuses it for identical bytes), method, target and version as the
      // previous request, which was accepted: the same analysis.
      copyInfo(memo, info);
    } else {
      rejected = analyzeHead(head, info, this.options.maxBodyBytes, this.cache);
      const allowed = this.options.allowedMethods;
      // RFC 9110 §9.1: methods are case-sensitive ("get" is not GET, only an unknown method); §15.6.2: 501 is "the
      // appropriate response when the server does not recognize the request method". After the framing rules, so
      // that a request that is malformed as well gets its 400.
      if (rejected === null && allowed !== null && !allowed.has(head.method)) {
        rejected = httpError(501, 'ERR_HTTP_METHOD_NOT_IMPLEMENTED', 'Method not implemented');
      }
      // Kept from a connection's second request on (the parser reuses field lists from its third): a connection
      // that sends one request keeps nothing.
      if (rejected === null && this.requests > 0) {
        const keep = memo ?? new RequestInfo();
        copyInfo(info, keep);
        this.lastAnalysis = keep;
        this.lastAnalyzedFields = head.headers.raw;
        this.lastAnalyzedTarget = head.target;
        this.lastAnalyzedMethod = head.method;
      }
    }
    this.requests++;
    this.state = S_ACTIVE;
    this.info = info;
    this.response = R_NONE;
    this.continueSent = false;
    if (rejected !== null) {
      this.requestDone = true;
      this.failRequest(rejected);
      return BODY_REJECT;
    }
    this.requestDone = info.contentLength === 0 && !info.chunked;
    this.handler.onRequest(head, info);
    if (this.state !== S_ACTIVE) return BODY_REJECT;
    return info.chunked ? BODY_CHUNKED : info.contentLength > 0 ? info.contentLength : BODY_NONE;
  }

  /** @internal */
  onBody(chunk: Buffer): void {
    this.handler.onBody(chunk);
  }

  /** @internal */
  onMessageEnd(trailers: string[]): void {
    this.requestDone = true;
    this.handler.onRequestEnd(trailers);
  }

  /** @internal */
  onError(err: ProtocolError): void {
    this.failRequest(err);
  }

  private failRequest(err: ProtocolError): void {
    const started = this.response !== R_NONE && this.response !== R_DONE;
    // The current request was already answered (response ended before its body was read): a second response
    // to it would be taken by the client as the answer to its next request (RFC 9112 §9.3.2), so just close.
    const answered = this.state === S_ACTIVE && this.response === R_DONE;
    this.state = S_CLOSING;
    this.dropPending();
    this.handler.onError(err);
    if (!started && !answered) {
      this.response = R_DONE;
      this.sink.write(errorResponse(err.status, err.message, this.options.date()));
    }
    // A response already under way cannot be replaced: the connection just ends (the adapter aborts it).
    this.sink.end();
  }

  // --- responses ---------------------------------------------------------------------------------

  /** Sends `100 Continue` if the client is waiting for it (RFC 9110 §10.1.1); a no-op otherwise. */
  sendContinue(): void {
    if (!this.info.expectContinue || this.continueSent || this.response !== R_NONE) return;
    this.continueSent = true;
    this.sink.writeString('HTTP/1.1 100 Continue\r\n\r\n');
  }

  /**
   * Writes the response head. `fields` is flat `[name, value, ...]`; `bodyLength` is the body size, or -1
   * when it will be streamed. Throws (before writing anything) on invalid field names/values.
   * Framing fields (Content-Length, Transfer-Encoding, Connection, Date) are the protocol's: when present in
   * `fields`, Content-Length is honoured, the others added as needed.
   */
  writeHead(status: number, fields: readonly string[], bodyLength: number, validated = false): void {
    if (this.response !== R_NONE || this.state === S_UPGRADED) {
      throw new InvalidStateError('Cannot write response head: already sent', 'ERR_HTTP_HEADERS_SENT');
    }
    if (!Number.isInteger(status) || status < 200 || status > 999) {
      throw new RangeError(`Invalid status code: ${status}`);
    }
    const info = this.info;
    let userLength = -1;
    let hasDate = false;
    let connectionClose = false;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string;
      // Length first: no lowercase string per field on the hot path.
      const n = name.length;
      if (n === 14 && name.toLowerCase() === 'content-length') userLength = Number(fields[i + 1]);
      else if (n === 4 && name.toLowerCase() === 'date') hasDate = true;
      else if (
        n === 10 &&
        name.toLowerCase() === 'connection' &&
        /(^|,)\s*close\s*(,|$)/i.test(fields[i + 1] as string)
      ) {
        connectionClose = true;
      }
    }
    const noBody = hasNoBody(status, info.isHead);
    this.bodyless = noBody;
    this.chunkedResponse = false;
    this.contentRemaining = -1;
    if (connectionClose) info.keepAlive = false;
    // Framing field the protocol adds: 0 none, 1 Content-Length, 2 Transfer-Encoding: chunked.
    let framing = 0;
    if (status === 204 || status === 304 || status < 200) {
      // RFC 9110 §8.6: no Content-Length in 204; no content for 1xx/204/304.
    } else if (info.isConnect && status < 300) {
      // RFC 9110 §9.3.6: "A server MUST NOT send any Transfer-Encoding or Content-Length header fields in a 2xx
      // (Successful) response to CONNECT", and the connection is a tunnel from the end of the header section on
      // (RFC 9112 §6.3 rule 2). A handler has no tunnel: its body goes out as tunnel data, then the connection
      // closes, so nothing the client sends into the tunnel is ever read as a request.
      if (userLength >= 0) throw new RangeError('No Content-Length in a 2xx response to CONNECT (RFC 9110 §9.3.6)');
      info.keepAlive = false;
    } else if (userLength >= 0) {
      if (!Number.isSafeInteger(userLength)) throw new RangeError('Invalid Content-Length');
      if (bodyLength >= 0 && bodyLength !== userLength && !info.isHead) {
        throw new RangeError(`Content-Length ${userLength} does not match the body (${bodyLength} bytes)`);
      }
      this.contentRemaining = info.isHead ? -1 : userLength;
    } else if (bodyLength >= 0) {
      framing = 1;
      this.contentRemaining = info.isHead ? -1 : bodyLength;
    } else if (!info.isHead) {
      if (info.versionMinor === 1) {
        framing = 2;
        this.chunkedResponse = true;
      } else {
        // HTTP/1.0 has no chunked coding: the body is delimited by closing the connection (RFC 9112 §6.3 rule 8).
        info.keepAlive = false;
      }
    }
    // Connection field: 0 none, 1 close, 2 keep-alive (for a 1.0 client that asked for it).
    const connection = !info.keepAlive ? (connectionClose ? 0 : 1) : info.versionMinor === 0 ? 2 : 0;
    const date = hasDate ? '' : this.options.date();
    if (validated && date !== '') {
      const cache = this.cache;
      const memo = cache.head;
      if (
        memo.date === date &&
        memo.status === status &&
        memo.bodyLength === bodyLength &&
        memo.framing === framing &&
        memo.connection === connection &&
        sameFields(memo.fields, fields)
      ) {
        this.response = R_HEAD_SENT;
        this.sink.write(memo.bytes);
        return;
      }
      const bytes = Buffer.from(buildHead(status, fields, true, date, framing, bodyLength, connection), 'latin1');
      cache.head = { date, status, bodyLength, framing, connection, fields: fields.slice(), bytes };
      this.response = R_HEAD_SENT;
      this.sink.write(bytes);
      return;
    }
    const head = buildHead(status, fields, validated, date, framing, bodyLength, connection);
    this.response = R_HEAD_SENT;
    this.sink.writeString(head);
  }

  /** Writes part of the response body. Returns false if the body is not allowed (HEAD/204/304). */
  writeBody(chunk: Buffer): void {
    if (this.response !== R_HEAD_SENT) {
      throw new InvalidStateError(
        'Cannot write body: response head not sent or response ended',
        'ERR_HTTP_INVALID_STATE',
      );
    }
    if (this.bodyless || chunk.length === 0) return;
    if (this.contentRemaining >= 0) {
      if (chunk.length > this.contentRemaining) {
        throw new RangeError('Response body longer than its Content-Length');
      }
      this.contentRemaining -= chunk.length;
      this.sink.write(chunk);
    } else if (this.chunkedResponse) {
      this.sink.writeString(chunkHeader(chunk.length));
      this.sink.write(chunk);
      this.sink.writeString(CRLF);
    } else {
      this.sink.write(chunk);
    }
  }

  /**
   * Writes part of the body given twice, as it is and already framed as one chunk (RFC 9112 §7.1: its size line,
   * itself, CRLF): the framed form when the response is chunked. A piece written to many responses (a published
   * event) is framed once for all of them instead of once per response.
   */
  writeBodyFramed(chunk: Buffer, framed: Buffer): void {
    if (this.response !== R_HEAD_SENT) {
      throw new InvalidStateError(
        'Cannot write body: response head not sent or response ended',
        'ERR_HTTP_INVALID_STATE',
      );
    }
    if (this.chunkedResponse && !this.bodyless && chunk.length > 0) this.sink.write(framed);
    else this.writeBody(chunk);
  }

  /** Writes a whole response (head + body) in one go; the common fast path. */
  respond(status: number, fields: readonly string[], body: Buffer | null, validated = false): void {
    this.writeHead(status, fields, body === null ? 0 : body.length, validated);
    if (body !== null && body.length > 0 && !this.bodyless) {
      this.contentRemaining = 0;
      this.sink.write(body);
    }
    this.endResponse(null);
  }

  /** Ends the response (last chunk and trailers if chunked). Then the next pipelined request may be parsed. */
  endResponse(trailers: readonly string[] | null): void {
    if (this.response !== R_HEAD_SENT) {
      throw new InvalidStateError('Cannot end response: head not sent or already ended', 'ERR_HTTP_INVALID_STATE');
    }
    if (this.chunkedResponse) this.sink.writeString(lastChunk(trailers));
    if (this.info.expectContinue && !this.continueSent && !this.requestDone) {
      // RFC 9110 §10.1.1: the client may or may not send the body it was told to wait with; we cannot know
      // where the next request starts, so the connection closes.
      this.info.keepAlive = false;
    }
    if (!this.chunkedResponse && this.contentRemaining > 0) {
      // Fewer bytes than declared: the framing is broken, the connection must close (RFC 9112 §6.3).
      this.info.keepAlive = false;
    }
    this.response = R_DONE;
    if (!this.info.keepAlive || this.contentRemaining > 0) {
      this.state = S_CLOSING;
      this.dropPending();
      this.parser.stop();
      this.sink.end();
      return;
    }
    if (this.requestDone && !this.inReceive) this.afterExchange();
  }

  /** Whether the request body still has to be discarded before the next request can be read. */
  get needsBodyDrain(): boolean {
    return this.response === R_DONE && !this.requestDone && this.state === S_ACTIVE;
  }

  private dropPending(): void {
    this.pending = [];
    this.pendingOffset = 0;
    this.pendingBytes = 0;
  }

  private afterExchange(): void {
    if (this.state !== S_ACTIVE) return;
    this.parser.next();
    this.state = S_IDLE;
    if (this.pending.length > 0) this.drive();
  }
}

/** The value of a field value made of 1 to 15 decimal digits (no list, no sign, no space), else -1. */
function decimalValue(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
}

function copyInfo(from: RequestInfo, to: RequestInfo): void {
  to.keepAlive = from.keepAlive;
  to.expectContinue = from.expectContinue;
  to.upgrade = from.upgrade;
  to.contentLength = from.contentLength;
  to.chunked = from.chunked;
  to.isHead = from.isHead;
  to.isConnect = from.isConnect;
  to.versionMinor = from.versionMinor;
  to.host = from.host;
}

/**
 * Applies the framing and semantic rules to a head, filling `info`. Returns null when the request is
 * acceptable, else the error to answer with.
 */
/**
 * Checks a request head against the framing and smuggling rules (R1-R6) and fills `info`. `cache` holds the Host
 * memo (the last Host value found valid).
 */
export function analyzeHead(
  head: RequestHead,
  info: RequestInfo,
  maxBodyBytes: number,
  cache: Http1ServerCache,
): ProtocolError | null {
  const headers = head.headers.raw;
  const minor = head.versionMinor;
  let te: string | null = null;
  let cl = -1;
  let clSeen = false;
  let hostCount = 0;
  let host = '';
  let connClose = false;
  let connKeepAlive = false;
  let connUpgrade = false;
  let upgradeField = false;
  let expect: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    // Dispatch on length first: no lowercase string per header on the hot path.
    switch (name.length) {
      case 4:
        if (sameNameAs(name, 'host')) {
          hostCount++;
          host = value;
        }
        break;
      case 6:
        if (sameNameAs(name, 'expect')) expect = expect === null ? value : `${expect},${value}`;
        break;
      case 7:
        if (sameNameAs(name, 'upgrade')) upgradeField = true;
        break;
      case 10:
        if (sameNameAs(name, 'connection')) {
          // No split or lower-cased copies: Connection is on nearly every request.
          if (listHasToken(value, 'close')) connClose = true;
          if (listHasToken(value, 'keep-alive')) connKeepAlive = true;
          if (listHasToken(value, 'upgrade')) connUpgrade = true;
        }
        break;
      case 14:
        if (sameNameAs(name, 'content-length')) {
          // R4: Content-Length = 1*DIGIT; "a list of identical values" may be folded (RFC 9110 §8.6).
          const single = decimalValue(value);
          if (single >= 0) {
            if (clSeen && single !== cl) {
              return httpError(400, 'ERR_HTTP_INVALID_CONTENT_LENGTH', 'Conflicting Content-Length values');
            }
            cl = single;
            clSeen = true;
            break;
          }
          for (const part of value.split(',')) {
            const v = trimOws(part);
            if (!/^[0-9]+$/.test(v)) return httpError(400, 'ERR_HTTP_INVALID_CONTENT_LENGTH', 'Invalid Content-Length');
            // Leading zeros are digits too (1*DIGIT), so compare numerically; 16+ significant digits exceed any body
            // limit.
            const digits = v.replace(/^0+(?=[0-9])/, '');
            const n = digits.length > 15 ? Number.MAX_SAFE_INTEGER : Number(digits);
            if (clSeen && n !== cl) {
              return httpError(400, 'ERR_HTTP_INVALID_CONTENT_LENGTH', 'Conflicting Content-Length values');
            }
            cl = n;
            clSeen = true;
          }
        }
        break;
      case 17:
        if (sameNameAs(name, 'transfer-encoding')) te = te === null ? value : `${te},${value}`;
        break;
    }
  }
  info.isHead = head.method === 'HEAD';
  info.isConnect = head.method === 'CONNECT';
  info.versionMinor = minor;
  // RFC 9112 §9.3: persistence.
  info.keepAlive = minor === 1 ? !connClose : connKeepAlive && !connClose;
  // R5: Host (RFC 9112 §3.2: "MUST respond with a 400 ... to any HTTP/1.1 request message that lacks a Host
  // header field and to any request message that contains more than one Host header field line or a Host
  // header field with an invalid field value").
  if (hostCount > 1) return httpError(400, 'ERR_HTTP_INVALID_HOST', 'More than one Host header');
  if (minor === 1 && hostCount === 0) return httpError(400, 'ERR_HTTP_MISSING_HOST', 'Missing Host header');
  if (hostCount === 1 && host !== cache.validHost && !isValidHost(host))
    return httpError(400, 'ERR_HTTP_INVALID_HOST', 'Invalid Host header');
  if (hostCount === 1) cache.validHost = host;
  // RFC 9112 §3.2.2: with an absolute-form target the origin server "MUST ignore the received Host header field
  // (if any) and instead use the host information of the request-target"; checkTarget then sets info.host. Host is
  // still required in HTTP/1.1 and still validated above: §3.2's 400 rules hold for "any" request message.
  info.host = hostCount === 1 ? host : '';
  const targetError = checkTarget(head.method, head.target, info);
  if (targetError !== null) return targetError;
  if (te !== null) {
    // R3
    if (minor === 0) {
      return httpError(400, 'ERR_HTTP_TRANSFER_ENCODING_1_0', 'Transfer-Encoding is not allowed in HTTP/1.0');
    }
    // R1
    if (clSeen) {
      return httpError(400, 'ERR_HTTP_SMUGGLING_TE_CL', 'Both Transfer-Encoding and Content-Length');
    }
    // R2
    // RFC 9110 §5.6.1.2: empty list elements are ignored; OWS is SP and HTAB only (see trimOws).
    const codings = te.split(',').map((c) => trimOws(c).toLowerCase());
    const list = codings.filter((c) => c !== '');
    if (list.length === 0) return httpError(400, 'ERR_HTTP_INVALID_TRANSFER_ENCODING', 'Empty Transfer-Encoding');
    for (const c of list) {
      if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+([ \t]*;.*)?$/.test(c)) {
        return httpError(400, 'ERR_HTTP_INVALID_TRANSFER_ENCODING', 'Invalid Transfer-Encoding');
      }
    }
    if (list[list.length - 1] !== 'chunked') {
      return httpError(400, 'ERR_HTTP_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding does not end with chunked');
    }
    if (list.indexOf('chunked') !== list.length - 1) {
      return httpError(400, 'ERR_HTTP_INVALID_TRANSFER_ENCODING', 'chunked applied more than once');
    }
    if (list.length > 1) return httpError(501, 'ERR_HTTP_UNSUPPORTED_TRANSFER_CODING', 'Unsupported transfer coding');
    info.chunked = true;
    info.contentLength = -1;
  } else if (clSeen) {
    if (cl > maxBodyBytes) return httpError(413, 'ERR_HTTP_BODY_TOO_LARGE', 'Request body too large');
    info.contentLength = cl;
  }
  // R6: Expect. RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
  if (expect !== null) {
    // Expect = #expectation: "100-continue" repeated (in one line or several) is still only 100-continue, and
    // empty list elements are ignored (RFC 9110 §5.6.1.2), so an empty Expect expects nothing.
    let continueExpected = false;
    for (const member of expect.split(',')) {
      const exp = trimOws(member).toLowerCase();
      if (exp === '') continue;
      if (exp !== '100-continue') return httpError(417, 'ERR_HTTP_EXPECTATION_FAILED', 'Unsupported expectation');
      continueExpected = true;
    }
    info.expectContinue = continueExpected && minor === 1 && (info.chunked || info.contentLength > 0);
  }
  // RFC 9110 §7.8: "A server MUST ignore an Upgrade header field that is received in an HTTP/1.0 request."
  info.upgrade = upgradeField && connUpgrade && minor === 1;
  return null;
}

/** A serialized response head and what it was made from (see `Http1ServerCache.head`). */
interface HeadMemo {
  date: string;
  status: number;
  bodyLength: number;
  framing: number;
  connection: number;
  fields: readonly string[];
  bytes: Buffer;
}
const NO_HEAD: HeadMemo = {
  date: '',
  status: 0,
  bodyLength: 0,
  framing: 0,
  connection: 0,
  fields: [],
  bytes: Buffer.alloc(0),
};

/**
 * The memos of the response path and of Host validation, as an object the adapter owns (one per server, shared by
 * its connections) instead of module globals: a core keeps no state of its own between instances, and two servers
 * in one process do not share (or race on) each other's memos. One thread: reads and writes never interleave.
 */
export class Http1ServerCache {
  /**
   * PERF: the last head serialized, as bytes. A server answers runs of identical heads (same status, fields and
   * length within one second) across its connections; comparing the inputs (mostly pointer-equal strings) and
   * copying cached bytes is cheaper than building and latin1-encoding the head again (8 % of the pipelined GET
   * benchmark).
   */
  head: HeadMemo;
  /** PERF: the last Host value found valid; clients repeat the same Host on every request. */
  validHost: string;
  constructor() {
    this.head = NO_HEAD;
    this.validHost = '';
  }
}

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Serializes a response head; `framing`/`connection` as decided in writeHead. */
function buildHead(
  status: number,
  fields: readonly string[],
  validated: boolean,
  date: string,
  framing: number,
  bodyLength: number,
  connection: number,
): string {
  let head = statusLine(status) + serializeFields(fields, validated);
  if (date !== '') head += `Date: ${date}${CRLF}`;
  if (framing === 1) head += `Content-Length: ${bodyLength}${CRLF}`;
  else if (framing === 2) head += `Transfer-Encoding: chunked${CRLF}`;
  if (connection === 1) head += `Connection: close${CRLF}`;
  else if (connection === 2) head += `Connection: keep-alive${CRLF}`;
  return head + CRLF;
}

/** uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2). An empty value is allowed (RFC 9110 §7.2). */
export function isValidHost(value: string): boolean {
  if (value === '') return true;
  let hostEnd = value.length;
  if (value.charCodeAt(0) === 0x5b) {
    // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
    const close = value.indexOf(']');
    if (
      close < 0 ||
      !/^\[[0-9A-Fa-f:.]+\]$|^\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]$/.test(value.slice(0, close + 1))
    ) {
      return false;
    }
    hostEnd = close + 1;
    if (hostEnd === value.length) return true;
    if (value.charCodeAt(hostEnd) !== 0x3a) return false;
    return /^[0-9]*$/.test(value.slice(hostEnd + 1));
  }
  const colon = value.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^[0-9]*$/.test(value.slice(colon + 1))) return false;
    hostEnd = colon;
  }
  // reg-name = *( unreserved / pct-encoded / sub-delims )
  return /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/.test(value.slice(0, hostEnd));
}

/**
 * The four request-target forms (RFC 9112 §3.2): origin-form "/...", absolute-form "scheme://...",
 * authority-form only with CONNECT, asterisk-form "*" only with OPTIONS.
 */
function checkTarget(method: string, target: string, info: RequestInfo): ProtocolError | null {
  const c = target.charCodeAt(0);
  if (method === 'CONNECT') {
    // authority-form = uri-host ":" port (RFC 9112 §3.2.3)
    if (c === 0x2f || !/:[0-9]+$/.test(target) || !isValidHost(target)) {
      return httpError(400, 'ERR_HTTP_INVALID_TARGET', 'CONNECT requires authority-form host:port');
    }
    // RFC 9112 §3.3: for authority-form the target URI's authority is the request-target.
    info.host = target;
    return null;
  }
  if (c === 0x2f) return null; // origin-form
  if (target === '*') {
    return method === 'OPTIONS' ? null : httpError(400, 'ERR_HTTP_INVALID_TARGET', 'Asterisk-form is only for OPTIONS');
  }
  // absolute-form = absolute-URI (RFC 3986 §4.3: scheme ":" hier-part [ "?" query ]). SECURITY (ReDoS): anchored
  // at the start only, with no `(.*)$` after the authority (which, were a line terminator ever in the target, would
  // retry every shorter authority: quadratic): each part stops at a character the next cannot start with.
  const m = /^([A-Za-z][A-Za-z0-9+\-.]*):\/\/([^/?#]*)/.exec(target);
  if (m === null) return httpError(400, 'ERR_HTTP_INVALID_TARGET', 'Invalid request-target');
  const authority = m[2] as string;
  // RFC 9110 §4.2.4: a recipient "SHOULD parse for userinfo and treat its presence as an error" (it is a
  // phishing vector and no HTTP client sends it).
  if (authority.includes('@')) {
    return httpError(400, 'ERR_HTTP_INVALID_TARGET', 'userinfo in an http(s) URI is not allowed');
  }
  if (!isValidHost(authority) || authority === '') {
    return httpError(400, 'ERR_HTTP_INVALID_TARGET', 'Invalid authority in absolute-form target');
  }
  // RFC 9112 §3.2.2: "an origin server MUST ignore the received Host header field (if any) and instead use the host
  // information of the request-target" (node:http, h11 and nginx do the same): a Host that differs is not an error.
  info.host = authority;
  return null;
}
