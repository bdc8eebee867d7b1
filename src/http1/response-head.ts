/**
 * Parsing an HTTP/1.1 response head (RFC 9112 §4), for clients: the WebSocket client reads the server's
 * `101 Switching Protocols` (or refusal) with it. Same strictness as the request parser: CRLF only, token
 * field names, no obs-fold.
 */

import type { Buffer } from 'node:buffer';
import { httpError, type ProtocolError } from '../errors.js';
import { HeaderList } from './headers.js';
import { findHeadEnd, parseFieldLines } from './scan.js';

/** A parsed response head. */
export interface ResponseHead {
  status: number;
  reason: string;
  versionMinor: number;
  headers: HeaderList;
  /** Bytes of `buf` used by the head (the rest belongs to what follows: body or frames). */
  length: number;
}

/**
 * Parses a response head from the start of `buf`. Returns null when more bytes are needed, a ProtocolError
 * when the head is malformed or longer than `maxBytes`.
 */
export function parseResponseHead(
  buf: Buffer,
  maxBytes = 16 * 1024,
  maxFields = 100,
): ResponseHead | ProtocolError | null {
  const end = findHeadEnd(buf, 0, buf.length);
  if (end === -3) return httpError(502, 'ERR_HTTP_BARE_LF', 'Response line ended with LF without CR');
  if (end < 0) {
    return buf.length > maxBytes ? httpError(502, 'ERR_HTTP_HEADERS_TOO_LARGE', 'Response head too large') : null;
  }
  if (end > maxBytes) return httpError(502, 'ERR_HTTP_HEADERS_TOO_LARGE', 'Response head too large');
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  let p = 0;
  while (buf[p] === 0x0d && buf[p + 1] === 0x0a) p += 2;
  const lineEnd = buf.indexOf(0x0d, p);
  const line = buf.toString('latin1', p, lineEnd);
  const m = /^HTTP\/1\.([01]) ([0-9]{3}) ?([\t\x20-\x7e\x80-\xff]*)$/.exec(line);
  if (m === null) return httpError(502, 'ERR_HTTP_INVALID_STATUS_LINE', 'Invalid status line');
  const raw: string[] = [];
  const err = parseFieldLines(buf, lineEnd + 2, end - 2, raw, maxFields);
  if (err !== 0) return httpError(502, 'ERR_HTTP_INVALID_HEADER', 'Invalid header field in response');
  return {
    status: Number(m[2]),
    reason: m[3] as string,
    versionMinor: Number(m[1]),
    headers: new HeaderList(raw),
    length: end,
  };
}
