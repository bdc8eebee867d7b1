/**
 * What one peer sending large compressed messages costs every other connection: the event-loop delay of the
 * server (perf_hooks.monitorEventLoopDelay) and the round trip of a small echo on another connection, while a
 * `ws` client (permessage-deflate) sends MESSAGES messages of SIZE bytes of compressible text. Run against two
 * builds to compare (the server runs in a child process, pinned to core 0; the clients here, on core 1):
 *
 *   node dist/bench/inflate-delay.js [CHECKOUT=.] [SIZE_MIB=64] [MESSAGES=4]
 *   (bash bench/inflate-delay.sh OLD_CHECKOUT runs this build and OLD_CHECKOUT one after the other)
 */

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkout = path.resolve(process.argv[2] ?? path.join(here, '../..'));
const sizeMiB = Number(process.argv[3] ?? 64);
const messages = Number(process.argv[4] ?? 4);

// The server: a sockeye echo of message lengths, with the loop-delay histogram, in a child pinned to core 0.
const serverCode = `
  const { serve } = await import(${JSON.stringify(path.join(checkout, 'dist/src/index.js'))});
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 1 });
  const server = await serve({ port: 0, host: '127.0.0.1', websocket: {
    maxPayload: ${sizeMiB + 1} * 1024 * 1024, maxBackpressure: 1 << 30, perMessageDeflate: true,
    message(ws, m) { ws.send(typeof m === 'string' ? 'len ' + m.length : 'len ' + m.length); },
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
const line = '{"user":"someone","text":"hello there, this compresses well","n":12345}\n';
const payload = line.repeat(Math.ceil((sizeMiB * 1024 * 1024) / line.length)).slice(0, sizeMiB * 1024 * 1024);
const t0 = performance.now();
for (let i = 0; i < messages; i++) {
  heavy.send(payload);
  await new Promise((r) => heavy.once('message', r));
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
  `${path.basename(checkout)}: ${messages} x ${sizeMiB} MiB compressed in ${heavyMs.toFixed(0)} ms | server loop delay ` +
    `p50 ${loop.p50.toFixed(1)} p99 ${loop.p99.toFixed(1)} max ${loop.max.toFixed(1)} ms | other connection's echo ` +
    `(${rtts.length} round trips) p50 ${q(50)} p99 ${q(99)} max ${rtts.at(-1)?.toFixed(2)} ms`,
);
process.exit(0);
