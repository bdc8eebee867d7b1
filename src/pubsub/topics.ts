/**
 * The topic registry (sans-I/O): which subscribers each topic has, and which topics each subscriber is in, with the
 * limits that keep it bounded. No sockets, no frames: the node/ layer publishes by walking `subscribers(topic)` and
 * writing one prepared message to each (node/topic-hub.ts). Subscribers are any objects (a server's WebSockets, an SSE
 * response); what a subscriber is in is kept here, in a WeakMap, so a connection that never subscribes costs nothing.
 *
 * Order: a topic's subscribers are a Set (insertion order), so a publish reaches them in the order they
 * subscribed, and messages published to one topic reach each subscriber in publish order (each publish is written
 * to every subscriber before the next one starts).
 */

import { PUBSUB_MAX_TOPIC_BYTES, PUBSUB_MAX_TOPICS_PER_SUBSCRIBER } from '../limits.js';

/** Told when a topic gains its first subscriber and loses its last (a pub/sub adapter subscribes elsewhere then). */
export interface TopicEvents {
  added(topic: string): void;
  removed(topic: string): void;
}

/** Limits of a registry. */
export interface TopicLimits {
  /** Longest topic name in UTF-8 bytes. Default 1 KiB (`PUBSUB_MAX_TOPIC_BYTES`). */
  maxTopicBytes: number;
  /** Most topics one subscriber may be in. Default 1,000 (`PUBSUB_MAX_TOPICS_PER_SUBSCRIBER`). */
  maxTopicsPerSubscriber: number;
}

const NO_SUBSCRIBERS: ReadonlySet<never> = new Set<never>();

export class TopicRegistry<S extends object> {
  readonly #topics: Map<string, Set<S>>;
  readonly #of: WeakMap<S, Set<string>>;
  readonly #limits: TopicLimits;
  /** Who hears about topics gaining their first / losing their last subscriber (null: nobody). */
  events: TopicEvents | null;

  constructor(limits: Partial<TopicLimits> = {}) {
    this.events = null;
    this.#topics = new Map();
    this.#of = new WeakMap();
    this.#limits = {
      maxTopicBytes: limits.maxTopicBytes ?? PUBSUB_MAX_TOPIC_BYTES,
      maxTopicsPerSubscriber: limits.maxTopicsPerSubscriber ?? PUBSUB_MAX_TOPICS_PER_SUBSCRIBER,
    };
  }

  /**
   * Adds `sub` to `topic`. Returns false if it was already in it.
   * @throws TypeError when `topic` is not a string; RangeError when it is empty or longer than `maxTopicBytes`, or
   * when `sub` is already in `maxTopicsPerSubscriber` topics
   */
  subscribe(sub: S, topic: string): boolean {
    this.checkTopic(topic);
    let mine = this.#of.get(sub);
    if (mine?.has(topic) === true) return false;
    if (mine === undefined) {
      mine = new Set();
      this.#of.set(sub, mine);
    } else if (mine.size >= this.#limits.maxTopicsPerSubscriber) {
      throw new RangeError(
        `Cannot subscribe to '${topic}': already in ${mine.size} topics (maxTopicsPerConnection is ${this.#limits.maxTopicsPerSubscriber})`,
      );
    }
    mine.add(topic);
    let subs = this.#topics.get(topic);
    if (subs === undefined) {
      subs = new Set();
      this.#topics.set(topic, subs);
      subs.add(sub);
      this.events?.added(topic);
      return true;
    }
    subs.add(sub);
    return true;
  }

  /**
   * Removes `sub` from `topic`. Returns false if it was not in it.
   * @throws TypeError when `topic` is not a string
   */
  unsubscribe(sub: S, topic: string): boolean {
    checkTopicType(topic);
    const mine = this.#of.get(sub);
    if (mine === undefined || !mine.delete(topic)) return false;
    this.#leave(sub, topic);
    return true;
  }

  /** Removes `sub` from every topic (a connection that ended). */
  unsubscribeAll(sub: S): void {
    const mine = this.#of.get(sub);
    if (mine === undefined) return;
    this.#of.delete(sub);
    for (const topic of mine) this.#leave(sub, topic);
  }

  #leave(sub: S, topic: string): void {
    const subs = this.#topics.get(topic);
    if (subs === undefined) return;
    subs.delete(sub);
    // A topic without subscribers is forgotten: the registry holds only topics someone is in.
    if (subs.size === 0) {
      this.#topics.delete(topic);
      this.events?.removed(topic);
    }
  }

  isSubscribed(sub: S, topic: string): boolean {
    return this.#of.get(sub)?.has(topic) === true;
  }

  /** The topics `sub` is in (a live view: copy it to keep it). */
  topicsOf(sub: S): ReadonlySet<string> {
    return this.#of.get(sub) ?? NO_SUBSCRIBERS;
  }

  /** The subscribers of `topic`, in the order they subscribed (a live view: do not change the registry while
   * iterating it, except through `unsubscribeAll` of the subscriber being visited, which a Set allows). */
  subscribers(topic: string): ReadonlySet<S> {
    return this.#topics.get(topic) ?? NO_SUBSCRIBERS;
  }

  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** Topics with at least one subscriber. */
  get topicCount(): number {
    return this.#topics.size;
  }

  /** Every topic with at least one subscriber. */
  topics(): IterableIterator<string> {
    return this.#topics.keys();
  }

  /**
   * Checks a topic name against the limits.
   * @throws TypeError when it is not a string; RangeError when empty or longer than `maxTopicBytes` UTF-8 bytes
   */
  checkTopic(topic: string): void {
    checkTopicType(topic);
    if (topic.length === 0) throw new RangeError('topic must not be empty');
    const max = this.#limits.maxTopicBytes;
    // A UTF-16 unit is 1 to 3 UTF-8 bytes: count the bytes only when the length alone cannot decide.
    if (topic.length > max || (topic.length * 3 > max && utf8Length(topic) > max)) {
      throw new RangeError(`topic is longer than ${max} bytes (maxTopicBytes)`);
    }
  }
}

function typeName(v: unknown): string {
  return v === null ? 'null' : typeof v;
}

/** @throws TypeError naming the argument when `topic` is not a string (a publish to no subscribers checks it too). */
export function checkTopicType(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string') throw new TypeError(`topic must be a string, got ${typeName(topic)}`);
}

/** UTF-8 length of a string (lone surrogates count 3, as they are encoded as U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
