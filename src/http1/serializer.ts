/**
 * HTTP/1.1 response serialization (RFC 9112 §4, §6, §7): status lines, validated field lines, chunked framing.
 * Strings are latin1 (one char per octet); the adapter writes them with `socket.write(str, 'latin1')`.
 */

import { Buffer } from 'node:buffer';
import { SockeyeError } from '../errors.js';
import { isFieldValue, isToken } from '../util/ascii.js';
import { sameNameAs } from './headers.js';

/** Reason phrases (RFC 9110 §15). */
export const STATUS_TEXT: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

const statusLineCache = new Map<number, string>();

/** "HTTP/1.1 NNN Reason\r\n", cached per status. */
export function statusLine(status: number): string {
  let line = statusLineCache.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n`;
    if (statusLineCache.size < 1000) statusLineCache.set(status, line);
  }
  return line;
}

/** Whether a response with this status to this method carries no content (RFC 9110 §6.4.1, RFC 9112 §6.3). */
export function hasNoBody(status: number, isHead: boolean): boolean {
  return isHead || status < 200 || status === 204 || status === 304;
}

/** Throws a TypeError-coded SockeyeError if `name`/`value` could break the message (CR/LF injection, bad names). */
export function validateField(name: string, value: string): void {
  // RFC 9110 §5.1 field-name = token; §5.5 field-value excludes CR, LF and NUL: refusing them here is what
  // keeps a header value from smuggling a second header or a second response.
  if (!isToken(name))
    throw new SockeyeError('ERR_HTTP_INVALID_HEADER_NAME', `Invalid header name "${quoteForMessage(name)}"`);
  if (!isFieldValue(value)) {
    throw new SockeyeError('ERR_HTTP_INVALID_HEADER_VALUE', `Invalid value for header "${name}"`);
  }
}

function quoteForMessage(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** Validates (unless the caller already did, field by field) and serializes `[name, value, ...]`. */
export function serializeFields(fields: readonly string[], validated = false): string {
  let out = '';
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (!validated) validateField(name, value);
    out += `${name}: ${value}\r\n`;
  }
  return out;
}

/** Chunk header for a chunk of `size` bytes (RFC 9112 §7.1). */
export function chunkHeader(size: number): string {
  return `${size.toString(16)}\r\n`;
}

/** The last chunk, with optional trailer fields. */
export function lastChunk(trailers: readonly string[] | null): string {
  return trailers === null || trailers.length === 0 ? '0\r\n\r\n' : `0\r\n${serializeFields(trailers)}\r\n`;
}

/**
 * Serializes `[name, value]` pairs as field lines, validating each one first (see {@link validateField}).
 *
 * @throws SockeyeError `ERR_HTTP_INVALID_HEADER_NAME` / `ERR_HTTP_INVALID_HEADER_VALUE`
 * @example
 * serializeFieldPairs([['Sec-WebSocket-Version', '13']]); // 'Sec-WebSocket-Version: 13\r\n'
 */
export function serializeFieldPairs(pairs: readonly (readonly [string, string])[]): string {
  let out = '';
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as readonly [string, string];
    validateField(pair[0], pair[1]);
    out += `${pair[0]}: ${pair[1]}\r\n`;
  }
  return out;
}

/** What {@link simpleResponse} does with header pairs that do not validate. */
export interface SimpleResponseOptions {
  /**
   * Send the response without any of `headers` when one of them is invalid, instead of throwing: for headers that
   * come from the application at a point where the only other answer is to drop the connection. Default false.
   */
  dropInvalidHeaders?: boolean;
}

const NO_PAIRS: readonly (readonly [string, string])[] = [];

/**
 * The head of a complete response that ends its connection (an error, a refusal), ending with the blank line:
 * status line with the reason phrase of {@link STATUS_TEXT}, `headers`, `Date`, `Connection: close`,
 * `Content-Type: text/plain; charset=utf-8` and `Content-Length`. Latin1, one char per octet.
 *
 * @param contentLength the body's length in bytes
 * @param date IMF-fixdate from the adapter's clock (RFC 9110 §6.6.1: an origin server with a clock MUST send
 * `Date` in 2xx-4xx responses); `''` leaves the field out (only for callers that have no clock)
 * @throws SockeyeError when a header pair is invalid (see {@link validateField})
 */
export function simpleResponseHead(
  status: number,
  headers: readonly (readonly [string, string])[],
  contentLength: number,
  date: string,
): string {
  let head = statusLine(status);
  let upgrade = false;
  if (headers.length !== 0) {
    head += serializeFieldPairs(headers);
    for (let i = 0; i < headers.length; i++)
      if (sameNameAs((headers[i] as readonly [string, string])[0], 'upgrade')) upgrade = true;
  }
  if (date !== '') head += `Date: ${date}\r\n`;
  // RFC 9110 §7.8: "A sender of Upgrade MUST also send an "upgrade" connection option" (426 names the protocol).
  head += upgrade ? 'Connection: Upgrade, close\r\n' : 'Connection: close\r\n';
  return `${head}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${contentLength}\r\n\r\n`;
}

/**
 * A complete, small response that ends its connection: {@link simpleResponseHead} (latin1) and `body` (UTF-8), as
 * one Buffer for one write. The single writer of such responses: HTTP errors, connection refusals (503) and
 * WebSocket handshake refusals all go through it, so they share reason phrases, field checks and `Date`.
 * Sans-I/O: the caller passes the date (`httpDateNow()` in node/).
 *
 * @param body the whole body, sent as is (callers end a text body with `\n`)
 * @throws SockeyeError when a header pair is invalid, unless `options.dropInvalidHeaders`
 * @example
 * simpleResponse(503, [['Retry-After', '1']], 'Too many connections\n', httpDateNow());
 * // 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nDate: ...\r\nConnection: close\r\n...'
 */
export function simpleResponse(
  status: number,
  headers: readonly (readonly [string, string])[],
  body: string,
  date: string,
  options?: SimpleResponseOptions,
): Buffer {
  const bodyBytes = Buffer.byteLength(body, 'utf8');
  let head: string;
  if (options?.dropInvalidHeaders === true) {
    try {
      head = simpleResponseHead(status, headers, bodyBytes, date);
    } catch {
      head = simpleResponseHead(status, NO_PAIRS, bodyBytes, date);
    }
  } else head = simpleResponseHead(status, headers, bodyBytes, date);
  const out = Buffer.allocUnsafe(head.length + bodyBytes);
  out.write(head, 0, 'latin1');
  out.write(body, head.length, 'utf8');
  return out;
}

/** A complete, small error response with `Connection: close` (the connection ends after it): `message` is the body. */
export function errorResponse(status: number, message: string, date: string): Buffer {
  return simpleResponse(status, NO_PAIRS, `${message}\n`, date);
}

/** IMF-fixdate for the Date header (RFC 9110 §5.6.7). */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
