/** `sockeye echo`: the echo server of the conformance tools (the handlers are in ../echo.ts). */

import { serve } from '../../index.js';
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
import { echoHandler, wsEchoOptions } from '../echo.js';
import { inspectorLine, inspectorOption } from '../inspector.js';

const DEFAULT_PORT = 9001;

export const echoCommand: Command = {
  name: 'echo',
  summary: 'Echo server: HTTP requests answered with a JSON description, WebSocket messages echoed',
  description: `Echo server. HTTP requests are answered with a JSON description of them (method, target, field
lines as received, base64 body, trailers); WebSocket messages (any path) are echoed back as received,
text as text and binary as binary. Prints "sockeye echo listening on URL"; SIGINT or SIGTERM closes it
(open WebSockets get 1001).`,
  args: [],
  options: {
    port: portOption(DEFAULT_PORT),
    host: HOST_OPTION,
    deflate: { type: 'boolean', help: 'Accept permessage-deflate: every valid RFC 7692 offer' },
    'max-backpressure': {
      type: 'string',
      value: '<bytes>',
      help: `Most bytes a WebSocket peer may leave unread; past it: 1008 and it is read no more.
Default: twice the peer's largest message so far plus 1 MiB`,
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
    const mb = values['max-backpressure'];
    let maxBackpressure: number | undefined;
    if (mb !== undefined) {
      maxBackpressure = /^[0-9]+$/.test(String(mb)) ? Number(mb) : Number.NaN;
      if (!Number.isSafeInteger(maxBackpressure) || maxBackpressure <= 0) {
        throw new UsageError(`--max-backpressure must be a positive number of bytes, got '${mb}'`);
      }
    }
    const ws = wsEchoOptions(maxBackpressure);
    const server = await listenOrExplain(
      () =>
        serve({
          port,
          host,
          // Conformance tools send large bodies: allow 16 MiB.
          limits: { maxBodyBytes: 16 * 1024 * 1024 },
          request: echoHandler,
          // WebSocket upgrades on any path; messages echoed as received. No limit stricter than the RFC's
          // beyond a 64 MiB message (Autobahn's largest is 16 MiB).
          websocket: values.deflate ? { ...ws, perMessageDeflate: true } : ws,
          ...(inspector === undefined ? {} : { inspector }),
        }),
      host,
      port,
    );
    process.stdout.write(`sockeye echo listening on ${server.url}\n`);
    if (inspector !== undefined) process.stdout.write(inspectorLine(server, inspector));
    shutdownOnSignal(server);
    return KEEP_RUNNING;
  },
};
