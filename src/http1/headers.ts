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
    const n = name.length;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i] as string;
      if (k.length === n && (k === name || k.toLowerCase() === name.toLowerCase())) return raw[i + 1];
    }
    return undefined;
  }

  /** Every value of `name` in order of arrival. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const raw = this.raw;
    const lower = name.toLowerCase();
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i] as string;
      if (k.length === lower.length && k.toLowerCase() === lower) out.push(raw[i + 1] as string);
    }
    return out;
  }

  /** Whether a field named `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** All values of `name` joined as one comma-separated list (RFC 9110 §5.3), or `undefined`. */
  getJoined(name: string): string | undefined {
    const all = this.getAll(name);
    return all.length === 0 ? undefined : all.join(', ');
  }

  /** Whether the comma-separated list field `name` contains `token` (case-insensitive, any OWS). */
  hasToken(name: string, token: string): boolean {
    const all = this.getAll(name);
    const t = token.toLowerCase();
    for (const v of all) {
      for (const part of v.split(',')) {
        if (trimOws(part).toLowerCase() === t) return true;
      }
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

/** Splits a comma-separated list field value into trimmed, non-empty elements (RFC 9110 §5.6.1). */
export function splitList(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const p = trimOws(part);
    if (p !== '') out.push(p);
  }
  return out;
}
