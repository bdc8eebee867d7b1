/**
 * Interop of our WebSocket server with real clients over loopback: the `ws` package (Node) and Python
 * `websockets` (Debian python3-websockets, an inline asyncio script). Text, binary, empty and 16 MiB messages,
 * fragmented messages, ping/pong both ways, server- and client-initiated close with code and reason (both sides
 * see them, wasClean), an abrupt client disconnect (1006, not clean), and `server.close()` (clients get 1001).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import WebSocket from 'ws';
import { type InteropServer, startInterop } from '../fixtures/ws/interop-server.js';
import { run, startServer } from '../helpers/net.js';

const WAIT = 5000;
const MiB = 1024 * 1024;

function bounded<T>(p: Promise<T>, what: string, ms = WAIT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ── ws (Node) ──────────────────────────────────────────────────────────────────────────────────────────────

/** A `ws` client that queues what it receives, so that tests can await the next message or the close. */
class WsClient {
  readonly ws: WebSocket;
  readonly messages: { data: Buffer; isBinary: boolean }[] = [];
  readonly pongs: string[] = [];
  readonly pings: string[] = [];
  closed: { code: number; reason: string } | null = null;
  #wake: (() => void) | null = null;

  constructor(url: string) {
    this.ws = new WebSocket(url, { maxPayload: 64 * MiB });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.messages.push({ data, isBinary });
      this.#wake?.();
    });
    this.ws.on('pong', (d: Buffer) => {
      this.pongs.push(d.toString());
      this.#wake?.();
    });
    this.ws.on('ping', (d: Buffer) => {
      this.pings.push(d.toString());
      this.#wake?.();
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake?.();
    });
    this.ws.on('error', () => {});
  }

  open(): Promise<void> {
    return bounded(
      new Promise((resolve, reject) => {
        this.ws.once('open', () => resolve());
        this.ws.once('error', reject);
      }),
      'ws open',
    );
  }

  async until(cond: () => boolean, what: string, ms = WAIT): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out: ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  async message(n: number, ms = WAIT): Promise<{ data: Buffer; isBinary: boolean }> {
    await this.until(() => this.messages.length > n, `message #${n}`, ms);
    return this.messages[n] as { data: Buffer; isBinary: boolean };
  }

  async closeEvent(): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== null, 'close event');
    return this.closed as { code: number; reason: string };
  }
}

async function wsClient(t: { after(fn: () => void): void }, server: InteropServer): Promise<WsClient> {
  const c = new WsClient(`ws://127.0.0.1:${server.port}/interop`);
  t.after(() => c.ws.terminate());
  await c.open();
  return c;
}

test('ws: no extension negotiated although permessage-deflate was offered', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  assert.equal(c.ws.extensions, '');
  assert.equal(c.ws.protocol, '');
});

test('ws: text, binary, empty text, empty binary are echoed with their type', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.send('héllo 😀');
  c.ws.send(Buffer.from([0, 1, 2, 255]));
  c.ws.send('');
  c.ws.send(Buffer.alloc(0));
  const got = [await c.message(0), await c.message(1), await c.message(2), await c.message(3)];
  assert.deepEqual(
    got.map((m) => [m.isBinary, m.data.toString('hex')]),
    [
      [false, Buffer.from('héllo 😀').toString('hex')],
      [true, '000102ff'],
      [false, ''],
      [true, ''],
    ],
  );
});

test('ws: 16 MiB text and binary messages are echoed intact', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  const bin = Buffer.alloc(16 * MiB);
  for (let i = 0; i < bin.length; i += 4096) bin.writeUInt32BE(i, i);
  const text = 'κόσμε 😀 '.repeat(Math.ceil((16 * MiB) / 19)).slice(0, 8 * MiB);
  c.ws.send(bin);
  c.ws.send(text);
  const a = await c.message(0, 30_000);
  const b = await c.message(1, 30_000);
  assert.equal(a.isBinary, true);
  assert.equal(a.data.length, bin.length);
  assert.ok(a.data.equals(bin));
  assert.equal(b.isBinary, false);
  assert.equal(b.data.toString(), text);
});

test('ws: a message sent in fragments ({ fin: false }) is echoed as one message', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.send('frag1-', { fin: false });
  c.ws.send('frag2-', { fin: false });
  c.ws.send('frag3', { fin: true });
  c.ws.send(Buffer.from([1, 2]), { fin: false, binary: true });
  c.ws.send(Buffer.from([3]), { fin: true, binary: true });
  const a = await c.message(0);
  const b = await c.message(1);
  assert.deepEqual([a.isBinary, a.data.toString()], [false, 'frag1-frag2-frag3']);
  assert.deepEqual([b.isBinary, b.data.toString('hex')], [true, '010203']);
});

test('ws: ping from the client gets its pong; a server ping gets the client pong', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.ping('client ping');
  await c.until(() => c.pongs.length === 1, 'pong');
  assert.deepEqual(c.pongs, ['client ping']);
  assert.deepEqual(server.pings, ['client ping']);
  c.ws.send('cmd:ping:server ping');
  await c.until(() => c.pings.length === 1, 'server ping');
  assert.deepEqual(c.pings, ['server ping']);
  await bounded(
    (async () => {
      while (server.pongs.length === 0) await new Promise((r) => setTimeout(r, 5));
    })(),
    'server pong handler',
  );
  assert.deepEqual(server.pongs, ['server ping']);
});

test('ws: server-initiated close with code and reason; both sides see it, clean', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.send('cmd:close:4001:server says bye');
  assert.deepEqual(await c.closeEvent(), { code: 4001, reason: 'server says bye' });
  const [s] = await server.waitCloses(1);
  // The client echoed 4001 (without a reason): that is the close the server received.
  assert.equal(s?.code, 4001);
  assert.equal(s?.wasClean, true);
});

test('ws: client-initiated close with code and reason; the server handler gets them, clean', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.close(4002, 'client says bye');
  const ev = await c.closeEvent();
  assert.equal(ev.code, 4002, 'the server echoes the code');
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 4002, reason: 'client says bye', wasClean: true });
});

test('ws: client close without a code: the server sees 1005, clean', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.close();
  assert.equal((await c.closeEvent()).code, 1005);
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 1005, reason: '', wasClean: true });
});

test('ws: abrupt client disconnect (terminate): the server handler gets 1006, not clean', async (t) => {
  const server = await startInterop(t);
  const c = await wsClient(t, server);
  c.ws.send('x');
  await c.message(0);
  c.ws.terminate();
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 1006, reason: '', wasClean: false });
});

test('ws: remoteAddress/remotePort in close() after an abrupt disconnect, never read before', async (t) => {
  const seen: string[] = [];
  let closed: () => void = () => {};
  const done = new Promise<void>((r) => {
    closed = r;
  });
  const server = await startServer(t, {
    websocket: {
      open: () => {
        seen.push('open');
      },
      message: () => {
        seen.push('message');
      },
      close: (ws) => {
        seen.push(`close ${ws.remoteAddress}:${ws.remotePort}`);
        closed();
      },
    },
  });
  const c = new WsClient(`ws://127.0.0.1:${server.port}/`);
  t.after(() => c.ws.terminate());
  await c.open();
  const local = (c.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
  c.ws.send('x');
  const deadline = Date.now() + WAIT;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  c.ws.terminate();
  await bounded(done, 'close handler');
  const peer = `127.0.0.1:${local}`;
  assert.deepEqual(seen, ['open', 'message', `close ${peer}`]);
});

test('ws: server.close() closes open WebSockets with 1001', async (t) => {
  const server = await startInterop(t);
  const a = await wsClient(t, server);
  const b = await wsClient(t, server);
  a.ws.send('cmd:shutdown');
  const [ea, eb] = await Promise.all([a.closeEvent(), b.closeEvent()]);
  assert.equal(ea.code, 1001);
  assert.equal(eb.code, 1001);
  assert.equal(ea.reason, 'Server shutting down');
  const result = await bounded(server.shutdown() as Promise<unknown>, 'server.close()');
  assert.deepEqual(result, { closed: 2, terminated: 0 });
  const closes = await server.waitCloses(2);
  assert.deepEqual(
    closes.map((c) => [c.code, c.wasClean]),
    [
      [1001, true],
      [1001, true],
    ],
  );
});

// ── Python websockets ──────────────────────────────────────────────────────────────────────────────────────

const PYTHON = '/usr/bin/python3';

/** Each scenario prints one JSON line; the server side is the interop server. */
const PY_SCRIPT = String.raw`
import asyncio, hashlib, json, sys
import websockets

def digest(b):
    return hashlib.sha256(b).hexdigest()

async def main(uri, scenario):
    out = {}
    async with websockets.connect(uri, max_size=None, open_timeout=5, close_timeout=5) as ws:
        out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        if scenario == "echo":
            await ws.send("héllo 😀")
            out["text"] = await ws.recv()
            await ws.send(b"\x00\x01\xff")
            r = await ws.recv()
            out["binary"] = [type(r).__name__, r.hex()]
            await ws.send("")
            r = await ws.recv()
            out["empty_text"] = [type(r).__name__, r]
            await ws.send(b"")
            r = await ws.recv()
            out["empty_binary"] = [type(r).__name__, r.hex()]
            big = bytes(i & 0xff for i in range(256)) * (16 * 1024 * 1024 // 256)
            await ws.send(big)
            r = await ws.recv()
            out["big_binary"] = [type(r).__name__, len(r), digest(r) == digest(big)]
            bigtext = "κόσμε😀" * (16 * 1024 * 1024 // 14)
            await ws.send(bigtext)
            r = await ws.recv()
            out["big_text"] = [type(r).__name__, len(r.encode()), r == bigtext]
            await ws.send(iter(["frag1-", "frag2-", "frag3"]))
            out["fragmented_text"] = await ws.recv()
            await ws.send(iter([b"\x01", b"\x02\x03"]))
            out["fragmented_binary"] = (await ws.recv()).hex()
            waiter = await ws.ping(b"py ping")
            await asyncio.wait_for(waiter, 5)
            out["pong"] = True
            await ws.close(1000, "done")
        elif scenario == "server_close":
            await ws.send("cmd:close:4001:server says bye")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                pass
        elif scenario == "client_close":
            await ws.close(4003, "python says bye")
        elif scenario == "abort":
            await ws.send("x")
            await ws.recv()
            ws.transport.abort()
        elif scenario == "shutdown":
            await ws.send("cmd:shutdown")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                pass
        await asyncio.wait_for(ws.wait_closed(), 5)
        out["close_code"] = ws.close_code
        out["close_reason"] = ws.close_reason
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], sys.argv[2]))
`;

async function python(server: InteropServer, scenario: string): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, ['-c', PY_SCRIPT, `ws://127.0.0.1:${server.port}/py`, scenario], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, `python exited with ${r.code}: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  // stdout is collected as latin1: decode the UTF-8 bytes again.
  return JSON.parse(Buffer.from(line, 'latin1').toString('utf8')) as Record<string, unknown>;
}

const hasPython = existsSync(PYTHON);

test('python websockets: text, binary, empty, 16 MiB, fragmented messages and ping', {
  skip: !hasPython && 'no /usr/bin/python3',
}, async (t) => {
  const server = await startInterop(t);
  const out = await python(server, 'echo');
  assert.deepEqual(out, {
    extensions: null,
    text: 'héllo 😀',
    binary: ['bytes', '0001ff'],
    empty_text: ['str', ''],
    empty_binary: ['bytes', ''],
    big_binary: ['bytes', 16 * MiB, true],
    big_text: ['str', 14 * Math.floor((16 * MiB) / 14), true],
    fragmented_text: 'frag1-frag2-frag3',
    fragmented_binary: '010203',
    pong: true,
    close_code: 1000,
    close_reason: '',
  });
  assert.deepEqual(server.pings, ['py ping']);
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 1000, reason: 'done', wasClean: true });
});

test('python websockets: server-initiated close with code and reason', {
  skip: !hasPython && 'no /usr/bin/python3',
}, async (t) => {
  const server = await startInterop(t);
  const out = await python(server, 'server_close');
  assert.equal(out.close_code, 4001);
  assert.equal(out.close_reason, 'server says bye');
  const [s] = await server.waitCloses(1);
  assert.equal(s?.code, 4001);
  assert.equal(s?.wasClean, true);
});

test('python websockets: client-initiated close with code and reason', {
  skip: !hasPython && 'no /usr/bin/python3',
}, async (t) => {
  const server = await startInterop(t);
  const out = await python(server, 'client_close');
  assert.equal(out.close_code, 4003);
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 4003, reason: 'python says bye', wasClean: true });
});

test('python websockets: abrupt disconnect gives 1006 on the server, not clean', {
  skip: !hasPython && 'no /usr/bin/python3',
}, async (t) => {
  const server = await startInterop(t);
  await python(server, 'abort');
  const [s] = await server.waitCloses(1);
  assert.deepEqual(s, { code: 1006, reason: '', wasClean: false });
});

test('python websockets: server.close() gives the client 1001', {
  skip: !hasPython && 'no /usr/bin/python3',
}, async (t) => {
  const server = await startInterop(t);
  const out = await python(server, 'shutdown');
  assert.equal(out.close_code, 1001);
  assert.equal(out.close_reason, 'Server shutting down');
  await bounded(server.shutdown() as Promise<unknown>, 'server.close()');
  const [s] = await server.waitCloses(1);
  // Python echoes the code and reason of our close frame.
  assert.equal(s?.code, 1001);
  assert.equal(s?.wasClean, true);
});
