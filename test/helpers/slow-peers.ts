/**
 * Peers that misbehave in time rather than in bytes, for the socket-life tests: a raw WebSocket client that
 * stops reading (slow consumer), a child process that upgrades and is then frozen with SIGSTOP (dead peer
 * whose kernel still holds the connection), a server run in a child process (so that its RSS means something),
 * plus bounded waits. Every wait here has a deadline; every process and socket is cleaned up in `t.after`.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { connectRaw, type RawWsClient } from './ws-raw-client.js';

/** Rejects with a message naming `what` when `p` does not settle within `ms`. */
export function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Polls `predicate` every `stepMs` until it holds; fails with `what` after `ms`. */
export async function waitFor(predicate: () => boolean, ms: number, what: string, stepMs = 10): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * A raw WebSocket client that completes the handshake and then stops reading: its kernel receive buffer fills,
 * the server's send buffer fills, and everything else piles up in the server's process. `resume()` reads again.
 */
export async function connectSlowConsumer(t: TestContext, port: number, path = '/'): Promise<RawWsClient> {
  const client = await connectRaw(port, { path });
  // Resolved from the 'data' handler that saw the 101: pausing now happens before any further read.
  client.socket.pause();
  t.after(() => client.destroy());
  return client;
}

/** The sequence number a flood message carries in its first 4 bytes (test/fixtures/socket-life/flood.ts). */
export function seqOf(payload: Buffer): number {
  return payload.readUInt32BE(0);
}

/** Whether every byte after the sequence number is the pattern `seq & 0xff` (nothing corrupt). */
export function floodPayloadIntact(payload: Buffer, size: number): boolean {
  if (payload.length !== size) return false;
  const fill = seqOf(payload) & 0xff;
  for (let i = 4; i < payload.length; i++) if (payload[i] !== fill) return false;
  return true;
}

/**
 * A peer that upgrades and then freezes: a separate process (so that SIGSTOP leaves the kernel holding the
 * connection: no FIN, no RST, the server's pings are ACKed by TCP but never answered). Resolves once the child
 * printed 'ready' (101 received). SIGCONT + SIGKILL when the test ends.
 */
export async function spawnFrozenPeer(t: TestContext, port: number, path = '/'): Promise<ChildProcess> {
  const script = `
    const net = require('node:net');
    const s = net.connect(Number(process.argv[1]), '127.0.0.1', () => {
      s.write('GET ${path} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n');
    });
    let head = '';
    s.on('data', (d) => {
      if (head === null) return;
      head += d.toString('latin1');
      if (head.includes('\\r\\n\\r\\n')) {
        process.stdout.write(head.startsWith('HTTP/1.1 101') ? 'ready\\n' : 'refused\\n');
        head = null;
      }
    });
    s.on('error', () => {});
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  const line = await within(
    new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`frozen peer exited early (${code})`)));
    }),
    5000,
    'the frozen peer to upgrade',
  );
  assert.equal(line, 'ready');
  return child;
}

/** Messages a server child (test/fixtures/socket-life/flood.ts) sends over IPC. */
export type ChildMessage = { type: string; [key: string]: unknown };

/** A server running in a child process, driven over IPC. */
export class ServerChild {
  readonly child: ChildProcess;
  readonly messages: ChildMessage[] = [];
  #waiters = new Set<() => void>();

  constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (m) => {
      this.messages.push(m as ChildMessage);
      for (const w of this.#waiters) w();
    });
  }

  /** The first message of `type` (already received or to come), bounded by `ms`. */
  next(type: string, ms = 10_000): Promise<ChildMessage> {
    const find = () => this.messages.find((m) => m.type === type);
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    const p = new Promise<ChildMessage>((resolve) => {
      const check = () => {
        const m = find();
        if (m !== undefined) {
          this.#waiters.delete(check);
          resolve(m);
        }
      };
      this.#waiters.add(check);
    });
    return within(p, ms, `'${type}' from the server child`);
  }

  /** Sends a command and waits for its answer (a message of type `${cmd}-reply`, consumed). */
  async ask(cmd: string, ms = 5000): Promise<ChildMessage> {
    this.child.send({ cmd });
    const m = await this.next(`${cmd}-reply`, ms);
    this.messages.splice(this.messages.indexOf(m), 1);
    return m;
  }
}

/** Forks a compiled fixture (path relative to the caller's URL) with IPC; killed when the test ends. */
export async function forkServer(t: TestContext, fixture: URL, args: string[]): Promise<ServerChild> {
  const child = fork(fixture, args, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const sc = new ServerChild(child);
  await sc.next('ready');
  return sc;
}

/** Opens a `ws` client (bounded); it is terminated when the test ends. */
export async function openWs(t: TestContext, url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  t.after(() => ws.terminate());
  await within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    5000,
    `a WebSocket to ${url} to open`,
  );
  ws.on('error', () => {});
  return ws;
}

/** The close code a `ws` client sees (bounded). */
export function closeOf(ws: WebSocket, ms = 5000): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return within(
    new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    ms,
    'the WebSocket to close',
  );
}
