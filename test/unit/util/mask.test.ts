/**
 * util/mask.ts: RFC 6455 §5.3 masking against a byte-by-byte reference, on each path: the JS loop (the fallback
 * without WebAssembly) and the WebAssembly SIMD kernel, each forced for every length up to 300, every key phase
 * and every alignment of the view, then both against each other on random large buffers (several 64 KiB kernel
 * slices); `maskInto` leaving its source and the rest of its target alone; the kernel's own bytes run directly;
 * and a `node --jitless` process, where WebAssembly does not exist, falling back to the JS loop.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import {
  compileKernel,
  IN_PLACE_PAGE_BYTES,
  inPlacePage,
  mask,
  maskInto,
  setMaskPath,
} from '../../../src/util/mask.js';

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

function reference(data: Uint8Array, key: Uint8Array, phase: number): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[(i + phase) & 3]!;
  return out;
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** Deterministic pseudo-random bytes (xorshift32), so that a failure can be replayed. */
function randomBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Lengths around every edge: the word loop, the unrolled loop, the kernel threshold and its 64 KiB slices. */
const LARGE = [255, 256, 257, 1021, 4099, 65535, 65536, 65537, 131072, 200003, 1048576 + 5];

describe('the WebAssembly kernel', () => {
  it('loads on this Node (SIMD without flags)', () => {
    assert.equal(setMaskPath('auto'), true);
    assert.notEqual(compileKernel(globalThis.WebAssembly), null);
  });

  it('XORs every length 0..300 at every start address 0..15 of its memory, nothing outside', () => {
    const kernel = compileKernel(globalThis.WebAssembly);
    assert.ok(kernel !== null);
    // Key byte j in bits 8j..8j+7, phase 0: the word the kernel expects.
    const word = KEY[0]! | (KEY[1]! << 8) | (KEY[2]! << 16) | (KEY[3]! << 24);
    for (let len = 0; len <= 300; len++) {
      const data = randomBytes(len, len + 1);
      for (let p = 0; p < 16; p++) {
        kernel.memory.fill(0xee, 0, 400);
        kernel.memory.set(data, p);
        kernel.xor(p, len, word);
        assert.deepEqual(Buffer.from(kernel.memory.subarray(p, p + len)), reference(data, KEY, 0), `len ${len} p ${p}`);
        for (let i = 0; i < p; i++) assert.equal(kernel.memory[i], 0xee);
        for (let i = p + len; i < 400; i++) assert.equal(kernel.memory[i], 0xee);
      }
    }
  });

  it('is what a forced path and the default threshold choose', () => {
    // The kernel path writes its result back with `set`; the JS loop writes by index only.
    const setCalls = (path: 'js' | 'wasm' | 'auto', len: number): number => {
      setMaskPath(path);
      const buf = new Uint8Array(len);
      let calls = 0;
      const set = buf.set.bind(buf);
      buf.set = (...args: Parameters<Uint8Array['set']>) => {
        calls++;
        set(...args);
      };
      mask(buf, KEY, 0);
      return calls;
    };
    try {
      assert.equal(setCalls('wasm', 1), 1);
      assert.equal(setCalls('wasm', 65536 * 2 + 1), 3);
      assert.equal(setCalls('js', 65536), 0);
      assert.equal(setCalls('auto', 255), 0);
      assert.equal(setCalls('auto', 256), 1);
    } finally {
      setMaskPath('auto');
    }
  });

  it('is not loaded without WebAssembly, or when compiling it fails', () => {
    assert.equal(compileKernel(undefined), null);
    const refusing = {
      ...globalThis.WebAssembly,
      Module: class {
        constructor() {
          throw new WebAssembly.CompileError('Wasm code generation disallowed by embedder');
        }
      },
    } as unknown as typeof WebAssembly;
    assert.equal(compileKernel(refusing), null);
  });
});

for (const path of ['js', 'wasm'] as const) {
  describe(`RFC 6455 §5.3 client-to-server masking, ${path} path forced`, () => {
    after(() => setMaskPath('auto'));

    it('mask matches the reference for every length 0..300, phase and alignment', () => {
      setMaskPath(path);
      for (let len = 0; len <= 300; len++) {
        const data = pattern(len);
        for (let align = 0; align < 4; align++) {
          for (let phase = 0; phase < 4; phase++) {
            const backing = Buffer.alloc(len + 8, 0xee);
            const view = backing.subarray(align, align + len);
            data.copy(view);
            mask(view, KEY, phase);
            assert.deepEqual(view, reference(data, KEY, phase), `len ${len} align ${align} phase ${phase}`);
            // Bytes around the view are untouched.
            for (let i = 0; i < align; i++) assert.equal(backing[i], 0xee);
            for (let i = align + len; i < backing.length; i++) assert.equal(backing[i], 0xee);
          }
        }
      }
    });

    it('maskInto matches the reference for every length 0..300, phase and alignment, source left alone', () => {
      setMaskPath(path);
      for (let len = 0; len <= 300; len++) {
        for (let align = 0; align < 4; align++) {
          const srcBacking = Buffer.alloc(len + 4, 0xdd);
          const src = srcBacking.subarray(align, align + len);
          pattern(len).copy(src);
          const before = Buffer.from(srcBacking);
          for (let phase = 0; phase < 4; phase++) {
            const dst = Buffer.alloc(len + 8, 0xee);
            const at = 3 - align;
            maskInto(src, KEY, dst, at, phase);
            const where = `len ${len} align ${align} phase ${phase}`;
            assert.deepEqual(dst.subarray(at, at + len), reference(src, KEY, phase), where);
            for (let i = 0; i < at; i++) assert.equal(dst[i], 0xee, where);
            for (let i = at + len; i < dst.length; i++) assert.equal(dst[i], 0xee, where);
            assert.deepEqual(srcBacking, before, where);
          }
        }
      }
    });

    it('is its own inverse (unmasking)', () => {
      setMaskPath(path);
      const data = pattern(1000);
      const copy = Buffer.from(data);
      mask(copy, KEY, 0);
      assert.notDeepEqual(copy, data);
      mask(copy, KEY, 0);
      assert.deepEqual(copy, data);
    });

    it('unmasking piece by piece with the running offset equals unmasking at once', () => {
      setMaskPath(path);
      const data = pattern(300);
      const whole = Buffer.from(data);
      mask(whole, KEY, 0);
      for (const cut of [1, 2, 3, 5, 64, 67, 150, 299]) {
        const pieces = Buffer.from(data);
        mask(pieces.subarray(0, cut), KEY, 0);
        mask(pieces.subarray(cut), KEY, cut);
        assert.deepEqual(pieces, whole, `cut ${cut}`);
        const gathered = Buffer.alloc(300);
        maskInto(data.subarray(0, cut), KEY, gathered, 0, 0);
        maskInto(data.subarray(cut), KEY, gathered, cut, cut);
        assert.deepEqual(gathered, whole, `maskInto cut ${cut}`);
      }
    });
  });
}

describe('RFC 6455 §5.3 masking of large buffers', () => {
  after(() => setMaskPath('auto'));

  it('the kernel, the JS loop and the default choice give the same bytes as the reference', () => {
    let seed = 1;
    for (const len of LARGE) {
      const align = len & 3;
      const phase = (len >>> 2) & 3;
      const key = randomBytes(4, seed++);
      const data = randomBytes(len + align, seed++).subarray(align);
      const expected = reference(data, key, phase);
      for (const path of ['js', 'wasm', 'auto'] as const) {
        setMaskPath(path);
        const where = `len ${len} align ${align} phase ${phase} ${path}`;
        const inPlace = Buffer.alloc(len + align).subarray(align);
        data.copy(inPlace);
        mask(inPlace, key, phase);
        assert.ok(inPlace.equals(expected), `mask ${where}`);
        const into = Buffer.alloc(len + 5, 0xee);
        maskInto(data, key, into, 5, phase);
        assert.ok(into.subarray(5).equals(expected), `maskInto ${where}`);
        assert.ok(into.subarray(0, 5).equals(Buffer.alloc(5, 0xee)), `maskInto head ${where}`);
      }
    }
  });
});

describe("inPlacePage: the kernel's second page (where node/read-buffer.ts has socket reads land)", () => {
  after(() => setMaskPath('auto'));
  const page = inPlacePage() as Buffer;

  it("is 64 KiB of the kernel's memory, apart from its scratch page", () => {
    const kernel = compileKernel(globalThis.WebAssembly);
    assert.ok(kernel !== null);
    assert.ok(page !== null);
    assert.equal(page.length, 65536);
    assert.equal(IN_PLACE_PAGE_BYTES, 65536);
    // Every call is a view of the same memory.
    const again = inPlacePage() as Buffer;
    assert.equal(again.buffer, page.buffer);
    assert.equal(again.byteOffset, page.byteOffset);
    // The module's memory (another instance here) has two pages: the scratch page and the read page.
    assert.equal(kernel.buffer.byteLength, 2 * 65536);
    assert.equal(page.byteOffset, 65536);
    assert.ok(page.buffer instanceof ArrayBuffer || page.buffer instanceof SharedArrayBuffer);
  });

  it('mask and maskInto unmask a view of it in place, at every offset, length and phase, nothing around it', () => {
    let seed = 99;
    for (const path of ['auto', 'wasm', 'js'] as const) {
      setMaskPath(path);
      for (const len of [0, 1, 3, 63, 64, 255, 256, 257, 1000, 4099, 30001, 65536 - 37]) {
        for (const offset of [0, 1, 2, 3, 13, 37]) {
          if (offset + len > page.length) continue;
          const phase = (len + offset) & 3;
          const key = randomBytes(4, seed++);
          const data = randomBytes(len, seed++);
          const expected = reference(data, key, phase);
          const where = `${path} len ${len} offset ${offset} phase ${phase}`;
          page.fill(0xee);
          data.copy(page, offset);
          mask(page.subarray(offset, offset + len), key, phase);
          assert.ok(page.subarray(offset, offset + len).equals(expected), `mask ${where}`);
          for (const i of [offset - 1, offset + len]) if (i >= 0 && i < page.length) assert.equal(page[i], 0xee);
          page.fill(0xee);
          data.copy(page, offset);
          const into = Buffer.alloc(len + 3, 0x11);
          maskInto(page.subarray(offset, offset + len), key, into, 3, phase);
          assert.ok(into.subarray(3).equals(expected), `maskInto ${where}`);
          assert.ok(into.subarray(0, 3).equals(Buffer.alloc(3, 0x11)), `maskInto head ${where}`);
          for (const i of [offset - 1, offset + len]) if (i >= 0 && i < page.length) assert.equal(page[i], 0xee);
        }
      }
    }
  });
});

describe('without WebAssembly (node --jitless)', () => {
  it('falls back to the JS loop with the same results', () => {
    const url = new URL('../../../src/util/mask.js', import.meta.url).href;
    const script = `
      import assert from 'node:assert/strict';
      import { mask, maskInto, setMaskPath } from ${JSON.stringify(url)};
      assert.equal(typeof WebAssembly, 'undefined');
      assert.equal(setMaskPath('auto'), false);
      const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
      for (const len of [0, 1, 63, 64, 255, 256, 4099, 65537]) {
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i++) data[i] = (i * 31 + 7) & 0xff;
        const expected = Buffer.from(data);
        for (let i = 0; i < len; i++) expected[i] ^= key[(i + 1) & 3];
        const inPlace = Buffer.from(data);
        mask(inPlace, key, 1);
        assert.ok(inPlace.equals(expected), 'mask ' + len);
        const into = Buffer.alloc(len);
        maskInto(data, key, into, 0, 1);
        assert.ok(into.equals(expected), 'maskInto ' + len);
      }
      assert.throws(() => setMaskPath('wasm'), /not loaded/);
      console.log('fallback ok');
    `;
    const child = spawnSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'fallback ok');
  });
});
