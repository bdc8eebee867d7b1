/**
 * `sockeye/redis`: topics across nodes through Redis pub/sub, on the public adapter interface (`PubSubAdapter`).
 *
 * Interest-based routing: a node SUBSCRIBEs to a topic's Redis channel only while it has at least one local
 * subscriber for it (after the last one leaves it waits `lingerMs` before it UNSUBSCRIBEs, so a topic that empties
 * and fills again does not churn), so a message published on node A travels to Redis once and reaches only the
 * nodes that have subscribers: `redis-cli PUBSUB CHANNELS 'sockeye:*'` lists exactly the topics with interest.
 *
 * On the wire each message is `[1][flags][node id: 8 bytes][payload]`: binary-safe, the text/binary flag and the
 * origin travel with it, and a node skips its own messages (its local subscribers got them at publish time).
 *
 * Delivery is at most once. While Redis is unreachable, local delivery goes on, publishes meant for other nodes are
 * counted as lost (`stats().lost`, never silently), and the adapter reconnects with backoff and subscribes again to
 * every topic with local interest.
 *
 * The Redis client is `ioredis` (an optional peer dependency, imported only by this entry point: `import { serve }
 * from 'sockeye'` never loads it). Why ioredis over `@redis/client`: it exposes raw `messageBuffer` events for
 * binary payloads without per-call options, reconnects with a retry strategy we control, and has one maintained
 * package with its own types; both would do.
 *
 * @example
 * import { serve } from 'sockeye';
 * import { redisPubSub } from 'sockeye/redis';
 * await serve({ port: 8080, pubsub: redisPubSub({ url: 'redis://127.0.0.1:6379' }), websocket: { ... } });
 */

import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { PubSubAdapter, PubSubHub } from '../index.js';

/** Options of `redisPubSub`. */
export interface RedisPubSubOptions {
  /** Redis URL (`redis://[:password@]host:port[/db]`). Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of the Redis channel names: channel = prefix + topic. Default `'sockeye:'`. */
  prefix?: string;
  /** How long a topic without local subscribers stays subscribed in Redis (ms). Default 1,000. */
  lingerMs?: number;
  /** Longest wait between reconnection attempts (ms); the backoff doubles from 50 ms up to it. Default 2,000. */
  maxRetryDelayMs?: number;
}

const VERSION = 1;
const FLAG_BINARY = 1;
const HEADER = 10;

/** The adapter's counters, in `server.stats().pubsub`. */
export interface RedisPubSubStats extends Record<string, number | string> {
  /** `ready`, `connecting`, `reconnecting`, `end`...: the publishing and the subscribed connection. */
  state: string;
  /** Publishes Redis accepted, and publishes that could not reach it (Redis down, or the command failed). */
  published: number;
  lost: number;
  /** Of the published: those no other node was listening to (no interest, or a node still subscribing again
   * after a reconnect). */
  unheard: number;
  /** Messages received from other nodes, and local deliveries they made. */
  received: number;
  delivered: number;
  /** Channels (topics) this node listens to now. */
  channels: number;
  /** Reconnections so far. */
  reconnects: number;
}

/**
 * What `redisPubSub` returns: a `PubSubAdapter` whose `stats()` is always there and typed. (An intersection with
 * `PubSubAdapter` would type `stats()` by the adapter's optional `stats?()`, the first signature.)
 */
export interface RedisPubSub extends PubSubAdapter {
  stats(): RedisPubSubStats;
}

/** A `PubSubAdapter` on Redis pub/sub (see the top of this file). */
export function redisPubSub(options: RedisPubSubOptions = {}): RedisPubSub {
  return new RedisAdapter(options);
}

class RedisAdapter implements PubSubAdapter {
  readonly #prefix: string;
  readonly #lingerMs: number;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #node: Buffer;
  #hub: PubSubHub | null;
  /** Topics this node listens to in Redis (local interest, or lingering). */
  readonly #channels: Set<string>;
  readonly #lingering: Map<string, NodeJS.Timeout>;
  readonly #counts: {
    published: number;
    lost: number;
    unheard: number;
    received: number;
    delivered: number;
    reconnects: number;
  };
  #closed: boolean;

  constructor(options: RedisPubSubOptions) {
    const url = options.url ?? 'redis://127.0.0.1:6379';
    this.#prefix = options.prefix ?? 'sockeye:';
    this.#lingerMs = options.lingerMs ?? 1000;
    const maxDelay = options.maxRetryDelayMs ?? 2000;
    const redisOptions = {
      // Fail fast instead of queueing while Redis is down: a publish that cannot go now is counted as lost.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // We subscribe again ourselves on every 'ready' (the channels with local interest now, not those of then).
      autoResubscribe: false,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      lazyConnect: false,
    };
    this.#pub = new Redis(url, redisOptions);
    this.#sub = new Redis(url, redisOptions);
    this.#node = randomBytes(8);
    this.#hub = null;
    this.#channels = new Set();
    this.#lingering = new Map();
    this.#counts = { published: 0, lost: 0, unheard: 0, received: 0, delivered: 0, reconnects: 0 };
    this.#closed = false;
    // Errors are reported by state and counters; an 'error' without a listener would throw.
    this.#pub.on('error', () => {});
    this.#sub.on('error', () => {});
    this.#sub.on('reconnecting', () => {
      this.#counts.reconnects++;
    });
    this.#sub.on('ready', () => this.#resubscribe());
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel, message));
  }

  attach(hub: PubSubHub): void {
    this.#hub = hub;
    for (const topic of hub.topics()) this.subscribe(topic);
  }

  publish(topic: string, data: Buffer, isBinary: boolean): void {
    if (this.#closed || this.#pub.status !== 'ready') {
      this.#counts.lost++;
      return;
    }
    const msg = Buffer.allocUnsafe(HEADER + data.length);
    msg[0] = VERSION;
    msg[1] = isBinary ? FLAG_BINARY : 0;
    this.#node.copy(msg, 2);
    data.copy(msg, HEADER);
    this.#pub.publish(this.#prefix + topic, msg).then(
      (receivers) => {
        this.#counts.published++;
        // PUBLISH answers how many subscribed connections got it: nodes listening to the topic.
        if (receivers === 0) this.#counts.unheard++;
      },
      () => {
        this.#counts.lost++;
      },
    );
  }

  subscribe(topic: string): void {
    const timer = this.#lingering.get(topic);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#lingering.delete(topic);
    }
    if (this.#channels.has(topic)) return;
    this.#channels.add(topic);
    if (this.#sub.status === 'ready') this.#sub.subscribe(this.#prefix + topic).catch(() => {});
  }

  unsubscribe(topic: string): void {
    if (!this.#channels.has(topic) || this.#lingering.has(topic)) return;
    const timer = setTimeout(() => {
      this.#lingering.delete(topic);
      this.#channels.delete(topic);
      if (this.#sub.status === 'ready') this.#sub.unsubscribe(this.#prefix + topic).catch(() => {});
    }, this.#lingerMs);
    timer.unref();
    this.#lingering.set(topic, timer);
  }

  #resubscribe(): void {
    if (this.#channels.size === 0) return;
    this.#sub.subscribe(...[...this.#channels].map((t) => this.#prefix + t)).catch(() => {});
  }

  #onMessage(channel: Buffer, message: Buffer): void {
    const hub = this.#hub;
    if (hub === null || message.length < HEADER || message[0] !== VERSION) return;
    // Our own message: its local subscribers got it when it was published.
    if (this.#node.equals(message.subarray(2, HEADER))) return;
    const name = channel.toString('utf8');
    if (!name.startsWith(this.#prefix)) return;
    this.#counts.received++;
    const r = hub.deliver(
      name.slice(this.#prefix.length),
      message.subarray(HEADER),
      ((message[1] as number) & FLAG_BINARY) !== 0,
    );
    this.#counts.delivered += r.sent + r.queued;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#lingering.values()) clearTimeout(t);
    this.#lingering.clear();
    this.#pub.disconnect();
    this.#sub.disconnect();
  }

  stats(): RedisPubSubStats {
    return {
      state: `${this.#pub.status}/${this.#sub.status}`,
      ...this.#counts,
      channels: this.#channels.size,
    };
  }
}
