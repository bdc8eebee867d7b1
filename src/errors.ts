/**
 * Error classes of sockeye. Few classes, many documented `ERR_*` codes (see docs/api.md).
 *
 * Rules: the receive path of a core never throws; it reports one `ProtocolError` per failed
 * connection through its handler. `ProtocolError` carries its protocol meaning: an HTTP status
 * (`status`) for HTTP/1.1, a close code (`closeCode`) for WebSocket.
 */

import { Buffer } from 'node:buffer';

/** Base class of every error sockeye throws or reports. `code` is a stable `ERR_*` string. */
export class SockeyeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer broke HTTP/1.1 or WebSocket. `status` is the HTTP answer, `closeCode` the WebSocket one. */
export class ProtocolError extends SockeyeError {
  readonly status: number;
  readonly closeCode: number;
  constructor(code: string, message: string, status: number, closeCode: number) {
    super(code, message);
    this.status = status;
    this.closeCode = closeCode;
  }
}

/** An HTTP/1.1 protocol error that knows the status to answer with. */
export function httpError(status: number, code: string, message: string): ProtocolError {
  return new ProtocolError(code, message, status, 0);
}

/** A WebSocket protocol error that knows the close code to fail the connection with. */
export function wsError(closeCode: number, code: string, message: string): ProtocolError {
  return new ProtocolError(code, message, 0, closeCode);
}

/** Local misuse: sending after close, writing a response twice, etc. */
export class InvalidStateError extends SockeyeError {
  constructor(message: string, code = 'ERR_INVALID_STATE') {
    super(code, message);
  }
}

/** Raised for operations pending on, or attempted after, a closed connection. */
export class ConnectionClosedError extends SockeyeError {
  readonly closeCode: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(closeCode: number, reason: string, wasClean: boolean) {
    super('ERR_CONNECTION_CLOSED', `Connection closed: code ${closeCode}${reason ? ` "${reason}"` : ''}`);
    this.closeCode = closeCode;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

/** A client-side WebSocket handshake failed (unexpected status, bad accept key, unrequested protocol). */
export class HandshakeError extends SockeyeError {
  /** The response's status code when the server answered with something other than 101; 0 when it did not answer. */
  readonly status: number;
  /** The response's header fields, as received. */
  readonly headers: [string, string][];
  /** The response's reason phrase (`'Unauthorized'`), as received; `''` when there was none. */
  readonly statusText: string;
  /**
   * The first bytes of a refusal's body (at most `WS_CLIENT_MAX_REFUSAL_BODY_BYTES`, 4 KiB): what the server said
   * about why. Empty when there was none, or when it came chunked.
   */
  readonly body: Buffer;
  constructor(
    code: string,
    message: string,
    status = 0,
    headers: [string, string][] = [],
    statusText = '',
    body: Buffer = Buffer.alloc(0),
  ) {
    super(code, message);
    this.status = status;
    this.headers = headers;
    this.statusText = statusText;
    this.body = body;
  }
}
