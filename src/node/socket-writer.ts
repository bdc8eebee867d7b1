/**
 * SocketWriter: gathers what a protocol core writes during one batch (one read, one response, one publish)
 * and hands it to the socket in as few writes as possible.
 *
 * PERF: one socket write per batch, as the raw node:net floor does, instead of a writev of many small pieces
 * (head string + payload per response or frame): small writevs were 29 % of server CPU in the GET benchmark
 * (bench/run.sh --workload http-get). Batches up to COALESCE_LIMIT bytes are copied into one Buffer; larger
 * ones are written piece by piece under cork (no copy of big payloads).
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

const COALESCE_LIMIT = 64 * 1024;

export class SocketWriter {
  readonly socket: Socket;
  /** Nesting depth of open batches; output is held while > 0. */
  private depth: number;
  private parts: (string | Buffer)[];
  private bytes: number;
  private endPending: boolean;
  private readonly onEnd: () => void;

  /** `onEnd` is called (once the batch is written) when a core asked for the connection to end. */
  constructor(socket: Socket, onEnd: () => void) {
    this.socket = socket;
    this.depth = 0;
    this.parts = [];
    this.bytes = 0;
    this.endPending = false;
    this.onEnd = onEnd;
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
      this.parts.push(s);
      this.bytes += s.length;
    } else if (!this.socket.destroyed) this.socket.write(s, 'latin1');
  }

  /** Writes bytes. The buffer must not be modified afterwards (it may be written later, without a copy). */
  write(chunk: Buffer): void {
    if (this.depth > 0) {
      this.parts.push(chunk);
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
    this.parts = [];
    this.bytes = 0;
  }

  /** Bytes gathered but not yet handed to the socket. */
  get pendingBytes(): number {
    return this.bytes;
  }

  private flush(): void {
    if (this.parts.length > 0) this.writeParts();
    if (this.endPending) {
      this.endPending = false;
      this.onEnd();
    }
  }

  private writeParts(): void {
    const parts = this.parts;
    const total = this.bytes;
    this.parts = [];
    this.bytes = 0;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (parts.length === 1) {
      const only = parts[0] as string | Buffer;
      if (typeof only === 'string') socket.write(only, 'latin1');
      else socket.write(only);
      return;
    }
    if (total <= COALESCE_LIMIT) {
      const buf = Buffer.allocUnsafe(total);
      let off = 0;
      for (const part of parts) {
        if (typeof part === 'string') off += buf.write(part, off, 'latin1');
        else {
          part.copy(buf, off);
          off += part.length;
        }
      }
      socket.write(buf);
      return;
    }
    socket.cork();
    for (const part of parts) {
      if (typeof part === 'string') socket.write(part, 'latin1');
      else socket.write(part);
    }
    socket.uncork();
  }
}
