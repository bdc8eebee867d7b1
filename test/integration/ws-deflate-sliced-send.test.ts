/**
 * permessage-deflate on what we send, for messages larger than one deflate slice (DEFLATE_SLICE_BYTES): they are
 * compressed over several event-loop turns (issue 15 §4) and must still behave as if sent at once. Covered, with
 * real peers (`ws` clients and server, checking every byte): order (a big message then small ones, of both roles;
 * a ping may pass it, RFC 6455 §5.5), `bufferedAmount` counting the bytes still waiting to be compressed and
 * `drain` only once they are written and under the limit, `close()` right after a big send (the close frame
 * follows the message), `terminate()` during the compression (no context leaks), publishes of a large
 * `PreparedMessage` compressed once for every subscriber, and our client sending a buffer it changes right after.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { PreparedMessage, type ServerWebSocket, WebSocket as SockeyeWebSocket } from '../../src/index.js';
import { DEFLATE_SLICE_BYTES } from '../../src/limits.js';
import { startServer } from '../helpers/net.js';
import { within } from '../helpers/slow-peers.js';

const LINE = '{"user":"someone","text":"hello there, this compresses well","n":12345}\n';
/** 1 MiB of compressible text: 16 slices. */
const BIG_TEXT = LINE.repeat(Math.ceil((1 << 20) / LINE.length)).slice(0, 1 << 20);
/** Incompressible bytes, a few slices. */
const BIG_BINARY = randomBytes(3 * DEFLATE_SLICE_BYTES + 17);

type Got = { kind: 'message'; data: Buffer; isBinary: boolean } | { kind: 'ping'; data: Buffer };

/** Records a `ws` client's messages and pings in arrival order; resolves once `n` messages arrived. */
function record(c: WebSocket, n: number): { events: Got[]; done: Promise<void> } {
  const events: Got[] = [];
  let messages = 0;
  let resolve: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  c.on('ping', (data: Buffer) => events.push({ kind: 'ping', data }));
  c.on('message', (data: Buffer, isBinary: boolean) => {
    events.push({ kind: 'message', data, isBinary });
    if (++messages === n) resolve();
  });
  return { events, done };
}

/** A sockeye server with permessage-deflate; `open` runs for each connection. */
async function deflateServer(
  t: TestContext,
  serverNoContextTakeover: boolean,
  open: (ws: ServerWebSocket) => void,
  extra: { drain?: (ws: ServerWebSocket) => void } = {},
): Promise<string> {
  const server = await startServer(t, {
    request: (_req, res) => res.end('ws only'),
    websocket: { perMessageDeflate: { serverNoContextTakeover }, open, ...extra },
  });
  return server.url.replace('http', 'ws');
}

/** A `ws` client, recording from before its handshake (what the server sends in `open` comes with the 101). */
async function connect(url: string, n = 0): Promise<{ c: WebSocket; r: ReturnType<typeof record> }> {
  const c = new WebSocket(url, { perMessageDeflate: true });
  const r = record(c, n);
  await new Promise<void>((resolve, reject) => {
    c.once('open', () => resolve());
    c.once('error', reject);
  });
  return { c, r };
}

describe('server: large compressed messages are sent in order, counted, and closed after', () => {
  for (const noTakeover of [true, false]) {
    const name = noTakeover ? 'server_no_context_takeover' : 'context takeover';
    it(`${name}: big text, big binary, then small ones arrive in order and whole; a ping may pass them`, async (t) => {
      const seen: number[] = [];
      const url = await deflateServer(t, noTakeover, (ws) => {
        seen.push(ws.send(BIG_TEXT));
        // Nothing is compressed yet: its bytes wait, counted.
        seen.push(ws.bufferedAmount);
        seen.push(ws.send(BIG_BINARY));
        ws.send('small 1');
        ws.send(Buffer.from('small 2'));
        ws.send('x'.repeat(2000)); // compressed, but small: in one pass, after the big ones
        ws.ping('p');
      });
      const { c, r } = await connect(url, 5);
      t.after(() => c.terminate());
      await within(r.done, 10_000, 'five messages');
      // send() reports backpressure (the message waits), bufferedAmount counts its plain bytes.
      assert.equal(seen[0], -1);
      assert.ok((seen[1] as number) >= BIG_TEXT.length, `bufferedAmount ${seen[1]}`);
      assert.equal(seen[2], -1);
      const messages = r.events.filter((e) => e.kind === 'message');
      assert.equal(messages[0]?.data.toString(), BIG_TEXT);
      assert.equal(messages[0]?.kind === 'message' && messages[0].isBinary, false);
      assert.ok(messages[1]?.data.equals(BIG_BINARY));
      assert.deepEqual(
        messages.slice(2).map((m) => m.data.toString()),
        ['small 1', 'small 2', 'x'.repeat(2000)],
      );
      // RFC 6455 §5.5: a control frame needs no turn behind data; the ping left before the big messages were done.
      const pingAt = r.events.findIndex((e) => e.kind === 'ping');
      assert.ok(pingAt >= 0 && pingAt < 2, `ping at ${pingAt}`);
    });
  }

  it('drain fires once everything, compressed bytes included, is written and under backpressureLimit', async (t) => {
    let bufferedAtDrain = -1;
    let drains = 0;
    let resolveDrain: () => void = () => {};
    const drained = new Promise<void>((r) => {
      resolveDrain = r;
    });
    const url = await deflateServer(
      t,
      true,
      (ws) => {
        assert.equal(ws.send(BIG_TEXT), -1);
        assert.equal(ws.send('after'), -1);
      },
      {
        drain: (ws) => {
          drains++;
          bufferedAtDrain = ws.bufferedAmount;
          resolveDrain();
        },
      },
    );
    const { c, r } = await connect(url, 2);
    t.after(() => c.terminate());
    await within(Promise.all([r.done, drained]), 10_000, 'two messages and a drain');
    assert.equal(drains, 1);
    assert.ok(bufferedAtDrain >= 0 && bufferedAtDrain <= 64 * 1024, `bufferedAmount at drain ${bufferedAtDrain}`);
    assert.equal(
      r.events
        .filter((e) => e.kind === 'message')
        .at(-1)
        ?.data.toString(),
      'after',
    );
  });

  it('close() right after a big send: CLOSING at once, the message first, then the close frame', async (t) => {
    const states: number[] = [];
    const url = await deflateServer(t, false, (ws) => {
      ws.send(BIG_TEXT);
      ws.close(1000, 'bye');
      states.push(ws.readyState, ws.send('too late'));
    });
    const { c, r } = await connect(url, 1);
    t.after(() => c.terminate());
    const [code, reason] = (await within(once(c, 'close'), 10_000, 'close')) as [number, Buffer];
    assert.deepEqual(states, [2, 0]);
    assert.equal(code, 1000);
    assert.equal(reason.toString(), 'bye');
    const messages = r.events.filter((e) => e.kind === 'message');
    assert.equal(messages.length, 1);
    assert.equal(messages[0]?.data.toString(), BIG_TEXT);
  });

  it('terminate() while compressing: nothing is sent, and no zlib context is left behind', async (t) => {
    let ended: () => void = () => {};
    const gone = new Promise<void>((r) => {
      ended = r;
    });
    const server = await startServer(t, {
      request: (_req, res) => res.end('ws only'),
      websocket: {
        perMessageDeflate: { serverNoContextTakeover: false },
        open: (ws) => {
          ws.send(BIG_TEXT);
          ws.send('behind');
          ws.terminate();
        },
        close: () => ended(),
      },
    });
    const before = server.stats().deflate;
    assert.ok(before !== null);
    const c = new WebSocket(server.url.replace('http', 'ws'), { perMessageDeflate: true });
    const r = record(c, 1);
    c.on('error', () => {});
    const [code] = (await within(once(c, 'close'), 10_000, 'close')) as [number];
    await within(gone, 10_000, 'the server side end');
    assert.equal(code, 1006);
    assert.equal(r.events.length, 0);
    const afterStats = server.stats().deflate;
    assert.ok(afterStats !== null);
    assert.equal(afterStats.contexts, before.contexts);
    assert.equal(afterStats.connectionsHoldingContexts, 0);
  });

  it('a large PreparedMessage is compressed once for every no-takeover subscriber, in order with their sends', async (t) => {
    const members: ServerWebSocket[] = [];
    const N = 4;
    let allOpen: () => void = () => {};
    const opened = new Promise<void>((r) => {
      allOpen = r;
    });
    const server = await startServer(t, {
      request: (_req, res) => res.end('ws only'),
      websocket: {
        perMessageDeflate: { serverNoContextTakeover: true },
        open: (ws) => {
          if (members.push(ws) === N) allOpen();
        },
      },
    });
    const url = server.url.replace('http', 'ws');
    const clients: { c: WebSocket; r: ReturnType<typeof record> }[] = [];
    for (let i = 0; i < N; i++) clients.push(await connect(url, 3));
    t.after(() => {
      for (const { c } of clients) c.terminate();
    });
    await within(opened, 5000, 'open handlers');
    const before = server.stats().deflate;
    assert.ok(before !== null);
    const msg = new PreparedMessage(BIG_TEXT);
    const recs = clients.map(({ r }) => r);
    for (const m of members) {
      assert.equal(m.sendPrepared(msg), -1);
      m.send('then this');
      m.sendPrepared(new PreparedMessage('and this'));
    }
    await within(Promise.all(recs.map((r) => r.done)), 10_000, 'three messages each');
    for (const r of recs) {
      assert.deepEqual(
        r.events.map((e) => (e.data.length > 100 ? e.data.equals(Buffer.from(BIG_TEXT)) : e.data.toString())),
        [true, 'then this', 'and this'],
      );
    }
    const afterStats = server.stats().deflate;
    assert.ok(afterStats !== null);
    // One deflate of the big message for all four ('then this' and 'and this' are under the threshold).
    assert.equal(afterStats.compressed - before.compressed, 1);
    assert.equal(msg.compressedCopies, 1);
  });
});

describe('client: large compressed messages from our WebSocket', () => {
  it('to a ws server: order kept, bufferedAmount counts them, a buffer changed after send() is sent as it was', async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    await once(wss, 'listening');
    t.after(async () => {
      for (const peer of wss.clients) peer.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    });
    const received: { data: Buffer; isBinary: boolean }[] = [];
    let done: () => void = () => {};
    const all = new Promise<void>((r) => {
      done = r;
    });
    wss.on('connection', (peer) => {
      peer.on('message', (data: Buffer, isBinary: boolean) => {
        received.push({ data, isBinary });
        if (received.length === 4) done();
      });
    });
    const port = (wss.address() as AddressInfo).port;
    const c = new SockeyeWebSocket(`ws://127.0.0.1:${port}/`, undefined, { perMessageDeflate: true });
    await within(once(c, 'open'), 5000, 'open');
    assert.match(c.extensions, /permessage-deflate/);
    const mine = new Uint8Array(BIG_BINARY);
    c.send(BIG_TEXT);
    const afterText = c.bufferedAmount;
    c.send(mine);
    mine.fill(0); // the standard sends the data as it was when send() was called
    c.send('small');
    c.send(new Uint8Array([1, 2, 3]));
    assert.ok(afterText >= BIG_TEXT.length, `bufferedAmount ${afterText}`);
    assert.ok(c.bufferedAmount >= BIG_TEXT.length + BIG_BINARY.length);
    await within(all, 10_000, 'four messages');
    assert.equal(received[0]?.data.toString(), BIG_TEXT);
    assert.equal(received[0]?.isBinary, false);
    assert.ok(received[1]?.data.equals(BIG_BINARY));
    assert.equal(received[2]?.data.toString(), 'small');
    assert.deepEqual([...(received[3]?.data ?? [])], [1, 2, 3]);
  });

  it('close() right after a big send: the server gets the message, then the close code', async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
    await once(wss, 'listening');
    t.after(async () => {
      for (const peer of wss.clients) peer.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    });
    const events: string[] = [];
    let done: () => void = () => {};
    const closed = new Promise<void>((r) => {
      done = r;
    });
    wss.on('connection', (peer) => {
      peer.on('message', (data: Buffer) => events.push(data.length === BIG_TEXT.length ? 'big' : data.toString()));
      peer.on('close', (code: number, reason: Buffer) => {
        events.push(`close ${code} ${reason.toString()}`);
        done();
      });
    });
    const port = (wss.address() as AddressInfo).port;
    const c = new SockeyeWebSocket(`ws://127.0.0.1:${port}/`, undefined, { perMessageDeflate: true });
    await within(once(c, 'open'), 5000, 'open');
    c.send(BIG_TEXT);
    c.close(4000, 'done');
    assert.equal(c.readyState, 2);
    await within(closed, 10_000, 'the server sees the close');
    assert.deepEqual(events, ['big', 'close 4000 done']);
  });
});
