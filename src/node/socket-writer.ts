/**
 * SocketWriter: gathers what a protocol core writes during one batch (one read, one response, one publish)
 * and hands it to the socket in as few writes as possible.
 *
 * PERF: one socket write per batch, as the raw node:net floor does, instead of a writev of many small pieces
 * (head string + payload per response or frame): small writevs were 29 % of server CPU in the GET benchmark
 * (bench/run.sh --workload http-get). Small pieces are copied into one Buffer; pieces of WRITER_COPY_LIMIT bytes or
 * more are handed over as they are, under cork (no copy of big payloads).
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import {
  WRITER_ARENA_SIZE,
  WRITER_COPY_LIMIT,
  WRITER_HOLD_MAX,
  WRITER_SHARED_LOG_SIZE,
  WRITER_SPILL_MAX,
  WRITER_SPILL_MIN,
} from '../limits.js';
import { readBuffer } from './read-buffer.js';

/** Who a `SocketWriter` tells when a core asked for the connection to end (a method, not a closure per socket). */
export interface SocketWriterOwner {
  /** Called once the batch holding the end request is written. */
  onWriterEnd(): void;
}

/**
 * The arena `writeCopy` appends to, shared by every writer of the process (one thread: no two batches interleave
 * within one append). Bytes once appended are never overwritten: a segment handed to a socket stays valid until
 * the socket has written it, and a full arena is simply replaced (the old one lives while sockets hold segments
 * of it), as Node's own Buffer pool works. Idle connections hold nothing.
 *
 * MEMORY: a segment kept by a socket keeps its whole arena alive. A socket that already has bytes queued gets
 * a copy of its segment instead (see closeSegment), so only a write cut short at the moment backpressure starts
 * can keep an arena: at most WRITER_ARENA_SIZE per connection (or the one piece bigger than that the arena was grown
 * for), the same bound as Node's 8 KiB Buffer pool.
 *
 * PERF: a batch the kernel took whole (the socket queues nothing after the write) gives its last segment back:
 * the arena's fill goes back to where the segment started, so a connection that streams large pieces through
 * `writeCopy` (a `messageChunk` echo) reuses the same memory read after read. Fresh memory is what costs: on
 * this VM a 64 KiB buffer per read made ~150 page faults per 1 MiB echoed and halved the throughput.
 *
 * The sizes (WRITER_ARENA_SIZE, WRITER_HOLD_MAX, WRITER_COPY_LIMIT) are in limits.ts with why.
 */
let arena: Buffer = Buffer.allocUnsafeSlow(WRITER_ARENA_SIZE);
let arenaFill = 0;

/**
 * The shared log: frames written to many sockets (a publish's frame, see prepared-message.ts) are copied here once,
 * one after the other, and each socket's batch refers to them instead of copying them. Consecutive frames that one
 * socket gets (a burst of publishes to a topic) are neighbours in the log, so its whole batch is one view of the log,
 * written as it is: no per-subscriber buffer and no per-subscriber copy (bench/fanout-instr.ts, issue 17 §4).
 * Append-only, as the arena: a full log is replaced, the old one lives while sockets still hold views of it.
 *
 * MEMORY: a view goes to the socket only when nothing is queued on it (else it gets a copy, see closeSegment), so a
 * slow subscriber pins at most one log (WRITER_SHARED_LOG_SIZE), not one per message it has queued.
 */
let sharedLog: Buffer = Buffer.allocUnsafeSlow(WRITER_SHARED_LOG_SIZE);
let sharedLogFill = 0;

/**
 * @internal Copies `frame` (shorter than WRITER_COPY_LIMIT) into the shared log; its bytes are then
 * `sharedLogBuffer()[start .. start + frame.length)`, never changed again. Returns `start`.
 */
export function appendShared(frame: Uint8Array): number {
  const n = frame.length;
  if (sharedLogFill + n > sharedLog.length) {
    sharedLog = Buffer.allocUnsafeSlow(WRITER_SHARED_LOG_SIZE);
    sharedLogFill = 0;
  }
  const start = sharedLogFill;
  sharedLog.set(frame, start);
  sharedLogFill = start + n;
  return start;
}

/** @internal The log the last `appendShared` wrote to. */
export function sharedLogBuffer(): Buffer {
  return sharedLog;
}

const HOLD_ASKED = 1;
const HOLDING = 2;
/** (In `hold`, with the HOLD bits.) A 'drain' listener that writes the spill is on the socket. */
const SPILL_LISTENING = 4;
/** (In `hold`.) Bytes wait in this writer's spill (see `spills`). */
const SPILLING = 8;
/** (In `hold`.) A core asked for the connection to end: the socket ends once the open batch is written. */
const END_PENDING = 16;

/** (In `hold`, above the flag bits.) How many bytes of the spill chunk are filled (at most WRITER_SPILL_MAX). */
const FILL_SHIFT = 5;
const FLAGS = (1 << FILL_SHIFT) - 1;

/**
 * MEMORY: while a socket is past its high-water mark (a peer that reads slowly), its writer's batches are copied
 * into a spill chunk instead of each going to the socket as a Buffer of its own, and the chunk is handed over when
 * it is full (the next one twice as big, WRITER_SPILL_MIN up to WRITER_SPILL_MAX) or when the socket drains. So a
 * slow consumer's queue is a few large buffers, not a buffer and a queue entry per message (limits.ts says what that
 * cost). Bytes in it count as pending (`pendingBytes`), and everything written while it holds any goes through it, in
 * order. The chunk is kept here and its fill in the writer's `hold` (above the flag bits), not in two fields of
 * every writer: a socket that keeps up never has one, and idle connections are what memory per connection is
 * (bench/idle-memory.sh). A WeakMap: a spill dies with its writer.
 */
const spills = new WeakMap<SocketWriter, Buffer>();

/** Parts smaller than this are copied into the spill; bigger ones go by reference after it (see `spillPart`). */
const SPILL_COPY_LIMIT = WRITER_SPILL_MAX / 4;

/**
 * PERF: every batch held in one turn is released by one setImmediate, in the order they were held, instead of one
 * setImmediate per socket (a publish to 1,000 subscribers held 1,000 batches, and scheduled 1,000 immediates, per
 * turn). A batch held while these are released waits for the next turn's check phase, as its own setImmediate would.
 */
let heldWriters: SocketWriter[] = [];
let spareWriters: SocketWriter[] = [];
let releaseScheduled = false;

function holdUntilCheck(writer: SocketWriter): void {
  heldWriters.push(writer);
  if (!releaseScheduled) {
    releaseScheduled = true;
    setImmediate(releaseAllHeld);
  }
}

function releaseAllHeld(): void {
  const list = heldWriters;
  heldWriters = spareWriters;
  spareWriters = list;
  releaseScheduled = false;
  let i = 0;
  try {
    for (; i < list.length; i++) (list[i] as SocketWriter).releaseHeld();
  } finally {
    // One that threw (an owner's onWriterEnd) must not leave the others held for ever: they go in the next round.
    for (let j = i + 1; j < list.length; j++) holdUntilCheck(list[j] as SocketWriter);
    list.length = 0;
  }
}

/** @internal For tests: the shared arena and how much of it is in use. */
export function arenaUsage(): { arena: Buffer; fill: number } {
  return { arena, fill: arenaFill };
}

export class SocketWriter {
  readonly socket: Socket;
  /** Nesting depth of open batches; output is held while > 0. */
  private depth: number;
  /** What the open batch gathered; `null` between batches, so that an idle connection holds no array. */
  private parts: (string | Buffer)[] | null;
  private bytes: number;
  /** The open segment of this batch: `[segmentStart, segmentEnd)` of `segmentArena`, the arena or a buffer of shared
   * bytes such as the shared log (null: none open). */
  private segmentArena: Buffer | null;
  private segmentStart: number;
  private segmentEnd: number;
  /** HOLD_* bits: the open batch asked to be held; a held batch waits for its setImmediate. SPILL_LISTENING,
   * SPILLING, END_PENDING. (One number for all: MEMORY, a field is 8 bytes of every connection.) */
  private hold: number;
  /** Told when the end was asked and the batch is written. MEMORY: absent in a subclass that is its own owner
   * (TcpTransport passes `null` and overrides `writerEnded`): one field less on every WebSocket connection. */
  declare private readonly owner: SocketWriterOwner;

  /** `owner.onWriterEnd()` is called (once the batch is written) when a core asked for the connection to end. */
  constructor(socket: Socket, owner: SocketWriterOwner | null) {
    this.socket = socket;
    this.depth = 0;
    this.parts = null;
    this.bytes = 0;
    this.segmentArena = null;
    this.segmentStart = 0;
    this.segmentEnd = 0;
    this.hold = 0;
    if (owner !== null) this.owner = owner;
  }

  /** Starts (or nests) a batch. */
  begin(): void {
    this.depth++;
  }

  /** Ends a batch; the outermost one writes everything gathered (unless it asked to be held: see `holdOpen`). */
  commit(): void {
    const depth = --this.depth;
    if (depth > 1 || (depth === 1 && (this.hold & HOLDING) === 0)) return;
    const asked = (this.hold & HOLD_ASKED) !== 0;
    this.hold &= ~HOLD_ASKED;
    const keep = asked && this.bytes < WRITER_HOLD_MAX && (this.hold & END_PENDING) === 0 && !this.socket.destroyed;
    if (depth === 0) {
      if (!keep) {
        this.flush();
        return;
      }
      // Held: the batch stays open (depth 1) until the check phase of this loop turn, or WRITER_HOLD_MAX bytes.
      this.hold |= HOLDING;
      this.depth = 1;
      holdUntilCheck(this);
    } else if (!keep) {
      // A batch that ran while an earlier one was held: write both now.
      this.hold &= ~HOLDING;
      this.depth = 0;
      this.flush();
    }
  }

  /**
   * Asks that the open batch not be written when it ends but held, with what the next reads add, until this
   * event-loop turn's check phase or until WRITER_HOLD_MAX bytes are gathered. For a large message echoed as it arrives,
   * one read at a time, as the floor does: four reads' worth leave in one write instead of four (on loopback each
   * write also wakes the reader, and that was a fifth of the server's CPU with 1 MiB messages).
   */
  holdOpen(): void {
    if (this.depth > 0) this.hold |= HOLD_ASKED;
  }

  /** @internal setImmediate callback of a held batch. */
  releaseHeld(): void {
    if ((this.hold & HOLDING) === 0) return;
    this.hold &= ~HOLDING;
    if (--this.depth === 0) this.flush();
  }

  /**
   * Copies `src[start..end)` into the batch now; the caller may reuse `src` afterwards. Consecutive copies of a
   * batch land next to each other in the shared arena and leave as one piece: small frames cost no buffer of
   * their own and no second copy when the batch is written.
   */
  writeCopy(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.depth === 0) {
      if ((this.hold & SPILLING) !== 0) this.spillCopy(src, start, end);
      else if (!this.socket.destroyed) this.socket.write(Buffer.from(src.subarray(start, end)));
      return;
    }
    if (arenaFill + n > arena.length) {
      // Room for a held batch of pieces this big (see holdOpen), which the arena gets back once it is written.
      arena = Buffer.allocUnsafeSlow(
        n <= WRITER_ARENA_SIZE ? WRITER_ARENA_SIZE : Math.max(2 * n, WRITER_HOLD_MAX + 2 * n),
      );
      arenaFill = 0;
    }
    const a = arena;
    // The segment goes on only if nobody appended since this writer's last copy (a send to another socket from
    // inside this batch appends too) and the arena is the same; else a new segment starts here.
    if (this.segmentArena !== a || this.segmentEnd !== arenaFill) {
      this.closeSegment();
      this.segmentArena = a;
      this.segmentStart = arenaFill;
    }
    if (n <= 32) {
      for (let i = 0; i < n; i++) a[arenaFill + i] = src[start + i] as number;
    } else {
      a.set(start === 0 && end === src.length ? src : src.subarray(start, end), arenaFill);
    }
    arenaFill += n;
    this.segmentEnd = arenaFill;
    this.bytes += n;
  }

  /**
   * Writes `buf[start..end)`, bytes shared with other sockets that nobody changes again (a publish's frame, from the
   * shared log or a buffer of its own). Inside a batch, bytes that follow this socket's previous shared bytes in the
   * same buffer extend its open segment: a burst of publishes leaves as one view of the shared log (see above).
   * Large pieces go by reference, as `write` does.
   */
  writeShared(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.depth === 0) {
      const part = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
      if ((this.hold & SPILLING) !== 0) this.spillPart(part);
      else if (!this.socket.destroyed) this.socket.write(part);
      return;
    }
    if (this.segmentArena === buf && this.segmentEnd === start) {
      this.segmentEnd = end;
    } else if (n >= WRITER_COPY_LIMIT) {
      if (this.segmentArena !== null) this.closeSegment();
      const part = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
      if (this.parts === null) this.parts = [part];
      else this.parts.push(part);
    } else {
      if (this.segmentArena !== null) this.closeSegment();
      this.segmentArena = buf;
      this.segmentStart = start;
      this.segmentEnd = end;
    }
    this.bytes += n;
  }

  /**
   * As `begin(); writeShared(buf, start, end); holdOpen(); commit()`: a publish's frame, held to the end of the turn
   * with the others the burst brings this socket. PERF: the second and later frames of a turn join the held batch
   * directly (a burst of 16 publishes to 1,000 subscribers is 15,000 of them).
   */
  writeSharedHeld(buf: Buffer, start: number, end: number): void {
    if (this.depth !== 1 || (this.hold & HOLDING) === 0) {
      this.begin();
      this.writeShared(buf, start, end);
      this.holdOpen();
      this.commit();
      return;
    }
    // The common case first: the frame lies right after this socket's previous one in the shared log.
    if (this.segmentArena === buf && this.segmentEnd === start) {
      this.segmentEnd = end;
      this.bytes += end - start;
    } else this.writeShared(buf, start, end);
    // What commit does with a held batch that may not wait any more: write it now. (A socket destroyed meanwhile
    // is not asked here: its batch is dropped when released, as the write finds it destroyed.)
    if (this.bytes >= WRITER_HOLD_MAX || (this.hold & END_PENDING) !== 0) {
      this.hold &= ~HOLDING;
      this.depth = 0;
      this.flush();
    }
  }

  /** Moves the open arena segment into the parts list (before a part written by reference, and at the end). */
  private closeSegment(): void {
    const a = this.segmentArena;
    if (a === null) return;
    this.segmentArena = null;
    let seg = a.subarray(this.segmentStart, this.segmentEnd);
    // Queued behind earlier bytes, the segment would wait (and keep the arena) until the peer reads: copy it.
    if (this.socket.writableLength > 0) seg = Buffer.from(seg);
    if (this.parts === null) this.parts = [seg];
    else this.parts.push(seg);
  }

  /** Writes a latin1 string (HTTP heads). */
  writeString(s: string): void {
    if (this.depth > 0) {
      if (this.segmentArena !== null) this.closeSegment();
      if (this.parts === null) this.parts = [s];
      else this.parts.push(s);
      this.bytes += s.length;
    } else if ((this.hold & SPILLING) !== 0) this.spillPart(s);
    else if (!this.socket.destroyed) this.socket.write(Buffer.from(s, 'latin1'));
  }

  /**
   * Writes bytes. The buffer must not be modified afterwards (it may be written later, without a copy); a view
   * of the shared read buffer (a streamed piece being echoed), which the next read overwrites, is copied.
   */
  write(chunk: Buffer): void {
    if (chunk.buffer === readBuffer.buffer) {
      this.writeCopy(chunk, 0, chunk.length);
      return;
    }
    if (this.depth > 0) {
      if (this.segmentArena !== null) this.closeSegment();
      if (this.parts === null) this.parts = [chunk];
      else this.parts.push(chunk);
      this.bytes += chunk.length;
    } else if ((this.hold & SPILLING) !== 0) this.spillPart(chunk);
    else if (!this.socket.destroyed) this.socket.write(chunk);
  }

  /** Asks for the connection to end after what has been written. */
  end(): void {
    this.hold |= END_PENDING;
    if (this.depth === 0) this.flush();
  }

  /** A core asked for the end, and the batch holding it is written: tells the owner. */
  protected writerEnded(): void {
    this.owner.onWriterEnd();
  }

  /** Drops what is gathered (the connection is being destroyed). */
  discard(): void {
    this.parts = null;
    this.segmentArena = null;
    this.bytes = 0;
    if ((this.hold & SPILLING) !== 0) {
      spills.delete(this);
      this.hold &= FLAGS & ~SPILLING;
    }
  }

  /** Bytes gathered but not yet handed to the socket: the open batch, and the spill (see `spills`). */
  get pendingBytes(): number {
    // PERF: read per message sent (bufferedAmount): two fields, no branch. With a lookup of the spill here it was no
    // longer inlined (+140 instructions per 32 B echo, bench/instructions.sh 32pp).
    return this.bytes + (this.hold >>> FILL_SHIFT);
  }

  /** Bytes wait in the spill for the socket to drain. */
  protected get spilled(): boolean {
    return (this.hold & SPILLING) !== 0;
  }

  /**
   * Of those, the bytes of a batch held to the end of the event-loop turn (see holdOpen): about to be written, and
   * never more than HOLD_MAX (a fuller batch is written at once), so backpressure policies need not count them.
   */
  get heldBytes(): number {
    return (this.hold & HOLDING) !== 0 ? this.bytes : 0;
  }

  private flush(): void {
    // A socket past its high-water mark: the batch joins the spill (see `spills`) instead of the socket's queue.
    // Checked below per path: the shared path reads writableLength anyway, and only a socket with bytes queued can
    // be past the mark, so it asks writableNeedDrain only then.
    if ((this.hold & SPILLING) !== 0) {
      this.flushToSpill();
      return;
    }
    const socket = this.socket;
    const shared = this.segmentArena;
    if (this.parts === null && shared !== null && shared !== arena) {
      // PERF: the batch is one view of shared bytes (a subscriber's burst of publishes): written as it is, no parts
      // list. Queued behind earlier bytes it is copied, as closeSegment does, so that it keeps no log alive.
      const queued = socket.writableLength > 0;
      if (queued && socket.writableNeedDrain) {
        this.flushToSpill();
        return;
      }
      this.segmentArena = null;
      this.bytes = 0;
      if (!socket.destroyed) {
        const seg = shared.subarray(this.segmentStart, this.segmentEnd);
        socket.write(queued ? Buffer.from(seg) : seg);
      }
      if ((this.hold & END_PENDING) !== 0) {
        this.hold &= ~END_PENDING;
        this.writerEnded();
      }
      return;
    }
    if (socket.writableNeedDrain) {
      this.flushToSpill();
      return;
    }
    let rewindArena: Buffer | null = null;
    let rewindStart = 0;
    let rewindEnd = 0;
    let copied = false;
    if (this.segmentArena !== null) {
      // The last segment can be given back after the write if nobody appended after it (see the PERF note above).
      if (this.segmentArena === arena && this.segmentEnd === arenaFill) {
        rewindArena = arena;
        rewindStart = this.segmentStart;
        rewindEnd = this.segmentEnd;
        copied = this.socket.writableLength > 0; // closeSegment hands the socket a copy then
      }
      this.closeSegment();
    }
    const parts = this.parts;
    if (parts !== null) this.writeParts(parts);
    // Given back when the socket holds no reference to the segment: it got a copy, or it queues nothing after the
    // write (the kernel has taken every byte). arenaFill is checked again: a callback run by the write may append.
    if (
      rewindArena === arena &&
      arenaFill === rewindEnd &&
      rewindArena !== null &&
      (copied || this.socket.writableLength === 0)
    ) {
      arenaFill = rewindStart;
    }
    if ((this.hold & END_PENDING) !== 0) {
      this.hold &= ~END_PENDING;
      this.writerEnded();
    }
  }

  /** `flush` for a socket that is behind: the batch is copied into the spill, in order (parts, then the segment). */
  private flushToSpill(): void {
    const a = this.segmentArena;
    const parts = this.parts;
    this.parts = null;
    this.segmentArena = null;
    this.bytes = 0;
    if (!this.socket.destroyed) {
      if (parts !== null) for (const part of parts) this.spillPart(part);
      if (a !== null) {
        this.spillCopy(a, this.segmentStart, this.segmentEnd);
        // Copied: the arena gets the segment back if nobody appended after it.
        if (a === arena && arenaFill === this.segmentEnd) arenaFill = this.segmentStart;
      }
    }
    if ((this.hold & END_PENDING) !== 0) {
      // The end follows every byte: the spill goes now, and the socket ends after it.
      this.writeSpill();
      this.hold &= ~END_PENDING;
      this.writerEnded();
    }
  }

  /** A part for the spill: small ones are copied in; a large one goes by reference, after the spill so far. */
  private spillPart(part: string | Buffer): void {
    if (typeof part === 'string') {
      const b = Buffer.from(part, 'latin1');
      this.spillCopy(b, 0, b.length);
    } else if (part.length < SPILL_COPY_LIMIT) {
      this.spillCopy(part, 0, part.length);
    } else {
      this.writeSpill();
      if (!this.socket.destroyed) this.socket.write(part);
    }
  }

  /** Copies `src[start..end)` into the spill; a full chunk goes to the socket and a chunk twice its size follows. */
  private spillCopy(src: Uint8Array, start: number, end: number): void {
    let sp = (this.hold & SPILLING) !== 0 ? (spills.get(this) as Buffer) : null;
    let fill = this.hold >>> FILL_SHIFT;
    let from = start;
    while (from < end) {
      if (sp === null) {
        sp = Buffer.allocUnsafeSlow(WRITER_SPILL_MIN);
        spills.set(this, sp);
        fill = 0;
        this.hold |= SPILLING;
        if ((this.hold & SPILL_LISTENING) === 0) {
          this.hold |= SPILL_LISTENING;
          // First among the drain listeners: the owner's drain handling finds the spill in the socket already.
          this.socket.prependOnceListener('drain', () => {
            this.hold &= ~SPILL_LISTENING;
            this.writeSpill();
          });
        }
      } else if (fill === sp.length) {
        if (!this.socket.destroyed) this.socket.write(sp);
        sp = Buffer.allocUnsafeSlow(Math.min(2 * sp.length, WRITER_SPILL_MAX));
        spills.set(this, sp);
        fill = 0;
      }
      const n = Math.min(end - from, sp.length - fill);
      sp.set(from === 0 && n === src.length ? src : src.subarray(from, from + n), fill);
      fill += n;
      from += n;
    }
    this.hold = (this.hold & FLAGS) | (fill << FILL_SHIFT);
  }

  /** Hands the spill to the socket (on 'drain', before an end, before a large part written after it). */
  protected writeSpill(): void {
    if ((this.hold & SPILLING) === 0) return;
    const sp = spills.get(this) as Buffer;
    const fill = this.hold >>> FILL_SHIFT;
    spills.delete(this);
    this.hold &= FLAGS & ~SPILLING;
    if (!this.socket.destroyed) this.socket.write(fill === sp.length ? sp : sp.subarray(0, fill));
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
    for (const part of parts) if (part.length >= WRITER_COPY_LIMIT) big = true;
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
      if (part.length < WRITER_COPY_LIMIT) {
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

/** PERF: strings go as Buffers: see the 101 in websocket.ts (a latin1 string write took two more epoll_ctl calls). */
function writePart(socket: Socket, part: string | Buffer): void {
  socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
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
