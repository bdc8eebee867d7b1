/**
 * Server conformance, Autobahn TestSuite section 6 (UTF-8 handling, RFC 6455 §5.6 and §8.1) against the
 * `sockeye echo` WebSocket handlers over loopback: valid multi-byte texts (boundaries, noncharacters, BOM) are
 * echoed byte for byte however they are fragmented; invalid sequences (overlong, surrogates, > U+10FFFF,
 * truncated, stray continuation bytes) fail with 1007; and an invalid sequence is caught as soon as it arrives
 * (in the first fragment, or in the first piece of a frame) rather than when the message ends.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { cf, expectEcho, expectFail, startEcho } from '../fixtures/ws/echo-server.js';
import { h, INVALID, KOSME, VALID } from '../fixtures/ws/utf8-vectors.js';
import { describe, OP_CONT, OP_TEXT, type RawWsClient } from '../helpers/ws-raw-client.js';

test('6.2 valid UTF-8 texts are echoed byte for byte, whole and written one byte at a time', async (t) => {
  const echo = await startEcho(t);
  const expected = VALID.map(([, payload]) => ({ opcode: OP_TEXT, payload }));
  for (const chunkSize of [undefined, 1]) {
    const client = await echo.connect();
    await expectEcho(
      client,
      expected.map((e) => cf(e)),
      expected,
      { chunkSize },
    );
  }
});

test('6.x valid text split at every byte position across two and three fragments', async (t) => {
  const echo = await startEcho(t);
  const text = Buffer.from('κόσμε-😀-€-ß-𝄞-A');
  const frames: Buffer[] = [];
  let messages = 0;
  for (let i = 0; i <= text.length; i++) {
    frames.push(cf({ opcode: OP_TEXT, payload: text.subarray(0, i), fin: false }));
    frames.push(cf({ opcode: OP_CONT, payload: text.subarray(i) }));
    messages++;
    for (let j = i; j <= text.length; j++) {
      frames.push(cf({ opcode: OP_TEXT, payload: text.subarray(0, i), fin: false }));
      frames.push(cf({ opcode: OP_CONT, payload: text.subarray(i, j), fin: false }));
      frames.push(cf({ opcode: OP_CONT, payload: text.subarray(j) }));
      messages++;
    }
  }
  const client = await echo.connect();
  await expectEcho(
    client,
    frames,
    Array.from({ length: messages }, () => ({ opcode: OP_TEXT, payload: text })),
  );
});

test('6.2.4 valid text sent as one fragment per byte', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const text = Buffer.from('κόσμε😀');
  const frames = [...text].map((b, i) =>
    cf({ opcode: i === 0 ? OP_TEXT : OP_CONT, payload: Buffer.from([b]), fin: i === text.length - 1 }),
  );
  await expectEcho(client, frames, [{ opcode: OP_TEXT, payload: text }]);
});

for (const [name, payload] of INVALID) {
  test(`6.x invalid UTF-8 → 1007: ${name}`, async (t) => {
    const echo = await startEcho(t);
    // As one frame, and as two fragments split in the middle, each followed by a message that is never echoed.
    const mid = payload.length >> 1;
    for (const frames of [
      [cf({ opcode: OP_TEXT, payload })],
      [
        cf({ opcode: OP_TEXT, payload: payload.subarray(0, mid), fin: false }),
        cf({ opcode: OP_CONT, payload: payload.subarray(mid) }),
      ],
    ]) {
      const client = await echo.connect();
      await expectFail(client, [...frames, cf({ opcode: OP_TEXT, payload: 'after' })], 1007);
    }
  });
}

test('6.x invalid UTF-8 (6.3.1) split at every byte position across two fragments → 1007', async (t) => {
  const echo = await startEcho(t);
  const bad = (INVALID[0] as [string, Buffer])[1];
  for (let i = 0; i <= bad.length; i++) {
    const client = await echo.connect();
    await expectFail(
      client,
      [
        cf({ opcode: OP_TEXT, payload: bad.subarray(0, i), fin: false }),
        cf({ opcode: OP_CONT, payload: bad.subarray(i) }),
      ],
      1007,
    );
  }
});

test('6.x invalid UTF-8 text written one byte at a time → 1007', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await expectFail(client, cf({ opcode: OP_TEXT, payload: h('ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80') }), 1007, {
    chunkSize: 1,
  });
});

// ── Fail fast (Autobahn 6.4.x) ─────────────────────────────────────────────────────────────────────────────

/** Asserts that the server failed with 1007 and closed TCP without anything more from us. */
async function expectFailFast(client: RawWsClient): Promise<void> {
  const out = await client.waitClosed();
  assert.equal(out.code, 1007, `must fail before the message ends; frames ${describe(out.frames)}`);
  assert.equal(out.frames.length, 1, describe(out.frames));
  assert.equal(out.tcpClosed, true);
}

test('6.4.1 invalid byte in the first fragment of an unfinished message → 1007 before the message ends', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  // Fragment 1: κόσμε + f4 90 80 80 (> U+10FFFF). Fragment 2 is never sent.
  await client.write(cf({ opcode: OP_TEXT, payload: Buffer.concat([KOSME, h('f4 90 80 80')]), fin: false }));
  await expectFailFast(client);
});

test('6.4.2 valid first fragment, invalid second fragment of three → 1007 before the third', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  await client.write(cf({ opcode: OP_TEXT, payload: Buffer.concat([KOSME, h('f4')]), fin: false }));
  await client.write(cf({ opcode: OP_CONT, payload: h('90 80 80'), fin: false }));
  await expectFailFast(client);
});

test('6.4.3 a single text frame whose invalid bytes arrive before the rest of its payload → 1007 at once', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const payload = Buffer.concat([KOSME, h('f4 90 80 80'), Buffer.from('edited')]);
  const f = cf({ opcode: OP_TEXT, payload });
  const headerLen = 2 + 4;
  // Chop 1: header + κόσμε; chop 2: the invalid sequence; "edited" is never sent.
  await client.write(f.subarray(0, headerLen + KOSME.length));
  await client.write(f.subarray(headerLen + KOSME.length, headerLen + KOSME.length + 4));
  await expectFailFast(client);
});

test('6.4.4 as 6.4.3 but only the first two bytes of the invalid sequence (f4 90) are sent', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const payload = Buffer.concat([KOSME, h('f4 90 80 80'), Buffer.from('edited')]);
  const f = cf({ opcode: OP_TEXT, payload });
  const headerLen = 2 + 4;
  await client.write(f.subarray(0, headerLen + KOSME.length));
  await client.write(f.subarray(headerLen + KOSME.length, headerLen + KOSME.length + 2));
  await expectFailFast(client);
});

test('6.x fail fast also for a large unfinished message: invalid byte first, 1 MiB announced', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const payload = Buffer.alloc(1024 * 1024, 0x61);
  payload[10] = 0xff;
  const f = cf({ opcode: OP_TEXT, payload });
  // Only the first 100 bytes of the frame: the server must not wait for the other megabyte.
  await client.write(f.subarray(0, 100));
  await expectFailFast(client);
});

test('6.x binary messages are never UTF-8 checked', async (t) => {
  const echo = await startEcho(t);
  const client = await echo.connect();
  const bytes = h('ed a0 80 ff fe c0 af');
  await expectEcho(
    client,
    [
      cf({ opcode: 0x2, payload: bytes }),
      cf({ opcode: 0x2, payload: bytes.subarray(0, 3), fin: false }),
      cf({ opcode: OP_CONT, payload: bytes.subarray(3) }),
    ],
    [
      { opcode: 0x2, payload: bytes },
      { opcode: 0x2, payload: bytes },
    ],
  );
});
