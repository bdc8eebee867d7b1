/**
 * A real Debian `redis-server` for a test: started on a free loopback port with a temp dir (no persistence),
 * stopped when the test ends; `stop()` and `start()` make a Redis outage. Also what the Redis tests share: a
 * `sockeye pubsub` node's stats, and a bounded async wait.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills redis-server (SIGKILL: no goodbye to the clients) and resolves once it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  start(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once redis answers PING on `port` (bounded: 10 s). */
async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
      s.setTimeout(500, () => {
        s.destroy();
        resolve(false);
      });
      s.on('data', (d) => {
        s.destroy();
        // With --requirepass a ready server answers -NOAUTH: ready all the same.
        const answer = d.toString();
        resolve(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts redis-server for the test: on a free port, or on `options.port`; `options.args` are added to its command
 * line (e.g. `['--requirepass', 'x']`).
 */
export async function startRedis(
  t: TestContext,
  options: { port?: number; args?: string[] } = {},
): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'sockeye-redis-'));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        ...(options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    await waitReady(port);
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      const c = child as ChildProcess | null;
      child = null;
      if (c === null || c.exitCode !== null) {
        resolve();
        return;
      }
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  await start();
  t.after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

/** A `sockeye pubsub` node's `server.stats().pubsub` (its GET /stats). */
export async function pubsubStats(port: number): Promise<Record<string, number | string>> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`);
  return ((await res.json()) as { pubsub: Record<string, number | string> }).pubsub;
}

/** Polls an async condition until it holds (bounded; a rejection counts as not yet). */
export async function waitAsync(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
