/**
 * `sockeye echo`: answers every HTTP request with a JSON description of what arrived, byte for byte, so that
 * conformance tools can check what the parser understood. Protocol errors never reach it: the server
 * answers them itself.
 */

import type { SockeyeRequest, SockeyeResponse, WebSocketOptions } from '../index.js';

/** JSON with every non-ASCII character escaped, so the body is pure ASCII and latin1 byte strings survive. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

/** The echo handler. */
export async function echoHandler(req: SockeyeRequest, res: SockeyeResponse): Promise<void> {
  const body = await req.bytes();
  res.setHeader('Content-Type', 'application/json');
  res.end(
    asciiJson({
      method: req.method,
      target: req.target,
      host: req.host,
      httpVersion: req.httpVersion,
      headers: pairs(req.headers.raw),
      body: body.toString('base64'),
      trailers: pairs(req.trailers),
    }),
  );
}

/** WebSocket echo: text back as text, binary as binary. */
export const wsEcho: WebSocketOptions = {
  maxPayload: 64 * 1024 * 1024,
  // Conformance clients send 16 MiB messages back to back and read every echo: a 1 MiB backpressure cap would
  // close them. Memory stays bounded, at 256 MiB per connection.
  maxBackpressure: 256 * 1024 * 1024,
  message(ws, message, isBinary) {
    ws.send(message, isBinary);
  },
  // A message sent as one frame of 64 KiB or more is echoed as it arrives, one fragment per piece read (RFC 6455
  // §5.4 lets a message be sent in fragments): no buffer of the message's size, and the echo starts before the
  // message has ended. Reading does not pause while the peer is slow to read the echo: a client that sends a
  // whole 16 MiB message before it reads (many conformance clients do) would wait for us while we wait for it.
  // maxBackpressure bounds what waits, as it bounds a whole-message echo.
  messageChunk(ws, chunk, isBinary, _isFirst, isLast) {
    ws.sendFragment(chunk, isLast, isBinary);
  },
};
