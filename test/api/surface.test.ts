/**
 * The published types: they compile in a strict user project that checks libraries (`skipLibCheck: false`, with and
 * without the DOM lib), and the public surface they show is the committed one (test/api/sockeye.api.md), so every
 * change to it shows in review. Runs on the declarations `npm run build` wrote to dist/src.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { apiSurface, declarationErrors, ENTRIES, ROOT, readSnapshot } from './surface.js';

const STRIP_HINT =
  'A user compiling with skipLibCheck: false gets these errors. Usual cause: a declaration marked @internal ' +
  '(stripped by tsconfig stripInternal) that a published declaration still names, or an `implements` of an ' +
  'interface whose members are @internal. Un-mark it, or mark what refers to it too.';

test('every entry point of package.json exports is in the surface, with its declarations', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { types?: string }>;
  };
  const entries = Object.entries(pkg.exports)
    .filter(([key]) => key !== './package.json')
    .map(([key, target]) => ({
      name: key === '.' ? 'sockeye' : `sockeye/${key.slice(2)}`,
      dts: typeof target === 'string' ? undefined : target.types && path.join(ROOT, target.types),
    }));
  assert.deepEqual(
    entries,
    ENTRIES.map((e) => ({ name: e.name, dts: e.dts })),
  );
});

for (const lib of [['ES2022'], ['ES2022', 'DOM', 'DOM.Iterable']]) {
  test(`the published declarations compile (strict, skipLibCheck: false, lib ${lib.join(' + ')})`, () => {
    const errors = declarationErrors(lib);
    assert.deepEqual(errors, [], `${errors.join('\n')}\n\n${STRIP_HINT}`);
  });
}

test('the public API surface is the committed one (test/api/sockeye.api.md)', () => {
  const actual = apiSurface();
  const expected = readSnapshot();
  if (actual === expected) return;
  const a = actual.split('\n');
  const e = expected.split('\n');
  const lines: string[] = [];
  for (let i = 0; i < Math.max(a.length, e.length) && lines.length < 40; i++) {
    if (a[i] === e[i]) continue;
    if (e[i] !== undefined) lines.push(`${i + 1} - ${e[i]}`);
    if (a[i] !== undefined) lines.push(`${i + 1} + ${a[i]}`);
  }
  assert.fail(
    'The public types changed. If the change is deliberate, run `npm run api:update` and commit ' +
      `test/api/sockeye.api.md with it (first differing lines, - committed, + built):\n${lines.join('\n')}`,
  );
});
