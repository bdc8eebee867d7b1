/**
 * `sockeye pubsub` as users run it (a child process), with `ws` clients: a WebSocket to `/NAME` joins topic NAME
 * (percent-decoded) and each message it sends reaches every other subscriber of NAME, text as text and binary as
 * binary, never the sender and never another topic (checked with a sentinel each); `--deflate` negotiates
 * permessage-deflate; a path without a name is refused with 400; `--workers 2` runs it on two worker processes
 * whose clients get each other's messages, with GET /stats summed over the workers; with `--redis` too, each
 * worker is a node of the Redis fleet (a real redis-server started by the test), the IPC relay unused; `--redis`
 * with no Redis on the port says so on stderr (with the connection error, never the password), then says when one
 * comes up there.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import type WebSocket from 'ws';
import type { ClusterStats } from '../../src/cluster/index.js';
import { getJson } from '../helpers/cluster.js';
import { BIN, startSockeyeProcess } from '../helpers/echo-process.js';
import { freePort, startRedis, waitAsync } from '../helpers/redis.js';
import { openWs, waitFor } from '../helpers/slow-peers.js';

function collect(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (d, isBinary) => got.push(isBinary ? `bin:${(d as Buffer).toString('hex')}` : String(d)));
  return got;
}

test('sockeye pubsub: /NAME is topic NAME; messages go to every other subscriber, text and binary kept', async (t) => {
  const { port } = await startSockeyeProcess(t, 'pubsub');
  const base = `ws://127.0.0.1:${port}`;
  const [a, b, c, d] = await Promise.all([
    openWs(t, `${base}/room%20one`),
    openWs(t, `${base}/room%20one`),
    openWs(t, `${base}/other`),
    openWs(t, `${base}/other`),
  ]);
  const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
  a.send('hi');
  a.send(Buffer.from([1, 2]));
  await waitFor(() => gb.length >= 2, 5000, 'b to get both');
  assert.deepEqual(gb, ['hi', 'bin:0102']);
  // Sentinels: what b sends reaches a, and d's reaches c; had a got its own or c another topic's, they would be first.
  b.send('from b');
  d.send('from d');
  await waitFor(() => ga.length >= 1 && gc.length >= 1, 5000, 'the sentinels');
  assert.deepEqual(ga, ['from b'], 'the sender does not get its own messages');
  assert.deepEqual(gc, ['from d'], 'another topic gets nothing');
});

test('sockeye pubsub --deflate: permessage-deflate negotiated, messages pass compressed', async (t) => {
  const { port } = await startSockeyeProcess(t, 'pubsub', ['--deflate']);
  const url = `ws://127.0.0.1:${port}/news`;
  const [a, b] = await Promise.all([
    openWs(t, url, { perMessageDeflate: true }),
    openWs(t, url, { perMessageDeflate: true }),
  ]);
  assert.match(a.extensions, /permessage-deflate/);
  const gb = collect(b);
  const big = 'headline '.repeat(500);
  a.send(big);
  await waitFor(() => gb.length >= 1, 5000, 'the message');
  assert.equal(gb[0], big);
});

test('sockeye pubsub: a path without a topic name is refused with 400', async (t) => {
  const { port } = await startSockeyeProcess(t, 'pubsub');
  const status = await new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) {
        resolve(buf.slice(0, buf.indexOf('\r\n')));
        s.destroy();
      }
    });
    s.on('error', reject);
  });
  assert.equal(status, 'HTTP/1.1 400 Bad Request');
});

test("sockeye pubsub --workers 2: clients on both workers get each other's messages; /stats is summed", async (t) => {
  const { port } = await startSockeyeProcess(t, 'pubsub', ['--workers', '2']);
  // Opened one after the other: round-robin puts them on both workers (checked below, from the workers' figures).
  const clients: WebSocket[] = [];
  for (let i = 0; i < 4; i++) clients.push(await openWs(t, `ws://127.0.0.1:${port}/room`));
  const got = clients.map(collect);
  // Each worker answers /stats after it told the primary of its subscriber (one FIFO channel): once both say they
  // have the topic, the primary relays it to both.
  let stats = await getJson<ClusterStats>(port, '/stats');
  for (let i = 0; i < 50 && stats.cluster.perWorker.some((w) => w.pubsub?.topics !== 1); i++) {
    await new Promise((r) => setTimeout(r, 20));
    stats = await getJson<ClusterStats>(port, '/stats');
  }
  assert.equal(stats.cluster.workers, 2);
  assert.deepEqual(
    stats.cluster.perWorker.map((w) => w.pubsub?.topics),
    [1, 1],
    'both workers have subscribers of the topic',
  );
  clients.forEach((ws, i) => {
    ws.send(i === 3 ? Buffer.from([3, 255]) : `from ${i}`);
  });
  await waitFor(() => got.every((g) => g.length >= 3), 10_000, 'every client to get the 3 others');
  const sent = ['from 0', 'from 1', 'from 2', 'bin:03ff'];
  got.forEach((g, i) => {
    assert.deepEqual([...g].sort(), sent.filter((_, j) => j !== i).sort());
  });
  stats = await getJson<ClusterStats>(port, '/stats');
  assert.equal(stats.connections.wsOpen, 4, 'summed over the workers');
  assert.equal(stats.websocket.messagesIn, 4);
  assert.equal(stats.pubsub?.published, 4);
  // Each message crossed to the other worker once (every worker has subscribers), none lost.
  assert.equal(stats.cluster.relayed, 4);
  assert.equal(stats.pubsub?.received, 4);
  assert.equal(stats.cluster.relayLost, 0);
});

test('sockeye pubsub --workers 2 --redis: each worker is a node on Redis; the IPC relay is not used', async (t) => {
  const redis = await startRedis(t);
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  const { port } = await startSockeyeProcess(t, 'pubsub', ['--workers', '2', '--redis', redis.url]);
  const clients: WebSocket[] = [];
  for (let i = 0; i < 4; i++) clients.push(await openWs(t, `ws://127.0.0.1:${port}/room`));
  const got = clients.map(collect);
  // One Redis subscription per worker with subscribers: 2 means the clients are on both workers.
  await waitAsync(
    async () => Number(((await admin.pubsub('NUMSUB', 'sockeye:room')) as [string, number])[1]) === 2,
    10_000,
    'both workers to subscribe to sockeye:room',
  );
  clients.forEach((ws, i) => {
    ws.send(`from ${i}`);
  });
  await waitFor(() => got.every((g) => g.length >= 3), 10_000, 'every client to get the 3 others');
  got.forEach((g, i) => {
    assert.deepEqual(
      [...g].sort(),
      [0, 1, 2, 3].filter((j) => j !== i).map((j) => `from ${j}`),
    );
  });
  const stats = await getJson<ClusterStats>(port, '/stats');
  assert.equal(stats.cluster.workers, 2);
  assert.equal(stats.cluster.relayed, 0, 'topics crossed the workers through Redis, not the primary');
  assert.equal(stats.pubsub?.mode, 'single');
  assert.equal(stats.pubsub?.published, 4);
  // Each message reached the other worker once (and came back to its own as an echo, skipped).
  assert.equal(stats.pubsub?.received, 4);
  assert.equal(stats.pubsub?.echoes, 4);
});

test('sockeye pubsub --redis with no Redis there: says so on stderr with the error, then says when Redis comes', async (t) => {
  const port = await freePort();
  const url = `redis://:secret@127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'pubsub', '--port', '0', '--redis', url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  await waitFor(() => /listening on http:\/\//.test(out), 10_000, 'the server to listen');
  await waitFor(() => /not reachable/.test(err), 10_000, 'the outage to be reported');
  assert.match(
    err,
    new RegExp(
      `sockeye pubsub: redis redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} not reachable \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`,
    ),
  );
  assert.doesNotMatch(err, /secret/, 'the password is not printed');
  assert.doesNotMatch(err, /connected/);
  // Redis comes up on that port: the adapter's retry reaches it and the command says so.
  await startRedis(t, { port, args: ['--requirepass', 'secret'] });
  await waitFor(() => / connected\n/.test(err), 15_000, 'the connection to be reported');
  assert.equal(child.exitCode, null, 'still running');
});
