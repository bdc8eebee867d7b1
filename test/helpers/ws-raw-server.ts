/**
 * A raw TCP WebSocket server for client conformance tests (the mirror of ws-raw-client.ts): it completes the
 * opening handshake by hand (checking the client's request, answering with the right Sec-WebSocket-Accept),
 * then lets a test script exactly what the server sends (any bytes, valid or not, unmasked as a server must or
 * masked to test the client's rejection, in chosen splits), records every frame the client sends (unmasked, with
 * its masking key, so that "every frame masked with a fresh key" can be checked), and how the client ended TCP.
 * Also the client side of a test: `openClient` opens our `WebSocket` to it and records the page-visible events,
 * and the assertions every section uses (`expectDelivered`, `expectClientFail`, `expectServerClose`).
 * Every wait is bounded; sockets, servers and clients are closed when the test ends.
 * Frames are built with test/helpers/ws-frames.ts (`frame`, `closeBody`).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocket, type WebSocketClientOptions } from '../../src/node/client.js';
import type { CloseEvent } from '../../src/node/events.js';
import { ioRoundTrip } from './net.js';
import { closeBody, type FrameSpec, frame, type StreamFrame, StreamFrameReader } from './ws-frames.js';
import { acceptFor, delay, describe, OP_BINARY, OP_CLOSE, OP_TEXT, WAIT_MS } from './ws-raw-client.js';

/** Largest request head the raw server reads. */
const MAX_REQUEST_HEAD = 16 * 1024;

/** A server frame: unmasked unless `spec.mask` says otherwise (RFC 6455 §5.1). */
export function sf(spec: FrameSpec): Buffer {
  return frame({ ...spec, mask: spec.mask ?? false });
}

/** A frame the client sent, unmasked, with its raw header and masking key. */
export type ClientFrame = StreamFrame;

/** Options of `startRawServer`. */
export interface RawServerOptions {
  /**
   * When the client's close frame arrives, close TCP as a server does (RFC 6455 §7.1.1), and also when the
   * client ends its side first. Default true. With false, the test decides when (`end()`).
   */
  autoClose?: boolean;
  /** Answer a client-initiated close frame with a close frame carrying the same code, before closing TCP. */
  echoClose?: boolean;
  /** Bytes written in the same write as the 101 response (frames that arrive with the handshake). */
  firstBytes?: Buffer;
}

/** Options of `RawServerConnection.write`. */
export interface WriteOptions {
  /** Bytes per write (default: all at once). */
  chunkSize?: number;
  /**
   * Wait between writes: ms, or 0 for one turn of the event loop (enough for the in-process client to read each
   * piece on its own). Without it, each write only waits for its callback (pieces may be read together).
   */
  gapMs?: number;
}

/** The server end of one client connection, after the 101. */
export class RawServerConnection {
  readonly socket: net.Socket;
  /** The client's request head (through the empty line), latin1. */
  readonly request: string;
  /** Request header fields, names lower-cased, repeated fields joined with ", ". */
  readonly headers: Map<string, string>;
  /** RFC 6455 §4.1 rules the client's request broke (checked by `openClient`). */
  readonly requestProblems: string[];
  /** The client ended its side (FIN), or the socket closed. */
  clientEnded: boolean;
  /** The client ended TCP before the server did (RFC 6455 §7.1.1: the server should close first). */
  clientEndedFirst: boolean;
  /** We ended (or destroyed) our side. */
  serverEnded: boolean;
  /** The socket is fully closed. */
  tcpClosed: boolean;
  /** A socket error seen (ECONNRESET, EPIPE). */
  error: NodeJS.ErrnoException | null;
  readonly #reader: StreamFrameReader;
  readonly #waiters: Set<() => void>;
  readonly #autoClose: boolean;
  readonly #echoClose: boolean;
  #closeHandled: boolean;

  /** @internal use `RawServer.nextConnection` */
  constructor(socket: net.Socket, request: string, rest: Buffer, options: RawServerOptions) {
    this.socket = socket;
    this.request = request;
    this.headers = parseHeaders(request);
    this.requestProblems = checkRequest(request, this.headers);
    this.clientEnded = false;
    this.clientEndedFirst = false;
    this.serverEnded = false;
    this.tcpClosed = false;
    this.error = null;
    this.#reader = new StreamFrameReader();
    this.#waiters = new Set();
    this.#autoClose = options.autoClose ?? true;
    this.#echoClose = options.echoClose ?? false;
    this.#closeHandled = false;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('end', () => {
      this.clientEnded = true;
      if (!this.serverEnded) this.clientEndedFirst = true;
      if (this.#autoClose) this.end();
      this.#notify();
    });
    socket.on('close', () => {
      this.clientEnded = true;
      this.tcpClosed = true;
      this.#notify();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
      this.#notify();
    });
    if (rest.length > 0) this.#onData(rest);
  }

  #onData(d: Buffer): void {
    this.#reader.push(d);
    if (this.#autoClose && !this.#closeHandled) {
      const close = this.closeFrame();
      if (close !== undefined) {
        this.#closeHandled = true;
        if (this.#echoClose && !this.socket.destroyed) {
          this.socket.write(sf({ opcode: OP_CLOSE, payload: close.payload.subarray(0, 2) }));
        }
        this.end();
      }
    }
    this.#notify();
  }

  #notify(): void {
    for (const w of this.#waiters) w();
  }

  /** Frames received from the client so far (a live array). */
  get frames(): ClientFrame[] {
    return this.#reader.frames;
  }

  /** The client's first close frame, if it sent one. */
  closeFrame(): ClientFrame | undefined {
    return this.frames.find((f) => f.opcode === OP_CLOSE);
  }

  /** Writes raw bytes (see `WriteOptions`). Writes nothing once the socket is gone. */
  async write(bytes: Buffer | Buffer[], options: WriteOptions = {}): Promise<void> {
    const all = Array.isArray(bytes) ? Buffer.concat(bytes) : bytes;
    const size = options.chunkSize ?? all.length;
    if (size >= all.length && options.gapMs === undefined) {
      if (!this.socket.destroyed && !this.serverEnded) this.socket.write(all);
      return;
    }
    for (let i = 0; i < all.length; i += size) {
      if (this.socket.destroyed || this.serverEnded) return;
      await new Promise<void>((resolve) => {
        this.socket.write(all.subarray(i, i + size), () => resolve());
      });
      if (options.gapMs === 0) await new Promise<void>((r) => setImmediate(r));
      else if (options.gapMs !== undefined) await delay(options.gapMs);
    }
  }

  /** Builds server frames (unmasked unless a spec says otherwise) and writes them in one write. */
  send(...specs: FrameSpec[]): Promise<void> {
    return this.write(specs.map(sf));
  }

  /** Waits until `predicate` holds (checked on every arrival), at most `timeoutMs`; resolves with whether it did. */
  waitUntil(predicate: () => boolean, timeoutMs = WAIT_MS): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (predicate()) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(ok);
      };
      this.#waiters.add(check);
    });
  }

  /** Waits for at least `n` frames from the client; fails the test if they do not come in time. */
  async waitFrames(n: number, timeoutMs = WAIT_MS): Promise<ClientFrame[]> {
    const ok = await this.waitUntil(() => this.frames.length >= n, timeoutMs);
    assert.ok(ok, `expected ${n} client frame(s) within ${timeoutMs} ms, got ${describe(this.frames)}`);
    return this.frames.slice(0, n);
  }

  /** Waits for the client's close frame; fails the test if none comes in time. */
  async waitCloseFrame(timeoutMs = WAIT_MS): Promise<ClientFrame> {
    await this.waitUntil(() => this.closeFrame() !== undefined, timeoutMs);
    const close = this.closeFrame();
    assert.ok(close, `expected a close frame from the client within ${timeoutMs} ms, got ${describe(this.frames)}`);
    return close;
  }

  /** Waits for the client to end TCP (bounded); resolves with whether it did. */
  waitClientEnd(timeoutMs = WAIT_MS): Promise<boolean> {
    return this.waitUntil(() => this.clientEnded, timeoutMs);
  }

  /** Closes our side of TCP (FIN), as a server does after the close handshake (RFC 6455 §7.1.1). */
  end(): void {
    if (this.serverEnded) return;
    this.serverEnded = true;
    this.socket.end();
  }

  /** Destroys the socket (idempotent). */
  destroy(): void {
    this.serverEnded = true;
    this.socket.destroy();
  }

  /**
   * RFC 6455 §5.3: every client frame is masked, and the masking key is "freshly and randomly" chosen for each
   * frame (checked as: no two frames of this connection share a key).
   */
  assertMasking(): void {
    const seen = new Set<string>();
    this.frames.forEach((f, i) => {
      assert.ok(f.maskKey !== null, `RFC 6455 §5.1: client frame ${i} is not masked: ${describe(this.frames)}`);
      const key = f.maskKey.toString('hex');
      assert.ok(!seen.has(key), `RFC 6455 §5.3: masking key ${key} of frame ${i} was used before`);
      seen.add(key);
    });
  }
}

/** A raw server on 127.0.0.1:0. */
export interface RawServer {
  port: number;
  /** `ws://127.0.0.1:<port>/` */
  url: string;
  /** Every connection that completed the handshake, in order. */
  connections: RawServerConnection[];
  /** The next connection to complete the handshake (bounded). */
  nextConnection(timeoutMs?: number): Promise<RawServerConnection>;
}

/** Starts a raw WebSocket server; its sockets are destroyed and it is closed when the test ends. */
export async function startRawServer(t: TestContext, options: RawServerOptions = {}): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const connections: RawServerConnection[] = [];
  let taken = 0;
  const waiters = new Set<() => void>();
  // allowHalfOpen: a FIN from the client does not close our side, so that who closed first can be seen.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      size += chunk.length;
      const all = Buffer.concat(parts, size);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (size > MAX_REQUEST_HEAD) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const request = all.toString('latin1', 0, end + 4);
      const key = parseHeaders(request).get('sec-websocket-key') ?? '';
      const response = Buffer.from(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        'latin1',
      );
      const conn = new RawServerConnection(socket, request, all.subarray(end + 4), options);
      socket.write(options.firstBytes === undefined ? response : Buffer.concat([response, options.firstBytes]));
      connections.push(conn);
      for (const w of waiters) w();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    connections,
    nextConnection(timeoutMs = WAIT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (connections.length <= taken) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(connections[taken++] as RawServerConnection);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no client handshake within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

function parseHeaders(head: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return headers;
}

/** The client's opening handshake against RFC 6455 §4.1 (items 1-9 of the request requirements). */
function checkRequest(head: string, headers: Map<string, string>): string[] {
  const problems: string[] = [];
  if (!/^GET \S+ HTTP\/1\.1\r\n/.test(head)) problems.push(`request line: ${JSON.stringify(head.split('\r\n')[0])}`);
  if (!headers.has('host')) problems.push('no Host');
  if (headers.get('upgrade')?.toLowerCase() !== 'websocket') problems.push('Upgrade is not websocket');
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get('connection') ?? '')) problems.push('Connection lacks Upgrade');
  if (headers.get('sec-websocket-version') !== '13') problems.push('Sec-WebSocket-Version is not 13');
  const key = headers.get('sec-websocket-key') ?? '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key) || Buffer.from(key, 'base64').length !== 16) {
    problems.push(`Sec-WebSocket-Key is not 16 base64-encoded bytes: ${JSON.stringify(key)}`);
  }
  return problems;
}

// ── the client side ────────────────────────────────────────────────────────────────────────────────────────

/** One page-visible event, with the readyState seen by its listener. Text as string, binary as Buffer. */
export type ClientEvent =
  | { type: 'open'; readyState: number }
  | { type: 'message'; data: string | Buffer; readyState: number }
  | { type: 'ping' | 'pong'; data: Buffer; readyState: number }
  | { type: 'error'; error: unknown; readyState: number }
  | { type: 'close'; code: number; reason: string; wasClean: boolean; readyState: number };

/** Records every event of a `WebSocket` in order, with bounded waits. */
export class EventRecorder {
  readonly events: ClientEvent[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(ws: WebSocket) {
    const push = (e: ClientEvent) => {
      this.events.push(e);
      for (const w of this.#waiters) w();
    };
    ws.addEventListener('open', () => push({ type: 'open', readyState: ws.readyState }));
    ws.addEventListener('message', (e) => {
      const d: unknown = e.data;
      const data = typeof d === 'string' ? d : Buffer.from(d as ArrayBuffer);
      push({ type: 'message', data, readyState: ws.readyState });
    });
    ws.addEventListener('ping', (e) => push({ type: 'ping', data: Buffer.from(e.data), readyState: ws.readyState }));
    ws.addEventListener('pong', (e) => push({ type: 'pong', data: Buffer.from(e.data), readyState: ws.readyState }));
    ws.addEventListener('error', (e) => push({ type: 'error', error: e.error, readyState: ws.readyState }));
    ws.addEventListener('close', (e: CloseEvent) =>
      push({ type: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean, readyState: ws.readyState }),
    );
  }

  /** Event types in order, without the Node extras (`ping`, `pong`). */
  types(): string[] {
    return this.events.filter((e) => e.type !== 'ping' && e.type !== 'pong').map((e) => e.type);
  }

  /** The data of every `message` event, in order. */
  messages(): (string | Buffer)[] {
    const out: (string | Buffer)[] = [];
    for (const e of this.events) if (e.type === 'message') out.push(e.data);
    return out;
  }

  /** The `close` event, if fired. */
  closeEvent(): Extract<ClientEvent, { type: 'close' }> | undefined {
    for (const e of this.events) if (e.type === 'close') return e;
    return undefined;
  }

  /** A short summary for assertion messages. */
  summary(): string {
    return this.events
      .map((e) => {
        if (e.type === 'message') return `message(${typeof e.data === 'string' ? 'text' : 'binary'} ${e.data.length})`;
        if (e.type === 'close') return `close(${e.code} ${JSON.stringify(e.reason)} clean=${e.wasClean})`;
        if (e.type === 'error') return `error(${e.error instanceof Error ? e.error.message : String(e.error)})`;
        return e.type;
      })
      .join(', ');
  }

  waitUntil(predicate: () => boolean, timeoutMs = WAIT_MS): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (predicate()) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(ok);
      };
      this.#waiters.add(check);
    });
  }

  /** Waits for `n` message events; fails the test if they do not come in time. */
  async waitMessages(n: number, timeoutMs = WAIT_MS): Promise<(string | Buffer)[]> {
    const ok = await this.waitUntil(() => this.messages().length >= n, timeoutMs);
    assert.ok(ok, `expected ${n} message(s) within ${timeoutMs} ms; events: ${this.summary()}`);
    return this.messages();
  }

  /** Waits for the `close` event; fails the test if it does not come in time. */
  async waitClose(timeoutMs = WAIT_MS): Promise<Extract<ClientEvent, { type: 'close' }>> {
    await this.waitUntil(() => this.closeEvent() !== undefined, timeoutMs);
    const close = this.closeEvent();
    assert.ok(close, `expected a close event within ${timeoutMs} ms; events: ${this.summary()}`);
    return close;
  }
}

/** Our client connected to a raw server: the page's object, the server's end, and the page's events. */
export interface ClientUnderTest {
  ws: WebSocket;
  conn: RawServerConnection;
  events: EventRecorder;
}

/** Options of `openClient`. */
export interface OpenOptions {
  /** Node options of the client (maxPayload, closeTimeout, ...). */
  client?: WebSocketClientOptions;
  /** The page sends every message it gets back (`ws.send(e.data)`), as an Autobahn test client does. */
  echo?: boolean;
}

/**
 * Opens our `WebSocket` (binaryType `arraybuffer`) to `server`, checks its opening handshake request, and
 * resolves once the page got `open`.
 */
export async function openClient(
  t: TestContext,
  server: RawServer,
  options: OpenOptions = {},
): Promise<ClientUnderTest> {
  const ws = new WebSocket(server.url, [], options.client);
  ws.binaryType = 'arraybuffer';
  const events = new EventRecorder(ws);
  if (options.echo === true) ws.addEventListener('message', (e) => ws.send(e.data as string | ArrayBuffer));
  const conn = await server.nextConnection();
  t.after(() => conn.destroy());
  assert.deepEqual(conn.requestProblems, [], `RFC 6455 §4.1 opening handshake:\n${conn.request}`);
  const opened = await events.waitUntil(() => events.events.length > 0);
  assert.ok(opened, 'no open event');
  // Frames sent with the 101 may already have been delivered, after `open`.
  assert.deepEqual(events.events[0], { type: 'open', readyState: WebSocket.OPEN }, events.summary());
  return { ws, conn, events };
}

/** A frame the client is expected to have sent: opcode and (unmasked) payload; fin defaults to true. */
export interface ExpectedFrame {
  opcode: number;
  payload: Buffer | string;
  fin?: boolean;
}

/** Asserts a client frame: masked, RSV clear, minimal length encoding, and the expected opcode/fin/payload. */
export function assertClientFrame(f: ClientFrame, e: ExpectedFrame, what: string): void {
  assert.ok(f.masked, `${what}: RFC 6455 §5.1: a client MUST mask every frame`);
  assert.deepEqual([f.rsv1, f.rsv2, f.rsv3], [false, false, false], `${what}: RSV1-3 clear (no extension)`);
  assert.equal(f.opcode, e.opcode, `${what} opcode`);
  assert.equal(f.fin, e.fin ?? true, `${what} fin`);
  const want = typeof e.payload === 'string' ? Buffer.from(e.payload) : e.payload;
  const len = want.length;
  assert.equal(f.header.length, len < 126 ? 2 : len < 65536 ? 4 : 10, `${what}: RFC 6455 §5.2 minimal length`);
  if (want.length > 4096) {
    assert.equal(f.payload.length, want.length, `${what} payload length`);
    assert.ok(f.payload.equals(want), `${what} payload differs`);
  } else {
    assert.deepEqual(f.payload, want, `${what} payload`);
  }
}

/** Asserts that the client sent exactly `expected` frames (masked, fresh keys) and nothing else. */
export function assertClientFrames(conn: RawServerConnection, expected: ExpectedFrame[]): void {
  const got = conn.frames;
  assert.equal(got.length, expected.length, `client frames: ${describe(got)}`);
  for (let i = 0; i < expected.length; i++) {
    assertClientFrame(got[i] as ClientFrame, expected[i] as ExpectedFrame, `client frame ${i} of ${describe(got)}`);
  }
  conn.assertMasking();
}

function sameMessage(got: string | Buffer | undefined, want: string | Buffer, what: string): void {
  if (typeof want === 'string') {
    assert.equal(typeof got, 'string', `${what}: a text message`);
    if (want.length > 4096) assert.ok(got === want, `${what}: text differs (length ${got?.length})`);
    else assert.equal(got, want, what);
    return;
  }
  assert.ok(Buffer.isBuffer(got), `${what}: a binary message`);
  if (want.length > 4096) {
    assert.equal(got.length, want.length, `${what} length`);
    assert.ok(got.equals(want), `${what}: bytes differ`);
  } else {
    assert.deepEqual(got, want, what);
  }
}

/** Asserts the page's message events: exactly `expected` (text as string, binary as Buffer), in order. */
export function assertMessages(events: EventRecorder, expected: (string | Buffer)[]): void {
  const got = events.messages();
  assert.equal(got.length, expected.length, `messages; events: ${events.summary()}`);
  for (let i = 0; i < expected.length; i++) sameMessage(got[i], expected[i] as string | Buffer, `message ${i}`);
}

/**
 * The server starts the closing handshake with `code` and `reason`; asserts that the client echoes the code
 * (an empty close for 1005) and waits for the server to close TCP; the server then does, and the page gets
 * `close` with the server's code and reason, wasClean true, and no `error`. `sentBefore` are the frames the
 * client sent before its close frame.
 */
export async function expectServerClose(
  c: ClientUnderTest,
  code: number | null = 1000,
  reason = 'bye',
  sentBefore: ExpectedFrame[] = [],
): Promise<void> {
  const { conn, events } = c;
  await conn.send({ opcode: OP_CLOSE, payload: code === null ? Buffer.alloc(0) : closeBody(code, reason) });
  const echo = await conn.waitCloseFrame();
  // RFC 6455 §5.5.1: "the endpoint MUST send a Close frame in response ... (typically echoing the status code)".
  const echoed = echo.payload.length >= 2 ? echo.payload.readUInt16BE(0) : null;
  assert.equal(echoed, code, `echoed close code; client frames ${describe(conn.frames)}`);
  // The sentinel: a FIN the client sent with (or right after) its echo has arrived by the end of this round trip.
  await ioRoundTrip();
  assert.equal(conn.clientEndedFirst, false, 'RFC 6455 §7.1.1: the client waits for the server to close TCP');
  conn.end();
  const close = await events.waitClose();
  assert.deepEqual(
    { code: close.code, reason: close.reason, wasClean: close.wasClean, readyState: close.readyState },
    { code: code ?? 1005, reason: code === null ? '' : reason, wasClean: true, readyState: WebSocket.CLOSED },
    events.summary(),
  );
  assert.ok(!events.types().includes('error'), `no error event on a clean close: ${events.summary()}`);
  assert.equal(conn.clientEndedFirst, false, 'RFC 6455 §7.1.1: the server closed TCP first');
  assert.equal(await conn.waitClientEnd(), true, 'the client closes its side of TCP after the server');
  assertClientFrames(conn, [...sentBefore, { opcode: OP_CLOSE, payload: echo.payload }]);
}

/**
 * Writes `bytes` (server frames), waits for the page to get `expected` messages, and ends with a clean
 * server-initiated close (`expectServerClose`). `sent`: frames the client is expected to send before its close
 * echo (pongs, the page's echoes).
 */
export async function expectDelivered(
  c: ClientUnderTest,
  bytes: Buffer | Buffer[],
  expected: (string | Buffer)[],
  options: WriteOptions & { sent?: ExpectedFrame[]; timeoutMs?: number } = {},
): Promise<void> {
  const sent = options.sent ?? [];
  await c.conn.write(bytes, options);
  await c.events.waitMessages(expected.length, options.timeoutMs);
  if (sent.length > 0) await c.conn.waitFrames(sent.length, options.timeoutMs);
  assertMessages(c.events, expected);
  await expectServerClose(c, 1000, 'bye', sent);
}

/** Frames the echoing page sends back for `messages`. */
export function echoed(messages: (string | Buffer)[]): ExpectedFrame[] {
  return messages.map((m) => ({ opcode: typeof m === 'string' ? OP_TEXT : OP_BINARY, payload: m }));
}

/**
 * Writes `bytes` and expects the client to fail the connection (RFC 6455 §7.1.7): one close frame with `code`
 * (after only the `sent` frames) and nothing after it, waiting for the server to close TCP (§7.1.1); and on the
 * page (WHATWG "fail the WebSocket connection"): only the `before` messages, then `error`, then `close` with 1006,
 * wasClean false, readyState CLOSED at both.
 */
export async function expectClientFail(
  c: ClientUnderTest,
  bytes: Buffer | Buffer[],
  code: number,
  options: WriteOptions & { before?: (string | Buffer)[]; sent?: ExpectedFrame[] } = {},
): Promise<void> {
  const { conn, events } = c;
  await conn.write(bytes, options);
  const close = await conn.waitCloseFrame();
  const wire = close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
  assert.equal(
    wire,
    code,
    `close code on the wire; client frames ${describe(conn.frames)}; events ${events.summary()}`,
  );
  // RFC 6455 §5.5.1: the reason, if any, is UTF-8 and the payload at most 125 bytes.
  assert.ok(close.payload.length <= 125);
  const reason = close.payload.subarray(2);
  assert.ok(Buffer.from(reason.toString('utf8')).equals(reason), 'close reason is UTF-8');
  const ev = await events.waitClose();
  assert.deepEqual(
    { code: ev.code, reason: ev.reason, wasClean: ev.wasClean, readyState: ev.readyState },
    { code: 1006, reason: '', wasClean: false, readyState: WebSocket.CLOSED },
    `WHATWG: fail the WebSocket connection → close 1006, not clean; events ${events.summary()}`,
  );
  const before = options.before ?? [];
  assert.deepEqual(events.types(), ['open', ...before.map(() => 'message'), 'error', 'close'], events.summary());
  assertMessages(events, before);
  const error = events.events.find((e) => e.type === 'error');
  assert.equal(error?.readyState, WebSocket.CLOSED, 'readyState is CLOSED when error fires');
  assert.equal(c.ws.readyState, WebSocket.CLOSED);
  assert.equal(conn.clientEndedFirst, false, 'RFC 6455 §7.1.1: the failing client waits for the server to close TCP');
  assertClientFrames(conn, [...(options.sent ?? []), { opcode: OP_CLOSE, payload: close.payload }]);
}
