/**
 * The inspector page (`serve({ inspector })`) in headless Chromium, while the test drives real traffic: Node's
 * fetch for HTTP, the `ws` package for WebSocket clients. It asserts what the page shows (a connection appears,
 * its state changes, a frame appears, with a hostile text shown as text, a close reason appears), that a wrong
 * token gets 401 and another origin's feed request 403, and that a feed client that stops reading is skipped and
 * does not slow the server. Screenshots go to test-artifacts/ (git-ignored).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { Server } from '../../src/index.js';
import { hasChromium, launchBrowser } from '../helpers/browser.js';
import { startServer } from '../helpers/net.js';

const TOKEN = 'test-token-0123456789abcdef';
const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test-artifacts');
const XSS = '<img src=x onerror="window.__pwned=1">';

const SLOW_READER = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'GET /_sockeye/feed?token=' + sys.argv[2].encode() + b' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')
print('sent', flush=True)
sys.stdin.read()
`;

async function inspected(t: Parameters<typeof startServer>[0], payloads: boolean): Promise<Server> {
  return startServer(t, {
    inspector: { token: TOKEN, payloads },
    websocket: {
      message: (ws, data) => {
        ws.send(typeof data === 'string' ? data : data);
      },
    },
  });
}

function wsUrl(server: Server, p: string): string {
  return `${server.url.replace('http', 'ws')}${p}`;
}

test('without the right token: 401, and another origin reading the feed: 403', async (t) => {
  const server = await inspected(t, false);
  const base = `${server.url}/_sockeye`;
  assert.equal((await fetch(base)).status, 401);
  const wrong = await fetch(`${base}?token=${TOKEN}x`);
  assert.equal(wrong.status, 401);
  assert.match(await wrong.text(), /valid token is required/);
  assert.equal((await fetch(`${base}/feed`)).status, 401);
  assert.equal((await fetch(base, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  const evil = await fetch(`${base}/feed?token=${TOKEN}`, { headers: { origin: 'http://evil.example' } });
  assert.equal(evil.status, 403);
  const site = await fetch(`${base}/connection?id=1&token=${TOKEN}`, { headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(site.status, 403);
  // Everything else on the server is the application's.
  assert.equal((await fetch(`${server.url}/_sockeyeX`)).status, 404);
});

test('the page shows a connection appear, its frames (hostile text as text), its state and its close', {
  skip: hasChromium ? false : 'chromium missing',
}, async (t) => {
  const server = await inspected(t, true);
  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const outside: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url)) outside.push(r.url());
  });
  await page.goto(`${server.url}/_sockeye?token=${TOKEN}`);
  await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 10_000 });

  // Some plain HTTP traffic, then a WebSocket client.
  assert.equal((await fetch(`${server.url}/hello`)).status, 404);
  const client = new WebSocket(wsUrl(server, '/chat/room-1'));
  t.after(() => client.terminate());
  await new Promise((r) => client.once('open', r));
  const row = page.locator('#conns tbody tr', { hasText: '/chat/room-1' });
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.locator('.c-state').textContent(), 'WS open');
  assert.equal(await row.locator('.c-kind').textContent(), 'WS');

  client.send(XSS);
  await new Promise((r) => client.once('message', r));
  await row.click();
  const frameText = page.locator('#frames .f-text', { hasText: 'onerror' }).first();
  await frameText.waitFor({ timeout: 10_000 });
  assert.equal(await frameText.textContent(), XSS);
  assert.equal(await page.locator('#frames img').count(), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.equal(await page.locator('#machine li.current').textContent(), 'open');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-wide.png'), fullPage: true });

  client.close(4001, 'see you later');
  const end = page.locator('#ends tbody tr', { hasText: 'see you later' });
  await end.waitFor({ timeout: 10_000 });
  assert.equal(await end.locator('.end-cause').textContent(), 'peer-close');
  await page.locator('#machine li.current', { hasText: 'closed' }).waitFor({ timeout: 10_000 });
  await page.locator('#end-chart', { hasText: 'ws peer-close' }).waitFor({ timeout: 10_000 });

  await page.setViewportSize({ width: 420, height: 900 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-narrow.png'), fullPage: true });
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(outside, []);
});

test('payloads stay hidden unless payloads: true', { skip: hasChromium ? false : 'chromium missing' }, async (t) => {
  const server = await inspected(t, false);
  const client = new WebSocket(wsUrl(server, '/secret'));
  t.after(() => client.terminate());
  await new Promise((r) => client.once('open', r));
  // Frames are recorded while a tab reads the feed.
  const feed = await fetch(`${server.url}/_sockeye/feed?token=${TOKEN}`);
  const reader = (feed.body as ReadableStream<Uint8Array>).getReader();
  t.after(() => reader.cancel());
  const first = new TextDecoder().decode((await reader.read()).value);
  client.send('my password is hunter2');
  await new Promise((r) => client.once('message', r));
  const snap = JSON.parse(first.slice('data: '.length)) as { list: { id: number; path: string }[] };
  const id = snap.list.find((c) => c.path === '/secret')?.id;
  assert.ok(id !== undefined);
  const detail = await (await fetch(`${server.url}/_sockeye/connection?id=${id}&token=${TOKEN}`)).text();
  assert.match(detail, /"opcode":1/);
  assert.doesNotMatch(detail, /hunter2/);
});

test('a feed client that stops reading is skipped (sampled) and never slows the server', async (t) => {
  const server = await inspected(t, true);
  // 200 connections with 7 KB paths make each snapshot ~1.4 MB, so that the stopped reader's socket (and the
  // kernel's buffers under it, up to tcp_wmem's 4 MiB) fill within a few snapshots.
  const clients: WebSocket[] = [];
  t.after(() => {
    for (const c of clients) c.terminate();
  });
  for (let i = 0; i < 200; i++) {
    const c = new WebSocket(wsUrl(server, `/bulk/${'x'.repeat(7000)}/${i}`));
    clients.push(c);
    await new Promise((r) => c.once('open', r));
  }
  // The stopped reader: Python, so that its receive buffer can be made small before it connects (Node cannot set
  // SO_RCVBUF); it asks for the feed, says so, and reads nothing until it is killed.
  const slow = spawn('python3', ['-c', SLOW_READER, String(server.port), TOKEN], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => slow.kill());
  await new Promise((r) => slow.stdout.once('data', r));
  // A healthy feed reads on and sees the stuck one skipped, snapshot after snapshot (bounded: 15 snapshots).
  const feed = await fetch(`${server.url}/_sockeye/feed?token=${TOKEN}`);
  const reader = (feed.body as ReadableStream<Uint8Array>).getReader();
  t.after(() => reader.cancel());
  const decoder = new TextDecoder();
  let text = '';
  let stuck: { buffered: number; skipped: number; behindMs: number } | undefined;
  const echo = clients[0] as WebSocket;
  for (let n = 0; n < 15 && (stuck === undefined || stuck.skipped < 2); ) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end = text.indexOf('\n\n');
    while (end >= 0) {
      const snap = JSON.parse(text.slice('data: '.length, end)) as {
        feeds: { buffered: number; skipped: number; behindMs: number }[];
      };
      text = text.slice(end + 2);
      n++;
      stuck = snap.feeds.find((f) => f.behindMs > 0);
      // The server answers at once meanwhile.
      echo.send(`ping ${n}`);
      assert.equal(await new Promise<string>((r) => echo.once('message', (d) => r(String(d)))), `ping ${n}`);
      end = text.indexOf('\n\n');
    }
  }
  assert.ok(stuck !== undefined, 'the stopped feed was never behind');
  assert.ok(stuck.skipped >= 2, `skipped ${stuck.skipped}`);
  // What it holds is the one snapshot it was sent, not one per tick.
  const oneSnapshot = 200 * 7000;
  assert.ok(stuck.buffered < 2 * oneSnapshot, `buffered ${stuck.buffered}`);
});

test('a connection handed to the raw upgrade hook leaves the table when its socket closes', async (t) => {
  let hooked: Socket | null = null;
  const server = await startServer(t, {
    inspector: { token: TOKEN },
    upgrade: (_req, socket) => {
      hooked = socket;
    },
  });
  const feed = await fetch(`${server.url}/_sockeye/feed?token=${TOKEN}`);
  const reader = (feed.body as ReadableStream<Uint8Array>).getReader();
  t.after(() => reader.cancel());
  const decoder = new TextDecoder();
  let text = '';
  /** The next snapshot's request paths (one a second). */
  const nextPaths = async (): Promise<string[]> => {
    for (;;) {
      const end = text.indexOf('\n\n');
      if (end >= 0) {
        const snap = JSON.parse(text.slice('data: '.length, end)) as { list: { path: string }[] };
        text = text.slice(end + 2);
        return snap.list.map((c) => c.path);
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('feed ended');
      text += decoder.decode(value, { stream: true });
    }
  };
  const client = connect(server.port, '127.0.0.1');
  t.after(() => client.destroy());
  client.on('error', () => {});
  client.write('GET /raw HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x-raw\r\n\r\n');
  let listed = false;
  for (let i = 0; i < 8 && !listed; i++) listed = (await nextPaths()).includes('/raw');
  assert.ok(listed, 'the raw-upgraded connection never appeared');
  assert.ok(hooked !== null);
  (hooked as Socket).destroy();
  let gone = false;
  for (let i = 0; i < 8 && !gone; i++) gone = !(await nextPaths()).includes('/raw');
  assert.ok(gone, 'the raw-upgraded connection stayed listed');
});
