/**
 * The library anchor for bench/fallback.ts: `node:http` with the `ws` package (a devDependency), as most Node
 * applications serve WebSockets today. `GET /` → 200 "Hello, World!", `POST /echo` → the body; a WebSocket on any
 * path echoes every message with its type. Reads PORT, listens on 127.0.0.1, prints `ready`.
 */

import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(Buffer.concat(parts));
    });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('Hello, World!');
});
// No limit on requests per connection, as the shared harness asks of its servers.
server.keepAliveTimeout = 60_000;
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
