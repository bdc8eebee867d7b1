/**
 * The server of bench/fanout-workers.ts: `cluster({ workers: W })` with every WebSocket subscribed to topic `t`; GET
 * /go makes the worker that gets it publish SIZE-byte messages in bursts of 16 per event-loop turn for SECONDS
 * (reaching its own subscribers directly and the other workers' through the primary), then answer. GET /go?count=N
 * publishes N messages instead (a fixed load, for bench/cluster-instructions.ts), in the same bursts.
 *
 *   node dist/bench/fanout-workers-server.js W SIZE SECONDS   → prints `port P pids PRIMARY,WORKER,...`
 */

import { Buffer } from 'node:buffer';
import process from 'node:process';
import { type Cluster, cluster } from '../src/cluster/index.js';

const W = Number(process.argv[2] ?? 2);
const SIZE = Number(process.argv[3] ?? 32);
const SECONDS = Number(process.argv[4] ?? 3);
const msg = Buffer.alloc(SIZE, 120);

const c: Cluster = await cluster({
  workers: W,
  host: '127.0.0.1',
  port: 0,
  log: () => {},
  websocket: {
    maxBackpressure: 1 << 30,
    open(ws) {
      ws.subscribe('t');
    },
  },
  request(req, res) {
    const server = c.server;
    if (server === null) return;
    const end = Date.now() + SECONDS * 1000;
    const count = Number(/count=(\d+)/.exec(req.target)?.[1] ?? 0);
    let left = count > 0 ? count : Number.POSITIVE_INFINITY;
    const burst = () => {
      for (let i = 0; i < 16 && left > 0; i++, left--) server.publish('t', msg);
      if (count > 0 ? left > 0 : Date.now() < end) setImmediate(burst);
      else res.send('done');
    };
    burst();
  },
});
if (c.isPrimary) process.stdout.write(`port ${c.port} pids ${[process.pid, ...c.pids()].join(',')}\n`);
