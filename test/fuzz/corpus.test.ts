/**
 * The fuzz corpus as a regression suite: every seed (test/fuzz/corpus/) and every input that once failed
 * (test/fuzz/regressions/<target>/) goes through its target's oracles, without coverage or mutation. A seed that
 * fails here is a bug the fuzzer would report at once; `npm run fuzz` is the coverage-guided search around them.
 */

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { printable, REGRESSION_DIR, readInputs, runOnce, SEED_DIR } from './engine.js';
import { TARGETS } from './targets/index.js';

describe('fuzz corpus: every seed and regression input passes its target', () => {
  for (const target of TARGETS) {
    it(`${target.name}: ${target.checks}`, () => {
      const inputs = [
        ...target.corpus.flatMap((dir) => readInputs(path.join(SEED_DIR, dir))),
        ...readInputs(path.join(REGRESSION_DIR, target.name)),
      ];
      assert.ok(inputs.length > 0, 'no seeds');
      for (const { file, data } of inputs) {
        const err = runOnce(target, data);
        if (err !== null) {
          assert.fail(
            `${path.relative(SEED_DIR, file)} ("${printable(data, 200)}"): ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    });
  }
});
