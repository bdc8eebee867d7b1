/**
 * Coverage feedback for the fuzzer from V8's own block coverage (the data behind `c8` and `node --test
 * --experimental-test-coverage`), read through `node:inspector` in the same thread: no native addon, no source
 * instrumentation, nothing to install.
 *
 * Theory of operation. `Profiler.startPreciseCoverage({ callCount: true, detailed: true })` makes V8 count every
 * function and every block (branch arm, loop body) it runs; `Profiler.takePreciseCoverage` returns the counts and
 * resets them, so one call after each input gives that input's coverage. V8 leaves out a block whose count equals
 * its parent's, so the blocks met so far are remembered per function and each one's count is the count of the
 * innermost range reported around it. A feature is (block, count bucket) with libFuzzer's buckets (1, 2, 3, 4-7,
 * 8-15, 16-31, 32-127, 128+): an input is kept when it reaches a block for the first time or runs it a new number
 * of times (e.g. one more header line, one more frame).
 *
 * Only the code under test counts (scripts whose URL contains `/dist/src/`); the oracles and models in test/ run
 * too, but their branches are not coverage of the library.
 */

import { Session } from 'node:inspector';

interface Range {
  start: number;
  end: number;
  id: number;
}

interface KnownFunction {
  /** Ranges met so far in this function, keyed by start * 2^21 + end. */
  byKey: Map<number, Range>;
  list: Range[];
}

interface ReportedRange {
  startOffset: number;
  endOffset: number;
  count: number;
}

function bucket(count: number): number {
  if (count <= 3) return count;
  if (count <= 7) return 4;
  if (count <= 15) return 5;
  if (count <= 31) return 6;
  if (count <= 127) return 7;
  return 8;
}

/** Block-coverage feedback for the code whose script URL passes `filter`. */
export class Coverage {
  readonly #session: Session;
  readonly #filter: (url: string) => boolean;
  readonly #functions = new Map<string, KnownFunction>();
  #nextId = 1;

  constructor(filter: (url: string) => boolean = (url) => url.includes('/dist/src/')) {
    this.#filter = filter;
    this.#session = new Session();
    this.#session.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** A synchronous inspector call: a same-thread session answers before `post` returns. */
  #post(method: string, params?: object): unknown {
    let answered = false;
    let error: Error | null = null;
    let result: unknown;
    this.#session.post(method, params, (err: Error | null, res?: unknown) => {
      answered = true;
      error = err;
      result = res;
    });
    if (!answered) throw new Error(`inspector did not answer ${method} synchronously`);
    if (error !== null) throw error;
    return result;
  }

  /** Forgets the counts gathered so far (before the first input of a target). */
  reset(): void {
    this.#post('Profiler.takePreciseCoverage');
  }

  /** Appends the features of everything run since the last call to `out`, and resets the counts. */
  collect(out: number[]): void {
    const taken = this.#post('Profiler.takePreciseCoverage') as {
      result: { url: string; functions: { ranges: ReportedRange[] }[] }[];
    };
    for (const script of taken.result) {
      if (!this.#filter(script.url)) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        const top = ranges[0];
        if (top === undefined || top.count === 0) continue;
        const key = `${script.url}#${top.startOffset}`;
        let known = this.#functions.get(key);
        if (known === undefined) {
          known = { byKey: new Map(), list: [] };
          this.#functions.set(key, known);
        }
        for (const r of ranges) {
          const k = r.startOffset * 2097152 + r.endOffset;
          if (!known.byKey.has(k)) {
            const range: Range = { start: r.startOffset, end: r.endOffset, id: this.#nextId++ };
            known.byKey.set(k, range);
            known.list.push(range);
          }
        }
        // Each known block's count is that of the innermost reported range around it: V8 reports ranges sorted by
        // start, nested ones after the ranges that hold them, so the last one that contains the block is innermost.
        for (const block of known.list) {
          let count = 0;
          for (const r of ranges) {
            if (r.startOffset <= block.start && block.end <= r.endOffset) count = r.count;
            else if (r.startOffset > block.start) break;
          }
          if (count > 0) out.push(block.id * 8 + bucket(count) - 1);
        }
      }
    }
  }

  /** Number of blocks of the code under test met so far (all targets together). */
  get blocks(): number {
    let n = 0;
    for (const f of this.#functions.values()) n += f.list.length;
    return n;
  }

  stop(): void {
    this.#post('Profiler.stopPreciseCoverage');
    this.#session.disconnect();
  }
}
