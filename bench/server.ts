/**
 * The sockeye entry of the shared benchmark harness: `GET /` → "Hello, World!", `POST /echo` → the body.
 * WebSocket upgrades on `/` echo every message with its type. Reads PORT, listens on 127.0.0.1, prints `ready`.
 * SOCKEYE_DEFLATE=1 accepts permessage-deflate with the default settings.
 */

import { serve } from '../src/index.js';

const HELLO = Buffer.from('Hello, World!');
const TEXT_PLAIN: [string, string][] = [['Content-Type', 'text/plain']];

const server = await serve({
  port: Number(process.env.PORT ?? 8080),
  host: '127.0.0.1',
  limits: { maxBodyBytes: 64 * 1024 * 1024 },
  timeouts: { keepAlive: 60_000 },
  request(req, res) {
    if (req.method === 'POST') {
      req.bytes().then((body) => res.send(body, 200, TEXT_PLAIN));
      return;
    }
    res.send(HELLO, 200, TEXT_PLAIN);
  },
  websocket: {
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: process.env.SOCKEYE_DEFLATE === '1',
    message(ws, message, isBinary) {
      ws.send(message, isBinary);
    },
  },
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  server.close({ deadline: 500 }).then(() => process.exit(0));
});
