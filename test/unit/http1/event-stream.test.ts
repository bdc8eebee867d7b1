/**
 * The text/event-stream encoder (src/http1/event-stream.ts), sans-I/O: exact bytes for each field, the rules that
 * refuse a field which would break the stream (TypeError naming the field, RangeError for retry), and a fast-check
 * property: any event, encoded and then parsed by a reference parser written from the HTML Living Standard §9.2.5 /
 * §9.2.6 algorithm (below, independent of the encoder), gives back its data, type and id; and the core's
 * `writeBodyFramed` (a published event framed once as a chunk, written plain where the body is not chunked).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeComment, encodeEvent, encodePublished } from '../../../src/http1/event-stream.js';
import { AutoResponder, createProtocol } from '../../helpers/http1.js';

interface Parsed {
  type: string;
  data: string;
  lastEventId: string;
  retry: number | null;
}

/** HTML §9.2.5/§9.2.6: split into lines on CRLF/LF/CR, process fields, dispatch on a blank line. */
function parseStream(text: string): Parsed[] {
  const out: Parsed[] = [];
  let data = '';
  let type = '';
  let lastEventId = '';
  let retry: number | null = null;
  // A stream from us always ends with a blank line, so the last piece after the final terminator is ''.
  const lines = text.split(/\r\n|\r|\n/);
  for (const line of lines.slice(0, -1)) {
    if (line === '') {
      if (data === '') {
        type = '';
        continue;
      }
      out.push({ type: type === '' ? 'message' : type, data: data.slice(0, -1), lastEventId, retry });
      data = '';
      type = '';
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') data += `${value}\n`;
    else if (name === 'event') type = value;
    else if (name === 'id' && !value.includes('\0')) lastEventId = value;
    else if (name === 'retry' && /^[0-9]+$/.test(value)) retry = Number(value);
  }
  return out;
}

describe('event-stream encoding', () => {
  test('fields, line breaks in data, comments, published text and binary: exact bytes', () => {
    assert.equal(encodeEvent('hi').toString(), 'data: hi\n\n');
    assert.equal(encodeEvent('').toString(), 'data: \n\n', 'an empty data line still dispatches an event');
    assert.equal(encodeEvent('a\r\nb\rc\nd').toString(), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
    assert.equal(
      encodeEvent({ event: 'tick', id: '42', retry: 1500, data: 'x' }).toString(),
      'event: tick\nid: 42\nretry: 1500\ndata: x\n\n',
    );
    assert.equal(encodeEvent({ id: '' }).toString(), 'id: \n\n', 'an empty id resets the last event ID');
    assert.equal(encodeComment('').toString(), ':\n');
    assert.equal(encodeComment('one\ntwo').toString(), ': one\n: two\n');
    assert.equal(encodePublished(Buffer.from('p\nq'), false).toString(), 'data: p\ndata: q\n\n');
    assert.equal(encodePublished(Buffer.from([0, 255, 1]), true).toString(), 'event: binary\ndata: AP8B\n\n');
    assert.equal(encodeEvent('é ☃').toString('utf8'), 'data: é ☃\n\n');
  });

  test('fields that would break the stream are refused, naming the field', () => {
    assert.throws(() => encodeEvent({ id: 'a\nb', data: 'x' }), { name: 'TypeError', message: /^id must not/ });
    assert.throws(() => encodeEvent({ id: 'a\rb' }), { name: 'TypeError', message: /^id must not/ });
    assert.throws(() => encodeEvent({ id: 'a\0b' }), {
      name: 'TypeError',
      message: /^id must not contain CR, LF or NUL/,
    });
    assert.throws(() => encodeEvent({ event: 'a\nb', data: 'x' }), { name: 'TypeError', message: /^event must not/ });
    assert.throws(() => encodeEvent({ event: 'a\r' }), { name: 'TypeError', message: /^event must not/ });
    assert.throws(() => encodeEvent({ retry: -1 }), { name: 'RangeError', message: /^retry must be an integer/ });
    assert.throws(() => encodeEvent({ retry: 1.5 }), { name: 'RangeError' });
    assert.throws(() => encodeEvent({ retry: '5' as unknown as number }), {
      name: 'TypeError',
      message: /^retry must be a number/,
    });
    assert.throws(() => encodeEvent({ data: 5 as unknown as string }), {
      name: 'TypeError',
      message: /^data must be a string, got number/,
    });
    assert.throws(() => encodeEvent({}), { name: 'TypeError', message: /at least one of/ });
    assert.throws(() => encodeEvent(null as unknown as string), { name: 'TypeError', message: /got null/ });
    assert.throws(() => encodeComment(3 as unknown as string), {
      name: 'TypeError',
      message: /^comment must be a string/,
    });
  });

  test('property: any event parses back to its data, type and id (HTML §9.2.5/§9.2.6 reference parser)', () => {
    // Strings with line breaks of every kind, and characters of every UTF-8 length.
    const text = fc.string({ unit: fc.constantFrom('a', ' ', ':', '\r', '\n', 'é', '☃', '😀', 'z') });
    const noBreak = fc.string({ unit: fc.constantFrom('a', ' ', ':', 'é', '😀', 'z') });
    fc.assert(
      fc.property(
        text,
        fc.option(
          noBreak.filter((s) => s !== ''),
          { nil: undefined },
        ),
        fc.option(noBreak, { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
        text,
        (data, event, id, retry, comment) => {
          const bytes = Buffer.concat([encodeComment(comment), encodeEvent({ data, event, id, retry })]);
          const events = parseStream(bytes.toString('utf8'));
          assert.equal(events.length, 1);
          const e = events[0] as Parsed;
          // The parser normalises CRLF and CR to LF: that is what the client sees.
          assert.equal(e.data, data.replace(/\r\n|\r/g, '\n'));
          assert.equal(e.type, event ?? 'message');
          assert.equal(e.lastEventId, id ?? '');
          assert.equal(e.retry, retry ?? null);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('writeBodyFramed: the framed chunk on a chunked body, the plain bytes on HTTP/1.0, nothing on HEAD', () => {
    const event = encodePublished(Buffer.from('hi'), false);
    const framed = Buffer.concat([Buffer.from(`${event.length.toString(16)}\r\n`), event, Buffer.from('\r\n')]);
    const bodyOf = (request: string): string => {
      const { protocol, sink } = createProtocol({ handler: new AutoResponder('manual') });
      protocol.receive(Buffer.from(request, 'latin1'));
      protocol.writeHead(200, ['Content-Type', 'text/event-stream'], -1);
      protocol.writeBodyFramed(event, framed);
      protocol.endResponse(null);
      const text = sink.text;
      return text.slice(text.indexOf('\r\n\r\n') + 4);
    };
    assert.equal(bodyOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 'a\r\ndata: hi\n\n\r\n0\r\n\r\n');
    assert.equal(bodyOf('GET / HTTP/1.0\r\n\r\n'), 'data: hi\n\n');
    assert.equal(bodyOf('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n'), '');
  });
});
