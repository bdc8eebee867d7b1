/**
 * Topics across machines through a real Redis Cluster (3 masters + 3 replicas of Debian's redis-server, started by
 * the test) with sharded pub/sub, and `sockeye pubsub --redis redis+cluster://...` processes as the nodes
 * (issue 17 §3, Redis Cluster):
 * - topics whose channels hash to slots of each of the three masters: every message arrives exactly once, in order
 *   per publisher, at every other subscriber on every node, never back to its sender; binary stays binary;
 * - interest-based: only topics with subscribers have a shard channel (PUBSUB SHARDCHANNELS on each master,
 *   SHARDNUMSUB = nodes with subscribers), and a node without subscribers of a topic receives none of its traffic;
 * - one master killed (SIGKILL) mid-stream and failed over to its replica: local delivery never stops, topics of
 *   the other masters lose nothing, the killed shard's topic comes back by itself on the new master, and on the
 *   publishing node delivered + lost + unheard equals what was sent, by Redis's own count;
 * - a cluster URL that is not host:port,host:port is refused with a sentence (TypeError; the CLI exits 2).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import type WebSocket from 'ws';
import { redisPubSub } from '../../src/redis/index.js';
import { BIN, startSockeyeProcess } from '../helpers/echo-process.js';
import { pubsubStats, waitAsync } from '../helpers/redis.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
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

/** One topic name per master: `room0`, `room1`... until the three masters each own one (bounded). */
async function topicPerMaster(cluster: RedisCluster): Promise<{ topic: string; master: number }[]> {
  const out: { topic: string; master: number }[] = [];
  for (let i = 0; i < 100 && out.length < 3; i++) {
    const master = await cluster.ownerOf(`sockeye:room${i}`);
    if (!out.some((x) => x.master === master)) out.push({ topic: `room${i}`, master });
  }
  assert.equal(out.length, 3, 'a topic on each master');
  return out;
}

/** How many connections listen to `topic`'s shard channel on the master that owns it now. */
async function shardNumsub(cluster: RedisCluster, topic: string): Promise<number> {
  const owner = await cluster.ownerOf(`sockeye:${topic}`);
  const r = (await cluster.node(owner).call('PUBSUB', 'SHARDNUMSUB', `sockeye:${topic}`)) as [string, number];
  return Number(r[1]);
}

async function waitShardNumsub(cluster: RedisCluster, topic: string, n: number): Promise<void> {
  await waitAsync(async () => (await shardNumsub(cluster, topic)) === n, 15_000, `${n} nodes on ${topic}'s shard`);
}

const range = (n: number, step = 1) => Array.from({ length: n }, (_, i) => i).filter((i) => i % step === 0);

describe('sockeye pubsub --redis redis+cluster://: sharded pub/sub', () => {
  test('three nodes, a topic on each master: exactly once, in order per publisher; interest-based', async (t) => {
    const cluster = await startRedisCluster(t);
    const topics = await topicPerMaster(cluster);
    const nodes = await Promise.all([1, 2, 3].map(() => startSockeyeProcess(t, 'pubsub', ['--redis', cluster.url])));
    const ports = nodes.map((n) => n.port);
    // On each topic, one client per node; and "quiet", a topic with subscribers on node 3 only.
    const clients: { ws: WebSocket; got: Got; topic: string; node: number }[] = [];
    for (const { topic } of topics) {
      for (let n = 0; n < 3; n++) {
        const ws = await openWs(t, `ws://127.0.0.1:${ports[n]}/${topic}`);
        clients.push({ ws, got: collect(ws), topic, node: n });
      }
    }
    const q1 = await openWs(t, `ws://127.0.0.1:${ports[2]}/quiet`);
    const q2 = await openWs(t, `ws://127.0.0.1:${ports[2]}/quiet`);
    const gq2 = collect(q2);
    for (const { topic } of topics) await waitShardNumsub(cluster, topic, 3);
    await waitShardNumsub(cluster, 'quiet', 1);
    // A shard channel only for topics with subscribers, each on the master that owns its slot.
    const masters = await cluster.masters();
    const listed: string[] = [];
    for (const m of masters) {
      const chans = (await cluster.node(m.port).call('PUBSUB', 'SHARDCHANNELS', 'sockeye:*')) as string[];
      for (const c of chans) {
        assert.equal(await cluster.ownerOf(c), m.port, `${c} on the master of its slot`);
        listed.push(c);
      }
    }
    assert.deepEqual(listed.sort(), [...topics.map((x) => `sockeye:${x.topic}`), 'sockeye:quiet'].sort());

    const N = 40;
    for (let i = 0; i < N; i++) {
      for (const c of clients) c.ws.send(`${c.topic}/${c.node}#${i}`);
      q1.send(`q#${i}`);
    }
    const first = clients[0] as (typeof clients)[0];
    first.ws.send(Buffer.from([0xbe, 0xef]));
    await waitFor(
      () => clients.every((c) => c.got.texts.length >= 2 * N) && gq2.texts.length >= N,
      20_000,
      'every message on every node',
    );
    await waitFor(
      () => clients.filter((c) => c.topic === first.topic && c !== first).every((c) => c.got.binaries.length >= 1),
      10_000,
      'the binary message',
    );
    for (const c of clients) {
      for (let other = 0; other < 3; other++) {
        const from = c.got.texts.filter((m) => m.startsWith(`${c.topic}/${other}#`));
        if (other === c.node) assert.deepEqual(from, [], 'not back to the sender');
        else
          assert.deepEqual(
            from,
            range(N).map((i) => `${c.topic}/${other}#${i}`),
            `${c.topic} on node ${c.node} from node ${other}: exactly once, in order`,
          );
      }
      assert.equal(c.got.texts.length, 2 * N, 'nothing of another topic');
      if (c.topic === first.topic && c !== first) assert.deepEqual(c.got.binaries, ['beef'], 'binary stays binary');
    }
    assert.deepEqual(
      gq2.texts,
      range(N).map((i) => `q#${i}`),
    );

    const stats = await Promise.all(ports.map((p) => pubsubStats(p)));
    for (const s of stats) {
      assert.equal(s.mode, 'cluster');
      assert.equal(s.state, 'ready/ready');
      assert.equal(s.lost, 0);
    }
    const [s1, s2, s3] = stats as [Record<string, number>, Record<string, number>, Record<string, number>];
    // Interest-based: nodes 1 and 2 have no subscriber of "quiet" and received none of it.
    assert.equal(s1.received, 3 * 2 * N, 'node 1: its three topics from the two other nodes');
    assert.equal(s2.received, 3 * 2 * N + 1, 'node 2: the same, and the binary');
    assert.equal(s3.received, 3 * 2 * N + 1);
    assert.equal(s1.channels, 3);
    assert.equal(s3.channels, 4);
  });

  test('a master killed mid-stream fails over: delivered + lost + unheard add up; the shard comes back', async (t) => {
    const cluster = await startRedisCluster(t);
    const topics = await topicPerMaster(cluster);
    const [p1, p2] = (
      await Promise.all([1, 2].map(() => startSockeyeProcess(t, 'pubsub', ['--redis', cluster.url])))
    ).map((n) => n.port) as [number, number];
    const lanes: { topic: string; pub: WebSocket; local: Got; remote: Got }[] = [];
    for (const { topic } of topics) {
      const pub = await openWs(t, `ws://127.0.0.1:${p1}/${topic}`);
      const local = collect(await openWs(t, `ws://127.0.0.1:${p1}/${topic}`));
      const remote = collect(await openWs(t, `ws://127.0.0.1:${p2}/${topic}`));
      lanes.push({ topic, pub, local, remote });
    }
    for (const { topic } of topics) await waitShardNumsub(cluster, topic, 2);

    let rounds = 0;
    const round = async () => {
      for (const l of lanes) l.pub.send(`${l.topic}#${rounds}`);
      rounds++;
      await new Promise((r) => setTimeout(r, 5));
    };
    for (let i = 0; i < 60; i++) await round();
    const victim = topics[0] as (typeof topics)[0];
    const killedAt = rounds;
    // What was sent before the kill has arrived (a message sent by a client is not at Redis yet).
    await waitFor(() => lanes.every((l) => l.remote.texts.length >= killedAt), 10_000, 'the messages before the kill');
    await cluster.kill(victim.master);
    // Keep publishing while the replica takes over and both nodes subscribe again on it (bounded).
    let done = false;
    const recovered = (async () => {
      await cluster.waitOk();
      assert.notEqual(await cluster.ownerOf(`sockeye:${victim.topic}`), victim.master, 'the replica took over');
      await waitShardNumsub(cluster, victim.topic, 2);
    })().finally(() => {
      done = true;
    });
    recovered.catch(() => {}); // awaited below, after the publishing loop

    for (let i = 0; i < 6000 && !done; i++) await round();
    await recovered;
    const afterRecovery = rounds;
    for (let i = 0; i < 60; i++) await round();
    const total = rounds * lanes.length;

    // Local delivery never depended on Redis.
    await waitFor(() => lanes.every((l) => l.local.texts.length >= rounds), 10_000, 'every local message');
    for (const l of lanes) {
      assert.deepEqual(
        l.local.texts,
        range(rounds).map((i) => `${l.topic}#${i}`),
      );
    }
    // Every publish of node 1 settled: accepted, or failed and counted.
    await waitAsync(
      async () => {
        const s = await pubsubStats(p1);
        return (s.published as number) + (s.lost as number) === total;
      },
      10_000,
      'every publish of node 1 settled',
    );
    // The last message of each lane reached node 2 (those after the recovery all go through).
    await waitFor(
      () => lanes.every((l) => l.remote.texts.at(-1) === `${l.topic}#${rounds - 1}`),
      10_000,
      'the last message of each topic on node 2',
    );
    const s1 = await pubsubStats(p1);
    let delivered = 0;
    for (const l of lanes) {
      const nums = l.remote.texts.map((m) => Number(m.slice(l.topic.length + 1)));
      assert.deepEqual(
        nums,
        [...nums].sort((a, b) => a - b),
        `${l.topic}: in order`,
      );
      assert.equal(new Set(nums).size, nums.length, `${l.topic}: exactly once`);
      assert.ok(
        range(rounds - afterRecovery).every((i) => nums.includes(afterRecovery + i)),
        `${l.topic}: everything after the recovery`,
      );
      if (l.topic === victim.topic) {
        assert.ok(
          range(killedAt).every((i) => nums.includes(i)),
          'the killed shard: everything before the kill',
        );
      } else {
        assert.deepEqual(nums, range(rounds), `${l.topic}, on a master that stayed up: nothing lost`);
      }
      delivered += nums.length;
    }
    const s2 = await pubsubStats(p2);
    const n = (s: Record<string, number | string>, k: string) => s[k] as number;
    const detail = JSON.stringify({ delivered, total, s1, s2 });
    // Redis's own count: what node 1's publishes reached, less what came back to node 1, is what node 2 received,
    // and node 2 delivered each of those to its one subscriber.
    assert.equal(n(s2, 'received'), n(s1, 'reached') - n(s1, 'echoes'), detail);
    assert.equal(delivered, n(s2, 'received'), detail);
    // Every message sent: delivered to node 2, reported lost, or published where node 2 was not (yet) listening.
    const unheardByNode2 = n(s1, 'published') - delivered;
    assert.ok(n(s1, 'lost') > 0, `the failover was noticed: ${detail}`);
    assert.ok(unheardByNode2 >= n(s1, 'unheard'), detail);
    assert.equal(delivered + n(s1, 'lost') + unheardByNode2, total, detail);
    assert.ok(n(s1, 'reconnects') >= 1 && n(s1, 'reconnects') <= 2, `the lost node counted: ${detail}`);
  });

  test('cluster URLs: nodes and credentials are read; a bad one is refused with a sentence', () => {
    const ok = redisPubSub({ url: 'rediss+cluster://user:p%40ss@[::1]:7000,127.0.0.1:7001/0', lingerMs: 10 });
    assert.equal(ok.stats().mode, 'cluster');
    void ok.close();
    const listed = redisPubSub({ cluster: [{ host: '127.0.0.1', port: 7000 }] });
    assert.equal(listed.stats().mode, 'cluster');
    void listed.close();
    const single = redisPubSub({ url: 'redis://127.0.0.1:1' });
    assert.equal(single.stats().mode, 'single');
    void single.close();
    for (const [url, part] of [
      ['redis+cluster://127.0.0.1', '127.0.0.1'],
      ['redis+cluster://127.0.0.1:7000,', ''],
      ['redis+cluster://h:70000', 'h:70000'],
    ] as const) {
      assert.throws(
        () => redisPubSub({ url }),
        (e: Error) => e instanceof TypeError && e.message.includes(`'${part}' is not host:port`),
        url,
      );
    }
    assert.throws(() => redisPubSub({ cluster: [] }), TypeError);
    const cli = spawnSync(process.execPath, [BIN, 'pubsub', '--port', '0', '--redis', 'redis+cluster://nowhere'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /^--redis: redis\+cluster URL: 'nowhere' is not host:port/);
  });
});
