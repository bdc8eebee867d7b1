/**
 * Test helpers for the WebSocket core: build raw frames byte by byte (independently of src/ws/frame.ts), decode
 * what a core wrote, record what it reported, and replay input at every split (`feedAllSplits`).
 */

import assert from 'node:assert/strict';
import type { ProtocolError } from '../../src/errors.js';
import { SIDE_CLIENT, SIDE_SERVER, type WsHandler, WsProtocol, type WsSink } from '../../src/ws/protocol.js';

/** A frame to build. Defaults: fin, no RSV, masked with key 01 02 03 04 (a client frame), minimal length. */
export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** A 4-byte key, `true` for 01 02 03 04, `false` for an unmasked (server) frame. */
  mask?: Buffer | boolean;
  /** Force the length encoding: 7, 16 or 64 bits (non-minimal encodings are legal to receive). */
  lengthBits?: 7 | 16 | 64;
  /** Write this 64-bit length instead of the payload's (implies lengthBits 64); for bogus lengths. */
  length64?: bigint;
}

export const TEST_KEY: Buffer = Buffer.from([0x01, 0x02, 0x03, 0x04]);

/** Builds one raw frame. */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const fin = spec.fin ?? true;
  const key = spec.mask === false ? undefined : spec.mask === true || spec.mask === undefined ? TEST_KEY : spec.mask;
  const b0 =
    (fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) | (spec.opcode & 0xf);
  const len = payload.length;
  const bits = spec.length64 !== undefined ? 64 : (spec.lengthBits ?? (len < 126 ? 7 : len < 65536 ? 16 : 64));
  const parts: Buffer[] = [];
  const maskBit = key ? 0x80 : 0;
  if (bits === 7) {
    parts.push(Buffer.from([b0, maskBit | len]));
  } else if (bits === 16) {
    const h = Buffer.alloc(4);
    h[0] = b0;
    h[1] = maskBit | 126;
    h.writeUInt16BE(len, 2);
    parts.push(h);
  } else {
    const h = Buffer.alloc(10);
    h[0] = b0;
    h[1] = maskBit | 127;
    h.writeBigUInt64BE(spec.length64 ?? BigInt(len), 2);
    parts.push(h);
  }
  if (key) {
    parts.push(Buffer.from(key));
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ key[i & 3]!;
    parts.push(masked);
  } else {
    parts.push(Buffer.from(payload));
  }
  return Buffer.concat(parts);
}

/** A close frame payload: 2-byte code and a reason (string or raw bytes). */
export function closeBody(code: number, reason: string | Buffer = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** A decoded frame. */
export interface DecodedFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** A frame read off a socket, with its raw header (for length-encoding and RSV checks) and masking key. */
export interface StreamFrame extends DecodedFrame {
  rsv2: boolean;
  rsv3: boolean;
  /** Header bytes up to (not including) the masking key. */
  header: Buffer;
  /** The 4-byte masking key, or null for an unmasked frame. */
  maskKey: Buffer | null;
}

/**
 * Incremental reader of the frames a peer sends (raw test client and raw test server): a chunk list, one copy
 * per complete frame, payloads unmasked.
 */
export class StreamFrameReader {
  frames: StreamFrame[] = [];
  #chunks: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    for (;;) {
      const need = this.#needed();
      if (need < 0 || this.#length < need) return;
      const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#length);
      this.#parseOne(all, need);
    }
  }

  /** Bytes the next frame needs in total, or -1 when its header is not complete yet. */
  #needed(): number {
    if (this.#length < 2) return -1;
    const first = this.#chunks[0] as Buffer;
    const head = first.length >= 14 ? first : Buffer.concat(this.#chunks, this.#length).subarray(0, 14);
    const b1 = head[1] as number;
    let len = b1 & 0x7f;
    let p = 2;
    if (len === 126) {
      if (head.length < 4) return -1;
      len = head.readUInt16BE(2);
      p = 4;
    } else if (len === 127) {
      if (head.length < 10) return -1;
      len = Number(head.readBigUInt64BE(2));
      p = 10;
    }
    if (b1 & 0x80) p += 4;
    return p + len;
  }

  #parseOne(all: Buffer, total: number): void {
    const b0 = all[0] as number;
    const b1 = all[1] as number;
    let len = b1 & 0x7f;
    let p = 2;
    if (len === 126) {
      len = all.readUInt16BE(2);
      p = 4;
    } else if (len === 127) {
      len = Number(all.readBigUInt64BE(2));
      p = 10;
    }
    const header = Buffer.from(all.subarray(0, p));
    let maskKey: Buffer | null = null;
    if (b1 & 0x80) {
      maskKey = Buffer.from(all.subarray(p, p + 4));
      p += 4;
    }
    const payload = Buffer.from(all.subarray(p, p + len));
    if (maskKey !== null) {
      for (let i = 0; i < len; i++) payload[i] = (payload[i] as number) ^ (maskKey[i & 3] as number);
    }
    this.frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0xf,
      masked: maskKey !== null,
      payload,
      header,
      maskKey,
    });
    const rest = all.subarray(total);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
  }
}

/** Decodes a stream of complete frames (a straightforward reference reader; throws on truncation). */
export function decodeFrames(bytes: Buffer): DecodedFrame[] {
  const out: DecodedFrame[] = [];
  let p = 0;
  while (p < bytes.length) {
    assert.ok(p + 2 <= bytes.length, 'truncated frame header');
    const b0 = bytes[p]!;
    const b1 = bytes[p + 1]!;
    p += 2;
    let len = b1 & 0x7f;
    if (len === 126) {
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Buffer | undefined;
    if (masked) {
      key = bytes.subarray(p, p + 4);
      p += 4;
    }
    assert.ok(p + len <= bytes.length, 'truncated payload');
    const payload = Buffer.from(bytes.subarray(p, p + len));
    if (key) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    p += len;
    out.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0xf, masked, payload });
  }
  return out;
}

/** A sink that keeps copies of what was written and counts `end()` calls. */
export class ArraySink implements WsSink {
  chunks: Buffer[] = [];
  ends = 0;
  write(chunk: Buffer): void {
    assert.equal(this.ends, 0, 'write after end');
    this.chunks.push(Buffer.from(chunk));
  }
  end(): void {
    this.ends++;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  /** The frames written so far. */
  frames(): DecodedFrame[] {
    return decodeFrames(this.bytes);
  }
}

/** One recorded event. Text payloads as strings, binary ones (and control payloads) as hex. */
export type WsEvent =
  | ['message', 'text' | 'binary', string, boolean]
  | ['ping', string]
  | ['pong', string]
  | ['close', number, string]
  | ['error', number, string];

/** A handler that records events as plain tuples (comparable with deepEqual). */
export class RecordingHandler implements WsHandler {
  events: WsEvent[] = [];
  errors: ProtocolError[] = [];
  /** Called after each recorded event, to let a test act from inside a callback. */
  after: ((e: WsEvent) => void) | undefined = undefined;
  onMessage(binary: boolean, data: Buffer, rsv1: boolean): void {
    this.#push([
      'message',
      binary ? 'binary' : 'text',
      binary || rsv1 ? data.toString('hex') : data.toString('utf8'),
      rsv1,
    ]);
  }
  onPing(data: Buffer): void {
    this.#push(['ping', data.toString('hex')]);
  }
  onPong(data: Buffer): void {
    this.#push(['pong', data.toString('hex')]);
  }
  onClose(code: number, reason: string): void {
    this.#push(['close', code, reason]);
  }
  onError(err: ProtocolError): void {
    this.errors.push(err);
    this.#push(['error', err.closeCode, err.code]);
  }
  #push(e: WsEvent): void {
    this.events.push(e);
    this.after?.(e);
  }
}

/** A core with its recording handler and array sink. */
export interface Core {
  ws: WsProtocol;
  handler: RecordingHandler;
  sink: ArraySink;
}

/** Options of `makeCore`. */
export interface CoreOptions {
  side?: 0 | 1;
  maxPayload?: number;
  rsv1Allowed?: boolean;
  /** Streaming receive; takes effect with a handler that has `onMessageChunk`. */
  streamThreshold?: number;
  /** Most frames per message (the core's default when absent; 0: no limit). */
  maxFragments?: number;
}

/** A server (default) or client core wired to a recording handler (or `handler`) and an array sink. */
export function makeCore<H extends RecordingHandler = RecordingHandler>(
  options: CoreOptions = {},
  handler: H = new RecordingHandler() as H,
): Core & { handler: H } {
  const sink = new ArraySink();
  const ws = new WsProtocol(
    {
      side: options.side ?? SIDE_SERVER,
      maxPayload: options.maxPayload ?? 64 * 1024 * 1024,
      rsv1Allowed: options.rsv1Allowed ?? false,
      streamThreshold: options.streamThreshold,
      maxFragments: options.maxFragments,
    },
    handler,
    sink,
  );
  return { ws, handler, sink };
}

/**
 * Feeds copies of `chunks` to `ws`. `ephemeral`: as a shared read buffer, each copy is only valid during its
 * `receive` call and is overwritten right after it (so a piece the core kept without copying would be corrupted).
 */
export function feedCopies(ws: WsProtocol, chunks: readonly Buffer[], ephemeral = false): void {
  for (const c of chunks) {
    const copy = Buffer.from(c);
    ws.receive(copy, ephemeral);
    if (ephemeral) copy.fill(0xee);
  }
}

/** What a core did with some input: its events, the frames it wrote, `end()` calls and final flags. */
export interface Outcome {
  events: WsEvent[];
  written: { opcode: number; fin: boolean; rsv1: boolean; masked: boolean; payload: string }[];
  ends: number;
  state: number;
  closeSent: boolean;
  closeReceived: boolean;
  closeCode: number;
}

/** Feeds `chunks` (copied first: the core unmasks in place) to a fresh core and records the outcome. */
export function runCore(chunks: readonly Buffer[], options: CoreOptions = {}): Outcome {
  const { ws, handler, sink } = makeCore(options);
  for (const c of chunks) ws.receive(Buffer.from(c));
  return outcome(ws, handler, sink);
}

/** The outcome of a core so far. */
export function outcome(ws: WsProtocol, handler: RecordingHandler, sink: ArraySink): Outcome {
  return {
    events: handler.events,
    written: sink.frames().map((f) => ({
      opcode: f.opcode,
      fin: f.fin,
      rsv1: f.rsv1,
      masked: f.masked,
      payload: f.payload.toString('hex'),
    })),
    ends: sink.ends,
    state: ws.state,
    closeSent: ws.closeSent,
    closeReceived: ws.closeReceived,
    closeCode: ws.closeCode,
  };
}

/** Every way to feed `bytes`: whole, byte by byte, and every two-way split (fresh copies each time). */
export function* allSplits(bytes: Buffer): Generator<Buffer[]> {
  yield [Buffer.from(bytes)];
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(Buffer.from(bytes.subarray(i, i + 1)));
  yield single;
  for (let i = 1; i < bytes.length; i++) yield [Buffer.from(bytes.subarray(0, i)), Buffer.from(bytes.subarray(i))];
}

/**
 * Feeds `bytes` to fresh cores as one chunk, byte by byte and at every two-way split, asserts that all runs give
 * the same outcome, and returns it.
 */
export function feedAllSplits(bytes: Buffer, options: CoreOptions = {}): Outcome {
  let first: Outcome | undefined;
  let n = 0;
  for (const chunks of allSplits(bytes)) {
    const o = runCore(chunks, options);
    if (first === undefined) first = o;
    else assert.deepEqual(o, first, `split #${n} (${chunks.map((c) => c.length).join('+')}) differs`);
    n++;
  }
  return first!;
}

/** Concatenates raw frames. */
export function stream(...frames: Buffer[]): Buffer {
  return Buffer.concat(frames);
}

/** The close code carried by a written close frame payload (hex), or 1005 when empty. */
export function closeCodeOf(payloadHex: string): number {
  const b = Buffer.from(payloadHex, 'hex');
  return b.length >= 2 ? b.readUInt16BE(0) : 1005;
}

export { SIDE_CLIENT, SIDE_SERVER };
