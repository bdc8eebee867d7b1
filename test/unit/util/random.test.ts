/**
 * util/random.ts: masking keys come from a pool filled in one call of the generator, are fresh on every call,
 * can be written into a target, and the generator can be injected (and restored) for tests.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { RANDOM_POOL_SIZE, randomBytes, setRandomFill, takeMaskKey } from '../../../src/util/random.js';

describe('RFC 6455 §5.3 masking keys', () => {
  afterEach(() => setRandomFill(undefined));

  it('takes 4-byte keys from a pool filled once per 2048 keys', () => {
    let fills = 0;
    let counter = 0;
    setRandomFill((b) => {
      fills++;
      for (let i = 0; i < b.length; i++) b[i] = counter++ & 0xff;
    });
    const first = takeMaskKey();
    assert.equal(first.length, 4);
    assert.deepEqual([...first], [0, 1, 2, 3]);
    assert.deepEqual([...takeMaskKey()], [4, 5, 6, 7]);
    assert.equal(fills, 1);
    for (let i = 2; i < RANDOM_POOL_SIZE / 4; i++) takeMaskKey();
    assert.equal(fills, 1, 'the pool lasts 2048 keys');
    takeMaskKey();
    assert.equal(fills, 2, 'refilled when exhausted');
  });

  it('returns a new buffer each time (keys are not views into the pool)', () => {
    const a = takeMaskKey();
    const copy = Buffer.from(a);
    for (let i = 0; i < RANDOM_POOL_SIZE; i++) takeMaskKey();
    assert.deepEqual(a, copy);
  });

  it('writes into a target at an offset', () => {
    setRandomFill((b) => b.fill(0xab));
    const target = Buffer.alloc(8);
    const r = takeMaskKey(target, 2);
    assert.equal(r, target);
    assert.deepEqual([...target], [0, 0, 0xab, 0xab, 0xab, 0xab, 0, 0]);
  });

  it('the real generator gives different keys', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(takeMaskKey().toString('hex'));
    assert.ok(seen.size > 90);
  });

  it('randomBytes uses the generator directly', () => {
    setRandomFill((b) => b.fill(7));
    assert.deepEqual(randomBytes(16), Buffer.alloc(16, 7));
    setRandomFill(undefined);
    assert.notDeepEqual(randomBytes(16), Buffer.alloc(16, 7));
  });
});
