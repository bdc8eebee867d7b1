/**
 * `serve({ metrics: { path, stats } })`: the Prometheus text of figures from elsewhere (what sockeye/cluster uses for
 * the sum over its workers), and a source that fails answers 503 with its message.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerStats } from '../../src/index.js';
import { startServer } from '../helpers/net.js';

test('metrics: { path, stats } prints what stats() resolves with; a rejection is a 503 with its message', async (t) => {
  let fail = false;
  const server = await startServer(t, {
    metrics: {
      path: '/metrics',
      async stats(): Promise<ServerStats> {
        if (fail) throw new Error('no worker answered');
        const s = server.stats();
        s.connections.wsOpen = 4242;
        s.http.requests = 777;
        return s;
      },
    },
  });
  const ok = await fetch(`${server.url}/metrics`);
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await ok.text();
  assert.match(text, /^sockeye_connections\{state="ws_open"\} 4242$/m);
  assert.match(text, /^sockeye_http_requests_total 777$/m);
  fail = true;
  const bad = await fetch(`${server.url}/metrics`);
  assert.equal(bad.status, 503);
  assert.equal(await bad.text(), 'metrics unavailable: no worker answered\n');
  // Other paths still reach the handler (404 by default).
  assert.equal((await fetch(`${server.url}/other`)).status, 404);
});
