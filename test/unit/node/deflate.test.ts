/**
 * node/deflate.ts, the permessage-deflate codec (RFC 7692 §7.2), checked against an independent peer written on
 * node:zlib's public API (test/helpers/deflate-peer.ts), without sockets:
 * - §7.2.1 / §7.2.2 round trips both ways for many sizes and contents, in the four context takeover
 *   combinations (§7.1.1) and with 8, 9, 12 and 15-bit windows (§7.1.2); the negotiated windows are honoured
 *   (§7.1.2.1: the compressor never refers further back than the peer's window);
 * - context takeover is kept when agreed and never used when `*_no_context_takeover` is (§7.1.1.1/2);
 * - a message compressed in fragments (§6.1, §7.2.1): each piece flushed, the tail removed from the last only;
 * - §7.2.3.4: a peer that ends a message with a BFINAL block;
 * - limits: a decompression bomb stops at the limit (RFC 6455 §10.4, 1009 upstream), exactly `limit` passes;
 *   invalid DEFLATE data is reported (1007 upstream);
 * - the contexts shared by no-takeover directions stay correct when several codecs interleave and after errors;
 * - the multi-chunk inflate path (small scratch buffer) gives the same bytes;
 * - idle release: contexts freed, the peer's window restored from the kept plaintext (a ring that wraps), and
 *   later messages that refer back into it still decode; our compressor restarts and stays decodable.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  DeflateCodec,
  type DeflateCodecOptions,
  deflateStats,
  INFLATE_INVALID,
  INFLATE_PENDING,
  INFLATE_TOO_BIG,
  resolveDeflateSettings,
  setInflateScratchSize,
} from '../../../src/node/deflate.js';
import type { DeflateParams } from '../../../src/ws/permessage-deflate.js';
import { DEFLATE_TAIL, PeerCompressor, PeerDecompressor } from '../../helpers/deflate-peer.js';

const { Z_SYNC_FLUSH } = zlib.constants;
const KiB = 1024;
const MiB = 1024 * 1024;
/** The scratch size the module starts with (restored after tests that shrink it). */
const DEFAULT_SCRATCH = 64 * KiB;
const NOW = 1_000_000;
const BIG_LIMIT = 64 * MiB;

/** xorshift32: reproducible pseudo-random bytes. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function randomBytes(n: number, seed: number): Buffer {
  const next = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

/** Text made of words from a small random vocabulary: matches at every distance. */
function compressible(n: number, seed: number): Buffer {
  const next = prng(seed);
  const words: string[] = [];
  for (let i = 0; i < 200; i++) {
    let w = '';
    const len = 2 + (next() % 9);
    for (let j = 0; j < len; j++) w += String.fromCharCode(97 + (next() % 26));
    words.push(w);
  }
  const parts: string[] = [];
  let total = 0;
  // `total` counts a space after each word: the joined text is `total - 1` long.
  while (total <= n) {
    const w = words[next() % words.length]!;
    parts.push(w);
    total += w.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, n);
}

function params(snct: boolean, cnct: boolean, serverBits = 15, clientBits = 15): DeflateParams {
  return {
    serverNoContextTakeover: snct,
    clientNoContextTakeover: cnct,
    serverMaxWindowBits: serverBits,
    clientMaxWindowBits: clientBits,
  };
}

/** A server-side codec (it compresses with server_*, inflates with client_*); threshold 0, window 15. */
function serverCodec(p: DeflateParams, o: DeflateCodecOptions = {}): DeflateCodec {
  return new DeflateCodec(p, true, resolveDeflateSettings({ threshold: 0, windowBits: 15, ...o }));
}

/** The peer on the other side of a server codec: a client compressing with client_*, inflating server_*. */
function clientPeer(p: DeflateParams): { out: PeerCompressor; in: PeerDecompressor } {
  return {
    out: new PeerCompressor({ windowBits: p.clientMaxWindowBits, noContextTakeover: p.clientNoContextTakeover }),
    in: new PeerDecompressor({ windowBits: p.serverMaxWindowBits, noContextTakeover: p.serverNoContextTakeover }),
  };
}

/** The codec's result for a whole message: slices (INFLATE_PENDING) are run to the end. */
function decompressAll(codec: DeflateCodec, payload: Buffer, limit: number): Buffer | number {
  let r = codec.decompress(payload, limit, NOW);
  while (r === INFLATE_PENDING) r = codec.continueDecompress(NOW);
  return r;
}

/**
 * Decompresses and returns a copy (the codec's result may be a view of its scratch buffer); a message that goes on
 * in slices (INFLATE_PENDING) is driven to its end here.
 */
function inflate(codec: DeflateCodec, payload: Buffer, limit = BIG_LIMIT): Buffer {
  const r = decompressAll(codec, payload, limit);
  assert.ok(Buffer.isBuffer(r), `decompress failed with code ${String(r)}`);
  return Buffer.from(r);
}

function assertSame(actual: Buffer, expected: Buffer, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(actual.equals(expected), `${what}: bytes differ`);
}

/** Whether a payload decodes with a fresh context (false when it refers back to earlier messages). */
function decodesAlone(payload: Buffer, windowBits = 15): boolean {
  try {
    zlib.inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { windowBits, finishFlush: Z_SYNC_FLUSH });
    return true;
  } catch {
    return false;
  }
}

/** Inflates with 64-byte output steps, so that zlib enforces the window size (it only checks distances that
 * reach back past the current output buffer into its window). */
function inflateStrict(data: Buffer, windowBits: number): Buffer {
  return zlib.inflateRawSync(data, { windowBits, finishFlush: Z_SYNC_FLUSH, chunkSize: zlib.constants.Z_MIN_CHUNK });
}

/**
 * `mib` MiB of zeros as a permessage-deflate payload of about a thousandth of that: the sync-flushed deflate of
 * 1 MiB of zeros, repeated (each copy refers only to its own bytes), the last tail removed.
 */
function zeroBomb(mib: number): Buffer {
  const unit = zlib.deflateRawSync(Buffer.alloc(MiB), { level: 9, finishFlush: Z_SYNC_FLUSH });
  const all = Buffer.concat(new Array<Buffer>(mib).fill(unit));
  return all.subarray(0, all.length - 4);
}

const SIZES = [0, 1, 1023, 1024, 64 * KiB, MiB];
/** Random and compressible messages of every size; a single empty one, first (see the §7.2.1 step 2 test). */
const MESSAGES: Buffer[] = [Buffer.alloc(0)];
for (const n of SIZES.slice(1)) {
  MESSAGES.push(randomBytes(n, n + 1));
  MESSAGES.push(compressible(n, n + 7));
}

describe('RFC 7692 §7.2.1/§7.2.2 round trips with an independent peer', () => {
  for (const [snct, cnct] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    for (const bits of [8, 9, 12, 15]) {
      const name = `server_no_context_takeover=${snct} client_no_context_takeover=${cnct} window bits ${bits}`;
      it(`${name}: sizes ${SIZES.join(', ')}, random and compressible, both directions, twice`, async () => {
        const p = params(snct, cnct, bits, bits);
        const codec = serverCodec(p);
        const peer = clientPeer(p);
        // The second pass repeats the first: with takeover, messages refer back to the previous ones. (The empty
        // message after others is the subject of its own test below.)
        for (let pass = 0; pass < 2; pass++) {
          for (const m of MESSAGES) {
            if (pass === 1 && (m.length === MiB || m.length === 0)) continue;
            const what = `pass ${pass}, ${m.length} bytes`;
            const ours = Buffer.from(codec.compress(m, NOW));
            assertSame(await peer.in.decompress(ours), m, `${what}, codec → peer`);
            const theirs = await peer.out.compress(m);
            assertSame(inflate(codec, theirs), m, `${what}, peer → codec`);
          }
        }
        codec.close();
        peer.out.close();
        peer.in.close();
      });
    }
  }

  for (const snct of [false, true]) {
    it(`§7.2.1 step 2: an empty message after other messages (server_no_context_takeover ${snct})`, async () => {
      // After a sync flush zlib writes nothing for an empty input; §7.2.1 then requires an empty stored block to be
      // appended before the 4 octets are removed, i.e. the payload 00. An empty payload would leave the receiver's
      // appended 00 00 ff ff unaligned (a stored block header plus LEN 00ff) and break the following messages.
      const codec = serverCodec(params(snct, false));
      const peer = new PeerDecompressor({ noContextTakeover: snct });
      const msgs = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(0), compressible(3000, 9), Buffer.alloc(0)];
      for (const [i, m] of msgs.entries()) {
        const out = Buffer.from(codec.compress(m, NOW));
        assertSame(await peer.decompress(out), m, `message #${i} (${m.length} bytes, payload ${out.toString('hex')})`);
      }
      codec.close();
      peer.close();
    });
  }

  it('§7.2.2: empty messages from a takeover peer (payload 00) between others decode', async () => {
    const codec = serverCodec(params(false, false));
    const peer = new PeerCompressor();
    const msgs = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(0), compressible(3000, 9), Buffer.alloc(0)];
    for (const [i, m] of msgs.entries()) assertSame(inflate(codec, await peer.compress(m)), m, `message #${i}`);
    codec.close();
    peer.close();
  });

  it('asymmetric windows and takeover: each direction uses its own parameters (server and client codecs)', async () => {
    const msgs = [compressible(5000, 3), randomBytes(3000, 4), compressible(5000, 3), compressible(40 * KiB, 5)];
    for (const p of [params(true, false, 9, 15), params(false, true, 15, 9), params(false, false, 10, 13)]) {
      // Server codec against a client peer.
      const server = serverCodec(p);
      const cp = clientPeer(p);
      // Client codec (compresses with client_*, inflates with server_*) against a server peer.
      const client = new DeflateCodec(p, false, resolveDeflateSettings({ threshold: 0, windowBits: 15 }));
      const sOut = new PeerCompressor({
        windowBits: p.serverMaxWindowBits,
        noContextTakeover: p.serverNoContextTakeover,
      });
      const sIn = new PeerDecompressor({
        windowBits: p.clientMaxWindowBits,
        noContextTakeover: p.clientNoContextTakeover,
      });
      for (const m of msgs) {
        assertSame(await cp.in.decompress(Buffer.from(server.compress(m, NOW))), m, 'server codec → client peer');
        assertSame(inflate(server, await cp.out.compress(m)), m, 'client peer → server codec');
        assertSame(await sIn.decompress(Buffer.from(client.compress(m, NOW))), m, 'client codec → server peer');
        assertSame(inflate(client, await sOut.compress(m)), m, 'server peer → client codec');
      }
      server.close();
      client.close();
    }
  });

  it('§7.1.2.1: the compressor never refers back further than the negotiated server_max_window_bits', () => {
    for (let bits = 8; bits <= 14; bits++) {
      // A random block, 2^bits bytes of text (no match with the block), the block again: the second copy is just
      // out of reach of the window.
      const block = randomBytes(300, bits);
      const data = Buffer.concat([block, compressible(1 << bits, 100 + bits), block, block]);
      // The check can fail: a 15-bit compressor refers to the first copy and a `bits` window rejects it.
      const wide = zlib.deflateRawSync(data, { windowBits: 15, finishFlush: Z_SYNC_FLUSH });
      assert.throws(() => inflateStrict(wide, bits), /too far back/, `control, ${bits} bits`);
      const codec = serverCodec(params(false, false, bits, 15));
      const out = codec.compress(data, NOW);
      assertSame(inflateStrict(Buffer.concat([out, DEFLATE_TAIL]), bits), data, `server_max_window_bits=${bits}`);
      codec.close();
    }
  });

  it('§7.1.2.2: the decompressor accepts back-references up to the client window it agreed', async () => {
    for (const bits of [8, 9, 12, 15]) {
      // Distance just inside what zlib reaches with this window (2^bits - 262; 9 bits for 8).
      const zbits = Math.max(9, bits);
      const block = randomBytes(100, bits);
      const gap = (1 << zbits) - 262 - 100 - 10;
      const filler = compressible(gap, 50 + bits);
      const data = Buffer.concat([block, filler, block]);
      const codec = serverCodec(params(false, false, 15, bits));
      const peer = new PeerCompressor({ windowBits: bits });
      const payload = await peer.compress(data);
      const unlike = await new PeerCompressor({ windowBits: bits, noContextTakeover: true }).compress(
        Buffer.concat([block, filler, randomBytes(100, 99)]),
      );
      assert.ok(payload.length + 80 < unlike.length, 'the peer refers back to the first copy');
      assertSame(inflate(codec, payload), data, `client_max_window_bits=${bits}`);
      codec.close();
      peer.close();
    }
  });
});

describe('RFC 7692 §7.1.1 context takeover', () => {
  const msg = Buffer.concat([randomBytes(2000, 11), compressible(2000, 12)]);

  it('with takeover the same message compresses much smaller the second time (it refers to the first)', async () => {
    const codec = serverCodec(params(false, false));
    const first = Buffer.from(codec.compress(msg, NOW));
    const second = Buffer.from(codec.compress(msg, NOW));
    assert.ok(second.length * 4 < first.length, `second ${second.length} vs first ${first.length}`);
    assert.equal(decodesAlone(second), false, 'the second message needs the first one');
    const peer = new PeerDecompressor();
    assertSame(await peer.decompress(first), msg, 'first');
    assertSame(await peer.decompress(second), msg, 'second');
    codec.close();
  });

  it('with server_no_context_takeover both outputs are identical and each decodes alone', () => {
    const codec = serverCodec(params(true, false));
    const first = Buffer.from(codec.compress(msg, NOW));
    const second = Buffer.from(codec.compress(msg, NOW));
    assert.ok(first.equals(second), 'identical outputs');
    assert.ok(decodesAlone(first) && decodesAlone(second));
    assert.equal(codec.holdsContexts, false, 'a no-takeover direction holds no context of its own');
    codec.close();
  });

  it('client_no_context_takeover: each peer message is inflated from an empty window', async () => {
    // A peer that (wrongly) takes over its context while it said it would not: its second message refers to the
    // first, which the codec must not have kept.
    const codec = serverCodec(params(false, true));
    const cheat = new PeerCompressor();
    assertSame(inflate(codec, await cheat.compress(msg)), msg, 'first');
    const second = await cheat.compress(msg);
    assert.equal(decompressAll(codec, second, BIG_LIMIT), INFLATE_INVALID);
    cheat.close();
    codec.close();
  });
});

describe('RFC 7692 §7.2.1 compressFragment', () => {
  for (const snct of [false, true]) {
    it(`pieces concatenated decode to the message, only the last lacks 00 00 ff ff (no takeover ${snct})`, async () => {
      const codec = serverCodec(params(snct, false));
      const peer = new PeerDecompressor({ noContextTakeover: snct });
      const msg = Buffer.concat([compressible(30000, 21), randomBytes(5000, 22), compressible(30000, 21)]);
      for (let round = 0; round < 2; round++) {
        const cuts = [0, 100, 101, 20000, 40000, msg.length];
        const pieces: Buffer[] = [];
        for (let i = 0; i + 1 < cuts.length; i++) {
          const fin = i + 2 === cuts.length;
          pieces.push(Buffer.from(codec.compressFragment(msg.subarray(cuts[i], cuts[i + 1]), fin, NOW)));
        }
        for (const piece of pieces.slice(0, -1)) {
          if (piece.length === 0) continue; // an empty piece after a flush: zlib has nothing to write
          assert.ok(piece.subarray(piece.length - 4).equals(DEFLATE_TAIL), 'a non-final piece keeps its sync flush');
        }
        const last = pieces[pieces.length - 1]!;
        assert.ok(!last.subarray(last.length - 4).equals(DEFLATE_TAIL), 'the last piece has its tail removed');
        assertSame(await peer.decompress(Buffer.concat(pieces)), msg, `round ${round}`);
        // A whole message after a fragmented one, on the same stream.
        assertSame(await peer.decompress(Buffer.from(codec.compress(msg, NOW))), msg, `whole after round ${round}`);
      }
      codec.close();
      peer.close();
    });
  }

  it('an empty last fragment still ends the message correctly', async () => {
    const codec = serverCodec(params(false, false));
    const peer = new PeerDecompressor();
    const a = compressible(3000, 31);
    const p1 = Buffer.from(codec.compressFragment(a, false, NOW));
    const p2 = Buffer.from(codec.compressFragment(Buffer.alloc(0), true, NOW));
    assertSame(await peer.decompress(Buffer.concat([p1, p2])), a, 'message with an empty last fragment');
    assertSame(await peer.decompress(Buffer.from(codec.compress(a, NOW))), a, 'next message');
    codec.close();
  });
});

describe('RFC 7692 §7.2.3.4: a peer that ends a message with BFINAL = 1', () => {
  for (const cnct of [false, true]) {
    it(`decodes, and the next messages still decode (client_no_context_takeover ${cnct})`, async () => {
      const codec = serverCodec(params(false, cnct));
      const m1 = compressible(5000, 41);
      const m2 = compressible(200 * KiB, 42);
      // deflateRawSync with the default Z_FINISH: a final block, no 00 00 ff ff at the end.
      const final1 = zlib.deflateRawSync(m1);
      assert.equal(final1[0]! & 1, 1, 'BFINAL set on the first block');
      assertSame(inflate(codec, final1), m1, 'BFINAL message');
      // The peer starts a new stream after its final block.
      const peer = new PeerCompressor({ noContextTakeover: cnct });
      assertSame(inflate(codec, await peer.compress(m1)), m1, 'sync-flushed message after it');
      assertSame(inflate(codec, await peer.compress(m2)), m2, 'larger one, referring back');
      assertSame(inflate(codec, zlib.deflateRawSync(m2)), m2, 'a large BFINAL message');
      const peer2 = new PeerCompressor({ noContextTakeover: cnct });
      assertSame(inflate(codec, await peer2.compress(m1)), m1, 'and a new stream after it');
      peer.close();
      peer2.close();
      codec.close();
    });
  }
});

describe('limits: decompression bomb and invalid data', () => {
  it('zeroBomb is a valid payload that inflates to zeros (checked on a small one)', () => {
    const small = zeroBomb(4);
    const out = zlib.inflateRawSync(Buffer.concat([small, DEFLATE_TAIL]), { finishFlush: Z_SYNC_FLUSH });
    assert.equal(out.length, 4 * MiB);
    assert.ok(out.every((b) => b === 0));
  });

  for (const cnct of [false, true]) {
    it(`64 MiB of zeros in ~64 KiB stops at a 1 MiB limit with INFLATE_TOO_BIG (client no takeover ${cnct})`, async () => {
      const bomb = zeroBomb(64);
      assert.ok(bomb.length < 100 * KiB, `bomb is ${bomb.length} bytes`);
      const codec = serverCodec(params(false, cnct));
      const tooBig = deflateStats.tooBig;
      const outBefore = deflateStats.decompressedBytesOut;
      assert.equal(decompressAll(codec, bomb, MiB), INFLATE_TOO_BIG);
      assert.equal(deflateStats.tooBig, tooBig + 1);
      assert.equal(deflateStats.decompressedBytesOut, outBefore, 'nothing counted as decompressed');
      // The connection is failed upstream; a fresh codec (and, without takeover, the shared context) still works.
      const other = serverCodec(params(false, cnct));
      const m = compressible(10000, 51);
      const peer = new PeerCompressor({ noContextTakeover: cnct });
      assertSame(inflate(other, await peer.compress(m)), m, 'another codec after the bomb');
      peer.close();
      codec.close();
      other.close();
    });
  }

  it('exactly `limit` bytes pass, one more byte is INFLATE_TOO_BIG (single and multi-chunk output)', async () => {
    for (const n of [1000, 64 * KiB, 64 * KiB + 1, 300 * KiB]) {
      const m = compressible(n, n);
      const payload = await new PeerCompressor({ noContextTakeover: true }).compress(m);
      const codec = serverCodec(params(true, true));
      assertSame(inflate(codec, payload, n), m, `${n} bytes with limit ${n}`);
      assert.equal(decompressAll(codec, payload, n - 1), INFLATE_TOO_BIG, `${n} bytes with limit ${n - 1}`);
      assertSame(inflate(codec, payload, n), m, `${n} bytes again after the failure (shared context reset)`);
      codec.close();
    }
  });

  it('invalid DEFLATE data gives INFLATE_INVALID and deflateStats.invalid grows', async () => {
    // A takeover peer's second message refers back to its first: alone, its distances reach before the start.
    const peer = new PeerCompressor();
    await peer.compress(compressible(5000, 61));
    const backRef = await peer.compress(compressible(5000, 61));
    peer.close();
    const cases: [string, Buffer][] = [
      ['reserved block type 11', Buffer.from([0x06, 0x00])],
      ['stored block with LEN != ~NLEN', Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5])],
      ['distance before the start of the stream', backRef],
    ];
    for (const [what, payload] of cases) {
      for (const cnct of [false, true]) {
        const codec = serverCodec(params(false, cnct));
        const invalid = deflateStats.invalid;
        assert.equal(decompressAll(codec, payload, BIG_LIMIT), INFLATE_INVALID, what);
        assert.equal(deflateStats.invalid, invalid + 1, `${what}: counted`);
        codec.close();
        // A later codec on the same (shared or new) context still decodes.
        const other = serverCodec(params(false, cnct));
        const m = compressible(3000, 62);
        assertSame(inflate(other, await new PeerCompressor({ noContextTakeover: true }).compress(m)), m, what);
        other.close();
      }
    }
  });
});

describe('shared no-takeover contexts', () => {
  it('two codecs interleaved on the shared contexts both stay correct and hold nothing of their own', async () => {
    const p = params(true, true);
    const a = serverCodec(p);
    const b = serverCodec(p);
    const contexts = deflateStats.contexts;
    const peer = new PeerCompressor({ noContextTakeover: true });
    const peerIn = new PeerDecompressor({ noContextTakeover: true });
    const msgsA = [compressible(3000, 71), randomBytes(100 * KiB, 72), compressible(70 * KiB, 73)];
    const msgsB = [randomBytes(5000, 81), compressible(3000, 82), compressible(200 * KiB, 83)];
    for (let i = 0; i < msgsA.length; i++) {
      const ma = msgsA[i]!;
      const mb = msgsB[i]!;
      const ca = Buffer.from(a.compress(ma, NOW));
      const cb = Buffer.from(b.compress(mb, NOW));
      const pa = await peer.compress(ma);
      const pb = await peer.compress(mb);
      // Interleave: inflate b, a, then compress again in the other order.
      assertSame(inflate(b, pb), mb, `b in #${i}`);
      assertSame(inflate(a, pa), ma, `a in #${i}`);
      assertSame(await peerIn.decompress(ca), ma, `a out #${i}`);
      assertSame(await peerIn.decompress(cb), mb, `b out #${i}`);
      assert.ok(Buffer.from(b.compress(mb, NOW)).equals(cb), 'b: identical output whatever a did in between');
      assert.ok(Buffer.from(a.compress(ma, NOW)).equals(ca), 'a: identical output whatever b did in between');
    }
    assert.equal(a.holdsContexts, false);
    assert.equal(b.holdsContexts, false);
    assert.equal(deflateStats.contexts, contexts, 'no per-connection context created');
    a.close();
    b.close();
  });
});

describe('multi-chunk inflate path (small scratch buffer)', () => {
  it('gives the same bytes as the single-chunk path, with and without takeover', async () => {
    const sizes = [0, 1, 1023, 1024, 1025, 2048, 64 * KiB + 3, MiB];
    const msgs = sizes.flatMap((n) => [compressible(n, n + 91), randomBytes(n, n + 92)]);
    setInflateScratchSize(1024);
    try {
      for (const cnct of [false, true]) {
        const codec = serverCodec(params(false, cnct));
        const peer = new PeerCompressor({ noContextTakeover: cnct });
        for (const m of [...msgs, ...msgs.slice(0, 6)]) {
          assertSame(inflate(codec, await peer.compress(m)), m, `${m.length} bytes, no takeover ${cnct}`);
        }
        codec.close();
        peer.close();
      }
    } finally {
      setInflateScratchSize(DEFAULT_SCRATCH);
    }
  });
});

describe('idle release (idleRelease) and restore of the peer window', () => {
  /**
   * Plays a takeover peer that sends messages made of fresh random bytes and copies of what it sent before (up to
   * `reach` bytes back), so that its compressor refers back into the window.
   */
  class History {
    bytes: Buffer = Buffer.alloc(0);
    readonly #next: () => number;
    readonly #reach: number;
    constructor(seed: number, reach: number) {
      this.#next = prng(seed);
      this.#reach = reach;
    }
    /** A message of `n` bytes: starts with a copy from far back, then mixes copies and fresh bytes. */
    message(n: number): Buffer {
      const start = this.bytes.length;
      const all = Buffer.alloc(start + n);
      this.bytes.copy(all, 0);
      let end = start;
      let copy = start >= 64;
      while (end < start + n) {
        const want = Math.min(start + n - end, 16 + (this.#next() % 200));
        if (copy && end >= want + 16) {
          const back = Math.min(end, this.#reach);
          const from = end - back + (this.#next() % Math.max(1, back - want));
          all.copyWithin(end, from, from + want);
        } else randomBytes(want, this.#next()).copy(all, end);
        end += want;
        copy = this.#next() % 3 !== 0;
      }
      this.bytes = all;
      return all.subarray(start);
    }
  }

  for (const bits of [9, 15]) {
    it(`window ${bits} bits: released contexts, the ring wraps, back-references decode after each release`, async () => {
      const window = 1 << bits;
      const idle = 1000;
      const p = params(false, false, bits, bits);
      const codec = serverCodec(p, { idleRelease: idle });
      const peerOut = new PeerCompressor({ windowBits: bits });
      const peerIn = new PeerDecompressor({ windowBits: bits });
      // Reach: how far back zlib's compressor may refer with this window.
      const hist = new History(bits, window - 262);
      // Sizes relative to the window: small ones, one larger than the window, totals far above it.
      const plan = [
        [Math.floor(window / 5), 7, 3],
        [window + 1000, 50],
        [Math.floor(window / 3), Math.floor(window / 2) + 17, 1],
        [Math.floor(window * 0.9), Math.floor(window * 0.7)],
        [2 * window + 5],
        [],
      ];
      let t = NOW;
      let sentTotal = 0;
      for (const [round, sizes] of plan.entries()) {
        for (const n of sizes) {
          const m = hist.message(n);
          const payload = await peerOut.compress(m);
          if (sentTotal > 64 && n > 20) {
            assert.equal(decodesAlone(payload, bits), false, `round ${round}: the ${n}-byte message refers back`);
          }
          const r = codec.decompress(payload, BIG_LIMIT, t);
          assert.ok(Buffer.isBuffer(r), `round ${round}: ${n} bytes decode (code ${String(r)})`);
          assertSame(r, m, `round ${round}: ${n} bytes`);
          sentTotal += n;
          // Our direction too: the codec's compressor, decoded by the takeover peer.
          const back = Buffer.from(codec.compress(m, t));
          assertSame(await peerIn.decompress(back), m, `round ${round}: echo of ${n} bytes`);
        }
        if (sizes.length > 0) assert.equal(codec.holdsContexts, true, `round ${round}: contexts in use`);
        // Not idle long enough: nothing released.
        codec.releaseIfIdle(t + idle - 1);
        if (sizes.length > 0) assert.equal(codec.holdsContexts, true, 'not released before idleRelease');
        const released = deflateStats.released;
        const expected = sizes.length > 0 ? 2 : 0;
        codec.releaseIfIdle(t + idle + 1);
        assert.equal(codec.holdsContexts, false, `round ${round}: released`);
        assert.equal(deflateStats.released, released + expected, `round ${round}: released count`);
        t += idle + 1;
      }
      // A last message after release made mostly of copies from the whole window.
      const last = Buffer.concat([hist.bytes.subarray(hist.bytes.length - (window - 300)), randomBytes(10, 1)]);
      hist.bytes = Buffer.concat([hist.bytes, last]);
      const payload = await peerOut.compress(last);
      assert.ok(payload.length < last.length / 4, 'the last message is mostly back-references');
      assertSame(inflate(codec, payload), last, 'whole-window back-reference after release');
      assertSame(await peerIn.decompress(Buffer.from(codec.compress(last, t))), last, 'our side after release');
      codec.close();
      peerOut.close();
      peerIn.close();
    });
  }

  it('idleRelease 0 never releases; a no-takeover codec has nothing to release', () => {
    const never = serverCodec(params(false, false), { idleRelease: 0 });
    never.compress(compressible(2000, 5), NOW);
    never.releaseIfIdle(NOW + 1e9);
    assert.equal(never.holdsContexts, true);
    never.close();
    assert.equal(never.holdsContexts, false, 'close frees everything');
    const shared = serverCodec(params(true, true), { idleRelease: 10 });
    shared.compress(compressible(2000, 5), NOW);
    assert.equal(shared.holdsContexts, false);
    shared.close();
  });

  it('a fragmented message in progress is not released; after it ends it is', async () => {
    const codec = serverCodec(params(false, false), { idleRelease: 100 });
    const peer = new PeerDecompressor();
    const a = compressible(5000, 101);
    const p1 = Buffer.from(codec.compressFragment(a, false, NOW));
    codec.releaseIfIdle(NOW + 10_000);
    assert.equal(codec.holdsContexts, true, 'mid-message: kept');
    const p2 = Buffer.from(codec.compressFragment(a, true, NOW + 10_000));
    assertSame(await peer.decompress(Buffer.concat([p1, p2])), Buffer.concat([a, a]), 'fragmented message');
    codec.releaseIfIdle(NOW + 20_001);
    assert.equal(codec.holdsContexts, false);
    assertSame(await peer.decompress(Buffer.from(codec.compress(a, NOW + 20_002))), a, 'after release');
    codec.close();
  });

  it('a peer BFINAL message, then release and restore, then back-references', async () => {
    const codec = serverCodec(params(false, false), { idleRelease: 100 });
    const m1 = compressible(4000, 111);
    assertSame(inflate(codec, zlib.deflateRawSync(m1)), m1, 'BFINAL message');
    const peer = new PeerCompressor();
    const m2 = compressible(6000, 112);
    assertSame(inflate(codec, await peer.compress(m2)), m2, 'new stream');
    codec.releaseIfIdle(NOW + 101);
    assert.equal(codec.holdsContexts, false);
    const again = await peer.compress(m2);
    assert.equal(decodesAlone(again), false);
    assertSame(inflate(codec, again), m2, 'back-reference after release');
    peer.close();
    codec.close();
  });
});
