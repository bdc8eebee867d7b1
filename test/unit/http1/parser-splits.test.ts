/**
 * RequestParser: the error an input gets does not depend on how it is split (regressions found by the fuzzer,
 * test/fuzz/targets/http1.ts). The parser judges an incomplete head (request-line bytes, 414, 431) and a line
 * before its LF (its bound) as bytes arrive; a verdict that needs the whole head or line (505, a bare CR or LF, a
 * field line) must not overtake one those bytes already gave, or a head in one piece and the same head in pieces
 * get different statuses. Also: `receive()` returns an offset inside its input, after a failure too.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { BODY_CHUNKED, RequestParser } from '../../../src/http1/parser.js';
import { MAX_CHUNK_LINE_BYTES } from '../../../src/limits.js';
import { type Http1Event, parseEverySplit, RecordingParserHandler } from '../../helpers/http1.js';

const SMALL = { maxRequestLineBytes: 48, maxHeaderBytes: 160, maxHeaderCount: 6, maxTrailerBytes: 40 };

function error(status: number, code: string): Http1Event {
  return { type: 'error', status, code };
}

/** The last event of `input` fed whole, byte by byte and split in two everywhere (all must agree). */
function verdict(input: string, opts: Parameters<typeof parseEverySplit>[1] = {}): Http1Event | undefined {
  return parseEverySplit(input, opts).at(-1);
}

describe('RequestParser: one verdict whatever the split (RFC 9112 §2.2, §3, §5, §7.1)', () => {
  it('a request-line over maxRequestLineBytes, then a bare LF: 414 (it was too long before the LF came)', () => {
    const input = `GET /${'a'.repeat(60)} HTTP/1.1\r\nHost: a\n\n`;
    assert.deepEqual(verdict(input, { limits: SMALL }), error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG'));
    // Found as: a request-line of 49 octets, its CRLF, then an LF.
    const found = `GET ${'0'.repeat(44)}o\r\n\n`;
    assert.deepEqual(verdict(found, { limits: SMALL }), error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG'));
  });

  it('a header section over maxHeaderBytes, then a bare LF: 431', () => {
    const input = `GET / HTTP/1.1\r\n${'X: a\r\n'.repeat(30)}Y: b\n`;
    assert.deepEqual(verdict(input, { limits: SMALL }), error(431, 'ERR_HTTP_HEADERS_TOO_LARGE'));
  });

  it('a major version other than 1 with a header section over maxHeaderBytes: 431, not 505', () => {
    const input = `GET / HTTP/2.0\r\n${'X: a\r\n'.repeat(30)}\r\n`;
    assert.deepEqual(verdict(input, { limits: SMALL }), error(431, 'ERR_HTTP_HEADERS_TOO_LARGE'));
  });

  it('a bad field line in a header section over maxHeaderBytes: 431', () => {
    const input = `GET / HTTP/1.1\r\nBad Name: x\r\n${'X: a\r\n'.repeat(30)}\r\n`;
    assert.deepEqual(verdict(input, { limits: SMALL }), error(431, 'ERR_HTTP_HEADERS_TOO_LARGE'));
  });

  it('a head that starts with a CR not followed by LF: 400 at once, not 414 later', () => {
    assert.deepEqual(verdict('\r@GET / HTTP/1.1\r\n\r\n'), error(400, 'ERR_HTTP_INVALID_METHOD'));
    assert.deepEqual(verdict(`\r ${'x'.repeat(60)}`, { limits: SMALL }), error(400, 'ERR_HTTP_INVALID_METHOD'));
    // A CR alone may still be the start of an empty line: no verdict yet.
    assert.deepEqual(verdict('\r\n\r'), undefined);
  });

  it('a request-line of maxRequestLineBytes octets, then CR CR LF: 414 (the line up to its LF is longer)', () => {
    const input = `PO${'H'.repeat(46)}\r\r\n\r\n`;
    assert.deepEqual(verdict(input, { limits: SMALL }), error(414, 'ERR_HTTP_REQUEST_LINE_TOO_LONG'));
    // The same with a bad target or version: the checks of a head in pieces come first.
    const badTarget = `GET /${'a'.repeat(40)}\x01\r\r\n\r\n`;
    assert.deepEqual(verdict(badTarget, { limits: SMALL }), error(400, 'ERR_HTTP_INVALID_TARGET'));
  });

  it('a trailer line over maxTrailerBytes, then a bare LF: 431', () => {
    const input = `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n${'T'.repeat(40)}\n`;
    const events = parseEverySplit(input, { limits: SMALL, eof: true });
    assert.deepEqual(events.at(-1), error(431, 'ERR_HTTP_TRAILERS_TOO_LARGE'));
  });

  it('a chunk line without its LF: too long at MAX_CHUNK_LINE_BYTES + 2 octets in one piece and in pieces', () => {
    const head = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
    const ok = `${head}1;${'a'.repeat(MAX_CHUNK_LINE_BYTES - 1)}`; // MAX + 1 octets: may still end in CRLF
    const long = `${ok}a`;
    const points = [head.length + 1, head.length + 100, head.length + MAX_CHUNK_LINE_BYTES];
    assert.deepEqual(parseEverySplit(ok, { points }).at(-1)?.type, 'request');
    assert.deepEqual(parseEverySplit(long, { points }).at(-1), error(400, 'ERR_HTTP_INVALID_CHUNK'));
  });

  it('receive() returns an offset inside its input after a failure', () => {
    for (const input of ['\n', 'GET\x00 / HTTP/1.1\r\n\r\n', 'GET / HTTP/1.1\r\nA\r\n\r\nrest']) {
      const handler = new RecordingParserHandler();
      handler.framing = () => BODY_CHUNKED;
      const parser = new RequestParser(handler);
      const buf = Buffer.from(input, 'latin1');
      const at = parser.receive(buf);
      assert.ok(parser.isFailed, input);
      assert.ok(at >= 0 && at <= buf.length, `${JSON.stringify(input)}: receive() returned ${at}`);
    }
  });
});
