/**
 * The demo chat's page: HTML, stylesheet, favicon and script (the script is `demoClient` from demo-client.ts, served
 * as its own source). Self-contained: no CDN, no web fonts, nothing fetched from anywhere but the demo server.
 */

import { type DemoClientConfig, demoClient } from './demo-client.js';

/** The page. Every element the script needs has an id; the tests find them by it. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<title>sockeye chat</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/demo.css">
<script src="/demo.js" defer></script>
</head>
<body>
<div class="app">
  <aside class="side">
    <div class="brand"><img src="/favicon.svg" alt="" width="28" height="28"><span>sockeye <b>chat</b></span></div>
    <form id="name-form" class="name" autocomplete="off">
      <label for="name">Your name</label>
      <input id="name" placeholder="pick a name" spellcheck="false">
      <small id="name-hint" class="hint" aria-live="polite"></small>
    </form>
    <nav class="rooms" aria-label="Rooms">
      <h2>Rooms</h2>
      <div id="room-list" class="room-list"></div>
      <form id="room-form" class="room-form" autocomplete="off">
        <input id="room-input" placeholder="another room" maxlength="33" aria-label="Room name" spellcheck="false">
        <button>Join</button>
      </form>
    </nav>
    <footer class="about">
      <span id="node"></span>
      <span>Also here: <a href="/hello?name=you">/hello</a>, <code>POST /echo</code>, <a href="/stream">/stream</a></span>
    </footer>
  </aside>
  <section class="chat">
    <header class="chat-head">
      <h1 id="room-title">#lobby</h1>
      <span class="online"><span id="count">–</span> online</span>
      <span id="status" class="status" data-state="connecting" role="status"><span class="dot"></span><span id="status-text">connecting…</span></span>
      <button id="retry" class="retry" hidden>Retry now</button>
    </header>
    <main id="log" class="log" aria-live="polite"></main>
    <form id="form" class="composer" autocomplete="off">
      <input id="text" placeholder="Message #lobby" aria-label="Message">
      <button id="send">Send</button>
      <small id="offline-note" class="offline-note" hidden>Offline: what you send waits here and goes out when the connection is back.</small>
    </form>
  </section>
</div>
</body>
</html>
`;

/** The favicon (also the logo): a salmon leaping over two waves. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<rect width="64" height="64" rx="14" fill="#e4572e"/>
<path d="M13 36c6-13 22-19 35-11l6-6v17l-7-3c-9 8-24 8-34 3z" fill="#fff"/>
<circle cx="41" cy="28" r="2.4" fill="#e4572e"/>
<path d="M8 48c5-4 10-4 15 0s10 4 15 0 10-4 15 0 6 3 6 3" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/>
</svg>
`;

export const DEMO_CSS = `
:root{--bg:#f4f1ee;--panel:#fff;--side:#2b2d42;--side-fg:#e8e6f0;--side-muted:#a5a6c0;--fg:#1d1d24;--muted:#6b6b78;
--line:#e3ded8;--accent:#e4572e;--accent-fg:#fff;--bubble:#efece8;--ok:#2a9d55;--warn:#d98e04;--bad:#c0392b;
--radius:14px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#16161c;--panel:#1e1e26;--side:#121218;--fg:#ecebf2;--muted:#9a99a8;
--line:#2e2e3a;--bubble:#2a2a35}}
*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{background:var(--bg);color:var(--fg)}
button,input{font:inherit;color:inherit}
a{color:inherit}
.app{display:grid;grid-template-columns:250px minmax(0,1fr);height:100vh;height:100dvh;max-width:1100px;margin:0 auto;
box-shadow:0 0 0 1px var(--line),0 10px 40px rgba(0,0,0,.08)}
.side{background:var(--side);color:var(--side-fg);padding:18px 16px;display:flex;flex-direction:column;gap:20px;
min-width:0;overflow-y:auto}
.brand{display:flex;align-items:center;gap:10px;font-size:19px;letter-spacing:.2px}
.brand img{border-radius:8px}
.name label,.rooms h2{display:block;font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.08em;
color:var(--side-muted);margin:0 0 6px}
.name input,.room-form input{width:100%;background:rgba(255,255,255,.08);border:1px solid rgba(255,255,255,.14);
border-radius:9px;padding:7px 10px;color:var(--side-fg);outline:none}
.name input:focus,.room-form input:focus{border-color:var(--accent);background:rgba(255,255,255,.12)}
.hint{display:block;color:#ffb199;min-height:1em;font-size:12px;margin-top:3px}
.room-list{display:flex;flex-direction:column;gap:2px;margin-bottom:8px}
.chip{display:block;padding:6px 10px;border-radius:8px;text-decoration:none;color:var(--side-muted);
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.chip:hover{background:rgba(255,255,255,.07);color:var(--side-fg)}
.chip.current{background:var(--accent);color:var(--accent-fg);font-weight:600}
.room-form{display:flex;gap:6px}
.room-form button{background:rgba(255,255,255,.12);border:0;border-radius:9px;padding:0 12px;cursor:pointer;
color:var(--side-fg)}
.about{margin-top:auto;font-size:12px;color:var(--side-muted);display:flex;flex-direction:column;gap:4px}
.about code{font-size:11px}
.chat{display:flex;flex-direction:column;min-width:0;min-height:0;background:var(--panel)}
.chat-head{display:flex;align-items:center;gap:12px;padding:12px 18px;border-bottom:1px solid var(--line);
flex-wrap:wrap}
.chat-head h1{font-size:18px;margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:100%}
.online{color:var(--muted);font-size:13px}
.status{margin-left:auto;display:inline-flex;align-items:center;gap:6px;font-size:13px;padding:3px 10px;
border-radius:99px;background:var(--bubble);color:var(--muted)}
.dot{width:8px;height:8px;border-radius:50%;background:var(--warn)}
.status[data-state=open] .dot{background:var(--ok)}
.status[data-state=offline]{background:#fbe3df;color:var(--bad)}
.status[data-state=offline] .dot{background:var(--bad)}
@media (prefers-color-scheme:dark){.status[data-state=offline]{background:#3a1f1c}}
.status[data-state=connecting] .dot{animation:pulse 1s infinite alternate}
@keyframes pulse{to{opacity:.3}}
.retry{border:1px solid var(--line);background:none;border-radius:99px;padding:2px 10px;font-size:13px;cursor:pointer}
.log{flex:1;min-height:0;overflow-y:auto;overflow-x:hidden;padding:14px 18px;display:flex;flex-direction:column;gap:2px}
.log>:first-child{margin-top:auto}
.empty{color:var(--muted);text-align:center;padding:40px 0}
.msg{display:flex;gap:10px;align-items:flex-start;margin-top:10px;max-width:min(640px,88%);min-width:0}
.msg.cont{margin-top:0}
.msg.cont .avatar{visibility:hidden;height:0}
.msg.cont .meta{display:none}
.avatar{flex:none;width:34px;height:34px;border-radius:50%;display:grid;place-items:center;font-weight:700;
color:#fff;background:hsl(var(--h,200) 55% 48%)}
.body{min-width:0;display:flex;flex-direction:column;align-items:flex-start}
.meta{display:flex;gap:8px;align-items:baseline;font-size:12.5px;margin:0 4px 2px;max-width:100%}
.from{font-weight:600;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.ts{color:var(--muted);font-size:11.5px;white-space:nowrap}
.bubble{background:var(--bubble);padding:7px 12px;border-radius:4px var(--radius) var(--radius) var(--radius);
white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;max-width:100%}
.msg.cont .bubble{border-radius:var(--radius)}
.msg.mine{align-self:flex-end;flex-direction:row-reverse}
.msg.mine .body{align-items:flex-end}
.msg.mine .meta{flex-direction:row-reverse}
.msg.mine .bubble{background:var(--accent);color:var(--accent-fg);border-radius:var(--radius) 4px var(--radius) var(--radius)}
.msg.mine.cont .bubble{border-radius:var(--radius)}
.msg.pending .bubble{opacity:.6}
.mark{font-size:11.5px;color:var(--muted);margin:2px 4px 0}
.sys{align-self:center;color:var(--muted);font-size:12.5px;margin:8px 0 2px;display:flex;gap:6px;align-items:baseline;
text-align:center;overflow-wrap:anywhere}
.sys.error{color:var(--bad)}
.composer{display:flex;flex-wrap:wrap;gap:8px;padding:12px 18px calc(12px + env(safe-area-inset-bottom));
border-top:1px solid var(--line)}
.composer input{flex:1;min-width:0;border:1px solid var(--line);background:var(--bg);border-radius:99px;
padding:9px 16px;outline:none}
.composer input:focus{border-color:var(--accent)}
.composer button{border:0;background:var(--accent);color:var(--accent-fg);border-radius:99px;padding:0 20px;
font-weight:600;cursor:pointer}
.composer.offline button{background:var(--muted)}
.offline-note{flex-basis:100%;color:var(--bad);font-size:12px;padding-left:16px}
@media (max-width:720px){
.app{grid-template-columns:minmax(0,1fr);grid-template-rows:auto minmax(0,1fr);box-shadow:none}
.side{flex-direction:row;flex-wrap:wrap;align-items:center;gap:8px 12px;padding:10px 12px;overflow:visible}
.brand{font-size:16px}.brand img{width:24px;height:24px}
.name{margin-left:auto;display:flex;align-items:center;gap:6px}
.name label{display:none}.name input{width:9.5em;padding:4px 9px}.hint{display:none}
.rooms{flex-basis:100%;display:flex;align-items:center;gap:6px;min-width:0}
.rooms h2{display:none}
.room-list{flex-direction:row;overflow-x:auto;margin:0;flex:1;min-width:0;scrollbar-width:none}
.chip{padding:3px 10px;border-radius:99px;background:rgba(255,255,255,.07);flex:none}
.room-form input{width:6em;padding:3px 9px}.room-form button{padding:0 9px}
.about{display:none}
.chat-head{padding:8px 12px;gap:8px}
.chat-head:has(.status[data-state=offline]) .online{display:none}
.log{padding:10px 12px}
.msg{max-width:92%}
.composer{padding:8px 12px calc(8px + env(safe-area-inset-bottom))}
}
`;

/** The page script: `demoClient`'s own source, called with the config. */
export function demoScript(config: DemoClientConfig): string {
  return `'use strict';\n(${demoClient.toString()})(${JSON.stringify(config)});\n`;
}
