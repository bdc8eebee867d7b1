/**
 * Peers for the attack tests (test/integration/attacks-*.test.ts): a raw HTTP connection that writes an attack
 * piece by piece and stops as soon as the server answers (so that a test can say the answer came while the attack
 * was still being sent), a reader of pipelined responses that checks their order, and a well-behaved client whose
 * requests must keep being answered. Every wait is bounded; sockets are destroyed when the test ends.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { within } from './slow-peers.js';

/** A raw TCP connection to an HTTP server that records what comes back and whether the server closed it. */
export class RawHttpPeer {
  readonly socket: net.Socket;
  readonly #parts: Buffer[] = [];
  #received = 0;
  /** The server ended its side (FIN), or the connection was reset. */
  closed = false;
  #waiters = new Set<() => void>();

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#parts.push(d);
      this.#received += d.length;
      this.#notify();
    });
    socket.on('end', () => {
      this.closed = true;
      socket.end();
      this.#notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
    // ECONNRESET / EPIPE once the server is gone: 'close' follows.
    socket.on('error', () => {});
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /** Everything received so far, latin1. */
  get text(): string {
    return Buffer.concat(this.#parts).toString('latin1');
  }

  /** Whether anything came back, or the connection ended. */
  get answered(): boolean {
    return this.#received > 0 || this.closed;
  }

  #notify(): void {
    for (const w of this.#waiters) w();
  }

  /** Resolves once `predicate` holds (checked on every arrival); fails with `what` after `ms`. */
  waitUntil(predicate: () => boolean, ms: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    let check = (): void => {};
    const p = new Promise<void>((resolve) => {
      check = () => {
        if (predicate()) resolve();
      };
      this.#waiters.add(check);
    });
    return within(p, ms, what).finally(() => this.#waiters.delete(check));
  }

  /** Waits (bounded) for the server to close the connection; resolves with everything it sent. */
  async closedText(ms = 5000): Promise<string> {
    await this.waitUntil(() => this.closed, ms, 'the server to close the connection');
    return this.text;
  }

  /**
   * Writes `piece()` up to `count` times, one write per event-loop turn (after the poll phase: an in-process
   * server reads each piece before the next is written), and stops as soon as the server answered or closed.
   * Resolves with how many pieces were written.
   */
  async writeUntilAnswered(count: number, piece: (i: number) => string | Buffer): Promise<number> {
    let i = 0;
    for (; i < count && !this.answered && !this.socket.destroyed; i++) {
      this.socket.write(piece(i));
      await new Promise((r) => setImmediate(r));
    }
    return i;
  }

  /** Writes `piece()` up to `count` times, `gapMs` apart, stopping once answered. Resolves with the count written. */
  async trickleUntilAnswered(count: number, gapMs: number, piece: (i: number) => string | Buffer): Promise<number> {
    let i = 0;
    for (; i < count && !this.answered && !this.socket.destroyed; i++) {
      this.socket.write(piece(i));
      await this.waitUntil(() => this.answered, gapMs, '').catch(() => undefined);
    }
    return i;
  }
}

/** Connects a RawHttpPeer to 127.0.0.1:`port` (bounded); destroyed when the test ends. */
export async function connectHttp(t: TestContext, port: number): Promise<RawHttpPeer> {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    5000,
    'a TCP connection',
  );
  return new RawHttpPeer(socket);
}

/** The status code of the first response in `text`, or 0. */
export function firstStatus(text: string): number {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** A well-behaved client: one GET on a connection of its own (`Connection: close`); resolves with the body (bounded). */
export function politeGet(port: number, path: string, ms = 5000): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          if (res.statusCode === 200) resolve(Buffer.concat(parts).toString('latin1'));
          else reject(new Error(`${path}: status ${res.statusCode}`));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
    }),
    ms,
    `the answer to GET ${path}`,
  );
}

/**
 * Reads pipelined responses of known framing (Content-Length) off a byte stream as they arrive, checking each
 * status and handing each body to `check` in order.
 */
export class ResponseReader {
  #buf: Buffer = Buffer.alloc(0);
  /** Responses read so far. */
  count = 0;
  readonly #check: (body: Buffer, index: number) => void;

  constructor(check: (body: Buffer, index: number) => void) {
    this.#check = check;
  }

  push(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.#buf.toString('latin1', 0, end);
      const m = /\r\ncontent-length: (\d+)/i.exec(head);
      assert.ok(head.startsWith('HTTP/1.1 200 ') && m !== null, `response ${this.count}: ${head.slice(0, 80)}`);
      const length = Number(m[1]);
      if (this.#buf.length < end + 4 + length) return;
      this.#check(this.#buf.subarray(end + 4, end + 4 + length), this.count++);
      this.#buf = this.#buf.subarray(end + 4 + length);
    }
  }
}
