/**
 * The shape of `server.stats()`, shared by the server that fills it and the metrics formatter that prints it.
 */

import type { DeflateStats } from './deflate.js';
import type { ListenStats } from './listen-stats.js';
import type { WebSocketStats } from './websocket.js';

/** HTTP counters of a server (`server.stats().http`). */
export interface HttpStats {
  requests: number;
  errors: Record<string, number>;
  timeouts: { headers: number; body: number; idle: number };
}

/** Server-sent event streams of a server (`server.stats().sse`, `res.sse()`). */
export interface SseStats {
  /** Streams open now. */
  open: number;
  /** Streams opened since the start. */
  opened: number;
  /** Events, comments and heartbeats written (sent or published). */
  events: number;
  /** Events skipped by policy `drop`. */
  dropped: number;
  /** Streams cut off by policy `close` (the client stopped reading). */
  cutOff: number;
}

/** Everything `server.stats()` reports. Counters are totals since the server started. */
export interface ServerStats {
  /** Open connections by state. */
  connections: {
    /** HTTP connections waiting for a request (keep-alive). */
    httpIdle: number;
    /** HTTP connections with a request in progress (reading it or answering it). */
    httpActive: number;
    /** WebSocket upgrades being decided (async `upgrade` hook). */
    wsHandshaking: number;
    wsOpen: number;
    wsClosing: number;
    total: number;
  };
  accepted: number;
  /** Connections refused right after accept, by reason. */
  rejected: { maxConnections: number; perIp: number; shuttingDown: number };
  http: HttpStats & {
    /** Ended HTTP connections by cause (see ConnectionEndInfo). */
    ends: Record<string, number>;
    bytesIn: number;
    bytesOut: number;
  };
  websocket: WebSocketStats & { bytesIn: number; bytesOut: number };
  /** Server-sent event streams (their connections count as `httpActive`). */
  sse: SseStats;
  /**
   * permessage-deflate, when enabled (else null): the zlib counters of the whole process (contexts are shared
   * between servers) and how many of this server's connections hold contexts of their own right now.
   */
  deflate: (DeflateStats & { connectionsHoldingContexts: number }) | null;
  /** The listen queue as the kernel sees it (Linux; null fields elsewhere). */
  listen: ListenStats;
  /** Seconds since the server started listening. */
  uptimeSeconds: number;
  /** The pub/sub adapter's state and counters (`serve({ pubsub })`), or null without one. */
  pubsub: Record<string, number | string> | null;
}
