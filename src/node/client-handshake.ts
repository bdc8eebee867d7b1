/**
 * The client's side of the opening handshake after the request went out (RFC 6455 §4.1): the server's response
 * head gathered and checked, the permessage-deflate answer checked against our offer (RFC 7692 §7), and a refusal's
 * body kept for the error. The `WebSocket` (client.ts) feeds it bytes and acts on what it answers.
 */

import { Buffer } from 'node:buffer';
import { HandshakeError, ProtocolError } from '../errors.js';
import { parseResponseHead, type ResponseHead } from '../http1/response-head.js';
import { WS_CLIENT_MAX_REFUSAL_BODY_BYTES, WS_CLIENT_MAX_RESPONSE_HEAD_BYTES } from '../limits.js';
import type { ExtensionOffer } from '../ws/extensions.js';
import { validateUpgradeResponse } from '../ws/handshake.js';
import { checkDeflateResponse, type DeflateClientOffer, PERMESSAGE_DEFLATE } from '../ws/permessage-deflate.js';
import { DeflateCodec, type DeflateSettings } from './deflate.js';

const EMPTY = Buffer.alloc(0);

/**
 * A refusal (RFC 6455 §4.1: a status other than 101 is handled "per HTTP procedures") whose body is still arriving:
 * the error waits for the body's first bytes, which usually say why (RFC 9110 §15.5: the server "SHOULD send a
 * representation containing an explanation").
 */
export class Refusal {
  readonly #code: string;
  readonly #message: string;
  readonly #head: ResponseHead;
  /** Body bytes to wait for: the Content-Length (or, without one, until the server closes), at most the limit. */
  readonly #want: number;
  readonly #parts: Buffer[];
  #got: number;

  constructor(code: string, message: string, head: ResponseHead) {
    this.#code = code;
    this.#message = message;
    this.#head = head;
    this.#want = refusalBodyLength(head);
    this.#parts = [];
    this.#got = 0;
  }

  /** Keeps body bytes (copied: `chunk` may be a view of a shared read buffer). Returns whether it has enough. */
  add(chunk: Buffer): boolean {
    if (chunk.length > 0 && this.#got < this.#want) {
      const keep = Buffer.from(chunk.subarray(0, this.#want - this.#got));
      this.#parts.push(keep);
      this.#got += keep.length;
    }
    return this.#got >= this.#want;
  }

  /** The handshake's error, with the status, headers and what arrived of the body. */
  error(): HandshakeError {
    const h = this.#head;
    const body = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts);
    return new HandshakeError(this.#code, this.#message, h.status, h.headers.entries(), h.reason, body);
  }
}

/**
 * How many body bytes of a refusal to keep (RFC 9112 §6.3): none for 1xx, 204 and 304, none for a chunked body
 * (not decoded here); the Content-Length, or until the server closes; at most WS_CLIENT_MAX_REFUSAL_BODY_BYTES.
 */
function refusalBodyLength(head: ResponseHead): number {
  const s = head.status;
  if (s < 200 || s === 204 || s === 304 || head.headers.has('transfer-encoding')) return 0;
  const cl = head.headers.getJoined('content-length');
  const n = cl === undefined ? Number.POSITIVE_INFINITY : /^[0-9]+$/.test(cl) ? Number(cl) : 0;
  return Math.min(n, WS_CLIENT_MAX_REFUSAL_BODY_BYTES);
}

/** What the client offered, to check the response against. */
export interface HandshakeOffer {
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  readonly protocols: readonly string[];
  /** The permessage-deflate offer sent, or null. */
  readonly deflate: DeflateClientOffer | null;
  readonly deflateSettings: DeflateSettings | null;
}

/** The response accepted the connection. `rest`: bytes after the head (frames that came with it). */
export interface HandshakeAccepted {
  readonly kind: 'open';
  readonly protocol: string;
  readonly extensions: readonly ExtensionOffer[];
  readonly codec: DeflateCodec | null;
  readonly rest: Buffer;
}

export type HandshakeStep =
  /** More bytes are needed for the head. */
  | { readonly kind: 'more' }
  | HandshakeAccepted
  /** A refusal whose body is awaited (`refusal.add` the next bytes); its first bytes are in it already. */
  | { readonly kind: 'refused'; readonly refusal: Refusal; readonly done: boolean }
  | { readonly kind: 'fail'; readonly error: HandshakeError };

const MORE: HandshakeStep = { kind: 'more' };

/** Gathers the response head (bounded) and checks it. One per connection attempt. */
export class HandshakeResponse {
  readonly #offer: HandshakeOffer;
  #head: Buffer;

  constructor(offer: HandshakeOffer) {
    this.#offer = offer;
    this.#head = EMPTY;
  }

  /** Bytes of the response: `more` until the head is complete (at most WS_CLIENT_MAX_RESPONSE_HEAD_BYTES). */
  receive(chunk: Buffer): HandshakeStep {
    const prev = this.#head;
    const buf = prev.length === 0 ? chunk : Buffer.concat([prev, chunk]);
    const res = parseResponseHead(buf, WS_CLIENT_MAX_RESPONSE_HEAD_BYTES);
    if (res === null) {
      this.#head = buf;
      return MORE;
    }
    this.#head = EMPTY;
    if (res instanceof ProtocolError) {
      return fail(new HandshakeError('ERR_WS_HANDSHAKE_RESPONSE', `Invalid handshake response: ${res.message}`));
    }
    const offer = this.#offer;
    const result = validateUpgradeResponse(
      res.status,
      res.headers,
      offer.key,
      offer.protocols,
      offer.deflate === null ? [] : [PERMESSAGE_DEFLATE],
    );
    if (!result.ok) {
      if (res.status === 101) {
        return fail(new HandshakeError(result.code, result.message, res.status, res.headers.entries(), res.reason));
      }
      const refusal = new Refusal(result.code, result.message, res);
      return { kind: 'refused', refusal, done: refusal.add(buf.subarray(res.length)) };
    }
    // RFC 7692 §7: the server's permessage-deflate response must fit our offer, or we fail the connection.
    let codec: DeflateCodec | null = null;
    for (const ext of result.extensions) {
      if (ext.name !== PERMESSAGE_DEFLATE || offer.deflate === null) continue;
      const agreed = checkDeflateResponse(ext, offer.deflate);
      if (!agreed.ok) {
        return fail(
          new HandshakeError('ERR_WS_HANDSHAKE_EXTENSIONS', agreed.reason, res.status, res.headers.entries()),
        );
      }
      codec = new DeflateCodec(agreed.params, false, offer.deflateSettings as DeflateSettings);
    }
    return {
      kind: 'open',
      protocol: result.protocol,
      extensions: result.extensions,
      codec,
      rest: buf.subarray(res.length),
    };
  }
}

function fail(error: HandshakeError): HandshakeStep {
  return { kind: 'fail', error };
}
