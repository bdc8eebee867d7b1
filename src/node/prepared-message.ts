/**
 * A message prepared once for many connections: the piece a publish to many subscribers (pub/sub, a broadcast
 * loop) stands on. Its bytes are encoded once, and its compressed form computed at most once per compressor
 * setting (see `compressedFor`).
 */

import { Buffer } from 'node:buffer';
import { encodePublished } from '../http1/event-stream.js';
import { chunkHeader } from '../http1/serializer.js';
import { WRITER_COPY_LIMIT } from '../limits.js';
import { copyOf } from '../util/bytes.js';
import { OP_BINARY, OP_TEXT } from '../ws/frame.js';
import { encodeFrame } from '../ws/frame-writer.js';
import { DeflateCodec, type DeflateJob } from './deflate.js';
import { appendShared, sharedLogBuffer } from './socket-writer.js';

const CRLF_BYTES = Buffer.from('\r\n', 'latin1');

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
  /** The whole server frame of the plain message, and of each shared compressed form: encoded once each. */
  #frame: Buffer | null;
  readonly #compressedFrames: Map<string, Buffer>;
  /**
   * @internal Where the plain frame is shared from, set by `shareFrame()`: `sharedBuf[sharedStart .. sharedEnd)`,
   * in the shared log of socket-writer.ts for a small frame (copied there once, so that the frames of a burst of
   * publishes are neighbours and each subscriber writes them as one piece), else the frame's own buffer.
   */
  sharedBuf: Buffer | null;
  /** @internal */ sharedStart: number;
  /** @internal */ sharedEnd: number;
  /** The message as one server-sent event (node/sse.ts), and as one chunk of a chunked body: encoded on first use. */
  #event: Buffer | null;
  #eventChunk: Buffer | null;
  /** Shared compressions still running in slices (a message larger than DEFLATE_SLICE_BYTES), by setting. */
  readonly #jobs: Map<string, DeflateJob>;

  constructor(data: string | Uint8Array, binary = typeof data !== 'string') {
    this.data =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.binary = binary;
    this.#compressed = new Map();
    this.#frame = null;
    this.#compressedFrames = new Map();
    this.sharedBuf = null;
    this.sharedStart = 0;
    this.sharedEnd = 0;
    this.#event = null;
    this.#eventChunk = null;
    this.#jobs = new Map();
  }

  /** @internal Places the plain frame where subscribers' writes share it (see `sharedBuf`), once. */
  shareFrame(): void {
    if (this.sharedBuf !== null) return;
    const f = this.frame();
    if (f.length < WRITER_COPY_LIMIT) {
      const start = appendShared(f);
      this.sharedBuf = sharedLogBuffer();
      this.sharedStart = start;
    } else {
      this.sharedBuf = f;
      this.sharedStart = 0;
    }
    this.sharedEnd = this.sharedStart + f.length;
  }

  /**
   * The message as one `text/event-stream` event (text as `data:` lines, binary as base64 in an event of type
   * `binary`: http1/event-stream.ts), encoded on first use and then written as it is to every event stream. @internal
   */
  event(): Buffer {
    let e = this.#event;
    if (e === null) {
      e = encodePublished(this.data, this.binary);
      this.#event = e;
    }
    return e;
  }

  /** `event()` framed as one chunk (RFC 9112 §7.1), for every event stream with a chunked body. @internal */
  eventChunk(): Buffer {
    let c = this.#eventChunk;
    if (c === null) {
      const e = this.event();
      c = Buffer.concat([Buffer.from(chunkHeader(e.length), 'latin1'), e, CRLF_BYTES]);
      this.#eventChunk = c;
    }
    return c;
  }

  /**
   * The message as one server frame (FIN, unmasked: RFC 6455 §5.1, a server never masks), header and payload in one
   * buffer, encoded on first use and then written as it is to every connection. @internal
   */
  frame(): Buffer {
    let f = this.#frame;
    if (f === null) {
      f = encodeFrame(true, false, this.binary ? OP_BINARY : OP_TEXT, this.data, false);
      this.#frame = f;
    }
    return f;
  }

  /**
   * For a codec whose output suits every connection (no context takeover, `sharesOutput`): the compressed message as
   * one frame with RSV1 (RFC 7692 §7.2.1), encoded once per compressor setting. A message larger than one deflate
   * slice (DEFLATE_SLICE_BYTES) is compressed over several loop turns, still once for every connection: until it is
   * done this returns the running job, and every connection waits for it (the frame is encoded before any of them
   * is called back). @internal
   */
  compressedFrameFor(codec: DeflateCodec, now: number): Buffer | DeflateJob {
    const key = codec.shareKey;
    const f = this.#compressedFrames.get(key);
    if (f !== undefined) return f;
    if (!DeflateCodec.slices(this.data.length)) return this.#encodeCompressed(key, this.compressedFor(codec, now));
    let job = this.#jobs.get(key);
    if (job === undefined) {
      // Compressed over several turns: a copy, since the message's bytes may be a view the next read overwrites
      // (a publish from a message handler).
      const started = codec.startSharedCompress(copyOf(this.data));
      this.#jobs.set(key, started);
      started.whenDone(() => {
        this.#jobs.delete(key);
        if (started.result !== null) this.#encodeCompressed(key, started.result);
      });
      job = started;
    }
    return job;
  }

  #encodeCompressed(key: string, payload: Buffer): Buffer {
    const f = encodeFrame(true, true, this.binary ? OP_BINARY : OP_TEXT, payload, false);
    this.#compressedFrames.set(key, f);
    return f;
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
    // Small ones are kept as payload and frame, large ones (compressed in slices) as a frame only.
    let n = this.#compressed.size;
    for (const key of this.#compressedFrames.keys()) if (!this.#compressed.has(key)) n++;
    return n;
  }
}
