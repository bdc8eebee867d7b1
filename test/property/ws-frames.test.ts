/**
 * Property tests (fast-check, seeded, bounded runs) for the WebSocket framing:
 * 1. Chunking invariance: any stream of valid frames (fragmented messages, interleaved control frames,
 *    non-minimal lengths, random masking keys, an optional close) gives the same events and output however it
 *    is split, and the events are the messages that were sent.
 * 2. Round trip: what frame-writer encodes, frame-parser decodes to the same fields and payload.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameParser, type FrameReceiver } from '../../src/ws/frame-parser.js';
import { encodeFrame } from '../../src/ws/frame-writer.js';
import { closeArb, messageArb } from '../helpers/ws-arbitraries.js';
import { closeBody, frame, runCore, type WsEvent } from '../helpers/ws-frames.js';

const SEED = 0x50c4e7e;

const streamArb = fc.record({
  messages: fc.array(messageArb({ text: 300, cuts: 4, controls: 5 }), { maxLength: 6 }),
  close: closeArb,
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
});

type StreamSpec = typeof streamArb extends fc.Arbitrary<infer T> ? T : never;

/** Builds the bytes of a stream and the events a server should report for it. */
function build(spec: StreamSpec): { bytes: Buffer; expected: WsEvent[] } {
  const frames: Buffer[] = [];
  const expected: WsEvent[] = [];
  for (const m of spec.messages) {
    const payload = m.binary ? Buffer.from(m.bytes) : Buffer.from(m.text);
    const cuts = [...new Set(m.cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
    const bounds = [0, ...cuts, payload.length];
    const pieces: Buffer[] = [];
    for (let i = 1; i < bounds.length; i++) pieces.push(payload.subarray(bounds[i - 1], bounds[i]));
    pieces.forEach((piece, i) => {
      const control = m.controls[i];
      if (control !== undefined && i > 0) {
        frames.push(frame({ opcode: control.opcode, payload: Buffer.from(control.payload), mask: control.key }));
        expected.push([control.opcode === 9 ? 'ping' : 'pong', Buffer.from(control.payload).toString('hex')]);
      }
      frames.push(
        frame({
          opcode: i === 0 ? (m.binary ? 2 : 1) : 0,
          fin: i === pieces.length - 1,
          payload: piece,
          mask: m.key,
          lengthBits: m.lengthBits,
        }),
      );
    });
    expected.push(['message', m.binary ? 'binary' : 'text', m.binary ? payload.toString('hex') : m.text, false]);
  }
  if (spec.close) {
    frames.push(frame({ opcode: 8, payload: closeBody(spec.close.code, spec.close.reason) }));
    expected.push(['close', spec.close.code, spec.close.reason]);
    // Discarded after the close.
    frames.push(frame({ opcode: 1, payload: 'ignored' }));
  }
  return { bytes: Buffer.concat(frames), expected };
}

function chunksAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('property: chunking invariance', () => {
  it('any valid frame stream split anywhere decodes to the same events', () => {
    fc.assert(
      fc.property(streamArb, (spec) => {
        const { bytes, expected } = build(spec);
        const whole = runCore([bytes]);
        assert.deepEqual(whole.events, expected);
        const split = runCore(chunksAt(bytes, spec.cuts));
        assert.deepEqual(split, whole);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
  it('byte-by-byte feeding decodes the same events', () => {
    fc.assert(
      fc.property(streamArb, (spec) => {
        const { bytes } = build(spec);
        const singles: Buffer[] = [];
        for (let i = 0; i < bytes.length; i++) singles.push(bytes.subarray(i, i + 1));
        assert.deepEqual(runCore(singles), runCore([bytes]));
      }),
      { seed: SEED + 1, numRuns: 60 },
    );
  });
});

describe('property: writer/parser round trip', () => {
  it('parse(encode(frame)) gives the frame back', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(0, 1, 2),
        fc.uint8Array({ maxLength: 70000 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 4 }),
        (fin, rsv1, opcode, bytes, masked, cuts) => {
          const payload = Buffer.from(bytes);
          const encoded = encodeFrame(fin, rsv1, opcode, payload, masked);
          const got: unknown[] = [];
          const receiver: FrameReceiver = {
            onFrameHeader: (f, r, o, l) => got.push([f, r, o, l]) > 0,
            onFramePart: () => true,
            onFramePayload: (p) => got.push(Buffer.from(p)) > 0,
            onFrameError: (e) => got.push(e.code),
          };
          const parser = new FrameParser({ expectMasked: masked, rsv1Allowed: true }, receiver);
          // RSV1 on a continuation is a protocol error (RFC 7692 §6.1): expected too.
          for (const c of chunksAt(encoded, cuts)) parser.receive(Buffer.from(c));
          if (rsv1 && opcode === 0) assert.deepEqual(got, ['ERR_WS_RESERVED_BITS']);
          else assert.deepEqual(got, [[fin, rsv1, opcode, payload.length], payload]);
          assert.deepEqual(Buffer.from(bytes), payload, 'the caller payload is untouched');
        },
      ),
      { seed: SEED + 2, numRuns: 200 },
    );
  });
});
