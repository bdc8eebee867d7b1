/**
 * permessage-deflate conformance (Autobahn 12 and 13 style, RFC 7692) through the node:http bridge: the very test
 * file test/conformance/ws-server-deflate.test.ts, with its echo server started as test/fixtures/ws/bridge-echo.ts
 * (the `sockeye echo` handlers given to `websocketHandler()` on a plain node:http server, `--deflate` as the CLI
 * has it) instead of `sockeye echo`. Every case keeps its checks: the negotiated parameters against each offer,
 * byte-identical echoes decompressed with exactly what was agreed, offers that must be declined, and the server
 * alive afterwards.
 */

import { useBridgeForEchoProcess } from '../helpers/echo-process.js';

useBridgeForEchoProcess();
await import('../conformance/ws-server-deflate.test.js');
