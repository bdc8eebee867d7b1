/**
 * Server-sent events (`res.sse()`) in headless Chromium's `EventSource` (Debian /usr/bin/chromium via
 * playwright-core): events arrive with their type, data (several data lines joined with LF) and id; when the server
 * ends the stream the browser reconnects after the `retry` it was given and sends `Last-Event-ID`, which the handler
 * sees; a stream subscribed to a topic gets the messages a `ws` client publishes (text as `message`, binary as
 * base64 in a `binary` event). Skipped, with a message, only when /usr/bin/chromium is absent.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import type { SockeyeRequest, SockeyeResponse } from '../../src/index.js';
import { hasChromium, launchBrowser } from '../helpers/browser.js';
import { startServer } from '../helpers/net.js';
import { openWs, waitFor } from '../helpers/slow-peers.js';

const WAIT = 15_000;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>sockeye sse</title></head><body><script>
window.got = [];
const es = new EventSource('/events');
const keep = (type) => (e) => window.got.push([type, e.data, e.lastEventId]);
es.addEventListener('greet', keep('greet'));
es.addEventListener('again', keep('again'));
es.addEventListener('binary', keep('binary'));
es.onmessage = keep('message');
es.onerror = () => window.got.push(['error', String(es.readyState), '']);
</script></body></html>`;

test('EventSource: typed events with ids, reconnection with Last-Event-ID, topic messages from a ws client', {
  skip: hasChromium ? false : '/usr/bin/chromium is not installed: EventSource not tested',
  timeout: 60_000,
}, async (t) => {
  const lastIds: string[] = [];
  const server = await startServer(t, {
    request(req: SockeyeRequest, res: SockeyeResponse) {
      if (req.path === '/') {
        res.send(PAGE, 200, { 'Content-Type': 'text/html; charset=utf-8' });
        return;
      }
      if (req.path !== '/events') {
        res.send('Not Found', 404);
        return;
      }
      const s = res.sse({ retry: 100 });
      lastIds.push(s.lastEventId);
      if (lastIds.length === 1) {
        s.send({ event: 'greet', id: 'e1', data: 'one\ntwo' });
        s.send({ id: 'e2', data: 'plain' });
        // Ended by the server: the browser reconnects after `retry` ms with Last-Event-ID: e2.
        s.close();
        return;
      }
      s.subscribe('room');
      s.send({ event: 'again', data: `last=${s.lastEventId}` });
    },
    websocket: {
      message(ws, m, isBinary) {
        ws.publish('room', m, isBinary);
      },
    },
  });
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => (window as unknown as { got: string[][] }).got.some((g) => g[0] === 'again'), null, {
    timeout: WAIT,
  });
  assert.deepEqual(lastIds, ['', 'e2'], 'the reconnection carried Last-Event-ID');
  assert.equal(server.subscriberCount('room'), 1);

  const ws = await openWs(t, `ws://127.0.0.1:${server.port}/`);
  ws.send('from ws\nsecond line');
  ws.send(Buffer.from([1, 2, 3, 250]));
  await page.waitForFunction(
    () => (window as unknown as { got: string[][] }).got.some((g) => g[0] === 'binary'),
    null,
    {
      timeout: WAIT,
    },
  );
  const got = (await page.evaluate(() => (window as unknown as { got: string[][] }).got)).filter(
    (g) => g[0] !== 'error',
  );
  assert.deepEqual(got, [
    ['greet', 'one\ntwo', 'e1'],
    ['message', 'plain', 'e2'],
    ['again', 'last=e2', 'e2'],
    ['message', 'from ws\nsecond line', 'e2'],
    ['binary', Buffer.from([1, 2, 3, 250]).toString('base64'), 'e2'],
  ]);
  // The page goes: its stream ends and leaves the topic.
  await page.close();
  await waitFor(() => server.subscriberCount('room') === 0, WAIT, 'the closed page to leave the topic');
});
