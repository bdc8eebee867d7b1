/**
 * `sockeye pubsub`: a broadcast server for people who want one without writing code. A WebSocket to path `/NAME`
 * subscribes to topic `NAME` (percent-decoded); each message it sends is published to `NAME` with `ws.publish`
 * semantics: every other subscriber gets it, text as text and binary as binary. Built on the public API only.
 */

import type { WebSocketOptions } from '../index.js';

/** The topic a request path names: `/NAME` percent-decoded, or null when there is none or it is not valid. */
export function topicOfPath(path: string): string | null {
  if (path.length < 2 || path[0] !== '/') return null;
  try {
    return decodeURIComponent(path.slice(1));
  } catch {
    // a `%` not followed by a valid UTF-8 sequence
    return null;
  }
}

/** The WebSocket handlers of `sockeye pubsub` (`deflate`: accept permessage-deflate). */
export function pubsubOptions(deflate: boolean): WebSocketOptions<string> {
  return {
    perMessageDeflate: deflate,
    upgrade(req, ctx) {
      const topic = topicOfPath(req.path);
      if (topic === null) return ctx.reject(400, 'name a topic in the path: ws://host:port/NAME\n');
      return { data: topic };
    },
    open(ws) {
      try {
        ws.subscribe(ws.data);
      } catch (err) {
        // a name longer than the topic limit: say so and close (RFC 6455 §7.4.1: 1008, a policy violation)
        ws.close(1008, (err as Error).message.slice(0, 120));
      }
    },
    message(ws, message, isBinary) {
      ws.publish(ws.data, message, isBinary);
    },
  };
}
