/**
 * A server's topics: the registry of who subscribes to what (src/pubsub/topics.ts), the adapter to other nodes, and
 * the publish loop. Subscribers are WebSockets (node/websocket.ts) and server-sent event streams (node/sse.ts); both
 * take a message prepared once (node/prepared-message.ts) and apply their own backpressure policy to it, so an
 * adapter sees one local interest per topic whatever kinds of subscriber it has.
 */

import { checkTopicType, type TopicLimits, TopicRegistry } from '../pubsub/topics.js';
import { PreparedMessage } from './prepared-message.js';
import type { PublishResult, PubSubAdapter } from './pubsub-adapter.js';
import { SEND_BACKPRESSURE } from './ws-send.js';

/** What a subscriber does with a published message. @internal */
export interface TopicSubscriber {
  /** Takes a message published to one of its topics: > 0 sent, -1 (SEND_BACKPRESSURE) queued, 0 dropped. */
  publishPrepared(message: PreparedMessage, compress?: boolean): number;
}

/** @internal */
export class TopicHub {
  readonly registry: TopicRegistry<TopicSubscriber>;
  /** The bridge to other nodes (`serve({ pubsub })`), or null. */
  adapter: PubSubAdapter | null;

  constructor(limits: Partial<TopicLimits> = {}) {
    this.registry = new TopicRegistry<TopicSubscriber>(limits);
    this.adapter = null;
  }

  /** Connects `adapter`: it hears of topics gaining their first and losing their last local subscriber. */
  useAdapter(adapter: PubSubAdapter): void {
    this.adapter = adapter;
    this.registry.events = { added: (t) => adapter.subscribe(t), removed: (t) => adapter.unsubscribe(t) };
    adapter.attach({
      deliver: (topic, data, isBinary) => this.publish(topic, data, isBinary, undefined, null, false),
      topics: () => this.registry.topics(),
    });
  }

  /**
   * Publishes to every subscriber of `topic` but `except`: the message is prepared once (framed once, compressed
   * once per shared compressor setting, encoded once as an event) and the same bytes are written to each, in
   * subscription order, each subscriber's backpressure policy applying to it alone. With an adapter (and
   * `forward`), other nodes get it too.
   */
  publish(
    topic: string,
    data: string | Uint8Array | ArrayBuffer,
    isBinary: boolean | undefined,
    compress: boolean | undefined,
    except: TopicSubscriber | null,
    forward = true,
  ): PublishResult {
    checkTopicType(topic);
    const subs = this.registry.subscribers(topic);
    const result: PublishResult = { sent: 0, queued: 0, dropped: 0 };
    const adapter = forward ? this.adapter : null;
    if (adapter === null && (subs.size === 0 || (subs.size === 1 && except !== null && subs.has(except)))) {
      return result;
    }
    const message = new PreparedMessage(
      data instanceof ArrayBuffer ? new Uint8Array(data) : data,
      isBinary ?? typeof data !== 'string',
    );
    // Other nodes first: what they deliver does not depend on this node's subscribers.
    if (adapter !== null) adapter.publish(topic, message.data, message.binary);
    for (const sub of subs) {
      if (sub === except) continue;
      const r = sub.publishPrepared(message, compress);
      if (r > 0) result.sent++;
      else if (r === SEND_BACKPRESSURE) result.queued++;
      else result.dropped++;
    }
    return result;
  }
}
