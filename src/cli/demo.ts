/**
 * The demo server of `npm start`: a small page and a few routes showing the HTTP API.
 */

import { type Server, serve } from '../index.js';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sockeye demo</title>
<style>body{font:16px system-ui;max-width:40em;margin:2em auto}code{background:#eee;padding:0 .2em}</style></head>
<body><h1>sockeye</h1>
<p>HTTP/1.1 on raw TCP sockets, with its own parser.</p>
<ul>
<li><a href="/hello?name=you"><code>GET /hello?name=you</code></a></li>
<li><code>POST /echo</code> echoes the body: <code>curl -d hi http://localhost:3000/echo</code></li>
<li><a href="/stream"><code>GET /stream</code></a> streams a chunked body</li>
</ul></body></html>`;

export async function startDemo(port: number, host: string | undefined): Promise<Server> {
  return serve({
    port,
    host,
    async request(req, res) {
      switch (req.path) {
        case '/':
          res.send(PAGE, 200, { 'Content-Type': 'text/html; charset=utf-8' });
          return;
        case '/hello':
          res.json({ hello: req.searchParams.get('name') ?? 'world', from: req.remoteAddress });
          return;
        case '/echo':
          res.send(await req.bytes(), 200, {
            'Content-Type': req.header('content-type') ?? 'application/octet-stream',
          });
          return;
        case '/stream':
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          for (let i = 1; i <= 5; i++) {
            if (!res.write(`line ${i}\n`)) await res.drained();
            await new Promise((r) => setTimeout(r, 100));
          }
          res.end();
          return;
        default:
          res.send('Not Found\n', 404);
      }
    },
  });
}
