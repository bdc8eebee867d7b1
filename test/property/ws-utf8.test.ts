/**
 * Property tests (fast-check, seeded, bounded runs) for UTF-8 validation: the incremental validator agrees with
 * `TextDecoder` in fatal mode on arbitrary (UTF-8-like) byte strings at any split, and a text message split into
 * arbitrary fragments is delivered exactly when its bytes are valid UTF-8, failing with 1007 otherwise.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isValidUtf8, Utf8Validator } from '../../src/util/utf8.js';
import { frame, runCore } from '../helpers/ws-frames.js';

const SEED = 0x0007f8;

const decoder = new TextDecoder('utf-8', { fatal: true });
function reference(bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Bytes that are often UTF-8 and often nearly so: real characters, interesting single bytes, near-miss sequences. */
const utf8ish = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }).map((s) => [...Buffer.from(s)]),
      fc
        .constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x90, 0x8f)
        .map((b) => [b]),
      // A lead byte followed by bytes around the continuation range: overlongs, surrogates, > U+10FFFF, cut-offs.
      fc
        .tuple(
          fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xf0, 0xf1, 0xf4, 0xf5),
          fc.array(fc.constantFrom(0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0), { minLength: 1, maxLength: 3 }),
        )
        .map(([lead, rest]) => [lead, ...rest]),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Uint8Array.from(parts.flat()));

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('property: UTF-8 validation', () => {
  it('the validator agrees with TextDecoder (fatal) at any split', () => {
    fc.assert(
      fc.property(utf8ish, fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        const expected = reference(bytes);
        assert.equal(isValidUtf8(bytes), expected);
        const v = new Utf8Validator();
        let ok = true;
        for (const piece of splitAt(bytes, cuts)) ok = v.write(piece) && ok;
        ok = v.end() && ok;
        assert.equal(ok, expected);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
  it('a fragmented text message is delivered exactly when it is valid UTF-8', () => {
    fc.assert(
      fc.property(utf8ish, fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const pieces = splitAt(bytes, cuts);
        const frames = pieces.map((p, i) =>
          frame({ opcode: i === 0 ? 1 : 0, fin: i === pieces.length - 1, payload: Buffer.from(p) }),
        );
        const o = runCore(frames);
        if (reference(bytes)) {
          assert.deepEqual(o.events, [['message', 'text', Buffer.from(bytes).toString(), false]]);
        } else {
          assert.deepEqual(o.events, [['error', 1007, 'ERR_WS_INVALID_UTF8']]);
        }
      }),
      { seed: SEED + 1, numRuns: 1500 },
    );
  });
});
