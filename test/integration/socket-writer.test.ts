/**
 * SocketWriter (src/node/socket-writer.ts) over real loopback sockets: what one batch gathers leaves in order,
 * whatever mix of by-reference writes, strings and copies (`writeCopy`, which appends to an arena shared by all
 * writers) it holds; a copy is taken when it is made (the source may change right after); batches of two
 * writers interleaved inside each other (a send to another socket from inside a batch) do not mix their bytes;
 * more copies than one arena holds; a socket that already has bytes queued; the arena segment a batch gives back
 * when the kernel took it whole (and keeps when a write was cut short); views of the shared read buffer; a socket
 * past its high-water mark, whose batches gather in a few spill chunks (in order, the end after every byte).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { test } from 'node:test';
import { readBuffer } from '../../src/node/read-buffer.js';
import { arenaUsage, SocketWriter } from '../../src/node/socket-writer.js';

interface Pair {
  writer: SocketWriter;
  socket: net.Socket;
  /** Resolves with everything the peer received once `bytes` have arrived. */
  received(bytes: number): Promise<Buffer>;
  /** The peer stops (or starts again) reading. */
  peer: net.Socket;
}

async function pair(t: { after(fn: () => void): void }): Promise<Pair> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const peer = await accepted;
  const chunks: Buffer[] = [];
  let total = 0;
  let want = Number.POSITIVE_INFINITY;
  let wake: (() => void) | null = null;
  peer.on('data', (c: Buffer) => {
    chunks.push(c);
    total += c.length;
    if (total >= want) wake?.();
  });
  t.after(() => {
    socket.destroy();
    peer.destroy();
    server.close();
  });
  const writer = new SocketWriter(socket, { onWriterEnd: () => socket.end() });
  return {
    writer,
    socket,
    peer,
    received(bytes: number): Promise<Buffer> {
      want = bytes;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out: ${total} of ${bytes} bytes`)), 10_000);
        const check = () => {
          if (total < bytes) return;
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        };
        wake = check;
        check();
      });
    },
  };
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

test('one batch: copies, a big by-reference part, a string and copies again leave in order', async (t) => {
  const p = await pair(t);
  const big = Buffer.alloc(5000, 0x42);
  const src = bytes('0123456789');
  p.writer.begin();
  p.writer.writeCopy(src, 0, 3);
  p.writer.writeCopy(src, 3, 10);
  p.writer.write(big);
  p.writer.writeString('|head|');
  p.writer.writeCopy(src, 5, 6);
  src.fill(0x2a); // the copies were taken when they were made
  p.writer.commit();
  const got = await p.received(3 + 7 + 5000 + 6 + 1);
  assert.equal(got.toString('latin1'), `0123456789${'B'.repeat(5000)}|head|5`);
});

test('a batch of writer B inside a batch of writer A: each socket gets only its own bytes, in order', async (t) => {
  const a = await pair(t);
  const b = await pair(t);
  a.writer.begin();
  a.writer.writeCopy(bytes('a1-'), 0, 3);
  // B appends to the same shared arena while A's segment is open.
  b.writer.begin();
  b.writer.writeCopy(bytes('b1-'), 0, 3);
  b.writer.commit();
  a.writer.writeCopy(bytes('a2-'), 0, 3);
  b.writer.begin();
  b.writer.writeCopy(bytes('b2'), 0, 2);
  b.writer.commit();
  a.writer.writeCopy(bytes('a3'), 0, 2);
  a.writer.commit();
  assert.equal((await a.received(8)).toString('latin1'), 'a1-a2-a3');
  assert.equal((await b.received(5)).toString('latin1'), 'b1-b2');
});

test('more small copies in one batch than one 8 KiB arena holds: all of them, in order', async (t) => {
  const p = await pair(t);
  const expected: string[] = [];
  p.writer.begin();
  for (let i = 0; i < 3000; i++) {
    const s = `<${i}>`;
    expected.push(s);
    p.writer.writeCopy(bytes(s), 0, s.length);
  }
  // and one copy larger than an arena
  const large = Buffer.alloc(20_000, 0x7a);
  p.writer.writeCopy(large, 0, large.length);
  p.writer.commit();
  const text = expected.join('');
  const got = await p.received(text.length + large.length);
  assert.equal(got.toString('latin1'), text + 'z'.repeat(20_000));
});

test('writeCopy outside a batch writes at once; copies made while the socket has bytes queued stay intact', async (t) => {
  const p = await pair(t);
  p.peer.pause();
  // Fill the socket until Node queues (the peer does not read).
  const filler = Buffer.alloc(1 << 20, 0x2e);
  let queued = 0;
  while (p.socket.writableLength === 0 && queued < 64 << 20) {
    p.socket.write(filler);
    queued += filler.length;
  }
  assert.ok(p.socket.writableLength > 0, 'the socket has bytes queued');
  const src = bytes('tail-of-the-stream');
  p.writer.begin();
  p.writer.writeCopy(src, 0, 5);
  p.writer.writeCopy(src, 5, src.length);
  p.writer.commit();
  src.fill(0x21);
  // Other writers reuse the arena meanwhile: what was queued must not change.
  const other = await pair(t);
  other.writer.begin();
  for (let i = 0; i < 2000; i++) other.writer.writeCopy(bytes('xxxxxxxx'), 0, 8);
  other.writer.commit();
  const single = bytes('!');
  p.writer.writeCopy(single, 0, 1);
  p.peer.resume();
  const got = await p.received(queued + 18 + 1);
  assert.equal(got.subarray(queued).toString('latin1'), 'tail-of-the-stream!');
});

test('a batch the kernel took whole gives its arena segment back: the next batch copies into the same bytes', async (t) => {
  const p = await pair(t);
  const payload = Buffer.alloc(30_000, 0x41);
  p.writer.begin();
  p.writer.writeCopy(payload, 0, payload.length);
  p.writer.commit();
  const before = arenaUsage();
  assert.equal(p.socket.writableLength, 0, 'loopback took 30 000 bytes at once');
  p.writer.begin();
  p.writer.writeCopy(bytes('head'), 0, 4);
  payload.fill(0x42);
  p.writer.writeCopy(payload, 0, payload.length);
  const during = arenaUsage();
  p.writer.commit();
  const after = arenaUsage();
  assert.equal(during.arena, before.arena, 'same arena');
  assert.equal(during.fill, before.fill + 4 + 30_000, 'the batch appended to it');
  assert.equal(after.fill, before.fill, 'and gave it back once written');
  const got = await p.received(60_004);
  assert.equal(got.subarray(0, 30_000).toString('latin1'), 'A'.repeat(30_000));
  assert.equal(got.subarray(30_000).toString('latin1'), `head${'B'.repeat(30_000)}`);
});

test('a batch whose write was cut short keeps its segment: later batches of other writers do not overwrite it', async (t) => {
  const p = await pair(t);
  const other = await pair(t);
  p.peer.pause();
  // Batches of 48 KiB copies, each with its own byte, until one is only partly taken by the kernel.
  const sent: number[] = [];
  const piece = Buffer.alloc(48 * 1024);
  for (let i = 0; i < 4096 && p.socket.writableLength === 0; i++) {
    piece.fill(i & 0xff);
    p.writer.begin();
    p.writer.writeCopy(piece, 0, piece.length);
    p.writer.commit();
    sent.push(i & 0xff);
  }
  assert.ok(p.socket.writableLength > 0, 'a write was cut short');
  // Another writer copies as much again through the arena while those bytes wait.
  for (let i = 0; i < 8; i++) {
    piece.fill(0xee);
    other.writer.begin();
    other.writer.writeCopy(piece, 0, piece.length);
    other.writer.commit();
  }
  p.peer.resume();
  const got = await p.received(sent.length * piece.length);
  for (let k = 0; k < sent.length; k++) {
    const part = got.subarray(k * piece.length, (k + 1) * piece.length);
    assert.ok(
      part.every((b) => b === sent[k]),
      `batch ${k} of ${sent.length} arrived intact`,
    );
  }
});

test('a view of the shared read buffer written by reference is copied (the next read overwrites the buffer)', async (t) => {
  const p = await pair(t);
  readBuffer.fill(0x61, 0, 5000);
  p.writer.begin();
  p.writer.write(readBuffer.subarray(0, 5000));
  readBuffer.fill(0x62, 0, 5000); // a read before the batch is written
  p.writer.commit();
  const got = await p.received(5000);
  assert.equal(got.toString('latin1'), 'a'.repeat(5000));
});

test('a held batch waits for the loop turn to end, gathering later batches, then leaves in one write, in order', async (t) => {
  const p = await pair(t);
  let writes = 0;
  const original = p.socket._writev?.bind(p.socket);
  const write = p.socket._write.bind(p.socket);
  p.socket._write = (chunk, encoding, cb) => {
    writes++;
    write(chunk, encoding, cb);
  };
  if (original !== undefined) {
    p.socket._writev = (chunks, cb) => {
      writes++;
      original(chunks, cb);
    };
  }
  for (let i = 0; i < 3; i++) {
    p.writer.begin();
    p.writer.writeCopy(bytes(`read${i}-`), 0, 6);
    p.writer.holdOpen();
    p.writer.commit();
  }
  assert.equal(writes, 0, 'nothing written while held');
  assert.equal(p.writer.pendingBytes, 18);
  // The last batch of the turn does not ask to be held: everything leaves now.
  p.writer.begin();
  p.writer.writeCopy(bytes('end'), 0, 3);
  p.writer.commit();
  assert.equal(writes, 1, 'one write for the four batches');
  assert.equal((await p.received(21)).toString('latin1'), 'read0-read1-read2-end');
  // Held, and nothing more comes this turn: written in the check phase.
  p.writer.begin();
  p.writer.writeCopy(bytes('later'), 0, 5);
  p.writer.holdOpen();
  p.writer.commit();
  assert.equal(writes, 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(writes, 2);
  assert.equal((await p.received(26)).toString('latin1'), 'read0-read1-read2-endlater');
});

test('a held batch is written as soon as it holds 256 KiB, and an end request is not held', async (t) => {
  const p = await pair(t);
  const piece = Buffer.alloc(64 * 1024, 0x70);
  for (let i = 0; i < 3; i++) {
    p.writer.begin();
    p.writer.writeCopy(piece, 0, piece.length);
    p.writer.holdOpen();
    p.writer.commit();
  }
  assert.equal(p.writer.pendingBytes, 3 * piece.length, 'three reads held');
  p.writer.begin();
  p.writer.writeCopy(piece, 0, piece.length);
  p.writer.holdOpen();
  p.writer.commit();
  assert.equal(p.writer.pendingBytes, 0, 'written at 256 KiB');
  let ended = false;
  p.socket.once('finish', () => {
    ended = true;
  });
  p.writer.begin();
  p.writer.writeCopy(bytes('bye'), 0, 3);
  p.writer.end();
  p.writer.holdOpen();
  p.writer.commit();
  assert.equal(p.writer.pendingBytes, 0, 'the end request is written at once');
  const got = await p.received(4 * piece.length + 3);
  assert.equal(got.subarray(-3).toString('latin1'), 'bye');
  assert.ok(got.subarray(0, 4 * piece.length).every((b) => b === 0x70));
  await new Promise((r) => setImmediate(r));
  assert.ok(ended, 'the socket was ended');
});

/** Counts the socket's writes to the kernel side (`_write` / `_writev` calls). */
function countWrites(socket: net.Socket): { n: number } {
  const c = { n: 0 };
  const write = socket._write.bind(socket);
  socket._write = (chunk, encoding, cb) => {
    c.n++;
    write(chunk, encoding, cb);
  };
  const writev = socket._writev?.bind(socket);
  if (writev !== undefined) {
    socket._writev = (chunks, cb) => {
      c.n++;
      writev(chunks, cb);
    };
  }
  return c;
}

test('shared bytes: a burst that is neighbours in one buffer leaves as one write per socket; one setImmediate releases every held batch, each in order', async (t) => {
  const pairs = await Promise.all([pair(t), pair(t), pair(t)]);
  const counts = pairs.map((p) => countWrites(p.socket));
  // A log as publishes fill it: frames f0..f5 side by side.
  const frames = ['f0;', 'f1;', 'f2;', 'f3;', 'f4;', 'f5;'];
  const log = bytes(frames.join(''));
  const at = (i: number): [number, number] => [i * 3, i * 3 + 3];
  // Writer 0 gets every frame (one view), writer 1 every other one (views broken by the frames it skips), writer 2
  // every frame with a batch of its own in the middle that does not ask to be held (it writes what was held with
  // it at once, as any such batch does).
  for (let i = 0; i < frames.length; i++) {
    pairs[0]?.writer.writeSharedHeld(log, ...at(i));
    if (i % 2 === 0) pairs[1]?.writer.writeSharedHeld(log, ...at(i));
    pairs[2]?.writer.writeSharedHeld(log, ...at(i));
    if (i === 2) {
      const w = pairs[2]?.writer as SocketWriter;
      w.begin();
      w.writeCopy(bytes('own;'), 0, 4);
      w.commit();
    }
  }
  assert.deepEqual(
    pairs.map((p) => p.writer.heldBytes),
    [18, 9, 9],
    'held until the check phase (writer 2: what came after its own batch)',
  );
  assert.deepEqual(
    counts.map((c) => c.n),
    [0, 0, 1],
  );
  await new Promise((r) => setImmediate(r)); // queued after the holds: runs after their release
  assert.deepEqual(
    pairs.map((p) => p.writer.pendingBytes),
    [0, 0, 0],
    'all released in that check phase',
  );
  assert.deepEqual(
    counts.map((c) => c.n),
    [1, 1, 2],
    'one write per held batch',
  );
  assert.equal((await pairs[0]?.received(18))?.toString('latin1'), 'f0;f1;f2;f3;f4;f5;');
  assert.equal((await pairs[1]?.received(9))?.toString('latin1'), 'f0;f2;f4;');
  assert.equal((await pairs[2]?.received(22))?.toString('latin1'), 'f0;f1;f2;own;f3;f4;f5;');
});

test('shared bytes for a socket with bytes queued are copied: the shared buffer is not kept by a slow peer', async (t) => {
  const p = await pair(t);
  p.peer.pause();
  const filler = Buffer.alloc(1 << 20, 0x2e);
  let queued = 0;
  while (p.socket.writableLength === 0 && queued < 64 << 20) {
    p.socket.write(filler);
    queued += filler.length;
  }
  assert.ok(p.socket.writableLength > 0, 'the socket has bytes queued');
  const log = bytes('shared-frames');
  p.writer.writeSharedHeld(log, 0, 6);
  p.writer.writeSharedHeld(log, 6, log.length);
  await new Promise((r) => setImmediate(r));
  // Were the socket holding a view, this would change what it sends.
  log.fill(0x21);
  p.peer.resume();
  const got = await p.received(queued + 13);
  assert.equal(got.subarray(queued).toString('latin1'), 'shared-frames');
});

/** Entries in the socket's write queue (Writable#writableBuffer: a getter Node has, untyped in @types/node). */
function queueEntries(socket: net.Socket): number {
  return (socket as unknown as { writableBuffer: unknown[] }).writableBuffer.length;
}

/** Writes 1 MiB pieces straight to the socket until Node queues some (the peer is not reading). */
function fillUntilQueued(socket: net.Socket): number {
  const filler = Buffer.alloc(1 << 20, 0x2e);
  let queued = 0;
  while (!socket.writableNeedDrain && queued < 64 << 20) {
    socket.write(filler);
    queued += filler.length;
  }
  assert.ok(socket.writableNeedDrain, 'the socket is past its high-water mark');
  return queued;
}

test('a socket past its high-water mark: batches gather in a few spill chunks, not a queue entry each, and arrive in order', async (t) => {
  const p = await pair(t);
  p.peer.pause();
  const queued = fillUntilQueued(p.socket);
  const entriesBefore = queueEntries(p.socket);
  // 20,000 batches of 50 bytes (a slow subscriber's small messages): 1,000,000 bytes, each batch numbered.
  const n = 20_000;
  const piece = Buffer.alloc(50);
  for (let i = 0; i < n; i++) {
    piece.fill(0x20 + (i % 90));
    piece.writeUInt32BE(i, 0);
    p.writer.begin();
    p.writer.writeCopy(piece, 0, piece.length);
    p.writer.commit();
  }
  const entries = queueEntries(p.socket) - entriesBefore;
  // Chunks of 4, 8, 16, 32 KiB, then 64 KiB: about 20 for 1 MB (before: 20,000 entries, one per batch).
  assert.ok(entries <= 20, `${entries} queue entries for ${n} batches`);
  assert.ok(p.writer.pendingBytes > 0 && p.writer.pendingBytes < 64 * 1024, 'the last chunk waits, counted as pending');
  p.peer.resume();
  const got = await p.received(queued + n * 50);
  const tail = got.subarray(queued);
  for (let i = 0; i < n; i++) {
    const b = tail.subarray(i * 50, (i + 1) * 50);
    if (b.readUInt32BE(0) !== i || b[49] !== 0x20 + (i % 90)) assert.fail(`batch ${i} arrived out of order or changed`);
  }
  assert.equal(p.writer.pendingBytes, 0, 'the drain handed the last chunk over');
});

test('while spilling: writes outside a batch, strings, big parts and an end keep their order; the end follows every byte', async (t) => {
  const p = await pair(t);
  p.peer.pause();
  const queued = fillUntilQueued(p.socket);
  const big = Buffer.alloc(40_000, 0x42);
  p.writer.begin();
  p.writer.writeCopy(bytes('<a>'), 0, 3);
  p.writer.commit();
  p.writer.writeCopy(bytes('<b>'), 0, 3); // outside a batch: behind the spill, not ahead of it
  p.writer.writeString('<c>');
  p.writer.begin();
  p.writer.write(big); // large: by reference, after what the spill holds
  p.writer.writeCopy(bytes('<d>'), 0, 3);
  p.writer.commit();
  p.writer.begin();
  p.writer.writeCopy(bytes('<e>'), 0, 3);
  p.writer.end(); // SocketWriterOwner.onWriterEnd: socket.end()
  p.writer.commit();
  const ended = new Promise<void>((r) => p.peer.once('end', () => r()));
  p.peer.resume();
  const got = await p.received(queued + 15 + big.length);
  await ended;
  assert.equal(
    got.subarray(queued).toString('latin1'),
    `<a><b><c>${'B'.repeat(big.length)}<d><e>`,
    'every byte in the order written, then the end',
  );
});
