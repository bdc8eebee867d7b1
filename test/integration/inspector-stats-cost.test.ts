/**
 * The inspector calls `server.stats()` at most every INSPECTOR_STATS_COST_FACTOR (100) times what the last call took
 * (stats() reads /proc/net/tcp, O(sockets in the namespace): 70 ms a call on a host with 62,000 sockets), and
 * stats() itself stays fresh for everyone else. Two real servers with an open feed each: on one, stats() is made
 * dear (it busy-waits 60 ms, so its result stands in for 6 s); the other's is as it is (a few ms here, so a fresh
 * one every 1 s snapshot). Counted over 3.5 s of snapshots: calls, and the feed's snapshots keep coming.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Server, serve } from '../../src/index.js';
import { INSPECTOR_INTERVAL_MS, INSPECTOR_STATS_COST_FACTOR } from '../../src/limits.js';

const TOKEN = 'inspector-stats-cost-0123456789';
const DEAR_MS = 60;
const WATCH_MS = 3_500;

/** Wraps the server's stats() (an own property shadows the method) to count calls and, when `dearMs`, to take that long. */
function countStats(server: Server, dearMs: number): { calls: number } {
  const counter = { calls: 0 };
  const original = server.stats.bind(server);
  server.stats = () => {
    counter.calls++;
    const until = performance.now() + dearMs;
    while (performance.now() < until) {
      // a dear stats(): what 60,000 rows of /proc/net/tcp cost
    }
    return original();
  };
  return counter;
}

/** Opens the inspector's feed and counts the snapshots it gets for `ms`. */
async function watchFeed(server: Server, ms: number): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(`${server.url}/_sockeye/feed?token=${TOKEN}`, { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const stop = setTimeout(() => ac.abort(), ms);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(stop);
  }
  return text.split('\n\n').filter((e) => e.startsWith('data: ')).length;
}

test('the inspector reuses a dear stats() for 100x what it took; a cheap one is called every snapshot', async (t) => {
  assert.equal(INSPECTOR_STATS_COST_FACTOR, 100, 'the window below is computed for this factor');
  const dear = await serve({ port: 0, host: '127.0.0.1', inspector: { token: TOKEN } });
  const cheap = await serve({ port: 0, host: '127.0.0.1', inspector: { token: TOKEN } });
  t.after(() => Promise.all([dear.close(), cheap.close()]));
  const dearCount = countStats(dear, DEAR_MS);
  const cheapCount = countStats(cheap, 0);
  const [dearSnapshots, cheapSnapshots] = await Promise.all([watchFeed(dear, WATCH_MS), watchFeed(cheap, WATCH_MS)]);

  // Snapshots go on either way: one when the feed opens, then one per INSPECTOR_INTERVAL_MS (fewer on a busy host).
  const ticks = Math.floor(WATCH_MS / INSPECTOR_INTERVAL_MS);
  assert.ok(dearSnapshots >= 2 && dearSnapshots <= ticks + 1, `dear: ${dearSnapshots} snapshots`);
  assert.ok(cheapSnapshots >= 2 && cheapSnapshots <= ticks + 1, `cheap: ${cheapSnapshots} snapshots`);
  // Dear: the call at the feed's opening took >= 60 ms, so it stands in for >= 6 s, longer than the watch.
  assert.equal(dearCount.calls, 1, `dear stats() called ${dearCount.calls} times`);
  // Cheap: fresh ones for later snapshots (one per snapshot unless a call took over 10 ms on a loaded host).
  assert.ok(cheapCount.calls >= 2, `cheap stats() called ${cheapCount.calls} times for ${cheapSnapshots} snapshots`);
  assert.ok(cheapCount.calls <= cheapSnapshots, `cheap stats() called ${cheapCount.calls} times`);
});
