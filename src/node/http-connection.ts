/**
 * HttpConnection drives one Http1ServerProtocol over one socket: feeds it the socket's bytes (batched, so the
 * responses of a pipelined batch leave in one write), runs the application's handler for each request,
 * pauses the socket while a request body is not being read, enforces the header/body/keep-alive timeouts,
 * and hands the socket over on Upgrade.
 */

import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { httpError, type ProtocolError } from '../errors.js';
import { encodeEvent } from '../http1/event-stream.js';
import type { RequestHead, RequestParserLimits } from '../http1/parser.js';
import {
  type Http1ServerCache,
  Http1ServerProtocol,
  type RequestInfo,
  S_CLOSING,
  S_UPGRADED,
} from '../http1/protocol.js';
import { errorResponse } from '../http1/serializer.js';
import { copyOf } from '../util/bytes.js';
import { coarseNow, httpDateNow } from './clock.js';
import { chRequestStart, chResponseFinish, publishRequestStart, publishResponseFinish } from './diagnostics.js';
import { type BodySource, SockeyeRequest } from './request.js';
import { type ResponseTarget, SockeyeResponse } from './response.js';
import { type ReadTarget, setReadTarget, useSharedReads } from './socket-reads.js';
import { SocketWriter } from './socket-writer.js';
import { type SseOptions, SseStream, type SseTarget } from './sse.js';
import type { HttpStats, SseStats } from './stats.js';
import type { TopicHub } from './topic-hub.js';

/** What a connection needs from its server. Implemented by Server. @internal */
export interface ServerContext {
  readonly parserLimits: RequestParserLimits;
  readonly maxBodyBytes: number;
  readonly maxPipelineBytes: number;
  readonly headersTimeout: number;
  readonly keepAliveTimeout: number;
  readonly bodyTimeout: number;
  readonly maxRequestsPerConnection: number;
  /** The server's response-head and Host memos, shared by its connections. */
  readonly http1Cache: Http1ServerCache;
  /** Methods served (others: 501), or null for every method. */
  readonly allowedMethods: ReadonlySet<string> | null;
  /** Whether this server takes over connections that ask for this upgrade. */
  /** Who takes over a request that asks for an upgrade: UPGRADE_NONE (nobody), UPGRADE_WEBSOCKET or UPGRADE_RAW. */
  acceptsUpgrade(req: SockeyeRequest): number;
  /** Takes over an upgraded connection (socket paused, `head` = bytes after the request head). */
  onUpgrade(req: SockeyeRequest, socket: Socket, head: Buffer[], kind: number): void;
  readonly httpStats: HttpStats;
  /** The server's topics (WebSockets and event streams subscribe to them). */
  readonly topicHub: TopicHub;
  /** Counters of the server's event streams. */
  readonly sseStats: SseStats;
  runHandler(req: SockeyeRequest, res: SockeyeResponse, conn: HttpConnection): void;
  countError(err: ProtocolError): void;
  connectionClosed(conn: HttpConnection): void;
}

/** acceptsUpgrade: nobody takes the upgrade (the handler answers the request). */
export const UPGRADE_NONE = 0;
/** acceptsUpgrade: the WebSocket server does. */
export const UPGRADE_WEBSOCKET = 1;
/** acceptsUpgrade: the raw `upgrade` hook does. */
export const UPGRADE_RAW = 2;

// HttpStats lives in stats.ts with the rest of `server.stats()`'s shape (a public type: the published types of
// `ServerStats` must not reach this module).
export type { HttpStats } from './stats.js';

const kConnection = Symbol('sockeye.httpConnection');
type SocketWithConn = Socket & { [kConnection]?: HttpConnection | undefined };

function socketOnData(this: SocketWithConn, chunk: Buffer): void {
  this[kConnection]?.onData(chunk);
}
function socketOnEnd(this: SocketWithConn): void {
  this[kConnection]?.onEnd();
}
function socketOnError(this: SocketWithConn): void {
  // ECONNRESET and friends: the 'close' event follows and does the cleanup.
}
function socketOnClose(this: SocketWithConn): void {
  this[kConnection]?.onClose();
}
function socketOnDrain(this: SocketWithConn): void {
  this[kConnection]?.onDrain();
}

/** How long a connection may linger after an error response, reading and discarding, before it is destroyed. */
const LINGER_MS = 2000;

export class HttpConnection implements ResponseTarget, BodySource, ReadTarget, SseTarget {
  readonly socket: Socket;
  readonly protocol: Http1ServerProtocol;
  readonly ctx: ServerContext;
  /** The request being handled, if any. */
  request: SockeyeRequest | null;
  response: SockeyeResponse | null;
  /** The response being streamed as server-sent events (`res.sse()`), if any. */
  sse: SseStream | null;
  /** When the current phase (head, idle) started, for the deadline checks. */
  phaseStart: number;
  /** Last time body bytes arrived. */
  lastBody: number;
  /** The socket is paused because of the body or the pipeline. */
  paused: boolean;
  /** Responses wait unread past maxPipelineBytes: the next pipelined request waits (see afterResponse). */
  outputHeld: boolean;
  /** The connection is ending (after `end()`): the socket is half-closed and lingering. */
  ending: boolean;
  closed: boolean;
  /** The server asked this connection to close after its current response (graceful shutdown). */
  draining: boolean;
  /** Why the connection ends, once known (see ConnectionEndInfo.cause). */
  endCause: string;
  /** When it was accepted (ms since the epoch). */
  readonly startedAt: number;
  /** What acceptsUpgrade said of the request being handed over. */
  private upgradeKind: number;
  /** Gathers one read's worth of responses into one socket write. */
  private readonly writer: SocketWriter;

  constructor(socket: Socket, ctx: ServerContext) {
    this.socket = socket;
    this.ctx = ctx;
    this.request = null;
    this.response = null;
    this.sse = null;
    this.phaseStart = coarseNow();
    this.lastBody = 0;
    this.paused = false;
    this.outputHeld = false;
    this.ending = false;
    this.closed = false;
    this.draining = false;
    this.endCause = '';
    this.upgradeKind = UPGRADE_NONE;
    this.startedAt = Date.now();
    this.writer = new SocketWriter(socket, this);
    this.protocol = new Http1ServerProtocol(
      {
        limits: ctx.parserLimits,
        maxBodyBytes: ctx.maxBodyBytes,
        date: httpDateNow,
        cache: ctx.http1Cache,
        allowedMethods: ctx.allowedMethods,
      },
      this,
      this.writer,
    );
    // Module-level listeners that find their connection on the socket (as ws does): no closures per connection.
    (socket as SocketWithConn)[kConnection] = this;
    if (!useSharedReads(socket, this)) socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
    socket.on('drain', socketOnDrain);
  }

  /** @internal */ onData(chunk: Buffer): void {
    this.receive(chunk);
  }

  /** @internal ReadTarget: a read into the shared buffer. The parser keeps pieces (pipelined requests, body
   * chunks handed to the handler), so it gets a copy. */
  onRead(view: Buffer): void {
    this.receive(copyOf(view));
  }

  private receive(chunk: Buffer): void {
    if (this.ending) return; // lingering after an error: discard
    const p = this.protocol;
    if (p.isIdle) this.phaseStart = coarseNow();
    this.lastBody = coarseNow();
    this.writer.begin();
    try {
      p.receive(chunk);
    } finally {
      this.writer.commit();
    }
    if (this.outputHeld) this.releaseOutput();
    if (p.state === S_UPGRADED) {
      this.handOver();
      return;
    }
    // Pipelined requests waiting behind an unfinished response: stop reading once enough are buffered.
    if (p.pendingBytes > this.ctx.maxPipelineBytes && !this.paused) this.pause();
  }

  /** Gives the socket to the upgrade hook, with the bytes received after the request head. */
  private handOver(): void {
    const req = this.request;
    if (req === null || this.closed) return;
    const rest = this.protocol.takeRemainder();
    this.endCause = 'upgraded';
    this.ctx.connectionClosed(this);
    this.closed = true;
    // Let go of the socket: the next protocol owns it (and must listen for 'error' itself).
    const socket = this.socket;
    socket.off('data', socketOnData);
    setReadTarget(socket, null);
    socket.off('end', socketOnEnd);
    socket.off('error', socketOnError);
    socket.off('close', socketOnClose);
    socket.off('drain', socketOnDrain);
    (socket as SocketWithConn)[kConnection] = undefined;
    this.request = null;
    this.response = null;
    this.ctx.onUpgrade(req, this.socket, rest, this.upgradeKind);
  }

  /** @internal */ onEnd(): void {
    const sse = this.sse;
    if (sse !== null && !this.ending) {
      // An event-stream client never half-closes to wait for the rest (the stream has no end of its own): its FIN
      // means it is leaving. The stream ends, then the response and the connection.
      this.setCause('peer-close');
      this.protocol.info.keepAlive = false;
      sse.connectionClosed();
      this.endEventStream();
      return;
    }
    this.protocol.receiveEof();
    this.setCause('peer-close');
    // Idle: finish writing what is queued (a response may still sit in the socket buffer), then close.
    if (this.protocol.isIdle || this.ending) this.endSocket();
    // Otherwise a complete request is still being answered: the socket closes after the response
    // (allowHalfOpen is on so that the answer can still be written).
    else if (this.protocol.state !== S_UPGRADED) this.protocol.info.keepAlive = false;
  }

  /** @internal */ onClose(): void {
    if (this.closed) return;
    this.closed = true;
    // Closed without any of the causes below being recorded: the peer reset or vanished.
    this.setCause(this.protocol.requests === 0 && !this.ending ? 'unused' : 'connection-lost');
    if (this.request !== null && !this.request.complete) {
      this.request.fail(httpError(400, 'ERR_HTTP_CONNECTION_LOST', 'Connection lost before the body was complete'));
    }
    this.sse?.connectionClosed();
    this.ctx.connectionClosed(this);
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of w) fn();
  }

  private drainWaiters: (() => void)[] = [];

  /** @internal */ onDrain(): void {
    if (this.outputHeld) this.releaseOutput();
    const w = this.drainWaiters;
    if (w.length === 0) return;
    this.drainWaiters = [];
    for (const fn of w) fn();
  }

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Records why the connection ends; the first cause recorded wins. */
  setCause(cause: string): void {
    if (this.endCause === '') this.endCause = cause;
  }

  /** @internal SocketWriterOwner: a core asked for the end, and the batch is written. */
  onWriterEnd(): void {
    this.endSocket();
  }

  /** Ends the connection after what has been written: FIN, then discard input until the peer closes. */
  endSocket(): void {
    if (this.ending || this.closed) return;
    // Reached after a response with Connection: close, or an error response (whose cause was set first).
    this.setCause(this.draining ? 'shutdown' : 'server-close');
    this.ending = true;
    this.protocol.stop();
    this.socket.end();
    this.resume();
    // Lingering close: keep reading (and discarding) so that a client still sending does not get an RST that
    // would destroy our response in its receive buffer; destroy after LINGER_MS at the latest.
    const t = setTimeout(() => this.socket.destroy(), LINGER_MS);
    t.unref();
    this.socket.once('close', () => clearTimeout(t));
  }

  /** Forcibly closes the connection. */
  destroy(): void {
    this.protocol.stop();
    this.socket.destroy();
  }

  // --- Http1ServerHandler ----------------------------------------------------------------------

  onRequest(head: RequestHead, info: RequestInfo): void {
    const req = new SockeyeRequest(head, info, this);
    this.request = req;
    this.lastBody = coarseNow();
    if (this.draining) info.keepAlive = false;
    if (this.ctx.maxRequestsPerConnection > 0 && this.protocol.requests >= this.ctx.maxRequestsPerConnection) {
      info.keepAlive = false;
    }
    this.upgradeKind = info.upgrade ? this.ctx.acceptsUpgrade(req) : UPGRADE_NONE;
    if (this.upgradeKind !== UPGRADE_NONE) {
      // The hook runs once receive() has returned and the bytes after the head are known (handOver()), in the
      // same turn: no read can come in between, so the socket is not paused here (PERF: a pause and a resume in
      // one turn cost two epoll_ctl calls per WebSocket handshake; bench ws-storm). Whoever takes the socket over
      // decides whether it reads on.
      // No response object: the upgrade hook answers on the socket itself.
      this.response = null;
      this.ctx.httpStats.requests++;
      if (chRequestStart.hasSubscribers) publishRequestStart(this.ctx, this.socket, req);
      this.protocol.detach();
      return;
    }
    const res = new SockeyeResponse(this);
    this.response = res;
    this.ctx.httpStats.requests++;
    this.ctx.runHandler(req, res, this);
  }

  onBody(chunk: Buffer): void {
    const req = this.request;
    if (req === null) return;
    this.lastBody = coarseNow();
    if (!req.push(chunk)) this.pause();
  }

  onRequestEnd(trailers: string[]): void {
    const req = this.request;
    if (req !== null) req.end(trailers);
    this.phaseStart = coarseNow();
    this.releaseExchange();
  }

  onError(err: ProtocolError): void {
    this.ctx.countError(err);
    this.setCause('protocol-error');
    const req = this.request;
    if (req !== null && !req.complete) req.fail(err);
    if (this.protocol.responseStarted && this.response !== null && !this.response.finished) {
      // A response is under way and cannot be replaced: abort.
      this.socket.destroy();
    }
  }

  // --- BodySource ------------------------------------------------------------------------------

  /** Peer address, read on demand (getpeername is a syscall; Node caches it on the socket, so once read it
   * stays available for logs after the socket closed). */
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  wantBody(): void {
    this.protocol.sendContinue();
    this.resume();
  }

  resumeBody(): void {
    this.resume();
  }

  // --- ResponseTarget --------------------------------------------------------------------------

  writeHead(status: number, fields: string[], bodyLength: number): void {
    // The head waits in the batch for the first body chunk (one write for both).
    this.writer.begin();
    try {
      this.protocol.writeHead(status, fields, bodyLength, true);
    } finally {
      this.writer.commit();
    }
  }

  writeBody(chunk: Buffer): boolean {
    this.writer.begin();
    try {
      this.protocol.writeBody(chunk);
    } finally {
      this.writer.commit();
    }
    return this.socket.writableLength < this.socket.writableHighWaterMark;
  }

  endResponse(trailers: string[] | null): void {
    // `res.end()` on an event stream's response ends the stream.
    this.sse?.responseEnded();
    // Taken before the protocol ends the response: ending it may already start the next pipelined request.
    const answered = this.request;
    const status = this.response?.status ?? 0;
    this.writer.begin();
    try {
      this.protocol.endResponse(trailers);
    } finally {
      this.writer.commit();
    }
    if (chResponseFinish.hasSubscribers) publishResponseFinish(this.socket, answered, status);
    this.afterResponse(answered);
  }

  respond(status: number, fields: string[], body: Buffer | null): void {
    const answered = this.request;
    this.writer.begin();
    try {
      this.protocol.respond(status, fields, body, true);
    } finally {
      this.writer.commit();
    }
    if (chResponseFinish.hasSubscribers) publishResponseFinish(this.socket, answered, status);
    this.afterResponse(answered);
  }

  /**
   * After the response to `answered` ended: drop the rest of its body if unread, go on with pipelined requests.
   * `this.request` may already be the next request: the protocol starts a pipelined request as soon as the
   * previous exchange is over, and that request's body must not be taken for the unread rest of this one's.
   */
  private afterResponse(answered: SockeyeRequest | null): void {
    const p = this.protocol;
    if (answered !== null && !answered.complete && p.state !== S_CLOSING) {
      // The handler answered without reading the whole body: discard the rest so the next request can be read.
      answered.discard();
      this.resume();
    }
    this.phaseStart = coarseNow();
    if (p.state === S_CLOSING || this.ending) return;
    // SECURITY: a client that pipelines requests and never reads the responses would make us parse and answer
    // its requests, queueing every response, as fast as it sends them. Once the responses not yet taken by the
    // kernel pass the pipeline budget, the next request waits until the peer has read them (onDrain); its bytes
    // wait in the protocol, and past maxPipelineBytes of them reading stops (receive). What such a client costs
    // is bounded: maxPipelineBytes of requests, as much of responses, plus one read and one response.
    if (this.writer.pendingBytes + this.socket.writableLength > this.ctx.maxPipelineBytes) {
      this.outputHeld = true;
      this.protocol.holdNext = true;
    }
    this.continuePipeline();
  }

  /** After a response: goes on with the pipelined requests unless held, and reads again when nothing holds it. */
  private continuePipeline(): void {
    const p = this.protocol;
    if (!p.isInReceive && p.pendingBytes > 0) {
      // Pipelined requests were waiting for this response.
      this.writer.begin();
      try {
        p.drive();
      } finally {
        this.writer.commit();
      }
    }
    // RFC 9112 §9.3.2 pipelining + RFC 6455 §4.2: an upgrade request pipelined behind this one is answered after it.
    // Ending the response may itself have parsed it (the protocol goes on with pending input at once), leaving no
    // pending bytes for the branch above: the hand-over is checked either way.
    if (p.state === S_UPGRADED) {
      this.handOver();
      return;
    }
    const current = this.request;
    if (
      this.paused &&
      !this.outputHeld &&
      p.pendingBytes <= this.ctx.maxPipelineBytes &&
      (current === null || current.complete)
    ) {
      this.resume();
    }
    this.releaseExchange();
  }

  /**
   * Once a batch is written or the socket drained: while the socket keeps up, go on with the held requests (each
   * round may hold again). A socket still over the budget is waited for: its 'drain' comes, since a write took it
   * past its highWaterMark (unless that is above the budget: then nothing would come, and we go on).
   */
  private releaseOutput(): void {
    const socket = this.socket;
    while (
      this.outputHeld &&
      !this.closed &&
      !this.ending &&
      this.writer.pendingBytes === 0 &&
      (socket.writableLength <= this.ctx.maxPipelineBytes || !socket.writableNeedDrain)
    ) {
      this.outputHeld = false;
      this.protocol.holdNext = false;
      this.continuePipeline();
    }
    // The peer's FIN came while requests were held (onEnd found the connection busy): now they are answered, the
    // end is handled as it would have been then.
    if (!this.outputHeld && this.socket.readableEnded && !this.closed && !this.ending) this.onEnd();
  }

  /** Lets go of the request and response once both are over: an idle keep-alive connection keeps neither (nor
   * their headers). The handler may still hold them. */
  private releaseExchange(): void {
    if (this.request?.complete === true && this.response?.finished === true) {
      this.request = null;
      this.response = null;
    }
  }

  drained(): Promise<void> {
    if (this.socket.writableLength < this.socket.writableHighWaterMark || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  cork(): void {
    this.writer.begin();
  }

  uncork(): void {
    this.writer.commit();
    if (this.outputHeld) this.releaseOutput();
  }

  // --- SseTarget -------------------------------------------------------------------------------

  openEventStream(res: SockeyeResponse, options: SseOptions): SseStream {
    const req = this.request;
    // Options are checked (and the retry field encoded) before anything is sent.
    const stream = new SseStream(this, req?.headers.get('last-event-id') ?? '', options);
    const first = options.retry === undefined ? null : encodeEvent({ retry: options.retry });
    res.setHeader('Content-Type', 'text/event-stream');
    if (res.getHeader('cache-control') === undefined) res.setHeader('Cache-Control', 'no-cache');
    if (res.getHeader('x-accel-buffering') === undefined) res.setHeader('X-Accel-Buffering', 'no');
    this.sse = stream;
    this.ctx.sseStats.opened++;
    this.ctx.sseStats.open++;
    // The head leaves at once (with the retry field, in one write): the client's `open` comes with it.
    this.writer.begin();
    try {
      res.writeHead();
      if (first !== null) this.protocol.writeBody(first);
    } finally {
      this.writer.commit();
    }
    // HEAD: the head is the whole answer (RFC 9110 §9.3.2).
    if (req?.method === 'HEAD') stream.end('closed');
    // Opened while the server closes (a handler that was already running): ended at once, as server.close() ends
    // the others, so that the client reconnects to a node that stays.
    else if (this.draining) stream.end('shutdown');
    return stream;
  }

  writeBodyHeld(chunk: Buffer, framed: Buffer): void {
    // PERF: held to the end of this event-loop turn, as a WebSocket's publish (ws-send.ts #sendEncoded): the events
    // a burst of publishes brings one stream leave in one socket write.
    const w = this.writer;
    w.begin();
    try {
      this.protocol.writeBodyFramed(chunk, framed);
      w.holdOpen();
    } finally {
      w.commit();
    }
  }

  get bufferedAmount(): number {
    return this.socket.writableLength + this.writer.pendingBytes;
  }

  get heldBytes(): number {
    return this.writer.heldBytes;
  }

  endEventStream(): void {
    const res = this.response;
    if (res !== null && !res.finished && !this.closed) res.end();
  }

  abort(cause: string): void {
    this.setCause(cause);
    this.destroy();
  }

  get topicHub(): TopicHub {
    return this.ctx.topicHub;
  }

  sseEnded(stream: SseStream): void {
    if (this.sse === stream) this.sse = null;
    this.ctx.sseStats.open--;
  }

  get sseStats(): SseStats {
    return this.ctx.sseStats;
  }

  /** Deadline checks, from the server's coarse tick. */
  checkTimeouts(now: number): void {
    if (this.ending || this.closed) return;
    if (this.sse !== null) {
      this.sse.tick(now);
      return;
    }
    const p = this.protocol;
    const ctx = this.ctx;
    if (p.state === S_UPGRADED) return;
    if (p.isIdle) {
      const limit = p.requests === 0 ? ctx.headersTimeout : ctx.keepAliveTimeout;
      if (now - this.phaseStart > limit) {
        ctx.httpStats.timeouts.idle++;
        this.setCause(p.requests === 0 ? 'unused' : 'keep-alive-timeout');
        this.destroy();
      }
      return;
    }
    if (p.isReadingHead) {
      // Slowloris defence: the head must be complete within headersTimeout of its first byte.
      if (now - this.phaseStart > ctx.headersTimeout) {
        ctx.httpStats.timeouts.headers++;
        this.setCause('headers-timeout');
        this.timeoutResponse('Request header timeout');
      }
      return;
    }
    if (p.isReadingBody && !this.paused && now - this.lastBody > ctx.bodyTimeout) {
      ctx.httpStats.timeouts.body++;
      this.setCause('body-timeout');
      const req = this.request;
      if (req !== null) req.fail(httpError(408, 'ERR_HTTP_BODY_TIMEOUT', 'Request body timeout'));
      if (p.responseStarted) this.destroy();
      else this.timeoutResponse('Request body timeout');
    }
  }

  private timeoutResponse(message: string): void {
    this.protocol.stop();
    this.socket.write(errorResponse(408, message, httpDateNow()));
    this.endSocket();
  }
}
