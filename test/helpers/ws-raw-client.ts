/**
 * A raw TCP WebSocket client for server conformance tests: it does the opening handshake by hand, writes
 * arbitrary (possibly invalid) bytes in chosen splits, decodes every frame the server sends, and reports how
 * the server closed (close frame code and reason, TCP end). Every wait is bounded.
 * Frames are built with test/helpers/ws-frames.ts (`frame`, `closeBody`).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { type DecodedFrame, type StreamFrame, StreamFrameReader } from './ws-frames.js';

export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Default bound of every wait, in ms. */
export const WAIT_MS = 3000;

/** `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2 step 5.4). */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

/** A fresh random 4-byte masking key (RFC 6455 §5.3: unpredictable per frame). */
export function randomMask(): Buffer {
  return randomBytes(4);
}

/** The parsed response to the opening handshake. */
export interface HandshakeResponse {
  status: number;
  /** Header names lower-cased; repeated fields joined with ", ". */
  headers: Map<string, string>;
  /** The raw head, up to and including the empty line. */
  head: string;
}

/** How the server ended the connection, as seen by the client. */
export interface CloseOutcome {
  /** Close code of the server's close frame; 1005 for an empty one; null when none came. */
  code: number | null;
  reason: string;
  /** Raw payload of the server's close frame (null when none came). */
  payload: Buffer | null;
  /** The server closed TCP (FIN or reset) within the wait. */
  tcpClosed: boolean;
  /** Every frame received, close frame included. */
  frames: RawFrame[];
}

/** Options of `connectRaw`. */
export interface ConnectOptions {
  path?: string;
  key?: string;
  /** Extra request header lines, e.g. `['Sec-WebSocket-Protocol: chat']`. */
  headers?: string[];
  /** Bytes sent in the same write as the handshake request (frames that arrive with it). */
  head?: Buffer;
  timeoutMs?: number;
}

/** A frame received from the server, with its raw header (to check the length encoding and RSV2/RSV3). */
export type RawFrame = StreamFrame;

/** A raw client connection after a successful (101) handshake. */
export class RawWsClient {
  readonly socket: net.Socket;
  readonly response: HandshakeResponse;
  readonly #reader: StreamFrameReader;
  /** The server ended its side (FIN), or the socket was reset / closed. */
  tcpClosed: boolean;
  /** A socket error seen (ECONNRESET, EPIPE after the server closed). */
  error: NodeJS.ErrnoException | null;
  #waiters: Set<() => void>;

  /** @internal use `connectRaw` */
  constructor(socket: net.Socket, response: HandshakeResponse, rest: Buffer) {
    this.socket = socket;
    this.response = response;
    this.#reader = new StreamFrameReader();
    this.tcpClosed = false;
    this.error = null;
    this.#waiters = new Set();
    socket.on('data', (d: Buffer) => {
      this.#reader.push(d);
      this.#notify();
    });
    socket.on('end', () => {
      this.tcpClosed = true;
      // The server closed first (RFC 6455 §7.1.1); close our side too.
      socket.end();
      this.#notify();
    });
    socket.on('close', () => {
      this.tcpClosed = true;
      this.#notify();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
      this.tcpClosed = true;
      this.#notify();
    });
    if (rest.length > 0) this.#reader.push(rest);
  }

  /** Frames received so far (a live array). */
  get frames(): RawFrame[] {
    return this.#reader.frames;
  }

  #notify(): void {
    for (const w of this.#waiters) w();
  }

  /**
   * Writes bytes: all at once, or `chunkSize` bytes per write. With `gapMs`, waits between writes (so that the
   * server really receives the pieces in separate reads); otherwise waits for each write to be flushed.
   */
  async write(bytes: Buffer | Buffer[], options: { chunkSize?: number; gapMs?: number } = {}): Promise<void> {
    const all = Array.isArray(bytes) ? Buffer.concat(bytes) : bytes;
    const size = options.chunkSize ?? all.length;
    if (size >= all.length && options.gapMs === undefined) {
      if (!this.socket.destroyed) this.socket.write(all);
      return;
    }
    for (let i = 0; i < all.length; i += size) {
      if (this.socket.destroyed) return;
      await new Promise<void>((resolve) => {
        this.socket.write(all.subarray(i, i + size), () => resolve());
      });
      if (options.gapMs !== undefined) await delay(options.gapMs);
    }
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

  /** Waits for at least `n` frames in total; fails the test if they do not come in time. */
  async waitFrames(n: number, timeoutMs = WAIT_MS): Promise<RawFrame[]> {
    const ok = await this.waitUntil(() => this.frames.length >= n, timeoutMs);
    assert.ok(ok, `expected ${n} frame(s) within ${timeoutMs} ms, got ${this.frames.length}: ${describe(this.frames)}`);
    return this.frames.slice(0, n);
  }

  /** Waits for a close frame from the server (not for TCP), bounded. */
  async waitCloseFrame(timeoutMs = WAIT_MS): Promise<CloseOutcome> {
    await this.waitUntil(() => this.frames.some((f) => f.opcode === OP_CLOSE) || this.tcpClosed, timeoutMs);
    return this.outcome();
  }

  /** Waits for the server to close TCP (bounded), then reports its close frame if any. */
  async waitClosed(timeoutMs = WAIT_MS): Promise<CloseOutcome> {
    await this.waitUntil(() => this.tcpClosed, timeoutMs);
    return this.outcome();
  }

  /** What happened so far. */
  outcome(): CloseOutcome {
    const close = this.frames.find((f) => f.opcode === OP_CLOSE);
    let code: number | null = null;
    let reason = '';
    if (close !== undefined) {
      code = close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
      reason = close.payload.subarray(2).toString('utf8');
    }
    return {
      code,
      reason,
      payload: close === undefined ? null : close.payload,
      tcpClosed: this.tcpClosed,
      frames: this.frames.slice(),
    };
  }

  /** Destroys the socket (idempotent). */
  destroy(): void {
    this.socket.destroy();
  }
}

/** A readable summary of frames for assertion messages. */
export function describe(frames: readonly DecodedFrame[]): string {
  return `[${frames
    .map((f) => {
      const p =
        f.opcode === OP_CLOSE && f.payload.length >= 2
          ? `${f.payload.readUInt16BE(0)} ${JSON.stringify(f.payload.subarray(2).toString())}`
          : `${f.payload.length}B`;
      return `op${f.opcode}${f.fin ? '' : '(nofin)'}:${p}`;
    })
    .join(', ')}]`;
}

/** The handshake request text for `key` (RFC 6455 §4.1). */
export function handshakeRequest(port: number, options: ConnectOptions = {}): string {
  const key = options.key ?? randomBytes(16).toString('base64');
  const lines = [
    `GET ${options.path ?? '/'} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...(options.headers ?? []),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Parses a response head (through the empty line). */
export function parseResponseHead(head: string): HandshakeResponse {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
  assert.ok(m, `not an HTTP/1.1 status line: ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return { status: Number(m[1]), headers, head };
}

/**
 * Connects, sends the handshake, and resolves with a client once the 101 arrived (asserting status and
 * `Sec-WebSocket-Accept`). The socket is destroyed when the test ends if `track` is given.
 */
export function connectRaw(port: number, options: ConnectOptions = {}, track?: RawWsClient[]): Promise<RawWsClient> {
  const key = options.key ?? randomBytes(16).toString('base64');
  const req = handshakeRequest(port, { ...options, key });
  const timeoutMs = options.timeoutMs ?? WAIT_MS;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const parts: Buffer[] = [];
    const timer = setTimeout(() => fail(new Error(`no handshake response within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const onData = (d: Buffer) => {
      parts.push(d);
      const all = Buffer.concat(parts);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onEarlyClose);
      const response = parseResponseHead(all.subarray(0, end + 4).toString('latin1'));
      if (response.status !== 101) {
        socket.destroy();
        reject(new Error(`handshake refused: ${response.head}`));
        return;
      }
      try {
        assert.equal(response.headers.get('sec-websocket-accept'), acceptFor(key), 'Sec-WebSocket-Accept');
      } catch (e) {
        socket.destroy();
        reject(e);
        return;
      }
      const client = new RawWsClient(socket, response, all.subarray(end + 4));
      track?.push(client);
      resolve(client);
    };
    const onEarlyClose = () => fail(new Error('connection closed before the handshake response'));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onEarlyClose);
    socket.on('connect', () => {
      socket.write(options.head !== undefined ? Buffer.concat([Buffer.from(req, 'latin1'), options.head]) : req);
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A response head read off a raw connection, and whether the server then closed it. */
export interface HeadResult {
  response: HandshakeResponse;
  /** The whole response text received (head and body), latin1. */
  text: string;
  /** The server closed the connection (only waited for after `Connection: close`). */
  closed: boolean;
}

/**
 * Writes `request` (a string, or pieces written `gapMs` apart) and resolves as soon as the response head is in;
 * for a response with `Connection: close`, it also waits (bounded) for the server to close the connection. The socket is
 * destroyed before it resolves.
 */
export function requestHead(
  port: number,
  request: string | Buffer[],
  options: { timeoutMs?: number; gapMs?: number } = {},
): Promise<HeadResult> {
  const timeoutMs = options.timeoutMs ?? WAIT_MS;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let response: HandshakeResponse | null = null;
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (response === null) reject(new Error(`no response head within ${timeoutMs} ms: ${text()}`));
      else resolve({ response, text: text(), closed });
    };
    const text = () => Buffer.concat(parts).toString('latin1');
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      parts.push(d);
      if (response !== null) return;
      const all = text();
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      response = parseResponseHead(all.slice(0, end + 4));
      // A 101, or a keep-alive answer: nothing more to wait for. Otherwise wait for the server's close.
      if (response.status === 101 || response.headers.get('connection')?.toLowerCase() !== 'close') finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', async () => {
      if (typeof request === 'string') {
        socket.write(request, 'latin1');
        return;
      }
      for (const piece of request) {
        if (socket.destroyed) return;
        socket.write(piece);
        if (options.gapMs !== undefined) await delay(options.gapMs);
      }
    });
  });
}
