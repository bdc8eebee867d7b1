/**
 * WebSocket backpressure over real loopback sockets: a slow consumer (handshake, then it stops reading) offered
 * 100 MiB by a server in a child process — policy `close` fails it with 1008 (or destroys it) and the server's
 * RSS stays bounded while a fast client on the same server gets every echo in order; policy `drop` keeps it
 * open and skips messages (the peer later reads a valid prefix, then later messages); `send()` returns -1 above
 * `backpressureLimit` and `drain` fires once the peer reads; receive-side flow control keeps at most
 * `maxPendingMessages` async handlers unsettled and delivers every message in order.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEND_BACKPRESSURE } from '../../src/index.js';
import { FLOOD_COUNT, FLOOD_SIZE, TAIL_COUNT } from '../fixtures/socket-life/flood.js';
import { ioRoundTrip, startServer } from '../helpers/net.js';
import {
  connectSlowConsumer,
  floodPayloadIntact,
  forkServer,
  openWs,
  seqOf,
  waitFor,
  within,
} from '../helpers/slow-peers.js';
import { OP_BINARY, OP_CLOSE, OP_TEXT } from '../helpers/ws-raw-client.js';

const FLOOD_SERVER = new URL('../fixtures/socket-life/flood-server.js', import.meta.url);
const MiB = 1024 * 1024;

type Runs = [string, number][];

/** Checks that frames carry flood messages with increasing sequence numbers and intact payloads. */
function checkFloodFrames(frames: { opcode: number; fin: boolean; payload: Buffer }[]): number[] {
  const seqs: number[] = [];
  for (const f of frames) {
    if (f.opcode === OP_CLOSE) continue;
    assert.equal(f.opcode, OP_BINARY, 'flood frames are binary');
    assert.ok(f.fin, 'flood messages are single frames');
    assert.ok(floodPayloadIntact(f.payload, FLOOD_SIZE), `payload of message ${seqOf(f.payload)} intact`);
    const s = seqOf(f.payload);
    if (seqs.length > 0) assert.ok(s > (seqs[seqs.length - 1] as number), `sequence increases (${s})`);
    seqs.push(s);
  }
  return seqs;
}

test('policy close: a slow consumer is failed with 1008 or destroyed; RSS bounded; a fast client keeps its echoes', async (t) => {
  const server = await forkServer(t, FLOOD_SERVER, ['close']);
  const port = (await server.next('ready')).port as number;

  // The fast client connects first and echoes throughout the flood.
  const fast = await openWs(t, `ws://127.0.0.1:${port}/echo`);
  const echoes: string[] = [];
  fast.on('message', (d) => echoes.push(String(d)));

  const slow = await connectSlowConsumer(t, port, '/flood');
  const N = 300;
  for (let i = 0; i < N; i++) fast.send(`m${i}`);

  const done = await server.next('flood-done', 20_000);
  const closed = await server.next('flood-closed', 10_000);
  await waitFor(() => echoes.length >= N, 10_000, `${N} echoes (got ${echoes.length})`);
  assert.deepEqual(
    echoes,
    Array.from({ length: N }, (_, i) => `m${i}`),
    'every echo, in order',
  );

  // The send results: some accepted (bytes or -1), then only 0 once the policy applied.
  const runs = done.runs as Runs;
  const firstDrop = runs.findIndex(([k]) => k === 'dropped');
  assert.ok(firstDrop > 0, `some messages were refused after some were queued: ${JSON.stringify(runs)}`);
  assert.equal(firstDrop, runs.length - 1, `after the first refusal every send returned 0: ${JSON.stringify(runs)}`);
  const accepted = runs.slice(0, firstDrop).reduce((n, [, c]) => n + c, 0);
  assert.ok(accepted < FLOOD_COUNT, 'not everything was queued');

  // The close handler: the code we failed the connection with, even if the frame never got through.
  const info = closed.info as { cause: string; initiator: string; code: number; bytesWritten: number };
  assert.equal(info.cause, 'backpressure');
  assert.equal(info.initiator, 'server');
  assert.equal(closed.wasClean, false);
  assert.equal(closed.code, 1008);
  assert.equal(info.code, 1008);
  assert.ok(info.bytesWritten > 0);

  const stats = (await server.ask('stats')).stats as {
    websocket: { backpressureCloses: number; ends: Record<string, number> };
  };
  assert.ok(stats.websocket.backpressureCloses >= 1, 'backpressureCloses counted');
  assert.equal(stats.websocket.ends.backpressure, 1);

  // Memory: the server queued at most ~maxBackpressure for the peer, not 100 MiB.
  const before = done.rssBefore as number;
  const peakGrowth = (done.rssPeak as number) - before;
  const afterGrowth = (done.rssAfterGc as number) - before;
  t.diagnostic(
    `RSS before ${(before / MiB).toFixed(1)} MiB, peak +${(peakGrowth / MiB).toFixed(1)} MiB, after GC +${(afterGrowth / MiB).toFixed(1)} MiB`,
  );
  assert.ok(peakGrowth < 64 * MiB, `peak RSS growth ${(peakGrowth / MiB).toFixed(1)} MiB`);
  assert.ok(afterGrowth < 64 * MiB, `RSS growth after GC ${(afterGrowth / MiB).toFixed(1)} MiB`);

  // The slow peer, reading again, finds valid frames (a prefix of the flood) and then a 1008 or a dropped TCP.
  slow.socket.resume();
  const outcome = await slow.waitClosed(10_000);
  assert.ok(outcome.tcpClosed, 'the server closed the connection');
  const seqs = checkFloodFrames(outcome.frames);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i),
    'a prefix of the flood, nothing skipped',
  );
  if (outcome.code !== null) {
    assert.equal(outcome.code, 1008);
    assert.match(outcome.reason, /limit/i);
  }
  t.diagnostic(`slow peer read ${seqs.length} messages, close frame: ${outcome.code ?? 'none (destroyed)'}`);
  fast.close();
  await server.ask('close');
});

test('policy drop: a slow consumer stays open, sends past the limit return 0, it later reads a prefix then later messages', async (t) => {
  const server = await forkServer(t, FLOOD_SERVER, ['drop']);
  const port = (await server.next('ready')).port as number;
  const slow = await connectSlowConsumer(t, port, '/flood');

  const done = await server.next('flood-done', 20_000);
  const runs = done.runs as Runs;
  const dropped = runs.filter(([k]) => k === 'dropped').reduce((n, [, c]) => n + c, 0);
  assert.ok(dropped > 0, `some sends returned 0: ${JSON.stringify(runs)}`);
  assert.notEqual(runs[0]?.[0], 'dropped', 'the first messages were queued');
  assert.equal(done.readyState, 1, 'still open after the flood');
  assert.ok((done.bufferedAmount as number) <= MiB + FLOOD_SIZE, `bufferedAmount ${done.bufferedAmount}`);
  const stats = (await server.ask('stats')).stats as {
    websocket: { backpressureDrops: number; backpressureCloses: number };
    connections: { wsOpen: number };
  };
  assert.equal(stats.websocket.backpressureDrops, dropped);
  assert.equal(stats.websocket.backpressureCloses, 0);
  assert.equal(stats.connections.wsOpen, 1);

  // Read everything queued, then ask for more: later messages follow the gap.
  slow.socket.resume();
  const queued = FLOOD_COUNT - dropped;
  assert.ok(await slow.waitUntil(() => slow.frames.length >= queued, 10_000), `the ${queued} queued messages`);
  const mask = Buffer.from([1, 2, 3, 4]);
  const more = Buffer.from('more');
  slow.socket.write(
    Buffer.concat([
      Buffer.from([0x80 | OP_TEXT, 0x80 | more.length]),
      mask,
      Buffer.from(more.map((b, i) => b ^ (mask[i & 3] as number))),
    ]),
  );
  await server.next('tail');
  assert.ok(
    await slow.waitUntil(() => slow.frames.length >= queued + TAIL_COUNT, 10_000),
    `the ${TAIL_COUNT} later messages`,
  );
  const seqs = checkFloodFrames(slow.frames);
  assert.equal(seqs.length, queued + TAIL_COUNT, 'no close frame, no extra frame');
  assert.equal(seqs[0], 0, 'starts with the first message');
  assert.ok(
    seqs.some((s, i) => i > 0 && s !== (seqs[i - 1] as number) + 1),
    'a gap where messages were dropped',
  );
  assert.deepEqual(
    seqs.slice(-TAIL_COUNT),
    Array.from({ length: TAIL_COUNT }, (_, i) => FLOOD_COUNT + i),
    'the later messages arrive after the gap',
  );
  assert.equal(slow.tcpClosed, false, 'the connection stayed open');
  await server.ask('close');
});

test('send() returns -1 above backpressureLimit, and drain fires once the peer reads', async (t) => {
  const results: number[] = [];
  let drains = 0;
  let afterDrain = 0;
  let resumed = false;
  let drainedBeforeResume = false;
  const server = await startServer(t, {
    websocket: {
      backpressureLimit: 64 * 1024,
      maxBackpressure: 256 * MiB,
      open(ws) {
        // Until the first -1: the kernel buffers fill first, then the socket's own buffer passes the limit.
        const chunk = Buffer.alloc(64 * 1024, 7);
        for (let i = 0; i < 2000; i++) {
          const r = ws.send(chunk);
          results.push(r);
          if (r === SEND_BACKPRESSURE) break;
        }
      },
      drain(ws) {
        drains++;
        if (!resumed) drainedBeforeResume = true;
        afterDrain = ws.send('after drain');
      },
    },
  });
  const slow = await connectSlowConsumer(t, server.port);
  await waitFor(() => results.length > 0, 5000, 'the open handler');
  assert.equal(results[results.length - 1], SEND_BACKPRESSURE, `sends: ${results.length}`);
  assert.ok(
    results.slice(0, -1).every((r) => r === 64 * 1024),
    'bytes (payload) before the first -1',
  );
  // The sentinel: a round trip on another connection; a drain due now (the kernel taking our buffer) has come.
  await ioRoundTrip();
  assert.equal(drains, 0, 'no drain while the peer does not read');

  resumed = true;
  slow.socket.resume();
  const n = results.length;
  assert.ok(await slow.waitUntil(() => slow.frames.length >= n + 1, 10_000), `all ${n} messages and the drain one`);
  assert.equal(drains, 1, 'drain fired once');
  assert.equal(drainedBeforeResume, false, 'drain came after the peer read again');
  assert.ok(afterDrain > 0, 'a send after drain is accepted');
  const last = slow.frames[n];
  assert.equal(last?.opcode, OP_TEXT);
  assert.equal(last?.payload.toString(), 'after drain');
});

test('drain means under backpressureLimit again: a producer refilling on every drain, a peer that stops reading', async (t) => {
  const limit = 64 * 1024;
  const total = 2000; // 64 KiB messages: 125 MiB, far more than the kernel's buffers hold
  const atDrain: number[] = [];
  let sent = 0;
  let stalled: () => void = () => {};
  const firstStall = new Promise<void>((r) => {
    stalled = r;
  });
  const produce = (ws: { send(d: Buffer): number }) => {
    const chunk = Buffer.alloc(64 * 1024, 9);
    while (sent < total) {
      sent++;
      if (ws.send(chunk) === SEND_BACKPRESSURE) {
        stalled();
        return;
      }
    }
  };
  const server = await startServer(t, {
    websocket: {
      backpressureLimit: limit,
      maxBackpressure: 256 * MiB,
      open: produce,
      drain(ws) {
        atDrain.push(ws.bufferedAmount);
        produce(ws);
      },
    },
  });
  const slow = await connectSlowConsumer(t, server.port);
  await firstStall;
  // The peer reads nothing yet: whatever drains come (the kernel taking our buffer) must find us under the limit.
  slow.socket.resume();
  assert.ok(await slow.waitUntil(() => slow.frames.length >= total, 30_000), `all ${total} messages`);
  assert.ok(atDrain.length > 0, 'drain fired');
  const over = atDrain.filter((b) => b > limit);
  assert.deepEqual(over, [], `drain called with bufferedAmount over ${limit}: ${over.slice(0, 5).join(', ')}`);
});

test('receive-side flow control: at most maxPendingMessages async handlers unsettled, then every message in order', async (t) => {
  let pending = 0;
  let maxPending = 0;
  const received: string[] = [];
  let openGate: () => void = () => {};
  const gate = new Promise<void>((r) => {
    openGate = r;
  });
  const server = await startServer(t, {
    websocket: {
      maxPendingMessages: 4,
      async message(ws, m) {
        pending++;
        if (pending > maxPending) maxPending = pending;
        received.push(String(m));
        await gate;
        pending--;
        ws.send(`ack ${m}`);
      },
    },
  });
  const client = await openWs(t, `ws://127.0.0.1:${server.port}`);
  const acks: string[] = [];
  client.on('message', (d) => acks.push(String(d)));
  const N = 200;
  for (let i = 0; i < N; i++) client.send(`msg ${i} ${'x'.repeat(1000)}`);
  // The server reads until 4 handlers are behind, then stops reading.
  await waitFor(() => received.length >= 4, 5000, '4 messages to reach the handler');
  // The sentinel: a round trip on another connection. A server still reading would have read on meanwhile (the
  // client's bytes wait in the kernel) and called a fifth handler.
  await ioRoundTrip();
  assert.equal(maxPending, 4, 'no more than maxPendingMessages unsettled at once');
  assert.equal(received.length, 4, `reading paused (${received.length} of ${N} delivered)`);

  openGate();
  await waitFor(() => acks.length >= N, 10_000, `${N} acks (got ${acks.length})`);
  assert.ok(maxPending <= 4, `max unsettled ${maxPending}`);
  assert.deepEqual(
    received,
    Array.from({ length: N }, (_, i) => `msg ${i} ${'x'.repeat(1000)}`),
    'every message, in order',
  );
  assert.equal(acks.length, N);
  await within(
    new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      client.close();
    }),
    5000,
    'the close handshake',
  );
});
