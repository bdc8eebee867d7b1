/**
 * ws/protocol.ts, streaming receive (`streamThreshold` with a handler that has `onMessageChunk`): which messages
 * are streamed (threshold on the first frame's payload length; compressed ones never; none without
 * `onMessageChunk`), the pieces (concatenation, `first`/`last`, one read's worth at most) at every split of the
 * input, plain and shared (ephemeral) reads, masking at odd offsets, control frames split across reads next to
 * streamed messages, UTF-8 checked before a piece is handed on (1007), maxPayload (1009 from the header alone),
 * 16 MiB messages, and `bufferedBytes` (a streamed message holds nothing).
 *
 * Only messages sent as one frame are streamed (their size is checked against maxPayload before the first
 * piece): a fragmented message comes whole to `onMessage`, whatever the size of its first frame.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from '../../../src/ws/frame.js';
import { WS_CLOSING, WS_OPEN, WsProtocol } from '../../../src/ws/protocol.js';
import {
  ArraySink,
  allSplits,
  type CoreOptions,
  closeBody,
  closeCodeOf,
  feedCopies,
  frame,
  makeCore,
  type Outcome,
  outcome,
  RecordingHandler,
  runCore,
  SIDE_CLIENT,
  SIDE_SERVER,
  stream,
  type WsEvent,
} from '../../helpers/ws-frames.js';

const TEXT = OP_TEXT;
const BIN = OP_BINARY;
const CONT = OP_CONTINUATION;
/** Streaming threshold of most tests: small, so that every split of a stream stays cheap to try. */
const T = 16;
/** A piece handed to `onMessageChunk` (a copy of it). */
interface Chunk {
  binary: boolean;
  data: Buffer;
  first: boolean;
  last: boolean;
}

/** A recorded step: a piece, or one of RecordingHandler's events, in the order they happened. */
type Step = ['chunk', Chunk] | WsEvent;

/** RecordingHandler plus `onMessageChunk`: keeps copies of the pieces, and a trace of pieces and events in order. */
class StreamingHandler extends RecordingHandler {
  chunks: Chunk[] = [];
  trace: Step[] = [];
  constructor() {
    super();
    this.after = (e) => {
      this.trace.push(e);
    };
  }
  onMessageChunk(binary: boolean, data: Buffer, first: boolean, last: boolean): void {
    // Copied: from ephemeral reads a piece is valid during the call only.
    const c = { binary, data: Buffer.from(data), first, last };
    this.chunks.push(c);
    this.trace.push(['chunk', c]);
  }
}

interface StreamCore {
  ws: WsProtocol;
  handler: StreamingHandler;
  sink: ArraySink;
}

function makeStreamCore(options: CoreOptions = {}): StreamCore {
  return makeCore({ streamThreshold: T, ...options }, new StreamingHandler());
}

function feed(core: StreamCore, chunks: readonly Buffer[], ephemeral = false): void {
  feedCopies(core.ws, chunks, ephemeral);
}

/** Feeds `chunks` to a fresh streaming core. */
function runStream(
  chunks: readonly Buffer[],
  options: CoreOptions & { streamThreshold?: number } = {},
  ephemeral = false,
): StreamCore {
  const core = makeStreamCore(options);
  feed(core, chunks, ephemeral);
  return core;
}

/** The trace with each run of consecutive pieces merged into one step (their bytes joined, flags kept). */
function merged(trace: Step[]): unknown[] {
  const out: unknown[] = [];
  let run: Chunk[] = [];
  const flush = () => {
    if (run.length === 0) return;
    out.push([
      'chunks',
      run[0]!.binary ? 'binary' : 'text',
      Buffer.concat(run.map((c) => c.data)).toString('hex'),
      run[0]!.first,
      run.at(-1)!.last,
    ]);
    run = [];
  };
  for (const s of trace) {
    if (s[0] === 'chunk') run.push(s[1]);
    else {
      flush();
      out.push(s);
    }
  }
  flush();
  return out;
}

/** The streamed messages: pieces grouped by message (a message that did not end is the last group). */
function messagesOf(chunks: Chunk[]): Chunk[][] {
  const out: Chunk[][] = [];
  for (const c of chunks) {
    if (c.first) out.push([]);
    const cur = out.at(-1);
    assert.ok(cur !== undefined, 'the first piece of a message has first=true');
    cur.push(c);
  }
  return out;
}

/** Checks the flags of one message's pieces: `first` on the first only, `last` on the last only (if ended). */
function assertFlags(pieces: Chunk[], ended: boolean): void {
  pieces.forEach((c, i) => {
    assert.equal(c.first, i === 0, `piece #${i} first`);
    assert.equal(c.last, ended && i === pieces.length - 1, `piece #${i} last`);
    // Empty pieces mid-message are not handed on; the last piece is, even when empty.
    if (!c.last) assert.ok(c.data.length > 0, `piece #${i} (not the last) is empty`);
    assert.equal(c.binary, pieces[0]!.binary, 'the type is the message type');
  });
}

/** Every split of `bytes` (whole, byte by byte, every two-way split), plain and as shared reads. */
function* everySplit(bytes: Buffer): Generator<[Buffer[], boolean, string]> {
  let n = 0;
  for (const chunks of allSplits(bytes)) {
    const name = `split #${n++} (${chunks.map((c) => c.length).join('+')})`;
    yield [chunks, false, name];
    yield [chunks, true, `${name}, ephemeral`];
  }
}

/** xorshift32: seeded cuts for random splits. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** `bytes` cut into reads of random sizes (1 to `max` bytes). */
function randomReads(bytes: Buffer, next: () => number, max: number): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p < bytes.length) {
    const n = 1 + (next() % max);
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

/** Bytes 0, 1, 2, ... (mod 251) so that a misplaced or repeated byte shows. */
function pattern(n: number, start = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) % 251;
  return b;
}

const hexOf = (b: Buffer | string): string => (typeof b === 'string' ? Buffer.from(b) : b).toString('hex');

/** Asserts the outcome is one failure with `closeCode`/`code`, announced by one close frame. */
function assertFailed(o: Outcome, closeCode: number, code: string): void {
  assert.deepEqual(
    o.events.filter((e) => e[0] === 'error'),
    [['error', closeCode, code]],
  );
  assert.deepEqual(o.events.at(-1), ['error', closeCode, code]);
  const closes = o.written.filter((f) => f.opcode === OP_CLOSE);
  assert.equal(closes.length, 1, 'one close frame');
  assert.equal(closeCodeOf(closes[0]!.payload), closeCode);
  assert.equal(o.state, WS_CLOSING);
}

describe('which messages are streamed', () => {
  it('a first frame of threshold bytes is streamed, one byte less goes to onMessage', () => {
    const big = pattern(T);
    const small = pattern(T - 1, 7);
    const { handler } = runStream([
      stream(frame({ opcode: BIN, payload: big }), frame({ opcode: BIN, payload: small })),
    ]);
    assert.deepEqual(merged(handler.trace), [
      ['chunks', 'binary', big.toString('hex'), true, true],
      ['message', 'binary', small.toString('hex'), false],
    ]);
    assert.equal(handler.chunks.length, 1, 'a message in one read is one piece');
  });

  it('text too: streamed as UTF-8 bytes, others whole', () => {
    const big = 'é'.repeat(T / 2); // T bytes
    const { handler } = runStream([
      stream(frame({ opcode: TEXT, payload: big }), frame({ opcode: TEXT, payload: 'small' })),
    ]);
    assert.deepEqual(merged(handler.trace), [
      ['chunks', 'text', hexOf(big), true, true],
      ['message', 'text', 'small', false],
    ]);
    assert.equal(handler.chunks[0]!.binary, false);
  });

  it('a small first frame then big continuations is not streamed, at any split', () => {
    const big = 'x'.repeat(5 * T);
    const bytes = stream(
      frame({ opcode: TEXT, fin: false, payload: 'ab' }),
      frame({ opcode: CONT, fin: false, payload: big }),
      frame({ opcode: CONT, payload: big }),
    );
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const { handler } = runStream(chunks, {}, ephemeral);
      assert.deepEqual(handler.chunks, [], name);
      assert.deepEqual(handler.events, [['message', 'text', `ab${big}${big}`, false]], name);
    }
  });

  it('the threshold is on the first frame, not the message: many small fragments make a whole message', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      frames.push(frame({ opcode: i === 0 ? BIN : CONT, fin: i === 19, payload: pattern(T - 1, i) }));
    }
    const { handler } = runStream([stream(...frames)]);
    assert.deepEqual(handler.chunks, []);
    assert.equal(handler.events.length, 1);
    assert.equal(handler.events[0]![0], 'message');
  });

  it('streamThreshold 0 streams every message, an empty one as one empty piece with first and last', () => {
    const bytes = stream(frame({ opcode: TEXT }), frame({ opcode: BIN, payload: 'q' }));
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const { handler } = runStream(chunks, { streamThreshold: 0 }, ephemeral);
      assert.deepEqual(
        handler.chunks.map((c) => [c.binary, c.data.toString('hex'), c.first, c.last]),
        [
          [false, '', true, true],
          [true, '71', true, true],
        ],
        name,
      );
      assert.deepEqual(handler.events, [], name);
    }
  });

  it('each message starts afresh: first again on the next streamed message, onMessage in between', () => {
    const bytes = stream(
      frame({ opcode: BIN, payload: pattern(T) }),
      frame({ opcode: TEXT, payload: 'mid' }),
      frame({ opcode: TEXT, payload: `${'y'.repeat(T)}end` }),
    );
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const { handler } = runStream(chunks, {}, ephemeral);
      assert.deepEqual(
        merged(handler.trace),
        [
          ['chunks', 'binary', pattern(T).toString('hex'), true, true],
          ['message', 'text', 'mid', false],
          ['chunks', 'text', hexOf(`${'y'.repeat(T)}end`), true, true],
        ],
        name,
      );
      for (const m of messagesOf(handler.chunks)) assertFlags(m, true);
    }
  });

  it('a continuation after a streamed message fails with 1002 (the message is over)', () => {
    const core = runStream([
      stream(frame({ opcode: BIN, payload: pattern(T) }), frame({ opcode: CONT, payload: 'x' })),
    ]);
    assertFailed(outcome(core.ws, core.handler, core.sink), 1002, 'ERR_WS_UNEXPECTED_CONTINUATION');
    assert.equal(core.handler.chunks.length, 1);
  });
});

describe('pieces at any split of the input', () => {
  // Streamed text with characters cut by reads, a ping, a small message and a streamed binary one (64-bit length).
  const text = `${'aé€😀'.repeat(6)}end`;
  const tb = Buffer.from(text);
  const bin = pattern(3 * T + 5, 9);
  const pingData = pattern(30, 200);
  const bytes = stream(
    frame({ opcode: TEXT, payload: tb, mask: Buffer.from([0xa1, 0xb2, 0xc3, 0xd4]) }),
    frame({ opcode: OP_PING, payload: pingData }),
    frame({ opcode: TEXT, payload: 'small' }),
    frame({ opcode: BIN, payload: bin, lengthBits: 64, mask: Buffer.from([0xff, 0, 0x7f, 0x80]) }),
    frame({ opcode: OP_PONG, payload: 'pong' }),
  );
  const expected = [
    ['chunks', 'text', tb.toString('hex'), true, true],
    ['ping', pingData.toString('hex')],
    ['message', 'text', 'small', false],
    ['chunks', 'binary', bin.toString('hex'), true, true],
    ['pong', hexOf('pong')],
  ];

  /** Pieces joined per message equal the messages, flags exact, control frames in their place. */
  function check(core: StreamCore, name: string): void {
    const { handler } = core;
    assert.deepEqual(merged(handler.trace), expected, name);
    const msgs = messagesOf(handler.chunks);
    assert.equal(msgs.length, 2, name);
    for (const m of msgs) assertFlags(m, true);
    assert.ok(Buffer.concat(msgs[0]!.map((c) => c.data)).equals(tb), name);
    assert.ok(Buffer.concat(msgs[1]!.map((c) => c.data)).equals(bin), name);
  }

  it('whole, byte by byte and every two-way split, plain and as shared reads', () => {
    const reference = runCore([bytes]);
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const core = runStream(chunks, {}, ephemeral);
      check(core, name);
      // The pong written for the ping (split across reads in many runs) and the rest of the output: as without
      // streaming.
      assert.deepEqual(outcome(core.ws, core.handler, core.sink).written, reference.written, name);
    }
  });

  it('byte by byte: every piece is one read, so one byte', () => {
    const singles: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) singles.push(bytes.subarray(i, i + 1));
    const { handler } = runStream(singles);
    assert.equal(handler.chunks.length, tb.length + bin.length);
    for (const c of handler.chunks) assert.equal(c.data.length, 1);
  });

  it('random reads (seeded), plain and as shared reads: no piece spans two reads', () => {
    const next = rng(0x5eed);
    for (let i = 0; i < 300; i++) {
      const chunks = randomReads(bytes, next, 1 + (i % 40));
      const ephemeral = i % 2 === 1;
      const name = `reads ${chunks.map((c) => c.length).join('+')}${ephemeral ? ', ephemeral' : ''}`;
      const core = runStream(chunks, {}, ephemeral);
      check(core, name);
      // A piece is cut from one read: never longer than the longest read.
      const longest = Math.max(...chunks.map((c) => c.length));
      for (const c of core.handler.chunks) assert.ok(c.data.length <= longest, name);
    }
  });

  it('pieces of input the core owns are views of it, unmasked in place (no copy)', () => {
    const f = frame({ opcode: BIN, payload: bin, mask: Buffer.from([9, 8, 7, 6]) });
    // Each read in memory of its own (not Node's shared pool), so that a view tells which read it is of.
    const own = (b: Buffer) => {
      const o = Buffer.allocUnsafeSlow(b.length);
      b.copy(o);
      return o;
    };
    const reads = [own(f.subarray(0, 20)), own(f.subarray(20, 40)), own(f.subarray(40))];
    const core = makeStreamCore();
    const views: Buffer[] = [];
    core.handler.onMessageChunk = (_binary, data) => {
      views.push(data);
    };
    for (const r of reads) core.ws.receive(r);
    assert.deepEqual(
      views.map((v) => reads.findIndex((r) => r.buffer === v.buffer)),
      [0, 1, 2],
    );
    assert.ok(Buffer.concat(views).equals(bin));
  });
});

describe('no onMessageChunk: the threshold is ignored', () => {
  it('every message goes to onMessage, exactly as without a threshold', () => {
    const bytes = stream(
      frame({ opcode: BIN, payload: pattern(4 * T) }),
      frame({ opcode: TEXT, fin: false, payload: 'x'.repeat(2 * T) }),
      frame({ opcode: CONT, payload: 'y' }),
      frame({ opcode: TEXT }),
    );
    for (const chunks of allSplits(bytes)) {
      const handler = new RecordingHandler();
      const sink = new ArraySink();
      const ws = new WsProtocol({ side: SIDE_SERVER, maxPayload: 0, streamThreshold: 0 }, handler, sink);
      assert.equal(ws.streamThreshold, Number.POSITIVE_INFINITY);
      for (const c of chunks) ws.receive(Buffer.from(c));
      assert.deepEqual(outcome(ws, handler, sink), runCore(chunks, { maxPayload: 0 }));
      assert.deepEqual(handler.events, [
        ['message', 'binary', pattern(4 * T).toString('hex'), false],
        ['message', 'text', `${'x'.repeat(2 * T)}y`, false],
        ['message', 'text', '', false],
      ]);
    }
  });

  it('with onMessageChunk but no streamThreshold nothing is streamed', () => {
    const handler = new StreamingHandler();
    const ws = new WsProtocol({ side: SIDE_SERVER, maxPayload: 0 }, handler, new ArraySink());
    assert.equal(ws.streamThreshold, Number.POSITIVE_INFINITY);
    ws.receive(frame({ opcode: BIN, payload: pattern(100_000) }));
    assert.deepEqual(handler.chunks, []);
    assert.deepEqual(handler.events, [['message', 'binary', pattern(100_000).toString('hex'), false]]);
  });

  it('exposes the threshold it uses', () => {
    assert.equal(makeStreamCore({ streamThreshold: 1234 }).ws.streamThreshold, 1234);
    assert.equal(makeStreamCore({ streamThreshold: 0 }).ws.streamThreshold, 0);
  });
});

describe('RFC 6455 §5.5 control frames next to streamed messages', () => {
  it('a ping split across three reads, between the reads of two streamed messages', () => {
    const pingData = pattern(30, 200);
    const a = frame({ opcode: BIN, payload: pattern(T + 3) });
    const ping = frame({ opcode: OP_PING, payload: pingData });
    const b = frame({ opcode: BIN, payload: pattern(T, 40) });
    // Reads: [a + 3 bytes of the ping's header], [rest of header + 10 payload bytes], [the rest + b's start], [b].
    const core = runStream([
      Buffer.concat([a, ping.subarray(0, 3)]),
      ping.subarray(3, 16),
      Buffer.concat([ping.subarray(16), b.subarray(0, 9)]),
      b.subarray(9),
    ]);
    assert.deepEqual(merged(core.handler.trace), [
      ['chunks', 'binary', pattern(T + 3).toString('hex'), true, true],
      ['ping', pingData.toString('hex')],
      ['chunks', 'binary', pattern(T, 40).toString('hex'), true, true],
    ]);
    assert.deepEqual(
      core.sink.frames().map((f) => [f.opcode, f.payload.toString('hex')]),
      [[OP_PONG, pingData.toString('hex')]],
    );
  });

  it('a close frame after a streamed message ends the connection; what follows is discarded', () => {
    const input = stream(
      frame({ opcode: BIN, payload: pattern(T) }),
      frame({ opcode: OP_CLOSE, payload: closeBody(1001, 'bye') }),
      frame({ opcode: BIN, payload: pattern(2 * T) }),
    );
    for (const [chunks, ephemeral, name] of everySplit(input)) {
      const core = runStream(chunks, {}, ephemeral);
      assert.deepEqual(
        merged(core.handler.trace),
        [
          ['chunks', 'binary', pattern(T).toString('hex'), true, true],
          ['close', 1001, 'bye'],
        ],
        name,
      );
      assert.equal(core.sink.ends, 1, name);
    }
  });

  it('EOF in the middle of a streamed message: no last piece, close code 1006', () => {
    const f = frame({ opcode: BIN, payload: pattern(3 * T) });
    const core = runStream([f.subarray(0, 20)]);
    core.ws.receiveEof();
    assert.ok(core.handler.chunks.length > 0);
    assert.ok(core.handler.chunks.every((c) => !c.last));
    assert.equal(core.ws.closeCode, 1006);
  });
});

describe('RFC 6455 §8.1 UTF-8 in streamed text', () => {
  it('invalid bytes mid-frame: 1007, and the piece that holds them is not handed on', () => {
    const payload = Buffer.concat([Buffer.from('a'.repeat(30)), Buffer.from([0xff]), Buffer.from('b'.repeat(30))]);
    const f = frame({ opcode: TEXT, payload });
    const head = f.length - payload.length;
    // Reads: header + 20 payload bytes, 20 bytes that hold 0xFF (at 30), the rest.
    const core = runStream([f.subarray(0, head + 20), f.subarray(head + 20, head + 40), f.subarray(head + 40)]);
    assert.deepEqual(
      core.handler.chunks.map((c) => [c.data.toString(), c.first, c.last]),
      [['a'.repeat(20), true, false]],
    );
    assertFailed(outcome(core.ws, core.handler, core.sink), 1007, 'ERR_WS_INVALID_UTF8');
  });

  it('invalid bytes mid-frame, at any split: only bytes before them are ever handed on', () => {
    const payload = Buffer.concat([
      Buffer.from('é'.repeat(15)),
      Buffer.from([0xc0, 0x80]),
      Buffer.from('b'.repeat(30)),
    ]);
    const bytes = stream(frame({ opcode: TEXT, payload }), frame({ opcode: TEXT, payload: 'never' }));
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const core = runStream(chunks, {}, ephemeral);
      const got = Buffer.concat(core.handler.chunks.map((c) => c.data));
      // 0xC0 is never valid: nothing from it on may come out.
      assert.ok(got.length <= 30, `${name}: ${got.length} bytes handed on`);
      assert.ok(got.equals(payload.subarray(0, got.length)), name);
      assert.ok(
        core.handler.chunks.every((c) => !c.last),
        name,
      );
      assertFailed(outcome(core.ws, core.handler, core.sink), 1007, 'ERR_WS_INVALID_UTF8');
    }
    // Byte by byte, every valid byte before 0xC0 comes out.
    const singles: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) singles.push(bytes.subarray(i, i + 1));
    assert.equal(Buffer.concat(runStream(singles).handler.chunks.map((c) => c.data)).length, 30);
  });

  it('a message that ends inside a character fails with 1007 and has no last piece, at any split', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    const bytes = frame({ opcode: TEXT, payload: Buffer.concat([Buffer.from('a'.repeat(T)), euro.subarray(0, 2)]) });
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const core = runStream(chunks, {}, ephemeral);
      assertFailed(outcome(core.ws, core.handler, core.sink), 1007, 'ERR_WS_INVALID_UTF8');
      assert.ok(
        core.handler.chunks.every((c) => !c.last),
        `${name}: no last piece`,
      );
    }
  });

  it('characters of 2, 3 and 4 bytes cut by reads at every position are fine', () => {
    const text = `${'a'.repeat(T - 1)}é€😀z`;
    for (const [chunks, ephemeral, name] of everySplit(frame({ opcode: TEXT, payload: text }))) {
      const core = runStream(chunks, {}, ephemeral);
      assert.deepEqual(core.handler.events, [], name);
      const msgs = messagesOf(core.handler.chunks);
      assert.equal(msgs.length, 1, name);
      assertFlags(msgs[0]!, true);
      assert.equal(Buffer.concat(msgs[0]!.map((c) => c.data)).toString(), text, name);
    }
  });

  it('binary streamed messages are not UTF-8 checked', () => {
    const payload = Buffer.alloc(2 * T, 0xff);
    const { handler, ws } = runStream([frame({ opcode: BIN, payload })]);
    assert.equal(ws.state, WS_OPEN);
    assert.deepEqual(handler.events, []);
    assert.ok(Buffer.concat(handler.chunks.map((c) => c.data)).equals(payload));
  });
});

describe('RFC 6455 §10.4 maxPayload', () => {
  it('a message of exactly maxPayload bytes is streamed', () => {
    const core = runStream([frame({ opcode: BIN, payload: pattern(50) })], { maxPayload: 50 });
    assert.ok(Buffer.concat(core.handler.chunks.map((c) => c.data)).equals(pattern(50)));
    assert.equal(core.handler.chunks.at(-1)!.last, true);
  });

  it('1009 from the header alone: no piece of a message over the limit is handed on', () => {
    const header = frame({ opcode: BIN, payload: pattern(51) }).subarray(0, 6); // 2 bytes + masking key
    const core = runStream([header], { maxPayload: 50 });
    assertFailed(outcome(core.ws, core.handler, core.sink), 1009, 'ERR_WS_MESSAGE_TOO_BIG');
    assert.deepEqual(core.handler.chunks, []);
  });

  it('counts each message from zero', () => {
    const m = frame({ opcode: BIN, payload: pattern(40) });
    const core = runStream([stream(m, m, m)], { maxPayload: 50 });
    assert.equal(core.handler.chunks.length, 3);
    assert.equal(core.ws.state, WS_OPEN);
  });
});

describe('RFC 7692 compressed (RSV1) messages are never streamed', () => {
  it('an RSV1 message goes whole to onMessage however big; an uncompressed one after it is streamed', () => {
    const bytes = stream(
      frame({ opcode: BIN, rsv1: true, payload: pattern(10 * T) }),
      frame({ opcode: TEXT, rsv1: true, fin: false, payload: Buffer.alloc(4 * T, 0xff) }),
      frame({ opcode: CONT, payload: Buffer.from([0xfe]) }),
      frame({ opcode: BIN, payload: pattern(2 * T) }),
    );
    for (const [chunks, ephemeral, name] of everySplit(bytes)) {
      const core = runStream(chunks, { rsv1Allowed: true }, ephemeral);
      assert.deepEqual(
        merged(core.handler.trace),
        [
          ['message', 'binary', pattern(10 * T).toString('hex'), true],
          // Compressed text is checked after inflate, by the adapter: not here.
          ['message', 'text', Buffer.concat([Buffer.alloc(4 * T, 0xff), Buffer.from([0xfe])]).toString('hex'), true],
          ['chunks', 'binary', pattern(2 * T).toString('hex'), true, true],
        ],
        name,
      );
    }
  });
});

describe('RFC 6455 §5.3 masking', () => {
  const keys = [
    Buffer.from([0, 0, 0, 0]),
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
    Buffer.from([0x12, 0x34, 0x56, 0x78]),
    Buffer.from([0x80, 0x01, 0xfe, 0x7f]),
  ];
  const payload = Buffer.alloc(1000);
  const next = rng(1234);
  for (let i = 0; i < payload.length; i++) payload[i] = next() & 0xff;

  /** `bytes` in reads of `size` bytes. */
  const readsOf = (bytes: Buffer, size: number): Buffer[] => {
    const reads: Buffer[] = [];
    for (let p = 0; p < bytes.length; p += size) reads.push(bytes.subarray(p, p + size));
    return reads;
  };

  it('server: masked client frames are unmasked in the pieces, at any read size and offset', () => {
    for (const key of keys) {
      // A small message first, so that the streamed frame starts at an offset that is not a multiple of 4.
      const bytes = stream(
        frame({ opcode: BIN, payload: 'abc', mask: key }),
        frame({ opcode: BIN, payload, mask: key, lengthBits: 64 }),
      );
      for (const size of [1, 2, 3, 5, 7, 64, 333, 1001, bytes.length]) {
        for (const ephemeral of [false, true]) {
          const core = runStream(readsOf(bytes, size), {}, ephemeral);
          const name = `key ${key.toString('hex')}, reads of ${size}${ephemeral ? ', ephemeral' : ''}`;
          assert.deepEqual(core.handler.events, [['message', 'binary', hexOf('abc'), false]], name);
          assert.ok(Buffer.concat(core.handler.chunks.map((c) => c.data)).equals(payload), name);
          assertFlags(core.handler.chunks, true);
        }
      }
    }
  });

  it('client: unmasked server frames are streamed the same way', () => {
    const bytes = stream(
      frame({ opcode: OP_PING, payload: 'p', mask: false }),
      frame({ opcode: BIN, payload, mask: false }),
    );
    for (const size of [1, 3, 100, bytes.length]) {
      const core = runStream(readsOf(bytes, size), { side: SIDE_CLIENT });
      assert.ok(Buffer.concat(core.handler.chunks.map((c) => c.data)).equals(payload), `reads of ${size}`);
      assertFlags(core.handler.chunks, true);
      // The client masks its pong.
      assert.deepEqual(
        core.sink.frames().map((f) => [f.opcode, f.masked, f.payload.toString()]),
        [[OP_PONG, true, 'p']],
      );
    }
  });

  it('an unmasked frame to a server is still refused (1002) when it would be streamed', () => {
    const core = runStream([frame({ opcode: BIN, payload: pattern(2 * T), mask: false })]);
    assertFailed(outcome(core.ws, core.handler, core.sink), 1002, 'ERR_WS_UNMASKED_FRAME');
    assert.deepEqual(core.handler.chunks, []);
  });
});

describe('large messages', () => {
  it('a 16 MiB binary message read 64 KiB at a time: pieces of at most one read, bytes in order', () => {
    const size = 16 * 1024 * 1024;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) payload.writeUInt32LE(i, i);
    const bytes = frame({ opcode: BIN, payload, mask: Buffer.from([0x12, 0x34, 0x56, 0x78]) });
    const core = makeStreamCore({ maxPayload: size, streamThreshold: 64 * 1024 });
    let at = 0;
    let count = 0;
    core.handler.onMessageChunk = (binary, data, first, last) => {
      assert.equal(binary, true);
      assert.equal(first, count === 0);
      assert.ok(data.length <= 65536);
      assert.ok(data.equals(payload.subarray(at, at + data.length)), `piece #${count} at ${at}`);
      at += data.length;
      count++;
      assert.equal(last, at === size);
    };
    for (let p = 0; p < bytes.length; p += 65536) core.ws.receive(bytes.subarray(p, p + 65536), true);
    assert.equal(at, size);
    // 10 header bytes + 4 key bytes shift every read: 256 reads give 257 pieces.
    assert.equal(count, 257);
    assert.deepEqual(core.handler.events, []);
  });

  it('a 16 MiB text message read 64 KiB at a time, reads cutting characters', () => {
    const whole = Buffer.from('aé€😀'.repeat(Math.ceil((16 * 1024 * 1024) / 10)));
    const f = frame({ opcode: TEXT, payload: whole });
    const core = makeStreamCore({ streamThreshold: 64 * 1024 });
    const got: Buffer[] = [];
    let lasts = 0;
    core.handler.onMessageChunk = (binary, data, _first, last) => {
      assert.equal(binary, false);
      got.push(Buffer.from(data));
      if (last) lasts++;
    };
    for (let p = 0; p < f.length; p += 65536) core.ws.receive(f.subarray(p, p + 65536), true);
    assert.deepEqual(core.handler.events, []);
    assert.equal(lasts, 1);
    assert.ok(Buffer.concat(got).equals(whole));
  });
});

describe('buffered bytes', () => {
  it('a streamed message holds none of its bytes: bufferedBytes stays 0 while it is read', () => {
    const f = frame({ opcode: BIN, payload: pattern(10 * T) });
    const head = f.length - 10 * T;
    const core = makeStreamCore();
    core.ws.receive(Buffer.from(f.subarray(0, head + 5 * T)));
    assert.equal(Buffer.concat(core.handler.chunks.map((c) => c.data)).length, 5 * T, 'half handed on');
    // "Bytes held for an incomplete frame or message": the half handed on is the handler's, not held.
    assert.equal(core.ws.bufferedBytes, 0);
  });
});

describe('fragmented messages are never streamed', () => {
  it('a fragmented message comes whole to onMessage, however big its first frame', () => {
    const bytes = stream(
      frame({ opcode: BIN, fin: false, payload: pattern(4 * T) }),
      frame({ opcode: CONT, payload: 'z' }),
    );
    const { handler } = runStream([bytes]);
    assert.deepEqual(handler.chunks, []);
    assert.deepEqual(handler.events, [
      ['message', 'binary', Buffer.concat([pattern(4 * T), Buffer.from('z')]).toString('hex'), false],
    ]);
  });
});
