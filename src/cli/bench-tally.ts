/**
 * What a `sockeye bench` run counts, shared by the HTTP and WebSocket drivers: completed requests (or echoed
 * messages), their latencies in a fixed-memory histogram, bytes, and errors by kind.
 */

import { Histogram } from './histogram.js';

/** Counters of one run, updated by the driver in its hot loop (numbers only; the error map is off the hot path). */
export class Tally {
  /** Requests answered (HTTP: final responses of any status) or messages echoed (WebSocket). */
  completed = 0;
  /** Responses with a 2xx status (HTTP) or echoes that matched (WebSocket). */
  ok = 0;
  /** Bytes sent and received on the sockets (HTTP) or in message payloads (WebSocket). */
  bytesOut = 0;
  bytesIn = 0;
  /** Sum of every kind in `errors`. */
  errorCount = 0;
  /** Connections that opened (HTTP: TCP/TLS connected; WebSocket: handshake done), reconnections included. */
  connects = 0;
  /** Latency of each completed request or message, in nanoseconds. */
  readonly latency = new Histogram();
  /** Errors by kind, e.g. `status 500`, `connect ECONNREFUSED`, `echo mismatch`. */
  readonly errors = new Map<string, number>();
  /** Responses by status code (HTTP only). */
  readonly statuses = new Map<number, number>();

  /** Counts `n` errors of `kind`. */
  error(kind: string, n = 1): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + n);
    this.errorCount += n;
  }
}

/** A running load: started by a driver, stopped by the command when the duration is over. */
export interface Load {
  /** Resolves once every connection has opened or failed at its first attempt. */
  readonly ready: Promise<void>;
  /** Starts sending on every open connection (and on each that opens from now on): the measured window. */
  begin(): void;
  /**
   * Counts a `timeout` error for each connection whose oldest request or message has waited longer than the
   * timeout at time `now` (performance.now()), and opens it anew: a server that stops answering shows as errors.
   */
  check(now: number): void;
  /** Stops sending, ends every connection; resolves once they are closed (or given up on). */
  stop(): Promise<void>;
}
