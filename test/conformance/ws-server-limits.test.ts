/**
 * Server conformance, Autobahn TestSuite section 9 (limits and performance, correctness only) against the
 * `sockeye echo` WebSocket handlers over loopback: messages of 64 KiB, 1 MiB and 16 MiB (text and binary, whole
 * and fragmented, written in small pieces) come back intact; a frame written 1 byte at a time; and with a small
 * `maxPayload`, a message (or the sum of its fragments) over it fails with 1009 before it is buffered.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { cf, expectEcho, expectFail, startEcho } from '../fixtures/ws/echo-server.js';
import { binaryOf, textOf } from '../fixtures/ws/payloads.js';
import { frame } from '../helpers/ws-frames.js';
import { OP_BINARY, OP_CONT, OP_TEXT } from '../helpers/ws-raw-client.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const BIG_WAIT = 20_000;

for (const size of [64 * KiB, MiB, 16 * MiB]) {
  const label = size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`;
  test(`9.1/9.2 text and binary messages of ${label} are echoed intact`, async (t) => {
    const echo = await startEcho(t);
    const client = await echo.connect();
    const text = textOf(size);
    const bin = binaryOf(size);
    await expectEcho(
      client,
      [cf({ opcode: OP_TEXT, payload: text }), cf({ opcode: OP_BINARY, payload: bin })],
      [
        { opcode: OP_TEXT, payload: text },
        { opcode: OP_BINARY, payload: bin },
      ],
      { timeoutMs: BIG_WAIT },
    );
  });
}

test('9.3/9.4 a 4 MiB message in fragments of 64 KiB (text) and 1 MiB (binary)', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const size = 4 * MiB;
  const text = textOf(size);
  const bin = binaryOf(size);
  const frames: Buffer[] = [];
  for (const [opcode, payload, frag] of [
    [OP_TEXT, text, 64 * KiB],
    [OP_BINARY, bin, MiB],
  ] as const) {
    for (let i = 0; i < size; i += frag) {
      frames.push(
        cf({ opcode: i === 0 ? opcode : OP_CONT, payload: payload.subarray(i, i + frag), fin: i + frag >= size }),
      );
    }
  }
  await expectEcho(
    client,
    frames,
    [
      { opcode: OP_TEXT, payload: text },
      { opcode: OP_BINARY, payload: bin },
    ],
    { timeoutMs: BIG_WAIT },
  );
});

test('9.5/9.6 a 1 MiB message written in 997-byte pieces', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const text = textOf(MiB);
  await expectEcho(client, cf({ opcode: OP_TEXT, payload: text }), [{ opcode: OP_TEXT, payload: text }], {
    chunkSize: 997,
    timeoutMs: BIG_WAIT,
  });
});

test('9.x a 300-byte text frame (16-bit length) written one byte at a time', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const text = textOf(300);
  await expectEcho(client, cf({ opcode: OP_TEXT, payload: text }), [{ opcode: OP_TEXT, payload: text }], {
    chunkSize: 1,
  });
});

test('9.x a 70000-byte binary frame (64-bit length) written in 7-byte pieces', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const bin = binaryOf(70000);
  await expectEcho(client, cf({ opcode: OP_BINARY, payload: bin }), [{ opcode: OP_BINARY, payload: bin }], {
    chunkSize: 7,
    timeoutMs: BIG_WAIT,
  });
});

test('9.x 1000 small messages in one write are echoed in order', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const expected = Array.from({ length: 1000 }, (_, i) => ({
    opcode: i % 2 ? OP_BINARY : OP_TEXT,
    payload: Buffer.from(`message ${i}`),
  }));
  await expectEcho(
    client,
    expected.map((e) => cf(e)),
    expected,
  );
});

// ── maxPayload ─────────────────────────────────────────────────────────────────────────────────────────────

const SMALL = 1000;

test('9.x maxPayload: a message of exactly maxPayload bytes is echoed', async (t) => {
  const echo = await startEcho(t, { maxPayload: SMALL });
  const client = await echo.connect();
  const bin = binaryOf(SMALL);
  await expectEcho(
    client,
    [
      cf({ opcode: OP_BINARY, payload: bin }),
      cf({ opcode: OP_TEXT, payload: textOf(600), fin: false }),
      cf({ opcode: OP_CONT, payload: textOf(400) }),
    ],
    [
      { opcode: OP_BINARY, payload: bin },
      { opcode: OP_TEXT, payload: Buffer.concat([textOf(600), textOf(400)]) },
    ],
  );
});

test('9.x maxPayload: a single frame of maxPayload + 1 bytes → 1009', async (t) => {
  const echo = await startEcho(t, { maxPayload: SMALL });
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: OP_BINARY, payload: binaryOf(SMALL + 1) }), 1009);
  const [c] = await echo.waitCloses(1);
  assert.equal(c?.code, 1009);
  assert.equal(c?.wasClean, false);
});

test('9.x maxPayload: fragments that add up to more than maxPayload → 1009', async (t) => {
  const echo = await startEcho(t, { maxPayload: SMALL });
  const client = await echo.connect();
  await expectFail(
    client,
    [cf({ opcode: OP_TEXT, payload: textOf(600), fin: false }), cf({ opcode: OP_CONT, payload: textOf(401) })],
    1009,
  );
});

test('9.x maxPayload: the 1009 comes from the header alone (a 1 GiB length, no payload sent)', async (t) => {
  const echo = await startEcho(t, { maxPayload: SMALL });
  const client = await echo.connect();
  // Only the 14-byte header (64-bit length + mask) is sent: the server must not wait for the payload.
  await expectFail(client, frame({ opcode: OP_BINARY, length64: 1n << 30n }).subarray(0, 14), 1009);
});

test('9.x maxPayload of the echo default (64 MiB): a 2^62-byte length header → 1009 at once', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, frame({ opcode: OP_BINARY, length64: 1n << 62n }).subarray(0, 14), 1009);
});

// ── maxFragments (issue 15: tiny fragments) ───────────────────────────────────────────────────────────────

test('a text message as 1,000,000 one-byte frames → 1008 at the default maxFragments; another client echoes on', async (t) => {
  const echo = await startEcho(t);
  const attacker = await echo.connect();
  const other = await echo.connect();
  const n = 1_000_000;
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) frames.push(cf({ opcode: i === 0 ? OP_TEXT : OP_CONT, payload: 'a', fin: i === n - 1 }));
  const all = Buffer.concat(frames);
  // The server stops reading at the 131,073rd frame: write what it will take, without waiting for the rest.
  attacker.socket.write(all);
  const out = await attacker.waitClosed(BIG_WAIT);
  assert.equal(out.code, 1008, 'RFC 6455 §7.4.1: 1008, a message that violates the policy');
  assert.equal(out.frames.length, 1, 'nothing was echoed before the close');
  const [c] = await echo.waitCloses(1, BIG_WAIT);
  assert.equal(c?.code, 1008);
  await expectEcho(other, cf({ opcode: OP_TEXT, payload: 'still here' }), [{ opcode: OP_TEXT, payload: 'still here' }]);
});

test('maxFragments: a message in exactly maxFragments frames is echoed; one more frame → 1008', async (t) => {
  const echo = await startEcho(t, { maxFragments: 16 });
  const ok = await echo.connect();
  const frag = (n: number) => {
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++)
      out.push(cf({ opcode: i === 0 ? OP_BINARY : OP_CONT, payload: Buffer.from([i]), fin: i === n - 1 }));
    return out;
  };
  const expected = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
  await expectEcho(ok, frag(16), [{ opcode: OP_BINARY, payload: expected }]);
  const bad = await echo.connect();
  await expectFail(bad, frag(17), 1008);
});
