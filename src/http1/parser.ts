/**
 * Incremental HTTP/1.1 request parser (RFC 9112), sans-I/O: bytes in, in any split, events out.
 *
 * Theory of operation. The parser is a small state machine with numeric states:
 *   HEAD        collecting the request line and header section until the empty line
 *   BODY_LENGTH reading a Content-Length body
 *   CHUNK_LINE  reading a chunk-size line (size + extensions)
 *   CHUNK_DATA  reading chunk data
 *   CHUNK_CRLF  expecting the CRLF after chunk data
 *   TRAILERS    reading the trailer section after the last chunk
 *   DONE        a message ended; the owner calls `next()` to parse the following one (pipelining stays
 *               in the owner's hands so that responses go out in order)
 *   ERROR       a ProtocolError was reported; all further input is ignored
 *
 * Rules (strict; each failure is one ProtocolError with its status, then the parser stops):
 *   - Lines end with CRLF only. A bare LF or a bare CR anywhere in the head is 400 (RFC 9112 §2.2 allows
 *     a server to accept bare LF; we do not, since lenient parsers disagreeing is what request smuggling feeds on).
 *   - The head is scanned in place when it arrives in one chunk; when it spans chunks it is copied once into a
 *     bounded scratch buffer (each byte copied at most once).
 *   - Message framing (Content-Length vs chunked) is decided by the owner in `onHead`, which returns it:
 *     the smuggling rules live in protocol.ts, next to keep-alive.
 */

import { Buffer } from 'node:buffer';
import { httpError, type ProtocolError } from '../errors.js';
import {
  MAX_CHUNK_EXTENSIONS_BYTES,
  MAX_CHUNK_LINE_BYTES,
  MAX_HEADER_BYTES,
  MAX_HEADER_COUNT,
  MAX_REQUEST_LINE_BYTES,
  MAX_TRAILER_BYTES,
} from '../limits.js';
import { TCHAR } from '../util/ascii.js';
import { HeaderList } from './headers.js';
import { RequestHead } from './request-head.js';
import {
  BARE_LF,
  CR,
  FAILED,
  FIELD_ERR_COUNT,
  FIELD_ERR_NAME,
  FIELD_ERR_OBS_FOLD,
  FIELD_ERR_VALUE,
  FIELD_ERR_WS_BEFORE_COLON,
  findHeadEnd,
  firstBareLf,
  hexValue,
  isDigit,
  isEmptyLines,
  LF,
  methodString,
  NEED_MORE,
  NO_FIELDS,
  parseFieldLines,
  SP,
  sameBytes,
  sameOrDecode,
  TARGET_PLAIN,
  TARGET_PLAIN_ANY,
  TARGET_PLAIN_BROWSER,
  validChunkExt,
} from './scan.js';

const HEAD = 0;
const BODY_LENGTH = 1;
const CHUNK_LINE = 2;
const CHUNK_DATA = 3;
const CHUNK_CRLF = 4;
const TRAILERS = 5;
const DONE = 6;
const ERROR = 7;

/** `onHead` return value: the message has no body. */
export const BODY_NONE = 0;
/** `onHead` return value: the body is chunked (RFC 9112 §7.1). */
export const BODY_CHUNKED = -1;
/** `onHead` return value: the owner rejected the head (it already knows why); the parser stops. */
export const BODY_REJECT = -2;

export { RequestHead } from './request-head.js';

/** What the parser reports. Methods are fixed so call sites stay monomorphic. */
export interface RequestParserHandler {
  /** A complete head. Return the body framing: BODY_NONE, BODY_CHUNKED, a positive Content-Length, or BODY_REJECT. */
  onHead(head: RequestHead): number;
  /** A piece of the decoded body (a view into the input; copy it to keep it past the call). */
  onBody(chunk: Buffer): void;
  /** End of the message; `trailers` is the trailer section of a chunked body (flat [name, value, ...]). */
  onMessageEnd(trailers: string[]): void;
  /** The input broke HTTP/1.1; the parser stops for good. */
  onError(err: ProtocolError): void;
}

/** Limits of one parser; defaults come from limits.ts. */
export interface RequestParserLimits {
  maxRequestLineBytes: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  maxTrailerBytes: number;
  /**
   * Which of the nine VCHARs RFC 3986 leaves out of a URI (`"` `<` `>` `\` `^` backtick `{` `|` `}`) a
   * request-target may hold (RFC 9112 §3.2 makes a request-line with one invalid: 400, §3):
   * - `'browser'` (the default): the six that browsers send unencoded (WHATWG URL: `\` `^` backtick `{` `|` `}` in
   *   a query, `^` `|` in a path); `"` `<` `>`, which a browser always percent-encodes, are 400.
   * - `'rfc3986'`: none (all nine are 400).
   * - `'any'`: all nine.
   */
  targetChars?: TargetChars;
}

export const DEFAULT_PARSER_LIMITS: RequestParserLimits = {
  maxRequestLineBytes: MAX_REQUEST_LINE_BYTES,
  maxHeaderBytes: MAX_HEADER_BYTES,
  maxHeaderCount: MAX_HEADER_COUNT,
  maxTrailerBytes: MAX_TRAILER_BYTES,
  targetChars: 'browser',
};

/** See `RequestParserLimits.targetChars`. */
export type TargetChars = 'browser' | 'rfc3986' | 'any';

// The parts of a request-line, as judgeRequestLine walks them.
const RL_METHOD = 0;
const RL_TARGET = 1;
const RL_VERSION = 2;
/** The HTTP-version and the CR or LF after it have been seen: the rest is parseHead's. */
const RL_DONE = 3;
/** HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3): the byte each offset must be, 0 for a DIGIT. */
const VERSION_SHAPE: readonly number[] = [0x48, 0x54, 0x54, 0x50, 0x2f, 0, 0x2e, 0];

/** Leading empty lines skipped before a request-line (RFC 9112 §2.2 "SHOULD ignore at least one"). */
const MAX_LEADING_EMPTY_LINES = 8;

/**
 * Incremental request parser. `receive(buf)` consumes as much as it can: it stops at the end of each
 * message (state DONE) and returns the number of bytes used, so that the owner decides when the next
 * pipelined request may be parsed.
 */
export class RequestParser {
  state: number;
  /** Bytes of the body still expected (BODY_LENGTH / CHUNK_DATA). */
  remaining: number;
  private readonly handler: RequestParserHandler;
  private readonly limits: RequestParserLimits;
  /** Scratch for a head or a chunk/trailer line spanning chunks; allocated on first need. */
  private scratch: Buffer | null;
  private scratchLen: number;
  /** Where to resume scanning for LF inside scratch. */
  private scanFrom: number;
  private trailers: string[];
  private trailerBytes: number;
  /** Decoded body bytes of the current chunked message, and their limit (413). */
  private bodyBytes: number;
  /** Chunk-extension bytes of the current chunked message (bounded by MAX_CHUNK_EXTENSIONS_BYTES). */
  private chunkExtBytes: number;
  /** Largest chunked body accepted; the owner checks Content-Length bodies itself in onHead. */
  maxBodyBytes: number;
  private sawCr: boolean;
  // A line found by takeLine: lineBuf[lineStart..lineEnd) without its CRLF.
  private lineBuf: Buffer | null;
  private lineStart: number;
  private lineEnd: number;
  private lineFromScratch: boolean;
  /** The previous request's field lines: keep-alive clients repeat them, so their strings are reused. */
  private prevFields: string[];
  /** The previous request's target, reused when the next one has the same bytes (see sameOrDecode). */
  private prevTarget: string | undefined;
  /**
   * PERF: the bytes of the previous request's field section (`null`: none kept). A keep-alive client usually
   * sends the same field lines on every request; when the bytes are the same, the previous (validated,
   * decoded) field list is reused as a whole instead of being parsed again (field parsing was a quarter of the
   * HTTP core's time in the pipelined GET benchmark). The list is never modified, so sharing it is safe.
   */
  private prevSection: Buffer | null;
  private prevSectionLen: number;
  /**
   * Where judgeRequestLine stopped in the head being received: the part of the request-line (RL_*), and the
   * offsets from the request-line's first byte of the next byte to judge and of the current part's first byte.
   */
  private rlPart: number;
  private rlOffset: number;
  private rlPartStart: number;
  /** The octets a request-target may hold besides pct-encoded triplets (TARGET_PLAIN, TARGET_PLAIN_BROWSER or TARGET_PLAIN_ANY). */
  private readonly targetChars: Uint8Array;

  constructor(handler: RequestParserHandler, limits: RequestParserLimits = DEFAULT_PARSER_LIMITS) {
    this.state = HEAD;
    this.remaining = 0;
    this.handler = handler;
    this.limits = limits;
    this.scratch = null;
    this.scratchLen = 0;
    this.scanFrom = 0;
    this.trailers = [];
    this.trailerBytes = 0;
    this.bodyBytes = 0;
    this.chunkExtBytes = 0;
    this.maxBodyBytes = Number.MAX_SAFE_INTEGER;
    this.sawCr = false;
    this.lineBuf = null;
    this.lineStart = 0;
    this.lineEnd = 0;
    this.lineFromScratch = false;
    this.prevFields = NO_FIELDS;
    this.prevTarget = undefined;
    this.prevSection = null;
    this.prevSectionLen = 0;
    this.rlPart = RL_METHOD;
    this.rlOffset = 0;
    this.rlPartStart = 0;
    const chars = limits.targetChars ?? 'browser';
    this.targetChars = chars === 'any' ? TARGET_PLAIN_ANY : chars === 'rfc3986' ? TARGET_PLAIN : TARGET_PLAIN_BROWSER;
  }

  /** True once a message has ended and `next()` has not been called yet. */
  get isDone(): boolean {
    return this.state === DONE;
  }

  /** True after a protocol error. */
  get isFailed(): boolean {
    return this.state === ERROR;
  }

  /** True while nothing of the next message has been received yet. */
  get isIdle(): boolean {
    return this.state === HEAD && isEmptyLines(this.scratch, this.scratchLen);
  }

  /** True while a head is partially received (the slowloris timer runs). */
  get inHead(): boolean {
    return this.state === HEAD;
  }

  /** Prepares for the next message after DONE. */
  next(): void {
    if (this.state === DONE) this.state = HEAD;
  }

  /** Stops the parser (e.g. after an upgrade or a close); further input is ignored. */
  stop(): void {
    this.state = ERROR;
    this.scratch = null;
    this.scratchLen = 0;
  }

  /**
   * Parses from `buf[start..]`. Returns the offset where it stopped, never past `buf.length`: `buf.length` when
   * everything was consumed, less when a message ended (DONE) or the parser failed (what follows is never parsed).
   */
  receive(buf: Buffer, start = 0): number {
    let pos = start;
    const end = buf.length;
    while (pos < end) {
      switch (this.state) {
        case HEAD:
          pos = this.readHead(buf, pos);
          break;
        case BODY_LENGTH: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          const chunk = buf.subarray(pos, pos + n);
          pos += n;
          this.handler.onBody(chunk);
          if (this.remaining === 0 && this.state === BODY_LENGTH) this.finish([]);
          break;
        }
        case CHUNK_LINE:
          pos = this.readChunkLine(buf, pos);
          break;
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          const chunk = buf.subarray(pos, pos + n);
          pos += n;
          if (this.remaining === 0) this.state = CHUNK_CRLF;
          this.handler.onBody(chunk);
          break;
        }
        case CHUNK_CRLF:
          pos = this.readChunkCrlf(buf, pos);
          break;
        case TRAILERS:
          pos = this.readTrailerLine(buf, pos);
          break;
        default:
          // DONE or ERROR: the owner decides what happens to the rest.
          return pos;
      }
    }
    // The private readers return Number.MAX_SAFE_INTEGER after fail() to leave the loop: not an offset.
    return Math.min(pos, end);
  }

  /** The peer closed its side. A message cut short is an error only when it had started. */
  receiveEof(): void {
    // RFC 9112 §2.2: empty lines before a request-line are ignored (e.g. a stray CRLF after a POST body).
    if (this.state === HEAD && isEmptyLines(this.scratch, this.scratchLen)) return;
    if (this.state === DONE || this.state === ERROR) return;
    // RFC 9112 §8: "A message ... received with fewer octets than indicated ... MUST be considered incomplete".
    this.fail(400, 'ERR_HTTP_INCOMPLETE_MESSAGE', 'Connection closed before the message was complete');
  }

  private fail(status: number, code: string, message: string): number {
    this.state = ERROR;
    this.scratch = null;
    this.scratchLen = 0;
    this.handler.onError(httpError(status, code, message));
    return Number.MAX_SAFE_INTEGER;
  }

  private finish(trailers: string[]): void {
    this.state = DONE;
    this.handler.onMessageEnd(trailers);
  }

  /** Appends `buf[from..to]` to the scratch buffer, bounded by `cap` bytes. */
  private stash(buf: Buffer, from: number, to: number, cap: number): void {
    const need = this.scratchLen + (to - from);
    let s = this.scratch;
    if (s === null || s.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(cap, Math.max(need, s === null ? 1024 : s.length * 2)));
      if (s !== null) s.copy(grown, 0, 0, this.scratchLen);
      s = grown;
      this.scratch = s;
    }
    buf.copy(s, this.scratchLen, from, to);
    this.scratchLen = need;
  }

  private clearScratch(): void {
    this.scratchLen = 0;
    this.scanFrom = 0;
    // Release big scratch buffers so idle keep-alive connections stay small.
    if (this.scratch !== null && this.scratch.length > 4096) this.scratch = null;
  }

  /**
   * Looks for the empty line that ends the head. Works on `buf` directly when no earlier bytes are stashed;
   * otherwise stashes and scans the scratch buffer. Returns the new position in `buf`.
   */
  private readHead(buf: Buffer, pos: number): number {
    const limits = this.limits;
    // Leading empty lines, request-line, CRLF, header section, CRLF: the largest head checkPartialHead lets through.
    const cap = 2 * MAX_LEADING_EMPTY_LINES + limits.maxRequestLineBytes + limits.maxHeaderBytes + 4;
    if (this.scratchLen === 0) {
      // Fast path: the whole head is in this chunk.
      const endOfHead = findHeadEnd(buf, pos, buf.length);
      if (endOfHead >= 0) {
        this.parseHead(buf, pos, endOfHead);
        return endOfHead;
      }
      // A new head: its request-line is judged from its first byte.
      this.rlPart = RL_METHOD;
      this.rlOffset = 0;
      this.rlPartStart = 0;
      if (endOfHead === BARE_LF) {
        // The verdicts on the bytes before the LF come first, as they would have had those bytes come alone.
        if (this.partialVerdict(buf, pos, firstBareLf(buf, pos, buf.length))) return Number.MAX_SAFE_INTEGER;
        return this.fail(400, 'ERR_HTTP_BARE_LF', 'Line ended with LF without CR');
      }
      // Incomplete: check limits on what we have, then stash.
      const err = this.checkPartialHead(buf, pos, buf.length);
      if (err !== 0) return err;
      this.stash(buf, pos, buf.length, cap);
      this.scanFrom = 0;
      return buf.length;
    }
    // Slow path: continue a head that spans chunks.
    const before = this.scratchLen;
    const take = Math.min(buf.length - pos, cap - before);
    this.stash(buf, pos, pos + take, cap);
    const s = this.scratch as Buffer;
    const scanStart = Math.max(0, this.scanFrom - 3);
    const endOfHead = findHeadEnd(s, 0, this.scratchLen, scanStart);
    if (endOfHead >= 0) {
      const used = endOfHead - before; // bytes of buf that belong to the head
      this.parseHead(s, 0, endOfHead);
      if (this.state !== ERROR) this.clearScratch();
      return pos + used;
    }
    if (endOfHead === BARE_LF) {
      if (this.partialVerdict(s, 0, firstBareLf(s, 0, this.scratchLen))) return Number.MAX_SAFE_INTEGER;
      return this.fail(400, 'ERR_HTTP_BARE_LF', 'Line ended with LF without CR');
    }
    this.scanFrom = this.scratchLen;
    const err = this.checkPartialHead(s, 0, this.scratchLen);
    if (err !== 0) return err;
    if (take < buf.length - pos) {
      // The cap is reached and the head has not ended.
      return this.fail(431, 'ERR_HTTP_HEADERS_TOO_LARGE', 'Header section too large');
    }
    return buf.length;
  }

  /**
   * What can be judged of a head from its first bytes: the empty lines before the request-line (400) and the
   * request-line bytes received so far (judgeRequestLine). Returns 0, or the fail() result.
   */
  private checkHeadStart(buf: Buffer, start: number, end: number): number {
    let lineStart = start;
    // Skip leading empty lines as parseHead will, but not without bound.
    while (lineStart + 1 < end && buf[lineStart] === CR && buf[lineStart + 1] === LF) lineStart += 2;
    if (lineStart - start > 2 * MAX_LEADING_EMPTY_LINES) {
      return this.fail(400, 'ERR_HTTP_INVALID_REQUEST_LINE', 'Too many empty lines before the request line');
    }
    return this.judgeRequestLine(buf, lineStart, end) ? Number.MAX_SAFE_INTEGER : 0;
  }

  /**
   * Whether the head's bytes `buf[start..stop)`, before the byte that gives a verdict only a whole head can (the bare
   * LF, or the head's last LF), already fail one of the checks an incomplete head gets (checkPartialHead: 400 for
   * the request-line, 414, 431). Had the head come in pieces, that verdict would have been reported first; judging
   * it here too makes the error the same however the head was split. The request-line is judged with the verdict's
   * byte as well (`GET\n`: a method ended by LF), the limits without it. Reports the failure when there is one.
   */
  private partialVerdict(buf: Buffer, start: number, stop: number): boolean {
    this.rlPart = RL_METHOD;
    this.rlOffset = 0;
    this.rlPartStart = 0;
    return this.checkHeadStart(buf, start, stop + 1) !== 0 || this.checkHeadLimits(buf, start, stop) !== 0;
  }

  /**
   * Fails a whole head `buf[start..end)` with a verdict of parseHead, unless its bytes before the last LF already
   * failed the checks of an incomplete head (partialVerdict), as they would have had the head come in pieces: where
   * parseHead ends the request-line (at its first CR) and where those checks do (at the LF) differ when a CR is not
   * followed by LF, and a verdict must not depend on the split.
   */
  private failHead(buf: Buffer, start: number, end: number, status: number, code: string, message: string): void {
    if (!this.partialVerdict(buf, start, end - 1)) this.fail(status, code, message);
  }

  /** Limits on an incomplete head: request line length (414) and header section size (431). */
  private checkPartialHead(buf: Buffer, start: number, end: number): number {
    const err = this.checkHeadStart(buf, start, end);
    if (err !== 0) return err;
    return this.checkHeadLimits(buf, start, end);
  }

  /** The limits of checkPartialHead alone. */
  private checkHeadLimits(buf: Buffer, start: number, end: number): number {
    const limits = this.limits;
    let lineStart = start;
    while (lineStart + 1 < end && buf[lineStart] === CR && buf[lineStart + 1] === LF) lineStart += 2;
    const lf = buf.indexOf(LF, lineStart);
    const lineEnd = lf < 0 || lf >= end ? end : lf;
    // The limits count octets without the CRLF that ends the line / section (as parseHead does), so a CR
    // that has arrived without its LF yet is not counted: the same head passes or fails in any split.
    const lineLen = lineEnd - lineStart - (lineEnd > lineStart && buf[lineEnd - 1] === CR ? 1 : 0);
    if (lineLen > limits.maxRequestLineBytes) {
      return this.fail(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG', 'Request line too long');
    }
    if (lf >= 0 && lf < end && end - lf - 1 - (buf[end - 1] === CR ? 1 : 0) > limits.maxHeaderBytes) {
      return this.fail(431, 'ERR_HTTP_HEADERS_TOO_LARGE', 'Header section too large');
    }
    return 0;
  }

  /**
   * Judges the request-line bytes received so far, `buf[lineStart..end)`, resuming where the previous call stopped,
   * so that input that cannot be a request is refused at its first impossible byte instead of waiting for its CRLF
   * (and the header timeout): a TLS ClientHello sent to the cleartext port starts with 0x16, which is no tchar, and
   * RFC 9110 §9.1 makes a method a token. Each byte is judged once, by table lookup. The verdicts are parseHead's,
   * in its order, so that any split of the input gives the same error: only the first maxRequestLineBytes bytes
   * are judged (past them 414 decides), a "%" waits for its two HEXDIGs, and a CR or LF ends the judging where
   * parseHead (or findHeadEnd, for a bare LF) takes over. Whether the version is one we serve (505) waits for the
   * whole head. Returns true when it failed the parser.
   */
  private judgeRequestLine(buf: Buffer, lineStart: number, end: number): boolean {
    const stop = Math.min(end, lineStart + this.limits.maxRequestLineBytes);
    const targetChars = this.targetChars;
    let i = lineStart + this.rlOffset;
    let part = this.rlPart;
    let partStart = lineStart + this.rlPartStart;
    while (i < stop) {
      const c = buf[i] as number;
      if (part === RL_METHOD) {
        // RFC 9112 §3: request-line = method SP request-target SP HTTP-version; RFC 9110 §9.1: method = token.
        if (TCHAR[c] === 1) {
          i++;
          continue;
        }
        if (c === SP && i > partStart) {
          part = RL_TARGET;
          partStart = ++i;
          continue;
        }
        // A CR or LF first may be an empty line before the request-line (RFC 9112 §2.2), judged elsewhere; but a CR
        // followed by anything but LF cannot be (leading CRLFs were skipped): no method, as parseHead says.
        if ((c === CR || c === LF) && i === partStart) {
          if (c === CR && i + 1 < stop && buf[i + 1] !== LF) {
            this.fail(400, 'ERR_HTTP_INVALID_METHOD', 'Invalid method in request line');
            return true;
          }
          break;
        }
        this.fail(400, 'ERR_HTTP_INVALID_METHOD', 'Invalid method in request line');
        return true;
      }
      if (part === RL_TARGET) {
        if (targetChars[c] === 1) {
          i++;
          continue;
        }
        if (c === 0x25) {
          // RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG; judged once both have arrived.
          if (i + 2 >= stop) break;
          if (hexValue(buf[i + 1] as number) < 0 || hexValue(buf[i + 2] as number) < 0) {
            this.fail(400, 'ERR_HTTP_INVALID_TARGET', 'Invalid request-target');
            return true;
          }
          i += 3;
          continue;
        }
        if (c === SP && i > partStart) {
          part = RL_VERSION;
          partStart = ++i;
          continue;
        }
        this.fail(400, 'ERR_HTTP_INVALID_TARGET', 'Invalid request-target');
        return true;
      }
      if (part === RL_DONE) break;
      // RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, then the line's CRLF.
      const k = i - partStart;
      if (k === VERSION_SHAPE.length && (c === CR || c === LF)) {
        part = RL_DONE;
        break;
      }
      const want = k < VERSION_SHAPE.length ? (VERSION_SHAPE[k] as number) : -1;
      if (want === -1 || (want === 0 ? !isDigit(c) : c !== want)) {
        this.fail(400, 'ERR_HTTP_INVALID_VERSION', 'Invalid HTTP-version in request line');
        return true;
      }
      i++;
    }
    this.rlPart = part;
    this.rlOffset = i - lineStart;
    this.rlPartStart = partStart - lineStart;
    return false;
  }

  /** Parses a complete head in `buf[start..end)` (end is just past the final CRLFCRLF). */
  private parseHead(buf: Buffer, start: number, end: number): void {
    const limits = this.limits;
    let p = start;
    let skipped = 0;
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received prior to the request-line.
    while (buf[p] === CR && buf[p + 1] === LF) {
      p += 2;
      if (++skipped > MAX_LEADING_EMPTY_LINES) {
        this.fail(400, 'ERR_HTTP_INVALID_REQUEST_LINE', 'Too many empty lines before the request line');
        return;
      }
    }
    // --- request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
    const lineEnd = buf.indexOf(CR, p);
    if (lineEnd - p > limits.maxRequestLineBytes) {
      // An impossible byte within the limit is reported first, as it is when the line arrives in pieces.
      this.rlPart = RL_METHOD;
      this.rlOffset = 0;
      this.rlPartStart = 0;
      if (this.judgeRequestLine(buf, p, end)) return;
      this.fail(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG', 'Request line too long');
      return;
    }
    let i = p;
    while (i < lineEnd && TCHAR[buf[i] as number] === 1) i++;
    if (i === p || buf[i] !== SP) {
      this.failHead(buf, start, end, 400, 'ERR_HTTP_INVALID_METHOD', 'Invalid method in request line');
      return;
    }
    const method = methodString(buf, p, i);
    const targetStart = ++i;
    // RFC 9112 §3.2: the request-target's forms are made of RFC 3986 octets; any other makes the request-line
    // invalid, and RFC 9112 §3 has a server answer an invalid request-line 400 (or redirect to the encoded form).
    const targetChars = this.targetChars;
    for (;;) {
      while (i < lineEnd && targetChars[buf[i] as number] === 1) i++;
      // RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG; a "%" that starts no such triplet is invalid.
      if (
        buf[i] !== 0x25 ||
        i + 2 >= lineEnd ||
        hexValue(buf[i + 1] as number) < 0 ||
        hexValue(buf[i + 2] as number) < 0
      )
        break;
      i += 3;
    }
    if (i === targetStart || buf[i] !== SP) {
      // RFC 9112 §3: exactly one SP between parts; whitespace or CTLs inside the target are invalid.
      this.failHead(buf, start, end, 400, 'ERR_HTTP_INVALID_TARGET', 'Invalid request-target');
      return;
    }
    const target = sameOrDecode(buf, targetStart, i, this.prevTarget);
    this.prevTarget = target;
    i++;
    // RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT; HTTP-name is case-sensitive.
    if (
      lineEnd - i !== 8 ||
      buf[i] !== 0x48 ||
      buf[i + 1] !== 0x54 ||
      buf[i + 2] !== 0x54 ||
      buf[i + 3] !== 0x50 ||
      buf[i + 4] !== 0x2f ||
      !isDigit(buf[i + 5] as number) ||
      buf[i + 6] !== 0x2e ||
      !isDigit(buf[i + 7] as number)
    ) {
      this.failHead(buf, start, end, 400, 'ERR_HTTP_INVALID_VERSION', 'Invalid HTTP-version in request line');
      return;
    }
    // RFC 9110 §6.2 / §15.6.6: a major version other than 1 is not served on an HTTP/1 connection (505).
    if (buf[i + 5] !== 0x31) {
      this.failHead(buf, start, end, 505, 'ERR_HTTP_VERSION_NOT_SUPPORTED', 'HTTP version not supported');
      return;
    }
    // RFC 9110 §2.5: a recipient of a higher minor version than it implements, in a major version it implements,
    // "SHOULD process the message as if it were in the highest minor version within that major version to which the
    // recipient is conformant": HTTP/1.2 to HTTP/1.9 are read as HTTP/1.1 (versionMinor 1, httpVersion "1.1"), and
    // answered as HTTP/1.1 like every response.
    const versionMinor = buf[i + 7] === 0x30 ? 0 : 1;
    if (buf[lineEnd + 1] !== LF) {
      this.failHead(buf, start, end, 400, 'ERR_HTTP_BARE_CR', 'CR not followed by LF');
      return;
    }
    // --- header section
    let raw: string[] = [];
    p = lineEnd + 2;
    const headerStart = p;
    if (end - 2 - headerStart > limits.maxHeaderBytes) {
      this.fail(431, 'ERR_HTTP_HEADERS_TOO_LARGE', 'Header section too large');
      return;
    }
    const sectionLen = end - 2 - p;
    const prevSection = this.prevSection;
    if (prevSection !== null && this.prevSectionLen === sectionLen && sameBytes(buf, p, prevSection, sectionLen)) {
      raw = this.prevFields;
    } else {
      const first = this.prevFields === NO_FIELDS;
      const err = parseFieldLines(buf, p, end - 2, raw, limits.maxHeaderCount, this.prevFields);
      this.prevFields = raw;
      if (err !== 0) {
        this.prevSection = null;
        if (this.partialVerdict(buf, start, end - 1)) return;
        this.failFields(err);
        return;
      }
      // Not after a connection's first request: most connections that send one request (an upgrade, a health
      // check) never send a second, and the copy would be wasted.
      if (!first) this.rememberSection(buf, p, sectionLen);
    }
    const head = new RequestHead(method, target, versionMinor, new HeaderList(raw));
    const framing = this.handler.onHead(head);
    if (this.state === ERROR) return;
    if (framing === BODY_REJECT) {
      this.state = ERROR;
      return;
    }
    if (framing === BODY_CHUNKED) {
      this.state = CHUNK_LINE;
      this.trailers = [];
      this.trailerBytes = 0;
      this.bodyBytes = 0;
      this.chunkExtBytes = 0;
      this.sawCr = false;
    } else if (framing > 0) {
      this.state = BODY_LENGTH;
      this.remaining = framing;
    } else {
      this.finish([]);
    }
  }

  /** Keeps a copy of a field section for the next request to compare with (small sections only). */
  private rememberSection(buf: Buffer, start: number, len: number): void {
    if (len > MAX_REMEMBERED_SECTION) {
      this.prevSection = null;
      return;
    }
    let kept = this.prevSection;
    if (kept === null || kept.length < len) {
      kept = Buffer.allocUnsafe(Math.max(len, 64));
      this.prevSection = kept;
    }
    buf.copy(kept, 0, start, start + len);
    this.prevSectionLen = len;
  }

  private failFields(err: number): void {
    switch (err) {
      case FIELD_ERR_COUNT:
        this.fail(431, 'ERR_HTTP_TOO_MANY_HEADERS', 'Too many header fields');
        return;
      case FIELD_ERR_OBS_FOLD:
        this.fail(400, 'ERR_HTTP_OBS_FOLD', 'Obsolete line folding is not accepted');
        return;
      case FIELD_ERR_WS_BEFORE_COLON:
        this.fail(400, 'ERR_HTTP_INVALID_HEADER_NAME', 'Whitespace between field name and colon');
        return;
      case FIELD_ERR_NAME:
        this.fail(400, 'ERR_HTTP_INVALID_HEADER_NAME', 'Invalid field name');
        return;
      case FIELD_ERR_VALUE:
        this.fail(400, 'ERR_HTTP_INVALID_HEADER_VALUE', 'Invalid character in field value');
        return;
      default:
        this.fail(400, 'ERR_HTTP_BARE_CR', 'CR not followed by LF');
    }
  }

  /**
   * chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk = 1*"0" [ chunk-ext ] CRLF (RFC 9112 §7.1).
   * A line is taken from `buf` directly when whole, otherwise collected in scratch.
   */
  private readChunkLine(buf: Buffer, pos: number): number {
    const r = this.takeLine(buf, pos, MAX_CHUNK_LINE_BYTES, 400, 'ERR_HTTP_INVALID_CHUNK', 'Chunk line too long');
    if (r < 0) return r === NEED_MORE ? buf.length : Number.MAX_SAFE_INTEGER;
    const line = this.lineBuf as Buffer;
    const ls = this.lineStart;
    const le = this.lineEnd;
    // chunk-size = 1*HEXDIG (leading zeros are digits like any other: "0000000000000000000005" is 5)
    let size = 0;
    let digits = 0;
    let i = ls;
    while (i < le) {
      const d = hexValue(line[i] as number);
      if (d < 0) break;
      i++;
      if (size === 0 && d === 0) continue;
      // SECURITY: chunk-size overflow. 2^52 is far beyond any body limit; refuse before precision is lost.
      if (++digits > 13) {
        this.fail(400, 'ERR_HTTP_INVALID_CHUNK', 'Chunk size too large');
        return Number.MAX_SAFE_INTEGER;
      }
      size = size * 16 + d;
    }
    if (i === ls || !validChunkExt(line, i, le)) {
      this.fail(400, 'ERR_HTTP_INVALID_CHUNK', 'Invalid chunk size line');
      return Number.MAX_SAFE_INTEGER;
    }
    // RFC 9112 §7.1.1 sets no bound on chunk-ext and has recipients ignore unknown extensions; without a bound per
    // message, thousands of short lines carry any amount of them (the per-line bound does not see the sum). 400, as a
    // line over MAX_CHUNK_LINE_BYTES: they are framing, not content (413) nor fields (431).
    this.chunkExtBytes += le - i;
    if (this.chunkExtBytes > MAX_CHUNK_EXTENSIONS_BYTES) {
      this.fail(400, 'ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE', 'Chunk extensions too large');
      return Number.MAX_SAFE_INTEGER;
    }
    if (this.lineFromScratch) this.clearScratch();
    if (size === 0) {
      this.state = TRAILERS;
    } else {
      this.remaining = size;
      this.state = CHUNK_DATA;
      // The body limit is checked on each chunk-size, before its data is read (413).
      this.bodyBytes += size;
      if (this.bodyBytes > this.maxBodyBytes) {
        this.fail(413, 'ERR_HTTP_BODY_TOO_LARGE', 'Request body too large');
        return Number.MAX_SAFE_INTEGER;
      }
    }
    return r;
  }

  private readChunkCrlf(buf: Buffer, pos: number): number {
    // After chunk-data: exactly CRLF.
    if (this.sawCr) {
      if (buf[pos] !== LF) return this.fail(400, 'ERR_HTTP_INVALID_CHUNK', 'Chunk data not followed by CRLF');
      this.sawCr = false;
      this.state = CHUNK_LINE;
      return pos + 1;
    }
    if (buf[pos] !== CR) return this.fail(400, 'ERR_HTTP_INVALID_CHUNK', 'Chunk data not followed by CRLF');
    if (pos + 1 >= buf.length) {
      this.sawCr = true;
      return pos + 1;
    }
    if (buf[pos + 1] !== LF) return this.fail(400, 'ERR_HTTP_INVALID_CHUNK', 'Chunk data not followed by CRLF');
    this.state = CHUNK_LINE;
    return pos + 2;
  }

  /** trailer-section = *( field-line CRLF ) CRLF (RFC 9112 §7.1.2); bounded by maxTrailerBytes (431). */
  private readTrailerLine(buf: Buffer, pos: number): number {
    const room = this.limits.maxTrailerBytes - this.trailerBytes;
    const r = this.takeLine(buf, pos, room, 431, 'ERR_HTTP_TRAILERS_TOO_LARGE', 'Trailer section too large');
    if (r < 0) return r === NEED_MORE ? buf.length : Number.MAX_SAFE_INTEGER;
    const line = this.lineBuf as Buffer;
    const ls = this.lineStart;
    const le = this.lineEnd;
    this.trailerBytes += le - ls + 2;
    if (le === ls) {
      if (this.lineFromScratch) this.clearScratch();
      const t = this.trailers;
      this.trailers = [];
      this.finish(t);
      return r;
    }
    const err = parseFieldLines(line, ls, le + 2, this.trailers, this.limits.maxHeaderCount);
    if (this.lineFromScratch) this.clearScratch();
    if (err !== 0) {
      this.failFields(err === FIELD_ERR_COUNT ? FIELD_ERR_COUNT : err);
      return Number.MAX_SAFE_INTEGER;
    }
    return r;
  }

  /**
   * Finds one CRLF-terminated line starting at `pos`, collecting across chunks in scratch.
   * Returns the position after the line, NEED_MORE, or FAILED (error already reported).
   */
  private takeLine(buf: Buffer, pos: number, max: number, status: number, code: string, message: string): number {
    const lf = buf.indexOf(LF, pos);
    if (this.scratchLen === 0) {
      if (lf < 0) {
        // `max` bounds the line without its CRLF; a partial line may already hold the CR.
        if (buf.length - pos > max + 1) {
          this.fail(status, code, message);
          return FAILED;
        }
        this.stash(buf, pos, buf.length, max + 2);
        return NEED_MORE;
      }
      // Verdicts in the order the bytes give them: a line already over `max` and a CR before its LF came (what the
      // branch above says when the LF has not come yet), then at the LF a bare LF, then a bare CR.
      if (lf - pos > max + 1) {
        this.fail(status, code, message);
        return FAILED;
      }
      if (lf === pos || buf[lf - 1] !== CR) {
        this.fail(400, 'ERR_HTTP_BARE_LF', 'Line ended with LF without CR');
        return FAILED;
      }
      const cr = buf.indexOf(CR, pos);
      if (cr !== lf - 1) {
        this.fail(400, 'ERR_HTTP_BARE_CR', 'CR not followed by LF');
        return FAILED;
      }
      this.lineBuf = buf;
      this.lineStart = pos;
      this.lineEnd = lf - 1;
      this.lineFromScratch = false;
      return lf + 1;
    }
    // A line that spans chunks gets the verdicts above, in the same order, on the bytes held and these ones: the
    // error a line gets does not depend on where it was split (RFC 9112 §2.2 bare LF or CR, or `max` passed).
    const held = this.scratchLen;
    if (lf < 0) {
      if (held + (buf.length - pos) > max + 1) {
        this.fail(status, code, message);
        return FAILED;
      }
      this.stash(buf, pos, buf.length, max + 2);
      return NEED_MORE;
    }
    if (held + (lf - pos) > max + 1) {
      this.fail(status, code, message);
      return FAILED;
    }
    if ((lf > pos ? buf[lf - 1] : (this.scratch as Buffer)[held - 1]) !== CR) {
      this.fail(400, 'ERR_HTTP_BARE_LF', 'Line ended with LF without CR');
      return FAILED;
    }
    const stop = lf + 1;
    this.stash(buf, pos, stop, max + 2);
    const s = this.scratch as Buffer;
    const len = this.scratchLen;
    const cr = s.indexOf(CR);
    if (cr !== len - 2) {
      this.fail(400, 'ERR_HTTP_BARE_CR', 'CR not followed by LF');
      return FAILED;
    }
    this.lineBuf = s;
    this.lineStart = 0;
    this.lineEnd = len - 2;
    this.lineFromScratch = true;
    return stop;
  }
}

/** Field sections larger than this are not kept for comparison (an idle connection would hold them). */
const MAX_REMEMBERED_SECTION = 1024;
