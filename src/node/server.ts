/**
 * `serve()`: a `node:net` server that accepts connections (listen backlog, maxConnections), drives each with
 * an HttpConnection, runs the application's handler (native `request(req, res)` or WHATWG `fetch(Request)`),
 * checks every connection's deadlines on one coarse tick, and closes gracefully.
 */

import { Buffer } from 'node:buffer';
import type net from 'node:net';
import { ProtocolError, type SockeyeError } from '../errors.js';
import type { RequestParserLimits, TargetChars } from '../http1/parser.js';
import { Http1ServerCache } from '../http1/protocol.js';
import { simpleResponse } from '../http1/serializer.js';
import {
  BODY_TIMEOUT_MS,
  CLOSE_DEADLINE_MS,
  HEADERS_TIMEOUT_MS,
  HTTP_MAX_PIPELINE_BYTES,
  INSPECTOR_ENDS_KEPT,
  INSPECTOR_FEED_STALL_MS,
  INSPECTOR_FRAMES_KEPT,
  INSPECTOR_HISTORY_SAMPLES,
  INSPECTOR_INTERVAL_MS,
  INSPECTOR_MAX_LISTED,
  INSPECTOR_PREVIEW_CHARS,
  INSPECTOR_STATS_COST_FACTOR,
  KEEP_ALIVE_TIMEOUT_MS,
  LINGER_MS,
  LISTEN_BACKLOG,
  MAX_BODY_BYTES,
  MAX_HEADER_BYTES,
  MAX_HEADER_COUNT,
  MAX_REQUEST_LINE_BYTES,
  MAX_REQUESTS_PER_CONNECTION,
  MAX_TRAILER_BYTES,
} from '../limits.js';
import { httpDateNow, onTick } from './clock.js';
import { deflateStats } from './deflate.js';
import { chAccept, chEnd, chRequestStart, publishAccept, publishEnd, publishRequestStart } from './diagnostics.js';
import { type FetchHandler, runFetch } from './fetch.js';
import { HttpConnection, type HttpStats, UPGRADE_NONE, UPGRADE_RAW, UPGRADE_WEBSOCKET } from './http-connection.js';
import { KernelCounters } from './kernel-stats.js';
import type { ListenStats } from './listen-stats.js';
import { createListener, type Listener, type ListenerOptions } from './listener.js';
import { formatMetrics } from './metrics.js';
import type { PubSubAdapter } from './pubsub-adapter.js';
import type { SockeyeRequest } from './request.js';
import type { SockeyeResponse } from './response.js';
import type { ServerStats, SseStats } from './stats.js';
import { TopicHub } from './topic-hub.js';
import { startUpgrade } from './upgrade.js';
import {
  type CloseInfo,
  type FrameObserver,
  ignore,
  isThenable,
  newWebSocketStats,
  type PublishResult,
  type ServerWebSocket,
  tellEnd,
  type WebSocketOptions,
  WsServerContext,
  websocketEndInfo,
} from './websocket.js';
import type { FrameTap } from './ws-types.js';

/**
 * A native request handler. Throwing (or rejecting) before a response was sent answers 500. A returned promise (a
 * thenable) is watched for that rejection; any other return value is ignored, so `(req, res) => res.send('hi')`
 * and `(req, res) => res.json(x)` are whole handlers.
 */
export type RequestHandler = (req: SockeyeRequest, res: SockeyeResponse) => unknown;

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
  /**
   * Listen on a Unix domain socket instead of a TCP port: `{ path: '/run/app.sock' }` (then without `port` and
   * `host`). A stale socket file at `path` (nobody accepting on it) is replaced; the file is removed on close.
   * `server.port` is then 0, `server.hostname` the path and `server.url` `http+unix://` and the encoded path.
   */
  listen?: { path: string };
  /**
   * Aborting this signal closes the server gracefully, as `server.close()` does (WebSockets get 1001). Already
   * aborted: `serve()` rejects with its reason and nothing listens.
   */
  signal?: AbortSignal;
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
  /** Methods served, case-sensitive (RFC 9110 §9.1); any other gets `501` (RFC 9110 §15.6.2). Default: every method
   * reaches the handler. RFC 9110 §9.1 has general-purpose servers support GET and HEAD: list them. */
  allowedMethods?: readonly string[];
  /**
   * Which VCHARs outside RFC 3986 a request-target may hold (RFC 9112 §3.2; others: 400): `'browser'` (default)
   * accepts the ones browsers send unencoded (`\` `^` backtick `{` `|` `}`) and refuses `"` `<` `>`; `'rfc3986'`
   * refuses all nine; `'any'` accepts all nine. See docs/limits.md#request-target-octets.
   */
  targetChars?: TargetChars;
  /** Called with errors thrown by handlers (after the 500 is sent). Default: ignore. */
  onError?: (err: unknown, req: SockeyeRequest) => unknown;
  /** Connections from one IP address beyond this are refused (503 / closed). Default: unlimited. */
  maxConnectionsPerIp?: number;
  /** TCP keep-alive probes after this many ms of silence (`socket.setKeepAlive`); `false`/0: off (default). */
  tcpKeepAlive?: number | false;
  /**
   * Serve `stats()` in the Prometheus text format at this path (e.g. `"/metrics"`), or `{ path, stats }` to serve
   * other figures of the same shape (`sockeye/cluster` serves the sum over its workers this way). Default: off.
   */
  metrics?: string | MetricsOptions;
  /**
   * Topics across nodes: an adapter that carries publishes to other processes or machines and delivers theirs
   * (`redisPubSub()` from `sockeye/redis`, or your own `PubSubAdapter`). Its local interest is every topic a
   * WebSocket or an event stream (`res.sse()`) of this server subscribes to.
   */
  pubsub?: PubSubAdapter;
  /** Called when any connection ends (HTTP or WebSocket), with why, for logging. */
  onConnectionEnd?: (info: ConnectionEndInfo) => unknown;
  /**
   * The inspector: a live page of this server's listener, connections, frames and ends at `path`, with a token.
   * Off by default. See docs/api.md, "Inspector".
   *
   * @example
   * serve({ inspector: { token: process.env.INSPECTOR_TOKEN } }); // http://host:port/_sockeye?token=…
   */
  inspector?: InspectorOptions;
}

/** `serve({ inspector })`. */
export interface InspectorOptions {
  /** Where the page is served; its feed is `<path>/feed`. Default `'/_sockeye'`. */
  path?: string;
  /** Required: the secret the page asks for (`?token=` or `Authorization: Bearer`). At least 16 characters. */
  token: string;
  /** Show payloads (a text preview of text frames). Default `false`: frames are shown by opcode and length only. */
  payloads?: boolean;
}

/** @internal What the inspector module gives the server (src/inspector/index.ts), and what the server gives it. */
export interface InspectorHandle {
  /** Answers the request if it is the inspector's (true), else leaves it (false). */
  handle(req: SockeyeRequest, res: SockeyeResponse): boolean;
  /** Ends the feeds and unsubscribes. */
  close(): void;
}

/** @internal The inspector's settings, resolved by the server (the numbers from limits.ts). */
export interface InspectorSettings {
  path: string;
  token: string;
  payloads: boolean;
  intervalMs: number;
  historySamples: number;
  framesKept: number;
  previewChars: number;
  endsKept: number;
  maxListed: number;
  feedStallMs: number;
  statsCostFactor: number;
}

/** Where `/metrics` is served and where its figures come from. */
export interface MetricsOptions {
  /** The path, e.g. `"/metrics"` (GET only). */
  path: string;
  /** The figures to print. Default: this server's `stats()`. A rejection answers 503 with its message. */
  stats?: () => ServerStats | Promise<ServerStats>;
}

/** The end of a connection, as told to `onConnectionEnd`. */
export interface ConnectionEndInfo {
  kind: 'http' | 'websocket';
  remoteAddress: string;
  remotePort: number;
  /** HTTP: 'peer-close', 'keep-alive-timeout', 'headers-timeout', 'body-timeout', 'protocol-error',
   * 'server-close' (we sent Connection: close), 'handler-error', 'shutdown', 'connection-lost', 'unused',
   * 'backpressure' (an event stream's client stopped reading: `res.sse()` policy `close`);
   * WebSocket: the CloseCause. */
  cause: string;
  /** Who ended it: the peer, the server, or nobody (dropped). */
  initiator: 'peer' | 'server' | 'none';
  /** WebSocket close code (0 for HTTP), reason and cleanliness. */
  code: number;
  reason: string;
  wasClean: boolean;
  /** Requests served on the connection (HTTP; for a WebSocket, its upgrade request counts). */
  requests: number;
  bytesRead: number;
  bytesWritten: number;
  durationMs: number;
}

/** What `close()` reports. */
export interface CloseResult {
  /** Connections that ended on their own (idle closed, in-flight finished, close handshakes) before the deadline. */
  closed: number;
  /** Connections destroyed at the deadline. */
  terminated: number;
}

/**
 * A running server.
 *
 * It is its connections' `ServerContext` (checked where `new HttpConnection(socket, this)` is made); the clause
 * `implements ServerContext` is left out because that interface and these fields are marked internal, so they are
 * stripped from the published types (tsconfig `stripInternal`), and a published class cannot implement an interface
 * that is not there.
 */
export class Server {
  /** @internal */ readonly parserLimits: RequestParserLimits;
  /** @internal */ readonly maxBodyBytes: number;
  /** @internal */ readonly maxPipelineBytes: number;
  /** @internal */ readonly headersTimeout: number;
  /** @internal */ readonly keepAliveTimeout: number;
  /** @internal */ readonly bodyTimeout: number;
  /** @internal */ readonly maxRequestsPerConnection: number;
  /** @internal The response-head and Host memos of this server's connections (see Http1ServerCache). */
  readonly http1Cache: Http1ServerCache;
  /** @internal */ readonly allowedMethods: ReadonlySet<string> | null;
  /** @internal HTTP counters (see `stats()`). */
  readonly httpStats: HttpStats & { ends: Record<string, number>; bytesIn: number; bytesOut: number };
  /** @internal Open HTTP connections. */
  readonly connections: Set<HttpConnection>;
  readonly #upgradeHook: UpgradeHook | null;
  readonly #ws: WsServerContext<unknown> | null;
  /** @internal The topics of this server's WebSockets and event streams. */
  readonly topicHub: TopicHub;
  /** @internal Counters of this server's event streams (`res.sse()`). */
  readonly sseStats: SseStats;
  readonly #handler: RequestHandler;
  readonly #onError: ((err: unknown, req: SockeyeRequest) => unknown) | null;
  readonly #onConnectionEnd: ((info: ConnectionEndInfo) => unknown) | null;
  readonly #maxConnections: number;
  readonly #maxPerIp: number;
  readonly #perIp: Map<string, number>;
  readonly #tcpKeepAlive: number;
  readonly #metricsPath: string | null;
  readonly #metricsStats: (() => ServerStats | Promise<ServerStats>) | null;
  #accepted: number;
  #rejected: { maxConnections: number; perIp: number; shuttingDown: number };
  #wsHandshaking: number;
  #wsBytesIn: number;
  #wsBytesOut: number;
  /** The listener (with its accept-queue probe), once `listen()` has bound it. */
  #listener: Listener | null;
  #startedAt: number;
  /** The kernel's namespace-wide counters, from listen() on (`stats().kernel`). */
  #kernel: KernelCounters | null;
  #stopTick: (() => void) | null;
  #closing: Promise<CloseResult> | null;
  #onEmpty: (() => void) | null;
  #port: number;
  #host: string;
  /** Removes the abort listener of `serve({ signal })` (null without a signal, or once closing). */
  #unlistenSignal: (() => void) | null;
  #inspector: InspectorHandle | null;

  /** @internal use `serve()` */
  // biome-ignore lint/suspicious/noExplicitAny: the per-connection data type is the caller's
  constructor(options: ServeOptions<any>) {
    const limits = options.limits ?? {};
    this.parserLimits = {
      maxRequestLineBytes: limits.maxRequestLineBytes ?? MAX_REQUEST_LINE_BYTES,
      maxHeaderBytes: limits.maxHeaderBytes ?? MAX_HEADER_BYTES,
      maxHeaderCount: limits.maxHeaderCount ?? MAX_HEADER_COUNT,
      maxTrailerBytes: limits.maxTrailerBytes ?? MAX_TRAILER_BYTES,
      targetChars: options.targetChars ?? 'browser',
    };
    this.maxBodyBytes = limits.maxBodyBytes ?? MAX_BODY_BYTES;
    this.maxPipelineBytes = HTTP_MAX_PIPELINE_BYTES;
    const t = options.timeouts ?? {};
    this.headersTimeout = t.headers ?? HEADERS_TIMEOUT_MS;
    this.keepAliveTimeout = t.keepAlive ?? KEEP_ALIVE_TIMEOUT_MS;
    this.bodyTimeout = t.body ?? BODY_TIMEOUT_MS;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection ?? MAX_REQUESTS_PER_CONNECTION;
    this.http1Cache = new Http1ServerCache();
    this.allowedMethods = options.allowedMethods === undefined ? null : new Set(options.allowedMethods);
    this.httpStats = {
      requests: 0,
      errors: {},
      timeouts: { headers: 0, body: 0, idle: 0 },
      ends: {},
      bytesIn: 0,
      bytesOut: 0,
    };
    this.connections = new Set();
    this.#upgradeHook = options.upgrade ?? null;
    const wsOptions = options.websocket as WebSocketOptions<unknown> | undefined;
    this.sseStats = { open: 0, opened: 0, events: 0, dropped: 0, cutOff: 0 };
    this.topicHub = new TopicHub({ maxTopicsPerSubscriber: wsOptions?.maxTopicsPerConnection });
    this.#ws = wsOptions === undefined ? null : new WsServerContext(wsOptions, this.topicHub);
    if (this.#ws !== null) this.#ws.onEnd = (ws, info) => this.#websocketEnded(ws, info);
    if (options.pubsub !== undefined) this.topicHub.useAdapter(options.pubsub);
    if (options.request !== undefined) this.#handler = options.request;
    else if (options.fetch !== undefined) {
      const fetch = options.fetch;
      this.#handler = (req, res) => runFetch(fetch, req, res);
    } else this.#handler = defaultHandler;
    this.#onError = options.onError ?? null;
    this.#onConnectionEnd = options.onConnectionEnd ?? null;
    this.#maxConnections = options.maxConnections ?? 0;
    this.#maxPerIp = options.maxConnectionsPerIp ?? 0;
    this.#perIp = new Map();
    this.#tcpKeepAlive = options.tcpKeepAlive === false ? 0 : (options.tcpKeepAlive ?? 0);
    const metrics = typeof options.metrics === 'string' ? { path: options.metrics } : options.metrics;
    this.#metricsPath = metrics?.path ?? null;
    this.#metricsStats = metrics?.stats ?? null;
    this.#accepted = 0;
    this.#rejected = { maxConnections: 0, perIp: 0, shuttingDown: 0 };
    this.#wsHandshaking = 0;
    this.#wsBytesIn = 0;
    this.#wsBytesOut = 0;
    this.#listener = null;
    this.#startedAt = Date.now();
    this.#kernel = null;
    this.#stopTick = null;
    this.#closing = null;
    this.#onEmpty = null;
    this.#port = 0;
    this.#host = '';
    this.#unlistenSignal = null;
    this.#inspector = null;
  }

  /** @internal Plugs the inspector in (serve() does, before listening). */
  useInspector(inspector: InspectorHandle): void {
    this.#inspector = inspector;
  }

  /** @internal binds `where` and starts the tick; `signal` (serve's) closes the server when aborted. */
  async listen(where: ListenerOptions, signal?: AbortSignal): Promise<this> {
    const listener = await createListener(where, (socket) => this.#accept(socket));
    this.#listener = listener;
    this.#port = listener.port;
    this.#host = listener.address;
    this.#startedAt = Date.now();
    this.#kernel = new KernelCounters();
    this.#stopTick = onTick((now) => {
      for (const c of this.connections) c.checkTimeouts(now);
      this.#ws?.checkTimeouts(now);
    });
    if (signal !== undefined) {
      const onAbort = () => void this.close();
      if (signal.aborted) {
        // Aborted while binding: nothing is served.
        await this.close({ deadline: 0 });
        throw signal.reason;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlistenSignal = () => signal.removeEventListener('abort', onAbort);
    }
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

  /** `http://host:port` of the listener (IPv6 in brackets); `http+unix://` and the encoded path on a Unix socket. */
  get url(): string {
    if (this.#listener?.kind === 'unix') return `http+unix://${encodeURIComponent(this.#host)}`;
    const h = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${h}:${this.#port}`;
  }

  /** Open WebSocket connections. */
  get websockets(): ReadonlySet<ServerWebSocket<unknown>> {
    return this.#ws === null ? EMPTY_SET : this.#ws.open;
  }

  /**
   * Publishes a message to every WebSocket subscribed to `topic` (`ws.subscribe(topic)`) and every event stream
   * (`res.sse().subscribe(topic)`): framed once (and compressed once per shared permessage-deflate setting, and
   * encoded once as an event), the same bytes written to each subscriber in the order they subscribed; each subscriber's backpressure policy applies to it alone, so a slow one never delays the
   * others. Messages published to one topic reach each subscriber in publish order. Returns how many subscribers got
   * it now, have it queued over `backpressureLimit`, and did not get it.
   *
   * @example
   * server.publish('room:42', JSON.stringify({ from: 'ada', text: 'hi' }));
   * @throws TypeError when `topic` is not a string
   */
  publish(
    topic: string,
    data: string | Uint8Array | ArrayBuffer,
    isBinary?: boolean,
    compress?: boolean,
  ): PublishResult {
    return this.topicHub.publish(topic, data, isBinary, compress, null);
  }

  /**
   * Sets the observer told of every WebSocket frame of this server both ways (see `FrameObserver`), replacing the
   * one set before; `null` removes it. With none set (the default) frames cost nothing more. One observer per
   * server: a tool that needs to share should fan out itself, or use the diagnostics channels.
   *
   * @example
   * let frames = 0;
   * server.observeFrames({ connection: () => true, frame: () => void frames++ });
   */
  // biome-ignore lint/suspicious/noExplicitAny: the observer's per-connection state is its own
  observeFrames(observer: FrameObserver<any> | null): void {
    if (this.#ws === null) return;
    this.#ws.frameObserver = observer as FrameTap | null;
    if (observer === null) {
      // Forget what the old observer kept per connection: nothing of it outlives its removal.
      for (const ws of this.#ws.open) ws.forgetObserver();
    }
  }

  /** How many WebSockets and event streams are subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this.topicHub.registry.subscriberCount(topic);
  }

  #openCount(): number {
    return this.connections.size + (this.#ws === null ? 0 : this.#ws.open.size) + this.#wsHandshaking;
  }

  #accept(socket: net.Socket): void {
    this.#accepted++;
    if (this.#closing !== null) {
      this.#rejected.shuttingDown++;
      socket.destroy();
      return;
    }
    if (this.#maxConnections > 0 && this.#openCount() >= this.#maxConnections) {
      this.#rejected.maxConnections++;
      refuse(socket, 'Too many connections');
      return;
    }
    if (this.#maxPerIp > 0) {
      const ip = socket.remoteAddress ?? '';
      const n = this.#perIp.get(ip) ?? 0;
      if (n >= this.#maxPerIp) {
        this.#rejected.perIp++;
        refuse(socket, 'Too many connections from your address');
        return;
      }
      this.#perIp.set(ip, n + 1);
      socket.once('close', () => {
        const left = (this.#perIp.get(ip) ?? 1) - 1;
        if (left <= 0) this.#perIp.delete(ip);
        else this.#perIp.set(ip, left);
      });
    }
    // The peer's address must be read while the socket is open if it is to be logged when it ends.
    if (this.#onConnectionEnd !== null) void socket.remoteAddress;
    socket.setNoDelay(true);
    if (this.#tcpKeepAlive > 0) socket.setKeepAlive(true, this.#tcpKeepAlive);
    const conn = new HttpConnection(socket, this);
    this.connections.add(conn);
    if (chAccept.hasSubscribers) publishAccept(this, socket);
  }

  /** @internal WebSocket upgrades go to `websocket`, others to the raw `upgrade` hook. */
  acceptsUpgrade(req: SockeyeRequest): number {
    if (this.#ws !== null && req.headers.hasToken('upgrade', 'websocket')) return UPGRADE_WEBSOCKET;
    return this.#upgradeHook !== null ? UPGRADE_RAW : UPGRADE_NONE;
  }

  /** @internal */
  onUpgrade(req: SockeyeRequest, socket: net.Socket, head: Buffer[], kind: number): void {
    const ws = this.#ws;
    if (ws !== null && kind === UPGRADE_WEBSOCKET) {
      if (this.#closing !== null) {
        socket.destroy();
        return;
      }
      this.#wsHandshaking++;
      startUpgrade(req, socket, head, ws, this.#onHandshakeDone);
      return;
    }
    const hook = this.#upgradeHook;
    if (hook === null) {
      socket.destroy();
      return;
    }
    // The raw socket is handed over paused: its new owner resumes it (or listens for 'data') when ready.
    socket.pause();
    hook(req, socket, head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head));
  }

  /** Called by startUpgrade once a handshake is decided (one function per server, not one per handshake). */
  readonly #onHandshakeDone = (): void => {
    this.#wsHandshaking--;
    this.#checkEmpty();
  };

  /** @internal */
  runHandler(req: SockeyeRequest, res: SockeyeResponse, conn: HttpConnection): void {
    if (chRequestStart.hasSubscribers) publishRequestStart(this, conn.socket, req);
    if (this.#inspector !== null && this.#inspector.handle(req, res)) return;
    if (this.#metricsPath !== null && req.path === this.#metricsPath && req.method === 'GET') {
      this.#serveMetrics(res);
      return;
    }
    try {
      const r = this.#handler(req, res);
      if (isThenable(r)) {
        r.then(undefined, (err: unknown) => this.#handlerFailed(err, req, res, conn));
      }
    } catch (err) {
      this.#handlerFailed(err, req, res, conn);
    }
  }

  #serveMetrics(res: SockeyeResponse): void {
    const source = this.#metricsStats;
    if (source === null) {
      res.send(formatMetrics(this.stats()), 200, METRICS_HEADERS);
      return;
    }
    Promise.resolve()
      .then(source)
      .then(
        (s) => {
          if (!res.finished) res.send(formatMetrics(s), 200, METRICS_HEADERS);
        },
        (err: unknown) => {
          if (!res.headersSent) {
            res.send(`metrics unavailable: ${err instanceof Error ? err.message : String(err)}\n`, 503, {
              'Content-Type': 'text/plain; charset=utf-8',
            });
          }
        },
      );
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
        conn.setCause('handler-error');
        conn.destroy();
      }
    } else if (!res.finished) {
      // Part of a response is on the wire: the only honest signal left is to abort the connection.
      conn.setCause('handler-error');
      conn.destroy();
    }
    if (this.#onError !== null) {
      try {
        const r = this.#onError(err, req);
        if (isThenable(r)) r.then(undefined, ignore);
      } catch {
        // an error reporter that throws must not take the server down
      }
    }
  }

  /** @internal */
  countError(err: SockeyeError): void {
    const e = this.httpStats.errors;
    e[err.code] = (e[err.code] ?? 0) + 1;
  }

  /** @internal an HTTP connection ended (or was handed over to another protocol). */
  connectionClosed(conn: HttpConnection): void {
    this.connections.delete(conn);
    const cause = conn.endCause;
    if (cause !== 'upgraded') {
      const st = this.httpStats;
      st.ends[cause] = (st.ends[cause] ?? 0) + 1;
      const socket = conn.socket;
      st.bytesIn += socket.bytesRead;
      st.bytesOut += socket.bytesWritten;
      const onEnd = this.#onConnectionEnd;
      if (onEnd !== null || chEnd.hasSubscribers) {
        const initiator =
          cause === 'peer-close' ? 'peer' : cause === 'connection-lost' || cause === 'unused' ? 'none' : 'server';
        const info: ConnectionEndInfo = {
          kind: 'http',
          remoteAddress: conn.remoteAddress,
          remotePort: conn.remotePort,
          cause,
          initiator,
          code: 0,
          reason: '',
          // Clean: the connection ended in an orderly way, not because something broke.
          wasClean: cause !== 'connection-lost' && cause !== 'handler-error' && cause !== 'protocol-error',
          requests: conn.protocol.requests,
          bytesRead: socket.bytesRead,
          bytesWritten: socket.bytesWritten,
          durationMs: Date.now() - conn.startedAt,
        };
        if (chEnd.hasSubscribers) publishEnd(this, socket, null, info);
        if (onEnd !== null) tellEnd(onEnd, info);
      }
    }
    this.#checkEmpty();
  }

  #websocketEnded(ws: ServerWebSocket<unknown>, info: CloseInfo): void {
    this.#wsBytesIn += info.bytesRead;
    this.#wsBytesOut += info.bytesWritten;
    const onEnd = this.#onConnectionEnd;
    if (onEnd !== null || chEnd.hasSubscribers) {
      const end = websocketEndInfo(ws, info);
      if (chEnd.hasSubscribers) publishEnd(this, null, ws, end);
      if (onEnd !== null) tellEnd(onEnd, end);
    }
    this.#checkEmpty();
  }

  #checkEmpty(): void {
    if (this.#onEmpty !== null && this.#openCount() === 0) this.#onEmpty();
  }

  /**
   * Graceful close: stop accepting; close idle keep-alive connections now; let in-flight requests finish
   * (their responses carry `Connection: close`); send every WebSocket a close frame 1001 (Going Away) and wait
   * for the close handshakes; destroy what is left at `deadline` ms. Resolves with the counts.
   */
  close(options: { deadline?: number } = {}): Promise<CloseResult> {
    if (this.#closing !== null) return this.#closing;
    const deadline = options.deadline ?? CLOSE_DEADLINE_MS;
    this.#unlistenSignal?.();
    this.#unlistenSignal = null;
    this.#inspector?.close();
    this.#closing = new Promise<CloseResult>((resolve) => {
      const result: CloseResult = { closed: 0, terminated: 0 };
      const total = this.#openCount();
      this.#listener?.close();
      let timer: NodeJS.Timeout | null = null;
      const finish = () => {
        this.#onEmpty = null;
        if (timer !== null) clearTimeout(timer);
        this.#stopTick?.();
        this.#stopTick = null;
        result.closed = Math.max(0, total - result.terminated);
        const adapter = this.topicHub.adapter;
        if (adapter === null) resolve(result);
        else
          adapter.close().then(
            () => resolve(result),
            () => resolve(result),
          );
      };
      this.#onEmpty = finish;
      for (const c of this.connections) {
        c.draining = true;
        // In-flight requests finish and then close (their response carries Connection: close).
        c.protocol.info.keepAlive = false;
        // An event stream never finishes by itself: it ends now (the client sees the end and may reconnect to
        // another node).
        if (c.sse !== null) c.sse.end('shutdown');
        else if (c.protocol.isIdle) {
          c.setCause('shutdown');
          c.destroy();
        }
      }
      // RFC 6455 §7.4.1: 1001, the endpoint is going away.
      if (this.#ws !== null) for (const ws of this.#ws.open) ws.close(1001, 'Server shutting down');
      if (this.#openCount() === 0) {
        finish();
        return;
      }
      timer = setTimeout(() => {
        for (const c of this.connections) {
          result.terminated++;
          c.setCause('shutdown');
          c.destroy();
        }
        if (this.#ws !== null) {
          for (const ws of this.#ws.open) {
            result.terminated++;
            ws.terminate();
          }
        }
      }, deadline);
    });
    return this.#closing;
  }

  /** Connections by state, totals since start, and the listen queue as the kernel sees it. */
  stats(): ServerStats {
    let httpIdle = 0;
    let httpActive = 0;
    let httpBytesIn = this.httpStats.bytesIn;
    let httpBytesOut = this.httpStats.bytesOut;
    for (const c of this.connections) {
      if (c.protocol.isIdle) httpIdle++;
      else httpActive++;
      httpBytesIn += c.socket.bytesRead;
      httpBytesOut += c.socket.bytesWritten;
    }
    let wsOpen = 0;
    let wsClosing = 0;
    let wsBytesIn = this.#wsBytesIn;
    let wsBytesOut = this.#wsBytesOut;
    let holding = 0;
    const ws = this.#ws;
    if (ws !== null) {
      for (const w of ws.open) {
        if (w.readyState === 1) wsOpen++;
        else wsClosing++;
        if (w.holdsDeflateContexts) holding++;
        wsBytesIn += w.bytesRead;
        wsBytesOut += w.bytesWritten;
      }
    }
    const h = this.httpStats;
    return {
      connections: {
        httpIdle,
        httpActive,
        wsHandshaking: this.#wsHandshaking,
        wsOpen,
        wsClosing,
        total: httpIdle + httpActive + this.#wsHandshaking + wsOpen + wsClosing,
      },
      accepted: this.#accepted,
      rejected: { ...this.#rejected },
      http: {
        requests: h.requests,
        errors: { ...h.errors },
        timeouts: { ...h.timeouts },
        ends: { ...h.ends },
        bytesIn: httpBytesIn,
        bytesOut: httpBytesOut,
      },
      websocket: {
        ...(ws === null ? newWebSocketStats() : structuredClone(ws.stats)),
        bytesIn: wsBytesIn,
        bytesOut: wsBytesOut,
      },
      sse: { ...this.sseStats },
      deflate:
        ws === null || ws.deflateSettings === null ? null : { ...deflateStats, connectionsHoldingContexts: holding },
      listen: this.#listener?.queue == null ? NO_LISTEN_STATS : this.#listener.queue.snapshot(),
      kernel: (this.#kernel ??= new KernelCounters()).snapshot(),
      uptimeSeconds: (Date.now() - this.#startedAt) / 1000,
      pubsub: this.topicHub.adapter?.stats?.() ?? null,
    };
  }
}

const METRICS_HEADERS: [string, string][] = [['Content-Type', 'text/plain; version=0.0.4; charset=utf-8']];

const EMPTY_SET: ReadonlySet<ServerWebSocket<unknown>> = new Set();

const NO_LISTEN_STATS: ListenStats = {
  queueDepth: null,
  queueLimit: null,
  listenOverflows: null,
  listenDrops: null,
  syncookiesSent: null,
  syncookiesRecv: null,
  syncookiesFailed: null,
  reqQFullDrop: null,
};

function noop(): void {}

const NO_HEADERS: readonly [string, string][] = [];

/** Answers 503 before reading anything and closes (maxConnections, per-IP limit). */
function refuse(socket: net.Socket, message: string): void {
  socket.on('error', noop);
  socket.end(simpleResponse(503, NO_HEADERS, `${message}\n`, httpDateNow()));
  // RFC 9112 §9.6: lingering close, so that the peer reads the 503 before the socket goes.
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

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
  const signal = options.signal;
  if (signal?.aborted === true) throw signal.reason;
  const backlog = options.backlog ?? LISTEN_BACKLOG;
  let where: ListenerOptions;
  if (options.listen !== undefined) {
    if (options.port !== undefined || options.host !== undefined) {
      throw new TypeError('serve({ listen: { path } }) listens on a Unix domain socket: leave out port and host');
    }
    const path = options.listen.path;
    if (typeof path !== 'string' || path === '') throw new TypeError('serve({ listen: { path } }) needs a socket path');
    where = { kind: 'unix', path, backlog };
  } else where = { kind: 'tcp', port: options.port ?? 3000, host: options.host, backlog, monitorQueue: true };
  const server = new Server(options);
  if (options.inspector !== undefined) {
    // Loaded only when asked for: `import { serve } from 'sockeye'` never loads the inspector. It uses the public
    // API only (its imports from index.ts are types), so this is the one edge from node/ to inspector/.
    const { createInspector } = await import('../inspector/index.js');
    server.useInspector(createInspector(server, inspectorSettings(options.inspector)));
  }
  return server.listen(where, signal);
}

function inspectorSettings(o: InspectorOptions): InspectorSettings {
  if (typeof o.token !== 'string' || o.token.length < 16) {
    throw new TypeError('serve({ inspector }) needs a token of at least 16 characters');
  }
  const path = o.path ?? '/_sockeye';
  if (!path.startsWith('/') || path.endsWith('/')) {
    throw new TypeError(`inspector.path must start with "/" and not end with one, got ${JSON.stringify(path)}`);
  }
  return {
    path,
    token: o.token,
    payloads: o.payloads === true,
    intervalMs: INSPECTOR_INTERVAL_MS,
    historySamples: INSPECTOR_HISTORY_SAMPLES,
    framesKept: INSPECTOR_FRAMES_KEPT,
    previewChars: INSPECTOR_PREVIEW_CHARS,
    endsKept: INSPECTOR_ENDS_KEPT,
    maxListed: INSPECTOR_MAX_LISTED,
    feedStallMs: INSPECTOR_FEED_STALL_MS,
    statsCostFactor: INSPECTOR_STATS_COST_FACTOR,
  };
}
