/**
 * The demo server of `npm start`: a chat room whose page talks to the server with the browser's WebSocket,
 * plus a few HTTP routes showing the request/response API.
 */

import { type Server, type ServerWebSocket, serve } from '../index.js';
import { newInspectorToken } from './inspector.js';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sockeye chat</title>
<style>
body{font:15px system-ui,sans-serif;max-width:44em;margin:2em auto;padding:0 1em}
#log{border:1px solid #ccc;height:22em;overflow-y:auto;padding:.5em;background:#fafafa}
#log div{margin:.15em 0} .sys{color:#777;font-style:italic} form{display:flex;gap:.5em;margin-top:.5em}
#text{flex:1} code{background:#eee;padding:0 .2em}
</style></head>
<body>
<h1>sockeye chat</h1>
<p>Status: <b id="status">connecting</b> · you are <b id="me">?</b> · <span id="count">0</span> online</p>
<div id="log"></div>
<form id="form"><input id="text" autocomplete="off" placeholder="Say something" maxlength="500"><button>Send</button></form>
<p>HTTP routes: <a href="/hello?name=you"><code>/hello?name=you</code></a>,
<code>POST /echo</code>, <a href="/stream"><code>/stream</code></a> (chunked).</p>
<script>
const log = document.getElementById('log');
function line(text, cls) {
  const d = document.createElement('div');
  if (cls) d.className = cls;
  d.textContent = text;
  log.appendChild(d);
  log.scrollTop = log.scrollHeight;
}
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat');
ws.onopen = () => { document.getElementById('status').textContent = 'connected'; };
ws.onclose = (e) => { document.getElementById('status').textContent = 'closed (' + e.code + ')'; };
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === 'welcome') document.getElementById('me').textContent = m.name;
  if (m.type === 'count') document.getElementById('count').textContent = m.count;
  if (m.type === 'chat') line(m.from + ': ' + m.text);
  if (m.type === 'system') line(m.text, 'sys');
};
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById('text');
  if (input.value && ws.readyState === WebSocket.OPEN) ws.send(input.value);
  input.value = '';
};
</script>
</body></html>`;

interface Member {
  name: string;
}

/** The demo's inspector: on, with payloads (a newcomer watches their own chat's frames), a token per run. */
export const DEMO_INSPECTOR = { token: newInspectorToken(), payloads: true };

/** Starts the demo on `port`. */
export async function startDemo(port: number, host: string | undefined): Promise<Server> {
  const room = new Set<ServerWebSocket<Member>>();
  let next = 1;
  const broadcast = (msg: unknown) => {
    const text = JSON.stringify(msg);
    for (const ws of room) ws.send(text);
  };
  return serve<Member>({
    port,
    host,
    inspector: DEMO_INSPECTOR,
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
    websocket: {
      maxPayload: 64 * 1024,
      upgrade(req, ctx) {
        if (req.path !== '/chat') return ctx.reject(404, 'No such room');
        return { data: { name: `guest-${next++}` } };
      },
      open(ws) {
        room.add(ws);
        ws.send(JSON.stringify({ type: 'welcome', name: ws.data.name }));
        broadcast({ type: 'system', text: `${ws.data.name} joined` });
        broadcast({ type: 'count', count: room.size });
      },
      message(ws, message) {
        const text = typeof message === 'string' ? message.slice(0, 500) : '';
        if (text !== '') broadcast({ type: 'chat', from: ws.data.name, text });
      },
      close(ws) {
        room.delete(ws);
        broadcast({ type: 'system', text: `${ws.data.name} left` });
        broadcast({ type: 'count', count: room.size });
      },
    },
  });
}
