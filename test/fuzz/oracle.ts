/**
 * What every target checks besides its own model: errors are the documented ones (read from docs/api.md, with their
 * status or close code), inputs are fed in several splits chosen from the input's own hash (so a failure replays
 * from its bytes alone), and each chunk handed to a core sits between guard bytes that must be intact afterwards (a
 * core never writes outside the chunk it was given, e.g. when it unmasks in place).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ProtocolError } from '../../src/errors.js';
import { ROOT } from './engine.js';
import { hash32, Rng } from './mutate.js';

let documented: Map<string, number> | null = null;

/**
 * The error codes of docs/api.md's two tables, `| \`ERR_...\` | status or close code | ...`: the codes a peer's
 * bytes may produce, each with the one status (HTTP) or close code (WebSocket) it is documented with.
 */
export function documentedErrors(): Map<string, number> {
  if (documented !== null) return documented;
  const text = readFileSync(path.join(ROOT, 'docs/api.md'), 'utf8');
  const map = new Map<string, number>();
  for (const m of text.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \| (\d{3,4}) \|/gm)) map.set(m[1]!, Number(m[2]));
  assert.ok(map.size > 30, 'docs/api.md error tables not found');
  documented = map;
  return map;
}

/** An HTTP parse error: a ProtocolError whose code is documented with its status; no close code. */
export function checkHttpError(err: unknown): asserts err is ProtocolError {
  assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
  assert.match(err.code, /^ERR_HTTP_/);
  assert.equal(documentedErrors().get(err.code), err.status, `${err.code} is documented with status ${err.status}`);
  assert.equal(err.closeCode, 0);
}

/** A WebSocket protocol error: a ProtocolError whose code is documented with its close code; no status. */
export function checkWsError(err: unknown): asserts err is ProtocolError {
  assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
  assert.match(err.code, /^ERR_WS_/);
  assert.equal(documentedErrors().get(err.code), err.closeCode, `${err.code} documented with ${err.closeCode}`);
  assert.equal(err.status, 0);
}

/** A plan for feeding an input: the lengths of its chunks, in order. */
export interface Split {
  name: string;
  cuts: number[];
}

/**
 * The ways an input is fed: whole, byte by byte (inputs up to `bytewiseMax`), at one point and at several, the
 * points drawn from the input's hash.
 */
export function splitsOf(data: Uint8Array, bytewiseMax = 1024): Split[] {
  const n = data.length;
  const out: Split[] = [{ name: 'one piece', cuts: [] }];
  if (n < 2) return out;
  if (n <= bytewiseMax) out.push({ name: 'byte by byte', cuts: Array.from({ length: n - 1 }, (_, i) => i + 1) });
  const rng = new Rng(hash32(data));
  const one = 1 + rng.below(n - 1);
  out.push({ name: `split at ${one}`, cuts: [one] });
  const many = new Set<number>();
  const k = 2 + rng.below(6);
  for (let i = 0; i < k; i++) many.add(1 + rng.below(n - 1));
  const cuts = [...many].sort((a, b) => a - b);
  out.push({ name: `split at ${cuts.join(',')}`, cuts });
  return out;
}

/** The chunks of `data` for a split. */
export function chunksOf(data: Uint8Array, split: Split): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of split.cuts) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  out.push(data.subarray(prev));
  return out;
}

const GUARD = 16;

/**
 * A copy of `bytes` in its own memory, between GUARD bytes of a pattern on each side; `check()` asserts that the
 * guards are intact.
 */
export class Guarded {
  readonly chunk: Buffer;
  readonly #whole: Buffer;
  constructor(bytes: Uint8Array) {
    this.#whole = Buffer.alloc(bytes.length + 2 * GUARD, 0xa5);
    this.#whole.set(bytes, GUARD);
    this.chunk = this.#whole.subarray(GUARD, GUARD + bytes.length);
  }
  check(what: string): void {
    const w = this.#whole;
    for (let i = 0; i < GUARD; i++) {
      if (w[i] !== 0xa5 || w[w.length - 1 - i] !== 0xa5) assert.fail(`${what}: a byte outside the chunk was written`);
    }
  }
}

/** Asserts deep equality with a message that names the two runs compared. */
export function sameAs<T>(actual: T, expected: T, what: string): void {
  assert.deepStrictEqual(actual, expected, what);
}
