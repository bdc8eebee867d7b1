/**
 * Reference readers for the HTTP/1.1 fuzz targets, written from RFC 9112 apart from src/http1 (straight-line code,
 * regular expressions, no shared tables or helpers): the request head (§2.2, §3, §5), the chunked body (§7.1) and
 * the framing rules (§6).
 *
 * The head reader answers with the set of statuses its input deserves (one per rule it breaks: 400, 414, 431, 505),
 * not one of them: which of several broken rules a server reports first is its choice, so the oracle asks only that
 * the parser's status is one of them. The chunked reader applies the library's documented limits (docs/limits.md)
 * and gives the one error the stream breaks first, since a chunked body is read strictly in order.
 */

import { Buffer } from 'node:buffer';
import { MAX_CHUNK_EXTENSIONS_BYTES, MAX_CHUNK_LINE_BYTES } from '../../../src/limits.js';

const CR = 0x0d;
const LF = 0x0a;

/** RFC 9110 §5.6.2. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Request-target octets besides "%" HEXDIG HEXDIG (RFC 3986 unreserved, gen-delims but "#", sub-delims), per the
 * `targetChars` levels of RequestParserLimits: 'rfc3986' (that), 'browser' (plus \ ^ ` { | }), 'any' (any VCHAR but
 * "#" and "%").
 */
function targetCharOk(c: number, level: string): boolean {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=]/.test(ch)) return true;
  if (level === 'browser') return '\\^`{|}'.includes(ch);
  if (level === 'any') return c > 0x20 && c < 0x7f && ch !== '#' && ch !== '%';
  return false;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && /[0-9A-Fa-f]/.test(String.fromCharCode(c));
}

export interface HeadLimits {
  maxRequestLineBytes: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  targetChars: string;
}

export interface RefHead {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  headers: string[];
}

export type HeadVerdict =
  | { kind: 'ok'; head: RefHead; end: number }
  | { kind: 'error'; statuses: Set<number> }
  | { kind: 'incomplete' };

/** Whether `line` (without its CRLF) can begin a request-line: method SP request-target SP HTTP-version. */
function requestLinePrefixOk(b: Uint8Array, level: string): boolean {
  let i = 0;
  const n = b.length;
  const m0 = i;
  while (i < n && TCHAR.test(String.fromCharCode(b[i]!))) i++;
  if (i === n) return true;
  if (i === m0 || b[i] !== 0x20) return false;
  i++;
  const t0 = i;
  for (;;) {
    if (i === n) return true;
    const c = b[i]!;
    if (c === 0x25) {
      if (i + 1 < n && !isHex(b[i + 1])) return false;
      if (i + 2 < n && !isHex(b[i + 2])) return false;
      i += 3;
      if (i >= n) return true;
      continue;
    }
    if (!targetCharOk(c, level)) break;
    i++;
  }
  if (i === t0 || b[i] !== 0x20) return false;
  i++;
  const v = Buffer.from(b.subarray(i)).toString('latin1');
  return /^(H(T(T(P(\/([0-9](\.([0-9])?)?)?)?)?)?)?)?$/.test(v);
}

/** Reads the request head at `start` (after any leading empty lines) of `b`. */
export function readHead(b: Uint8Array, start: number, limits: HeadLimits): HeadVerdict {
  const n = b.length;
  const statuses = new Set<number>();
  let p = start;
  let empty = 0;
  // RFC 9112 §2.2: empty lines before the request-line are ignored ("at least one"); the parser allows 8.
  while (p + 1 < n && b[p] === CR && b[p + 1] === LF) {
    p += 2;
    empty++;
  }
  if (empty > 8) statuses.add(400);
  // The head's lines, each ending in CRLF; a bare LF or CR anywhere is an error (§2.2, strict).
  const lines: [number, number][] = [];
  let q = p;
  let end = -1;
  for (;;) {
    const lf = b.indexOf(LF, q);
    if (lf < 0) break;
    if (lf === q || b[lf - 1] !== CR) {
      // A bare LF; and what the bytes before it already broke (as if the input had stopped there).
      statuses.add(400);
      const before = readHead(b.subarray(0, lf), start, limits);
      if (before.kind === 'error') for (const st of before.statuses) statuses.add(st);
      return { kind: 'error', statuses: addLineVerdicts(b, p, lf, statuses, limits) };
    }
    if (lf - 1 === q && lines.length > 0) {
      end = lf + 1;
      break;
    }
    lines.push([q, lf - 1]);
    q = lf + 1;
  }
  if (end < 0) {
    // Incomplete. What can be said already: an impossible request-line start, or a limit passed.
    const rlEnd = lines.length > 0 ? lines[0]![1] : n;
    const rl = b.subarray(p, Math.min(rlEnd, p + limits.maxRequestLineBytes));
    if (!requestLinePrefixOk(rl, limits.targetChars)) statuses.add(400);
    // A whole request-line is judged whole (its major version waits for the whole head: 505).
    if (lines.length > 0 && rlEnd - p <= limits.maxRequestLineBytes && !requestLineOk(b.subarray(p, rlEnd), limits)) {
      statuses.add(400);
    }
    if (rlEnd - p - (lines.length === 0 && b[n - 1] === CR ? 1 : 0) > limits.maxRequestLineBytes) statuses.add(414);
    if (lines.length > 0) {
      const section = n - (lines[0]![1] + 2) - (b[n - 1] === CR ? 1 : 0);
      if (section > limits.maxHeaderBytes) statuses.add(431);
    }
    return statuses.size > 0 ? { kind: 'error', statuses } : { kind: 'incomplete' };
  }
  const [rs, lineEnd] = lines[0]!;
  let head: RefHead | null = null;
  // The request-line ends at its first CR: one that is not the line's CRLF is a bare CR (400, below).
  const firstCr = b.subarray(rs, lineEnd).indexOf(CR);
  const re = firstCr < 0 ? lineEnd : rs + firstCr;
  const rlLength = re - rs;
  const rl = b.subarray(rs, re);
  // Counted to the first CR, or (had the head come in pieces) to the LF.
  if (rlLength > limits.maxRequestLineBytes || lineEnd - rs > limits.maxRequestLineBytes) {
    statuses.add(414);
    if (!requestLinePrefixOk(rl.subarray(0, limits.maxRequestLineBytes), limits.targetChars)) statuses.add(400);
  }
  const m = requestLineOk(rl, limits);
  let major = '1';
  if (m === null) {
    statuses.add(400);
  } else {
    major = m[3]!;
    if (major !== '1') statuses.add(505);
    head = { method: m[1]!, target: m[2]!, version: m[4] === '0' ? '1.0' : '1.1', headers: [] };
  }
  // A CR inside a line (not the CRLF that ends it) is a bare CR.
  for (const [s, e] of lines) if (b.subarray(s, e).includes(CR)) statuses.add(400);
  // §5: field-line = field-name ":" OWS field-value OWS; the section's size and count are bounded (431).
  const sectionBytes = end - 2 - (lineEnd + 2);
  if (sectionBytes > limits.maxHeaderBytes) statuses.add(431);
  if (lines.length - 1 > limits.maxHeaderCount) statuses.add(431);
  for (let k = 1; k < lines.length; k++) {
    const [s, e] = lines[k]!;
    const line = Buffer.from(b.subarray(s, e)).toString('latin1');
    const f = /^([^:]*):[ \t]*(.*?)[ \t]*$/s.exec(line);
    // §5.2: obs-fold (a line starting with SP/HTAB) is refused with 400; §5.1: no whitespace before the colon.
    if (f === null || !TOKEN.test(f[1]!) || !/^[\t\x20-\x7e\x80-\xff]*$/.test(f[2]!)) {
      statuses.add(400);
      continue;
    }
    head?.headers.push(f[1]!, f[2]!);
  }
  if (statuses.size > 0 || head === null) return { kind: 'error', statuses };
  return { kind: 'ok', head, end };
}

/** The verdicts a head with a bare LF may also get for its request-line (see readHead). */
function addLineVerdicts(b: Uint8Array, p: number, lf: number, statuses: Set<number>, limits: HeadLimits): Set<number> {
  const firstEnd = b.subarray(p, lf).indexOf(CR);
  const rl = b.subarray(p, firstEnd < 0 ? lf : p + firstEnd);
  if (!requestLinePrefixOk(rl.subarray(0, limits.maxRequestLineBytes), limits.targetChars)) statuses.add(400);
  return statuses;
}

/** request-line = method SP request-target SP HTTP-version (RFC 9112 §3): its parts, or null. */
function requestLineOk(line: Uint8Array, limits: HeadLimits): RegExpExecArray | null {
  const m = /^([^ ]+) ([^ ]+) HTTP\/([0-9])\.([0-9])$/.exec(Buffer.from(line).toString('latin1'));
  return m === null || !TOKEN.test(m[1]!) || !targetOk(m[2]!, limits.targetChars) ? null : m;
}

function targetOk(t: string, level: string): boolean {
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 0x25) {
      if (!isHex(t.charCodeAt(i + 1)) || !isHex(t.charCodeAt(i + 2))) return false;
      i += 2;
      continue;
    }
    if (!targetCharOk(c, level)) return false;
  }
  return t.length > 0;
}

export interface ChunkedLimits {
  maxBodyBytes: number;
  maxTrailerBytes: number;
  maxHeaderCount: number;
}

export interface HttpErr {
  status: number;
  code: string;
}

export interface ChunkedResult {
  /** Body bytes a reader delivers (the data of a chunk cut short by the end of input included). */
  body: Buffer;
  trailers: string[];
  /** Offset just past the message, or -1 (incomplete or failed). */
  end: number;
  /** Empty when the input broke no rule; else each error the rule it broke may be reported as. */
  errors: HttpErr[];
}

/** BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ], repeated (RFC 9112 §7.1.1, §5.6.4 of RFC 9110). */
const CHUNK_EXT =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/;

const BARE_CR: HttpErr = { status: 400, code: 'ERR_HTTP_BARE_CR' };
const BARE_LF: HttpErr = { status: 400, code: 'ERR_HTTP_BARE_LF' };

type Line = { s: number; e: number; next: number } | { errors: HttpErr[] } | null;

/**
 * One CRLF-terminated line at `p` whose content may hold at most `max` bytes: null while the input may still end it
 * right, else the line or its error. The library reports the first verdict in the order the bytes give it, judging
 * a line's CRs and LF at its end: more than `max` bytes and a CR before the LF came is too long (`tooLong`) whatever
 * follows; then, at the LF, an LF not after a CR, then a CR not followed by LF (RFC 9112 §2.2, strict).
 */
function line(b: Uint8Array, p: number, max: number, tooLong: HttpErr): Line {
  const lf = b.indexOf(LF, p);
  const before = (lf < 0 ? b.length : lf) - p;
  if (before > max + 1) return { errors: [tooLong] };
  if (lf < 0) return null;
  if (lf === p || b[lf - 1] !== CR) return { errors: [BARE_LF] };
  if (b.subarray(p, lf - 1).includes(CR)) return { errors: [BARE_CR] };
  return { s: p, e: lf - 1, next: lf + 1 };
}

/** Decodes a chunked body (RFC 9112 §7.1) from `b[start..]` with the parser's documented limits. */
export function decodeChunked(b: Uint8Array, start: number, limits: ChunkedLimits): ChunkedResult {
  const body: Buffer[] = [];
  const trailers: string[] = [];
  let p = start;
  let total = 0;
  let extBytes = 0;
  const out = (errors: HttpErr[], end = -1): ChunkedResult => ({ body: Buffer.concat(body), trailers, end, errors });
  const badChunk: HttpErr = { status: 400, code: 'ERR_HTTP_INVALID_CHUNK' };
  for (;;) {
    const l = line(b, p, MAX_CHUNK_LINE_BYTES, badChunk);
    if (l === null) return out([]);
    if ('errors' in l) return out(l.errors);
    const text = Buffer.from(b.subarray(l.s, l.e)).toString('latin1');
    const m = /^([0-9A-Fa-f]+)(.*)$/s.exec(text);
    if (m === null || !CHUNK_EXT.test(m[2]!)) return out([badChunk]);
    // Leading zeros are digits like others; more than 13 significant ones is past any limit (2^52).
    if (m[1]!.replace(/^0+/, '').length > 13) return out([badChunk]);
    extBytes += m[2]!.length;
    if (extBytes > MAX_CHUNK_EXTENSIONS_BYTES) {
      return out([{ status: 400, code: 'ERR_HTTP_CHUNK_EXTENSIONS_TOO_LARGE' }]);
    }
    const size = Number.parseInt(m[1]!, 16);
    p = l.next;
    if (size === 0) break;
    total += size;
    if (total > limits.maxBodyBytes) return out([{ status: 413, code: 'ERR_HTTP_BODY_TOO_LARGE' }]);
    const avail = Math.min(size, b.length - p);
    body.push(Buffer.from(b.subarray(p, p + avail)));
    p += avail;
    if (avail < size) return out([]);
    // chunk-data CRLF
    if (p >= b.length) return out([]);
    if (b[p] !== CR) return out([badChunk]);
    if (p + 1 >= b.length) return out([]);
    if (b[p + 1] !== LF) return out([badChunk]);
    p += 2;
  }
  // trailer-section = *( field-line CRLF ) CRLF, bounded by maxTrailerBytes (431) in all.
  let used = 0;
  const tooLarge: HttpErr = { status: 431, code: 'ERR_HTTP_TRAILERS_TOO_LARGE' };
  for (;;) {
    const l = line(b, p, limits.maxTrailerBytes - used, tooLarge);
    if (l === null) return out([]);
    if ('errors' in l) return out(l.errors);
    used += l.e - l.s + 2;
    p = l.next;
    if (l.e === l.s) return out([], p);
    const text = Buffer.from(b.subarray(l.s, l.e)).toString('latin1');
    const errors = fieldLineErrors(text);
    if (trailers.length / 2 >= limits.maxHeaderCount) errors.push({ status: 431, code: 'ERR_HTTP_TOO_MANY_HEADERS' });
    if (errors.length > 0) return out(errors);
    const f = /^([^:]*):[ \t]*(.*?)[ \t]*$/s.exec(text)!;
    trailers.push(f[1]!, f[2]!);
  }
}

/** The rules of RFC 9112 §5 a field line (without its CRLF) breaks. */
function fieldLineErrors(text: string): HttpErr[] {
  const errors: HttpErr[] = [];
  // §5.2: obs-fold is refused with 400 (a line that starts with SP or HTAB).
  if (/^[ \t]/.test(text)) errors.push({ status: 400, code: 'ERR_HTTP_OBS_FOLD' });
  const f = /^([^:]*):[ \t]*(.*?)[ \t]*$/s.exec(text);
  // §5.1: field-name = token, no whitespace before the colon.
  if (f === null || !TOKEN.test(f[1]!)) errors.push({ status: 400, code: 'ERR_HTTP_INVALID_HEADER_NAME' });
  // §5.5: field-value octets are VCHAR, obs-text, SP and HTAB.
  if (f !== null && !/^[\t\x20-\x7e\x80-\xff]*$/.test(f[2]!)) {
    errors.push({ status: 400, code: 'ERR_HTTP_INVALID_HEADER_VALUE' });
  }
  return errors;
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'reject' };

/**
 * The message framing RFC 9112 §6 gives a request head, with the library's strict choices (docs/limits.md): Transfer-
 * Encoding with Content-Length, Transfer-Encoding in HTTP/1.0, or any coding list but exactly "chunked" is refused;
 * Content-Length is 1*DIGIT, a list of equal values folds to one (RFC 9110 §8.6), over `maxBodyBytes` is refused.
 */
export function framingOf(head: RefHead, maxBodyBytes: number): Framing {
  const values = (name: string) =>
    head.headers.filter((_, i) => i % 2 === 1 && head.headers[i - 1]!.toLowerCase() === name);
  const te = values('transfer-encoding');
  const cl = values('content-length');
  if (te.length > 0) {
    if (head.version === '1.0' || cl.length > 0) return { kind: 'reject' };
    const codings = te
      .join(',')
      .split(',')
      .map((c) => c.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase())
      .filter((c) => c !== '');
    return codings.length === 1 && codings[0] === 'chunked' ? { kind: 'chunked' } : { kind: 'reject' };
  }
  if (cl.length === 0) return { kind: 'none' };
  let value: bigint | null = null;
  for (const v of cl.join(',').split(',')) {
    const t = v.replace(/^[ \t]+|[ \t]+$/g, '');
    if (!/^[0-9]+$/.test(t)) return { kind: 'reject' };
    const x = BigInt(t);
    if (value !== null && x !== value) return { kind: 'reject' };
    value = x;
  }
  if (value === null || value > BigInt(maxBodyBytes)) return { kind: 'reject' };
  return value === 0n ? { kind: 'none' } : { kind: 'length', length: Number(value) };
}
