/**
 * Fuzz target `utf8`: src/util/utf8.ts against WHATWG's UTF-8 decoder (`TextDecoder('utf-8', { fatal: true })`,
 * which is RFC 3629 with the same fail-at-the-first-bad-byte rule as RFC 6455 §8.1 wants).
 *
 * Oracles: `isValidUtf8` (native path from 24 bytes, JS automaton below, and on a sub-range) and the automaton run
 * over the whole input agree with the decoder; `Utf8Validator` fed in two pieces at every split (inputs up to 256
 * bytes, else 64 splits), byte by byte and in one piece gives the same verdict, and reports the first invalid byte
 * where the decoder in streaming mode first throws (or the input's length for a sequence cut off at the end).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  isValidUtf8,
  UTF8_ACCEPT,
  UTF8_REJECT,
  Utf8Validator,
  utf8Scan,
  utf8ScanState,
  utf8Step,
} from '../../../src/util/utf8.js';
import type { FuzzTarget } from '../engine.js';
import { hash32, Rng } from '../mutate.js';

function decoderAccepts(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function validPrefix(bytes: Uint8Array, n: number): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Index of the first byte after which no valid UTF-8 can continue the input, or -1 (binary search on prefixes). */
function firstInvalidByte(bytes: Uint8Array): number {
  if (validPrefix(bytes, bytes.length)) return -1;
  let lo = 0; // valid prefix length
  let hi = bytes.length; // invalid prefix length
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (validPrefix(bytes, mid)) lo = mid;
    else hi = mid;
  }
  return hi - 1;
}

function checkValidator(pieces: Uint8Array[], valid: boolean, invalidAt: number, what: string): void {
  const v = new Utf8Validator();
  let ok = true;
  let offset = 0;
  for (const p of pieces) {
    const wrote = v.write(p);
    if (ok && !wrote) {
      assert.ok(invalidAt >= offset && invalidAt < offset + p.length, `${what}: write() failed on the wrong piece`);
    }
    ok = ok && wrote;
    offset += p.length;
  }
  assert.equal(v.end(), valid, `${what}: end() verdict`);
  if (valid) assert.equal(v.invalidAt, -1, `${what}: invalidAt of valid input`);
  else assert.equal(v.invalidAt, invalidAt >= 0 ? invalidAt : offset, `${what}: invalidAt`);
}

export const utf8Target: FuzzTarget = {
  name: 'utf8',
  checks: 'UTF-8 validator (whole, automaton, incremental at every split) against TextDecoder fatal',
  corpus: ['utf8'],
  dictionary: [
    '\xc2\x80',
    '\xdf\xbf',
    '\xe0\xa0\x80',
    '\xed\x9f\xbf',
    '\xed\xa0\x80',
    '\xef\xbf\xbf',
    '\xf0\x90\x80\x80',
    '\xf4\x8f\xbf\xbf',
    '\xf4\x90\x80\x80',
    '\xc0\xaf',
    '\xe0\x80\xaf',
    '\xf8',
    '\xfe',
    'aaaaaaaaaaaaaaaaaaaaaaaaa',
  ],
  maxLen: 512,
  run(data: Buffer): void {
    const n = data.length;
    const valid = decoderAccepts(data);
    const invalidAt = firstInvalidByte(data);
    if (valid) assert.equal(invalidAt, -1, 'decoder disagrees with itself');
    assert.equal(isValidUtf8(data), valid, 'isValidUtf8(whole)');
    // The JS automaton over the whole input (isValidUtf8 uses the native check from 24 bytes on).
    const bad = utf8Scan(UTF8_ACCEPT, data, 0, n);
    if (invalidAt >= 0) assert.equal(bad, invalidAt, 'utf8Scan: index of the first invalid byte');
    else {
      assert.equal(bad, -1, 'utf8Scan: no invalid byte');
      assert.equal(utf8ScanState() === UTF8_ACCEPT, valid, 'utf8Scan: final state');
    }
    assert.equal(utf8Step(UTF8_ACCEPT, data) === UTF8_ACCEPT, valid, 'utf8Step(whole)');
    if (invalidAt >= 0) assert.equal(utf8Step(UTF8_ACCEPT, data), UTF8_REJECT, 'utf8Step: reject is sticky');
    // A sub-range (the close-reason path: isValidUtf8(payload, 2, length)).
    const rng = new Rng(hash32(data));
    const s = rng.below(n + 1);
    const e = s + rng.below(n - s + 1);
    assert.equal(isValidUtf8(data, s, e), decoderAccepts(data.subarray(s, e)), `isValidUtf8(data, ${s}, ${e})`);
    // Incremental: one piece, byte by byte, two pieces at every split.
    checkValidator([data], valid, invalidAt, 'one piece');
    checkValidator(
      Array.from(data, (_, i) => data.subarray(i, i + 1)),
      valid,
      invalidAt,
      'byte by byte',
    );
    const every = n <= 256;
    for (let k = 0; k <= n; k += every ? 1 : Math.max(1, n >> 6)) {
      checkValidator([data.subarray(0, k), data.subarray(k)], valid, invalidAt, `split at ${k}`);
      const st = utf8Step(utf8Step(UTF8_ACCEPT, data, 0, k), data, k, n);
      assert.equal(st === UTF8_ACCEPT, valid, `utf8Step split at ${k}`);
    }
    // reset() makes a used validator as good as new.
    const v = new Utf8Validator();
    v.write(Buffer.from([0xff]));
    v.reset();
    v.write(data);
    assert.equal(v.end(), valid, 'after reset()');
  },
};
