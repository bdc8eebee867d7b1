/**
 * Topics across the workers of one machine (`sockeye/cluster`, issue 17 §2), on a real cluster of 2 worker
 * processes (test/fixtures/cluster/cluster-server.ts) and `ws` clients that land on both workers:
 * - a message published on worker A reaches every other subscriber on A and on B exactly once, in publish order,
 *   text and binary kept, never back to its publisher;
 * - interest-based and framed once per worker: B gets one relayed message per publish however many subscribers it
 *   has, and nothing of a topic it has no subscribers for;
 * - `stats()` (GET /stats) and `/metrics` are the sums over the workers;
 * - batched per event-loop turn: a burst of publishes in one turn travels to the primary as one IPC message (or one
 *   per CLUSTER_IPC_BATCH_BYTES of payload; a bigger message alone) and is relayed the same way, and arrives at the
 *   subscribers of both workers complete and in publish order, text and binary kept.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import type { ClusterStats } from '../../src/cluster/index.js';
import { CLUSTER_IPC_BATCH_BYTES } from '../../src/limits.js';
import {
  type ClusterClient,
  clientsOnWorkers,
  connectClient,
  getJson,
  pingRoundTrip,
  startCluster,
  waitForOpen,
} from '../helpers/cluster.js';
import { waitFor, within } from '../helpers/slow-peers.js';

/** The value of one sample of a Prometheus text (`name{labels} value`). */
function sample(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found !== undefined, `no sample ${line} in /metrics`);
  return Number(found.slice(line.length + 1));
}

test('a publish on one worker reaches the subscribers of every worker once, in order; stats are summed', async (t) => {
  const c = await startCluster(t, 2);
  assert.equal(c.pids.length, 2);
  // Two subscribers of 'room' on each worker; the first one on worker A publishes.
  const [onA, onB] = (await clientsOnWorkers(t, c.port, 'room', 2, 2)) as [ClusterClient[], ClusterClient[]];
  const [publisher, subA] = onA as [ClusterClient, ClusterClient];
  assert.notEqual(onA[0]?.pid, onB[0]?.pid, 'the clients are on two workers');
  // A topic with subscribers on worker A only.
  const soloPub = await connectUntil(t, c.port, 'solo', publisher.pid);
  const soloSub = await connectUntil(t, c.port, 'solo', publisher.pid);
  const subscribers = [subA, ...onB];
  // Worker B told the primary of its interest when its first client opened, on B's channel; the publishes come on
  // A's. A /stats round trip is the barrier: the primary reads B's answer after B's earlier SUBSCRIBE. It also
  // waits for the clients closed while landing on both workers to be gone.
  await waitForOpen(c.port, 6);

  const N = 50;
  const expected: string[] = [];
  for (let i = 0; i < N; i++) {
    if (i % 5 === 4) {
      const bytes = Buffer.from([i, 0, 255, i ^ 0xff]);
      publisher.ws.send(bytes, { binary: true });
      expected.push(`bin:${bytes.toString('hex')}`);
    } else {
      publisher.ws.send(`m${i} ${'é'.repeat(i % 3)}`);
      expected.push(`m${i} ${'é'.repeat(i % 3)}`);
    }
  }
  for (let i = 0; i < 10; i++) soloPub.ws.send(`solo ${i}`);
  await waitFor(
    () => subscribers.every((s) => s.got.length >= N) && soloSub.got.length >= 10,
    10_000,
    'every subscriber to get every message',
  );
  await Promise.all([...subscribers, publisher, soloSub].map((s) => pingRoundTrip(s.ws)));
  for (const s of subscribers) assert.deepEqual(s.got, expected, `in order, exactly once, on worker pid ${s.pid}`);
  assert.deepEqual(publisher.got, [], 'never back to the publisher');
  assert.deepEqual(
    soloSub.got,
    Array.from({ length: 10 }, (_, i) => `solo ${i}`),
  );

  const stats = await getJson<ClusterStats>(c.port, '/stats');
  assert.equal(stats.cluster.workers, 2);
  assert.equal(stats.cluster.answered, 2);
  assert.equal(stats.cluster.perWorker.length, 2);
  const a = stats.cluster.perWorker.find((w) => w.pid === publisher.pid);
  const b = stats.cluster.perWorker.find((w) => w.pid === onB[0]?.pid);
  assert.ok(a !== undefined && b !== undefined);
  // Framed once per worker: B got each room message once (not once per subscriber) and none of 'solo'.
  assert.equal(b.pubsub?.received, N, 'worker B received each room message once');
  assert.equal(b.pubsub?.delivered, N * 2, 'and delivered it to its 2 subscribers');
  assert.equal(a.pubsub?.published, N + 10, 'worker A sent every publish to the primary');
  assert.equal(a.pubsub?.received, 0);
  assert.equal(stats.cluster.relayed, N, "the primary relayed room messages to B only, and 'solo' to nobody");
  assert.equal(stats.cluster.relayLost, 0);
  // The sums: 6 WebSockets open (4 on room, 2 on solo) across the two workers, plus this request's connection.
  assert.equal(stats.connections.wsOpen, 6);
  assert.equal(a.connections + b.connections, stats.connections.total);
  assert.equal(stats.websocket.messagesIn, N + 10);
  assert.equal(stats.pubsub?.published, N + 10);
  assert.equal(stats.pubsub?.received, N);

  const metrics = await (await fetch(`http://127.0.0.1:${c.port}/metrics`)).text();
  assert.equal(sample(metrics, 'sockeye_connections{state="ws_open"}'), 6);
  assert.equal(sample(metrics, 'sockeye_ws_messages_total{direction="in"}'), N + 10);
  assert.equal(sample(metrics, 'sockeye_ws_messages_total{direction="out"}'), stats.websocket.messagesOut);
  // Out: a hello per accepted WebSocket, room messages to 1 subscriber on A and 2 on B, solo messages to 1.
  assert.equal(stats.websocket.messagesOut - stats.websocket.accepted, N * 3 + 10);
});

/** Connects to `/topic` until a client lands on worker `pid` (round-robin: a few tries at most). */
async function connectUntil(t: TestContext, port: number, topic: string, pid: number): Promise<ClusterClient> {
  for (let i = 0; i < 10; i++) {
    const c = await connectClient(t, port, topic);
    if (c.pid === pid) return c;
    c.ws.close();
  }
  throw new Error(`no client landed on worker ${pid}`);
}

/** POSTs `body` to the cluster on a connection of its own; resolves with the JSON answer. */
function postJson<V>(port: number, p: string, body: string): Promise<V> {
  return within(
    new Promise<V>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as V) : reject(new Error(text))));
      });
      req.on('error', reject);
      req.end(body);
    }),
    10_000,
    `POST ${p}`,
  );
}

test('a burst of publishes in one turn travels batched and arrives in order on every worker', async (t) => {
  const c = await startCluster(t, 2);
  const groups = await clientsOnWorkers(t, c.port, 'burst', 2, 1);
  const subscribers = groups.map((g) => g[0] as ClusterClient);
  await waitForOpen(c.port, 2);
  // [count, size]: small messages (one batch), 4 KiB ones (16 fill a batch), and messages larger than a batch.
  const bursts: [number, number][] = [
    [600, 20],
    [40, 4096],
    [2, CLUSTER_IPC_BATCH_BYTES + 1000],
  ];
  const batchesOf = ([count, size]: [number, number]): number =>
    size > CLUSTER_IPC_BATCH_BYTES ? count : Math.ceil(count / Math.floor(CLUSTER_IPC_BATCH_BYTES / size));
  const expected: string[] = [];
  const batchesByPid = new Map<number, number>();
  for (const burst of bursts) {
    const [count, size] = burst;
    for (let i = 0; i < count; i++) {
      const text = `${i}:`.padEnd(size, 'x');
      expected.push(i % 3 === 2 ? `bin:${Buffer.from(text).toString('hex')}` : text);
    }
    // Each POST may land on either worker (round-robin): the subscriber there gets the burst locally, the other
    // one through the primary. One burst is complete everywhere before the next (order is per publisher).
    const { pid } = await postJson<{ pid: number }>(c.port, '/burst/burst', `${count} ${size}`);
    batchesByPid.set(pid, (batchesByPid.get(pid) ?? 0) + batchesOf(burst));
    await waitFor(
      () => subscribers.every((s) => s.got.length >= expected.length),
      10_000,
      `every subscriber to get the burst of ${count} × ${size} B`,
    );
  }
  await Promise.all(subscribers.map((s) => pingRoundTrip(s.ws)));
  for (const s of subscribers) {
    assert.equal(s.got.length, expected.length, `exactly once, on worker pid ${s.pid}`);
    for (let i = 0; i < expected.length; i++) {
      if (s.got[i] !== expected[i]) assert.fail(`worker pid ${s.pid}: message ${i} is out of order or altered`);
    }
  }

  const stats = await getJson<ClusterStats>(c.port, '/stats');
  const total = bursts.reduce((n, [count]) => n + count, 0);
  for (const w of stats.cluster.perWorker) {
    // One IPC message per burst of small messages, one per 64 KiB of payload, one per message above that.
    assert.equal(w.pubsub?.batches, batchesByPid.get(w.pid) ?? 0, `IPC messages of worker pid ${w.pid}`);
  }
  assert.equal(stats.pubsub?.published, total);
  assert.equal(stats.pubsub?.received, total, 'each message relayed once, to the other worker');
  assert.equal(stats.cluster.relayed, total);
  assert.equal(stats.cluster.relayLost, 0);
  // The primary relays a batch in the turn it reads it: the same cut into 64 KiB pieces.
  assert.equal(
    stats.cluster.relayBatches,
    bursts.map(batchesOf).reduce((a, b) => a + b, 0),
  );
});
