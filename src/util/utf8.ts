/**
 * UTF-8 validation (RFC 3629 §4), whole-buffer and incremental.
 *
 * Rules: a byte sequence is valid when it is well-formed UTF-8 as RFC 3629 defines it: no overlong forms
 * (C0, C1, E0 80..9F, F0 80..8F), no UTF-16 surrogates (ED A0..BF), nothing above U+10FFFF (F4 90.., F5..FF),
 * and no sequence cut off at the end of the message.
 *
 * Theory of operation: a deterministic automaton over bytes. The state is a small integer that says which
 * continuation bytes are still expected; it is carried across fragments, so a text message split anywhere
 * (over frames or over TCP reads) is validated as it arrives and fails at the first invalid byte, which is what
 * Autobahn's 6.4.x cases ask for ("fail fast"). States:
 *
 *   ACCEPT   between characters                 E0       need A0..BF, then 1 more
 *   REJECT   an invalid byte was seen (sticky)   ED       need 80..9F (no surrogates), then 1 more
 *   NEED1    need 1 continuation byte 80..BF    F0       need 90..BF (no overlong), then 2 more
 *   NEED2    need 2 continuation bytes          F4       need 80..8F (<= U+10FFFF), then 2 more
 *   NEED3    need 3 continuation bytes
 *
 * PERF: whole payloads go to `buffer.isUtf8` (simdutf in Node 20) from 24 bytes on, the threshold ws uses;
 * below it the JS automaton is cheaper than the native call.
 */

import { isUtf8 } from 'node:buffer';

/** Automaton state: between characters; the bytes so far are valid and complete. */
export const UTF8_ACCEPT = 0;
/** Automaton state: an invalid byte was seen. Sticky. */
export const UTF8_REJECT = 1;
const NEED1 = 2;
const NEED2 = 3;
const NEED3 = 4;
const AFTER_E0 = 5;
const AFTER_ED = 6;
const AFTER_F0 = 7;
const AFTER_F4 = 8;
const STATE_COUNT = 9;

/** Transition table: `TRANSITIONS[state * 256 + byte]` is the next state. */
const TRANSITIONS: Uint8Array = buildTransitions();

function buildTransitions(): Uint8Array {
  const t = new Uint8Array(STATE_COUNT * 256).fill(UTF8_REJECT);
  const range = (state: number, lo: number, hi: number, next: number): void => {
    for (let b = lo; b <= hi; b++) t[state * 256 + b] = next;
  };
  // RFC 3629 §4: UTF8-1 = %x00-7F; UTF8-2 = %xC2-DF UTF8-tail; UTF8-3 = %xE0 %xA0-BF UTF8-tail /
  // %xE1-EC 2( UTF8-tail ) / %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail ); UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) /
  // %xF1-F3 3( UTF8-tail ) / %xF4 %x80-8F 2( UTF8-tail ). C0, C1 and F5..FF never appear.
  range(UTF8_ACCEPT, 0x00, 0x7f, UTF8_ACCEPT);
  range(UTF8_ACCEPT, 0xc2, 0xdf, NEED1);
  range(UTF8_ACCEPT, 0xe0, 0xe0, AFTER_E0);
  range(UTF8_ACCEPT, 0xe1, 0xec, NEED2);
  range(UTF8_ACCEPT, 0xed, 0xed, AFTER_ED);
  range(UTF8_ACCEPT, 0xee, 0xef, NEED2);
  range(UTF8_ACCEPT, 0xf0, 0xf0, AFTER_F0);
  range(UTF8_ACCEPT, 0xf1, 0xf3, NEED3);
  range(UTF8_ACCEPT, 0xf4, 0xf4, AFTER_F4);
  range(NEED1, 0x80, 0xbf, UTF8_ACCEPT);
  range(NEED2, 0x80, 0xbf, NEED1);
  range(NEED3, 0x80, 0xbf, NEED2);
  range(AFTER_E0, 0xa0, 0xbf, NEED1);
  range(AFTER_ED, 0x80, 0x9f, NEED1);
  range(AFTER_F0, 0x90, 0xbf, NEED2);
  range(AFTER_F4, 0x80, 0x8f, NEED2);
  return t;
}

/** Below this length the JS automaton beats the native `isUtf8` call (ws's threshold). */
const NATIVE_THRESHOLD = 24;

/**
 * Runs the automaton over `bytes[start..end)` from `state`.
 *
 * @returns the new state; `UTF8_REJECT` as soon as an invalid byte is met (the rest is not read).
 * @example
 * let s = utf8Step(UTF8_ACCEPT, Buffer.from([0xe2, 0x82]));   // mid-character
 * s = utf8Step(s, Buffer.from([0xac]));                          // "€" complete: s === UTF8_ACCEPT
 */
export function utf8Step(state: number, bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  return utf8Scan(state, bytes, start, end) < 0 ? lastState : UTF8_REJECT;
}

/** State left by the last `utf8Scan` call (module scratch so the scan returns one number). */
let lastState = UTF8_ACCEPT;

/**
 * Runs the automaton over `bytes[start..end)` from `state` and reports where it failed.
 *
 * @returns `-1` when no invalid byte was found (the new state is then in `utf8ScanState()`), else the index of
 * the first invalid byte.
 */
export function utf8Scan(state: number, bytes: Uint8Array, start: number, end: number): number {
  if (state === UTF8_REJECT) return start;
  let i = start;
  while (i < end) {
    const b = bytes[i]!;
    // PERF: ASCII runs skip the table load.
    if (state === UTF8_ACCEPT && b < 0x80) {
      i++;
      continue;
    }
    state = TRANSITIONS[(state << 8) | b]!;
    if (state === UTF8_REJECT) return i;
    i++;
  }
  lastState = state;
  return -1;
}

/** The state reached by the last successful `utf8Scan`. */
export function utf8ScanState(): number {
  return lastState;
}

/**
 * Whether `bytes` is one complete, valid UTF-8 sequence (a whole text payload).
 *
 * @example
 * isValidUtf8(Buffer.from('héllo'));          // true
 * isValidUtf8(Buffer.from([0xed, 0xa0, 0x80])); // false: a UTF-16 surrogate
 */
export function isValidUtf8(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
  if (end - start >= NATIVE_THRESHOLD) {
    return isUtf8(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
  }
  return utf8Scan(UTF8_ACCEPT, bytes, start, end) < 0 && lastState === UTF8_ACCEPT;
}

/**
 * Incremental validator for a text message that arrives in pieces (fragments or TCP reads).
 * Feed each piece to `write`; call `end` when the message is complete.
 *
 * @example
 * const v = new Utf8Validator();
 * v.write(Buffer.from([0xe2, 0x82]));  // true: valid so far
 * v.write(Buffer.from([0xac]));        // true
 * v.end();                             // true: no sequence left open
 */
export class Utf8Validator {
  /** Automaton state: `UTF8_ACCEPT`, `UTF8_REJECT` or a mid-character state. */
  state: number;
  /** Bytes accepted so far (over all writes since the last reset). */
  consumed: number;
  /** Offset, counted over all writes since the last reset, of the first invalid byte; `-1` if none. */
  invalidAt: number;

  constructor() {
    this.state = UTF8_ACCEPT;
    this.consumed = 0;
    this.invalidAt = -1;
  }

  /** Validates `bytes[start..end)` as the continuation of what came before. `false` at the first invalid byte. */
  write(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
    if (this.state === UTF8_REJECT) return false;
    const bad = utf8Scan(this.state, bytes, start, end);
    if (bad >= 0) {
      this.state = UTF8_REJECT;
      this.invalidAt = this.consumed + (bad - start);
      this.consumed += bad - start;
      return false;
    }
    this.state = lastState;
    this.consumed += end - start;
    return true;
  }

  /** Ends the message: `false` if an invalid byte was seen or a character is cut off at the end. */
  end(): boolean {
    if (this.state === UTF8_ACCEPT) return true;
    if (this.state !== UTF8_REJECT) {
      // RFC 3629 §3: a truncated sequence at the end is ill-formed; it fails at the end of input.
      this.invalidAt = this.consumed;
      this.state = UTF8_REJECT;
    }
    return false;
  }

  /** Makes the validator ready for a new message. */
  reset(): void {
    this.state = UTF8_ACCEPT;
    this.consumed = 0;
    this.invalidAt = -1;
  }
}
