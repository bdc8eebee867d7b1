/**
 * Across nodes (issue 17 §4, third bullet): 3 `sockeye pubsub --redis` nodes (separate OS processes, bin/sockeye.js)
 * and a `redis-server` this script starts (Debian's, a free port, a temp dir, no persistence). Topic `hot` has
 * subscribers on nodes A and B; node C has subscribers of topic `quiet` only. A publisher on A (a `ws` client of
 * `/hot`, so with `ws.publish` semantics: every other subscriber of `hot` on every node) sends MESSAGES messages of
 * SIZE bytes, paced by its `bufferedAmount`. Reported:
 * - messages per second delivered end to end: from the first send until every `hot` subscriber on A and B has every
 *   message (raw-socket subscribers in this process counting frame bytes), and deliveries per second;
 * - Redis traffic per message: `INFO stats` total_net_input_bytes / total_net_output_bytes and `INFO commandstats`
 *   (publish, subscribe calls) before and after;
 * - per node, the bytes Redis sent it and it sent Redis: each node reaches Redis through a counting TCP relay in this
 *   process (Redis 7.0 has no per-client byte counters), and its adapter's counters (GET /stats): the proof, in
 *   numbers, that node C, without subscribers of `hot`, receives none of its traffic;
 * - what socket.io's Redis adapter would have Redis send for the same run: every message to every node. This one is
 *   COMPUTED from the measured bytes per message to node B, not measured (socket.io is not run here).
 *
 *   npm run build && node dist/bench/across-nodes.js [MESSAGES=20000] [SIZE=32] [SUBSCRIBERS_PER_NODE=50]
 *
 * Wall-clock rates on a shared machine are noise-prone: read them as an order of magnitude; the byte counts are
 * exact.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, '../../bin/sockeye.js');
const MESSAGES = Number(process.argv[2] ?? 20_000);
const SIZE = Number(process.argv[3] ?? 32);
const SUBS = Number(process.argv[4] ?? 50);
const FRAME = SIZE + (SIZE < 126 ? 2 : SIZE < 65536 ? 4 : 10);
const children: ChildProcess[] = [];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) {
      console.error(`(gave up waiting for ${what} after ${ms} ms)`);
      return false;
    }
    await sleep(20);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One command to Redis on a connection of its own; the raw reply. */
function redis(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    let out = '';
    s.on('data', (d) => {
      out += d;
      // A bulk string reply ($len\r\n...\r\n) or an array of integers/strings: enough for INFO and PUBSUB NUMSUB.
      const bulk = /^\$(\d+)\r\n/.exec(out);
      if ((bulk && out.length >= bulk[0].length + Number(bulk[1]) + 2) || (!bulk && /\r\n$/.test(out))) {
        s.end();
        resolve(out);
      }
    });
    s.on('error', reject);
  });
}

function infoField(info: string, field: string): number {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

function commandCalls(info: string, cmd: string): number {
  const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

/** A TCP relay to Redis counting the bytes each way: what Redis sent this node and what the node sent Redis. */
async function countingRelay(redisPort: number): Promise<{ port: number; toNode: number; toRedis: number }> {
  const counts = { port: 0, toNode: 0, toRedis: 0 };
  const srv = net.createServer((client) => {
    const upstream = net.connect(redisPort, '127.0.0.1');
    client.on('data', (d) => {
      counts.toRedis += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      counts.toNode += d.length;
      client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  srv.unref();
  counts.port = (srv.address() as net.AddressInfo).port;
  return counts;
}

async function startNode(redisUrl: string): Promise<number> {
  const child = spawn(process.execPath, [BIN, 'pubsub', '--port', '0', '--redis', redisUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`a sockeye pubsub node exited (${code})`)));
  });
}

async function pubsubOf(port: number): Promise<Record<string, number | string>> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`, { headers: { connection: 'close' } });
  return ((await res.json()) as { pubsub: Record<string, number | string> }).pubsub;
}

/** A raw WebSocket subscriber of `/topic` on `port`, counting the frame bytes it receives after the 101. */
function subscriber(port: number, topic: string): Promise<{ bytes: number; sock: net.Socket }> {
  return new Promise((resolve) => {
    const sub = { bytes: 0, sock: net.connect(port, '127.0.0.1') };
    let head = true;
    sub.sock.on('data', (d: Buffer) => {
      if (head) {
        const at = d.indexOf('\r\n\r\n');
        if (at < 0) return;
        head = false;
        sub.bytes += d.length - at - 4;
        resolve(sub);
        return;
      }
      sub.bytes += d.length;
    });
    sub.sock.write(
      `GET /${topic} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'sockeye-across-'));
const redisPort = await freePort();
const redisServer = spawn(
  '/usr/bin/redis-server',
  ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
  { stdio: 'ignore' },
);
children.push(redisServer);
try {
  await waitUntil(
    () =>
      redis(redisPort, 'PING').then(
        (r) => r.startsWith('+PONG'),
        () => false,
      ),
    10_000,
    'redis-server',
  );
  const relays = [await countingRelay(redisPort), await countingRelay(redisPort), await countingRelay(redisPort)];
  const [a, b, c] = await Promise.all(relays.map((r) => startNode(`redis://127.0.0.1:${r.port}`)));
  const nodes = [a, b, c] as number[];
  const hot: { bytes: number; sock: net.Socket }[] = [];
  const quiet: { bytes: number; sock: net.Socket }[] = [];
  for (let i = 0; i < SUBS; i++) {
    hot.push(await subscriber(a as number, 'hot'));
    hot.push(await subscriber(b as number, 'hot'));
    quiet.push(await subscriber(c as number, 'quiet'));
  }
  const publisher = new WebSocket(`ws://127.0.0.1:${a}/hot`);
  await new Promise((r) => publisher.once('open', r));
  // Interest: A and B listen to sockeye:hot, C to sockeye:quiet only.
  await waitUntil(
    async () => {
      const r = await redis(redisPort, 'PUBSUB', 'NUMSUB', 'sockeye:hot', 'sockeye:quiet');
      return /sockeye:hot\r\n:2\r\n/.test(r) && /sockeye:quiet\r\n:1\r\n/.test(r);
    },
    10_000,
    'the nodes to subscribe',
  );
  const channels = (await redis(redisPort, 'PUBSUB', 'CHANNELS', 'sockeye:*')).match(/sockeye:\w+/g)?.sort() ?? [];

  const before = {
    stats: await redis(redisPort, 'INFO', 'stats'),
    commands: await redis(redisPort, 'INFO', 'commandstats'),
    relays: relays.map((r) => ({ ...r })),
    nodes: await Promise.all(nodes.map(pubsubOf)),
  };
  for (const s of [...hot, ...quiet]) s.bytes = 0;
  const payload = Buffer.alloc(SIZE, 120).toString();
  const t0 = performance.now();
  for (let sent = 0; sent < MESSAGES; ) {
    for (let i = 0; i < 100 && sent < MESSAGES; i++, sent++) publisher.send(payload);
    while (publisher.bufferedAmount > 256 * 1024) await sleep(1);
  }
  const expected = MESSAGES * FRAME;
  const complete = await waitUntil(() => hot.every((s) => s.bytes >= expected), 120_000, 'every hot subscriber');
  const seconds = (performance.now() - t0) / 1000;
  // Anything on its way to C would have come with the rest; a /stats round trip through each node after.
  const after = {
    stats: await redis(redisPort, 'INFO', 'stats'),
    commands: await redis(redisPort, 'INFO', 'commandstats'),
    relays: relays.map((r) => ({ ...r })),
    nodes: await Promise.all(nodes.map(pubsubOf)),
  };
  const d = (f: (x: typeof before) => number) => f(after) - f(before);
  const netIn = d((x) => infoField(x.stats, 'total_net_input_bytes'));
  const netOut = d((x) => infoField(x.stats, 'total_net_output_bytes'));
  const publishes = d((x) => commandCalls(x.commands, 'publish'));
  const subCmds = d((x) => commandCalls(x.commands, 'subscribe') + commandCalls(x.commands, 'unsubscribe'));
  const deliveredMsgs = hot.reduce((n, s) => n + Math.floor(s.bytes / FRAME), 0);
  const lines: string[] = [];
  const say = (l: string) => {
    lines.push(l);
    console.log(l);
  };
  say(
    `across nodes: 3 sockeye pubsub --redis nodes, ${MESSAGES} × ${SIZE} B published on A to 'hot' (${SUBS} subscribers on A, ${SUBS} on B; C: ${SUBS} subscribers of 'quiet' only)`,
  );
  say(`redis PUBSUB CHANNELS sockeye:*: ${channels.join(', ')}`);
  say(
    `end to end: ${complete ? 'all' : 'NOT all'} delivered: ${deliveredMsgs} of ${hot.length * MESSAGES} deliveries in ${seconds.toFixed(2)} s: ${(MESSAGES / seconds).toFixed(0)} messages/s to every subscriber, ${(deliveredMsgs / seconds / 1e3).toFixed(0)} k deliveries/s`,
  );
  say(
    `redis: ${publishes} PUBLISH calls (${(publishes / MESSAGES).toFixed(3)} per message), ${subCmds} (UN)SUBSCRIBE calls during the run; net in ${netIn} B (${(netIn / MESSAGES).toFixed(1)} B/message), net out ${netOut} B (${(netOut / MESSAGES).toFixed(1)} B/message)`,
  );
  const names = ['A (publisher, hot)', 'B (hot)', 'C (quiet only)'];
  const toNode: number[] = [];
  for (let i = 0; i < 3; i++) {
    const rb = before.relays[i] as { toNode: number; toRedis: number };
    const ra = after.relays[i] as { toNode: number; toRedis: number };
    const nb = before.nodes[i] as Record<string, number>;
    const na = after.nodes[i] as Record<string, number>;
    toNode.push(ra.toNode - rb.toNode);
    say(
      `node ${names[i]}: Redis sent it ${ra.toNode - rb.toNode} B (${((ra.toNode - rb.toNode) / MESSAGES).toFixed(1)} B/message), it sent Redis ${ra.toRedis - rb.toRedis} B; adapter: published +${(na.published ?? 0) - (nb.published ?? 0)}, lost +${(na.lost ?? 0) - (nb.lost ?? 0)}, received +${(na.received ?? 0) - (nb.received ?? 0)}, echoes +${(na.echoes ?? 0) - (nb.echoes ?? 0)}, delivered +${(na.delivered ?? 0) - (nb.delivered ?? 0)}; quiet subscribers got ${i === 2 ? quiet.reduce((n, s) => n + s.bytes, 0) : 0} B`,
    );
  }
  // socket.io's Redis adapter: every node subscribes to the namespace's channel, so each message reaches every node
  // (the publisher's own included, which drops it by its uid). COMPUTED from what B (a receiving node) got.
  const perNode = (toNode[1] as number) / MESSAGES;
  const sio = perNode * 3 * MESSAGES;
  const ours = toNode.reduce((x, y) => x + y, 0);
  say(
    `socket.io's adapter (COMPUTED, not run: every message to all 3 nodes at B's ${perNode.toFixed(1)} B/message): Redis would send the nodes ~${sio.toFixed(0)} B; sockeye sent ${ours} B (A's share is its publish replies and its own echo, since A has subscribers of 'hot'); to C: ~${(perNode * MESSAGES).toFixed(0)} B against ${toNode[2]} B`,
  );
  publisher.terminate();
  for (const s of [...hot, ...quiet]) s.sock.destroy();
} finally {
  for (const ch of children) ch.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
