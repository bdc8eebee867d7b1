/**
 * The WebSocket opening handshake (RFC 6455 §4), both sides, as pure functions over parsed HTTP heads.
 *
 * Server: `validateUpgradeRequest` checks a request (§4.2.1) and says either what was asked for (key,
 * subprotocols, extension offers) or which status to refuse with (400, or 426 for an unsupported version);
 * `buildAcceptResponse` writes the 101 head (§4.2.2) and `buildRejectResponse` the refusal.
 *
 * Client: `generateKey` makes the nonce (§4.1), `buildRequestHead` the request head, and
 * `validateUpgradeResponse` checks the server's answer (§4.1, "the client MUST validate the server's response").
 *
 * Heads are returned as latin1 strings of ASCII (the adapter writes them with `socket.write(head, 'latin1')`).
 * Every value put in a head is checked first, so no caller input can inject a header line.
 */

import { Buffer } from 'node:buffer';
import * as nodeCrypto from 'node:crypto';
import type { HeaderList } from '../http1/headers.js';
import { listHasToken, sameNameAs, splitList } from '../http1/headers.js';
import { serializeFieldPairs, simpleResponseHead, statusLine } from '../http1/serializer.js';
import { isFieldValue, isToken, TARGET_CHAR, trimOws } from '../util/ascii.js';
import { randomBytes } from '../util/random.js';
import { type ExtensionOffer, parseExtensions } from './extensions.js';

/** RFC 6455 §1.3: the GUID concatenated to the key before hashing. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 §4.1: the only version defined, sent in `Sec-WebSocket-Version`. */
export const WS_VERSION = '13';

/** A request the server may accept: what the client asked for. */
export interface UpgradeRequestAccepted {
  ok: true;
  /** `Sec-WebSocket-Key`, to compute `Sec-WebSocket-Accept` from. */
  key: string;
  /** Subprotocols offered, in the client's order of preference. */
  protocols: string[];
  /** Extensions offered, in order. */
  extensions: ExtensionOffer[];
}

/** A request the server must refuse, with the answer to send. */
export interface UpgradeRequestRejected {
  ok: false;
  /** 400, or 426 for a `Sec-WebSocket-Version` other than 13. */
  status: 400 | 426;
  /** Why, for the response body and logs. Never contains the peer's bytes. */
  reason: string;
  /** Headers the response must carry (426: `Sec-WebSocket-Version: 13`). */
  headers: [string, string][];
}

/** Result of `validateUpgradeRequest`. */
export type UpgradeRequestResult = UpgradeRequestAccepted | UpgradeRequestRejected;

/** A 101 response that completes the client's handshake. */
export interface UpgradeResponseAccepted {
  ok: true;
  /** The subprotocol the server chose, or `''`. */
  protocol: string;
  /** The extensions the server accepted, with their parameters. */
  extensions: ExtensionOffer[];
}

/** A response that fails the client's handshake (§4.1: "_Fail the WebSocket Connection_"). */
export interface UpgradeResponseRejected {
  ok: false;
  /** `ERR_WS_HANDSHAKE_*`. */
  code: string;
  message: string;
}

/** Result of `validateUpgradeResponse`. */
export type UpgradeResponseResult = UpgradeResponseAccepted | UpgradeResponseRejected;

/**
 * `Sec-WebSocket-Accept` for a key: base64 of the SHA-1 of the key and the GUID (RFC 6455 §4.2.2 step 5.4).
 *
 * @example
 * acceptKey('dGhlIHNhbXBsZSBub25jZQ=='); // 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
 */
export function acceptKey(key: string): string {
  // The key is validated base64 (ASCII), so the default UTF-8 encoding of the one-shot hash gives the same bytes.
  if (oneShotHash !== undefined) return oneShotHash('sha1', key + WS_GUID, 'base64');
  return nodeCrypto
    .createHash('sha1')
    .update(key + WS_GUID, 'latin1')
    .digest('base64');
}

/**
 * NODE: `crypto.hash` (20.12+, 21.7+) hashes in one native call, without a Hash object per handshake (which was
 * ~3 % of the server's CPU in the connect-storm benchmark). Older Node versions use `createHash`.
 */
const oneShotHash = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;

/** RFC 6455 §4.1: the key is "a randomly selected 16-byte value that has been base64-encoded": 24 characters. */
/**
 * Whether `key` is the base64 encoding of 16 bytes (RFC 6455 §4.2.1 item 5): 22 characters of the base64
 * alphabet (RFC 4648 §4) and "==". PERF: a loop, not /^[A-Za-z0-9+/]{22}==$/ (the regex was 0.4 % of a handshake
 * lifecycle; bench/instructions.sh storm).
 */
export function isValidKey(key: string): boolean {
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    const letter = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
    if (!letter && !(c >= 0x30 && c <= 0x39) && c !== 0x2b && c !== 0x2f) return false;
  }
  return true;
}

/** Whether an HTTP-version (as "1.1") is 1.1 or higher within HTTP/1 (RFC 6455 §4.2.1 item 1). */
function isHttp11OrLater(version: string): boolean {
  if (version.length !== 3 || version.charCodeAt(0) !== 0x31 || version.charCodeAt(1) !== 0x2e) return false;
  const minor = version.charCodeAt(2);
  return minor >= 0x31 && minor <= 0x39;
}

function reject(status: 400 | 426, reason: string, headers: [string, string][] = []): UpgradeRequestRejected {
  return { ok: false, status, reason, headers };
}

/**
 * Checks a client's opening handshake (RFC 6455 §4.2.1) and reads what it asks for.
 *
 * @param method request method
 * @param httpVersion HTTP-version without the "HTTP/" prefix, e.g. "1.1"
 * @param headers request header fields
 * @example
 * const r = validateUpgradeRequest('GET', '1.1', headers);
 * if (r.ok) socket.write(buildAcceptResponse(r.key), 'latin1');
 * else socket.end(buildRejectResponse(r), 'latin1');
 */
export function validateUpgradeRequest(method: string, httpVersion: string, headers: HeaderList): UpgradeRequestResult {
  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (method !== 'GET') return reject(400, 'WebSocket handshake must use GET');
  if (!isHttp11OrLater(httpVersion)) return reject(400, 'WebSocket handshake requires HTTP/1.1');
  // One pass over the field lines (PERF: a lookup per field scanned them all each time; bench ws-storm), then
  // the checks in the RFC's order.
  let hosts = 0;
  let upgradeOk = false;
  let connectionOk = false;
  let versions = 0;
  let version = '';
  let keys = 0;
  let keyField = '';
  let protocolHeader: string | undefined;
  let extensionHeader: string | undefined;
  const raw = headers.raw;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (name.length) {
      case 4:
        if (sameNameAs(name, 'host')) hosts++;
        break;
      case 7:
        if (!upgradeOk && sameNameAs(name, 'upgrade')) upgradeOk = listHasToken(value, 'websocket');
        break;
      case 10:
        if (!connectionOk && sameNameAs(name, 'connection')) connectionOk = listHasToken(value, 'upgrade');
        break;
      case 17:
        if (sameNameAs(name, 'sec-websocket-key')) {
          keys++;
          keyField = value;
        }
        break;
      case 21:
        if (sameNameAs(name, 'sec-websocket-version')) {
          versions++;
          version = value;
        }
        break;
      case 22:
        if (sameNameAs(name, 'sec-websocket-protocol')) {
          protocolHeader = protocolHeader === undefined ? value : `${protocolHeader}, ${value}`;
        }
        break;
      case 24:
        if (sameNameAs(name, 'sec-websocket-extensions')) {
          extensionHeader = extensionHeader === undefined ? value : `${extensionHeader}, ${value}`;
        }
        break;
    }
  }
  // §4.2.1 item 2: "A |Host| header field containing the server's authority."
  if (hosts !== 1) return reject(400, 'Missing or duplicate Host header');
  // §4.2.1 item 3: "An |Upgrade| header field containing the value "websocket", treated as an ASCII
  // case-insensitive value."
  if (!upgradeOk) return reject(400, 'Missing or invalid Upgrade header');
  // §4.2.1 item 4: "A |Connection| header field that includes the token "Upgrade", treated as an ASCII
  // case-insensitive value."
  if (!connectionOk) return reject(400, 'Missing or invalid Connection header');
  // §4.2.1 item 6 and §4.2.2 step 4: a version other than 13 is answered with 426 and the versions we speak.
  // A missing version too: the client then learns which one to send (the RFC's "such as 426 Upgrade Required").
  if (versions !== 1 || trimOws(version) !== WS_VERSION) {
    return reject(426, 'Unsupported WebSocket version', [
      ['Sec-WebSocket-Version', WS_VERSION],
      ['Upgrade', 'websocket'],
    ]);
  }
  // §4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16
  // bytes in length." §11.3.1: it "MUST NOT appear more than once in an HTTP request."
  if (keys !== 1) return reject(400, 'Missing or duplicate Sec-WebSocket-Key header');
  const key = trimOws(keyField);
  if (!isValidKey(key)) return reject(400, 'Sec-WebSocket-Key is not the base64 encoding of 16 bytes');
  // §4.2.1 item 8, §11.3.4: Sec-WebSocket-Protocol is a list of tokens; several header lines form one list.
  const protocols: string[] = [];
  if (protocolHeader !== undefined) {
    for (const p of splitList(protocolHeader)) {
      if (!isToken(p)) return reject(400, 'Invalid Sec-WebSocket-Protocol header');
      protocols.push(p);
    }
  }
  // §4.2.1 item 9, §9.1: the extension offers.
  let extensions: ExtensionOffer[] = [];
  if (extensionHeader !== undefined) {
    const parsed = parseExtensions(extensionHeader);
    if (parsed === null) return reject(400, 'Invalid Sec-WebSocket-Extensions header');
    extensions = parsed;
  }
  return { ok: true, key, protocols, extensions };
}

/**
 * Extra header lines, validated and serialized by the HTTP serializer (the one place that writes field lines).
 * Its SockeyeError is rethrown as the TypeError these builders have always thrown for bad caller input.
 */
function fieldLines(headers: readonly [string, string][]): string {
  try {
    return serializeFieldPairs(headers);
  } catch (err) {
    throw new TypeError((err as Error).message, { cause: err });
  }
}

/** The start of every 101 head, built once: the status line (shared reason phrase) and the fixed fields. */
const ACCEPT_HEAD = `${statusLine(101)}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: `;

/**
 * The 101 response head that accepts a handshake (RFC 6455 §4.2.2 step 5), ending with the blank line.
 *
 * @param key the client's `Sec-WebSocket-Key`
 * @param protocol the chosen subprotocol (one the client offered), or `''`
 * @param extensions the accepted extensions as a formatted `Sec-WebSocket-Extensions` value, or `''`
 * @param headers extra header lines
 * @throws TypeError if a value would not be a valid header line
 * @example
 * buildAcceptResponse('dGhlIHNhbXBsZSBub25jZQ==');
 * // 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
 * // 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'
 */
export function buildAcceptResponse(
  key: string,
  protocol = '',
  extensions = '',
  headers: readonly [string, string][] = [],
): string {
  if (protocol !== '' && !isToken(protocol)) throw new TypeError('Invalid subprotocol');
  if (!isFieldValue(extensions)) throw new TypeError('Invalid Sec-WebSocket-Extensions value');
  // PERF: the handshake hot path. No Date (RFC 9110 §6.6.1 requires it only for 2xx-4xx, and a 101 is 1xx), and
  // the extra headers are serialized only when there are some.
  const extra = headers.length === 0 ? '' : fieldLines(headers);
  let head = `${ACCEPT_HEAD}${acceptKey(key)}\r\n`;
  // §4.2.2 step 5.5: at most one subprotocol, one the client offered.
  if (protocol !== '') head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  if (extensions !== '') head += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  return `${head}${extra}\r\n`;
}

/**
 * A complete response refusing a handshake, written by the HTTP serializer's `simpleResponseHead`: status line,
 * the rejection's headers, `Date`, `Connection: close` (`Upgrade, close` when the rejection carries `Upgrade`,
 * RFC 9110 §7.8), and a plain-text body with the reason.
 *
 * @param date IMF-fixdate for the `Date` field (RFC 9110 §6.6.1: a 4xx from a server with a clock carries one);
 * the adapter passes `httpDateNow()`: a core never reads the clock. Omitted (`''`), the field is left out, as
 * this function did before it took a date: kept only so that older callers build; pass the date.
 * @example
 * socket.end(buildRejectResponse(check, httpDateNow()), 'latin1');
 */
export function buildRejectResponse(rejection: UpgradeRequestRejected, date = ''): string {
  const body = `${rejection.reason}\n`;
  let head: string;
  try {
    head = simpleResponseHead(rejection.status, rejection.headers, Buffer.byteLength(body), date);
  } catch (err) {
    throw new TypeError((err as Error).message, { cause: err });
  }
  return head + body;
}

/**
 * A fresh `Sec-WebSocket-Key`: "a randomly selected 16-byte value that has been base64-encoded" (RFC 6455 §4.1).
 */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** What a client puts in its opening handshake. */
export interface UpgradeRequestOptions {
  /** request-target, e.g. "/chat?room=1". */
  target: string;
  /** Host header value: host[:port]. */
  host: string;
  /** From `generateKey()`. */
  key: string;
  /** Subprotocols to offer, most preferred first. */
  protocols?: readonly string[];
  /** Extension offers as a formatted `Sec-WebSocket-Extensions` value. */
  extensions?: string;
  /** Origin header value (browsers send it; other clients may). */
  origin?: string;
  /** Extra header lines. */
  headers?: readonly [string, string][];
}

/**
 * The client's opening handshake head (RFC 6455 §4.1), ending with the blank line.
 *
 * @throws TypeError if a value would not be a valid request line or header line, or a subprotocol is repeated
 * @example
 * buildRequestHead({ target: '/chat', host: 'example.com', key: generateKey(), protocols: ['chat'] });
 */
export function buildRequestHead(options: UpgradeRequestOptions): string {
  const { target, host, key } = options;
  if (target === '') throw new TypeError('Empty request-target');
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c > 0xff || TARGET_CHAR[c] === 0) throw new TypeError('Invalid request-target');
  }
  if (!isFieldValue(host) || host === '') throw new TypeError('Invalid Host');
  if (!isValidKey(key)) throw new TypeError('Invalid Sec-WebSocket-Key');
  const protocols = options.protocols ?? [];
  for (let i = 0; i < protocols.length; i++) {
    const p = protocols[i]!;
    if (!isToken(p)) throw new TypeError(`Invalid subprotocol: ${JSON.stringify(p)}`);
    // §4.1 item 10: "The elements that comprise this value MUST be non-empty strings ... and MUST all be unique."
    if (protocols.indexOf(p) !== i) throw new TypeError(`Duplicate subprotocol: ${p}`);
  }
  const extensions = options.extensions ?? '';
  if (!isFieldValue(extensions)) throw new TypeError('Invalid Sec-WebSocket-Extensions value');
  const origin = options.origin;
  if (origin !== undefined && !isFieldValue(origin)) throw new TypeError('Invalid Origin');
  const extra = fieldLines(options.headers ?? []);
  let head = `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${WS_VERSION}\r\n`;
  if (protocols.length > 0) head += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  if (extensions !== '') head += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  if (origin !== undefined) head += `Origin: ${origin}\r\n`;
  return `${head}${extra}\r\n`;
}

function fail(code: string, message: string): UpgradeResponseRejected {
  return { ok: false, code, message };
}

/**
 * Checks the server's answer to our opening handshake (RFC 6455 §4.1, "the client MUST validate the server's
 * response as follows").
 *
 * @param status response status code
 * @param headers response header fields
 * @param key the `Sec-WebSocket-Key` we sent
 * @param offeredProtocols the subprotocols we offered
 * @param offeredExtensions the names of the extensions we offered
 */
export function validateUpgradeResponse(
  status: number,
  headers: HeaderList,
  key: string,
  offeredProtocols: readonly string[],
  offeredExtensions: readonly string[],
): UpgradeResponseResult {
  // §4.1 item 1: "If the status code received from the server is not 101, the client handles the response per
  // HTTP procedures."
  if (status !== 101) return fail('ERR_WS_HANDSHAKE_STATUS', `Unexpected response status ${status}`);
  // §4.1 item 2: "If the response lacks an |Upgrade| header field or the |Upgrade| header field contains a value
  // that is not an ASCII case-insensitive match for the value "websocket", the client MUST _Fail_".
  const upgrade = headers.getJoined('upgrade');
  if (upgrade === undefined || trimOws(upgrade).toLowerCase() !== 'websocket') {
    return fail('ERR_WS_HANDSHAKE_UPGRADE', 'Missing or invalid Upgrade header in response');
  }
  // §4.1 item 3: the |Connection| header field must contain the token "Upgrade" (case-insensitive).
  if (!headers.hasToken('connection', 'upgrade')) {
    return fail('ERR_WS_HANDSHAKE_CONNECTION', 'Missing or invalid Connection header in response');
  }
  // §4.1 item 4: |Sec-WebSocket-Accept| must be base64(SHA-1(key + GUID)), "ignoring any leading and trailing
  // whitespace".
  const accepts = headers.getAll('sec-websocket-accept');
  if (accepts.length !== 1 || trimOws(accepts[0]!) !== acceptKey(key)) {
    return fail('ERR_WS_HANDSHAKE_ACCEPT', 'Missing or invalid Sec-WebSocket-Accept header');
  }
  // §4.1 item 6: a subprotocol "that was not present in the client's handshake" fails the connection; §4.2.2:
  // the server selects one, so a list is invalid.
  let protocol = '';
  const protocols = headers.getAll('sec-websocket-protocol');
  if (protocols.length > 0) {
    const chosen = protocols.length === 1 ? trimOws(protocols[0]!) : '';
    if (chosen === '' || !offeredProtocols.includes(chosen)) {
      return fail('ERR_WS_HANDSHAKE_PROTOCOL', 'Server selected a subprotocol that was not offered');
    }
    protocol = chosen;
  }
  // §4.1 item 5: an extension "that was not present in the client's handshake" fails the connection.
  let extensions: ExtensionOffer[] = [];
  const extensionHeader = headers.getJoined('sec-websocket-extensions');
  if (extensionHeader !== undefined) {
    const parsed = parseExtensions(extensionHeader);
    if (parsed === null) return fail('ERR_WS_HANDSHAKE_EXTENSIONS', 'Invalid Sec-WebSocket-Extensions header');
    for (let i = 0; i < parsed.length; i++) {
      const name = parsed[i]!.name;
      if (!offeredExtensions.includes(name)) {
        return fail('ERR_WS_HANDSHAKE_EXTENSIONS', 'Server accepted an extension that was not offered');
      }
      for (let j = 0; j < i; j++) {
        if (parsed[j]!.name === name) {
          return fail('ERR_WS_HANDSHAKE_EXTENSIONS', 'Server accepted an extension more than once');
        }
      }
    }
    extensions = parsed;
  }
  return { ok: true, protocol, extensions };
}
