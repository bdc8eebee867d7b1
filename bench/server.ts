/**
 * The sockeye entry of the shared benchmark harness: `GET /` → "Hello, World!", `POST /echo` → the body.
 * WebSocket upgrades on `/` echo every message with its type. Reads PORT, listens on 127.0.0.1, prints `ready`.
 * SOCKEYE_DEFLATE=1 accepts permessage-deflate with the default settings. SOCKEYE_INSPECTOR=1 turns the inspector on
 * (payloads off); SOCKEYE_INSPECTOR=tab also opens one reader of its feed (curl, as an open tab reads it), e.g.
 * `OLD_ENV=SOCKEYE_INSPECTOR=tab bash bench/ab.sh . 32` for its cost.
 */

import { spawn } from 'node:child_process';

import { type ServerWebSocket, serve } from '../src/index.js';

/** Echoes a piece of a large message as a fragment, as `sockeye echo` does (src/cli/echo.ts). */
function streamEcho(ws: ServerWebSocket, chunk: Buffer, isBinary: boolean, _first: boolean, isLast: boolean) {
  ws.sendFragment(chunk, isLast, isBinary);
}

const HELLO = Buffer.from('Hello, World!');
const TEXT_PLAIN: [string, string][] = [['Content-Type', 'text/plain']];

const INSPECTOR_TOKEN = 'bench-inspector-token-0123456789';
const inspect = process.env.SOCKEYE_INSPECTOR;

const server = await serve({
  ...(inspect === '1' || inspect === 'tab' ? { inspector: { token: INSPECTOR_TOKEN } } : {}),
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
    // As `sockeye echo`: an echo queued for a client still sending a large message is not a slow consumer.
    maxBackpressure: 256 * 1024 * 1024,
    perMessageDeflate: process.env.SOCKEYE_DEFLATE === '1',
    message(ws, message, isBinary) {
      ws.send(message, isBinary);
    },
    // SOCKEYE_STREAM=0 echoes every message whole (to measure that path); by default single-frame messages of
    // 64 KiB and more are echoed piece by piece as they arrive, as `sockeye echo` does.
    ...(process.env.SOCKEYE_STREAM === '0' ? {} : { messageChunk: streamEcho }),
  },
});
if (inspect === 'tab') {
  const tab = spawn('curl', ['-sN', '-o', '/dev/null', `${server.url}/_sockeye/feed?token=${INSPECTOR_TOKEN}`], {
    stdio: 'ignore',
  });
  process.on('exit', () => tab.kill());
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  server.close({ deadline: 500 }).then(() => process.exit(0));
});
