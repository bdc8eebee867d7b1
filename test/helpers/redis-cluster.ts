/**
 * A real Redis Cluster for a test: 6 Debian `redis-server` processes (3 masters, 3 replicas) on free loopback ports
 * with a temp dir, joined by `redis-cli --cluster create --cluster-replicas 1`, stopped when the test ends (also when
 * it fails). `cluster-node-timeout` is 1 s so that a killed master fails over in a few seconds.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, REDIS_SERVER } from './redis.js';

export const REDIS_CLI = '/usr/bin/redis-cli';

/** One master of the cluster: its port, its slot ranges, its node id. */
export interface ClusterMaster {
  port: number;
  id: string;
  slots: [number, number][];
}

export interface RedisCluster {
  /** Ports of the 6 nodes. */
  ports: number[];
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` (the first three nodes as seed nodes). */
  url: string;
  /** The masters now, as a live node reports them (CLUSTER SHARDS), in slot order. */
  masters(): Promise<ClusterMaster[]>;
  /** The master port that owns the slot of `key` now. */
  ownerOf(key: string): Promise<number>;
  /** Kills the node on `port` (SIGKILL) and resolves once it is gone. */
  kill(port: number): Promise<void>;
  /** Resolves once every live node says cluster_state:ok and each slot range has a live master (bounded). */
  waitOk(timeoutMs?: number): Promise<void>;
  /** A client to a live node (not a cluster client): for PUBSUB SHARDNUMSUB and the like on one master. */
  node(port: number): Redis;
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

async function waitUntil(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts 3 masters + 3 replicas and creates the cluster; everything is stopped after the test. */
export async function startRedisCluster(t: TestContext): Promise<RedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sockeye-rcluster-'));
  const children = new Map<number, ChildProcess>();
  const clients = new Map<number, Redis>();
  const dead = new Set<number>();
  t.after(async () => {
    for (const c of clients.values()) c.disconnect();
    await Promise.all(
      [...children.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) resolve();
            else {
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  });
  // Each node needs a client port and a cluster bus port (Redis 7 `cluster-port`; else it would be port + 10000).
  const ports: number[] = [];
  const busPorts: number[] = [];
  while (ports.length < 6) {
    const p = await freePort();
    const b = await freePort();
    if (p !== b && !ports.includes(p) && !busPorts.includes(b) && !ports.includes(b) && !busPorts.includes(p)) {
      ports.push(p);
      busPorts.push(b);
    }
  }
  for (let i = 0; i < 6; i++) {
    const port = ports[i] as number;
    const nodeDir = path.join(dir, String(port));
    mkdirSync(nodeDir);
    const child = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(port),
        '--cluster-port',
        String(busPorts[i]),
        '--bind',
        '127.0.0.1',
        '--dir',
        nodeDir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '1000',
        // A dead master's shard must not stop the others (the default `yes` answers CLUSTERDOWN everywhere).
        '--cluster-require-full-coverage',
        'no',
        // A replica that never finished its first sync refuses to fail over (its data is "too old"): sync at once
        // (the default waits 5 s for more replicas to join a diskless transfer).
        '--repl-diskless-sync-delay',
        '0',
      ],
      { stdio: 'ignore' },
    );
    children.set(port, child);
  }
  const node = (port: number): Redis => {
    let c = clients.get(port);
    if (c === undefined) {
      c = new Redis({
        port,
        host: '127.0.0.1',
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        lazyConnect: false,
      });
      c.on('error', () => {});
      clients.set(port, c);
    }
    return c;
  };
  const live = () => ports.filter((p) => !dead.has(p));
  await Promise.all(
    ports.map((p) =>
      waitUntil(() => run(REDIS_CLI, ['-p', String(p), 'PING']).then((o) => o.trim() === 'PONG'), 10_000, `node ${p}`),
    ),
  );
  await run(REDIS_CLI, [
    '--cluster',
    'create',
    ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas',
    '1',
    '--cluster-yes',
  ]);

  const masters = async (): Promise<ClusterMaster[]> => {
    const out = await run(REDIS_CLI, ['-p', String(live()[0]), 'CLUSTER', 'NODES']);
    const list: ClusterMaster[] = [];
    for (const line of out.trim().split('\n')) {
      const f = line.split(' ');
      const flags = (f[2] ?? '').split(',');
      if (!flags.includes('master') || flags.includes('fail') || flags.includes('fail?')) continue;
      const slots: [number, number][] = [];
      for (const r of f.slice(8)) {
        if (r.startsWith('[')) continue;
        const [a, b] = r.split('-');
        slots.push([Number(a), Number(b ?? a)]);
      }
      if (slots.length === 0) continue;
      list.push({ port: Number((f[1] ?? '').split(':')[1]?.split('@')[0]), id: f[0] as string, slots });
    }
    return list.sort((x, y) => (x.slots[0]?.[0] ?? 0) - (y.slots[0]?.[0] ?? 0));
  };
  const waitOk = async (timeoutMs = 20_000) => {
    await waitUntil(
      async () => {
        for (const p of live()) {
          const info = await run(REDIS_CLI, ['-p', String(p), 'CLUSTER', 'INFO']);
          if (!info.includes('cluster_state:ok')) return false;
        }
        const m = await masters();
        const covered = m.reduce((n, x) => n + x.slots.reduce((k, [a, b]) => k + b - a + 1, 0), 0);
        return m.length === 3 && covered === 16384 && m.every((x) => !dead.has(x.port));
      },
      timeoutMs,
      'cluster_state:ok with 3 live masters',
    );
  };
  await waitOk();
  // Every replica in sync with its master, so that a master killed by the test can fail over.
  await waitUntil(
    async () => {
      const m = (await masters()).map((x) => x.port);
      let synced = 0;
      for (const p of ports) {
        if (m.includes(p)) continue;
        const info = await run(REDIS_CLI, ['-p', String(p), 'INFO', 'replication']);
        if (info.includes('master_link_status:up')) synced++;
      }
      return synced === 3;
    },
    15_000,
    'the replicas in sync',
  );
  return {
    ports,
    url: `redis+cluster://${ports
      .slice(0, 3)
      .map((p) => `127.0.0.1:${p}`)
      .join(',')}`,
    masters,
    async ownerOf(key) {
      const slot = Number((await run(REDIS_CLI, ['-p', String(live()[0]), 'CLUSTER', 'KEYSLOT', key])).trim());
      const m = (await masters()).find((x) => x.slots.some(([a, b]) => slot >= a && slot <= b));
      if (m === undefined) throw new Error(`no master owns slot ${slot}`);
      return m.port;
    },
    kill(port) {
      dead.add(port);
      clients.get(port)?.disconnect();
      clients.delete(port);
      const c = children.get(port) as ChildProcess;
      return new Promise((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) resolve();
        else {
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }
      });
    },
    waitOk,
    node,
  };
}
