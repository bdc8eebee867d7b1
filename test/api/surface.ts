/**
 * The public API surface as the published types show it: what each entry point of the package exports (`sockeye`:
 * dist/src/index.d.ts, `sockeye/redis`: dist/src/redis/index.d.ts, `sockeye/cluster`: dist/src/cluster/index.d.ts) and every declaration those exports reach (base
 * classes, option types, local helper types...), printed without comments. The surface
 * test compares it with the committed snapshot (test/api/sockeye.api.md) so that every change to the public types
 * shows in review; `npm run api:update` (update.ts) rewrites the snapshot.
 *
 * Also here: the published declarations compiled the way a user's project compiles them (`strict`, TypeScript's
 * default `skipLibCheck: false`), which catches what `stripInternal` can break: a declaration marked internal is
 * removed from the .d.ts while a public one still names it.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository's root (this file runs from dist/test/api/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The published entry points (package.json `exports`) and their declarations, as `npm run build` leaves them. */
export const ENTRIES: readonly { name: string; dts: string }[] = [
  { name: 'sockeye', dts: path.join(ROOT, 'dist/src/index.d.ts') },
  { name: 'sockeye/redis', dts: path.join(ROOT, 'dist/src/redis/index.d.ts') },
  { name: 'sockeye/cluster', dts: path.join(ROOT, 'dist/src/cluster/index.d.ts') },
];
/** The committed snapshot. */
export const SNAPSHOT = path.join(ROOT, 'test/api/sockeye.api.md');

/** Compiler options of a strict user project on Node 20 (`lib` is set per check: with and without the DOM). */
function userOptions(lib: string[]): ts.CompilerOptions {
  return {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    // `lib.es2022.d.ts` style names, as the compiler API expects them.
    lib: lib.map((l) => `lib.${l.toLowerCase()}.d.ts`),
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
  };
}

const programs = new Map<string, ts.Program>();

/** The published declarations as a user's project loads them (one program per `lib`, made once). */
function program(lib: string[]): ts.Program {
  const key = lib.join(',');
  let p = programs.get(key);
  if (p === undefined) {
    p = ts.createProgram({ rootNames: ENTRIES.map((e) => e.dts), options: userOptions(lib) });
    programs.set(key, p);
  }
  return p;
}

/**
 * Errors a user's `tsc` would report inside the published declarations (formatted, one per line), or `[]`. Only
 * sockeye's files are checked (checking all of @types/node too would take seconds and is not ours to test).
 */
export function declarationErrors(lib: string[]): string[] {
  const p = program(lib);
  const diagnostics: ts.Diagnostic[] = [...p.getOptionsDiagnostics(), ...p.getGlobalDiagnostics()];
  for (const sf of p.getSourceFiles()) {
    if (isOurs(sf)) diagnostics.push(...p.getSyntacticDiagnostics(sf), ...p.getSemanticDiagnostics(sf));
  }
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    if (d.file === undefined || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${path.relative(ROOT, d.file.fileName)}(${line + 1},${character + 1}): TS${d.code}: ${text}`;
  });
}

/** The top-level statement that holds `decl` (a variable's statement, a class...), or null if it is not one. */
function topLevel(decl: ts.Declaration): ts.Statement | null {
  let node: ts.Node = decl;
  if (ts.isVariableDeclaration(node)) node = node.parent.parent;
  return ts.isSourceFile(node.parent) ? (node as ts.Statement) : null;
}

/** `sockeye`'s own declarations (not lib, not @types/node). */
function isOurs(sf: ts.SourceFile): boolean {
  return sf.fileName.startsWith(path.join(ROOT, 'dist/src') + path.sep);
}

/** The source path a declaration file was emitted from: `dist/src/node/server.d.ts` → `src/node/server.ts`. */
function sourcePath(sf: ts.SourceFile): string {
  return path
    .relative(path.join(ROOT, 'dist'), sf.fileName)
    .replace(/\.d\.ts$/, '.ts')
    .split(path.sep)
    .join('/');
}

function kindOf(s: ts.Statement): string {
  if (ts.isClassDeclaration(s)) return 'class';
  if (ts.isInterfaceDeclaration(s)) return 'interface';
  if (ts.isTypeAliasDeclaration(s)) return 'type';
  if (ts.isFunctionDeclaration(s)) return 'function';
  if (ts.isVariableStatement(s)) return 'const';
  if (ts.isEnumDeclaration(s)) return 'enum';
  return ts.SyntaxKind[s.kind];
}

/**
 * The surface as Markdown: the exports of `sockeye` (name, kind, where declared), then each reachable declaration
 * printed without comments, grouped by source file.
 */
export function apiSurface(): string {
  const p = program(['ES2022']);
  const checker = p.getTypeChecker();

  const reached = new Set<ts.Statement>();
  const queue: ts.Statement[] = [];
  const resolve = (symbol: ts.Symbol): ts.Symbol =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const reach = (symbol: ts.Symbol | undefined): ts.Statement[] => {
    const out: ts.Statement[] = [];
    if (symbol === undefined) return out;
    for (const decl of resolve(symbol).declarations ?? []) {
      if (!isOurs(decl.getSourceFile())) continue;
      const s = topLevel(decl);
      if (s === null) continue;
      out.push(s);
      if (!reached.has(s)) {
        reached.add(s);
        queue.push(s);
      }
    }
    return out;
  };

  const exportTables: string[] = [];
  for (const entry of ENTRIES) {
    const file = p.getSourceFile(entry.dts);
    if (file === undefined) throw new Error(`${entry.dts} not found: run \`npm run build\` first`);
    const moduleSymbol = checker.getSymbolAtLocation(file);
    if (moduleSymbol === undefined) throw new Error(`${entry.dts} is not a module`);
    exportTables.push('', `## Exports of \`${entry.name}\``, '', '| name | kind | declared in |', '|---|---|---|');
    const exports = checker.getExportsOfModule(moduleSymbol).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const sym of exports) {
      const decls = reach(sym);
      const first = decls[0];
      const where = first === undefined ? '?' : sourcePath(first.getSourceFile());
      const kinds = [...new Set(decls.map(kindOf))].join(', ');
      exportTables.push(`| \`${sym.name}\` | ${kinds} | ${where} |`);
    }
  }

  // Every name a reached declaration uses: type references, `extends`/`implements`, `typeof x`, `import('…').X`.
  while (queue.length > 0) {
    const stmt = queue.shift() as ts.Statement;
    const visit = (node: ts.Node): void => {
      let name: ts.Node | undefined;
      if (ts.isTypeReferenceNode(node)) name = node.typeName;
      else if (ts.isExpressionWithTypeArguments(node)) name = node.expression;
      else if (ts.isTypeQueryNode(node)) name = node.exprName;
      else if (ts.isImportTypeNode(node)) name = node.qualifier;
      if (name !== undefined) {
        const last = ts.isQualifiedName(name) ? name.right : ts.isPropertyAccessExpression(name) ? name.name : name;
        reach(checker.getSymbolAtLocation(last));
      }
      ts.forEachChild(node, visit);
    };
    visit(stmt);
  }

  const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });
  // A tuple parsed from a file prints one element per line unless flagged as the emitter flags its own.
  const singleLineTuples = (node: ts.Node): void => {
    if (ts.isTupleTypeNode(node)) ts.setEmitFlags(node, ts.EmitFlags.SingleLine);
    ts.forEachChild(node, singleLineTuples);
  };
  for (const s of reached) singleLineTuples(s);
  const byFile = new Map<string, ts.Statement[]>();
  for (const s of reached) {
    const file = sourcePath(s.getSourceFile());
    let list = byFile.get(file);
    if (list === undefined) byFile.set(file, (list = []));
    list.push(s);
  }
  const out: string[] = [
    '# sockeye: public API surface',
    '',
    'Generated from the published types (the `.d.ts` of each entry point in package.json `exports`) by',
    '`npm run api:update` (test/api/surface.ts); do not edit. The surface test fails when the types change and this',
    'file does not: a change here is a change to the public API, to review as one. Declarations are printed without',
    'comments. Those whose names are in no table of exports are reachable from the exports (base classes, helper',
    'types) but cannot be imported.',
    ...exportTables,
    '',
    '## Declarations',
  ];
  for (const file of [...byFile.keys()].sort()) {
    const stmts = (byFile.get(file) as ts.Statement[]).sort((a, b) => a.pos - b.pos);
    out.push('', `### ${file}`, '', '```ts');
    for (const s of stmts) out.push(printer.printNode(ts.EmitHint.Unspecified, s, s.getSourceFile()));
    out.push('```');
  }
  return `${out.join('\n')}\n`;
}

/** The committed snapshot's text ('' when there is none yet). */
export function readSnapshot(): string {
  try {
    return readFileSync(SNAPSHOT, 'utf8');
  } catch {
    return '';
  }
}
