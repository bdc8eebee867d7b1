/**
 * The one WebSocket connection (src/node/ws-connection.ts) over an in-memory transport, in both roles, with no
 * socket and no timer: the close handshake (each side starting it), the idle ping and its pong, the pong timeout,
 * the backpressure policy (close with 1008, or drop), drain, and the permessage-deflate decisions after inflate
 * (1009 too big, 1007 corrupt, 1007 invalid UTF-8). Time is passed to `checkTimers(now)` explicitly.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { ConnectionClosedError, ProtocolError } from '../../../src/errors.js';
import { coarseNow } from '../../../src/node/clock.js';
import { DeflateCodec, resolveDeflateSettings } from '../../../src/node/deflate.js';
import {
  newWebSocketStats,
  SEND_BACKPRESSURE,
  SEND_DROPPED,
  WsConnection,
  type WsConnectionConfig,
  type WsConnectionHandler,
} from '../../../src/node/ws-connection.js';
import { OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT } from '../../../src/ws/frame.js';
import type { DeflateParams } from '../../../src/ws/permessage-deflate.js';
import { SIDE_CLIENT, SIDE_SERVER } from '../../../src/ws/protocol.js';
import { MemoryTransport } from '../../helpers/memory-transport.js';
import { closeBody, decodeFrames, frame } from '../../helpers/ws-frames.js';

type Side = 0 | 1;

function config(side: Side, over: Partial<WsConnectionConfig> = {}): WsConnectionConfig {
  return {
    side,
    maxPayload: 1024 * 1024,
    closeTimeoutMs: 5000,
    idleTimeoutMs: 0,
    pongTimeoutMs: 1000,
    backpressureLimit: 64 * 1024,
    maxBackpressure: 1024 * 1024,
    dropOnBackpressure: false,
    streamThreshold: Number.POSITIVE_INFINITY,
    maxFragments: 0,
    stats: newWebSocketStats(),
    finWaiting: 0,
    frameObserver: null,
    ...over,
  };
}

/** Records what a connection tells its face. */
class Face implements WsConnectionHandler {
  readonly events: string[] = [];
  readonly messages: { binary: boolean; data: Buffer }[] = [];
  readonly ended: Promise<void>;
  #resolve!: () => void;
  constructor() {
    this.ended = new Promise((r) => {
      this.#resolve = r;
    });
  }
  onWsMessage(binary: boolean, data: Buffer): void {
    this.events.push('message');
    this.messages.push({ binary, data: Buffer.from(data) });
  }
  onWsMessageChunk(): void {
    this.events.push('chunk');
  }
  onWsPing(): void {
    this.events.push('ping');
  }
  onWsPong(): void {
    this.events.push('pong');
  }
  onWsClosing(): void {
    this.events.push('closing');
  }
  onWsDrain(): void {
    this.events.push('drain');
  }
  onWsEnd(): void {
    this.events.push('end');
    this.#resolve();
  }
}

function open(side: Side, over: Partial<WsConnectionConfig> = {}, codec: DeflateCodec | null = null) {
  const t = new MemoryTransport();
  const face = new Face();
  const conn = new WsConnection(config(side, over), t, codec, face);
  conn.attach();
  return { t, face, conn };
}

/** A server-role and a client-role connection joined by a pair of memory transports. */
function pair() {
  const [ts, tc] = MemoryTransport.pair();
  const serverFace = new Face();
  const clientFace = new Face();
  const server = new WsConnection(config(SIDE_SERVER), ts, null, serverFace);
  const client = new WsConnection(config(SIDE_CLIENT), tc, null, clientFace);
  server.attach();
  client.attach();
  return { ts, tc, server, client, serverFace, clientFace };
}

/** A frame as the peer of `side` sends it: masked towards a server, unmasked towards a client. */
function fromPeer(side: Side, spec: Parameters<typeof frame>[0]): Buffer {
  return frame({ ...spec, mask: side === SIDE_SERVER });
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Waits for `p` while keeping the event loop alive (the connection's own close timer is unref'd, as a socket
 * keeps a real process alive). */
async function settled(p: Promise<void>): Promise<void> {
  const keep = setInterval(() => {}, 1000);
  try {
    await p;
  } finally {
    clearInterval(keep);
  }
}

describe('close handshake over a pair of connections', () => {
  test('the client starts it: both see 1000 and the reason, both clean, the server ends TCP first', async () => {
    const { server, client, serverFace, clientFace, ts } = pair();
    client.close(1000, 'bye');
    await Promise.all([serverFace.ended, clientFace.ended]);
    const info = server.closeInfo();
    assert.equal(info.code, 1000);
    assert.equal(info.reason, 'bye');
    assert.equal(info.wasClean, true);
    assert.equal(info.cause, 'peer-close');
    assert.equal(info.initiator, 'peer');
    assert.equal(client.core.closeReceived, true);
    assert.equal(client.core.closeCode, 1000);
    assert.equal(client.failed, false);
    assert.equal(server.failed, false);
    assert.ok(serverFace.events.includes('closing'));
    // RFC 6455 §7.1.1: the server closes the TCP connection first.
    assert.equal(ts.writableEnded, true);
    const stats = server.config.stats;
    assert.equal(stats?.closeCodesFromPeer[1000], 1);
    assert.equal(stats?.ends['peer-close'], 1);
  });

  test('the server starts it: the cause is server-close, both frames exchanged, clean', async () => {
    const { server, client, serverFace, clientFace } = pair();
    server.close(4000, 'done');
    await Promise.all([serverFace.ended, clientFace.ended]);
    const info = server.closeInfo();
    assert.equal(info.cause, 'server-close');
    assert.equal(info.initiator, 'server');
    assert.equal(info.code, 4000, 'the peer echoed our code');
    assert.equal(info.wasClean, true);
    assert.equal(client.core.closeCode, 4000);
    assert.equal(client.core.closeReason, 'done');
  });

  test('messages pass both ways before the close', async () => {
    const { server, client, serverFace, clientFace } = pair();
    assert.equal(client.send('hello'), 5);
    assert.equal(server.send(Buffer.from([1, 2, 3])), 3);
    await tick();
    assert.deepEqual(serverFace.messages, [{ binary: false, data: Buffer.from('hello') }]);
    assert.deepEqual(clientFace.messages, [{ binary: true, data: Buffer.from([1, 2, 3]) }]);
    client.close(1000, '');
    await Promise.all([serverFace.ended, clientFace.ended]);
  });

  for (const side of [SIDE_SERVER, SIDE_CLIENT] as const) {
    const role = side === SIDE_SERVER ? 'server' : 'client';
    test(`${role}: a close we start that is never answered ends by destroy after closeTimeout`, async () => {
      const { t, face, conn } = open(side, { closeTimeoutMs: 1 });
      conn.close(1000, '');
      const out = decodeFrames(t.output());
      assert.equal(out.at(-1)?.opcode, OP_CLOSE);
      await settled(face.ended);
      assert.equal(t.destroyed, true);
      assert.equal(conn.closeInfo().cause, 'close-timeout');
    });

    test(`${role}: a peer that drops without a close frame ends with 1006, connection-lost`, async () => {
      const { t, face, conn } = open(side);
      t.drop();
      await face.ended;
      const info = conn.closeInfo();
      assert.equal(info.code, 1006);
      assert.equal(info.cause, 'connection-lost');
      assert.equal(info.wasClean, false);
    });

    test(`${role}: after a finished close handshake the peer's FIN is awaited at most closeTimeout (tick)`, async () => {
      const { t, face, conn } = open(side, { closeTimeoutMs: 100 });
      t.deliver(fromPeer(side, { opcode: OP_CLOSE, payload: closeBody(1000) }));
      if (side === SIDE_SERVER) assert.equal(t.writableEnded, true, 'the server ends TCP at once');
      assert.equal(conn.config.finWaiting, 1);
      conn.checkTimers(coarseNow() + 50);
      assert.equal(t.destroyed, false, 'not yet');
      conn.checkTimers(coarseNow() + 10_000);
      assert.equal(t.destroyed, true);
      await face.ended;
      assert.equal(conn.config.finWaiting, 0);
      assert.equal(conn.closeInfo().code, 1000);
    });
  }
});

describe('idle ping and pong timeout', () => {
  for (const side of [SIDE_SERVER, SIDE_CLIENT] as const) {
    const role = side === SIDE_SERVER ? 'server' : 'client';
    test(`${role}: quiet for idleTimeout: a ping; any frame back keeps the connection`, () => {
      const { t, conn } = open(side, { idleTimeoutMs: 1000, pongTimeoutMs: 500 });
      const t0 = coarseNow();
      conn.checkTimers(t0 + 500);
      assert.equal(t.written.length, 0, 'no ping before idleTimeout');
      conn.checkTimers(t0 + 1500);
      const frames = decodeFrames(t.output());
      assert.equal(frames.length, 1);
      assert.equal(frames[0]?.opcode, OP_PING);
      assert.equal(frames[0]?.masked, side === SIDE_CLIENT, 'a client masks its frames');
      t.deliver(fromPeer(side, { opcode: OP_PONG }));
      conn.checkTimers(coarseNow() + 1200);
      assert.equal(t.destroyed, false, 'the pong reset the clock');
      assert.equal(conn.isOpen, true);
    });

    test(`${role}: no answer within pongTimeout: dropped, idle-timeout, failed with a 1006 error`, async () => {
      const { t, face, conn } = open(side, { idleTimeoutMs: 1000, pongTimeoutMs: 500 });
      const t0 = coarseNow();
      conn.checkTimers(t0 + 1500);
      conn.checkTimers(t0 + 1900);
      assert.equal(t.destroyed, false, 'within pongTimeout');
      conn.checkTimers(t0 + 2100);
      assert.equal(t.destroyed, true);
      await face.ended;
      assert.equal(conn.failed, true);
      assert.ok(conn.error instanceof ConnectionClosedError);
      const info = conn.closeInfo();
      assert.equal(info.cause, 'idle-timeout');
      assert.equal(info.code, 1006);
    });

    test(`${role}: a ping from the peer is answered with a pong carrying its payload`, () => {
      const { t, face, conn } = open(side);
      t.deliver(fromPeer(side, { opcode: OP_PING, payload: 'abc' }));
      const frames = decodeFrames(t.output());
      assert.equal(frames[0]?.opcode, OP_PONG);
      assert.equal(frames[0]?.payload.toString(), 'abc');
      assert.deepEqual(face.events, ['ping']);
      assert.equal(conn.isOpen, true);
    });
  }
});

describe('backpressure policy', () => {
  test('close: a message past maxBackpressure is not queued; 1008 goes out and the cause is backpressure', async () => {
    const { t, face, conn } = open(SIDE_SERVER, { maxBackpressure: 100, closeTimeoutMs: 1 });
    const ended = settled(face.ended);
    t.stall();
    assert.equal(conn.send(Buffer.alloc(80)), 80);
    assert.equal(conn.send(Buffer.alloc(80)), SEND_DROPPED);
    const frames = decodeFrames(t.output());
    assert.equal(frames.length, 2, 'the first message, then the close frame; not the second message');
    assert.equal(frames[1]?.opcode, OP_CLOSE);
    assert.equal(frames[1]?.payload.readUInt16BE(0), 1008);
    assert.equal(conn.isOpen, false);
    assert.equal(conn.send('x'), SEND_DROPPED, 'nothing is sent once closing');
    await ended;
    const info = conn.closeInfo();
    assert.equal(info.cause, 'backpressure');
    assert.equal(info.code, 1008);
    assert.equal(conn.config.stats?.backpressureCloses, 1);
  });

  test('drop: the message is skipped and counted; the connection stays open', () => {
    const { t, conn } = open(SIDE_SERVER, { maxBackpressure: 100, dropOnBackpressure: true });
    t.stall();
    assert.equal(conn.send(Buffer.alloc(80)), 80);
    assert.equal(conn.send(Buffer.alloc(80)), SEND_DROPPED);
    assert.equal(conn.isOpen, true);
    assert.equal(conn.config.stats?.backpressureDrops, 1);
    assert.equal(decodeFrames(t.output()).length, 1);
  });

  test('over backpressureLimit: -1, and the drain handler once the peer reads', async () => {
    const { t, face, conn } = open(SIDE_SERVER, { backpressureLimit: 10 });
    t.stall();
    assert.equal(conn.send(Buffer.alloc(50)), SEND_BACKPRESSURE);
    assert.equal(conn.bufferedAmount, 52);
    const drained = conn.drained();
    await tick();
    assert.deepEqual(face.events, [], 'no drain while the peer does not read');
    t.unstall();
    await drained;
    await tick();
    assert.deepEqual(face.events, ['drain']);
    assert.equal(conn.bufferedAmount, 0);
  });
});

describe('drain means under backpressureLimit again (issue 15)', () => {
  test("a flush that leaves the peer's unread bytes over the limit is not a drain", async () => {
    const { t, face, conn } = open(SIDE_SERVER, { backpressureLimit: 10 });
    t.stall();
    assert.equal(conn.send(Buffer.alloc(50)), SEND_BACKPRESSURE);
    await tick();
    // The transport says it flushed (as a socket emits 'drain' once the kernel took its buffer), but the 52 bytes
    // are still unread.
    t.target?.onDrain();
    await tick();
    assert.deepEqual(face.events, [], 'no drain while over the limit');
    let resolved = false;
    const drained = conn.drained().then(() => {
      resolved = true;
    });
    await tick();
    assert.equal(resolved, false, 'drained() waits too');
    t.unstall();
    await drained;
    await tick();
    assert.deepEqual(face.events, ['drain'], 'one drain, once under the limit');
    assert.equal(conn.bufferedAmount, 0);
  });
});

describe('permessage-deflate: one decision after inflate, both roles', () => {
  const params: DeflateParams = {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  const settings = resolveDeflateSettings({ threshold: 0 });
  const compressed = (data: Buffer): Buffer => {
    const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  };

  for (const side of [SIDE_SERVER, SIDE_CLIENT] as const) {
    const role = side === SIDE_SERVER ? 'server' : 'client';
    const withCodec = (over: Partial<WsConnectionConfig> = {}) =>
      open(side, over, new DeflateCodec(params, side === SIDE_SERVER, settings));
    const closeCodeSent = (t: MemoryTransport): number | undefined => {
      const f = decodeFrames(t.output()).find((x) => x.opcode === OP_CLOSE);
      return f?.payload.readUInt16BE(0);
    };

    test(`${role}: a compressed text message is inflated and delivered`, () => {
      const { t, face } = withCodec();
      t.deliver(fromPeer(side, { opcode: OP_TEXT, rsv1: true, payload: compressed(Buffer.from('héllo '.repeat(50))) }));
      assert.equal(face.messages[0]?.data.toString(), 'héllo '.repeat(50));
      assert.equal(face.messages[0]?.binary, false);
    });

    test(`${role}: inflated past maxPayload: 1009, ERR_WS_MESSAGE_TOO_BIG, nothing delivered`, () => {
      const { t, face, conn } = withCodec({ maxPayload: 1000 });
      t.deliver(fromPeer(side, { opcode: OP_BINARY, rsv1: true, payload: compressed(Buffer.alloc(100_000)) }));
      assert.equal(face.messages.length, 0);
      assert.equal(closeCodeSent(t), 1009);
      assert.ok(conn.error instanceof ProtocolError);
      assert.equal((conn.error as ProtocolError).code, 'ERR_WS_MESSAGE_TOO_BIG');
      assert.ok(face.events.includes('closing'));
    });

    test(`${role}: not a DEFLATE stream: 1007, ERR_WS_INVALID_COMPRESSED_DATA`, () => {
      const { t, face, conn } = withCodec();
      t.deliver(fromPeer(side, { opcode: OP_BINARY, rsv1: true, payload: Buffer.from([0xff, 0xff, 0xff, 0xff]) }));
      assert.equal(face.messages.length, 0);
      assert.equal(closeCodeSent(t), 1007);
      assert.equal((conn.error as ProtocolError).code, 'ERR_WS_INVALID_COMPRESSED_DATA');
    });

    test(`${role}: text that is not UTF-8 once inflated: 1007, ERR_WS_INVALID_UTF8`, () => {
      const { t, face, conn } = withCodec();
      t.deliver(fromPeer(side, { opcode: OP_TEXT, rsv1: true, payload: compressed(Buffer.from([0x61, 0xc3, 0x28])) }));
      assert.equal(face.messages.length, 0);
      assert.equal(closeCodeSent(t), 1007);
      assert.equal((conn.error as ProtocolError).code, 'ERR_WS_INVALID_UTF8');
      assert.equal(conn.config.stats?.protocolErrors.ERR_WS_INVALID_UTF8, 1);
    });

    test(`${role}: a message inflating past one slice goes on in later turns; what followed it waits, in order`, async () => {
      const { t, face, conn } = withCodec({ maxPayload: 16 * 1024 * 1024 });
      const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
      t.deliver(
        Buffer.concat([
          fromPeer(side, { opcode: OP_TEXT, rsv1: true, payload: compressed(big) }),
          fromPeer(side, { opcode: OP_TEXT, payload: 'after' }),
          fromPeer(side, { opcode: OP_PING, payload: 'p' }),
          fromPeer(side, { opcode: OP_BINARY, rsv1: true, payload: compressed(Buffer.from([1, 2, 3])) }),
        ]),
      );
      // The read returned with nothing delivered: the big message inflates in slices, one per loop turn, and
      // reading is paused meanwhile.
      assert.deepEqual(face.events, []);
      assert.equal(t.isPaused, true);
      let turns = 0;
      while (face.events.length < 4 && turns < 1000) {
        await tick();
        turns++;
      }
      assert.ok(turns >= 2, `other callbacks ran while it inflated (${turns} turns)`);
      assert.deepEqual(face.events, ['message', 'message', 'ping', 'message']);
      assert.equal(face.messages[0]?.data.length, big.length);
      assert.ok(face.messages[0]?.data.equals(big));
      assert.equal(face.messages[1]?.data.toString(), 'after');
      assert.deepEqual([...(face.messages[2]?.data ?? [])], [1, 2, 3]);
      assert.equal(t.isPaused, false, 'reading resumed');
      assert.equal(conn.isOpen, true);
    });

    test(`${role}: a bomb past maxPayload found in a later slice: 1009, nothing delivered after it`, async () => {
      const { t, face, conn } = withCodec({ maxPayload: 8 * 1024 * 1024 });
      t.deliver(
        Buffer.concat([
          fromPeer(side, { opcode: OP_BINARY, rsv1: true, payload: compressed(Buffer.alloc(64 * 1024 * 1024)) }),
          fromPeer(side, { opcode: OP_TEXT, payload: 'never' }),
        ]),
      );
      for (let i = 0; i < 1000 && !face.events.includes('closing'); i++) await tick();
      assert.equal(closeCodeSent(t), 1009);
      assert.equal(face.messages.length, 0, 'neither the bomb nor what followed it');
      assert.equal((conn.error as ProtocolError).code, 'ERR_WS_MESSAGE_TOO_BIG');
    });

    test(`${role}: what we send is compressed (RSV1) and the peer's inflater reads it back`, () => {
      const { t, conn } = withCodec();
      conn.send('abc'.repeat(100));
      const f = decodeFrames(t.output())[0];
      assert.equal(f?.rsv1, true);
      const plain = zlib.inflateRawSync(
        Buffer.concat([f?.payload ?? Buffer.alloc(0), Buffer.from([0, 0, 0xff, 0xff])]),
        { finishFlush: zlib.constants.Z_SYNC_FLUSH },
      );
      assert.equal(plain.toString(), 'abc'.repeat(100));
    });
  }
});
