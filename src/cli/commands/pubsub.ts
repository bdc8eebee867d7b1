/** `sockeye pubsub`: the broadcast server (the handlers are in ../pubsub.ts). */

import { type PubSubAdapter, serve } from '../../index.js';
import {
  type Command,
  HOST_OPTION,
  KEEP_RUNNING,
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
server.stats() as JSON. Prints "sockeye pubsub listening on URL"; SIGINT or SIGTERM closes it.`,
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
(sharded pub/sub, Redis 7)`,
    },
    inspector: {
      type: 'boolean',
      help: `Serve the live inspector page at /_sockeye and print its URL, token included, on stdout
as "inspector: URL"`,
    },
    'inspector-payloads': { type: 'boolean', help: 'With --inspector: show text frames as text (payload capture)' },
  },
  async run({ values }) {
    const inspector = inspectorOption(values.inspector === true, values['inspector-payloads'] === true);
    const port = readPort(values.port, DEFAULT_PORT);
    const host = readHost(values.host);
    let pubsub: PubSubAdapter | undefined;
    if (values.redis !== undefined) {
      const url = readRedisUrl(String(values.redis));
      let redis: typeof import('../../redis/index.js');
      try {
        redis = await import('../../redis/index.js');
      } catch {
        throw new UsageError('sockeye pubsub --redis needs the ioredis package: npm install ioredis');
      }
      try {
        pubsub = redis.redisPubSub({ url });
      } catch (err) {
        throw new UsageError(`--redis: ${(err as Error).message}`);
      }
    }
    let stats: () => unknown = () => null;
    const server = await listenOrExplain(
      () =>
        serve({
          port,
          host,
          // GET /stats: server.stats() as JSON (the adapter's state and counters under "pubsub").
          request: (req, res) => {
            if (req.path === '/stats') res.json(stats());
            else res.send('sockeye pubsub: open a WebSocket to /NAME to join topic NAME\n');
          },
          websocket: pubsubOptions(values.deflate === true),
          ...(inspector === undefined ? {} : { inspector }),
          ...(pubsub === undefined ? {} : { pubsub }),
        }),
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
