/**
 * SocketWriter: gathers what a protocol core writes during one batch (one read, one response, one publish)
 * and hands it to the socket in as few writes as possible.
 *
 * PERF: one socket write per batch, as the raw node:net floor does, instead of a writev of many small pieces
 * (head string + payload per response or frame): small writevs were 29 % of server CPU in the GET benchmark
 * (bench/run.sh --workload http-get). Small pieces are copied into one Buffer; pieces of COPY_LIMIT bytes or
 * more are handed over as they are, under cork (no copy of big payloads).
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

/** Who a `SocketWriter` tells when a core asked for the connection to end (a method, not a closure per socket). */
export interface SocketWriterOwner {
  /** Called once the batch holding the end request is written. */
  onWriterEnd(): void;
}

/** Parts at least this big are written as they are (no copy); smaller neighbours are merged into one buffer.
 * PERF: with 64 KiB, POST 4 KiB echo ran ~15 % slower than with 2 KiB (bench/run.sh --workload http-post-4k). */
const COPY_LIMIT = 2 * 1024;

export class SocketWriter {
  readonly socket: Socket;
  /** Nesting depth of open batches; output is held while > 0. */
  private depth: number;
  /** What the open batch gathered; `null` between batches, so that an idle connection holds no array. */
  private parts: (string | Buffer)[] | null;
  private bytes: number;
  private endPending: boolean;
  private readonly owner: SocketWriterOwner;

  /** `owner.onWriterEnd()` is called (once the batch is written) when a core asked for the connection to end. */
  constructor(socket: Socket, owner: SocketWriterOwner) {
    this.socket = socket;
    this.depth = 0;
    this.parts = null;
    this.bytes = 0;
    this.endPending = false;
    this.owner = owner;
  }

  /** Starts (or nests) a batch. */
  begin(): void {
    this.depth++;
  }

  /** Ends a batch; the outermost one writes everything gathered. */
  commit(): void {
    if (--this.depth === 0) this.flush();
  }

  /** Writes a latin1 string (HTTP heads). */
  writeString(s: string): void {
    if (this.depth > 0) {
      if (this.parts === null) this.parts = [s];
      else this.parts.push(s);
      this.bytes += s.length;
    } else if (!this.socket.destroyed) this.socket.write(s, 'latin1');
  }

  /** Writes bytes. The buffer must not be modified afterwards (it may be written later, without a copy). */
  write(chunk: Buffer): void {
    if (this.depth > 0) {
      if (this.parts === null) this.parts = [chunk];
      else this.parts.push(chunk);
      this.bytes += chunk.length;
    } else if (!this.socket.destroyed) this.socket.write(chunk);
  }

  /** Asks for the connection to end after what has been written. */
  end(): void {
    this.endPending = true;
    if (this.depth === 0) this.flush();
  }

  /** Drops what is gathered (the connection is being destroyed). */
  discard(): void {
    this.parts = null;
    this.bytes = 0;
  }

  /** Bytes gathered but not yet handed to the socket. */
  get pendingBytes(): number {
    return this.bytes;
  }

  private flush(): void {
    const parts = this.parts;
    if (parts !== null) this.writeParts(parts);
    if (this.endPending) {
      this.endPending = false;
      this.owner.onWriterEnd();
    }
  }

  private writeParts(parts: (string | Buffer)[]): void {
    const total = this.bytes;
    this.parts = null;
    this.bytes = 0;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (parts.length === 1) {
      writePart(socket, parts[0] as string | Buffer);
      return;
    }
    let big = false;
    for (const part of parts) if (part.length >= COPY_LIMIT) big = true;
    if (!big) {
      socket.write(coalesce(parts, 0, parts.length, total));
      return;
    }
    // Runs of small parts are merged, large payloads go as they are: one writev, no copy of big buffers.
    socket.cork();
    let runStart = 0;
    let runBytes = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string | Buffer;
      if (part.length < COPY_LIMIT) {
        runBytes += part.length;
        continue;
      }
      if (i > runStart) socket.write(coalesce(parts, runStart, i, runBytes));
      writePart(socket, part);
      runStart = i + 1;
      runBytes = 0;
    }
    if (runStart < parts.length) socket.write(coalesce(parts, runStart, parts.length, runBytes));
    socket.uncork();
  }
}

function writePart(socket: Socket, part: string | Buffer): void {
  if (typeof part === 'string') socket.write(part, 'latin1');
  else socket.write(part);
}

/** One Buffer holding parts[from..to) (`bytes` in all). */
function coalesce(parts: (string | Buffer)[], from: number, to: number, bytes: number): Buffer {
  if (to - from === 1) {
    const only = parts[from] as string | Buffer;
    return typeof only === 'string' ? Buffer.from(only, 'latin1') : only;
  }
  const buf = Buffer.allocUnsafe(bytes);
  let off = 0;
  for (let i = from; i < to; i++) {
    const part = parts[i] as string | Buffer;
    if (typeof part === 'string') off += buf.write(part, off, 'latin1');
    else {
      part.copy(buf, off);
      off += part.length;
    }
  }
  return buf;
}
