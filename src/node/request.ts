/**
 * The request object handed to `serve({ request })` handlers: method, target, path, query, headers,
 * remote address, and the body as bytes, text, JSON or an async iterator with backpressure.
 *
 * Body flow: the connection pushes decoded body chunks in with `push()`; when more than `highWaterMark`
 * bytes wait unread, it pauses the socket (TCP flow control then pushes back on the client) and resumes once
 * the handler has read them.
 */

import { Buffer } from 'node:buffer';
import { ProtocolError, SockeyeError } from '../errors.js';
import type { HeaderList } from '../http1/headers.js';
import type { RequestHead } from '../http1/parser.js';
import type { RequestInfo } from '../http1/protocol.js';
import { HTTP_BODY_HIGH_WATER_MARK } from '../limits.js';

/** Shared empty chunk list: most requests have no body, so no array is allocated for them. Never pushed to. */
const NO_CHUNKS: Buffer[] = [];

/** Hooks the connection gives a request so that reading the body drives flow control. @internal */
export interface BodySource {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The handler wants the body: send 100 Continue if it is awaited, resume the socket. */
  wantBody(): void;
  /** The unread queue fell below the mark. */
  resumeBody(): void;
}

/** An HTTP request as sockeye hands it to your handler. */
export class SockeyeRequest {
  /** Method token as received (case-sensitive), e.g. `GET`. */
  readonly method: string;
  /** request-target exactly as received, e.g. `/a/b?x=1`. */
  readonly target: string;
  /** `"1.0"` or `"1.1"`. */
  readonly httpVersion: string;
  /** Field lines as received; `headers.get(name)` is case-insensitive. */
  readonly headers: HeaderList;
  /** Content-Length of the body, -1 when chunked, 0 when none. */
  readonly contentLength: number;
  /** Trailer fields of a chunked body (flat `[name, value, ...]`), available once the body has been read. */
  trailers: string[];
  /** @internal */ readonly info: RequestInfo;
  #path: string | null;
  #query: string;
  #searchParams: URLSearchParams | null;
  #chunks: Buffer[];
  #queued: number;
  #ended: boolean;
  #error: Error | null;
  #waiter: (() => void) | null;
  #source: BodySource;
  #consumed: boolean;
  #paused: boolean;
  #discard: boolean;
  /** `bytes()` is gathering the whole body. */
  #collecting: boolean;

  /** @internal */
  constructor(head: RequestHead, info: RequestInfo, source: BodySource) {
    this.method = head.method;
    this.target = head.target;
    this.httpVersion = head.httpVersion;
    this.headers = head.headers;
    this.contentLength = info.contentLength;
    this.trailers = [];
    this.info = info;
    this.#path = null;
    this.#query = '';
    this.#searchParams = null;
    this.#chunks = NO_CHUNKS;
    this.#queued = 0;
    this.#ended = info.contentLength === 0 && !info.chunked;
    this.#error = null;
    this.#waiter = null;
    this.#source = source;
    this.#consumed = false;
    this.#paused = false;
    this.#discard = false;
    this.#collecting = false;
  }

  /** Peer IP address. */
  get remoteAddress(): string {
    return this.#source.remoteAddress;
  }

  /** Peer port. */
  get remotePort(): number {
    return this.#source.remotePort;
  }

  /**
   * The host the request is for (RFC 9112 §3.3): the authority of an absolute-form target (§3.2.2: Host is then
   * ignored) or of a CONNECT target, else the Host header; '' when there is none. As received, not lower-cased.
   */
  get host(): string {
    return this.info.host;
  }

  /** Path part of the target (origin-form: before `?`; absolute-form: the URL's path). Not decoded. */
  get path(): string {
    if (this.#path === null) this.#splitTarget();
    return this.#path as string;
  }

  /** Query string without `?` (may be empty). */
  get query(): string {
    if (this.#path === null) this.#splitTarget();
    return this.#query;
  }

  /** Parsed query parameters. */
  get searchParams(): URLSearchParams {
    if (this.#searchParams === null) this.#searchParams = new URLSearchParams(this.query);
    return this.#searchParams;
  }

  /**
   * Cookies sent by the client (`Cookie` header, RFC 6265 §5.4: `name=value` pairs separated by `; `), first
   * value of each name wins. Values are returned as sent (not URL-decoded).
   */
  get cookies(): Record<string, string> {
    const out: Record<string, string> = Object.create(null);
    for (const header of this.headers.getAll('cookie')) {
      for (const pair of header.split(';')) {
        const eq = pair.indexOf('=');
        if (eq <= 0) continue;
        const name = pair.slice(0, eq).trim();
        let value = pair.slice(eq + 1).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        if (name !== '' && !(name in out)) out[name] = value;
      }
    }
    return out;
  }

  /** Shorthand for `headers.get(name)`. */
  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  #splitTarget(): void {
    let t = this.target;
    if (t.charCodeAt(0) !== 0x2f && t !== '*') {
      // absolute-form: drop scheme://authority
      const m = /^[A-Za-z][A-Za-z0-9+\-.]*:\/\/[^/?#]*/.exec(t);
      if (m !== null) t = t.slice(m[0].length) || '/';
    }
    const hash = t.indexOf('#');
    if (hash >= 0) t = t.slice(0, hash);
    const q = t.indexOf('?');
    this.#path = q < 0 ? t : t.slice(0, q);
    this.#query = q < 0 ? '' : t.slice(q + 1);
  }

  /** Whether the whole body has been received. */
  get complete(): boolean {
    return this.#ended;
  }

  /** @internal a decoded body chunk arrived; returns false when the socket should pause. */
  push(chunk: Buffer): boolean {
    if (this.#discard) return true;
    if (this.#chunks === NO_CHUNKS) this.#chunks = [chunk];
    else this.#chunks.push(chunk);
    this.#queued += chunk.length;
    this.#wake();
    if (this.#queued > HTTP_BODY_HIGH_WATER_MARK && !this.#collecting) {
      this.#paused = true;
      return false;
    }
    return true;
  }

  /** @internal the response ended before the body was read: drop what comes. */
  discard(): void {
    this.#discard = true;
    this.#consumed = true;
    this.#chunks = NO_CHUNKS;
    this.#queued = 0;
    if (this.#paused) {
      this.#paused = false;
      this.#source.resumeBody();
    }
  }

  /** @internal */
  end(trailers: string[]): void {
    this.trailers = trailers;
    this.#ended = true;
    this.#wake();
  }

  /** @internal the body failed (protocol error, timeout, connection lost). */
  fail(err: Error): void {
    if (this.#ended) return;
    this.#error = err;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w();
    }
  }

  /** The body as a stream of Buffers, with backpressure: the socket is paused while you are not reading. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    if (this.#consumed) throw new SockeyeError('ERR_BODY_USED', 'Cannot read body: already read');
    this.#consumed = true;
    this.#source.wantBody();
    for (;;) {
      if (this.#chunks.length > 0) {
        const chunk = this.#chunks.shift() as Buffer;
        this.#queued -= chunk.length;
        if (this.#paused && this.#queued <= HTTP_BODY_HIGH_WATER_MARK / 2) {
          this.#paused = false;
          this.#source.resumeBody();
        }
        yield chunk;
        continue;
      }
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  /**
   * The whole body as one Buffer (bounded by `limits.maxBodyBytes`: 413 above it).
   * PERF: a plain promise settled by the connection, not the async iterator: no generator and no promise per
   * chunk on the common small-body path (bench http-post-4k).
   */
  bytes(): Promise<Buffer> {
    if (this.#consumed) return Promise.reject(new SockeyeError('ERR_BODY_USED', 'Cannot read body: already read'));
    this.#consumed = true;
    // The whole body is wanted: no reason to pause the socket while it arrives.
    this.#collecting = true;
    this.#source.wantBody();
    if (this.#paused) {
      this.#paused = false;
      this.#source.resumeBody();
    }
    return new Promise<Buffer>((resolve, reject) => {
      const settle = (): void => {
        if (this.#error !== null) reject(this.#error);
        else if (this.#ended) {
          const parts = this.#chunks;
          this.#chunks = NO_CHUNKS;
          const total = this.#queued;
          this.#queued = 0;
          resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, total));
        } else this.#waiter = settle;
      };
      settle();
    });
  }

  /** The body as an ArrayBuffer. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
  }

  /** The body decoded as UTF-8. */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  /** The body parsed as JSON; a syntax error rejects with a ProtocolError carrying status 400. */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ProtocolError('ERR_HTTP_INVALID_JSON', 'Request body is not valid JSON', 400, 0);
    }
  }
}
