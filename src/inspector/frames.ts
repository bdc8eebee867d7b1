/**
 * The last frames of one connection, both ways, in a fixed ring of typed arrays: recording a frame allocates
 * nothing (PERF: with a tab open the inspector sees every frame of the server; an object per frame, and an array
 * shift to drop the oldest, halved the 32 B echo's throughput in bench/ab.sh).
 */

/** One frame as the page shows it. */
export interface FrameRecord {
  /** 'in' (received) or 'out' (sent). */
  dir: 'in' | 'out';
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  length: number;
  /** ms since the epoch. */
  t: number;
  /** A text preview (payloads: true, text frames only), else null. */
  text: string | null;
}

const B_OUT = 0x10;
const B_FIN = 0x20;
const B_RSV1 = 0x40;

export class FrameRing {
  readonly #t: Float64Array;
  readonly #length: Uint32Array;
  /** opcode (low 4 bits) | B_OUT | B_FIN | B_RSV1. */
  readonly #bits: Uint8Array;
  /** Text previews, when payloads are kept (else null). */
  readonly #text: (string | null)[] | null;
  /** Where the next frame goes. */
  #head = 0;
  #count = 0;

  constructor(capacity: number, keepText: boolean) {
    this.#t = new Float64Array(capacity);
    this.#length = new Uint32Array(capacity);
    this.#bits = new Uint8Array(capacity);
    this.#text = keepText ? new Array<string | null>(capacity).fill(null) : null;
  }

  push(
    out: boolean,
    opcode: number,
    fin: boolean,
    rsv1: boolean,
    length: number,
    t: number,
    text: string | null,
  ): void {
    const i = this.#head;
    this.#t[i] = t;
    this.#length[i] = length < 0 ? 0 : length;
    this.#bits[i] = (opcode & 0x0f) | (out ? B_OUT : 0) | (fin ? B_FIN : 0) | (rsv1 ? B_RSV1 : 0);
    if (this.#text !== null) this.#text[i] = text;
    this.#head = (i + 1) % this.#t.length;
    if (this.#count < this.#t.length) this.#count++;
  }

  /** Sets the text of the newest frame if it is a received one without text (its payload event follows it). */
  setLastInText(text: string): void {
    if (this.#count === 0 || this.#text === null) return;
    const i = (this.#head - 1 + this.#t.length) % this.#t.length;
    if (((this.#bits[i] as number) & B_OUT) === 0 && this.#text[i] === null) this.#text[i] = text;
  }

  /** Oldest first. */
  toArray(): FrameRecord[] {
    const out: FrameRecord[] = [];
    const n = this.#t.length;
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head - this.#count + k + n) % n;
      const b = this.#bits[i] as number;
      out.push({
        dir: (b & B_OUT) !== 0 ? 'out' : 'in',
        opcode: b & 0x0f,
        fin: (b & B_FIN) !== 0,
        rsv1: (b & B_RSV1) !== 0,
        length: this.#length[i] as number,
        t: this.#t[i] as number,
        text: this.#text === null ? null : (this.#text[i] ?? null),
      });
    }
    return out;
  }
}
