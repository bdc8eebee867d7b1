/**
 * `sockeye top`'s pure parts (src/cli/top.ts): the Prometheus text reader (labels with escapes, NaN, comments),
 * rates from two samples (none before the second, none after a counter went back: a restarted server), and the
 * screen at every width from 20 to 160 and a short height: no line wider than the terminal, no more lines than it
 * has, the key help always on the last line.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatLine,
  parsePrometheusText,
  ratesOf,
  renderScreen,
  sampleFromMetrics,
  type TopSample,
} from '../../../src/cli/top.js';

const TEXT = `# HELP sockeye_connections Open connections by state.
# TYPE sockeye_connections gauge
sockeye_connections{state="http_idle"} 1
sockeye_connections{state="ws_open"} 7
sockeye_connections_accepted_total 40
sockeye_ws_messages_total{direction="in"} 100
sockeye_ws_messages_total{direction="out"} 90
sockeye_ws_connection_ends_total{cause="peer-close"} 3
sockeye_ws_close_codes_total{code="1000",side="peer"} 3
sockeye_http_received_bytes_total 1000
sockeye_ws_received_bytes_total 24
sockeye_listen_queue_length 2
sockeye_listen_queue_limit 511
sockeye_listen_overflows_total NaN
odd_metric{path="a\\"b\\\\c\\nd"} 5 1700000000000
`;

test('parsePrometheusText: samples by name, escaped label values, NaN, timestamps ignored', () => {
  const f = parsePrometheusText(TEXT);
  assert.deepEqual(f.get('sockeye_connections'), [
    { labels: { state: 'http_idle' }, value: 1 },
    { labels: { state: 'ws_open' }, value: 7 },
  ]);
  assert.deepEqual(f.get('odd_metric'), [{ labels: { path: 'a"b\\c\nd' }, value: 5 }]);
  assert.ok(Number.isNaN(f.get('sockeye_listen_overflows_total')?.[0]?.value));
  assert.equal(f.has('# HELP'), false);
});

test('sampleFromMetrics: absent families are 0 or null; a page without sockeye figures is null', () => {
  const s = sampleFromMetrics(TEXT, 0);
  assert.ok(s !== null);
  assert.deepEqual(s.connections, { httpIdle: 1, httpActive: 0, wsHandshaking: 0, wsOpen: 7, wsClosing: 0 });
  assert.equal(s.bytesIn, 1024);
  assert.deepEqual(s.ends, { 'ws peer-close': 3 });
  assert.deepEqual(s.closeCodes, { 'peer 1000': 3 });
  assert.deepEqual(s.listen, { depth: 2, limit: 511, overflows: null, drops: null });
  assert.equal(s.kernel.retransSegs, null);
  assert.equal(sampleFromMetrics('up 1\nprocess_cpu_seconds_total 3\n', 0), null);
});

function at(s: TopSample, ms: number, change: Partial<TopSample> = {}): TopSample {
  return { ...s, ...change, at: ms };
}

test('ratesOf: per second over the real interval; null before a second sample and after a reset', () => {
  const a = sampleFromMetrics(TEXT, 1000) as TopSample;
  const b = at(a, 3000, { messagesIn: 160, bytesOut: 2048, requests: 4 });
  assert.equal(ratesOf(a, null).messagesIn, null);
  const r = ratesOf(b, a);
  assert.equal(r.messagesIn, 30);
  assert.equal(r.bytesOut, 1024);
  assert.equal(r.requests, 2);
  assert.equal(r.accepted, 0);
  assert.equal(ratesOf(at(a, 5000, { messagesIn: 5 }), b).messagesIn, null, 'a total that went down');
  const line = formatLine(b, a, new Date(0));
  assert.match(line, /^time=1970-01-01T00:00:00\.000Z connections=8 /);
  assert.match(line, / messages_in_per_s=30 /);
  assert.match(line, / listen_overflows=- /);
});

test('renderScreen: fits every width from 20 to 160 and a short terminal; help on the last line', () => {
  const a = sampleFromMetrics(TEXT, 0) as TopSample;
  const b = at(a, 1000, { ends: { 'ws peer-close': 5, 'http idle-timeout': 1 }, uptimeSeconds: 4000 });
  for (let width = 20; width <= 160; width++) {
    for (const height of [8, 24]) {
      const lines = renderScreen(b, a, {
        url: 'http://127.0.0.1:9/metrics',
        pace: 'every 1s',
        width,
        height,
        error: null,
      });
      assert.equal(lines.length, height, `height ${height} at width ${width}`);
      for (const line of lines) assert.ok(Array.from(line).length <= width, `width ${width}: "${line}"`);
      assert.match(lines[height - 1]!, /^q quit/);
    }
  }
  const tall = renderScreen(b, a, {
    url: 'u',
    pace: 'every 500ms',
    width: 100,
    height: 40,
    error: 'cannot reach u: ECONNREFUSED',
  });
  assert.equal(tall[1], '! cannot reach u: ECONNREFUSED');
  assert.ok(
    tall.some((l) => /^ {2}ws peer-close\s+5\s+\+2$/.test(l)),
    'the change since the last sample',
  );
  assert.ok(tall.some((l) => /^ {2}http idle-timeout\s+1\s+\+1$/.test(l)));
  assert.match(tall[0]!, /up 1h 06m/);
  assert.equal(tall[39], 'q quit · every 500ms');
});
