/**
 * diagnostics_channel events (the Node convention; undici and node:http publish theirs the same way): what happens
 * on a server's connections, for tools to subscribe to. The names and message shapes are public API (docs/api.md,
 * "Diagnostics channels"); the inspector (src/inspector/) is one consumer of them.
 *
 * PERF: the hot paths (ws-send.ts, ws-connection.ts, http-connection.ts) hold one guarded line per event,
 * `if (chX.hasSubscribers) publishX(...)`, on a module-level channel object: nothing is built when nobody listens.
 * Measured (node 20, 2e8 iterations, bench noise ±0.5 ns): `channel.hasSubscribers` on an inactive channel costs
 * the same as a module-level boolean (0.3–1.0 ns against 1.1–1.6 ns), and Node gives no hook to keep such a
 * boolean in sync with `subscribe()`, so the channel's own getter is the check. The messages are built here.
 */

import { Buffer } from 'node:buffer';
import dc from 'node:diagnostics_channel';
import type { Socket } from 'node:net';

/** `sockeye:connection:accept` — `{ server, socket }`: a TCP connection was accepted and will be served. */
export const chAccept = dc.channel('sockeye:connection:accept');
/** `sockeye:connection:end` — `{ server, socket, websocket, info }`: a connection ended (`info`: ConnectionEndInfo). */
export const chEnd = dc.channel('sockeye:connection:end');
/** `sockeye:http:request:start` — `{ server, socket, request }`: a request head was read and goes to the handler. */
export const chRequestStart = dc.channel('sockeye:http:request:start');
/** `sockeye:http:response:finish` — `{ socket, request, status }`: the whole response was handed to the socket. */
export const chResponseFinish = dc.channel('sockeye:http:response:finish');
/** `sockeye:ws:upgrade` — `{ socket, request, accepted, status, websocket }`: the handshake was answered. */
export const chUpgrade = dc.channel('sockeye:ws:upgrade');
/** `sockeye:ws:open` — `{ socket, request, websocket }`: the connection is open (after the `open` handler). */
export const chOpen = dc.channel('sockeye:ws:open');
/** `sockeye:ws:frame:received` — `{ websocket, opcode, fin, rsv1, length }`: each frame header as it came on the wire. */
export const chFrameIn = dc.channel('sockeye:ws:frame:received');
/** `sockeye:ws:frame:sent` — `{ websocket, opcode, fin, rsv1, length }`. */
export const chFrameOut = dc.channel('sockeye:ws:frame:sent');
/** `sockeye:ws:frame:payload` — `{ websocket, direction, opcode, data }`: opt-in, the payload bytes (a copy). */
export const chPayload = dc.channel('sockeye:ws:frame:payload');
/** `sockeye:ws:backpressure` — `{ websocket, event, bufferedAmount, limit }`. */
export const chBackpressure = dc.channel('sockeye:ws:backpressure');
/** `sockeye:ws:ping` — `{ websocket }`: an idle ping was sent to check that the peer is alive. */
export const chIdlePing = dc.channel('sockeye:ws:ping');
/** `sockeye:ws:close` — `{ websocket, step, code, reason }`: a step of the close handshake. */
export const chClose = dc.channel('sockeye:ws:close');

/** What a frame event says of the frame's direction. */
export type FrameDirection = 'received' | 'sent';
/** Steps of the close handshake (RFC 6455 §7): our close frame sent, the peer's received, the TCP close awaited. */
export type CloseStep = 'close-sent' | 'close-received' | 'fail' | 'fin-wait';
/** Backpressure events: over `backpressureLimit` (send returned SEND_BACKPRESSURE), under it again (`drain`),
 * a message dropped (policy `drop`) or the connection cut off (policy `close`, 1008). */
export type BackpressureEvent = 'reached' | 'drained' | 'dropped' | 'cut-off';

// RFC 6455 §5.2 opcodes, by the names the stats use.
const OPCODES: Record<string, number> = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

export function publishAccept(server: object, socket: Socket): void {
  chAccept.publish({ server, socket });
}

export function publishEnd(server: object, socket: Socket | null, websocket: object | null, info: object): void {
  chEnd.publish({ server, socket, websocket, info });
}

export function publishRequestStart(server: object, socket: Socket, request: object): void {
  chRequestStart.publish({ server, socket, request });
}

export function publishResponseFinish(socket: Socket, request: object | null, status: number): void {
  chResponseFinish.publish({ socket, request, status });
}

export function publishUpgrade(
  socket: Socket,
  request: object,
  accepted: boolean,
  status: number,
  websocket: object | null,
): void {
  chUpgrade.publish({ socket, request, accepted, status, websocket });
}

export function publishOpen(socket: Socket, request: object, websocket: object): void {
  chOpen.publish({ socket, request, websocket });
}

/** A frame (or a whole message, see docs/api.md) in either direction; `kind` as the stats name opcodes. */
export function publishFrame(
  websocket: object,
  direction: FrameDirection,
  kind: string,
  fin: boolean,
  rsv1: boolean,
  length: number,
): void {
  const opcode = OPCODES[kind] ?? -1;
  if (direction === 'received') chFrameIn.publish({ websocket, opcode, fin, rsv1, length });
  else chFrameOut.publish({ websocket, opcode, fin, rsv1, length });
}

/** The payload of a message, copied (the caller's buffer may be a view of the shared read buffer). */
export function publishPayload(
  websocket: object,
  direction: FrameDirection,
  text: boolean,
  data: Buffer | string,
): void {
  chPayload.publish({
    websocket,
    direction,
    opcode: text ? 1 : 2,
    data: typeof data === 'string' ? data : Uint8Array.prototype.slice.call(data),
  });
}

export function publishBackpressure(
  websocket: object,
  event: BackpressureEvent,
  bufferedAmount: number,
  limit: number,
): void {
  chBackpressure.publish({ websocket, event, bufferedAmount, limit });
}

export function publishIdlePing(websocket: object): void {
  chIdlePing.publish({ websocket });
}

/** A frame header as it came on the wire (the core's tap, see WsProtocol.reportFrames). */
export function publishFrameReceived(
  websocket: object,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  length: number,
): void {
  chFrameIn.publish({ websocket, opcode, fin, rsv1, length });
}

/**
 * A step of the close handshake. Called once or twice per connection (not a hot path), unguarded: it builds
 * nothing unless someone subscribed. The close frames themselves are frame events (ws-connection.ts).
 */
export function publishCloseStep(websocket: object, step: CloseStep, code: number, reason: string): void {
  if (chClose.hasSubscribers) chClose.publish({ websocket, step, code, reason });
}

/**
 * Payload length of the close frame we send for `code` and `reason`. RFC 6455 §5.5.1: the 2-byte code and the
 * UTF-8 reason, or nothing (1005: no code); the core cuts a failure's reason to 123 bytes (§5.5: 125 in all).
 */
export function closeFrameLength(code: number, reason: string): number {
  if (code === 1005 || code === 0) return 0;
  return 2 + Math.min(Buffer.byteLength(reason), 123);
}

/**
 * The names of sockeye's diagnostics channels (`node:diagnostics_channel`), for `subscribe(name, fn)`. Message
 * shapes: docs/api.md, "Diagnostics channels".
 *
 * @example
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(DIAGNOSTICS_CHANNELS.frameReceived, (m) => console.log((m as FrameMessage).opcode));
 */
export const DIAGNOSTICS_CHANNELS = {
  accept: 'sockeye:connection:accept',
  end: 'sockeye:connection:end',
  requestStart: 'sockeye:http:request:start',
  responseFinish: 'sockeye:http:response:finish',
  upgrade: 'sockeye:ws:upgrade',
  open: 'sockeye:ws:open',
  frameReceived: 'sockeye:ws:frame:received',
  frameSent: 'sockeye:ws:frame:sent',
  payload: 'sockeye:ws:frame:payload',
  backpressure: 'sockeye:ws:backpressure',
  idlePing: 'sockeye:ws:ping',
  close: 'sockeye:ws:close',
} as const;

/** `sockeye:ws:frame:received` / `sockeye:ws:frame:sent`. */
export interface FrameMessage {
  /** The ServerWebSocket (or a client's connection). */
  websocket: object;
  /** RFC 6455 §5.2: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong. */
  opcode: number;
  fin: boolean;
  /** RSV1 (RFC 7692 §6: set on the first frame of a compressed message), as on the wire. */
  rsv1: boolean;
  /**
   * Payload bytes: a received frame's payload length as on the wire (compressed when `rsv1`); a sent message's or
   * fragment's as the application handed it over (before compression; a string's length in UTF-16 units).
   */
  length: number;
}

/** `sockeye:ws:frame:payload`. */
export interface PayloadMessage {
  websocket: object;
  direction: FrameDirection;
  opcode: number;
  /** A string (a text message sent as one) or a copy of the bytes. */
  data: string | Uint8Array;
}

/** `sockeye:ws:backpressure`. */
export interface BackpressureMessage {
  websocket: object;
  event: BackpressureEvent;
  bufferedAmount: number;
  /** `backpressureLimit` for reached/drained, `maxBackpressure` for dropped/cut-off. */
  limit: number;
}

/** `sockeye:ws:close`. */
export interface CloseStepMessage {
  websocket: object;
  step: CloseStep;
  code: number;
  reason: string;
}
