/**
 * The inspector's kernel figures (src/inspector/kernel.ts): addresses as /proc/net/tcp{,6} print them, and a
 * socket's row found by its local and remote address:port; the frame ring (src/inspector/frames.ts) keeps the last
 * N frames in order.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { FrameRing } from '../../../src/inspector/frames.js';
import { parseSocketRow, procAddress, readKernelSocket } from '../../../src/inspector/kernel.js';

test('addresses in /proc/net/tcp form', () => {
  assert.deepEqual(procAddress('127.0.0.1', 8080), { file: 'tcp', text: '0100007F:1F90' });
  assert.deepEqual(procAddress('::1', 443), { file: 'tcp6', text: '00000000000000000000000001000000:01BB' });
  assert.deepEqual(procAddress('::ffff:127.0.0.1', 80), {
    file: 'tcp6',
    text: '0000000000000000FFFF00000100007F:0050',
  });
  assert.equal(procAddress('not an address', 1), null);
});

test('a row found by local and remote address', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    '   1: 0100007F:1F90 0100007F:D431 01 00001000:00000020 00:00000000 00000003     0        0 2 1',
  ].join('\n');
  assert.deepEqual(parseSocketRow(text, '0100007F:1F90', '0100007F:D431'), {
    state: 'ESTABLISHED',
    sendQueue: 0x1000,
    receiveQueue: 0x20,
    retransmits: 3,
  });
  assert.equal(parseSocketRow(text, '0100007F:1F90', '0100007F:D432'), null);
});

test('the real row of a loopback connection', { skip: process.platform !== 'linux' }, async (t) => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => client.destroy());
  const s = await accepted;
  t.after(() => s.destroy());
  const row = readKernelSocket(s.localAddress ?? '', s.localPort ?? 0, s.remoteAddress ?? '', s.remotePort ?? 0);
  assert.equal(row?.state, 'ESTABLISHED');
});

test('the frame ring keeps the last N, oldest first, with text only when asked', () => {
  const ring = new FrameRing(3, true);
  for (let i = 1; i <= 5; i++) ring.push(i % 2 === 0, 1, true, false, i, i, null);
  ring.setLastInText('five');
  assert.deepEqual(
    ring.toArray().map((f) => [f.length, f.dir, f.text]),
    [
      [3, 'in', null],
      [4, 'out', null],
      [5, 'in', 'five'],
    ],
  );
  const plain = new FrameRing(2, false);
  plain.push(false, 8, true, true, 2, 0, 'ignored');
  assert.deepEqual(plain.toArray(), [{ dir: 'in', opcode: 8, fin: true, rsv1: true, length: 2, t: 0, text: null }]);
});
