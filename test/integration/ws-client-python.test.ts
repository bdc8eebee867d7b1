/**
 * The WebSocket client (src/node/client.ts) against Python's `websockets` 10 server (/usr/bin/python3, Debian
 * python3-websockets), an implementation written independently of ours and of `ws`: subprotocol selection,
 * echo of text, binary, empty and 8 MiB messages, a ping from the server answered, and the close handshake in
 * both directions with codes and reasons (as the server reports them, and as our close event does).
 */

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from '../../src/node/client.js';
import type { CloseEvent } from '../../src/node/events.js';

const PYTHON = '/usr/bin/python3';
const WAIT_MS = 10_000;

/**
 * Echo server on 127.0.0.1:0. Prints `{"port": N}` once listening, then one JSON line per closed connection
 * with the close code and reason the server saw. Text commands: `close-me CODE REASON` makes the server close;
 * `ping-me` makes it ping and report `pong-ok` once the pong arrived.
 */
const SERVER = `
import asyncio, json
import websockets

async def handler(ws, path):
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith('close-me '):
                _, code, reason = msg.split(' ', 2)
                await ws.close(int(code), reason)
                break
            if msg == 'ping-me':
                waiter = await ws.ping(b'py')
                await asyncio.wait_for(waiter, 5)
                await ws.send('pong-ok')
                continue
            await ws.send(msg)
    finally:
        await ws.wait_closed()
        print(json.dumps({'path': path, 'code': ws.close_code, 'reason': ws.close_reason}), flush=True)

async def main():
    server = await websockets.serve(handler, '127.0.0.1', 0, subprotocols=['chat', 'superchat'], max_size=None)
    print(json.dumps({'port': server.sockets[0].getsockname()[1]}), flush=True)
    await asyncio.Future()

asyncio.run(main())
`;

interface ServerClose {
  path: string;
  code: number;
  reason: string;
}

/** Rejects if `p` does not settle within `ms`. */
function bounded<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

let child: ChildProcessWithoutNullStreams | undefined;
let baseUrl = '';
let stderr = '';
/** Close reports from the server, by request path (each test uses its own path). */
const closes = new Map<string, ServerClose>();
const closeWaiters = new Map<string, (c: ServerClose) => void>();

function serverClose(path: string): Promise<ServerClose> {
  const seen = closes.get(path);
  if (seen) return Promise.resolve(seen);
  return bounded(new Promise<ServerClose>((resolve) => closeWaiters.set(path, resolve)), `server close of ${path}`);
}

before(async () => {
  const proc = spawn(PYTHON, ['-c', SERVER], { stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const port = await bounded(
    new Promise<number>((resolve, reject) => {
      let out = '';
      proc.on('error', reject);
      proc.on('exit', (code) => reject(new Error(`python server exited with ${code}: ${stderr}`)));
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        let nl = out.indexOf('\n');
        while (nl >= 0) {
          const line = JSON.parse(out.slice(0, nl)) as { port?: number } & ServerClose;
          out = out.slice(nl + 1);
          nl = out.indexOf('\n');
          if (line.port !== undefined) resolve(line.port);
          else {
            closes.set(line.path, line);
            closeWaiters.get(line.path)?.(line);
          }
        }
      });
    }),
    'python server port',
  );
  baseUrl = `ws://127.0.0.1:${port}`;
});

after(() => {
  child?.kill('SIGKILL');
});

/** Opens a client and waits for `open`; gives a bounded wait on the next message and on `close`. */
async function connect(path: string, protocols?: string[]) {
  const ws = new WebSocket(`${baseUrl}${path}`, protocols);
  ws.binaryType = 'nodebuffer';
  const queue: MessageEvent[] = [];
  const waiting: ((e: MessageEvent) => void)[] = [];
  const log: string[] = [];
  ws.onmessage = (e) => {
    const w = waiting.shift();
    if (w) w(e);
    else queue.push(e);
  };
  ws.onerror = () => log.push('error');
  const closed = new Promise<CloseEvent>((resolve) => {
    ws.onclose = (e) => resolve(e);
  });
  await bounded(
    new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.addEventListener('close', () => reject(new Error(`closed before open: ${stderr}`)));
    }),
    'open',
  );
  return {
    ws,
    log,
    closed: () => bounded(closed, 'close'),
    message: (): Promise<MessageEvent> => {
      const e = queue.shift();
      if (e) return Promise.resolve(e);
      return bounded(new Promise<MessageEvent>((resolve) => waiting.push(resolve)), 'message');
    },
  };
}

describe('Python websockets echo server', () => {
  test('subprotocol: the server selects the one it supports from our offer; none without an offer', async () => {
    const c = await connect('/proto', ['x-unknown', 'superchat']);
    assert.equal(c.ws.protocol, 'superchat');
    c.ws.close(1000);
    await c.closed();
    const d = await connect('/noproto');
    assert.equal(d.ws.protocol, '');
    d.ws.close(1000);
    await d.closed();
  });

  test('text, binary and empty messages echo back unchanged', async () => {
    const c = await connect('/echo');
    c.ws.send('hello, python ✓ 𝄞');
    assert.equal((await c.message()).data, 'hello, python ✓ 𝄞');
    c.ws.send(new Uint8Array([0, 255, 128, 7]));
    assert.deepEqual((await c.message()).data, Buffer.from([0, 255, 128, 7]));
    c.ws.send('');
    assert.equal((await c.message()).data, '');
    c.ws.send(new Uint8Array(0));
    assert.deepEqual((await c.message()).data, Buffer.alloc(0));
    c.ws.close(1000, 'done');
    const e = await c.closed();
    assert.equal(e.code, 1000);
    assert.equal(e.wasClean, true);
  });

  test('8 MiB binary and text messages echo back intact', async () => {
    const c = await connect('/large');
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    c.ws.send(big);
    const back = (await c.message()).data as Buffer;
    assert.equal(back.length, big.length);
    assert.ok(back.equals(big), 'binary echoed intact');
    const text = 'ü0123456789'.repeat(400_000);
    c.ws.send(text);
    const backText = (await c.message()).data as string;
    assert.ok(backText === text, 'text echoed intact');
    c.ws.close(1000);
    await c.closed();
  });

  test('a ping from the server is answered with a pong', async () => {
    const c = await connect('/ping');
    c.ws.send('ping-me');
    assert.equal((await c.message()).data, 'pong-ok');
    c.ws.close(1000);
    await c.closed();
  });

  test('client closes with code and reason: the server sees them; clean close event', async () => {
    const c = await connect('/client-close');
    c.ws.close(4321, 'client says bye ✓');
    const e = await c.closed();
    assert.equal(e.code, 4321);
    assert.equal(e.reason, 'client says bye ✓');
    assert.equal(e.wasClean, true);
    assert.deepEqual(c.log, []);
    const s = await serverClose('/client-close');
    assert.equal(s.code, 4321);
    assert.equal(s.reason, 'client says bye ✓');
  });

  test('client closes without a code: both sides see 1005', async () => {
    const c = await connect('/client-close-empty');
    c.ws.close();
    const e = await c.closed();
    assert.equal(e.code, 1005);
    assert.equal(e.wasClean, true);
    assert.equal((await serverClose('/client-close-empty')).code, 1005);
  });

  test('server closes with code and reason: the close event carries them, clean', async () => {
    const c = await connect('/server-close');
    c.ws.send('close-me 4100 server says bye');
    const e = await c.closed();
    assert.equal(e.code, 4100);
    assert.equal(e.reason, 'server says bye');
    assert.equal(e.wasClean, true);
    assert.deepEqual(c.log, []);
    assert.equal((await serverClose('/server-close')).code, 4100);
  });
});
