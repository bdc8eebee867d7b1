/**
 * The WebSocket client: the WHATWG `WebSocket` interface (https://websockets.spec.whatwg.org/) over node:net and
 * node:tls, so that code written for the browser's WebSocket runs unchanged, plus a few Node options (extra
 * headers, timeouts, TLS settings) in a third constructor argument.
 *
 * Life of a connection:
 *
 *   CONNECTING  TCP (and TLS) connect, request head written at once; the response head is gathered (bounded,
 *               16 KiB) and checked (RFC 6455 §4.1). Any failure, the handshake timeout, or `close()` fails the
 *               connection: TCP is destroyed, then `error` and `close` (1006, not clean) are fired.
 *   OPEN        `open` fired; bytes after the 101 head and every later read go into a `WsProtocol` core
 *               (client side: it masks what it sends). Messages are fired as `message` events.
 *   CLOSING     a close frame went out (ours, the echo of the server's, or a failure's); RFC 6455 §7.1.1: the
 *               client waits for the server to close TCP, at most `closeTimeout`, then destroys the socket.
 *   CLOSED      TCP is closed: `error` (only if we failed the connection) then `close` with the close code of
 *               RFC 6455 §7.1.5 (the server's, 1005 without a code, 1006 without a close frame or after a failure).
 *
 * Events are dispatched from the socket's callbacks (so `open` comes before any message of the same read) and
 * never from inside a method the application called.
 */

import { Buffer } from 'node:buffer';
import net from 'node:net';
import tls from 'node:tls';
import { isArrayBuffer } from 'node:util/types';
import { HandshakeError } from '../errors.js';
import {
  WS_CLOSE_TIMEOUT_MS,
  WS_HANDSHAKE_TIMEOUT_MS,
  WS_MAX_FRAGMENTS,
  WS_MAX_PAYLOAD,
  WS_PONG_TIMEOUT_S,
} from '../limits.js';
import { formatExtensions } from '../ws/extensions.js';
import { MAX_CLOSE_REASON } from '../ws/frame.js';
import { buildRequestHead, generateKey } from '../ws/handshake.js';
import { type DeflateClientOffer, deflateOffer } from '../ws/permessage-deflate.js';
import { SIDE_CLIENT } from '../ws/protocol.js';
import {
  clampUnsignedShort,
  parseWebSocketUrl,
  toArrayBuffer,
  toHeaderPairs,
  toProtocolList,
  type WebSocketHeaders,
} from './client-args.js';
import { HandshakeResponse, type Refusal } from './client-handshake.js';
import { onTick, refreshNow } from './clock.js';
import { type DeflateCodecOptions, resolveDeflateSettings } from './deflate.js';
import { CloseEvent, ErrorEvent } from './events.js';
import { TcpTransport, type TransportTarget } from './transport.js';
import { WsConnection, type WsConnectionConfig, type WsConnectionHandler } from './ws-connection.js';

/** How binary messages are delivered: `Blob` (the standard's default), `ArrayBuffer`, or Node `Buffer`. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

export type { WebSocketHeaders } from './client-args.js';

/** Node options: the third argument of `new WebSocket(url, protocols, options)`. */
export interface WebSocketClientOptions {
  /** Extra request headers. The handshake's own (Host, Upgrade, Connection, Sec-WebSocket-*, Origin) are refused. */
  headers?: WebSocketHeaders;
  /** Time allowed for connect, TLS and the server's 101 response (ms). Default 10 s (`WS_HANDSHAKE_TIMEOUT_MS`). */
  handshakeTimeout?: number;
  /** Largest incoming message in bytes; above it the connection fails with 1009. `0`: no limit. Default 64 MiB. */
  maxPayload?: number;
  /** Most frames one incoming message may come in; past it the connection fails with 1008. `0`: no limit. Default
   * 131,072 (`WS_MAX_FRAGMENTS`). */
  maxFragments?: number;
  /** `Origin` header to send (browsers always send one; by default none is sent). */
  origin?: string;
  /** node:tls connect options for `wss:` URLs (`ca`, `rejectUnauthorized`, `servername`, `cert`, ...). */
  tls?: tls.ConnectionOptions;
  /** After our close frame, how long to wait for the server to close TCP before destroying it (ms). Default 5 s. */
  closeTimeout?: number;
  /**
   * Seconds without receiving anything before we ping the server; if nothing at all arrives within
   * `pongTimeout` after that, the connection is considered dead: `error`, then `close` with 1006. 0 (default): off.
   */
  idleTimeout?: number;
  /** Seconds to wait for any frame after the liveness ping. Default 30. */
  pongTimeout?: number;
  /**
   * Offer permessage-deflate (RFC 7692): `true` offers `permessage-deflate; client_max_window_bits` as browsers
   * do; an object sets the offer's parameters and the codec (threshold, level...). Off by default. A response
   * outside the offer fails the connection.
   */
  perMessageDeflate?: boolean | (DeflateClientOffer & DeflateCodecOptions);
}

/** Events of a `WebSocket`, for typed `addEventListener`. `ping` and `pong` are Node extras (data: Buffer). */
export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: ErrorEvent;
  close: CloseEvent;
  ping: BufferMessageEvent;
  pong: BufferMessageEvent;
}

// The published types use only the DOM names that Node's own types (@types/node) declare globally as well (Event,
// EventTarget, MessageEvent without type arguments, EventListenerOptions, AbortSignal), so that they compile with
// and without the DOM lib.

/** A `MessageEvent` whose `data` is a Buffer (`ping` and `pong`). */
interface BufferMessageEvent extends MessageEvent {
  readonly data: Buffer;
}

/** The DOM's `AddEventListenerOptions`. */
interface ListenerOptions extends EventListenerOptions {
  once?: boolean;
  passive?: boolean;
  signal?: AbortSignal;
}

/** The DOM's `EventListenerOrEventListenerObject`. */
type Listener = ((this: WebSocket, ev: Event) => unknown) | { handleEvent(ev: Event): unknown };

type Handler<E> = ((this: WebSocket, ev: E) => unknown) | null;

/** readyState: the connection has not yet been established. */
const CONNECTING = 0;
/** readyState: the connection is established and communication is possible. */
const OPEN = 1;
/** readyState: the connection is going through the closing handshake, or `close()` was called. */
const CLOSING = 2;
/** readyState: the connection has been closed or could not be opened. */
const CLOSED = 3;

const EMPTY = Buffer.alloc(0);

/**
 * The open client connections of the process: their idle pings, pong timeouts and close deadlines are checked by
 * the coarse tick (clock.ts) that servers use, while any is open, instead of a timer per connection.
 */
const clientConnections = new Set<WsConnection>();
let stopTick: (() => void) | null = null;

function checkClients(now: number): void {
  for (const conn of clientConnections) conn.checkTimers(now);
}

function trackClient(conn: WsConnection): void {
  clientConnections.add(conn);
  if (stopTick === null) stopTick = onTick(checkClients);
}

function untrackClient(conn: WsConnection): void {
  clientConnections.delete(conn);
  if (clientConnections.size === 0 && stopTick !== null) {
    stopTick();
    stopTick = null;
  }
}

/** Something `send()` could not write yet: data behind a Blob being read, or the close that follows them. */
class Pending {
  /** null while a Blob is being read. */
  data: Buffer | null;
  readonly binary: boolean;
  readonly size: number;
  /** A deferred `close()`: code (null: none) and reason. */
  readonly isClose: boolean;
  readonly code: number | null;
  readonly reason: string;
  constructor(
    data: Buffer | null,
    binary: boolean,
    size: number,
    isClose: boolean,
    code: number | null,
    reason: string,
  ) {
    this.data = data;
    this.binary = binary;
    this.size = size;
    this.isClose = isClose;
    this.code = code;
    this.reason = reason;
  }
}

/** An event handler attribute (`onopen` ...): the current function and the listener registered for it. */
interface HandlerSlot {
  fn: ((ev: Event) => unknown) | null;
  listener: ((ev: Event) => void) | null;
}

/**
 * A WebSocket client with the WHATWG API.
 *
 * @example
 * const ws = new WebSocket('ws://127.0.0.1:8080/chat', ['chat.v1']);
 * ws.binaryType = 'arraybuffer';
 * ws.onopen = () => ws.send('hello');
 * ws.onmessage = (e) => console.log(e.data);
 * ws.onclose = (e) => console.log('closed', e.code, e.reason, e.wasClean);
 *
 * @example
 * // Node options: headers, TLS, timeouts
 * const ws = new WebSocket('wss://localhost:8443/', [], { tls: { ca }, headers: { authorization: 'Bearer x' } });
 */
export class WebSocket extends EventTarget {
  declare static readonly CONNECTING: 0;
  declare static readonly OPEN: 1;
  declare static readonly CLOSING: 2;
  declare static readonly CLOSED: 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  readonly #url: URL;
  readonly #origin: string;
  /** The settings the connection runs with once open (one per client). */
  readonly #config: WsConnectionConfig;
  #readyState: number;
  #protocol: string;
  #extensions: string;
  #binaryType: BinaryType;
  readonly #transport: TcpTransport;
  /** The connection, once the handshake succeeded. */
  #conn: WsConnection | null;
  /** The response head being gathered while CONNECTING (null once it is done or the attempt failed). */
  #response: HandshakeResponse | null;
  /** A refusal waiting for its body's first bytes (null: none). */
  #refusal: Refusal | null;
  #handshakeTimer: NodeJS.Timeout | null;
  /** The handshake failed (an `error` event precedes `close`), and why. After it, the connection knows. */
  #failed: boolean;
  #error: unknown;
  /** Sends waiting behind a Blob being read, in order. */
  readonly #pending: Pending[];
  /** bufferedAmount parts: bytes sent in this task, bytes sent before (clamped to what the socket still holds),
   * bytes waiting in `#pending`, and bytes "sent" after closing (the standard counts them, never sends them). */
  #bufferedTask: number;
  #bufferedOlder: number;
  #bufferedPending: number;
  #bufferedAfterClose: number;
  #settleScheduled: boolean;
  readonly #handlers: Record<'open' | 'message' | 'error' | 'close', HandlerSlot>;

  /**
   * Opens a connection to `url`.
   *
   * @param url `ws:`, `wss:`, `http:` (as ws:) or `https:` (as wss:) URL, without a fragment
   * @param protocols subprotocols to offer, most preferred first (tokens, no duplicates)
   * @param options Node options (headers, timeouts, TLS)
   * @throws DOMException `SyntaxError` for an invalid URL or subprotocol list
   * @throws TypeError for an invalid header name or value in `options`
   */
  constructor(url: string | URL, protocols?: string | Iterable<string>, options: WebSocketClientOptions = {}) {
    super();
    // biome-ignore lint/complexity/noArguments: WebIDL tells a missing argument (TypeError) from undefined
    if (arguments.length === 0) {
      throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
    }
    const urlRecord = parseWebSocketUrl(url);
    const offered = toProtocolList(protocols);
    this.#url = urlRecord;
    this.#origin = urlRecord.origin;
    const key = generateKey();
    this.#config = {
      side: SIDE_CLIENT,
      maxPayload: options.maxPayload ?? WS_MAX_PAYLOAD,
      maxFragments: options.maxFragments ?? WS_MAX_FRAGMENTS,
      closeTimeoutMs: options.closeTimeout ?? WS_CLOSE_TIMEOUT_MS,
      idleTimeoutMs: (options.idleTimeout ?? 0) * 1000,
      pongTimeoutMs: (options.pongTimeout ?? WS_PONG_TIMEOUT_S) * 1000,
      // The standard has no backpressure signal besides bufferedAmount, and never drops a message.
      backpressureLimit: Number.POSITIVE_INFINITY,
      maxBackpressure: Number.POSITIVE_INFINITY,
      dropOnBackpressure: false,
      streamThreshold: Number.POSITIVE_INFINITY,
      stats: null,
      finWaiting: 0,
      frameObserver: null,
    };
    this.#readyState = CONNECTING;
    this.#protocol = '';
    this.#extensions = '';
    this.#binaryType = 'blob';
    this.#conn = null;
    // The permessage-deflate offer we make (null: none) and its codec settings.
    const pmd = options.perMessageDeflate;
    const deflateOptions = pmd === undefined || pmd === false ? null : pmd === true ? {} : pmd;
    const deflate: DeflateClientOffer | null = deflateOptions;
    this.#response = new HandshakeResponse({
      key,
      protocols: offered,
      deflate,
      deflateSettings: deflateOptions === null ? null : resolveDeflateSettings(deflateOptions),
    });
    this.#refusal = null;
    this.#handshakeTimer = null;
    this.#failed = false;
    this.#error = undefined;
    this.#pending = [];
    this.#bufferedTask = 0;
    this.#bufferedOlder = 0;
    this.#bufferedPending = 0;
    this.#bufferedAfterClose = 0;
    this.#settleScheduled = false;
    this.#handlers = {
      open: { fn: null, listener: null },
      message: { fn: null, listener: null },
      error: { fn: null, listener: null },
      close: { fn: null, listener: null },
    };

    // Everything that can throw on the application's input is checked before a socket exists.
    const requestHead = buildRequestHead({
      target: urlRecord.pathname + urlRecord.search,
      host: urlRecord.host,
      key,
      protocols: offered,
      origin: options.origin,
      headers: toHeaderPairs(options.headers),
      extensions: deflate === null ? '' : formatExtensions([deflateOffer(deflate)]),
    });

    const secure = urlRecord.protocol === 'wss:';
    let host = urlRecord.hostname;
    if (host.startsWith('[')) host = host.slice(1, -1);
    const port = urlRecord.port === '' ? (secure ? 443 : 80) : Number(urlRecord.port);
    let socket: net.Socket;
    if (secure) {
      const tlsOptions: tls.ConnectionOptions = { host, port };
      // SNI carries host names only (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted").
      if (net.isIP(host) === 0) tlsOptions.servername = host;
      socket = tls.connect({ ...tlsOptions, ...options.tls, host, port });
    } else {
      socket = net.connect({ host, port });
    }
    socket.setNoDelay(true);
    const transport = new TcpTransport(socket);
    this.#transport = transport;
    // Closures, not methods: the WHATWG surface of this class stays as the standard has it. Once the handshake
    // succeeds the connection takes the transport's events.
    transport.attach(this.#handshakeTarget());
    // The request waits in the socket until it connects (and, for TLS, until the handshake is done).
    transport.writer.write(Buffer.from(requestHead, 'latin1'));

    const timeout = options.handshakeTimeout ?? WS_HANDSHAKE_TIMEOUT_MS;
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = null;
      // A refusal whose body is slow to come: the refusal is the error, with what arrived of the body.
      if (this.#refusal !== null) this.#finishRefusal();
      else
        this.#failConnecting(
          new HandshakeError('ERR_WS_HANDSHAKE_TIMEOUT', `Opening handshake did not complete within ${timeout} ms`),
        );
    }, timeout);
  }

  // ── attributes ─────────────────────────────────────────────────────────────────────────────────────────

  /** The URL, serialized (`http:` and `https:` shown as `ws:` and `wss:`). */
  get url(): string {
    return this.#url.href;
  }

  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  get readyState(): number {
    return this.#readyState;
  }

  /** The subprotocol the server selected, or `''`. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions the server accepted, as a `Sec-WebSocket-Extensions` value, or `''`. */
  get extensions(): string {
    return this.#extensions;
  }

  /**
   * Bytes of application data passed to `send()` and not yet handed to the network: counted in full during
   * the task that sent them, then as far as the socket still holds them. After closing, each `send()` adds its
   * size and nothing is sent (the standard's rule).
   */
  get bufferedAmount(): number {
    let older = this.#bufferedOlder;
    if (older > 0) {
      // The connection's count includes what waits to be compressed (a large message is compressed in slices).
      const held = this.#conn?.bufferedAmount ?? this.#transport.bufferedAmount;
      if (older > held) older = this.#bufferedOlder = held;
    }
    return older + this.#bufferedTask + this.#bufferedPending + this.#bufferedAfterClose;
  }

  /** How binary messages are delivered: `'blob'` (default), `'arraybuffer'` or `'nodebuffer'` (Node extra). */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // WebIDL enumeration attribute: an unknown value is ignored.
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /** Event handler for `open`: The connection opened. */
  get onopen(): Handler<Event> {
    return this.#handlers.open.fn as Handler<Event>;
  }
  set onopen(fn: Handler<Event>) {
    this.#setHandler('open', fn);
  }

  /** Event handler for `message`: A message arrived (`data`: string, or Blob/ArrayBuffer/Buffer per `binaryType`). */
  get onmessage(): Handler<MessageEvent> {
    return this.#handlers.message.fn as Handler<MessageEvent>;
  }
  set onmessage(fn: Handler<MessageEvent>) {
    this.#setHandler('message', fn);
  }

  /** Event handler for `error`: The connection was failed (fired just before `close`; an `ErrorEvent` whose `error` says why). */
  get onerror(): Handler<Event> {
    return this.#handlers.error.fn as Handler<Event>;
  }
  set onerror(fn: Handler<Event>) {
    this.#setHandler('error', fn);
  }

  /** Event handler for `close`: The connection closed (`code`, `reason`, `wasClean`). */
  get onclose(): Handler<CloseEvent> {
    return this.#handlers.close.fn as Handler<CloseEvent>;
  }
  set onclose(fn: Handler<CloseEvent>) {
    this.#setHandler('close', fn);
  }

  /** Typed for the WebSocket's own events; any other type is accepted as on every EventTarget. */
  override addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener:
      | ((this: WebSocket, ev: WebSocketEventMap[K]) => unknown)
      | { handleEvent(ev: WebSocketEventMap[K]): unknown }
      | null,
    options?: boolean | ListenerOptions,
  ): void;
  override addEventListener(type: string, listener: Listener | null, options?: boolean | ListenerOptions): void;
  override addEventListener(type: string, listener: Listener | null, options?: boolean | ListenerOptions): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  override removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener:
      | ((this: WebSocket, ev: WebSocketEventMap[K]) => unknown)
      | { handleEvent(ev: WebSocketEventMap[K]): unknown }
      | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(type: string, listener: Listener | null, options?: boolean | EventListenerOptions): void;
  override removeEventListener(
    type: string,
    listener: Listener | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  // ── methods ────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Sends a message: a string as text (UTF-8), an ArrayBuffer, a typed array, a DataView or a Blob as binary.
   * Any other value is sent as its string conversion, as WebIDL does. Messages leave in call order, a Blob's
   * included (later sends wait for it to be read). After `close()` nothing is sent and `bufferedAmount` grows.
   *
   * @throws DOMException `InvalidStateError` while CONNECTING
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    // biome-ignore lint/complexity/noArguments: WebIDL tells a missing argument (TypeError) from undefined
    if (arguments.length === 0) {
      throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.");
    }
    if (this.#readyState === CONNECTING) {
      throw new DOMException(
        "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.",
        'InvalidStateError',
      );
    }
    let payload: Buffer;
    let binary = true;
    if (typeof data === 'string') {
      payload = Buffer.from(data, 'utf8');
      binary = false;
    } else if (isArrayBuffer(data)) {
      payload = Buffer.from(data);
    } else if (ArrayBuffer.isView(data)) {
      payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } else if (typeof Blob === 'function' && data instanceof Blob) {
      this.#sendBlob(data);
      return;
    } else {
      payload = Buffer.from(String(data), 'utf8');
      binary = false;
    }
    const size = payload.length;
    if (this.#readyState !== OPEN) {
      this.#bufferedAfterClose += size;
      return;
    }
    if (this.#pending.length > 0) {
      // The core copies while masking, but the caller may change its buffer before the Blob ahead is read.
      this.#pending.push(new Pending(Buffer.from(payload), binary, size, false, null, ''));
      this.#bufferedPending += size;
      return;
    }
    // A large message compressed over several loop turns is read later: the caller may change its buffer meanwhile,
    // and the standard sends the data as it was at send() time.
    if (binary && this.#conn?.defersSend(size) === true) payload = Buffer.from(payload);
    this.#transmit(payload, binary);
  }

  /**
   * Closes the connection, or the connection attempt. Without arguments the close frame is empty (the server
   * sees 1005); a reason without a code is sent with 1000.
   *
   * @param code 1000 or 3000-4999
   * @param reason at most 123 bytes of UTF-8
   * @throws DOMException `InvalidAccessError` for another code, `SyntaxError` for a longer reason
   */
  close(code?: number, reason?: string): void {
    let closeCode: number | null = null;
    if (code !== undefined) {
      closeCode = clampUnsignedShort(code);
      if (closeCode !== 1000 && (closeCode < 3000 || closeCode > 4999)) {
        throw new DOMException(
          `Failed to execute 'close' on 'WebSocket': The close code must be either 1000, or between 3000 and 4999. ${closeCode} is neither.`,
          'InvalidAccessError',
        );
      }
    }
    let closeReason = '';
    if (reason !== undefined) {
      closeReason = String(reason);
      // USVString: lone surrogates become U+FFFD, three bytes each, as Buffer.byteLength counts them.
      if (Buffer.byteLength(closeReason, 'utf8') > MAX_CLOSE_REASON) {
        throw new DOMException(
          "Failed to execute 'close' on 'WebSocket': The close reason must not be greater than 123 UTF-8 bytes.",
          'SyntaxError',
        );
      }
    }
    const state = this.#readyState;
    if (state === CLOSING || state === CLOSED) return;
    if (state === CONNECTING) {
      // "Fail the WebSocket connection and set this's ready state to CLOSING."
      this.#failConnecting(
        new HandshakeError('ERR_WS_CLOSED_BEFORE_OPEN', 'WebSocket was closed before the connection was established'),
      );
      this.#readyState = CLOSING;
      return;
    }
    this.#readyState = CLOSING;
    // "If reason is non-empty but code is null, then set code to 1000."
    if (closeReason !== '' && closeCode === null) closeCode = 1000;
    // Messages already passed to send() go first (a Blob may still be being read).
    if (this.#pending.length > 0) this.#pending.push(new Pending(null, false, 0, true, closeCode, closeReason));
    else this.#sendClose(closeCode, closeReason);
  }

  /**
   * Sends a ping (Node extra; at most 125 bytes). The server's pong arrives as a `pong` event. Does nothing
   * unless OPEN.
   *
   * @throws DOMException `InvalidStateError` while CONNECTING; RangeError for a payload over 125 bytes
   */
  ping(data?: string | ArrayBufferLike | ArrayBufferView): void {
    if (this.#readyState === CONNECTING) {
      throw new DOMException(
        "Failed to execute 'ping' on 'WebSocket': Still in CONNECTING state.",
        'InvalidStateError',
      );
    }
    const conn = this.#conn;
    if (this.#readyState !== OPEN || conn === null) return;
    const payload =
      data === undefined
        ? EMPTY
        : typeof data === 'string'
          ? Buffer.from(data, 'utf8')
          : ArrayBuffer.isView(data)
            ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
            : Buffer.from(data);
    conn.ping(payload);
  }

  // ── sending ────────────────────────────────────────────────────────────────────────────────────────────

  #sendBlob(blob: Blob): void {
    const size = blob.size;
    if (this.#readyState !== OPEN) {
      this.#bufferedAfterClose += size;
      return;
    }
    const entry = new Pending(null, true, size, false, null, '');
    this.#pending.push(entry);
    this.#bufferedPending += size;
    blob.arrayBuffer().then(
      (ab) => {
        entry.data = Buffer.from(ab);
        this.#flushPending();
      },
      (err: unknown) => {
        // An in-memory Blob cannot fail to read; if one does, the message cannot be sent in order.
        entry.data = EMPTY;
        // RFC 6455 §7.4.1: 1011, an unexpected condition on our side.
        this.#conn?.fail(1011, '', 'handler-error', err);
      },
    );
  }

  #flushPending(): void {
    const pending = this.#pending;
    while (pending.length > 0 && (pending[0]!.data !== null || pending[0]!.isClose)) {
      const entry = pending.shift()!;
      if (entry.isClose) {
        this.#sendClose(entry.code, entry.reason);
        continue;
      }
      this.#bufferedPending -= entry.size;
      this.#transmit(entry.data!, entry.binary);
    }
  }

  #transmit(payload: Buffer, binary: boolean): void {
    const conn = this.#conn;
    // The closing handshake may have started since the message was accepted (a queued send): it is dropped.
    if (conn === null || !conn.isOpen || conn.core.closeSent) return;
    // permessage-deflate, when agreed, compresses what the codec wants (RFC 7692 §7.2.1): the connection decides.
    conn.send(payload, binary);
    this.#bufferedTask += payload.length;
    if (!this.#settleScheduled) {
      this.#settleScheduled = true;
      setImmediate(() => this.#settleBuffered());
    }
  }

  /** The task that sent data is over: from now on, only what the socket still holds counts. */
  #settleBuffered(): void {
    this.#settleScheduled = false;
    this.#bufferedOlder += this.#bufferedTask;
    this.#bufferedTask = 0;
  }

  #sendClose(code: number | null, reason: string): void {
    this.#conn?.close(code ?? undefined, reason);
  }

  // ── the handshake ──────────────────────────────────────────────────────────────────────────────────────

  /** The transport's events while CONNECTING: the response head is gathered here. */
  #handshakeTarget(): TransportTarget {
    return {
      onRead: (view) => this.#onHandshakeData(Buffer.from(view)),
      onData: (chunk) => this.#onHandshakeData(chunk),
      onPeerEnd: () => {
        this.#finishRefusal();
        if (this.#readyState === CONNECTING && !this.#failed) {
          this.#failConnecting(
            new HandshakeError('ERR_WS_HANDSHAKE_EOF', 'Connection closed before the handshake response was complete'),
          );
        }
      },
      onTransportError: (err) => {
        // A reset after a refusal's head: the refusal is the error.
        this.#finishRefusal();
        // The connection never opened: refused, DNS, TLS, reset.
        if (!this.#failed) {
          this.#failed = true;
          this.#error = err;
        }
      },
      onTransportClose: () => this.#ended(),
      onDrain: () => {},
      onWriterEnd: () => {},
    };
  }

  #onHandshakeData(chunk: Buffer): void {
    const refusal = this.#refusal;
    if (refusal !== null) {
      if (refusal.add(chunk)) this.#finishRefusal();
      return;
    }
    const response = this.#response;
    if (response === null) return;
    const step = response.receive(chunk);
    if (step.kind === 'more') return;
    this.#response = null;
    if (step.kind === 'fail') {
      this.#failConnecting(step.error);
      return;
    }
    if (step.kind === 'refused') {
      this.#refusal = step.refusal;
      if (step.done) this.#finishRefusal();
      return;
    }
    if (this.#handshakeTimer !== null) {
      clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = null;
    }
    refreshNow();
    const conn = new WsConnection(this.#config, this.#transport, step.codec, this.#connectionHandler());
    this.#conn = conn;
    conn.attach();
    trackClient(conn);
    // "When the WebSocket connection is established": readyState, extensions, protocol, then `open`.
    this.#readyState = OPEN;
    this.#extensions = formatExtensions(step.extensions);
    this.#protocol = step.protocol;
    this.dispatchEvent(new Event('open'));
    // Frames that came in the same read as the 101 head.
    if (step.rest.length > 0 && !this.#transport.destroyed) conn.onData(step.rest);
  }

  /** Fails the handshake with the refusal waiting for its body, if any, and what arrived of that body. */
  #finishRefusal(): void {
    const r = this.#refusal;
    if (r === null) return;
    this.#refusal = null;
    this.#failConnecting(r.error());
  }

  /** The transport closed: `error` (if the connection was failed) then `close`, with the standard's code. */
  #ended(): void {
    if (this.#readyState === CLOSED) return;
    this.#finishRefusal();
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    const conn = this.#conn;
    if (conn !== null) untrackClient(conn);
    let failed = this.#failed;
    let error = this.#error;
    if (conn?.failed && !failed) {
      failed = true;
      error = conn.error;
    }
    let code = 1006;
    let reason = '';
    let wasClean = false;
    // RFC 6455 §7.1.5: the close code is the one in the first close frame received, 1005 if it had none; 1006 if
    // none was received. When we failed the connection, we stopped reading: 1006 (the standard fires error, then
    // close with 1006). §7.1.4: clean when both close frames were exchanged and TCP then closed.
    if (conn !== null && !failed && conn.core.closeReceived) {
      code = conn.core.closeCode;
      reason = conn.core.closeReason;
      wasClean = conn.core.closeSent;
    }
    // What never reached the network stays in bufferedAmount.
    this.#settleBuffered();
    this.#bufferedOlder = Math.min(this.#bufferedOlder, conn?.bufferedAmount ?? this.#transport.bufferedAmount);
    this.#bufferedPending = 0;
    for (const entry of this.#pending) this.#bufferedAfterClose += entry.size;
    this.#pending.length = 0;
    this.#readyState = CLOSED;
    if (failed) {
      this.dispatchEvent(
        new ErrorEvent('error', { error, message: error instanceof Error ? error.message : 'WebSocket error' }),
      );
    }
    this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
  }

  // ── failing ────────────────────────────────────────────────────────────────────────────────────────────

  /** RFC 6455 §4.1 _Fail the WebSocket Connection_ before it opened: close TCP; events follow on 'close'. */
  #failConnecting(err: unknown): void {
    if (this.#readyState === CLOSED || this.#conn !== null) return;
    if (!this.#failed) {
      this.#failed = true;
      this.#error = err;
    }
    this.#response = null;
    this.#transport.destroy();
  }

  /** The connection's events, kept off the public surface (its method names would read like `onmessage`). */
  #connectionHandler(): WsConnectionHandler {
    return {
      onWsMessage: (binary, data) => this.#onMessage(binary, data),
      onWsMessageChunk: () => {},
      onWsPing: (data) =>
        this.dispatchEvent(new MessageEvent('ping', { data: Buffer.from(data), origin: this.#origin })),
      onWsPong: (data) =>
        this.dispatchEvent(new MessageEvent('pong', { data: Buffer.from(data), origin: this.#origin })),
      onWsClosing: () => {
        // The server started (or answered) the closing handshake, or the connection failed.
        if (this.#readyState !== CLOSED) this.#readyState = CLOSING;
      },
      onWsDrain: () => {},
      onWsEnd: () => this.#ended(),
    };
  }

  #onMessage(binary: boolean, data: Buffer): void {
    // "If ready state is not OPEN (1), then return."
    if (this.#readyState !== OPEN) return;
    let value: unknown;
    if (!binary) value = data.toString('utf8');
    else if (this.#binaryType === 'blob') value = new Blob([data as Uint8Array as BlobPart]);
    else if (this.#binaryType === 'arraybuffer') value = toArrayBuffer(data);
    else value = data;
    this.dispatchEvent(new MessageEvent('message', { data: value, origin: this.#origin }));
  }

  #setHandler(type: 'open' | 'message' | 'error' | 'close', fn: unknown): void {
    const slot = this.#handlers[type];
    if (typeof fn !== 'function') {
      // Setting null (or a non-function) removes the handler; setting one again appends it anew.
      if (slot.listener !== null) super.removeEventListener(type, slot.listener);
      slot.fn = null;
      slot.listener = null;
      return;
    }
    slot.fn = fn as (ev: Event) => unknown;
    if (slot.listener === null) {
      const listener = (ev: Event): void => {
        slot.fn?.call(this, ev);
      };
      slot.listener = listener;
      super.addEventListener(type, listener);
    }
  }
}

const READY_STATES = {
  CONNECTING: { value: CONNECTING, enumerable: true },
  OPEN: { value: OPEN, enumerable: true },
  CLOSING: { value: CLOSING, enumerable: true },
  CLOSED: { value: CLOSED, enumerable: true },
} as const;
// WebIDL constants: on the interface object and its prototype, read-only.
Object.defineProperties(WebSocket, READY_STATES);
Object.defineProperties(WebSocket.prototype, READY_STATES);
