/**
 * The two ways `sockeye/redis` talks to Redis, behind one small interface the adapter uses (`RedisLink`):
 * - `SingleLink`: one Redis server, PUBLISH/SUBSCRIBE on two connections (a subscribed connection can only listen).
 * - `ClusterLink`: a Redis Cluster, sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7.0): a channel lives on the shard
 *   that owns its hash slot (CRC16 of the name mod 16384, as for a key), so each message travels only inside its
 *   shard and the pub/sub traffic scales out with the masters. Classic PUBLISH in a cluster goes to every node over
 *   the cluster bus, which is what sharded pub/sub was made to avoid.
 *
 * Both fail fast rather than queue or retry a publish: a publish that cannot be sent now, or whose connection
 * closes before Redis answers, is reported as failed (counted lost by the adapter). A retry could deliver a message
 * twice (the first attempt may have reached Redis) or out of order (a later publish may pass it).
 */

import type { Buffer } from 'node:buffer';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** What the adapter needs from a Redis connection set. */
export interface RedisLink {
  /** Publishes; resolves with how many subscribed connections got it (nodes listening), rejects when not sent. */
  publish(channel: string, message: Buffer): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Whether a publish can be sent now (else it is lost at once). */
  canPublish(): boolean;
  /** Whether a (un)subscribe can be sent now (else it waits for `onReady`). */
  canSubscribe(): boolean;
  /** Short state for stats. */
  state(): string;
  close(): void;
}

/** What a link reports to the adapter. */
export interface LinkEvents {
  /** A message on a channel (from any node, ours included). */
  onMessage(channel: Buffer, message: Buffer): void;
  /**
   * Subscribing is possible (again). `lost`: the subscriptions held before are gone (a new connection), so every
   * channel with interest must be subscribed again; otherwise the client kept them.
   */
  onReady(lost: boolean): void;
  /** A connection was lost and is being replaced. */
  onReconnect(): void;
  /** A connection failed or could not be opened (it is retried): for the adapter's `lastError`. */
  onError(err: Error): void;
}

/** One Redis server: a publishing and a subscribed connection. */
export class SingleLink implements RedisLink {
  readonly #pub: Redis;
  readonly #sub: Redis;

  constructor(url: string, maxDelay: number, events: LinkEvents) {
    const options: RedisOptions = {
      // Fail fast instead of queueing while Redis is down: a publish that cannot go now is counted as lost.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // The adapter subscribes again itself on every 'ready' (the channels with local interest now, not then).
      autoResubscribe: false,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      lazyConnect: false,
    };
    this.#pub = new Redis(url, options);
    this.#sub = new Redis(url, options);
    // Errors are reported by state, counters and the last error; an 'error' without a listener would throw.
    this.#pub.on('error', (err: Error) => events.onError(err));
    this.#sub.on('error', (err: Error) => events.onError(err));
    this.#sub.on('reconnecting', () => events.onReconnect());
    this.#sub.on('ready', () => events.onReady(true));
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => events.onMessage(channel, message));
  }

  publish(channel: string, message: Buffer): Promise<number> {
    return this.#pub.publish(channel, message);
  }
  subscribe(channel: string): Promise<unknown> {
    return this.#sub.subscribe(channel);
  }
  unsubscribe(channel: string): Promise<unknown> {
    return this.#sub.unsubscribe(channel);
  }
  canPublish(): boolean {
    return this.#pub.status === 'ready';
  }
  canSubscribe(): boolean {
    return this.#sub.status === 'ready';
  }
  state(): string {
    return `${this.#pub.status}/${this.#sub.status}`;
  }
  close(): void {
    this.#pub.disconnect();
    this.#sub.disconnect();
  }
}

/** A cluster node to start from. */
export interface ClusterNodeAddress {
  host: string;
  port: number;
}

/**
 * A Redis Cluster through ioredis's `Cluster` with `shardedSubscribers`: one publishing connection per master (the
 * pool), and one subscribed connection per master that owns a slot with a channel we listen to. After a failover
 * ioredis refreshes the slot map, opens a subscriber on the new master and SSUBSCRIBEs there again the channels it
 * holds; the adapter only retries what ioredis never accepted.
 */
export class ClusterLink implements RedisLink {
  readonly #cluster: Cluster;

  constructor(
    nodes: ClusterNodeAddress[],
    auth: { username?: string; password?: string; tls?: boolean },
    maxDelay: number,
    events: LinkEvents,
  ) {
    const redisOptions: NonNullable<ClusterOptions['redisOptions']> = {};
    if (auth.username !== undefined) redisOptions.username = auth.username;
    if (auth.password !== undefined) redisOptions.password = auth.password;
    if (auth.tls === true) redisOptions.tls = {};
    this.#cluster = new Cluster(nodes, {
      shardedSubscribers: true,
      // Fail fast (see the top of this file): no retry of a publish whose connection closed (retryDelayOnFailover)
      // or that the cluster refused while a shard has no master (retryDelayOnClusterDown). MOVED is still followed:
      // the node did not run the command, so following it can neither duplicate nor reorder (replies come back in
      // order and each is re-sent at once). The offline queue stays on: ioredis opens a master's publishing
      // connection lazily, on the first command for its slots, and without the queue every publish until that
      // connection is ready would be refused; the adapter itself sends nothing while the cluster is not ready, and
      // a connection that cannot be opened fails what it queued (nodes are not reconnected: the slot map is
      // refreshed instead).
      enableOfflineQueue: true,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      clusterRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      redisOptions,
      // Connected below, once the listeners are on (the first nodes join the pool while connecting).
      lazyConnect: true,
    });
    this.#cluster.on('error', (err: Error) => events.onError(err));
    this.#cluster.on('reconnecting', () => events.onReconnect());
    // A node lost: a publishing connection that had been ready closed (ioredis replaces it after the slot map is
    // refreshed, and moves the subscriptions of a failed master to its replica). Connections that never opened do
    // not count: until the replica takes over, ioredis tries the dead master again at each refresh.
    const opened = new WeakSet<Redis>();
    this.#cluster.on('+node', (redis: Redis) => redis.once('ready', () => opened.add(redis)));
    this.#cluster.on('-node', (redis: Redis | null | undefined) => {
      if (redis != null && opened.has(redis)) events.onReconnect();
    });
    // A whole-cluster reconnection keeps the channels ioredis holds (it subscribes them again itself).
    this.#cluster.on('ready', () => events.onReady(false));
    this.#cluster.on('smessageBuffer', (channel: Buffer, message: Buffer) => events.onMessage(channel, message));
    // A failed first connection is retried by clusterRetryStrategy; its errors are in the state.
    this.#cluster.connect().catch(() => {});
  }

  publish(channel: string, message: Buffer): Promise<number> {
    return this.#cluster.spublish(channel, message) as Promise<number>;
  }
  subscribe(channel: string): Promise<unknown> {
    // One channel per call: SSUBSCRIBE takes channels of one slot only.
    return this.#cluster.ssubscribe(channel);
  }
  unsubscribe(channel: string): Promise<unknown> {
    return this.#cluster.sunsubscribe(channel);
  }
  canPublish(): boolean {
    return this.#cluster.status === 'ready';
  }
  canSubscribe(): boolean {
    return this.#cluster.status === 'ready';
  }
  state(): string {
    return this.#cluster.status;
  }
  close(): void {
    this.#cluster.disconnect();
  }
}
