/**
 * What one WebSocket connection (ws-connection.ts) is told and tells: its settings (`WsConnectionConfig`), the
 * events its face gets (`WsConnectionHandler`), why and how it ended (`CloseCause`, `CloseInfo`, given to close
 * handlers and `serve({ onConnectionEnd })`), and the counters a server keeps over all its connections
 * (`WebSocketStats`, in `server.stats()` and `/metrics`).
 */

import type { Buffer } from 'node:buffer';

/** Why a connection ended, as told to the close handler and to `serve({ onConnectionEnd })`. */
export type CloseCause =
  /** The peer started the close handshake. */
  | 'peer-close'
  /** `ws.close()` (or the server's graceful shutdown) started it. */
  | 'server-close'
  /** The peer broke the protocol (1002, 1007, 1009...). */
  | 'protocol-error'
  /** An application handler threw (1011). */
  | 'handler-error'
  /** The peer did not read: `maxBackpressure` was exceeded (1008). */
  | 'backpressure'
  /** Nothing arrived within `idleTimeout`, nor an answer to our ping within `pongTimeout`. */
  | 'idle-timeout'
  /** The close handshake did not finish within `closeTimeout`. */
  | 'close-timeout'
  /** `ws.terminate()`. */
  | 'terminated'
  /** The TCP connection dropped without a close handshake. */
  | 'connection-lost';

/** The end of a WebSocket connection, with everything needed to log it. */
export interface CloseInfo {
  /** Close code: the peer's (1005 when its frame had none), ours when we failed the connection, 1006 when none. */
  code: number;
  reason: string;
  /** Both close frames were exchanged and nobody failed the connection. */
  wasClean: boolean;
  /** Who started the end: the peer, the server (us), or nobody (the connection dropped). */
  initiator: 'peer' | 'server' | 'none';
  cause: CloseCause;
  /** Bytes read from / written to the socket over the connection's life (handshake included). */
  bytesRead: number;
  bytesWritten: number;
  /** Milliseconds since the connection opened. */
  durationMs: number;
}

/** WebSocket counters of a server. */
export interface WebSocketStats {
  /** Handshakes answered 101. */
  accepted: number;
  /** Handshakes refused (bad request, upgrade hook, errors). */
  rejected: number;
  /** The client went away while the `upgrade` hook was deciding. */
  abandoned: number;
  messagesIn: number;
  messagesOut: number;
  /** Payload bytes of messages received / sent. */
  payloadBytesIn: number;
  payloadBytesOut: number;
  /** Frames by opcode name (text, binary, continuation, ping, pong, close), in and out. */
  framesIn: Record<string, number>;
  framesOut: Record<string, number>;
  /** Close codes by who sent the close frame. */
  closeCodesFromPeer: Record<string, number>;
  closeCodesFromServer: Record<string, number>;
  /** Connection ends by cause. */
  ends: Record<string, number>;
  backpressureCloses: number;
  backpressureDrops: number;
  /** Connections that agreed on permessage-deflate. */
  deflateNegotiated: number;
  /** Protocol errors by ERR_WS_* code. */
  protocolErrors: Record<string, number>;
}

/** A zeroed set of WebSocket counters. */
export function newWebSocketStats(): WebSocketStats {
  return {
    accepted: 0,
    rejected: 0,
    abandoned: 0,
    messagesIn: 0,
    messagesOut: 0,
    payloadBytesIn: 0,
    payloadBytesOut: 0,
    framesIn: { text: 0, binary: 0, continuation: 0, ping: 0, pong: 0, close: 0 },
    framesOut: { text: 0, binary: 0, continuation: 0, ping: 0, pong: 0, close: 0 },
    closeCodesFromPeer: {},
    closeCodesFromServer: {},
    ends: {},
    backpressureCloses: 0,
    backpressureDrops: 0,
    deflateNegotiated: 0,
    protocolErrors: {},
  };
}

/** @internal */
export function bump(table: Record<string, number>, key: string | number): void {
  table[key] = (table[key] ?? 0) + 1;
}

/**
 * What a connection needs to know about its settings. A server's context implements it once for all its
 * connections (they point to it instead of holding copies); a client has one per connection.
 */
export interface WsConnectionConfig {
  /** `SIDE_SERVER` or `SIDE_CLIENT`. */
  readonly side: 0 | 1;
  /** Largest incoming message in bytes (1009 above); 0: no limit. */
  readonly maxPayload: number;
  /** How long a close we started waits for the peer's close frame, and a finished handshake for its TCP close. */
  readonly closeTimeoutMs: number;
  /** Quiet time before we ping (0: never), and how long we then wait for anything at all. */
  readonly idleTimeoutMs: number;
  readonly pongTimeoutMs: number;
  /** `bufferedAmount` above which a send reports backpressure (-1) and a drain is awaited (Infinity: never). */
  readonly backpressureLimit: number;
  /** Most bytes queued for a peer that does not read before the policy applies (Infinity: no limit). */
  readonly maxBackpressure: number;
  /** Policy past `maxBackpressure`: skip the message (true) or fail the connection with 1008. */
  readonly dropOnBackpressure: boolean;
  /** Single-frame messages from this size are streamed to `onWsMessageChunk` (Infinity: never). */
  readonly streamThreshold: number;
  /** Most frames one incoming message may come in (1008 past it); 0: no limit. */
  readonly maxFragments: number;
  /** Counters to keep (a server's), or null. */
  readonly stats: WebSocketStats | null;
  /** Connections of this config waiting for the peer's TCP close after a finished close handshake. */
  finWaiting: number;
  /** @internal Told of every frame both ways while set (a server's `observeFrames`); null: nobody observes. */
  frameObserver: FrameTap | null;
}

/**
 * @internal The public `FrameObserver` (websocket.ts) as a connection sees it: no face types down here. Per frame it
 * costs a call with numbers, no object (the diagnostics channels build one per event).
 */
export interface FrameTap {
  /** A connection's first frame since this observer was set: what `frame` gets for it (null: skip its frames). */
  connection(websocket: object): unknown;
  frame(state: unknown, sent: boolean, opcode: number, fin: boolean, rsv1: boolean, length: number, at: number): void;
}

/** What a face learns from its connection. Fixed methods, positional arguments: nothing allocated per event. */
export interface WsConnectionHandler {
  /**
   * A whole message, decompressed and checked. `data` may be ephemeral (a view of the shared read buffer or of the
   * inflate scratch buffer, see `isEphemeral`): use it or copy it before returning.
   */
  onWsMessage(binary: boolean, data: Buffer): void;
  /** A piece of a streamed message (a view of the shared read buffer when reads are shared). */
  onWsMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void;
  /** A ping (the pong is already written) / a pong. */
  onWsPing(data: Buffer): void;
  onWsPong(data: Buffer): void;
  /** The connection is closing because of the peer (its close frame, echoed) or a failure. */
  onWsClosing(): void;
  /** `bufferedAmount` went back under `backpressureLimit` after a send reported backpressure. */
  onWsDrain(): void;
  /** The transport closed; the connection's facts (`closeInfo()`, `failed`, `error`) say how. Called once. */
  onWsEnd(): void;
}
