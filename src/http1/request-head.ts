/**
 * The request head the parser (parser.ts) hands on: method, request-target, version and field lines, as received.
 */

import type { HeaderList } from './headers.js';

/** A parsed request head. One object per request; every field is set in the constructor. */
export class RequestHead {
  /** Method token, case-sensitive (RFC 9110 §9.1). */
  method: string;
  /** request-target exactly as received. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 and for HTTP/1.2 to 1.9 (processed as 1.1, RFC 9110 §2.5). */
  versionMinor: number;
  /** Field lines as received. */
  headers: HeaderList;
  constructor(method: string, target: string, versionMinor: number, headers: HeaderList) {
    this.method = method;
    this.target = target;
    this.versionMinor = versionMinor;
    this.headers = headers;
  }
  /** "1.0" or "1.1" (also for HTTP/1.2 to 1.9, processed as 1.1). */
  get httpVersion(): string {
    return this.versionMinor === 1 ? '1.1' : '1.0';
  }
}
