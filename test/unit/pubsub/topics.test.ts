/**
 * The topic registry (src/pubsub/topics.ts), sans-I/O: subscribe / unsubscribe / unsubscribeAll against a model
 * (fast-check: any sequence of operations leaves the registry and the model agreeing on every topic's subscribers,
 * in subscription order, and on every subscriber's topics), the limits (TypeError naming the argument, RangeError
 * for empty, too long and too many), and that a topic without subscribers is forgotten.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TopicRegistry } from '../../../src/pubsub/topics.js';

class Sub {
  constructor(readonly id: number) {}
}

describe('TopicRegistry', () => {
  test('subscribe, publish order of subscribers, unsubscribe, unsubscribeAll; empty topics are forgotten', () => {
    const r = new TopicRegistry<Sub>();
    const [a, b, c] = [new Sub(1), new Sub(2), new Sub(3)];
    assert.equal(r.subscribe(b, 'room'), true);
    assert.equal(r.subscribe(a, 'room'), true);
    assert.equal(r.subscribe(a, 'room'), false, 'already in it');
    assert.equal(r.subscribe(c, 'other'), true);
    assert.deepEqual([...r.subscribers('room')], [b, a], 'in the order they subscribed');
    assert.equal(r.subscriberCount('room'), 2);
    assert.equal(r.isSubscribed(a, 'room'), true);
    assert.equal(r.isSubscribed(c, 'room'), false);
    assert.deepEqual([...r.topicsOf(a)], ['room']);
    assert.equal(r.unsubscribe(a, 'room'), true);
    assert.equal(r.unsubscribe(a, 'room'), false);
    assert.equal(r.topicCount, 2);
    r.unsubscribeAll(b);
    assert.equal(r.subscriberCount('room'), 0);
    assert.equal(r.topicCount, 1, 'room is forgotten');
    assert.deepEqual([...r.topics()], ['other']);
    assert.deepEqual([...r.subscribers('nobody')], []);
  });

  test('limits: a TypeError names the argument; empty, too long (in UTF-8 bytes) and too many are RangeErrors', () => {
    const r = new TopicRegistry<Sub>({ maxTopicBytes: 8, maxTopicsPerSubscriber: 2 });
    const s = new Sub(1);
    for (const bad of [42, null, undefined, Symbol('x'), {}]) {
      assert.throws(
        () => r.subscribe(s, bad as unknown as string),
        (e: Error) => e instanceof TypeError && /topic/.test(e.message),
      );
    }
    assert.throws(() => r.unsubscribe(s, 7 as unknown as string), TypeError);
    assert.throws(() => r.subscribe(s, ''), RangeError);
    assert.equal(r.subscribe(s, '12345678'), true, '8 bytes');
    assert.throws(() => r.subscribe(s, '123456789'), RangeError, '9 bytes');
    assert.throws(() => r.subscribe(s, 'ééééé'), RangeError, '5 characters, 10 bytes');
    assert.equal(r.subscribe(s, 'éé'), true, '4 bytes');
    assert.throws(
      () => r.subscribe(s, 'third'),
      (e: Error) => e instanceof RangeError && /maxTopicsPerConnection/.test(e.message),
    );
    assert.equal(r.subscribe(s, 'éé'), false, 'an existing subscription is no new topic');
    assert.equal(r.unsubscribe(s, 'éé'), true);
    assert.equal(r.subscribe(s, 'third'), true, 'room again after leaving one');
  });

  test('any sequence of operations agrees with a model (fast-check)', () => {
    const topicArb = fc.constantFrom('a', 'b', 'c', 'd');
    const subArb = fc.integer({ min: 0, max: 4 });
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('sub' as const), s: subArb, t: topicArb }),
      fc.record({ op: fc.constant('unsub' as const), s: subArb, t: topicArb }),
      fc.record({ op: fc.constant('all' as const), s: subArb, t: topicArb }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const subs = [0, 1, 2, 3, 4].map((i) => new Sub(i));
        const r = new TopicRegistry<Sub>({ maxTopicsPerSubscriber: 3 });
        // Model: per topic, subscriber ids in subscription order.
        const model = new Map<string, number[]>();
        const count = (id: number) => [...model.values()].filter((l) => l.includes(id)).length;
        for (const { op, s, t } of ops) {
          const sub = subs[s] as Sub;
          const list = model.get(t) ?? [];
          if (op === 'sub') {
            if (list.includes(s)) assert.equal(r.subscribe(sub, t), false);
            else if (count(s) >= 3) assert.throws(() => r.subscribe(sub, t), RangeError);
            else {
              assert.equal(r.subscribe(sub, t), true);
              model.set(t, [...list, s]);
            }
          } else if (op === 'unsub') {
            assert.equal(r.unsubscribe(sub, t), list.includes(s));
            model.set(
              t,
              list.filter((x) => x !== s),
            );
          } else {
            r.unsubscribeAll(sub);
            for (const [k, l] of model)
              model.set(
                k,
                l.filter((x) => x !== s),
              );
          }
          for (const [k, l] of model) if (l.length === 0) model.delete(k);
          for (const topic of ['a', 'b', 'c', 'd']) {
            assert.deepEqual(
              [...r.subscribers(topic)].map((x) => x.id),
              model.get(topic) ?? [],
            );
          }
          assert.equal(r.topicCount, model.size);
          for (const x of subs) {
            assert.deepEqual(
              [...r.topicsOf(x)].sort(),
              [...model.entries()]
                .filter(([, l]) => l.includes(x.id))
                .map(([k]) => k)
                .sort(),
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
