/**
 * node/read-buffer.ts: the socket read buffer is owned by the I/O layer and is the masking kernel's in-place page
 * (util/mask.ts `inPlacePage`), so a masked payload read into it is unmasked where it lies: the kernel's scratch
 * page (page 0) is not used for it. Without a kernel it would be a plain buffer of the same size.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { after, test } from 'node:test';
import { readBuffer } from '../../../src/node/read-buffer.js';
import { IN_PLACE_PAGE_BYTES, inPlacePage, mask, setMaskPath } from '../../../src/util/mask.js';

after(() => setMaskPath('auto'));

test('readBuffer is the kernel in-place page', () => {
  const page = inPlacePage();
  assert.ok(page !== null, 'WebAssembly is available in the test runtime');
  assert.equal(readBuffer.length, IN_PLACE_PAGE_BYTES);
  assert.equal(readBuffer.buffer, page.buffer);
  assert.equal(readBuffer.byteOffset, page.byteOffset);
});

test('a payload in readBuffer is unmasked in place, without passing through the kernel scratch page', () => {
  setMaskPath('wasm');
  const scratch = new Uint8Array(readBuffer.buffer, 0, IN_PLACE_PAGE_BYTES);
  scratch.fill(0x5a);
  const key = Buffer.from([1, 2, 3, 4]);
  const data = Buffer.alloc(1000, 0x61);
  data.copy(readBuffer, 10);
  mask(readBuffer.subarray(10, 1010), key, 0);
  for (let i = 0; i < 1000; i++) assert.equal(readBuffer[10 + i], 0x61 ^ (key[i & 3] as number));
  assert.ok(
    scratch.every((b) => b === 0x5a),
    'the scratch page was not touched',
  );
  // A buffer elsewhere goes through the scratch page (the check above can fail).
  mask(Buffer.alloc(1000), key, 0);
  assert.ok(!scratch.every((b) => b === 0x5a));
});
