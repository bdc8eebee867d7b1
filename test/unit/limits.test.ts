/**
 * src/limits.ts is the one home of every default limit and timeout: each export is a positive (or, for "unlimited",
 * zero) finite number with a comment above it saying where the number comes from, and docs/limits.md names every
 * one of them, so the page cannot fall behind the code.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as limits from '../../src/limits.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const source = readFileSync(path.join(repo, 'src/limits.ts'), 'utf8');
const doc = readFileSync(path.join(repo, 'docs/limits.md'), 'utf8');
const names = Object.keys(limits);

test('every limit is a finite, non-negative number', () => {
  assert.ok(names.length >= 30, `only ${names.length} exports`);
  for (const [name, value] of Object.entries(limits)) {
    assert.equal(typeof value, 'number', name);
    assert.ok(Number.isFinite(value) && value >= 0, name);
  }
});

test('every limit has a comment above it (its provenance)', () => {
  const missing: string[] = [];
  for (const name of names) {
    const at = source.indexOf(`export const ${name} =`);
    assert.ok(at >= 0, name);
    if (!source.slice(0, at).trimEnd().endsWith('*/')) missing.push(name);
  }
  assert.deepEqual(missing, []);
});

test('docs/limits.md names every limit', () => {
  const missing = names.filter((name) => !doc.includes(`\`${name}\``));
  assert.deepEqual(missing, []);
});

test('the shared linger and the numbers moved here keep their values', () => {
  assert.equal(limits.LINGER_MS, 2_000);
  assert.equal(limits.HTTP_BODY_HIGH_WATER_MARK, 64 * 1024);
  assert.equal(limits.LISTEN_BACKLOG, 511);
  assert.equal(limits.WRITER_ARENA_SIZE, 8 * 1024);
  assert.equal(limits.WRITER_HOLD_MAX, 256 * 1024);
  assert.equal(limits.WRITER_COPY_LIMIT, 2 * 1024);
  assert.equal(limits.WS_EARLY_BYTES_LIMIT, 64 * 1024);
  assert.equal(limits.WS_CLIENT_MAX_RESPONSE_HEAD_BYTES, 16 * 1024);
});
