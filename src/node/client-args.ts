/**
 * The WHATWG WebSocket constructor's and methods' argument steps (https://websockets.spec.whatwg.org/ and WebIDL):
 * the URL, the subprotocol list, the Node `headers` option, `[Clamp] unsigned short`, and binary data as an
 * ArrayBuffer. Pure functions, kept apart from the connection's life in client.ts.
 */

import type { Buffer } from 'node:buffer';
import { isArrayBuffer } from 'node:util/types';
import { isToken } from '../util/ascii.js';

/** Extra request headers: an object (a value may be a list) or `[name, value]` pairs (a `Headers` works too). */
export type WebSocketHeaders = Record<string, string | readonly string[]> | Iterable<readonly [string, string]>;
/** Request headers the handshake writes itself; letting the application add them would break it. */
const RESERVED_HEADERS = new Set([
  'host',
  'upgrade',
  'connection',
  'origin',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * The standard's URL steps: parse, map http(s) to ws(s), refuse other schemes and any fragment.
 * @throws DOMException `SyntaxError`
 */
export function parseWebSocketUrl(input: string | URL): URL {
  let u: URL;
  try {
    // No base URL: there is no document here, so a relative URL fails to parse.
    u = new URL(String(input));
  } catch {
    throw new DOMException(`Failed to construct 'WebSocket': The URL '${String(input)}' is invalid.`, 'SyntaxError');
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new DOMException(
      `Failed to construct 'WebSocket': The URL's scheme must be either 'http', 'https', 'ws', or 'wss'. '${u.protocol.slice(0, -1)}' is not allowed.`,
      'SyntaxError',
    );
  }
  // A non-null fragment, even an empty one ("ws://h/#"), serializes with its '#'.
  if (u.href.includes('#')) {
    throw new DOMException(
      `Failed to construct 'WebSocket': The URL contains a fragment identifier ('${u.hash.slice(1)}'). Fragment identifiers are not allowed in WebSocket URLs.`,
      'SyntaxError',
    );
  }
  return u;
}

/**
 * `(DOMString or sequence<DOMString>) protocols`: a string is a list of one; each must be a token (RFC 6455
 * §4.1 item 10) and appear once.
 * @throws DOMException `SyntaxError`
 */
export function toProtocolList(protocols: unknown): string[] {
  if (protocols === undefined) return [];
  const list =
    typeof protocols === 'object' && protocols !== null && Symbol.iterator in protocols
      ? Array.from(protocols as Iterable<unknown>, String)
      : [String(protocols)];
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    if (!isToken(p)) {
      throw new DOMException(`Failed to construct 'WebSocket': The subprotocol '${p}' is invalid.`, 'SyntaxError');
    }
    if (list.indexOf(p) !== i) {
      throw new DOMException(`Failed to construct 'WebSocket': The subprotocol '${p}' is duplicated.`, 'SyntaxError');
    }
  }
  return list;
}

/** Normalizes the `headers` option to pairs and refuses the handshake's own headers. */
export function toHeaderPairs(headers: WebSocketHeaders | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (headers === undefined) return out;
  if (Symbol.iterator in headers) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>) out.push([String(name), String(value)]);
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === 'string') out.push([name, value]);
      else for (const v of value) out.push([name, String(v)]);
    }
  }
  for (const [name] of out) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`Header ${name} is set by the WebSocket handshake and cannot be given in options.headers`);
    }
  }
  return out;
}

/** WebIDL `[Clamp] unsigned short`: NaN is 0, clamp to 0-65535, round half to even. */
export function clampUnsignedShort(value: unknown): number {
  let x = Number(value);
  if (Number.isNaN(x)) return 0;
  x = Math.min(Math.max(x, 0), 65535);
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** An ArrayBuffer holding exactly `data`: the Buffer's own when it spans all of it, else a copy. */
export function toArrayBuffer(data: Buffer): ArrayBuffer {
  const ab = data.buffer;
  if (data.byteOffset === 0 && data.byteLength === ab.byteLength && isArrayBuffer(ab)) return ab;
  return ab.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}
