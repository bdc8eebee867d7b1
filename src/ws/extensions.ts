/**
 * `Sec-WebSocket-Extensions` parsing and formatting (RFC 6455 §9.1). Pure functions; the negotiation of a given
 * extension (permessage-deflate, RFC 7692) builds on these.
 *
 * Grammar (RFC 6455 §9.1, with the list rule of RFC 9110 §5.6.1):
 *
 *   Sec-WebSocket-Extensions = extension-list
 *   extension-list = 1#extension
 *   extension = extension-token *( ";" extension-param )
 *   extension-token = registered-token = token
 *   extension-param = token [ "=" (token | quoted-string) ]
 *     ; "When using the quoted-string syntax variant, the value after quoted-string unescaping MUST conform to
 *     ; the 'token' ABNF."
 *
 * Rules: OWS is allowed around every delimiter; empty list elements are ignored (RFC 9110 §5.6.1.2: "a recipient
 * MUST parse and ignore a reasonable number of empty list elements"); unknown extensions are kept (the caller
 * ignores what it does not support); anything else malformed makes the whole header invalid (`null`), never an
 * exception. Several header lines are one list: join them with ", " first (`HeaderList.getJoined`).
 */

import { isToken, TCHAR } from '../util/ascii.js';

/** A parameter: `[name, value]`, with `true` for a parameter without a value (`client_max_window_bits`). */
export type ExtensionParam = [name: string, value: string | true];

/** One extension offer or response: its name and its parameters in order (names may repeat). */
export interface ExtensionOffer {
  name: string;
  params: ExtensionParam[];
}

/**
 * Parses a `Sec-WebSocket-Extensions` value.
 *
 * @returns the extensions in order, or `null` if the value is not well formed
 * @example
 * parseExtensions('permessage-deflate; client_max_window_bits, x-foo; a="1"');
 * // [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
 * //  { name: 'x-foo', params: [['a', '1']] }]
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  const n = value.length;
  let i = 0;
  for (;;) {
    i = skipOws(value, i);
    if (i >= n) break;
    if (value.charCodeAt(i) === 0x2c /* , */) {
      i++;
      continue; // empty list element
    }
    let end = scanToken(value, i);
    if (end === i) return null;
    const ext: ExtensionOffer = { name: value.slice(i, end), params: [] };
    i = skipOws(value, end);
    while (i < n && value.charCodeAt(i) === 0x3b /* ; */) {
      i = skipOws(value, i + 1);
      end = scanToken(value, i);
      if (end === i) return null;
      const name = value.slice(i, end);
      i = skipOws(value, end);
      let param: string | true = true;
      if (i < n && value.charCodeAt(i) === 0x3d /* = */) {
        i = skipOws(value, i + 1);
        if (i < n && value.charCodeAt(i) === 0x22 /* " */) {
          const q = scanQuoted(value, i);
          if (q === null) return null;
          // RFC 6455 §9.1: the unescaped value of a quoted-string MUST be a token.
          if (!isToken(q.value)) return null;
          param = q.value;
          i = q.end;
        } else {
          end = scanToken(value, i);
          if (end === i) return null;
          param = value.slice(i, end);
          i = end;
        }
        i = skipOws(value, i);
      }
      ext.params.push([name, param]);
    }
    out.push(ext);
    if (i >= n) break;
    if (value.charCodeAt(i) !== 0x2c) return null;
    i++;
  }
  return out;
}

/**
 * Formats extensions as a `Sec-WebSocket-Extensions` value.
 *
 * @throws TypeError if a name or a value is not a token
 * @example
 * formatExtensions([{ name: 'permessage-deflate', params: [['server_max_window_bits', '10']] }]);
 * // 'permessage-deflate; server_max_window_bits=10'
 */
export function formatExtensions(extensions: readonly ExtensionOffer[]): string {
  const items: string[] = [];
  for (const ext of extensions) {
    if (!isToken(ext.name)) throw new TypeError(`Invalid extension name: ${JSON.stringify(ext.name)}`);
    let s = ext.name;
    for (const [name, v] of ext.params) {
      if (!isToken(name)) throw new TypeError(`Invalid extension parameter name: ${JSON.stringify(name)}`);
      s += `; ${name}`;
      if (v === true) continue;
      // RFC 6455 §9.1: a value is a token (quoted or not), so it is always written bare.
      if (!isToken(v)) throw new TypeError(`Invalid extension parameter value: ${JSON.stringify(v)}`);
      s += `=${v}`;
    }
    items.push(s);
  }
  return items.join(', ');
}

/** Names of the extensions in a parsed list, in order. */
export function extensionNames(extensions: readonly ExtensionOffer[]): string[] {
  const out: string[] = [];
  for (const ext of extensions) out.push(ext.name);
  return out;
}

function skipOws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) break;
    i++;
  }
  return i;
}

function scanToken(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) break;
    i++;
  }
  return i;
}

/** RFC 9110 §5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE. `i` is at the opening quote. */
function scanQuoted(s: string, i: number): { value: string; end: number } | null {
  let value = '';
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return { value, end: i + 1 };
    if (c === 0x5c /* \ */) {
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      if (i + 1 >= s.length) return null;
      const e = s.charCodeAt(i + 1);
      if (!isQdChar(e) && e !== 0x22 && e !== 0x5c) return null;
      value += s[i + 1];
      i += 2;
      continue;
    }
    if (!isQdChar(c)) return null;
    value += s[i];
    i++;
  }
  return null;
}

/** qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
function isQdChar(c: number): boolean {
  return (
    c === 0x09 ||
    c === 0x20 ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x5b) ||
    (c >= 0x5d && c <= 0x7e) ||
    (c >= 0x80 && c <= 0xff)
  );
}
