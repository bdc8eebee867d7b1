/**
 * Builds the seed corpus in test/fuzz/corpus/ from what the other suites already send: the HTTP and WebSocket probe
 * scripts (test/conformance/{http,ws}-probes/*.py, read by extract-probes.py without a network), the request
 * fixtures (test/fixtures/http1/requests.ts) and the UTF-8 vectors (test/fixtures/ws/utf8-vectors.ts), plus a few
 * inputs written here for what those do not hold (handshake responses, extension headers).
 *
 *   npm run build && node dist/test/fuzz/make-corpus.js
 *
 * The directories are rewritten from scratch; inputs larger than their target's maxLen are left out, identical
 * inputs kept once. Then the corpus is distilled, as libFuzzer's -merge=1 does: each target runs its seeds under
 * coverage, smallest first, and a seed that brings no target a new feature is removed (the probes send many
 * near-identical frames; a smaller corpus leaves more of a short run to mutation). Run it again when the probe
 * suites grow.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as requests from '../fixtures/http1/requests.js';
import { INVALID, VALID } from '../fixtures/ws/utf8-vectors.js';
import { Coverage } from './coverage.js';
import { ROOT, readInputs, runOnce, SEED_DIR, sha1 } from './engine.js';
import { TARGETS } from './targets/index.js';

const MAX: Record<string, number> = {
  http1: 4096,
  'http1-chunked': 8192,
  utf8: 512,
  'ws-server': 4096,
  'ws-server-deflate': 4096,
  'ws-client': 4096,
  'ws-client-deflate': 4096,
  'ws-handshake': 4096,
  'ws-extensions': 1024,
};

const written = new Map<string, Set<string>>();
let count = 0;

function slug(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'seed'
  );
}

function add(dir: string, name: string, data: Buffer): void {
  if (data.length > (MAX[dir] ?? 4096)) return;
  let seen = written.get(dir);
  if (seen === undefined) {
    seen = new Set();
    written.set(dir, seen);
    rmSync(path.join(SEED_DIR, dir), { recursive: true, force: true });
    mkdirSync(path.join(SEED_DIR, dir), { recursive: true });
  }
  const h = sha1(data);
  if (seen.has(h)) return;
  seen.add(h);
  writeFileSync(path.join(SEED_DIR, dir, `${slug(name)}-${h.slice(0, 8)}`), data);
  count++;
}

/** Frames re-encoded unmasked (what a server sends: seeds for the client role); a cut-off frame stays cut off. */
function unmaskFrames(bytes: Buffer): Buffer {
  const out: Buffer[] = [];
  let p = 0;
  while (p + 2 <= bytes.length) {
    const b1 = bytes[p + 1]!;
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      if (p + 4 > bytes.length) break;
      len = bytes.readUInt16BE(p + 2);
      h = 4;
    } else if (len === 127) {
      if (p + 10 > bytes.length) break;
      const big = bytes.readBigUInt64BE(p + 2);
      len = big > 0xffffffn ? 0xffffff : Number(big);
      h = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(p + h, p + h + 4) : null;
    const start = p + h + (masked ? 4 : 0);
    if (start > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(start, start + len));
    if (key !== null && key.length === 4)
      for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    const header = Buffer.from(bytes.subarray(p, p + h));
    header[1] = header[1]! & 0x7f;
    out.push(header, payload);
    p = start + len;
  }
  return Buffer.concat(out);
}

// --- the probe suites --------------------------------------------------------------------------------------
const jsonl = execFileSync('python3', [path.join(ROOT, 'test/fuzz/extract-probes.py')], {
  encoding: 'utf8',
  maxBuffer: 1 << 30,
});
const KEY = /(Sec-WebSocket-Key:[ \t]*)[A-Za-z0-9+/]{22}==/gi;
for (const line of jsonl.split('\n')) {
  if (line === '') continue;
  const { kind, name, hex } = JSON.parse(line) as { kind: string; name: string; hex: string };
  const data = Buffer.from(hex, 'hex');
  if (kind === 'http') {
    add('http1', name, data);
    const text = data.toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd >= 0 && /transfer-encoding/i.test(text.slice(0, headEnd))) {
      add('http1-chunked', name, data.subarray(headEnd + 4));
    }
  } else if (kind === 'ws-handshake') {
    // Random keys make every probe's request unique; one key keeps one seed per request shape.
    const text = data.toString('latin1').replace(KEY, '$1dGhlIHNhbXBsZSBub25jZQ==');
    add('ws-handshake', name, Buffer.from(text, 'latin1'));
    for (const m of text.matchAll(/^Sec-WebSocket-Extensions:[ \t]*([^\r\n]*)/gim)) {
      add('ws-extensions', name, Buffer.from(m[1]!, 'latin1'));
    }
  } else {
    const deflate = kind === 'ws-deflate';
    add(deflate ? 'ws-server-deflate' : 'ws-server', name, data);
    add(deflate ? 'ws-client-deflate' : 'ws-client', name, unmaskFrames(data));
  }
}

// --- the fixtures ------------------------------------------------------------------------------------------
add('http1', 'fixture-GET', Buffer.from(requests.GET, 'latin1'));
for (const [group, cases] of Object.entries(requests)) {
  if (!Array.isArray(cases)) continue;
  for (const c of cases as { name: string; request: string }[]) {
    const data = Buffer.from(c.request, 'latin1');
    add('http1', `fixture-${group}-${c.name}`, data);
    const headEnd = c.request.indexOf('\r\n\r\n');
    if (headEnd >= 0 && /transfer-encoding/i.test(c.request.slice(0, headEnd))) {
      add('http1-chunked', `fixture-${group}-${c.name}`, data.subarray(headEnd + 4));
    }
  }
}
for (const [name, bytes] of [...VALID, ...INVALID]) add('utf8', name, bytes);

// --- written here ------------------------------------------------------------------------------------------
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const responseShaped = [
  ['accept', ''],
  ['accept-protocol', 'Sec-WebSocket-Protocol: chat\r\n'],
  ['accept-deflate', 'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n'],
  ['accept-unoffered-protocol', 'Sec-WebSocket-Protocol: other\r\n'],
  ['accept-two-extensions', 'Sec-WebSocket-Extensions: permessage-deflate, x-test; a="b"\r\n'],
];
for (const [name, extra] of responseShaped) {
  // A head the request parser reads, carrying the fields of a 101 answer (the response validator's input).
  add(
    'ws-handshake',
    `response-${name}`,
    Buffer.from(
      `GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n${extra}\r\n`,
      'latin1',
    ),
  );
}
for (const v of [
  'permessage-deflate',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate; client_max_window_bits=10; server_no_context_takeover',
  'permessage-deflate; server_max_window_bits="12", permessage-deflate',
  'x-webkit-deflate-frame, foo; bar=baz; q="a\\"b"',
  ', ,permessage-deflate ,',
  'a;b=;c',
]) {
  add('ws-extensions', v, Buffer.from(v, 'latin1'));
}
add('utf8', 'ascii', Buffer.from('Hello, World! '.repeat(4)));

// --- distill ------------------------------------------------------------------------------------------------
const coverage = new Coverage();
const needed = new Set<string>();
for (const target of TARGETS) {
  const seeds = target.corpus.flatMap((dir) => readInputs(path.join(SEED_DIR, dir)));
  seeds.sort((a, b) => a.data.length - b.data.length || (a.file < b.file ? -1 : 1));
  const seen = new Set<number>();
  const features: number[] = [];
  coverage.reset();
  for (const seed of seeds) {
    const err = runOnce(target, seed.data);
    if (err !== null) throw new Error(`${target.name} fails on seed ${seed.file}: ${String(err)}`);
    features.length = 0;
    coverage.collect(features);
    let fresh = false;
    for (const f of features) {
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    }
    if (fresh) needed.add(seed.file);
  }
}
coverage.stop();
let kept = 0;
for (const dir of written.keys()) {
  for (const { file } of readInputs(path.join(SEED_DIR, dir))) {
    if (needed.has(file)) kept++;
    else rmSync(file);
  }
}
const summary = [...written.keys()].map((d) => `${d} ${readInputs(path.join(SEED_DIR, d)).length}`).join(', ');
console.log(`make-corpus: ${count} inputs, ${kept} kept in ${path.relative(ROOT, SEED_DIR)}: ${summary}`);
