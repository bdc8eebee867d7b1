/** Every fuzz target, in the order `npm run fuzz` runs them. */

import type { FuzzTarget } from '../engine.js';
import { wsExtensionsTarget, wsHandshakeTarget } from './handshake.js';
import { http1ChunkedTarget, http1ParserTarget, http1ProtocolTarget } from './http1.js';
import { utf8Target } from './utf8.js';
import { wsClientDeflateTarget, wsClientTarget, wsFramesTarget, wsServerDeflateTarget, wsServerTarget } from './ws.js';

export const TARGETS: readonly FuzzTarget[] = [
  http1ParserTarget,
  http1ChunkedTarget,
  http1ProtocolTarget,
  wsFramesTarget,
  wsServerTarget,
  wsServerDeflateTarget,
  wsClientTarget,
  wsClientDeflateTarget,
  wsHandshakeTarget,
  wsExtensionsTarget,
  utf8Target,
];
