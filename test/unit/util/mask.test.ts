/**
 * util/mask.ts: RFC 6455 §5.3 masking, in place, against a byte-by-byte reference, for every length up to past
 * the word threshold, every key phase and every alignment of the view; and `maskInto` leaving its source alone.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mask, maskInto } from '../../../src/util/mask.js';

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

function reference(data: Uint8Array, key: Uint8Array, phase: number): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[(i + phase) & 3]!;
  return out;
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

describe('RFC 6455 §5.3 client-to-server masking', () => {
  it('matches the reference for every length, phase and alignment', () => {
    for (let len = 0; len <= 200; len++) {
      const data = pattern(len);
      for (let align = 0; align < 4; align++) {
        for (let phase = 0; phase < 4; phase++) {
          const backing = Buffer.alloc(len + 8, 0xee);
          const view = backing.subarray(align, align + len);
          data.copy(view);
          mask(view, KEY, phase);
          assert.deepEqual(view, reference(data, KEY, phase), `len ${len} align ${align} phase ${phase}`);
          // Bytes around the view are untouched.
          for (let i = 0; i < align; i++) assert.equal(backing[i], 0xee);
          for (let i = align + len; i < backing.length; i++) assert.equal(backing[i], 0xee);
        }
      }
    }
  });

  it('is its own inverse (unmasking)', () => {
    const data = pattern(1000);
    const copy = Buffer.from(data);
    mask(copy, KEY, 0);
    assert.notDeepEqual(copy, data);
    mask(copy, KEY, 0);
    assert.deepEqual(copy, data);
  });

  it('unmasking piece by piece with the running offset equals unmasking at once', () => {
    const data = pattern(300);
    const whole = Buffer.from(data);
    mask(whole, KEY, 0);
    for (const cut of [1, 2, 3, 5, 64, 67, 150, 299]) {
      const pieces = Buffer.from(data);
      mask(pieces.subarray(0, cut), KEY, 0);
      mask(pieces.subarray(cut), KEY, cut);
      assert.deepEqual(pieces, whole, `cut ${cut}`);
    }
  });

  it('maskInto masks a copy and leaves the source untouched', () => {
    const src = pattern(150);
    const before = Buffer.from(src);
    const dst = Buffer.alloc(160);
    maskInto(src, KEY, dst, 10);
    assert.deepEqual(src, before);
    assert.deepEqual(dst.subarray(10), reference(src, KEY, 0));
    assert.deepEqual(dst.subarray(0, 10), Buffer.alloc(10));
  });
});
