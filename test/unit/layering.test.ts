/**
 * The layering rule of DESIGN.md, enforced on the sources: the sans-I/O cores (util, http1, ws, pubsub)
 * import only each other in the allowed direction, errors.ts, limits.ts, node:buffer and node:crypto, and use no
 * timers, clock or `process`; http1/ and ws/ keep no module-level state; cli/ and inspector/ import only index.ts;
 * nothing imports node/ but index.ts and node/ itself, and node/ is the only layer that imports an I/O module
 * (net, tls, zlib, timers...); listeners are made in node/listener.ts only, and the socket read buffer lives in
 * node/read-buffer.ts; no cycles at run time (an `import type` is erased by the compiler: the inspector's types
 * from index.ts make no cycle with the one dynamic import that loads it, in node/server.ts).
 */

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listTs(full));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

function importsOf(file: string, runtimeOnly = false): string[] {
  const text = readFileSync(file, 'utf8');
  const re = /^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/gm;
  const out: string[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    // `import type { … }` / `export type { … }`: nothing at run time.
    if (runtimeOnly && /^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
    out.push((m[1] ?? m[2] ?? m[3]) as string);
  }
  return out;
}

/** Top-level area of a source file: 'util', 'http1', 'ws', 'pubsub', 'node', 'cli', 'inspector', or the file name. */
function area(file: string): string {
  const rel = path.relative(root, file).split(path.sep);
  return rel.length > 1 ? (rel[0] as string) : (rel[0] as string).replace(/\.ts$/, '');
}

const CORE_ALLOWED: Record<string, string[]> = {
  util: ['util', 'errors', 'limits'],
  http1: ['util', 'http1', 'errors', 'limits'],
  ws: ['util', 'http1', 'ws', 'errors', 'limits'],
  pubsub: ['util', 'pubsub', 'errors', 'limits'],
};
const CORE_NODE_MODULES = new Set(['node:buffer', 'node:crypto']);

const files = listTs(root);
function buildGraph(runtimeOnly: boolean): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const spec of importsOf(f, runtimeOnly)) {
      if (spec.startsWith('.')) deps.push(path.resolve(path.dirname(f), spec).replace(/\.js$/, '.ts'));
      else deps.push(spec);
    }
    g.set(f, deps);
  }
  return g;
}
const graph = buildGraph(false);
/** Without type-only imports: what runs. */
const runtimeGraph = buildGraph(true);

test('the cores import only what the layering rule allows', () => {
  const violations: string[] = [];
  for (const [f, deps] of graph) {
    const a = area(f);
    const allowed = CORE_ALLOWED[a];
    if (allowed === undefined) continue;
    for (const d of deps) {
      if (!d.startsWith('/')) {
        if (!CORE_NODE_MODULES.has(d)) violations.push(`${path.relative(root, f)} imports ${d}`);
      } else if (!allowed.includes(area(d)))
        violations.push(`${path.relative(root, f)} imports ${path.relative(root, d)}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('cli/, inspector/, redis/ and cluster/ use the public API only (cluster/ also limits.ts); only index.ts reaches into node/', () => {
  const violations: string[] = [];
  for (const [f, deps] of graph) {
    const a = area(f);
    for (const d of deps) {
      if (!d.startsWith('/')) continue;
      const b = area(d);
      // cli/ may also use the other public entry points, sockeye/redis and sockeye/cluster; cluster/ reads its
      // numbers from limits.ts (constants only, where every number of the project is kept with its provenance).
      const outer = a === 'cli' || a === 'inspector' || a === 'redis' || a === 'cluster';
      const allowed =
        b === a ||
        b === 'index' ||
        (a === 'cli' && (b === 'redis' || b === 'cluster')) ||
        (a === 'cluster' && b === 'limits');
      if (outer && !allowed) {
        violations.push(`${path.relative(root, f)} imports ${path.relative(root, d)}`);
      }
      if (b === 'node' && a !== 'node' && a !== 'index')
        violations.push(`${path.relative(root, f)} imports ${path.relative(root, d)}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('node/ reaches inspector/ only through the dynamic import in server.ts (loaded when asked for)', () => {
  const edges: string[] = [];
  for (const [f, deps] of graph) {
    if (area(f) === 'inspector') continue;
    for (const d of deps) if (d.startsWith('/') && area(d) === 'inspector') edges.push(path.relative(root, f));
  }
  assert.deepEqual(edges, ['node/server.ts']);
  const text = readFileSync(path.join(root, 'node/server.ts'), 'utf8');
  assert.match(text, /await import\('\.\.\/inspector\/index\.js'\)/);
  assert.doesNotMatch(text, /^\s*import[^;]*from\s+'\.\.\/inspector\//m);
});

test('no import cycles at run time', () => {
  const state = new Map<string, number>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    state.set(f, 1);
    for (const d of runtimeGraph.get(f) ?? []) {
      if (!runtimeGraph.has(d)) continue;
      if (state.get(d) === 1) cycles.push([...stack, f, d].map((x) => path.relative(root, x)).join(' → '));
      else if (state.get(d) === undefined) visit(d, [...stack, f]);
    }
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('the checker sees the imports (sanity)', () => {
  assert.ok(files.length > 10);
  assert.ok((graph.get(path.join(root, 'http1/protocol.ts')) ?? []).some((d) => d.endsWith('http1/parser.ts')));
});

/** Source text without comments (block and line), so that a rule is checked on code only. */
function codeOf(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const rel = (f: string): string => path.relative(root, f).split(path.sep).join('/');

test('the seams of node/ exist: the listener factory and the read buffer', () => {
  assert.ok(existsSync(path.join(root, 'node/listener.ts')));
  assert.ok(existsSync(path.join(root, 'node/read-buffer.ts')));
  // The read buffer is an I/O concern: defined there and nowhere else.
  const definers = files.filter((f) => /^\s*export\s+(const|let)\s+readBuffer\b/m.test(codeOf(f))).map(rel);
  assert.deepEqual(definers, ['node/read-buffer.ts']);
});

test('only node/ imports I/O modules (net, tls, http2, zlib, fs, timers, events, ...)', () => {
  const IO =
    /^node:(net|tls|http|https|http2|dgram|dns|zlib|fs|fs\/promises|timers|timers\/promises|events|child_process|worker_threads|cluster|stream|process|os)$/;
  const violations: string[] = [];
  for (const [f, deps] of graph) {
    const a = area(f);
    if (a === 'node' || a === 'cli' || a === 'inspector' || a === 'cluster' || a === 'redis') continue;
    for (const d of deps) if (IO.test(d)) violations.push(`${rel(f)} imports ${d}`);
  }
  assert.deepEqual(violations, []);
});

test('listeners are made by node/listener.ts only', () => {
  const makers = files
    .filter((f) => /\b(net|tls|http2)\.create(Secure)?Server\(|\bcreate(Secure)?Server\(/.test(codeOf(f)))
    .map(rel);
  assert.deepEqual(makers, ['node/listener.ts']);
});

test('the cores use no timers, no clock and no process', () => {
  const IO_GLOBALS =
    /\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(|\bprocess\.|\bDate\.now\(|\bnew Date\(\s*\)/;
  const violations: string[] = [];
  for (const f of files) {
    if (CORE_ALLOWED[area(f)] === undefined) continue;
    const m = IO_GLOBALS.exec(codeOf(f));
    if (m !== null) violations.push(`${rel(f)}: ${m[0]}`);
  }
  assert.deepEqual(violations, []);
});

test('http1/ and ws/ keep no module-level mutable state', () => {
  // util/ has three deliberate ones: mask.ts's path switch (tests, benches), random.ts's injectable source and
  // pool, utf8.ts's scan result scratch (read right after each call). Memos belong to an object the adapter owns.
  const violations: string[] = [];
  for (const f of files) {
    const a = area(f);
    if (a !== 'http1' && a !== 'ws') continue;
    for (const m of codeOf(f).matchAll(/^(let|var)\s+(\w+)/gm)) violations.push(`${rel(f)}: ${m[1]} ${m[2]}`);
  }
  assert.deepEqual(violations, []);
});
