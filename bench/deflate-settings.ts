/**
 * The memory/ratio/CPU trade-off of permessage-deflate settings, measured with our codec on JSON chat-like
 * messages: for each zlib setting, the compression ratio and µs per message at 1, 16 and 64 KiB, with and
 * without context takeover, and the RSS one compressor context costs (1,000 contexts that compressed one message
 * each, in a fresh process, after a GC).
 *   node dist/bench/deflate-settings.js
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DeflateCodec, resolveDeflateSettings } from '../src/node/deflate.js';
import type { DeflateParams } from '../src/ws/permessage-deflate.js';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const TOPICS = ['cats', 'dogs', 'weather', 'stocks', 'trains', 'football'];

/** A JSON message of about `size` bytes; `i` varies its content so that no two are equal. */
function message(size: number, i: number): Buffer {
  const items: unknown[] = [];
  let s = '';
  let k = 0;
  while (s.length < size) {
    items.push({
      id: i * 1000 + k,
      user: USERS[(i + k) % USERS.length],
      ts: 1_732_500_000_000 + i * 37 + k * 1013,
      text: `message ${(i * 7919 + k * 104729) % 100_000} about ${TOPICS[(i + k) % TOPICS.length]}`,
      score: ((i * 31 + k * 17) % 1000) / 10,
    });
    k++;
    s = JSON.stringify({ type: 'batch', items });
  }
  return Buffer.from(s.slice(0, size));
}

function params(noTakeover: boolean): DeflateParams {
  return {
    serverNoContextTakeover: noTakeover,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
}

const SETTINGS: [level: number, memLevel: number, windowBits: number][] = [
  [6, 8, 15], // zlib's defaults (ws)
  [1, 8, 15],
  [1, 4, 13], // ours
  [6, 4, 13],
  [1, 4, 11],
  [1, 1, 9],
];

/** RSS per compressor context, in a fresh process (freed memory stays in the allocator and would be reused). */
function memoryChild(level: number, memLevel: number, windowBits: number): void {
  const settings = resolveDeflateSettings({ level, memLevel, windowBits, idleRelease: 0 });
  const held: DeflateCodec[] = [];
  const m = message(2048, 1);
  const n = 1000;
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  gc();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < n; i++) {
    const c = new DeflateCodec(params(false), true, settings);
    c.compress(m, 0);
    held.push(c);
  }
  gc();
  process.stdout.write(`${((process.memoryUsage().rss - before) / n / 1024).toFixed(0)}`);
}

if (process.argv[2] === 'mem') {
  memoryChild(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  const rows: string[] = [];
  rows.push(
    '| level | memLevel | windowBits | RSS per context | 1 KiB, takeover: ratio / µs | 1 KiB, no takeover | 16 KiB | 64 KiB |',
  );
  rows.push('|---:|---:|---:|---:|---|---|---|---|');
  for (const [level, memLevel, windowBits] of SETTINGS) {
    const settings = resolveDeflateSettings({ level, memLevel, windowBits, idleRelease: 0 });
    const cells: string[] = [];
    for (const [size, noTakeover] of [
      [1024, false],
      [1024, true],
      [16 * 1024, true],
      [64 * 1024, true],
    ] as [number, boolean][]) {
      const msgs = Array.from({ length: 200 }, (_, i) => message(size, i));
      let best = Number.POSITIVE_INFINITY;
      let ratio = 0;
      for (let round = 0; round < 5; round++) {
        const codec = new DeflateCodec(params(noTakeover), true, settings);
        let inBytes = 0;
        let outBytes = 0;
        const t0 = process.hrtime.bigint();
        for (const m of msgs) {
          outBytes += codec.compress(m, 0).length;
          inBytes += m.length;
        }
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / msgs.length);
        ratio = inBytes / outBytes;
        codec.close();
      }
      cells.push(`${ratio.toFixed(2)}× / ${best.toFixed(1)} µs`);
    }
    const mem = execFileSync(process.execPath, [
      '--expose-gc',
      fileURLToPath(import.meta.url),
      'mem',
      String(level),
      String(memLevel),
      String(windowBits),
    ]).toString();
    rows.push(`| ${level} | ${memLevel} | ${windowBits} | ${mem} KiB | ${cells.join(' | ')} |`);
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}
