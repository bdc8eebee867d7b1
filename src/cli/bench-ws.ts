/**
 * The WebSocket side of `sockeye bench`: `connections` clients (sockeye's own WebSocket, ws: or wss:), each keeping
 * `inFlight` messages of `size` bytes on the way to an echo server; every echo refills the window. Each message
 * carries its sequence number in its first bytes (hex digits) and a fixed printable filler: an echo must come back
 * in order, with the same type, length, sequence number and filler, or it counts as an `echo mismatch` error.
 */

import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';
import { WebSocket } from '../index.js';
import type { Load, Tally } from './bench-tally.js';

/** What to send, and where. */
export interface WsLoadOptions {
  url: URL;
  connections: number;
  inFlight: number;
  size: number;
  binary: boolean;
  tls: tls.ConnectionOptions;
  /** How long a message may wait for its echo before the connection is given up (ms). */
  timeoutMs: number;
}

/** Hex digits of the sequence number at the start of each message (fewer when the message is shorter). */
const SEQ_DIGITS = 8;
/** Wait before reconnecting after a connection failed, so that a server that is down is not hammered. */
const RECONNECT_DELAY_MS = 100;
/** How long the closing handshake may take at the end of a run before a connection is given up on. */
const CLOSE_TIMEOUT_MS = 1000;

const HEX = '0123456789abcdef';

/** A printable, JSON-like filler (compressible, like real traffic), `size` bytes long. */
export function filler(size: number): Buffer {
  const pattern = '{"id":12345,"name":"sockeye","tags":["bench","echo"],"ok":true},';
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = pattern.charCodeAt(i % pattern.length);
  return out;
}

/** Why an echo failed to match, or null: checks type, length, sequence field and the filler after it. */
export function checkEcho(
  data: unknown,
  binary: boolean,
  expectedSeq: number,
  template: Buffer,
  templateText: string,
): string | null {
  const size = template.length;
  const digits = Math.min(SEQ_DIGITS, size);
  if (binary) {
    if (!Buffer.isBuffer(data)) return 'text echo of a binary message';
    if (data.length !== size) return 'echo length';
    let seq = expectedSeq;
    for (let i = digits - 1; i >= 0; i--, seq = Math.floor(seq / 16))
      if (data[i] !== HEX.charCodeAt(seq % 16)) return 'echo sequence';
    if (data.compare(template, digits, size, digits, size) !== 0) return 'echo payload';
    return null;
  }
  if (typeof data !== 'string') return 'binary echo of a text message';
  if (data.length !== size) return 'echo length';
  let seq = expectedSeq;
  for (let i = digits - 1; i >= 0; i--, seq = Math.floor(seq / 16))
    if (data.charCodeAt(i) !== HEX.charCodeAt(seq % 16)) return 'echo sequence';
  // The filler is ASCII: one character per byte.
  if (!data.endsWith(templateText)) return 'echo payload';
  return null;
}

/** The error kind for a failed connection: the handshake status, the socket's error code, or the message. */
function failureKind(error: unknown, opened: boolean): string {
  const e = error as { status?: number; code?: string; message?: string } | null;
  if (e?.status) return `handshake ${e.status}`;
  if (e?.code) return `${opened ? 'connection' : 'connect'} ${e.code}`;
  return `${opened ? 'connection' : 'connect'} ${e?.message ?? 'failed'}`;
}

/** Starts the load; it runs until `stop()`. */
export function startWsLoad(o: WsLoadOptions, tally: Tally): Load {
  const url = o.url.href;
  const template = filler(o.size);
  const digits = Math.min(SEQ_DIGITS, o.size);
  const templateText = template.toString('latin1', digits, o.size);
  let running = true;
  let started = false;
  /** Connections open before `begin()`: each fills its window then. */
  const idle = new Set<() => void>();
  const open = new Set<WebSocket>();
  /** Each open connection's check against the timeout. */
  const checks = new Set<(now: number) => void>();
  const timers = new Set<NodeJS.Timeout>();
  let unsettled = o.connections;
  let settle: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    settle = () => {
      if (--unsettled === 0) resolve();
    };
  });

  const connect = (first = false): void => {
    if (!running) return;
    const ws = new WebSocket(url, [], { tls: o.tls, closeTimeout: CLOSE_TIMEOUT_MS });
    ws.binaryType = 'nodebuffer';
    open.add(ws);
    // Send times of the messages in flight, oldest at `head` (a ring: echoes come back in order).
    const sentAt = new Float64Array(o.inFlight);
    const message = Buffer.from(template);
    let head = 0;
    let waiting = 0;
    let nextSeq = 0;
    let expectSeq = 0;
    let opened = false;
    let failed = false;
    let settled = !first;
    let timedOut = false;
    const check = (now: number): void => {
      if (waiting === 0 || now - (sentAt[head] as number) <= o.timeoutMs || timedOut) return;
      timedOut = true;
      failed = true;
      tally.error('timeout');
      // RFC 6455 §7.4.1: 1000 is all a client may send here besides 3000-4999; the server is not answering anyway.
      ws.close(1000, 'timeout');
    };

    /** Sends the next message; `now` is the clock read of the echo that asked for it (one read per message). */
    const send = (now: number): void => {
      let seq = nextSeq++;
      for (let i = digits - 1; i >= 0; i--, seq = Math.floor(seq / 16)) message[i] = HEX.charCodeAt(seq % 16);
      sentAt[(head + waiting) % o.inFlight] = now;
      waiting++;
      tally.bytesOut += o.size;
      // The client copies the payload while masking it, so `message` may be rewritten for the next one.
      ws.send(o.binary ? message : message.toString('latin1'));
    };
    const fill = (): void => {
      for (let i = 0; i < o.inFlight; i++) send(performance.now());
    };
    ws.onopen = () => {
      opened = true;
      tally.connects++;
      checks.add(check);
      if (!settled) {
        settled = true;
        settle();
      }
      if (started) fill();
      else idle.add(fill);
    };
    ws.onmessage = (e: MessageEvent) => {
      // After the measured window nothing is counted (the report's figures are those of the window).
      if (!running) return;
      if (waiting === 0) {
        tally.error('echo of a message never sent');
        return;
      }
      const now = performance.now();
      tally.latency.record((now - (sentAt[head] as number)) * 1e6);
      head = (head + 1) % o.inFlight;
      waiting--;
      tally.completed++;
      const data = e.data as Buffer | string;
      tally.bytesIn += data.length;
      const wrong = checkEcho(data, o.binary, expectSeq++, template, templateText);
      if (wrong === null) tally.ok++;
      else tally.error(`echo mismatch (${wrong})`);
      send(now);
    };
    ws.onerror = (e) => {
      if (!running) return;
      failed = true;
      tally.error(failureKind((e as ErrorEvent).error, opened));
    };
    ws.onclose = (e) => {
      open.delete(ws);
      idle.delete(fill);
      checks.delete(check);
      if (!settled) {
        settled = true;
        settle();
      }
      if (!running) return;
      if (!failed) tally.error(`closed by the server: ${e.code}${e.reason ? ` ${e.reason}` : ''}`);
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          connect();
        },
        opened ? 0 : RECONNECT_DELAY_MS,
      );
      timers.add(timer);
    };
  };

  for (let i = 0; i < o.connections; i++) connect(true);
  return {
    ready,
    begin() {
      started = true;
      for (const fill of idle) fill();
      idle.clear();
    },
    check(now) {
      for (const check of checks) check(now);
    },
    async stop() {
      running = false;
      for (const t of timers) clearTimeout(t);
      const closing: Promise<void>[] = [];
      for (const ws of open) {
        closing.push(new Promise((resolve) => ws.addEventListener('close', () => resolve())));
        ws.close(1000, 'bench done');
      }
      await Promise.all(closing);
    },
  };
}
