/**
 * permessage-deflate (RFC 7692), the sans-I/O side: negotiation (§5, §7: which offer a server accepts and what it
 * answers, what a client offers and how it checks the answer, as pure functions over parsed
 * `Sec-WebSocket-Extensions` elements from `extensions.ts`), and the message rules both roles share: what an
 * inflated message must be (the 1007/1009 decisions, `checkInflated`) and where RSV1 goes (`rsv1ForFrame`).
 * The zlib codec that applies the agreed parameters is `node/deflate.ts`, the only part that does I/O-side work;
 * a message framed and compressed once for many connections is `node/prepared-message.ts`.
 *
 * The four parameters (RFC 7692 §7.1):
 *   server_no_context_takeover  no value; the server resets its compression context after each message
 *   client_no_context_takeover  no value; the same for the client
 *   server_max_window_bits=N    8..15; the largest LZ77 window the server compresses with
 *   client_max_window_bits[=N]  8..15; in an offer, may have no value ("I can limit my window if you ask");
 *                               in a response, always has a value
 */

import { type ProtocolError, wsError } from '../errors.js';
import { isValidUtf8 } from '../util/utf8.js';
import type { ExtensionOffer, ExtensionParam } from './extensions.js';

/** The registered extension name (RFC 7692 §7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** Window bits range of RFC 7692 §7.1.2 ("a decimal integer value without leading zeroes between 8 to 15"). */
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/** The parameters in force on a connection, once agreed. */
export interface DeflateParams {
  /** The server resets its compressor after every message. */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after every message. */
  clientNoContextTakeover: boolean;
  /** LZ77 window (bits) the server compresses with, at most. */
  serverMaxWindowBits: number;
  /** LZ77 window (bits) the client compresses with, at most. */
  clientMaxWindowBits: number;
}

/** What a server accepts and prefers. Every field is optional; the defaults accept any valid offer. */
export interface DeflateServerPolicy {
  /** Reset our compressor after every message, whatever the client asked (RFC 7692 §7.1.1.1 allows it). */
  serverNoContextTakeover?: boolean;
  /** Ask the client to reset its compressor after every message (RFC 7692 §7.1.1.2 allows it). */
  clientNoContextTakeover?: boolean;
  /** Largest window we compress with (8..15, default 15). Announced when below 15 (§7.1.2.1). */
  serverMaxWindowBits?: number;
  /**
   * Largest window we ask the client to use (8..15, default 15). Only sent when the client's offer has
   * `client_max_window_bits` (§7.1.2.2); a client that did not offer it may use 15 and we inflate with 15.
   */
  clientMaxWindowBits?: number;
}

/** What a client offers. */
export interface DeflateClientOffer {
  /** Ask the server not to take over its context (`server_no_context_takeover`). */
  serverNoContextTakeover?: boolean;
  /** Declare that we reset our compressor after every message (`client_no_context_takeover`). */
  clientNoContextTakeover?: boolean;
  /** Ask the server to compress with at most this window (`server_max_window_bits=N`). */
  serverMaxWindowBits?: number;
  /**
   * `client_max_window_bits`: `true` (default) offers it without a value (the server may then limit our window),
   * a number offers that value (we compress with at most it), `false` leaves it out.
   */
  clientMaxWindowBits?: number | boolean;
}

/** One element's parameters, checked: `null` when the element is not a valid offer (or response). */
interface ParsedParams {
  snct: boolean;
  cnct: boolean;
  /** 0 when absent. */
  smwb: number;
  /** 0 when absent, -1 when present without a value. */
  cmwb: number;
}

/** `1*DIGIT` without leading zeroes, 8..15 (RFC 7692 §7.1.2.1, §7.1.2.2). Returns 0 when invalid. */
function windowBits(v: string | true): number {
  if (v === true || v.length === 0 || v.length > 2 || v.charCodeAt(0) === 0x30) return 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return 0;
  }
  const n = Number(v);
  return n >= MIN_WINDOW_BITS && n <= MAX_WINDOW_BITS ? n : 0;
}

/**
 * Checks the parameters of one permessage-deflate element (RFC 7692 §7): only the four defined names, each at
 * most once, the no-takeover ones without a value, window bits 8..15. In a response `client_max_window_bits`
 * must have a value (§7.1.2.2), in an offer it may not.
 */
function parseParams(params: readonly ExtensionParam[], isResponse: boolean): ParsedParams | null {
  const p: ParsedParams = { snct: false, cnct: false, smwb: 0, cmwb: 0 };
  const seen = new Set<string>();
  for (const [rawName, value] of params) {
    // Parameter names are tokens; RFC 7692 defines them in lower case and gives no case rule: match exactly.
    const name = rawName;
    // §7: "multiple extension parameters with the same name" → decline (offer) / fail (response).
    if (seen.has(name)) return null;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
        // §7.1.1.1: "This extension parameter has no value."
        if (value !== true) return null;
        p.snct = true;
        break;
      case 'client_no_context_takeover':
        // §7.1.1.2: "This extension parameter has no value."
        if (value !== true) return null;
        p.cnct = true;
        break;
      case 'server_max_window_bits': {
        // §7.1.2.1: it always has a value, in offers and responses.
        const n = windowBits(value);
        if (n === 0) return null;
        p.smwb = n;
        break;
      }
      case 'client_max_window_bits': {
        // §7.1.2.2: "This parameter has no value or a decimal integer value without leading zeroes between 8
        // to 15"; in a response it carries the value the server chose.
        if (value === true) {
          if (isResponse) return null;
          p.cmwb = -1;
          break;
        }
        const n = windowBits(value);
        if (n === 0) return null;
        p.cmwb = n;
        break;
      }
      default:
        // §7: "an extension parameter not defined for use in an offer" → decline; in a response → fail.
        return null;
    }
  }
  return p;
}

function checkBits(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < MIN_WINDOW_BITS || v > MAX_WINDOW_BITS) {
    throw new RangeError(`${name} must be an integer from 8 to 15, got ${v}`);
  }
  return v;
}

/** Validates a server policy up front (at `serve()`), so that a bad option fails at start, not per handshake. */
export function checkDeflatePolicy(policy: DeflateServerPolicy): void {
  checkBits('serverMaxWindowBits', policy.serverMaxWindowBits, MAX_WINDOW_BITS);
  checkBits('clientMaxWindowBits', policy.clientMaxWindowBits, MAX_WINDOW_BITS);
}

/** The server's choice: the parameters in force and the response element. */
export interface DeflateAgreement {
  params: DeflateParams;
  response: ExtensionOffer;
}

/**
 * Server side (RFC 7692 §5, §7): picks the first permessage-deflate offer it can accept, in the client's order
 * of preference, and builds the response. Offers with unknown parameters, duplicates or invalid values are
 * declined (§7: "A server MUST decline an extension negotiation offer for this extension if ..."); other
 * extensions are ignored. Returns `null` when no offer is acceptable: the connection goes on uncompressed.
 *
 * @example
 * negotiateDeflate(parseExtensions('permessage-deflate; client_max_window_bits')!, {});
 * // { params: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15,
 * //             clientMaxWindowBits: 15 }, response: { name: 'permessage-deflate', params: [] } }
 */
export function negotiateDeflate(
  offers: readonly ExtensionOffer[],
  policy: DeflateServerPolicy,
): DeflateAgreement | null {
  const ourServerBits = checkBits('serverMaxWindowBits', policy.serverMaxWindowBits, MAX_WINDOW_BITS);
  const ourClientBits = checkBits('clientMaxWindowBits', policy.clientMaxWindowBits, MAX_WINDOW_BITS);
  for (const offer of offers) {
    if (offer.name.toLowerCase() !== PERMESSAGE_DEFLATE) continue;
    const p = parseParams(offer.params, false);
    if (p === null) continue; // declined: try the next offer
    const response: ExtensionParam[] = [];
    // §7.1.1.1: an offer with server_no_context_takeover is accepted by including it; the server may also
    // include it unasked.
    const snct = p.snct || policy.serverNoContextTakeover === true;
    if (snct) response.push(['server_no_context_takeover', true]);
    // §7.1.1.2: the server may include client_no_context_takeover, asked or not; when the client offered it we
    // echo it, since the client resets its context anyway and the echo tells it we rely on that.
    const cnct = p.cnct || policy.clientNoContextTakeover === true;
    if (cnct) response.push(['client_no_context_takeover', true]);
    // §7.1.2.1: with server_max_window_bits in the offer, the response carries the same or a smaller value;
    // without it, the server may still announce a smaller window.
    let serverBits = ourServerBits;
    if (p.smwb !== 0) serverBits = Math.min(serverBits, p.smwb);
    if (p.smwb !== 0 || serverBits < MAX_WINDOW_BITS) response.push(['server_max_window_bits', String(serverBits)]);
    // §7.1.2.2: "If a received extension negotiation offer doesn't have the client_max_window_bits extension
    // parameter, the corresponding extension negotiation response to the offer MUST NOT include" it; with a
    // value in the offer, the response may carry the same or a smaller value. Only the response binds the
    // client ("Absence of this extension parameter in an extension negotiation response indicates that the
    // server can receive messages compressed using an LZ77 sliding window of up to 32,768 bytes"), so any window
    // below 15 we rely on is stated in it.
    let clientBits = MAX_WINDOW_BITS;
    if (p.cmwb !== 0) {
      const offered = p.cmwb === -1 ? MAX_WINDOW_BITS : p.cmwb;
      clientBits = Math.min(offered, ourClientBits);
      if (clientBits < MAX_WINDOW_BITS) response.push(['client_max_window_bits', String(clientBits)]);
    }
    return {
      params: {
        serverNoContextTakeover: snct,
        clientNoContextTakeover: cnct,
        serverMaxWindowBits: serverBits,
        clientMaxWindowBits: clientBits,
      },
      response: { name: PERMESSAGE_DEFLATE, params: response },
    };
  }
  return null;
}

/**
 * Client side: the offer element (RFC 7692 §7.1). By default `permessage-deflate; client_max_window_bits`,
 * the offer browsers send.
 *
 * @throws RangeError for window bits outside 8..15
 */
export function deflateOffer(offer: DeflateClientOffer = {}): ExtensionOffer {
  const params: ExtensionParam[] = [];
  if (offer.serverNoContextTakeover === true) params.push(['server_no_context_takeover', true]);
  if (offer.clientNoContextTakeover === true) params.push(['client_no_context_takeover', true]);
  if (offer.serverMaxWindowBits !== undefined) {
    params.push(['server_max_window_bits', String(checkBits('serverMaxWindowBits', offer.serverMaxWindowBits, 15))]);
  }
  const c = offer.clientMaxWindowBits ?? true;
  if (c === true) params.push(['client_max_window_bits', true]);
  else if (typeof c === 'number')
    params.push(['client_max_window_bits', String(checkBits('clientMaxWindowBits', c, 15))]);
  return { name: PERMESSAGE_DEFLATE, params };
}

/** The client's verdict on the server's response: the parameters in force, or why the connection must fail. */
export type DeflateResponseResult = { ok: true; params: DeflateParams } | { ok: false; reason: string };

/**
 * Client side (RFC 7692 §7): checks the server's permessage-deflate response against what we offered. "A
 * client MUST _Fail the WebSocket Connection_ if the peer server accepted an extension negotiation offer for
 * this extension with an extension negotiation response meeting any of the following conditions": a parameter
 * not defined for a response, an invalid value, a duplicate, or a configuration we do not support.
 */
export function checkDeflateResponse(response: ExtensionOffer, offer: DeflateClientOffer = {}): DeflateResponseResult {
  const p = parseParams(response.params, true);
  if (p === null) return { ok: false, reason: 'Invalid permessage-deflate parameters in the response' };
  // §7.1.1.1: a server accepts our server_no_context_takeover by including it; without it, it did not.
  if (offer.serverNoContextTakeover === true && !p.snct) {
    return { ok: false, reason: 'The response lacks the server_no_context_takeover we asked for' };
  }
  // §7.1.2.1: the response's server_max_window_bits is "the same or smaller value as the offer".
  let serverBits = MAX_WINDOW_BITS;
  if (offer.serverMaxWindowBits !== undefined) {
    if (p.smwb === 0) {
      // We asked for a limit and the server did not confirm it: we cannot know what it will use. A server
      // that "accepts an extension negotiation offer with this parameter" must include it (§7.1.2.1).
      return { ok: false, reason: 'The response lacks the server_max_window_bits we asked for' };
    }
    if (p.smwb > offer.serverMaxWindowBits) {
      return { ok: false, reason: 'The response has a larger server_max_window_bits than we offered' };
    }
  }
  if (p.smwb !== 0) serverBits = p.smwb;
  // §7.1.2.2: the server may only send client_max_window_bits if we offered it, with a value no larger than ours.
  const offeredClient = offer.clientMaxWindowBits ?? true;
  let clientBits = typeof offeredClient === 'number' ? offeredClient : MAX_WINDOW_BITS;
  if (p.cmwb !== 0) {
    if (offeredClient === false) {
      return { ok: false, reason: 'The response has client_max_window_bits, which we did not offer' };
    }
    if (p.cmwb > clientBits) {
      return { ok: false, reason: 'The response has a larger client_max_window_bits than we offered' };
    }
    clientBits = p.cmwb;
  }
  return {
    ok: true,
    params: {
      serverNoContextTakeover: p.snct,
      clientNoContextTakeover: p.cnct || offer.clientNoContextTakeover === true,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    },
  };
}

/** What the codec's `decompress` returns instead of bytes: the output passed the limit. */
export const INFLATE_TOO_BIG = 1;
/** What the codec's `decompress` returns instead of bytes: the input is not a valid DEFLATE stream. */
export const INFLATE_INVALID = 2;

/**
 * The one decision on a received compressed message, for both roles: `null` when `result` (the inflated bytes,
 * or an INFLATE_* code) may be delivered, else the error that fails the connection.
 * - RFC 6455 §7.4.1: 1009 for a message too big to process; inflating stops at `maxPayload`, before it is built.
 * - RFC 7692 §8 leaves a corrupt DEFLATE stream to the endpoint: 1007, data inconsistent with the message (as ws).
 * - RFC 6455 §8.1: a text message must be UTF-8, checked on the decompressed bytes (RFC 7692 §6.1 compresses
 *   the payload, so the frame parser could not check it).
 */
export function checkInflated(result: Uint8Array | number, binary: boolean, maxPayload: number): ProtocolError | null {
  if (result === INFLATE_TOO_BIG) {
    return wsError(
      1009,
      'ERR_WS_MESSAGE_TOO_BIG',
      `Message longer than maxPayload (${maxPayload} bytes) once decompressed`,
    );
  }
  if (typeof result === 'number') return wsError(1007, 'ERR_WS_INVALID_COMPRESSED_DATA', 'Invalid compressed data');
  if (!binary && !isValidUtf8(result)) return wsError(1007, 'ERR_WS_INVALID_UTF8', 'Invalid UTF-8 in a text message');
  return null;
}

/**
 * RFC 7692 §6.1: RSV1 marks a compressed message on its first frame only; continuation frames carry 0 (a set RSV1
 * there is a protocol error the frame parser reports).
 */
export function rsv1ForFrame(compressed: boolean, continuation: boolean): boolean {
  return compressed && !continuation;
}
