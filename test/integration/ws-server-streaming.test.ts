/**
 * Streaming receive over loopback (`websocket.messageChunk`), with the `ws` package and a raw client as peers:
 * 1 MiB and 16 MiB text and binary messages echoed piece by piece with `sendFragment` (the echo pattern with
 * `drained()`) come back byte-identical while smaller and compressed messages still go to `message`; pieces the
 * handler copies (a piece is a view of the read buffer, valid during the call) are not overwritten by later
 * reads, nor are pieces parked while reading is paused by other connections' reads; an async handler with maxPendingMessages 1 pauses reading (one
 * unsettled call at a time, bounded read-ahead, bytes in order); `drained()` at once, under backpressure, and
 * with a backpressureLimit under the socket's highWaterMark; invalid UTF-8 (1007) and maxPayload (1009, one
 * frame and across fragments) in streamed messages; and the `sockeye echo` command (1 MiB and 16 MiB echoes, and
 * an echo that starts before the message has ended). Fragmented messages are never streamed.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { SEND_BACKPRESSURE, type ServerWebSocket, type WebSocketOptions } from '../../src/index.js';
import { startEchoProcess } from '../helpers/echo-process.js';
import { startServer } from '../helpers/net.js';
import { frame } from '../helpers/ws-frames.js';
import { connectRaw, OP_BINARY, OP_CONT, type RawWsClient } from '../helpers/ws-raw-client.js';

const WAIT = 8000;
const KiB = 1024;
const MiB = 1024 * 1024;

/** Waits for `cond` (polled every few ms), at most `ms`; throws with `what` on timeout. */
async function until(cond: () => boolean, what: string, ms = WAIT): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A `ws` client that keeps what it receives and how it was closed. */
class Peer {
  readonly ws: WebSocket;
  readonly messages: { data: Buffer; isBinary: boolean }[] = [];
  closed: { code: number; reason: string } | null = null;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, { maxPayload: 64 * MiB, perMessageDeflate: false, ...options });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.messages.push({ data, isBinary });
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on('error', () => {});
  }

  static async open(t: TestContext, port: number, options: WebSocket.ClientOptions = {}, path = '/'): Promise<Peer> {
    const p = new Peer(`ws://127.0.0.1:${port}${path}`, options);
    t.after(() => p.ws.terminate());
    await new Promise<void>((resolve, reject) => {
      p.ws.once('open', () => resolve());
      p.ws.once('error', reject);
    });
    return p;
  }

  async message(n: number, ms = WAIT): Promise<{ data: Buffer; isBinary: boolean }> {
    await until(() => this.messages.length > n, `message #${n} (got ${this.messages.length})`, ms);
    return this.messages[n]!;
  }

  async closeCode(): Promise<number> {
    await until(() => this.closed !== null, 'close event');
    return this.closed!.code;
  }
}

/** What a streaming server saw: per message, how it came (whole or in pieces), and flag errors. */
interface Seen {
  /** `message:<bytes>` or `chunks:<bytes>`, in arrival order (pieces counted when the last one came). */
  routes: string[];
  /** Copies of the pieces of the streamed message in progress. */
  pieces: Buffer[];
  /** Sizes of every piece. */
  sizes: number[];
  /** Broken rules seen inside handlers (asserted by the test, not thrown into the server). */
  problems: string[];
  /** The server's close event. */
  close: { code: number; wasClean: boolean } | null;
}

function newSeen(): Seen {
  return { routes: [], pieces: [], sizes: [], problems: [], close: null };
}

/** Handlers that record into `seen`: pieces checked for their flags, and the server's close. */
function recording(seen: Seen): Pick<WebSocketOptions, 'close'> & {
  check(chunk: Buffer, isFirst: boolean, isLast: boolean): void;
} {
  return {
    check(chunk, isFirst, isLast) {
      if (isFirst !== (seen.pieces.length === 0)) seen.problems.push(`isFirst ${isFirst} after ${seen.pieces.length}`);
      if (!isLast && chunk.length === 0) seen.problems.push('empty piece that is not the last');
      seen.pieces.push(Buffer.from(chunk));
      seen.sizes.push(chunk.length);
      if (isLast) {
        seen.routes.push(`chunks:${seen.pieces.reduce((n, p) => n + p.length, 0)}`);
      }
    },
    close(_ws, code, _reason, wasClean) {
      seen.close = { code, wasClean };
    },
  };
}

/** The `sockeye echo` pattern: each piece back as a fragment; reading waits while the peer is slow to read. */
function echoPiece(ws: ServerWebSocket, chunk: Buffer, isBinary: boolean, isLast: boolean): Promise<void> | undefined {
  return ws.sendFragment(chunk, isLast, isBinary) === SEND_BACKPRESSURE ? ws.drained() : undefined;
}

/** Echo handlers that record where each message went (`message` or pieces, checked by `rec`). */
function recordedEcho(
  seen: Seen,
  rec: ReturnType<typeof recording>,
): Pick<WebSocketOptions, 'message' | 'messageChunk'> {
  return {
    message(ws, message, isBinary) {
      seen.routes.push(`message:${Buffer.byteLength(message)}`);
      ws.send(message, isBinary);
    },
    messageChunk(ws, chunk, isBinary, isFirst, isLast) {
      rec.check(chunk, isFirst, isLast);
      if (isLast) seen.pieces = [];
      return echoPiece(ws, chunk, isBinary, isLast);
    },
  };
}

/** Text of `bytes` UTF-8 bytes or a little more, with 1- to 4-byte characters so that pieces cut inside them. */
function mixedText(bytes: number): string {
  return 'aé€😀'.repeat(Math.ceil(bytes / 10));
}

function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

test('echo piece by piece: 1 MiB and 16 MiB, text and binary, byte-identical; small messages stay whole', async (t) => {
  const seen = newSeen();
  const rec = recording(seen);
  const server = await startServer(t, {
    websocket: {
      maxPayload: 64 * MiB,
      maxPendingMessages: 1,
      // Default maxBackpressure (1 MiB): the echo of 16 MiB never queues more, since reading waits on drained().
      ...recordedEcho(seen, rec),
      close: rec.close,
    },
  });
  const peer = await Peer.open(t, server.port);
  const sent: (Buffer | string)[] = [
    'small',
    randomBytes(MiB),
    mixedText(MiB),
    randomBytes(64 * KiB - 1), // under the default threshold
    randomBytes(64 * KiB), // at it
    randomBytes(16 * MiB),
    mixedText(16 * MiB),
    Buffer.from([1, 2, 3]),
  ];
  for (const m of sent) peer.ws.send(m, { binary: typeof m !== 'string' });
  for (let i = 0; i < sent.length; i++) {
    const got = await peer.message(i, 15_000);
    const m = sent[i]!;
    assert.equal(got.isBinary, typeof m !== 'string', `message #${i} type`);
    assert.ok(got.data.equals(typeof m === 'string' ? Buffer.from(m) : m), `message #${i} echoed byte for byte`);
  }
  assert.deepEqual(seen.problems, []);
  assert.deepEqual(seen.routes, [
    'message:5',
    `chunks:${MiB}`,
    `chunks:${Buffer.byteLength(sent[2]!)}`,
    `message:${64 * KiB - 1}`,
    `chunks:${64 * KiB}`,
    `chunks:${16 * MiB}`,
    `chunks:${Buffer.byteLength(sent[6]!)}`,
    'message:3',
  ]);
  // At most one read (64 KiB) per piece: a 16 MiB message comes in hundreds of them.
  assert.ok(Math.max(...seen.sizes) <= 64 * KiB, `largest piece ${Math.max(...seen.sizes)}`);
  assert.ok(seen.sizes.length >= 2 * 256, `${seen.sizes.length} pieces`);
  assert.equal(peer.closed, null, 'the connection stays open (no 1008 for backpressure)');
});

test('compressed messages come whole to message, uncompressed big ones in pieces (permessage-deflate)', async (t) => {
  const seen = newSeen();
  const rec = recording(seen);
  const server = await startServer(t, {
    websocket: {
      perMessageDeflate: true,
      ...recordedEcho(seen, rec),
    },
  });
  const peer = await Peer.open(t, server.port, { perMessageDeflate: true });
  assert.match(peer.ws.extensions, /permessage-deflate/);
  // Random base64: compressed by the client (over its 1 KiB threshold), still far over 64 KiB compressed.
  const text = randomBytes(768 * KiB).toString('base64');
  const bytes = randomBytes(MiB);
  peer.ws.send(text);
  peer.ws.send(bytes, { binary: true, compress: false });
  assert.equal((await peer.message(0)).data.toString(), text);
  assert.ok((await peer.message(1)).data.equals(bytes));
  assert.deepEqual(seen.routes, [`message:${Buffer.byteLength(text)}`, `chunks:${MiB}`]);
  assert.deepEqual(seen.problems, []);
});

test('pieces copied by the handler and joined at the end of the message are intact', async (t) => {
  // The handler keeps a copy of each piece and answers with the SHA-256 of their concatenation once the last one
  // came; the client sends its messages back to back.
  let kept: Buffer[] = [];
  const problems: string[] = [];
  let count = 0;
  const server = await startServer(t, {
    websocket: {
      streamThreshold: KiB,
      messageChunk(ws, chunk, _isBinary, isFirst, isLast) {
        if (isFirst !== (kept.length === 0)) problems.push(`isFirst ${isFirst} after ${kept.length} pieces`);
        kept.push(Buffer.from(chunk));
        count++;
        // Joined only at the end of the message: many reads later.
        if (isLast) {
          ws.send(sha(Buffer.concat(kept)));
          kept = [];
        }
      },
    },
  });
  const peer = await Peer.open(t, server.port);
  const sent = [randomBytes(3 * MiB), randomBytes(2 * KiB), Buffer.from(mixedText(2 * MiB)), randomBytes(3 * MiB)];
  for (const [i, m] of sent.entries()) peer.ws.send(m, { binary: i !== 2 });
  for (let i = 0; i < sent.length; i++) {
    assert.equal((await peer.message(i)).data.toString(), sha(sent[i]!), `message #${i}`);
  }
  assert.deepEqual(problems, []);
  assert.ok(count > sent.length * 2, `the messages came in many pieces (${count})`);
});

test('pieces waiting while reading is paused survive the reads of other connections', async (t) => {
  const pieces = new WeakMap<ServerWebSocket, Buffer[]>();
  let slowDone = false;
  const server = await startServer(t, {
    websocket: {
      streamThreshold: KiB,
      maxPendingMessages: 1,
      messageChunk(ws, chunk, _isBinary, isFirst, isLast) {
        if (isFirst) pieces.set(ws, []);
        pieces.get(ws)!.push(Buffer.from(chunk));
        if (isLast) ws.send(sha(Buffer.concat(pieces.get(ws)!)));
        // `/slow` answers later: reading pauses there, and what was already read waits while others read.
        return ws.path === '/slow' ? new Promise<void>((r) => setTimeout(r, 1)) : undefined;
      },
    },
  });
  const slow = await Peer.open(t, server.port, {}, '/slow');
  const fast = await Peer.open(t, server.port, {}, '/fast');
  // Many small streamed messages per read on /slow; big ones on /fast all along.
  const sent: Buffer[] = [];
  for (let i = 0; i < 150; i++) sent.push(randomBytes(2 * KiB + i));
  for (const m of sent) slow.ws.send(m);
  // Paced by the server's answers (at most 2 big messages unanswered), not by a clock.
  const noise = (async () => {
    for (let i = 0; i < 400 && !slowDone; i++) {
      fast.ws.send(randomBytes(256 * KiB));
      if (i >= 1) await fast.message(i - 1, 15_000);
    }
  })();
  for (let i = 0; i < sent.length; i++) {
    assert.equal((await slow.message(i, 15_000)).data.toString(), sha(sent[i]!), `message #${i} on /slow`);
  }
  slowDone = true;
  await noise;
  assert.ok(fast.messages.length > 10, `${fast.messages.length} messages on /fast meanwhile`);
});

test('an async messageChunk with maxPendingMessages 1 pauses reading: one call at a time, bytes in order', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  let delivered = 0;
  let maxReadAhead = 0;
  let total = 0;
  const order: string[] = [];
  const pieces: Buffer[] = [];
  const wholes: Buffer[] = [];
  /** Starts a call: counts it, and how far reading got ahead of what was handed on. */
  const enter = (ws: ServerWebSocket, n: number) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    delivered += n;
    maxReadAhead = Math.max(maxReadAhead, ws.bytesRead - delivered);
  };
  const later = () =>
    new Promise<void>((resolve) =>
      setTimeout(() => {
        inFlight--;
        resolve();
      }, 1),
    );
  const server = await startServer(t, {
    websocket: {
      maxPendingMessages: 1,
      async message(ws, message) {
        enter(ws, Buffer.byteLength(message));
        order.push(`message:${message}`);
        await later();
      },
      messageChunk(ws, chunk, _isBinary, isFirst, isLast) {
        enter(ws, chunk.length);
        if (isFirst) order.push('first');
        // A copy: the piece is only valid until the handler returns (the promise settles later).
        pieces.push(Buffer.from(chunk));
        if (isLast) {
          order.push('last');
          wholes.push(Buffer.concat(pieces));
          pieces.length = 0;
        }
        total++;
        return later();
      },
    },
  });
  const peer = await Peer.open(t, server.port);
  const big = randomBytes(6 * MiB);
  const text = mixedText(MiB);
  peer.ws.send(big);
  peer.ws.send('between');
  peer.ws.send(text);
  await until(() => wholes.length === 2 && inFlight === 0, 'both streamed messages handled', 15_000);
  assert.equal(maxInFlight, 1, 'never more than one unsettled handler');
  assert.deepEqual(order, ['first', 'last', 'message:between', 'first', 'last']);
  assert.ok(wholes[0]!.equals(big));
  assert.equal(wholes[1]!.toString(), text);
  assert.ok(total > 2 * 16, `${total} pieces`);
  // Reading waits for the handler: it never runs far ahead of what was handed on (without the pause, it would
  // be megabytes ahead).
  assert.ok(maxReadAhead < 512 * KiB, `read ${maxReadAhead} bytes ahead of the handler`);
});

test('drained() resolves at once when nothing is buffered', async (t) => {
  const result: { buffered: number; state: string }[] = [];
  const server = await startServer(t, {
    websocket: {
      message(ws) {
        const buffered = ws.bufferedAmount;
        const p = ws.drained().then(() => 'resolved');
        // A promise resolved at once settles before the next macrotask.
        void Promise.race([p, new Promise<string>((r) => setImmediate(() => r('pending')))]).then((state) => {
          result.push({ buffered, state });
          ws.send(state);
        });
      },
    },
  });
  const peer = await Peer.open(t, server.port);
  peer.ws.send('go');
  assert.equal((await peer.message(0)).data.toString(), 'resolved');
  assert.deepEqual(result, [{ buffered: 0, state: 'resolved' }]);
});

test('drained() waits while the peer does not read, and resolves once it has read', async (t) => {
  let state = 'none';
  let sent = 0;
  let bufferedAtResolve = -1;
  let resumed = false;
  let resumedAtResolve = false;
  let stateAtPing = '';
  const server = await startServer(t, {
    websocket: {
      maxBackpressure: 256 * MiB,
      ping() {
        stateAtPing = state;
      },
      async message(ws) {
        // Fill the kernel's buffers, a turn at a time, until bytes stay queued on our side.
        const block = Buffer.alloc(MiB, 7);
        while (ws.bufferedAmount <= 4 * MiB && sent < 200) {
          ws.send(block, true);
          sent++;
          await new Promise((r) => setImmediate(r));
        }
        state = 'pending';
        await ws.drained();
        bufferedAtResolve = ws.bufferedAmount;
        resumedAtResolve = resumed;
        state = 'resolved';
      },
    },
  });
  const peer = await Peer.open(t, server.port);
  peer.ws.pause();
  peer.ws.send('fill');
  await until(() => state === 'pending', 'the server filled the socket');
  // The sentinel: a ping read (and handed to the ping handler) after drained() was called, while the peer reads
  // nothing. Its pong cannot get through; the handler says what drained() was doing meanwhile.
  peer.ws.ping();
  await until(() => stateAtPing !== '', 'the ping to reach the server');
  assert.equal(stateAtPing, 'pending', 'drained() waits while the peer reads nothing');
  resumed = true;
  peer.ws.resume();
  await until(() => state === 'resolved', 'drained() after the peer read');
  assert.ok(resumedAtResolve, 'drained() resolved only after the peer read again');
  assert.ok(bufferedAtResolve <= 64 * KiB, `bufferedAmount ${bufferedAtResolve} at resolution`);
  await until(() => peer.messages.length === sent, `all ${sent} messages read`);
});

// Node emits 'drain' only after a write found writableLength >= writableHighWaterMark (16 KiB): with a
// backpressureLimit under it, -1 can come with less queued than that, and no 'drain' ever follows.
test('drained() resolves once the peer has read, also with a backpressureLimit under the socket highWaterMark', async (t) => {
  let state = 'none';
  let sent = 0;
  const server = await startServer(t, {
    websocket: {
      backpressureLimit: KiB,
      maxBackpressure: 256 * MiB,
      async message(ws) {
        // Sent outside the read's batch (after a turn), each straight to the socket, until the kernel is full.
        await new Promise((r) => setImmediate(r));
        const block = Buffer.alloc(4 * KiB, 7);
        while (sent < 100_000) {
          sent++;
          if (ws.send(block, true) === SEND_BACKPRESSURE) break;
          if (sent % 16 === 0) await new Promise((r) => setImmediate(r));
        }
        state = 'pending';
        await ws.drained();
        state = 'resolved';
      },
    },
  });
  const peer = await Peer.open(t, server.port);
  peer.ws.pause();
  peer.ws.send('fill');
  await until(() => state === 'pending', 'the server filled the socket');
  peer.ws.resume();
  await until(() => peer.messages.length === sent, `all ${sent} messages read`);
  await until(() => state === 'resolved', 'drained() after the peer read everything', 2000);
});

test('invalid UTF-8 in a streamed text message: 1007, and no piece holds the bad bytes', async (t) => {
  const seen = newSeen();
  const rec = recording(seen);
  const server = await startServer(t, {
    websocket: {
      messageChunk(_ws, chunk, _isBinary, isFirst, isLast) {
        rec.check(chunk, isFirst, isLast);
      },
      close: rec.close,
    },
  });
  const peer = await Peer.open(t, server.port);
  const at = 150 * KiB;
  const payload = Buffer.alloc(200 * KiB, 0x61);
  payload[at] = 0xff;
  peer.ws.send(payload, { binary: false });
  assert.equal(await peer.closeCode(), 1007);
  const got = Buffer.concat(seen.pieces);
  assert.ok(got.length <= at, `${got.length} bytes handed on, the bad byte is at ${at}`);
  assert.ok(got.equals(payload.subarray(0, got.length)));
  assert.deepEqual(seen.routes, [], 'no last piece');
  assert.deepEqual(seen.problems, []);
  await until(() => seen.close !== null, 'server close event');
  assert.equal(seen.close!.wasClean, false);
});

test('a streamed text message that ends inside a character: 1007, no last piece', async (t) => {
  const seen = newSeen();
  const rec = recording(seen);
  const server = await startServer(t, {
    websocket: {
      messageChunk(_ws, chunk, _isBinary, isFirst, isLast) {
        rec.check(chunk, isFirst, isLast);
      },
    },
  });
  const peer = await Peer.open(t, server.port);
  const payload = Buffer.concat([Buffer.from(mixedText(100 * KiB)), Buffer.from('€').subarray(0, 2)]);
  peer.ws.send(payload, { binary: false });
  assert.equal(await peer.closeCode(), 1007);
  assert.deepEqual(seen.routes, [], 'no last piece');
  assert.ok(Buffer.concat(seen.pieces).equals(payload.subarray(0, Buffer.concat(seen.pieces).length)));
});

/** A server with maxPayload 256 KiB that records the pieces it is handed. */
async function limitedServer(t: TestContext, seen: Seen): Promise<number> {
  const rec = recording(seen);
  const server = await startServer(t, {
    websocket: {
      maxPayload: 256 * KiB,
      message(_ws, message) {
        seen.routes.push(`message:${Buffer.byteLength(message)}`);
      },
      messageChunk(_ws, chunk, _isBinary, isFirst, isLast) {
        rec.check(chunk, isFirst, isLast);
      },
    },
  });
  return server.port;
}

test('maxPayload: 1009 for a message over it, before any of it is handed on; one at the limit streams', async (t) => {
  const seen = newSeen();
  const port = await limitedServer(t, seen);
  const fits = await Peer.open(t, port);
  const exact = randomBytes(256 * KiB);
  fits.ws.send(exact);
  await until(() => seen.routes.length === 1, 'the message at the limit');
  assert.deepEqual(seen.routes, [`chunks:${256 * KiB}`]);
  assert.ok(Buffer.concat(seen.pieces).equals(exact));
  seen.pieces = [];
  seen.sizes = [];

  const over = await Peer.open(t, port);
  over.ws.send(randomBytes(256 * KiB + 1));
  assert.equal(await over.closeCode(), 1009);
  assert.deepEqual(seen.sizes, [], 'nothing handed on');
  assert.deepEqual(seen.problems, []);
});

// Fragmented messages are never streamed, so a fragmented message over maxPayload hands nothing on.
test('a fragmented message is not streamed: over maxPayload, 1009 and nothing handed on', async (t) => {
  const seen = newSeen();
  const port = await limitedServer(t, seen);
  const peer = await Peer.open(t, port);
  peer.ws.send(randomBytes(200 * KiB), { binary: true, fin: false });
  peer.ws.send(randomBytes(100 * KiB), { binary: true, fin: true });
  assert.equal(await peer.closeCode(), 1009);
  assert.deepEqual(seen.sizes, []);
  assert.deepEqual(seen.routes, []);
});

test('sockeye echo: 1 MiB and 16 MiB messages echoed; the echo starts before the message ends', async (t) => {
  const { port } = await startEchoProcess(t);
  const peer = await Peer.open(t, port);
  const sent: (Buffer | string)[] = [randomBytes(MiB), mixedText(MiB), randomBytes(16 * MiB), mixedText(16 * MiB)];
  for (const m of sent) peer.ws.send(m, { binary: typeof m !== 'string' });
  for (let i = 0; i < sent.length; i++) {
    const got = await peer.message(i, 15_000);
    const m = sent[i]!;
    assert.equal(got.isBinary, typeof m !== 'string');
    assert.ok(got.data.equals(typeof m === 'string' ? Buffer.from(m) : m), `message #${i} echoed byte for byte`);
  }

  // Raw: half of a 1 MiB frame is echoed (as fragments) before the other half is sent.
  const clients: RawWsClient[] = [];
  t.after(() => {
    for (const c of clients) c.destroy();
  });
  const raw = await connectRaw(port, {}, clients);
  const payload = randomBytes(MiB);
  const bytes = frame({ opcode: OP_BINARY, payload, mask: randomBytes(4) });
  const half = bytes.length >> 1;
  await raw.write(bytes.subarray(0, half));
  assert.ok(await raw.waitUntil(() => raw.frames.length > 0, WAIT), 'an echo fragment before the message ended');
  assert.equal(raw.frames[0]!.opcode, OP_BINARY);
  assert.equal(raw.frames[0]!.fin, false);
  await raw.write(bytes.subarray(half));
  assert.ok(await raw.waitUntil(() => raw.frames.at(-1)?.fin === true, WAIT), 'the final fragment');
  assert.ok(raw.frames.slice(1).every((f) => f.opcode === OP_CONT));
  assert.ok(Buffer.concat(raw.frames.map((f) => f.payload)).equals(payload));
});
