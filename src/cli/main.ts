/**
 * The `sockeye` command, built on the public API only.
 *
 *   sockeye echo [--port 9001] [--host 127.0.0.1] [--deflate] [--max-backpressure BYTES]   echo server
 *   sockeye pubsub [--port 9002] [--host 127.0.0.1] [--redis URL] [--deflate]   broadcast: /NAME is topic NAME
 *     (--redis redis://h:p for one Redis, redis+cluster://h:p,h:p for a Redis Cluster)
 *   sockeye demo [--port 3000] [--host 127.0.0.1] [--redis URL]   the demo chat (two nodes sharing rooms with --redis)
 *   sockeye connect URL [-p protocol] [-H header]    interactive WebSocket client
 *   sockeye top URL [--interval S] [--count N]       live view of a server's /metrics (src/cli/top.ts)
 */

import { parseArgs } from 'node:util';
import { serve } from '../index.js';
import { echoHandler, wsEchoOptions } from './echo.js';

const USAGE = `Usage: sockeye <command> [options]

Commands:
  echo    Echo server: HTTP requests are answered with a JSON description of them,
          WebSocket messages (any path) are echoed back as received
  pubsub  Broadcast server: a WebSocket to /NAME subscribes to topic NAME (percent-decoded),
          and each message it sends goes to every other subscriber of NAME (text and binary kept)
  demo    Demo chat with rooms (plus a few HTTP routes); with --redis, two nodes on two ports
          sharing the rooms through Redis
  connect <url>      Interactive WebSocket client: lines typed are sent as text;
                     /ping [data], /close [code] [reason]. Exit codes: 0 clean close
                     (1000/1001/1005), 1 other close code, 3 could not connect, 4 dropped
  top <url>          Live view of a server's metrics endpoint (serve({ metrics })): connections
                     by state, rates, close causes, listen queue. sockeye top --help for more

Options:
  --port <n>         Port to listen on (echo: 9001, pubsub: 9002, demo: 3000)
  -p, --protocol <p> Subprotocol to offer (connect; repeatable)
  -H, --header <h>   Extra request header "Name: value" (connect; repeatable)
  --host <addr>      Address to bind (default 127.0.0.1)
  --deflate          Accept permessage-deflate (echo, pubsub): every valid RFC 7692 offer
  --redis <url>      Share topics with every other sockeye pubsub on this Redis (pubsub): channel
                     names are "sockeye:" + topic; needs the ioredis package. A Redis Cluster:
                     redis+cluster://host:port,host:port (sharded pub/sub, Redis 7); demo: two nodes sharing rooms
  --max-backpressure <bytes>
                     Most bytes a WebSocket peer may leave unread (echo); past it: 1008 and it is read
                     no more. Default: twice the peer's largest message so far plus 1 MiB
  --help, -h         Show this help
`;

export async function main(argv: string[]): Promise<number> {
  // `top` has options of its own: it parses its arguments itself.
  if (argv[0] === 'top') return (await import('./top.js')).top(argv.slice(1), process);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      protocol: { type: 'string', short: 'p', multiple: true },
      header: { type: 'string', short: 'H', multiple: true },
      host: { type: 'string', default: '127.0.0.1' },
      deflate: { type: 'boolean' },
      'max-backpressure': { type: 'string' },
      redis: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'echo': {
      const mb = values['max-backpressure'];
      let maxBackpressure: number | undefined;
      if (mb !== undefined) {
        maxBackpressure = Number(mb);
        if (!Number.isSafeInteger(maxBackpressure) || maxBackpressure <= 0) {
          process.stderr.write(`--max-backpressure must be a positive number of bytes, got '${mb}'\n`);
          return 2;
        }
      }
      const ws = wsEchoOptions(maxBackpressure);
      const server = await serve({
        port: Number(values.port ?? 9001),
        host: values.host,
        // Conformance tools send large bodies: allow 16 MiB.
        limits: { maxBodyBytes: 16 * 1024 * 1024 },
        request: echoHandler,
        // WebSocket upgrades on any path; messages echoed as received. No limit stricter than the RFC's
        // beyond a 64 MiB message (Autobahn's largest is 16 MiB).
        websocket: values.deflate ? { ...ws, perMessageDeflate: true } : ws,
      });
      process.stdout.write(`sockeye echo listening on ${server.url}\n`);
      shutdownOnSignal(server);
      return -1;
    }
    case 'pubsub': {
      const { pubsubOptions } = await import('./pubsub.js');
      let pubsub: import('../index.js').PubSubAdapter | undefined;
      if (values.redis !== undefined) {
        let redis: typeof import('../redis/index.js');
        try {
          redis = await import('../redis/index.js');
        } catch {
          process.stderr.write('sockeye pubsub --redis needs the ioredis package: npm install ioredis\n');
          return 2;
        }
        try {
          pubsub = redis.redisPubSub({ url: values.redis });
        } catch (err) {
          process.stderr.write(`--redis: ${(err as Error).message}\n`);
          return 2;
        }
      }
      let stats: () => unknown = () => null;
      const server = await serve({
        port: Number(values.port ?? 9002),
        host: values.host,
        // GET /stats: server.stats() as JSON (the adapter's state and counters under "pubsub").
        request: (req, res) => {
          if (req.path === '/stats') res.json(stats());
          else res.send('sockeye pubsub: open a WebSocket to /NAME to join topic NAME\n');
        },
        websocket: pubsubOptions(values.deflate === true),
        ...(pubsub === undefined ? {} : { pubsub }),
      });
      stats = () => server.stats();
      process.stdout.write(`sockeye pubsub listening on ${server.url}\n`);
      shutdownOnSignal(server);
      return -1;
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      const servers = await runDemo(
        { port: Number(values.port ?? 3000), host: values.host, redis: values.redis },
        (line) => process.stdout.write(`${line}\n`),
        (line) => process.stderr.write(`${line}\n`),
      );
      if (typeof servers === 'number') return servers;
      shutdownOnSignal({ close: (o) => Promise.all(servers.map((server) => server.close(o))) });
      return -1;
    }
    case 'connect': {
      const url = positionals[1];
      if (url === undefined) {
        process.stderr.write(`Missing URL\n${USAGE}`);
        return 2;
      }
      const headers: [string, string][] = [];
      for (const h of values.header ?? []) {
        const colon = h.indexOf(':');
        if (colon <= 0) {
          process.stderr.write(`Invalid header: ${h}\n`);
          return 2;
        }
        headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
      }
      const { connect } = await import('./connect.js');
      return connect(url, values.protocol ?? [], headers, process.stdin, process.stdout);
    }
    default:
      process.stderr.write(`Unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

function shutdownOnSignal(server: { close(o?: { deadline?: number }): Promise<unknown> }): void {
  const stop = () => {
    server.close({ deadline: 5000 }).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
