/**
 * Reads of the server's accepted sockets into one shared buffer, with no Readable stream in between.
 *
 * By default Node allocates a new ArrayBuffer for every read of a socket (64 KiB, then shrunk to what was read)
 * and pushes it through the Readable machinery (`push`, the `'data'` event, a `nextTick` for `maybeReadMore`).
 * `net.connect({ onread: { buffer, callback } })` (documented since Node 12) instead reads into a buffer the
 * caller owns and calls the callback with the byte count: no allocation and no stream per read. Accepted
 * sockets have no such option, so `useSharedReads` turns the same mechanism on after accept, through the fields
 * that option sets (the socket's `kBuffer`/`kBufferCb` symbols, found by their descriptions) and the handle's
 * `useUserBuffer`. `pause()`/`resume()` keep working (net.Socket stops and starts the handle's reads itself in
 * this mode), and so do `'end'`, `'error'` and `'close'`. On a Node without these parts `useSharedReads` returns
 * false and the caller listens for `'data'` as before.
 *
 * PERF: about a tenth of the server's CPU in small-request and 64 KiB-message benchmarks went to the per-read
 * allocation and the stream machinery (bench/results/).
 *
 * The buffer (`readBuffer` of read-buffer.ts, the masking kernel's in-place page) is shared by every socket of
 * the process: a `ReadTarget` gets a view that is valid only during `onRead` and must copy whatever it keeps. A socket without
 * a target (a raw socket given to an `upgrade` hook, or one waiting for an async hook) pushes a copy of each read
 * into its own Readable side, so `'data'` listeners see exactly what they would have seen.
 *
 * `SOCKEYE_SHARED_READS=0` in the environment turns this off (the tests run both ways).
 */

import type { Socket } from 'node:net';
import { copyOf } from '../util/bytes.js';
import { readBuffer } from './read-buffer.js';

/** Where a socket's reads go. */
export interface ReadTarget {
  /** Bytes just read: a view of the shared read buffer, overwritten by the next read of any socket. */
  onRead(view: Buffer): void;
}

const kTarget = Symbol('sockeye.readTarget');
type TargetSocket = Socket & { [kTarget]?: ReadTarget | null };

/** The socket fields behind `onread`, found once; null when this Node has none (or they are turned off). */
let fields: { buffer: symbol; callback: symbol } | null | undefined;

function findFields(socket: Socket): { buffer: symbol; callback: symbol } | null {
  if (process.env.SOCKEYE_SHARED_READS === '0') return null;
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(socket)) {
    if (s.description === 'kBuffer') buffer = s;
    else if (s.description === 'kBufferCb') callback = s;
  }
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (buffer === undefined || callback === undefined || typeof handle?.useUserBuffer !== 'function') return null;
  return { buffer, callback };
}

/** Called by net.Socket (as a method of the socket) with the byte count of each read. */
function onSharedRead(this: TargetSocket, nread: number, buf: Buffer): boolean {
  const view = nread === buf.length ? buf : buf.subarray(0, nread);
  const target = this[kTarget];
  if (target !== undefined && target !== null) {
    target.onRead(view);
    return true;
  }
  // No target: behave as a plain socket. `false` (the Readable side is full) stops reading until it is read.
  return this.push(copyOf(view));
}

/**
 * Makes `socket` read into the shared buffer and hand its reads to `target`. Call it before the first read (in
 * the `'connection'` handler). Returns false, changing nothing, when this Node does not allow it: then listen for
 * `'data'`.
 */
export function useSharedReads(socket: Socket, target: ReadTarget): boolean {
  if (fields === undefined) fields = findFields(socket);
  const f = fields;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  if (f === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  const s = socket as TargetSocket & Record<symbol, unknown>;
  // A socket that already reads into a buffer of its own (set up before, or created with `onread`) is left alone;
  // a fresh accepted socket has null there.
  if (s[f.buffer] !== null) return false;
  s[kTarget] = target;
  s[f.buffer] = readBuffer;
  s[f.callback] = onSharedRead;
  handle.useUserBuffer(readBuffer);
  return true;
}

/**
 * Sends the reads of a socket set up by `useSharedReads` to another target, or (null) to its `'data'` events.
 * Returns false, changing nothing, for a socket that is not set up (then listen for `'data'`).
 */
export function setReadTarget(socket: Socket, target: ReadTarget | null): boolean {
  const s = socket as TargetSocket;
  if (s[kTarget] === undefined) return false;
  s[kTarget] = target;
  return true;
}

/** Whether `socket` reads into the shared buffer. */
export function hasSharedReads(socket: Socket): boolean {
  return (socket as TargetSocket)[kTarget] !== undefined;
}
