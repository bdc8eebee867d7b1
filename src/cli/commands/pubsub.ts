/** `sockeye pubsub`: the broadcast server (the handlers are in ../pubsub.ts); `--workers N` runs it on N worker
 * processes with `sockeye/cluster` (this module runs again in each worker: `cluster()` tells them apart). */

import nodeCluster from 'node:cluster';
import { type PubSubAdapter, type ServeOptions, serve } from '../../index.js';
import type { RedisPubSub } from '../../redis/index.js';
import {
  type Command,
  EXIT_FAILED,
  HOST_OPTION,
  KEEP_RUNNING,
  listenErrorSentence,
  listenOrExplain,
  portOption,
  readHost,
  readPort,
  shutdownOnSignal,
  UsageError,
} from '../command.js';
import { inspectorLine, inspectorOption } from '../inspector.js';
import { pubsubOptions } from '../pubsub.js';

const DEFAULT_PORT = 9002;
/** How often the Redis link's state is looked at, and how long a first connection may take before it is reported. */
const REDIS_WATCH_MS = 500;
const REDIS_GRACE_MS = 1500;

/**
 * Says on stderr when Redis is reached, when it is not (with the connection error: a wrong port or a Redis that
 * is down must not look like a quiet fleet), and when it comes back. The adapter retries by itself; while Redis is
 * away, messages reach this node's subscribers only. The timer is unref'd: it never keeps the process alive.
 */
function watchRedis(adapter: RedisPubSub, url: string, who: string): void {
  const shown = redactUrl(url);
  const started = Date.now();
  let said: 'up' | 'down' | null = null;
  const timer = setInterval(() => {
    const st = adapter.stats();
    const up = st.mode === 'cluster' ? st.state.startsWith('ready') : st.state === 'ready/ready';
    if (up && said !== 'up') {
      said = 'up';
      process.stderr.write(`sockeye pubsub: ${who}redis ${shown} connected\n`);
    } else if (!up && said !== 'down' && (said === 'up' || Date.now() - started >= REDIS_GRACE_MS)) {
      said = 'down';
      const why = st.lastError === '' ? st.state : st.lastError;
      process.stderr.write(
        `sockeye pubsub: ${who}redis ${shown} not reachable (${why}); retrying, and until then messages reach ` +
          `this node's subscribers only\n`,
      );
    }
  }, REDIS_WATCH_MS);
  timer.unref();
}

/** A Redis URL without its password, to print. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)([^@/]*)@/i, (_m, scheme: string, user: string) => {
    const colon = user.indexOf(':');
    return colon === -1 ? `${scheme}${user}@` : `${scheme}${user.slice(0, colon)}:***@`;
  });
}

/** The `--workers` value: a whole number, 1 or more. */
function readWorkers(value: unknown): number | null {
  if (value === undefined) return null;
  const s = String(value);
  const n = /^[0-9]{1,4}$/.test(s) ? Number(s) : 0;
  if (n < 1) throw new UsageError(`--workers must be a whole number from 1 to 9999, got '${s}'`);
  return n;
}

/**
 * The `--redis` value: a redis:// or rediss:// URL, or redis+cluster:// / rediss+cluster:// with a list of
 * host:port (not a WHATWG URL: the adapter reads it and names a bad part).
 */
function readRedisUrl(value: string): string {
  let ok = /^rediss?\+cluster:\/\/./.test(value);
  if (!ok) {
    try {
      const u = new URL(value);
      ok = u.protocol === 'redis:' || u.protocol === 'rediss:';
    } catch {}
  }
  if (!ok) {
    throw new UsageError(
      `--redis must be a redis://, rediss:// or redis+cluster://host:port,host:port URL, got '${value}'`,
    );
  }
  return value;
}

export const pubsubCommand: Command = {
  name: 'pubsub',
  summary: 'Broadcast server: a WebSocket to /NAME joins topic NAME',
  description: `Broadcast server. A WebSocket to /NAME subscribes to topic NAME (percent-decoded), and each
message it sends goes to every other subscriber of NAME (text and binary kept). GET /stats answers
server.stats() as JSON. Prints "sockeye pubsub listening on URL"; SIGINT or SIGTERM closes it.
--workers N runs it on N processes sharing the port (topics reach the subscribers of every worker;
GET /stats is the sum over the workers, with each worker under "cluster").`,
  args: [],
  options: {
    port: portOption(DEFAULT_PORT),
    host: HOST_OPTION,
    deflate: { type: 'boolean', help: 'Accept permessage-deflate: every valid RFC 7692 offer' },
    redis: {
      type: 'string',
      value: '<url>',
      help: `Share topics with every other sockeye pubsub on this Redis: channel names are
"sockeye:" + topic; needs the ioredis package. A Redis Cluster: redis+cluster://host:port,host:port
(sharded pub/sub, Redis 7). Says on stderr when Redis is connected, not reachable (and why), and back`,
    },
    inspector: {
      type: 'boolean',
      help: `Serve the live inspector page at /_sockeye and print its URL, token included, on stdout
as "inspector: URL"`,
    },
    'inspector-payloads': { type: 'boolean', help: 'With --inspector: show text frames as text (payload capture)' },
    workers: {
      type: 'string',
      value: '<n>',
      help: `Run N worker processes on the port (sockeye/cluster): topics cross the workers through
the primary (or through Redis with --redis); GET /stats is the sum over the workers`,
    },
  },
  async run({ values }) {
    const workers = readWorkers(values.workers);
    if (workers !== null && values.inspector === true) {
      throw new UsageError('--inspector does not work with --workers: each worker would serve a page of its own');
    }
    const inspector = inspectorOption(values.inspector === true, values['inspector-payloads'] === true);
    const port = readPort(values.port, DEFAULT_PORT);
    const host = readHost(values.host);
    let makeRedis: (() => PubSubAdapter) | undefined;
    if (values.redis !== undefined) {
      const url = readRedisUrl(String(values.redis));
      let redis: typeof import('../../redis/index.js');
      try {
        redis = await import('../../redis/index.js');
      } catch {
        throw new UsageError('sockeye pubsub --redis needs the ioredis package: npm install ioredis');
      }
      // Made here (it connects at once) so that a bad URL is a usage error; with --workers, in each worker only
      // (the primary serves nothing: a worker that cannot make it exits, and the primary says which and why).
      if (workers === null || nodeCluster.isWorker) {
        let adapter: RedisPubSub;
        try {
          adapter = redis.redisPubSub({ url });
        } catch (err) {
          throw new UsageError(`--redis: ${(err as Error).message}`);
        }
        watchRedis(adapter, url, nodeCluster.isWorker ? `worker ${nodeCluster.worker?.id ?? '?'}: ` : '');
        makeRedis = () => adapter;
      }
    }
    let stats: () => unknown = () => null;
    const options: Omit<ServeOptions<string>, 'pubsub'> = {
      port,
      host,
      // GET /stats: server.stats() as JSON (the adapter's state and counters under "pubsub").
      request: async (req, res) => {
        if (req.path === '/stats') res.json(await stats());
        else res.send('sockeye pubsub: open a WebSocket to /NAME to join topic NAME\n');
      },
      websocket: pubsubOptions(values.deflate === true),
      ...(inspector === undefined ? {} : { inspector }),
    };
    if (workers !== null) return runWorkers(options, workers, makeRedis, host, port);
    // Without --workers, `pubsub` is one adapter for this one server.
    const server = await listenOrExplain(
      () => serve({ ...options, ...(makeRedis === undefined ? {} : { pubsub: makeRedis() }) }),
      host,
      port,
    );
    stats = () => server.stats();
    process.stdout.write(`sockeye pubsub listening on ${server.url}\n`);
    if (inspector !== undefined) process.stdout.write(inspectorLine(server, inspector));
    shutdownOnSignal(server);
    return KEEP_RUNNING;
  },
};

/**
 * `--workers N`: the same server on N processes (sockeye/cluster runs this command again in each worker, where
 * `cluster()` starts the server; the primary forks, supervises and relays). GET /stats asks the cluster for the sum.
 * The cluster closes on SIGINT/SIGTERM itself (1001 to every WebSocket of every worker).
 */
async function runWorkers(
  options: Omit<ServeOptions<string>, 'pubsub'>,
  workers: number,
  makeRedis: (() => PubSubAdapter) | undefined,
  host: string,
  port: number,
): Promise<number> {
  const { cluster } = await import('../../cluster/index.js');
  let c: Awaited<ReturnType<typeof cluster>>;
  const request = options.request;
  try {
    c = await cluster<string>({
      ...options,
      workers,
      request: async (req, res) => {
        if (req.path === '/stats') {
          try {
            res.json(await c.stats());
          } catch (err) {
            res.send(`stats: ${(err as Error).message}\n`, 503);
          }
        } else await request?.(req, res);
      },
      ...(makeRedis === undefined ? {} : { pubsub: makeRedis }),
    });
  } catch (err) {
    // In a worker, the primary tells the story (the worker exits once it has told it why).
    if (nodeCluster.isWorker) return KEEP_RUNNING;
    const code = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN)\b/.exec((err as Error).message)?.[1];
    const sentence = code === undefined ? null : listenErrorSentence({ code }, host, port);
    throw sentence === null ? err : new UsageError(sentence, EXIT_FAILED);
  }
  if (c.isPrimary) process.stdout.write(`sockeye pubsub listening on ${c.url} with ${workers} workers\n`);
  return KEEP_RUNNING;
}
