/**
 * Reference readers for the handshake fuzz targets, written from the RFCs apart from src/ws: the
 * `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1 with RFC 9110 §5.6 lists, tokens and quoted strings), the
 * server's checks of an opening handshake (RFC 6455 §4.2.1, §4.2.2) and the client's checks of the answer (§4.1),
 * and RFC 7692 §7's rules for a permessage-deflate offer a server must decline.
 *
 * A request or response may break several rules; the readers list every answer those rules call for, and the oracle
 * asks that the library's answer be one of them.
 */

import { createHash } from 'node:crypto';

export interface RefExtension {
  name: string;
  params: [string, string | true][];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * RFC 6455 §9.1: extension-list = 1#extension, extension = token *( ";" param ), param = token [ "=" ( token /
 * quoted-string ) ], a quoted value being a token once unescaped; OWS around delimiters and empty list elements
 * (RFC 9110 §5.6.1) allowed. null when the value is not well formed.
 */
export function parseExtensionsRef(value: string): RefExtension[] | null {
  const ows = /[ \t]*/y;
  const token = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
  const quoted = /"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"/y;
  let i = 0;
  const at = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = i;
    const m = re.exec(value);
    if (m !== null) i = re.lastIndex;
    return m;
  };
  const out: RefExtension[] = [];
  for (;;) {
    at(ows);
    if (i === value.length) return out;
    if (value[i] === ',') {
      i++;
      continue;
    }
    const name = at(token);
    if (name === null) return null;
    const ext: RefExtension = { name: name[0], params: [] };
    at(ows);
    while (value[i] === ';') {
      i++;
      at(ows);
      const p = at(token);
      if (p === null) return null;
      at(ows);
      let v: string | true = true;
      if (value[i] === '=') {
        i++;
        at(ows);
        const q = at(quoted);
        if (q !== null) {
          v = q[1]!.replace(/\\(.)/gs, '$1');
          if (!TOKEN.test(v)) return null;
        } else {
          const t = at(token);
          if (t === null) return null;
          v = t[0];
        }
        at(ows);
      }
      ext.params.push([p[0], v]);
    }
    out.push(ext);
    if (i === value.length) return out;
    if (value[i] !== ',') return null;
    i++;
  }
}

const trim = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, '');
const list = (s: string) =>
  s
    .split(',')
    .map(trim)
    .filter((x) => x !== '');

function values(fields: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < fields.length; i += 2) if (fields[i]!.toLowerCase() === name) out.push(fields[i + 1]!);
  return out;
}

export type RequestVerdict =
  | { ok: true; key: string; protocols: string[]; extensions: RefExtension[] }
  | { ok: false; statuses: Set<number> };

/** RFC 6455 §4.2.1 (and §4.2.2 step 4: 426 for a version other than 13). */
export function checkRequestRef(method: string, version: string, fields: readonly string[]): RequestVerdict {
  const statuses = new Set<number>();
  // Item 1: "An HTTP/1.1 or higher GET request".
  if (method !== 'GET' || version !== '1.1') statuses.add(400);
  // Item 2: one Host (RFC 9112 §3.2: more than one is an error).
  if (values(fields, 'host').length !== 1) statuses.add(400);
  // Item 3: Upgrade holds "websocket"; item 4: Connection holds "Upgrade" (lists, ASCII case-insensitive).
  if (!values(fields, 'upgrade').some((v) => list(v).some((t) => t.toLowerCase() === 'websocket'))) statuses.add(400);
  if (!values(fields, 'connection').some((v) => list(v).some((t) => t.toLowerCase() === 'upgrade'))) statuses.add(400);
  // Item 6: Sec-WebSocket-Version 13; else 426 with the versions we speak (§4.2.2 step 4).
  const versions = values(fields, 'sec-websocket-version');
  if (versions.length !== 1 || trim(versions[0]!) !== '13') statuses.add(426);
  // Item 5: Sec-WebSocket-Key, base64 of 16 bytes; §11.3.1: it appears once.
  const keys = values(fields, 'sec-websocket-key');
  const key = keys.length === 1 ? trim(keys[0]!) : '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key) || Buffer.from(key, 'base64').length !== 16) statuses.add(400);
  // Item 8, §11.3.4: Sec-WebSocket-Protocol is a list of tokens.
  const protocols = list(values(fields, 'sec-websocket-protocol').join(','));
  if (!protocols.every((p) => TOKEN.test(p))) statuses.add(400);
  // Item 9, §9.1.
  const ext = values(fields, 'sec-websocket-extensions');
  const extensions = ext.length === 0 ? [] : parseExtensionsRef(ext.join(', '));
  if (extensions === null) statuses.add(400);
  if (statuses.size > 0 || extensions === null) return { ok: false, statuses };
  return { ok: true, key, protocols, extensions };
}

/** RFC 6455 §4.2.2 step 5.4: base64 of the SHA-1 of the key and the GUID. */
export function acceptRef(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

export type ResponseVerdict =
  | { ok: true; protocol: string; extensions: RefExtension[] }
  | { ok: false; codes: Set<string> };

/** RFC 6455 §4.1: the client's checks of a 101 answer to a request with `key`, `protocols` and `extensions`. */
export function checkResponseRef(
  fields: readonly string[],
  key: string,
  protocols: readonly string[],
  extensionNames: readonly string[],
): ResponseVerdict {
  const codes = new Set<string>();
  // Item 2: Upgrade is "websocket" (one value, ASCII case-insensitive).
  const up = values(fields, 'upgrade');
  if (up.length !== 1 || trim(up[0]!).toLowerCase() !== 'websocket') codes.add('ERR_WS_HANDSHAKE_UPGRADE');
  // Item 3: Connection holds "Upgrade".
  if (!values(fields, 'connection').some((v) => list(v).some((t) => t.toLowerCase() === 'upgrade'))) {
    codes.add('ERR_WS_HANDSHAKE_CONNECTION');
  }
  // Item 4: Sec-WebSocket-Accept, trimmed, is the key's.
  const acc = values(fields, 'sec-websocket-accept');
  if (acc.length !== 1 || trim(acc[0]!) !== acceptRef(key)) codes.add('ERR_WS_HANDSHAKE_ACCEPT');
  // Item 6: at most one subprotocol, one we offered.
  const prot = values(fields, 'sec-websocket-protocol');
  let protocol = '';
  if (prot.length > 0) {
    protocol = prot.length === 1 ? trim(prot[0]!) : '';
    if (protocol === '' || !protocols.includes(protocol)) codes.add('ERR_WS_HANDSHAKE_PROTOCOL');
  }
  // Item 5: only extensions we offered, each once.
  const ext = values(fields, 'sec-websocket-extensions');
  const extensions = ext.length === 0 ? [] : parseExtensionsRef(ext.join(', '));
  if (extensions === null) codes.add('ERR_WS_HANDSHAKE_EXTENSIONS');
  else {
    const names = extensions.map((e) => e.name);
    if (names.some((n, i) => !extensionNames.includes(n) || names.indexOf(n) !== i))
      codes.add('ERR_WS_HANDSHAKE_EXTENSIONS');
  }
  if (codes.size > 0 || extensions === null) return { ok: false, codes };
  return { ok: true, protocol, extensions };
}

/** The client's offer a permessage-deflate element stands for, or null when RFC 7692 §7 has a server decline it. */
export function deflateOfferRef(e: RefExtension): {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits: number | boolean;
} | null {
  if (e.name.toLowerCase() !== 'permessage-deflate') return null;
  const names = e.params.map(([n]) => n);
  // §7: a parameter not defined for an offer, or one given twice: decline.
  if (names.some((n, i) => names.indexOf(n) !== i)) return null;
  const bits = (v: string | true) => (v !== true && /^(8|9|1[0-5])$/.test(v) ? Number(v) : 0);
  const offer = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined as number | undefined,
    clientMaxWindowBits: false as number | boolean,
  };
  for (const [n, v] of e.params) {
    if (n === 'server_no_context_takeover' && v === true) offer.serverNoContextTakeover = true;
    else if (n === 'client_no_context_takeover' && v === true) offer.clientNoContextTakeover = true;
    else if (n === 'server_max_window_bits' && bits(v) !== 0) offer.serverMaxWindowBits = bits(v);
    else if (n === 'client_max_window_bits' && (v === true || bits(v) !== 0))
      offer.clientMaxWindowBits = v === true ? true : bits(v);
    else return null;
  }
  return offer;
}
