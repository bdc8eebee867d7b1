/**
 * The seam between a server's topics and other processes: a pub/sub adapter carries local publishes to the other
 * nodes and delivers theirs here. `sockeye/redis` implements it on Redis pub/sub; anyone can write another (NATS,
 * a cluster of workers over IPC) on this interface alone.
 *
 * Interest-based: the server tells the adapter when a topic gains its first local subscriber (`subscribe`) and
 * loses its last (`unsubscribe`), so an adapter can listen only to the topics this node needs.
 */

import type { Buffer } from 'node:buffer';

/** What a publish did: subscribers that got the message now, that have it queued over `backpressureLimit`, and that
 * did not get it (closing, their `maxBackpressure` policy, or in the middle of sending a fragmented message). */
export interface PublishResult {
  sent: number;
  queued: number;
  dropped: number;
}

/** What a server offers its adapter. */
export interface PubSubHub {
  /**
   * Delivers a message published on another node to this node's local subscribers (never back to the adapter).
   * Returns the local counts, as `server.publish` does.
   */
  deliver(topic: string, data: Buffer, isBinary: boolean): PublishResult;
  /** Topics with at least one local subscriber now (to listen to again after a reconnect). */
  topics(): Iterable<string>;
}

/** A bridge from a server's topics to other nodes. Methods are called synchronously; none may throw. */
export interface PubSubAdapter {
  /** Called once, when the server starts, with what the server offers. */
  attach(hub: PubSubHub): void;
  /** A message published on this node (`server.publish`, `ws.publish`): carry it to the other nodes. */
  publish(topic: string, data: Buffer, isBinary: boolean): void;
  /** `topic` gained its first local subscriber. */
  subscribe(topic: string): void;
  /** `topic` lost its last local subscriber. */
  unsubscribe(topic: string): void;
  /** The server is closing. */
  close(): Promise<void>;
  /** Counters and state for `server.stats().pubsub` (numbers and short strings). */
  stats?(): Record<string, number | string>;
}
