/**
 * The WebSocket client (src/node/client.ts) over loopback, against peers it did not write: the `ws` package's
 * WebSocketServer (open, subprotocol selection, text/binary/empty/16 MiB messages both ways, binaryType, Blob
 * ordering, close codes and reasons in both directions with wasClean, a dropped connection, refused handshakes,
 * Node options) and raw net servers that send exact bytes (wrong Sec-WebSocket-Accept, an unrequested
 * subprotocol, no answer, frames in the 101's packet, fragmented messages with a ping inside, a masked frame,
 * invalid UTF-8, an oversize message, close timeouts). Also the standard's argument checks: URL and
 * subprotocol SyntaxErrors, close() InvalidAccessError/SyntaxError, send() while CONNECTING. wss: against a `ws`
 * server on node:https with a throwaway self-signed certificate made by the openssl command.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { WebSocketServer, type WebSocket as WsPeer } from 'ws';
import { HandshakeError, ProtocolError } from '../../src/errors.js';
import { WebSocket } from '../../src/node/client.js';
import { CloseEvent, ErrorEvent } from '../../src/node/events.js';
import { makeCertificate } from '../helpers/certificate.js';
import { closeBody, type DecodedFrame, decodeFrames, frame } from '../helpers/ws-frames.js';

const WAIT_MS = 5000;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// ── helpers ────────────────────────────────────────────────────────────────────────────────────────────────

/** Rejects if `p` does not settle within `ms`. */
function bounded<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A `ws` server on 127.0.0.1:0, closed (with its clients terminated) after the test. */
async function startWss(t: TestContext, options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await bounded(new Promise<void>((resolve) => wss.once('listening', () => resolve())), 'listening');
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  const port = (wss.address() as net.AddressInfo).port;
  /** The next server-side connection. */
  const nextPeer = () =>
    bounded(new Promise<WsPeer>((resolve) => wss.once('connection', (peer) => resolve(peer))), 'server connection');
  return { wss, port, url: `ws://127.0.0.1:${port}`, nextPeer };
}

/** A `ws` server that echoes every message with its type. */
async function startEcho(t: TestContext, options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const s = await startWss(t, options);
  s.wss.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
  return s;
}

/**
 * A raw TCP server: reads the request head, then hands the socket, the head and any bytes after it to
 * `onRequest`. Every socket is destroyed and the server closed after the test.
 */
async function startRaw(
  t: TestContext,
  onRequest: (socket: net.Socket, head: string, rest: Buffer) => void,
): Promise<{ port: number; url: string }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      onRequest(socket, buf.toString('latin1', 0, end + 4), buf.subarray(end + 4));
    };
    socket.on('data', onData);
  });
  await bounded(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())), 'raw listen');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { port, url: `ws://127.0.0.1:${port}` };
}

/** A request header's value from a raw head. */
function headerOf(head: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'im').exec(head);
  return m?.[1];
}

/** Sec-WebSocket-Accept for the request's key, computed here (not with the code under test). */
function acceptFor(head: string): string {
  return createHash('sha1')
    .update(`${headerOf(head, 'sec-websocket-key')}${GUID}`)
    .digest('base64');
}

/** A 101 response head for `head`, with extra header lines. */
function switching(head: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(head)}\r\n${extra}\r\n`;
}

/** An unmasked (server) frame. */
function serverFrame(opcode: number, payload: Buffer | string = '', fin = true): Buffer {
  return frame({ opcode, payload, fin, mask: false });
}

/** Collects frames a raw server receives; resolves `until(pred)` when a frame matching it has arrived. */
function frameReader(socket: net.Socket, initial: Buffer = Buffer.alloc(0)) {
  let buf = initial;
  const frames: DecodedFrame[] = [];
  const waiters: { pred: (f: DecodedFrame) => boolean; resolve: (f: DecodedFrame) => void }[] = [];
  const parse = () => {
    // decodeFrames throws on a truncated frame: parse one complete frame at a time.
    for (;;) {
      let decoded: DecodedFrame[];
      let used = 0;
      try {
        if (buf.length < 2) return;
        let len = buf[1]! & 0x7f;
        let p = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          p = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          p = 10;
        }
        if (buf[1]! & 0x80) p += 4;
        if (buf.length < p + len) return;
        used = p + len;
        decoded = decodeFrames(buf.subarray(0, used));
      } catch {
        return;
      }
      buf = buf.subarray(used);
      for (const f of decoded) {
        frames.push(f);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pred(f)) waiters.splice(i, 1)[0]!.resolve(f);
        }
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    parse();
  });
  parse();
  return {
    frames,
    until(pred: (f: DecodedFrame) => boolean, what: string): Promise<DecodedFrame> {
      const found = frames.find(pred);
      if (found) return Promise.resolve(found);
      return bounded(new Promise<DecodedFrame>((resolve) => waiters.push({ pred, resolve })), what);
    },
  };
}

/** Records a client's events in order and offers bounded waits on them. */
function watch(ws: WebSocket) {
  const log: string[] = [];
  const errors: ErrorEvent[] = [];
  const queue: MessageEvent[] = [];
  const waiting: ((e: MessageEvent) => void)[] = [];
  let resolveClose: (e: CloseEvent) => void = () => {};
  const closed = new Promise<CloseEvent>((resolve) => {
    resolveClose = resolve;
  });
  let resolveOpen: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    resolveOpen = resolve;
  });
  ws.addEventListener('open', () => {
    log.push('open');
    resolveOpen();
  });
  ws.addEventListener('message', (e) => {
    log.push('message');
    const w = waiting.shift();
    if (w) w(e);
    else queue.push(e);
  });
  ws.addEventListener('error', (e) => {
    log.push('error');
    errors.push(e);
  });
  ws.addEventListener('close', (e) => {
    log.push(`close ${e.code}`);
    resolveClose(e);
  });
  return {
    log,
    errors,
    open: () => bounded(opened, 'open'),
    closed: (ms = WAIT_MS) => bounded(closed, 'close', ms),
    message: (): Promise<MessageEvent> => {
      const e = queue.shift();
      if (e) return Promise.resolve(e);
      return bounded(new Promise<MessageEvent>((resolve) => waiting.push(resolve)), 'message');
    },
  };
}

/** Opens a client to `url` and waits for `open`. */
async function connect(url: string, protocols?: string | string[], options = {}) {
  const ws = new WebSocket(url, protocols, options);
  const w = watch(ws);
  await w.open();
  return { ws, w };
}

/** Asserts the failure pattern of the standard: `error`, then `close` 1006 not clean, and no `open`. */
async function assertFailedToOpen(w: ReturnType<typeof watch>, ws: WebSocket): Promise<ErrorEvent> {
  const e = await w.closed();
  assert.deepEqual(w.log, ['error', 'close 1006']);
  assert.equal(e.wasClean, false);
  assert.equal(e.reason, '');
  assert.equal(ws.readyState, WebSocket.CLOSED);
  assert.ok(w.errors[0] instanceof ErrorEvent);
  return w.errors[0]!;
}

// ── tests ──────────────────────────────────────────────────────────────────────────────────────────────────

describe('opening', () => {
  test('readyState goes CONNECTING → OPEN, url is serialized, protocol is the server choice', async (t) => {
    const { port } = await startWss(t, { handleProtocols: (offered) => (offered.has('v2') ? 'v2' : false) });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/path?q=1`, ['v1', 'v2']);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.equal(ws.url, `ws://127.0.0.1:${port}/path?q=1`);
    assert.equal(ws.protocol, '');
    assert.equal(ws.binaryType, 'blob');
    assert.equal(ws.bufferedAmount, 0);
    const w = watch(ws);
    await w.open();
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(ws.protocol, 'v2');
    assert.equal(ws.extensions, '');
    ws.close();
    await w.closed();
  });

  test('a single string is one subprotocol offer; no offer gives protocol ""', async (t) => {
    let offered: string[] = [];
    const { url } = await startWss(t, {
      handleProtocols: (p) => {
        offered = [...p];
        return offered[0] ?? false;
      },
    });
    const a = await connect(url, 'chat');
    assert.deepEqual(offered, ['chat']);
    assert.equal(a.ws.protocol, 'chat');
    const b = await connect(url);
    assert.equal(b.ws.protocol, '');
    a.ws.close();
    b.ws.close();
    await Promise.all([a.w.closed(), b.w.closed()]);
  });

  test('http: and https: URLs become ws: and wss:; the connection works', async (t) => {
    const { port } = await startEcho(t);
    const { ws, w } = await connect(`http://127.0.0.1:${port}/x`);
    assert.equal(ws.url, `ws://127.0.0.1:${port}/x`);
    ws.close();
    await w.closed();
    // Not connected (port 1 refuses), only the URL is checked.
    const s = new WebSocket('https://127.0.0.1:1/');
    const sw = watch(s);
    assert.equal(s.url, 'wss://127.0.0.1:1/');
    s.close();
    await sw.closed();
  });

  test('readyState constants on the class and on instances, read-only', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
    assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
    assert.throws(() => {
      (WebSocket as unknown as { OPEN: number }).OPEN = 5;
    }, TypeError);
    assert.ok(ws instanceof EventTarget);
    ws.close();
    await w.closed();
  });

  test('a message the server sends on connection comes after open', async (t) => {
    const { wss, url } = await startWss(t);
    wss.on('connection', (peer) => peer.send('welcome'));
    const ws = new WebSocket(url);
    const w = watch(ws);
    const m = await w.message();
    assert.equal(m.data, 'welcome');
    assert.deepEqual(w.log, ['open', 'message']);
    ws.close();
    await w.closed();
  });

  test('frames in the same packet as the 101 are delivered after open', async (t) => {
    const { url } = await startRaw(t, (socket, head) => {
      socket.write(
        Buffer.concat([Buffer.from(switching(head), 'latin1'), serverFrame(1, 'early'), serverFrame(1, 'bird')]),
      );
    });
    const ws = new WebSocket(url);
    const w = watch(ws);
    assert.equal((await w.message()).data, 'early');
    assert.equal((await w.message()).data, 'bird');
    assert.deepEqual(w.log, ['open', 'message', 'message']);
    ws.close();
  });

  test('Node options: extra headers and Origin are sent; handshake headers are refused', async (t) => {
    let seen: Record<string, string | string[] | undefined> = {};
    const { url } = await startWss(t, {
      verifyClient: (info: { req: { headers: typeof seen } }) => {
        seen = info.req.headers;
        return true;
      },
    });
    const { ws, w } = await connect(url, [], {
      headers: { 'X-Token': 'abc', 'X-Multi': ['1', '2'] },
      origin: 'https://example.test',
    });
    assert.equal(seen['x-token'], 'abc');
    assert.equal(seen['x-multi'], '1, 2');
    assert.equal(seen.origin, 'https://example.test');
    ws.close();
    await w.closed();
    const pairs = await connect(url, [], { headers: [['X-Pair', 'p']] });
    assert.equal(seen['x-pair'], 'p');
    pairs.ws.close();
    await pairs.w.closed();
    assert.throws(() => new WebSocket(url, [], { headers: { 'Sec-WebSocket-Key': 'x' } }), TypeError);
    assert.throws(() => new WebSocket(url, [], { headers: { 'X-Bad': 'a\r\nInjected: 1' } }), TypeError);
  });
});

describe('constructor argument checks (SyntaxError DOMException)', () => {
  for (const bad of [
    'ftp://127.0.0.1/',
    'file:///tmp/x',
    'not a url',
    '/relative',
    'ws://127.0.0.1/#frag',
    'ws://127.0.0.1/#',
    'http://127.0.0.1/#x',
  ]) {
    test(`URL ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => new WebSocket(bad),
        (e: unknown) => e instanceof DOMException && e.name === 'SyntaxError',
      );
    });
  }

  for (const [name, protocols] of [
    ['duplicate', ['a', 'b', 'a']],
    ['empty string', ['']],
    ['space', ['a b']],
    ['separator', ['a,b']],
    ['non-ASCII', ['é']],
    ['string with space', 'x y'],
  ] as const) {
    test(`subprotocols: ${name}`, () => {
      assert.throws(
        () => new WebSocket('ws://127.0.0.1:1/', protocols as string | string[]),
        (e: unknown) => e instanceof DOMException && e.name === 'SyntaxError',
      );
    });
  }

  test('no argument is a TypeError', () => {
    assert.throws(() => new (WebSocket as unknown as new () => WebSocket)(), TypeError);
  });
});

describe('messages through a ws echo server', () => {
  test('text (UTF-8), binary, empty text and empty binary, both ways', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    ws.binaryType = 'nodebuffer';
    ws.send('héllo ✓ 𝄞');
    assert.equal((await w.message()).data, 'héllo ✓ 𝄞');
    ws.send(new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual((await w.message()).data, Buffer.from([0, 1, 2, 255]));
    ws.send('');
    assert.equal((await w.message()).data, '');
    ws.send(new ArrayBuffer(0));
    const empty = (await w.message()).data;
    assert.ok(Buffer.isBuffer(empty));
    assert.equal(empty.length, 0);
    ws.close();
    await w.closed();
  });

  test('16 MiB binary and 16 MiB text, both ways', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    ws.binaryType = 'arraybuffer';
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    ws.send(big);
    const back = (await w.message()).data as ArrayBuffer;
    assert.ok(back instanceof ArrayBuffer);
    assert.equal(back.byteLength, big.length);
    assert.ok(Buffer.from(back).equals(big), '16 MiB binary echoed intact');
    const text = 'abcdefgh'.repeat(2 * 1024 * 1024);
    ws.send(text);
    const backText = (await w.message()).data;
    assert.equal(typeof backText, 'string');
    assert.equal(backText.length, text.length);
    assert.ok(backText === text, '16 MiB text echoed intact');
    ws.close();
    await w.closed();
  });

  test('ArrayBuffer, typed array views with an offset, DataView, Blob and other values', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    ws.binaryType = 'nodebuffer';
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    ws.send(new Uint8Array(backing.buffer, 2, 3));
    assert.deepEqual((await w.message()).data, Buffer.from([1, 2, 3]));
    ws.send(new DataView(backing.buffer, 1, 2));
    assert.deepEqual((await w.message()).data, Buffer.from([9, 1]));
    ws.send(new Uint16Array([0x0102]).buffer);
    assert.equal(((await w.message()).data as Buffer).length, 2);
    ws.send(new Blob(['blob ', 'parts']));
    assert.deepEqual((await w.message()).data, Buffer.from('blob parts'));
    // WebIDL: a value that is none of the above is converted to a string.
    ws.send(42 as unknown as string);
    assert.equal((await w.message()).data, '42');
    ws.close();
    await w.closed();
  });

  test('a Blob keeps its place in the order of messages, and close() waits for it', async (t) => {
    const s = await startWss(t);
    const got: string[] = [];
    let closeCode = 0;
    const peerClosed = new Promise<void>((resolve) => {
      s.wss.on('connection', (peer) => {
        peer.on('message', (data, isBinary) => got.push(`${isBinary ? 'b' : 't'}:${data.toString()}`));
        peer.on('close', (code) => {
          closeCode = code;
          resolve();
        });
      });
    });
    const { ws, w } = await connect(s.url);
    ws.send(new Blob(['one']));
    ws.send('two');
    ws.send(new Uint8Array([0x33]));
    ws.send(new Blob(['four']));
    ws.close(4000);
    await bounded(peerClosed, 'server close');
    assert.deepEqual(got, ['b:one', 't:two', 'b:3', 'b:four']);
    assert.equal(closeCode, 4000);
    await w.closed();
  });

  test('binaryType: blob by default, arraybuffer, nodebuffer; unknown values are ignored', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    const bytes = new Uint8Array([1, 2, 3, 4]);
    ws.send(bytes);
    const blob = (await w.message()).data;
    assert.ok(blob instanceof Blob);
    assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), bytes);
    ws.binaryType = 'arraybuffer';
    ws.send(bytes);
    const ab = (await w.message()).data;
    assert.ok(ab instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(ab), bytes);
    ws.binaryType = 'nodebuffer';
    ws.send(bytes);
    const buf = (await w.message()).data;
    assert.ok(Buffer.isBuffer(buf));
    assert.deepEqual(new Uint8Array(buf), bytes);
    ws.binaryType = 'bogus' as 'blob';
    assert.equal(ws.binaryType, 'nodebuffer');
    // Text is a string whatever the binaryType.
    ws.send('text');
    assert.equal((await w.message()).data, 'text');
    ws.close();
    await w.closed();
  });

  test('MessageEvent carries the origin of the URL', async (t) => {
    const { url, port } = await startEcho(t);
    const { ws, w } = await connect(`${url}/some/path`);
    ws.send('o');
    const m = await w.message();
    assert.ok(m instanceof MessageEvent);
    assert.equal(m.origin, `ws://127.0.0.1:${port}`);
    ws.close();
    await w.closed();
  });

  test('bufferedAmount counts what send() queued in this task, then drains to 0', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    ws.send('12345');
    ws.send(new Uint8Array(3));
    assert.equal(ws.bufferedAmount, 8);
    // Both echoes back: the bytes have left this socket.
    await w.message();
    await w.message();
    assert.equal(ws.bufferedAmount, 0);
    ws.close();
    await w.closed();
  });
});

describe('event handler attributes', () => {
  test('on* attributes: one handler per type, replaceable, null removes; listeners also run', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    const calls: string[] = [];
    ws.addEventListener('message', () => calls.push('listener'));
    ws.onmessage = () => calls.push('first');
    ws.onmessage = function (this: WebSocket, e: MessageEvent) {
      assert.equal(this, ws);
      calls.push(`second:${e.data}`);
    };
    assert.equal(typeof ws.onmessage, 'function');
    ws.send('a');
    await w.message();
    ws.onmessage = null;
    assert.equal(ws.onmessage, null);
    ws.send('b');
    await w.message();
    assert.deepEqual(calls, ['listener', 'second:a', 'listener']);
    let opened = 0;
    ws.onopen = () => opened++;
    ws.dispatchEvent(new Event('open'));
    assert.equal(opened, 1);
    const closeSeen: number[] = [];
    ws.onclose = (e) => closeSeen.push(e.code);
    ws.close(1000);
    await w.closed();
    assert.deepEqual(closeSeen, [1000]);
  });
});

describe('closing', () => {
  test('client close(code, reason): server sees them; close event echoes them; wasClean', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { ws, w } = await connect(s.url);
    const peer = await peerP;
    const serverSaw = new Promise<[number, string]>((resolve) =>
      peer.on('close', (code, reason) => resolve([code, reason.toString()])),
    );
    ws.close(4001, 'done ✓');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    ws.close(4002, 'ignored'); // CLOSING: does nothing
    const e = await w.closed();
    assert.deepEqual(await bounded(serverSaw, 'server close'), [4001, 'done ✓']);
    assert.ok(e instanceof CloseEvent);
    assert.equal(e.code, 4001);
    assert.equal(e.reason, 'done ✓');
    assert.equal(e.wasClean, true);
    assert.equal(ws.readyState, WebSocket.CLOSED);
    assert.deepEqual(w.log, ['open', 'close 4001']);
  });

  test('close() without arguments sends an empty close frame (1005 both sides)', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { ws, w } = await connect(s.url);
    const peer = await peerP;
    const serverSaw = new Promise<number>((resolve) => peer.on('close', (code) => resolve(code)));
    ws.close();
    const e = await w.closed();
    assert.equal(await bounded(serverSaw, 'server close'), 1005);
    assert.equal(e.code, 1005);
    assert.equal(e.wasClean, true);
  });

  test('close(undefined, reason) sends code 1000 with the reason', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { ws, w } = await connect(s.url);
    const peer = await peerP;
    const serverSaw = new Promise<[number, string]>((resolve) =>
      peer.on('close', (code, reason) => resolve([code, reason.toString()])),
    );
    ws.close(undefined, 'why');
    assert.deepEqual(await bounded(serverSaw, 'server close'), [1000, 'why']);
    assert.equal((await w.closed()).code, 1000);
  });

  test('server close(code, reason): close event with them, wasClean, no error', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { ws, w } = await connect(s.url);
    (await peerP).close(4002, 'server bye');
    const e = await w.closed();
    assert.equal(e.code, 4002);
    assert.equal(e.reason, 'server bye');
    assert.equal(e.wasClean, true);
    assert.deepEqual(w.log, ['open', 'close 4002']);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('server close without a code: 1005', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { w } = await connect(s.url);
    (await peerP).close();
    const e = await w.closed();
    assert.equal(e.code, 1005);
    assert.equal(e.reason, '');
    assert.equal(e.wasClean, true);
  });

  test('server drops the TCP connection: 1006, not clean, no error event', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { ws, w } = await connect(s.url);
    (await peerP).terminate();
    const e = await w.closed();
    assert.equal(e.code, 1006);
    assert.equal(e.wasClean, false);
    assert.deepEqual(w.log, ['open', 'close 1006']);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('messages arriving after close() are not delivered (readyState is CLOSING)', async (t) => {
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      r.until((f) => f.opcode === 8, 'client close').then(
        () => {
          socket.write(Buffer.concat([serverFrame(1, 'late'), serverFrame(8, closeBody(1000))]));
          socket.end();
        },
        () => {},
      );
    });
    const { ws, w } = await connect(url);
    ws.close(1000);
    const e = await w.closed();
    assert.deepEqual(w.log, ['open', 'close 1000']);
    assert.equal(e.wasClean, true);
  });

  test('send() after close() adds to bufferedAmount and sends nothing', async (t) => {
    const s = await startWss(t);
    const got: string[] = [];
    s.wss.on('connection', (peer) => peer.on('message', (d) => got.push(d.toString())));
    const { ws, w } = await connect(s.url);
    ws.send('before');
    ws.close(1000);
    const before = ws.bufferedAmount;
    ws.send('abcd');
    ws.send(new Uint8Array(10));
    ws.send(new Blob(['xyz']));
    assert.equal(ws.bufferedAmount, before + 17);
    await w.closed();
    ws.send('é');
    assert.ok(ws.bufferedAmount >= 19);
    assert.deepEqual(got, ['before']);
  });

  test('close timeout: server echoes the close frame but keeps TCP open → destroyed; clean', async (t) => {
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      r.until((f) => f.opcode === 8, 'client close').then(
        (f) => socket.write(serverFrame(8, f.payload)),
        () => {},
      );
    });
    const { ws, w } = await connect(url, [], { closeTimeout: 100 });
    ws.close(3000, 'x');
    const e = await w.closed();
    assert.equal(e.code, 3000);
    assert.equal(e.reason, 'x');
    assert.equal(e.wasClean, true);
  });

  test('close timeout: server never answers the close frame → 1006, not clean', async (t) => {
    const { url } = await startRaw(t, (socket, head) => {
      socket.write(switching(head), 'latin1');
    });
    const { ws, w } = await connect(url, [], { closeTimeout: 100 });
    ws.close(1000);
    const e = await w.closed();
    assert.equal(e.code, 1006);
    assert.equal(e.wasClean, false);
    assert.deepEqual(w.log, ['open', 'close 1006']);
  });
});

describe('close() argument checks', () => {
  test('InvalidAccessError for codes other than 1000 and 3000-4999; SyntaxError for reasons over 123 bytes', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    for (const code of [0, 999, 1001, 1005, 1006, 1011, 2999, 5000, 65535, Number.NaN]) {
      assert.throws(
        () => ws.close(code),
        (e: unknown) => e instanceof DOMException && e.name === 'InvalidAccessError',
        `code ${code}`,
      );
    }
    assert.throws(
      () => ws.close(1000, 'x'.repeat(124)),
      (e: unknown) => e instanceof DOMException && e.name === 'SyntaxError',
    );
    // 62 × 'é' is 124 bytes in UTF-8 though only 62 characters.
    assert.throws(
      () => ws.close(1000, 'é'.repeat(62)),
      (e: unknown) => e instanceof DOMException && e.name === 'SyntaxError',
    );
    // The refused calls left the connection open.
    assert.equal(ws.readyState, WebSocket.OPEN);
    const peerCode = new Promise<[number, string]>((resolve) => {
      ws.addEventListener('close', (e) => resolve([e.code, e.reason]));
    });
    // 123 bytes is allowed; [Clamp]: 3000.4 is 3000.
    ws.close(3000.4, `${'é'.repeat(61)}x`);
    assert.deepEqual(await bounded(peerCode, 'close'), [3000, `${'é'.repeat(61)}x`]);
    await w.closed();
    // Arguments are checked even when there is nothing left to close.
    assert.throws(
      () => ws.close(1001),
      (e: unknown) => e instanceof DOMException && e.name === 'InvalidAccessError',
    );
  });
});

describe('while CONNECTING', () => {
  test('send() throws InvalidStateError; close() fails the connection: error then close 1006', async (t) => {
    const { url } = await startRaw(t, () => {
      // Never answers.
    });
    const ws = new WebSocket(url);
    const w = watch(ws);
    assert.throws(
      () => ws.send('x'),
      (e: unknown) => e instanceof DOMException && e.name === 'InvalidStateError',
    );
    assert.throws(
      () => ws.ping(),
      (e: unknown) => e instanceof DOMException && e.name === 'InvalidStateError',
    );
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const err = await assertFailedToOpen(w, ws);
    assert.ok(err.error instanceof HandshakeError);
  });
});

describe('handshake failures: error, then close 1006 (not clean), never open', () => {
  test('server answers 404', async (t) => {
    const { url } = await startWss(t, {
      verifyClient: (_info: unknown, cb: (ok: boolean, code?: number) => void) => cb(false, 404),
    });
    const ws = new WebSocket(url);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.ok(err.error instanceof HandshakeError);
    assert.equal((err.error as HandshakeError).status, 404);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_STATUS');
  });

  test('wrong Sec-WebSocket-Accept', async (t) => {
    const { url } = await startRaw(t, (socket) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
      );
    });
    const ws = new WebSocket(url);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_ACCEPT');
  });

  test('a subprotocol that was not offered (ws server)', async (t) => {
    const { url } = await startWss(t, { handleProtocols: () => 'other' });
    const ws = new WebSocket(url, ['mine']);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_PROTOCOL');
    assert.equal(ws.protocol, '');
  });

  test('a subprotocol when none was offered (raw server)', async (t) => {
    const { url } = await startRaw(t, (socket, head) => {
      socket.write(switching(head, 'Sec-WebSocket-Protocol: chat\r\n'));
    });
    const ws = new WebSocket(url);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_PROTOCOL');
  });

  test('an extension that was not offered', async (t) => {
    const { url } = await startRaw(t, (socket, head) => {
      socket.write(switching(head, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    });
    const ws = new WebSocket(url);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_EXTENSIONS');
  });

  test('handshake timeout: the server never answers', async (t) => {
    const { url } = await startRaw(t, () => {});
    const ws = new WebSocket(url, [], { handshakeTimeout: 150 });
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_TIMEOUT');
  });

  test('the server closes before the response head is complete', async (t) => {
    const { url } = await startRaw(t, (socket) => {
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs');
    });
    const ws = new WebSocket(url);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_EOF');
  });

  test('a response head over 16 KiB', async (t) => {
    const { url } = await startRaw(t, (socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nX-Big: ${'a'.repeat(20000)}`);
    });
    const ws = new WebSocket(url);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as HandshakeError).code, 'ERR_WS_HANDSHAKE_RESPONSE');
  });

  test('connection refused', async () => {
    // Find a free port, then close it so nothing listens there.
    const server = net.createServer();
    await bounded(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())), 'listen');
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const err = await assertFailedToOpen(watch(ws), ws);
    assert.equal((err.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });
});

describe('frames from a raw server', () => {
  test('fragmented text and binary messages, with a ping between fragments answered by a pong', async (t) => {
    let pong: Promise<DecodedFrame> | undefined;
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      pong = r.until((f) => f.opcode === 0xa, 'pong');
      socket.write(
        Buffer.concat([
          serverFrame(1, 'hel', false),
          serverFrame(9, 'mid'),
          serverFrame(0, 'lo ', false),
          serverFrame(0, '✓', true),
          serverFrame(2, Buffer.from([1, 2]), false),
          serverFrame(0, Buffer.from([3]), true),
        ]),
      );
      r.until((f) => f.opcode === 8, 'client close').then(
        () => socket.end(serverFrame(8, closeBody(1000))),
        () => {},
      );
    });
    // The messages come right behind the 101: binaryType and listeners must be set before open.
    const ws = new WebSocket(url);
    ws.binaryType = 'nodebuffer';
    const w = watch(ws);
    const pings: string[] = [];
    ws.addEventListener('ping', (e) => pings.push(e.data.toString()));
    assert.equal((await w.message()).data, 'hello ✓');
    assert.deepEqual((await w.message()).data, Buffer.from([1, 2, 3]));
    const p = await bounded(pong!, 'pong');
    assert.equal(p.payload.toString(), 'mid');
    assert.equal(p.masked, true, 'client frames are masked');
    assert.deepEqual(pings, ['mid']);
    ws.close(1000);
    const e = await w.closed();
    assert.equal(e.wasClean, true);
  });

  test('a masked frame from the server: client sends close 1002, error, then close 1006', async (t) => {
    let clientClose: Promise<DecodedFrame> | undefined;
    let afterOpen: () => void = () => {};
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      clientClose = r.until((f) => f.opcode === 8, 'client close');
      clientClose.then(
        () => socket.end(),
        () => {},
      );
      afterOpen = () => socket.write(frame({ opcode: 1, payload: 'masked', mask: true }));
    });
    const { ws, w } = await connect(url);
    // The frame comes once the page has seen open.
    afterOpen();
    const e = await w.closed();
    const f = await clientClose!;
    assert.equal(f.payload.readUInt16BE(0), 1002);
    assert.deepEqual(w.log, ['open', 'error', 'close 1006']);
    assert.equal(e.wasClean, false);
    const err = w.errors[0]!.error;
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.closeCode, 1002);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('invalid UTF-8 in a text message: close 1007, error, close 1006', async (t) => {
    let clientClose: Promise<DecodedFrame> | undefined;
    let afterOpen: () => void = () => {};
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      clientClose = r.until((f) => f.opcode === 8, 'client close');
      clientClose.then(
        () => socket.end(),
        () => {},
      );
      afterOpen = () => socket.write(serverFrame(1, Buffer.from([0x68, 0xc3, 0x28])));
    });
    const { w } = await connect(url);
    // The frame comes once the page has seen open.
    afterOpen();
    const e = await w.closed();
    assert.equal((await clientClose!).payload.readUInt16BE(0), 1007);
    assert.deepEqual(w.log, ['open', 'error', 'close 1006']);
    assert.equal(e.wasClean, false);
  });

  test('a message over maxPayload: close 1009, error, close 1006', async (t) => {
    let clientClose: Promise<DecodedFrame> | undefined;
    let afterOpen: () => void = () => {};
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      clientClose = r.until((f) => f.opcode === 8, 'client close');
      clientClose.then(
        () => socket.end(),
        () => {},
      );
      afterOpen = () => socket.write(serverFrame(2, Buffer.alloc(11)));
    });
    const { w } = await connect(url, [], { maxPayload: 10 });
    // The frame comes once the page has seen open.
    afterOpen();
    await w.closed();
    assert.equal((await clientClose!).payload.readUInt16BE(0), 1009);
    assert.deepEqual(w.log, ['open', 'error', 'close 1006']);
  });

  test('server-initiated close over raw TCP: the client echoes the code and waits for the server to close', async (t) => {
    let echoed: Promise<DecodedFrame> | undefined;
    let afterOpen: () => void = () => {};
    const { url } = await startRaw(t, (socket, head, rest) => {
      socket.write(switching(head), 'latin1');
      const r = frameReader(socket, rest);
      echoed = r.until((f) => f.opcode === 8, 'client close');
      echoed.then(
        () => socket.end(),
        () => {},
      );
      afterOpen = () => socket.write(serverFrame(8, closeBody(4444, 'raw bye')));
    });
    const { w } = await connect(url);
    // The frame comes once the page has seen open.
    afterOpen();
    const e = await w.closed();
    const f = await echoed!;
    assert.equal(f.payload.readUInt16BE(0), 4444);
    assert.equal(e.code, 4444);
    assert.equal(e.reason, 'raw bye');
    assert.equal(e.wasClean, true);
  });
});

describe('ping and pong', () => {
  test('a ping from the ws server is answered with a pong carrying its data', async (t) => {
    const s = await startWss(t);
    const peerP = s.nextPeer();
    const { ws, w } = await connect(s.url);
    const peer = await peerP;
    const pong = new Promise<string>((resolve) => peer.once('pong', (d) => resolve(d.toString())));
    peer.ping('abc');
    assert.equal(await bounded(pong, 'pong at the server'), 'abc');
    ws.close();
    await w.closed();
  });

  test('ping() from the client: the server answers, a pong event follows', async (t) => {
    const { url } = await startEcho(t);
    const { ws, w } = await connect(url);
    const pong = new Promise<MessageEvent<Buffer>>((resolve) => ws.addEventListener('pong', (e) => resolve(e)));
    ws.ping('xyz');
    assert.equal((await bounded(pong, 'pong')).data.toString(), 'xyz');
    assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError);
    ws.close();
    await w.closed();
    ws.ping('after close: ignored');
  });
});

describe('wss: (TLS)', () => {
  test('echo over TLS with the tls option (ca, servername); an untrusted certificate fails the connection', async (t) => {
    const pair = makeCertificate();
    if (pair === null) {
      t.skip('openssl is not installed');
      return;
    }
    const server = https.createServer({ key: pair.key, cert: pair.cert });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
    await bounded(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())), 'https listen');
    t.after(async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as net.AddressInfo).port;

    const { ws, w } = await connect(`wss://127.0.0.1:${port}/secure`, [], {
      tls: { ca: pair.cert, servername: 'localhost' },
    });
    ws.send('over tls');
    assert.equal((await w.message()).data, 'over tls');
    ws.close(1000, 'tls bye');
    const e = await w.closed();
    assert.equal(e.code, 1000);
    assert.equal(e.wasClean, true);

    // https: maps to wss:; the certificate's IP address entry matches 127.0.0.1 (no SNI for an IP).
    const byIp = await connect(`https://127.0.0.1:${port}/`, [], { tls: { ca: pair.cert } });
    assert.equal(byIp.ws.url, `wss://127.0.0.1:${port}/`);
    byIp.ws.close();
    await byIp.w.closed();

    const untrusted = new WebSocket(`wss://127.0.0.1:${port}/`);
    const err = await assertFailedToOpen(watch(untrusted), untrusted);
    assert.match(String((err.error as NodeJS.ErrnoException).code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });
});
