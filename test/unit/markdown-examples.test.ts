/**
 * The extraction of code examples from markdown (test/helpers/markdown-examples.ts) that the doc-examples test
 * relies on: fences and their languages, the kinds markers give, line numbers, and every malformed case reported
 * with its line rather than skipped.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractExamples } from '../helpers/markdown-examples.js';

const md = (...lines: string[]) => lines.join('\n');

test('blocks by language and kind, with the line of their first code line', () => {
  const { blocks, problems } = extractExamples(
    'x.md',
    md(
      '# title', // 1
      '```ts', // 2
      "import { serve } from 'sockeye';", // 3
      '```', // 4
      '<!-- example: run -->', // 5
      '', // 6
      '```typescript', // 7
      'await serve({ port: 0 });', // 8
      '```', // 9
      '<!-- example: prelude declare const url: string; -->', // 10
      '~~~js', // 11
      'console.log(url);', // 12
      '~~~', // 13
      '<!-- example: fragment -->', // 14
      '```ts', // 15
      'open(ws) {},', // 16
      '```', // 17
      '```sh', // 18
      'npm test', // 19
      '```', // 20
      '```text', // 21
      'a diagram', // 22
      '```', // 23
    ),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(
    blocks.map((b) => [b.line, b.lang, b.kind, b.prelude, b.code]),
    [
      [3, 'ts', 'check', '', "import { serve } from 'sockeye';"],
      [8, 'ts', 'run', '', 'await serve({ port: 0 });'],
      [12, 'js', 'check', 'declare const url: string;', 'console.log(url);'],
      [16, 'ts', 'fragment', '', 'open(ws) {},'],
    ],
  );
});

test('a longer fence holds a shorter one; an indented fence (a list item) is de-indented', () => {
  const { blocks, problems } = extractExamples(
    'x.md',
    md(
      '````markdown',
      '```ts',
      'not an example',
      '```',
      '````',
      '- item:',
      '  ```ts',
      '  const a = 1;',
      '    a;',
      '  ```',
    ),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(
    blocks.map((b) => [b.line, b.code]),
    [[8, 'const a = 1;\n  a;']],
  );
});

test('malformed markdown is reported with its line, not skipped', () => {
  const { problems } = extractExamples(
    'x.md',
    md(
      '<!-- example: runn -->', // 1: unknown
      '<!-- example: run -->', // 2: followed by prose
      'some prose',
      '<!-- example: run -->', // 4: before a shell block
      '```sh',
      'ls',
      '```',
      '```', // 8: no language
      'a diagram',
      '```',
      '```ts', // 11: never closed
      'const a = 1;',
    ),
  );
  assert.deepEqual(problems, [
    'x.md:1: unknown example marker: <!-- example: runn -->',
    'x.md:2: an example marker must come right before a code fence',
    'x.md:4: an example marker before a block that is not ts or js',
    'x.md:8: a code fence without a language (```text for diagrams)',
    'x.md:11: code fence never closed',
  ]);
});
