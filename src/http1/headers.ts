import { trimOws } from '../util/ascii.js';

/**
 * Field lines of a message, kept exactly as received: original name case, order and duplicates.
 * Storage is one flat array `[name0, value0, name1, value1, ...]` (names and values are latin1 byte
 * strings); lookups compare names case-insensitively (RFC 9110 §5.1: field names are case-insensitive).
 */
export class HeaderList {
  /** Flat `[name, value, ...]` as received. Do not mutate. */
  readonly raw: string[];
  constructor(raw: string[] = []) {
    this.raw = raw;
  }

  /** Number of field lines. */
  get size(): number {
    return this.raw.length >> 1;
  }

  /** First value of `name` (any case), or `undefined`. */
  get(name: string): string | undefined {
    const raw = this.raw;
    const lower = name.toLowerCase();
    for (let i = 0; i < raw.length; i += 2) {
      if (sameNameAs(raw[i] as string, lower)) return raw[i + 1];
    }
    return undefined;
  }

  /** Every value of `name` in order of arrival. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const raw = this.raw;
    const lower = name.toLowerCase();
    for (let i = 0; i < raw.length; i += 2) {
      if (sameNameAs(raw[i] as string, lower)) out.push(raw[i + 1] as string);
    }
    return out;
  }

  /** Whether a field named `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** All values of `name` joined as one comma-separated list (RFC 9110 §5.3), or `undefined`. */
  getJoined(name: string): string | undefined {
    const raw = this.raw;
    const lower = name.toLowerCase();
    let joined: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      if (sameNameAs(raw[i] as string, lower)) {
        joined = joined === undefined ? (raw[i + 1] as string) : `${joined}, ${raw[i + 1] as string}`;
      }
    }
    return joined;
  }

  /** How many field lines are named `name`. */
  count(name: string): number {
    const raw = this.raw;
    const lower = name.toLowerCase();
    let n = 0;
    for (let i = 0; i < raw.length; i += 2) if (sameNameAs(raw[i] as string, lower)) n++;
    return n;
  }

  /**
   * Whether the comma-separated list field `name` contains `token` (case-insensitive, OWS around elements).
   * PERF: no array, split or lower-cased copy per call: it runs several times per WebSocket handshake.
   */
  hasToken(name: string, token: string): boolean {
    const raw = this.raw;
    const lowerName = name.toLowerCase();
    const t = token.toLowerCase();
    for (let i = 0; i < raw.length; i += 2) {
      if (sameNameAs(raw[i] as string, lowerName) && listHasToken(raw[i + 1] as string, t)) return true;
    }
    return false;
  }

  /** `[name, value]` pairs as received. */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i < this.raw.length; i += 2) out.push([this.raw[i] as string, this.raw[i + 1] as string]);
    return out;
  }
}

/** Whether `name` equals `lower` (already lower case) ignoring ASCII case, without allocating. */
export function sameNameAs(name: string, lower: string): boolean {
  const n = lower.length;
  if (name.length !== n) return false;
  if (name === lower) return true;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && !(c >= 0x41 && c <= 0x5a && (c | 0x20) === l)) return false;
  }
  return true;
}

/**
 * Whether the list value `v` has an element equal to `t` (lower case) ignoring ASCII case, elements separated by
 * commas with OWS (SP/HTAB, RFC 9110 §5.6.3) around them.
 */
export function listHasToken(v: string, t: string): boolean {
  const len = v.length;
  let i = 0;
  while (i <= len) {
    let end = v.indexOf(',', i);
    if (end < 0) end = len;
    let a = i;
    let b = end;
    while (a < b && (v.charCodeAt(a) === 0x20 || v.charCodeAt(a) === 0x09)) a++;
    while (b > a && (v.charCodeAt(b - 1) === 0x20 || v.charCodeAt(b - 1) === 0x09)) b--;
    if (b - a === t.length) {
      let k = 0;
      for (; k < t.length; k++) {
        const c = v.charCodeAt(a + k);
        const l = t.charCodeAt(k);
        if (c !== l && !(c >= 0x41 && c <= 0x5a && (c | 0x20) === l)) break;
      }
      if (k === t.length) return true;
    }
    i = end + 1;
  }
  return false;
}

/** Splits a comma-separated list field value into trimmed, non-empty elements (RFC 9110 §5.6.1). */
export function splitList(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const p = trimOws(part);
    if (p !== '') out.push(p);
  }
  return out;
}
