/**
 * Client conformance, Autobahn TestSuite section 9 (limits and performance, correctness only) against our
 * `WebSocket` client over loopback with a raw scripted server: a 16 MiB text and binary message written in large
 * pieces, a 4 MiB message in fragments, a 64 KiB frame written one byte per write, many small messages; and the
 * `maxPayload` option: a message (or the sum of its fragments) over it fails with 1009 on the wire and error +
 * close 1006 on the page, decided from the frame header before the payload is buffered.
 */

import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { binaryOf, textOf } from '../fixtures/ws/payloads.js';
import { OP_BINARY, OP_CONT, OP_TEXT } from '../helpers/ws-raw-client.js';
import { expectClientFail, expectDelivered, openClient, sf, startRawServer } from '../helpers/ws-raw-server.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const BIG_WAIT = 15_000;

test('9.1.6/9.2.6 text and binary messages of 16 MiB, written in 1 MiB pieces, reach the page intact', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const text = textOf(16 * MiB);
  const bin = binaryOf(16 * MiB);
  await expectDelivered(
    c,
    [sf({ opcode: OP_TEXT, payload: text }), sf({ opcode: OP_BINARY, payload: bin })],
    [text.toString('utf8'), bin],
    { chunkSize: MiB, timeoutMs: BIG_WAIT },
  );
});

test('9.3/9.4 a 4 MiB message in fragments of 64 KiB (text) and 1 MiB (binary)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
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
        sf({ opcode: i === 0 ? opcode : OP_CONT, payload: payload.subarray(i, i + frag), fin: i + frag >= size }),
      );
    }
  }
  await expectDelivered(c, frames, [text.toString('utf8'), bin], { timeoutMs: BIG_WAIT });
});

test('9.x a 64 KiB binary frame (64-bit length) written one byte per read, echoed by the page', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server, { echo: true });
  const bin = binaryOf(64 * KiB);
  await expectDelivered(c, sf({ opcode: OP_BINARY, payload: bin }), [bin], {
    chunkSize: 1,
    gapMs: 0,
    timeoutMs: BIG_WAIT,
    sent: [{ opcode: OP_BINARY, payload: bin }],
  });
});

test('9.x a 300-byte text frame (16-bit length) written one byte per read', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const text = textOf(300);
  await expectDelivered(c, sf({ opcode: OP_TEXT, payload: text }), [text.toString('utf8')], { chunkSize: 1, gapMs: 0 });
});

test('9.x 1000 small messages in one write reach the page in order', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const messages = Array.from({ length: 1000 }, (_, i) => (i % 2 ? Buffer.from(`message ${i}`) : `message ${i}`));
  await expectDelivered(
    c,
    messages.map((m) => sf({ opcode: typeof m === 'string' ? OP_TEXT : OP_BINARY, payload: m })),
    messages,
  );
});

// ── maxPayload ─────────────────────────────────────────────────────────────────────────────────────────────

const SMALL = 1000;

test('9.x maxPayload: messages of exactly maxPayload bytes (whole and fragmented) are delivered', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server, { client: { maxPayload: SMALL } });
  const bin = binaryOf(SMALL);
  await expectDelivered(
    c,
    [
      sf({ opcode: OP_BINARY, payload: bin }),
      sf({ opcode: OP_TEXT, payload: textOf(600), fin: false }),
      sf({ opcode: OP_CONT, payload: textOf(400) }),
    ],
    [bin, Buffer.concat([textOf(600), textOf(400)]).toString('utf8')],
  );
});

test('9.x maxPayload: a single frame of maxPayload + 1 bytes → 1009', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server, { client: { maxPayload: SMALL } });
  await expectClientFail(
    c,
    [sf({ opcode: OP_TEXT, payload: 'ok' }), sf({ opcode: OP_BINARY, payload: binaryOf(SMALL + 1) })],
    1009,
    { before: ['ok'] },
  );
});

test('9.x maxPayload: fragments that add up to more than maxPayload → 1009', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server, { client: { maxPayload: SMALL } });
  await expectClientFail(
    c,
    [sf({ opcode: OP_TEXT, payload: textOf(600), fin: false }), sf({ opcode: OP_CONT, payload: textOf(401) })],
    1009,
  );
});

test('9.x maxPayload: the 1009 comes from the header alone (a 1 GiB length, no payload sent)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server, { client: { maxPayload: SMALL } });
  await expectClientFail(c, sf({ opcode: OP_BINARY, length64: 1n << 30n }), 1009);
});

test('9.x default maxPayload (64 MiB): a 2^62-byte length header → 1009 at once', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_BINARY, length64: 1n << 62n }), 1009);
});

// ── maxFragments (issue 15: tiny fragments) ───────────────────────────────────────────────────────────────

test('maxFragments: a message in exactly maxFragments frames is delivered; one frame more → 1008', async (t) => {
  const server = await startRawServer(t);
  const frag = (n: number) => {
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) out.push(sf({ opcode: i === 0 ? OP_TEXT : OP_CONT, payload: 'x', fin: i === n - 1 }));
    return out;
  };
  const ok = await openClient(t, server, { client: { maxFragments: 8 } });
  await expectDelivered(ok, frag(8), ['x'.repeat(8)]);
  const bad = await openClient(t, server, { client: { maxFragments: 8 } });
  await expectClientFail(bad, frag(9), 1008);
});
