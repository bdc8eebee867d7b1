/**
 * Property tests (fast-check, seeded, bounded runs) for the streaming receive path of the WebSocket core
 * (`streamThreshold` with `onMessageChunk`):
 * 1. Any stream of valid frames (fragmented messages with empty fragments, interleaved control frames, random
 *    keys and length encodings, an optional close), split anywhere, with any threshold: the pieces are exactly
 *    the intersections of each streamed frame's payload with the reads (an empty final frame gives an empty last
 *    piece), joined they are the messages, and the events and output equal the non-streaming core's. Once with
 *    the messages that reach the threshold sent as one frame (streamed), once with them fragmented too (never
 *    streamed: a fragmented message comes whole, whatever the size of its first frame).
 * 2. On any input (random bytes, valid streams with bytes corrupted), a streaming core never throws and reports
 *    the same events and writes the same bytes as a non-streaming one; its pieces are well-formed and text
 *    pieces are valid UTF-8 so far.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { WsHandler } from '../../src/ws/protocol.js';
import { closeArb, keyArb, messageArb } from '../helpers/ws-arbitraries.js';
import {
  type CoreOptions,
  closeBody,
  feedCopies,
  frame,
  makeCore,
  type Outcome,
  outcome,
  RecordingHandler,
  runCore,
  SIDE_CLIENT,
  SIDE_SERVER,
  type WsEvent,
} from '../helpers/ws-frames.js';

const SEED = 0x57ea3;

/** A piece handed to `onMessageChunk`. */
interface Chunk {
  binary: boolean;
  hex: string;
  first: boolean;
  last: boolean;
}

/**
 * RecordingHandler plus `onMessageChunk`: records the pieces, and turns each streamed message into the
 * `message` event a non-streaming core reports, at the place of its last piece.
 */
class StreamingHandler extends RecordingHandler implements WsHandler {
  chunks: Chunk[] = [];
  /** Bytes of the streamed message in progress. */
  pieces: Buffer[] = [];
  onMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void {
    this.chunks.push({ binary, hex: data.toString('hex'), first, last });
    if (first) this.pieces = [];
    this.pieces.push(Buffer.from(data));
    if (last) this.onMessage(binary, Buffer.concat(this.pieces), false);
  }
}

/** Feeds `chunks` to a fresh streaming core (copies; `ephemeral`: each copy is overwritten after its call). */
function runStreaming(
  chunks: readonly Buffer[],
  options: CoreOptions & { streamThreshold: number },
  ephemeral: boolean,
): { o: Outcome; handler: StreamingHandler } {
  const { ws, handler, sink } = makeCore(options, new StreamingHandler());
  feedCopies(ws, chunks, ephemeral);
  return { o: outcome(ws, handler, sink), handler };
}

const streamArb = fc.record({
  messages: fc.array(messageArb({ text: 120, cuts: 5, controls: 6 }), { maxLength: 6 }),
  close: closeArb,
  threshold: fc.oneof(fc.nat({ max: 80 }), fc.constant(0)),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
  ephemeral: fc.boolean(),
});

type StreamSpec = typeof streamArb extends fc.Arbitrary<infer T> ? T : never;

/** The payload of one data frame, where it is in the stream, and what its message is. */
interface DataFrame {
  start: number;
  payload: Buffer;
  fin: boolean;
  binary: boolean;
  /** First frame of its message. */
  opening: boolean;
}

/**
 * Builds the bytes of a stream, its data frames (up to a close) and the events a server should report.
 * `unfragmentStreamed`: a message whose first fragment would reach the threshold is sent as one frame instead, so
 * that only messages under the threshold are fragmented.
 */
function build(
  spec: StreamSpec,
  unfragmentStreamed = false,
): { bytes: Buffer; data: DataFrame[]; expected: WsEvent[] } {
  const frames: Buffer[] = [];
  const data: DataFrame[] = [];
  const expected: WsEvent[] = [];
  let offset = 0;
  const push = (f: Buffer) => {
    frames.push(f);
    offset += f.length;
  };
  for (const m of spec.messages) {
    const payload = m.binary ? Buffer.from(m.bytes) : Buffer.from(m.text);
    const cuts = m.cuts.map((c) => c % (payload.length + 1)).sort((a, b) => a - b);
    let bounds = [0, ...cuts, payload.length];
    if (unfragmentStreamed && bounds[1]! >= spec.threshold) bounds = [0, payload.length];
    for (let i = 1; i < bounds.length; i++) {
      const control = m.controls[i - 1];
      if (control !== undefined && i > 1) {
        push(frame({ opcode: control.opcode, payload: Buffer.from(control.payload), mask: control.key }));
        expected.push([control.opcode === 9 ? 'ping' : 'pong', Buffer.from(control.payload).toString('hex')]);
      }
      const piece = payload.subarray(bounds[i - 1], bounds[i]);
      const fin = i === bounds.length - 1;
      const f = frame({
        opcode: i === 1 ? (m.binary ? 2 : 1) : 0,
        fin,
        payload: piece,
        mask: m.key,
        lengthBits: m.lengthBits,
      });
      data.push({ start: offset + f.length - piece.length, payload: piece, fin, binary: m.binary, opening: i === 1 });
      push(f);
    }
    expected.push(['message', m.binary ? 'binary' : 'text', m.binary ? payload.toString('hex') : m.text, false]);
  }
  if (spec.close) {
    push(frame({ opcode: 8, payload: closeBody(spec.close.code, spec.close.reason) }));
    expected.push(['close', spec.close.code, spec.close.reason]);
    // Discarded after the close, however big.
    push(frame({ opcode: 2, payload: Buffer.alloc(200, 7) }));
  }
  return { bytes: Buffer.concat(frames), data, expected };
}

/** Sorted distinct cut points inside `bytes`. */
function points(bytes: Buffer, cuts: number[]): number[] {
  return [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
}

function chunksAt(bytes: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

/**
 * The pieces a streaming core must hand on: for each message sent as one frame of `threshold` bytes or more, its
 * payload cut at the read boundaries inside it (an empty one gives one empty last piece); fragmented messages
 * give none.
 */
function expectedChunks(data: DataFrame[], at: number[], threshold: number): Chunk[] {
  const out: Chunk[] = [];
  let streamed = false;
  let first = false;
  for (const f of data) {
    if (f.opening) {
      streamed = f.fin && f.payload.length >= threshold;
      first = true;
    }
    if (!streamed) continue;
    const end = f.start + f.payload.length;
    const bounds = [f.start, ...at.filter((p) => p > f.start && p < end), end];
    for (let i = 1; i < bounds.length; i++) {
      const piece = f.payload.subarray(bounds[i - 1]! - f.start, bounds[i]! - f.start);
      const last = f.fin && i === bounds.length - 1;
      if (piece.length === 0 && !last) continue;
      out.push({ binary: f.binary, hex: piece.toString('hex'), first, last });
      first = false;
    }
  }
  return out;
}

/** Pieces and events of `spec`'s stream, split at its cuts, against the model and the non-streaming core. */
function checkSplit(spec: StreamSpec, unfragmentStreamed: boolean): void {
  const { bytes, data, expected } = build(spec, unfragmentStreamed);
  const at = points(bytes, spec.cuts);
  const reference = runCore([bytes]);
  assert.deepEqual(reference.events, expected);
  const { o, handler } = runStreaming(chunksAt(bytes, at), { streamThreshold: spec.threshold }, spec.ephemeral);
  assert.deepEqual(o, reference);
  assert.deepEqual(handler.chunks, expectedChunks(data, at, spec.threshold));
}

/** The same byte by byte: one piece per payload byte of a streamed message. */
function checkBytes(spec: StreamSpec, unfragmentStreamed: boolean): void {
  const { bytes, data } = build(spec, unfragmentStreamed);
  const singles: Buffer[] = [];
  const at: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    singles.push(bytes.subarray(i, i + 1));
    if (i > 0) at.push(i);
  }
  const { o, handler } = runStreaming(singles, { streamThreshold: spec.threshold }, spec.ephemeral);
  assert.deepEqual(o, runCore([bytes]));
  assert.deepEqual(handler.chunks, expectedChunks(data, at, spec.threshold));
}

describe('property: streamed pieces at any split (streamed messages sent as one frame)', () => {
  it('pieces are the payloads cut at the reads; events and output equal the non-streaming core', () => {
    fc.assert(
      fc.property(streamArb, (spec) => checkSplit(spec, true)),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('byte by byte: one piece per payload byte, and the same events', () => {
    fc.assert(
      fc.property(streamArb, (spec) => checkBytes(spec, true)),
      { seed: SEED + 1, numRuns: 60 },
    );
  });
});

describe('property: fragmented messages are never streamed, whatever the size of their first frame', () => {
  it('only the single-frame messages give pieces; events and output equal the non-streaming core', () => {
    fc.assert(
      fc.property(streamArb, (spec) => checkSplit(spec, false)),
      { seed: SEED + 6, numRuns: 400 },
    );
  });

  it('byte by byte: the same', () => {
    fc.assert(
      fc.property(streamArb, (spec) => checkBytes(spec, false)),
      { seed: SEED + 7, numRuns: 60 },
    );
  });
});

/**
 * Checks the pieces of any run: flags in order, empty pieces only last, and text valid UTF-8 so far at every
 * piece (a piece may end inside a character, but no invalid byte is ever handed on) and whole at the last.
 */
function checkPieces(handler: StreamingHandler): void {
  let open = false;
  let binary = false;
  let decoder = new TextDecoder('utf-8', { fatal: true });
  for (const c of handler.chunks) {
    assert.equal(c.first, !open, 'first exactly when no streamed message is open');
    if (c.first) {
      binary = c.binary;
      decoder = new TextDecoder('utf-8', { fatal: true });
    }
    assert.equal(c.binary, binary, 'the type stays the message type');
    if (!c.last) assert.ok(c.hex.length > 0, 'no empty piece but the last');
    if (!binary) {
      assert.doesNotThrow(() => decoder.decode(Buffer.from(c.hex, 'hex'), { stream: !c.last }), 'valid UTF-8 so far');
    }
    open = !c.last;
  }
}

/** Streaming and non-streaming cores on the same reads: same outcome, well-formed pieces, no throw. */
function compare(chunks: Buffer[], side: 0 | 1, rsv1Allowed: boolean, threshold: number, ephemeral: boolean): void {
  const options = { side, rsv1Allowed, maxPayload: 4096 };
  let streamed: { o: Outcome; handler: StreamingHandler } | undefined;
  assert.doesNotThrow(() => {
    streamed = runStreaming(chunks, { ...options, streamThreshold: threshold }, ephemeral);
  });
  assert.deepEqual(streamed!.o, runCore(chunks, options));
  checkPieces(streamed!.handler);
  assert.ok(streamed!.handler.errors.length <= 1);
}

const chunkedBytes = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 });

describe('property: streaming on any input', () => {
  for (const side of [SIDE_SERVER, SIDE_CLIENT] as const) {
    it(`random bytes, ${side === SIDE_SERVER ? 'server' : 'client'} side: no throw, same events as whole`, () => {
      fc.assert(
        fc.property(chunkedBytes, fc.boolean(), fc.nat({ max: 40 }), fc.boolean(), (chunks, rsv1, threshold, eph) =>
          compare(
            chunks.map((c) => Buffer.from(c)),
            side,
            rsv1,
            threshold,
            eph,
          ),
        ),
        { seed: SEED + 2 + side, numRuns: 1000 },
      );
    });
  }

  it('random frame sequences (any opcode, FIN, RSV1, masking, text or bytes), split anywhere: same events', () => {
    // Mostly valid frames (so that messages get streamed), now and then a bad one.
    const frameArb = fc.record({
      opcode: fc.oneof(
        { arbitrary: fc.constantFrom(0, 0, 0, 1, 2, 9, 10), weight: 12 },
        { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 1 },
      ),
      fin: fc.boolean(),
      rsv1: fc.oneof({ arbitrary: fc.constant(false), weight: 12 }, { arbitrary: fc.boolean(), weight: 1 }),
      masked: fc.oneof({ arbitrary: fc.constant(true), weight: 20 }, { arbitrary: fc.boolean(), weight: 1 }),
      payload: fc.oneof(
        fc.uint8Array({ maxLength: 90 }).map((b) => Buffer.from(b)),
        fc.string({ unit: 'binary', maxLength: 40 }).map((t) => Buffer.from(t)),
      ),
      key: keyArb,
      wild: fc.oneof({ arbitrary: fc.constant(false), weight: 12 }, { arbitrary: fc.constant(true), weight: 1 }),
    });
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.boolean(),
        fc.nat({ max: 60 }),
        fc.boolean(),
        (frames, cuts, rsv1Allowed, threshold, ephemeral) => {
          // Mostly in sequence: a data frame continues an open message and starts one otherwise, unless `wild`.
          let open = false;
          const bytes = Buffer.concat(
            frames.map((f) => {
              let opcode = f.opcode;
              if (!f.wild && (opcode === 0 || opcode === 1 || opcode === 2)) opcode = open ? 0 : opcode || 2;
              if (opcode <= 2) open = !f.fin;
              return frame({ opcode, fin: f.fin, rsv1: f.rsv1, payload: f.payload, mask: f.masked ? f.key : false });
            }),
          );
          compare(chunksAt(bytes, points(bytes, cuts)), SIDE_SERVER, rsv1Allowed, threshold, ephemeral);
        },
      ),
      { seed: SEED + 5, numRuns: 1000 },
    );
  });

  it('valid streams with random bytes corrupted, split anywhere: no throw, same events as whole', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (spec, flips, rsv1) => {
          const { bytes } = build(spec);
          const bad = Buffer.from(bytes);
          if (bad.length > 0) for (const f of flips) bad[f.at % bad.length] = f.value;
          compare(chunksAt(bad, points(bad, spec.cuts)), SIDE_SERVER, rsv1, spec.threshold, spec.ephemeral);
        },
      ),
      { seed: SEED + 4, numRuns: 400 },
    );
  });
});
