/**
 * HTTP/1.1 response serialization (RFC 9112 §4, §6, §7): status lines, validated field lines, chunked framing.
 * Strings are latin1 (one char per octet); the adapter writes them with `socket.write(str, 'latin1')`.
 */

import { Buffer } from 'node:buffer';
import { SockeyeError } from '../errors.js';
import { isFieldValue, isToken } from '../util/ascii.js';

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

/** A complete, small error response with `Connection: close` (the connection ends after it). */
export function errorResponse(status: number, message: string, date: string, extra = ''): Buffer {
  const body = `${message}\n`;
  return Buffer.from(
    `${statusLine(status)}Date: ${date}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'utf8',
  );
}

/** IMF-fixdate for the Date header (RFC 9110 §5.6.7). */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
