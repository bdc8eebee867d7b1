/**
 * util/utf8.ts: the UTF-8 automaton (RFC 3629 §4), whole-buffer `isValidUtf8` on both sides of the native
 * threshold, and the incremental `Utf8Validator` split at every position, including where it reports the first
 * invalid byte. Cross-checked against `buffer.isUtf8` exhaustively for all 1- and 2-byte inputs and a large set
 * of 3- and 4-byte ones.
 */

import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import {
  isValidUtf8,
  UTF8_ACCEPT,
  UTF8_REJECT,
  Utf8Validator,
  utf8Scan,
  utf8ScanState,
  utf8Step,
} from '../../../src/util/utf8.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const VALID: [string, Buffer][] = [
  ['empty', hex('')],
  ['ASCII', Buffer.from('Hello, world')],
  ['U+0000', hex('00')],
  ['U+007F', hex('7f')],
  ['U+0080', hex('c280')],
  ['U+07FF', hex('dfbf')],
  ['U+0800', hex('e0a080')],
  ['U+D7FF (last before surrogates)', hex('ed9fbf')],
  ['U+E000 (first after surrogates)', hex('ee8080')],
  ['U+FFFD', hex('efbfbd')],
  ['U+FFFF', hex('efbfbf')],
  ['U+10000', hex('f0908080')],
  ['U+10FFFF', hex('f48fbfbf')],
  ['Autobahn 6.2 κόσμε', hex('cebae1bdb9cf83cebcceb5')],
  ['mixed', Buffer.from('aé€𝄞z')],
];

/** [name, bytes, offset of the first invalid byte (the length when a sequence is cut off at the end)] */
const INVALID: [string, Buffer, number][] = [
  ['lone continuation 80', hex('80'), 0],
  ['lone continuation BF after ASCII', hex('41 bf'), 1],
  ['overlong C0 80 (NUL)', hex('c080'), 0],
  ['overlong C1 BF', hex('c1bf'), 0],
  ['overlong E0 80 80', hex('e08080'), 1],
  ['overlong E0 9F BF', hex('e09fbf'), 1],
  ['overlong F0 80 80 80', hex('f0808080'), 1],
  ['overlong F0 8F BF BF', hex('f08fbfbf'), 1],
  ['surrogate ED A0 80 (U+D800)', hex('eda080'), 1],
  ['surrogate ED BF BF (U+DFFF)', hex('edbfbf'), 1],
  ['surrogate pair as CESU-8', hex('eda0bd edb2a9'), 1],
  ['above U+10FFFF: F4 90 80 80', hex('f4908080'), 1],
  ['F5 lead byte', hex('f5808080'), 0],
  ['FE', hex('fe'), 0],
  ['FF', hex('ff'), 0],
  ['missing continuation C3 28', hex('c328'), 1],
  ['missing continuation in 3-byte', hex('e282 28'), 2],
  ['missing continuation in 4-byte', hex('f09f98 41'), 3],
  ['truncated 2-byte at end', hex('41 c3'), 2],
  ['truncated 3-byte at end', hex('e282'), 2],
  ['truncated 4-byte at end', hex('f09f98'), 3],
  ['Autobahn 6.3.1', hex('cebae1bdb9cf83cebcceb5eda080656469746564'), 12],
  ['valid prefix then FF', Buffer.concat([Buffer.from('hello world, this is long enough'), hex('ff')]), 32],
];

/** Runs a validator over `bytes` cut at the given positions. */
function validate(bytes: Buffer, cuts: number[]): { ok: boolean; invalidAt: number } {
  const v = new Utf8Validator();
  let prev = 0;
  let ok = true;
  for (const c of [...cuts, bytes.length]) {
    if (!v.write(bytes, prev, c)) {
      ok = false;
      break;
    }
    prev = c;
  }
  if (ok) ok = v.end();
  return { ok, invalidAt: v.invalidAt };
}

describe('RFC 3629 §4 UTF-8 syntax: whole buffers', () => {
  for (const [name, bytes] of VALID) {
    it(`accepts ${name}`, () => {
      assert.equal(isValidUtf8(bytes), true);
      // Above the native threshold too.
      const long = Buffer.concat([Buffer.from('x'.repeat(40)), bytes, Buffer.from('y'.repeat(40))]);
      assert.equal(isValidUtf8(long), true);
      assert.equal(isValidUtf8(long, 40, 40 + bytes.length), true);
    });
  }
  for (const [name, bytes] of INVALID) {
    it(`rejects ${name}`, () => {
      assert.equal(isValidUtf8(bytes), false);
      const long = Buffer.concat([Buffer.from('x'.repeat(40)), bytes]);
      assert.equal(isValidUtf8(long), false);
    });
  }
  it('checks only the given range', () => {
    const b = Buffer.concat([hex('ff'), Buffer.from('ok'), hex('ff')]);
    assert.equal(isValidUtf8(b, 1, 3), true);
    assert.equal(isValidUtf8(b, 0, 3), false);
  });
});

describe('RFC 3629 §4 UTF-8 syntax: incremental, split at every position', () => {
  for (const [name, bytes] of VALID) {
    it(`accepts ${name} at every split`, () => {
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          assert.deepEqual(validate(bytes, [i, j]), { ok: true, invalidAt: -1 }, `cuts ${i},${j}`);
        }
      }
    });
  }
  for (const [name, bytes, at] of INVALID) {
    it(`rejects ${name} at byte ${at} for every split`, () => {
      for (let i = 0; i <= bytes.length; i++) {
        assert.deepEqual(validate(bytes, [i]), { ok: false, invalidAt: at }, `cut ${i}`);
      }
      const single: number[] = [];
      for (let i = 1; i < bytes.length; i++) single.push(i);
      assert.deepEqual(validate(bytes, single), { ok: false, invalidAt: at }, 'byte by byte');
    });
  }
  it('fails at the first invalid byte without reading further', () => {
    const v = new Utf8Validator();
    assert.equal(v.write(Buffer.from('ab')), true);
    assert.equal(v.write(hex('e282')), true, 'an open sequence is fine mid-message');
    assert.equal(v.write(hex('41 42')), false);
    assert.equal(v.invalidAt, 4);
    assert.equal(v.state, UTF8_REJECT);
    assert.equal(v.write(Buffer.from('more')), false, 'rejection is sticky');
    v.reset();
    assert.equal(v.write(Buffer.from('fine')), true);
    assert.equal(v.end(), true);
  });
  it('utf8Step carries state across pieces', () => {
    let s = utf8Step(UTF8_ACCEPT, hex('f0 9f'));
    assert.notEqual(s, UTF8_ACCEPT);
    assert.notEqual(s, UTF8_REJECT);
    s = utf8Step(s, hex('98 80'));
    assert.equal(s, UTF8_ACCEPT);
    assert.equal(utf8Step(s, hex('c0')), UTF8_REJECT);
    assert.equal(utf8Step(UTF8_REJECT, Buffer.from('a')), UTF8_REJECT);
  });
  it('utf8Scan reports the index of the first invalid byte', () => {
    const b = Buffer.from('zzabc\xff', 'latin1');
    assert.equal(utf8Scan(UTF8_ACCEPT, b, 2, b.length), 5);
    assert.equal(utf8Scan(UTF8_ACCEPT, b, 0, 5), -1);
    assert.equal(utf8ScanState(), UTF8_ACCEPT);
  });
});

describe('agreement with buffer.isUtf8', () => {
  it('every 1- and 2-byte input', () => {
    const b = Buffer.alloc(2);
    for (let x = 0; x < 256; x++) {
      assert.equal(isValidUtf8(b.subarray(0, 1).fill(x)), isUtf8(Buffer.from([x])), `byte ${x}`);
      for (let y = 0; y < 256; y++) {
        b[0] = x;
        b[1] = y;
        assert.equal(isValidUtf8(b), isUtf8(b), `bytes ${x} ${y}`);
      }
    }
  });
  it('3- and 4-byte inputs around every boundary', () => {
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef];
    const leads: number[] = [];
    for (let x = 0xc0; x <= 0xff; x++) leads.push(x);
    const b3 = Buffer.alloc(3);
    const b4 = Buffer.alloc(4);
    for (const x of leads) {
      for (let y = 0x70; y <= 0xc2; y++) {
        for (const z of interesting) {
          b3[0] = x;
          b3[1] = y;
          b3[2] = z;
          assert.equal(isValidUtf8(b3), isUtf8(b3), b3.toString('hex'));
          for (const w of interesting) {
            b4[0] = x;
            b4[1] = y;
            b4[2] = z;
            b4[3] = w;
            assert.equal(isValidUtf8(b4), isUtf8(b4), b4.toString('hex'));
          }
        }
      }
    }
  });
});
