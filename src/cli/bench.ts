/**
 * `sockeye bench URL`: a load generator for HTTP/1.1 (http:, https:) and WebSocket echo servers (ws:, wss:), for
 * users without wrk or a C toolchain. Runs for a duration, shows a live progress line (a TTY) or one plain line per
 * second (otherwise) on stderr, then prints a report on stdout: throughput, latency percentiles from a log-linear
 * histogram and an ASCII histogram; `--json` prints one JSON object instead.
 *
 * Exit codes: 0 no error, 1 some requests or messages failed, 2 usage error, 3 nothing succeeded at all.
 */

import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { startHttpLoad } from './bench-http.js';
import { type Load, Tally } from './bench-tally.js';
import { startWsLoad } from './bench-ws.js';

// The bench's defaults. They are not server limits (cli/ imports only the public API, not src/limits.ts); each says
// where it comes from.
/** Connections: wrk's and autocannon's defaults are 10; 50 keeps a single-core server busy on loopback. */
const DEFAULT_CONNECTIONS = 50;
/** Seconds: long enough for a JIT-warm steady state on a small server, short enough to run often. */
const DEFAULT_DURATION_S = 10;
/** Seconds a request or message may wait for its answer: the client's handshake timeout (WS_HANDSHAKE_TIMEOUT_MS). */
const DEFAULT_TIMEOUT_S = 10;
/** Bytes per WebSocket message: the shared harness's small-message workload (ws-echo-32b). */
const DEFAULT_SIZE = 32;
/** Upper bounds that keep a typo from exhausting memory or file descriptors. */
const MAX_CONNECTIONS = 10_000;
const MAX_PIPELINE = 1024;
const MAX_IN_FLIGHT = 1024;
const MAX_SIZE = 64 * 1024 * 1024;
/** Longest wait for the connections before the measured window starts anyway: the client's handshake timeout. */
const READY_WAIT_MS = 10_000;
/** Rows of the ASCII histogram, and the width of its longest bar. */
const HISTOGRAM_ROWS = 10;
const BAR_WIDTH = 40;

export const BENCH_USAGE = `Usage: sockeye bench URL [options]

Load generator. http:// and https:// URLs: keep-alive HTTP/1.1 requests; ws:// and wss:// URLs: messages
to a WebSocket echo server, each echo checked (order, type, length, content). Progress goes to stderr,
the report to stdout.

Options:
  -c, --connections <n>  Connections (default ${DEFAULT_CONNECTIONS})
  -d, --duration <s>     Seconds to measure: 10, 0.5, 10s, 2m (default ${DEFAULT_DURATION_S}); Ctrl-C ends early.
                         The clock starts once every connection has opened (or failed)
  --json                 Print one JSON object: perSecond, latency {p50,p90,p99,p999,max,mean} in ms,
                         errors, errorsByKind, requests, bytes, durationSeconds, connections...
  --timeout <s>          Seconds a request or message may wait for its answer (default ${DEFAULT_TIMEOUT_S}); past it:
                         a 'timeout' error and a new connection
  -k, --insecure         https/wss: accept any certificate
  --ca <file>            https/wss: trust this PEM certificate (as well as Node's bundled roots)
HTTP:
  --pipeline <n>         Requests written at once per connection (default 1); the next batch goes
                         when all of them are answered; latency is measured from the batch's write
  -m, --method <m>       Request method (default GET, or POST with --body)
  -b, --body <text>      Request body; @FILE reads it from a file
  -H, --header <h>       Extra request header "Name: value" (repeatable)
WebSocket:
  --in-flight <n>        Messages on the way per connection (default 1)
  --size <bytes>         Message size, k and m suffixes allowed (default ${DEFAULT_SIZE})
  --binary               Send binary messages (default: text)

Errors are counted by kind: connection failures, non-2xx statuses, refused handshakes, echo mismatches.
Exit codes: 0 no error, 1 some errors, 2 usage error, 3 nothing succeeded.
`;

/** A usage error: one sentence for stderr, exit code 2. */
class UsageError extends Error {}

/** A whole number in [min, max] from flag `name`, or `fallback` when the flag is absent. */
function intFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got '${value}'`);
  return n;
}

/** Seconds above 0, as wrk takes them: 10, 0.5, 10s, 2m; `fallback` when the flag is absent. */
function secondsFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^(\d*\.?\d+)(s|m)?$/.exec(value);
  const seconds = m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : Number.NaN;
  if (!(seconds > 0 && seconds <= 86_400))
    throw new UsageError(`${name} must be a number of seconds above 0 (or 2m), got '${value}'`);
  return seconds;
}

/** --size: bytes, or with a binary suffix (16k = 16,384; 1m = 1,048,576). */
function sizeFlag(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SIZE;
  const m = /^(\d+)([kKmM])?$/.exec(value);
  const n = m ? Number(m[1]) * (m[2] === undefined ? 1 : /k/i.test(m[2]) ? 1024 : 1024 * 1024) : Number.NaN;
  if (!(n >= 1 && n <= MAX_SIZE))
    throw new UsageError(`--size must be a number of bytes from 1 to ${MAX_SIZE} (or 16k, 64m), got '${value}'`);
  return n;
}

/** What a run was asked to do. */
export interface BenchConfig {
  url: URL;
  kind: 'http' | 'websocket';
  connections: number;
  durationSeconds: number;
  pipeline: number;
  method: string;
  body: Buffer | null;
  headers: [string, string][];
  inFlight: number;
  size: number;
  binary: boolean;
  json: boolean;
  timeoutMs: number;
  tls: tls.ConnectionOptions;
}

// RFC 9110 §5.1: field-name = token; §5.5: field values exclude CR, LF and NUL. §9.1: method = token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Reads the command line; throws UsageError with one sentence for anything wrong. */
export function parseBenchArgs(argv: string[]): BenchConfig | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    // parseArgs says e.g. "Unknown option '--bogus'. To specify a positional argument starting with a '-'...".
    const message = (err as Error).message.split('. ')[0] ?? 'invalid arguments';
    throw new UsageError(`${message} (see sockeye bench --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? 'sockeye bench needs a URL' : `one URL expected, got ${positionals.length}`,
    );
  }
  const raw = positionals[0] as string;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`'${raw}' is not a URL (e.g. http://127.0.0.1:3000/ or ws://127.0.0.1:9001/)`);
  }
  const kind =
    url.protocol === 'http:' || url.protocol === 'https:'
      ? 'http'
      : url.protocol === 'ws:' || url.protocol === 'wss:'
        ? 'websocket'
        : null;
  if (kind === null) throw new UsageError(`the URL must start with http://, https://, ws:// or wss://, got '${raw}'`);
  const httpOnly = ['pipeline', 'method', 'body', 'header'] as const;
  const wsOnly = ['in-flight', 'size', 'binary'] as const;
  for (const name of kind === 'http' ? wsOnly : httpOnly) {
    if (values[name] !== undefined)
      throw new UsageError(
        `--${name} applies to ${kind === 'http' ? 'ws:// and wss://' : 'http:// and https://'} URLs only`,
      );
  }
  const durationSeconds = secondsFlag('--duration', values.duration, DEFAULT_DURATION_S);
  let body: Buffer | null = null;
  if (values.body !== undefined) {
    if (values.body.startsWith('@')) {
      try {
        body = readFileSync(values.body.slice(1));
      } catch (err) {
        throw new UsageError(`--body: cannot read '${values.body.slice(1)}' (${(err as NodeJS.ErrnoException).code})`);
      }
    } else body = Buffer.from(values.body, 'utf8');
  }
  const method = values.method ?? (body === null ? 'GET' : 'POST');
  if (!TOKEN.test(method)) throw new UsageError(`--method must be a token such as GET or POST, got '${method}'`);
  const headers: [string, string][] = [];
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    const name = h.slice(0, colon).trim();
    const value = h.slice(colon + 1).trim();
    if (colon <= 0 || !TOKEN.test(name))
      throw new UsageError(`--header '${h}' is not a header: expected 'Name: value'`);
    if (!FIELD_VALUE.test(value)) {
      const bad = [...value].find((c) => !FIELD_VALUE.test(c)) ?? '';
      throw new UsageError(
        `--header '${name}': its value holds a character a header cannot carry (U+${bad.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')})`,
      );
    }
    headers.push([name, value]);
  }
  const tlsOptions: tls.ConnectionOptions = {};
  if (values.insecure) tlsOptions.rejectUnauthorized = false;
  if (values.ca !== undefined) {
    try {
      // Added to Node's bundled roots rather than replacing them, as NODE_EXTRA_CA_CERTS does.
      tlsOptions.ca = [...tls.rootCertificates, readFileSync(values.ca, 'utf8')];
    } catch (err) {
      throw new UsageError(`--ca: cannot read '${values.ca}' (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return {
    url,
    kind,
    connections: intFlag('--connections', values.connections, DEFAULT_CONNECTIONS, 1, MAX_CONNECTIONS),
    durationSeconds,
    pipeline: intFlag('--pipeline', values.pipeline, 1, 1, MAX_PIPELINE),
    method,
    body,
    headers,
    inFlight: intFlag('--in-flight', values['in-flight'], 1, 1, MAX_IN_FLIGHT),
    size: sizeFlag(values.size),
    binary: values.binary === true,
    json: values.json === true,
    timeoutMs: secondsFlag('--timeout', values.timeout, DEFAULT_TIMEOUT_S) * 1000,
    tls: tlsOptions,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      connections: { type: 'string', short: 'c' },
      duration: { type: 'string', short: 'd' },
      pipeline: { type: 'string' },
      method: { type: 'string', short: 'm' },
      body: { type: 'string', short: 'b' },
      header: { type: 'string', short: 'H', multiple: true },
      'in-flight': { type: 'string' },
      size: { type: 'string' },
      binary: { type: 'boolean' },
      json: { type: 'boolean' },
      insecure: { type: 'boolean', short: 'k' },
      ca: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Milliseconds with three significant decimals at most, from nanoseconds. */
function ms(ns: number): number {
  return Math.round(ns / 1e3) / 1e3;
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A byte count for people: 1.2 MB, 340 kB. */
function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** The JSON report. */
export function jsonReport(c: BenchConfig, t: Tally, seconds: number): Record<string, unknown> {
  const h = t.latency;
  return {
    url: c.url.href,
    kind: c.kind,
    connections: c.connections,
    ...(c.kind === 'http'
      ? { pipeline: c.pipeline, method: c.method }
      : { inFlight: c.inFlight, size: c.size, binary: c.binary }),
    durationSeconds: Math.round(seconds * 1000) / 1000,
    requests: t.completed,
    ok: t.ok,
    perSecond: Math.round((t.completed / seconds) * 10) / 10,
    bytes: { sent: t.bytesOut, received: t.bytesIn },
    latency: {
      p50: ms(h.percentile(50)),
      p90: ms(h.percentile(90)),
      p99: ms(h.percentile(99)),
      p999: ms(h.percentile(99.9)),
      max: ms(h.max),
      min: ms(h.count === 0 ? 0 : h.min),
      mean: ms(h.mean()),
    },
    errors: t.errorCount,
    errorsByKind: Object.fromEntries(t.errors),
    ...(c.kind === 'http' ? { statuses: Object.fromEntries(t.statuses) } : {}),
    connects: t.connects,
  };
}

/** Rows of the ASCII histogram: log-spaced latency ranges from the smallest to the largest value. */
export function asciiHistogram(t: Tally): string {
  const h = t.latency;
  if (h.count === 0) return '';
  const low = Math.max(1, h.min);
  const high = h.max + 1;
  const ratio = (high / low) ** (1 / HISTOGRAM_ROWS);
  const rows: { from: number; to: number; n: number }[] = [];
  let from = 0;
  for (let i = 1; i <= HISTOGRAM_ROWS; i++) {
    const to = i === HISTOGRAM_ROWS ? high : Math.ceil(low * ratio ** i);
    if (to <= from) continue;
    rows.push({ from, to, n: h.countBetween(from, to) });
    from = to;
  }
  const most = Math.max(...rows.map((r) => r.n));
  const label = (ns: number) => `${ms(ns).toFixed(3)}`;
  const width = Math.max(...rows.map((r) => label(r.to).length));
  return rows
    .map((r) => {
      const bar = '#'.repeat(most === 0 ? 0 : Math.round((r.n / most) * BAR_WIDTH));
      const share = ((r.n / h.count) * 100).toFixed(1).padStart(5);
      return `  ${label(Math.max(r.from, h.min)).padStart(width)} - ${label(r.to).padStart(width)} ms |${bar.padEnd(BAR_WIDTH)}| ${share} %`;
    })
    .join('\n');
}

/** The text report. */
export function textReport(c: BenchConfig, t: Tally, seconds: number): string {
  const j = jsonReport(c, t, seconds) as { latency: Record<string, number>; perSecond: number };
  const what = c.kind === 'http' ? 'requests' : 'messages';
  const setup =
    c.kind === 'http'
      ? `${c.method}, pipeline ${c.pipeline}`
      : `${c.binary ? 'binary' : 'text'} ${c.size} B, ${c.inFlight} in flight per connection`;
  const lines = [
    `sockeye bench ${c.url.href}: ${c.connections} connections, ${setup}, ${seconds.toFixed(1)} s`,
    `  ${what.padEnd(9)} ${int.format(t.completed)} (${int.format(j.perSecond)}/s), ${bytes(t.bytesIn)} received (${bytes(t.bytesIn / seconds)}/s)`,
    `  latency   p50 ${j.latency.p50} ms, p90 ${j.latency.p90} ms, p99 ${j.latency.p99} ms, p99.9 ${j.latency.p999} ms, max ${j.latency.max} ms (mean ${j.latency.mean} ms)`,
    `  errors    ${t.errorCount === 0 ? 'none' : int.format(t.errorCount)}`,
  ];
  for (const [kind, n] of [...t.errors].sort((a, b) => b[1] - a[1])) lines.push(`    ${int.format(n)} ${kind}`);
  if (c.kind === 'http' && t.statuses.size > 0)
    lines.push(`  statuses  ${[...t.statuses].map(([s, n]) => `${s}: ${int.format(n)}`).join(', ')}`);
  const hist = asciiHistogram(t);
  if (hist) lines.push('  latency histogram:', hist);
  return `${lines.join('\n')}\n`;
}

/** Runs the load for the configured duration (or until SIGINT) and resolves with the elapsed seconds. */
async function run(c: BenchConfig, tally: Tally, progress: NodeJS.WriteStream): Promise<number> {
  const load: Load =
    c.kind === 'http'
      ? startHttpLoad(
          {
            url: c.url,
            connections: c.connections,
            pipeline: c.pipeline,
            method: c.method,
            body: c.body,
            headers: c.headers,
            tls: c.tls,
            timeoutMs: c.timeoutMs,
          },
          tally,
        )
      : startWsLoad(
          {
            url: c.url,
            connections: c.connections,
            inFlight: c.inFlight,
            size: c.size,
            binary: c.binary,
            tls: c.tls,
            timeoutMs: c.timeoutMs,
          },
          tally,
        );
  // The measured window starts once every connection has opened or failed, so that connection setup (100 TLS
  // handshakes take a while) is not counted as time without throughput; a connection that hangs is not waited for
  // past READY_WAIT_MS.
  let readyTimer: NodeJS.Timeout | undefined;
  await Promise.race([load.ready, new Promise<void>((resolve) => (readyTimer = setTimeout(resolve, READY_WAIT_MS)))]);
  clearTimeout(readyTimer);
  load.begin();
  const start = performance.now();
  const tty = progress.isTTY === true;
  let lastAt = start;
  let lastCount = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    load.check(now);
    const rate = ((tally.completed - lastCount) * 1000) / (now - lastAt);
    lastAt = now;
    lastCount = tally.completed;
    const elapsed = (now - start) / 1000;
    const left = Math.max(0, c.durationSeconds - elapsed);
    const line = `${elapsed.toFixed(1)} s elapsed, ${left.toFixed(1)} s left: ${int.format(rate)}/s, ${int.format(tally.completed)} done, ${int.format(tally.errorCount)} errors`;
    // A TTY gets one line rewritten in place; a pipe or file gets one plain line per second.
    progress.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }, 1000);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, c.durationSeconds * 1000);
    function done() {
      clearTimeout(timer);
      process.removeListener('SIGINT', done);
      resolve();
    }
    process.once('SIGINT', done);
  });
  const seconds = (performance.now() - start) / 1000;
  clearInterval(tick);
  if (tty) progress.write('\r\x1b[K');
  await load.stop();
  return seconds;
}

/** `sockeye bench ARGS...`: resolves with the exit code. */
export async function bench(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WriteStream = process.stderr,
): Promise<number> {
  let config: BenchConfig | 'help';
  try {
    config = parseBenchArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`sockeye bench: ${e.message}\n`);
    return 2;
  }
  if (config === 'help') {
    out.write(BENCH_USAGE);
    return 0;
  }
  const tally = new Tally();
  const seconds = await run(config, tally, err);
  out.write(
    config.json ? `${JSON.stringify(jsonReport(config, tally, seconds))}\n` : textReport(config, tally, seconds),
  );
  if (tally.completed === 0 && tally.errorCount > 0) return 3;
  return tally.errorCount > 0 ? 1 : 0;
}
