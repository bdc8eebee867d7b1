/**
 * A slow subscriber in one worker never holds up the relay (issue 17 §1 per-subscriber backpressure, across the
 * workers of §2): on a real 2-worker cluster (test/fixtures/cluster/cluster-server.ts), a raw client that stops
 * reading sits on one worker beside a `ws` subscriber that reads, and another `ws` subscriber reads on the other
 * worker. Bursts of 1 KiB publishes, several MiB in all, alternate between the workers. The readers get every message
 * once and in order, the primary drops no relay (the worker keeps reading its IPC channel while one of its
 * connections is stuck), and the slow one gets its own policy alone: past `maxBackpressure` (1 MiB) its worker
 * fails it with 1008, after the messages it did read, in order.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterStats } from '../../src/cluster/index.js';
import { type ClusterClient, clientsOnWorkers, getJson, pingRoundTrip, startCluster } from '../helpers/cluster.js';
import { waitFor, within } from '../helpers/slow-peers.js';
import { connectRaw, OP_CLOSE, OP_TEXT, type RawWsClient } from '../helpers/ws-raw-client.js';

const BURSTS = 8;
const COUNT = 1000;
const SIZE = 1024;

test("a slow subscriber on one worker does not hold up the others' relay; it alone gets 1008", async (t) => {
  const c = await startCluster(t, 2);
  const [onX, onY] = (await clientsOnWorkers(t, c.port, 'flood', 2, 1)) as [ClusterClient[], ClusterClient[]];
  const fastX = onX[0] as ClusterClient;
  const fastY = onY[0] as ClusterClient;
  // The slow one on worker Y, beside fastY: it reads the worker's hello (to know where it is), then stops reading.
  let slow: RawWsClient | null = null;
  for (let i = 0; i < 10 && slow === null; i++) {
    const raw = await connectRaw(c.port, { path: '/flood' });
    t.after(() => raw.destroy());
    const [hello] = await raw.waitFrames(1);
    if ((JSON.parse(String(hello?.payload)) as { pid: number }).pid === fastY.pid) {
      raw.socket.pause();
      slow = raw;
    } else raw.destroy();
  }
  assert.ok(slow !== null, "a raw client on fast Y's worker");
  // Barrier: every worker has told the primary of its subscribers before it answers this.
  await getJson<ClusterStats>(c.port, '/stats');

  const bodies: string[] = [];
  for (let b = 0; b < BURSTS; b++) {
    // Alternating workers (round-robin over new connections): relays both into and out of the slow one's worker.
    await within(
      fetch(`http://127.0.0.1:${c.port}/burst/flood`, { method: 'POST', body: `${COUNT} ${SIZE}` }).then((r) =>
        r.text(),
      ),
      10_000,
      `burst ${b}`,
    );
    for (let i = 0; i < COUNT; i++) bodies.push(`${i}:`.padEnd(SIZE, 'x'));
    // Bursts from different workers are not ordered among themselves: each one completes before the next.
    await waitFor(
      () => fastX.got.length >= bodies.length && fastY.got.length >= bodies.length,
      20_000,
      `the readers to get burst ${b}`,
    );
  }
  await Promise.all([pingRoundTrip(fastX.ws), pingRoundTrip(fastY.ws)]);
  const expected = bodies.map((text, i) => ((i % COUNT) % 3 === 2 ? `bin:${Buffer.from(text).toString('hex')}` : text));
  for (const f of [fastX, fastY]) {
    assert.equal(f.got.length, expected.length, `every message once on worker pid ${f.pid}`);
    for (let i = 0; i < expected.length; i++) {
      if (f.got[i] !== expected[i]) assert.fail(`worker pid ${f.pid}: message ${i} out of order or altered`);
    }
  }
  const stats = await getJson<ClusterStats>(c.port, '/stats');
  assert.equal(stats.cluster.relayLost, 0, 'the primary dropped no relay');
  assert.equal(stats.pubsub?.lost, 0, 'no worker lost a publish');
  assert.equal(stats.cluster.relayed, BURSTS * COUNT);

  // The slow one, reading again: what it got is in order, then a close frame with 1008 (RFC 6455 §7.4.1: policy).
  const s = slow as RawWsClient;
  s.socket.resume();
  const outcome = await s.waitClosed(10_000);
  assert.equal(outcome.code, 1008, 'failed by its own backpressure policy');
  const got = outcome.frames.filter((f) => f.opcode !== OP_CLOSE).slice(1);
  assert.ok(got.length < expected.length, 'it was cut off before the end');
  got.forEach((f, i) => {
    const text = f.opcode === OP_TEXT ? String(f.payload) : `bin:${f.payload.toString('hex')}`;
    if (text !== expected[i]) assert.fail(`slow subscriber: message ${i} out of order or altered`);
  });
});
