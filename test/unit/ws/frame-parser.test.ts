/**
 * ws/frame-parser.ts: the incremental frame reader on its own. Length encodings (7/16/64-bit, non-minimal,
 * top bit, above 2^53-1), the header rules it enforces with their close codes, zero-copy views for payloads
 * whole in a chunk, piecewise unmasking and a single join for payloads that span chunks, many frames per chunk,
 * input split at every position, and that a receiver can stop it.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProtocolError } from '../../../src/errors.js';
import { FrameParser, type FrameReceiver, READ_HEADER, READ_PAYLOAD, STOPPED } from '../../../src/ws/frame-parser.js';
import { allSplits, frame, stream } from '../../helpers/ws-frames.js';

type Rec = (string | number | boolean)[];

class Recorder implements FrameReceiver {
  log: Rec[] = [];
  payloads: Buffer[] = [];
  parts: Buffer[] = [];
  stopAt = -1;
  onFrameHeader(fin: boolean, rsv1: boolean, opcode: number, length: number): boolean {
    this.log.push(['header', fin, rsv1, opcode, length]);
    return this.log.length !== this.stopAt;
  }
  onFramePart(part: Buffer): boolean {
    this.parts.push(part);
    return true;
  }
  onFramePayload(payload: Buffer): boolean {
    this.payloads.push(payload);
    this.log.push(['payload', payload.toString('hex')]);
    return this.log.length !== this.stopAt;
  }
  onFrameError(error: ProtocolError): void {
    this.log.push(['error', error.closeCode, error.code]);
  }
}

function parse(chunks: Buffer[], expectMasked = true, rsv1Allowed = false): { rec: Recorder; parser: FrameParser } {
  const rec = new Recorder();
  const parser = new FrameParser({ expectMasked, rsv1Allowed }, rec);
  for (const c of chunks) parser.receive(c);
  return { rec, parser };
}

/** Parses `bytes` at every split and checks that the log is always the same; returns it. */
function parseAllSplits(bytes: Buffer, expectMasked = true, rsv1Allowed = false): Rec[] {
  let first: Rec[] | undefined;
  for (const chunks of allSplits(bytes)) {
    const { rec } = parse(chunks, expectMasked, rsv1Allowed);
    if (first === undefined) first = rec.log;
    else assert.deepEqual(rec.log, first, chunks.map((c) => c.length).join('+'));
  }
  return first!;
}

describe('RFC 6455 §5.2 payload length', () => {
  for (const [name, len, bits] of [
    ['7-bit', 125, 7],
    ['16-bit', 126, 16],
    ['16-bit max', 65535, 16],
    ['64-bit', 65536, 64],
    ['non-minimal 16-bit for 5 bytes', 5, 16],
    ['non-minimal 64-bit for 5 bytes', 5, 64],
    ['non-minimal 64-bit for 300 bytes', 300, 64],
  ] as const) {
    it(`reads a ${name} length`, () => {
      const payload = Buffer.alloc(len, 0x61);
      const { rec } = parse([frame({ opcode: 2, payload, lengthBits: bits })]);
      assert.deepEqual(rec.log, [
        ['header', true, false, 2, len],
        ['payload', payload.toString('hex')],
      ]);
    });
  }
  it('fails with 1002 when the top bit of a 64-bit length is set', () => {
    const { rec, parser } = parse([frame({ opcode: 2, length64: 1n << 63n })]);
    assert.deepEqual(rec.log, [['error', 1002, 'ERR_WS_BAD_LENGTH']]);
    assert.equal(parser.state, STOPPED);
  });
  it('fails with 1009 for a length above 2^53-1', () => {
    const { rec } = parse([frame({ opcode: 2, length64: 1n << 53n })]);
    assert.deepEqual(rec.log, [['error', 1009, 'ERR_WS_MESSAGE_TOO_BIG']]);
  });
  it('reports a length of exactly 2^53-1 to the receiver before buffering anything', () => {
    const { rec, parser } = parse([frame({ opcode: 2, length64: (1n << 53n) - 1n }), Buffer.from('abc')]);
    assert.deepEqual(rec.log, [['header', true, false, 2, Number.MAX_SAFE_INTEGER]]);
    assert.equal(parser.state, READ_PAYLOAD);
    assert.equal(parser.bufferedBytes, 3);
  });
});

describe('RFC 6455 §5.2, §5.5, §5.1 header rules', () => {
  const table: [string, Buffer, boolean, boolean, number, string][] = [
    ['RSV1 without an extension', frame({ opcode: 1, rsv1: true }), true, false, 1002, 'ERR_WS_RESERVED_BITS'],
    ['RSV2', frame({ opcode: 1, rsv2: true }), true, true, 1002, 'ERR_WS_RESERVED_BITS'],
    ['RSV3', frame({ opcode: 1, rsv3: true }), true, true, 1002, 'ERR_WS_RESERVED_BITS'],
    ['RSV1 on a ping with an extension', frame({ opcode: 9, rsv1: true }), true, true, 1002, 'ERR_WS_RESERVED_BITS'],
    ['RSV1 on a continuation', frame({ opcode: 0, rsv1: true }), true, true, 1002, 'ERR_WS_RESERVED_BITS'],
    ['fragmented ping', frame({ opcode: 9, fin: false }), true, false, 1002, 'ERR_WS_CONTROL_FRAGMENTED'],
    ['126-byte ping', frame({ opcode: 9, payload: Buffer.alloc(126) }), true, false, 1002, 'ERR_WS_CONTROL_TOO_LONG'],
    ['unmasked frame to a server', frame({ opcode: 1, mask: false }), true, false, 1002, 'ERR_WS_UNMASKED_FRAME'],
    ['masked frame to a client', frame({ opcode: 1 }), false, false, 1002, 'ERR_WS_MASKED_FRAME'],
  ];
  for (const op of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    table.push([`reserved opcode ${op}`, frame({ opcode: op }), true, true, 1002, 'ERR_WS_INVALID_OPCODE']);
  }
  for (const [name, bytes, expectMasked, rsv1Allowed, closeCode, code] of table) {
    it(`fails on ${name} with ${closeCode} at every split`, () => {
      assert.deepEqual(parseAllSplits(bytes, expectMasked, rsv1Allowed), [['error', closeCode, code]]);
    });
  }
  it('accepts RSV1 on a data frame when an extension allows it', () => {
    assert.deepEqual(parseAllSplits(frame({ opcode: 1, rsv1: true, payload: 'x' }), true, true), [
      ['header', true, true, 1, 1],
      ['payload', '78'],
    ]);
  });
  it('fails a bad header after its first two bytes, before the rest arrives', () => {
    const { rec } = parse([Buffer.from([0x83, 0xfe])]);
    assert.deepEqual(rec.log, [['error', 1002, 'ERR_WS_INVALID_OPCODE']]);
  });
});

describe('RFC 6455 §5.3 unmasking and zero-copy delivery', () => {
  it('hands on a payload whole in its chunk as a view, unmasked in place', () => {
    const chunk = frame({ opcode: 2, payload: 'hello world' });
    const { rec } = parse([chunk]);
    const p = rec.payloads[0]!;
    assert.equal(p.toString(), 'hello world');
    assert.equal(p.buffer, chunk.buffer, 'same memory');
    assert.equal(p.byteOffset, chunk.byteOffset + 6);
    assert.equal(rec.parts.length, 0, 'no pieces for a whole payload');
  });
  it('unmasks a payload that spans chunks piece by piece and joins it once', () => {
    const payload = Buffer.alloc(1000);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    const bytes = frame({ opcode: 2, payload });
    const chunks = [bytes.subarray(0, 9), bytes.subarray(9, 10), bytes.subarray(10, 505), bytes.subarray(505)];
    const { rec } = parse(chunks.map((c) => Buffer.from(c)));
    assert.deepEqual(rec.payloads, [payload]);
    assert.deepEqual(
      rec.parts.map((p) => p.length),
      [1, 1, 495, 503],
    );
    assert.deepEqual(Buffer.concat(rec.parts), payload, 'pieces are unmasked as they arrive');
  });
  it('unmasks at every split the same way', () => {
    const payload = Buffer.from('The quick brown fox jumps over the lazy dog');
    assert.deepEqual(parseAllSplits(frame({ opcode: 1, payload, mask: Buffer.from([0xde, 0xad, 0xbe, 0xef]) })), [
      ['header', true, false, 1, payload.length],
      ['payload', payload.toString('hex')],
    ]);
  });
  it('reads unmasked frames on the client side', () => {
    assert.deepEqual(parseAllSplits(frame({ opcode: 1, payload: 'hi', mask: false }), false), [
      ['header', true, false, 1, 2],
      ['payload', '6869'],
    ]);
  });
});

describe('ephemeral input (a shared read buffer reused after each receive)', () => {
  /** Feeds `bytes` cut at `cuts` through one scratch buffer that is scribbled over after every call. */
  function parseEphemeral(bytes: Buffer, cuts: number[]): Recorder {
    const rec = new Recorder();
    const parser = new FrameParser({ expectMasked: true, rsv1Allowed: false }, rec);
    const scratch = Buffer.alloc(bytes.length + 16);
    let at = 0;
    for (const end of [...cuts, bytes.length]) {
      const n = bytes.copy(scratch, 3, at, end);
      parser.receive(scratch.subarray(3, 3 + n), true);
      scratch.fill(0xa5);
      at = end;
    }
    return rec;
  }

  it('payloads and pieces handed on are copies that survive the reuse, at every split', () => {
    const big = Buffer.alloc(700);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const bytes = stream(
      frame({ opcode: 2, payload: 'whole', mask: Buffer.from([9, 8, 7, 6]) }),
      frame({ opcode: 1, payload: 'fr', fin: false }),
      frame({ opcode: 9, payload: 'ping' }),
      frame({ opcode: 0, payload: big, mask: Buffer.from([1, 2, 250, 251]) }),
      frame({ opcode: 2, payload: Buffer.alloc(300, 0x42) }),
      frame({ opcode: 2 }),
    );
    const expected = parse([Buffer.from(bytes)]).rec;
    const want = expected.payloads.map((p) => p.toString('hex'));
    // Every single cut, then a few multi-way cuts (a piece before half of the 700-byte payload is kept).
    const cutSets: number[][] = [];
    for (let i = 1; i < bytes.length; i++) cutSets.push([i]);
    for (let step = 1; step <= 97; step += 8) {
      const cuts: number[] = [];
      for (let i = step; i < bytes.length; i += step) cuts.push(i);
      cutSets.push(cuts);
    }
    for (const cuts of cutSets) {
      const rec = parseEphemeral(bytes, cuts);
      const where = `cuts ${cuts.slice(0, 5).join(',')}${cuts.length > 5 ? '...' : ''}`;
      assert.deepEqual(rec.log, expected.log, where);
      assert.deepEqual(
        rec.payloads.map((p) => p.toString('hex')),
        want,
        `${where}: payloads read after the buffer was reused`,
      );
      // Pieces are views of the final buffer or copies: together they are the spanning payloads, intact.
      for (const part of rec.parts) assert.ok(!part.includes(0xa5) || big.includes(0xa5), where);
    }
  });

  it('an ephemeral payload whole in its chunk is a copy, not a view', () => {
    const chunk = frame({ opcode: 2, payload: 'hello world' });
    const rec = new Recorder();
    new FrameParser({ expectMasked: true, rsv1Allowed: false }, rec).receive(chunk, true);
    chunk.fill(0);
    assert.equal(rec.payloads[0]?.toString(), 'hello world', 'not a view of the chunk');
  });
});

describe('RFC 6455 §5.4 many frames per chunk', () => {
  it('parses every frame of a chunk in one call, empty payloads included', () => {
    const frames: Buffer[] = [];
    const expected: Rec[] = [];
    for (let i = 0; i < 300; i++) {
      const payload = Buffer.from(String(i).repeat(i % 7));
      frames.push(frame({ opcode: 2, payload, fin: true }));
      expected.push(['header', true, false, 2, payload.length], ['payload', payload.toString('hex')]);
    }
    const { rec, parser } = parse([stream(...frames)]);
    assert.deepEqual(rec.log, expected);
    assert.equal(parser.state, READ_HEADER);
    assert.equal(parser.bufferedBytes, 0);
  });
  it('gives the same frames at every split of a mixed stream', () => {
    const bytes = stream(
      frame({ opcode: 1, payload: 'ab', fin: false }),
      frame({ opcode: 9, payload: 'p' }),
      frame({ opcode: 0, payload: Buffer.alloc(130, 1), fin: true }),
      frame({ opcode: 10 }),
      frame({ opcode: 8, payload: Buffer.from([3, 232]) }),
    );
    const log = parseAllSplits(bytes);
    assert.equal(log.length, 10);
    assert.deepEqual(log[0], ['header', false, false, 1, 2]);
    assert.deepEqual(log[4], ['header', true, false, 0, 130]);
  });
});

describe('stopping', () => {
  it('stops when the receiver returns false and discards the rest', () => {
    const bytes = stream(frame({ opcode: 2, payload: 'a' }), frame({ opcode: 2, payload: 'b' }));
    const rec = new Recorder();
    rec.stopAt = 2; // after the first payload
    const parser = new FrameParser({ expectMasked: true, rsv1Allowed: false }, rec);
    parser.receive(bytes);
    parser.receive(frame({ opcode: 2, payload: 'c' }));
    assert.deepEqual(rec.log, [
      ['header', true, false, 2, 1],
      ['payload', '61'],
    ]);
    assert.equal(parser.state, STOPPED);
  });
  it('stops when the receiver refuses a header', () => {
    const rec = new Recorder();
    rec.stopAt = 1;
    const parser = new FrameParser({ expectMasked: true, rsv1Allowed: false }, rec);
    parser.receive(frame({ opcode: 2, payload: 'abc' }));
    assert.deepEqual(rec.log, [['header', true, false, 2, 3]]);
    assert.equal(parser.state, STOPPED);
  });
  it('ignores input after an error', () => {
    const { rec, parser } = parse([frame({ opcode: 3 })]);
    parser.receive(frame({ opcode: 1, payload: 'x' }));
    assert.equal(rec.log.length, 1);
  });
});
