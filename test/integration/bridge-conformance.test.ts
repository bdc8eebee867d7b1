/**
 * The server conformance suite (Autobahn TestSuite sections 1-7 and 10: framing, ping/pong, reserved bits and
 * opcodes, fragmentation, UTF-8, close handling) run through the node:http bridge: the very test files of
 * test/conformance/, with `startEcho` serving the `sockeye echo` handlers from a plain node:http server whose
 * 'upgrade' events go to `websocketHandler().handleUpgrade`. Every case keeps its exact close codes and TCP checks.
 * Section 9 (limits, ws-server-limits.test.ts) is left to serve(): it moves tens of MiB per case; the bridge's
 * limits share serve()'s code and bridge-http.test.ts checks maxPayload and maxBackpressure through it.
 */

import { useBridgeForEcho } from '../fixtures/ws/echo-server.js';

useBridgeForEcho();
await import('../conformance/ws-server-framing.test.js');
await import('../conformance/ws-server-fragmentation.test.js');
await import('../conformance/ws-server-utf8.test.js');
await import('../conformance/ws-server-close.test.js');
