/**
 * The fuzzing loop: seeds in, then mutate a corpus input, run the target on it under coverage, keep it when it
 * reaches new features, until the time is up or the target fails. A failure (an oracle's assertion, or any
 * exception out of the code under test) is minimized, saved to `fuzz-crashes/<target>-<hash>.bin` and printed with
 * the one-line command that replays it.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Coverage } from './coverage.js';
import { type MutationContext, type Mutator, mutate, type Rng } from './mutate.js';

/** One fuzz target: a function of bytes and the oracles it checks. */
export interface FuzzTarget {
  /** Name used on the command line and in crash file names. */
  name: string;
  /** One line: what the target feeds and what it checks. */
  checks: string;
  /** Seed directories under test/fuzz/corpus/. */
  corpus: readonly string[];
  /** Tokens the mutator inserts (like libFuzzer's -dict). */
  dictionary: readonly (string | Uint8Array)[];
  /** Largest input the mutator makes. */
  maxLen: number;
  /** Structure-aware mutators of this target's input format (optional). */
  mutators?: readonly Mutator[];
  /** Runs one input. Throws when an oracle fails; returns normally otherwise. */
  run(data: Buffer): void;
}

/** Repository root (this file is dist/test/fuzz/engine.js once built). */
export const ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Seed corpus, committed: test/fuzz/corpus/<dir>/*. */
export const SEED_DIR: string = path.join(ROOT, 'test/fuzz/corpus');
/** Regression inputs (crashes that were fixed), committed: test/fuzz/regressions/<target>/*. */
export const REGRESSION_DIR: string = path.join(ROOT, 'test/fuzz/regressions');

/** The files of a directory (sorted), or none when it does not exist. */
export function readInputs(dir: string): { file: string; data: Buffer }[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: { file: string; data: Buffer }[] = [];
  for (const n of names) {
    const file = path.join(dir, n);
    if (statSync(file).isFile()) out.push({ file, data: readFileSync(file) });
  }
  return out;
}

export function sha1(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex');
}

/** A printable form of an input: latin1 with escapes, cut at `max` characters. */
export function printable(data: Uint8Array, max = 2000): string {
  let s = '';
  for (let i = 0; i < data.length && s.length < max; i++) {
    const c = data[i]!;
    if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x22) s += '\\"';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s.length >= max ? `${s}... (${data.length} bytes)` : s;
}

/** Runs `target` on `data`; the error it threw, or null. */
export function runOnce(target: FuzzTarget, data: Buffer): unknown {
  try {
    target.run(Buffer.from(data));
    return null;
  } catch (err) {
    return err === null ? new Error('null thrown') : err;
  }
}

/**
 * What identifies a failure while minimizing: the error's class (an oracle's AssertionError, or the TypeError,
 * RangeError... a core threw). Not its message: the oracles draw split points from the input's hash, so a smaller
 * input may trip the same bug under another assertion.
 */
export function signature(err: unknown): string {
  return err instanceof Error ? err.constructor.name : `thrown ${typeof err}`;
}

/** Shrinks a failing input while it fails the same way (chunks removed, then bytes simplified), within a budget. */
export function minimize(target: FuzzTarget, data: Buffer, err: unknown, budgetMs = 5000): Buffer {
  const sig = signature(err);
  const deadline = Date.now() + budgetMs;
  let best = data;
  const fails = (d: Buffer) => {
    const e = runOnce(target, d);
    return e !== null && signature(e) === sig;
  };
  for (let size = best.length >> 1; size >= 1 && Date.now() < deadline; size >>= 1) {
    let at = 0;
    while (at < best.length && Date.now() < deadline) {
      const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + size)]);
      if (candidate.length < best.length && fails(candidate)) best = candidate;
      else at += size;
    }
  }
  return best;
}

export interface Crash {
  target: string;
  error: unknown;
  input: Buffer;
  file: string;
  originalLength: number;
}

/** Saves a failing input and prints what failed, the input, and how to replay it. */
export function reportCrash(target: FuzzTarget, input: Buffer, error: unknown, originalLength: number): Crash {
  const dir = path.join(ROOT, 'fuzz-crashes');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${target.name}-${sha1(input).slice(0, 12)}.bin`);
  writeFileSync(file, input);
  const rel = path.relative(ROOT, file);
  const stack = error instanceof Error ? (error.stack ?? String(error)) : String(error);
  const lines = [
    '',
    `CRASH in target ${target.name}`,
    ...stack
      .split('\n')
      .slice(0, 14)
      .map((l) => `  ${l}`),
    `  input (${input.length} bytes${originalLength !== input.length ? `, minimized from ${originalLength}` : ''}):`,
    `    "${printable(input)}"`,
    `    hex ${input.toString('hex').slice(0, 4000)}`,
    `  saved to ${rel}`,
    `  reproduce: npm run fuzz -- --target ${target.name} --repro ${rel}`,
    '',
  ];
  console.error(lines.join('\n'));
  return { target: target.name, error, input, file: rel, originalLength };
}

export interface FuzzOptions {
  /** Time for this target, in milliseconds. */
  ms: number;
  rng: Rng;
  coverage: Coverage;
  /** Where new corpus inputs are kept between runs (fuzz-corpus/<target>), or null. */
  corpusDir: string | null;
  /** One run slower than this is a failure (a hang or a blow-up): default 2000 ms. */
  slowMs?: number;
}

export interface FuzzStats {
  target: string;
  execs: number;
  seeds: number;
  corpus: number;
  features: number;
  ms: number;
  crash: Crash | null;
}

/**
 * Fuzzes one target for `options.ms`. Seeds come from the target's corpus directories and `corpusDir`; an input is
 * kept (and written to `corpusDir`) when it reaches a feature none before it did.
 */
export function fuzzTarget(target: FuzzTarget, options: FuzzOptions): FuzzStats {
  const { rng, coverage } = options;
  const slowMs = options.slowMs ?? 2000;
  const started = Date.now();
  const deadline = started + options.ms;
  const seen = new Set<number>();
  const corpus: Buffer[] = [];
  const features: number[] = [];
  const dictionary = target.dictionary.map((t) => (typeof t === 'string' ? Buffer.from(t, 'latin1') : Buffer.from(t)));
  let execs = 0;
  let crash: Crash | null = null;

  /** Runs one input under coverage. Returns true when it was new. */
  const exec = (data: Buffer): boolean => {
    const t0 = performance.now();
    const err = runOnce(target, data);
    const took = performance.now() - t0;
    execs++;
    features.length = 0;
    coverage.collect(features);
    if (err === null && took > slowMs) {
      // Once more, to tell a slow input from a pause of the machine.
      const t1 = performance.now();
      runOnce(target, data);
      if (performance.now() - t1 > slowMs) {
        crash = reportCrash(target, data, new Error(`slow input: ${Math.round(took)} ms for one run`), data.length);
        return false;
      }
    }
    if (err !== null) {
      const small = minimize(target, data, err);
      crash = reportCrash(target, small, runOnce(target, small) ?? err, data.length);
      return false;
    }
    let fresh = false;
    for (const f of features) {
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    }
    return fresh;
  };

  coverage.reset();
  const seedInputs: Buffer[] = [];
  for (const dir of target.corpus) for (const s of readInputs(path.join(SEED_DIR, dir))) seedInputs.push(s.data);
  for (const s of readInputs(path.join(REGRESSION_DIR, target.name))) seedInputs.push(s.data);
  if (options.corpusDir !== null) for (const s of readInputs(options.corpusDir)) seedInputs.push(s.data);
  if (seedInputs.length === 0) seedInputs.push(Buffer.alloc(0));
  // Small seeds first, as libFuzzer does: the corpus keeps the smallest input for each feature.
  seedInputs.sort((a, b) => a.length - b.length);
  for (const s of seedInputs) {
    const input = s.length > target.maxLen ? s.subarray(0, target.maxLen) : s;
    if (exec(input)) corpus.push(input);
    if (crash !== null) break;
  }
  if (corpus.length === 0) corpus.push(seedInputs[0]!);
  const seeds = corpus.length;

  const ctx: MutationContext = { dictionary, other: () => rng.pick(corpus) };
  while (crash === null && Date.now() < deadline) {
    // Mostly anywhere in the corpus, sometimes among the newest finds (they lead to deeper states).
    const parent =
      rng.chance(0.2) && corpus.length > seeds
        ? corpus[seeds + rng.below(corpus.length - seeds)]!
        : corpus[rng.below(corpus.length)]!;
    const child = mutate(parent, rng, target.maxLen, ctx, target.mutators);
    if (exec(child)) {
      corpus.push(child);
      if (options.corpusDir !== null) {
        mkdirSync(options.corpusDir, { recursive: true });
        writeFileSync(path.join(options.corpusDir, sha1(child)), child);
      }
    }
  }
  return {
    target: target.name,
    execs,
    seeds,
    corpus: corpus.length,
    features: seen.size,
    ms: Date.now() - started,
    crash,
  };
}
