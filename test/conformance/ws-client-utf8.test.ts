/**
 * Client conformance, Autobahn TestSuite section 6 (UTF-8 handling, RFC 6455 §5.6 and §8.1) against our
 * `WebSocket` client over loopback with a raw scripted server: valid multi-byte texts (boundaries,
 * noncharacters, BOM) reach the page as the same string however they are fragmented or split; invalid sequences
 * (overlong, surrogates, > U+10FFFF, truncated, stray continuation bytes) fail with 1007 on the wire and error +
 * close 1006 on the page; and an invalid sequence is caught as soon as it arrives (in the first fragment, or in
 * the first piece of a frame) without waiting for the message to end, at every split position.
 * "Detectably invalid" is decided by an independent reference: the WHATWG streaming `TextDecoder` with `fatal`.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { h, INVALID, KOSME, VALID } from '../fixtures/ws/utf8-vectors.js';
import { OP_BINARY, OP_CONT, OP_TEXT } from '../helpers/ws-raw-client.js';
import {
  expectClientFail,
  expectDelivered,
  expectServerClose,
  openClient,
  sf,
  startRawServer,
} from '../helpers/ws-raw-server.js';

/**
 * Whether `prefix` can no longer be the start of valid UTF-8, by the WHATWG decoder (streaming, fatal): an
 * implementation that fails fast must fail as soon as it has seen these bytes.
 */
function detectablyInvalid(prefix: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(prefix, { stream: true });
    return false;
  } catch {
    return true;
  }
}

const BAD_631 = (INVALID[0] as [string, Buffer])[1];

test('6.x the reference: 6.3.1 becomes detectably invalid at its 13th byte (ed a0)', () => {
  const first = [...Array(BAD_631.length + 1).keys()].find((n) => detectablyInvalid(BAD_631.subarray(0, n)));
  assert.equal(first, 13);
});

test('6.2 valid UTF-8 texts reach the page as the same strings, whole and one byte per read', async (t) => {
  const server = await startRawServer(t);
  const frames = VALID.map(([, payload]) => sf({ opcode: OP_TEXT, payload }));
  const expected = VALID.map(([, payload]) => payload.toString('utf8'));
  for (const options of [{}, { chunkSize: 1, gapMs: 0 }]) {
    const c = await openClient(t, server, { echo: true });
    // The page's echo must carry the same bytes (the string round-trips, BOM and U+0000 included).
    await expectDelivered(c, frames, expected, {
      ...options,
      sent: VALID.map(([, payload]) => ({ opcode: OP_TEXT, payload })),
    });
  }
});

test('6.x valid text split at every byte position across two and three fragments', async (t) => {
  const server = await startRawServer(t);
  const text = Buffer.from('κόσμε-😀-€-ß-𝄞-A');
  const frames: Buffer[] = [];
  let messages = 0;
  for (let i = 0; i <= text.length; i++) {
    frames.push(sf({ opcode: OP_TEXT, payload: text.subarray(0, i), fin: false }));
    frames.push(sf({ opcode: OP_CONT, payload: text.subarray(i) }));
    messages++;
    for (let j = i; j <= text.length; j++) {
      frames.push(sf({ opcode: OP_TEXT, payload: text.subarray(0, i), fin: false }));
      frames.push(sf({ opcode: OP_CONT, payload: text.subarray(i, j), fin: false }));
      frames.push(sf({ opcode: OP_CONT, payload: text.subarray(j) }));
      messages++;
    }
  }
  const c = await openClient(t, server);
  await expectDelivered(
    c,
    frames,
    Array.from({ length: messages }, () => text.toString()),
  );
});

test('6.x one valid text frame split into two reads at every byte position', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const f = sf({ opcode: OP_TEXT, payload: Buffer.from('κόσμε😀€') });
  for (let i = 1; i < f.length; i++) {
    await c.conn.write(f.subarray(0, i));
    await new Promise<void>((r) => setImmediate(r));
    await c.conn.write(f.subarray(i));
    await c.events.waitMessages(i);
  }
  await expectDelivered(
    c,
    [],
    Array.from({ length: f.length - 1 }, () => 'κόσμε😀€'),
  );
});

test('6.2.4 valid text sent as one fragment per byte', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const text = Buffer.from('κόσμε😀');
  const frames = [...text].map((b, i) =>
    sf({ opcode: i === 0 ? OP_TEXT : OP_CONT, payload: Buffer.from([b]), fin: i === text.length - 1 }),
  );
  await expectDelivered(c, frames, [text.toString()]);
});

for (const [name, payload] of INVALID) {
  test(`6.x invalid UTF-8 → 1007: ${name}`, async (t) => {
    const server = await startRawServer(t);
    // As one frame, and as two fragments split in the middle, each after a good message and followed by one
    // that must never reach the page.
    const mid = payload.length >> 1;
    for (const frames of [
      [sf({ opcode: OP_TEXT, payload })],
      [
        sf({ opcode: OP_TEXT, payload: payload.subarray(0, mid), fin: false }),
        sf({ opcode: OP_CONT, payload: payload.subarray(mid) }),
      ],
    ]) {
      const c = await openClient(t, server);
      await expectClientFail(
        c,
        [sf({ opcode: OP_TEXT, payload: 'good' }), ...frames, sf({ opcode: OP_TEXT, payload: 'after' })],
        1007,
        { before: ['good'] },
      );
    }
  });
}

test('6.x invalid 6.3.1 split at every position across two fragments → 1007; fail fast on the first', async (t) => {
  const server = await startRawServer(t);
  for (let i = 0; i <= BAD_631.length; i++) {
    const c = await openClient(t, server);
    const first = sf({ opcode: OP_TEXT, payload: BAD_631.subarray(0, i), fin: false });
    // When the first fragment already holds the bad byte, the second is never sent: the client must not wait
    // for the end of the message (Autobahn 6.4.x).
    const bytes = detectablyInvalid(BAD_631.subarray(0, i))
      ? [first]
      : [first, sf({ opcode: OP_CONT, payload: BAD_631.subarray(i) })];
    await expectClientFail(c, bytes, 1007);
  }
});

test('6.x invalid 6.3.1 in one frame, split into two reads at every position → 1007; fail fast', async (t) => {
  const server = await startRawServer(t);
  const f = sf({ opcode: OP_TEXT, payload: BAD_631 });
  const header = 2;
  for (let i = 1; i < f.length; i++) {
    const c = await openClient(t, server);
    const seen = BAD_631.subarray(0, Math.max(0, i - header));
    if (detectablyInvalid(seen)) {
      // The rest of the frame is never sent.
      await expectClientFail(c, f.subarray(0, i), 1007);
    } else {
      await c.conn.write(f.subarray(0, i));
      await new Promise<void>((r) => setImmediate(r));
      await expectClientFail(c, f.subarray(i), 1007);
    }
  }
});

test('6.x invalid UTF-8 text written one byte per read → 1007', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await expectClientFail(c, sf({ opcode: OP_TEXT, payload: h('ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80') }), 1007, {
    chunkSize: 1,
    gapMs: 0,
  });
});

// ── Fail fast (Autobahn 6.4.x) ─────────────────────────────────────────────────────────────────────────────

test('6.4.1 invalid bytes in the first fragment of an unfinished message → 1007 before the message ends', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  // Fragment 1: κόσμε + f4 90 80 80 (> U+10FFFF). Fragment 2 is never sent.
  await expectClientFail(
    c,
    sf({ opcode: OP_TEXT, payload: Buffer.concat([KOSME, h('f4 90 80 80')]), fin: false }),
    1007,
  );
});

test('6.4.2 valid first fragment, invalid second fragment of three → 1007 before the third', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  await c.conn.send({ opcode: OP_TEXT, payload: Buffer.concat([KOSME, h('f4')]), fin: false });
  await expectClientFail(c, sf({ opcode: OP_CONT, payload: h('90 80 80'), fin: false }), 1007);
});

test('6.4.3/6.4.4 a text frame whose invalid bytes arrive before the rest of its payload → 1007 at once', async (t) => {
  const server = await startRawServer(t);
  const payload = Buffer.concat([KOSME, h('f4 90 80 80'), Buffer.from('edited')]);
  const f = sf({ opcode: OP_TEXT, payload });
  const headerLen = 2;
  for (const invalidBytes of [4, 2]) {
    const c = await openClient(t, server);
    // Read 1: header + κόσμε; read 2: (part of) the invalid sequence; "edited" is never sent.
    await c.conn.write(f.subarray(0, headerLen + KOSME.length));
    await new Promise<void>((r) => setImmediate(r));
    await expectClientFail(c, f.subarray(headerLen + KOSME.length, headerLen + KOSME.length + invalidBytes), 1007);
  }
});

test('6.x fail fast also for a large unfinished message: invalid byte first, 1 MiB announced', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const payload = Buffer.alloc(1024 * 1024, 0x61);
  payload[10] = 0xff;
  // Only the first 100 bytes of the frame: the client must not wait for the other megabyte.
  await expectClientFail(c, sf({ opcode: OP_TEXT, payload }).subarray(0, 100), 1007);
});

test('6.x binary messages are never UTF-8 checked', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  const bytes = h('ed a0 80 ff fe c0 af');
  await expectDelivered(
    c,
    [
      sf({ opcode: OP_BINARY, payload: bytes }),
      sf({ opcode: OP_BINARY, payload: bytes.subarray(0, 3), fin: false }),
      sf({ opcode: OP_CONT, payload: bytes.subarray(3) }),
    ],
    [bytes, bytes],
  );
});

test('6.x strings the page sends with lone surrogates go out as valid UTF-8 (USVString: U+FFFD)', async (t) => {
  const server = await startRawServer(t);
  const c = await openClient(t, server);
  c.ws.send('x\uD800y\uDC00z');
  c.ws.send('😀'.slice(0, 1));
  await c.conn.waitFrames(2);
  await expectServerClose(c, 1000, 'bye', [
    { opcode: OP_TEXT, payload: Buffer.from('78efbfbd79efbfbd7a', 'hex') },
    { opcode: OP_TEXT, payload: Buffer.from('efbfbd', 'hex') },
  ]);
});
