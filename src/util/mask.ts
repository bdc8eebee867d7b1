/**
 * WebSocket masking (RFC 6455 §5.3): `octet i of the transformed data is octet i of the original data XOR octet
 * at index i modulo 4 of the masking key`. Masking and unmasking are the same operation, done in place.
 *
 * PERF: when the view is long enough, the bytes up to the first 4-byte-aligned address are done one by one, then
 * the aligned middle 32 bits at a time through a `Uint32Array` view with the key rotated to the right phase and
 * laid out in the platform's byte order, then the tail byte by byte. Short payloads use the byte loop only: for
 * them the view allocation costs more than it saves (measure with bench/ws-mask.bench.ts).
 */

/** Below this many bytes the plain byte loop is used. */
const WORD_THRESHOLD = 64;

const LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * XORs `buf` in place with the 4-byte masking `key`, starting at phase `keyOffset` of the key: pass the number
 * of payload bytes already processed when a payload is unmasked piece by piece.
 *
 * @param buf bytes to mask or unmask, changed in place
 * @param key the 4-byte masking key (RFC 6455 §5.3)
 * @param keyOffset payload position of `buf[0]` (only its value modulo 4 matters)
 * @example
 * const key = Buffer.from([1, 2, 3, 4]);
 * const data = Buffer.from('hello');
 * mask(data, key, 0); // masked
 * mask(data, key, 0); // 'hello' again
 */
export function mask(buf: Uint8Array, key: Uint8Array, keyOffset = 0): void {
  const len = buf.length;
  let i = 0;
  let k = keyOffset & 3;
  if (len >= WORD_THRESHOLD) {
    const head = (4 - (buf.byteOffset & 3)) & 3;
    for (; i < head; i++) {
      buf[i] ^= key[k]!;
      k = (k + 1) & 3;
    }
    const words = (len - i) >>> 2;
    const k0 = key[k]!;
    const k1 = key[(k + 1) & 3]!;
    const k2 = key[(k + 2) & 3]!;
    const k3 = key[(k + 3) & 3]!;
    const word = LITTLE_ENDIAN
      ? (k0 | (k1 << 8) | (k2 << 16) | (k3 << 24)) >>> 0
      : ((k0 << 24) | (k1 << 16) | (k2 << 8) | k3) >>> 0;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    const x = word | 0;
    let w = 0;
    // PERF: unrolled by 8: 10 µs instead of 19.6 µs per 64 KiB on this machine (V8 hoists the bounds checks).
    for (; w + 8 <= words; w += 8) {
      view[w] ^= x;
      view[w + 1] ^= x;
      view[w + 2] ^= x;
      view[w + 3] ^= x;
      view[w + 4] ^= x;
      view[w + 5] ^= x;
      view[w + 6] ^= x;
      view[w + 7] ^= x;
    }
    for (; w < words; w++) view[w] ^= x;
    i += words << 2;
    // Whole words keep the key phase: k is unchanged for the tail.
  }
  for (; i < len; i++) {
    buf[i] ^= key[k]!;
    k = (k + 1) & 3;
  }
}

/**
 * Copies `src` into `dst` at `dstOffset` and masks the copy with `key`. `src` is not changed (a client must
 * never mask the caller's buffer in place: the caller may reuse or share it).
 */
export function maskInto(src: Uint8Array, key: Uint8Array, dst: Uint8Array, dstOffset: number): void {
  dst.set(src, dstOffset);
  mask(dst.subarray(dstOffset, dstOffset + src.length), key, 0);
}
