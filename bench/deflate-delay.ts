/**
 * What sending large compressed messages costs every other connection: the event-loop delay of the server
 * (perf_hooks.monitorEventLoopDelay) and the round trip of a small echo on another connection, while the server
 * sends MESSAGES messages of SIZE MiB of compressible text to a `ws` client (permessage-deflate), one each time
 * the client asks. The deflate half of bench/inflate-delay.ts. Run against two builds to compare (the server runs
 * in a child process, pinned to core 0; the clients here, on core 1):
 *
 *   node dist/bench/deflate-delay.js [CHECKOUT=.] [SIZE_MIB=64] [MESSAGES=4] [buffer|string]
 *
 * `buffer` (default) sends the text from a Buffer (`ws.send(buf, false)`); `string` sends a JS string, whose UTF-8
 * encoding (Buffer.from, ~130 ms for 64 MiB here) happens in send() itself, before any compression.
 */

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkout = path.resolve(process.argv[2] ?? path.join(here, '../..'));
const sizeMiB = Number(process.argv[3] ?? 64);
const messages = Number(process.argv[4] ?? 4);
const mode = process.argv[5] === 'string' ? 'string' : 'buffer';

// The server: a sockeye echo of message lengths, with the loop-delay histogram, in a child pinned to core 0.
const serverCode = `
  const { serve } = await import(${JSON.stringify(path.join(checkout, 'dist/src/index.js'))});
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 1 });
  const line = '{"user":"someone","text":"hello there, this compresses well","n":12345}\\n';
  const big = line.repeat(Math.ceil((${sizeMiB} * 1024 * 1024) / line.length)).slice(0, ${sizeMiB} * 1024 * 1024);
  const bigBuf = Buffer.from(big);
  const server = await serve({ port: 0, host: '127.0.0.1', websocket: {
    maxPayload: ${sizeMiB + 1} * 1024 * 1024, maxBackpressure: 1 << 30, perMessageDeflate: true,
    message(ws, m) { if (m === 'big') ws.send(${mode === 'string' ? 'big' : 'bigBuf, false'}); else ws.send(m); },
  } });
  process.send({ port: server.port });
  process.on('message', (m) => {
    if (m === 'start') { h.reset(); h.enable(); }
    if (m === 'stop') {
      h.disable();
      process.send({ p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 });
      server.close({ deadline: 100 }).then(() => process.exit(0));
    }
  });
`;
const child = spawn('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', serverCode], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));

const heavy = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true, maxPayload: 0 });
const light = new WebSocket(`ws://127.0.0.1:${port}/`);
await Promise.all([heavy, light].map((ws) => new Promise((r) => ws.once('open', r))));

// Light: one small message at a time, its round trip recorded, for as long as the heavy client sends.
const rtts: number[] = [];
let running = true;
const lightLoop = (async () => {
  while (running) {
    const t0 = performance.now();
    light.send('x');
    await new Promise((r) => light.once('message', r));
    rtts.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 2));
  }
})();

child.send('start');
const t0 = performance.now();
for (let i = 0; i < messages; i++) {
  heavy.send('big');
  const m = await new Promise<Buffer>((r) => heavy.once('message', r));
  if (m.length !== sizeMiB * 1024 * 1024) throw new Error(`got ${m.length} bytes`);
}
const heavyMs = performance.now() - t0;
running = false;
await lightLoop;
child.send('stop');
const loop = await new Promise<{ p50: number; p99: number; max: number }>((resolve) =>
  child.once('message', (m: { p50: number; p99: number; max: number }) => resolve(m)),
);
heavy.close();
light.close();
rtts.sort((a, b) => a - b);
const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]?.toFixed(2);
console.log(
  `${path.basename(checkout)} (${mode}): ${messages} x ${sizeMiB} MiB sent compressed in ${heavyMs.toFixed(0)} ms | server loop delay ` +
    `p50 ${loop.p50.toFixed(1)} p99 ${loop.p99.toFixed(1)} max ${loop.max.toFixed(1)} ms | other connection's echo ` +
    `(${rtts.length} round trips) p50 ${q(50)} p99 ${q(99)} max ${rtts.at(-1)?.toFixed(2)} ms`,
);
process.exit(0);
