/**
 * The server of bench/fanout-instr.ts: sockeye from SOCKEYE_DIST (a built checkout's dist/, default this one), every
 * WebSocket subscribed to topic 't'; `GET /go?bursts=K&size=S` publishes K bursts of 16 messages of S bytes, one
 * burst per event-loop turn (as bench/fanout.ts), and answers when the last burst is published. SIGTERM exits, so
 * that valgrind writes its counts.
 */

import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = process.env.SOCKEYE_DIST ?? path.join(here, '..');
const { serve } = (await import(path.join(dist, 'src/index.js'))) as typeof import('../src/index.js');

const server = await serve({
  port: 0,
  host: '127.0.0.1',
  websocket: {
    maxBackpressure: 1 << 30,
    open(ws) {
      ws.subscribe('t');
    },
  },
  request(req, res) {
    const q = req.searchParams;
    let left = Number(q.get('bursts') ?? 1);
    const msg = Buffer.alloc(Number(q.get('size') ?? 32), 120);
    const burst = (): void => {
      for (let i = 0; i < 16; i++) server.publish('t', msg);
      if (--left > 0) setImmediate(burst);
      else res.send('done');
    };
    burst();
  },
});
process.on('SIGTERM', () => process.exit(0));
console.log('port', server.port, 'pid', process.pid);
