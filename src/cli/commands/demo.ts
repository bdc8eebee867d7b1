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
  },
  async run({ values }) {
    const port = readPort(values.port, DEFAULT_PORT);
    const host = readHost(values.host);
    const { startDemo } = await import('../demo.js');
    const server = await listenOrExplain(() => startDemo(port, host), host, port);
    process.stdout.write(`sockeye demo on ${server.url}\n`);
    shutdownOnSignal(server);
    return KEEP_RUNNING;
  },
};
