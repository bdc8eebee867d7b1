/**
 * The batch of topic messages one cluster IPC channel sends per event-loop turn (src/cluster/messages.ts `Outbox`),
 * with the channel's write recorded: one IPC message per turn, messages in order and intact (the caller's bytes
 * copied at once), a batch cut at CLUSTER_IPC_BATCH_BYTES and a bigger message alone, any other message sent after
 * the batch, the CLUSTER_IPC_MAX_PENDING_BYTES budget refusing past it and freed by the write callbacks, and a
 * closed channel counting the batch as lost.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { bufferOf, type Message, Outbox, type TopicBatchMessage, weight } from '../../../src/cluster/messages.js';
import { CLUSTER_IPC_BATCH_BYTES, CLUSTER_IPC_MAX_PENDING_BYTES } from '../../../src/limits.js';

interface Channel {
  outbox: Outbox;
  /** What was written, decoded: topic batches as `topic:text`/`topic:bin:hex` lists, other messages as tags. */
  written: (string[] | string)[];
  callbacks: (() => void)[];
  open: boolean;
}

function channel(): Channel {
  const ch: Channel = { outbox: null as unknown as Outbox, written: [], callbacks: [], open: true };
  ch.outbox = new Outbox(
    'sockeye:pub',
    (m: Message, callback?: () => void) => {
      if (m[0] === 'sockeye:pub') {
        // Decoded now, as the structured clone would be: the outbox reuses its arrays and buffer after the write.
        const [, topics, lengths, binary, bytes] = m as unknown as TopicBatchMessage;
        const all = bufferOf(bytes);
        const out: string[] = [];
        let offset = 0;
        topics.forEach((topic, i) => {
          const data = all.subarray(offset, offset + (lengths[i] as number));
          offset += lengths[i] as number;
          out.push(`${topic}:${binary[i] ? `bin:${data.toString('hex')}` : data.toString()}`);
        });
        assert.equal(offset, all.length, 'the lengths cover the bytes exactly');
        ch.written.push(out);
      } else ch.written.push(m[0]);
      if (callback !== undefined) ch.callbacks.push(callback);
      return true;
    },
    () => ch.open,
  );
  return ch;
}

const nextTurn = () => new Promise((r) => setImmediate(r));

function add(ch: Channel, topic: string, text: string, binary = false): boolean {
  const b = Buffer.from(text);
  return ch.outbox.add(topic, b, 0, b.length, binary);
}

test('the messages of one turn leave as one IPC message, in order, copied when added', async () => {
  const ch = channel();
  const reused = Buffer.from('first');
  ch.outbox.add('a', reused, 0, reused.length, false);
  reused.write('XXXXX'); // the caller reuses its buffer at once
  add(ch, 'b', 'second');
  const bin = Buffer.from([0, 1, 255, 7]);
  ch.outbox.add('a', bin, 1, 3, true);
  assert.deepEqual(ch.written, [], 'nothing before the end of the turn');
  await nextTurn();
  assert.deepEqual(ch.written, [['a:first', 'b:second', 'a:bin:01ff']]);
  assert.equal(ch.outbox.batches, 1);
  add(ch, 'c', 'next turn');
  await nextTurn();
  assert.deepEqual(ch.written[1], ['c:next turn']);
  assert.equal(ch.outbox.batches, 2);
});

test('another message on the channel goes after the batch gathered before it', async () => {
  const ch = channel();
  add(ch, 't', 'one');
  ch.outbox.send(['sockeye:stats', 1]);
  add(ch, 't', 'two');
  await nextTurn();
  assert.deepEqual(ch.written, [['t:one'], 'sockeye:stats', ['t:two']]);
});

test('a batch is cut at CLUSTER_IPC_BATCH_BYTES; a bigger message travels alone', async () => {
  const ch = channel();
  const quarter = 'q'.repeat(CLUSTER_IPC_BATCH_BYTES / 4);
  for (let i = 0; i < 5; i++) add(ch, 't', quarter);
  assert.equal(ch.written.length, 1, 'the fifth quarter did not fit: the first four left at once');
  assert.equal((ch.written[0] as string[]).length, 4);
  add(ch, 't', 'x'.repeat(CLUSTER_IPC_BATCH_BYTES + 1));
  add(ch, 't', 'small');
  await nextTurn();
  assert.deepEqual(
    ch.written.map((w) => (w as string[]).map((m) => m.length)),
    [
      [quarter.length + 2, quarter.length + 2, quarter.length + 2, quarter.length + 2],
      [quarter.length + 2],
      [CLUSTER_IPC_BATCH_BYTES + 3],
      [7],
    ],
  );
});

test('the budget refuses past CLUSTER_IPC_MAX_PENDING_BYTES until the write callbacks free it', async () => {
  const ch = channel();
  const chunk = Buffer.alloc(CLUSTER_IPC_BATCH_BYTES / 2, 1);
  let admitted = 0;
  while (ch.outbox.add('t', chunk, 0, chunk.length, true)) {
    admitted++;
    assert.ok(admitted < (2 * CLUSTER_IPC_MAX_PENDING_BYTES) / chunk.length, 'bounded');
  }
  const each = weight('t', chunk.length);
  assert.ok(admitted * each <= CLUSTER_IPC_MAX_PENDING_BYTES, 'never more than the budget');
  assert.ok((admitted + 1) * each > CLUSTER_IPC_MAX_PENDING_BYTES, 'refused only when the next would exceed it');
  await nextTurn();
  assert.equal(ch.outbox.add('t', chunk, 0, chunk.length, true), false, 'refused while nothing was written');
  for (const cb of ch.callbacks.splice(0)) cb();
  assert.equal(ch.outbox.budget.pending, 0, 'every batch written: nothing pending');
  assert.equal(ch.outbox.add('t', chunk, 0, chunk.length, true), true, 'admitted again');
});

test('a batch that finds the channel closed is counted as lost, and its bytes released', async () => {
  const ch = channel();
  add(ch, 't', 'one');
  add(ch, 't', 'two');
  ch.open = false;
  await nextTurn();
  assert.deepEqual(ch.written, []);
  assert.equal(ch.outbox.lostAtFlush, 2);
  assert.equal(ch.outbox.budget.pending, 0);
  ch.open = true;
  add(ch, 't', 'three');
  ch.outbox.drop();
  assert.equal(ch.outbox.lostAtFlush, 3, 'dropped for a replaced channel: lost too');
  await nextTurn();
  assert.deepEqual(ch.written, []);
});
