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
 *   now (the caller reuses `src`); `writeShared(buf, start, end)` keeps a reference to bytes many transports
 *   share (a publish's frame), which a transport may merge with the neighbouring shared bytes it got before. Outside a batch both write at once. `holdOpen()` asks that the open batch wait
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

/**
 * The batching writer of a transport: a protocol core's sink (`write`, `writeCopy`, `end`) and the batch brackets.
 * Drivers call it directly (PERF: no forwarding through the transport for every frame).
 */
export interface TransportWriter {
  begin(): void;
  commit(): void;
  holdOpen(): void;
  discard(): void;
  write(chunk: Buffer): void;
  writeCopy(src: Uint8Array, start: number, end: number): void;
  /** Writes `buf[start..end)`, bytes shared by many transports and never changed (a publish's frame). */
  writeShared(buf: Buffer, start: number, end: number): void;
  /** As `begin(); writeShared(buf, start, end); holdOpen(); commit()` (a publish's frame). */
  writeSharedHeld(buf: Buffer, start: number, end: number): void;
  /** Ends our side once the current batch is written, then calls the target's `onWriterEnd()`. */
  end(): void;
  /** Bytes of the open batch not yet handed on. */
  readonly pendingBytes: number;
  /** Of those, the bytes of a batch held to the end of the event-loop turn (bounded; 0 when none is held). */
  readonly heldBytes: number;
}

/** The byte-transport contract (see the top of this file). */
export interface Transport {
  /** Writes in batches (see TransportWriter). */
  readonly writer: TransportWriter;
  /** Ends our side now (after what is queued). */
  shutdown(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  readonly isPaused: boolean;
  attach(target: TransportTarget): void;
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
 * A transport over a `net.Socket` (or a `tls.TLSSocket`, which is one): batched writes (it is its own
 * `SocketWriter`: one object per connection, MEMORY), reads through the shared read buffer when the socket was set
 * up for it (`socket-reads.ts`), else `'data'`.
 */
export class TcpTransport extends SocketWriter implements Transport {
  #target: TransportTarget | null;

  constructor(socket: Socket) {
    super(socket, null);
    this.#target = null;
  }

  /** The transport is its own writer. */
  get writer(): TransportWriter {
    return this;
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
      // A socket with shared reads sends them to the new target; one on 'data' events finds it through #target.
      setReadTarget(socket, target);
      return;
    }
    socket[kTransport] = this;
    if (!setReadTarget(socket, target)) socket.on('data', tcpOnData);
    socket.on('end', tcpOnEnd);
    socket.on('error', tcpOnError);
    socket.on('close', tcpOnClose);
    socket.on('drain', tcpOnDrain);
  }

  /** @internal */ get target(): TransportTarget | null {
    return this.#target;
  }

  /** The writer is the transport itself (no owner field): a core's end request, written, goes to the target. */
  protected override writerEnded(): void {
    this.#target?.onWriterEnd();
  }

  shutdown(): void {
    if (!this.socket.writableEnded && !this.socket.destroyed) {
      this.writeSpill();
      this.socket.end();
    }
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
  get bufferedAmount(): number {
    return this.pendingBytes + this.socket.writableLength;
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
    // Bytes in the writer's spill go to the socket on this drain (its listener runs first): wait for them too.
    const again = this.spilled;
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      if (again && !socket.destroyed) this.whenWritten(fn);
      else fn();
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
