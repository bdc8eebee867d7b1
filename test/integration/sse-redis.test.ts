/**
 * Event streams as local interest across nodes (issue 17 §6 with §3): two servers, each with its own `sockeye/redis`
 * adapter on a real Debian redis-server started by the test. Node B has no WebSocket section at all: an event
 * stream subscribing there makes B SUBSCRIBE the topic's channel (seen with PUBSUB CHANNELS); a `ws` client's
 * `ws.publish` on node A reaches the stream on B through Redis, exactly once; when the stream's client goes, B
 * UNSUBSCRIBEs (after the adapter's linger). Skipped, with a message, only when redis-server is absent.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { redisPubSub } from '../../src/redis/index.js';
import { startServer } from '../helpers/net.js';
import { REDIS_SERVER, startRedis, waitAsync } from '../helpers/redis.js';
import { openWs } from '../helpers/slow-peers.js';
import { RawSseClient, sseRequest } from '../helpers/sse-client.js';

test('an event stream on one node gets what a WebSocket publishes on another, through Redis, and its interest comes and goes', {
  skip: existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is not installed`,
  timeout: 60_000,
}, async (t) => {
  const redis = await startRedis(t);
  const a = await startServer(t, {
    pubsub: redisPubSub({ url: redis.url }),
    websocket: {
      message(ws, m, isBinary) {
        ws.publish('news', m, isBinary);
      },
    },
  });
  const b = await startServer(t, {
    pubsub: redisPubSub({ url: redis.url }),
    request(_req, res) {
      const s = res.sse({ heartbeat: 0 });
      s.subscribe('news');
      s.comment('in');
    },
  });
  const probe = new Redis(redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await probe.connect();
  t.after(() => probe.disconnect());
  const channels = async () => ((await probe.pubsub('CHANNELS')) as string[]).sort();
  assert.deepEqual(await channels(), [], 'no interest yet');

  const c = await RawSseClient.open(b.port, sseRequest('/'));
  await c.waitForText(': in\n');
  await waitAsync(async () => (await channels()).includes('sockeye:news'), 10_000, 'node B to subscribe news');

  const ws = await openWs(t, `ws://127.0.0.1:${a.port}/`);
  ws.send('one');
  ws.send('two\nlines');
  await c.waitForText('data: two\ndata: lines\n\n');
  const events = [...c.text.matchAll(/data: ([^\n]*)\n/g)].map((m) => m[1]);
  assert.deepEqual(events, ['one', 'two', 'lines'], 'exactly once, in publish order');
  const st = b.stats().pubsub as Record<string, number | string>;
  assert.equal(st.received, 2);
  assert.equal(st.delivered, 2);

  c.destroy();
  await waitAsync(async () => !(await channels()).includes('sockeye:news'), 10_000, 'node B to unsubscribe news');
  assert.equal(b.subscriberCount('news'), 0);
});
