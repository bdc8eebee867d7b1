/**
 * `sockeye top` as people run it: typed into a shell in a real terminal (a tmux pane of fixed size on a private
 * tmux server, test/helpers/tmux.ts), watching a real server's /metrics while the test opens, uses and closes real
 * WebSocket clients (the `ws` package): the pane shows the counts change and the close causes appear, a resized
 * window is drawn again at its new width, q quits and the shell prompt comes back with exit code 0. Without a
 * terminal it prints one key=value line per update, which parse, and ends quietly when its reader goes away; an
 * unreachable URL exits 3, a non-metrics URL 4, a bad URL or interval 2. Both formats (Prometheus text, JSON
 * stats()) read the same.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import type WebSocket from 'ws';
import type { Server } from '../../src/index.js';
import { BIN } from '../helpers/echo-process.js';
import { run, startServer } from '../helpers/net.js';
import { closeOf, openWs, within } from '../helpers/slow-peers.js';
import { hasTmux, startTmux } from '../helpers/tmux.js';

const PROMPT = 'top-test$ ';
const PROMPT_SHOWN = /top-test\$/;
/** The prompt on the last line: the shell is back. */
const PROMPT_LAST = /top-test\$\s*$/;
const skip = hasTmux ? false : 'tmux missing (scripts/ensure-system-deps.sh installs it)';

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

/** The pane's row for a connection state (e.g. `ws open`) showing count `n`. */
function rowIs(label: string, n: number): RegExp {
  return new RegExp(`^ {2}${label} +${n}\\b`, 'm');
}

async function echoOnce(ws: WebSocket, text: string): Promise<void> {
  const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  ws.send(text);
  await echoed;
}

describe('sockeye top', () => {
  test('in a terminal: counts follow the clients, ends appear, resize redraws, q quits to the prompt', {
    skip,
  }, async (t) => {
    const server = await metricsServer(t);
    const url = `http://127.0.0.1:${server.port}/metrics`;
    // A shell without rc files (the prompt is known, nothing else runs), in which top is typed as a person does.
    const term = await startTmux(t, ['env', `PS1=${PROMPT}`, 'bash', '--norc', '--noprofile'], {
      width: 100,
      height: 32,
    });
    await term.waitFor(PROMPT_SHOWN);
    await term.line(`${process.execPath} ${BIN} top ${url} --interval 0.2`);
    let text = await term.waitFor(rowIs('ws open', 0));
    assert.match(text, /^sockeye top {2}http:\/\/127\.0\.0\.1:\d+\/metrics/m);
    assert.match(text, /LISTEN QUEUE {2}\d+ \/ \d+/);
    assert.match(text, /q quit · every 200ms/);

    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await openWs(t, `ws://127.0.0.1:${server.port}/c${i}`));
    for (const ws of clients) await echoOnce(ws, 'hello');
    text = await term.waitFor(rowIs('ws open', 3));
    assert.match(text, /messages\/s/);

    clients[0]!.close(1000, 'bye');
    clients[1]!.close(4001, 'later');
    await Promise.all([closeOf(clients[0]!), closeOf(clients[1]!)]);
    clients[2]!.terminate(); // no close frame: the server sees the connection lost
    text = await term.waitFor(/^ {2}ws connection-lost +1\b/m);
    text = await term.waitFor(rowIs('ws open', 0));
    assert.match(text, /^ {2}ws peer-close +2\b/m);
    assert.match(text, /close codes: .*peer 1000×1/);
    assert.match(text, /peer 4001×1/);

    // SIGWINCH: the window shrinks; the title is cut to the new width with an ellipsis, every line fits.
    await term.resize(50, 24);
    text = await term.waitFor(/^sockeye top .*…/m);
    const view = text.slice(text.lastIndexOf('sockeye top '));
    for (const line of view.split('\n')) assert.ok(Array.from(line).length <= 50, `fits: ${line}`);
    assert.match(view, /q quit/);

    await term.keys('q');
    text = await term.waitFor(PROMPT_LAST);
    assert.doesNotMatch(text, /CONNECTIONS/, 'the alternate screen is gone');
    await term.line('echo "exit=$?"');
    await term.waitFor(/^exit=0$/m);
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

  test('exit codes: 3 unreachable, 4 not a metrics endpoint, 2 not an http URL or a bad interval; one sentence each', async (t) => {
    // A port nobody listens on: bound, then closed.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const freePort = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const unreachable = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${freePort}/metrics`]);
    assert.equal(unreachable.code, 3);
    assert.equal(unreachable.stderr, `cannot reach http://127.0.0.1:${freePort}/metrics: ECONNREFUSED\n`);

    const server = await metricsServer(t);
    const other = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/`]);
    assert.equal(other.code, 4);
    assert.match(other.stderr, /^http:\/\/127\.0\.0\.1:\d+\/ is not a sockeye metrics endpoint/);
    assert.equal(other.stdout, '');

    const bad = await run(process.execPath, [BIN, 'top', `ws://127.0.0.1:${server.port}/`]);
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      `the URL must start with http:// or https:// (a metrics endpoint), got 'ws://127.0.0.1:${server.port}/'\n`,
    );
    const interval = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/metrics`, '-d', '0']);
    assert.equal(interval.code, 2);
    assert.equal(interval.stderr, "--interval must be a number of seconds from 0.1 to 3600, got '0'\n");
  });
});

describe('sockeye top on the inspector', () => {
  test("the inspector's page URL (as --inspector prints it) is followed to its feed; a wrong token exits 4", async (t) => {
    const token = 'top-test-token-0123456789';
    const server = await startServer(t, {
      inspector: { token },
      request: (_req, res) => res.send('app\n'),
      websocket: {
        message: (ws, data) => {
          ws.send(data);
        },
      },
    });
    const ws = await openWs(t, `ws://127.0.0.1:${server.port}/room`);
    await echoOnce(ws, 'x');
    const page = `http://127.0.0.1:${server.port}/_sockeye?token=${token}`;
    const r = await run(process.execPath, [BIN, 'top', page, '-n', '2'], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const p = Object.fromEntries(line.split(' ').map((kv) => kv.split('=', 2) as [string, string]));
      assert.equal(p.ws_open, '1');
      assert.equal(p.messages_in_per_s, '-', 'the feed carries no message counters');
      assert.match(p.listen_limit!, /^(\d+|-)$/);
    }
    const wrong = await run(process.execPath, [BIN, 'top', `http://127.0.0.1:${server.port}/_sockeye?token=nope`]);
    assert.equal(wrong.code, 4);
    assert.equal(
      wrong.stderr,
      `http://127.0.0.1:${server.port}/_sockeye?token=nope answered 401: a wrong or missing token (?token=...)\n`,
    );
  });
});

describe('sockeye top reads both formats alike', () => {
  test('the Prometheus text and the JSON stats() of one moment give the same figures', async (t) => {
    const { formatMetrics } = await import('../../src/node/metrics.js');
    const { sampleFromMetrics, sampleFromStats } = await import('../../src/cli/top.js');
    const server = await startServer(t, {
      request: (req, res) => {
        if (req.path === '/events') res.sse().send('hello');
        else res.send('not metrics\n');
      },
      websocket: {
        message: (ws, data) => {
          ws.send(data);
        },
      },
    });
    // One event stream, open while the figures are taken (it counts as an active HTTP connection too).
    const events = new AbortController();
    t.after(() => events.abort());
    const stream = await fetch(`http://127.0.0.1:${server.port}/events`, { signal: events.signal });
    const reader = stream.body!.getReader();
    await reader.read();
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
    assert.equal(fromJson.sseOpen, 1);
    assert.equal(fromJson.connections.httpActive, 1, 'the event stream');
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
