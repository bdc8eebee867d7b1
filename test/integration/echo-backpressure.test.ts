/**
 * `sockeye echo` and a peer that never reads its echoes (issue 15): the peer may leave unread what its own
 * messages need (twice its largest message so far plus 1 MiB), not a fixed 256 MiB; past it the connection is failed
 * with 1008 and read no more (RFC 6455 §7.1.7), so the server's reads stop at the failure instead of going on for
 * the close timeout; `--max-backpressure BYTES` sets a fixed bound, and a bad value is a usage error (exit 2).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { wsEchoOptions } from '../../src/cli/echo.js';
import type { CloseInfo } from '../../src/index.js';
import { startEcho } from '../fixtures/ws/echo-server.js';
import { BIN } from '../helpers/echo-process.js';
import { run } from '../helpers/net.js';
import { connectSlowConsumer, within } from '../helpers/slow-peers.js';
import { frame } from '../helpers/ws-frames.js';
import { OP_BINARY } from '../helpers/ws-raw-client.js';

const MiB = 1024 * 1024;

/** Writes `message` frames until `total` bytes went out or the socket closed, respecting TCP flow control. */
async function flood(socket: import('node:net').Socket, message: Buffer, total: number): Promise<number> {
  let sent = 0;
  while (sent < total && !socket.destroyed) {
    sent += message.length;
    if (!socket.write(message)) {
      const more = await new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          socket.off('drain', onDrain);
          socket.off('close', onClose);
          resolve(ok);
        };
        const onDrain = () => done(true);
        const onClose = () => done(false);
        socket.on('drain', onDrain);
        socket.on('close', onClose);
      });
      if (!more) break;
    }
  }
  return sent;
}

async function floodUntilClosed(t: import('node:test').TestContext, options: Parameters<typeof wsEchoOptions>[0]) {
  const infos: CloseInfo[] = [];
  let closed: () => void = () => {};
  const ended = new Promise<void>((r) => {
    closed = r;
  });
  const echo = await startEcho(t, {
    ...wsEchoOptions(options),
    closeTimeout: 300,
    close(_ws, _code, _reason, _clean, info) {
      infos.push(info);
      closed();
    },
  });
  const slow = await connectSlowConsumer(t, echo.port);
  slow.socket.on('error', () => {});
  const message = frame({ opcode: OP_BINARY, payload: Buffer.alloc(64 * 1024, 3), mask: true });
  // 96 MiB offered: without the stop the server would read it all within the close timeout.
  void flood(slow.socket, message, 96 * MiB);
  await within(ended, 20_000, 'the server ends the connection');
  slow.destroy();
  return infos[0] as CloseInfo;
}

test('default: a peer that never reads is failed with 1008 near twice its largest message + 1 MiB, then read no more', async (t) => {
  const info = await floodUntilClosed(t, undefined);
  assert.equal(info.cause, 'backpressure');
  assert.equal(info.code, 1008);
  // What it read: the allowance (64 KiB + 1 MiB) plus what the kernel's buffers on both sides took, far below the
  // 96 MiB offered (before: 256 MiB allowed, then everything offered during the 5 s close timeout).
  assert.ok(info.bytesRead < 48 * MiB, `the server read ${(info.bytesRead / MiB).toFixed(1)} MiB`);
  t.diagnostic(`read ${(info.bytesRead / MiB).toFixed(1)} MiB of 96 MiB offered`);
});

test('a fixed bound (--max-backpressure): the same, with its number', async (t) => {
  const info = await floodUntilClosed(t, 256 * 1024);
  assert.equal(info.cause, 'backpressure');
  assert.ok(info.bytesRead < 48 * MiB, `the server read ${(info.bytesRead / MiB).toFixed(1)} MiB`);
});

test("the allowance is what the peer's messages need: a 16 MiB message sent before reading is echoed whole", async (t) => {
  const echo = await startEcho(t, wsEchoOptions());
  const payload = Buffer.alloc(16 * MiB, 5);
  const whole = [frame({ opcode: OP_BINARY, payload, mask: true })];
  const fragmented: Buffer[] = [];
  for (let i = 0; i < 16; i++) {
    const part = payload.subarray(i * MiB, (i + 1) * MiB);
    fragmented.push(frame({ opcode: i === 0 ? OP_BINARY : 0, payload: part, fin: i === 15, mask: true }));
  }
  // One frame (echoed as it streams in) and 16 fragments of 1 MiB (gathered, echoed whole), each on its own
  // connection, each sent in full before the client reads anything.
  for (const frames of [whole, fragmented]) {
    const client = await echo.connect();
    client.socket.pause();
    await client.write(frames);
    client.socket.resume();
    await client.waitUntil(() => client.frames.some((f) => f.fin), 30_000);
    const echoed = client.frames.reduce((n, f) => n + f.payload.length, 0);
    assert.equal(echoed, 16 * MiB, `echoed in full, no 1008 (${client.frames.length} frames)`);
    client.destroy();
  }
  assert.equal(echo.closes.filter((c) => c.code === 1008).length, 0);
});

test('sockeye echo --max-backpressure with a bad value: one sentence on stderr, exit 2', async () => {
  for (const bad of ['abc', '0', '-5', '1.5']) {
    const r = await run(process.execPath, [BIN, 'echo', '--port', '0', `--max-backpressure=${bad}`]);
    assert.equal(r.code, 2, `--max-backpressure ${bad}`);
    assert.match(r.stderr, /--max-backpressure must be a positive number of bytes, got/);
  }
});
