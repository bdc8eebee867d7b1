/**
 * Event classes the WHATWG WebSocket API needs and Node.js 20 lacks as globals: `CloseEvent`
 * (https://websockets.spec.whatwg.org/#the-closeevent-interface) and `ErrorEvent` (HTML's interface, which the
 * client uses for its `error` events so that the cause is not lost; a browser fires a plain `Event`, and an
 * `ErrorEvent` is one). `MessageEvent` is a Node 20 global and is used as it is.
 */

/**
 * The DOM's `EventInit`, repeated here so that the published types compile without the DOM lib (Node's types
 * declare `Event` and `EventTarget` globally but not `EventInit`).
 */
interface BaseEventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

/** What `new CloseEvent(type, init)` accepts. */
export interface CloseEventInit extends BaseEventInit {
  /** Whether the connection closed cleanly (close handshake done, then TCP closed). Default `false`. */
  wasClean?: boolean;
  /** The WebSocket connection close code (RFC 6455 §7.1.5). Default `0`. */
  code?: number;
  /** The WebSocket connection close reason. Default `''`. */
  reason?: string;
}

/**
 * The `close` event of a WebSocket: how the connection ended.
 *
 * @example
 * ws.onclose = (e) => console.log(e.code, e.reason, e.wasClean); // 1000 'bye' true
 */
export class CloseEvent extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.#wasClean = init.wasClean === true;
    // WebIDL `unsigned short`: modulo 2^16.
    this.#code = init.code === undefined ? 0 : (Number(init.code) >>> 0) & 0xffff;
    this.#reason = init.reason === undefined ? '' : String(init.reason);
  }

  /** True when the close handshake completed and then TCP closed (RFC 6455 §7.1.4). */
  get wasClean(): boolean {
    return this.#wasClean;
  }

  /** The close code: the peer's, 1005 for a close frame without one, 1006 when no close frame came. */
  get code(): number {
    return this.#code;
  }

  /** The close reason sent by the peer, or `''`. */
  get reason(): string {
    return this.#reason;
  }
}

/** What `new ErrorEvent(type, init)` accepts (HTML's ErrorEventInit). */
export interface ErrorEventInit extends BaseEventInit {
  message?: string;
  filename?: string;
  lineno?: number;
  colno?: number;
  error?: unknown;
}

/**
 * An error event carrying its cause. The WebSocket client fires it (type `error`) when it had to fail the
 * connection; `error` is the reason: a `HandshakeError`, a `ProtocolError`, a socket error, and so on.
 *
 * @example
 * ws.onerror = (e) => console.error((e as ErrorEvent).error);
 */
export class ErrorEvent extends Event {
  readonly #message: string;
  readonly #filename: string;
  readonly #lineno: number;
  readonly #colno: number;
  readonly #error: unknown;

  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.#message = init.message === undefined ? '' : String(init.message);
    this.#filename = init.filename === undefined ? '' : String(init.filename);
    this.#lineno = init.lineno === undefined ? 0 : Number(init.lineno) >>> 0;
    this.#colno = init.colno === undefined ? 0 : Number(init.colno) >>> 0;
    this.#error = init.error;
  }

  /** A description of the error. */
  get message(): string {
    return this.#message;
  }

  get filename(): string {
    return this.#filename;
  }

  get lineno(): number {
    return this.#lineno;
  }

  get colno(): number {
    return this.#colno;
  }

  /** The error itself. */
  get error(): unknown {
    return this.#error;
  }
}
