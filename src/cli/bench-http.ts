/**
 * The HTTP/1.1 side of `sockeye bench`: `connections` keep-alive connections on node:net (node:tls for https:),
 * each writing a batch of `pipeline` requests (pre-built bytes, one write) and writing the next batch once every
 * response of the last has arrived, as wrk does. A small response parser counts responses exactly: status line,
 * Content-Length, chunked bodies with trailers, bodies that end with the connection, and the responses that never
 * have a body (RFC 9112 §6.3).
 */

import { Buffer } from 'node:buffer';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { Load, Tally } from './bench-tally.js';

/** What to send, and where. */
export interface HttpLoadOptions {
  url: URL;
  connections: number;
  pipeline: number;
  method: string;
  body: Buffer | null;
  headers: [string, string][];
  tls: tls.ConnectionOptions;
  /** How long a batch may wait for its responses before the connection is given up (ms). */
  timeoutMs: number;
}

/** Largest response head the parser holds while waiting for its end (the server's own default limit is 16 KiB). */
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Wait before reconnecting after a failed connect, so that a server that is down is not hammered in a tight loop. */
const RECONNECT_DELAY_MS = 100;

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** The bytes of one request (RFC 9112 §3: request-line, field lines, empty line; then the body). */
export function buildRequest(o: Pick<HttpLoadOptions, 'url' | 'method' | 'body' | 'headers'>): Buffer {
  const target = `${o.url.pathname || '/'}${o.url.search}`;
  let head = `${o.method} ${target} HTTP/1.1\r\n`;
  const has = (name: string) => o.headers.some(([n]) => n.toLowerCase() === name);
  // RFC 9112 §3.2: a client MUST send Host in every HTTP/1.1 request.
  if (!has('host')) head += `Host: ${o.url.host}\r\n`;
  for (const [name, value] of o.headers) head += `${name}: ${value}\r\n`;
  if (o.body !== null && !has('content-length') && !has('transfer-encoding'))
    head += `Content-Length: ${o.body.length}\r\n`;
  head += '\r\n';
  const headBytes = Buffer.from(head, 'latin1');
  return o.body === null ? headBytes : Buffer.concat([headBytes, o.body]);
}

/** Lower-cases an ASCII letter byte. */
function lower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/** Whether `data[at...]` starts with `name` (lower-case ASCII bytes), ignoring case. */
function startsWithName(data: Buffer, at: number, end: number, name: Buffer): boolean {
  if (end - at < name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(data[at + i] as number) !== name[i]) return false;
  return true;
}

/** Whether `data[from, to)` contains `word` (lower-case ASCII), ignoring case. */
function containsWord(data: Buffer, from: number, to: number, word: Buffer): boolean {
  outer: for (let i = from; i + word.length <= to; i++) {
    for (let j = 0; j < word.length; j++) if (lower(data[i + j] as number) !== word[j]) continue outer;
    return true;
  }
  return false;
}

const CONTENT_LENGTH = Buffer.from('content-length:');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding:');
const CONNECTION = Buffer.from('connection:');
const CHUNKED = Buffer.from('chunked');
const CLOSE = Buffer.from('close');

const HEAD = 0;
const BODY = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const TRAILERS = 4;
const UNTIL_EOF = 5;
const BROKEN = 6;

/** Why a response stream is malformed (counted as the error kind `bad response: ...`). */
class BadResponse extends Error {}

/**
 * Counts responses in a byte stream, in order. `onResponse(status)` is called once per final response (1xx
 * interim responses are skipped, RFC 9110 §15.2); `onClose()` when a response said `Connection: close`.
 */
export class ResponseCounter {
  state = HEAD;
  /** Bytes of a head or chunk-size line that did not end in the last read. */
  pending: Buffer | null = null;
  remaining = 0;
  status = 0;
  closeAfter = false;
  /** The request is HEAD: no response has a body (RFC 9112 §6.3 rule 1). */
  readonly headRequest: boolean;
  readonly onResponse: (status: number, closing: boolean) => void;

  constructor(headRequest: boolean, onResponse: (status: number, closing: boolean) => void) {
    this.headRequest = headRequest;
    this.onResponse = onResponse;
  }

  /** Parses what arrived; throws BadResponse for a stream that is not HTTP/1.1 responses. */
  receive(chunk: Buffer): void {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let pos = 0;
    const len = data.length;
    while (pos < len) {
      switch (this.state) {
        case HEAD: {
          const end = data.indexOf(CRLFCRLF, pos);
          if (end < 0) {
            if (len - pos > MAX_RESPONSE_HEAD_BYTES) throw new BadResponse('response head too large');
            this.pending = data.subarray(pos);
            return;
          }
          pos = this.parseHead(data, pos, end);
          break;
        }
        case BODY: {
          const n = Math.min(this.remaining, len - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finish();
          break;
        }
        case CHUNK_SIZE: {
          const eol = data.indexOf(CRLF, pos);
          if (eol < 0) {
            if (len - pos > 4096) throw new BadResponse('chunk-size line too long');
            this.pending = data.subarray(pos);
            return;
          }
          // RFC 9112 §7.1: chunk-size is hex digits, then optional chunk extensions after ';'.
          let size = 0;
          let i = pos;
          for (; i < eol; i++) {
            const c = data[i] as number;
            const d =
              c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 87 : -1;
            if (d < 0) break;
            size = size * 16 + d;
          }
          if (i === pos || size > Number.MAX_SAFE_INTEGER / 16) throw new BadResponse('invalid chunk-size');
          pos = eol + 2;
          if (size === 0) this.state = TRAILERS;
          else {
            this.state = CHUNK_DATA;
            this.remaining = size + 2; // the data and its CRLF
          }
          break;
        }
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, len - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = CHUNK_SIZE;
          break;
        }
        case TRAILERS: {
          const eol = data.indexOf(CRLF, pos);
          if (eol < 0) {
            this.pending = data.subarray(pos);
            return;
          }
          // RFC 9112 §7.1.2: trailer field lines, then the empty line that ends the message.
          const empty = eol === pos;
          pos = eol + 2;
          if (empty) this.finish();
          break;
        }
        case UNTIL_EOF:
          return;
        default:
          throw new BadResponse('bytes after the connection was to close');
      }
    }
  }

  /** The connection ended: a body delimited by the end of the connection is complete (RFC 9112 §6.3 rule 8). */
  receiveEof(): void {
    if (this.state !== UNTIL_EOF) return;
    // The connection is over: the response that ended with it is the last one on it.
    this.closeAfter = true;
    this.finish();
  }

  /** Reads the status and the fields that frame the body; returns where the body starts. */
  parseHead(data: Buffer, start: number, end: number): number {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4).
    if (
      end - start < 12 ||
      data[start] !== 0x48 ||
      data[start + 4] !== 0x2f ||
      data[start + 8] !== 0x20 ||
      data[start + 5] !== 0x31
    )
      throw new BadResponse('not an HTTP/1.x status line');
    const s0 = (data[start + 9] as number) - 0x30;
    const s1 = (data[start + 10] as number) - 0x30;
    const s2 = (data[start + 11] as number) - 0x30;
    if (s0 < 1 || s0 > 5 || s1 < 0 || s1 > 9 || s2 < 0 || s2 > 9) throw new BadResponse('invalid status code');
    const status = s0 * 100 + s1 * 10 + s2;
    // HTTP/1.0 closes by default (RFC 9112 §9.3).
    let close = data[start + 7] === 0x30;
    let length = -1;
    let chunked = false;
    let line = data.indexOf(CRLF, start) + 2;
    while (line < end) {
      let eol = data.indexOf(CRLF, line);
      if (eol < 0 || eol > end) eol = end;
      const first = lower(data[line] as number);
      if (first === 0x63 /* c */) {
        if (startsWithName(data, line, eol, CONTENT_LENGTH)) {
          let v = 0;
          let digits = 0;
          for (let i = line + CONTENT_LENGTH.length; i < eol; i++) {
            const c = data[i] as number;
            if (c >= 0x30 && c <= 0x39) {
              v = v * 10 + c - 0x30;
              digits++;
            } else if (c !== 0x20 && c !== 0x09) throw new BadResponse('invalid Content-Length');
          }
          if (digits === 0) throw new BadResponse('invalid Content-Length');
          length = v;
        } else if (startsWithName(data, line, eol, CONNECTION)) {
          if (containsWord(data, line + CONNECTION.length, eol, CLOSE)) close = true;
        }
      } else if (first === 0x74 /* t */ && startsWithName(data, line, eol, TRANSFER_ENCODING)) {
        chunked = containsWord(data, line + TRANSFER_ENCODING.length, eol, CHUNKED);
      }
      line = eol + 2;
    }
    this.status = status;
    this.closeAfter = close;
    const bodyStart = end + 4;
    if (status < 200) {
      // RFC 9110 §15.2: an interim response; the final one follows. 101 would switch protocols: not for us.
      if (status === 101) throw new BadResponse('101 Switching Protocols to a plain request');
      return bodyStart;
    }
    // RFC 9112 §6.3 rules 1-2: HEAD, 204 and 304 responses end at the empty line; then chunked, then length.
    if (this.headRequest || status === 204 || status === 304) this.finish();
    else if (chunked) this.state = CHUNK_SIZE;
    else if (length > 0) {
      this.state = BODY;
      this.remaining = length;
    } else if (length === 0) this.finish();
    else this.state = UNTIL_EOF;
    return bodyStart;
  }

  finish(): void {
    this.state = this.closeAfter ? BROKEN : HEAD;
    this.onResponse(this.status, this.closeAfter);
  }
}

/** Starts the load; it runs until `stop()`. */
export function startHttpLoad(o: HttpLoadOptions, tally: Tally): Load {
  const one = buildRequest(o);
  const batch = Buffer.concat(Array.from({ length: o.pipeline }, () => one));
  const secure = o.url.protocol === 'https:';
  const host = o.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(o.url.port || (secure ? 443 : 80));
  const headRequest = o.method === 'HEAD';
  let running = true;
  let started = false;
  /** Connections open before `begin()`: each sends its first batch then. */
  const waiting = new Set<() => void>();
  const sockets = new Set<net.Socket>();
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

  const open = (first = false): void => {
    if (!running) return;
    const socket = secure
      ? tls.connect({ servername: net.isIP(host) ? undefined : host, ...o.tls, host, port })
      : net.connect({ host, port });
    sockets.add(socket);
    socket.setNoDelay(true);
    let connected = false;
    let settled = !first;
    let outstanding = 0;
    let sentAt = 0;
    let announcedClose = false;
    let timedOut = false;
    const check = (now: number): void => {
      if (outstanding === 0 || now - sentAt <= o.timeoutMs || timedOut) return;
      timedOut = true;
      tally.error('timeout');
      socket.destroy();
    };
    checks.add(check);
    const counter = new ResponseCounter(headRequest, (status, closing) => {
      // After the measured window nothing is counted (the report's figures are those of the window).
      if (!running) return;
      const now = performance.now();
      tally.latency.record((now - sentAt) * 1e6);
      tally.completed++;
      tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
      if (status >= 200 && status < 300) tally.ok++;
      else tally.error(`status ${status}`);
      outstanding--;
      if (closing) {
        announcedClose = true;
        return;
      }
      if (outstanding === 0 && running) send();
    });
    const send = (): void => {
      outstanding = o.pipeline;
      sentAt = performance.now();
      tally.bytesOut += batch.length;
      socket.write(batch);
    };
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      connected = true;
      tally.connects++;
      if (!settled) {
        settled = true;
        settle();
      }
      if (started) send();
      else waiting.add(send);
    });
    socket.on('data', (chunk: Buffer) => {
      tally.bytesIn += chunk.length;
      try {
        counter.receive(chunk);
      } catch (err) {
        if (!(err instanceof BadResponse)) throw err;
        tally.error(`bad response: ${err.message}`);
        socket.destroy();
      }
    });
    socket.on('end', () => counter.receiveEof());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!running) return;
      tally.error(`${connected ? 'read' : 'connect'} ${err.code ?? err.message}`);
    });
    socket.on('close', () => {
      sockets.delete(socket);
      waiting.delete(send);
      checks.delete(check);
      if (!settled) {
        settled = true;
        settle();
      }
      if (!running) return;
      // A connection that closes with requests unanswered, without saying so, loses them (counted once).
      if (connected && outstanding > 0 && !announcedClose && !timedOut) tally.error('closed with requests unanswered');
      if (connected) open();
      else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          open();
        }, RECONNECT_DELAY_MS);
        timers.add(timer);
      }
    });
  };

  for (let i = 0; i < o.connections; i++) open(true);
  return {
    ready,
    begin() {
      started = true;
      for (const send of waiting) send();
      waiting.clear();
    },
    check(now) {
      for (const check of checks) check(now);
    },
    async stop() {
      running = false;
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
    },
  };
}
