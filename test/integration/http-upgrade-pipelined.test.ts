/**
 * A GET pipelined with a WebSocket upgrade in one write (issue 15): RFC 9112 §9.3.2 answers pipelined requests in
 * order, and RFC 6455 §4.2 answers the upgrade with 101: the GET's 200 first, then the 101, then frames flow. With
 * a handler that answers at once and with one that answers later (the hand-over happens in either turn).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { test } from 'node:test';
import { startServer } from '../helpers/net.js';
import { frame, StreamFrameReader } from '../helpers/ws-frames.js';
import { acceptFor, OP_TEXT } from '../helpers/ws-raw-client.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

for (const mode of ['sync', 'async'] as const) {
  test(`${mode} handler: GET + upgrade in one write → 200, then 101, then the WebSocket echoes`, async (t) => {
    const server = await startServer(t, {
      request:
        mode === 'sync'
          ? (req, res) => res.send(`page ${req.path}`)
          : async (req, res) => {
              await req.bytes();
              res.send(`page ${req.path}`);
            },
      websocket: {
        message(ws, m) {
          ws.send(`echo ${m}`);
        },
      },
    });
    const socket = net.connect(server.port, '127.0.0.1');
    t.after(() => socket.destroy());
    const upgrade = `GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    socket.write(`GET /page HTTP/1.1\r\nHost: a\r\n\r\n${upgrade}`);
    let got = Buffer.alloc(0);
    const reader = new StreamFrameReader();
    let headEnd = -1;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 101 in: ${got.toString('latin1')}`)), 5000);
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        const text = got.toString('latin1');
        const at = text.indexOf('HTTP/1.1 101');
        if (at >= 0 && headEnd < 0) {
          const end = text.indexOf('\r\n\r\n', at);
          if (end >= 0) {
            headEnd = end + 4;
            clearTimeout(timer);
            resolve();
          }
        }
      });
    });
    const text = got.toString('latin1');
    assert.ok(text.startsWith('HTTP/1.1 200'), 'the GET is answered first');
    assert.ok(text.indexOf('page /page') < text.indexOf('HTTP/1.1 101'), 'then the 101');
    assert.match(text, new RegExp(`Sec-WebSocket-Accept: ${acceptFor(KEY).replace(/[+/=]/g, '\\$&')}`));
    reader.push(got.subarray(headEnd));
    socket.on('data', (d: Buffer) => reader.push(d));
    socket.write(frame({ opcode: OP_TEXT, payload: 'hi' }));
    for (let i = 0; i < 500 && reader.frames.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(reader.frames[0]?.payload.toString(), 'echo hi');
  });
}
