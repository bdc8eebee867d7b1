/**
 * The `sockeye` command as a tool people script (bin/sockeye.js in child processes): `--version` from
 * package.json, `help [command]` and `--help` on each command showing that command's own flags; usage errors
 * are one sentence naming the flag, on stderr, with exit code 2 and no stack trace; a port in use, `wss://` to a
 * cleartext server, a self-signed certificate and a refused handshake are explained in one sentence; `connect
 * --ca FILE` and `-k` reach a server with a self-signed certificate (the `ws` package over node:https);
 * `connect --deflate` offers permessage-deflate.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { main } from '../../src/cli/main.js';
import { makeCertificate } from '../helpers/certificate.js';
import { BIN } from '../helpers/echo-process.js';
import { run, startServer } from '../helpers/net.js';

const sockeye = (args: string[], input = '') => run(process.execPath, [BIN, ...args], { input });

/** `main(args)` in this process (what bin/sockeye.js runs), its help and errors gathered: for the long tables. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = { code: 0, stdout: '', stderr: '' };
  r.code = await main(args, {
    out: { write: (s: string) => (r.stdout += s) },
    err: { write: (s: string) => (r.stderr += s) },
  });
  return r;
}

describe('sockeye --version and help', () => {
  test('--version prints the version of package.json', async () => {
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(BIN), '../package.json'), 'utf8'));
    const r = await sockeye(['--version']);
    assert.equal(r.stdout, `${pkg.version}\n`);
    assert.equal(r.code, 0);
  });

  test('--help lists every command; no command at all is the same text on stderr with exit code 2', async () => {
    const r = await sockeye(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['echo', 'pubsub', 'demo', 'connect', 'help']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
    const none = await sockeye([]);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, r.stdout);
  });

  test('help COMMAND is COMMAND --help, and shows only that command’s flags', async () => {
    const flags: Record<string, { has: string[]; not: string[] }> = {
      echo: { has: ['--port', '--host', '--deflate', '--max-backpressure'], not: ['--protocol', '--redis'] },
      pubsub: { has: ['--port', '--host', '--deflate', '--redis'], not: ['--max-backpressure', '--header'] },
      demo: { has: ['--port', '--host', '--redis'], not: ['--deflate', '--protocol'] },
      connect: { has: ['-p, --protocol', '-H, --header', '--deflate'], not: ['--port', '--host'] },
    };
    for (const [name, { has, not }] of Object.entries(flags)) {
      const [a, b] = await Promise.all([inProcess(['help', name]), inProcess([name, '--help'])]);
      assert.equal(a.code, 0);
      assert.equal(b.code, 0);
      assert.equal(a.stdout, b.stdout);
      assert.equal((await inProcess(['--help', name])).stdout, a.stdout);
      assert.match(a.stdout, new RegExp(`^Usage: sockeye ${name}`));
      for (const f of [...has, '-h, --help']) assert.ok(a.stdout.includes(`  ${f}`), `${name} --help shows ${f}`);
      for (const f of not) assert.ok(!a.stdout.includes(f), `${name} --help does not show ${f}`);
    }
  });
});

describe('usage errors: one sentence on stderr, exit code 2', () => {
  const cases: [string[], string][] = [
    [['echo', '--port', 'abc'], "--port must be a number from 0 to 65535, got 'abc'"],
    [['echo', '--port', '70000'], "--port must be a number from 0 to 65535, got '70000'"],
    [['demo', '--port', '-1'], "--port must be a number from 0 to 65535, got '-1'"],
    [['pubsub', '--port=1e3'], "--port must be a number from 0 to 65535, got '1e3'"],
    [['echo', '--port'], '--port needs a value (see sockeye echo --help)'],
    [['echo', '--bogus'], "unknown option --bogus for 'echo' (see sockeye echo --help)"],
    [['echo', '-x'], "unknown option -x for 'echo' (see sockeye echo --help)"],
    [['echo', '--deflate=yes'], "--deflate takes no value, got '--deflate=yes' (see sockeye echo --help)"],
    [
      ['connect', '--port', '3000', 'ws://127.0.0.1:1/'],
      "--port does not apply to 'connect': it is an option of echo, pubsub, demo (see sockeye connect --help)",
    ],
    [['demo', '-p', 'chat'], "-p does not apply to 'demo': it is an option of connect (see sockeye demo --help)"],
    [['echo', 'extra'], "unexpected argument 'extra' for 'echo' (see sockeye echo --help)"],
    [['ehco'], "unknown command 'ehco'; did you mean 'echo'? (see sockeye --help)"],
    [['help', 'nope'], "unknown command 'nope' (see sockeye --help)"],
    [['--bogus'], 'unknown option --bogus (see sockeye --help)'],
    [['--port', '0'], 'no command given; --port is an option of echo, pubsub, demo (see sockeye --help)'],
    [['echo', '--max-backpressure', '10k'], "--max-backpressure must be a positive number of bytes, got '10k'"],
    [
      ['pubsub', '--redis', 'localhost:6379'],
      "--redis must be a redis://, rediss:// or redis+cluster://host:port,host:port URL, got 'localhost:6379'",
    ],
    [['echo', '--host', ''], "--host must be an address or a host name, got ''"],
    [
      ['connect'],
      'sockeye connect needs a URL, e.g. sockeye connect ws://127.0.0.1:9001/ (see sockeye connect --help)',
    ],
    [['connect', '--ca', '/nonexistent.pem', 'wss://127.0.0.1:1/'], "--ca: cannot read '/nonexistent.pem' (ENOENT)"],
    [['connect', 'nope'], "'nope' is not a URL; try ws://127.0.0.1:9001/"],
    [['connect', 'ws://127.0.0.1:1/#x'], "a WebSocket URL has no #fragment, got 'ws://127.0.0.1:1/#x'"],
    [['connect', '-H', 'novalue', 'ws://127.0.0.1:1/'], `-H must be "Name: value", got 'novalue'`],
    [
      ['connect', '-H', 'authorization: Bearer …', 'ws://127.0.0.1:1/'],
      "-H 'authorization': the value has '…' (U+2026) at position 8, which a header value cannot hold (RFC 9110 §5.5)",
    ],
    [
      ['connect', '-p', 'a b', 'ws://127.0.0.1:1/'],
      "-p must be a subprotocol name (a token, RFC 6455 §4.1), got 'a b'",
    ],
  ];
  // The issue's own examples as users run them (a child process: the bin, its exit code, nothing else printed).
  const asUsersRunIt = new Set(['echo --port abc', 'echo --bogus', 'connect --port 3000 ws://127.0.0.1:1/']);
  for (const [args, message] of cases) {
    test(`sockeye ${args.join(' ')}`, async () => {
      const r = asUsersRunIt.has(args.join(' ')) ? await sockeye(args) : await inProcess(args);
      assert.equal(r.stderr, `${message}\n`);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2);
    });
  }
});

describe('errors a user can fix from the command line', () => {
  test('a port in use: "port N is in use; try --port 0", exit code 1 (echo, pubsub, demo)', async (t) => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    t.after(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;
    for (const command of ['echo', 'pubsub', 'demo']) {
      const r = await sockeye([command, '--port', String(port)]);
      assert.equal(r.stderr, `port ${port} is in use; try --port 0\n`, command);
      assert.equal(r.code, 1, command);
    }
  });

  test('wss:// to a cleartext server: "did you mean ws://?", exit code 3', async (t) => {
    const server = await startServer(t, { request: (_req, res) => res.send('plain'), websocket: {} });
    const r = await sockeye(['connect', `wss://127.0.0.1:${server.port}/`]);
    assert.equal(r.stderr, 'TLS handshake failed: the server does not speak TLS; did you mean ws://?\n');
    assert.equal(r.code, 3);
  });

  test('a refused handshake: status, reason phrase and the first line of the body, exit code 3', async (t) => {
    let auth: string | undefined;
    const server = await startServer(t, {
      request: (_req, res) => res.send('plain'),
      websocket: {
        upgrade(req, ctx) {
          auth = req.header('authorization');
          return ctx.reject(401, 'log in first\nthen try again');
        },
      },
    });
    const r = await sockeye(['connect', '-H', 'Authorization: Bearer x', `ws://127.0.0.1:${server.port}/`]);
    assert.equal(r.stderr, 'server refused the WebSocket: 401 Unauthorized — log in first\n');
    assert.equal(r.code, 3);
    assert.equal(auth, 'Bearer x', 'the -H header was sent');
  });

  test('connect --deflate offers permessage-deflate; the server agrees and the session says so', async (t) => {
    let offered: string | undefined;
    const server = await startServer(t, {
      request: (_req, res) => res.send('plain'),
      websocket: {
        perMessageDeflate: true,
        upgrade(req) {
          offered = req.header('sec-websocket-extensions');
          return {};
        },
        message(ws, m, isBinary) {
          ws.send(m, isBinary);
        },
      },
    });
    const r = await sockeye(['connect', '--deflate', `ws://127.0.0.1:${server.port}/`], 'squeeze me\n');
    assert.match(offered ?? '', /^permessage-deflate/);
    assert.match(r.stdout, /^\* \S+ connected to ws:\/\/127\.0\.0\.1:\d+\/ \(extensions permessage-deflate[^)]*\)$/m);
    assert.match(r.stdout, /^< \S+ squeeze me$/m);
    assert.equal(r.code, 0);
  });
});

test('wss:// with a self-signed certificate: explained; --ca FILE and -k connect', async (t) => {
  const pair = makeCertificate();
  if (pair === null) {
    t.skip('openssl is not installed');
    return;
  }
  const server = https.createServer({ key: pair.key, cert: pair.cert });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.close();
  });
  const url = `wss://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  const dir = mkdtempSync(path.join(tmpdir(), 'sockeye-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = path.join(dir, 'cert.pem');
  writeFileSync(ca, pair.cert);

  const untrusted = await sockeye(['connect', url]);
  assert.equal(
    untrusted.stderr,
    "TLS handshake failed: the server's certificate is self-signed; pass its certificate with --ca FILE, or -k to skip the check\n",
  );
  assert.equal(untrusted.code, 3);
  for (const flags of [['--ca', ca], ['-k']]) {
    const r = await sockeye(['connect', ...flags, url], 'over tls\n');
    assert.match(r.stdout, /^< \S+ over tls$/m, flags.join(' '));
    assert.equal(r.code, 0, flags.join(' '));
  }
});
