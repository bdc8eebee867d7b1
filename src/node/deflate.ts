/**
 * The permessage-deflate codec (RFC 7692 §7.2) on node:zlib: one pass per message, synchronous, bounded.
 *
 * Why synchronous: the per-message work of small and mid-size messages (a few µs) is far cheaper than a trip
 * through libuv's thread pool, and doing it in place keeps messages in order without any queue. All zlib work
 * of the process therefore runs one operation at a time on the event loop: 10,000 connections can never start
 * 10,000 concurrent deflates, and the memory in flight is one operation's output.
 *
 * Memory: a direction without context takeover uses a context shared by the whole process (reset after every
 * message), so it costs a connection nothing. A direction with context takeover has its own context, created on
 * first use and released after `idleRelease` without traffic: our compressor simply starts afresh (taking over
 * the context is allowed, never required: §7.1.1.1), and the peer's window is kept as the last plaintext bytes
 * (at most 2^windowBits, usually far fewer) from which the decompressor is rebuilt with a preset dictionary.
 *
 * zlib streams are driven through their native handle (`_handle.writeSync`, the call node:zlib's own sync
 * functions make) so that one context can serve many messages without the stream machinery; `isSupported()`
 * checks that the running Node has it, and the server declines the extension otherwise.
 */

import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import {
  DEFLATE_IDLE_RELEASE_MS,
  DEFLATE_LEVEL,
  DEFLATE_MEM_LEVEL,
  DEFLATE_SLICE_BYTES,
  DEFLATE_THRESHOLD,
  DEFLATE_WINDOW_BITS,
  INFLATE_SLICE_BYTES,
} from '../limits.js';
import { type DeflateParams, INFLATE_INVALID, INFLATE_TOO_BIG } from '../ws/permessage-deflate.js';

const { Z_NO_FLUSH, Z_SYNC_FLUSH, Z_MIN_CHUNK } = zlib.constants;

/** Settings of the codec besides the negotiated parameters (`serve({ websocket: { perMessageDeflate } })`). */
export interface DeflateCodecOptions {
  /** Messages shorter than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib compression level 0..9. Default 1 (see docs/limits.md for the measured trade-off). */
  level?: number;
  /** zlib memLevel 1..9 (hash table and buffer sizes). Default 4. */
  memLevel?: number;
  /** LZ77 window we compress with, 9..15, never above the negotiated one. Default 13. */
  windowBits?: number;
  /** Milliseconds without compressed traffic after which a connection's own zlib contexts are freed (0: never). */
  idleRelease?: number;
}

/** Resolved codec settings, shared by every connection of a server. */
export interface DeflateSettings {
  threshold: number;
  level: number;
  memLevel: number;
  windowBits: number;
  idleReleaseMs: number;
}

export function resolveDeflateSettings(o: DeflateCodecOptions = {}): DeflateSettings {
  const s: DeflateSettings = {
    threshold: o.threshold ?? DEFLATE_THRESHOLD,
    level: o.level ?? DEFLATE_LEVEL,
    memLevel: o.memLevel ?? DEFLATE_MEM_LEVEL,
    windowBits: o.windowBits ?? DEFLATE_WINDOW_BITS,
    idleReleaseMs: o.idleRelease ?? DEFLATE_IDLE_RELEASE_MS,
  };
  if (!Number.isInteger(s.threshold) || s.threshold < 0) throw new RangeError('threshold must be an integer >= 0');
  if (!Number.isInteger(s.level) || s.level < 0 || s.level > 9) throw new RangeError('level must be 0..9');
  if (!Number.isInteger(s.memLevel) || s.memLevel < 1 || s.memLevel > 9) throw new RangeError('memLevel must be 1..9');
  if (!Number.isInteger(s.windowBits) || s.windowBits < 9 || s.windowBits > 15) {
    throw new RangeError('windowBits must be 9..15');
  }
  if (!(s.idleReleaseMs >= 0)) throw new RangeError('idleRelease must be >= 0');
  return s;
}

/** Process-wide zlib counters (`server.stats().deflate`). */
export interface DeflateStats {
  /** zlib contexts alive now: per connection, and shared. */
  contexts: number;
  sharedContexts: number;
  /** Contexts created and freed by the idle release. */
  created: number;
  released: number;
  /** Messages compressed / decompressed, and their byte counts before and after. */
  compressed: number;
  compressedBytesIn: number;
  compressedBytesOut: number;
  decompressed: number;
  decompressedBytesIn: number;
  decompressedBytesOut: number;
  /** Messages sent uncompressed because they were under `threshold` or the sender said so. */
  skipped: number;
  /** Inflates stopped at maxPayload (1009) and inputs zlib rejected (1007). */
  tooBig: number;
  invalid: number;
}

export const deflateStats: DeflateStats = {
  contexts: 0,
  sharedContexts: 0,
  created: 0,
  released: 0,
  compressed: 0,
  compressedBytesIn: 0,
  compressedBytesOut: 0,
  decompressed: 0,
  decompressedBytesIn: 0,
  decompressedBytesOut: 0,
  skipped: 0,
  tooBig: 0,
  invalid: 0,
};

interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string, errno: number) => void;
}

type ZlibStream = zlib.DeflateRaw & { _handle?: ZlibHandle | null; _writeState?: Uint32Array };

/** The trailing bytes of a sync flush: removed before sending, appended before inflating (RFC 7692 §7.2.1/2). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** An empty non-final stored block: header byte (BFINAL 0, BTYPE 00), LEN 0, NLEN 0xffff. */
const EMPTY_STORED_BLOCK = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
/** Scratch output for inflates (one at a time: everything here is synchronous). Grown on demand. */
let scratch = Buffer.allocUnsafe(64 * 1024);

function noop(): void {}

/** One zlib context driven synchronously. */
class ZContext {
  readonly #stream: ZlibStream;
  readonly #handle: ZlibHandle;
  readonly #state: Uint32Array;
  readonly shared: boolean;
  /** zlib's last error message, or null. */
  error: string | null;
  closed: boolean;

  constructor(inflate: boolean, windowBits: number, s: DeflateSettings | null, shared: boolean, dict?: Buffer) {
    const opts: zlib.ZlibOptions = { windowBits, chunkSize: Z_MIN_CHUNK };
    if (dict !== undefined && dict.length > 0) opts.dictionary = dict;
    if (s !== null) {
      opts.level = s.level;
      opts.memLevel = s.memLevel;
    }
    const stream = (inflate ? zlib.createInflateRaw(opts) : zlib.createDeflateRaw(opts)) as ZlibStream;
    stream.on('error', noop);
    this.#stream = stream;
    this.#handle = stream._handle as ZlibHandle;
    this.#state = stream._writeState as Uint32Array;
    this.shared = shared;
    this.error = null;
    this.closed = false;
    // zlib reports errors through this callback, synchronously inside writeSync; keep them here instead of
    // letting the stream destroy itself.
    this.#handle.onerror = (message: string) => {
      this.error = message;
    };
    deflateStats.created++;
    if (shared) deflateStats.sharedContexts++;
    else deflateStats.contexts++;
  }

  /**
   * One writeSync, into at most `outLen` bytes of `out` from `outOff`: returns [output bytes written, input left].
   * A sync flush unless `flush` says otherwise (a sliced deflate holds its output back between slices).
   */
  write(
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Buffer,
    outOff: number,
    outLen = out.length - outOff,
    flush = Z_SYNC_FLUSH,
  ): [number, number] {
    this.#handle.writeSync(flush, input, inOff, inLen, out, outOff, outLen);
    return [outLen - this.#state[0]!, this.#state[1]!];
  }

  reset(): void {
    this.#stream.reset();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.shared) deflateStats.sharedContexts--;
    else deflateStats.contexts--;
    this.#stream.close();
  }
}

/** Whether this Node's zlib streams expose the native handle we drive (every Node since 12 does). */
export function isDeflateSupported(): boolean {
  try {
    const s = zlib.createInflateRaw({ chunkSize: Z_MIN_CHUNK }) as unknown as ZlibStream;
    const ok = typeof s._handle?.writeSync === 'function' && s._writeState instanceof Uint32Array;
    s.close();
    return ok;
  } catch {
    return false;
  }
}

// Shared contexts for directions without context takeover, by kind, window and settings.
const sharedContexts = new Map<string, ZContext>();

function sharedContext(inflate: boolean, windowBits: number, s: DeflateSettings): ZContext {
  const key = inflate ? `i${windowBits}` : `d${windowBits}:${s.level}:${s.memLevel}`;
  let ctx = sharedContexts.get(key);
  if (ctx === undefined || ctx.closed) {
    ctx = new ZContext(inflate, windowBits, inflate ? null : s, true);
    sharedContexts.set(key, ctx);
  }
  return ctx;
}

/** zlib cannot deflate with an 8-bit window: 9 keeps distances within 256 bytes all the same (zlib's deflate
 * never reaches further back than the window minus 262 bytes). For inflate, a larger window is always safe. */
function zlibBits(bits: number): number {
  return Math.max(bits, 9);
}

/**
 * Result of `decompress` besides a Buffer and the INFLATE_* codes of the sans-I/O side: the message made more than
 * INFLATE_SLICE_BYTES of output and goes on in slices (`continueDecompress`, one per event-loop turn), so that one
 * large or highly compressed message never blocks every other connection for the whole of its inflate.
 */
export const INFLATE_PENDING = 3;

// Result codes of `decompress` besides a Buffer. The result codes are the sans-I/O side's (ws/permessage-deflate.ts decides what they mean).
export { INFLATE_INVALID, INFLATE_TOO_BIG } from '../ws/permessage-deflate.js';

/**
 * The last plaintext bytes a peer's compressor may refer back to (its LZ77 window), kept so that an idle
 * connection's decompressor can be freed and rebuilt later with them as a preset dictionary. Grows with what
 * arrives, up to the window size.
 */
class WindowTail {
  #buf: Buffer;
  #len: number;
  #pos: number;
  readonly #max: number;

  constructor(max: number) {
    this.#buf = EMPTY;
    this.#len = 0;
    this.#pos = 0;
    this.#max = max;
  }

  append(src: Buffer, n: number): void {
    const max = this.#max;
    if (n >= max) {
      if (this.#buf.length < max) this.#buf = Buffer.allocUnsafe(max);
      src.copy(this.#buf, 0, n - max, n);
      this.#len = max;
      this.#pos = 0;
      return;
    }
    const need = Math.min(max, this.#len + n);
    if (need > this.#buf.length) {
      let cap = Math.max(256, this.#buf.length);
      while (cap < need) cap *= 2;
      if (cap > max) cap = max;
      const next = Buffer.allocUnsafe(cap);
      const lin = this.linear();
      lin.copy(next, 0);
      this.#buf = next;
      this.#pos = lin.length;
    }
    const buf = this.#buf;
    const cap = buf.length;
    const first = Math.min(n, cap - this.#pos);
    src.copy(buf, this.#pos, 0, first);
    if (first < n) src.copy(buf, 0, first, n);
    this.#pos = (this.#pos + n) % cap;
    this.#len = Math.min(max, this.#len + n);
  }

  /** The bytes in order, oldest first. */
  linear(): Buffer {
    const buf = this.#buf;
    if (this.#len < buf.length) return buf.subarray(0, this.#len);
    if (this.#pos === 0) return buf;
    return Buffer.concat([buf.subarray(this.#pos), buf.subarray(0, this.#pos)], this.#len);
  }

  /** Shrinks the storage to what is held (for an idle connection). */
  compact(): void {
    if (this.#len === 0) {
      this.#buf = EMPTY;
      this.#pos = 0;
      return;
    }
    const lin = this.linear();
    if (lin.length === this.#buf.length && lin === this.#buf) return;
    this.#buf = Buffer.from(lin);
    this.#pos = 0;
  }

  get length(): number {
    return this.#len;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The codec of one connection: compresses what we send and decompresses what we receive, with the parameters
 * agreed in the handshake. `side` is ours: on the server, we compress with the server_* parameters.
 */
export class DeflateCodec {
  readonly settings: DeflateSettings;
  /** Our compressor: window, and whether it resets after every message. */
  readonly #outBits: number;
  readonly #outNoTakeover: boolean;
  /** The peer's compressor, as agreed: our decompressor's window and whether the peer resets. */
  readonly #inBits: number;
  readonly #inNoTakeover: boolean;
  #deflater: ZContext | null;
  #inflater: ZContext | null;
  /** The peer's window while our decompressor is released (context takeover only). */
  #tail: WindowTail | null;
  #lastUsed: number;
  /** A message being inflated in slices (see INFLATE_PENDING), or null. */
  #job: InflateJob | null;
  /** A fragmented compressed message is being sent: the deflater must stay ours until it ends. */
  #sendingFragments: boolean;
  /** A message of ours being deflated in slices (see `startCompress`), or null. */
  #sendJob: DeflateJob | null;

  constructor(params: DeflateParams, isServer: boolean, settings: DeflateSettings) {
    this.settings = settings;
    const outMax = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.#outBits = zlibBits(Math.min(outMax, settings.windowBits));
    this.#outNoTakeover = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.#inBits = zlibBits(isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits);
    this.#inNoTakeover = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.#deflater = null;
    this.#inflater = null;
    this.#tail = null;
    this.#lastUsed = 0;
    this.#job = null;
    this.#sendingFragments = false;
    this.#sendJob = null;
  }

  /** Whether a message of `n` bytes is worth compressing. */
  wants(n: number): boolean {
    return n >= this.settings.threshold;
  }

  /** Our compressed messages do not depend on earlier ones (the same bytes suit every such peer). */
  get sharesOutput(): boolean {
    return this.#outNoTakeover;
  }

  /** Our compression window in bits (what a shared compressed message must not exceed). */
  get outputWindowBits(): number {
    return this.#outBits;
  }

  /**
   * For codecs whose output does not depend on earlier messages (`sharesOutput`): the key under which one
   * compressed copy of a message suits every such codec (same window and zlib settings).
   */
  get shareKey(): string {
    return `${this.#outBits}:${this.settings.level}:${this.settings.memLevel}`;
  }

  #ownDeflater(): ZContext {
    let d = this.#deflater;
    if (d === null || d.closed) {
      d = new ZContext(false, this.#outBits, this.settings, false);
      this.#deflater = d;
    }
    return d;
  }

  /**
   * Compresses a whole message (RFC 7692 §7.2.1): deflate, sync flush, and the trailing `00 00 ff ff` removed.
   * The result is the payload of one frame with RSV1 set.
   */
  compress(data: Buffer, now: number): Buffer {
    this.#lastUsed = now;
    const shared = this.#outNoTakeover && !this.#sendingFragments;
    const ctx = shared ? sharedContext(false, this.#outBits, this.settings) : this.#ownDeflater();
    const out = deflateWith(ctx, data);
    // §7.2.1: without context takeover the next message starts from an empty window.
    if (this.#outNoTakeover) ctx.reset();
    return out;
  }

  /** Whether a message of `n` bytes is compressed in slices (`startCompress`) rather than in one pass. */
  static slices(n: number): boolean {
    return n > DEFLATE_SLICE_BYTES;
  }

  /**
   * Starts compressing a whole message larger than one slice (DEFLATE_SLICE_BYTES) over several event-loop turns
   * (see DeflateJob); its `result` is what `compress` returns. The caller sends nothing else compressed until the
   * job is done: with context takeover it holds our compressor. Without takeover it gets a context of its own (the
   * shared one cannot wait between slices: other connections use it).
   */
  startCompress(data: Buffer, now: number): DeflateJob {
    this.#lastUsed = now;
    const own = !this.#outNoTakeover;
    const ctx = own ? this.#ownDeflater() : new ZContext(false, this.#outBits, this.settings, false);
    const job = new DeflateJob(ctx, data, !own, false);
    this.#sendJob = job;
    job.whenDone(() => {
      if (this.#sendJob === job) this.#sendJob = null;
    });
    job.start();
    return job;
  }

  /**
   * For a message compressed once for every connection whose output `sharesOutput` (a publish): a job on a context
   * of its own with this codec's settings; nothing of this connection's is held by it.
   */
  startSharedCompress(data: Buffer): DeflateJob {
    const job = new DeflateJob(new ZContext(false, this.#outBits, this.settings, false), data, true, false);
    job.start();
    return job;
  }

  /**
   * Compresses one fragment of a message sent in pieces: each piece is flushed so that it can leave at once; the
   * trailing `00 00 ff ff` is removed from the last one only.
   */
  compressFragment(data: Buffer, fin: boolean, now: number): Buffer {
    this.#lastUsed = now;
    const ctx = this.#ownDeflater();
    this.#sendingFragments = !fin;
    const out = deflateRun(ctx, data);
    if (fin) {
      if (this.#outNoTakeover) ctx.reset();
      return out.subarray(0, out.length - 4);
    }
    return out;
  }

  /**
   * Decompresses a whole received message (RFC 7692 §7.2.2: append `00 00 ff ff`, inflate). Stops as soon as
   * the output passes `limit` bytes (`INFLATE_TOO_BIG`: the caller closes with 1009), so a small bomb never
   * allocates its full size. Returns a view that is only valid until the next call: copy it or decode it now.
   */
  decompress(data: Buffer, limit: number, now: number): Buffer | number {
    this.#lastUsed = now;
    let ctx: ZContext;
    if (this.#inNoTakeover) ctx = sharedContext(true, this.#inBits, this.settings);
    else {
      let inf = this.#inflater;
      if (inf === null) {
        // First use, or first since an idle release: rebuild the peer's window from the kept bytes.
        const tail = this.#tail;
        inf = new ZContext(true, this.#inBits, null, false, tail === null ? undefined : tail.linear());
        this.#inflater = inf;
      }
      ctx = inf;
    }
    let job = new InflateJob(ctx, data, limit);
    let result = job.run(INFLATE_SLICE_BYTES);
    if (result === INFLATE_PENDING) {
      if (ctx.shared) {
        // A shared context cannot wait between slices (other connections use it): start again on a context of this
        // message's own. At most one slice of work is lost.
        ctx.reset();
        job = new InflateJob(new ZContext(true, this.#inBits, null, false), data, limit);
        result = job.run(INFLATE_SLICE_BYTES);
        if (result === INFLATE_PENDING) {
          this.#job = job;
          return result;
        }
        // A context made for this one message goes with it (nothing to reset, no window to keep).
        job.ctx.close();
        return result;
      }
      this.#job = job;
      return result;
    }
    return this.#inflated(ctx, result);
  }

  /** Goes on with a message that `decompress` left INFLATE_PENDING: one more slice. Returns as `decompress`. */
  continueDecompress(now: number): Buffer | number {
    const job = this.#job as InflateJob;
    this.#lastUsed = now;
    const result = job.run(INFLATE_SLICE_BYTES);
    if (result === INFLATE_PENDING) return result;
    this.#job = null;
    // A context made for this one message (the connection's shared direction) goes with it.
    if (job.ctx !== this.#inflater) {
      job.ctx.close();
      return result;
    }
    return this.#inflated(job.ctx, result);
  }

  /** Whether a message is being inflated in slices. */
  get inflating(): boolean {
    return this.#job !== null;
  }

  /** After a message: reset or remember the context's window, or drop a broken context. */
  #inflated(ctx: ZContext, result: Buffer | number): Buffer | number {
    if (typeof result === 'number') {
      // The context is mid-stream or broken: a shared one is reset for others; ours dies with the connection.
      if (ctx.shared) {
        if (ctx.error !== null) ctx.close();
        else ctx.reset();
      } else this.close();
      return result;
    }
    if (this.#inNoTakeover) ctx.reset();
    else if (this.settings.idleReleaseMs > 0) {
      let tail = this.#tail;
      if (tail === null) {
        tail = new WindowTail(1 << this.#inBits);
        this.#tail = tail;
      }
      tail.append(result, result.length);
    }
    return result;
  }

  /** Frees this connection's contexts when idle for `idleRelease` (from the server's coarse tick). */
  releaseIfIdle(now: number): void {
    const ms = this.settings.idleReleaseMs;
    if (ms <= 0 || now - this.#lastUsed < ms || this.#sendingFragments || this.#job !== null) return;
    if (this.#sendJob !== null) return;
    if (this.#deflater !== null) {
      this.#deflater.close();
      this.#deflater = null;
      deflateStats.released++;
    }
    if (this.#inflater !== null) {
      this.#inflater.close();
      this.#inflater = null;
      this.#tail?.compact();
      deflateStats.released++;
    }
  }

  /** Whether this connection holds zlib contexts of its own right now. */
  get holdsContexts(): boolean {
    return this.#deflater !== null || this.#inflater !== null;
  }

  /** Stops a sliced compression of ours (the connection failed or ended): its `result` stays null. */
  cancelSend(): void {
    const job = this.#sendJob;
    this.#sendJob = null;
    if (job !== null) job.cancel();
  }

  /** Frees everything (the connection ended). */
  close(): void {
    this.cancelSend();
    if (this.#job !== null && this.#job.ctx !== this.#inflater) this.#job.ctx.close();
    this.#job = null;
    this.#deflater?.close();
    this.#deflater = null;
    this.#inflater?.close();
    this.#inflater = null;
    this.#tail = null;
  }
}

/** Deflates `data` with a sync flush; the output still ends with `00 00 ff ff`. */
function deflateRun(ctx: ZContext, data: Buffer): Buffer {
  const n = data.length;
  // Room for incompressible input (stored blocks of 5 bytes per 16 KiB) plus the flush marker, in one call.
  const bound = n + (n >> 12) + (n >> 14) + 64;
  let out = Buffer.allocUnsafe(bound);
  let [written, left] = ctx.write(data, 0, n, out, 0);
  if (written === bound) {
    // Output full (should not happen with the bound above): collect the rest in more chunks.
    const chunks: Buffer[] = [out];
    let total = written;
    for (;;) {
      const more = Buffer.allocUnsafe(64 * 1024);
      [written, left] = ctx.write(data, n - left, left, more, 0);
      chunks.push(more.subarray(0, written));
      total += written;
      if (written < more.length) break;
    }
    out = Buffer.concat(chunks, total);
    written = total;
  }
  if (written === 0) {
    // zlib writes nothing for an empty input right after a flush (a second sync flush is a no-op), but a
    // compressed message must still end with an empty stored block (RFC 7692 §7.2.1, §7.2.3.6: an empty message
    // is the single byte 0x00 once the tail is removed): add it ourselves, the stream being byte-aligned here.
    out = Buffer.from(EMPTY_STORED_BLOCK);
    written = out.length;
  }
  deflateStats.compressed++;
  deflateStats.compressedBytesIn += n;
  deflateStats.compressedBytesOut += written - 4;
  // A large buffer mostly unused would stay pinned while queued on the socket: keep just the bytes.
  if (bound > 64 * 1024 && written < bound >> 1) return Buffer.from(out.subarray(0, written));
  return out.subarray(0, written);
}

function deflateWith(ctx: ZContext, data: Buffer): Buffer {
  const out = deflateRun(ctx, data);
  return out.subarray(0, out.length - 4);
}

/**
 * One message being inflated (`data` + `00 00 ff ff`), stopping past `limit` output bytes. `run(budget)` goes on
 * until the message is done or `budget` more output bytes were made, so that a large message can be inflated in
 * slices that yield to the event loop between them. Between slices it holds no view of the shared scratch buffer.
 */
class InflateJob {
  readonly ctx: ZContext;
  readonly data: Buffer;
  readonly limit: number;
  /** 0: the message's bytes, 1: the trailing 00 00 ff ff, 2: done. */
  #pass: number;
  /** Input bytes of the current pass not yet taken. */
  #left: number;
  #out: Buffer;
  #off: number;
  #chunks: Buffer[] | null;
  #total: number;
  /** The peer ended its DEFLATE stream (BFINAL) inside the message: the next message starts a new one. */
  #ended: boolean;

  constructor(ctx: ZContext, data: Buffer, limit: number) {
    this.ctx = ctx;
    this.data = data;
    this.limit = limit;
    this.#pass = 0;
    this.#left = data.length;
    this.#out = scratch;
    this.#off = 0;
    this.#chunks = null;
    this.#total = 0;
    this.#ended = false;
  }

  /** The message (a view of the scratch buffer when it fit in it), an INFLATE_* code, or INFLATE_PENDING. */
  run(budget: number): Buffer | number {
    const ctx = this.ctx;
    let made = 0;
    while (this.#pass < 2) {
      const input = this.#pass === 0 ? this.data : TAIL;
      // One slice makes at most `budget` bytes, whatever the chunk's size: chunks stay large (few buffers, little
      // GC work), slices stay short.
      let room = this.#out.length - this.#off;
      if (budget - made < room) room = budget - made;
      const [written, rest] = ctx.write(input, input.length - this.#left, this.#left, this.#out, this.#off, room);
      if (ctx.error !== null) {
        deflateStats.invalid++;
        return INFLATE_INVALID;
      }
      this.#off += written;
      this.#left = rest;
      made += written;
      if (this.#total + this.#off > this.limit) {
        deflateStats.tooBig++;
        return INFLATE_TOO_BIG;
      }
      if (written < room) {
        // All input taken and output flushed; input left over means the peer ended its stream (BFINAL).
        if (rest > 0) this.#ended = true;
        this.#pass++;
        this.#left = TAIL.length;
        continue;
      }
      if (this.#off === this.#out.length) {
        // Output full: keep it and go on in a new chunk.
        const out = this.#out;
        if (this.#chunks === null) this.#chunks = [];
        this.#chunks.push(out === scratch ? Buffer.from(out) : out);
        this.#total += this.#off;
        this.#off = 0;
        this.#out = Buffer.allocUnsafe(Math.min(Math.max(64 * 1024, this.#total), 4 * 1024 * 1024));
      }
      if (made >= budget) {
        // Between slices the scratch buffer may serve other inflates: what this message has in it moves out.
        if (this.#out === scratch) {
          const own = Buffer.allocUnsafe(scratch.length);
          scratch.copy(own, 0, 0, this.#off);
          this.#out = own;
        }
        return INFLATE_PENDING;
      }
    }
    if (this.#ended) ctx.reset();
    deflateStats.decompressed++;
    deflateStats.decompressedBytesIn += this.data.length;
    const chunks = this.#chunks;
    if (chunks === null) {
      deflateStats.decompressedBytesOut += this.#off;
      return this.#out.subarray(0, this.#off);
    }
    chunks.push(this.#out.subarray(0, this.#off));
    const total = this.#total + this.#off;
    deflateStats.decompressedBytesOut += total;
    return Buffer.concat(chunks, total);
  }
}

/** Grows the shared scratch buffer (tests use it to exercise the multi-chunk path). @internal */
export function setInflateScratchSize(n: number): void {
  scratch = Buffer.allocUnsafe(n);
}

/** Whether `b` is a view of the shared inflate scratch buffer (valid only until the next inflate). */
export function isInflateScratch(b: Buffer): boolean {
  return b.buffer === scratch.buffer;
}

/**
 * One message of ours being deflated in slices of DEFLATE_SLICE_BYTES of input, one slice per event-loop turn
 * (setImmediate), so that compressing a large message delays other connections by one slice at a time. The slices
 * before the last are fed without a flush (zlib holds back what it has not yet emitted, so the output is the same
 * stream a one-pass deflate makes); the last one with a sync flush, whose trailing `00 00 ff ff` is removed
 * (RFC 7692 §7.2.1). Then `result` is the payload of one frame with RSV1 set, and `done` is true; after `cancel()`
 * or a zlib error `result` stays null. Whoever waits on it (`whenDone`) is called once, in order.
 */
export class DeflateJob {
  readonly #ctx: ZContext;
  readonly #data: Buffer;
  /** The context is this job's alone: closed when it ends. Otherwise it is reset when `reset` says so. */
  readonly #ownsCtx: boolean;
  readonly #reset: boolean;
  /** Input bytes taken so far. */
  #in: number;
  #chunks: Buffer[];
  #out: Buffer;
  #outOff: number;
  #total: number;
  #waiters: (() => void)[];
  result: Buffer | null;
  done: boolean;

  constructor(ctx: ZContext, data: Buffer, ownsCtx: boolean, reset: boolean) {
    this.#ctx = ctx;
    this.#data = data;
    this.#ownsCtx = ownsCtx;
    this.#reset = reset;
    this.#in = 0;
    this.#chunks = [];
    this.#out = EMPTY;
    this.#outOff = 0;
    this.#total = 0;
    this.#waiters = [];
    this.result = null;
    this.done = false;
  }

  /** The first slice runs in the next loop turn (the caller's turn has its own work to finish). */
  start(): void {
    setImmediate(runDeflateStep, this);
  }

  /** Calls `fn` once the job is done (at once if it is). */
  whenDone(fn: () => void): void {
    if (this.done) fn();
    else this.#waiters.push(fn);
  }

  /** One slice; schedules the next, or ends. */
  step(): void {
    if (this.done) return;
    const data = this.#data;
    const n = data.length;
    const take = Math.min(DEFLATE_SLICE_BYTES, n - this.#in);
    const last = this.#in + take === n;
    this.#feed(this.#in, take, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
    this.#in += take;
    if (this.#ctx.error !== null) {
      this.#end();
      return;
    }
    if (!last) {
      setImmediate(runDeflateStep, this);
      return;
    }
    const chunks = this.#chunks;
    chunks.push(this.#out.subarray(0, this.#outOff));
    const total = this.#total + this.#outOff;
    // A whole message of more than one slice never flushes to nothing: its last write holds at least the marker.
    const out = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    deflateStats.compressed++;
    deflateStats.compressedBytesIn += n;
    deflateStats.compressedBytesOut += total - 4;
    this.result = out.subarray(0, total - 4);
    this.#end();
  }

  /** Feeds `len` input bytes from `off`, collecting whatever zlib emits into output chunks. */
  #feed(off: number, len: number, flush: number): void {
    const ctx = this.#ctx;
    let inOff = off;
    let inLen = len;
    for (;;) {
      if (this.#outOff === this.#out.length) {
        if (this.#outOff > 0) this.#chunks.push(this.#out);
        this.#total += this.#outOff;
        // Chunks grow with the output (few buffers for a large incompressible message, little for a small one).
        this.#out = Buffer.allocUnsafe(Math.min(Math.max(64 * 1024, this.#total), 4 * 1024 * 1024));
        this.#outOff = 0;
      }
      const room = this.#out.length - this.#outOff;
      const [written, left] = ctx.write(this.#data, inOff, inLen, this.#out, this.#outOff, room, flush);
      this.#outOff += written;
      inOff += inLen - left;
      inLen = left;
      if (ctx.error !== null) return;
      // Room left over: all input taken and (for a flush) everything emitted.
      if (written < room) return;
    }
  }

  /** Stops: `result` stays null; the context is released (ours) or reset (the codec's, mid-message). */
  cancel(): void {
    if (this.done) return;
    this.#end();
  }

  #end(): void {
    this.done = true;
    this.#chunks = [];
    this.#out = EMPTY;
    const ctx = this.#ctx;
    if (this.#ownsCtx) ctx.close();
    else if (this.result === null || this.#reset) {
      // Mid-message or broken, the codec's own context must not carry this message's history into the next.
      if (ctx.error !== null) ctx.close();
      else ctx.reset();
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (let i = 0; i < waiters.length; i++) (waiters[i] as () => void)();
  }
}

function runDeflateStep(job: DeflateJob): void {
  job.step();
}
