/**
 * Shared-buffer socket reads (src/node/socket-reads.ts), over loopback:
 * - the module on a plain net.Server: reads are views of the one shared buffer, each socket gets its own bytes in
 *   order while many sockets interleave, pause()/resume() stop and restart reads, 'end'/'close' still come, and a
 *   socket without a target behaves as a plain socket ('data' events with owned copies, TCP backpressure);
 * - the server on top of it: many WebSocket and HTTP connections at once, each sending messages and bodies that
 *   cross every size threshold of the frame parser and the masking kernel, cut at random points, so that a byte
 *   kept from one read (a header piece, the first part of a spanning payload, a pipelined request) would be
 *   overwritten by another connection's read if it were not copied.
 * With SOCKEYE_SHARED_READS=0 the module must decline (the server then uses 'data' events; the same end-to-end
 * checks run).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { readBuffer } from '../../src/node/read-buffer.js';
import { hasSharedReads, type ReadTarget, setReadTarget, useSharedReads } from '../../src/node/socket-reads.js';
import { ioRoundTrip, startServer } from '../helpers/net.js';
import { frame } from '../helpers/ws-frames.js';
import { connectRaw, OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, randomMask } from '../helpers/ws-raw-client.js';

const ENABLED = process.env.SOCKEYE_SHARED_READS !== '0';

/** A deterministic pseudo-random sequence (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** Cuts `bytes` at random points into pieces of 1 to `max` bytes. */
function cut(bytes: Buffer, next: () => number, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = Math.min(bytes.length - i, 1 + Math.floor(next() * max));
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Writes pieces one by one, each flushed and followed by a turn of the event loop (separate reads). */
async function writePieces(socket: net.Socket, pieces: Buffer[]): Promise<void> {
  for (const p of pieces) {
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => socket.write(p, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A net.Server on 127.0.0.1:0 whose connections go to `onSocket`; closed (all sockets destroyed) after the test. */
async function plainServer(t: TestContext, onSocket: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.setNoDelay(true);
    s.on('error', reject);
  });
}

function until(predicate: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const start = Date.now();
  return new Promise((resolve) => {
    const check = () => {
      if (predicate()) resolve(true);
      else if (Date.now() - start > timeoutMs) resolve(false);
      else setTimeout(check, 5);
    };
    check();
  });
}

describe('socket-reads on a plain net.Server', () => {
  it('reads are views of the shared buffer; interleaved sockets each get their own bytes, in order', async (t) => {
    const got = new Map<number, Buffer[]>();
    let views = 0;
    let foreign = 0;
    const results: boolean[] = [];
    const port = await plainServer(t, (s) => {
      const id = got.size;
      got.set(id, []);
      const target: ReadTarget = {
        onRead(view) {
          views++;
          if (view.buffer !== readBuffer.buffer) foreign++;
          // Only valid now: copy (the test's own bookkeeping).
          got.get(id)?.push(Buffer.from(view));
        },
      };
      results.push(useSharedReads(s, target));
      if (!results[results.length - 1]) s.on('data', (d: Buffer) => got.get(id)?.push(Buffer.from(d)));
    });
    const next = rng(7);
    const payloads = Array.from({ length: 8 }, () => randomBytes(20_000 + Math.floor(next() * 60_000)));
    const clients = await Promise.all(payloads.map(() => connect(port)));
    await until(() => got.size === clients.length);
    await Promise.all(clients.map((c, i) => writePieces(c, cut(payloads[i] as Buffer, next, 3000))));
    const total = payloads.reduce((n, p) => n + p.length, 0);
    const received = () => [...got.values()].reduce((n, parts) => n + parts.reduce((m, p) => m + p.length, 0), 0);
    assert.ok(await until(() => received() === total), `received ${received()} of ${total} bytes`);
    assert.deepEqual(results, new Array(clients.length).fill(ENABLED));
    if (ENABLED) {
      assert.ok(views > clients.length, 'many separate reads');
      assert.equal(foreign, 0, 'every read is a view of readBuffer');
    }
    // Sockets are accepted in connect order on loopback, but match by content to be safe.
    const joined = [...got.values()].map((parts) => Buffer.concat(parts));
    for (const p of payloads)
      assert.ok(
        joined.some((j) => j.equals(p)),
        'a socket got exactly what its client sent',
      );
    for (const c of clients) c.destroy();
  });

  it('pause() stops the reads, resume() restarts them; end and close still come', async (t) => {
    const reads: string[] = [];
    const events: string[] = [];
    let server: net.Socket | null = null;
    const port = await plainServer(t, (s) => {
      server = s;
      const target: ReadTarget = {
        onRead(view) {
          reads.push(view.toString('latin1'));
          if (reads.length === 1) s.pause();
        },
      };
      if (!useSharedReads(s, target)) s.on('data', (d: Buffer) => target.onRead(d));
      s.on('end', () => {
        events.push('end');
        s.end();
      });
      s.on('close', () => events.push('close'));
    });
    const c = await connect(port);
    c.write('first');
    assert.ok(await until(() => reads.length === 1));
    await new Promise((r) => c.write('second', r));
    // The sentinel: by the end of a round trip on another connection, a socket still reading has read 'second'.
    await ioRoundTrip();
    assert.deepEqual(reads, ['first'], 'nothing is read while paused');
    (server as unknown as net.Socket).resume();
    assert.ok(await until(() => reads.join('') === 'firstsecond'));
    c.end();
    assert.ok(await until(() => events.length === 2), `events: ${events.join(', ')}`);
    assert.deepEqual(events, ['end', 'close']);
  });

  it("a socket without a target gives 'data' events with owned copies, and pushes back on its peer", async (t) => {
    let server: net.Socket | null = null;
    const port = await plainServer(t, (s) => {
      server = s;
      const ok = useSharedReads(s, { onRead: () => assert.fail('no target reads expected') });
      assert.equal(ok, ENABLED);
      assert.equal(hasSharedReads(s), ENABLED);
      assert.equal(setReadTarget(s, null), ENABLED);
    });
    const c = await connect(port);
    const sent = randomBytes(4 * 1024 * 1024);
    c.write(sent);
    const s = server as unknown as net.Socket;
    // Nobody reads 'data' yet: the socket reads until it holds its high-water mark, then stops (by the end of a
    // round trip on another connection, one still reading would have read on); the rest stays in TCP.
    assert.ok(await until(() => s.readableLength >= s.readableHighWaterMark), `buffered ${s.readableLength} bytes`);
    await ioRoundTrip();
    assert.ok(
      s.readableLength <= s.readableHighWaterMark + 65536,
      `buffered ${s.readableLength} bytes (high-water mark ${s.readableHighWaterMark})`,
    );
    assert.ok(c.writableLength > 0, 'the client is pushed back');
    const parts: Buffer[] = [];
    let shared = 0;
    s.on('data', (d: Buffer) => {
      if (d.buffer === readBuffer.buffer) shared++;
      parts.push(d);
    });
    assert.ok(await until(() => parts.reduce((n, p) => n + p.length, 0) === sent.length));
    assert.equal(shared, 0, "'data' chunks are never views of the shared buffer");
    assert.ok(Buffer.concat(parts).equals(sent));
    c.destroy();
  });

  it('useSharedReads once per socket; setReadTarget only on a socket that uses them', async (t) => {
    const outcomes: boolean[] = [];
    const port = await plainServer(t, (s) => {
      outcomes.push(setReadTarget(s, null));
      outcomes.push(useSharedReads(s, { onRead() {} }));
      outcomes.push(useSharedReads(s, { onRead() {} }));
      s.destroy();
    });
    const c = await connect(port);
    assert.ok(await until(() => outcomes.length === 3));
    assert.deepEqual(outcomes, [false, ENABLED, false]);
    c.destroy();
  });
});

describe('the server on shared reads: many connections, every size, random cuts', () => {
  it('WebSocket: 12 connections echo messages of 0 B to 300 KB, fragmented or not, cut at random points', async (t) => {
    const server = await startServer(t, {
      request: (_req, res) => res.send('no'),
      websocket: {
        maxPayload: 1 << 20,
        message(ws, message, isBinary) {
          ws.send(message, isBinary);
        },
      },
    });
    const sizes = [0, 1, 31, 125, 126, 255, 256, 1000, 4096, 65535, 65536, 70_000, 300_000];
    const clients = await Promise.all(Array.from({ length: 12 }, () => connectRaw(server.port)));
    t.after(() => {
      for (const c of clients) c.destroy();
    });
    await Promise.all(
      clients.map(async (client, ci) => {
        const next = rng(1000 + ci);
        const expected: Buffer[] = [];
        const wire: Buffer[] = [];
        let pings = 0;
        for (let k = 0; k < sizes.length; k++) {
          const size = sizes[(k + ci) % sizes.length] as number;
          const payload = randomBytes(size);
          expected.push(payload);
          if (size >= 3 && next() < 0.4) {
            // Three fragments with a ping between the first two (RFC 6455 §5.4: control frames may interleave).
            const a = Math.floor(size / 3);
            const b2 = Math.floor((2 * size) / 3);
            wire.push(frame({ opcode: OP_BINARY, fin: false, payload: payload.subarray(0, a), mask: randomMask() }));
            wire.push(frame({ opcode: OP_PING, payload: `p${pings++}`, mask: randomMask() }));
            wire.push(frame({ opcode: OP_CONT, fin: false, payload: payload.subarray(a, b2), mask: randomMask() }));
            wire.push(frame({ opcode: OP_CONT, payload: payload.subarray(b2), mask: randomMask() }));
          } else {
            wire.push(frame({ opcode: OP_BINARY, payload, mask: randomMask() }));
          }
        }
        const text = 'é'.repeat(700);
        wire.push(frame({ opcode: OP_TEXT, payload: text, mask: randomMask() }));
        const all = Buffer.concat(wire);
        await writePieces(client.socket, cut(all, next, next() < 0.5 ? 700 : 20_000));
        const want = expected.length + 1 + pings;
        const ok = await client.waitUntil(() => client.frames.length >= want, 15_000);
        assert.ok(ok, `client ${ci}: ${client.frames.length} of ${want} frames`);
        const data = client.frames.filter((f) => f.opcode !== OP_PONG);
        const pongs = client.frames.filter((f) => f.opcode === OP_PONG);
        assert.equal(pongs.length, pings, `client ${ci}: one pong per ping`);
        assert.equal(data.length, expected.length + 1);
        for (let k = 0; k < expected.length; k++) {
          const f = data[k];
          assert.ok(f !== undefined && f.opcode === OP_BINARY, `client ${ci} message ${k}: binary`);
          assert.ok(f.payload.equals(expected[k] as Buffer), `client ${ci} message ${k} (${expected[k]?.length} B)`);
        }
        const last = data[expected.length];
        assert.equal(last?.opcode, OP_TEXT);
        assert.equal(last?.payload.toString('utf8'), text);
      }),
    );
  });

  it('HTTP: 10 connections pipeline POSTs (Content-Length and chunked) cut at random points', async (t) => {
    const server = await startServer(t, {
      async request(req, res) {
        const body = await req.bytes();
        res.send(body, 200, [['X-Target', req.target]]);
      },
    });
    await Promise.all(
      Array.from({ length: 10 }, async (_, ci) => {
        const next = rng(50 + ci);
        const bodies = Array.from({ length: 6 }, (_, k) =>
          randomBytes([0, 10, 3000, 70_000, 200, 130_000][k] as number),
        );
        const wire: Buffer[] = [];
        bodies.forEach((body, k) => {
          if (k % 2 === 0) {
            wire.push(Buffer.from(`POST /${ci}/${k} HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`));
            wire.push(body);
          } else {
            wire.push(Buffer.from(`POST /${ci}/${k} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n`));
            for (const piece of cut(body, next, 5000)) {
              wire.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
            }
            wire.push(Buffer.from('0\r\n\r\n'));
          }
        });
        const socket = await connect(server.port);
        t.after(() => socket.destroy());
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => chunks.push(d));
        await writePieces(socket, cut(Buffer.concat(wire), next, 9000));
        const expectedLength = bodies.reduce((n, b) => n + b.length, 0);
        const complete = () => Buffer.concat(chunks).length >= expectedLength + bodies.length * 60;
        await until(() => {
          if (!complete()) return false;
          return parseAll(Buffer.concat(chunks)).length === bodies.length;
        }, 15_000);
        const responses = parseAll(Buffer.concat(chunks));
        assert.equal(responses.length, bodies.length, `connection ${ci}: one response per request`);
        responses.forEach((r, k) => {
          assert.equal(r.status, 200);
          assert.equal(r.target, `/${ci}/${k}`, 'in order');
          assert.ok(r.body.equals(bodies[k] as Buffer), `connection ${ci} request ${k}: body echoed`);
        });
      }),
    );
  });
});

/** Splits Content-Length responses: status, X-Target and body of each. */
function parseAll(bytes: Buffer): { status: number; target: string; body: Buffer }[] {
  const out: { status: number; target: string; body: Buffer }[] = [];
  let pos = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', pos);
    if (end < 0) return out;
    const head = bytes.subarray(pos, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(length) || end + 4 + length > bytes.length) return out;
    out.push({
      status: Number(head.slice(9, 12)),
      target: /\r\nx-target: *([^\r]*)/i.exec(head)?.[1] ?? '',
      body: bytes.subarray(end + 4, end + 4 + length),
    });
    pos = end + 4 + length;
  }
}
