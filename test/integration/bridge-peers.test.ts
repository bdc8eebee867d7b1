/**
 * Real clients through the node:http bridge: Python `websockets` (Debian python3-websockets, an inline asyncio
 * script: text, binary, a fragmented message, ping, close with code and reason, then `wss.close()` → 1001) and
 * headless Chromium (a page served by node:http opens a browser WebSocket to the same server: permessage-deflate
 * negotiated, text and binary echoed, a close started by the server and one started by the page, both clean).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { startHttpBridge } from '../helpers/bridge.js';
import { hasChromium, launchBrowser } from '../helpers/browser.js';
import { run } from '../helpers/net.js';
import { waitFor, within } from '../helpers/slow-peers.js';

const PYTHON = '/usr/bin/python3';
const WAIT = 15_000;

interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** Echo handlers with two commands: `cmd:close` (the server closes 4002) and `cmd:shutdown` (wss.close()). */
async function startEchoBridge(t: Parameters<typeof startHttpBridge>[0], page = '') {
  const closes: Closed[] = [];
  const pings: string[] = [];
  let shutdown: Promise<unknown> | null = null;
  const bridge = await startHttpBridge(
    t,
    {
      perMessageDeflate: true,
      message(ws, message, isBinary) {
        if (message === 'cmd:close') ws.close(4002, 'server says bye');
        else if (message === 'cmd:shutdown') shutdown = bridge.wss.close({ deadline: 2000 });
        else ws.send(message, isBinary);
      },
      ping: (_ws, data) => void pings.push(data.toString()),
      close: (_ws, code, reason, wasClean) => void closes.push({ code, reason, wasClean }),
    },
    (_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page);
    },
  );
  return { ...bridge, closes, pings, shutdown: () => shutdown };
}

const PY_SCRIPT = String.raw`
import asyncio, json, sys
import websockets

async def main(uri):
    out = {}
    async with websockets.connect(uri, open_timeout=5, close_timeout=5) as ws:
        await ws.send("héllo 😀")
        out["text"] = await ws.recv()
        await ws.send(b"\x00\x01\xff")
        out["binary"] = (await ws.recv()).hex()
        await ws.send(iter(["frag1-", "frag2-", "frag3"]))
        out["fragmented"] = await ws.recv()
        waiter = await ws.ping(b"py ping")
        await asyncio.wait_for(waiter, 5)
        out["pong"] = True
        await ws.close(4003, "python says bye")
        out["close_code"] = ws.close_code
    async with websockets.connect(uri, open_timeout=5, close_timeout=5) as ws:
        await ws.send("cmd:shutdown")
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 5)
        out["shutdown"] = [ws.close_code, ws.close_reason]
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
`;

test('python websockets through node:http: messages, ping, client close, and wss.close() → 1001', {
  skip: !existsSync(PYTHON) && `no ${PYTHON}`,
}, async (t) => {
  const server = await startEchoBridge(t);
  const r = await run(PYTHON, ['-c', PY_SCRIPT, `ws://127.0.0.1:${server.port}/py`], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `python exited with ${r.code}: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const out = JSON.parse(Buffer.from(line, 'latin1').toString('utf8'));
  assert.deepEqual(out, {
    text: 'héllo 😀',
    binary: '0001ff',
    fragmented: 'frag1-frag2-frag3',
    pong: true,
    close_code: 4003,
    shutdown: [1001, 'Server shutting down'],
  });
  assert.deepEqual(server.pings, ['py ping']);
  await within(server.shutdown() as Promise<unknown>, 5000, 'wss.close()');
  assert.deepEqual(server.closes, [
    { code: 4003, reason: 'python says bye', wasClean: true },
    { code: 1001, reason: 'Server shutting down', wasClean: true },
  ]);
});

const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>bridge</title></head><body>ready</body></html>';

test('chromium through node:http: deflate negotiated, text and binary echoed, closes both ways are clean', {
  skip: !hasChromium && '/usr/bin/chromium is not installed',
}, async (t) => {
  const server = await startEchoBridge(t, PAGE);
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://127.0.0.1:${server.port}/`);
  const out = await page.evaluate(async (waitMs) => {
    const open = (path: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.host}${path}`);
        ws.binaryType = 'arraybuffer';
        ws.onopen = () => resolve(ws);
        ws.onerror = () => reject(new Error('websocket error'));
        setTimeout(() => reject(new Error('open timeout')), waitMs);
      });
    const next = (ws: WebSocket) =>
      new Promise<string | ArrayBuffer>((resolve, reject) => {
        ws.onmessage = (e) => resolve(e.data as string | ArrayBuffer);
        setTimeout(() => reject(new Error('no message')), waitMs);
      });
    const closed = (ws: WebSocket) =>
      new Promise<[number, string, boolean]>((resolve, reject) => {
        ws.onclose = (e) => resolve([e.code, e.reason, e.wasClean]);
        setTimeout(() => reject(new Error('no close')), waitMs);
      });
    const a = await open('/chat');
    const extensions = a.extensions;
    let reply = next(a);
    const long = 'sockeye '.repeat(5000);
    a.send(long);
    const text = (await reply) === long;
    reply = next(a);
    a.send(new Uint8Array([0, 1, 127, 128, 255]));
    const binary = Array.from(new Uint8Array((await reply) as ArrayBuffer)).join(',');
    const serverClose = closed(a);
    a.send('cmd:close');
    const b = await open('/chat');
    const pageClose = closed(b);
    b.close(4001, 'page says bye');
    return { extensions, text, binary, serverClose: await serverClose, pageClose: await pageClose };
  }, WAIT);
  assert.match(out.extensions, /^permessage-deflate/);
  assert.equal(out.text, true, 'a 40 KB text message comes back intact');
  assert.equal(out.binary, '0,1,127,128,255');
  assert.deepEqual(out.serverClose, [4002, 'server says bye', true]);
  assert.equal(out.pageClose[0], 4001);
  assert.equal(out.pageClose[2], true);
  await waitFor(() => server.closes.length === 2, 5000, 'both closes on the server');
  // The two connections end independently: compare in code order.
  const byCode = [...server.closes].sort((x, y) => x.code - y.code);
  assert.deepEqual(byCode, [
    { code: 4001, reason: 'page says bye', wasClean: true },
    { code: 4002, reason: 'server says bye', wasClean: true },
  ]);
  assert.equal(server.wss.stats().websocket.deflateNegotiated, 2);
});
