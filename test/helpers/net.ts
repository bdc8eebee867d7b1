/**
 * Loopback helpers for integration tests: raw socket exchanges with a bounded wait, a server on port 0 that is
 * always closed after the test, and `ioRoundTrip()`, the sentinel a test awaits before it checks that something
 * did not happen.
 */

import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { type ServeOptions, type Server, serve } from '../../src/index.js';

/** Starts a server on 127.0.0.1:0 and closes it when the test ends. */
export async function startServer(t: TestContext, options: ServeOptions): Promise<Server> {
  const server = await serve({ host: '127.0.0.1', port: 0, ...options });
  t.after(() => server.close({ deadline: 200 }));
  return server;
}

let sentinelPort: Promise<number> | null = null;

/** An echo server on 127.0.0.1:0 for `ioRoundTrip`, made once per process; unref'd, it never keeps it alive. */
function sentinelServer(): Promise<number> {
  sentinelPort ??= new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      s.on('data', (d) => s.write(d));
      s.on('error', () => {});
    });
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
  return sentinelPort;
}

/**
 * The sentinel for "nothing happened": resolves once a byte has made a round trip over a fresh loopback
 * connection of this process (connect, accept, read, echo, read: several turns of the event loop, each polling
 * every socket). Whatever was already in a socket's kernel queue when it was called (bytes, a FIN, a reset) has
 * been read by then by every socket of this process that is reading, and handled: a test that checks that a
 * paused or waiting peer did nothing checks after this, not after a fixed delay. It says nothing about timers.
 */
export async function ioRoundTrip(): Promise<void> {
  const port = await sentinelServer();
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('?'));
    sock.once('data', () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
  });
}

/** Result of a raw exchange: everything the server sent, and whether it closed the connection. */
export interface RawResult {
  data: Buffer;
  text: string;
  closed: boolean;
}

/**
 * Opens a TCP connection, writes `chunks` (with `gapMs` between them), and collects what comes back until the
 * server closes, or `waitMs` passes after the last write.
 */
export function rawExchange(
  port: number,
  chunks: (string | Buffer)[],
  options: { waitMs?: number; gapMs?: number; endAfterWrite?: boolean } = {},
): Promise<RawResult> {
  const waitMs = options.waitMs ?? 1000;
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let closed = false;
    let finished = false;
    let timer: NodeJS.Timeout | null = null;
    const done = () => {
      finished = true;
      if (timer) clearTimeout(timer);
      const data = Buffer.concat(parts);
      sock.destroy();
      resolve({ data, text: data.toString('latin1'), closed });
    };
    sock.on('data', (d) => parts.push(d));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
        closed = true;
        done();
      } else reject(e);
    });
    sock.on('end', () => {
      closed = true;
      done();
    });
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (sock.destroyed) return;
        sock.write(c);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (options.endAfterWrite) sock.end();
      if (!finished) timer = setTimeout(done, waitMs);
    });
  });
}

/** Splits a raw HTTP/1.1 response stream into status codes, in order (for pipelining checks). */
export function statusCodes(text: string): number[] {
  const out: number[] = [];
  const re = /HTTP\/1\.[01] (\d{3}) /g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(Number(m[1]));
  return out;
}

/** Runs a command, resolving with its exit code, stdout and stderr (bounded by timeoutMs). */
export function run(
  cmd: string,
  args: string[],
  options: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d.toString('latin1');
    });
    child.stderr.on('data', (d) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
