/**
 * Server-side WebSockets over node:net: the upgrade (validate, ask the application, answer 101 or refuse),
 * then `ServerWebSocket`, which drives a `WsProtocol` core over the socket: every frame of a read is parsed
 * in one go and all replies leave in one batched write; close handshake with a timeout; backpressure figures.
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { ConnectionClosedError, type ProtocolError } from '../errors.js';
import { STATUS_TEXT, serializeFields, statusLine } from '../http1/serializer.js';
import { WS_CLOSE_TIMEOUT_MS, WS_HANDSHAKE_TIMEOUT_MS, WS_MAX_PAYLOAD } from '../limits.js';
import { OP_BINARY, OP_CONTINUATION, OP_TEXT } from '../ws/frame.js';
import { buildAcceptResponse, buildRejectResponse, validateUpgradeRequest } from '../ws/handshake.js';
import { SIDE_SERVER, WS_CLOSED, WS_OPEN, type WsHandler, WsProtocol } from '../ws/protocol.js';
import { httpDateNow } from './clock.js';
import type { SockeyeRequest } from './request.js';
import { SocketWriter } from './socket-writer.js';

/** What the application's `upgrade` hook may return. */
export type UpgradeResult<T> =
  | undefined
  | boolean
  | {
      /** The subprotocol chosen from `ctx.protocols` (must be one of them). */
      protocol?: string;
      /** Per-connection data, available as `ws.data`. */
      data?: T;
      /** Extra headers for the 101 response. */
      headers?: [string, string][];
    }
  | UpgradeRejection;

/** A refusal of the handshake, made with `ctx.reject()`. */
export interface UpgradeRejection {
  readonly reject: true;
  status: number;
  body: string;
  headers: [string, string][];
}

/** What the `upgrade` hook learns besides the request. */
export interface UpgradeContext {
  /** Subprotocols offered by the client (`Sec-WebSocket-Protocol`), in its order of preference. */
  protocols: string[];
  /** `Origin` header, if any. */
  origin: string | undefined;
  /** Builds a refusal: `return ctx.reject(403, 'forbidden')`. */
  reject(status: number, body?: string, headers?: [string, string][]): UpgradeRejection;
}

/** `serve({ websocket })` handlers and options. `T` is the type of `ws.data`. */
export interface WebSocketOptions<T = unknown> {
  /**
   * Decides on each handshake (may be async): return `false` or `ctx.reject(status)` to refuse, or
   * `{ protocol, data, headers }` to accept. Without it every valid handshake is accepted.
   */
  upgrade?(req: SockeyeRequest, ctx: UpgradeContext): UpgradeResult<T> | Promise<UpgradeResult<T>>;
  /** The connection is open. */
  open?(ws: ServerWebSocket<T>): void;
  /** A whole message: text as a string, binary as a Buffer. */
  message?(ws: ServerWebSocket<T>, message: string | Buffer, isBinary: boolean): void | Promise<void>;
  /** The connection ended: close code (1005 none given, 1006 dropped), reason, whether the close was clean. */
  close?(ws: ServerWebSocket<T>, code: number, reason: string, wasClean: boolean): void;
  /** The socket's write buffer emptied after `send` reported backpressure. */
  drain?(ws: ServerWebSocket<T>): void;
  /** A ping arrived (the pong is already sent). */
  ping?(ws: ServerWebSocket<T>, data: Buffer): void;
  /** A pong arrived. */
  pong?(ws: ServerWebSocket<T>, data: Buffer): void;
  /** A handler threw or rejected (the connection was closed with 1011 if it was open). Default: ignore. */
  error?(ws: ServerWebSocket<T>, err: unknown): void;
  /** Largest incoming message in bytes (1009 above). Default 64 MiB. */
  maxPayload?: number;
  /** How long to wait for the peer's close frame / TCP close after ours (ms). Default 5 s. */
  closeTimeout?: number;
  /** How long an async `upgrade` hook may take (ms); then 503. Default 10 s. */
  upgradeTimeout?: number;
  /** `bufferedAmount` above which `send` reports backpressure (-1). Default 1 MiB. */
  backpressureLimit?: number;
}

/** `send()` result: bytes handed to the socket (> 0), or one of these. */
export const SEND_BACKPRESSURE = -1;
export const SEND_DROPPED = 0;

const DEFAULT_BACKPRESSURE_LIMIT = 1024 * 1024;

/** readyState values, as in the WHATWG WebSocket. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/** A server-side WebSocket connection. */
export class ServerWebSocket<T = unknown> implements WsHandler {
  /** Data attached by the `upgrade` hook. */
  data: T;
  /** The subprotocol agreed on, or `''`. */
  readonly protocol: string;
  /** The extensions agreed on (`Sec-WebSocket-Extensions` of the 101), or `''`. */
  readonly extensions: string;
  /** Peer IP address (kept: the close handler may want it after the socket is gone). */
  readonly remoteAddress: string;
  /** Peer port. */
  readonly remotePort: number;
  /** Path of the upgrade request. */
  readonly path: string;
  /** @internal */ readonly core: WsProtocol;
  #socket: Socket;
  #writer: SocketWriter;
  #options: WebSocketOptions<T>;
  #closeTimer: NodeJS.Timeout | null;
  #closed: boolean;
  #wantDrain: boolean;
  /** 0: we did not start the close; -1: close() was called; > 0: we failed the connection with this code. */
  #closeCodeSent: number;
  #fragmentOpen: boolean;
  #backpressureLimit: number;

  /** @internal */
  constructor(socket: Socket, req: SockeyeRequest, protocol: string, data: T, options: WebSocketOptions<T>) {
    this.data = data;
    this.protocol = protocol;
    this.extensions = '';
    this.remoteAddress = req.remoteAddress;
    this.remotePort = req.remotePort;
    this.path = req.path;
    this.#socket = socket;
    this.#writer = new SocketWriter(socket, () => this.#endTcp());
    this.#options = options;
    this.#closeTimer = null;
    this.#closed = false;
    this.#wantDrain = false;
    this.#closeCodeSent = 0;
    this.#fragmentOpen = false;
    this.#backpressureLimit = options.backpressureLimit ?? DEFAULT_BACKPRESSURE_LIMIT;
    this.core = new WsProtocol(
      { side: SIDE_SERVER, maxPayload: options.maxPayload ?? WS_MAX_PAYLOAD },
      this,
      this.#writer,
    );
  }

  /** @internal starts reading; `head` holds bytes that came after the handshake request. */
  start(head: Buffer[]): void {
    const socket = this.#socket as SocketWithWs;
    socket[kWebSocket] = this as ServerWebSocket<unknown>;
    socket.on('data', wsSocketOnData);
    socket.on('end', wsSocketOnEnd);
    socket.on('error', wsSocketOnError);
    socket.on('close', wsSocketOnClose);
    socket.on('drain', wsSocketOnDrain);
    const open = this.#options.open;
    if (open !== undefined) {
      try {
        open(this);
      } catch (err) {
        this.#handlerFailed(err);
      }
    }
    for (const chunk of head) if (chunk.length > 0 && !this.#closed) this.onData(chunk);
    if (!this.#closed) socket.resume();
  }

  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (WHATWG values). */
  get readyState(): number {
    if (this.#closed) return CLOSED;
    return this.core.state === WS_OPEN ? OPEN : this.core.state === WS_CLOSED ? CLOSED : CLOSING;
  }

  /** Bytes queued but not yet taken by the kernel (our batch + the socket's buffer). */
  get bufferedAmount(): number {
    return this.#writer.pendingBytes + this.#socket.writableLength;
  }

  /** @internal */ onData(chunk: Buffer): void {
    const w = this.#writer;
    w.begin();
    try {
      this.core.receive(chunk);
    } finally {
      w.commit();
    }
  }

  /** @internal */ onEnd(): void {
    this.core.receiveEof();
    // The peer closed its side; we have nothing more to say either (we may have ended already: the server
    // closes first after a close handshake).
    if (!this.#socket.writableEnded) this.#socket.end();
  }

  /** @internal */ onDrain(): void {
    if (this.#wantDrain) {
      this.#wantDrain = false;
      try {
        this.#options.drain?.(this);
      } catch (err) {
        this.#handlerFailed(err);
      }
    }
  }

  /** @internal */ onSocketClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    const core = this.core;
    const failed = this.#closeCodeSent > 0;
    let code = 1006; // RFC 6455 §7.1.5: no close frame received
    let reason = '';
    let clean = false;
    if (core.closeReceived) {
      code = core.closeCode;
      reason = core.closeReason;
      // Clean: both close frames were exchanged and nobody failed the connection.
      clean = core.closeSent && !failed;
    } else if (failed) {
      code = this.#closeCodeSent;
    }
    try {
      this.#options.close?.(this, code, reason, clean);
    } catch (err) {
      // The connection is gone already; only report it.
      this.#report(err);
    }
  }

  #endTcp(): void {
    // RFC 6455 §7.1.1: the server closes the TCP connection first once the close handshake is done.
    if (!this.#socket.writableEnded) this.#socket.end();
    this.#armCloseTimer();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== null || this.#closed) return;
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#options.closeTimeout ?? WS_CLOSE_TIMEOUT_MS);
    this.#closeTimer.unref();
  }

  // --- WsHandler (core events) -----------------------------------------------------------------

  /** @internal */
  onMessage(binary: boolean, data: Buffer, _rsv1: boolean): void {
    const fn = this.#options.message;
    if (fn === undefined) return;
    let r: void | Promise<void>;
    try {
      r = binary ? fn(this, data, true) : fn(this, data.toString('utf8'), false);
    } catch (err) {
      // A handler that throws must not take the server down (it would escape the socket's 'data' event).
      this.#handlerFailed(err);
      return;
    }
    if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
      (r as Promise<void>).then(undefined, (err: unknown) => this.#handlerFailed(err));
    }
  }

  /** An application handler threw or rejected: close with 1011 and report the error. */
  #handlerFailed(err: unknown): void {
    // RFC 6455 §7.4.1: 1011, the server hit an unexpected condition. Details stay in the server.
    if (this.core.state === WS_OPEN && !this.#closed) {
      this.#closeCodeSent = 1011;
      this.#writer.begin();
      this.core.fail(1011, 'Internal error');
      this.#writer.commit();
    }
    this.#report(err);
  }

  #report(err: unknown): void {
    const onError = this.#options.error;
    if (onError === undefined) return;
    try {
      onError(this, err);
    } catch {
      // an error reporter that throws must not take the server down
    }
  }

  /** @internal */
  onPing(data: Buffer): void {
    try {
      this.#options.ping?.(this, data);
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal */
  onPong(data: Buffer): void {
    try {
      this.#options.pong?.(this, data);
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** @internal */
  onClose(_code: number, _reason: string): void {
    // The core echoed the close frame and (server side) asked for the TCP close; 'close' reports it.
  }

  /** @internal */
  onError(err: ProtocolError): void {
    this.#closeCodeSent = err.closeCode;
  }

  // --- sending ----------------------------------------------------------------------------------

  /**
   * Sends a message: a string as text, bytes as binary. Returns the bytes handed to the socket, or
   * `SEND_BACKPRESSURE` (-1) when it was queued above the backpressure limit (wait for `drain`), or
   * `SEND_DROPPED` (0) when the connection is closing or closed.
   */
  send(data: string | Uint8Array | ArrayBuffer, binary?: boolean): number {
    if (this.core.state !== WS_OPEN || this.#closed) return SEND_DROPPED;
    const w = this.#writer;
    w.begin();
    let n: number;
    try {
      if (typeof data === 'string') {
        if (binary === true) {
          const b = Buffer.from(data, 'utf8');
          this.core.sendBinary(b);
          n = b.length;
        } else {
          this.core.sendText(data);
          n = data.length;
        }
      } else {
        const b = toBuffer(data);
        if (binary === false) this.core.sendText(b);
        else this.core.sendBinary(b);
        n = b.length;
      }
    } finally {
      w.commit();
    }
    return this.#afterSend(n);
  }

  /** Sends text. */
  sendText(data: string): number {
    return this.send(data, false);
  }

  /** Sends bytes as a binary message. */
  sendBinary(data: Uint8Array | ArrayBuffer): number {
    return this.send(data, true);
  }

  /**
   * Sends one fragment of a message (RFC 6455 §5.4): the first call's `binary` sets the message type; `fin`
   * ends the message. Other messages cannot be sent until it is finished.
   */
  sendFragment(data: string | Uint8Array | ArrayBuffer, fin: boolean, binary = typeof data !== 'string'): number {
    if (this.core.state !== WS_OPEN || this.#closed) return SEND_DROPPED;
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    const opcode = this.#fragmentOpen ? OP_CONTINUATION : binary ? OP_BINARY : OP_TEXT;
    this.#writer.begin();
    try {
      this.core.sendFrame(opcode, b, fin);
    } finally {
      this.#writer.commit();
    }
    this.#fragmentOpen = !fin;
    return this.#afterSend(b.length);
  }

  /** Streams an async iterable as one fragmented message, waiting for `drain` under backpressure. */
  async sendStream(
    source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
    binary = true,
  ): Promise<void> {
    let pending: Buffer | null = null;
    for await (const part of source) {
      const b = typeof part === 'string' ? Buffer.from(part, 'utf8') : toBuffer(part);
      if (pending !== null) {
        if (this.sendFragment(pending, false, binary) === SEND_DROPPED)
          throw new ConnectionClosedError(1006, '', false);
        if (this.bufferedAmount > this.#backpressureLimit) await this.#waitDrain();
      }
      pending = b;
    }
    if (this.sendFragment(pending ?? Buffer.alloc(0), true, binary) === SEND_DROPPED) {
      throw new ConnectionClosedError(1006, '', false);
    }
  }

  #waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  #afterSend(n: number): number {
    if (this.bufferedAmount > this.#backpressureLimit) {
      this.#wantDrain = true;
      return SEND_BACKPRESSURE;
    }
    return n;
  }

  /** Sends a ping (payload ≤ 125 bytes). */
  ping(data: string | Uint8Array = Buffer.alloc(0)): void {
    if (this.core.state !== WS_OPEN || this.#closed) return;
    this.#writer.begin();
    try {
      this.core.ping(typeof data === 'string' ? Buffer.from(data) : toBuffer(data));
    } finally {
      this.#writer.commit();
    }
  }

  /** Sends an unsolicited pong (payload ≤ 125 bytes). */
  pong(data: string | Uint8Array = Buffer.alloc(0)): void {
    if (this.core.state !== WS_OPEN || this.#closed) return;
    this.#writer.begin();
    try {
      this.core.pong(typeof data === 'string' ? Buffer.from(data) : toBuffer(data));
    } finally {
      this.#writer.commit();
    }
  }

  /**
   * Starts the close handshake: sends a close frame (code 1000 by default; RangeError for a code that may not
   * be sent, or a reason over 123 bytes), then waits up to `closeTimeout` for the peer's.
   */
  close(code?: number, reason = ''): void {
    if (this.core.state !== WS_OPEN || this.#closed) return;
    this.#closeCodeSent = -1;
    this.#writer.begin();
    try {
      this.core.close(code, reason);
    } finally {
      this.#writer.commit();
    }
    this.#armCloseTimer();
  }

  /** Destroys the connection at once, without a close handshake (the close handler gets 1006). */
  terminate(): void {
    this.#writer.discard();
    this.#socket.destroy();
  }
}

const kWebSocket = Symbol('sockeye.websocket');
type SocketWithWs = Socket & { [kWebSocket]?: ServerWebSocket<unknown> };

// Module-level listeners that find their WebSocket on the socket: no closures per connection.
function wsSocketOnData(this: SocketWithWs, chunk: Buffer): void {
  this[kWebSocket]?.onData(chunk);
}
function wsSocketOnEnd(this: SocketWithWs): void {
  this[kWebSocket]?.onEnd();
}
function wsSocketOnError(this: SocketWithWs): void {
  // ECONNRESET, EPIPE...: 'close' follows and reports 1006.
}
function wsSocketOnClose(this: SocketWithWs): void {
  this[kWebSocket]?.onSocketClose();
}
function wsSocketOnDrain(this: SocketWithWs): void {
  this[kWebSocket]?.onDrain();
}

function toBuffer(data: Uint8Array | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function rejectWith(status: number, body = '', headers: [string, string][] = []): UpgradeRejection {
  return { reject: true, status, body, headers };
}

function writeRefusal(socket: Socket, status: number, body: string, headers: [string, string][]): void {
  let head = statusLine(status);
  try {
    head += serializeFields(headers.flat());
  } catch {
    // invalid headers from the application: send none of them
  }
  const text = body === '' ? `${STATUS_TEXT[status] ?? 'Error'}\n` : body;
  socket.end(
    `${head}Date: ${httpDateNow()}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Counters of WebSocket upgrades. */
export interface UpgradeStats {
  accepted: number;
  rejected: number;
  /** The client went away while the `upgrade` hook was deciding. */
  abandoned: number;
}

/**
 * Runs a WebSocket handshake on a socket handed over by the HTTP layer (paused, `head` = bytes after the
 * request head). Calls `onOpen` with the new connection.
 * @internal
 */
export async function upgradeToWebSocket<T>(
  req: SockeyeRequest,
  socket: Socket,
  head: Buffer[],
  options: WebSocketOptions<T>,
  stats: UpgradeStats,
  onOpen: (ws: ServerWebSocket<T>) => void,
): Promise<void> {
  // RFC 6455 §4.2.1: what a valid opening handshake carries; anything else is refused (400, or 426).
  const check = validateUpgradeRequest(req.method, req.httpVersion, req.headers);
  if (!check.ok) {
    stats.rejected++;
    socket.end(buildRejectResponse(check));
    setTimeout(() => socket.destroy(), 2000).unref();
    return;
  }
  let protocol = '';
  let data: T = undefined as T;
  let extraHeaders: [string, string][] = [];
  if (options.upgrade !== undefined) {
    let gone = false;
    const onGone = () => {
      gone = true;
    };
    socket.once('close', onGone);
    socket.on('error', noop);
    let result: UpgradeResult<T>;
    try {
      const ctx: UpgradeContext = { protocols: check.protocols, origin: req.headers.get('origin'), reject: rejectWith };
      const r = options.upgrade(req, ctx);
      if (isPromise(r)) {
        // The socket is paused, so a client that leaves (FIN) would go unnoticed: read while the hook decides.
        const unwatch = watchWhileDeciding(socket, head, onGone);
        try {
          result = await withTimeout(r, options.upgradeTimeout ?? WS_HANDSHAKE_TIMEOUT_MS);
        } finally {
          unwatch();
        }
      } else result = r;
    } catch (err) {
      socket.off('close', onGone);
      stats.rejected++;
      if (!gone) writeRefusal(socket, err === TIMEOUT ? 503 : 500, '', []);
      else socket.destroy();
      return;
    }
    socket.off('close', onGone);
    // The client may have gone while we were deciding: check the socket again after the await.
    if (gone || socket.destroyed) {
      stats.abandoned++;
      socket.destroy();
      return;
    }
    if (result === false) {
      stats.rejected++;
      writeRefusal(socket, 403, '', []);
      return;
    }
    if (typeof result === 'object' && result !== null) {
      if ('reject' in result) {
        stats.rejected++;
        writeRefusal(socket, result.status, result.body, result.headers);
        return;
      }
      if (result.protocol !== undefined && result.protocol !== '') {
        // RFC 6455 §4.2.2: the server selects one of the values the client offered.
        if (!check.protocols.includes(result.protocol)) {
          stats.rejected++;
          writeRefusal(socket, 500, '', []);
          return;
        }
        protocol = result.protocol;
      }
      if (result.data !== undefined) data = result.data;
      if (result.headers !== undefined) extraHeaders = result.headers;
    }
  }
  let response: string;
  try {
    response = buildAcceptResponse(check.key, protocol, '', extraHeaders);
  } catch {
    stats.rejected++;
    writeRefusal(socket, 500, '', []);
    return;
  }
  stats.accepted++;
  socket.write(response, 'latin1');
  const ws = new ServerWebSocket<T>(socket, req, protocol, data, options);
  onOpen(ws);
  ws.start(head);
}

/** Bytes read ahead while an async `upgrade` hook decides; then reading pauses again (TCP pushes back). */
const EARLY_BYTES_LIMIT = 64 * 1024;

/**
 * Reads the socket while an async `upgrade` hook runs: bytes (frames sent early) are kept in `head` for the
 * connection, and end of input means the client left (`onEnd`). Returns the function that stops it.
 */
function watchWhileDeciding(socket: Socket, head: Buffer[], onEnd: () => void): () => void {
  let bytes = 0;
  const onData = (chunk: Buffer) => {
    head.push(chunk);
    bytes += chunk.length;
    if (bytes > EARLY_BYTES_LIMIT) socket.pause();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.resume();
  return () => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
  };
}

const TIMEOUT = Symbol('timeout');

function withTimeout<V>(p: Promise<V>, ms: number): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const t = setTimeout(() => reject(TIMEOUT), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function isPromise<V>(v: V | Promise<V>): v is Promise<V> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<V>).then === 'function';
}

function noop(): void {}
