/**
 * One slow subscriber (issue 17 §4): 1 publisher, N subscribers, one of which stops reading. Does it slow the others
 * down, and does the server's memory stay bounded by `maxBackpressure`? Rounds alternate, in one run, between all N
 * reading ("all read") and the last one paused from the start ("1 stalled"); each round publishes bursts of 16
 * messages of SIZE bytes per event-loop turn for SECONDS (as bench/fanout.ts) to a fresh server (pinned to core 0;
 * run this under `taskset -c 1`). Reported per round: deliveries per second to the N-1 readers, the server's RSS
 * before the round and its peak during it (sampled from /proc every 50 ms), and what the stalled one cost.
 *
 *   taskset -c 1 node dist/bench/fanout-slow.js [SUBSCRIBERS=1000] [SIZE=1024] [SECONDS=6] [ROUNDS=3] [POLICY=drop]
 *
 * The stalled one must be sent more than the kernel holds for it (up to 4 MiB of send buffer here, tcp_wmem, and its
 * receive window) before the server queues anything: with 1,000 subscribers each gets a thousandth of the rate, so
 * the defaults are 1 KiB messages for 6 s (several MiB each); with 32 B for 3 s it never fills them.
 *
 * POLICY is the server's backpressurePolicy: `drop` keeps the stalled one connected (it skips what does not fit,
 * the hard case for memory), `close` fails it with 1008 once past the limit. maxBackpressure is 1 MiB (the default).
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const N = Number(process.argv[2] ?? 1000);
const SIZE = Number(process.argv[3] ?? 1024);
const SECONDS = Number(process.argv[4] ?? 6);
const ROUNDS = Number(process.argv[5] ?? 3);
const POLICY = process.argv[6] ?? 'drop';
const MAX_BACKPRESSURE = 1024 * 1024;
const FRAME = SIZE + (SIZE < 126 ? 2 : SIZE < 65536 ? 4 : 10);

const serverCode = `
  const { serve } = await import(${JSON.stringify(path.join(root, 'dist/src/index.js'))});
  const msg = Buffer.alloc(${SIZE}, 120);
  const server = await serve({ port: 0, host: '127.0.0.1',
    websocket: { maxBackpressure: ${MAX_BACKPRESSURE}, backpressurePolicy: ${JSON.stringify(POLICY)},
      open(ws) { ws.subscribe('t'); } },
    request(req, res) {
      if (req.path === '/stats') { res.json(server.stats().websocket); return; }
      const end = Date.now() + ${SECONDS * 1000};
      const burst = () => { for (let i = 0; i < 16; i++) server.publish('t', msg); if (Date.now() < end) setImmediate(burst); else res.send('done'); };
      burst();
    } });
  console.log('port', server.port);`;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

interface Round {
  stalled: boolean;
  rate: number;
  rssBefore: number;
  rssPeak: number;
  stats: Record<string, unknown>;
}

async function round(stalled: boolean): Promise<Round> {
  const child = spawn('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', serverCode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  let bytes = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, (_, j) => {
        const sock = net.connect(port, '127.0.0.1');
        sockets.push(sock);
        const last = i + j === N - 1;
        return new Promise<void>((resolve) => {
          let head = true;
          sock.on('data', (d: Buffer) => {
            if (head) {
              const at = d.indexOf('\r\n\r\n');
              if (at < 0) return;
              head = false;
              // The stalled one reads nothing more from here: its kernel buffers fill, then the server's queue.
              if (last && stalled) sock.pause();
              resolve();
              return;
            }
            if (!last) bytes += d.length;
          });
          sock.write(
            'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          );
        });
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 300));
  const pid = child.pid as number;
  const rssBefore = rssOf(pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssOf(pid));
  }, 50);
  bytes = 0;
  const t0 = performance.now();
  await (await fetch(`http://127.0.0.1:${port}/go`)).text();
  await new Promise((r) => setTimeout(r, 200));
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, rssOf(pid));
  const readers = bytes;
  const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Record<string, unknown>;
  for (const s of sockets) s.destroy();
  child.kill('SIGKILL');
  return { stalled, rate: readers / FRAME / elapsed, rssBefore, rssPeak, stats };
}

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
const results: Round[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const stalled of [false, true]) {
    const x = await round(stalled);
    results.push(x);
    console.log(
      `${stalled ? '1 stalled' : 'all read '}: ${N - 1} readers get ${(x.rate / 1e6).toFixed(3)} M deliveries/s; ` +
        `server RSS ${mib(x.rssBefore)} -> peak ${mib(x.rssPeak)} (+${mib(x.rssPeak - x.rssBefore)}); ` +
        `backpressureDrops ${x.stats.backpressureDrops}, backpressureCloses ${x.stats.backpressureCloses}`,
    );
  }
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const all = results.filter((x) => !x.stalled);
const one = results.filter((x) => x.stalled);
const growth = (xs: Round[]): number => Math.max(...xs.map((x) => x.rssPeak - x.rssBefore));
const stalledExtra = growth(one) - growth(all);
console.log(
  `RSS growth with 1 stalled beyond the growth with all reading: ${mib(stalledExtra)} (maxBackpressure ${mib(MAX_BACKPRESSURE)})`,
);
console.log(
  `readers' rate with 1 stalled / all reading: ${(mean(one.map((x) => x.rate)) / mean(all.map((x) => x.rate))).toFixed(3)} ` +
    `(mean of ${ROUNDS} rounds each); largest RSS growth: all read +${mib(growth(all))}, 1 stalled +${mib(growth(one))} ` +
    `(maxBackpressure ${mib(MAX_BACKPRESSURE)}, policy ${POLICY})`,
);
process.exit(0);
