/**
 * A real cluster for the cluster-* tests: test/fixtures/cluster/cluster-server.ts as a separate OS process (a
 * primary and its workers), and `ws` clients that say which worker they landed on. Every wait is bounded; the
 * primary is killed when the test ends (its workers end with it: node:cluster exits a worker whose primary is gone).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { within } from './slow-peers.js';

const FIXTURE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/cluster/cluster-server.js', // dist/test/helpers → dist/test/fixtures
);

/** A running cluster: the primary process, the shared port, the first workers' pids, and what the primary logged. */
export interface ClusterProcess {
  child: ChildProcess;
  port: number;
  pids: number[];
  /** stderr of the primary and its workers so far (the primary's log lines start with `sockeye cluster: `). */
  log(): string;
  /** Resolves with the primary's exit code (null if killed by a signal). */
  exited: Promise<number | null>;
}

/** Starts the fixture with `workers` workers and a close deadline of `deadline` ms; resolves once all listen. */
export async function startCluster(t: TestContext, workers = 2, deadline = 2000): Promise<ClusterProcess> {
  const child = spawn(process.execPath, [FIXTURE, String(workers), String(deadline)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    child.kill('SIGKILL');
  });
  const started = await within(
    new Promise<{ port: number; pids: number[] }>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d) => {
        out += d;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+) workers ([\d,]+)/.exec(out);
        if (m) resolve({ port: Number(m[1]), pids: (m[2] as string).split(',').map(Number) });
      });
      child.once('exit', (code) => reject(new Error(`the cluster exited (${code}) before listening:\n${err}`)));
    }),
    15_000,
    'the cluster to listen',
  );
  return { child, ...started, log: () => err, exited };
}

/** A `ws` client of the fixture: which worker it is on, and every message after the first. */
export interface ClusterClient {
  ws: WebSocket;
  pid: number;
  worker: number;
  /** Messages received after the worker's hello: text as strings, binary as `bin:` + hex. */
  got: string[];
}

/** Opens a WebSocket to `/topic` and waits for the worker's hello. Terminated when the test ends. */
export async function connectClient(t: TestContext, port: number, topic: string): Promise<ClusterClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${encodeURIComponent(topic)}`);
  t.after(() => ws.terminate());
  ws.on('error', () => {});
  const client: ClusterClient = { ws, pid: 0, worker: 0, got: [] };
  // One listener from the start: the hello and the next message may come in one read and be emitted in one turn.
  const hello = new Promise<void>((resolve, reject) => {
    ws.on('message', (d, isBinary) => {
      if (client.pid === 0) {
        const h = JSON.parse(String(d)) as { pid: number; worker: number };
        client.pid = h.pid;
        client.worker = h.worker;
        resolve();
      } else client.got.push(isBinary ? `bin:${(d as Buffer).toString('hex')}` : String(d));
    });
    ws.once('close', (code) => reject(new Error(`closed (${code}) before the worker's hello`)));
  });
  await within(hello, 5000, `a WebSocket to /${topic} to open`);
  return client;
}

/**
 * Connects clients to `/topic` until `perWorker` of them are on each of `workers` distinct workers (round-robin
 * makes this quick; bounded at 10 tries per client wanted). Clients beyond what is needed are closed. Returns them
 * grouped by pid, in order of the pids first seen.
 */
export async function clientsOnWorkers(
  t: TestContext,
  port: number,
  topic: string,
  workers: number,
  perWorker: number,
): Promise<ClusterClient[][]> {
  const byPid = new Map<number, ClusterClient[]>();
  const full = () => byPid.size >= workers && [...byPid.values()].every((l) => l.length >= perWorker);
  for (let tries = 0; tries < workers * perWorker * 10 && !full(); tries++) {
    const c = await connectClient(t, port, topic);
    const list = byPid.get(c.pid) ?? [];
    if (list.length >= perWorker || (!byPid.has(c.pid) && byPid.size >= workers)) c.ws.close();
    else {
      list.push(c);
      byPid.set(c.pid, list);
    }
  }
  if (!full()) throw new Error(`could not land ${perWorker} clients on each of ${workers} workers`);
  return [...byPid.values()];
}

/** Resolves once a ping made the round trip on `ws`: whatever the server wrote before has been received. */
export function pingRoundTrip(ws: WebSocket): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      ws.once('pong', () => resolve());
      ws.ping();
    }),
    5000,
    'a pong',
  );
}

/**
 * GET a path of the cluster as JSON, on a connection of its own (closed after: no idle connection left behind).
 * A 503 whose body says no worker answered in time (workers busy relaying a load on a loaded machine) is asked
 * again, up to 5 times; any other status fails.
 */
export async function getJson<V>(port: number, p: string): Promise<V> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await getJsonOnce<V>(port, p);
    } catch (err) {
      if (attempt >= 5 || !/: 503 .*no worker answered/.test((err as Error).message)) throw err;
    }
  }
}

function getJsonOnce<V>(port: number, p: string): Promise<V> {
  return within(
    new Promise<V>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${p}: ${res.statusCode} ${body}`));
          else resolve(JSON.parse(body) as V);
        });
      });
      req.on('error', reject);
    }),
    10_000,
    `GET ${p}`,
  );
}

/** Polls GET /stats until `n` WebSockets are open over all workers (bounded). */
export async function waitForOpen(port: number, n: number): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const s = await getJson<{ connections: { wsOpen: number; wsClosing: number } }>(port, '/stats');
    if (s.connections.wsOpen === n && s.connections.wsClosing === 0) return;
    if (Date.now() > end) throw new Error(`expected ${n} open WebSockets, stats say ${JSON.stringify(s.connections)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
