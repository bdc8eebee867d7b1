/**
 * An independent permessage-deflate peer (RFC 7692 §7.2) for tests, written on node:zlib's public API only (never
 * on src/node/deflate.ts): a compressor that flushes each message with Z_SYNC_FLUSH and removes the trailing
 * `00 00 ff ff` (§7.2.1), a decompressor that appends it before inflating (§7.2.2), both with or without context
 * takeover (§7.1.1) and with a chosen LZ77 window (§7.1.2); plus the opening handshake with a chosen
 * `Sec-WebSocket-Extensions` offer and a reader of the server's answer (§5, §7.1).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { type ConnectOptions, connectRaw, handshakeRequest, type RawWsClient } from './ws-raw-client.js';

const { Z_SYNC_FLUSH } = zlib.constants;

/** The bytes a sync flush ends with (an empty stored block): RFC 7692 §7.2.1 removes them, §7.2.2 adds them. */
export const DEFLATE_TAIL: Buffer = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Output step of the peer's inflates. zlib checks a distance against the window size only when it reaches back
 * past the current output buffer, so small steps make the peer reject a sender that uses a larger window than
 * agreed (by more than this many bytes).
 */
const INFLATE_CHUNK = 1024;

/** zlib cannot deflate with an 8-bit window; 9 is equivalent (its matches reach back at most 512 - 262 bytes). */
function deflateBits(bits: number): number {
  return Math.max(9, bits);
}

/** Options of a peer compressor or decompressor. */
export interface PeerOptions {
  /** LZ77 window in bits, 8..15. Default 15. */
  windowBits?: number;
  /** Reset the context after every message (`*_no_context_takeover`). Default false. */
  noContextTakeover?: boolean;
  /** zlib level for the compressor. Default 6 (zlib's default, unlike the codec's 1). */
  level?: number;
}

/**
 * Runs one message through a long-lived zlib stream: writes `parts`, then a sync flush, and resolves with
 * everything the stream produced (the 'data' events of a flush come before its callback).
 */
function pushThrough(stream: zlib.DeflateRaw | zlib.InflateRaw, out: Buffer[], parts: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    stream.once('error', onError);
    for (const p of parts) stream.write(p);
    stream.flush(Z_SYNC_FLUSH, () => {
      stream.off('error', onError);
      const all = Buffer.concat(out);
      out.length = 0;
      resolve(all);
    });
  });
}

/** A permessage-deflate sender: one message in, the payload of a frame with RSV1 out. */
export class PeerCompressor {
  readonly windowBits: number;
  readonly noContextTakeover: boolean;
  readonly level: number;
  #stream: zlib.DeflateRaw | null;
  #out: Buffer[];

  constructor(options: PeerOptions = {}) {
    this.windowBits = options.windowBits ?? 15;
    this.noContextTakeover = options.noContextTakeover ?? false;
    this.level = options.level ?? 6;
    this.#stream = null;
    this.#out = [];
  }

  #zlibOptions(): zlib.ZlibOptions {
    return { windowBits: deflateBits(this.windowBits), level: this.level };
  }

  /** The whole deflate output of one message (or message piece), ending with an empty stored block. */
  async compressWithTail(data: Buffer): Promise<Buffer> {
    if (this.noContextTakeover) {
      // A fresh context per message: the sync one-shot API, flushed with Z_SYNC_FLUSH instead of Z_FINISH.
      return zlib.deflateRawSync(data, { ...this.#zlibOptions(), finishFlush: Z_SYNC_FLUSH });
    }
    let s = this.#stream;
    if (s === null) {
      s = zlib.createDeflateRaw(this.#zlibOptions());
      const out = this.#out;
      s.on('data', (c: Buffer) => out.push(c));
      this.#stream = s;
    }
    const out = await pushThrough(s, this.#out, data.length > 0 ? [data] : []);
    // zlib writes nothing for a flush with no new input: the empty stored block of §7.2.1 step 2.
    return out.length === 0 ? Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]) : out;
  }

  /**
   * RFC 7692 §7.2.1: compress, sync flush, "If the resulting data does not end with an empty DEFLATE block with
   * no compression (the "BTYPE" bits are set to 00), append an empty DEFLATE block with no compression to the
   * tail end", remove the trailing `00 00 ff ff`. The append matters for an empty message right after a flush:
   * zlib then writes nothing, and the payload must be `00` (a byte-aligned stored block header), not empty.
   */
  async compress(data: Buffer): Promise<Buffer> {
    const out = await this.compressWithTail(data);
    assert.ok(
      out.length >= 4 && out.subarray(out.length - 4).equals(DEFLATE_TAIL),
      'a sync flush ends with 00 00 ff ff',
    );
    return out.subarray(0, out.length - 4);
  }

  close(): void {
    this.#stream?.close();
    this.#stream = null;
  }
}

/** A permessage-deflate receiver: the payload of a compressed message in, the message out. */
export class PeerDecompressor {
  readonly windowBits: number;
  readonly noContextTakeover: boolean;
  #stream: zlib.InflateRaw | null;
  #out: Buffer[];

  constructor(options: PeerOptions = {}) {
    this.windowBits = options.windowBits ?? 15;
    this.noContextTakeover = options.noContextTakeover ?? false;
    this.#stream = null;
    this.#out = [];
  }

  /** RFC 7692 §7.2.2: append `00 00 ff ff` and inflate. */
  async decompress(payload: Buffer): Promise<Buffer> {
    if (this.noContextTakeover) {
      return zlib.inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), {
        windowBits: this.windowBits,
        finishFlush: Z_SYNC_FLUSH,
        chunkSize: INFLATE_CHUNK,
      });
    }
    let s = this.#stream;
    if (s === null) {
      s = zlib.createInflateRaw({ windowBits: this.windowBits, chunkSize: INFLATE_CHUNK });
      const out = this.#out;
      s.on('data', (c: Buffer) => out.push(c));
      this.#stream = s;
    }
    return pushThrough(s, this.#out, [payload, DEFLATE_TAIL]);
  }

  close(): void {
    this.#stream?.close();
    this.#stream = null;
  }
}

/** The parameters a server answered in `Sec-WebSocket-Extensions` (RFC 7692 §7.1), read independently. */
export interface AgreedDeflate {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/**
 * Reads a server's `Sec-WebSocket-Extensions` answer: null when permessage-deflate was not accepted. Asserts the
 * answer holds a single permessage-deflate element with known parameters.
 */
export function parseDeflateAnswer(header: string | undefined): AgreedDeflate | null {
  if (header === undefined || header.trim() === '') return null;
  const elements = header.split(',').map((e) => e.trim());
  assert.equal(elements.length, 1, `one extension accepted: ${header}`);
  const [name, ...params] = elements[0]!.split(';').map((p) => p.trim());
  assert.equal(name, 'permessage-deflate', `extension name: ${header}`);
  const agreed: AgreedDeflate = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  for (const p of params) {
    const [k, v] = p.split('=').map((x) => x.trim());
    if (k === 'server_no_context_takeover') agreed.serverNoContextTakeover = true;
    else if (k === 'client_no_context_takeover') agreed.clientNoContextTakeover = true;
    else if (k === 'server_max_window_bits') agreed.serverMaxWindowBits = Number(v);
    else if (k === 'client_max_window_bits') agreed.clientMaxWindowBits = Number(v);
    else assert.fail(`unknown parameter in the answer: ${header}`);
  }
  return agreed;
}

/** The opening handshake request (RFC 6455 §4.1) carrying `offer` as `Sec-WebSocket-Extensions` (none if null). */
export function deflateUpgradeRequest(port: number, offer: string | null, options: ConnectOptions = {}): string {
  const headers = [...(options.headers ?? [])];
  if (offer !== null) headers.push(`Sec-WebSocket-Extensions: ${offer}`);
  return handshakeRequest(port, { ...options, headers });
}

/** A raw client with the peer codecs for what the server agreed (a client: it compresses with client_*). */
export interface DeflateClient {
  client: RawWsClient;
  /** What the server answered, or null when it did not accept permessage-deflate. */
  agreed: AgreedDeflate | null;
  /** Our compressor (client_no_context_takeover, client_max_window_bits) and decompressor (server_*). */
  compressor: PeerCompressor;
  decompressor: PeerDecompressor;
}

/**
 * Connects a raw client offering `offer` (default `permessage-deflate; client_max_window_bits`, what browsers
 * send), and builds the peer codecs from the server's answer.
 */
export async function connectDeflate(
  port: number,
  offer: string | null = 'permessage-deflate; client_max_window_bits',
  track?: RawWsClient[],
  options: ConnectOptions = {},
): Promise<DeflateClient> {
  const headers = [...(options.headers ?? [])];
  if (offer !== null) headers.push(`Sec-WebSocket-Extensions: ${offer}`);
  const client = await connectRaw(port, { ...options, headers }, track);
  const agreed = parseDeflateAnswer(client.response.headers.get('sec-websocket-extensions'));
  const a = agreed ?? {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  return {
    client,
    agreed,
    compressor: new PeerCompressor({ windowBits: a.clientMaxWindowBits, noContextTakeover: a.clientNoContextTakeover }),
    decompressor: new PeerDecompressor({
      windowBits: a.serverMaxWindowBits,
      noContextTakeover: a.serverNoContextTakeover,
    }),
  };
}

/**
 * A decompression bomb: `mib` MiB of zeros as the payload of one compressed message (RSV1), about a thousandth of
 * that in size: sync-flushed raw deflates of 1 MiB of zeros (level 9), repeated, without the final DEFLATE_TAIL
 * (RFC 7692 §7.2.1).
 */
export function zeroBomb(mib: number): Buffer {
  const unit = zlib.deflateRawSync(Buffer.alloc(1024 * 1024), { level: 9, finishFlush: Z_SYNC_FLUSH });
  const all = Buffer.concat(new Array<Buffer>(mib).fill(unit));
  return all.subarray(0, all.length - 4);
}
