/**
 * The `sockeye` command as users run it (bin/sockeye.js in a child process): `echo` answers HTTP with the
 * JSON description and echoes WebSocket messages; `connect` sends typed lines, pings, closes, and its exit
 * code tells how the connection ended.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BIN, startEchoProcess } from '../helpers/echo-process.js';
import { run } from '../helpers/net.js';

/** Starts `sockeye echo` on a free port; resolves with its port once it listens. */
async function startEcho(t: import('node:test').TestContext): Promise<number> {
  return (await startEchoProcess(t)).port;
}

describe('sockeye echo', () => {
  test('HTTP: method, target, version, field lines as received, base64 body, trailers', async (t) => {
    const port = await startEcho(t);
    const r = await run('curl', [
      '-sS',
      '-H',
      'X-Case: MiXeD',
      '-H',
      'x-dup: 1',
      '-H',
      'X-Dup: 2',
      '-H',
      'Transfer-Encoding: chunked',
      '--data-binary',
      'abc',
      `http://127.0.0.1:${port}/p?q=1`,
    ]);
    const json = JSON.parse(r.stdout);
    assert.equal(json.method, 'POST');
    assert.equal(json.target, '/p?q=1');
    assert.equal(json.httpVersion, '1.1');
    assert.deepEqual(
      json.headers.filter(([n]: [string]) => /^x-/i.test(n)),
      [
        ['X-Case', 'MiXeD'],
        ['x-dup', '1'],
        ['X-Dup', '2'],
      ],
    );
    assert.equal(Buffer.from(json.body, 'base64').toString(), 'abc');
    assert.deepEqual(json.trailers, []);
  });
});

describe('sockeye echo shutdown', () => {
  test('SIGTERM: open WebSockets get 1001 (Going Away), then the process exits 0', async (t) => {
    const { child, port } = await startEchoProcess(t);
    const { WebSocket } = await import('../../src/index.js');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const closed = new Promise<number>((resolve) => {
      ws.onclose = (e) => resolve(e.code);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await closed, 1001);
    assert.equal(await exited, 0);
  });
});

describe('sockeye connect', () => {
  test('sends lines and pings, prints echoes and pongs; end of input closes with 1000: exit code 0', async (t) => {
    const port = await startEcho(t);
    const r = await run(process.execPath, [BIN, 'connect', `ws://127.0.0.1:${port}/any`], {
      input: 'hello\n/ping abc\n',
    });
    assert.match(r.stdout, /^\* .* connected to ws:\/\/127\.0\.0\.1:\d+\/any$/m);
    assert.match(r.stdout, /^> \S+ hello$/m);
    assert.match(r.stdout, /^< \S+ hello$/m);
    // A pong whose payload is text shows as text.
    assert.match(r.stdout, /^< \S+ pong abc$/m);
    assert.match(r.stdout, /closed: code 1000/);
    assert.equal(r.code, 0);
  });

  test('/close with a code and reason: exit code 1 for a code other than 1000/1001/1005', async (t) => {
    const port = await startEcho(t);
    const r = await run(process.execPath, [BIN, 'connect', `ws://127.0.0.1:${port}/`], {
      input: '/close 4001 bye now\n',
    });
    assert.match(r.stdout, /^> \S+ close 4001 "bye now"$/m);
    // RFC 6455 §5.5.1: the server echoes the status code it received.
    assert.match(r.stdout, /^\* \S+ closed: code 4001/m);
    assert.equal(r.code, 1);
  });

  test('nothing listening: exit code 3', async () => {
    const r = await run(process.execPath, [BIN, 'connect', 'ws://127.0.0.1:1/'], { input: '' });
    assert.equal(r.stderr, 'could not connect: nothing is listening on 127.0.0.1:1 (connection refused)\n');
    assert.equal(r.code, 3);
  });

  test('a bad URL is a usage error: exit code 2', async () => {
    const r = await run(process.execPath, [BIN, 'connect', 'ftp://nope/'], { input: '' });
    assert.equal(r.stderr, "the URL must start with ws://, wss://, http:// or https://, got 'ftp://nope/'\n");
    assert.equal(r.code, 2);
  });
});
