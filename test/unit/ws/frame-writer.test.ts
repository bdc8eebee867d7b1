/**
 * ws/frame-writer.ts: server frames unmasked (merged with the header below the threshold, payload passed through
 * untouched above it), client frames masked with a fresh key per frame on a copy (the caller's buffer is never
 * changed), and every written frame read back by the frame parser.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setRandomFill } from '../../../src/util/random.js';
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_TEXT } from '../../../src/ws/frame.js';
import { FrameParser, type FrameReceiver } from '../../../src/ws/frame-parser.js';
import { encodeFrame, MERGE_THRESHOLD, writeFrame } from '../../../src/ws/frame-writer.js';
import { decodeFrames } from '../../helpers/ws-frames.js';

class Writes {
  chunks: Buffer[] = [];
  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
}

describe('RFC 6455 §5.1 server frames are not masked', () => {
  it('writes a small frame as one buffer', () => {
    const w = new Writes();
    writeFrame(w, true, false, OP_TEXT, Buffer.from('hi'), false);
    assert.equal(w.chunks.length, 1);
    assert.equal(w.chunks[0]!.toString('hex'), '81026869');
  });
  it('writes header and payload apart from the threshold on, passing the payload through', () => {
    const payload = Buffer.alloc(MERGE_THRESHOLD, 0x42);
    const w = new Writes();
    writeFrame(w, false, true, OP_BINARY, payload, false);
    assert.equal(w.chunks.length, 2);
    assert.equal(w.chunks[0]!.toString('hex'), '427e0400');
    assert.equal(w.chunks[1], payload, 'the same Buffer, not a copy');
  });
  it('writes an empty frame as its header alone', () => {
    const w = new Writes();
    writeFrame(w, true, false, OP_CLOSE, Buffer.alloc(0), false);
    assert.deepEqual(
      w.chunks.map((c) => c.toString('hex')),
      ['8800'],
    );
  });
});

describe('RFC 6455 §5.3 client frames are masked with a fresh key', () => {
  afterEach(() => setRandomFill(undefined));

  it('masks a copy with the key from the random source', () => {
    setRandomFill((b) => {
      for (let i = 0; i < b.length; i++) b[i] = (i + 1) & 0xff;
    });
    const payload = Buffer.from('hello');
    const w = new Writes();
    writeFrame(w, true, false, OP_TEXT, payload, true);
    assert.equal(w.chunks.length, 1);
    const hello = Buffer.from('hello');
    const masked = Buffer.from([1, 2, 3, 4, 1]).map((k, i) => k ^ hello[i]!);
    assert.equal(w.chunks[0]!.toString('hex'), `8185${'01020304'}${Buffer.from(masked).toString('hex')}`);
    assert.equal(payload.toString(), 'hello', 'caller buffer untouched');
  });
  it('uses a different key for each frame', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const f = encodeFrame(true, false, OP_BINARY, Buffer.alloc(4), true);
      keys.add(f.subarray(2, 6).toString('hex'));
    }
    assert.ok(keys.size > 45);
  });
  it('masks large payloads in one buffer and leaves the source alone', () => {
    const payload = Buffer.alloc(70000, 0x33);
    const w = new Writes();
    writeFrame(w, true, false, OP_BINARY, payload, true);
    assert.equal(w.chunks.length, 1);
    const [f] = decodeFrames(w.chunks[0]!);
    assert.equal(f!.masked, true);
    assert.deepEqual(f!.payload, payload);
    assert.ok(payload.every((b) => b === 0x33));
  });
});

describe('round trip through the frame parser', () => {
  for (const masked of [false, true]) {
    for (const len of [0, 1, 125, 126, 1023, 1024, 65535, 65536, 100000]) {
      it(`${masked ? 'masked' : 'unmasked'} ${len}-byte frame`, () => {
        const payload = Buffer.alloc(len);
        for (let i = 0; i < len; i++) payload[i] = (i * 7) & 0xff;
        const w = new Writes();
        writeFrame(w, false, len % 2 === 1, len === 0 ? OP_CONTINUATION : OP_BINARY, payload, masked);
        const got: unknown[] = [];
        const receiver: FrameReceiver = {
          onFrameHeader: (fin, rsv1, opcode, length) => got.push([fin, rsv1, opcode, length]) > 0,
          onFramePart: () => true,
          onFramePayload: (p) => got.push(Buffer.from(p)) > 0,
          onFrameError: (e) => got.push(e.code),
        };
        const parser = new FrameParser({ expectMasked: masked, rsv1Allowed: true }, receiver);
        for (const c of w.chunks) parser.receive(Buffer.from(c));
        assert.deepEqual(got, [[false, len % 2 === 1, len === 0 ? 0 : 2, len], payload]);
      });
    }
  }
});
