/**
 * Pub/sub topics in one process (issue 17 §1) over real loopback sockets with `ws` clients (plain and with
 * permessage-deflate) and our own WHATWG client: `ws.subscribe` / `unsubscribe` / `isSubscribed` / `topics`,
 * `server.publish` (every subscriber) and `ws.publish` (every subscriber but the sender) with their counts, text and
 * binary kept, order per topic (fast-check: random subscribe / unsubscribe / publish / close sequences against a
 * model), automatic unsubscribe on close, one slow subscriber cut off by its own policy while the others get every
 * message, and the limits (TypeError naming the argument, RangeError past maxTopicsPerConnection).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type WebSocket from 'ws';
import { WebSocket as OurWebSocket, type Server, type ServerWebSocket } from '../../src/index.js';
import { startServer } from '../helpers/net.js';
import { connectSlowConsumer, openWs, waitFor } from '../helpers/slow-peers.js';

/** A server whose clients ask, by text command, to subscribe ("sub:T"), unsubscribe ("unsub:T"), publish to others
 * ("pub:T:payload") or report their topics ("topics"); everything else is ignored. */
async function topicServer(t: import('node:test').TestContext, extra: Record<string, unknown> = {}): Promise<Server> {
  return startServer(t, {
    websocket: {
      message(ws, m) {
        const s = String(m);
        const [cmd, topic = '', ...rest] = s.split(':');
        if (cmd === 'sub') ws.send(`subbed:${topic}:${ws.subscribe(topic)}`);
        else if (cmd === 'unsub') ws.send(`unsubbed:${topic}:${ws.unsubscribe(topic)}`);
        else if (cmd === 'pub') {
          const r = ws.publish(topic, rest.join(':'));
          ws.send(`published:${r.sent}:${r.queued}:${r.dropped}`);
        } else if (cmd === 'topics') ws.send(`topics:${ws.topics.join(',')}`);
      },
      ...extra,
    },
  });
}

/** Collects a `ws` client's messages as strings (binary as `bin:<hex>`). */
function collect(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (d, isBinary) => got.push(isBinary ? `bin:${(d as Buffer).toString('hex')}` : String(d)));
  return got;
}

/** Sends a command and waits for its answer (the next message starting with `prefix`). */
async function ask(ws: WebSocket, got: string[], cmd: string, prefix: string): Promise<string> {
  const before = got.length;
  ws.send(cmd);
  let answer: string | undefined;
  await waitFor(
    () => (answer = got.slice(before).find((m) => m.startsWith(prefix))) !== undefined,
    5000,
    `an answer to ${cmd}`,
  );
  got.splice(got.indexOf(answer as string), 1);
  return answer as string;
}

describe('pub/sub in one process', () => {
  test('server.publish reaches every subscriber (text and binary kept), nobody else; counts; unsubscribe on close', async (t) => {
    const server = await topicServer(t);
    const url = `ws://127.0.0.1:${server.port}/`;
    const [a, b, c] = await Promise.all([openWs(t, url), openWs(t, url, { perMessageDeflate: true }), openWs(t, url)]);
    const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
    assert.equal(await ask(a, ga, 'sub:room', 'subbed'), 'subbed:room:true');
    assert.equal(await ask(a, ga, 'sub:room', 'subbed'), 'subbed:room:false', 'already subscribed');
    assert.equal(await ask(b, gb, 'sub:room', 'subbed'), 'subbed:room:true');
    assert.equal(await ask(c, gc, 'sub:other', 'subbed'), 'subbed:other:true');
    assert.equal(server.subscriberCount('room'), 2);
    const big = 'x'.repeat(4096); // compressed for b (permessage-deflate), plain for a
    assert.deepEqual(server.publish('room', 'hello'), { sent: 2, queued: 0, dropped: 0 });
    assert.deepEqual(server.publish('room', Buffer.from([1, 2, 3])), { sent: 2, queued: 0, dropped: 0 });
    assert.deepEqual(server.publish('room', big), { sent: 2, queued: 0, dropped: 0 });
    assert.deepEqual(server.publish('room', new Uint8Array([9]), false), { sent: 2, queued: 0, dropped: 0 });
    assert.deepEqual(server.publish('nobody', 'x'), { sent: 0, queued: 0, dropped: 0 });
    const expected = ['hello', 'bin:010203', big, '\t'];
    await waitFor(() => ga.length >= 4 && gb.length >= 4, 5000, 'the published messages');
    assert.deepEqual(ga, expected);
    assert.deepEqual(gb, expected);
    assert.deepEqual(gc, [], 'a subscriber of another topic gets nothing');
    assert.equal(await ask(a, ga, 'topics', 'topics'), 'topics:room');
    a.close();
    await waitFor(() => server.subscriberCount('room') === 1, 5000, 'the closed connection to leave the topic');
    assert.equal(await ask(b, gb, 'unsub:room', 'unsubbed'), 'unsubbed:room:true');
    assert.equal(server.subscriberCount('room'), 0);
  });

  test('ws.publish reaches every subscriber but the sender; our WHATWG client as a subscriber', async (t) => {
    const server = await topicServer(t);
    const url = `ws://127.0.0.1:${server.port}/`;
    const [a, b] = await Promise.all([openWs(t, url), openWs(t, url)]);
    const [ga, gb] = [collect(a), collect(b)];
    const ours = new OurWebSocket(url);
    t.after(() => ours.close());
    const gotOurs: string[] = [];
    ours.onmessage = (e) => gotOurs.push(String(e.data));
    await new Promise((r) => ours.addEventListener('open', r, { once: true }));
    ours.send('sub:chat');
    await ask(a, ga, 'sub:chat', 'subbed');
    await ask(b, gb, 'sub:chat', 'subbed');
    await waitFor(() => gotOurs.includes('subbed:chat:true'), 5000, 'our client subscribed');
    assert.equal(await ask(a, ga, 'pub:chat:from a', 'published'), 'published:2:0:0');
    await waitFor(() => gb.includes('from a') && gotOurs.includes('from a'), 5000, 'the others got it');
    assert.ok(!ga.includes('from a'), 'not back to the sender');
  });

  test('order per topic: random subscribe / unsubscribe / publish / close sequences against a model', async (t) => {
    const server = await topicServer(t);
    const url = `ws://127.0.0.1:${server.port}/`;
    const topics = ['t1', 't2'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('sub' as const), c: fc.nat(2), topic: fc.constantFrom(...topics) }),
            fc.record({ op: fc.constant('unsub' as const), c: fc.nat(2), topic: fc.constantFrom(...topics) }),
            fc.record({ op: fc.constant('pub' as const), c: fc.nat(2), topic: fc.constantFrom(...topics) }),
            fc.record({ op: fc.constant('close' as const), c: fc.nat(2), topic: fc.constantFrom(...topics) }),
          ),
          { maxLength: 25 },
        ),
        async (ops) => {
          const clients = await Promise.all([0, 1, 2].map(() => openWs(t, url)));
          const got = clients.map(collect);
          const open = [true, true, true];
          const subs = topics.map(() => new Set<number>());
          const expected: string[][] = [[], [], []];
          let n = 0;
          for (const { op, c, topic } of ops) {
            const ws = clients[c] as WebSocket;
            const g = got[c] as string[];
            const ti = topics.indexOf(topic);
            if (!open[c]) continue;
            if (op === 'sub') {
              await ask(ws, g, `sub:${topic}`, 'subbed');
              subs[ti]?.add(c);
            } else if (op === 'unsub') {
              await ask(ws, g, `unsub:${topic}`, 'unsubbed');
              subs[ti]?.delete(c);
            } else if (op === 'pub') {
              // Half from the server (everyone), half from a client (everyone but it).
              const text = `${topic}#${n++}`;
              if (n % 2 === 0) {
                const r = server.publish(topic, text);
                assert.equal(r.sent, subs[ti]?.size);
                for (const s of subs[ti] ?? []) expected[s]?.push(text);
              } else {
                await ask(ws, g, `pub:${topic}:${text}`, 'published');
                for (const s of subs[ti] ?? []) if (s !== c) expected[s]?.push(text);
              }
            } else {
              ws.close();
              open[c] = false;
              for (const s of subs) s.delete(c);
              await waitFor(
                () => topics.every((tp, i) => server.subscriberCount(tp) === subs[i]?.size),
                5000,
                'the closed client to leave its topics',
              );
            }
          }
          // A sentinel through each open client's own command channel: everything published before it has arrived.
          for (let c = 0; c < 3; c++)
            if (open[c]) await ask(clients[c] as WebSocket, got[c] as string[], 'topics', 'topics');
          for (let c = 0; c < 3; c++) {
            const published = (got[c] as string[]).filter((m) => /^t\d#\d+$/.test(m));
            assert.deepEqual(published, expected[c], `client ${c}`);
          }
          for (const ws of clients) ws.terminate();
          await waitFor(() => topics.every((tp) => server.subscriberCount(tp) === 0), 5000, 'all gone');
        },
      ),
      { numRuns: 12 },
    );
  });

  test('a subscriber that stops reading is cut off by its own policy (1008); the others get every message in order', async (t) => {
    const done: ServerWebSocket[] = [];
    const server = await startServer(t, {
      websocket: {
        maxBackpressure: 256 * 1024,
        open(ws) {
          ws.subscribe('feed');
        },
        close(ws) {
          done.push(ws);
        },
      },
    });
    const url = `ws://127.0.0.1:${server.port}/`;
    const fast = await Promise.all([openWs(t, url), openWs(t, url)]);
    const got = fast.map(collect);
    const slow = await connectSlowConsumer(t, server.port);
    await waitFor(() => server.subscriberCount('feed') === 3, 5000, 'three subscribers');
    const payload = 'p'.repeat(16 * 1024);
    let dropped = 0;
    const total = 2000; // 32 MiB in all: far past the kernel's buffers and the slow one's 256 KiB
    for (let i = 0; i < total; i++) {
      const r = server.publish('feed', `${i}:${payload}`);
      dropped += r.dropped;
      if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let the fast clients read
    }
    await waitFor(() => got.every((g) => g.length >= total), 20_000, 'the fast subscribers to get every message');
    for (const g of got) {
      assert.deepEqual(
        g.map((m) => Number(m.slice(0, m.indexOf(':')))),
        Array.from({ length: total }, (_, i) => i),
        'every message, in order',
      );
    }
    assert.ok(dropped > 0, 'the slow subscriber stopped getting messages');
    assert.equal(server.stats().websocket.backpressureCloses, 1, 'cut off by its policy: 1008');
    slow.socket.resume();
    await waitFor(() => slow.frames.some((f) => f.opcode === 0x8), 20_000, 'its close frame');
    const close = slow.frames.find((f) => f.opcode === 0x8);
    assert.equal(close?.payload.readUInt16BE(0), 1008);
  });

  test('limits: a topic that is not a string is a TypeError naming it; past maxTopicsPerConnection a RangeError', async (t) => {
    const errors: string[] = [];
    const server = await startServer(t, {
      websocket: {
        maxTopicsPerConnection: 2,
        open(ws) {
          for (const bad of [
            () => ws.subscribe(5 as unknown as string),
            () => ws.publish({} as unknown as string, 'x'),
          ]) {
            try {
              bad();
            } catch (e) {
              errors.push(`${(e as Error).name}: ${(e as Error).message}`);
            }
          }
          ws.subscribe('a');
          ws.subscribe('b');
          try {
            ws.subscribe('c');
          } catch (e) {
            errors.push(`${(e as Error).name}: ${(e as Error).message}`);
          }
        },
        message(ws) {
          ws.send(ws.topics.join(','));
        },
      },
    });
    const ws = await openWs(t, `ws://127.0.0.1:${server.port}/`);
    const got = collect(ws);
    ws.send('?');
    await waitFor(() => got.length > 0, 5000, 'the topics');
    assert.equal(got[0], 'a,b');
    assert.equal(errors.length, 3);
    assert.match(errors[0] as string, /^TypeError: topic must be a string/);
    assert.match(errors[1] as string, /^TypeError: topic must be a string/);
    assert.match(errors[2] as string, /^RangeError: .*maxTopicsPerConnection/);
    assert.throws(() => server.publish(1 as unknown as string, 'x'), TypeError);
  });
});
