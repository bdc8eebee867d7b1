/**
 * The server under test of bench/soak.ts (issue 15 §2): a plain sockeye echo in its own process, which reports
 * what it costs. Run as `node --expose-gc dist/bench/soak-server.js`, pinned to its own core by the driver.
 *
 * Options come as JSON in SOAK_SERVER (all optional): `maxBackpressure`, `backpressureLimit`, `closeTimeout`.
 * It listens on 127.0.0.1 (port from PORT, 0 for any), prints one line `port N`, then answers, besides the
 * WebSocket upgrades on any path (`/slow` and `/fast` subscribe to topic `t` and are not echoed to):
 *   GET /sample      one sample (below) as JSON; the event-loop-delay percentiles are since the previous sample
 *   GET /gc          two full GCs, then a sample (needs --expose-gc)
 *   GET /publish?size=B&burst=K&every=MS   starts publishing K messages of B bytes to topic `t` every MS ms
 *   GET /stop        stops publishing; answers the number of messages published
 * A sample: `rss`, `heapUsed`, `external`, `arrayBuffers` (bytes), `handles` (process.getActiveResourcesInfo()
 * length, which counts every socket, timer and server; `handleKinds` by kind), the open connections (`wsOpen`,
 * `conns`), `cpu` (the server's CPU time as a share of wall time since the last sample), `eld` (event-loop delay
 * beyond the 10 ms sampling period, p50/p99/max in ms, since the last sample), `eldRun` (the same since the
 * start), and the server's counters that a run checks (`wsAccepted`, `backpressureCloses`,
 * `closeCodesFromServer`, `ends`).
 * The sampling request itself is one HTTP connection; it counts in `conns` and `handles` in every sample alike.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Server, serve } from '../src/index.js';

interface ServerOptions {
  maxBackpressure?: number;
  backpressureLimit?: number;
  closeTimeout?: number;
}

const opts = JSON.parse(process.env.SOAK_SERVER ?? '{}') as ServerOptions;
// 10 ms resolution: the histogram's own timer costs a wake-up per resolution period.
const eld = monitorEventLoopDelay({ resolution: 10 });
const eldRun = monitorEventLoopDelay({ resolution: 10 });
eld.enable();
eldRun.enable();

// The histogram records the whole period between its timer's runs: the delay is what exceeds the resolution.
const ms = (ns: number) => Math.max(0, Math.round((ns - 10e6) / 1e4) / 100);
let lastCpu = process.cpuUsage();
let lastAt = performance.now();
let publisher: NodeJS.Timeout | null = null;
let published = 0;

const server: Server = await serve({
  port: Number(process.env.PORT ?? 0),
  host: '127.0.0.1',
  request(req, res): void {
    const url = new URL(req.target, 'http://x');
    if (url.pathname === '/gc') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc === undefined) {
        res.send('start the server with --expose-gc', 500);
        return;
      }
      gc();
      gc();
      res.send(JSON.stringify(sample()), 200, [['Content-Type', 'application/json']]);
      return;
    }
    if (url.pathname === '/sample') {
      res.send(JSON.stringify(sample()), 200, [['Content-Type', 'application/json']]);
      return;
    }
    if (url.pathname === '/publish') {
      const size = Number(url.searchParams.get('size') ?? 1024);
      const burst = Number(url.searchParams.get('burst') ?? 1);
      const every = Number(url.searchParams.get('every') ?? 10);
      if (publisher !== null) clearInterval(publisher);
      publisher = setInterval(() => {
        for (let i = 0; i < burst; i++) {
          // The first 8 bytes carry the publish time, so a subscriber can tell its delivery latency. A fresh buffer
          // each time: a published payload may be queued by reference.
          const message = Buffer.alloc(size, 120);
          message.writeDoubleLE(Date.now(), 0);
          server.publish('t', message, true);
          published++;
        }
      }, every);
      res.send('publishing');
      return;
    }
    if (url.pathname === '/stop') {
      if (publisher !== null) clearInterval(publisher);
      publisher = null;
      res.send(String(published));
      return;
    }
    res.send('not found', 404);
  },
  websocket: {
    ...(opts.maxBackpressure === undefined ? {} : { maxBackpressure: opts.maxBackpressure }),
    ...(opts.backpressureLimit === undefined ? {} : { backpressureLimit: opts.backpressureLimit }),
    ...(opts.closeTimeout === undefined ? {} : { closeTimeout: opts.closeTimeout }),
    open(ws) {
      if (ws.path === '/slow' || ws.path === '/fast') ws.subscribe('t');
    },
    message(ws, message, isBinary) {
      ws.send(message, isBinary);
    },
  },
});

function sample(): Record<string, unknown> {
  const mu = process.memoryUsage();
  const s = server.stats();
  const resources = process.getActiveResourcesInfo();
  const kinds: Record<string, number> = {};
  for (const r of resources) kinds[r] = (kinds[r] ?? 0) + 1;
  // CPU the server used since the last sample, as a share of the wall time: on a shared machine, a delay with a low
  // share is time the process was not scheduled, not time it spent working.
  const cpu = process.cpuUsage(lastCpu);
  const now = performance.now();
  const cpuShare = (cpu.user + cpu.system) / 1000 / Math.max(1, now - lastAt);
  lastCpu = process.cpuUsage();
  lastAt = now;
  const out = {
    t: Date.now(),
    cpu: Math.round(cpuShare * 100) / 100,
    rss: mu.rss,
    heapUsed: mu.heapUsed,
    external: mu.external,
    arrayBuffers: mu.arrayBuffers,
    handles: resources.length,
    handleKinds: kinds,
    wsOpen: s.connections.wsOpen + s.connections.wsClosing,
    conns: s.connections.total,
    eld: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
    eldRun: { p50: ms(eldRun.percentile(50)), p99: ms(eldRun.percentile(99)), max: ms(eldRun.max) },
    wsAccepted: s.websocket.accepted,
    backpressureCloses: s.websocket.backpressureCloses,
    closeCodesFromServer: s.websocket.closeCodesFromServer,
    protocolErrors: s.websocket.protocolErrors,
    ends: s.websocket.ends,
  };
  eld.reset();
  return out;
}

// Node's net.Socket#_destroy reads process.stderr (node:net, `this !== process.stderr`), whose lazy getter opens a
// PipeWrap handle the first time: touched here, it is in the baseline instead of looking like a leaked handle.
void process.stderr;
process.stdout.write(`port ${server.port}\n`);
process.on('SIGTERM', () => {
  server.close({ deadline: 500 }).then(() => process.exit(0));
});
