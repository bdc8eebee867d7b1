/**
 * The request-line and message rules of issue 15 over real loopback sockets, against sockeye's server: an
 * absolute-form target whose authority differs from Host (RFC 9112 §3.2.2), sent by node:http and by raw bytes.
 * Each case asserts the status, what the handler saw, and whether the connection stayed open.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import type { SockeyeRequest, SockeyeResponse } from '../../src/index.js';
import { rawExchange, startServer, statusCodes } from '../helpers/net.js';

/** Answers with what the request looked like to a handler. */
const describeRequest = (req: SockeyeRequest, res: SockeyeResponse) =>
  res.json({ method: req.method, target: req.target, host: req.host, path: req.path, version: req.httpVersion });

/** The JSON body of the last response in a raw exchange. */
function lastJson(text: string): Record<string, unknown> {
  return JSON.parse(text.slice(text.lastIndexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

describe('RFC 9112 §3.2.2: absolute-form target, Host ignored', () => {
  test('node:http sends an absolute-form target with another Host: 200, req.host is the target authority', async (t) => {
    const server = await startServer(t, { request: describeRequest });
    const body = await new Promise<string>((resolve, reject) => {
      const r = http.request(
        { host: '127.0.0.1', port: server.port, path: 'http://b.example:8080/p?q=1', headers: { host: 'a.example' } },
        (res) => {
          assert.equal(res.statusCode, 200);
          let data = '';
          res.setEncoding('latin1');
          res.on('data', (d) => {
            data += d;
          });
          res.on('end', () => resolve(data));
        },
      );
      r.on('error', reject);
      r.end();
    });
    assert.deepEqual(JSON.parse(body), {
      method: 'GET',
      target: 'http://b.example:8080/p?q=1',
      host: 'b.example:8080',
      path: '/p',
      version: '1.1',
    });
  });

  test('raw bytes: two requests on one connection, the second absolute-form with a different Host', async (t) => {
    const server = await startServer(t, { request: describeRequest });
    const r = await rawExchange(server.port, [
      'GET /x HTTP/1.1\r\nHost: a.example\r\n\r\nGET http://b.example/y HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
    ]);
    assert.deepEqual(statusCodes(r.text), [200, 200]);
    assert.equal(lastJson(r.text).host, 'b.example');
    assert.ok(r.closed);
  });

  const refused: [string, string][] = [
    ['HTTP/1.1 absolute-form without Host (RFC 9112 §3.2)', 'GET http://b.example/ HTTP/1.1\r\n\r\n'],
    ['userinfo in absolute-form (RFC 9110 §4.2.4)', 'GET http://u@b.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n'],
  ];
  for (const [name, input] of refused) {
    test(`${name} → 400 and close`, async (t) => {
      let reached = 0;
      const server = await startServer(t, {
        request: (req, res) => {
          reached++;
          describeRequest(req, res);
        },
      });
      const r = await rawExchange(server.port, [input]);
      assert.deepEqual(statusCodes(r.text), [400]);
      assert.ok(r.closed);
      assert.equal(reached, 0);
    });
  }
});
