/**
 * Every code example of README.md and docs/*.md (fences tagged ts, typescript or js) is a program that compiles
 * against the package as users import it, so an example cannot drift from the API. Each block becomes its own
 * module in a scratch folder inside the repository (dist/), where `import … from 'sockeye'` (and `sockeye/redis`,
 * `sockeye/cluster`) resolves through package.json's export map to the built declarations, as in a user's project
 * (a package may import itself by name). They are type-checked together, in process, the way a strict user
 * project does (`strict`, `exactOptionalPropertyTypes`, `noUncheckedIndexedAccess`, `skipLibCheck: false`,
 * NodeNext, no DOM lib); blocks marked runnable are then run with Node against a real server, each with a deadline.
 * A failure names the markdown file and line. Fast and offline: the packed tarball is test/integration/package.test.ts.
 *
 * A block's kind comes from an HTML comment before its fence: none (type-checked), `<!-- example: run -->` (also
 * run), `<!-- example: prelude <declarations> -->`, `<!-- example: fragment -->` (see test/helpers/markdown-examples.ts).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { type ExampleBlock, extractExamples } from '../helpers/markdown-examples.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** How long one runnable example may take before it is killed and reported. */
const RUN_DEADLINE_MS = 20_000;
const MARKDOWN = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const problems: string[] = [];
const blocks = MARKDOWN.flatMap((file) => {
  const found = extractExamples(file, readFileSync(path.join(ROOT, file), 'utf8'));
  problems.push(...found.problems);
  return found.blocks;
});
const checked = blocks.filter((b) => b.kind !== 'fragment');

/** A scratch folder inside the repository, so that the package's own name (and its devDependencies) resolve. */
const scratch = mkdtempSync(path.join(ROOT, 'dist', 'doc-examples-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The module a block is written to (with its prelude as the first line when there is one). */
function moduleOf(b: ExampleBlock, i: number): { fileName: string; preludeLines: number; text: string } {
  const base = `${i.toString().padStart(2, '0')}-${b.file.replace(/[/.]/g, '_')}-${b.line}`;
  const preludeLines = b.prelude === '' ? 0 : 1;
  const text = b.prelude === '' ? b.code : `${b.prelude}\n${b.code}`;
  return { fileName: path.join(scratch, `${base}.${b.lang}`), preludeLines, text };
}

const modules = checked.map(moduleOf);
for (const m of modules) writeFileSync(m.fileName, `${m.text}\n`);

/** A strict user project on Node 20 (the options of test/api/surface.ts), checking JavaScript examples too. */
const options: ts.CompilerOptions = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  noEmit: true,
  allowJs: true,
  checkJs: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  typeRoots: [path.join(ROOT, 'node_modules/@types')],
};

/** "README.md:57:9 TS2304: Cannot find name 'x'", the position mapped back into the markdown. */
function describeDiagnostic(d: ts.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n    ');
  const idx = d.file === undefined ? -1 : modules.findIndex((m) => m.fileName === d.file?.fileName);
  if (d.file === undefined || d.start === undefined || idx < 0) return `TS${d.code}: ${text}`;
  const b = checked[idx] as ExampleBlock;
  const m = modules[idx] as (typeof modules)[number];
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  const where =
    line < m.preludeLines
      ? `${b.file}:${b.line - 2} (the prelude)`
      : `${b.file}:${b.line + line - m.preludeLines}:${character + 1}`;
  return `${where} TS${d.code}: ${text}`;
}

test('the examples are found; every fence has a language and every marker a block', () => {
  assert.deepEqual(problems, []);
  // The README alone has more than ten; finding far fewer means the extraction broke, not that they are fine.
  assert.ok(checked.length >= 20, `only ${checked.length} example blocks found in ${MARKDOWN.join(', ')}`);
  assert.ok(
    blocks.some((b) => b.kind === 'run'),
    'no example is marked runnable (<!-- example: run -->)',
  );
});

test('every example imports the package by its public names, never by a path into it', () => {
  const bad: string[] = [];
  for (const b of checked) {
    for (const m of b.code.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('.') || spec.startsWith('/') || /^sockeye\/(?!redis$|cluster$)/.test(spec)) {
        bad.push(`${b.file}:${b.line}: imports '${spec}'`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

test('every example type-checks against the published entry points (strict, skipLibCheck: false)', () => {
  const program = ts.createProgram({ rootNames: modules.map((m) => m.fileName), options });
  const diagnostics: ts.Diagnostic[] = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  for (const m of modules) {
    const sf = program.getSourceFile(m.fileName);
    assert.ok(sf !== undefined, `${m.fileName} is not in the program`);
    diagnostics.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
  }
  // The imports must reach the built package (dist/src), not some other copy.
  const resolved = program.getSourceFiles().map((sf) => path.relative(ROOT, sf.fileName));
  assert.ok(resolved.includes('dist/src/index.d.ts'), 'no example resolved `sockeye` to dist/src/index.d.ts');
  if (diagnostics.length > 0) {
    assert.fail(
      `${diagnostics.length} type errors in the examples:\n${diagnostics.map(describeDiagnostic).join('\n')}`,
    );
  }
});

interface RunResult {
  code: number | null;
  output: string;
  timedOut: boolean;
}

function runModule(file: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: scratch,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, RUN_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

for (const [i, b] of checked.entries()) {
  if (b.kind !== 'run') continue;
  test(`the example at ${b.file}:${b.line} runs and exits by itself`, async () => {
    const m = modules[i] as (typeof modules)[number];
    const js = `${m.fileName.replace(/\.(ts|js)$/, '')}.run.mjs`;
    const out = ts.transpileModule(m.text, {
      fileName: m.fileName,
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: false },
    });
    writeFileSync(js, out.outputText);
    const r = await runModule(js);
    assert.ok(
      !r.timedOut && r.code === 0,
      `${b.file}:${b.line}: ${r.timedOut ? `still running after ${RUN_DEADLINE_MS} ms (killed)` : `exit code ${r.code}`}\n${r.output}`,
    );
  });
}

test('fragments (not checked) are listed', (t) => {
  const fragments = blocks.filter((b) => b.kind === 'fragment').map((b) => `${b.file}:${b.line}`);
  t.diagnostic(`fragments: ${fragments.length === 0 ? 'none' : fragments.join(', ')}`);
  // A fragment is an exception: most examples must be whole programs.
  assert.ok(fragments.length * 4 <= blocks.length, `too many fragments: ${fragments.join(', ')}`);
});
