/**
 * The HTTP/1.1 head's byte scanners, used by the request parser (parser.ts): where a head ends (CRLF CRLF, bare LF),
 * field lines (RFC 9112 §5: field-name ":" OWS field-value OWS), chunk extensions (§7.1.1), latin1 strings with
 * reuse of the previous request's, and small digit helpers. Index arithmetic over the Buffer given, no copies.
 */

import { Buffer } from 'node:buffer';
import { FIELD_VALUE_CHAR, TARGET_CHAR, TCHAR, URI_CHAR } from '../util/ascii.js';

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** An empty field list (the "no previous request" marker of parseFieldLines). */
export const NO_FIELDS: string[] = [];

export const NEED_MORE = -1;
export const FAILED = -2;
export const BARE_LF = -3;
export const NOT_FOUND = -1;

/**
 * Decodes `buf[start..end)` as latin1 (one char per octet). NODE: `latin1Slice` is the native method behind
 * `toString('latin1', ...)`; calling it directly skips the JS wrapper's argument checks, which cost 3 % of
 * the pipelined GET benchmark.
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (s: number, e: number) => string }).latin1Slice;
export function latin1(buf: Buffer, start: number, end: number): string {
  return latin1Slice === undefined ? buf.toString('latin1', start, end) : latin1Slice.call(buf, start, end);
}

/** Whether `buf[0..len)` is nothing but CRLF pairs (true when empty). */
export function isEmptyLines(buf: Buffer | null, len: number): boolean {
  if (len === 0) return true;
  if (buf === null || len % 2 !== 0) return false;
  for (let i = 0; i < len; i += 2) if (buf[i] !== CR || buf[i + 1] !== LF) return false;
  return true;
}

/** Whether `buf[start..start+len)` equals `kept[0..len)`. A JS loop: the sections are short, and a native
 * compare costs more to call than it saves here. */
export function sameBytes(buf: Buffer, start: number, kept: Buffer, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[start + i] !== kept[i]) return false;
  return true;
}

/**
 * PERF: `candidate` (the string at the same place in the previous request) when it has the same bytes, else a
 * new string. A keep-alive client sends the same Host, User-Agent, Accept... on every request; comparing a few
 * bytes in JS is cheaper than a native call and a new string (latin1 decoding was 8 % of the pipelined GET
 * benchmark).
 */
export function sameOrDecode(buf: Buffer, start: number, end: number, candidate: string | undefined): string {
  if (candidate !== undefined && candidate.length === end - start) {
    let i = 0;
    while (i < candidate.length && candidate.charCodeAt(i) === buf[start + i]) i++;
    if (i === candidate.length) return candidate;
  }
  return latin1(buf, start, end);
}

/** The method string, without decoding for the common ones. */
export function methodString(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  const c = buf[start];
  if (n === 3 && c === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
  if (n === 4 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54 && c === 0x50)
    return 'POST';
  if (n === 4 && c === 0x48 && buf[start + 1] === 0x45 && buf[start + 2] === 0x41 && buf[start + 3] === 0x44)
    return 'HEAD';
  return latin1(buf, start, end);
}

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * The offset of the LF that made findHeadEnd return BARE_LF: the first one in `buf[start..end)` after no CR (there
 * is one, so the result is below `end`).
 */
export function firstBareLf(buf: Buffer, start: number, end: number): number {
  let lead = start;
  while (lead + 1 < end && buf[lead] === CR && buf[lead + 1] === LF) lead += 2;
  for (let p = lead; ; ) {
    const lf = buf.indexOf(LF, p);
    if (lf < 0 || lf >= end) return end - 1;
    if (lf === lead || buf[lf - 1] !== CR) return lf;
    p = lf + 1;
  }
}

/**
 * Finds the end of the head: the offset just past the CRLF CRLF that ends it, scanning LF by LF from `scan`.
 * Returns NOT_FOUND when more bytes are needed, BARE_LF when a line ended with LF alone.
 * Leading empty lines (before the request-line) do not end the head.
 */
export function findHeadEnd(buf: Buffer, start: number, end: number, scan = start): number {
  let p = scan;
  // Skip the leading CRLFs: they do not end an empty head.
  let lead = start;
  while (lead + 1 < end && buf[lead] === CR && buf[lead + 1] === LF) lead += 2;
  if (p < lead) p = lead;
  for (;;) {
    const lf = buf.indexOf(LF, p);
    if (lf < 0 || lf >= end) return NOT_FOUND;
    if (lf === lead || buf[lf - 1] !== CR) return BARE_LF;
    // An empty line: CRLF right after the previous line's LF.
    if (lf - 2 >= lead && buf[lf - 2] === LF) return lf + 1;
    p = lf + 1;
  }
}

export const FIELD_ERR_NAME = 1;
export const FIELD_ERR_VALUE = 2;
export const FIELD_ERR_OBS_FOLD = 3;
export const FIELD_ERR_WS_BEFORE_COLON = 4;
export const FIELD_ERR_COUNT = 5;
export const FIELD_ERR_CR = 6;

/**
 * Parses field lines in `buf[p..end)`, where `end` is just past the last field line's CRLF.
 * field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). Pushes name, value into `out`.
 */
export function parseFieldLines(
  buf: Buffer,
  p: number,
  end: number,
  out: string[],
  maxCount: number,
  prev: string[] = NO_FIELDS,
): number {
  while (p < end) {
    const c0 = buf[p] as number;
    // RFC 9112 §5.2: obs-fold is rejected with 400 by a server not in a message/http context.
    if (c0 === SP || c0 === HTAB) return FIELD_ERR_OBS_FOLD;
    let i = p;
    while (TCHAR[buf[i] as number] === 1) i++;
    if (buf[i] !== COLON) {
      // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon ... MUST reject with 400".
      if (i > p && (buf[i] === SP || buf[i] === HTAB)) return FIELD_ERR_WS_BEFORE_COLON;
      return FIELD_ERR_NAME;
    }
    if (i === p) return FIELD_ERR_NAME;
    if (out.length >> 1 >= maxCount) return FIELD_ERR_COUNT;
    const name = sameOrDecode(buf, p, i, prev[out.length]);
    i++;
    while (buf[i] === SP || buf[i] === HTAB) i++;
    const vs = i;
    // field-value octets; CR must be the line end.
    while (FIELD_VALUE_CHAR[buf[i] as number] === 1) i++;
    if (buf[i] !== CR) return buf[i] === LF ? FIELD_ERR_CR : FIELD_ERR_VALUE;
    if (buf[i + 1] !== LF) return FIELD_ERR_CR;
    let ve = i;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    out.push(name, sameOrDecode(buf, vs, ve, prev[out.length + 1]));
    p = i + 2;
  }
  return 0;
}

/**
 * chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), chunk-ext-val = token / quoted-string
 * (RFC 9112 §7.1.1). Extensions are validated and ignored.
 */
export function validChunkExt(buf: Buffer, i: number, end: number): boolean {
  for (;;) {
    const bws = i;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    // BWS is allowed only before ";" (and around "="): whitespace that ends the line ("5 \r\n", "5;a=b \r\n")
    // is not in the grammar, and parsers that differ on it are a request-smuggling vector.
    if (i === end) return i === bws;
    if (buf[i] !== 0x3b) return false; // ';'
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    const ns = i;
    while (i < end && TCHAR[buf[i] as number] === 1) i++;
    if (i === ns) return false;
    const afterName = i;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    if (i >= end || buf[i] !== 0x3d) {
      // No "=": the whitespace was not BWS before "=", so the next round must see it.
      i = afterName;
      continue;
    }
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    if (i < end && buf[i] === 0x22) {
      // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
      i++;
      for (;;) {
        if (i >= end) return false;
        const c = buf[i] as number;
        if (c === 0x22) {
          i++;
          break;
        }
        if (c === 0x5c) {
          i++;
          if (i >= end) return false;
          const q = buf[i] as number;
          if (q !== HTAB && (q < 0x20 || q === 0x7f)) return false;
          i++;
          continue;
        }
        if (c !== HTAB && (c < 0x20 || c === 0x7f)) return false;
        i++;
      }
    } else {
      const vs = i;
      while (i < end && TCHAR[buf[i] as number] === 1) i++;
      if (i === vs) return false;
    }
  }
}

/** URI_CHAR without "%": a "%" must start a pct-encoded triplet, checked apart (parseHead, judgeRequestLine). */
export const TARGET_PLAIN: Uint8Array = URI_CHAR.map((v, c) => (c === 0x25 ? 0 : v));
/** `targetChars: 'any'`: any VCHAR but "#" (TARGET_CHAR), still without "%". */
export const TARGET_PLAIN_ANY: Uint8Array = TARGET_CHAR.map((v, c) => (c === 0x25 ? 0 : v));
/** `targetChars: 'browser'`: RFC 3986 plus what WHATWG URL leaves unencoded (\ ^ ` { | }), not " < >. */
export const TARGET_PLAIN_BROWSER: Uint8Array = TARGET_PLAIN_ANY.map((v, c) =>
  c === 0x22 || c === 0x3c || c === 0x3e ? 0 : v,
);
