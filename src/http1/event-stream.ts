/**
 * The `text/event-stream` format of server-sent events (HTML Living Standard §9.2, "Server-sent events"), sans-I/O:
 * events, comments and the `retry` field in, UTF-8 bytes out, and the rules that keep a field from breaking the
 * stream. The node/ layer (node/sse.ts) writes the bytes as the body of a streamed HTTP response.
 *
 * §9.2.5 (parsing an event stream): lines end with CRLF, LF or CR; a line starting with `:` is a comment; a field is
 * `name: value` (one space after the colon is dropped by the parser); a blank line dispatches the event. §9.2.6
 * (interpreting it): several `data` lines join with LF; `id` sets the last event ID (ignored if it contains NUL);
 * `event` names the event type; `retry` (ASCII digits only) sets the reconnection time.
 */

import { Buffer } from 'node:buffer';
import { SSE_MAX_RETRY_MS } from '../limits.js';

/** One event of a stream: `data` (text; line breaks become several `data:` lines), and optional fields. */
export interface SseEvent {
  /** The event's data. Without it only `id`/`retry` are sent (no event is dispatched, HTML §9.2.6). */
  data?: string;
  /** Event type (`addEventListener(type)`); default `message`. No CR or LF. */
  event?: string;
  /** Event id, sent back by the client as `Last-Event-ID` when it reconnects. No CR, LF or NUL. */
  id?: string;
  /** Reconnection delay the client should use, in ms (a non-negative integer). */
  retry?: number;
}

// Line terminators the parser accepts (HTML §9.2.5: CRLF, LF, CR): a value split on them.
const LINE_BREAKS = /\r\n|\r|\n/;

/** @throws TypeError when `event` holds CR or LF (the field would end early, HTML §9.2.5). */
export function checkEventName(event: unknown): asserts event is string {
  if (typeof event !== 'string') throw new TypeError(`event must be a string, got ${typeName(event)}`);
  if (/[\r\n]/.test(event)) throw new TypeError('event must not contain CR or LF');
}

/** @throws TypeError when `id` holds CR, LF or NUL (HTML §9.2.6: an id with NUL is ignored; CR/LF end the line). */
export function checkEventId(id: unknown): asserts id is string {
  if (typeof id !== 'string') throw new TypeError(`id must be a string, got ${typeName(id)}`);
  if (/[\r\n\0]/.test(id)) throw new TypeError('id must not contain CR, LF or NUL');
}

/** @throws TypeError when `retry` is not a number; RangeError unless an integer from 0 to SSE_MAX_RETRY_MS. */
export function checkRetry(retry: unknown): asserts retry is number {
  if (typeof retry !== 'number') throw new TypeError(`retry must be a number, got ${typeName(retry)}`);
  // HTML §9.2.6: the field is ignored unless it is ASCII digits only: a non-negative integer.
  if (!Number.isInteger(retry) || retry < 0 || retry > SSE_MAX_RETRY_MS) {
    throw new RangeError(`retry must be an integer from 0 to ${SSE_MAX_RETRY_MS} ms, got ${retry}`);
  }
}

/** `data: …` lines of a text, one per line of it (HTML §9.2.6: the client joins them with LF). */
function dataLines(data: string): string {
  if (!LINE_BREAKS.test(data)) return `data: ${data}\n`;
  const lines = data.split(LINE_BREAKS);
  let out = '';
  for (let i = 0; i < lines.length; i++) out += `data: ${lines[i]}\n`;
  return out;
}

/**
 * Encodes one event (validated) as its lines and the blank line that dispatches it.
 * @throws TypeError for a field of the wrong type or with a forbidden character; RangeError for a bad `retry`
 */
export function encodeEvent(ev: SseEvent | string): Buffer {
  if (typeof ev === 'string') return Buffer.from(`${dataLines(ev)}\n`, 'utf8');
  if (typeof ev !== 'object' || ev === null) {
    throw new TypeError(`event must be a string or an object, got ${typeName(ev)}`);
  }
  let out = '';
  if (ev.event !== undefined) {
    checkEventName(ev.event);
    out += `event: ${ev.event}\n`;
  }
  if (ev.id !== undefined) {
    checkEventId(ev.id);
    out += `id: ${ev.id}\n`;
  }
  if (ev.retry !== undefined) {
    checkRetry(ev.retry);
    out += `retry: ${ev.retry}\n`;
  }
  if (ev.data !== undefined) {
    if (typeof ev.data !== 'string') throw new TypeError(`data must be a string, got ${typeName(ev.data)}`);
    out += dataLines(ev.data);
  }
  if (out === '') throw new TypeError('event must have at least one of data, event, id, retry');
  return Buffer.from(`${out}\n`, 'utf8');
}

/**
 * A comment: one `: …` line per line of `text` (`:` alone for an empty text). Comments dispatch nothing; they keep
 * an idle connection alive through proxies (HTML §9.2.7).
 */
export function encodeComment(text: string): Buffer {
  if (typeof text !== 'string') throw new TypeError(`comment must be a string, got ${typeName(text)}`);
  if (text === '') return HEARTBEAT;
  const lines = text.split(LINE_BREAKS);
  let out = '';
  for (let i = 0; i < lines.length; i++) out += `: ${lines[i]}\n`;
  return Buffer.from(out, 'utf8');
}

/** The heartbeat: an empty comment line, the smallest thing a client ignores (HTML §9.2.5). */
export const HEARTBEAT: Buffer = Buffer.from(':\n', 'latin1');

/**
 * A message published to a topic, as one event: text (UTF-8 bytes) as `data` lines; binary as base64 in an event of
 * type `binary` (an event stream is text: HTML §9.2.5 decodes it as UTF-8), so `onmessage` sees only text messages.
 */
export function encodePublished(data: Buffer, binary: boolean): Buffer {
  if (binary) return Buffer.from(`event: binary\ndata: ${data.toString('base64')}\n\n`, 'latin1');
  return Buffer.from(`${dataLines(data.toString('utf8'))}\n`, 'utf8');
}

function typeName(v: unknown): string {
  return v === null ? 'null' : typeof v;
}
