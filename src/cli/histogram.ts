/**
 * A latency histogram for `sockeye bench` in the manner of HdrHistogram: log-linear buckets in fixed memory, so that
 * recording is one index computation and one increment, whatever the run's length.
 *
 * Values are non-negative integers (the bench records nanoseconds). Below 2·S (S = sub-buckets per power of two)
 * every value has its own bucket; above, each power-of-two range [2^e, 2^(e+1)) is cut into S equal buckets, so a
 * bucket is never wider than 1/S of the values in it: with S = 128, a percentile is within 0.79 % of the exact one.
 */

/** Sub-buckets per power of two, as a power of two (2^7 = 128: width at most 1/128 of the value). */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Largest power of two covered: 2^43 ns is about 2.4 hours; larger values are counted in the last bucket. */
const MAX_EXPONENT = 43;
const BUCKETS = (MAX_EXPONENT - SUB_BITS + 2) * SUB;
const TWO_32 = 2 ** 32;

/** Position of the highest set bit of a positive integer below 2^53. */
function highestBit(v: number): number {
  return v < TWO_32 ? 31 - Math.clz32(v) : 63 - Math.clz32(Math.floor(v / TWO_32));
}

/** Index of the bucket that holds `v`. */
export function bucketIndex(v: number): number {
  if (v < 2 * SUB) return v;
  const shift = highestBit(v) - SUB_BITS;
  if (shift > MAX_EXPONENT - SUB_BITS) return BUCKETS - 1;
  // `sub` is in [SUB, 2·SUB): bucket ranges of successive shifts follow each other without a gap.
  const sub = Math.floor(v / 2 ** shift);
  return shift * SUB + sub;
}

/** Smallest value of bucket `i`. */
export function bucketLow(i: number): number {
  if (i < 2 * SUB) return i;
  const shift = Math.floor(i / SUB) - 1;
  return (i - shift * SUB) * 2 ** shift;
}

/** Largest value of bucket `i` (what a percentile in it reports, as HdrHistogram's "highest equivalent value"). */
export function bucketHigh(i: number): number {
  if (i < 2 * SUB) return i;
  const shift = Math.floor(i / SUB) - 1;
  return bucketLow(i) + 2 ** shift - 1;
}

/** A fixed-memory log-linear histogram of non-negative integers. */
export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  /** Counts one value (rounded to an integer, negatives as 0). */
  record(value: number): void {
    const v = value > 0 ? Math.round(value) : 0;
    this.counts[bucketIndex(v)]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  /** Adds every count of `other`. */
  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i] as number;
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
    if (other.min < this.min) this.min = other.min;
  }

  /** Mean of the recorded values; 0 when empty. */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * The value at percentile `p` (0-100): the highest value of the bucket that holds the ceil(p% · count)-th
   * smallest value, never above the exact maximum. 0 when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(bucketHigh(i), this.max);
    }
    return this.max;
  }

  /**
   * How many recorded values are in [low, high), at bucket precision: a bucket counts whole where its smallest value
   * falls, so ranges that follow each other count every bucket once.
   */
  countBetween(low: number, high: number): number {
    let n = 0;
    let i = bucketIndex(Math.max(0, Math.ceil(low)));
    if (bucketLow(i) < low) i++;
    for (; i < BUCKETS; i++) {
      if (bucketLow(i) >= high) break;
      n += this.counts[i] as number;
    }
    return n;
  }
}

/** The widest bucket relative to the values in it (for the docs and tests). */
export const HISTOGRAM_RELATIVE_PRECISION = 1 / SUB;
