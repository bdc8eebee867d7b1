/**
 * Http1ServerProtocol.holdNext: the adapter's way to stop before the next pipelined request while the peer is not
 * reading the responses (test/integration/attacks-http.test.ts has the attack). Held, no request is started and
 * its bytes wait in `pending`; a request under way (its body) goes on; cleared and driven, the rest is answered
 * in order, as without the hold.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import type { RequestHead } from '../../../src/http1/parser.js';
import { AutoResponder, createProtocol, parseResponses, req } from '../../helpers/http1.js';

const three = req('GET /1 HTTP/1.1', 'Host: a') + req('GET /2 HTTP/1.1', 'Host: a') + req('GET /3 HTTP/1.1', 'Host: a');

describe('holdNext', () => {
  it('set before a read: nothing is parsed; cleared and driven: all answered in order', () => {
    const { protocol, handler, sink } = createProtocol({ handler: 'sync' });
    protocol.holdNext = true;
    protocol.receive(Buffer.from(three, 'latin1'));
    assert.equal(handler.requests.length, 0);
    assert.equal(protocol.pendingBytes, three.length);
    protocol.holdNext = false;
    protocol.drive();
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['GET /1', 'GET /2', 'GET /3'],
    );
    assert.equal(protocol.pendingBytes, 0);
  });

  it('set by the first response: the next requests wait; a request with a body under way is read to its end', () => {
    const responder = new (class extends AutoResponder {
      override onRequestEnd(trailers: string[]): void {
        super.onRequestEnd(trailers);
        (this.protocol as NonNullable<typeof this.protocol>).holdNext = true;
      }
    })('sync', (head: RequestHead) => ({ status: 200, fields: [], body: `${head.method} ${head.target}` }));
    const { protocol, sink } = createProtocol({ handler: responder });
    const post = 'POST /0 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n';
    protocol.receive(Buffer.from(`${post}ab`, 'latin1'));
    assert.equal(responder.requests.length, 1);
    protocol.holdNext = true; // held while the body is still coming: the body is not a new request
    protocol.receive(Buffer.from(`cde${three}`, 'latin1'));
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['POST /0'],
    );
    assert.equal(responder.requests.length, 1, 'the pipelined requests wait');
    assert.equal(protocol.pendingBytes, three.length);
    for (let i = 0; i < 3; i++) {
      protocol.holdNext = false;
      protocol.drive();
    }
    assert.deepEqual(
      parseResponses(sink.text).map((r) => r.body),
      ['POST /0', 'GET /1', 'GET /2', 'GET /3'],
    );
  });
});
