/**
 * WHATWG mode: `serve({ fetch })` runs a real Hono app unchanged (routing, params, JSON bodies, headers,
 * cookies, streaming, status codes), driven by Node's fetch and curl over loopback.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { run, startServer } from '../helpers/net.js';

function makeApp(): Hono {
  const app = new Hono();
  app.get('/', (c) => c.text('Hello Hono!'));
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.query('q') ?? null }));
  app.post('/echo', async (c) => {
    const body = await c.req.json();
    return c.json({ received: body, type: c.req.header('content-type') }, 201);
  });
  app.get('/cookies', (c) => {
    c.header('Set-Cookie', 'a=1; Path=/', { append: true });
    c.header('Set-Cookie', 'b=2; Path=/', { append: true });
    return c.text('two cookies');
  });
  app.get('/stream', (c) =>
    stream(c, async (s) => {
      for (let i = 0; i < 3; i++) {
        await s.write(`part${i};`);
        await s.sleep(10);
      }
    }),
  );
  app.put('/upload', async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)));
  return app;
}

describe('Hono app in fetch mode', () => {
  test('routes, params, query, JSON in and out, status codes', async (t) => {
    const app = makeApp();
    const server = await startServer(t, { fetch: app.fetch });
    const root = await fetch(`${server.url}/`);
    assert.equal(root.status, 200);
    assert.equal(await root.text(), 'Hello Hono!');
    assert.match(root.headers.get('content-type') ?? '', /text\/plain/);

    const user = await fetch(`${server.url}/users/42?q=x`);
    assert.deepEqual(await user.json(), { id: '42', q: 'x' });

    const posted = await fetch(`${server.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }),
    });
    assert.equal(posted.status, 201);
    assert.deepEqual(await posted.json(), { received: { hello: 'world' }, type: 'application/json' });

    const missing = await fetch(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    await missing.text();
  });

  test('several Set-Cookie headers survive as separate field lines', async (t) => {
    const server = await startServer(t, { fetch: makeApp().fetch });
    const r = await run('curl', ['-sS', '-i', `${server.url}/cookies`]);
    const cookies = r.stdout.split('\r\n').filter((l) => l.toLowerCase().startsWith('set-cookie:'));
    assert.deepEqual(cookies, ['set-cookie: a=1; Path=/', 'set-cookie: b=2; Path=/']);
  });

  test('a streamed Hono response arrives chunked, in order', async (t) => {
    const server = await startServer(t, { fetch: makeApp().fetch });
    const r = await fetch(`${server.url}/stream`);
    assert.equal(r.headers.get('transfer-encoding'), 'chunked');
    assert.equal(await r.text(), 'part0;part1;part2;');
  });

  test('a chunked upload reaches the app as a stream', async (t) => {
    const server = await startServer(t, { fetch: makeApp().fetch });
    const r = await run(
      'curl',
      ['-sS', '-X', 'PUT', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-', `${server.url}/upload`],
      {
        input: Buffer.alloc(300_000, 1),
      },
    );
    assert.equal(r.stdout, '300000');
  });

  test('a fetch handler that throws gets a 500 and the server goes on', async (t) => {
    const server = await startServer(t, {
      fetch: (req) => {
        if (new URL(req.url).pathname === '/boom') throw new Error('boom');
        return new Response('fine');
      },
    });
    const bad = await fetch(`${server.url}/boom`);
    assert.equal(bad.status, 500);
    await bad.text();
    assert.equal(await (await fetch(`${server.url}/ok`)).text(), 'fine');
  });
});
