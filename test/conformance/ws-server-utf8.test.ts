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
import { describe, OP_CONT, OP_TEXT, type RawWsClient } from '../helpers/ws-raw-client.js';

const h = (hex: string) => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const KOSME = Buffer.from('κόσμε');

/** Valid UTF-8 (RFC 3629), including boundary code points and noncharacters (valid in UTF-8). */
const VALID: [string, Buffer][] = [
  ['Hello-µ@ßöäüàá-UTF-8!!', Buffer.from('Hello-µ@ßöäüàá-UTF-8!!')],
  ['κόσμε', KOSME],
  ['U+0000', h('00')],
  ['U+007F', h('7f')],
  ['U+0080', h('c2 80')],
  ['U+07FF', h('df bf')],
  ['U+0800', h('e0 a0 80')],
  ['U+D7FF', h('ed 9f bf')],
  ['U+E000', h('ee 80 80')],
  ['U+FEFF (BOM)', h('ef bb bf')],
  ['U+FFFD', h('ef bf bd')],
  ['U+FFFE (noncharacter)', h('ef bf be')],
  ['U+FFFF (noncharacter)', h('ef bf bf')],
  ['U+10000', h('f0 90 80 80')],
  ['U+1F600', Buffer.from('😀')],
  ['U+10FFFF', h('f4 8f bf bf')],
  ['mixed', Buffer.from('a€𝄞ß中😀z')],
];

/** Invalid UTF-8: each must fail the connection with 1007 (RFC 6455 §8.1). */
const INVALID: [string, Buffer][] = [
  ['6.3.1 κόσμε + surrogate + "edited"', h('ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64')],
  ['lone continuation 0x80', h('80')],
  ['lone continuation 0xbf', h('bf')],
  ['continuations 80 bf 80', h('80 bf 80')],
  ['0xfe', h('fe')],
  ['0xff', h('ff')],
  ['fe fe ff ff', h('fe fe ff ff')],
  ['lead byte followed by a space', h('c0 20')],
  ['overlong "/" (c0 af)', h('c0 af')],
  ['overlong NUL (c0 80)', h('c0 80')],
  ['overlong U+007F (c1 bf)', h('c1 bf')],
  ['overlong 3-byte (e0 80 af)', h('e0 80 af')],
  ['overlong U+07FF (e0 9f bf)', h('e0 9f bf')],
  ['overlong 4-byte (f0 80 80 af)', h('f0 80 80 af')],
  ['overlong U+FFFF (f0 8f bf bf)', h('f0 8f bf bf')],
  ['surrogate U+D800', h('ed a0 80')],
  ['surrogate U+DFFF', h('ed bf bf')],
  ['surrogate pair', h('ed a0 80 ed b0 80')],
  ['U+110000 (f4 90 80 80)', h('f4 90 80 80')],
  ['f5 lead', h('f5 80 80 80')],
  ['f7 bf bf bf', h('f7 bf bf bf')],
  ['5-byte form', h('f8 88 80 80 80')],
  ['6-byte form', h('fc 84 80 80 80 80')],
  ['truncated 2-byte at end', h('c2')],
  ['truncated 3-byte at end', h('e0 a0')],
  ['truncated 4-byte at end', h('f0 90 80')],
  ['κόσμε + truncated', Buffer.concat([KOSME, h('ce')])],
  ['truncated then ASCII', h('e1 80 41')],
];

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
