/**
 * Server conformance, the opening handshake (RFC 6455 §4.2): what a valid request gets (101 with the right
 * Sec-WebSocket-Accept), what invalid ones get (400, 426 + Sec-WebSocket-Version), the upgrade hook (chosen
 * subprotocol, ctx.reject, async data visible in open(), a client that leaves during an async hook), and frames
 * that arrive in the same packet as the request. Real loopback sockets. Every server is `startEcho`'s, so that
 * test/integration/bridge-conformance.test.ts runs this file through the node:http bridge as well.
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { test } from 'node:test';
import { type ServerWebSocket, serve } from '../../src/index.js';
import { assertFrames, cf, echoViaBridge, startEcho, trackClients } from '../fixtures/ws/echo-server.js';
import { ioRoundTrip } from '../helpers/net.js';
import { waitFor, within } from '../helpers/slow-peers.js';
import { decodeFrames } from '../helpers/ws-frames.js';
import {
  acceptFor,
  connectRaw,
  delay,
  handshakeRequest,
  OP_TEXT,
  parseResponseHead,
  requestHead,
} from '../helpers/ws-raw-client.js';

const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function request(port: number, lines: string[], first = 'GET / HTTP/1.1'): string {
  return `${[first, `Host: 127.0.0.1:${port}`, ...lines].join('\r\n')}\r\n\r\n`;
}

const GOOD = [
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
  'Sec-WebSocket-Version: 13',
];

async function statusOf(port: number, req: string): Promise<{ status: number; text: string; closed: boolean }> {
  const r = await requestHead(port, req);
  return { status: r.response.status, text: r.text, closed: r.closed };
}

test('valid handshake: 101 with the Sec-WebSocket-Accept of RFC 6455 §1.3 and no extension or protocol', async (t) => {
  const { port } = await startEcho(t);
  const r = await requestHead(port, request(port, GOOD));
  const head = r.response;
  assert.equal(head.status, 101);
  assert.equal(head.headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(acceptFor(SAMPLE_KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(head.headers.get('upgrade')?.toLowerCase(), 'websocket');
  assert.equal(head.headers.get('connection')?.toLowerCase(), 'upgrade');
  assert.equal(head.headers.get('sec-websocket-protocol'), undefined);
  // permessage-deflate is offered but not negotiated yet: no extension may be claimed.
  assert.equal(head.headers.get('sec-websocket-extensions'), undefined);
});

test('handshake header names and tokens are case-insensitive; Connection may list several tokens', async (t) => {
  const { port } = await startEcho(t);
  const req = request(port, [
    'upgrade: WebSocket',
    'connection: keep-alive, UPGRADE',
    `sec-websocket-key: ${SAMPLE_KEY}`,
    'sec-websocket-version: 13',
  ]);
  const r = await statusOf(port, req);
  assert.equal(r.status, 101);
});

test('missing or invalid Sec-WebSocket-Key: 400', async (t) => {
  const { port } = await startEcho(t);
  const base = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13'];
  const cases: [string, string[]][] = [
    ['missing', base],
    ['not base64 of 16 bytes (15 bytes)', [...base, `Sec-WebSocket-Key: ${Buffer.alloc(15, 1).toString('base64')}`]],
    ['not base64 of 16 bytes (17 bytes)', [...base, `Sec-WebSocket-Key: ${Buffer.alloc(17, 1).toString('base64')}`]],
    ['garbage', [...base, 'Sec-WebSocket-Key: !!not-a-key!!']],
    ['empty', [...base, 'Sec-WebSocket-Key: ']],
    ['twice', [...base, `Sec-WebSocket-Key: ${SAMPLE_KEY}`, `Sec-WebSocket-Key: ${SAMPLE_KEY}`]],
  ];
  for (const [name, lines] of cases) {
    const r = await statusOf(port, request(port, lines));
    assert.equal(r.status, 400, name);
    assert.equal(r.closed, true, `${name}: the refused connection is closed`);
  }
});

test('Sec-WebSocket-Version 8: 426 with Sec-WebSocket-Version: 13 (RFC 6455 §4.2.2)', async (t) => {
  const { port } = await startEcho(t);
  const lines = [
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
    'Sec-WebSocket-Version: 8',
  ];
  const r = await statusOf(port, request(port, lines));
  assert.equal(r.status, 426);
  const head = parseResponseHead(r.text.slice(0, r.text.indexOf('\r\n\r\n') + 4));
  assert.equal(head.headers.get('sec-websocket-version'), '13');
});

test('missing Sec-WebSocket-Version: 426 with Sec-WebSocket-Version: 13, never 101', async (t) => {
  const { port } = await startEcho(t);
  const r = await statusOf(port, request(port, GOOD.slice(0, 3)));
  assert.equal(r.status, 426);
  const head = parseResponseHead(r.text.slice(0, r.text.indexOf('\r\n\r\n') + 4));
  assert.equal(head.headers.get('sec-websocket-version'), '13');
});

test('POST with WebSocket upgrade headers: 400 (RFC 6455 §4.1: the method MUST be GET)', async (t) => {
  const { port } = await startEcho(t);
  const r = await statusOf(port, request(port, [...GOOD, 'Content-Length: 0'], 'POST / HTTP/1.1'));
  assert.equal(r.status, 400);
});

test('HTTP/1.0 request with WebSocket headers: no 101 (RFC 6455 §4.1 needs HTTP/1.1; RFC 9110 §7.8 ignores Upgrade)', async (t) => {
  let opened = 0;
  const echo = await startEcho(t, {
    open: () => {
      opened++;
    },
  });
  const r = await requestHead(echo.port, request(echo.port, GOOD, 'GET / HTTP/1.0'));
  // The Upgrade field is ignored, so this is an ordinary request: the default handler's 404, then close.
  assert.ok([400, 404].includes(r.response.status), r.text);
  assert.equal(r.closed, true);
  assert.equal(opened, 0);
  assert.equal(echo.server.stats().websocket.accepted, 0);
});

test('Upgrade without websocket token is not taken over as a WebSocket', async (t) => {
  const { port } = await startEcho(t);
  const lines = [
    'Upgrade: h2c',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
    'Sec-WebSocket-Version: 13',
  ];
  const r = await requestHead(port, request(port, lines));
  assert.notEqual(r.response.status, 101);
});

test('the subprotocol chosen by the upgrade hook is in Sec-WebSocket-Protocol and ws.protocol', async (t) => {
  const clients = trackClients(t);
  let seen: string[] = [];
  let opened = '';
  const echo = await startEcho(t, {
    upgrade(_req, ctx) {
      seen = ctx.protocols;
      return { protocol: 'chat.v2' };
    },
    open(ws) {
      opened = ws.protocol;
    },
  });
  const client = await connectRaw(echo.port, { headers: ['Sec-WebSocket-Protocol: chat.v1, chat.v2'] }, clients);
  assert.equal(client.response.headers.get('sec-websocket-protocol'), 'chat.v2');
  assert.deepEqual(seen, ['chat.v1', 'chat.v2']);
  assert.equal(opened, 'chat.v2');
});

test('a subprotocol the client did not offer is never sent (RFC 6455 §4.2.2); the handshake fails instead', async (t) => {
  const echo = await startEcho(t, { upgrade: () => ({ protocol: 'other' }) });
  const r = await statusOf(echo.port, request(echo.port, [...GOOD, 'Sec-WebSocket-Protocol: chat']));
  assert.notEqual(r.status, 101);
  assert.doesNotMatch(r.text, /Sec-WebSocket-Protocol: other/i);
});

test('upgrade hook rejecting with ctx.reject(401): 401 with body and headers, no open()', async (t) => {
  let opened = 0;
  const echo = await startEcho(t, {
    upgrade: (_req, ctx) => ctx.reject(401, 'who are you', [['WWW-Authenticate', 'Bearer']]),
    open: () => {
      opened++;
    },
  });
  const r = await statusOf(echo.port, request(echo.port, GOOD));
  assert.equal(r.status, 401);
  assert.match(r.text, /\r\nWWW-Authenticate: Bearer\r\n/i);
  assert.ok(r.text.endsWith('who are you'), r.text);
  assert.equal(r.closed, true);
  assert.equal(opened, 0);
  assert.equal(echo.server.stats().websocket.rejected, 1);
});

test('upgrade hook returning false: 403', async (t) => {
  const echo = await startEcho(t, { upgrade: () => false });
  const r = await statusOf(echo.port, request(echo.port, GOOD));
  assert.equal(r.status, 403);
});

test('async upgrade hook: data attached is visible in open() and ws.data; the request is visible to the hook', async (t) => {
  const clients = trackClients(t);
  const opened: { data: unknown; path: string }[] = [];
  const echo = await startEcho(t, {
    async upgrade(req) {
      // Kept: a hook that decides in a later turn (the result is asserted, not time).
      await delay(20);
      return { data: { user: req.searchParams.get('user'), path: req.path } };
    },
    open(ws: ServerWebSocket) {
      opened.push({ data: ws.data, path: ws.path });
      ws.send(`hello ${(ws.data as { user: string }).user}`);
    },
  });
  const client = await connectRaw(echo.port, { path: '/room?user=ada' }, clients);
  await client.waitFrames(1);
  assertFrames(client, [{ opcode: OP_TEXT, payload: 'hello ada' }]);
  assert.deepEqual(opened, [{ data: { user: 'ada', path: '/room' }, path: '/room' }]);
});

test('client disconnecting during an async upgrade hook: no crash, nothing opened, counted as abandoned', async (t) => {
  const clients = trackClients(t);
  let entered: () => void = () => {};
  const hookEntered = new Promise<void>((r) => {
    entered = r;
  });
  let release: () => void = () => {};
  const hookReleased = new Promise<void>((r) => {
    release = r;
  });
  let opened = 0;
  let closed = 0;
  const echo = await startEcho(t, {
    async upgrade() {
      entered();
      await hookReleased;
      return { data: 1 };
    },
    open: () => {
      opened++;
    },
    close: () => {
      closed++;
    },
  });
  t.after(() => release());
  const sock = net.connect(echo.port, '127.0.0.1');
  sock.on('error', () => {});
  sock.write(request(echo.port, GOOD));
  await within(hookEntered, 3000, 'the hook to be entered');
  const gone = new Promise<void>((r) => sock.on('close', () => r()));
  sock.destroy();
  await within(gone, 3000, 'the client socket to close');
  // The server's side has read the FIN by the end of a round trip on another connection: the hook decides after.
  await ioRoundTrip();
  release();
  await waitFor(() => echo.server.stats().websocket.abandoned === 1, 3000, 'the upgrade to be counted as abandoned');
  assert.equal(opened, 0, 'open() must not be called for a client that left');
  assert.equal(closed, 0);
  assert.equal(echo.server.stats().websocket.abandoned, 1);
  assert.equal(echo.server.stats().websocket.accepted, 0);
  assert.equal(echo.server.websockets.size, 0);
  // The server still works.
  await connectRaw(echo.port, {}, clients);
  assert.equal(opened, 1);
});

const failingHooks: [string, () => unknown][] = [
  [
    'upgrade hook that throws',
    () => {
      throw new Error('boom');
    },
  ],
  [
    'async upgrade hook that rejects',
    async () => {
      // Kept: a hook that rejects in a later turn (the status is asserted, not time).
      await delay(10);
      throw new Error('boom');
    },
  ],
];
for (const [name, upgrade] of failingHooks) {
  test(`${name}: 500, no open(), counted as rejected`, async (t) => {
    let opened = 0;
    const echo = await startEcho(t, {
      upgrade: upgrade as never,
      open: () => {
        opened++;
      },
    });
    const r = await statusOf(echo.port, request(echo.port, GOOD));
    assert.equal(r.status, 500);
    assert.equal(opened, 0);
    assert.equal(echo.server.stats().websocket.rejected, 1);
  });
}

test('async upgrade hook slower than upgradeTimeout: 503, no open(), and the server goes on', async (t) => {
  let opened = 0;
  const echo = await startEcho(t, {
    upgradeTimeout: 100,
    upgrade: (req) => (req.path === '/slow' ? new Promise(() => {}) : { data: 1 }),
    open: () => {
      opened++;
    },
  });
  const r = await statusOf(echo.port, request(echo.port, GOOD, 'GET /slow HTTP/1.1'));
  assert.equal(r.status, 503);
  assert.equal(opened, 0);
  const ok = await statusOf(echo.port, request(echo.port, GOOD));
  assert.equal(ok.status, 101);
  assert.equal(echo.server.stats().websocket.rejected, 1);
});

test('frames sent in the same write as the handshake request are processed after the 101', async (t) => {
  const echo = await startEcho(t);
  const head = Buffer.concat([cf({ opcode: OP_TEXT, payload: 'early' }), cf({ opcode: 0x2, payload: 'bird' })]);
  const client = await echo.connect({ head });
  await client.waitFrames(2);
  assertFrames(client, [
    { opcode: OP_TEXT, payload: 'early' },
    { opcode: 0x2, payload: 'bird' },
  ]);
});

test('frames that arrive while an async upgrade hook decides are kept and echoed after open()', async (t) => {
  let entered: () => void = () => {};
  const hookEntered = new Promise<void>((r) => {
    entered = r;
  });
  let release: () => void = () => {};
  const hookReleased = new Promise<void>((r) => {
    release = r;
  });
  t.after(() => release());
  const echo = await startEcho(t, {
    async upgrade() {
      entered();
      await hookReleased;
      return { data: 'x' };
    },
  });
  const sock = net.connect(echo.port, '127.0.0.1');
  t.after(() => sock.destroy());
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  sock.write(request(echo.port, GOOD));
  await within(hookEntered, 3000, 'the hook to be entered');
  await new Promise((r) => sock.write(cf({ opcode: OP_TEXT, payload: 'while deciding' }), r));
  // The server has read the frame by the end of a round trip on another connection: the hook decides after.
  await ioRoundTrip();
  release();
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && !Buffer.concat(got).includes('while deciding')) await delay(10);
  const all = Buffer.concat(got);
  const end = all.indexOf('\r\n\r\n');
  assert.equal(parseResponseHead(all.subarray(0, end + 4).toString('latin1')).status, 101);
  const frames = decodeFrames(all.subarray(end + 4));
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.payload.toString()]),
    [[OP_TEXT, 'while deciding']],
  );
});

test('handshake request written one byte at a time', async (t) => {
  const { port } = await startEcho(t);
  const req = handshakeRequest(port, { key: SAMPLE_KEY });
  const r = await requestHead(
    port,
    [...Buffer.from(req)].map((b) => Buffer.from([b])),
    { gapMs: 0 },
  );
  assert.equal(r.response.status, 101);
  assert.match(r.text, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
});

test('serve() without websocket handlers does not answer 101', {
  skip: echoViaBridge() && 'about serve() itself',
}, async (t) => {
  const server = await serve({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close({ deadline: 200 }));
  const r = await requestHead(server.port, request(server.port, GOOD));
  assert.notEqual(r.response.status, 101);
});
