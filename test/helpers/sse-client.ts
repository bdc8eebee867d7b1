/**
 * A raw event-stream client over node:net for the SSE tests: sends a request as given (bytes exactly), collects
 * every byte the server sends, and lets a test wait (bounded) until the bytes hold what it expects or the server
 * closes. No parsing beyond that: the tests check the bytes on the wire.
 */

import { Buffer } from 'node:buffer';
import net from 'node:net';

const WAIT_MS = 10_000;

export class RawSseClient {
  readonly socket: net.Socket;
  #chunks: Buffer[];
  #closed: boolean;
  #waiters: (() => void)[];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.#chunks = [];
    this.#closed = false;
    this.#waiters = [];
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  /** Connects to `port` on 127.0.0.1 and writes `request`. */
  static async open(port: number, request: string): Promise<RawSseClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawSseClient(socket);
    socket.write(request);
    return c;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const fn of w) fn();
  }

  /** Everything received so far, as latin1 text (bytes one to one). */
  get text(): string {
    return Buffer.concat(this.#chunks).toString('latin1');
  }

  get bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Waits until `pred(text)` holds; rejects if the connection closes first or after WAIT_MS. */
  async waitFor(pred: (text: string) => boolean, what: string): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const t = this.text;
      if (pred(t)) return t;
      if (this.#closed) throw new Error(`connection closed before ${what}; got ${JSON.stringify(t)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(t)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `text` has been received. */
  waitForText(text: string): Promise<string> {
    return this.waitFor((t) => t.includes(text), JSON.stringify(text));
  }

  /** Waits until the server closed the connection (bounded); returns everything received. */
  async waitClosed(): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open; got ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.text;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A GET for an event stream, HTTP/1.1, with extra header lines. */
export function sseRequest(path: string, extra: string[] = [], version = '1.1'): string {
  return `GET ${path} HTTP/${version}\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${extra.map((l) => `${l}\r\n`).join('')}\r\n`;
}
