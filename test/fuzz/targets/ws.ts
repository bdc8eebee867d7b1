/**
 * Fuzz targets of the WebSocket core: `ws-frames` (FrameParser, in the four configurations of masking and RSV1) and
 * `ws-protocol-{server,client}[-deflate]` (WsProtocol in each role, with and without RSV1 allowed).
 *
 * Oracles (see docs/fuzzing.md): the frames the parser reports are those of the reference decoder of RFC 6455 §5.2
 * (reference/rfc6455.ts), header by header and payload by payload (gathered or streamed), and its error is one the
 * rule broken is documented with; the protocol core does what the reference receiver does: the same messages,
 * pings, pongs and close, the same frames written (pong, close echo, or the failure's close frame with its code and
 * message), the same error; in one piece, byte by byte and at random splits alike; with ephemeral input (a shared read
 * buffer, overwritten after each call) nothing it kept changes; nothing is written outside the chunk it was given;
 * nothing is reported after an error or a close; `end()` at the right time; never an exception.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { ProtocolError } from '../../../src/errors.js';
import { FrameParser, type FrameReceiver, STOPPED } from '../../../src/ws/frame-parser.js';
import {
  SIDE_CLIENT,
  SIDE_SERVER,
  WS_CLOSED,
  type WsHandler,
  WsProtocol,
  type WsSink,
} from '../../../src/ws/protocol.js';
import type { FuzzTarget } from '../engine.js';
import { hash32, type Mutator, type Rng } from '../mutate.js';
import { checkWsError, chunksOf, Guarded, sameAs, splitsOf } from '../oracle.js';
import { decodeFrames, type LooseFrame, looseDecode, looseEncode, receive } from '../reference/rfc6455.js';

// --- FrameParser ------------------------------------------------------------------------------------------

interface SeenFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  length: number;
  /** Payload bytes reported (gathered whole, or the streamed pieces joined), hex. */
  data: string;
  complete: boolean;
}

class FrameRecorder implements FrameReceiver {
  frames: SeenFrame[] = [];
  error: [number, string] | null = null;
  /** Payloads handed on whole, kept as given, with a copy taken during the call (ephemeral input check). */
  kept: [Buffer, string][] = [];
  parts: Buffer[] = [];
  stopped = false;
  parser: FrameParser | null = null;
  /** Stream payloads of binary frames from this length on. */
  readonly streamFrom: number;
  /** Answer false at this callback (counted from 1), 0 never. */
  readonly stopAt: number;
  #calls = 0;
  constructor(streamFrom: number, stopAt: number) {
    this.streamFrom = streamFrom;
    this.stopAt = stopAt;
  }
  #call(): boolean {
    assert.ok(!this.stopped, 'a callback after one answered false');
    assert.equal(this.error, null, 'a callback after onFrameError');
    if (++this.#calls === this.stopAt) {
      this.stopped = true;
      return false;
    }
    return true;
  }
  onFrameHeader(fin: boolean, rsv1: boolean, opcode: number, length: number): boolean {
    const last = this.frames.at(-1);
    assert.ok(last === undefined || last.complete, 'a header before the previous payload was complete');
    this.frames.push({ fin, rsv1, opcode, length, data: '', complete: length === 0 });
    this.parts = [];
    const parser = this.parser!;
    assert.equal(parser.streamPayload, false, 'streamPayload is cleared before each header');
    if (opcode === 2 && length >= this.streamFrom) parser.streamPayload = true;
    return this.#call();
  }
  onFramePart(part: Buffer): boolean {
    const f = this.frames.at(-1)!;
    assert.ok(!f.complete && part.length > 0, 'a part outside a payload, or empty');
    this.parts.push(Buffer.from(part));
    f.data += part.toString('hex');
    if (this.parser!.streamPayload) return this.#call();
    // A gathered payload's pieces come in order: the data so far is their concatenation.
    return this.#call();
  }
  onFramePayload(payload: Buffer): boolean {
    const f = this.frames.at(-1)!;
    assert.ok(!f.complete || f.length === 0, 'a second payload for one frame');
    if (this.parser!.streamPayload) {
      f.data += payload.toString('hex');
    } else {
      if (this.parts.length > 0) {
        assert.equal(Buffer.concat(this.parts).toString('hex'), payload.toString('hex'), 'parts != payload');
      }
      f.data = payload.toString('hex');
      this.kept.push([payload, f.data]);
    }
    assert.equal(f.data.length / 2, f.length, 'payload length');
    f.complete = true;
    return this.#call();
  }
  onFrameError(error: ProtocolError): void {
    checkWsError(error);
    assert.ok(!this.stopped, 'an error after a callback answered false');
    assert.equal(this.error, null, 'a second error');
    this.error = [error.closeCode, error.code];
  }
}

interface FrameRun {
  frames: SeenFrame[];
  error: [number, string] | null;
  stopped: boolean;
}

function runFrameParser(
  data: Buffer,
  cuts: number[],
  cfg: { expectMasked: boolean; rsv1Allowed: boolean },
  ephemeral: boolean,
  streamFrom: number,
  stopAt: number,
): FrameRun {
  const rec = new FrameRecorder(streamFrom, stopAt);
  const parser = new FrameParser(cfg, rec);
  rec.parser = parser;
  for (const piece of chunksOf(data, { name: '', cuts })) {
    const g = new Guarded(piece);
    parser.receive(g.chunk, ephemeral);
    g.check('FrameParser.receive');
    // A shared read buffer is reused at once: nothing kept from it may change.
    if (ephemeral) g.chunk.fill(0xee);
    if (rec.stopped || rec.error !== null) assert.equal(parser.state, STOPPED, 'not stopped');
  }
  for (const [buf, hex] of rec.kept) {
    assert.equal(
      buf.toString('hex'),
      hex,
      ephemeral ? 'a payload kept from an ephemeral chunk changed' : 'a payload changed',
    );
  }
  // The bytes held are what was read of an unfinished frame: at most its header (14) and payload.
  assert.ok(parser.bufferedBytes >= 0 && parser.bufferedBytes <= data.length, 'bufferedBytes');
  return { frames: rec.frames, error: rec.error, stopped: rec.stopped };
}

function checkFramesAgainstReference(
  data: Buffer,
  run: FrameRun,
  cfg: { expectMasked: boolean; rsv1Allowed: boolean },
) {
  const ref = decodeFrames(data, cfg.expectMasked, cfg.rsv1Allowed);
  const expected = ref.frames.map((f) => ({
    fin: f.fin,
    rsv1: f.rsv1,
    opcode: f.opcode,
    length: f.length,
    data: f.payload.toString('hex'),
    complete: f.complete,
  }));
  sameAs(run.frames, expected, 'frames vs the RFC 6455 §5.2 reference decoder');
  if (ref.error === null) assert.equal(run.error, null, `${run.error?.[1]} for frames the reference accepts`);
  else {
    assert.ok(run.error !== null, `no error; the reference says ${ref.error.codes.join(' | ')}`);
    assert.equal(run.error[0], ref.error.closeCode, 'close code');
    assert.ok(
      ref.error.codes.includes(run.error[1]),
      `${run.error[1]}; the reference says ${ref.error.codes.join(' | ')}`,
    );
  }
}

const FRAME_CONFIGS = [
  { expectMasked: true, rsv1Allowed: false },
  { expectMasked: true, rsv1Allowed: true },
  { expectMasked: false, rsv1Allowed: false },
  { expectMasked: false, rsv1Allowed: true },
] as const;

// --- structure-aware mutations ----------------------------------------------------------------------------

const TEXTS = ['', 'a', 'hello', 'κόσμε', '\u{1F600}', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(300)];
const BAD_UTF8 = [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xff], [0xce, 0xba, 0xe1]];
const CLOSE_CODES = [
  0, 999, 1000, 1001, 1004, 1005, 1006, 1007, 1011, 1012, 1014, 1015, 1016, 2999, 3000, 4999, 5000, 65535,
];

function randomPayload(rng: Rng): Buffer {
  switch (rng.below(5)) {
    case 0:
      return Buffer.from(rng.pick(TEXTS));
    case 1:
      return Buffer.from(rng.pick(BAD_UTF8));
    case 2: {
      const code = Buffer.alloc(2);
      code.writeUInt16BE(rng.pick(CLOSE_CODES));
      return Buffer.concat([code, Buffer.from(rng.chance(0.5) ? rng.pick(TEXTS).slice(0, 20) : '\xff', 'utf8')]);
    }
    case 3: {
      const b = Buffer.alloc(rng.below(300));
      for (let i = 0; i < b.length; i++) b[i] = rng.below(256);
      return b;
    }
    default:
      return Buffer.alloc(rng.pick([0, 1, 2, 125, 126, 127, 256, 257, 1000]), 0x61);
  }
}

function newFrame(rng: Rng, masked: boolean): LooseFrame {
  const key = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) key[i] = rng.below(256);
  return {
    b0: (rng.chance(0.8) ? 0x80 : 0) | rng.pick([0, 1, 2, 8, 9, 10, 1, 2, 3, 0xb, 0x41, 0x42]),
    masked,
    key,
    payload: randomPayload(rng),
    lengthBits: rng.pick([7, 7, 7, 16, 64] as const),
  };
}

/** Frame-level mutations: decode leniently, change one frame or the frame list, encode again. */
const frameMutator: Mutator = (data, rng, maxLen) => {
  const frames = looseDecode(data);
  const masked = frames[0]?.masked ?? rng.chance(0.5);
  const i = rng.below(frames.length);
  const f = frames[i];
  switch (rng.below(10)) {
    case 0:
      frames.splice(rng.below(frames.length + 1), 0, newFrame(rng, masked));
      break;
    case 1:
      if (f === undefined) return null;
      frames.splice(i, 1);
      break;
    case 2:
      if (f === undefined) return null;
      frames.splice(i, 0, { ...f, payload: Buffer.from(f.payload) });
      break;
    case 3:
      if (f === undefined) return null;
      f.b0 = (f.b0 & 0xf0) | rng.pick([0, 1, 2, 8, 9, 10, rng.below(16)]);
      break;
    case 4:
      if (f === undefined) return null;
      f.b0 ^= rng.pick([0x80, 0x40, 0x20, 0x10]);
      break;
    case 5:
      if (f === undefined) return null;
      f.payload = randomPayload(rng);
      break;
    case 6: {
      // Split a data frame in two fragments (text split inside a character, sometimes).
      if (f === undefined || f.payload.length < 2) return null;
      const at = 1 + rng.below(f.payload.length - 1);
      const first: LooseFrame = { ...f, b0: f.b0 & 0x7f, payload: f.payload.subarray(0, at) };
      const second: LooseFrame = { ...f, b0: (f.b0 & 0x80) | 0x00, payload: f.payload.subarray(at) };
      frames.splice(i, 1, first, second);
      break;
    }
    case 7:
      if (f === undefined) return null;
      f.lengthBits = rng.pick([7, 16, 64] as const);
      break;
    case 8:
      if (f === undefined) return null;
      f.masked = !f.masked;
      break;
    default:
      if (frames.length < 2) return null;
      frames.push(frames.splice(i, 1)[0]!);
  }
  const out = looseEncode(frames);
  return out.length > maxLen ? null : out;
};

const WS_DICTIONARY: readonly (string | Uint8Array)[] = [
  new Uint8Array([0x81, 0x80]),
  new Uint8Array([0x82, 0xfe]),
  new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0]),
  new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]),
  new Uint8Array([0x82, 0xff, 0, 0x20, 0, 0, 0, 0, 0, 0]),
  new Uint8Array([0x88, 0x82]),
  new Uint8Array([0x89, 0x80]),
  new Uint8Array([0x8a, 0x80]),
  new Uint8Array([0x01, 0x80]),
  new Uint8Array([0x80, 0x80]),
  new Uint8Array([0xc1, 0x80]),
  new Uint8Array([0x03, 0xe8]),
  new Uint8Array([0x03, 0xed]),
  new Uint8Array([0xce, 0xba, 0xe1, 0xbd, 0xb9]),
  new Uint8Array([0xed, 0xa0, 0x80]),
  new Uint8Array([0xf4, 0x90, 0x80, 0x80]),
];

export const wsFramesTarget: FuzzTarget = {
  name: 'ws-frames',
  checks:
    'FrameParser (4 configs) vs a reference RFC 6455 §5.2 decoder: frames, payloads, errors; any split; ephemeral',
  corpus: ['ws-server', 'ws-client', 'ws-server-deflate', 'ws-client-deflate'],
  dictionary: WS_DICTIONARY,
  maxLen: 4096,
  mutators: [frameMutator],
  run(data: Buffer): void {
    const h = hash32(data);
    const streamFrom = 1 + (h % 64);
    const stopAt = 1 + ((h >>> 8) % 12);
    for (const cfg of FRAME_CONFIGS) {
      const whole = runFrameParser(data, [], cfg, false, Number.POSITIVE_INFINITY, 0);
      checkFramesAgainstReference(data, whole, cfg);
      for (const s of splitsOf(data, 512).slice(1)) {
        sameAs(runFrameParser(data, s.cuts, cfg, false, Number.POSITIVE_INFINITY, 0), whole, s.name);
        // Ephemeral chunks, and streamed binary payloads: the same frames.
        sameAs(runFrameParser(data, s.cuts, cfg, true, streamFrom, 0), whole, `${s.name}, ephemeral, streamed`);
      }
      // A receiver that answers false: nothing after it (checked in the recorder).
      runFrameParser(data, splitsOf(data, 0).at(-1)!.cuts, cfg, true, streamFrom, stopAt);
    }
  },
};

// --- WsProtocol ---------------------------------------------------------------------------------------------

class Sink implements WsSink {
  chunks: Buffer[] = [];
  ends = 0;
  writeCopy?: (src: Uint8Array, start: number, end: number) => void;
  constructor(withCopy: boolean) {
    if (withCopy) this.writeCopy = (src, start, end) => this.push(Buffer.from(src.subarray(start, end)));
  }
  push(b: Buffer): void {
    assert.equal(this.ends, 0, 'a write after end()');
    this.chunks.push(b);
  }
  write(chunk: Buffer): void {
    // The core never reuses a Buffer it has written: keep it as given, compare at the end.
    this.push(chunk);
  }
  end(): void {
    this.ends++;
  }
}

type Ev =
  | ['message', 'text' | 'binary', string, boolean]
  | ['ping', string]
  | ['pong', string]
  | ['close', number, string]
  | ['error', number, string];

class Recorder implements WsHandler {
  events: Ev[] = [];
  errors: ProtocolError[] = [];
  kept: [Buffer, string][] = [];
  /** Pieces of a streamed message so far (hex), and its kind. */
  streamed = '';
  streamedBinary = false;
  over = false;
  onMessageChunk?: (binary: boolean, data: Buffer, first: boolean, last: boolean) => void;
  constructor(streaming: boolean) {
    if (streaming) {
      this.onMessageChunk = (binary, data, first, last) => {
        this.#check();
        if (first) {
          assert.equal(this.streamed, '', 'a new streamed message before the last one ended');
          this.streamedBinary = binary;
        } else assert.equal(binary, this.streamedBinary, 'binary changed within a message');
        // Valid during the call only: copy.
        this.streamed += data.toString('hex');
        if (last) {
          this.events.push(['message', binary ? 'binary' : 'text', this.streamed, false]);
          this.streamed = '';
        }
      };
    }
  }
  #check(): void {
    assert.ok(!this.over, 'an event after an error or a close');
  }
  #keep(data: Buffer): string {
    const hex = data.toString('hex');
    this.kept.push([data, hex]);
    return hex;
  }
  onMessage(binary: boolean, data: Buffer, rsv1: boolean): void {
    this.#check();
    assert.equal(this.streamed, '', 'a message inside a streamed message');
    this.events.push(['message', binary ? 'binary' : 'text', this.#keep(data), rsv1]);
  }
  onPing(data: Buffer): void {
    this.#check();
    this.events.push(['ping', this.#keep(data)]);
  }
  onPong(data: Buffer): void {
    this.#check();
    this.events.push(['pong', this.#keep(data)]);
  }
  onClose(code: number, reason: string): void {
    this.#check();
    this.over = true;
    this.events.push(['close', code, reason]);
  }
  onError(err: ProtocolError): void {
    this.#check();
    checkWsError(err);
    this.over = true;
    this.errors.push(err);
    this.events.push(['error', err.closeCode, err.code]);
  }
}

interface ProtoConfig {
  server: boolean;
  rsv1Allowed: boolean;
}

const MAX_PAYLOAD = 1000;
const MAX_FRAGMENTS = 6;

interface ProtoRun {
  events: Ev[];
  /** Written frames: [opcode, payload hex] (unmasked), checked for masking and FIN on the way. */
  written: [number, string][];
  endsBeforeEof: number;
  partial: string;
  closeReceived: boolean;
  closeCode: number;
  errorMessage: string | null;
}

function decodeWritten(bytes: Buffer, masked: boolean): [number, string][] {
  const frames = decodeFrames(bytes, masked, false);
  assert.equal(frames.error, null, 'the core wrote a frame that breaks RFC 6455 §5');
  const out: [number, string][] = [];
  let total = 0;
  for (const f of frames.frames) {
    assert.ok(f.complete && f.fin && !f.rsv1, 'a written control frame is whole, FIN set, RSV1 clear');
    out.push([f.opcode, f.payload.toString('hex')]);
  }
  for (const f of frames.frames) total += f.length;
  assert.ok(total <= bytes.length, 'written frames');
  return out;
}

function runProtocol(data: Buffer, cuts: number[], cfg: ProtoConfig, variant: boolean): ProtoRun {
  const rec = new Recorder(variant);
  const sink = new Sink(variant);
  const ws = new WsProtocol(
    {
      side: cfg.server ? SIDE_SERVER : SIDE_CLIENT,
      maxPayload: MAX_PAYLOAD,
      rsv1Allowed: cfg.rsv1Allowed,
      streamThreshold: variant ? 16 : undefined,
      maxFragments: MAX_FRAGMENTS,
    },
    rec,
    sink,
  );
  for (const piece of chunksOf(data, { name: '', cuts })) {
    const g = new Guarded(piece);
    ws.receive(g.chunk, variant);
    g.check('WsProtocol.receive');
    if (variant) g.chunk.fill(0xee);
  }
  const endsBeforeEof = sink.ends;
  ws.receiveEof();
  assert.equal(ws.state, WS_CLOSED, 'CLOSED after receiveEof');
  assert.equal(sink.ends, 1, 'end() once in all');
  for (const [buf, hex] of rec.kept) assert.equal(buf.toString('hex'), hex, 'data handed on changed afterwards');
  const written = decodeWritten(Buffer.concat(sink.chunks), !cfg.server);
  return {
    events: rec.events,
    written,
    endsBeforeEof,
    partial: rec.streamed,
    closeReceived: ws.closeReceived,
    closeCode: ws.closeCode,
    errorMessage: rec.errors[0]?.message ?? null,
  };
}

/** The close reason of a failure: the error's message cut to 123 bytes (RFC 6455 §5.5.1). */
function reasonOf(message: string): string {
  let r = message;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

function checkProtocol(data: Buffer, run: ProtoRun, cfg: ProtoConfig): void {
  const model = receive(data, {
    server: cfg.server,
    rsv1Allowed: cfg.rsv1Allowed,
    maxPayload: MAX_PAYLOAD,
    maxFragments: MAX_FRAGMENTS,
  });
  const expected = model.events;
  assert.equal(
    run.events.length,
    expected.length,
    `events: ${JSON.stringify(run.events)} vs ${JSON.stringify(expected)}`,
  );
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = run.events[i]!;
    if (e[0] === 'error') {
      assert.equal(a[0], 'error', `event ${i}`);
      assert.equal(a[1], e[1], `event ${i}: close code`);
      assert.ok(e[2].includes(a[2] as string), `event ${i}: ${a[2]}; the reference says ${e[2].join(' | ')}`);
    } else sameAs(a, e, `event ${i}`);
  }
  assert.equal(run.written.length, model.written.length, `frames written: ${JSON.stringify(run.written)}`);
  for (let i = 0; i < model.written.length; i++) {
    const w = model.written[i]!;
    const [opcode, hex] = run.written[i]!;
    if (w[0] === 'pong') sameAs([opcode, hex], [10, w[1]], `written ${i}: pong`);
    else if (w[0] === 'close') sameAs([opcode, hex], [8, w[1]], `written ${i}: close echo`);
    else {
      const reason = Buffer.from(reasonOf(run.errorMessage ?? '')).toString('hex');
      sameAs([opcode, hex], [8, w[1].toString(16).padStart(4, '0') + reason], `written ${i}: failure close frame`);
    }
  }
  assert.equal(run.closeReceived, model.closeReceived, 'closeReceived');
  assert.equal(run.closeCode, model.closeCode, 'closeCode');
  // RFC 6455 §7.1.1: the server closes TCP after the close handshake or a failure; a client waits for it.
  assert.equal(run.endsBeforeEof, cfg.server && model.over ? 1 : 0, 'end() before EOF');
}

function protocolTarget(name: string, cfg: ProtoConfig, corpus: string): FuzzTarget {
  return {
    name,
    checks: `WsProtocol ${cfg.server ? 'server' : 'client'}${cfg.rsv1Allowed ? ' with RSV1' : ''} vs a reference receiver (RFC 6455 §5-§8): events, frames written, errors; any split`,
    corpus: [corpus],
    dictionary: WS_DICTIONARY,
    maxLen: 4096,
    mutators: [frameMutator],
    run(data: Buffer): void {
      for (const variant of [false, true]) {
        const whole = runProtocol(data, [], cfg, variant);
        for (const s of splitsOf(data, 512).slice(1)) {
          const other = runProtocol(data, s.cuts, cfg, variant);
          // A streamed message cut short by an error or the end: how much was handed on depends on the reads.
          if (variant) {
            assert.ok(
              whole.partial.startsWith(other.partial) || other.partial.startsWith(whole.partial),
              'streamed pieces',
            );
            other.partial = whole.partial;
          }
          sameAs(other, whole, `${variant ? 'ephemeral, streaming, writeCopy: ' : ''}${s.name}`);
        }
        checkProtocol(data, whole, cfg);
      }
    },
  };
}

export const wsServerTarget = protocolTarget('ws-protocol-server', { server: true, rsv1Allowed: false }, 'ws-server');
export const wsServerDeflateTarget = protocolTarget(
  'ws-protocol-server-deflate',
  { server: true, rsv1Allowed: true },
  'ws-server-deflate',
);
export const wsClientTarget = protocolTarget('ws-protocol-client', { server: false, rsv1Allowed: false }, 'ws-client');
export const wsClientDeflateTarget = protocolTarget(
  'ws-protocol-client-deflate',
  { server: false, rsv1Allowed: true },
  'ws-client-deflate',
);
