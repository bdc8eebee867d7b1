/**
 * `npm run api:update`: rewrites test/api/sockeye.api.md from the built declarations (see surface.ts). Run after a
 * deliberate change to the public types, and review the diff with the change.
 */

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { apiSurface, declarationErrors, ROOT, readSnapshot, SNAPSHOT } from './surface.js';

const errors = declarationErrors(['ES2022']);
if (errors.length > 0) {
  process.stderr.write(`The published declarations do not compile:\n${errors.join('\n')}\n`);
  process.exitCode = 1;
} else {
  const text = apiSurface();
  const rel = path.relative(ROOT, SNAPSHOT);
  if (text === readSnapshot()) process.stdout.write(`${rel}: unchanged\n`);
  else {
    writeFileSync(SNAPSHOT, text);
    process.stdout.write(`${rel}: updated (review the diff: it is a change to the public API)\n`);
  }
}
