/**
 * Random bytes for masking keys (RFC 6455 §5.3: "The masking key is a 32-bit value chosen at random by the
 * client ... derived from a strong source of entropy") and for `Sec-WebSocket-Key` nonces (§4.1).
 *
 * PERF: one `crypto.randomFillSync` call fills an 8 KiB pool, from which 4-byte masking keys are taken; the pool
 * is refilled when it runs out (ws and undici do the same). A syscall per frame would dominate small sends.
 *
 * The generator can be replaced for tests with `setRandomFill`; the pool is then discarded so the next key
 * comes from the new generator.
 */

import { randomFillSync } from 'node:crypto';

/** Fills `target` with random bytes, in place. */
export type RandomFill = (target: Uint8Array) => void;

/** Size of the masking-key pool: 2048 keys per `randomFillSync` call. */
export const RANDOM_POOL_SIZE = 8 * 1024;

const defaultFill: RandomFill = (target) => {
  randomFillSync(target);
};

let fill: RandomFill = defaultFill;
const pool: Buffer = Buffer.allocUnsafe(RANDOM_POOL_SIZE);
let poolOffset = RANDOM_POOL_SIZE;

/**
 * Replaces the random generator (tests only); `undefined` restores `crypto.randomFillSync`.
 *
 * @example
 * setRandomFill((b) => b.fill(0)); // all-zero masking keys
 * setRandomFill(undefined);
 */
export function setRandomFill(generator: RandomFill | undefined): void {
  fill = generator ?? defaultFill;
  poolOffset = RANDOM_POOL_SIZE;
}

/**
 * Takes 4 fresh random bytes (a masking key). With `target`, writes them at `offset` and returns `target`;
 * without, returns a new 4-byte Buffer.
 *
 * @example
 * const frame = Buffer.allocUnsafe(6);
 * takeMaskKey(frame, 2); // key in bytes 2..5
 */
export function takeMaskKey(): Buffer;
export function takeMaskKey<T extends Uint8Array>(target: T, offset?: number): T;
export function takeMaskKey(target?: Uint8Array, offset = 0): Uint8Array {
  if (poolOffset + 4 > RANDOM_POOL_SIZE) {
    fill(pool);
    poolOffset = 0;
  }
  const out = target ?? Buffer.allocUnsafe(4);
  const at = target === undefined ? 0 : offset;
  const p = poolOffset;
  out[at] = pool[p]!;
  out[at + 1] = pool[p + 1]!;
  out[at + 2] = pool[p + 2]!;
  out[at + 3] = pool[p + 3]!;
  poolOffset = p + 4;
  return out;
}

/** Returns `length` fresh random bytes straight from the generator (not the pool): for nonces such as keys. */
export function randomBytes(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  fill(out);
  return out;
}
