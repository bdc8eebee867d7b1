/**
 * The byte transport: what a protocol driver (one WebSocket connection, see ws-connection.ts) needs from the thing
 * beneath it, and its TCP implementation.
 *
 * A transport moves bytes; it knows nothing of frames. The contract a new transport (TLS, an HTTP/2 stream as in
 * RFC 8441, an in-memory pair for tests) implements:
 *
 * - **Writes in batches.** `begin()` … `commit()` bracket everything one turn produces (the replies to one read,
 *   one send); the outermost `commit()` hands it on in as few writes as the transport can. Inside a batch,
 *   `write(buf)` keeps a reference (the caller never changes `buf` again) and `writeCopy(src, start, end)` copies
 *   now (the caller reuses `src`). Outside a batch both write at once. `holdOpen()` asks that the open batch wait
 *   for more (a large message echoed as it arrives), `discard()` drops what is gathered. The transport is the
 *   protocol core's `WsSink`.
 * - **Ending.** `end()` (the core's request) ends our side once the batch holding it is written, then calls the
 *   target's `onWriterEnd()`; `shutdown()` ends our side now; `destroy()` drops the connection at once.
 * - **Buffered bytes and drain.** `bufferedAmount` is what was handed over and not yet taken by the peer's side
 *   (the open batch included); `needsDrain` says the transport's own buffer is past its high-water mark and
 *   `onDrain()` will follow; `whenWritten(fn)` calls `fn` once everything queued now is written (or the
 *   transport is gone), also when no drain event would come.
 * - **Reads** go to one target at a time (`attach`): `onRead(view)` for a view valid only during the call (a
 *   shared read buffer), `onData(chunk)` for bytes the target may keep; then `onPeerEnd()` (the peer ended its side)
 *   and `onTransportClose()` (gone, once). `pause()`/`resume()` stop and restart reading (flow control reaches the peer).
 * - The peer's address, and byte counters over the connection's life.
 */

import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { type ReadTarget, setReadTarget } from './socket-reads.js';
import { SocketWriter, type SocketWriterOwner } from './socket-writer.js';

/** Who a transport reports to. Fixed methods: no closure per connection. */
export interface TransportTarget extends ReadTarget, SocketWriterOwner {
  /** Bytes just read into a shared buffer: valid during the call only. */
  onRead(view: Buffer): void;
  /** Bytes just read that the target may keep. */
  onData(chunk: Buffer): void;
  /** The peer ended its side (TCP FIN). */
  onPeerEnd(): void;
  /** The transport is closed (after `destroy()`, an error, or both sides ended). Called once. */
  onTransportClose(): void;
  /** The transport failed (reset, TLS error...); `onClose()` follows. */
  onTransportError(err: Error): void;
  /** The transport's buffer went below its high-water mark after `needsDrain`. */
  onDrain(): void;
  /** A batch that held `end()` was written and our side is ending. */
  onWriterEnd(): void;
}

/** The byte-transport contract (see the top of this file). */
export interface Transport {
  begin(): void;
  commit(): void;
  holdOpen(): void;
  discard(): void;
  write(chunk: Buffer): void;
  writeCopy(src: Uint8Array, start: number, end: number): void;
  /** Ends our side once the current batch is written, then calls the target's `onWriterEnd()`. */
  end(): void;
  /** Ends our side now (after what is queued). */
  shutdown(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  readonly isPaused: boolean;
  attach(target: TransportTarget): void;
  /** Bytes of the open batch not yet handed on. */
  readonly pendingBytes: number;
  /** Bytes written (or gathered) and not yet taken: the open batch plus the transport's own buffer. */
  readonly bufferedAmount: number;
  readonly needsDrain: boolean;
  whenWritten(fn: () => void): void;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

const kTransport = Symbol('sockeye.transport');
type SocketWithTransport = Socket & { [kTransport]?: TcpTransport };

const EMPTY = new Uint8Array(0);

/**
 * A transport over a `net.Socket` (or a `tls.TLSSocket`, which is one): batched writes through `SocketWriter`,
 * reads through the shared read buffer when the socket was set up for it (`socket-reads.ts`), else `'data'`.
 */
export class TcpTransport implements Transport, SocketWriterOwner {
  readonly socket: Socket;
  readonly #writer: SocketWriter;
  #target: TransportTarget | null;
  /** Reads arrive as `'data'` events (not through the shared buffer). */
  #dataEvents: boolean;

  constructor(socket: Socket) {
    this.socket = socket;
    this.#writer = new SocketWriter(socket, this);
    this.#target = null;
    this.#dataEvents = false;
  }

  /**
   * Sends the socket's reads and events to `target` (replacing the previous one). Listeners are module-level
   * functions that find the transport on the socket: no closure per connection.
   */
  attach(target: TransportTarget): void {
    const socket = this.socket as SocketWithTransport;
    const first = this.#target === null;
    this.#target = target;
    if (!first) {
      if (!this.#dataEvents) setReadTarget(socket, target);
      return;
    }
    socket[kTransport] = this;
    if (!setReadTarget(socket, target)) {
      this.#dataEvents = true;
      socket.on('data', tcpOnData);
    }
    socket.on('end', tcpOnEnd);
    socket.on('error', tcpOnError);
    socket.on('close', tcpOnClose);
    socket.on('drain', tcpOnDrain);
  }

  /** @internal */ get target(): TransportTarget | null {
    return this.#target;
  }

  /** @internal */ readsByEvents(): boolean {
    return this.#dataEvents;
  }

  /** @internal SocketWriterOwner */
  onWriterEnd(): void {
    this.#target?.onWriterEnd();
  }

  begin(): void {
    this.#writer.begin();
  }
  commit(): void {
    this.#writer.commit();
  }
  holdOpen(): void {
    this.#writer.holdOpen();
  }
  discard(): void {
    this.#writer.discard();
  }
  write(chunk: Buffer): void {
    this.#writer.write(chunk);
  }
  writeCopy(src: Uint8Array, start: number, end: number): void {
    this.#writer.writeCopy(src, start, end);
  }
  end(): void {
    this.#writer.end();
  }
  shutdown(): void {
    if (!this.socket.writableEnded) this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  get isPaused(): boolean {
    return this.socket.isPaused();
  }
  get pendingBytes(): number {
    return this.#writer.pendingBytes;
  }
  get bufferedAmount(): number {
    return this.#writer.pendingBytes + this.socket.writableLength;
  }
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  /**
   * Node emits 'drain' only after a write found the socket's highWaterMark (16 KiB) reached; with less queued no
   * 'drain' comes, and the callback of an empty write, which completes after every write before it, says when.
   */
  whenWritten(fn: () => void): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) {
      fn();
      return;
    }
    if (!socket.writableNeedDrain) {
      socket.write(EMPTY, () => fn());
      return;
    }
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      fn();
    };
    socket.on('drain', done);
    socket.on('close', done);
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }
  get writableEnded(): boolean {
    return this.socket.writableEnded;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get bytesRead(): number {
    return this.socket.bytesRead;
  }
  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }
}

function tcpOnData(this: SocketWithTransport, chunk: Buffer): void {
  this[kTransport]?.target?.onData(chunk);
}
function tcpOnEnd(this: SocketWithTransport): void {
  this[kTransport]?.target?.onPeerEnd();
}
function tcpOnError(this: SocketWithTransport, err: Error): void {
  // ECONNRESET, EPIPE...: 'close' follows, and the target reports the end from there.
  this[kTransport]?.target?.onTransportError(err);
}
function tcpOnClose(this: SocketWithTransport): void {
  this[kTransport]?.target?.onTransportClose();
}
function tcpOnDrain(this: SocketWithTransport): void {
  this[kTransport]?.target?.onDrain();
}
