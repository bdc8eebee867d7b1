/**
 * Masking (RFC 6455 §5.3) microbenchmark: the JS loop against the WebAssembly SIMD kernel, in µs per call and
 * GB/s, for 125 B, 1 KiB, 16 KiB, 64 KiB and 1 MiB:
 * - `mask` in place (what the frame parser does to a payload whole in one socket read);
 * - `maskInto`, a copy then unmask (what the frame parser does to each piece of a payload that spans reads,
 *   into its final buffer);
 * - `FrameParser.receive` of one masked binary frame cut into 64 KiB chunks, as node:net reads them.
 * "js" forces the fallback loop (as without WebAssembly); "auto" is the shipped choice (the kernel from its
 * threshold on). Best of 5 runs of ~40 ms each; about 15 s in all. Pin it to one core:
 *   npm run build && taskset -c 1 node dist/bench/mask.bench.js
 */

import { mask, maskInto, setMaskPath } from '../src/util/mask.js';
import { encodeFrameHeader, frameHeaderLength, OP_BINARY } from '../src/ws/frame.js';
import { FrameParser, type FrameReceiver } from '../src/ws/frame-parser.js';

const SIZES = [125, 1024, 16 * 1024, 64 * 1024, 1024 * 1024];
const PATHS = ['js', 'auto'] as const;
const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const RUNS = 5;
const RUN_NS = 40e6;
/** node:net reads at most this much per `data` event. */
const READ_SIZE = 64 * 1024;

function label(size: number): string {
  return size >= 1024 * 1024 ? `${size / (1024 * 1024)} MiB` : size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

/** Best µs per call over RUNS runs of about RUN_NS each, after a warm-up that lets V8 tier up both paths. */
function time(fn: () => void): number {
  let calls = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    if (Number(process.hrtime.bigint() - t0) > RUN_NS / 4) break;
    calls *= 2;
  }
  calls *= 4;
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    const us = Number(process.hrtime.bigint() - t0) / 1e3 / calls;
    if (us < best) best = us;
  }
  return best;
}

function row(what: string, size: number, us: Record<string, number>): void {
  const cells = PATHS.map((p) => {
    const t = us[p]!;
    return `${t.toFixed(3).padStart(9)} µs ${(size / t / 1e3).toFixed(2).padStart(6)} GB/s`;
  });
  const speedup = (us.js! / us.auto!).toFixed(2);
  console.log(`${what.padEnd(12)} ${label(size).padStart(7)}  ${cells.join('   ')}   ×${speedup}`);
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** A masked binary frame of `size` payload bytes, cut in READ_SIZE chunks. */
function frameChunks(size: number): Buffer[] {
  const headerLength = frameHeaderLength(size, true);
  const frame = Buffer.allocUnsafe(headerLength + size);
  encodeFrameHeader(frame, 0, true, false, OP_BINARY, size, KEY);
  pattern(size).copy(frame, headerLength);
  const chunks: Buffer[] = [];
  for (let off = 0; off < frame.length; off += READ_SIZE) chunks.push(frame.subarray(off, off + READ_SIZE));
  return chunks;
}

class CountingReceiver implements FrameReceiver {
  frames = 0;
  onFrameHeader(): boolean {
    return true;
  }
  onFramePart(): boolean {
    return true;
  }
  onFramePayload(): boolean {
    this.frames++;
    return true;
  }
  onFrameError(): void {
    throw new Error('unexpected frame error');
  }
}

if (!setMaskPath('auto')) console.log('WebAssembly kernel not loaded: both columns are the JS loop');
console.log(`${''.padEnd(21)}${'js'.padEnd(31)}${'auto (wasm from threshold)'.padEnd(30)}speed-up`);
for (const size of SIZES) {
  const buf = pattern(size);
  const us: Record<string, number> = {};
  for (const p of PATHS) {
    setMaskPath(p);
    us[p] = time(() => mask(buf, KEY, 1));
  }
  row('mask', size, us);
}
for (const size of SIZES) {
  const src = pattern(size);
  const dst = Buffer.allocUnsafe(size + 8);
  const us: Record<string, number> = {};
  for (const p of PATHS) {
    setMaskPath(p);
    us[p] = time(() => maskInto(src, KEY, dst, 3, 1));
  }
  row('maskInto', size, us);
}
for (const size of SIZES) {
  // The chunks are unmasked in place, so later runs see other bytes: the cost is the same.
  const chunks = frameChunks(size);
  const receiver = new CountingReceiver();
  const parser = new FrameParser({ expectMasked: true, rsv1Allowed: false }, receiver);
  const us: Record<string, number> = {};
  for (const p of PATHS) {
    setMaskPath(p);
    us[p] = time(() => {
      for (const c of chunks) parser.receive(c);
    });
  }
  if (receiver.frames === 0) throw new Error('no frame parsed');
  row('FrameParser', size, us);
}
setMaskPath('auto');
