/**
 * `--inspector` on the CLI's servers, run as users run them (bin/sockeye.js in a child process): `sockeye echo
 * --inspector --inspector-payloads` and `sockeye pubsub --inspector` print `inspector: URL?token=…` on stdout; the URL
 * opens the page; the feed lists a WebSocket with its request path, and with payload capture a text frame as text;
 * `sockeye demo` always prints it.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { test } from 'node:test';
import WebSocket from 'ws';
import { BIN } from '../helpers/echo-process.js';

/** Starts `sockeye COMMAND --port 0 ...extra`; resolves with the inspector URL it prints (bounded: 10 s). */
function startWithInspector(t: import('node:test').TestContext, args: string[]): Promise<{ url: URL; out: string }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sockeye ${args[0]} printed no inspector URL`)), 10_000);
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /^inspector: (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: new URL(m[1] as string), out });
      }
    });
  });
}

/** Opens the feed (as a tab does; it stays open until the test ends) and reads its first snapshot. */
async function firstSnapshot(
  t: import('node:test').TestContext,
  feedUrl: string,
): Promise<{ list: { id: number; path: string; kind: string }[] }> {
  const res = await fetch(feedUrl);
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  t.after(() => reader.cancel());
  const decoder = new TextDecoder();
  let text = '';
  for (let i = 0; i < 100 && !text.includes('\n\n'); i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return JSON.parse(text.slice('data: '.length, text.indexOf('\n\n')));
}

test('sockeye echo --inspector --inspector-payloads: the URL, the path, text frames as text', async (t) => {
  const { url } = await startWithInspector(t, ['echo', '--inspector', '--inspector-payloads']);
  assert.equal(url.pathname, '/_sockeye');
  const token = url.searchParams.get('token') ?? '';
  assert.match(token, /^[A-Za-z0-9_-]{32}$/);
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /sockeye inspector/);
  assert.equal((await fetch(`${url.origin}/_sockeye`)).status, 401);

  const client = new WebSocket(`ws://${url.host}/room/7`);
  t.after(() => client.terminate());
  await new Promise((r) => client.once('open', r));
  const snap = await firstSnapshot(t, `${url.origin}/_sockeye/feed?token=${token}`);
  client.send('hello inspector');
  await new Promise((r) => client.once('message', r));
  const row = snap.list.find((c) => c.path === '/room/7');
  assert.ok(row !== undefined);
  assert.equal(row.kind, 'websocket');
  const detail = (await (await fetch(`${url.origin}/_sockeye/connection?id=${row.id}&token=${token}`)).json()) as {
    frames: { dir: string; text: string | null }[];
  };
  assert.deepEqual(
    detail.frames.map((f) => [f.dir, f.text]),
    [
      ['in', 'hello inspector'],
      ['out', 'hello inspector'],
    ],
  );
});

test('sockeye echo without --inspector serves no inspector', async (t) => {
  const child = spawn(process.execPath, [BIN, 'echo', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const out = await new Promise<string>((resolve) => {
    let o = '';
    child.stdout.on('data', (d) => {
      o += d;
      if (o.includes('\n')) resolve(o);
    });
  });
  const port = /listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1];
  assert.ok(port !== undefined);
  assert.doesNotMatch(out, /inspector/);
  // The echo answers the path like any other: a JSON description, not the page.
  const r = await fetch(`http://127.0.0.1:${port}/_sockeye`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
});

test('sockeye pubsub --inspector and sockeye demo print the inspector URL', async (t) => {
  for (const args of [['pubsub', '--inspector'], ['demo']]) {
    const { url } = await startWithInspector(t, args);
    const page = await fetch(url);
    assert.equal(page.status, 200, args.join(' '));
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  }
});
