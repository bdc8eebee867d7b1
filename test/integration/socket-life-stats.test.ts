/**
 * `server.stats()`, the `/metrics` endpoint and `onConnectionEnd` over real loopback sockets: connections by
 * state (httpIdle / httpActive / wsOpen) follow connections as they open and close; totals count requests,
 * messages, frames by opcode, close codes by side and protocol errors by code; maxConnections and
 * maxConnectionsPerIp refusals are counted; the Prometheus text is well-formed (checked by a small parser here)
 * and agrees with stats(); onConnectionEnd reports HTTP and WebSocket ends with their causes, bytes and durations.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import type { ConnectionEndInfo, Server } from '../../src/index.js';
import { startServer } from '../helpers/net.js';
import { closeOf, openWs, waitFor, within } from '../helpers/slow-peers.js';
import { frame } from '../helpers/ws-frames.js';
import { connectRaw, OP_PING, OP_TEXT } from '../helpers/ws-raw-client.js';

/** A keep-alive HTTP connection on a raw socket: one request at a time, responses read by Content-Length. */
class RawHttp {
  readonly socket: net.Socket;
  #buf = '';
  #waiter: (() => void) | null = null;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.#buf += d.toString('latin1');
      this.#waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#waiter?.();
    });
    socket.on('error', () => {});
  }

  static async open(t: TestContext, port: number): Promise<RawHttp> {
    const socket = net.connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    await within(new Promise((r) => socket.once('connect', r)), 3000, 'connect');
    return new RawHttp(socket);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Resolves with the next complete response (head + Content-Length body), bounded. */
  async response(ms = 3000): Promise<{ status: number; head: string; body: string }> {
    const take = () => {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const head = this.#buf.slice(0, end);
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      const len = m === null ? 0 : Number(m[1]);
      if (this.#buf.length < end + 4 + len) return null;
      const body = this.#buf.slice(end + 4, end + 4 + len);
      this.#buf = this.#buf.slice(end + 4 + len);
      return { status: Number(head.slice(9, 12)), head, body };
    };
    const p = new Promise<{ status: number; head: string; body: string }>((resolve, reject) => {
      const check = () => {
        const r = take();
        if (r !== null) {
          this.#waiter = null;
          resolve(r);
        } else if (this.closed) reject(new Error(`closed before a whole response: ${JSON.stringify(this.#buf)}`));
      };
      this.#waiter = check;
      check();
    });
    return within(p, ms, 'an HTTP response');
  }

  waitClosed(ms = 3000): Promise<void> {
    return waitFor(() => this.closed, ms, 'the server to close the connection');
  }
}

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

/** GET with node:http on a fresh connection (agent: false sends Connection: close). */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    }),
    3000,
    `GET ${path}`,
  );
}

function connections(server: Server) {
  const c = server.stats().connections;
  return { httpIdle: c.httpIdle, httpActive: c.httpActive, wsOpen: c.wsOpen, total: c.total };
}

// ── a small Prometheus text-format (0.0.4) parser ──────────────────────────────────────────────────────────────

interface Family {
  name: string;
  help: string;
  type: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/y;
const VALUE = /^(?:NaN|[+-]Inf|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)$/;

/** Parses the exposition text, asserting its syntax as it goes. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [, name, ...help] = line.split(' ').slice(1);
      assert.ok(name !== undefined && NAME.test(name), `metric name in ${line}`);
      assert.ok(!families.has(name), `one HELP per family: ${name}`);
      families.set(name, { name, help: help.join(' '), type: '', samples: [] });
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      const f = families.get(name ?? '');
      assert.ok(f !== undefined, `TYPE after HELP: ${line}`);
      assert.equal(f.type, '', `one TYPE per family: ${name}`);
      assert.ok(['counter', 'gauge', 'untyped', 'histogram', 'summary'].includes(type ?? ''), `type in ${line}`);
      f.type = type as string;
      continue;
    }
    assert.ok(!line.startsWith('#'), `no other comment lines: ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `sample syntax: ${JSON.stringify(line)}`);
    const [, name, rawLabels, value] = m;
    const f = families.get(name as string);
    assert.ok(f !== undefined && f.type !== '', `sample after its HELP and TYPE: ${line}`);
    const labels: Record<string, string> = {};
    if (rawLabels !== undefined) {
      const inner = rawLabels.slice(1, -1);
      let pos = 0;
      while (pos < inner.length) {
        LABEL.lastIndex = pos;
        const lm = LABEL.exec(inner);
        assert.ok(lm !== null, `label syntax at ${pos} in ${line}`);
        assert.ok(!((lm[1] as string) in labels), `label once: ${line}`);
        labels[lm[1] as string] = lm[2] as string;
        pos = LABEL.lastIndex;
        if (pos < inner.length) {
          assert.equal(inner[pos], ',', `labels separated by commas: ${line}`);
          pos++;
        }
      }
    }
    assert.ok(VALUE.test(value as string), `numeric value: ${line}`);
    const key = JSON.stringify(labels);
    assert.ok(!f.samples.some((s) => JSON.stringify(s.labels) === key), `series once: ${line}`);
    f.samples.push({ labels, value: Number(value) });
  }
  for (const f of families.values()) {
    assert.notEqual(f.type, '', `${f.name} has a TYPE`);
    assert.ok(f.help.length > 0, `${f.name} has HELP text`);
    if (f.type === 'counter') assert.ok(f.name.endsWith('_total'), `counter ${f.name} ends with _total`);
    else assert.ok(!f.name.endsWith('_total'), `only counters end with _total: ${f.name}`);
    if (f.type === 'counter') for (const s of f.samples) assert.ok(!(s.value < 0), `counter ${f.name} >= 0`);
  }
  return families;
}

function sample(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const key = JSON.stringify(labels);
  return fams.get(name)?.samples.find((s) => JSON.stringify(s.labels) === key)?.value;
}

function byLabel(fams: Map<string, Family>, name: string, label: string, where: Record<string, string> = {}) {
  const out: Record<string, number> = {};
  for (const s of fams.get(name)?.samples ?? []) {
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) out[s.labels[label] as string] = s.value;
  }
  return out;
}

// ── tests ──────────────────────────────────────────────────────────────────────────────────────────────────────

test('connections by state follow connections as they open, work, idle and close', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const server = await startServer(t, {
    async request(req, res) {
      if (req.path === '/slow') await gate;
      res.send('ok');
    },
    websocket: {},
  });
  assert.deepEqual(connections(server), { httpIdle: 0, httpActive: 0, wsOpen: 0, total: 0 });

  const a = await RawHttp.open(t, server.port);
  a.send(GET('/fast'));
  assert.equal((await a.response()).status, 200);
  await waitFor(() => server.stats().connections.httpIdle === 1, 2000, 'a keep-alive idle connection');

  const b = await RawHttp.open(t, server.port);
  b.send(GET('/slow'));
  await waitFor(() => server.stats().connections.httpActive === 1, 2000, 'a request in progress');

  const ws = await openWs(t, `ws://127.0.0.1:${server.port}`);
  await waitFor(() => server.stats().connections.wsOpen === 1, 2000, 'an open WebSocket');
  assert.deepEqual(connections(server), { httpIdle: 1, httpActive: 1, wsOpen: 1, total: 3 });

  release();
  assert.equal((await b.response()).status, 200);
  await waitFor(() => server.stats().connections.httpIdle === 2, 2000, 'both HTTP connections idle');
  assert.deepEqual(connections(server), { httpIdle: 2, httpActive: 0, wsOpen: 1, total: 3 });

  a.socket.end();
  await waitFor(() => server.stats().connections.httpIdle === 1, 2000, 'one HTTP connection gone');
  ws.close(1000);
  await closeOf(ws);
  await waitFor(() => server.stats().connections.wsOpen === 0, 2000, 'the WebSocket gone');
  b.socket.end();
  await waitFor(() => server.stats().connections.total === 0, 2000, 'no connection left');
  assert.deepEqual(connections(server), { httpIdle: 0, httpActive: 0, wsOpen: 0, total: 0 });
  assert.equal(server.stats().accepted, 3);
});

test('totals: requests, messages, frames by opcode, close codes by side, protocol errors; /metrics agrees', async (t) => {
  const server = await startServer(t, {
    metrics: '/metrics',
    request: (_req, res) => res.send('hello'),
    websocket: {
      message(ws, m, isBinary) {
        if (m === 'close-me') ws.close(4001, 'as you wish');
        else ws.send(m, isBinary);
      },
    },
  });
  const port = server.port;
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(port, `/r${i}`)).status, 200);

  // A: 3 text, 2 binary, 1 ping; all echoed; then the client closes with 4000.
  const a = await openWs(t, `ws://127.0.0.1:${port}`);
  const echoes: unknown[] = [];
  a.on('message', (d) => echoes.push(d));
  const pong = new Promise((r) => a.once('pong', r));
  for (const m of ['t1', 't2', 't3']) a.send(m);
  for (const m of [Buffer.from([1, 2]), Buffer.from([3])]) a.send(m);
  a.ping('p');
  await within(pong, 3000, 'the pong');
  await waitFor(() => echoes.length === 5, 3000, 'five echoes');
  a.close(4000, 'done');
  assert.equal((await closeOf(a)).code, 4000);

  // B: the server closes with 4001; the client echoes it.
  const b = await openWs(t, `ws://127.0.0.1:${port}`);
  b.send('close-me');
  assert.equal((await closeOf(b)).code, 4001);

  // C: an unmasked frame from a client: 1002, ERR_WS_UNMASKED_FRAME.
  const c = await connectRaw(port);
  t.after(() => c.destroy());
  await c.write(frame({ opcode: OP_TEXT, payload: 'naked', mask: false }));
  const out = await c.waitClosed(3000);
  assert.equal(out.code, 1002);

  await waitFor(() => server.stats().connections.total === 0, 3000, 'every connection ended');
  const s = server.stats();
  assert.equal(s.http.requests, 3 + 3, 'three GETs and three upgrade requests');
  const w = s.websocket;
  assert.equal(w.accepted, 3);
  assert.equal(w.messagesIn, 6, 'five echoed and close-me');
  assert.equal(w.messagesOut, 5);
  assert.equal(w.payloadBytesIn, 2 * 3 + 3 + 'close-me'.length);
  assert.deepEqual(w.framesIn, { text: 4, binary: 2, continuation: 0, ping: 1, pong: 0, close: 2 });
  assert.deepEqual(w.framesOut, { text: 3, binary: 2, continuation: 0, ping: 0, pong: 1, close: 3 });
  assert.deepEqual(w.closeCodesFromPeer, { 4000: 1, 4001: 1 });
  assert.deepEqual(w.closeCodesFromServer, { 4000: 1, 4001: 1, 1002: 1 });
  assert.deepEqual(w.protocolErrors, { ERR_WS_UNMASKED_FRAME: 1 });
  assert.deepEqual(w.ends, { 'peer-close': 1, 'server-close': 1, 'protocol-error': 1 });
  assert.ok(w.bytesIn > 0 && w.bytesOut > 0);
  assert.ok(s.http.bytesIn > 0 && s.http.bytesOut > 0);

  // /metrics: well-formed, and the same numbers.
  const metrics = await httpGet(port, '/metrics');
  assert.equal(metrics.status, 200);
  const after = server.stats();
  const fams = parsePrometheus(metrics.body);
  assert.equal(sample(fams, 'sockeye_http_requests_total'), after.http.requests);
  assert.equal(sample(fams, 'sockeye_connections_accepted_total'), after.accepted);
  assert.equal(sample(fams, 'sockeye_connections', { state: 'http_active' }), 1, 'the /metrics request itself');
  assert.equal(sample(fams, 'sockeye_connections', { state: 'ws_open' }), 0);
  assert.equal(sample(fams, 'sockeye_ws_messages_total', { direction: 'in' }), w.messagesIn);
  assert.equal(sample(fams, 'sockeye_ws_messages_total', { direction: 'out' }), w.messagesOut);
  assert.equal(sample(fams, 'sockeye_ws_payload_bytes_total', { direction: 'in' }), w.payloadBytesIn);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_frames_total', 'opcode', { direction: 'in' }), w.framesIn);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_frames_total', 'opcode', { direction: 'out' }), w.framesOut);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_close_codes_total', 'code', { side: 'peer' }), w.closeCodesFromPeer);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_close_codes_total', 'code', { side: 'server' }), w.closeCodesFromServer);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_protocol_errors_total', 'code'), w.protocolErrors);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_connection_ends_total', 'cause'), w.ends);
  assert.deepEqual(byLabel(fams, 'sockeye_http_connection_ends_total', 'cause'), after.http.ends);
  assert.deepEqual(byLabel(fams, 'sockeye_ws_handshakes_total', 'result'), {
    accepted: 3,
    rejected: 0,
    abandoned: 0,
  });
  assert.equal(sample(fams, 'sockeye_ws_received_bytes_total'), w.bytesIn);
  assert.equal(sample(fams, 'sockeye_ws_sent_bytes_total'), w.bytesOut);
  // HTTP bytes include the /metrics connection, still open when the text was made: bounded by stats() after.
  const httpIn = sample(fams, 'sockeye_http_received_bytes_total') ?? -1;
  assert.ok(httpIn >= s.http.bytesIn && httpIn <= after.http.bytesIn, `http bytes in ${httpIn}`);
  assert.ok((sample(fams, 'sockeye_uptime_seconds') ?? -1) > 0);
});

test('refusals: maxConnections and maxConnectionsPerIp answer 503 and are counted', async (t) => {
  for (const [option, key] of [
    ['maxConnections', 'maxConnections'],
    ['maxConnectionsPerIp', 'perIp'],
  ] as const) {
    const server = await startServer(t, { [option]: 2 });
    const held = [await RawHttp.open(t, server.port), await RawHttp.open(t, server.port)];
    await waitFor(() => server.stats().connections.total === 2, 2000, 'two connections held');
    const third = await RawHttp.open(t, server.port);
    const r = await third.response();
    assert.equal(r.status, 503, option);
    await third.waitClosed();
    const s = server.stats();
    assert.equal(s.rejected[key], 1, option);
    assert.equal(s.rejected[key === 'perIp' ? 'maxConnections' : 'perIp'], 0);
    assert.equal(s.accepted, 3);
    assert.equal(s.connections.total, 2, 'the held connections are untouched');
    // A held one still works; once one leaves, a new connection is served.
    held[0]?.send(GET('/'));
    assert.equal((await held[0]?.response())?.status, 404);
    held[1]?.socket.end();
    await waitFor(() => server.stats().connections.total === 1, 2000, 'one connection left');
    const fourth = await RawHttp.open(t, server.port);
    fourth.send(GET('/'));
    assert.equal((await fourth.response()).status, 404, `${option}: served again below the limit`);
  }
});

test('onConnectionEnd: HTTP and WebSocket ends with their causes, bytes and durations', async (t) => {
  const ends: ConnectionEndInfo[] = [];
  const server = await startServer(t, {
    timeouts: { keepAlive: 300 },
    request: (_req, res) => res.send('hi'),
    websocket: {
      message(ws, m) {
        if (m === 'close-me') ws.close(4001);
      },
    },
    onConnectionEnd: (info) => ends.push(info),
  });
  const port = server.port;
  // Kept, not an event: durationMs > 0 (whole ms) needs each connection to live a few ms of real time.
  const pause = () => new Promise((r) => setTimeout(r, 5));

  // HTTP peer-close: the client ends an idle keep-alive connection.
  const p = await RawHttp.open(t, port);
  await pause(); // durations are whole milliseconds: let each connection live a few
  p.send(GET('/'));
  await p.response();
  await pause();
  p.socket.end();
  await waitFor(() => ends.length === 1, 3000, 'peer-close');

  // HTTP server-close: Connection: close.
  const s = await RawHttp.open(t, port);
  await pause();
  s.send(GET('/', 'Connection: close\r\n'));
  await s.response();
  await s.waitClosed();
  await waitFor(() => ends.length === 2, 3000, 'server-close');

  // HTTP keep-alive-timeout: an idle keep-alive connection left alone.
  const k = await RawHttp.open(t, port);
  await pause();
  k.send(GET('/'));
  await k.response();
  await k.waitClosed(3000);
  await waitFor(() => ends.length === 3, 3000, 'keep-alive-timeout');

  // HTTP protocol-error: a malformed request line.
  const e = await RawHttp.open(t, port);
  await pause();
  e.send('GET  / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal((await e.response()).status, 400);
  await e.waitClosed();
  await waitFor(() => ends.length === 4, 3000, 'protocol-error');

  // WebSocket peer-close, server-close, protocol-error.
  const wp = await openWs(t, `ws://127.0.0.1:${port}`);
  await pause();
  wp.close(1000);
  await closeOf(wp);
  await waitFor(() => ends.length === 5, 3000, 'ws peer-close');
  const ws = await openWs(t, `ws://127.0.0.1:${port}`);
  await pause();
  ws.send('close-me');
  await closeOf(ws);
  await waitFor(() => ends.length === 6, 3000, 'ws server-close');
  const we = await connectRaw(port);
  t.after(() => we.destroy());
  await pause();
  await we.write(frame({ opcode: OP_PING, payload: 'x'.repeat(126) }));
  assert.equal((await we.waitClosed()).code, 1002);
  await waitFor(() => ends.length === 7, 3000, 'ws protocol-error');

  assert.deepEqual(
    ends.map((x) => [x.kind, x.cause, x.initiator]),
    [
      ['http', 'peer-close', 'peer'],
      ['http', 'server-close', 'server'],
      ['http', 'keep-alive-timeout', 'server'],
      ['http', 'protocol-error', 'server'],
      ['websocket', 'peer-close', 'peer'],
      ['websocket', 'server-close', 'server'],
      ['websocket', 'protocol-error', 'server'],
    ],
  );
  assert.deepEqual(
    ends.map((x) => x.code),
    [0, 0, 0, 0, 1000, 4001, 1002],
  );
  for (const x of ends) {
    assert.equal(x.remoteAddress, '127.0.0.1', `${x.kind} ${x.cause} address`);
    assert.ok(x.remotePort > 0, `${x.kind} ${x.cause} port`);
    assert.ok(x.bytesRead > 0, `${x.kind} ${x.cause} bytesRead`);
    assert.ok(x.bytesWritten > 0, `${x.kind} ${x.cause} bytesWritten`);
    assert.ok(x.durationMs > 0, `${x.kind} ${x.cause} durationMs ${x.durationMs}`);
  }
  assert.deepEqual(
    ends.map((x) => x.requests),
    [1, 1, 1, 0, 1, 1, 1],
  );
  assert.deepEqual(
    ends.map((x) => x.wasClean),
    // A protocol error is never a clean end, HTTP or WebSocket.
    [true, true, true, false, true, true, false],
  );
  const st = server.stats();
  assert.deepEqual(st.http.ends, {
    'peer-close': 1,
    'server-close': 1,
    'keep-alive-timeout': 1,
    'protocol-error': 1,
  });
  assert.deepEqual(st.websocket.ends, { 'peer-close': 1, 'server-close': 1, 'protocol-error': 1 });
});
