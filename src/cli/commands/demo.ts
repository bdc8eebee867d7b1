/** `sockeye demo`: the demo server of `npm start` (the app is in ../demo.ts). */

import {
  type Command,
  HOST_OPTION,
  KEEP_RUNNING,
  listenOrExplain,
  portOption,
  readHost,
  readPort,
  shutdownOnSignal,
} from '../command.js';

const DEFAULT_PORT = 3000;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Demo server: a chat room in the browser and a few HTTP routes',
  description: `Demo server: a chat room whose page talks to the server with the browser's WebSocket, and a
few HTTP routes (/hello, POST /echo, /stream). Prints "sockeye demo on URL"; SIGINT or SIGTERM closes it.`,
  args: [],
  options: {
    port: portOption(DEFAULT_PORT),
    host: HOST_OPTION,
    redis: {
      type: 'string',
      value: '<url>',
      help: `Run two demo nodes (on the port and the next one) sharing rooms through this Redis; needs
the ioredis package`,
    },
  },
  async run({ values }) {
    const port = readPort(values.port, DEFAULT_PORT);
    const host = readHost(values.host);
    const redis = values.redis === undefined ? undefined : String(values.redis);
    const { runDemo } = await import('../demo.js');
    const servers = await listenOrExplain(
      () =>
        runDemo(
          { port, host, redis },
          (line) => process.stdout.write(`${line}\n`),
          (line) => process.stderr.write(`${line}\n`),
        ),
      host,
      port,
    );
    if (typeof servers === 'number') return servers;
    shutdownOnSignal({ close: (o) => Promise.all(servers.map((server) => server.close(o))) });
    return KEEP_RUNNING;
  },
};
