/**
 * The server conformance suite (the opening handshake of RFC 6455 §4.2, and Autobahn TestSuite sections 1-7, 9 and
 * 10: framing, ping/pong, reserved bits and opcodes, fragmentation, UTF-8, close handling, limits) run through the node:http bridge: the very test files of
 * test/conformance/, with `startEcho` serving the `sockeye echo` handlers from a plain node:http server whose
 * 'upgrade' events go to `websocketHandler().handleUpgrade`. Every case keeps its exact close codes and TCP checks.
 * Section 12/13 (permessage-deflate) runs through the bridge in bridge-deflate.test.ts.
 */

import { useBridgeForEcho } from '../fixtures/ws/echo-server.js';

useBridgeForEcho();
await import('../conformance/ws-server-handshake.test.js');
await import('../conformance/ws-server-framing.test.js');
await import('../conformance/ws-server-fragmentation.test.js');
await import('../conformance/ws-server-utf8.test.js');
await import('../conformance/ws-server-close.test.js');
await import('../conformance/ws-server-limits.test.js');
