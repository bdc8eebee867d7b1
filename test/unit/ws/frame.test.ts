/**
 * ws/frame.ts: opcode constants (RFC 6455 §5.2, §11.8), the close code table of §7.4 checked for every code
 * from 0 to 65535, frame header encoding for every length class, and close payload encoding.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLOSE_CODE,
  encodeClosePayload,
  encodeFrameHeader,
  frameHeaderLength,
  isControlOpcode,
  isKnownOpcode,
  isValidCloseCode,
  MAX_FRAME_HEADER,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  OPCODE,
} from '../../../src/ws/frame.js';

describe('RFC 6455 §5.2 opcodes', () => {
  it('has the values of §11.8', () => {
    assert.deepEqual(OPCODE, { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 });
    assert.deepEqual([OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG], [0, 1, 2, 8, 9, 10]);
  });
  it('classifies every opcode', () => {
    for (let op = 0; op < 16; op++) {
      assert.equal(isKnownOpcode(op), [0, 1, 2, 8, 9, 10].includes(op), `known ${op}`);
      assert.equal(isControlOpcode(op), op >= 8, `control ${op}`);
    }
  });
});

describe('RFC 6455 §7.4 close codes', () => {
  /** The table of the brief: which codes may appear in a close frame. */
  function expected(code: number): boolean {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1011) return true;
    if (code >= 1012 && code <= 1014) return true; // IANA-registered after the RFC; Autobahn accepts them
    if (code >= 3000 && code <= 4999) return true;
    return false;
  }
  it('classifies every code from 0 to 65535', () => {
    for (let code = 0; code <= 0xffff; code++) assert.equal(isValidCloseCode(code), expected(code), `code ${code}`);
  });
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    it(`accepts ${code}`, () => assert.equal(isValidCloseCode(code), true));
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535, -1, 1000.5, Number.NaN]) {
    it(`rejects ${code}`, () => assert.equal(isValidCloseCode(code), false));
  }
  it('names the codes of §7.4.1', () => {
    assert.equal(CLOSE_CODE.NORMAL, 1000);
    assert.equal(CLOSE_CODE.PROTOCOL_ERROR, 1002);
    assert.equal(CLOSE_CODE.NO_STATUS, 1005);
    assert.equal(CLOSE_CODE.ABNORMAL, 1006);
    assert.equal(CLOSE_CODE.INVALID_PAYLOAD, 1007);
    assert.equal(CLOSE_CODE.MESSAGE_TOO_BIG, 1009);
  });
});

describe('RFC 6455 §5.2 frame header encoding', () => {
  const cases: [string, number, boolean, string][] = [
    ['empty', 0, false, '8100'],
    ['125 bytes, 7-bit length', 125, false, '817d'],
    ['126 bytes, 16-bit length', 126, false, '817e007e'],
    ['65535 bytes, 16-bit length', 65535, false, '817effff'],
    ['65536 bytes, 64-bit length', 65536, false, '817f0000000000010000'],
    ['2^32 bytes', 2 ** 32, false, '817f0000000100000000'],
    ['2^53-1 bytes', Number.MAX_SAFE_INTEGER, false, '817f001fffffffffffff'],
    ['masked, 5 bytes', 5, true, '8185aabbccdd'],
    ['masked, 126 bytes', 126, true, '81fe007eaabbccdd'],
    ['masked, 70000 bytes', 70000, true, '81ff0000000000011170aabbccdd'],
  ];
  const key = Buffer.from('aabbccdd', 'hex');
  for (const [name, length, masked, hex] of cases) {
    it(`encodes ${name}`, () => {
      const buf = Buffer.alloc(MAX_FRAME_HEADER + 2, 0xee);
      const end = encodeFrameHeader(buf, 1, true, false, OP_TEXT, length, masked ? key : undefined);
      assert.equal(buf.subarray(1, end).toString('hex'), hex);
      assert.equal(end - 1, frameHeaderLength(length, masked));
      assert.equal(buf[0], 0xee);
      assert.equal(buf[end], 0xee);
    });
  }
  it('sets FIN, RSV1 and the opcode', () => {
    const buf = Buffer.alloc(2);
    encodeFrameHeader(buf, 0, false, true, OP_CONTINUATION, 0, undefined);
    assert.equal(buf[0], 0x40);
    encodeFrameHeader(buf, 0, true, true, OP_BINARY, 0, undefined);
    assert.equal(buf[0], 0xc2);
    encodeFrameHeader(buf, 0, true, false, OP_PONG, 3, undefined);
    assert.deepEqual([...buf], [0x8a, 0x03]);
  });
  it('refuses bad lengths and short targets', () => {
    const buf = Buffer.alloc(MAX_FRAME_HEADER);
    assert.throws(() => encodeFrameHeader(buf, 0, true, false, 1, -1, undefined), RangeError);
    assert.throws(() => encodeFrameHeader(buf, 0, true, false, 1, 1.5, undefined), RangeError);
    assert.throws(() => encodeFrameHeader(buf, 0, true, false, 1, 2 ** 53, undefined), RangeError);
    assert.throws(() => encodeFrameHeader(Buffer.alloc(3), 0, true, false, 1, 126, undefined), RangeError);
    assert.throws(() => encodeFrameHeader(buf, 10, true, false, 1, 0, key), RangeError);
  });
});

describe('RFC 6455 §5.5.1 close payload', () => {
  it('encodes code and reason', () => {
    assert.equal(encodeClosePayload(1000, 'bye').toString('hex'), '03e8627965');
    assert.equal(encodeClosePayload(4999).toString('hex'), '1387');
    assert.equal(encodeClosePayload(undefined).length, 0);
  });
  it('accepts a 123-byte reason and refuses 124', () => {
    assert.equal(encodeClosePayload(1000, 'x'.repeat(123)).length, 125);
    assert.throws(() => encodeClosePayload(1000, 'x'.repeat(124)), RangeError);
    assert.throws(() => encodeClosePayload(1000, 'é'.repeat(62)), RangeError, '124 bytes in UTF-8');
  });
  it('refuses invalid codes and a reason without a code', () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) {
      assert.throws(() => encodeClosePayload(code), RangeError, `code ${code}`);
    }
    assert.throws(() => encodeClosePayload(undefined, 'why'), RangeError);
  });
});
