/**
 * The demo chat's WebSocket protocol from outside, with the `ws` client: what a page gets when it joins (welcome,
 * history, presence, the join notice), and a precise answer to bad input that ends only that connection: 404/400
 * with one sentence for a bad handshake, 1003 for binary, 1008 with a sentence for bad JSON, an unknown type, a
 * field out of range and flooding, 1009 above the demo's message size. A message sent again with the same page id
 * (after a drop) is answered with the first copy, not published twice.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES, MAX_TEXT_CHARS, RATE_MESSAGES, startDemo } from '../../src/cli/demo.js';
import type { Server } from '../../src/index.js';
import { closeOf, waitFor, within } from '../helpers/slow-peers.js';

type Msg = Record<string, unknown> & { type: string };

interface Peer {
  ws: WebSocket;
  got: Msg[];
}

const KEY_A = 'a'.repeat(24);
const KEY_B = 'b'.repeat(24);

async function start(t: import('node:test').TestContext): Promise<{ server: Server; base: string }> {
  const server = await startDemo({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close({ deadline: 200 }));
  return { server, base: server.url.replace(/^http/, 'ws') };
}

/** Opens `/chat?query` and collects every message from the first one (the listener is on before the handshake). */
async function join(t: import('node:test').TestContext, base: string, query: string): Promise<Peer> {
  const ws = new WebSocket(`${base}/chat?${query}`);
  t.after(() => ws.terminate());
  const got: Msg[] = [];
  ws.on('message', (d) => got.push(JSON.parse(String(d)) as Msg));
  ws.on('error', () => {});
  await within(new Promise((resolve) => ws.once('open', resolve)), 5000, 'the chat to open');
  await waitFor(() => got.some((m) => m.type === 'system'), 5000, 'the join notice');
  return { ws, got };
}

/** The status and body of a refused handshake. */
function refusal(url: string): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('open', () => reject(new Error('the handshake was accepted')));
      ws.on('error', () => {});
    }),
    5000,
    'the refusal',
  );
}

const chats = (p: Peer) => p.got.filter((m) => m.type === 'chat').map((m) => m.text);

test('demo protocol: joining gives welcome, history, presence, the join notice; chat reaches the room', async (t) => {
  const { base } = await start(t);
  const a = await join(t, base, `room=r1&name=Ada&key=${KEY_A}`);
  assert.deepEqual(
    a.got.map((m) => m.type),
    ['welcome', 'history', 'presence', 'system'],
  );
  assert.equal(a.got[0]?.name, 'Ada');
  assert.match(String(a.got[0]?.uid), /^[A-Za-z0-9_-]{12}$/);
  assert.deepEqual(a.got[1]?.messages, []);
  assert.equal(a.got[2]?.online, 1);
  assert.equal(a.got[3]?.text, 'Ada joined');
  a.ws.send(JSON.stringify({ type: 'chat', text: 'first', cid: 'c1' }));
  await waitFor(() => chats(a).length === 1, 5000, 'the echo');

  const b = await join(t, base, `room=r1&name=Bo&key=${KEY_B}`);
  const history = b.got.find((m) => m.type === 'history')?.messages as Msg[];
  assert.deepEqual(
    history.map((m) => [m.from, m.text, m.uid]),
    [['Ada', 'first', a.got[0]?.uid]],
  );
  assert.notEqual(b.got[0]?.uid, a.got[0]?.uid);
  await waitFor(() => a.got.some((m) => m.type === 'presence' && m.online === 2), 5000, 'the count of 2');
  // A second copy with the same page id (a page sending again after a drop): the sender gets the first copy back,
  // the room gets nothing. B's own message is the sentinel: a second copy would have come before it.
  a.ws.send(JSON.stringify({ type: 'chat', text: 'first', cid: 'c1' }));
  await waitFor(() => chats(a).length === 2, 5000, 'the receipt');
  assert.deepEqual(a.got.filter((m) => m.type === 'chat')[1], a.got.filter((m) => m.type === 'chat')[0]);
  b.ws.send(JSON.stringify({ type: 'chat', text: 'sentinel', cid: 'c2' }));
  await waitFor(() => chats(b).includes('sentinel'), 5000, 'the sentinel');
  assert.deepEqual(chats(b), ['sentinel']);
});

test('demo protocol: a bad handshake is refused with a status and one sentence', async (t) => {
  const { base } = await start(t);
  assert.deepEqual(await refusal(`${base}/elsewhere`), {
    status: 404,
    body: 'the chat is at /chat?room=ROOM&name=NAME&key=KEY\n',
  });
  const bad = [
    ['room=Bad%20Room', "room must be 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit\n"],
    [
      `room=lobby&name=${'n'.repeat(25)}`,
      'name must be 1 to 24 visible characters without leading or trailing spaces\n',
    ],
    ['room=lobby&name=%20ada', 'name must be 1 to 24 visible characters without leading or trailing spaces\n'],
    ['room=lobby&name=a%07b', 'name must be 1 to 24 visible characters without leading or trailing spaces\n'],
    ['room=lobby&key=short', 'key must be 16 to 64 of A-Z, a-z, 0-9, - and _\n'],
  ];
  for (const [query, body] of bad)
    assert.deepEqual(await refusal(`${base}/chat?${query}`), { status: 400, body }, query);
});

test('demo protocol: bad input closes that connection with a code and a sentence; the others go on', async (t) => {
  const { base } = await start(t);
  const good = await join(t, base, `room=lobby&key=${KEY_A}`);
  const cases: [string | Buffer, number, string][] = [
    [Buffer.from([1, 2, 3]), 1003, 'this chat takes JSON text messages only'],
    ['hello', 1008, 'not JSON: send {"type":"chat","text":"...","cid":"..."}'],
    ['[1]', 1008, 'unknown message type: use "chat" or "name"'],
    ['null', 1008, 'expected a JSON object with a "type"'],
    ['{"type":"dance"}', 1008, 'unknown message type: use "chat" or "name"'],
    ['{"type":"chat","text":"  ","cid":"x"}', 1008, `"text" must be a string of 1 to ${MAX_TEXT_CHARS} characters`],
    [
      JSON.stringify({ type: 'chat', text: 'y'.repeat(MAX_TEXT_CHARS + 1), cid: 'x' }),
      1008,
      `"text" must be a string of 1 to ${MAX_TEXT_CHARS} characters`,
    ],
    [
      '{"type":"chat","text":"a\\u0000b","cid":"x"}',
      1008,
      '"text" must not contain control characters (tab and newline are fine)',
    ],
    ['{"type":"chat","text":"hi","cid":"no spaces"}', 1008, '"cid" must be 1 to 32 of A-Z, a-z, 0-9, - and _'],
    ['{"type":"name","name":""}', 1008, 'name must be 1 to 24 visible characters without leading or trailing spaces'],
    [JSON.stringify({ type: 'chat', text: 'z'.repeat(MAX_FRAME_BYTES), cid: 'x' }), 1009, ''],
  ];
  for (const [data, code, reason] of cases) {
    const p = await join(t, base, `room=lobby&key=${KEY_B}`);
    p.ws.send(data);
    const closed = await closeOf(p.ws);
    assert.equal(closed.code, code, String(data).slice(0, 60));
    if (reason !== '') assert.equal(closed.reason, reason);
  }
  // Flooding: RATE_MESSAGES go through, the next one closes the connection.
  const flood = await join(t, base, `room=lobby&key=${KEY_B}`);
  for (let i = 0; i <= RATE_MESSAGES; i++) flood.ws.send(JSON.stringify({ type: 'chat', text: `m${i}`, cid: `f${i}` }));
  assert.deepEqual(await closeOf(flood.ws), {
    code: 1008,
    reason: `too many messages: at most ${RATE_MESSAGES} per 10 s`,
  });
  assert.equal(chats(flood).length, RATE_MESSAGES);
  // The well-behaved page is still there and chatting.
  good.ws.send(JSON.stringify({ type: 'chat', text: 'still here', cid: 'ok' }));
  await waitFor(() => chats(good).includes('still here'), 5000, 'the good page to go on');
  assert.equal(good.ws.readyState, WebSocket.OPEN);
});
