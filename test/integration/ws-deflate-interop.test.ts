/**
 * permessage-deflate (RFC 7692) interop over loopback sockets, compression on, against implementations written
 * independently of ours, in both directions:
 *
 * - the `ws` package's client against our server, with its default offer and with the four parameters of §7.1
 *   (server_no_context_takeover §7.1.1.1, client_no_context_takeover §7.1.1.2, server_max_window_bits §7.1.2.1,
 *   client_max_window_bits §7.1.2.2), and our server's own policy: the `Sec-WebSocket-Extensions` the client got,
 *   text, binary, empty, 1-byte, 1 KiB, 64 KiB, 1 MiB and 16 MiB messages (compressible and random) echoed byte for
 *   byte, a burst of messages in order, and the server's counters proving that both directions were compressed
 *   (§7.2.1, §7.2.2) and that messages under `threshold` went uncompressed;
 * - our client against a `ws` WebSocketServer with permessage-deflate (threshold 0: it compresses everything), with
 *   offer variants, a server policy that limits both windows, and a server with the extension off (§5: no
 *   agreement, the connection works uncompressed);
 * - Python `websockets` 10 (Debian python3-websockets, which compresses every message) as client of our server and
 *   as server for our client, with its default settings and with all four parameters (fixtures
 *   test/fixtures/ws/deflate-client.py and deflate-server.py);
 * - headless Chromium's WebSocket against our server: 100 KB text and binary echoed, compressed both ways;
 * - an upgrade hook that declines the extension for one connection (§5: no extension, messages still echo);
 * - after every client has closed, no connection holds a zlib context and no per-connection context is left.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WsClient, { WebSocketServer } from 'ws';
import { type Server, WebSocket, type WebSocketClientOptions, type WebSocketOptions } from '../../src/index.js';
import { deflateStats } from '../../src/node/deflate.js';
import { hasChromium, launchBrowser } from '../helpers/browser.js';
import { run, startServer } from '../helpers/net.js';

const WAIT = 10_000;
const KiB = 1024;
const MiB = 1024 * KiB;
/** Our codec's default threshold: smaller messages are sent uncompressed. */
const THRESHOLD = 1024;
const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON);
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/ws');

function bounded<T>(p: Promise<T>, what: string, ms = WAIT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ── messages ───────────────────────────────────────────────────────────────────────────────────────────────

interface Msg {
  name: string;
  data: string | Buffer;
  binary: boolean;
}

/** Compressible ASCII text of exactly `n` bytes. */
function asciiText(n: number): string {
  const line = 'sockeye permessage-deflate interop, line of ascii text 0123456789\n';
  return line.repeat(Math.ceil(n / line.length) + 1).slice(0, n);
}

/** Compressible text with 2-, 3- and 4-byte UTF-8 sequences, at least `n` bytes. */
function multibyteText(n: number): string {
  const line = 'κόσμε ✓ 😀 the quick brown fox jumps over the lazy dog\n';
  return line.repeat(Math.ceil(n / Buffer.byteLength(line)) + 1);
}

function bytesOf(m: Msg): number {
  return typeof m.data === 'string' ? Buffer.byteLength(m.data) : m.data.length;
}

function asBuffer(m: Msg): Buffer {
  return typeof m.data === 'string' ? Buffer.from(m.data) : m.data;
}

/** The message set every peer sends: sizes around the threshold, compressible and random, up to 1 MiB. */
const MESSAGES: Msg[] = [
  { name: 'short text', data: 'héllo 😀 deflate', binary: false },
  { name: 'short binary', data: Buffer.from([0, 1, 2, 255]), binary: true },
  { name: 'empty text', data: '', binary: false },
  { name: 'empty binary', data: Buffer.alloc(0), binary: true },
  { name: '1-byte text', data: 'x', binary: false },
  { name: '1-byte binary', data: Buffer.from([0x80]), binary: true },
  { name: '1023-byte text', data: asciiText(1023), binary: false },
  { name: '1 KiB text', data: asciiText(KiB), binary: false },
  { name: '1 KiB random binary', data: randomBytes(KiB), binary: true },
  { name: '64 KiB multibyte text', data: multibyteText(64 * KiB), binary: false },
  { name: '64 KiB random binary', data: randomBytes(64 * KiB), binary: true },
  { name: '1 MiB compressible binary', data: Buffer.from(asciiText(MiB)), binary: true },
  { name: '1 MiB random binary', data: randomBytes(MiB), binary: true },
];

/** 200 messages of 3 bytes to ~3 KiB, text and binary, sent back to back: their order must be kept. */
const BURST: Msg[] = Array.from({ length: 200 }, (_, i) => {
  const text = `#${i} ${'z'.repeat((i * 61) % 3000)}`;
  return i % 3 === 0
    ? { name: `burst ${i}`, data: Buffer.from(text), binary: true }
    : { name: `burst ${i}`, data: text, binary: false };
});

/** Empty messages between others, for compressors that take over their context. */
const AFTER_EMPTY: Msg = { name: 'text after empty ones', data: asciiText(2000), binary: false };
const EMPTY_SEQUENCE: Msg[] = [
  { name: 'hello', data: 'hello', binary: false },
  { name: 'empty text', data: '', binary: false },
  { name: 'empty binary', data: Buffer.alloc(0), binary: true },
  { name: 'empty text again', data: '', binary: false },
  AFTER_EMPTY,
];

const BIG_TEXT: Msg = { name: '16 MiB text', data: multibyteText(16 * MiB).slice(0, 8 * MiB), binary: false };
const BIG_RANDOM: Msg = { name: '16 MiB random binary', data: randomBytes(16 * MiB), binary: true };

/** A received message, normalised: its type and bytes. */
interface Got {
  binary: boolean;
  data: Buffer;
}

function assertEcho(got: Got, sent: Msg): void {
  assert.equal(got.binary, sent.binary, `${sent.name}: message type`);
  const want = asBuffer(sent);
  assert.equal(got.data.length, want.length, `${sent.name}: length`);
  assert.ok(got.data.equals(want), `${sent.name}: bytes differ`);
}

/** What arrives, in order, with a bounded wait for the next one. */
class Inbox {
  readonly items: Got[] = [];
  #taken = 0;
  #wake: (() => void) | null = null;
  #ended: string | null = null;

  push(g: Got): void {
    this.items.push(g);
    this.#wake?.();
  }

  /** The connection closed: waiting for more fails at once. */
  end(why: string): void {
    this.#ended = why;
    this.#wake?.();
  }

  async next(what: string, ms = WAIT): Promise<Got> {
    const deadline = Date.now() + ms;
    while (this.items.length <= this.#taken) {
      if (this.#ended !== null) throw new Error(`connection closed (${this.#ended}) while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.items[this.#taken++] as Got;
  }
}

// ── our server ─────────────────────────────────────────────────────────────────────────────────────────────

type ServerDeflate = NonNullable<WebSocketOptions['perMessageDeflate']>;
type DeflateSnapshot = NonNullable<ReturnType<Server['stats']>['deflate']>;

interface DeflateServer {
  server: Server;
  port: number;
  url: string;
  /** Close events the server reported. */
  closes: number[];
  waitCloses(n: number): Promise<void>;
  deflate(): DeflateSnapshot;
}

const FRAGMENTS_COMMAND = 'cmd:fragments';
const FRAGMENTED: Msg = { name: 'fragmented message', data: asciiText(3000), binary: false };

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>deflate</title></head>
<body><p id="status">ready</p></body></html>`;

/**
 * Our echo server with permessage-deflate, closed after the test. The upgrade hook declines the extension for
 * the path `/no-deflate`; `GET /` serves an empty page (for Chromium).
 */
async function startDeflateServer(t: TestContext, perMessageDeflate: ServerDeflate): Promise<DeflateServer> {
  const closes: number[] = [];
  let wake: (() => void) | null = null;
  const server = await startServer(t, {
    request(req, res) {
      if (req.path === '/') res.send(PAGE, 200, { 'Content-Type': 'text/html; charset=utf-8' });
      else res.send('Not Found', 404);
    },
    websocket: {
      perMessageDeflate,
      maxPayload: 64 * MiB,
      maxBackpressure: 256 * MiB,
      upgrade(req) {
        return req.path === '/no-deflate' ? { perMessageDeflate: false } : undefined;
      },
      message(ws, msg, isBinary) {
        if (msg === FRAGMENTS_COMMAND) {
          // A compressed message in two fragments, the last one empty (RFC 7692 §6.1, §7.2.3.6).
          ws.sendFragment(FRAGMENTED.data, false);
          ws.sendFragment('', true);
          return;
        }
        ws.send(msg, isBinary);
      },
      close(_ws, code) {
        closes.push(code);
        wake?.();
      },
    },
  });
  return {
    server,
    port: server.port,
    url: `ws://127.0.0.1:${server.port}`,
    closes,
    async waitCloses(n) {
      const deadline = Date.now() + WAIT;
      while (closes.length < n) {
        if (Date.now() > deadline) throw new Error(`server saw ${closes.length} close(s), expected ${n}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    deflate() {
      const d = server.stats().deflate;
      assert.ok(d !== null, 'server.stats().deflate is null although perMessageDeflate is on');
      return d;
    },
  };
}

type Counter = Exclude<keyof DeflateSnapshot, 'connectionsHoldingContexts'>;

function delta(before: DeflateSnapshot, after: DeflateSnapshot, keys: Counter[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = after[k] - before[k];
  return out;
}

function sum(msgs: Msg[]): number {
  return msgs.reduce((n, m) => n + bytesOf(m), 0);
}

/**
 * Checks the server's counters over an echo of `msgs`: the peer compressed `peerCompressed` (§7.2.2: we inflated
 * them all, to their exact sizes), and we compressed every echo of `threshold` bytes or more (§7.2.1) and sent
 * the others as they were. Compressed sizes must be smaller in total (the sets are mostly compressible).
 */
function assertServerCounters(
  before: DeflateSnapshot,
  after: DeflateSnapshot,
  msgs: Msg[],
  peerCompressed: Msg[],
  threshold = THRESHOLD,
): void {
  const big = msgs.filter((m) => bytesOf(m) >= threshold);
  const d = delta(before, after, [
    'decompressed',
    'decompressedBytesOut',
    'compressed',
    'compressedBytesIn',
    'skipped',
    'invalid',
    'tooBig',
  ]);
  assert.deepEqual(d, {
    decompressed: peerCompressed.length,
    decompressedBytesOut: sum(peerCompressed),
    compressed: big.length,
    compressedBytesIn: sum(big),
    skipped: msgs.length - big.length,
    invalid: 0,
    tooBig: 0,
  });
  const inflatedFrom = after.decompressedBytesIn - before.decompressedBytesIn;
  const deflatedTo = after.compressedBytesOut - before.compressedBytesOut;
  if (sum(peerCompressed) > 0) assert.ok(inflatedFrom < sum(peerCompressed), 'the peer really compressed');
  if (big.length > 0) assert.ok(deflatedTo < sum(big), 'we really compressed');
}

// ── the ws client ──────────────────────────────────────────────────────────────────────────────────────────

type WsDeflate = WsClient.ClientOptions['perMessageDeflate'];

interface WsPeer {
  ws: WsClient;
  inbox: Inbox;
  /** The `Sec-WebSocket-Extensions` of the 101, as the client received it (undefined when absent). */
  header: string | undefined;
  closed: Promise<number>;
}

async function openWs(t: TestContext, url: string, perMessageDeflate: WsDeflate): Promise<WsPeer> {
  const ws = new WsClient(url, { perMessageDeflate, maxPayload: 64 * MiB });
  t.after(() => ws.terminate());
  const inbox = new Inbox();
  let header: string | undefined;
  ws.on('upgrade', (res) => {
    header = res.headers['sec-websocket-extensions'] as string | undefined;
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => inbox.push({ binary: isBinary, data }));
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => {
      inbox.end(`${code} ${reason.toString()}`);
      resolve(code);
    }),
  );
  await bounded(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    'ws open',
  );
  return { ws, inbox, header, closed };
}

/** Sends each message and checks its echo before the next. */
async function echoEach(send: (m: Msg) => void, inbox: Inbox, msgs: Msg[], ms = WAIT): Promise<void> {
  for (const m of msgs) {
    send(m);
    assertEcho(await inbox.next(m.name, ms), m);
  }
}

/** Sends all messages back to back, then checks that every echo came back, in order. */
async function echoBurst(send: (m: Msg) => void, inbox: Inbox, msgs: Msg[]): Promise<void> {
  for (const m of msgs) send(m);
  for (const m of msgs) assertEcho(await inbox.next(m.name), m);
}

function wsSend(ws: WsClient): (m: Msg) => void {
  return (m) => ws.send(m.data, { binary: m.binary });
}

async function closeWs(peer: WsPeer): Promise<void> {
  peer.ws.close(1000);
  assert.equal(await bounded(peer.closed, 'ws close'), 1000);
}

/** After the connections of a test ended: nothing holds a zlib context of its own. */
async function assertNoContexts(s: DeflateServer, closes: number): Promise<void> {
  await s.waitCloses(closes);
  assert.equal(s.deflate().connectionsHoldingContexts, 0, 'connectionsHoldingContexts after close');
  assert.equal(deflateStats.contexts, 0, 'per-connection zlib contexts left after close');
}

interface WsVariant {
  name: string;
  client: WsDeflate;
  server: ServerDeflate;
  /** The server's response, exactly. */
  header: string;
  /** Which messages the ws client compresses (it applies its threshold only with client_no_context_takeover). */
  clientCompresses: (m: Msg) => boolean;
  /** Whether the connection keeps zlib contexts of its own (a direction with context takeover). */
  holds: boolean;
  threshold?: number;
}

const ALL = () => true;
const WS_THRESHOLD = (m: Msg) => bytesOf(m) >= 1024;

const WS_VARIANTS: WsVariant[] = [
  {
    name: 'defaults (offer: client_max_window_bits)',
    client: true,
    server: true,
    // Our server compresses without context takeover by default (one shared compressor).
    header: 'permessage-deflate; server_no_context_takeover',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'threshold 0',
    client: { threshold: 0 },
    server: true,
    header: 'permessage-deflate; server_no_context_takeover',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'serverNoContextTakeover asked by the client (§7.1.1.1)',
    client: { serverNoContextTakeover: true },
    server: { serverNoContextTakeover: false },
    header: 'permessage-deflate; server_no_context_takeover',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'context takeover both ways',
    client: true,
    server: { serverNoContextTakeover: false },
    header: 'permessage-deflate',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'clientNoContextTakeover (§7.1.1.2)',
    client: { clientNoContextTakeover: true },
    server: { serverNoContextTakeover: false },
    header: 'permessage-deflate; client_no_context_takeover',
    clientCompresses: WS_THRESHOLD,
    holds: true,
  },
  {
    name: 'clientNoContextTakeover, threshold 0',
    client: { clientNoContextTakeover: true, threshold: 0 },
    server: true,
    header: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    clientCompresses: ALL,
    holds: false,
  },
  {
    name: 'serverMaxWindowBits 10 (§7.1.2.1)',
    client: { serverMaxWindowBits: 10 },
    server: { serverNoContextTakeover: false },
    header: 'permessage-deflate; server_max_window_bits=10',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'clientMaxWindowBits 9 (§7.1.2.2)',
    client: { clientMaxWindowBits: 9 },
    server: true,
    // The offered value is stated back: only the response binds the client.
    header: 'permessage-deflate; server_no_context_takeover; client_max_window_bits=9',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'windows of 8 bits both ways',
    client: { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    server: { serverNoContextTakeover: false },
    header: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8',
    clientCompresses: ALL,
    holds: true,
  },
  {
    name: 'all four parameters offered',
    client: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 9,
      threshold: 0,
    },
    server: true,
    header:
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9',
    clientCompresses: ALL,
    holds: false,
  },
  {
    name: 'server policy: no takeover both ways, windows 11 and 10, threshold 0',
    client: true,
    server: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 11,
      clientMaxWindowBits: 10,
      threshold: 0,
    },
    header:
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; ' +
      'client_max_window_bits=10',
    clientCompresses: WS_THRESHOLD,
    holds: false,
    threshold: 0,
  },
];

for (const v of WS_VARIANTS) {
  test(`ws client → our server, ${v.name}: agreed header, echo byte for byte, both directions compressed`, async (t) => {
    const s = await startDeflateServer(t, v.server);
    const c = await openWs(t, `${s.url}/ws`, v.client);
    assert.equal(c.header, v.header, 'Sec-WebSocket-Extensions received by ws');
    assert.equal(c.ws.extensions, 'permessage-deflate');
    assert.equal(s.server.stats().websocket.deflateNegotiated, 1);
    const before = s.deflate();
    await echoEach(wsSend(c.ws), c.inbox, MESSAGES);
    assertServerCounters(before, s.deflate(), MESSAGES, MESSAGES.filter(v.clientCompresses), v.threshold);
    assert.equal(s.deflate().connectionsHoldingContexts, v.holds ? 1 : 0, 'connectionsHoldingContexts while open');
    await closeWs(c);
    await assertNoContexts(s, 1);
  });
}

test('ws client → our server, defaults: a 16 MiB text message and a burst of 200 messages, in order', async (t) => {
  const s = await startDeflateServer(t, true);
  const c = await openWs(t, `${s.url}/big`, true);
  const before = s.deflate();
  await echoEach(wsSend(c.ws), c.inbox, [BIG_TEXT], 30_000);
  await echoBurst(wsSend(c.ws), c.inbox, BURST);
  const msgs = [BIG_TEXT, ...BURST];
  assertServerCounters(before, s.deflate(), msgs, msgs);
  const after = s.deflate();
  // 8 MiB of repeated text: a ratio well beyond what a stored (uncompressed) block could give.
  assert.ok(after.compressedBytesOut - before.compressedBytesOut < bytesOf(BIG_TEXT) / 10, 'compression ratio');
  await closeWs(c);
  await assertNoContexts(s, 1);
});

test('ws client, upgrade hook returns { perMessageDeflate: false }: no extension, messages still echo', async (t) => {
  const s = await startDeflateServer(t, true);
  const c = await openWs(t, `${s.url}/no-deflate`, true);
  assert.equal(c.header, undefined, 'no Sec-WebSocket-Extensions in the 101');
  assert.equal(c.ws.extensions, '');
  const before = s.deflate();
  await echoEach(wsSend(c.ws), c.inbox, MESSAGES);
  assert.deepEqual(delta(before, s.deflate(), ['compressed', 'decompressed', 'skipped', 'created']), {
    compressed: 0,
    decompressed: 0,
    skipped: 0,
    created: 0,
  });
  assert.equal(s.server.stats().websocket.deflateNegotiated, 0);
  // The same server still agrees on other paths.
  const d = await openWs(t, `${s.url}/ws`, true);
  assert.equal(d.header, 'permessage-deflate; server_no_context_takeover');
  assert.equal(s.server.stats().websocket.deflateNegotiated, 1);
  await closeWs(c);
  await closeWs(d);
  await assertNoContexts(s, 2);
});

test('our server with context takeover, threshold 0: empty messages and an empty last fragment (§7.2.1, §7.2.3.6)', async (t) => {
  // Every echo is compressed with the connection's own compressor: an empty message must still be the 0x00 octet of
  // an empty stored block, or the peer's decompressor loses its place in the stream.
  const s = await startDeflateServer(t, { serverNoContextTakeover: false, threshold: 0 });
  const c = await openWs(t, `${s.url}/empty`, true);
  assert.equal(c.header, 'permessage-deflate');
  await echoEach(wsSend(c.ws), c.inbox, EMPTY_SEQUENCE);
  c.ws.send(FRAGMENTS_COMMAND);
  assertEcho(await c.inbox.next(FRAGMENTED.name), FRAGMENTED);
  await echoEach(wsSend(c.ws), c.inbox, [AFTER_EMPTY]);
  await closeWs(c);
  await assertNoContexts(s, 1);
});

// ── our client against a ws server ─────────────────────────────────────────────────────────────────────────

type WssDeflate = NonNullable<ConstructorParameters<typeof WebSocketServer>[0]>['perMessageDeflate'];
type ClientDeflate = WebSocketClientOptions['perMessageDeflate'];

/** A `ws` echo server on 127.0.0.1:0 (clients terminated, server closed after the test). */
async function startWss(t: TestContext, perMessageDeflate: WssDeflate): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 64 * MiB });
  await bounded(new Promise<void>((resolve) => wss.once('listening', () => resolve())), 'ws server listening');
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  wss.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

interface OurPeer {
  ws: WebSocket;
  inbox: Inbox;
  closed: Promise<{ code: number; wasClean: boolean }>;
}

async function openOurs(t: TestContext, url: string, perMessageDeflate: ClientDeflate): Promise<OurPeer> {
  const ws = new WebSocket(url, undefined, { perMessageDeflate, maxPayload: 64 * MiB });
  ws.binaryType = 'nodebuffer';
  t.after(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
  });
  const inbox = new Inbox();
  ws.onmessage = (e) => {
    const data = e.data as string | Buffer;
    inbox.push(typeof data === 'string' ? { binary: false, data: Buffer.from(data) } : { binary: true, data });
  };
  const closed = new Promise<{ code: number; wasClean: boolean }>((resolve) => {
    ws.addEventListener('close', (e) => {
      inbox.end(`${e.code} ${e.reason}`);
      resolve({ code: e.code, wasClean: e.wasClean });
    });
  });
  await bounded(
    new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (e) => reject(new Error(`our client failed to open: ${(e as ErrorEvent).message}`));
    }),
    'our client open',
  );
  return { ws, inbox, closed };
}

function ourSend(ws: WebSocket): (m: Msg) => void {
  return (m) => ws.send(m.binary ? asBuffer(m) : (m.data as string));
}

async function closeOurs(peer: OurPeer): Promise<void> {
  peer.ws.close(1000);
  assert.deepEqual(await bounded(peer.closed, 'our client close'), { code: 1000, wasClean: true });
}

const CLIENT_COUNTERS: Counter[] = [
  'compressed',
  'compressedBytesIn',
  'decompressed',
  'decompressedBytesOut',
  'invalid',
];

/**
 * Our client's codec over an echo of `msgs` (the process-wide counters; nothing else runs meanwhile): it compressed
 * what reaches its threshold and inflated what the server compressed.
 */
function assertClientCounters(
  before: DeflateSnapshot,
  msgs: Msg[],
  serverCompressed: Msg[],
  threshold = THRESHOLD,
): void {
  const big = msgs.filter((m) => bytesOf(m) >= threshold);
  const after = { ...deflateStats, connectionsHoldingContexts: 0 };
  assert.deepEqual(delta(before, after, CLIENT_COUNTERS), {
    compressed: big.length,
    compressedBytesIn: sum(big),
    decompressed: serverCompressed.length,
    decompressedBytesOut: sum(serverCompressed),
    invalid: 0,
  });
  if (big.length > 0) assert.ok(after.compressedBytesOut - before.compressedBytesOut < sum(big), 'we compressed');
  if (serverCompressed.length > 0) {
    assert.ok(after.decompressedBytesIn - before.decompressedBytesIn < sum(serverCompressed), 'the server compressed');
  }
}

function snapshot(): DeflateSnapshot {
  return { ...deflateStats, connectionsHoldingContexts: 0 };
}

interface ClientVariant {
  name: string;
  client: ClientDeflate;
  server: WssDeflate;
  extensions: string;
  threshold?: number;
}

const CLIENT_VARIANTS: ClientVariant[] = [
  { name: 'default offer', client: true, server: { threshold: 0 }, extensions: 'permessage-deflate' },
  {
    name: 'threshold 0',
    client: { threshold: 0 },
    server: { threshold: 0 },
    extensions: 'permessage-deflate',
    threshold: 0,
  },
  {
    name: 'all four parameters offered',
    client: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 9,
    },
    server: { threshold: 0 },
    extensions:
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; ' +
      'client_max_window_bits=9',
  },
  {
    name: 'clientMaxWindowBits: false (not offered)',
    client: { clientMaxWindowBits: false },
    server: { threshold: 0 },
    extensions: 'permessage-deflate',
  },
  {
    name: 'server policy: no takeover both ways, windows 9 and 8',
    client: true,
    server: {
      threshold: 0,
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 9,
      clientMaxWindowBits: 8,
    },
    // ws writes the parameters it set itself first.
    extensions:
      'permessage-deflate; client_max_window_bits=8; server_no_context_takeover; client_no_context_takeover; ' +
      'server_max_window_bits=9',
  },
];

for (const v of CLIENT_VARIANTS) {
  test(`our client → ws server, ${v.name}: agreed extensions, echo byte for byte, both directions compressed`, async (t) => {
    const url = await startWss(t, v.server);
    const c = await openOurs(t, `${url}/ours`, v.client);
    assert.equal(c.ws.extensions, v.extensions);
    const before = snapshot();
    await echoEach(ourSend(c.ws), c.inbox, MESSAGES);
    assertClientCounters(before, MESSAGES, MESSAGES, v.threshold);
    await closeOurs(c);
    assert.equal(deflateStats.contexts, 0, 'per-connection zlib contexts left after close');
  });
}

test('our client → ws server: a 16 MiB random message and a burst of 200 messages, in order', async (t) => {
  const url = await startWss(t, { threshold: 0 });
  const c = await openOurs(t, `${url}/big`, true);
  const before = snapshot();
  await echoEach(ourSend(c.ws), c.inbox, [BIG_RANDOM], 30_000);
  await echoBurst(ourSend(c.ws), c.inbox, BURST);
  const msgs = [BIG_RANDOM, ...BURST];
  const after = snapshot();
  assert.deepEqual(delta(before, after, ['compressed', 'decompressed', 'decompressedBytesOut', 'invalid']), {
    compressed: msgs.filter((m) => bytesOf(m) >= THRESHOLD).length,
    decompressed: msgs.length,
    decompressedBytesOut: sum(msgs),
    invalid: 0,
  });
  await closeOurs(c);
  assert.equal(deflateStats.contexts, 0);
});

test('our client with threshold 0 (context takeover) → ws server: empty messages between others (§7.2.1, §7.2.3.6)', async (t) => {
  const url = await startWss(t, { threshold: 0 });
  const c = await openOurs(t, `${url}/empty`, { threshold: 0 });
  assert.equal(c.ws.extensions, 'permessage-deflate');
  await echoEach(ourSend(c.ws), c.inbox, EMPTY_SEQUENCE);
  await closeOurs(c);
});

test('our client offering permessage-deflate → ws server with it off: extensions is "", messages echo', async (t) => {
  const url = await startWss(t, false);
  const c = await openOurs(t, `${url}/plain`, true);
  assert.equal(c.ws.extensions, '');
  const before = snapshot();
  await echoEach(ourSend(c.ws), c.inbox, MESSAGES);
  assert.deepEqual(delta(before, snapshot(), ['compressed', 'decompressed', 'created']), {
    compressed: 0,
    decompressed: 0,
    created: 0,
  });
  await closeOurs(c);
});

// ── Python websockets ──────────────────────────────────────────────────────────────────────────────────────

interface PyClientOut {
  extensions: string | null;
  results: [string, string, string, number, boolean][];
  burst: [number, number];
  burst_bytes: number[];
  close_code: number;
}

async function pythonClient(url: string, mode: 'default' | 'variants'): Promise<PyClientOut> {
  const r = await run(PYTHON, [path.join(FIXTURES, 'deflate-client.py'), url, mode], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `python exited with ${r.code}: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  // stdout is collected as latin1: decode the UTF-8 bytes again.
  return JSON.parse(Buffer.from(line, 'latin1').toString('utf8')) as PyClientOut;
}

/** The sizes the Python client sent, as messages (for the counters). */
function pySent(out: PyClientOut): Msg[] {
  const sizes = [...out.results.map((r) => r[3]), ...out.burst_bytes];
  return sizes.map((n, i) => ({ name: `py ${i}`, data: Buffer.alloc(n), binary: true }));
}

function assertPyEchoes(out: PyClientOut): void {
  assert.equal(out.results.length, MESSAGES.length);
  for (const [name, sent, got, , equal] of out.results) {
    assert.equal(got, sent, `${name}: message type`);
    assert.equal(equal, true, `${name}: echo differs`);
  }
  assert.deepEqual(out.burst, [100, 100], 'burst echoed in order');
  assert.equal(out.close_code, 1000);
}

for (const mode of ['default', 'variants'] as const) {
  const header =
    mode === 'default'
      ? 'permessage-deflate; server_no_context_takeover'
      : 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9';
  test(`python websockets client (${mode} offer) → our server: ${header}, echo checked`, {
    skip: !hasPython && `no ${PYTHON}`,
  }, async (t) => {
    const s = await startDeflateServer(t, true);
    const before = s.deflate();
    const out = await pythonClient(`${s.url}/py-${mode}`, mode);
    assert.equal(out.extensions, header);
    assertPyEchoes(out);
    // websockets compresses every message it sends, empty ones included.
    const sent = pySent(out);
    assertServerCounters(before, s.deflate(), sent, sent);
    assert.equal(s.server.stats().websocket.deflateNegotiated, 1);
    await assertNoContexts(s, 1);
  });
}

interface PyServer {
  ports: { default: number; variants: number };
  closes: { path: string; extensions: string | null; code: number }[];
}

async function startPythonServer(t: TestContext): Promise<PyServer> {
  const proc: ChildProcessWithoutNullStreams = spawn(PYTHON, [path.join(FIXTURES, 'deflate-server.py')], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => {
    proc.kill('SIGKILL');
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const closes: PyServer['closes'] = [];
  const ports = await bounded(
    new Promise<PyServer['ports']>((resolve, reject) => {
      let out = '';
      proc.on('error', reject);
      proc.on('exit', (code) => reject(new Error(`python server exited with ${code}: ${stderr}`)));
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
          const line = JSON.parse(out.slice(0, nl)) as Record<string, unknown>;
          out = out.slice(nl + 1);
          if ('default' in line) resolve(line as unknown as PyServer['ports']);
          else closes.push(line as unknown as PyServer['closes'][number]);
        }
      });
    }),
    'python server ports',
  );
  return { ports, closes };
}

test('our client → python websockets server (default compression, and all four parameters)', {
  skip: !hasPython && `no ${PYTHON}`,
}, async (t) => {
  const py = await startPythonServer(t);
  const cases: { port: number; client: ClientDeflate; extensions: string }[] = [
    // websockets' own defaults: windows of 12 bits both ways.
    {
      port: py.ports.default,
      client: true,
      extensions: 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    },
    {
      port: py.ports.variants,
      client: true,
      extensions:
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; ' +
        'client_max_window_bits=9',
    },
    {
      port: py.ports.default,
      client: {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 9,
        threshold: 0,
      },
      extensions:
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; ' +
        'client_max_window_bits=9',
    },
  ];
  for (const [i, k] of cases.entries()) {
    const c = await openOurs(t, `ws://127.0.0.1:${k.port}/case-${i}`, k.client);
    assert.equal(c.ws.extensions, k.extensions, `case ${i}`);
    const before = snapshot();
    await echoEach(ourSend(c.ws), c.inbox, MESSAGES);
    await echoBurst(ourSend(c.ws), c.inbox, BURST);
    const msgs = [...MESSAGES, ...BURST];
    const threshold = typeof k.client === 'object' && k.client.threshold !== undefined ? k.client.threshold : THRESHOLD;
    // websockets compresses every message it sends.
    assertClientCounters(before, msgs, msgs, threshold);
    await closeOurs(c);
  }
  assert.equal(deflateStats.contexts, 0);
  await bounded(
    (async () => {
      while (py.closes.length < cases.length) await new Promise((r) => setTimeout(r, 20));
    })(),
    'python close reports',
  );
  assert.deepEqual(
    py.closes.map((c) => [c.path, c.extensions, c.code]),
    cases.map((k, i) => [`/case-${i}`, k.extensions, 1000]),
  );
});

// ── Chromium ───────────────────────────────────────────────────────────────────────────────────────────────

test('chromium → our server: permessage-deflate agreed, 100 KB text and binary echoed, compressed both ways', {
  skip: !hasChromium && '/usr/bin/chromium is not installed',
}, async (t) => {
  const s = await startDeflateServer(t, true);
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`${s.url.replace('ws:', 'http:')}/`);
  const before = s.deflate();
  const out = await page.evaluate(async (waitMs) => {
    const ws = new WebSocket(`ws://${location.host}/chromium`);
    ws.binaryType = 'arraybuffer';
    const got: (string | ArrayBuffer)[] = [];
    const two = new Promise<void>((resolve, reject) => {
      ws.onmessage = (e) => {
        got.push(e.data as string | ArrayBuffer);
        if (got.length === 2) resolve();
      };
      ws.onclose = (e) => reject(new Error(`closed ${e.code}`));
      setTimeout(() => reject(new Error(`only ${got.length} message(s)`)), waitMs);
    });
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error('open timeout')), waitMs);
    });
    let text = '';
    for (let i = 0; text.length < 100_000; i++) text += `line ${i}: the quick brown fox ✓ jumps over the lazy dog\n`;
    text = text.slice(0, 100_000);
    const bin = new Uint8Array(100_000);
    for (let i = 0; i < bin.length; i++) bin[i] = (i % 97) ^ ((i >> 8) & 3);
    ws.send(text);
    ws.send(bin);
    await two;
    const back = new Uint8Array(got[1] as ArrayBuffer);
    let same = back.length === bin.length;
    for (let i = 0; same && i < bin.length; i++) if (back[i] !== bin[i]) same = false;
    const closed = new Promise<number>((resolve) => {
      ws.onclose = (e) => resolve(e.code);
    });
    ws.close(1000);
    return {
      extensions: ws.extensions,
      textSame: got[0] === text,
      textBytes: new TextEncoder().encode(text).length,
      binaryType: got[1] instanceof ArrayBuffer ? 'arraybuffer' : typeof got[1],
      binarySame: same,
      closeCode: await closed,
    };
  }, WAIT);
  assert.deepEqual(out, {
    extensions: 'permessage-deflate; server_no_context_takeover',
    textSame: true,
    textBytes: out.textBytes,
    binaryType: 'arraybuffer',
    binarySame: true,
    closeCode: 1000,
  });
  const sent: Msg[] = [
    { name: 'text', data: Buffer.alloc(out.textBytes), binary: false },
    { name: 'binary', data: Buffer.alloc(100_000), binary: true },
  ];
  assertServerCounters(before, s.deflate(), sent, sent);
  assert.equal(s.server.stats().websocket.deflateNegotiated, 1);
  await assertNoContexts(s, 1);
});

// ── many clients at once ───────────────────────────────────────────────────────────────────────────────────

test('ws, our client and python on one server with context takeover: contexts held while open, none after close', async (t) => {
  const s = await startDeflateServer(t, { serverNoContextTakeover: false, idleRelease: 0 });
  const a = await openWs(t, `${s.url}/a`, true);
  const b = await openWs(t, `${s.url}/b`, { serverMaxWindowBits: 9 });
  const c = await openOurs(t, `${s.url}/c`, true);
  assert.equal(c.ws.extensions, 'permessage-deflate');
  const small = MESSAGES.slice(0, 10);
  await Promise.all([
    echoEach(wsSend(a.ws), a.inbox, small),
    echoEach(wsSend(b.ws), b.inbox, small),
    echoEach(ourSend(c.ws), c.inbox, small),
  ]);
  assert.equal(s.deflate().connectionsHoldingContexts, 3);
  // A compressor and a decompressor for each of the 3 server connections, and for our client.
  assert.equal(deflateStats.contexts, 8, 'per-connection zlib contexts while open');
  let pyClosed = 0;
  if (hasPython) {
    const out = await pythonClient(`${s.url}/py`, 'default');
    assertPyEchoes(out);
    pyClosed = 1;
    await s.waitCloses(1);
  }
  assert.equal(s.deflate().connectionsHoldingContexts, 3, 'the python connection ended: its contexts are freed');
  assert.equal(deflateStats.contexts, 8);
  await Promise.all([closeWs(a), closeWs(b), closeOurs(c)]);
  await assertNoContexts(s, 3 + pyClosed);
  assert.equal(s.server.stats().websocket.deflateNegotiated, 3 + pyClosed);
});
