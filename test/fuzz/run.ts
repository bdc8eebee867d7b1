/**
 * `npm run fuzz -- [options]`: coverage-guided fuzzing of the sans-I/O cores (see docs/fuzzing.md).
 *
 *   --minutes N | --seconds N   time for all targets together, split evenly (default 60 s)
 *   --target a,b                only these targets (default: all)
 *   --repro FILE                run one input through --target once and print the result (exit 1 if it fails)
 *   --seed N                    PRNG seed of the mutator (default: from the clock; printed)
 *   --corpus DIR                keep new corpus inputs in DIR/<target> and start from them next time
 *                               (default fuzz-corpus); --no-corpus: seeds only, nothing written
 *   --list                      print the targets and what each checks
 *
 * Exits 1 when a target failed (the input is in fuzz-crashes/ with the command that replays it), 2 on bad usage.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Coverage } from './coverage.js';
import { type FuzzStats, fuzzTarget, printable, ROOT, runOnce } from './engine.js';
import { Rng } from './mutate.js';
import { TARGETS } from './targets/index.js';

function usage(message: string): never {
  console.error(`fuzz: ${message} (see test/fuzz/run.ts or docs/fuzzing.md)`);
  process.exit(2);
}

const args = process.argv.slice(2);
let totalMs = 60_000;
let only: string[] | null = null;
let repro: string | null = null;
let seed = Date.now() >>> 0;
let corpusRoot: string | null = path.join(ROOT, 'fuzz-corpus');
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  const value = (): string => {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  if (a === '--minutes') totalMs = Number(value()) * 60_000;
  else if (a === '--seconds') totalMs = Number(value()) * 1000;
  else if (a === '--target') only = value().split(',');
  else if (a === '--repro') repro = value();
  else if (a === '--seed') seed = Number(value()) >>> 0;
  else if (a === '--corpus') corpusRoot = path.resolve(value());
  else if (a === '--no-corpus') corpusRoot = null;
  else if (a === '--list') {
    for (const t of TARGETS) console.log(`${t.name.padEnd(28)} ${t.checks}`);
    process.exit(0);
  } else usage(`unknown option ${a}`);
}
if (!(totalMs > 0)) usage('the time must be a positive number');
const targets = only === null ? TARGETS : TARGETS.filter((t) => only.includes(t.name));
if (only !== null && targets.length !== only.length) {
  usage(`unknown target in ${only.join(',')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
}

if (repro !== null) {
  if (targets.length !== 1) usage('--repro needs exactly one --target');
  const target = targets[0]!;
  const data = readFileSync(repro);
  console.log(`${target.name} on ${repro} (${data.length} bytes): "${printable(data, 400)}"`);
  const err = runOnce(target, data);
  if (err === null) {
    console.log('passes');
    process.exit(0);
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
}

const coverage = new Coverage();
const rng = new Rng(seed);
const per = Math.floor(totalMs / targets.length);
console.log(
  `fuzz: ${targets.length} targets, ${(totalMs / 1000).toFixed(0)} s in all (${(per / 1000).toFixed(1)} s each), seed ${seed}`,
);
const results: FuzzStats[] = [];
for (const target of targets) {
  const stats = fuzzTarget(target, {
    ms: per,
    rng,
    coverage,
    corpusDir: corpusRoot === null ? null : path.join(corpusRoot, target.name),
  });
  results.push(stats);
  const rate = Math.round(stats.execs / Math.max(stats.ms / 1000, 0.001));
  console.log(
    `  ${target.name.padEnd(28)} ${String(stats.execs).padStart(8)} execs ${String(rate).padStart(6)}/s  corpus ${String(stats.corpus).padStart(4)} (seeds ${stats.seeds})  features ${String(stats.features).padStart(5)}  ${stats.crash === null ? 'ok' : `CRASH -> ${stats.crash.file}`}`,
  );
}
coverage.stop();
const crashed = results.filter((r) => r.crash !== null);
console.log(
  `fuzz: ${results.reduce((n, r) => n + r.execs, 0)} execs, ${coverage.blocks} blocks of src/ reached, ${crashed.length === 0 ? 'no crash' : `${crashed.length} target(s) crashed`}`,
);
process.exit(crashed.length === 0 ? 0 : 1);
