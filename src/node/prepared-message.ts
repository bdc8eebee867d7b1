/**
 * A message prepared once for many connections: the piece a publish to many subscribers (pub/sub, a broadcast
 * loop) stands on. Its bytes are encoded once, and its compressed form computed at most once per compressor
 * setting (see `compressedFor`).
 */

import { Buffer } from 'node:buffer';
import type { DeflateCodec } from './deflate.js';

/**
 * A message encoded once for many connections (a publish to many subscribers): its bytes, and its compressed
 * form computed at most once per compressor setting, for every connection that compresses without context
 * takeover (its output suits them all, RFC 7692 §7.1.1.1). Connections with context takeover compress it
 * themselves.
 */
export class PreparedMessage {
  readonly data: Buffer;
  readonly binary: boolean;
  readonly #compressed: Map<string, Buffer>;

  constructor(data: string | Uint8Array, binary = typeof data !== 'string') {
    this.data =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.binary = binary;
    this.#compressed = new Map();
  }

  /** The compressed payload for `codec`: shared when the codec allows it, else compressed by the codec. @internal */
  compressedFor(codec: DeflateCodec, now: number): Buffer {
    if (!codec.sharesOutput) return codec.compress(this.data, now);
    const key = codec.shareKey;
    let c = this.#compressed.get(key);
    if (c === undefined) {
      c = codec.compress(this.data, now);
      this.#compressed.set(key, c);
    }
    return c;
  }

  /** How many compressed copies were made (one per compressor setting). */
  get compressedCopies(): number {
    return this.#compressed.size;
  }
}
