/**
 * A publish's frames held to the end of the event-loop turn (issue 17 §4, src/node/socket-writer.ts): each frame is
 * copied once into the shared log and every subscriber's batch refers to it, one setImmediate releases every held
 * batch. Over real loopback sockets with `ws` clients: bursts to interleaved topics in one turn (a subscriber's
 * frames contiguous in the log, or broken by another topic's, small frames and large by-reference ones mixed, a
 * direct `send` in between) arrive complete and in publish order; and with policy `drop`, a subscriber that stops
 * reading loses messages while the others get every one, the counts `publish` returns add up, and what the slow one
 * gets once it reads again is exactly the messages it was not dropped, in order.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type WebSocket from 'ws';
import type { ServerWebSocket } from '../../src/index.js';
import { startServer } from '../helpers/net.js';
import { connectSlowConsumer, openWs, waitFor } from '../helpers/slow-peers.js';

/** Collects a `ws` client's messages as strings. */
function collect(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (d) => got.push(String(d)));
  return got;
}

/** The sequence number a message starts with (`<n>:...`). */
const seq = (m: string): number => Number(m.slice(0, m.indexOf(':')));

test('bursts to interleaved topics in one turn: every subscriber gets its messages complete and in publish order', async (t) => {
  const sockets = new Map<string, ServerWebSocket>();
  const server = await startServer(t, {
    websocket: {
      open(ws) {
        // The path names the topics: /A, /B or /AB.
        const name = ws.path.slice(1);
        sockets.set(name, ws);
        for (const topic of name) ws.subscribe(topic);
      },
    },
  });
  const url = (p: string) => `ws://127.0.0.1:${server.port}/${p}`;
  const [a, b, ab] = await Promise.all([openWs(t, url('A')), openWs(t, url('B')), openWs(t, url('AB'))]);
  const got = { A: collect(a), B: collect(b), AB: collect(ab) };
  await waitFor(() => server.subscriberCount('A') === 2 && server.subscriberCount('B') === 2, 5000, 'subscribers');
  const want: Record<'A' | 'B' | 'AB', string[]> = { A: [], B: [], AB: [] };
  const turns = 20;
  let n = 0;
  for (let turn = 0; turn < turns; turn++) {
    // One turn: runs of A, single B's, a large frame now and then (by reference, not in the log), and a direct
    // send to the AB subscriber, which joins its held batch between two publishes.
    for (let i = 0; i < 40; i++) {
      const topic = i % 5 === 4 ? 'B' : 'A';
      const large = i % 13 === 7;
      const m = `${n++}:${topic}:${large ? 'L'.repeat(5000) : 'x'.repeat(i)}`;
      const r = server.publish(topic, m);
      assert.equal(r.sent + r.queued, 2, 'both subscribers of the topic took it');
      want[topic].push(m);
      want.AB.push(m);
      if (i === 20) {
        const d = `${n++}:direct`;
        (sockets.get('AB') as ServerWebSocket).send(d);
        want.AB.push(d);
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  await waitFor(
    () => got.A.length >= want.A.length && got.B.length >= want.B.length && got.AB.length >= want.AB.length,
    10_000,
    'every message',
  );
  assert.deepEqual(got.A, want.A, 'A: every message, in order');
  assert.deepEqual(got.B, want.B, 'B: every message, in order');
  assert.deepEqual(got.AB, want.AB, 'A and B: every message, in publish order, the direct send in its place');
});

test('policy drop: a subscriber that stops reading loses messages, the others get all; counts add up; the slow one gets exactly the rest, in order', async (t) => {
  const server = await startServer(t, {
    websocket: {
      maxBackpressure: 64 * 1024,
      backpressurePolicy: 'drop',
      open(ws) {
        ws.subscribe('feed');
      },
    },
  });
  const url = `ws://127.0.0.1:${server.port}/`;
  const fast = await Promise.all([openWs(t, url), openWs(t, url)]);
  const got = fast.map(collect);
  const slow = await connectSlowConsumer(t, server.port);
  await waitFor(() => server.subscriberCount('feed') === 3, 5000, 'three subscribers');
  const filler = 'p'.repeat(1000);
  // 16 MB in all, in bursts of 16 per turn: past the kernel's buffers for the slow one (4 MiB send buffer, a
  // receive window that does not grow without reads) and its 64 KiB; small frames, so they go through the log.
  const total = 16_000;
  let sent = 0;
  let queued = 0;
  let dropped = 0;
  for (let i = 0; i < total; i++) {
    const r = server.publish('feed', `${i}:${filler}`);
    assert.equal(r.sent + r.queued + r.dropped, 3, `publish ${i}: every subscriber counted once`);
    sent += r.sent;
    queued += r.queued;
    dropped += r.dropped;
    if (i % 16 === 15) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => got.every((g) => g.length >= total), 30_000, 'the fast subscribers to get every message');
  for (const g of got)
    assert.deepEqual(
      g.map(seq),
      Array.from({ length: total }, (_, i) => i),
      'every message, in order',
    );
  assert.ok(dropped > 0, 'the slow subscriber lost messages');
  assert.equal(sent + queued + dropped, 3 * total);
  assert.equal(server.stats().websocket.backpressureDrops, dropped, 'every drop counted in stats');
  // Every drop was the slow one's (the fast ones got everything): it gets the rest once it reads again.
  slow.socket.resume();
  await slow.waitFrames(total - dropped, 30_000);
  const seqs = slow.frames.map((f) => seq(f.payload.toString('latin1')));
  assert.equal(seqs.length, total - dropped, 'exactly the messages not dropped');
  assert.ok(
    seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)),
    'in publish order',
  );
  assert.equal(seqs[0], 0, 'the first message was on an empty buffer: never dropped');
  assert.equal(server.stats().websocket.backpressureCloses, 0, 'policy drop closes nobody');
});
