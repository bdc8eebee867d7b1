/**
 * The inspector's page: one self-contained HTML document (inline CSS and one nonce'd inline script; nothing fetched
 * from elsewhere) that reads the feed (server-sent events at `<path>/feed`) and one connection's detail
 * (`<path>/connection?id=`). SECURITY: every value from the server is written with `textContent` or as an SVG
 * attribute set through the DOM, never parsed as HTML; the Content-Security-Policy (index.ts) runs no other script.
 */

/** The page, with the script's nonce and the inspector's path. */
export function renderPage(nonce: string, base: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>sockeye inspector</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1><span class="logo">◖◗</span> sockeye inspector</h1>
  <div class="meta"><span id="url"></span><span id="uptime"></span><span id="live" class="live off">connecting…</span></div>
</header>
<main>
  <section class="cards">
    <div class="card" id="card-listener">
      <h2>Listener</h2>
      <div class="kv"><span>accept queue</span><b id="queue">–</b></div>
      <div class="bar"><div id="queue-bar"></div></div>
      <div class="chart"><span class="chart-label">queue depth</span><svg id="ch-queue" viewBox="0 0 300 40" preserveAspectRatio="none"></svg></div>
      <div class="chart"><span class="chart-label">ListenOverflows / ListenDrops <small>(namespace)</small></span><svg id="ch-drops" viewBox="0 0 300 40" preserveAspectRatio="none"></svg></div>
      <div class="chart"><span class="chart-label">SYN cookies sent <small>(namespace)</small></span><svg id="ch-cookies" viewBox="0 0 300 40" preserveAspectRatio="none"></svg></div>
      <div class="counters" id="listen-counters"></div>
    </div>
    <div class="card" id="card-conns">
      <h2>Connections</h2>
      <div class="states" id="states"></div>
      <div class="chart"><span class="chart-label">open connections</span><svg id="ch-conns" viewBox="0 0 300 40" preserveAspectRatio="none"></svg></div>
      <div class="counters" id="totals"></div>
    </div>
    <div class="card" id="card-ends">
      <h2>Ends</h2>
      <div id="end-chart" class="hbars"></div>
      <div id="code-chart" class="codes"></div>
    </div>
  </section>
  <section class="panel">
    <div class="panel-head">
      <h2>Open connections <small id="listed"></small></h2>
      <input id="filter" type="search" placeholder="filter: state, peer, path, topic…" aria-label="filter connections">
    </div>
    <div class="scroll">
      <table id="conns">
        <thead><tr>
          <th data-key="id">#</th><th data-key="kind">kind</th><th data-key="state">state</th><th data-key="peer">peer</th>
          <th data-key="path">path</th><th data-key="ageMs">age</th><th data-key="bytesIn">in</th><th data-key="bytesOut">out</th>
          <th data-key="buffered">buffered / max</th><th data-key="topics">topics</th>
        </tr></thead>
        <tbody></tbody>
      </table>
      <p class="empty" id="no-conns">No open connections yet. Open a WebSocket to this server and watch it appear.</p>
    </div>
  </section>
  <section class="panel" id="detail" hidden>
    <div class="panel-head"><h2>Connection <span id="d-title"></span></h2><button id="d-close" type="button" aria-label="close detail">×</button></div>
    <ol class="machine" id="machine"></ol>
    <div class="detail-grid">
      <div>
        <h3>Kernel <small>(/proc/net/tcp)</small></h3>
        <div class="counters" id="kernel"></div>
        <h3>Last close step</h3>
        <p id="d-close-step" class="mono">–</p>
      </div>
      <div>
        <h3>Frames <small id="payload-note"></small></h3>
        <div class="scroll frames-scroll"><table id="frames"><thead><tr><th></th><th>opcode</th><th>length</th><th>time</th><th>payload</th></tr></thead><tbody></tbody></table></div>
      </div>
    </div>
  </section>
  <section class="panel">
    <div class="panel-head"><h2>Last ends</h2></div>
    <div class="scroll">
      <table id="ends"><thead><tr><th>#</th><th>kind</th><th>peer</th><th>path</th><th>cause</th><th>code</th><th>reason</th><th>by</th><th>lasted</th></tr></thead><tbody></tbody></table>
      <p class="empty" id="no-ends">No connection has ended yet.</p>
    </div>
  </section>
</main>
<script nonce="${nonce}">
const BASE = ${JSON.stringify(base)};
${SCRIPT}
</script>
</body>
</html>
`;
}

const CSS = `
:root { --bg:#0f1419; --panel:#171d24; --line:#26303b; --text:#d8dee6; --dim:#8b97a5; --accent:#4fb3ff;
  --ok:#3ecf8e; --warn:#f5b942; --bad:#ff6b6b; --violet:#b48cff; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text); font-size:14px; }
header { display:flex; flex-wrap:wrap; gap:8px 24px; align-items:baseline; justify-content:space-between; padding:12px 20px;
  border-bottom:1px solid var(--line); background:#121820; position:sticky; top:0; z-index:2; }
h1 { font-size:18px; margin:0; font-weight:600; letter-spacing:.2px; } .logo { color:var(--accent); }
h2 { font-size:13px; text-transform:uppercase; letter-spacing:.08em; color:var(--dim); margin:0 0 10px; font-weight:600; }
h3 { font-size:12px; color:var(--dim); margin:12px 0 6px; font-weight:600; }
small { color:var(--dim); font-weight:400; text-transform:none; letter-spacing:0; }
.meta { display:flex; gap:16px; color:var(--dim); font-size:13px; flex-wrap:wrap; }
.live { padding:1px 8px; border-radius:10px; background:#1d3b2c; color:var(--ok); }
.live.off { background:#3b1d1d; color:var(--bad); }
main { padding:16px 20px; display:grid; gap:16px; max-width:1500px; margin:0 auto; }
.cards { display:grid; gap:16px; grid-template-columns:repeat(auto-fit, minmax(280px, 1fr)); }
.card, .panel { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; min-width:0; }
.kv { display:flex; justify-content:space-between; align-items:baseline; } .kv b { font-size:20px; font-variant-numeric:tabular-nums; }
.bar { height:8px; background:#0c1116; border-radius:4px; overflow:hidden; margin:6px 0 10px; }
.bar > div { height:100%; width:0; background:var(--ok); transition:width .3s; }
.chart { margin:6px 0; } .chart-label { font-size:11px; color:var(--dim); display:block; }
.chart svg { width:100%; height:40px; display:block; background:#0c1116; border-radius:4px; }
.counters { display:grid; grid-template-columns:repeat(auto-fill, minmax(120px,1fr)); gap:4px 12px; font-size:12px; color:var(--dim); margin-top:8px; }
.counters b { color:var(--text); font-variant-numeric:tabular-nums; font-weight:600; }
.states { display:grid; grid-template-columns:repeat(3, 1fr); gap:8px; }
.state-box { background:#0c1116; border-radius:8px; padding:8px; text-align:center; }
.state-box b { display:block; font-size:22px; font-variant-numeric:tabular-nums; }
.state-box span { font-size:11px; color:var(--dim); }
.hbars { display:grid; gap:4px; font-size:12px; }
.hbar { display:grid; grid-template-columns:minmax(90px, 40%) 1fr 36px; gap:8px; align-items:center; }
.hbar .track { height:10px; background:#0c1116; border-radius:3px; overflow:hidden; }
.hbar .fill { height:100%; background:var(--violet); }
.hbar .n { text-align:right; font-variant-numeric:tabular-nums; }
.codes { display:flex; flex-wrap:wrap; gap:6px; margin-top:10px; }
.code-chip { font-size:12px; padding:2px 8px; border-radius:10px; background:#0c1116; border:1px solid var(--line); }
.panel-head { display:flex; justify-content:space-between; align-items:center; gap:12px; flex-wrap:wrap; margin-bottom:8px; }
.panel-head h2 { margin:0; }
input[type=search] { background:#0c1116; border:1px solid var(--line); color:var(--text); border-radius:6px; padding:6px 10px; min-width:220px; flex:1; max-width:360px; }
button { background:#0c1116; color:var(--text); border:1px solid var(--line); border-radius:6px; font-size:16px; cursor:pointer; padding:0 10px; }
.scroll { overflow-x:auto; }
table { width:100%; border-collapse:collapse; font-size:13px; font-variant-numeric:tabular-nums; }
th { text-align:left; color:var(--dim); font-weight:500; font-size:12px; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; user-select:none; }
#conns th { cursor:pointer; } #conns th.sorted::after { content:" ▾"; } #conns th.sorted.asc::after { content:" ▴"; }
td { padding:6px 8px; border-bottom:1px solid #1e262f; white-space:nowrap; max-width:320px; overflow:hidden; text-overflow:ellipsis; }
#conns tbody tr { cursor:pointer; } #conns tbody tr:hover { background:#1b232c; } #conns tbody tr.selected { background:#1a2a3a; }
.pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; background:#0c1116; }
.s-http-idle { color:var(--dim); } .s-http-active { color:var(--accent); } .s-ws-handshaking { color:var(--warn); }
.s-ws-open { color:var(--ok); } .s-ws-closing { color:var(--bad); }
.mini { display:inline-block; width:90px; height:8px; background:#0c1116; border-radius:4px; overflow:hidden; vertical-align:middle; margin-right:6px; }
.mini > div { height:100%; background:var(--ok); } .mini.warn > div { background:var(--warn); } .mini.bad > div { background:var(--bad); }
.empty { color:var(--dim); font-size:13px; margin:10px 4px; }
.machine { list-style:none; display:flex; flex-wrap:wrap; gap:8px 22px; padding:0; margin:6px 0 10px; }
.machine li { padding:6px 12px; border-radius:16px; border:1px solid var(--line); color:var(--dim); font-size:12px; position:relative; }
.machine li.done { color:var(--text); border-color:#34506a; }
.machine li.current { background:var(--accent); color:#06121d; border-color:var(--accent); font-weight:600; box-shadow:0 0 12px #4fb3ff66; }
.machine li + li::before { content:"→"; position:absolute; left:-17px; color:var(--dim); font-weight:400; }
.detail-grid { display:grid; gap:16px; grid-template-columns:minmax(200px, 1fr) 3fr; }
.detail-grid > div { min-width:0; }
#d-title { text-transform:none; letter-spacing:0; color:var(--text); }
.frames-scroll { max-height:360px; overflow:auto; }
.dir-in { color:var(--accent); } .dir-out { color:var(--violet); }
.mono, .f-text { font-family:ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size:12px; }
.f-text { color:#e9d9a6; white-space:pre; }
@media (max-width: 720px) {
  header, main { padding-left:10px; padding-right:10px; }
  .detail-grid { grid-template-columns:1fr; }
  .states { grid-template-columns:repeat(2, 1fr); }
  input[type=search] { min-width:0; max-width:none; width:100%; }
  td { max-width:180px; }
}
`;

// The page's script (runs in the browser). Everything from the server goes into the DOM as text.
const SCRIPT = String.raw`
'use strict';
const token = new URLSearchParams(location.search).get('token') || '';
const q = (id) => document.getElementById(id);
const OPS = { 0: 'cont', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
const STATE_NAMES = { 'http-idle': 'HTTP idle', 'http-active': 'HTTP active', 'ws-handshaking': 'WS handshaking', 'ws-open': 'WS open', 'ws-closing': 'WS closing' };
const STEPS = ['TCP accepted', 'HTTP request', '101', 'open', 'closing', 'closed'];
let last = null, selected = null, sortKey = 'id', sortAsc = true, detailBusy = false;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
  return (n / 1073741824).toFixed(2) + ' GiB';
}
function dur(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
}
function kv(parent, label, value) {
  const d = el('div'); d.append(label + ' ', el('b', '', value)); parent.append(d);
}
function spark(svg, series, colors) {
  svg.replaceChildren();
  const NS = 'http://www.w3.org/2000/svg';
  let max = 1;
  for (const s of series) for (const v of s) if (v > max) max = v;
  series.forEach((s, k) => {
    if (s.length === 0) return;
    const step = 300 / Math.max(1, s.length - 1);
    const pts = s.map((v, i) => (i * step).toFixed(1) + ',' + (38 - (v / max) * 34).toFixed(1)).join(' ');
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', colors[k]);
    line.setAttribute('stroke-width', '1.5');
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(line);
  });
  const t = document.createElementNS(NS, 'title');
  t.textContent = 'max ' + max;
  svg.append(t);
}
function deltas(h, key) {
  const out = [];
  for (let i = 1; i < h.length; i++) {
    const a = h[i - 1][key], b = h[i][key];
    out.push(a === null || b === null ? 0 : Math.max(0, b - a));
  }
  return out;
}
function renderListener(s) {
  const L = s.listen;
  q('queue').textContent = L.queueDepth === null ? 'n/a' : L.queueDepth + ' / ' + L.queueLimit;
  const pct = L.queueDepth === null || !L.queueLimit ? 0 : Math.min(100, (100 * L.queueDepth) / L.queueLimit);
  const bar = q('queue-bar');
  bar.style.width = pct + '%';
  bar.style.background = pct > 80 ? 'var(--bad)' : pct > 40 ? 'var(--warn)' : 'var(--ok)';
  const h = s.history;
  spark(q('ch-queue'), [h.map((x) => x.queueDepth || 0)], ['#4fb3ff']);
  spark(q('ch-drops'), [deltas(h, 'listenOverflows'), deltas(h, 'listenDrops')], ['#ff6b6b', '#f5b942']);
  spark(q('ch-cookies'), [deltas(h, 'syncookiesSent')], ['#b48cff']);
  spark(q('ch-conns'), [h.map((x) => x.connections)], ['#3ecf8e']);
  const c = q('listen-counters'); c.replaceChildren();
  const n = (v) => (v === null ? 'n/a' : v);
  kv(c, 'overflows', n(L.listenOverflows)); kv(c, 'drops', n(L.listenDrops)); kv(c, 'SYN cookies', n(L.syncookiesSent));
}
function renderStates(s) {
  const C = s.connections, box = q('states'); box.replaceChildren();
  for (const [k, label] of [['httpIdle', 'HTTP idle'], ['httpActive', 'HTTP active'], ['wsHandshaking', 'WS handshaking'], ['wsOpen', 'WS open'], ['wsClosing', 'WS closing'], ['total', 'total']]) {
    const d = el('div', 'state-box'); d.append(el('b', '', C[k]), el('span', '', label)); box.append(d);
  }
  const t = q('totals'); t.replaceChildren();
  kv(t, 'accepted', s.accepted); kv(t, 'requests', s.http.requests);
  kv(t, 'WS in', bytes(s.websocket.bytesIn)); kv(t, 'WS out', bytes(s.websocket.bytesOut));
  kv(t, 'inspector feeds', s.feeds.length + (s.feeds.some((f) => f.behindMs > 0) ? ' (one behind)' : ''));
}
function renderEnds(s) {
  const chart = q('end-chart'); chart.replaceChildren();
  const max = s.endCounts.reduce((m, x) => Math.max(m, x[1]), 1);
  for (const [cause, n] of s.endCounts.slice(0, 8)) {
    const row = el('div', 'hbar'), track = el('div', 'track'), fill = el('div', 'fill');
    fill.style.width = ((100 * n) / max) + '%'; track.append(fill);
    row.append(el('span', '', cause), track, el('span', 'n', n)); chart.append(row);
  }
  if (s.endCounts.length === 0) chart.append(el('p', 'empty', 'Nothing has ended yet.'));
  const codes = q('code-chart'); codes.replaceChildren();
  for (const [code, n] of s.codeCounts) codes.append(el('span', 'code-chip', code + ' × ' + n));
  const tb = q('ends').tBodies[0]; tb.replaceChildren();
  for (const e of s.ends) {
    const tr = el('tr');
    tr.append(el('td', '', e.id), el('td', '', e.kind === 'websocket' ? 'WS' : 'HTTP'), el('td', '', e.peer), el('td', '', e.path),
      el('td', 'end-cause', e.cause), el('td', '', e.kind === 'websocket' ? e.code : ''), el('td', 'end-reason', e.reason),
      el('td', '', e.initiator), el('td', '', dur(e.durationMs)));
    tb.append(tr);
  }
  q('no-ends').hidden = s.ends.length > 0;
}
function renderTable(s) {
  const filter = q('filter').value.trim().toLowerCase();
  let rows = s.list.filter((r) => !filter || [r.kind, r.state, STATE_NAMES[r.state], r.peer, r.path, r.topics.join(' ')].join(' ').toLowerCase().includes(filter));
  rows.sort((a, b) => {
    let x = a[sortKey], y = b[sortKey];
    if (Array.isArray(x)) { x = x.length; y = y.length; }
    const r = x < y ? -1 : x > y ? 1 : 0;
    return sortAsc ? r : -r;
  });
  for (const th of q('conns').tHead.rows[0].cells) {
    th.classList.toggle('sorted', th.dataset.key === sortKey);
    th.classList.toggle('asc', th.dataset.key === sortKey && sortAsc);
  }
  const tb = q('conns').tBodies[0]; tb.replaceChildren();
  for (const r of rows) {
    const tr = el('tr'); tr.dataset.id = r.id;
    if (r.id === selected) tr.className = 'selected';
    const st = el('td', 'c-state'); st.append(el('span', 'pill s-' + r.state, STATE_NAMES[r.state] || r.state));
    const buf = el('td', 'c-buffered');
    if (r.maxBackpressure > 0) {
      const pct = Math.min(100, (100 * r.buffered) / r.maxBackpressure);
      const m = el('span', 'mini' + (pct > 75 ? ' bad' : pct > 25 ? ' warn' : '')), f = el('div'); f.style.width = pct + '%'; m.append(f);
      buf.append(m, bytes(r.buffered) + ' / ' + bytes(r.maxBackpressure));
    } else buf.textContent = bytes(r.buffered);
    tr.append(el('td', '', r.id), el('td', 'c-kind', r.kind === 'websocket' ? 'WS' : 'HTTP'), st, el('td', 'c-peer', r.peer),
      el('td', 'c-path', r.path), el('td', '', dur(r.ageMs)), el('td', '', bytes(r.bytesIn)), el('td', '', bytes(r.bytesOut)),
      buf, el('td', 'c-topics', r.topics.join(', ')));
    tb.append(tr);
  }
  q('no-conns').hidden = s.list.length > 0;
  q('listed').textContent = '(' + rows.length + (rows.length === s.list.length ? '' : ' of ' + s.list.length) + ')';
}
function stepIndex(d) {
  if (d.ended) return 5;
  if (d.state === 'ws-closing') return 4;
  if (d.state === 'ws-open') return 3;
  if (d.reached & 4) return 2;
  if (d.reached & 2) return 1;
  return 0;
}
function renderDetail(d) {
  q('detail').hidden = false;
  q('d-title').textContent = '#' + d.id + (d.peer ? ' · ' + d.peer : '') + (d.path ? ' · ' + d.path : '') + (d.ended ? ' · ended' : '');
  const cur = stepIndex(d), m = q('machine'); m.replaceChildren();
  STEPS.forEach((name, i) => m.append(el('li', i === cur ? 'current' : i < cur ? 'done' : '', name)));
  const k = q('kernel'); k.replaceChildren();
  if (d.kernel) {
    kv(k, 'state', d.kernel.state); kv(k, 'send queue', bytes(d.kernel.sendQueue));
    kv(k, 'receive queue', bytes(d.kernel.receiveQueue)); kv(k, 'retransmits', d.kernel.retransmits);
  } else k.append(el('span', '', d.ended ? 'the socket is gone' : 'not available here'));
  q('d-close-step').textContent = d.ended ? d.ended.cause + ' ' + (d.ended.kind === 'websocket' ? d.ended.code + ' ' + d.ended.reason : '') : d.lastClose || '–';
  const tb = q('frames').tBodies[0]; tb.replaceChildren();
  for (const f of (d.frames || []).slice().reverse()) {
    const tr = el('tr', 'frame');
    const t = new Date(f.t);
    tr.append(el('td', 'dir-' + f.dir, f.dir === 'in' ? '← in' : '→ out'), el('td', 'f-op', (OPS[f.opcode] || f.opcode) + (f.fin ? '' : ' …') + (f.rsv1 ? ' (deflate)' : '')),
      el('td', '', bytes(f.length)), el('td', '', t.toLocaleTimeString() + '.' + String(t.getMilliseconds()).padStart(3, '0')),
      el('td', 'f-text', f.text === null ? '' : f.text));
    tb.append(tr);
  }
}
async function refreshDetail() {
  if (selected === null || detailBusy) return;
  detailBusy = true;
  try {
    const r = await fetch(BASE + '/connection?id=' + selected + '&token=' + encodeURIComponent(token), { cache: 'no-store' });
    const d = await r.json();
    if (d.ended) renderDetail({ id: d.id, ended: d.ended, peer: d.ended.peer, path: d.ended.path, frames: lastFrames, reached: 63 });
    else if (r.ok) { lastFrames = d.frames; renderDetail(d); }
  } catch {} finally { detailBusy = false; }
}
let lastFrames = [];
function render(s) {
  last = s;
  q('url').textContent = s.url;
  q('uptime').textContent = 'up ' + dur(s.uptimeSeconds * 1000);
  q('payload-note').textContent = s.payloads ? '(payload capture on: text previews)' : '(payloads hidden: serve with payloads: true to see text)';
  renderListener(s); renderStates(s); renderEnds(s); renderTable(s);
  refreshDetail();
}
q('conns').tHead.addEventListener('click', (ev) => {
  const th = ev.target.closest('th'); if (!th) return;
  if (sortKey === th.dataset.key) sortAsc = !sortAsc; else { sortKey = th.dataset.key; sortAsc = true; }
  if (last) renderTable(last);
});
q('conns').tBodies[0].addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr'); if (!tr) return;
  selected = Number(tr.dataset.id); lastFrames = [];
  if (last) renderTable(last);
  refreshDetail();
});
q('filter').addEventListener('input', () => { if (last) renderTable(last); });
q('d-close').addEventListener('click', () => { selected = null; q('detail').hidden = true; if (last) renderTable(last); });
const feed = new EventSource(BASE + '/feed?token=' + encodeURIComponent(token));
feed.onopen = () => { const l = q('live'); l.textContent = '● live'; l.className = 'live'; };
feed.onerror = () => { const l = q('live'); l.textContent = 'reconnecting…'; l.className = 'live off'; };
feed.onmessage = (ev) => render(JSON.parse(ev.data));
`;
