/**
 * The server side of the WebSocket opening handshake (RFC 6455 §4.2) on a socket handed over by the HTTP layer:
 * validate the request, ask the application's `upgrade` hook (sync or async, bounded in time), then answer 101
 * and open a `ServerWebSocket` over a TCP transport, or refuse with a status.
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { STATUS_TEXT, simpleResponse } from '../http1/serializer.js';
import { LINGER_MS, WS_EARLY_BYTES_LIMIT, WS_HANDSHAKE_TIMEOUT_MS } from '../limits.js';
import { formatExtensions } from '../ws/extensions.js';
import {
  buildAcceptResponse,
  buildRejectResponse,
  type UpgradeRequestAccepted,
  validateUpgradeRequest,
} from '../ws/handshake.js';
import { type DeflateParams, type DeflateServerPolicy, negotiateDeflate } from '../ws/permessage-deflate.js';
import { httpDateNow } from './clock.js';
import { chOpen, chUpgrade, publishOpen, publishUpgrade } from './diagnostics.js';
import type { SockeyeRequest } from './request.js';
import { TcpTransport } from './transport.js';
import {
  ServerWebSocket,
  type UpgradeContext,
  type UpgradeRejection,
  type UpgradeResult,
  type WsServerContext,
} from './websocket.js';
import type { WebSocketStats } from './ws-connection.js';

function rejectWith(status: number, body = '', headers: [string, string][] = []): UpgradeRejection {
  return { reject: true, status, body, headers };
}

/**
 * Refuses the handshake: one response through the shared writer (http1/serializer.ts), then a lingering close.
 * `body` '' sends the reason phrase. Also the answer of the node:http bridge (bridge.ts) to a request it refuses
 * before the handshake rules run (`req` is then node:http's request: what the diagnostics event carries).
 * @internal
 */
export function writeRefusal(
  req: object,
  socket: Socket,
  status: number,
  body: string,
  headers: [string, string][],
): void {
  if (chUpgrade.hasSubscribers) publishUpgrade(socket, req, false, status, null);
  const text = body === '' ? `${STATUS_TEXT[status] ?? 'Error'}\n` : body;
  // A peer that resets while the refusal lingers must not raise an unhandled 'error'.
  socket.on('error', noop);
  // Invalid headers from the application are dropped rather than sent (the refusal still goes out).
  socket.end(simpleResponse(status, headers, text, httpDateNow(), { dropInvalidHeaders: true }));
  lingerThenDestroy(socket);
}

/** RFC 9112 §9.6: after a response that ends the connection, let the peer read it before the socket goes. */
function lingerThenDestroy(socket: Socket): void {
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * `upgradeToWebSocket` as the server and the bridge start it: a throw or a rejection destroys the socket, and
 * `done` is called once the handshake is decided (at once when it was synchronous). `done` is made once per
 * listener (no closure per handshake).
 * @internal
 */
export function startUpgrade<T>(
  req: SockeyeRequest,
  socket: Socket,
  head: Buffer[],
  ctx: WsServerContext<T>,
  done: () => void,
): void {
  let pending: Promise<void> | undefined;
  try {
    pending = upgradeToWebSocket(req, socket, head, ctx);
  } catch {
    socket.destroy();
  }
  if (pending === undefined) done();
  else pending.then(undefined, () => socket.destroy()).finally(done);
}

/**
 * Runs a WebSocket handshake on a socket handed over by the HTTP layer in the turn that read the request
 * (`head` = bytes after the request head; the socket is not paused, and nothing is read before this returns). Returns a promise only when the `upgrade` hook is asynchronous: the common path (no hook, or
 * a hook that answers at once) allocates no promise (PERF: connect-storm benchmark).
 * @internal
 */
export function upgradeToWebSocket<T>(
  req: SockeyeRequest,
  socket: Socket,
  head: Buffer[],
  ctx: WsServerContext<T>,
): Promise<void> | undefined {
  const options = ctx.options;
  const stats = ctx.stats;
  // RFC 6455 §4.2.1: what a valid opening handshake carries; anything else is refused (400, or 426).
  const check = validateUpgradeRequest(req.method, req.httpVersion, req.headers);
  if (!check.ok) {
    stats.rejected++;
    socket.on('error', noop);
    if (chUpgrade.hasSubscribers) publishUpgrade(socket, req, false, check.status, null);
    socket.end(buildRejectResponse(check, httpDateNow()));
    lingerThenDestroy(socket);
    return undefined;
  }
  if (options.upgrade === undefined) {
    completeUpgrade(req, socket, head, ctx, check, undefined);
    return undefined;
  }
  let gone = false;
  const onGone = () => {
    gone = true;
  };
  socket.once('close', onGone);
  socket.on('error', noop);
  let r: UpgradeResult<T> | Promise<UpgradeResult<T>>;
  try {
    const hookCtx: UpgradeContext = {
      protocols: check.protocols,
      origin: req.headers.get('origin'),
      reject: rejectWith,
    };
    r = options.upgrade(req, hookCtx);
  } catch (err) {
    socket.off('close', onGone);
    hookFailed(req, socket, stats, err, false);
    return undefined;
  }
  if (!isPromise(r)) {
    socket.off('close', onGone);
    if (socket.destroyed) {
      stats.abandoned++;
      return undefined;
    }
    completeUpgrade(req, socket, head, ctx, check, r);
    return undefined;
  }
  // Read while the hook decides: early frames are kept for the connection, and a client that leaves (FIN) is
  // noticed.
  const unwatch = watchWhileDeciding(socket, head, onGone);
  return withTimeout(r, options.upgradeTimeout ?? WS_HANDSHAKE_TIMEOUT_MS).then(
    (result) => {
      unwatch();
      socket.off('close', onGone);
      // The client may have gone while we were deciding: check the socket again after the await.
      if (gone || socket.destroyed) {
        stats.abandoned++;
        socket.destroy();
        return;
      }
      completeUpgrade(req, socket, head, ctx, check, result);
    },
    (err: unknown) => {
      unwatch();
      socket.off('close', onGone);
      hookFailed(req, socket, stats, err, gone);
    },
  );
}

/** The `upgrade` hook threw, rejected or timed out: 503 on a timeout, else 500 (or nothing if the client left). */
function hookFailed(req: SockeyeRequest, socket: Socket, stats: WebSocketStats, err: unknown, gone: boolean): void {
  stats.rejected++;
  if (!gone) writeRefusal(req, socket, err === TIMEOUT ? 503 : 500, '', []);
  else socket.destroy();
}

/** Acts on the hook's answer (`undefined`: no hook): refuse, or write the 101 and open the connection. */
function completeUpgrade<T>(
  req: SockeyeRequest,
  socket: Socket,
  head: Buffer[],
  ctx: WsServerContext<T>,
  check: UpgradeRequestAccepted,
  result: UpgradeResult<T> | undefined,
): void {
  const stats = ctx.stats;
  let protocol = '';
  let data: T = undefined as T;
  let extraHeaders: [string, string][] = [];
  let deflate = ctx.deflatePolicy !== null;
  if (result === false) {
    stats.rejected++;
    writeRefusal(req, socket, 403, '', []);
    return;
  }
  if (typeof result === 'object' && result !== null) {
    if ('reject' in result) {
      stats.rejected++;
      writeRefusal(req, socket, result.status, result.body, result.headers);
      return;
    }
    if (result.protocol !== undefined && result.protocol !== '') {
      // RFC 6455 §4.2.2: the server selects one of the values the client offered.
      if (!check.protocols.includes(result.protocol)) {
        stats.rejected++;
        writeRefusal(req, socket, 500, '', []);
        return;
      }
      protocol = result.protocol;
    }
    if (result.data !== undefined) data = result.data;
    if (result.headers !== undefined) extraHeaders = result.headers;
    if (result.perMessageDeflate === false) deflate = false;
  }
  // RFC 7692 §5: accept the first permessage-deflate offer we can, or go on without compression.
  let extensions = '';
  let deflateParams: DeflateParams | null = null;
  if (deflate && check.extensions.length > 0) {
    const agreement = negotiateDeflate(check.extensions, ctx.deflatePolicy as DeflateServerPolicy);
    if (agreement !== null) {
      extensions = formatExtensions([agreement.response]);
      deflateParams = agreement.params;
      stats.deflateNegotiated++;
    }
  }
  let response: string;
  try {
    response = buildAcceptResponse(check.key, protocol, extensions, extraHeaders);
  } catch {
    stats.rejected++;
    writeRefusal(req, socket, 500, '', []);
    return;
  }
  stats.accepted++;
  // PERF: as a Buffer. Node writes a latin1 string through libuv's queued write path here, which costs two
  // epoll_ctl calls and one more event-loop callback per handshake; a Buffer is written at once (strace, bench
  // ws-storm).
  const transport = new TcpTransport(socket);
  transport.writer.write(Buffer.from(response, 'latin1'));
  const ws = new ServerWebSocket<T>(transport, req, protocol, data, ctx, extensions, deflateParams);
  if (chUpgrade.hasSubscribers) publishUpgrade(socket, req, true, 101, ws);
  // Before start(): the `open` handler and the frames that came with the handshake follow this event.
  if (chOpen.hasSubscribers) publishOpen(socket, req, ws);
  ws.start(head);
}

/**
 * Reads the socket while an async `upgrade` hook runs: bytes (frames sent early) are kept in `head` for the
 * connection, and end of input means the client left (`onEnd`). Returns the function that stops it.
 */
function watchWhileDeciding(socket: Socket, head: Buffer[], onEnd: () => void): () => void {
  let bytes = 0;
  const onData = (chunk: Buffer) => {
    head.push(chunk);
    bytes += chunk.length;
    if (bytes > WS_EARLY_BYTES_LIMIT) socket.pause();
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
