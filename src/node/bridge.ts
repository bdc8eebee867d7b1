/**
 * The bridge for the servers people already have: `websocketHandler()` gives a `node:http` / `node:https` server
 * (and so Express, Fastify, Koa, Nest) sockeye's WebSocket side through that server's `'upgrade'` event, as `ws`
 * does with `noServer` + `handleUpgrade`.
 *
 * node:http has parsed the request already. The bridge turns it into a `SockeyeRequest` (the raw field lines as
 * received), applies the same HTTP rules as `serve()` (http1/protocol.ts `analyzeHead`: Host, framing) and then
 * runs the very handshake of `serve()` (upgrade.ts: RFC 6455 §4.2 checks, the `upgrade` hook, refusals through
 * the shared writer, the 101, a `ServerWebSocket` over a TCP transport). `head`, the bytes node:http read after
 * the request head, are the connection's first WebSocket bytes. Idle pings and close deadlines run on the
 * process's coarse clock, and `close()` ends every connection with 1001 as `server.close()` does.
 */

import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProtocolError } from '../errors.js';
import { HeaderList } from '../http1/headers.js';
import { analyzeHead, Http1ServerCache, RequestInfo } from '../http1/protocol.js';
import { RequestHead } from '../http1/request-head.js';
import { CLOSE_DEADLINE_MS, MAX_BODY_BYTES } from '../limits.js';
import { onTick } from './clock.js';
import { type DeflateStats, deflateStats } from './deflate.js';
import { chEnd, publishEnd } from './diagnostics.js';
import type { PubSubAdapter } from './pubsub-adapter.js';
import { type BodySource, SockeyeRequest } from './request.js';
import type { CloseResult, ConnectionEndInfo } from './server.js';
import { startUpgrade, writeRefusal } from './upgrade.js';
import {
  type CloseInfo,
  OPEN,
  type PublishResult,
  type ServerWebSocket,
  tellEnd,
  type WebSocketOptions,
  type WebSocketStats,
  WsServerContext,
  websocketEndInfo,
} from './websocket.js';

/** `websocketHandler()` options: the handlers and limits of `serve({ websocket })`, and the server-level hooks. */
export interface WebSocketHandlerOptions<T = unknown> extends WebSocketOptions<T> {
  /**
   * Topics across nodes (`redisPubSub()` from `sockeye/redis`, or your own `PubSubAdapter`), as
   * `serve({ pubsub })`. Closed by `close()`.
   */
  pubsub?: PubSubAdapter;
  /** Called when a WebSocket connection ends, with why, for logging (`kind` is always `'websocket'`). */
  onConnectionEnd?: (info: ConnectionEndInfo) => unknown;
}

/** What `wss.stats()` reports: the WebSocket part of `server.stats()`. Counters are totals since creation. */
export interface WebSocketHandlerStats {
  /** Connections by state. */
  connections: {
    /** Upgrades being decided (async `upgrade` hook). */
    wsHandshaking: number;
    wsOpen: number;
    wsClosing: number;
    total: number;
  };
  websocket: WebSocketStats & { bytesIn: number; bytesOut: number };
  /** permessage-deflate, when enabled (else null): as `server.stats().deflate`. */
  deflate: (DeflateStats & { connectionsHoldingContexts: number }) | null;
  /** The pub/sub adapter's state and counters, or null without one. */
  pubsub: Record<string, number | string> | null;
}

/**
 * sockeye's WebSocket side for a `node:http` / `node:https` server: hand it the server's `'upgrade'` events.
 * Made by {@link websocketHandler}.
 */
export class WebSocketHandler<T = unknown> {
  readonly #ctx: WsServerContext<T>;
  /** The Host memo of analyzeHead (the same rules as serve()'s connections). */
  readonly #cache: Http1ServerCache;
  readonly #onConnectionEnd: ((info: ConnectionEndInfo) => unknown) | null;
  #handshaking: number;
  #bytesIn: number;
  #bytesOut: number;
  #stopTick: (() => void) | null;
  #closing: Promise<CloseResult> | null;
  #onEmpty: (() => void) | null;

  /** @internal use `websocketHandler()` */
  constructor(options: WebSocketHandlerOptions<T>) {
    this.#ctx = new WsServerContext<T>(options);
    this.#ctx.onEnd = (ws, info) => this.#ended(ws, info);
    if (options.pubsub !== undefined) this.#ctx.useAdapter(options.pubsub);
    this.#cache = new Http1ServerCache();
    this.#onConnectionEnd = options.onConnectionEnd ?? null;
    this.#handshaking = 0;
    this.#bytesIn = 0;
    this.#bytesOut = 0;
    this.#closing = null;
    this.#onEmpty = null;
    // Idle pings, pong and close deadlines: the process's coarse clock (unref'd: it never keeps the process alive).
    const ctx = this.#ctx;
    this.#stopTick = onTick((now) => ctx.checkTimeouts(now));
  }

  /**
   * Takes over a `node:http` / `node:https` server's `'upgrade'` event: validates the WebSocket handshake
   * (RFC 6455 §4.2.1), asks the `upgrade` hook, then answers 101 and opens a `ServerWebSocket`, or refuses with a
   * status (400 bad handshake, 426 unsupported version, the hook's status; 503 once `close()` was called). Either
   * way the socket is the handler's from now on.
   *
   * @param req the request of the `'upgrade'` event
   * @param socket its socket (a `net.Socket`, or a `tls.TLSSocket` for node:https)
   * @param head its `head`: bytes that came after the request head (the first WebSocket bytes)
   * @throws TypeError when `socket` is not a `net.Socket` (e.g. an HTTP/2 stream)
   * @example
   * httpServer.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head?: Uint8Array): void {
    if (!(socket instanceof Socket)) {
      throw new TypeError("handleUpgrade() needs the net.Socket of a node:http or node:https 'upgrade' event");
    }
    const ctx = this.#ctx;
    if (this.#closing !== null) {
      ctx.stats.rejected++;
      writeRefusal(req, socket, 503, 'Server shutting down\n', []);
      return;
    }
    // Liveness is the idle ping's job from now on (node:http may have set a keep-alive timeout on the socket).
    socket.setTimeout(0);
    socket.setNoDelay(true);
    // The peer's address must be read while the socket is open if it is to be logged when it ends.
    if (this.#onConnectionEnd !== null) void socket.remoteAddress;
    const request = bridgeRequest(req, socket, this.#cache);
    if (!(request instanceof SockeyeRequest)) {
      ctx.stats.rejected++;
      writeRefusal(req, socket, request.status, `${request.message}\n`, []);
      return;
    }
    const bytes: Buffer[] =
      head === undefined || head.length === 0
        ? []
        : [Buffer.isBuffer(head) ? head : Buffer.from(head.buffer, head.byteOffset, head.length)];
    this.#handshaking++;
    startUpgrade(request, socket, bytes, ctx, this.#onHandshakeDone);
  }

  /** Open WebSocket connections. */
  get websockets(): ReadonlySet<ServerWebSocket<T>> {
    return this.#ctx.open;
  }

  /**
   * Publishes to every WebSocket subscribed to `topic` (`ws.subscribe(topic)`), as `server.publish()`: framed once,
   * written to each subscriber in order, each one's backpressure policy applying to it alone.
   * @throws TypeError when `topic` is not a string
   */
  publish(
    topic: string,
    data: string | Uint8Array | ArrayBuffer,
    isBinary?: boolean,
    compress?: boolean,
  ): PublishResult {
    return this.#ctx.publish(topic, data, isBinary, compress, null);
  }

  /** How many WebSockets are subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.#ctx.topics.subscriberCount(topic);
  }

  /** Connections by state and totals since creation (the WebSocket part of `server.stats()`). */
  stats(): WebSocketHandlerStats {
    const ctx = this.#ctx;
    let wsOpen = 0;
    let wsClosing = 0;
    let holding = 0;
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    for (const w of ctx.open) {
      if (w.readyState === OPEN) wsOpen++;
      else wsClosing++;
      if (w.holdsDeflateContexts) holding++;
      bytesIn += w.bytesRead;
      bytesOut += w.bytesWritten;
    }
    return {
      connections: {
        wsHandshaking: this.#handshaking,
        wsOpen,
        wsClosing,
        total: this.#handshaking + wsOpen + wsClosing,
      },
      websocket: { ...structuredClone(ctx.stats), bytesIn, bytesOut },
      deflate: ctx.deflateSettings === null ? null : { ...deflateStats, connectionsHoldingContexts: holding },
      pubsub: ctx.adapter?.stats?.() ?? null,
    };
  }

  /**
   * Graceful close, as `server.close()` does for its WebSockets: every open connection gets a close frame 1001
   * (Going Away) and the close handshakes are awaited; what is left at `deadline` ms is destroyed. Upgrades after
   * this are refused with 503. The HTTP server is yours to close. Resolves with the counts.
   */
  close(options: { deadline?: number } = {}): Promise<CloseResult> {
    if (this.#closing !== null) return this.#closing;
    const deadline = options.deadline ?? CLOSE_DEADLINE_MS;
    const ctx = this.#ctx;
    this.#closing = new Promise<CloseResult>((resolve) => {
      const result: CloseResult = { closed: 0, terminated: 0 };
      const total = this.#openCount();
      let timer: NodeJS.Timeout | null = null;
      const finish = () => {
        this.#onEmpty = null;
        if (timer !== null) clearTimeout(timer);
        this.#stopTick?.();
        this.#stopTick = null;
        result.closed = Math.max(0, total - result.terminated);
        const adapter = ctx.adapter;
        if (adapter === null) resolve(result);
        else
          adapter.close().then(
            () => resolve(result),
            () => resolve(result),
          );
      };
      this.#onEmpty = finish;
      // RFC 6455 §7.4.1: 1001, the endpoint is going away.
      for (const ws of ctx.open) ws.close(1001, 'Server shutting down');
      if (this.#openCount() === 0) {
        finish();
        return;
      }
      timer = setTimeout(() => {
        for (const ws of ctx.open) {
          result.terminated++;
          ws.terminate();
        }
      }, deadline);
    });
    return this.#closing;
  }

  #openCount(): number {
    return this.#ctx.open.size + this.#handshaking;
  }

  /** Called by startUpgrade once a handshake is decided (one function per handler, not one per handshake). */
  readonly #onHandshakeDone = (): void => {
    this.#handshaking--;
    // A handshake that was being decided when close() was called opened afterwards: it goes away too.
    if (this.#closing !== null) {
      for (const ws of this.#ctx.open) if (ws.readyState === OPEN) ws.close(1001, 'Server shutting down');
    }
    this.#checkEmpty();
  };

  #ended(ws: ServerWebSocket<T>, info: CloseInfo): void {
    this.#bytesIn += info.bytesRead;
    this.#bytesOut += info.bytesWritten;
    const onEnd = this.#onConnectionEnd;
    if (onEnd !== null || chEnd.hasSubscribers) {
      const end = websocketEndInfo(ws as ServerWebSocket<unknown>, info);
      if (chEnd.hasSubscribers) publishEnd(this, null, ws, end);
      if (onEnd !== null) tellEnd(onEnd, end);
    }
    this.#checkEmpty();
  }

  #checkEmpty(): void {
    if (this.#onEmpty !== null && this.#openCount() === 0) this.#onEmpty();
  }
}

/** The request's socket, as the `SockeyeRequest` asks it (no body: node:http hands the bytes after the head on). */
class BridgeSource implements BodySource {
  readonly #socket: Socket;
  constructor(socket: Socket) {
    this.#socket = socket;
  }
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }
  wantBody(): void {}
  resumeBody(): void {}
}

/**
 * node:http's request as a `SockeyeRequest`, after the HTTP rules `serve()` applies to every request
 * (analyzeHead: RFC 9112 §3.2 Host, §6 framing); or the error to answer with.
 */
function bridgeRequest(req: IncomingMessage, socket: Socket, cache: Http1ServerCache): SockeyeRequest | ProtocolError {
  // node:http emits 'upgrade' for HTTP/1.x only; RFC 6455 §4.2.1 then refuses anything below 1.1.
  const head = new RequestHead(
    req.method ?? '',
    req.url ?? '',
    req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 ? 1 : 0,
    // node:http keeps the field lines as received, names and values as latin1 strings: HeaderList's own form.
    new HeaderList(req.rawHeaders.slice()),
  );
  const info = new RequestInfo();
  const err = analyzeHead(head, info, MAX_BODY_BYTES, cache);
  if (err !== null) return err;
  // node:http does not read a body on an upgrade: whatever follows the head is in `head`, as with serve().
  info.contentLength = 0;
  info.chunked = false;
  return new SockeyeRequest(head, info, new BridgeSource(socket));
}

/**
 * Makes sockeye's WebSocket side for a server you already have (`node:http`, `node:https`, Express, Fastify, Koa,
 * Nest): the same handlers, `upgrade` hook, limits, backpressure, compression, topics, stats and close semantics as
 * `serve({ websocket })`. Pass it the server's `'upgrade'` events with `handleUpgrade`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { websocketHandler } from 'sockeye';
 *
 * const wss = websocketHandler({
 *   message(ws, msg, isBinary) {
 *     ws.send(msg, isBinary);
 *   },
 * });
 * const server = createServer((req, res) => res.end('hello'));
 * server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
 * server.listen(8080);
 * ```
 */
export function websocketHandler<T = unknown>(options: WebSocketHandlerOptions<T> = {}): WebSocketHandler<T> {
  return new WebSocketHandler<T>(options);
}
