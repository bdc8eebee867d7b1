/**
 * `serve()`: a `node:net` server that accepts connections (listen backlog, maxConnections), drives each with
 * an HttpConnection, runs the application's handler (native `request(req, res)` or WHATWG `fetch(Request)`),
 * checks every connection's deadlines on one coarse tick, and closes gracefully.
 */

import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import net from 'node:net';
import { ProtocolError, type SockeyeError } from '../errors.js';
import type { RequestParserLimits } from '../http1/parser.js';
import { errorResponse } from '../http1/serializer.js';
import {
  BODY_TIMEOUT_MS,
  CLOSE_DEADLINE_MS,
  HEADERS_TIMEOUT_MS,
  HTTP_MAX_PIPELINE_BYTES,
  KEEP_ALIVE_TIMEOUT_MS,
  MAX_BODY_BYTES,
  MAX_HEADER_BYTES,
  MAX_HEADER_COUNT,
  MAX_REQUEST_LINE_BYTES,
  MAX_REQUESTS_PER_CONNECTION,
  MAX_TRAILER_BYTES,
} from '../limits.js';
import { httpDateNow, onTick } from './clock.js';
import { type FetchHandler, runFetch } from './fetch.js';
import { HttpConnection, type HttpStats, type ServerContext } from './http-connection.js';
import type { SockeyeRequest } from './request.js';
import type { SockeyeResponse } from './response.js';
import { type ServerWebSocket, type UpgradeStats, upgradeToWebSocket, type WebSocketOptions } from './websocket.js';

/** A native request handler. Throwing (or rejecting) before a response was sent answers 500. */
export type RequestHandler = (req: SockeyeRequest, res: SockeyeResponse) => void | Promise<void>;

/** A raw upgrade hook: the socket (paused) and the bytes received after the request head are yours. */
export type UpgradeHook = (req: SockeyeRequest, socket: net.Socket, head: Buffer) => void;

/** Limits of the HTTP/1.1 parser; each default is in limits.ts with where its number comes from. */
export interface HttpLimits {
  /** Request line bytes (414 above). Default 8 KiB. */
  maxRequestLineBytes?: number;
  /** Header section bytes (431 above). Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Header field lines (431 above). Default 100. */
  maxHeaderCount?: number;
  /** Request body bytes (413 above). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Trailer section bytes (431 above). Default 16 KiB. */
  maxTrailerBytes?: number;
}

/** Timeouts in milliseconds. */
export interface HttpTimeouts {
  /** The request head must be complete this long after its first byte (408): the slowloris defence. Default 10 s. */
  headers?: number;
  /** An idle keep-alive connection is closed after this long. Default 5 s. */
  keepAlive?: number;
  /** A request body that makes no progress this long is abandoned (408). Default 30 s. */
  body?: number;
}

export interface ServeOptions<T = unknown> {
  /** TCP port; 0 picks a free one (see `server.port`). Default 3000. */
  port?: number;
  /** Address to bind. Default: all interfaces (Node's default). */
  host?: string;
  /** listen(2) backlog: the accept queue length; Linux caps it at net.core.somaxconn. Default 511. */
  backlog?: number;
  /** Connections beyond this are answered `503` and closed. Default: unlimited. */
  maxConnections?: number;
  /** Native handler. */
  request?: RequestHandler;
  /** WHATWG handler: `(request: Request) => Response | Promise<Response>` (Hono, itty, etc. run unchanged). */
  fetch?: FetchHandler;
  /** Raw upgrade hook for requests with `Connection: upgrade` + `Upgrade`. Without it they are ordinary requests. */
  upgrade?: UpgradeHook;
  /** WebSocket handlers: upgrades with `Upgrade: websocket` are accepted (RFC 6455) and handled here. */
  websocket?: WebSocketOptions<T>;
  limits?: HttpLimits;
  timeouts?: HttpTimeouts;
  /** Requests served per connection before `Connection: close` (0 = unlimited). */
  maxRequestsPerConnection?: number;
  /** Called with errors thrown by handlers (after the 500 is sent). Default: ignore. */
  onError?: (err: unknown, req: SockeyeRequest) => void;
}

/** What `close()` reports. */
export interface CloseResult {
  /** Connections that ended on their own (idle closed, in-flight finished) before the deadline. */
  closed: number;
  /** Connections destroyed at the deadline. */
  terminated: number;
}

/** A running server. */
export class Server implements ServerContext {
  readonly parserLimits: RequestParserLimits;
  readonly maxBodyBytes: number;
  readonly maxPipelineBytes: number;
  readonly headersTimeout: number;
  readonly keepAliveTimeout: number;
  readonly bodyTimeout: number;
  readonly maxRequestsPerConnection: number;
  readonly #upgradeHook: UpgradeHook | null;
  readonly #websocket: WebSocketOptions<unknown> | null;
  /** Open WebSocket connections. */
  readonly websockets: Set<ServerWebSocket<unknown>>;
  /** WebSocket handshake counters. */
  readonly upgrades: UpgradeStats;
  readonly stats: HttpStats & { accepted: number; rejected: number };
  /** Open connections. */
  readonly connections: Set<HttpConnection>;
  readonly #net: net.Server;
  readonly #handler: RequestHandler;
  readonly #onError: ((err: unknown, req: SockeyeRequest) => void) | null;
  readonly #maxConnections: number;
  #stopTick: (() => void) | null;
  #closing: Promise<CloseResult> | null;
  #port: number;
  #host: string;

  /** @internal use `serve()` */
  // biome-ignore lint/suspicious/noExplicitAny: the per-connection data type is the caller's
  constructor(options: ServeOptions<any>) {
    const limits = options.limits ?? {};
    this.parserLimits = {
      maxRequestLineBytes: limits.maxRequestLineBytes ?? MAX_REQUEST_LINE_BYTES,
      maxHeaderBytes: limits.maxHeaderBytes ?? MAX_HEADER_BYTES,
      maxHeaderCount: limits.maxHeaderCount ?? MAX_HEADER_COUNT,
      maxTrailerBytes: limits.maxTrailerBytes ?? MAX_TRAILER_BYTES,
    };
    this.maxBodyBytes = limits.maxBodyBytes ?? MAX_BODY_BYTES;
    this.maxPipelineBytes = HTTP_MAX_PIPELINE_BYTES;
    const t = options.timeouts ?? {};
    this.headersTimeout = t.headers ?? HEADERS_TIMEOUT_MS;
    this.keepAliveTimeout = t.keepAlive ?? KEEP_ALIVE_TIMEOUT_MS;
    this.bodyTimeout = t.body ?? BODY_TIMEOUT_MS;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection ?? MAX_REQUESTS_PER_CONNECTION;
    this.#upgradeHook = options.upgrade ?? null;
    this.#websocket = (options.websocket as WebSocketOptions<unknown> | undefined) ?? null;
    this.websockets = new Set();
    this.upgrades = { accepted: 0, rejected: 0, abandoned: 0 };
    this.stats = { accepted: 0, rejected: 0, requests: 0, errors: {}, timeouts: { headers: 0, body: 0, idle: 0 } };
    this.connections = new Set();
    if (options.request !== undefined) this.#handler = options.request;
    else if (options.fetch !== undefined) {
      const fetch = options.fetch;
      this.#handler = (req, res) => runFetch(fetch, req, res);
    } else this.#handler = defaultHandler;
    this.#onError = options.onError ?? null;
    this.#maxConnections = options.maxConnections ?? 0;
    this.#stopTick = null;
    this.#closing = null;
    this.#port = 0;
    this.#host = '';
    this.#net = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
  }

  /** @internal */
  async listen(port: number, host: string | undefined, backlog: number): Promise<this> {
    const srv = this.#net;
    srv.listen({ port, host, backlog });
    await once(srv, 'listening');
    const addr = srv.address() as net.AddressInfo;
    this.#port = addr.port;
    this.#host = addr.address;
    this.#stopTick = onTick((now) => {
      for (const c of this.connections) c.checkTimeouts(now);
    });
    return this;
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /** The bound address. */
  get hostname(): string {
    return this.#host;
  }

  /** `http://host:port` of the listener (IPv6 in brackets). */
  get url(): string {
    const h = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${h}:${this.#port}`;
  }

  #accept(socket: net.Socket): void {
    this.stats.accepted++;
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    if (this.#maxConnections > 0 && this.connections.size >= this.#maxConnections) {
      this.stats.rejected++;
      socket.on('error', noop);
      socket.end(errorResponse(503, 'Too many connections', httpDateNow()));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    socket.setNoDelay(true);
    const conn = new HttpConnection(socket, this);
    this.connections.add(conn);
  }

  /** @internal WebSocket upgrades go to `websocket`, others to the raw `upgrade` hook. */
  acceptsUpgrade(req: SockeyeRequest): boolean {
    if (this.#websocket !== null && req.headers.hasToken('upgrade', 'websocket')) return true;
    return this.#upgradeHook !== null;
  }

  /** @internal */
  onUpgrade(req: SockeyeRequest, socket: net.Socket, head: Buffer[]): void {
    const ws = this.#websocket;
    if (ws !== null && req.headers.hasToken('upgrade', 'websocket')) {
      if (this.#closing !== null) {
        socket.destroy();
        return;
      }
      upgradeToWebSocket(req, socket, head, ws, this.upgrades, (conn) => {
        this.websockets.add(conn);
        socket.once('close', () => {
          this.websockets.delete(conn);
          if (this.#closing !== null && this.connections.size === 0 && this.websockets.size === 0) this.#onEmpty?.();
        });
      }).catch(() => socket.destroy());
      return;
    }
    const hook = this.#upgradeHook;
    if (hook === null) {
      socket.destroy();
      return;
    }
    hook(req, socket, head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head));
  }

  /** @internal */
  runHandler(req: SockeyeRequest, res: SockeyeResponse, conn: HttpConnection): void {
    try {
      const r = this.#handler(req, res);
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
        (r as Promise<void>).then(undefined, (err: unknown) => this.#handlerFailed(err, req, res, conn));
      }
    } catch (err) {
      this.#handlerFailed(err, req, res, conn);
    }
  }

  #handlerFailed(err: unknown, req: SockeyeRequest, res: SockeyeResponse, conn: HttpConnection): void {
    if (conn.closed || conn.ending) return;
    if (!res.headersSent) {
      // A body error (e.g. invalid JSON, body too large) keeps its status; anything else is our fault: 500.
      const status = err instanceof ProtocolError && err.status > 0 ? err.status : 500;
      const text = status === 500 ? 'Internal Server Error' : (err as Error).message;
      try {
        res.send(text, status, { 'Content-Type': 'text/plain; charset=utf-8' });
      } catch {
        conn.destroy();
      }
    } else if (!res.finished) {
      // Part of a response is on the wire: the only honest signal left is to abort the connection.
      conn.destroy();
    }
    if (this.#onError !== null) {
      try {
        this.#onError(err, req);
      } catch {
        // an error reporter that throws must not take the server down
      }
    }
  }

  /** @internal */
  countError(err: SockeyeError): void {
    const e = this.stats.errors;
    e[err.code] = (e[err.code] ?? 0) + 1;
  }

  /** @internal */
  connectionClosed(conn: HttpConnection): void {
    this.connections.delete(conn);
    if (this.connections.size === 0 && this.websockets.size === 0) this.#onEmpty?.();
  }

  #onEmpty: (() => void) | null = null;

  /**
   * Graceful close: stop accepting, close idle keep-alive connections now, let in-flight requests finish
   * (their responses carry `Connection: close`), and destroy what is left at `deadline` ms.
   */
  close(options: { deadline?: number } = {}): Promise<CloseResult> {
    if (this.#closing !== null) return this.#closing;
    const deadline = options.deadline ?? CLOSE_DEADLINE_MS;
    this.#closing = new Promise<CloseResult>((resolve) => {
      const result: CloseResult = { closed: 0, terminated: 0 };
      const total = this.connections.size + this.websockets.size;
      this.#net.close();
      let timer: NodeJS.Timeout | null = null;
      const finish = () => {
        if (timer !== null) clearTimeout(timer);
        this.#stopTick?.();
        this.#stopTick = null;
        result.closed = total - result.terminated;
        resolve(result);
      };
      this.#onEmpty = finish;
      for (const c of this.connections) {
        c.draining = true;
        // In-flight requests finish and then close (their response carries Connection: close).
        c.protocol.info.keepAlive = false;
        if (c.protocol.isIdle) c.destroy();
      }
      // RFC 6455 §7.4.1: 1001, the endpoint is going away.
      for (const ws of this.websockets) ws.close(1001, 'Server shutting down');
      if (this.connections.size === 0 && this.websockets.size === 0) {
        finish();
        return;
      }
      timer = setTimeout(() => {
        for (const c of this.connections) {
          result.terminated++;
          c.destroy();
        }
        for (const ws of this.websockets) {
          result.terminated++;
          ws.terminate();
        }
      }, deadline);
    });
    return this.#closing;
  }

  /** Counters and current connections. */
  getStats(): { connections: number; accepted: number; rejected: number; requests: number } & HttpStats {
    return { connections: this.connections.size, ...this.stats };
  }
}

function noop(): void {}

function defaultHandler(_req: SockeyeRequest, res: SockeyeResponse): void {
  res.send('Not Found', 404);
}

/**
 * Starts a server and resolves once it listens.
 *
 * @example
 * ```ts
 * const server = await serve({ port: 8080, request: (req, res) => res.send(`hello ${req.path}`) });
 * ```
 */
export async function serve<T = unknown>(options: ServeOptions<T> = {}): Promise<Server> {
  const server = new Server(options);
  return server.listen(options.port ?? 3000, options.host, options.backlog ?? 511);
}
