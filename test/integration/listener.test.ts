/**
 * The listener factory (src/node/listener.ts) over real loopback sockets: a TCP listener binds (port 0 picks a
 * free port), hands every accepted connection to its callback half-open capable (the callback can still write
 * after the peer's FIN), reports the bound address, carries the accept-queue probe only when asked (and the probe
 * sees this very listener on Linux), stops accepting on close(), and rejects with the bind error on a port in use.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { createListener } from '../../src/node/listener.js';

const HAS_PROC = existsSync('/proc/net/tcp');

/** Connects, sends `text`, half-closes, and resolves with everything the listener sent back before closing. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(text));
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(parts).toString('latin1')));
  });
}

/**
 * An echo that answers a turn after the peer's FIN: it works only if the socket is half-open capable (else Node has
 * ended our side by then and the answer is lost).
 */
function echoAfterEnd(socket: net.Socket): void {
  const parts: Buffer[] = [];
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => parts.push(d));
  socket.on('end', () => setImmediate(() => socket.end(`echo:${Buffer.concat(parts).toString('latin1')}`)));
}

test('a tcp listener accepts loopback connections and hands them over half-open capable', async () => {
  let accepted = 0;
  const listener = await createListener({ kind: 'tcp', port: 0, host: '127.0.0.1', backlog: 16 }, (socket) => {
    accepted++;
    echoAfterEnd(socket);
  });
  try {
    assert.equal(listener.kind, 'tcp');
    assert.equal(listener.address, '127.0.0.1');
    assert.ok(listener.port > 0);
    assert.equal(await exchange(listener.port, 'one'), 'echo:one');
    assert.equal(await exchange(listener.port, 'two'), 'echo:two');
    assert.equal(accepted, 2);
  } finally {
    listener.close();
  }
});

test('the accept-queue probe is there only when asked for, and watches this listener', async () => {
  const plain = await createListener({ kind: 'tcp', port: 0, host: '127.0.0.1', backlog: 16 }, (s) => s.destroy());
  plain.close();
  assert.equal(plain.queue, null);
  const watched = await createListener(
    { kind: 'tcp', port: 0, host: '127.0.0.1', backlog: 7, monitorQueue: true },
    (s) => s.destroy(),
  );
  try {
    assert.ok(watched.queue !== null);
    assert.equal(watched.queue.port, watched.port);
    const snap = watched.queue.snapshot();
    if (HAS_PROC) {
      // One LISTEN row (narrowed by inode), nothing waiting, the limit min(backlog, somaxconn).
      assert.equal(snap.queueDepth, 0);
      assert.ok(snap.queueLimit !== null && snap.queueLimit >= 1 && snap.queueLimit <= 7, String(snap.queueLimit));
    } else {
      assert.equal(snap.queueDepth, null);
    }
  } finally {
    watched.close();
  }
});

test('close() stops accepting', async () => {
  const listener = await createListener({ kind: 'tcp', port: 0, host: '127.0.0.1', backlog: 16 }, echoAfterEnd);
  const port = listener.port;
  assert.equal(await exchange(port, 'x'), 'echo:x');
  listener.close();
  await assert.rejects(exchange(port, 'y'), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
});

test('binding a port in use rejects with EADDRINUSE', async () => {
  const first = await createListener({ kind: 'tcp', port: 0, host: '127.0.0.1', backlog: 16 }, (s) => s.destroy());
  try {
    await assert.rejects(
      createListener({ kind: 'tcp', port: first.port, host: '127.0.0.1', backlog: 16 }, (s) => s.destroy()),
      (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
    );
  } finally {
    first.close();
  }
});
