/**
 * permessage-deflate and many receivers (the pub/sub case, RFC 7692 §7.1.1.1): a `PreparedMessage` sent to many
 * connections is compressed once when our side compresses without context takeover (the server's default), and
 * once per connection when it takes over its context. Receivers are `ws` clients with perMessageDeflate, which
 * check every byte. Also: `compress: false` and messages under the threshold go out uncompressed.
 */

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { PreparedMessage, type Server, type ServerWebSocket, serve } from '../../src/index.js';
import { within } from '../helpers/slow-peers.js';

const N = 12;

interface Room {
  server: Server;
  members: ServerWebSocket[];
  clients: WebSocket[];
}

async function room(serverNoContextTakeover: boolean): Promise<Room> {
  const members: ServerWebSocket[] = [];
  let allOpen: () => void = () => {};
  const opened = new Promise<void>((r) => {
    allOpen = r;
  });
  const server = await serve({
    port: 0,
    host: '127.0.0.1',
    request: (_req, res) => res.end('ws only'),
    websocket: {
      perMessageDeflate: { serverNoContextTakeover },
      open: (ws) => {
        if (members.push(ws) === N) allOpen();
      },
    },
  });
  const url = server.url.replace('http', 'ws');
  const clients: WebSocket[] = [];
  for (let i = 0; i < N; i++) {
    const c = new WebSocket(url, { perMessageDeflate: true });
    await new Promise<void>((resolve, reject) => {
      c.once('open', () => resolve());
      c.once('error', reject);
    });
    clients.push(c);
  }
  // The server's open handler ran for every client once its 101 left; wait for the last one to register.
  await within(opened, 5000, `${N} open handlers`);
  assert.equal(members.length, N);
  return { server, members, clients };
}

function nextMessage(c: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => c.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

/** The next `n` messages, with one listener (two can arrive in one read, before a second `once` is attached). */
function nextMessages(c: WebSocket, n: number): Promise<{ data: Buffer; isBinary: boolean }[]> {
  return new Promise((resolve) => {
    const out: { data: Buffer; isBinary: boolean }[] = [];
    const onMessage = (data: Buffer, isBinary: boolean) => {
      out.push({ data, isBinary });
      if (out.length === n) {
        c.off('message', onMessage);
        resolve(out);
      }
    };
    c.on('message', onMessage);
  });
}

async function close(r: Room): Promise<void> {
  for (const c of r.clients) c.terminate();
  await r.server.close({ deadline: 500 });
}

const TEXT = JSON.stringify(
  Array.from({ length: 200 }, (_, i) => ({ id: i, user: `user${i % 9}`, text: `message ${i} to the room` })),
);

describe('PreparedMessage: compressed once for every no-takeover receiver', () => {
  const rooms: Room[] = [];
  after(async () => {
    for (const r of rooms) await close(r);
  });

  it('server_no_context_takeover (default): one deflate for all receivers, every receiver decodes it', async () => {
    const r = await room(true);
    rooms.push(r);
    for (const m of r.members) assert.match(m.extensions, /server_no_context_takeover/);
    const before = r.server.stats().deflate;
    assert.ok(before !== null);
    const msg = new PreparedMessage(TEXT);
    const got = r.clients.map(nextMessage);
    for (const m of r.members) assert.ok(m.sendPrepared(msg) > 0);
    const received = await Promise.all(got);
    for (const g of received) {
      assert.equal(g.isBinary, false);
      assert.equal(g.data.toString('utf8'), TEXT);
    }
    const afterStats = r.server.stats().deflate;
    assert.ok(afterStats !== null);
    assert.equal(afterStats.compressed - before.compressed, 1);
    assert.equal(msg.compressedCopies, 1);
    // What went on the wire per receiver is the compressed size, far below the text's.
    assert.ok(afterStats.compressedBytesOut - before.compressedBytesOut < TEXT.length / 3);
  });

  it('binary prepared messages keep their type', async () => {
    const r = rooms[0] as Room;
    const bytes = Buffer.from(TEXT.repeat(2));
    const msg = new PreparedMessage(bytes);
    const got = r.clients.map(nextMessage);
    for (const m of r.members) m.sendPrepared(msg);
    for (const g of await Promise.all(got)) {
      assert.equal(g.isBinary, true);
      assert.ok(g.data.equals(bytes));
    }
  });

  it('compress: false and messages under the threshold are not compressed', async () => {
    const r = rooms[0] as Room;
    const before = r.server.stats().deflate;
    assert.ok(before !== null);
    const big = new PreparedMessage(TEXT);
    const small = new PreparedMessage('tiny');
    const got = r.clients.map((c) => nextMessages(c, 2));
    for (const m of r.members) {
      m.sendPrepared(big, false);
      m.sendPrepared(small);
    }
    for (const [a, b] of await Promise.all(got)) {
      assert.equal(a?.data.toString(), TEXT);
      assert.equal(b?.data.toString(), 'tiny');
    }
    const afterStats = r.server.stats().deflate;
    assert.ok(afterStats !== null);
    assert.equal(afterStats.compressed, before.compressed);
    assert.equal(afterStats.skipped - before.skipped, 2 * N);
  });

  it('with context takeover each receiver compresses for itself (its output depends on its history)', async () => {
    const r = await room(false);
    rooms.push(r);
    for (const m of r.members) assert.doesNotMatch(m.extensions, /server_no_context_takeover/);
    const before = r.server.stats().deflate;
    assert.ok(before !== null);
    const msg = new PreparedMessage(TEXT);
    for (let round = 0; round < 2; round++) {
      const got = r.clients.map(nextMessage);
      for (const m of r.members) m.sendPrepared(msg);
      for (const g of await Promise.all(got)) assert.equal(g.data.toString('utf8'), TEXT);
    }
    const afterStats = r.server.stats().deflate;
    assert.ok(afterStats !== null);
    assert.equal(afterStats.compressed - before.compressed, 2 * N);
    assert.equal(msg.compressedCopies, 0);
  });
});
