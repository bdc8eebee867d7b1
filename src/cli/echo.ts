/**
 * `sockeye echo`: answers every HTTP request with a JSON description of what arrived, byte for byte, so that
 * conformance tools can check what the parser understood. Protocol errors never reach it: the server
 * answers them itself.
 */

import { Buffer } from 'node:buffer';
import type { ServerWebSocket, SockeyeRequest, SockeyeResponse, WebSocketOptions } from '../index.js';

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

/**
 * How much an echo peer may leave unread: what its own messages need, never a fixed large amount. A peer that sends
 * a 16 MiB message before it reads its echo (conformance clients do) needs 16 MiB of room, one that sends two such
 * messages before reading (a browser page, the Autobahn-style suites) 32 MiB; a peer that never reads needs none.
 * So the allowance is twice the largest message this peer has sent so far (a streamed one counts as it arrives:
 * the message in flight and one behind it) plus this margin, for the small messages around them.
 */
export const ECHO_BACKPRESSURE_MARGIN = 1024 * 1024;

/** Bytes so far of the message each connection is streaming in (connections without one hold no entry). */
const streaming = new WeakMap<ServerWebSocket, number>();

/**
 * Raises the connection's allowance to what a message of `size` bytes needs (it only grows: the allowance itself
 * remembers the largest message so far).
 */
function allow(ws: ServerWebSocket, size: number): void {
  const need = 2 * size + ECHO_BACKPRESSURE_MARGIN;
  if (need > ws.maxBackpressure) ws.maxBackpressure = need;
}

/**
 * WebSocket echo: text back as text, binary as binary. `maxBackpressure` set: that fixed bound on what a peer may
 * leave unread (`sockeye echo --max-backpressure BYTES`); unset: what the peer's own messages need (see
 * ECHO_BACKPRESSURE_MARGIN). Past it the peer is failed with 1008 and read no more (RFC 6455 §7.1.7).
 */
export function wsEchoOptions(maxBackpressure?: number): WebSocketOptions {
  const fixed = maxBackpressure !== undefined;
  return {
    maxPayload: 64 * 1024 * 1024,
    maxBackpressure: maxBackpressure ?? ECHO_BACKPRESSURE_MARGIN,
    message(ws, message, isBinary) {
      if (!fixed) {
        // A string's UTF-8 length is at most 3 bytes per UTF-16 unit: count it only when it may raise the allowance.
        if (typeof message !== 'string') allow(ws, message.length);
        else if (6 * message.length + ECHO_BACKPRESSURE_MARGIN > ws.maxBackpressure)
          allow(ws, Buffer.byteLength(message));
      }
      ws.send(message, isBinary);
    },
    // A message sent as one frame of 64 KiB or more is echoed as it arrives, one fragment per piece read (RFC 6455
    // §5.4 lets a message be sent in fragments): no buffer of the message's size, and the echo starts before the
    // message has ended. Reading does not pause while the peer is slow to read the echo: a client that sends a
    // whole 16 MiB message before it reads (many conformance clients do) would wait for us while we wait for it.
    // The allowance grows with the message as it arrives, so what waits is bounded by what the peer sent.
    messageChunk(ws, chunk, isBinary, isFirst, isLast) {
      if (!fixed) {
        const sofar = (isFirst ? 0 : (streaming.get(ws) ?? 0)) + chunk.length;
        if (isLast) streaming.delete(ws);
        else streaming.set(ws, sofar);
        allow(ws, sofar);
      }
      ws.sendFragment(chunk, isLast, isBinary);
    },
  };
}

/** The echo with its default policy (what a peer's messages need). */
export const wsEcho: WebSocketOptions = wsEchoOptions();
