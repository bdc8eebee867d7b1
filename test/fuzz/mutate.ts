/**
 * Byte-level mutations in the manner of libFuzzer's MutationDispatcher (erase, insert, change bytes and bits,
 * shuffle, copy a part, ASCII and binary integers, dictionary tokens, cross-over with another corpus input),
 * stacked one to five at a time, and the small seeded PRNG the fuzzer and the oracles share.
 */

import { Buffer } from 'node:buffer';

/** xorshift128+ style PRNG on 32-bit halves: fast, seedable, good enough to pick mutations. */
export class Rng {
  #a: number;
  #b: number;
  constructor(seed: number) {
    this.#a = seed >>> 0 || 0x9e3779b9;
    this.#b = Math.imul(seed ^ 0x85ebca6b, 0xc2b2ae35) >>> 0 || 0x27d4eb2f;
    for (let i = 0; i < 8; i++) this.u32();
  }
  u32(): number {
    let s1 = this.#a;
    const s0 = this.#b;
    this.#a = s0;
    s1 ^= s1 << 11;
    s1 ^= s1 >>> 8;
    this.#b = (s1 ^ s0 ^ (s0 >>> 19)) >>> 0;
    return (this.#b + s0) >>> 0;
  }
  /** 0 .. n-1 (n >= 1). */
  below(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}

/** FNV-1a over the bytes: seeds the oracles' split points, so that a run depends on its input only. */
export function hash32(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Values that sit on boundaries of the formats under test (lengths 125/126/127, 2^16, 2^31, 2^53...). */
const INTERESTING: readonly number[] = [
  0, 1, 2, 7, 8, 0x0f, 0x10, 0x1f, 0x20, 0x3f, 0x40, 0x7d, 0x7e, 0x7f, 0x80, 0xff, 0x100, 0x3e8, 0x3e9, 0x3ef, 0x3f2,
  0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
];

/** A mutation of `data` that fits in `maxLen`; the result is a new Buffer. */
export type Mutator = (data: Buffer, rng: Rng, maxLen: number, ctx: MutationContext) => Buffer | null;

export interface MutationContext {
  dictionary: readonly Buffer[];
  /** Another corpus input, for cross-over. */
  other: () => Buffer;
}

function eraseBytes(d: Buffer, rng: Rng): Buffer | null {
  if (d.length === 0) return null;
  const n = 1 + rng.below(Math.min(d.length, rng.chance(0.7) ? 4 : 64));
  const at = rng.below(d.length - n + 1);
  return Buffer.concat([d.subarray(0, at), d.subarray(at + n)]);
}

function insertBytes(d: Buffer, rng: Rng, maxLen: number): Buffer | null {
  if (d.length >= maxLen) return null;
  const n = 1 + rng.below(Math.min(maxLen - d.length, rng.chance(0.7) ? 2 : 128));
  const at = rng.below(d.length + 1);
  const ins = Buffer.alloc(n, rng.chance(0.5) ? rng.below(256) : 0);
  if (rng.chance(0.5)) for (let i = 0; i < n; i++) ins[i] = rng.below(256);
  return Buffer.concat([d.subarray(0, at), ins, d.subarray(at)]);
}

function changeByte(d: Buffer, rng: Rng): Buffer | null {
  if (d.length === 0) return null;
  const out = Buffer.from(d);
  out[rng.below(out.length)] = rng.below(256);
  return out;
}

function changeBit(d: Buffer, rng: Rng): Buffer | null {
  if (d.length === 0) return null;
  const out = Buffer.from(d);
  const i = rng.below(out.length);
  out[i] = out[i]! ^ (1 << rng.below(8));
  return out;
}

function shuffleBytes(d: Buffer, rng: Rng): Buffer | null {
  if (d.length < 2) return null;
  const n = 2 + rng.below(Math.min(d.length - 1, 7));
  const at = rng.below(d.length - n + 1);
  const out = Buffer.from(d);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = out[at + i]!;
    out[at + i] = out[at + j]!;
    out[at + j] = t;
  }
  return out;
}

function copyPart(d: Buffer, rng: Rng, maxLen: number): Buffer | null {
  if (d.length === 0) return null;
  const n = 1 + rng.below(Math.min(d.length, 64));
  const from = rng.below(d.length - n + 1);
  const part = Buffer.from(d.subarray(from, from + n));
  const to = rng.below(d.length + 1);
  if (rng.chance(0.5) || d.length + n > maxLen) {
    // Overwrite.
    const out = Buffer.from(d);
    part.copy(out, Math.min(to, out.length - n));
    return out;
  }
  return Buffer.concat([d.subarray(0, to), part, d.subarray(to)]);
}

function changeAsciiInteger(d: Buffer, rng: Rng, maxLen: number): Buffer | null {
  // Find a run of decimal or hex digits near a random place and replace its value.
  if (d.length === 0) return null;
  let i = rng.below(d.length);
  const isDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
  while (i < d.length && !isDigit(d[i]!)) i++;
  if (i >= d.length) return null;
  let j = i;
  while (j < d.length && isDigit(d[j]!)) j++;
  const text = d.toString('latin1', i, j);
  const hex = /[a-fA-F]/.test(text);
  const v = Number.parseInt(text, hex ? 16 : 10);
  const choices = [v + 1, v - 1, v * 2, Math.floor(v / 2), rng.below(1000), rng.pick(INTERESTING), 2 ** 53, 2 ** 64];
  const nv = Math.max(0, rng.pick(choices));
  const s = Buffer.from(hex ? nv.toString(16) : BigInt(Math.floor(nv)).toString(10), 'latin1');
  const out = Buffer.concat([d.subarray(0, i), s, d.subarray(j)]);
  return out.length > maxLen ? null : out;
}

function changeBinaryInteger(d: Buffer, rng: Rng): Buffer | null {
  const size = rng.pick([1, 2, 4, 8]);
  if (d.length < size) return null;
  const at = rng.below(d.length - size + 1);
  const out = Buffer.from(d);
  let v: bigint;
  if (rng.chance(0.5)) {
    v = BigInt(rng.pick(INTERESTING));
    if (size === 8 && rng.chance(0.3)) v = rng.pick([2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
  } else {
    const old =
      size === 1
        ? BigInt(out[at]!)
        : size === 2
          ? BigInt(out.readUInt16BE(at))
          : size === 4
            ? BigInt(out.readUInt32BE(at))
            : out.readBigUInt64BE(at);
    v = old + BigInt(rng.below(33) - 16);
  }
  const mask = (1n << BigInt(size * 8)) - 1n;
  v &= mask;
  if (size === 1) out[at] = Number(v);
  else if (size === 2) out.writeUInt16BE(Number(v), at);
  else if (size === 4) out.writeUInt32BE(Number(v), at);
  else out.writeBigUInt64BE(v, at);
  return out;
}

function insertToken(d: Buffer, rng: Rng, maxLen: number, ctx: MutationContext): Buffer | null {
  if (ctx.dictionary.length === 0) return null;
  const t = rng.pick(ctx.dictionary);
  const at = rng.below(d.length + 1);
  if (rng.chance(0.5) && at + t.length <= d.length) {
    const out = Buffer.from(d);
    t.copy(out, at);
    return out;
  }
  if (d.length + t.length > maxLen) return null;
  return Buffer.concat([d.subarray(0, at), t, d.subarray(at)]);
}

function crossOver(d: Buffer, rng: Rng, maxLen: number, ctx: MutationContext): Buffer | null {
  const o = ctx.other();
  if (o.length === 0) return null;
  const a = rng.below(d.length + 1);
  const b = rng.below(o.length + 1);
  const out = rng.chance(0.5)
    ? Buffer.concat([d.subarray(0, a), o.subarray(b)])
    : Buffer.concat([d.subarray(0, a), o.subarray(b, b + 1 + rng.below(o.length - b + 1)), d.subarray(a)]);
  return out.length > maxLen ? out.subarray(0, maxLen) : out;
}

const GENERIC: readonly Mutator[] = [
  eraseBytes,
  insertBytes,
  changeByte,
  changeBit,
  shuffleBytes,
  copyPart,
  changeAsciiInteger,
  changeBinaryInteger,
  insertToken,
  insertToken,
  crossOver,
];

/**
 * One to five stacked mutations of `data` (libFuzzer's default depth), from the generic set and the target's own
 * structure-aware mutators (`custom`, picked half of the time when there are some).
 */
export function mutate(
  data: Buffer,
  rng: Rng,
  maxLen: number,
  ctx: MutationContext,
  custom: readonly Mutator[] = [],
): Buffer {
  let out = data;
  const depth = 1 + rng.below(5);
  for (let k = 0; k < depth; k++) {
    const m = custom.length > 0 && rng.chance(0.5) ? rng.pick(custom) : rng.pick(GENERIC);
    const next = m(out, rng, maxLen, ctx);
    if (next !== null && next.length <= maxLen) out = next;
  }
  return out === data
    ? (insertBytes(data, rng, maxLen) ?? changeByte(data, rng) ?? Buffer.from([rng.below(256)]))
    : out;
}
