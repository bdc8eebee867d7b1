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
 * Redis Cluster: with a `redis+cluster://host:port,host:port` URL or a `cluster` list of nodes, the adapter uses
 * sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7.0): each topic's channel lives on the shard that owns its hash slot,
 * so the Redis side scales out with the masters, with the same interest-based routing, linger and counters. After a
 * master fails over, the subscriptions move to the new master; what was published meanwhile is counted as lost
 * (the shard had no master) or unheard (the new master had no subscriber yet).
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
 * // A Redis Cluster (any reachable nodes; the others are discovered):
 * redisPubSub({ url: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000' });
 * redisPubSub({ cluster: [{ host: '10.0.0.1', port: 7000 }], password: 's3cret' });
 */

import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { PubSubAdapter, PubSubHub } from '../index.js';
import { ClusterLink, type ClusterNodeAddress, type LinkEvents, type RedisLink, SingleLink } from './link.js';

export type { ClusterNodeAddress } from './link.js';

/** Options of `redisPubSub`. */
export interface RedisPubSubOptions {
  /**
   * Redis URL: `redis://[[user]:password@]host:port[/db]` (`rediss://` for TLS) for one server, or
   * `redis+cluster://[[user]:password@]host:port,host:port...` (`rediss+cluster://` for TLS) for a Redis Cluster,
   * which switches to sharded pub/sub. Default `redis://127.0.0.1:6379`.
   */
  url?: string;
  /**
   * A Redis Cluster's nodes to start from (one reachable node is enough; the others are discovered): sharded
   * pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7.0 or later). Takes the place of `url`.
   */
  cluster?: ClusterNodeAddress[];
  /** With `cluster`: the user and password of the nodes (ACL), and whether to connect with TLS. */
  username?: string;
  password?: string;
  tls?: boolean;
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
  /** `single` (one Redis server, PUBLISH/SUBSCRIBE) or `cluster` (Redis Cluster, SPUBLISH/SSUBSCRIBE). */
  mode: string;
  /**
   * Single: `ready/ready` when the publishing and the subscribed connection are up (else their ioredis states,
   * `connecting`, `reconnecting`...). Cluster: the cluster client's state, then `/ready` when every topic with
   * interest is subscribed, or `/subscribing`.
   */
  state: string;
  /** Publishes Redis accepted, and publishes that could not reach it (Redis down, or the command failed). */
  published: number;
  lost: number;
  /** Of the published: those no other node was listening to (no interest, or a node still subscribing again
   * after a reconnect or a failover). */
  unheard: number;
  /**
   * Of the published: how many subscribed connections Redis said got them (the sum of the PUBLISH/SPUBLISH
   * replies: one per listening node, this node included when it listens to the topic), and how many of this node's
   * own messages came back to it (skipped). `reached - echoes` is exactly what the other nodes received; `unheard`
   * cannot tell a message only this node heard (a node that has just subscribed again) from one others heard.
   */
  reached: number;
  echoes: number;
  /** Messages received from other nodes, and local deliveries they made. */
  received: number;
  delivered: number;
  /** Channels (topics) this node listens to now. */
  channels: number;
  /** Connections lost so far (single: reconnections of the subscribed connection; cluster: publishing connections
   * to a node lost after they had opened, and reconnections of the whole cluster client). */
  reconnects: number;
  /**
   * Why Redis cannot be reached: the last connection error (e.g. `connect ECONNREFUSED 127.0.0.1:6379`) since the
   * link was last ready; `''` when it is ready or none happened.
   */
  lastError: string;
}

/**
 * What `redisPubSub` returns: a `PubSubAdapter` whose `stats()` is always there and typed. (An intersection with
 * `PubSubAdapter` would type `stats()` by the adapter's optional `stats?()`, the first signature.)
 */
export interface RedisPubSub extends PubSubAdapter {
  stats(): RedisPubSubStats;
}

/**
 * A `PubSubAdapter` on Redis pub/sub (see the top of this file). Throws a `TypeError` when `url` or `cluster` is
 * not usable (the sentence says which part).
 */
export function redisPubSub(options: RedisPubSubOptions = {}): RedisPubSub {
  return new RedisAdapter(options);
}

/** The nodes and credentials of a `redis+cluster://` URL, or null for another scheme. */
function parseClusterUrl(
  url: string,
): { nodes: ClusterNodeAddress[]; username?: string; password?: string; tls: boolean } | null {
  const m = /^(rediss?)\+cluster:\/\/(.*)$/i.exec(url);
  if (m === null) return null;
  let rest = m[2] as string;
  const slash = rest.indexOf('/');
  if (slash !== -1) rest = rest.slice(0, slash); // a cluster has one database: no /db
  const out: { nodes: ClusterNodeAddress[]; username?: string; password?: string; tls: boolean } = {
    nodes: [],
    tls: (m[1] as string).toLowerCase() === 'rediss',
  };
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const user = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
    if (user !== '') out.username = user;
    if (colon !== -1) out.password = decodeURIComponent(userinfo.slice(colon + 1));
  }
  for (const part of rest.split(',')) {
    // host:port, [v6]:port
    const hp = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(part);
    const port = hp === null ? Number.NaN : Number(hp[3]);
    if (hp === null || port < 1 || port > 65535) {
      throw new TypeError(`redis+cluster URL: '${part}' is not host:port (expected host:port,host:port...)`);
    }
    out.nodes.push({ host: (hp[1] ?? hp[2]) as string, port });
  }
  return out;
}

class RedisAdapter implements PubSubAdapter, LinkEvents {
  readonly #prefix: string;
  readonly #lingerMs: number;
  readonly #maxDelay: number;
  readonly #cluster: boolean;
  readonly #link: RedisLink;
  readonly #node: Buffer;
  #hub: PubSubHub | null;
  /** Topics this node wants to listen to in Redis (local interest, or lingering). */
  readonly #channels: Set<string>;
  /** Topics Redis (or, in a cluster, ioredis's subscriber group) holds a subscription for. */
  readonly #held: Set<string>;
  /** Topics with a SUBSCRIBE or UNSUBSCRIBE in flight. */
  readonly #busy: Set<string>;
  readonly #lingering: Map<string, NodeJS.Timeout>;
  #retryTimer: NodeJS.Timeout | null;
  #retryDelay: number;
  readonly #counts: {
    published: number;
    lost: number;
    unheard: number;
    reached: number;
    echoes: number;
    received: number;
    delivered: number;
    reconnects: number;
  };
  #closed: boolean;
  #lastError: string;

  constructor(options: RedisPubSubOptions) {
    this.#prefix = options.prefix ?? 'sockeye:';
    this.#lingerMs = options.lingerMs ?? 1000;
    this.#maxDelay = options.maxRetryDelayMs ?? 2000;
    this.#node = randomBytes(8);
    this.#hub = null;
    this.#channels = new Set();
    this.#held = new Set();
    this.#busy = new Set();
    this.#lingering = new Map();
    this.#retryTimer = null;
    this.#retryDelay = 50;
    this.#counts = {
      published: 0,
      lost: 0,
      unheard: 0,
      reached: 0,
      echoes: 0,
      received: 0,
      delivered: 0,
      reconnects: 0,
    };
    this.#closed = false;
    this.#lastError = '';
    let cluster: ReturnType<typeof parseClusterUrl> = null;
    if (options.cluster !== undefined) {
      if (!Array.isArray(options.cluster) || options.cluster.length === 0) {
        throw new TypeError('options.cluster must be a non-empty array of { host, port }');
      }
      cluster = { nodes: options.cluster, tls: options.tls === true };
      if (options.username !== undefined) cluster.username = options.username;
      if (options.password !== undefined) cluster.password = options.password;
    } else if (options.url !== undefined) {
      cluster = parseClusterUrl(options.url);
    }
    this.#cluster = cluster !== null;
    this.#link =
      cluster !== null
        ? new ClusterLink(cluster.nodes, cluster, this.#maxDelay, this)
        : new SingleLink(options.url ?? 'redis://127.0.0.1:6379', this.#maxDelay, this);
  }

  attach(hub: PubSubHub): void {
    this.#hub = hub;
    for (const topic of hub.topics()) this.subscribe(topic);
  }

  publish(topic: string, data: Buffer, isBinary: boolean): void {
    if (this.#closed || !this.#link.canPublish()) {
      this.#counts.lost++;
      return;
    }
    const msg = Buffer.allocUnsafe(HEADER + data.length);
    msg[0] = VERSION;
    msg[1] = isBinary ? FLAG_BINARY : 0;
    this.#node.copy(msg, 2);
    data.copy(msg, HEADER);
    this.#link.publish(this.#prefix + topic, msg).then(
      (receivers) => {
        this.#counts.published++;
        this.#counts.reached += receivers;
        // PUBLISH (SPUBLISH: on the shard's master) answers how many subscribed connections got it: nodes
        // listening to the topic.
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
    this.#sync(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.#channels.has(topic) || this.#lingering.has(topic)) return;
    const timer = setTimeout(() => {
      this.#lingering.delete(topic);
      this.#channels.delete(topic);
      this.#sync(topic);
    }, this.#lingerMs);
    timer.unref();
    this.#lingering.set(topic, timer);
  }

  /**
   * Brings Redis in line with what this node wants for `topic`: SUBSCRIBE when wanted and not held, UNSUBSCRIBE when
   * held and not wanted; one command in flight per topic, checked again when it settles. A command that fails is
   * tried again after a backoff (or on the next 'ready').
   */
  #sync(topic: string): void {
    if (this.#closed || this.#busy.has(topic)) return;
    const want = this.#channels.has(topic);
    if (want === this.#held.has(topic) || !this.#link.canSubscribe()) return;
    this.#busy.add(topic);
    const channel = this.#prefix + topic;
    (want ? this.#link.subscribe(channel) : this.#link.unsubscribe(channel)).then(
      () => {
        this.#busy.delete(topic);
        if (want) this.#held.add(topic);
        else this.#held.delete(topic);
        this.#retryDelay = 50;
        this.#sync(topic);
      },
      () => {
        this.#busy.delete(topic);
        this.#retryLater();
      },
    );
  }

  #syncAll(): void {
    for (const topic of this.#channels) this.#sync(topic);
    for (const topic of this.#held) this.#sync(topic);
  }

  #retryLater(): void {
    if (this.#closed || this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#syncAll();
    }, this.#retryDelay);
    this.#retryTimer.unref();
    this.#retryDelay = Math.min(this.#retryDelay * 2, this.#maxDelay);
  }

  onReady(lost: boolean): void {
    this.#lastError = '';
    // A new connection holds no subscription: subscribe again every topic with local interest now (not those of
    // before the outage).
    if (lost) this.#held.clear();
    this.#syncAll();
  }

  onReconnect(): void {
    this.#counts.reconnects++;
  }

  onError(err: Error): void {
    this.#lastError = err.message === '' ? String(err.name) : err.message;
  }

  onMessage(channel: Buffer, message: Buffer): void {
    const hub = this.#hub;
    if (hub === null || message.length < HEADER || message[0] !== VERSION) return;
    // Our own message: its local subscribers got it when it was published.
    if (this.#node.equals(message.subarray(2, HEADER))) {
      this.#counts.echoes++;
      return;
    }
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
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#link.close();
  }

  stats(): RedisPubSubStats {
    let state = this.#link.state();
    if (this.#cluster) {
      let pending = 0;
      for (const t of this.#channels) if (!this.#held.has(t)) pending++;
      state += pending === 0 ? '/ready' : '/subscribing';
    }
    return {
      mode: this.#cluster ? 'cluster' : 'single',
      state,
      ...this.#counts,
      channels: this.#channels.size,
      lastError: this.#lastError,
    };
  }
}
