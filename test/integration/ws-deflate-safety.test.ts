/**
 * permessage-deflate (RFC 7692) on a real server over loopback sockets, with a raw client that speaks frames and an
 * independent zlib peer (test/helpers/deflate-peer.ts):
 * - decompression bomb: a small frame inflating to 256 MiB is failed with 1009 (RFC 6455 §7.4.1, §10.4) once
 *   past maxPayload, without the server allocating it (peak RSS of a server in a child process); the other
 *   connections go on;
 * - RSV1 (RFC 6455 §5.2, RFC 7692 §6.1): on a control frame or a continuation frame, or without the extension
 *   negotiated, the connection is failed with 1002;
 * - invalid DEFLATE data, and a compressed text message that inflates to invalid UTF-8 (RFC 6455 §8.1): 1007;
 * - a compressed message in several fragments (RSV1 on the first only, §6.1) is decoded;
 * - what the server sends: RSV1 by the `threshold`, none with `send(.., .., false)`, never on control frames
 *   (§6.1), fragmented compressed messages with RSV1 on the first frame only, order kept in a mixed burst;
 * - per-connection zlib contexts freed when connections end, and freed by `idleRelease` while the peer keeps
 *   its context (§7.1.1: it may refer back to earlier messages afterwards, and still does).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { SEND_DROPPED, type Server, type WebSocketOptions } from '../../src/index.js';
import { connectDeflate, DEFLATE_TAIL, type DeflateClient, zeroBomb } from '../helpers/deflate-peer.js';
import { startServer } from '../helpers/net.js';
import { closeBody, frame } from '../helpers/ws-frames.js';
import {
  connectRaw,
  delay,
  describe,
  OP_BINARY,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  type RawFrame,
  type RawWsClient,
} from '../helpers/ws-raw-client.js';

const { Z_SYNC_FLUSH } = zlib.constants;
const KiB = 1024;
const MiB = 1024 * 1024;
const THRESHOLD = 64;
/** The text the server echoes uncompressed (`send(text, false, false)`) after this prefix. */
const RAW = 'cmd:raw:';

/** Text made of words from a small vocabulary: compresses well, refers back a lot. */
function words(n: number, seed: number): string {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const vocab = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda'];
  let s = '';
  while (s.length < n) s += `${vocab[next() % vocab.length]}${next() % 100} `;
  return s.slice(0, n);
}

/**
 * The echo used by these tests, plus a few commands: `cmd:ping` (the server pings), `cmd:close` (it closes),
 * `cmd:frag:<text>` (it sends <text> as a compressed message in three fragments), `cmd:raw:<text>` (it sends
 * <text> with compress = false).
 */
const echoHandlers: WebSocketOptions = {
  message(ws, m, isBinary) {
    if (typeof m === 'string') {
      if (m === 'cmd:ping') {
        ws.ping('from-server');
        return;
      }
      if (m === 'cmd:close') {
        ws.close(1000, 'bye');
        return;
      }
      if (m.startsWith(RAW)) {
        ws.send(m.slice(RAW.length), false, false);
        return;
      }
      if (m.startsWith('cmd:frag:')) {
        const body = Buffer.from(m.slice('cmd:frag:'.length));
        const a = Math.floor(body.length / 3);
        ws.sendFragment(body.subarray(0, a), false, false);
        ws.sendFragment(body.subarray(a, 2 * a), false, false);
        ws.sendFragment(body.subarray(2 * a), true, false);
        return;
      }
    }
    ws.send(m, isBinary);
  },
};

interface Echo {
  server: Server;
  port: number;
  clients: RawWsClient[];
}

async function startDeflateEcho(t: TestContext, overrides: Partial<WebSocketOptions> = {}): Promise<Echo> {
  // Registered before startServer's hook: clients go first, so server.close() does not wait on them.
  const clients: RawWsClient[] = [];
  t.after(() => {
    for (const c of clients) c.destroy();
  });
  const server = await startServer(t, {
    websocket: { ...echoHandlers, perMessageDeflate: { threshold: THRESHOLD }, maxPayload: MiB, ...overrides },
  });
  return { server, port: server.port, clients };
}

/** A message read off the wire: its frames, type, whether compressed, and its (inflated) bytes. */
interface Received {
  opcode: number;
  rsv1: boolean;
  data: Buffer;
  frames: RawFrame[];
}

/** Reads data messages one after the other (skipping nothing: control frames are returned as one-frame messages). */
class MessageReader {
  readonly dc: DeflateClient;
  #cursor = 0;
  constructor(dc: DeflateClient) {
    this.dc = dc;
  }

  async next(timeoutMs = 3000): Promise<Received> {
    const client = this.dc.client;
    const frames: RawFrame[] = [];
    for (;;) {
      const want = this.#cursor + 1;
      await client.waitFrames(want, timeoutMs);
      const f = client.frames[this.#cursor++]!;
      frames.push(f);
      if (f.opcode >= 0x8) {
        assert.equal(frames.length, 1, 'control frame between fragments');
        return { opcode: f.opcode, rsv1: f.rsv1, data: f.payload, frames };
      }
      if (f.fin) break;
    }
    const first = frames[0]!;
    const payload = Buffer.concat(frames.map((f) => f.payload));
    const data = first.rsv1 ? await this.dc.decompressor.decompress(payload) : payload;
    return { opcode: first.opcode, rsv1: first.rsv1, data, frames };
  }
}

/** A client frame carrying `data` compressed (RSV1), by the client's peer compressor. */
async function compressedFrame(dc: DeflateClient, opcode: number, data: Buffer | string): Promise<Buffer> {
  const payload = await dc.compressor.compress(Buffer.from(data));
  return frame({ opcode, payload, rsv1: true });
}

function assertNoRsv(f: RawFrame, what: string): void {
  assert.equal(f.rsv1, false, `${what}: RSV1 clear`);
  assert.equal(f.rsv2, false, `${what}: RSV2 clear`);
  assert.equal(f.rsv3, false, `${what}: RSV3 clear`);
}

/** The client sees a close frame with `code` and the TCP connection end. */
async function expectFail(client: RawWsClient, code: number, what: string): Promise<void> {
  const out = await client.waitClosed();
  assert.equal(out.code, code, `${what}: close code; frames ${describe(out.frames)}`);
  assert.equal(out.tcpClosed, true, `${what}: TCP closed`);
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await delay(20);
  }
}

// ── Decompression bomb, in a child process whose peak memory we can read ─────────────────────────────────────

/** The server run in the child: echo with permessage-deflate and a 1 MiB maxPayload; `stats` prints figures. */
const CHILD_SERVER = `
const { serve } = await import(process.env.SOCKEYE_INDEX);
const server = await serve({
  host: '127.0.0.1',
  port: 0,
  websocket: { perMessageDeflate: true, maxPayload: 1048576, message(ws, m, isBinary) { ws.send(m, isBinary); } },
});
const print = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
print({ port: server.port });
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\\n'); i >= 0; i = buf.indexOf('\\n')) {
    const cmd = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (cmd === 'stats') {
      const s = server.stats();
      print({
        maxRss: process.resourceUsage().maxRSS * 1024,
        protocolErrors: s.websocket.protocolErrors,
        closeCodesFromServer: s.websocket.closeCodesFromServer,
        tooBig: s.deflate.tooBig,
      });
    }
  }
});
process.stdin.on('end', () => server.close({ deadline: 100 }).then(() => process.exit(0)));
`;

interface ChildStats {
  maxRss: number;
  protocolErrors: Record<string, number>;
  closeCodesFromServer: Record<string, number>;
  tooBig: number;
}

test('decompression bomb: 256 MiB of zeros in one small frame → 1009 at maxPayload 1 MiB, no 256 MiB allocated, others go on', async (t) => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SERVER], {
    env: { ...process.env, SOCKEYE_INDEX: new URL('../../src/index.js', import.meta.url).href },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const readLine = async (): Promise<unknown> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), 5000);
    });
    const r = await Promise.race([lines.next(), timeout]);
    clearTimeout(timer);
    assert.ok(r !== null && r.done !== true, 'the child server answered');
    return JSON.parse(r.value as string);
  };
  const stats = async (): Promise<ChildStats> => {
    child.stdin.write('stats\n');
    return (await readLine()) as ChildStats;
  };
  const { port } = (await readLine()) as { port: number };
  const clients: RawWsClient[] = [];
  t.after(() => {
    for (const c of clients) c.destroy();
  });

  const other = await connectDeflate(port, undefined, clients);
  assert.ok(other.agreed !== null, 'permessage-deflate agreed');
  const otherReader = new MessageReader(other);
  const hello = words(3000, 1);
  await other.client.write(await compressedFrame(other, OP_TEXT, hello));
  const first = await otherReader.next();
  assert.equal(first.rsv1, true);
  assert.equal(first.data.toString(), hello);

  const bomb = zeroBomb(256);
  assert.ok(bomb.length < 300 * KiB, `the bomb is ${bomb.length} bytes`);
  // Check the construction on a small one: it inflates to zeros.
  const small = zlib.inflateRawSync(Buffer.concat([zeroBomb(2), DEFLATE_TAIL]), { finishFlush: Z_SYNC_FLUSH });
  assert.ok(small.length === 2 * MiB && small.every((b) => b === 0));

  const before = await stats();
  const bomber = await connectDeflate(port, undefined, clients);
  await bomber.client.write(frame({ opcode: OP_BINARY, payload: bomb, rsv1: true }));
  await expectFail(bomber.client, 1009, 'bomb');
  // Close codes are counted when the server's socket closes: ask until it has.
  let after = await stats();
  for (let i = 0; i < 250 && after.closeCodesFromServer['1009'] === undefined; i++) {
    await delay(20);
    after = await stats();
  }
  assert.equal(after.closeCodesFromServer['1009'], 1, JSON.stringify(after));
  assert.equal(after.protocolErrors.ERR_WS_MESSAGE_TOO_BIG, 1);
  assert.equal(after.tooBig, before.tooBig + 1);
  const grew = after.maxRss - before.maxRss;
  assert.ok(grew < 64 * MiB, `peak RSS grew by ${(grew / MiB).toFixed(1)} MiB (the bomb inflates to 256 MiB)`);

  // The other connection goes on, its contexts intact (this message refers back to the first one).
  await other.client.write(await compressedFrame(other, OP_TEXT, hello));
  const again = await otherReader.next();
  assert.equal(again.data.toString(), hello);
  assert.equal(other.client.tcpClosed, false);
  child.stdin.end();
  await once(child, 'exit');
});

// ── RSV1 where it is not allowed: 1002 ──────────────────────────────────────────────────────────────────────

test('RFC 7692 §6.1 / RFC 6455 §5.2: RSV1 on a ping, with deflate negotiated → 1002', async (t) => {
  const echo = await startDeflateEcho(t);
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  assert.ok(dc.agreed !== null);
  await dc.client.write(frame({ opcode: OP_PING, payload: 'x', rsv1: true }));
  await expectFail(dc.client, 1002, 'RSV1 ping');
  assert.equal(echo.server.stats().websocket.protocolErrors.ERR_WS_RESERVED_BITS, 1);
});

test('RFC 7692 §6.1: RSV1 on a continuation frame → 1002 (after a compressed or an uncompressed first frame)', async (t) => {
  const echo = await startDeflateEcho(t);
  for (const firstCompressed of [true, false]) {
    const dc = await connectDeflate(echo.port, undefined, echo.clients);
    const text = words(500, 2);
    const first = firstCompressed
      ? await dc.compressor.compressWithTail(Buffer.from(text.slice(0, 250)))
      : Buffer.from(text.slice(0, 250));
    const rest = await dc.compressor.compress(Buffer.from(text.slice(250)));
    await dc.client.write([
      frame({ opcode: OP_TEXT, payload: first, fin: false, rsv1: firstCompressed }),
      frame({ opcode: OP_CONT, payload: rest, fin: true, rsv1: true }),
    ]);
    await expectFail(dc.client, 1002, `RSV1 continuation, first frame compressed: ${firstCompressed}`);
    assert.equal(dc.client.frames.length, 1, 'nothing but the close frame');
  }
});

test('RFC 6455 §5.2: RSV1 without permessage-deflate negotiated → 1002', async (t) => {
  // A server with deflate, a client that did not offer it.
  const withDeflate = await startDeflateEcho(t);
  const a = await connectRaw(withDeflate.port, {}, withDeflate.clients);
  assert.equal(a.response.headers.get('sec-websocket-extensions'), undefined);
  const payload = zlib.deflateRawSync(Buffer.from('hello'), { finishFlush: Z_SYNC_FLUSH }).subarray(0, -4);
  await a.write(frame({ opcode: OP_TEXT, payload, rsv1: true }));
  await expectFail(a, 1002, 'not offered');
  // A server without deflate, a client that offered it.
  const without = await startDeflateEcho(t, { perMessageDeflate: false });
  const b = await connectDeflate(without.port, undefined, without.clients);
  assert.equal(b.agreed, null, 'declined');
  await b.client.write(frame({ opcode: OP_TEXT, payload, rsv1: true }));
  await expectFail(b.client, 1002, 'not enabled');
  // Declined per connection by the upgrade hook.
  const declined = await startDeflateEcho(t, { upgrade: () => ({ perMessageDeflate: false }) });
  const c = await connectDeflate(declined.port, undefined, declined.clients);
  assert.equal(c.agreed, null, 'declined by the hook');
  await c.client.write(frame({ opcode: OP_BINARY, payload, rsv1: true }));
  await expectFail(c.client, 1002, 'declined by the hook');
});

// ── Invalid compressed data and invalid UTF-8: 1007 ─────────────────────────────────────────────────────────

test('invalid DEFLATE data in a compressed message → 1007', async (t) => {
  const echo = await startDeflateEcho(t);
  const cases: [string, Buffer][] = [
    ['reserved block type', Buffer.from([0x06, 0x00, 0x01, 0x02])],
    ['stored block with LEN != ~NLEN', Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5])],
  ];
  for (const [what, payload] of cases) {
    const dc = await connectDeflate(echo.port, undefined, echo.clients);
    await dc.client.write(frame({ opcode: OP_BINARY, payload, rsv1: true }));
    await expectFail(dc.client, 1007, what);
  }
  assert.equal(echo.server.stats().websocket.protocolErrors.ERR_WS_INVALID_COMPRESSED_DATA, cases.length);
});

test('RFC 6455 §8.1: compressed text that inflates to invalid UTF-8 → 1007; the same bytes as binary are echoed', async (t) => {
  const echo = await startDeflateEcho(t);
  // "κόσμε" followed by an encoded surrogate (ED A0 80) and "edited".
  const bad = Buffer.from('cebae1bdb9cf83cebcceb5eda08065646974656420'.repeat(4), 'hex');
  const bin = await connectDeflate(echo.port, undefined, echo.clients);
  const reader = new MessageReader(bin);
  await bin.client.write(await compressedFrame(bin, OP_BINARY, bad));
  const m = await reader.next();
  assert.equal(m.opcode, OP_BINARY);
  assert.ok(m.data.equals(bad));
  const text = await connectDeflate(echo.port, undefined, echo.clients);
  await text.client.write(await compressedFrame(text, OP_TEXT, bad));
  await expectFail(text.client, 1007, 'invalid UTF-8 once inflated');
  assert.equal(echo.server.stats().websocket.protocolErrors.ERR_WS_INVALID_UTF8, 1);
});

// ── Fragmentation ───────────────────────────────────────────────────────────────────────────────────────────

test('RFC 7692 §6.1: a compressed message in several fragments (RSV1 on the first only) is echoed', async (t) => {
  const echo = await startDeflateEcho(t);
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  const reader = new MessageReader(dc);
  const text = words(20000, 3);
  // 1. One compressed payload cut into four frames, one of them empty.
  const payload = await dc.compressor.compress(Buffer.from(text));
  const cuts = [0, 7, Math.floor(payload.length / 2), Math.floor(payload.length / 2), payload.length];
  const frames: Buffer[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    frames.push(
      frame({
        opcode: i === 0 ? OP_TEXT : OP_CONT,
        payload: payload.subarray(cuts[i], cuts[i + 1]),
        fin: i + 2 === cuts.length,
        rsv1: i === 0,
      }),
    );
  }
  await dc.client.write(frames);
  const a = await reader.next();
  assert.equal(a.opcode, OP_TEXT);
  assert.equal(a.rsv1, true);
  assert.equal(a.data.toString(), text);
  // 2. A streaming sender: each piece compressed and sync-flushed as it comes, the tail removed from the last.
  const pieces = [text.slice(0, 5000), text.slice(5000, 5001), text.slice(5001)];
  const parts = [
    await dc.compressor.compressWithTail(Buffer.from(pieces[0]!)),
    await dc.compressor.compressWithTail(Buffer.from(pieces[1]!)),
    await dc.compressor.compress(Buffer.from(pieces[2]!)),
  ];
  await dc.client.write([
    frame({ opcode: OP_BINARY, payload: parts[0], fin: false, rsv1: true }),
    frame({ opcode: OP_CONT, payload: parts[1], fin: false }),
    frame({ opcode: OP_CONT, payload: parts[2], fin: true }),
  ]);
  const b = await reader.next();
  assert.equal(b.opcode, OP_BINARY);
  assert.equal(b.data.toString(), text);
});

test('the server sends a fragmented compressed message with RSV1 on its first frame only', async (t) => {
  const echo = await startDeflateEcho(t);
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  const reader = new MessageReader(dc);
  for (const body of [words(3000, 4), words(3000, 4), 'tiny message']) {
    await dc.client.write(frame({ opcode: OP_TEXT, payload: `cmd:frag:${body}` }));
    const m = await reader.next();
    assert.equal(m.frames.length, 3);
    assert.deepEqual(
      m.frames.map((f) => [f.opcode, f.fin, f.rsv1]),
      [
        [OP_TEXT, false, true],
        [OP_CONT, false, false],
        [OP_CONT, true, false],
      ],
    );
    assert.equal(m.data.toString(), body);
  }
  // A whole message after them, on the same contexts.
  const text = words(2000, 5);
  await dc.client.write(await compressedFrame(dc, OP_TEXT, text));
  assert.equal((await reader.next()).data.toString(), text);
});

// ── What the server sends ───────────────────────────────────────────────────────────────────────────────────

test('threshold: below it RSV1 is clear, at and above it RSV1 is set; compress=false sends RSV1 clear', async (t) => {
  const echo = await startDeflateEcho(t);
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  const reader = new MessageReader(dc);
  for (const compressed of [false, true]) {
    for (const n of [0, 1, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 5000]) {
      const text = words(n, n + 1);
      await dc.client.write(
        compressed ? await compressedFrame(dc, OP_TEXT, text) : frame({ opcode: OP_TEXT, payload: text }),
      );
      const m = await reader.next();
      assert.equal(m.rsv1, n >= THRESHOLD, `${n} bytes: RSV1 ${n >= THRESHOLD}`);
      assert.equal(m.data.toString(), text);
      if (!m.rsv1) assert.equal(m.frames[0]!.payload.toString(), text, 'sent as is');
    }
  }
  // send(text, false, false): not compressed, whatever its size.
  const big = words(5000, 6);
  await dc.client.write(await compressedFrame(dc, OP_TEXT, RAW + big));
  const raw = await reader.next();
  assert.equal(raw.opcode, OP_TEXT);
  assertNoRsv(raw.frames[0]!, 'send(.., false, false)');
  assert.equal(raw.frames[0]!.payload.toString(), big);
  // And compression goes on afterwards.
  await dc.client.write(frame({ opcode: OP_TEXT, payload: big }));
  const after = await reader.next();
  assert.equal(after.rsv1, true);
  assert.equal(after.data.toString(), big);
});

test('RFC 7692 §6.1: control frames from the server are never compressed (pong, ping, close)', async (t) => {
  const echo = await startDeflateEcho(t, { perMessageDeflate: { threshold: 0 } });
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  const reader = new MessageReader(dc);
  const ping = 'hello hello hello hello hello hello';
  await dc.client.write(frame({ opcode: OP_PING, payload: ping }));
  const pong = await reader.next();
  assert.equal(pong.opcode, OP_PONG);
  assertNoRsv(pong.frames[0]!, 'pong');
  assert.equal(pong.data.toString(), ping);
  // With threshold 0 every data message is compressed: the control frames around them are not.
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'x' }));
  const x = await reader.next();
  assert.equal(x.rsv1, true);
  assert.equal(x.data.toString(), 'x');
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'cmd:ping' }));
  const srvPing = await reader.next();
  assert.equal(srvPing.opcode, OP_PING);
  assertNoRsv(srvPing.frames[0]!, 'ping');
  assert.equal(srvPing.data.toString(), 'from-server');
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'cmd:close' }));
  const close = await reader.next();
  assert.equal(close.opcode, OP_CLOSE);
  assertNoRsv(close.frames[0]!, 'close');
  assert.ok(close.data.equals(closeBody(1000, 'bye')));
  await dc.client.write(frame({ opcode: OP_CLOSE, payload: closeBody(1000) }));
  const out = await dc.client.waitClosed();
  assert.equal(out.tcpClosed, true);
});

test('order is kept in a burst of 200 mixed compressed and uncompressed messages', async (t) => {
  const echo = await startDeflateEcho(t);
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  const reader = new MessageReader(dc);
  const sent: { opcode: number; data: Buffer }[] = [];
  const frames: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const n = [10, THRESHOLD + 40, 3000, THRESHOLD - 1][i % 4]!;
    const data = Buffer.from(`#${i}:${words(n, i + 10)}`);
    const opcode = i % 3 === 0 ? OP_BINARY : OP_TEXT;
    sent.push({ opcode, data });
    frames.push(i % 2 === 0 ? await compressedFrame(dc, opcode, data) : frame({ opcode, payload: data }));
  }
  await dc.client.write(frames);
  for (const [i, s] of sent.entries()) {
    const m = await reader.next();
    assert.equal(m.opcode, s.opcode, `#${i}: type`);
    assert.equal(m.rsv1, s.data.length >= THRESHOLD, `#${i}: RSV1`);
    assert.ok(m.data.equals(s.data), `#${i}: ${m.data.subarray(0, 12).toString()}… in place of #${i}`);
  }
});

// ── The compression context holds exactly what the peer received ────────────────────────────────────────

test('RFC 7692 §7.1.1: a message dropped under backpressure (policy drop) leaves no trace in the compression context', async (t) => {
  // With context takeover the peer inflates with the window of the messages it received; a message the server
  // compressed but then did not send must not be in the server's window, or a later message that refers back to
  // it is inflated into other bytes (or fails).
  const a = Buffer.from(`${'A'.repeat(10)}${Array.from({ length: 3000 }, (_, i) => `a${i}`).join(',')}`);
  const b = Buffer.from(Array.from({ length: 800 }, (_, i) => `b${i * 7}`).join(';'));
  const results: number[] = [];
  const echo = await startDeflateEcho(t, {
    perMessageDeflate: { serverNoContextTakeover: false, threshold: 0 },
    maxBackpressure: 5000,
    backpressurePolicy: 'drop',
    message(ws, m) {
      if (m === 'burst') results.push(ws.send(a, true), ws.send(b, true));
      else results.push(ws.send(b, true));
    },
  });
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  assert.equal(dc.agreed?.serverNoContextTakeover, false);
  const reader = new MessageReader(dc);
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'burst' }));
  const first = await reader.next();
  assert.ok(first.data.equals(a), 'the first message');
  assert.equal(results[1], SEND_DROPPED, 'the second one was dropped (the premise of this test)');
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'again' }));
  await dc.client.waitFrames(2);
  let second: Buffer | Error;
  try {
    second = await dc.decompressor.decompress(dc.client.frames[1]!.payload);
  } catch (e) {
    second = e as Error;
  }
  assert.ok(
    Buffer.isBuffer(second) && second.equals(b),
    `the message sent after the drop: ${Buffer.isBuffer(second) ? `other bytes: ${second.subarray(0, 24)}…` : second.message}`,
  );
});

test('RFC 7692 §7.1.1: send() refused during a compressed fragmented message leaves that message intact', async (t) => {
  const part = Buffer.from(Array.from({ length: 500 }, (_, i) => `p${i}`).join(','));
  const other = Buffer.from(Array.from({ length: 500 }, (_, i) => `o${i * 7}`).join(';'));
  const errors: string[] = [];
  const echo = await startDeflateEcho(t, {
    perMessageDeflate: { serverNoContextTakeover: false, threshold: 0 },
    message(ws) {
      ws.sendFragment(part, false, true);
      try {
        ws.send(other, true);
      } catch (e) {
        errors.push((e as Error).name);
      }
      ws.sendFragment(part, true);
    },
  });
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  await dc.client.write(frame({ opcode: OP_TEXT, payload: 'go' }));
  await dc.client.waitFrames(2);
  assert.deepEqual(errors, ['InvalidStateError'], 'another message cannot start inside a fragmented one');
  const payload = Buffer.concat(dc.client.frames.slice(0, 2).map((f) => f.payload));
  let got: Buffer | Error;
  try {
    got = await dc.decompressor.decompress(payload);
  } catch (e) {
    got = e as Error;
  }
  assert.ok(
    Buffer.isBuffer(got) && got.equals(Buffer.concat([part, part])),
    `the fragmented message: ${Buffer.isBuffer(got) ? `${got.length} other bytes` : got.message}`,
  );
});

// ── Resources ───────────────────────────────────────────────────────────────────────────────────────────────

test('per-connection zlib contexts are freed when connections end (close handshake, server close, drop)', async (t) => {
  // Context takeover both ways: each connection has a compressor and a decompressor of its own.
  const echo = await startDeflateEcho(t, {
    perMessageDeflate: { threshold: THRESHOLD, idleRelease: 0, serverNoContextTakeover: false },
  });
  const baseline = echo.server.stats().deflate!.contexts;
  const conns: { dc: DeflateClient; reader: MessageReader }[] = [];
  for (let i = 0; i < 5; i++) {
    const dc = await connectDeflate(echo.port, undefined, echo.clients);
    assert.equal(dc.agreed?.serverNoContextTakeover, false);
    const reader = new MessageReader(dc);
    const text = words(2000, 20 + i);
    await dc.client.write(await compressedFrame(dc, OP_TEXT, text));
    const m = await reader.next();
    assert.equal(m.rsv1, true);
    assert.equal(m.data.toString(), text);
    conns.push({ dc, reader });
  }
  let s = echo.server.stats().deflate!;
  assert.equal(s.connectionsHoldingContexts, 5);
  assert.equal(s.contexts, baseline + 10, 'a compressor and a decompressor per connection');
  // Two close handshakes started by the client, one by the server, two connections dropped.
  for (const { dc } of conns.slice(0, 2)) await dc.client.write(frame({ opcode: OP_CLOSE, payload: closeBody(1000) }));
  const byServer = conns[2]!;
  await byServer.dc.client.write(frame({ opcode: OP_TEXT, payload: 'cmd:close' }));
  assert.equal((await byServer.reader.next()).opcode, OP_CLOSE);
  await byServer.dc.client.write(frame({ opcode: OP_CLOSE, payload: closeBody(1000) }));
  conns[3]!.dc.client.destroy();
  conns[4]!.dc.client.destroy();
  await waitFor(() => echo.server.stats().connections.wsOpen + echo.server.stats().connections.wsClosing === 0, 'ends');
  await waitFor(() => echo.server.stats().deflate!.contexts === baseline, 'contexts freed');
  s = echo.server.stats().deflate!;
  assert.equal(s.connectionsHoldingContexts, 0);
  assert.equal(s.contexts, baseline);
});

test('idleRelease 300 ms: an idle connection holds no contexts, and later back-references still decode', async (t) => {
  const echo = await startDeflateEcho(t, {
    perMessageDeflate: { threshold: THRESHOLD, idleRelease: 300, serverNoContextTakeover: false },
  });
  const dc = await connectDeflate(echo.port, undefined, echo.clients);
  assert.equal(dc.agreed?.serverNoContextTakeover, false, 'context takeover both ways');
  const reader = new MessageReader(dc);
  const history: string[] = [];
  for (let i = 0; i < 6; i++) {
    // Each message repeats pieces of the earlier ones: the peer's compressor refers back to them.
    const text = `${words(4000, 30 + i)} ${history.map((h) => h.slice(100, 400)).join('|')}`;
    history.push(text);
    await dc.client.write(await compressedFrame(dc, OP_TEXT, text));
    const m = await reader.next();
    assert.equal(m.rsv1, true);
    assert.equal(m.data.toString(), text);
  }
  const stats = () => echo.server.stats().deflate!;
  assert.equal(stats().connectionsHoldingContexts, 1, 'contexts in use right after traffic');
  const released = stats().released;
  await waitFor(() => stats().connectionsHoldingContexts === 0, 'the contexts to be released after idling', 5000);
  assert.equal(stats().connectionsHoldingContexts, 0, 'released after idling');
  assert.equal(stats().released, released + 2, 'its compressor and decompressor');
  // The peer kept its context: this message refers back to the earlier ones (it cannot be inflated alone).
  const text = history.slice(2).join(' ');
  const payload = await dc.compressor.compress(Buffer.from(text));
  assert.throws(() => zlib.inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { finishFlush: Z_SYNC_FLUSH }));
  await dc.client.write(frame({ opcode: OP_TEXT, payload, rsv1: true }));
  const m = await reader.next();
  assert.equal(m.rsv1, true);
  assert.equal(m.data.toString(), text, 'echo after the release');
  // Both directions keep working on the rebuilt contexts.
  const more = `${text.slice(0, 3000)} and more`;
  await dc.client.write(await compressedFrame(dc, OP_TEXT, more));
  assert.equal((await reader.next()).data.toString(), more);
  assert.equal(stats().connectionsHoldingContexts, 1);
});
