/**
 * `sockeye top` as people run it: bin/sockeye.js in a real terminal (a tmux pane of fixed size, on a tmux server
 * of this test's own), watching a real server's /metrics while the test opens, uses and closes real WebSocket
 * clients (the `ws` package): the pane shows the counts change, the close causes appear, a resized window is drawn
 * again at its new width, q quits and the shell prompt comes back with exit code 0. Without a terminal it prints
 * one key=value line per update, which parse; an unreachable URL exits 3, a non-metrics URL 4, a bad URL 2.
 */

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import type WebSocket from 'ws';
import type { Server } from '../../src/index.js';
import { BIN } from '../helpers/echo-process.js';
import { run, startServer } from '../helpers/net.js';
import { closeOf, openWs, within } from '../helpers/slow-peers.js';

const exec = promisify(execFile);
const PROMPT = 'top-test$ ';

/** A server with /metrics that echoes WebSocket messages. */
function metricsServer(t: TestContext): Promise<Server> {
  return startServer(t, {
    metrics: '/metrics',
    request: (_req, res) => res.send('not metrics\n'),
    websocket: {
      message: (ws, data) => {
        ws.send(data);
      },
    },
  });
}

/** A tmux server of this test alone (its own socket name), with one detached session of a fixed size. */
class Pane {
  readonly #socket = `sockeye-top-test-${process.pid}`;

  static async open(t: TestContext, width: number, height: number): Promise<Pane> {
    const pane = new Pane();
    t.after(() => pane.tmux('kill-server').catch(() => {}));
    // A shell without rc files: the prompt is known, nothing else runs.
    await pane.tmux(
      'new-session',
      '-d',
      '-x',
      String(width),
      '-y',
      String(height),
      `env PS1='${PROMPT}' bash --norc --noprofile`,
    );
    await pane.waitFor((text) => text.includes(PROMPT.trim()), 'the shell prompt');
    return pane;
  }

  tmux(...args: string[]): Promise<{ stdout: string }> {
    return exec('tmux', ['-L', this.#socket, ...args], { timeout: 5000 });
  }

  async type(text: string, enter = true): Promise<void> {
    await this.tmux('send-keys', '-t', '0', '-l', text);
    if (enter) await this.tmux('send-keys', '-t', '0', 'Enter');
  }

  async capture(): Promise<string> {
    return (await this.tmux('capture-pane', '-p', '-t', '0')).stdout;
  }

  /** Polls the pane (every 100 ms, at most 10 s) until `ok` holds for its text; returns that text. */
  async waitFor(ok: (text: string) => boolean, what: string): Promise<string> {
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await this.capture();
      if (ok(text)) return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}; the pane shows:\n${text}`);
  }
}

/** The count on the pane's row for a connection state, e.g. `ws open`. */
function row(text: string, label: string): number | null {
  const m = new RegExp(`^  ${label}\\s+([\\d,]+)`, 'm').exec(text);
  return m === null ? null : Number(m[1]!.replace(/,/g, ''));
}

async function echoOnce(ws: WebSocket, text: string): Promise<void> {
  const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  ws.send(text);
  await echoed;
}

describe('sockeye top', () => {
  test('in a terminal: counts follow the clients, ends appear, resize redraws, q quits to the prompt', async (t) => {
    const server = await metricsServer(t);
    const url = `http://127.0.0.1:${server.port}/metrics`;
    const pane = await Pane.open(t, 100, 32);
    await pane.type(`node ${BIN} top ${url} --interval 0.2`);
    let text = await pane.waitFor((s) => row(s, 'ws open') === 0, 'the first screen');
    assert.match(text, /^sockeye top {2}http:\/\/127\.0\.0\.1:\d+\/metrics/m);
    assert.match(text, /LISTEN QUEUE {2}\d+ \/ \d+/);
    assert.match(text, /q quit · every 200ms/);

    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await openWs(t, `ws://127.0.0.1:${server.port}/c${i}`));
    for (const ws of clients) await echoOnce(ws, 'hello');
    text = await pane.waitFor((s) => row(s, 'ws open') === 3, 'ws open 3');
    assert.match(text, /messages\/s/);

    clients[0]!.close(1000, 'bye');
    clients[1]!.close(4001, 'later');
    await Promise.all([closeOf(clients[0]!), closeOf(clients[1]!)]);
    clients[2]!.terminate(); // no close frame: the server sees the connection lost
    text = await pane.waitFor(
      (s) => row(s, 'ws open') === 0 && /ws connection-lost\s+1\b/.test(s),
      'the ends of the three clients',
    );
    assert.match(text, /ws peer-close\s+2\b/);
    assert.match(text, /close codes: .*peer 1000×1/);
    assert.match(text, /peer 4001×1/);

    // SIGWINCH: tmux resizes the pane; the title is cut to the new width with an ellipsis.
    await pane.tmux('resize-window', '-t', '0', '-x', '50', '-y', '24');
    text = await pane.waitFor((s) => /^sockeye top .*…/m.test(s), 'the screen drawn again at 50 columns');
    for (const line of text.split('\n')) assert.ok(Array.from(line).length <= 50, `fits: ${line}`);
    assert.match(text, /q quit/);

    await pane.type('q', false);
    text = await pane.waitFor((s) => !s.includes('CONNECTIONS') && s.trimEnd().endsWith(PROMPT.trim()), 'the prompt');
    await pane.type('echo "exit=$?"');
    await pane.waitFor((s) => /^exit=0$/m.test(s), 'exit=0');
  });

  test('not a terminal: one key=value line per update, which parse; --count stops it', async (t) => {
    const server = await metricsServer(t);
    const ws = await openWs(t, `ws://127.0.0.1:${server.port}/`);
    await echoOnce(ws, 'x');
    const r = await run(
      process.execPath,
      [BIN, 'top', `http://127.0.0.1:${server.port}/metrics`, '-d', '0.1', '-n', '3'],
      {
        timeoutMs: 10_000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    const parsed = lines.map((line) =>
      Object.fromEntries(line.split(' ').map((kv) => kv.split('=', 2) as [string, string])),
    );
    for (const p of parsed) {
      assert.ok(!Number.isNaN(Date.parse(p.time!)), `time: ${p.time}`);
      assert.equal(p.ws_open, '1');
      assert.equal(Number(p.connections), Number(p.http_idle) + Number(p.http_active) + Number(p.ws_open));
      assert.match(p.listen_limit!, /^\d+$/);
    }
    assert.equal(parsed[0]!.messages_in_per_s, '-', 'no rate before a second sample');
    assert.match(parsed[1]!.requests_per_s!, /^\d+(\.\d)?$/, 'the rate of the /metrics requests themselves');
    assert.ok(Number(parsed[2]!.bytes_out_per_s) > 0, 'the metrics answers are bytes out');
  });

  test('not a terminal: a reader that goes away (| head -1) ends it with 0, nothing on stderr', async (t) => {
    const server = await metricsServer(t);
    const child = spawn(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/metrics`, '-d', '0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.stdout.destroy(); // the read end closes: the next write gets EPIPE
    assert.equal(await within(exited, 10_000, 'sockeye top to exit'), 0);
    assert.equal(stderr, '');
  });

  test('exit codes: 3 unreachable, 4 not a metrics endpoint, 2 not an http URL', async (t) => {
    // A port nobody listens on: bound, then closed.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const freePort = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const unreachable = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${freePort}/metrics`]);
    assert.equal(unreachable.code, 3);
    assert.equal(unreachable.stderr, `sockeye top: cannot reach http://127.0.0.1:${freePort}/metrics: ECONNREFUSED\n`);

    const server = await metricsServer(t);
    const other = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/`]);
    assert.equal(other.code, 4);
    assert.match(other.stderr, /^sockeye top: http:\/\/127\.0\.0\.1:\d+\/ is not a sockeye metrics endpoint/);
    assert.equal(other.stdout, '');

    const bad = await run(process.execPath, [BIN, 'top', `ws://127.0.0.1:${server.port}/`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not an http:\/\/ or https:\/\/ URL/);
  });
});

describe('sockeye top reads both formats alike', () => {
  test('the Prometheus text and the JSON stats() of one moment give the same figures', async (t) => {
    const { formatMetrics } = await import('../../src/node/metrics.js');
    const { sampleFromMetrics, sampleFromStats } = await import('../../src/cli/top.js');
    const server = await metricsServer(t);
    const a = await openWs(t, `ws://127.0.0.1:${server.port}/`);
    const b = await openWs(t, `ws://127.0.0.1:${server.port}/`);
    await echoOnce(a, 'one');
    a.close(4002);
    await closeOf(a);
    await echoOnce(b, 'two');
    const stats = server.stats();
    const fromText = sampleFromMetrics(formatMetrics(stats), 1);
    const fromJson = sampleFromStats(JSON.parse(JSON.stringify(stats)), 1);
    assert.ok(fromText !== null && fromJson !== null);
    assert.deepEqual(fromText, fromJson);
    assert.equal(fromJson.connections.wsOpen, 1);
    assert.equal(fromJson.messagesIn, 2);
    assert.equal(fromJson.ends['ws peer-close'], 1);
    assert.equal(fromJson.closeCodes['peer 4002'], 1);
  });

  test('a JSON stats() endpoint (as sockeye pubsub serves /stats) is watched too', async (t) => {
    let stats: () => unknown = () => null;
    const server = await startServer(t, {
      request: (req, res) => {
        if (req.path === '/stats') res.json(stats());
        else res.json({ hello: 'not stats' });
      },
      websocket: {},
    });
    stats = () => server.stats();
    await openWs(t, `ws://127.0.0.1:${server.port}/`);
    const r = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/stats`, '-n', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^time=\S+ connections=2 http_idle=0 http_active=1 ws_handshaking=0 ws_open=1 /);
    const other = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/other`]);
    assert.equal(other.code, 4, 'JSON that is not stats()');
  });
});
