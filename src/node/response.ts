/**
 * The response object handed to `serve({ request })` handlers: written at once (`end`, `send`, `json`)
 * or streamed (`write` + `end`, chunked on HTTP/1.1, close-delimited on 1.0) with backpressure
 * (`write` returns false when the socket's buffer is full; `await res.drained()` waits for it to empty).
 */

import { Buffer } from 'node:buffer';
import { InvalidStateError } from '../errors.js';
import { validateField } from '../http1/serializer.js';
import type { SseOptions, SseStream } from './sse.js';

/** What a response needs from its connection. @internal */
export interface ResponseTarget {
  writeHead(status: number, fields: string[], bodyLength: number): void;
  writeBody(chunk: Buffer): boolean;
  endResponse(trailers: string[] | null): void;
  respond(status: number, fields: string[], body: Buffer | null): void;
  drained(): Promise<void>;
  cork(): void;
  uncork(): void;
  openEventStream(res: SockeyeResponse, options: SseOptions): SseStream;
}

/** Anything `send`/`end`/`write` accept as a body. */
export type BodyInit = string | Uint8Array | ArrayBuffer;

export function toBuffer(body: BodyInit): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

const validatedTuples = new WeakMap<readonly [string, string], readonly [string, string]>();

/** An HTTP response under construction. */
export class SockeyeResponse {
  /** Status code to send (default 200). */
  status: number;
  #fields: string[];
  #target: ResponseTarget;
  #headSent: boolean;
  #ended: boolean;

  /** @internal */
  constructor(target: ResponseTarget) {
    this.status = 200;
    this.#fields = [];
    this.#target = target;
    this.#headSent = false;
    this.#ended = false;
  }

  /** Whether the head has been written. */
  get headersSent(): boolean {
    return this.#headSent;
  }

  /** Whether the response has ended. */
  get finished(): boolean {
    return this.#ended;
  }

  /** Sets a header, replacing earlier values of the same name (any case). Validated at once: CR/LF throw. */
  setHeader(name: string, value: string | number): this {
    const v = String(value);
    validateField(name, v);
    this.#checkHead();
    const lower = name.toLowerCase();
    const f = this.#fields;
    for (let i = f.length - 2; i >= 0; i -= 2) {
      if ((f[i] as string).toLowerCase() === lower) f.splice(i, 2);
    }
    f.push(name, v);
    return this;
  }

  /** Adds a header line, keeping earlier ones (e.g. several Set-Cookie). */
  appendHeader(name: string, value: string | number): this {
    const v = String(value);
    validateField(name, v);
    this.#checkHead();
    this.#fields.push(name, v);
    return this;
  }

  /** First value of a header set so far. */
  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    const f = this.#fields;
    for (let i = 0; i < f.length; i += 2) if ((f[i] as string).toLowerCase() === lower) return f[i + 1];
    return undefined;
  }

  /** Removes a header set so far. */
  removeHeader(name: string): this {
    this.#checkHead();
    const lower = name.toLowerCase();
    const f = this.#fields;
    for (let i = f.length - 2; i >= 0; i -= 2) if ((f[i] as string).toLowerCase() === lower) f.splice(i, 2);
    return this;
  }

  #checkHead(): void {
    if (this.#headSent) throw new InvalidStateError('Cannot set header: headers already sent', 'ERR_HTTP_HEADERS_SENT');
  }

  /** Sends `100 Continue`-free head now: status, headers, and a streamed body to follow. */
  writeHead(status?: number, headers?: Record<string, string | number> | [string, string][]): this {
    if (status !== undefined) this.status = status;
    if (headers !== undefined) this.#addHeaders(headers);
    this.#sendHead(-1);
    return this;
  }

  #addHeaders(headers: Record<string, string | number> | [string, string][]): void {
    if (!Array.isArray(headers)) {
      for (const k of Object.keys(headers)) this.setHeader(k, headers[k] as string | number);
      return;
    }
    this.#checkHead();
    const fields = this.#fields;
    for (let i = 0; i < headers.length; i++) {
      const tuple = headers[i] as [string, string];
      const name = tuple[0];
      const value = String(tuple[1]);
      // PERF: a constant list of header tuples passed on every response is validated once; the snapshot is
      // compared by identity, so a tuple changed afterwards is validated again (bench http-get-pipe16).
      const seen = validatedTuples.get(tuple);
      if (seen === undefined || seen[0] !== name || seen[1] !== value) {
        validateField(name, value);
        validatedTuples.set(tuple, [name, value]);
      }
      fields.push(name, value);
    }
  }

  #sendHead(length: number): void {
    if (this.#headSent) return;
    this.#target.writeHead(this.status, this.#fields, length);
    this.#headSent = true;
  }

  /**
   * Writes part of a streamed body (the head goes first, with chunked framing on HTTP/1.1).
   * Returns false when the socket's buffer is full: wait for `drained()` before writing more.
   */
  write(chunk: BodyInit): boolean {
    if (this.#ended) throw new InvalidStateError('Cannot write: response ended', 'ERR_HTTP_RESPONSE_ENDED');
    this.#sendHead(-1);
    return this.#target.writeBody(toBuffer(chunk));
  }

  /** Resolves when the socket's write buffer has drained (or at once if it is not full). */
  drained(): Promise<void> {
    return this.#target.drained();
  }

  /** Ends the response, with an optional last piece of body (or the whole body: then Content-Length is set). */
  end(body?: BodyInit, trailers?: [string, string][]): void {
    if (this.#ended) throw new InvalidStateError('Cannot end: response already ended', 'ERR_HTTP_RESPONSE_ENDED');
    const buf = body === undefined ? null : toBuffer(body);
    if (!this.#headSent) {
      this.#ended = true;
      this.#headSent = true;
      this.#target.respond(this.status, this.#fields, buf);
      return;
    }
    this.#target.cork();
    try {
      if (buf !== null) this.#target.writeBody(buf);
      const flat: string[] = [];
      if (trailers !== undefined) for (const [k, v] of trailers) flat.push(k, v);
      this.#ended = true;
      this.#target.endResponse(flat);
    } finally {
      this.#target.uncork();
    }
  }

  /** Sends a whole response: `res.send("hi", 201, { "content-type": "text/plain" })`. */
  send(body: BodyInit | null, status?: number, headers?: Record<string, string | number> | [string, string][]): void {
    if (status !== undefined) this.status = status;
    if (headers !== undefined) this.#addHeaders(headers);
    if (body === null) this.end();
    else {
      if (typeof body === 'string' && this.getHeader('content-type') === undefined) {
        this.setHeader('Content-Type', 'text/plain; charset=utf-8');
      }
      this.end(body);
    }
  }

  /** Sends `value` as JSON (`Content-Type: application/json`). */
  json(value: unknown, status?: number): void {
    if (status !== undefined) this.status = status;
    if (this.getHeader('content-type') === undefined) this.setHeader('Content-Type', 'application/json');
    this.end(JSON.stringify(value));
  }

  /**
   * Turns this response into a server-sent event stream (HTML Living Standard §9.2): sends the head now (status
   * 200 unless set, `Content-Type: text/event-stream`, `Cache-Control: no-cache` unless set, `X-Accel-Buffering: no`
   * so that nginx does not buffer it) and returns the stream to `send` events on, `subscribe` to topics, `close`.
   * The body is chunked on HTTP/1.1 and close-delimited on HTTP/1.0. A HEAD request gets the head and an ended
   * stream.
   *
   * @example
   * ```ts
   * const stream = res.sse();
   * stream.send({ event: 'tick', id: String(n), data: JSON.stringify({ n }) });
   * stream.subscribe('news');
   * ```
   * @throws InvalidStateError when the head was sent already; TypeError/RangeError for bad options
   */
  sse(options: SseOptions = {}): SseStream {
    if (this.#headSent) {
      throw new InvalidStateError('Cannot start an event stream: headers already sent', 'ERR_HTTP_HEADERS_SENT');
    }
    return this.#target.openEventStream(this, options);
  }

  /** Streams an async iterable as the body, honouring backpressure, then ends the response. */
  async stream(source: AsyncIterable<BodyInit> | Iterable<BodyInit>): Promise<void> {
    for await (const chunk of source) {
      if (!this.write(chunk)) await this.drained();
    }
    this.end();
  }
}
