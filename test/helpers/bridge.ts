/**
 * The node:http bridge in tests: a plain node:http server on 127.0.0.1:0 whose 'upgrade' events go to
 * `websocketHandler(options).handleUpgrade`, both closed when the test ends (WebSockets first, with 1001).
 */

import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { type WebSocketHandler, type WebSocketHandlerOptions, websocketHandler } from '../../src/index.js';

/** A node:http server with the bridge on its 'upgrade' event. */
export interface HttpBridge<T> {
  wss: WebSocketHandler<T>;
  httpServer: http.Server;
  port: number;
}

/** Plain requests get this unless a listener is given: proof that node:http, not sockeye, answered them. */
function plain(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('content-type', 'text/plain');
  res.end('plain HTTP from node:http\n');
}

/** Starts node:http on 127.0.0.1:0 with `websocketHandler(options)` on its 'upgrade' event. */
export async function startHttpBridge<T = unknown>(
  t: TestContext,
  options: WebSocketHandlerOptions<T>,
  listener: http.RequestListener = plain,
): Promise<HttpBridge<T>> {
  const wss = websocketHandler<T>(options);
  const httpServer = http.createServer(listener);
  httpServer.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  t.after(async () => {
    await wss.close({ deadline: 200 });
    httpServer.closeAllConnections();
    httpServer.close();
  });
  return { wss, httpServer, port: (httpServer.address() as AddressInfo).port };
}
