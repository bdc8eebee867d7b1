/**
 * Topics across machines through a real Debian redis-server (started by the test on a free port), with three
 * `sockeye pubsub --redis URL` processes as the nodes and `ws` clients on different nodes (issue 17 §3):
 * - every message arrives exactly once, in order per publisher, at every other subscriber on every node (text and
 *   binary kept), never back to its sender;
 * - interest-based routing: Redis has a channel only for topics with subscribers (`PUBSUB CHANNELS`), and a node
 *   without subscribers of a topic receives none of its traffic (its `/stats` counters);
 * - a Redis outage mid-stream: local delivery goes on, and on the publishing node every message is either
 *   delivered to the other node's subscriber, reported lost, or reported unheard (published while the other node
 *   was still subscribing again): the counts add up; the adapter reconnects and subscribes again by itself.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type WebSocket from 'ws';
import { startSockeyeProcess } from '../helpers/echo-process.js';
import { pubsubStats, startRedis, waitAsync } from '../helpers/redis.js';
import { openWs, waitFor } from '../helpers/slow-peers.js';

interface Got {
  texts: string[];
  binaries: string[];
}

function collect(ws: WebSocket): Got {
  const got: Got = { texts: [], binaries: [] };
  ws.on('message', (d, isBinary) => {
    if (isBinary) got.binaries.push((d as Buffer).toString('hex'));
    else got.texts.push(String(d));
  });
  return got;
}

/** Waits until `n` connections (nodes) are subscribed to the channel of `topic` in Redis. */
async function waitNumsub(admin: Redis, topic: string, n: number): Promise<void> {
  await waitAsync(
    async () => Number(((await admin.pubsub('NUMSUB', `sockeye:${topic}`)) as [string, number])[1]) === n,
    10_000,
    `${n} nodes subscribed to ${topic}`,
  );
}

describe('sockeye pubsub --redis: three nodes', () => {
  test('exactly once, in order per publisher, on every node; interest-based channels; binary kept', async (t) => {
    const redis = await startRedis(t);
    const admin = new Redis(redis.url);
    t.after(() => admin.disconnect());
    const nodes = await Promise.all([1, 2, 3].map(() => startSockeyeProcess(t, 'pubsub', ['--redis', redis.url])));
    const [n1, n2, n3] = nodes.map((n) => n.port) as [number, number, number];
    const a = await openWs(t, `ws://127.0.0.1:${n1}/chat`);
    const b = await openWs(t, `ws://127.0.0.1:${n2}/chat`);
    const c = await openWs(t, `ws://127.0.0.1:${n3}/chat`);
    const d = await openWs(t, `ws://127.0.0.1:${n3}/other`);
    const e = await openWs(t, `ws://127.0.0.1:${n3}/other`);
    const [ga, gb, gc, , ge] = [a, b, c, d, e].map(collect) as [Got, Got, Got, Got, Got];
    await waitNumsub(admin, 'chat', 3);
    await waitNumsub(admin, 'other', 1);
    const channels = ((await admin.pubsub('CHANNELS', 'sockeye:*')) as string[]).sort();
    assert.deepEqual(channels, ['sockeye:chat', 'sockeye:other'], 'a channel only for topics with subscribers');

    const N = 60;
    for (let i = 0; i < N; i++) {
      a.send(`a#${i}`);
      b.send(`b#${i}`);
      if (i % 3 === 0) c.send(`c#${i}`);
      d.send(`d#${i}`);
    }
    b.send(Buffer.from([0xde, 0xad]));
    const cCount = Math.ceil(N / 3);
    await waitFor(
      () => ga.texts.length >= N + cCount && gb.texts.length >= N + cCount && gc.texts.length >= 2 * N,
      15_000,
      'every chat message on every node',
    );
    await waitFor(() => ge.texts.length >= N && ga.binaries.length >= 1, 15_000, 'the other topic and the binary');
    const from = (g: Got, who: string) => g.texts.filter((m) => m.startsWith(`${who}#`));
    const seq = (who: string, step = 1) =>
      Array.from({ length: N }, (_, i) => i)
        .filter((i) => i % step === 0)
        .map((i) => `${who}#${i}`);
    // Exactly once and in order per publisher; never one's own.
    assert.deepEqual(from(ga, 'b'), seq('b'));
    assert.deepEqual(from(ga, 'c'), seq('c', 3));
    assert.deepEqual(from(gb, 'a'), seq('a'));
    assert.deepEqual(from(gb, 'c'), seq('c', 3));
    assert.deepEqual(from(gc, 'a'), seq('a'));
    assert.deepEqual(from(gc, 'b'), seq('b'));
    assert.deepEqual(from(ga, 'a'), [], 'not back to the sender');
    assert.deepEqual(from(ge, 'd'), seq('d'), 'the other topic, on its node');
    assert.deepEqual(ga.binaries, ['dead'], 'binary stays binary');
    assert.deepEqual(gc.binaries, ['dead']);
    assert.equal(ga.texts.filter((m) => m.startsWith('d#')).length, 0, 'no other-topic messages on node 1');

    // Interest-based: nodes 1 and 2 have no subscriber of "other": none of its traffic reached them.
    const [s1, s2] = await Promise.all([pubsubStats(n1), pubsubStats(n2)]);
    assert.equal(s1.received, N + cCount + 1, 'node 1 received chat from b and c only (and the binary)');
    assert.equal(s2.received, N + cCount, 'node 2 received chat from a and c only');
    assert.equal(s1.lost, 0);
  });

  test('a Redis outage mid-stream: local delivery goes on; delivered + lost + unheard add up; it recovers', async (t) => {
    const redis = await startRedis(t);
    const admin = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    admin.on('error', () => {});
    t.after(() => admin.disconnect());
    const [p1, p2] = (
      await Promise.all([1, 2].map(() => startSockeyeProcess(t, 'pubsub', ['--redis', redis.url])))
    ).map((n) => n.port) as [number, number];
    const a = await openWs(t, `ws://127.0.0.1:${p1}/live`);
    const local = await openWs(t, `ws://127.0.0.1:${p1}/live`);
    const remote = await openWs(t, `ws://127.0.0.1:${p2}/live`);
    const [gl, gr] = [collect(local), collect(remote)];
    await waitNumsub(admin, 'live', 2);

    const total = 300;
    let sent = 0;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        a.send(`m#${sent++}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    await send(100);
    await redis.stop();
    await send(100); // Redis is down: only local delivery
    await redis.start();
    // The adapters reconnect with backoff and subscribe again by themselves.
    await waitAsync(
      async () => (await pubsubStats(p1)).state === 'ready/ready' && (await pubsubStats(p2)).state === 'ready/ready',
      15_000,
      'both nodes reconnected',
    );
    await send(total - 200);
    await waitFor(() => gl.texts.length >= total, 10_000, 'every message to the local subscriber');
    assert.deepEqual(
      gl.texts,
      Array.from({ length: total }, (_, i) => `m#${i}`),
      'local delivery never stopped',
    );
    // Every publish is settled (accepted, failed or refused at once) once the stats count them all.
    await waitAsync(
      async () => {
        const s = await pubsubStats(p1);
        return (s.published as number) + (s.lost as number) === total;
      },
      10_000,
      'every publish of node 1 settled',
    );
    const s1 = await pubsubStats(p1);
    const delivered = gr.texts.length;
    assert.ok((s1.lost as number) > 0, 'the outage was noticed: publishes counted as lost');
    assert.ok(delivered > 100, 'messages after the outage were delivered again');
    assert.equal(delivered + (s1.lost as number) + (s1.unheard as number), total, JSON.stringify({ delivered, s1 }));
    // What did arrive remotely arrived once and in order.
    const nums = gr.texts.map((m) => Number(m.slice(2)));
    assert.deepEqual(
      nums,
      [...nums].sort((x, y) => x - y),
      'in order',
    );
    assert.equal(new Set(nums).size, nums.length, 'exactly once');
    assert.ok((s1.reconnects as number) >= 1);
  });
});
