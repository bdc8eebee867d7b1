/**
 * An in-memory byte transport (the `Transport` contract of src/node/transport.ts) for driving one
 * `WsConnection` without a socket: what the connection writes is recorded in `written` (and, when two transports
 * are paired, delivered to the other side on a microtask); `stall()` makes written bytes pile up as unread
 * (`bufferedAmount`) as a peer that stops reading would; `peerEnd()` and `drop()` act as the peer's FIN and a
 * reset.
 */

import { Buffer } from 'node:buffer';
import type { Transport, TransportTarget, TransportWriter } from '../../src/node/transport.js';

export class MemoryTransport implements Transport, TransportWriter {
  /** Every byte handed on, in order (one entry per batch or unbatched write). */
  readonly written: Buffer[] = [];
  target: TransportTarget | null = null;
  /** The transport is its own writer. */
  get writer(): TransportWriter {
    return this;
  }
  peer: MemoryTransport | null = null;
  destroyed = false;
  writableEnded = false;
  isPaused = false;
  remoteAddress: string | undefined = '127.0.0.1';
  remotePort: number | undefined = 40000;
  bytesRead = 0;
  bytesWritten = 0;
  /** High-water mark for `needsDrain`. */
  highWaterMark = 16 * 1024;
  #depth = 0;
  #parts: Buffer[] = [];
  #endAsked = false;
  #stalled = false;
  /** Bytes written while stalled (not yet "taken" by the peer). */
  #unread: Buffer[] = [];
  #unreadBytes = 0;
  #waiters: (() => void)[] = [];
  #closed = false;
  #peerEnded = false;

  /** Connects two transports: what one writes, the other reads. */
  static pair(): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport();
    const b = new MemoryTransport();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  attach(target: TransportTarget): void {
    this.target = target;
  }

  begin(): void {
    this.#depth++;
  }

  commit(): void {
    if (--this.#depth > 0) return;
    this.#flush();
  }

  holdOpen(): void {}

  discard(): void {
    this.#parts = [];
  }

  write(chunk: Buffer): void {
    this.#parts.push(Buffer.from(chunk));
    if (this.#depth === 0) this.#flush();
  }

  writeCopy(src: Uint8Array, start: number, end: number): void {
    this.write(Buffer.from(src.subarray(start, end)));
  }

  writeShared(buf: Buffer, start: number, end: number): void {
    this.write(Buffer.from(buf.subarray(start, end)));
  }

  writeSharedHeld(buf: Buffer, start: number, end: number): void {
    this.begin();
    this.writeShared(buf, start, end);
    this.commit();
  }

  end(): void {
    this.#endAsked = true;
    if (this.#depth === 0) this.#flush();
  }

  shutdown(): void {
    if (this.writableEnded || this.destroyed) return;
    this.writableEnded = true;
    const peer = this.peer;
    if (peer !== null) queueMicrotask(() => peer.peerEnd());
    this.#maybeClose();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const peer = this.peer;
    if (peer !== null) queueMicrotask(() => peer.drop());
    this.#close();
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
  }

  get pendingBytes(): number {
    let n = 0;
    for (const p of this.#parts) n += p.length;
    return n;
  }

  /** Nothing is held past a batch here. */
  readonly heldBytes = 0;

  get bufferedAmount(): number {
    return this.pendingBytes + this.#unreadBytes;
  }

  get needsDrain(): boolean {
    return this.#unreadBytes >= this.highWaterMark;
  }

  /** As a socket's empty write: called once everything handed on so far is taken, never synchronously. */
  whenWritten(fn: () => void): void {
    if (this.#unreadBytes === 0 || this.destroyed) queueMicrotask(fn);
    else this.#waiters.push(fn);
  }

  // ── what the test does as the peer ──────────────────────────────────────────────────────────────────

  /** Bytes from the peer. */
  deliver(bytes: Buffer): void {
    if (this.#closed) return;
    this.bytesRead += bytes.length;
    this.target?.onData(bytes);
  }

  /** The peer sent its FIN. */
  peerEnd(): void {
    if (this.#closed) return;
    this.target?.onPeerEnd();
    this.#peerEnded = true;
    this.#maybeClose();
  }

  /** The connection dropped (a reset): closed without a FIN. */
  drop(): void {
    this.destroyed = true;
    this.#close();
  }

  /** The peer stops reading: what is written from now on stays in `bufferedAmount`. */
  stall(): void {
    this.#stalled = true;
  }

  /** The peer reads everything again: the unread bytes are taken, a drain is signalled. */
  unstall(): void {
    this.#stalled = false;
    const wasOver = this.needsDrain;
    const unread = this.#unread;
    this.#unread = [];
    this.#unreadBytes = 0;
    for (const b of unread) this.#handOn(b);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const fn of waiters) fn();
    if (wasOver) this.target?.onDrain();
  }

  /** Everything written so far, as one buffer. */
  output(): Buffer {
    return Buffer.concat([...this.written, ...this.#unread]);
  }

  #maybeClose(): void {
    if (this.writableEnded && this.#peerEnded) this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const target = this.target;
    queueMicrotask(() => target?.onTransportClose());
  }

  #flush(): void {
    const parts = this.#parts;
    this.#parts = [];
    if (parts.length > 0 && !this.destroyed && !this.writableEnded) {
      const bytes = Buffer.concat(parts);
      this.bytesWritten += bytes.length;
      if (this.#stalled) {
        this.#unread.push(bytes);
        this.#unreadBytes += bytes.length;
      } else this.#handOn(bytes);
    }
    if (this.#endAsked) {
      this.#endAsked = false;
      this.target?.onWriterEnd();
    }
  }

  #handOn(bytes: Buffer): void {
    this.written.push(bytes);
    const peer = this.peer;
    if (peer !== null) queueMicrotask(() => peer.deliver(bytes));
  }
}
