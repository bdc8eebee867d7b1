/**
 * The code examples of a markdown file, for test/integration/doc-examples.test.ts: every fenced block tagged ts,
 * typescript, js or javascript, with the kind its marker gives it, and what is malformed around them.
 *
 * A block's kind is set by an HTML comment on the line before its fence (blank lines between are allowed):
 * - none: a complete module, type-checked;
 * - `<!-- example: run -->`: also run; it must exit by itself, zero status (port 0, close what it opens);
 * - `<!-- example: prelude <TypeScript> -->`: type-checked with the given declarations in front (for the names a
 *   reader supplies, e.g. `declare function lookUpSession(id?: string): Promise<string | undefined>;`);
 * - `<!-- example: fragment -->`: not a module (a method, a line of a list): not checked, only listed.
 *
 * Problems: a marker that is not one of these or marks no ts/js block, a fence never closed, and a fence without a
 * language (it would escape the check unseen: diagrams and output say `text`).
 */

export type ExampleKind = 'check' | 'run' | 'fragment';

export interface ExampleBlock {
  /** The markdown file as given, and the line (1-based) of the block's first code line. */
  file: string;
  line: number;
  lang: 'ts' | 'js';
  kind: ExampleKind;
  /** Declarations to put in front of the code ('' for none). */
  prelude: string;
  code: string;
}

const LANGS: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' };
const MARKER = /^<!--\s*example:\s*(run|fragment|prelude\s+(.*?))\s*-->\s*$/;

/** The example blocks of one markdown text, and its problems, each naming `file:line`. */
export function extractExamples(file: string, text: string): { blocks: ExampleBlock[]; problems: string[] } {
  const lines = text.split('\n');
  const blocks: ExampleBlock[] = [];
  const problems: string[] = [];
  let marker: { kind: ExampleKind; prelude: string; line: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const m = MARKER.exec(line);
    if (m !== null) {
      const word = (m[1] as string).split(/\s/)[0] as string;
      marker = { kind: word === 'prelude' ? 'check' : (word as ExampleKind), prelude: m[2] ?? '', line: i + 1 };
      continue;
    }
    if (/^<!--\s*example\b/.test(line)) problems.push(`${file}:${i + 1}: unknown example marker: ${line}`);
    // CommonMark §4.5: a fence is three or more backticks or tildes, indented up to three spaces (more inside a
    // list item); the closing fence is the same character, at least as long, with nothing after it.
    const fence = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (fence === null) {
      if (line.trim() !== '' && marker !== null) {
        problems.push(`${file}:${marker.line}: an example marker must come right before a code fence`);
        marker = null;
      }
      continue;
    }
    const indent = (fence[1] as string).length;
    const open = fence[2] as string;
    const info = (fence[3] as string).toLowerCase();
    const close = new RegExp(`^\\s*${open[0] === '`' ? '`' : '~'}{${open.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end] as string)) end++;
    if (end === lines.length) problems.push(`${file}:${i + 1}: code fence never closed`);
    if (info === '') problems.push(`${file}:${i + 1}: a code fence without a language (\`\`\`text for diagrams)`);
    const lang = LANGS[info];
    if (lang !== undefined) {
      blocks.push({
        file,
        line: i + 2,
        lang,
        kind: marker?.kind ?? 'check',
        prelude: marker?.prelude ?? '',
        code: lines
          .slice(i + 1, end)
          .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
          .join('\n'),
      });
    } else if (marker !== null) {
      problems.push(`${file}:${marker.line}: an example marker before a block that is not ts or js`);
    }
    marker = null;
    i = end;
  }
  return { blocks, problems };
}
