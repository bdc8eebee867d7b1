/**
 * Server-sent events (`res.sse()`, issue 17 §6) over real loopback sockets, checked byte by byte with a raw node:net
 * client: the head (text/event-stream, no-cache, chunked on HTTP/1.1, close-delimited on 1.0), each field and the
 * heartbeat comment as exact chunks, Last-Event-ID seen by the handler, `close()` ending the response with the
 * connection reused for the next request, HEAD; topics: a `ws` client's `ws.publish` reaching an event stream (text
 * as data lines, binary as base64), counts in publish's result, an adapter told of SSE interest; a client that stops
 * reading cut off (`close`) or skipped (`drop`) while a reading one gets every message; many connect/disconnect
 * cycles leaving no subscriber; `server.close()` ending streams; curl -N; bad input (TypeError, InvalidStateError,
 * 500 for bad options).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  type PubSubAdapter,
  type PubSubHub,
  type Server,
  type SseCloseCause,
  type SseStream,
  serve,
} from '../../src/index.js';
import { run, startServer } from '../helpers/net.js';
import { openWs, waitFor } from '../helpers/slow-peers.js';
import { RawSseClient, sseRequest } from '../helpers/sse-client.js';

/** One chunk of a chunked body (RFC 9112 §7.1), as the latin1 text RawSseClient shows (bytes one to one). */
function chunk(s: string): string {
  const b = Buffer.from(s, 'utf8');
  return `${b.length.toString(16)}\r\n${b.toString('latin1')}\r\n`;
}

/** Splits a raw response into its head and body. */
function splitHead(text: string): { head: string; body: string } {
  const i = text.indexOf('\r\n\r\n');
  assert.ok(i > 0, `no head in ${JSON.stringify(text)}`);
  return { head: text.slice(0, i + 2), body: text.slice(i + 4) };
}

describe('server-sent events', () => {
  test('HTTP/1.1: head, fields, heartbeat and Last-Event-ID as exact chunks; close() ends it and the connection serves on', async (t) => {
    let stream: SseStream | null = null;
    const server = await startServer(t, {
      request(req, res) {
        if (req.path !== '/events') {
          res.send('plain');
          return;
        }
        const s = res.sse({ retry: 2500, heartbeat: 300 });
        stream = s;
        s.send({ event: 'greet', id: '42', data: `after ${s.lastEventId}\nline two` });
        s.comment('note');
        s.send('é');
      },
    });
    const c = await RawSseClient.open(server.port, sseRequest('/events', ['Last-Event-ID: 41']));
    const heartbeat = chunk(':\n');
    await c.waitForText(heartbeat);
    const { head, body } = splitHead(c.text);
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\ncontent-type: text\/event-stream\r\n/i);
    assert.match(head, /\r\ncache-control: no-cache\r\n/i);
    assert.match(head, /\r\ntransfer-encoding: chunked\r\n/i);
    assert.doesNotMatch(head, /content-length/i);
    const expected =
      chunk('retry: 2500\n\n') +
      chunk('event: greet\nid: 42\ndata: after 41\ndata: line two\n\n') +
      chunk(': note\n') +
      chunk('data: é\n\n');
    assert.equal(body.slice(0, expected.length), expected);
    assert.equal(body.slice(expected.length, expected.length + heartbeat.length), heartbeat);

    const s = stream as unknown as SseStream;
    assert.equal(s.isClosed, false);
    s.close();
    assert.equal(await s.closed, 'closed');
    await c.waitForText('0\r\n\r\n');
    assert.equal(s.send('late'), 0, 'a closed stream writes nothing');
    // Keep-alive: the same connection takes the next request.
    c.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitForText('plain');
    assert.equal(c.closed, false);
    c.destroy();
  });

  test('HTTP/1.0: close-delimited body (sent and published events); HEAD: the head and an ended stream', async (t) => {
    const causes: SseCloseCause[] = [];
    const server = await startServer(t, {
      request(req, res) {
        const s = res.sse({ heartbeat: 0 });
        void s.closed.then((cause) => causes.push(cause));
        s.subscribe('t');
        s.send(req.method);
        if (req.method === 'GET') {
          // A published event is framed once as a chunk for chunked streams; this one is not chunked.
          server.publish('t', 'pub');
          s.close();
        }
      },
    });
    const c = await RawSseClient.open(server.port, sseRequest('/', [], '1.0'));
    const text = await c.waitClosed();
    const { head, body } = splitHead(text);
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\nconnection: close\r\n/i);
    assert.doesNotMatch(head, /transfer-encoding|content-length/i);
    assert.equal(body, 'data: GET\n\ndata: pub\n\n');

    const h = await RawSseClient.open(server.port, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    await h.waitForText('\r\n\r\n');
    await waitFor(() => causes.length === 2, 5000, 'the HEAD stream to end');
    assert.deepEqual(causes, ['closed', 'closed']);
    const hb = splitHead(h.text);
    assert.match(hb.head, /content-type: text\/event-stream/i);
    // Nothing after the head: the next request's answer is the next thing on the connection.
    h.socket.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    await h.waitFor((x) => x.split('HTTP/1.1 200').length === 3, 'the second HEAD answer');
    assert.equal(h.text.indexOf('data:'), -1);
    h.destroy();
  });

  test('topics: a ws client publishes, event streams get text as data lines and binary as base64; counts add up; no subscriber left after the clients go', async (t) => {
    const closedCauses: SseCloseCause[] = [];
    const server = await startServer(t, {
      request(req, res) {
        const s = res.sse({ heartbeat: 0 });
        s.subscribe(req.path.slice(1));
        void s.closed.then((c) => closedCauses.push(c));
        s.comment('subscribed');
      },
      websocket: {
        message(ws, m, isBinary) {
          const r = ws.publish('room', m, isBinary);
          ws.send(`published:${r.sent}:${r.queued}:${r.dropped}`);
        },
      },
    });
    const a = await RawSseClient.open(server.port, sseRequest('/room'));
    const b = await RawSseClient.open(server.port, sseRequest('/room'));
    const other = await RawSseClient.open(server.port, sseRequest('/elsewhere'));
    for (const c of [a, b, other]) await c.waitForText(': subscribed\n');
    assert.equal(server.subscriberCount('room'), 2);

    const ws = await openWs(t, `ws://127.0.0.1:${server.port}/`);
    const answers: string[] = [];
    ws.on('message', (d) => answers.push(String(d)));
    ws.send('hello\nworld');
    ws.send(Buffer.from([0, 1, 254, 255]));
    await waitFor(() => answers.length === 2, 5000, 'the publish results');
    assert.deepEqual(answers, ['published:2:0:0', 'published:2:0:0']);
    const expected = chunk('data: hello\ndata: world\n\n') + chunk('event: binary\ndata: AAH+/w==\n\n');
    for (const c of [a, b]) {
      const text = await c.waitForText(expected);
      assert.equal(text.split('data: hello').length, 2, 'exactly once');
    }
    // server.publish reaches them too, and not the stream on another topic.
    assert.deepEqual(server.publish('room', 'from server'), { sent: 2, queued: 0, dropped: 0 });
    await a.waitForText(chunk('data: from server\n\n'));
    await b.waitForText(chunk('data: from server\n\n'));
    assert.equal(other.text.includes('data:'), false);

    a.destroy(); // reset
    b.socket.end(); // FIN: an event-stream client that half-closes is leaving
    await b.waitClosed();
    await waitFor(() => closedCauses.length === 2, 5000, 'both streams to end');
    assert.deepEqual(closedCauses, ['peer', 'peer']);
    assert.equal(server.subscriberCount('room'), 0);
    assert.ok(b.text.endsWith('0\r\n\r\n'), 'the half-closed client got the end of the body');
    other.destroy();
  });

  test('an adapter hears of interest from event streams and delivers to them', async (t) => {
    const calls: string[] = [];
    let hub: PubSubHub | null = null;
    const adapter: PubSubAdapter = {
      attach(h) {
        hub = h;
      },
      publish(topic, data) {
        calls.push(`publish:${topic}:${data.toString()}`);
      },
      subscribe(topic) {
        calls.push(`subscribe:${topic}`);
      },
      unsubscribe(topic) {
        calls.push(`unsubscribe:${topic}`);
      },
      close: async () => {},
    };
    // No websocket section: event streams alone are subscribers.
    const server = await startServer(t, {
      pubsub: adapter,
      request(_req, res) {
        const s = res.sse({ heartbeat: 0 });
        s.subscribe('news');
        s.comment('in');
      },
    });
    const c = await RawSseClient.open(server.port, sseRequest('/'));
    await c.waitForText(': in\n');
    assert.deepEqual(calls, ['subscribe:news']);
    const r = (hub as unknown as PubSubHub).deliver('news', Buffer.from('remote'), false);
    assert.deepEqual(r, { sent: 1, queued: 0, dropped: 0 });
    await c.waitForText(chunk('data: remote\n\n'));
    server.publish('news', 'local');
    assert.deepEqual(calls, ['subscribe:news', 'publish:news:local']);
    c.destroy();
    await waitFor(() => calls.length === 3, 5000, 'the adapter to hear the interest is gone');
    assert.equal(calls[2], 'unsubscribe:news');
  });

  test('a client that stops reading is cut off (close) or skipped (drop); a reading one gets every message', async (t) => {
    const streams = new Map<string, SseStream>();
    const ends: string[] = [];
    const server = await startServer(t, {
      onConnectionEnd: (info) => ends.push(`${info.kind}:${info.cause}:${info.initiator}`),
      request(req, res) {
        const policy = req.path === '/drop' ? 'drop' : 'close';
        const s = res.sse({ heartbeat: 0, maxBackpressure: 256 * 1024, backpressurePolicy: policy });
        streams.set(req.path, s);
        s.subscribe('flood');
        s.comment('in');
      },
    });
    const slowClose = await RawSseClient.open(server.port, sseRequest('/close'));
    const slowDrop = await RawSseClient.open(server.port, sseRequest('/drop'));
    const fast = await RawSseClient.open(server.port, sseRequest('/fast'));
    for (const c of [slowClose, slowDrop, fast]) await c.waitForText(': in\n');
    slowClose.socket.pause();
    slowDrop.socket.pause();
    const payload = 'x'.repeat(64 * 1024);
    let dropped = 0;
    let published = 0;
    const cut = streams.get('/close') as SseStream;
    const skipping = streams.get('/drop') as SseStream;
    // Bounded: loopback buffers hold a few MiB, far less than 4,000 × 64 KiB.
    for (let i = 0; i < 4000 && !(cut.isClosed && skipping.droppedCount > 0); i++) {
      const r = server.publish('flood', `${i} ${payload}`);
      published++;
      dropped += r.dropped;
      // The fast client reads each message before the next is published.
      await fast.waitFor((x) => x.includes(`data: ${i} `), `message ${i}`);
    }
    assert.equal(await cut.closed, 'backpressure');
    assert.ok(skipping.droppedCount > 0, 'the drop stream skipped messages');
    assert.equal(skipping.isClosed, false, 'drop keeps the connection');
    assert.equal(dropped, 1 + skipping.droppedCount, 'one cut off plus every skip, as publish counted them');
    assert.equal(server.subscriberCount('flood'), 2);
    const st = server.stats().sse;
    assert.equal(st.cutOff, 1);
    assert.equal(st.dropped, skipping.droppedCount);
    assert.equal(st.open, 2);
    // The reading client got all of them, in order.
    const seen = [...fast.text.matchAll(/data: (\d+) /g)].map((m) => Number(m[1]));
    assert.deepEqual(
      seen,
      Array.from({ length: published }, (_, i) => i),
    );
    slowClose.socket.resume();
    await slowClose.waitClosed();
    await waitFor(() => ends.length === 1, 5000, 'the cut-off connection to be reported');
    assert.deepEqual(ends, ['http:backpressure:server']);
    slowDrop.destroy();
    fast.destroy();
  });

  test('many connect/disconnect cycles leave no subscriber and no connection', async (t) => {
    let ended = 0;
    const server = await startServer(t, {
      request(_req, res) {
        const s = res.sse({ heartbeat: 0 });
        s.subscribe('cycle');
        s.subscribe('cycle-2');
        void s.closed.then(() => ended++);
        s.comment('in');
      },
    });
    const ROUNDS = 10;
    const PER_ROUND = 20;
    for (let r = 0; r < ROUNDS; r++) {
      const clients = await Promise.all(
        Array.from({ length: PER_ROUND }, () => RawSseClient.open(server.port, sseRequest('/'))),
      );
      for (const c of clients) await c.waitForText(': in\n');
      assert.equal(server.subscriberCount('cycle'), PER_ROUND);
      // Half reset, half half-close.
      for (let i = 0; i < clients.length; i++) {
        const c = clients[i] as RawSseClient;
        if (i % 2 === 0) c.destroy();
        else c.socket.end();
      }
      await waitFor(() => ended === (r + 1) * PER_ROUND, 5000, `round ${r} to end`);
      assert.equal(server.subscriberCount('cycle'), 0);
      assert.equal(server.subscriberCount('cycle-2'), 0);
    }
    await waitFor(() => server.stats().connections.total === 0, 5000, 'every connection to be gone');
    const st = server.stats().sse;
    assert.deepEqual(st, { open: 0, opened: ROUNDS * PER_ROUND, events: ROUNDS * PER_ROUND, dropped: 0, cutOff: 0 });
  });

  test('stats and /metrics count open streams; server.close() ends every stream (the client sees the end of the body)', async () => {
    let stream: SseStream | null = null;
    const server: Server = await serve({
      host: '127.0.0.1',
      port: 0,
      metrics: '/metrics',
      request(_req, res) {
        stream = res.sse({ heartbeat: 0 });
        stream.send('up');
      },
    });
    const c = await RawSseClient.open(server.port, sseRequest('/'));
    await c.waitForText('data: up');
    assert.equal(server.stats().sse.open, 1);
    const m = await RawSseClient.open(server.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const metrics = await m.waitClosed();
    assert.match(metrics, /^sockeye_sse_streams 1$/m);
    assert.match(metrics, /^sockeye_sse_events_total 1$/m);
    await waitFor(() => server.stats().connections.total === 1, 5000, 'the metrics connection to be gone');
    const result = await server.close({ deadline: 5000 });
    assert.deepEqual(result, { closed: 1, terminated: 0 });
    assert.equal(await (stream as unknown as SseStream).closed, 'shutdown');
    const text = await c.waitClosed();
    assert.ok(text.endsWith(`${chunk('data: up\n\n')}0\r\n\r\n`), JSON.stringify(text));
  });

  test('a stream opened while the server closes ends at once (shutdown), with the head and the last chunk', async () => {
    let started: () => void = () => {};
    const running = new Promise<void>((r) => {
      started = r;
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let stream: SseStream | null = null;
    let lateWrite = -2;
    const server: Server = await serve({
      host: '127.0.0.1',
      port: 0,
      async request(_req, res) {
        started();
        await gate;
        stream = res.sse({ heartbeat: 0 });
        lateWrite = stream.send('late');
      },
    });
    const c = await RawSseClient.open(server.port, sseRequest('/'));
    await running;
    const closing = server.close({ deadline: 5000 });
    release();
    assert.deepEqual(await closing, { closed: 1, terminated: 0 });
    assert.equal(await (stream as unknown as SseStream).closed, 'shutdown');
    assert.equal(lateWrite, 0, 'nothing is written to a stream that ended');
    const { head, body } = splitHead(await c.waitClosed());
    assert.match(head, /content-type: text\/event-stream/i);
    assert.match(head, /connection: close/i);
    assert.equal(body, '0\r\n\r\n');
  });

  test('curl -N reads the events as they come', async (t) => {
    const server = await startServer(t, {
      request(_req, res) {
        const s = res.sse({ heartbeat: 0 });
        let n = 0;
        const next = () => {
          s.send({ id: String(n), data: `event ${n}` });
          if (++n < 3) setImmediate(next);
          else s.close();
        };
        next();
      },
    });
    const r = await run('curl', ['-sN', '--max-time', '10', '-H', 'Accept: text/event-stream', `${server.url}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n');
  });

  test('bad input: precise errors, and bad options answer 500 before anything is sent', async (t) => {
    const errors: string[] = [];
    const server = await startServer(t, {
      request(req, res) {
        if (req.path === '/bad-options') {
          res.sse({ backpressurePolicy: 'slow' as 'drop' });
          return;
        }
        const s = res.sse({ heartbeat: 0 });
        for (const f of [
          () => s.send({ id: 'a\nb', data: 'x' }),
          () => s.send({ event: 'a\rb', data: 'x' }),
          () => s.subscribe(7 as unknown as string),
          () => res.sse(),
          () => res.write('raw'),
        ]) {
          try {
            f();
            errors.push('no error');
          } catch (err) {
            errors.push(`${(err as Error).name}: ${(err as Error).message}`);
          }
        }
        s.send('still fine');
        s.close();
      },
    });
    const c = await RawSseClient.open(server.port, sseRequest('/'));
    await c.waitForText('0\r\n\r\n');
    assert.deepEqual(errors.slice(0, 4), [
      'TypeError: id must not contain CR, LF or NUL',
      'TypeError: event must not contain CR or LF',
      'TypeError: topic must be a string, got number',
      'InvalidStateError: Cannot start an event stream: headers already sent',
    ]);
    // A raw write on the stream's response is the handler's own business: it goes out as body bytes.
    assert.equal(errors[4], 'no error');
    assert.ok(c.text.includes(chunk('data: still fine\n\n')));
    c.destroy();
    const bad = await RawSseClient.open(server.port, sseRequest('/bad-options'));
    const text = await bad.waitForText('\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 500 /);
    assert.doesNotMatch(text, /text\/event-stream/);
    bad.destroy();
  });
});
