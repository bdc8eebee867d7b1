/**
 * The bench's log-linear histogram (src/cli/histogram.ts): buckets tile the integers without gap or overlap, and
 * every percentile is within one bucket's precision of the exact one from a sorted array of the same values.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  bucketHigh,
  bucketIndex,
  bucketLow,
  HISTOGRAM_RELATIVE_PRECISION,
  Histogram,
} from '../../../src/cli/histogram.js';

test('buckets tile the integers: each starts one past the previous end, and holds its own bounds', () => {
  let prevHigh = -1;
  for (let i = 0; bucketLow(i) < 2 ** 42; i++) {
    assert.equal(bucketLow(i), prevHigh + 1, `bucket ${i}`);
    assert.equal(bucketIndex(bucketLow(i)), i);
    assert.equal(bucketIndex(bucketHigh(i)), i);
    // Never wider than the precision promises.
    assert.ok(bucketHigh(i) - bucketLow(i) + 1 <= Math.max(1, bucketLow(i) * HISTOGRAM_RELATIVE_PRECISION));
    prevHigh = bucketHigh(i);
  }
});

/** The exact percentile the histogram approximates: the ceil(p% · n)-th smallest value. */
function exact(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] as number;
}

test('percentiles, min, max and mean against a sorted-array reference', () => {
  const value = fc.oneof(
    fc.integer({ min: 0, max: 300 }),
    fc.integer({ min: 0, max: 2_000_000 }),
    fc.integer({ min: 0, max: 2 ** 40 }),
  );
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 2000 }), (values) => {
      const h = new Histogram();
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      assert.equal(h.count, values.length);
      assert.equal(h.min, sorted[0]);
      assert.equal(h.max, sorted[sorted.length - 1]);
      assert.ok(Math.abs(h.mean() - values.reduce((a, b) => a + b, 0) / values.length) < 1e-6 * (h.max + 1));
      for (const p of [0, 1, 50, 90, 99, 99.9, 100]) {
        const want = exact(sorted, p);
        const got = h.percentile(p);
        assert.ok(got >= want, `p${p}: ${got} < exact ${want}`);
        assert.ok(got - want <= want * HISTOGRAM_RELATIVE_PRECISION, `p${p}: ${got} vs exact ${want}`);
      }
    }),
    { numRuns: 200 },
  );
});

test('countBetween: adjacent ranges count every value once; add() merges', () => {
  const h = new Histogram();
  const other = new Histogram();
  for (let i = 0; i < 5000; i++) (i % 2 ? h : other).record((i * 7919) % 1_000_003);
  h.add(other);
  assert.equal(h.count, 5000);
  const edges = [0, 10, 1000, 123_457, 500_000, 1_000_003];
  let total = 0;
  for (let i = 0; i + 1 < edges.length; i++) total += h.countBetween(edges[i] as number, edges[i + 1] as number);
  assert.equal(total, 5000);
  assert.equal(new Histogram().percentile(50), 0);
});
