/**
 * The package as a user gets it. A copy of the working tree without build output (what a fresh clone has) is packed
 * with `npm pack` (so `prepack` must build), the tarball installed into a scratch project with TypeScript and
 * @types/node from the registry (then ioredis, `sockeye/redis`'s optional peer), and then: the tarball's files (JS,
 * .d.ts, source maps with their sources, LICENSE, README, docs, bin), a strict type check with `skipLibCheck: false`
 * of a program that uses the main API (and cannot see internals) and of one that uses `sockeye/redis`, the first run
 * against a real server (a request and a WebSocket echo, publish, stats), `require()` of both entry points,
 * `sockeye` without ioredis, and the `sockeye` command. Every child process has a deadline: without the registry the
 * test fails with a message that says so instead of hanging.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const rootPackage = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};
/** The scratch project gets the TypeScript and @types/node this repository builds with. */
const TYPESCRIPT = `typescript@${rootPackage.devDependencies.typescript}`;
const TYPES_NODE = `@types/node@${rootPackage.devDependencies['@types/node']}`;
/** `sockeye/redis`'s optional peer dependency, installed in a second step (after checking `sockeye` without it). */
const IOREDIS = `ioredis@${rootPackage.devDependencies.ioredis}`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a command with a deadline; on the deadline its whole process group is killed (npm starts children of its
 * own: the prepack build, install scripts).
 */
function exec(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    // Not the variables of an `npm test` around us: a nested npm would read them as its own script's.
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('npm_package_') && !k.startsWith('npm_lifecycle_') && k !== 'npm_command') env[k] = v;
    }
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function describeFailure(what: string, r: Result, timeoutMs: number): string {
  const how = r.timedOut ? `did not finish within ${timeoutMs / 1000} s` : `exited with ${r.code}`;
  return `${what} ${how}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`;
}

/** The program a user writes: every main piece of the API, type-checked strictly, then run. */
const APP_TS = `
import {
  type CloseInfo,
  CloseEvent,
  PreparedMessage,
  ProtocolError,
  type PublishResult,
  SEND_BACKPRESSURE,
  SEND_DROPPED,
  type Server,
  type ServerStats,
  type ServerWebSocket,
  SockeyeError,
  type WebSocketOptions,
  WebSocket,
  serve,
} from 'sockeye';

interface Data {
  user: string;
}

const closes: CloseInfo[] = [];
const websocket: WebSocketOptions<Data> = {
  upgrade(req, ctx) {
    return { data: { user: req.header('x-user') ?? 'anon' }, protocol: ctx.protocols.includes('echo') ? 'echo' : undefined };
  },
  open(ws: ServerWebSocket<Data>) {
    ws.subscribe('room');
    ws.maxBackpressure = 1 << 20;
  },
  message(ws, message, isBinary) {
    const n: number = ws.send(message, isBinary);
    if (n === SEND_BACKPRESSURE || n === SEND_DROPPED) throw new Error('send did not go out at once');
  },
  close(_ws, _code, _reason, _wasClean, info) {
    closes.push(info);
  },
  perMessageDeflate: true,
};

const server: Server = await serve<Data>({
  host: '127.0.0.1',
  port: 0,
  request: async (req, res) => {
    const body = req.method === 'POST' ? await req.text() : '';
    res.json({ method: req.method, path: req.path, query: req.searchParams.get('q'), body });
  },
  websocket,
});

const response = await fetch(server.url + '/hello?q=1', { method: 'POST', body: 'ping' });
const http = (await response.json()) as { method: string; path: string; query: string | null; body: string };

const url = server.url.replace('http:', 'ws:') + '/chat';
const client = new WebSocket(url, ['echo'], { headers: { 'x-user': 'ada' }, perMessageDeflate: true });
client.binaryType = 'nodebuffer';
const messages: string[] = [];
const next = (): Promise<string> =>
  new Promise((resolve) => client.addEventListener('message', (e) => resolve(String(e.data)), { once: true }));
await new Promise<void>((resolve, reject) => {
  client.onopen = () => resolve();
  client.onerror = (e) => reject(new Error('client error: ' + String((e as { error?: unknown }).error)));
});
client.send('hello');
messages.push(await next());

const users: string[] = [];
// server.websockets holds ServerWebSocket<unknown>: Server is not generic over the data type.
for (const ws of server.websockets) users.push((ws.data as Data).user + ':' + ws.protocol + ':' + ws.readyState + ':' + ws.topics.join());
const published: PublishResult = server.publish('room', new PreparedMessage('news').data.toString());
messages.push(await next());

const closed = new Promise<CloseEvent>((resolve) => client.addEventListener('close', (e) => resolve(e)));
client.close(1000, 'bye');
const closeEvent = await closed;
while (closes.length === 0) await new Promise((r) => setTimeout(r, 10));

const stats: ServerStats = server.stats();
const result = await server.close({ deadline: 1000 });

function errorsAreTyped(e: unknown): number {
  if (e instanceof ProtocolError) return e.closeCode + e.status;
  return e instanceof SockeyeError ? e.code.length : 0;
}

// Internals are not part of the published types (each line fails to compile if they become visible).
function internalsAreHidden(s: Server, ws: ServerWebSocket<Data>): void {
  // @ts-expect-error internal
  s.connections;
  // @ts-expect-error internal
  s.parserLimits;
  // @ts-expect-error internal
  ws.transport;
  // @ts-expect-error internal
  ws.core;
  // @ts-expect-error internal
  ws.onWsMessage;
}
void internalsAreHidden;

console.log(
  JSON.stringify({
    http,
    messages,
    users,
    published,
    close: { code: closeEvent.code, reason: closeEvent.reason, wasClean: closeEvent.wasClean },
    serverClose: { code: closes[0]?.code, cause: closes[0]?.cause },
    requests: stats.http.requests,
    messagesIn: stats.websocket.messagesIn,
    deflateNegotiated: stats.websocket.deflateNegotiated,
    closeResult: result,
    errors: errorsAreTyped(new ProtocolError('ERR_X', 'x', 400, 1002)),
  }),
);
`;

const APP_TSCONFIG = {
  compilerOptions: {
    strict: true,
    skipLibCheck: false,
    noUncheckedIndexedAccess: true,
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: ['node'],
    outDir: 'out',
    rootDir: '.',
  },
  files: ['app.ts', 'redis.ts'],
};

/** `sockeye/redis`, type-checked with the rest (not run: there is no Redis here). */
const REDIS_TS = `
import { type PubSubAdapter, type Server, serve } from 'sockeye';
import { type RedisPubSubOptions, type RedisPubSubStats, redisPubSub } from 'sockeye/redis';

export async function clustered(url: string): Promise<{ server: Server; stats: RedisPubSubStats }> {
  const options: RedisPubSubOptions = { url, prefix: 'app:', lingerMs: 500, maxRetryDelayMs: 1000 };
  const adapter = redisPubSub(options);
  const seam: PubSubAdapter = adapter;
  const server = await serve({ port: 0, pubsub: seam, websocket: { open: (ws) => void ws.subscribe('news') } });
  return { server, stats: adapter.stats() };
}
`;

/** Before ioredis is installed: \`sockeye\` loads without it, \`sockeye/redis\` says what it lacks. */
const WITHOUT_IOREDIS_MJS = `
const sockeye = await import('sockeye');
let redis = 'loaded';
try {
  await import('sockeye/redis');
} catch (err) {
  redis = err.code + ' ' + (String(err.message).includes("'ioredis'") ? 'ioredis' : err.message);
}
console.log(JSON.stringify({ serve: typeof sockeye.serve, redis }));
`;

const REQUIRE_CJS = `
const sockeye = require('sockeye');
const redis = require('sockeye/redis');
console.log(JSON.stringify({
  serve: typeof sockeye.serve,
  WebSocket: typeof sockeye.WebSocket,
  Server: typeof sockeye.Server,
  redisPubSub: typeof redis.redisPubSub,
}));
`;

describe('the packed package', { timeout: 300_000 }, () => {
  let tmp = '';
  let app = '';
  let files: string[] = [];
  /** What WITHOUT_IOREDIS_MJS printed. */
  let withoutIoredis: Result | null = null;
  /** Why packing or installing failed: every test reports it (set up once, in `before`). */
  let setupError: string | null = null;

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'sockeye-package-'));
    try {
      // A fresh clone: tracked and new (not ignored) files, without dist/ or node_modules/.
      const list = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT, 20_000);
      if (list.code !== 0) throw new Error(describeFailure('git ls-files', list, 20_000));
      const clone = path.join(tmp, 'clone');
      for (const rel of list.stdout.split('\0')) {
        if (rel === '') continue;
        const to = path.join(clone, rel);
        mkdirSync(path.dirname(to), { recursive: true });
        try {
          cpSync(path.join(ROOT, rel), to);
        } catch (err) {
          // A tracked file deleted in the working tree is not part of it.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      // The build tools (prepack runs tsc); the copy has the lock file's versions already installed.
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'), 'dir');

      const packs = path.join(tmp, 'packs');
      mkdirSync(packs);
      const pack = await exec('npm', ['pack', '--pack-destination', packs], clone, 180_000);
      if (pack.code !== 0) throw new Error(describeFailure('npm pack (prepack builds the package)', pack, 180_000));
      const tarballs = readdirSync(packs).filter((f) => f.endsWith('.tgz'));
      if (tarballs.length !== 1) throw new Error(`npm pack made ${tarballs.join(', ') || 'no tarball'}`);
      const tarball = path.join(packs, tarballs[0] as string);

      const listing = await exec('tar', ['-tzf', tarball], tmp, 20_000);
      if (listing.code !== 0) throw new Error(describeFailure('tar -tzf', listing, 20_000));
      files = listing.stdout
        .split('\n')
        .filter((f) => f !== '')
        .map((f) => f.replace(/^package\//, ''));

      app = path.join(tmp, 'app');
      mkdirSync(app);
      writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(APP_TSCONFIG, null, 2));
      writeFileSync(path.join(app, 'app.ts'), APP_TS);
      writeFileSync(path.join(app, 'redis.ts'), REDIS_TS);
      writeFileSync(path.join(app, 'check.cjs'), REQUIRE_CJS);
      writeFileSync(path.join(app, 'without-ioredis.mjs'), WITHOUT_IOREDIS_MJS);
      // A cached package is used as it is; a missing one is fetched with short network deadlines.
      const installArgs = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--fetch-timeout=30000'];
      installArgs.push('--fetch-retries=1', '--fetch-retry-mintimeout=2000', '--fetch-retry-maxtimeout=5000');
      const install = async (what: string[]): Promise<void> => {
        const r = await exec('npm', [...installArgs, ...what], app, 150_000);
        if (r.code === 0) return;
        const registry = await exec('npm', ['config', 'get', 'registry'], app, 10_000);
        throw new Error(
          `${describeFailure(`npm install ${what.join(' ')}`, r, 150_000)}\n` +
            `Is the npm registry (${registry.stdout.trim() || 'unknown'}) reachable? This test installs from it.`,
        );
      };
      await install([tarball, TYPESCRIPT, TYPES_NODE]);
      withoutIoredis = await exec(process.execPath, ['without-ioredis.mjs'], app, 30_000);
      await install([IOREDIS]);
    } catch (err) {
      setupError = (err as Error).message;
    }
  });

  after(() => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  const ready = (): void => {
    if (setupError !== null) assert.fail(setupError);
  };

  test('the tarball holds the built JS, declarations, source maps, LICENSE, README, docs and bin', () => {
    ready();
    for (const f of [
      'package.json',
      'LICENSE',
      'README.md',
      'docs/api.md',
      'bin/sockeye.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/index.js.map',
      'dist/src/cli/main.js',
    ]) {
      assert.ok(files.includes(f), `${f} is missing from the tarball`);
    }
    const js = files.filter((f) => f.endsWith('.js') && f.startsWith('dist/'));
    for (const f of js) {
      assert.ok(files.includes(`${f}.map`), `${f} has no source map`);
      assert.ok(files.includes(f.replace(/\.js$/, '.d.ts')), `${f} has no declarations`);
    }
    const stray = files.filter(
      (f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('src/'),
    );
    assert.deepEqual(stray, [], 'tests, benchmarks or sources in the tarball');
  });

  test('every source map carries its sources (sourcesContent)', () => {
    ready();
    const dist = path.join(app, 'node_modules/sockeye/dist/src');
    const maps = files.filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 10, `only ${maps.length} source maps`);
    for (const f of maps) {
      const map = JSON.parse(readFileSync(path.join(dist, f.slice('dist/src/'.length)), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      assert.equal(map.sourcesContent?.length, map.sources.length, `${f}: no sourcesContent`);
      for (const content of map.sourcesContent ?? []) assert.ok(typeof content === 'string' && content.length > 0, f);
    }
  });

  test('a program using the API type-checks (strict, skipLibCheck: false) and runs against a real server', async () => {
    ready();
    const tsc = await exec(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], app, 120_000);
    assert.equal(tsc.code, 0, describeFailure('tsc on the published types', tsc, 120_000));
    const run = await exec(process.execPath, ['out/app.js'], app, 30_000);
    assert.equal(run.code, 0, describeFailure('node out/app.js', run, 30_000));
    const r = JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
    assert.deepEqual(r.http, { method: 'POST', path: '/hello', query: '1', body: 'ping' });
    assert.deepEqual(r.messages, ['hello', 'news']);
    assert.deepEqual(r.users, ['ada:echo:1:room']);
    assert.deepEqual(r.published, { sent: 1, queued: 0, dropped: 0 });
    // The client's close event tells the server's close frame: its echo carries the code, not our reason.
    assert.deepEqual(r.close, { code: 1000, reason: '', wasClean: true });
    assert.deepEqual(r.serverClose, { code: 1000, cause: 'peer-close' });
    assert.equal(r.requests, 2, 'the POST and the upgrade request');
    assert.equal(r.messagesIn, 1);
    assert.equal(r.deflateNegotiated, 1);
    assert.equal(r.closeResult.terminated, 0);
    assert.equal(r.errors, 1402);
  });

  test("require('sockeye') and require('sockeye/redis') load the ESM build (Node >= 20.19)", async () => {
    ready();
    const r = await exec(process.execPath, ['check.cjs'], app, 30_000);
    assert.equal(r.code, 0, describeFailure("require('sockeye')", r, 30_000));
    assert.deepEqual(JSON.parse(r.stdout), {
      serve: 'function',
      WebSocket: 'function',
      Server: 'function',
      redisPubSub: 'function',
    });
  });

  test("without ioredis (an optional peer dependency), 'sockeye' loads and 'sockeye/redis' names what it lacks", () => {
    ready();
    const r = withoutIoredis as Result;
    assert.equal(r.code, 0, describeFailure('node without-ioredis.mjs', r, 30_000));
    assert.deepEqual(JSON.parse(r.stdout), { serve: 'function', redis: 'ERR_MODULE_NOT_FOUND ioredis' });
  });

  test('the sockeye command runs: node_modules/.bin/sockeye and npx sockeye', async () => {
    ready();
    const bin = await exec(path.join(app, 'node_modules/.bin/sockeye'), ['--help'], app, 30_000);
    assert.equal(bin.code, 0, describeFailure('node_modules/.bin/sockeye --help', bin, 30_000));
    assert.match(bin.stdout, /Usage: sockeye/);
    const npx = await exec('npx', ['--no-install', 'sockeye', '--help'], app, 60_000);
    assert.equal(npx.code, 0, describeFailure('npx sockeye --help', npx, 60_000));
    assert.match(npx.stdout, /Usage: sockeye/);
  });
});
