/**
 * Headless Chromium (Debian /usr/bin/chromium, driven by playwright-core) against our server: a page served by
 * our own HTTP server opens a browser `WebSocket` to the same server and reports what it saw (page.evaluate):
 * text, binary (arraybuffer), empty messages, a 16 MiB message, and close with code and reason in both
 * directions (wasClean). Chromium offers permessage-deflate; we do not negotiate it, so extensions is ''.
 * Skipped, with a message, only when /usr/bin/chromium is absent.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { SockeyeRequest, SockeyeResponse } from '../../src/index.js';
import { type InteropServer, startInterop } from '../fixtures/ws/interop-server.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed: Chromium interop not tested`;
const WAIT = 15_000;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>sockeye ws</title></head>
<body><p id="status">ready</p></body></html>`;

function servePage(req: SockeyeRequest, res: SockeyeResponse): void {
  if (req.path === '/') res.send(PAGE, 200, { 'Content-Type': 'text/html; charset=utf-8' });
  else res.send('Not Found', 404);
}

let browser: Browser | null = null;

before(async () => {
  if (skip !== false) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: WAIT,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function openPage(t: { after(fn: () => Promise<void>): void }): Promise<{ page: Page; server: InteropServer }> {
  const server = await startInterop(t as Parameters<typeof startInterop>[0], servePage);
  assert.ok(browser, 'browser launched');
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://127.0.0.1:${server.port}/`);
  assert.equal(await page.textContent('#status'), 'ready');
  return { page, server };
}

test('chromium: text, binary (arraybuffer) and empty messages; no extension, no protocol', { skip }, async (t) => {
  const { page } = await openPage(t);
  const out = await page.evaluate(async (waitMs) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    ws.binaryType = 'arraybuffer';
    const queue: (string | ArrayBuffer)[] = [];
    let wake: (() => void) | null = null;
    ws.onmessage = (e) => {
      queue.push(e.data as string | ArrayBuffer);
      wake?.();
    };
    const next = async (): Promise<string | ArrayBuffer> => {
      const deadline = Date.now() + waitMs;
      while (queue.length === 0) {
        if (Date.now() > deadline) throw new Error('no message');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      return queue.shift() as string | ArrayBuffer;
    };
    const describe = (m: string | ArrayBuffer) =>
      typeof m === 'string' ? ['text', m] : ['binary', Array.from(new Uint8Array(m)).join(',')];
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('websocket error'));
      setTimeout(() => reject(new Error('open timeout')), waitMs);
    });
    ws.send('héllo 😀');
    ws.send(new Uint8Array([0, 1, 127, 128, 255]));
    ws.send('');
    ws.send(new ArrayBuffer(0));
    ws.send(new Blob([new Uint8Array([7, 8])]));
    const got = [];
    for (let i = 0; i < 5; i++) got.push(describe(await next()));
    const result = { got, extensions: ws.extensions, protocol: ws.protocol };
    ws.close(1000);
    return result;
  }, WAIT);
  assert.deepEqual(out, {
    got: [
      ['text', 'héllo 😀'],
      ['binary', '0,1,127,128,255'],
      ['text', ''],
      ['binary', ''],
      ['binary', '7,8'],
    ],
    extensions: '',
    protocol: '',
  });
});

test('chromium: a 16 MiB binary message and a 4.8 MB text message are echoed intact', { skip }, async (t) => {
  const { page } = await openPage(t);
  const out = await page.evaluate(async (waitMs) => {
    const ws = new WebSocket(`ws://${location.host}/big`);
    ws.binaryType = 'arraybuffer';
    const messages: (string | ArrayBuffer)[] = [];
    const two = new Promise<void>((resolve, reject) => {
      ws.onmessage = (e) => {
        messages.push(e.data as string | ArrayBuffer);
        if (messages.length === 2) resolve();
      };
      ws.onclose = (e) => reject(new Error(`closed ${e.code}`));
      setTimeout(() => reject(new Error(`only ${messages.length} message(s)`)), waitMs);
    });
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error('open timeout')), waitMs);
    });
    const big = new Uint8Array(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >>> 12)) & 0xff;
    const text = 'κόσμε 😀 '.repeat(300_000);
    ws.send(big);
    ws.send(text);
    await two;
    const back = new Uint8Array(messages[0] as ArrayBuffer);
    let same = back.length === big.length;
    for (let i = 0; same && i < big.length; i++) if (back[i] !== big[i]) same = false;
    ws.close(1000);
    return {
      length: back.length,
      same,
      textSame: messages[1] === text,
      textBytes: new TextEncoder().encode(text).length,
    };
  }, WAIT);
  assert.deepEqual(out, { length: 16 * 1024 * 1024, same: true, textSame: true, textBytes: 4_800_000 });
});

test('chromium: the page closes with code and reason; the server handler gets them, clean', { skip }, async (t) => {
  const { page, server } = await openPage(t);
  const out = await page.evaluate(async (waitMs) => {
    const ws = new WebSocket(`ws://${location.host}/close`);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error('open timeout')), waitMs);
    });
    const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve, reject) => {
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      setTimeout(() => reject(new Error('close timeout')), waitMs);
    });
    ws.close(4010, 'page says bye');
    return closed;
  }, WAIT);
  // The server echoes the code (RFC 6455 §5.5.1).
  assert.deepEqual(out, { code: 4010, reason: '', wasClean: true });
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 4010, reason: 'page says bye', wasClean: true });
});

test('chromium: the server closes with code and reason; the page sees them, clean', { skip }, async (t) => {
  const { page, server } = await openPage(t);
  const out = await page.evaluate(async (waitMs) => {
    const ws = new WebSocket(`ws://${location.host}/close`);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error('open timeout')), waitMs);
    });
    const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve, reject) => {
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      setTimeout(() => reject(new Error('close timeout')), waitMs);
    });
    ws.send('cmd:close:4011:server says bye ✓');
    return closed;
  }, WAIT);
  assert.deepEqual(out, { code: 4011, reason: 'server says bye ✓', wasClean: true });
  const [s] = await server.waitCloses(1);
  assert.equal(s?.code, 4011);
  assert.equal(s?.wasClean, true);
});

test('chromium: server.close() gives the page 1001', { skip }, async (t) => {
  const { page, server } = await openPage(t);
  const out = await page.evaluate(async (waitMs) => {
    const ws = new WebSocket(`ws://${location.host}/shutdown`);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error('open timeout')), waitMs);
    });
    const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve, reject) => {
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      setTimeout(() => reject(new Error('close timeout')), waitMs);
    });
    ws.send('cmd:shutdown');
    return closed;
  }, WAIT);
  assert.deepEqual(out, { code: 1001, reason: 'Server shutting down', wasClean: true });
  await server.shutdown();
});
