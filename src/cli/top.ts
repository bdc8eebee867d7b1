/**
 * `sockeye top URL`: like `top`, for one sockeye server. It reads the server's metrics endpoint
 * (`serve({ metrics: '/metrics' })`, Prometheus text; or a JSON `server.stats()` such as `sockeye pubsub`'s
 * `/stats`) every interval, or follows its inspector's feed (`serve({ inspector })`: the page URL with its token,
 * as `--inspector` prints it, leads to `path + '/feed'`; the feed sets the pace, one snapshot a second, and has no
 * message counters). It shows connections by state, rates in and out (computed from the counters' deltas), close
 * causes, and the listen queue against its limit.
 *
 * On a terminal: a full-screen view on the alternate screen, redrawn every interval and when the window changes
 * size (SIGWINCH); q or Ctrl-C quits and gives the terminal back as it was. Anywhere else (a pipe, a file, CI):
 * one plain `key=value` line per interval, for scripts.
 *
 * Exit codes (commands/top.ts): 0 quit (q, Ctrl-C, SIGTERM, or `--count` updates done); 2 usage (bad option or
 * URL); 3 the URL could not be reached (refused, unknown host, no answer in time); 4 it answered, but not as a
 * sockeye metrics endpoint (an HTTP error status, or no sockeye figures in the body). Only the first fetch decides
 * 3 and 4: once running, a failed fetch is shown (or printed as an `error=` line) and the next interval tries again.
 *
 * It needs nothing of the public API: it reads the endpoint the way any monitoring tool does.
 */

import { Buffer } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';

/** Exit codes of `sockeye top` (see the module comment). */
export const TOP_EXIT = { ok: 0, usage: 2, unreachable: 3, notMetrics: 4 } as const;

/** The figures of one fetch, from either format. Counters are totals since the server started. */
export interface TopSample {
  /** `performance.now()` when the answer arrived: the rates' clock. */
  at: number;
  connections: { httpIdle: number; httpActive: number; wsHandshaking: number; wsOpen: number; wsClosing: number };
  accepted: number;
  refused: number;
  /** Server-sent event streams open now (counted in `httpActive` too); null when the server does not say. */
  sseOpen: number | null;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  /** Null from the inspector's feed, which does not carry them. */
  messagesIn: number | null;
  messagesOut: number | null;
  /** Ended connections by cause, keyed `ws <cause>` and `http <cause>`. */
  ends: Record<string, number>;
  /** Close frames by code, keyed `peer <code>` and `server <code>`. */
  closeCodes: Record<string, number>;
  listen: { depth: number | null; limit: number | null; overflows: number | null; drops: number | null };
  /** Namespace-wide kernel counters, when the server reports them. */
  kernel: { retransSegs: number | null; zeroWindowAdverts: number | null; receiveDrops: number | null };
  uptimeSeconds: number | null;
}

/** A failure with the exit code it ends `sockeye top` with (when it happens on the first fetch). */
export class TopError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

type Family = { labels: Record<string, string>; value: number }[];

/**
 * Parses the Prometheus text exposition format (0.0.4) into families of samples by metric name. Comments, blank
 * lines and malformed lines are skipped; `NaN` stays NaN.
 */
export function parsePrometheusText(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) {
      for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    const value = m[3] === 'NaN' ? Number.NaN : Number(m[3]);
    let family = out.get(m[1]!);
    if (family === undefined) out.set(m[1]!, (family = []));
    family.push({ labels, value });
  }
  return out;
}

/** The sum of a family's samples whose labels include `match` (0 when none). */
function sum(f: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of f.get(name) ?? []) {
    if (Object.keys(match).every((k) => s.labels[k] === match[k]) && !Number.isNaN(s.value)) total += s.value;
  }
  return total;
}

/** One sample's value, or null when absent or NaN (the kernel figures off Linux). */
function one(f: Map<string, Family>, name: string, match: Record<string, string> = {}): number | null {
  const s = (f.get(name) ?? []).find((x) => Object.keys(match).every((k) => x.labels[k] === match[k]));
  return s === undefined || Number.isNaN(s.value) ? null : s.value;
}

function byLabel(f: Map<string, Family>, name: string, label: string, prefix: string, into: Record<string, number>) {
  for (const s of f.get(name) ?? []) {
    const key = s.labels[label];
    if (key !== undefined && !Number.isNaN(s.value)) into[`${prefix}${key}`] = s.value;
  }
}

/** A {@link TopSample} from sockeye's `/metrics` text; null when the text holds no sockeye figures. */
export function sampleFromMetrics(text: string, at: number): TopSample | null {
  const f = parsePrometheusText(text);
  if (!f.has('sockeye_connections') || !f.has('sockeye_connections_accepted_total')) return null;
  const ends: Record<string, number> = {};
  byLabel(f, 'sockeye_ws_connection_ends_total', 'cause', 'ws ', ends);
  byLabel(f, 'sockeye_http_connection_ends_total', 'cause', 'http ', ends);
  const closeCodes: Record<string, number> = {};
  for (const side of ['peer', 'server']) {
    for (const s of f.get('sockeye_ws_close_codes_total') ?? []) {
      if (s.labels.side === side && s.labels.code !== undefined) closeCodes[`${side} ${s.labels.code}`] = s.value;
    }
  }
  const drops = one(f, 'sockeye_kernel_tcp_receive_drops_total');
  return {
    at,
    connections: {
      httpIdle: sum(f, 'sockeye_connections', { state: 'http_idle' }),
      httpActive: sum(f, 'sockeye_connections', { state: 'http_active' }),
      wsHandshaking: sum(f, 'sockeye_connections', { state: 'ws_handshaking' }),
      wsOpen: sum(f, 'sockeye_connections', { state: 'ws_open' }),
      wsClosing: sum(f, 'sockeye_connections', { state: 'ws_closing' }),
    },
    accepted: sum(f, 'sockeye_connections_accepted_total'),
    refused: sum(f, 'sockeye_connections_rejected_total'),
    sseOpen: one(f, 'sockeye_sse_streams'),
    requests: sum(f, 'sockeye_http_requests_total'),
    bytesIn: sum(f, 'sockeye_http_received_bytes_total') + sum(f, 'sockeye_ws_received_bytes_total'),
    bytesOut: sum(f, 'sockeye_http_sent_bytes_total') + sum(f, 'sockeye_ws_sent_bytes_total'),
    messagesIn: sum(f, 'sockeye_ws_messages_total', { direction: 'in' }),
    messagesOut: sum(f, 'sockeye_ws_messages_total', { direction: 'out' }),
    ends,
    closeCodes,
    listen: {
      depth: one(f, 'sockeye_listen_queue_length'),
      limit: one(f, 'sockeye_listen_queue_limit'),
      overflows: one(f, 'sockeye_listen_overflows_total'),
      drops: one(f, 'sockeye_listen_drops_total'),
    },
    kernel: {
      retransSegs: one(f, 'sockeye_kernel_tcp_retransmitted_segments_total'),
      zeroWindowAdverts: one(f, 'sockeye_kernel_tcp_zero_window_adverts_total'),
      receiveDrops: drops === null ? null : sum(f, 'sockeye_kernel_tcp_receive_drops_total'),
    },
    uptimeSeconds: one(f, 'sockeye_uptime_seconds'),
  };
}

type Json = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? (v as Json) : {});

function prefixed(into: Record<string, number>, prefix: string, from: unknown): void {
  for (const [k, v] of Object.entries(obj(from))) if (typeof v === 'number') into[`${prefix}${k}`] = v;
}

/** A {@link TopSample} from a JSON `server.stats()`; null when the value is not shaped like one. */
export function sampleFromStats(value: unknown, at: number): TopSample | null {
  const s = obj(value);
  const c = obj(s.connections);
  if (typeof c.total !== 'number' || typeof s.accepted !== 'number') return null;
  const http = obj(s.http);
  const ws = obj(s.websocket);
  const listen = obj(s.listen);
  const tcp = obj(obj(s.kernel).tcp);
  const ends: Record<string, number> = {};
  prefixed(ends, 'ws ', ws.ends);
  prefixed(ends, 'http ', http.ends);
  const closeCodes: Record<string, number> = {};
  prefixed(closeCodes, 'peer ', ws.closeCodesFromPeer);
  prefixed(closeCodes, 'server ', ws.closeCodesFromServer);
  const rejected = obj(s.rejected);
  const drops = ['backlogDrop', 'rcvQDrop', 'rcvPruned', 'ofoDrop', 'zeroWindowDrop'].map((k) => numOrNull(tcp[k]));
  return {
    at,
    connections: {
      httpIdle: num(c.httpIdle),
      httpActive: num(c.httpActive),
      wsHandshaking: num(c.wsHandshaking),
      wsOpen: num(c.wsOpen),
      wsClosing: num(c.wsClosing),
    },
    accepted: num(s.accepted),
    refused: Object.values(rejected).reduce<number>((a, v) => a + num(v), 0),
    sseOpen: numOrNull(obj(s.sse).open),
    requests: num(http.requests),
    bytesIn: num(http.bytesIn) + num(ws.bytesIn),
    bytesOut: num(http.bytesOut) + num(ws.bytesOut),
    messagesIn: num(ws.messagesIn),
    messagesOut: num(ws.messagesOut),
    ends,
    closeCodes,
    listen: {
      depth: numOrNull(listen.queueDepth),
      limit: numOrNull(listen.queueLimit),
      overflows: numOrNull(listen.listenOverflows),
      drops: numOrNull(listen.listenDrops),
    },
    kernel: {
      retransSegs: numOrNull(tcp.retransSegs),
      zeroWindowAdverts: numOrNull(tcp.toZeroWindowAdv),
      receiveDrops: drops.every((d) => d === null) ? null : drops.reduce<number>((a, d) => a + (d ?? 0), 0),
    },
    uptimeSeconds: numOrNull(s.uptimeSeconds),
  };
}

/**
 * A {@link TopSample} from one snapshot of the inspector's feed (`serve({ inspector })`, `path + '/feed'`); null when
 * the value is not shaped like one. The feed carries no message counters: those rates show as unknown.
 */
export function sampleFromFeed(value: unknown, at: number): TopSample | null {
  const s = obj(value);
  if (!Array.isArray(s.endCounts) || !Array.isArray(s.codeCounts)) return null;
  const base = sampleFromStats({ ...s, http: obj(s.http), websocket: obj(s.websocket) }, at);
  if (base === null) return null;
  const ends: Record<string, number> = {};
  for (const e of s.endCounts as unknown[]) {
    if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number') ends[e[0]] = e[1];
  }
  const closeCodes: Record<string, number> = {};
  for (const e of s.codeCounts as unknown[]) {
    if (Array.isArray(e) && typeof e[1] === 'number') closeCodes[`code ${e[0]}`] = e[1];
  }
  return { ...base, messagesIn: null, messagesOut: null, ends, closeCodes };
}

/** One GET over node:http(s): status, content type and body (fetch() refuses some ports, such as 6000). */
function get(url: URL, agent: http.Agent, timeoutMs: number): Promise<{ status: number; type: string; body: string }> {
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { accept: 'text/plain, application/json;q=0.9, */*;q=0.1' } }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        // A metrics page is kilobytes; a URL that streams without end is not one.
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
        else parts.push(d);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(parts).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end();
  });
}

/** The largest answer read as a metrics page. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Fetches `url` once and reads it as sockeye figures; throws {@link TopError} with the exit code it means.
 * `agent` keeps the connection between fetches (pass one with `keepAlive: true`).
 */
export async function fetchSample(url: URL, agent: http.Agent, timeoutMs: number): Promise<TopSample> {
  let res: { status: number; type: string; body: string };
  try {
    res = await get(url, agent, timeoutMs);
  } catch (err) {
    throw unreachable(url, err);
  }
  const at = performance.now();
  if (res.status === 401) {
    throw new TopError(TOP_EXIT.notMetrics, `${url.href} answered 401: a wrong or missing token (?token=...)`);
  }
  if (res.status !== 200) {
    throw new TopError(TOP_EXIT.notMetrics, `${url.href} answered ${res.status}, not a sockeye metrics endpoint`);
  }
  let sample: TopSample | null;
  if (res.type.includes('json')) {
    let value: unknown;
    try {
      value = JSON.parse(res.body);
    } catch {
      value = null;
    }
    sample = sampleFromStats(value, at);
  } else sample = sampleFromMetrics(res.body, at);
  if (sample === null) {
    throw new TopError(
      TOP_EXIT.notMetrics,
      `${url.href} is not a sockeye metrics endpoint (no sockeye figures in its answer; serve({ metrics: '/metrics' }) makes one)`,
    );
  }
  return sample;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** An open event stream (the inspector's feed): the data of its events, in arrival order (the SSE format). */
class EventStream {
  readonly #res: http.IncomingMessage;
  #buf = '';
  readonly #events: string[] = [];
  #wake: (() => void) | null = null;
  #ended = false;

  constructor(res: http.IncomingMessage) {
    this.#res = res;
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      this.#buf += d;
      for (let i = this.#buf.indexOf('\n\n'); i >= 0; i = this.#buf.indexOf('\n\n')) {
        const data = this.#buf
          .slice(0, i)
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5))
          .join('\n');
        this.#buf = this.#buf.slice(i + 2);
        if (data !== '') this.#events.push(data);
      }
      // One snapshot is kilobytes; a stream that never ends an event is not a feed.
      if (this.#buf.length > MAX_BODY_BYTES) res.destroy();
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  /** The next event's data; null once the stream has ended, or when none came within `timeoutMs`. */
  async next(timeoutMs: number): Promise<string | null> {
    const until = Date.now() + timeoutMs;
    while (this.#events.length === 0) {
      const left = until - Date.now();
      if (this.#ended || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    return this.#events.shift() as string;
  }

  close(): void {
    this.#res.destroy();
  }
}

/** GET `url`; resolves with the response once its head arrived (the body is the caller's to read or drop). */
function open(url: URL, agent: http.Agent | false, timeoutMs: number): Promise<http.IncomingMessage> {
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const headers = { accept: 'text/plain, application/json;q=0.9, text/event-stream;q=0.8, */*;q=0.1' };
    const req = request(url, { agent, headers }, (res) => {
      req.setTimeout(0); // a feed is quiet between snapshots; EventStream.next() bounds the wait instead
      resolve(res);
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end();
  });
}

function unreachable(url: URL, err: unknown): TopError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'ETIMEDOUT' || e.code === undefined ? e.message : e.code;
  return new TopError(TOP_EXIT.unreachable, `cannot reach ${url.href}: ${why}`);
}

/** The inspector's feed, once connected: its first snapshot and the stream the next ones come on. */
interface FeedStart {
  url: URL;
  stream: EventStream;
  sample: TopSample;
}

/**
 * Connects to `url` as the inspector's feed: an event stream, or the inspector's page (HTML), whose feed is at
 * `path + '/feed'` with the same query (the token). Resolves with null when `url` is neither, so that the caller
 * reads it as a metrics endpoint; throws {@link TopError} when it cannot be reached or its events are not
 * snapshots.
 */
async function connectFeed(url: URL, timeoutMs: number, followPage = true): Promise<FeedStart | null> {
  let res: http.IncomingMessage;
  try {
    res = await open(url, false, timeoutMs);
  } catch (err) {
    throw unreachable(url, err);
  }
  const type = String(res.headers['content-type'] ?? '');
  if (res.statusCode === 200 && type.includes('text/event-stream')) {
    const stream = new EventStream(res);
    const sample = sampleFromFeed(parseJson(await stream.next(timeoutMs)), performance.now());
    if (sample === null) {
      stream.close();
      throw new TopError(TOP_EXIT.notMetrics, `${url.href} is an event stream, but not a sockeye inspector feed`);
    }
    return { url, stream, sample };
  }
  res.destroy();
  if (followPage && res.statusCode === 200 && type.includes('text/html')) {
    const feed = new URL(url);
    feed.pathname = `${url.pathname.replace(/\/$/, '')}/feed`;
    return connectFeed(feed, timeoutMs, false).catch(() => null);
  }
  return null;
}

/** Per-second rates between two samples; null fields without a previous sample (or after a counter reset). */
export interface TopRates {
  accepted: number | null;
  requests: number | null;
  bytesIn: number | null;
  bytesOut: number | null;
  messagesIn: number | null;
  messagesOut: number | null;
}

export function ratesOf(cur: TopSample, prev: TopSample | null): TopRates {
  const dt = prev === null ? 0 : (cur.at - prev.at) / 1000;
  const rate = (k: 'accepted' | 'requests' | 'bytesIn' | 'bytesOut' | 'messagesIn' | 'messagesOut') => {
    const a = prev?.[k] ?? null;
    const b = cur[k];
    if (a === null || b === null || dt <= 0) return null;
    const d = b - a;
    return d < 0 ? null : d / dt; // a smaller total: the server restarted
  };
  return {
    accepted: rate('accepted'),
    requests: rate('requests'),
    bytesIn: rate('bytesIn'),
    bytesOut: rate('bytesOut'),
    messagesIn: rate('messagesIn'),
    messagesOut: rate('messagesOut'),
  };
}

const CONNECTION_ROWS = [
  ['http idle', 'httpIdle'],
  ['http active', 'httpActive'],
  ['ws handshaking', 'wsHandshaking'],
  ['ws open', 'wsOpen'],
  ['ws closing', 'wsClosing'],
] as const;

function total(c: TopSample['connections']): number {
  return c.httpIdle + c.httpActive + c.wsHandshaking + c.wsOpen + c.wsClosing;
}

/** One `key=value` line for a pipe (logfmt): `-` where a figure is not known yet. */
export function formatLine(cur: TopSample, prev: TopSample | null, now = new Date()): string {
  const r = ratesOf(cur, prev);
  const c = cur.connections;
  const f = (v: number | null, digits = 1) => (v === null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(digits));
  const ends = Object.keys(cur.ends)
    .filter((k) => cur.ends[k]! > 0)
    .map((k) => `${k.replace(' ', ':')}=${cur.ends[k]}`)
    .join(',');
  const l = cur.listen;
  return [
    `time=${now.toISOString()}`,
    `connections=${total(c)}`,
    `http_idle=${c.httpIdle}`,
    `http_active=${c.httpActive}`,
    `ws_handshaking=${c.wsHandshaking}`,
    `ws_open=${c.wsOpen}`,
    `ws_closing=${c.wsClosing}`,
    `sse_open=${f(cur.sseOpen)}`,
    `accepted=${cur.accepted}`,
    `accepted_per_s=${f(r.accepted)}`,
    `requests_per_s=${f(r.requests)}`,
    `bytes_in_per_s=${f(r.bytesIn, 0)}`,
    `bytes_out_per_s=${f(r.bytesOut, 0)}`,
    `messages_in_per_s=${f(r.messagesIn)}`,
    `messages_out_per_s=${f(r.messagesOut)}`,
    `listen_queue=${f(l.depth)}`,
    `listen_limit=${f(l.limit)}`,
    `listen_overflows=${f(l.overflows)}`,
    `ends=${ends === '' ? '-' : ends}`,
  ].join(' ');
}

/** `1,234` */
function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function rateText(v: number | null): string {
  if (v === null) return '–';
  return v >= 100 ? count(v) : v.toFixed(1);
}

function bytesText(v: number | null): string {
  if (v === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function durationText(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

function bar(fraction: number, width: number): string {
  if (width <= 0) return '';
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/** What the screen shows besides the figures. */
export interface ScreenInfo {
  url: string;
  /** How often it updates, for the key line: `every 1s`, `inspector feed`. */
  pace: string;
  width: number;
  height: number;
  /** The last fetch's failure, shown at the top while it lasts. */
  error: string | null;
  now?: Date;
}

/**
 * The full-screen view as lines, each at most `width` characters, at most `height` lines (sections at the end
 * give way first on a short terminal; the key help stays on the last line).
 */
export function renderScreen(cur: TopSample | null, prev: TopSample | null, info: ScreenInfo): string[] {
  const width = Math.max(20, info.width);
  const height = Math.max(5, info.height);
  const now = info.now ?? new Date();
  const lines: string[] = [];
  const clock = now.toTimeString().slice(0, 8);
  const right = cur?.uptimeSeconds == null ? clock : `up ${durationText(cur.uptimeSeconds)} · ${clock}`;
  const title = `sockeye top  ${info.url}`;
  lines.push(fit(title, width - right.length - 1).padEnd(width - right.length) + right);
  if (info.error !== null) lines.push(`! ${info.error}`);
  if (cur === null) {
    lines.push('', 'waiting for the first answer…');
  } else {
    const c = cur.connections;
    const r = ratesOf(cur, prev);
    lines.push('');
    lines.push(
      `CONNECTIONS  ${count(total(c))} open · ${count(cur.accepted)} accepted (${rateText(r.accepted)}/s)` +
        (cur.refused > 0 ? ` · ${count(cur.refused)} refused` : '') +
        (cur.sseOpen ? ` · ${count(cur.sseOpen)} event streams` : ''),
    );
    const most = Math.max(1, ...CONNECTION_ROWS.map(([, k]) => c[k]));
    const barWidth = Math.min(40, width - 24);
    for (const [label, key] of CONNECTION_ROWS) {
      const n = c[key];
      lines.push(
        `  ${label.padEnd(15)}${count(n).padStart(6)} ${n === 0 ? '' : bar(n / most, barWidth).replace(/░+$/, '')}`,
      );
    }
    lines.push('');
    lines.push(`TRAFFIC${'in'.padStart(18)}${'out'.padStart(14)}`);
    lines.push(`  bytes/s   ${bytesText(r.bytesIn).padStart(13)}${bytesText(r.bytesOut).padStart(14)}`);
    lines.push(`  messages/s${rateText(r.messagesIn).padStart(13)}${rateText(r.messagesOut).padStart(14)}`);
    lines.push(`  requests/s${rateText(r.requests).padStart(13)}`);
    lines.push('');
    const l = cur.listen;
    if (l.depth === null || l.limit === null) lines.push('LISTEN QUEUE  not visible (needs Linux /proc, TCP)');
    else {
      const q = `LISTEN QUEUE  ${count(l.depth)} / ${count(l.limit)} `;
      const tail = `overflows ${l.overflows ?? '–'} · drops ${l.drops ?? '–'} (namespace)`;
      // A narrow window: the namespace counters go on a line of their own.
      const together = width - q.length - tail.length - 2 >= 10;
      const barWidth = Math.min(20, together ? width - q.length - tail.length - 2 : width - q.length);
      lines.push(`${q}${bar(l.depth / Math.max(1, l.limit), barWidth)}${together ? `  ${tail}` : ''}`);
      if (!together) lines.push(`              ${tail}`);
    }
    const k = cur.kernel;
    if (k.retransSegs !== null) {
      const parts = [
        `retransmits ${count(k.retransSegs)}`,
        `zero windows ${count(k.zeroWindowAdverts ?? 0)}`,
        `receive drops ${count(k.receiveDrops ?? 0)} (namespace)`,
      ];
      lines.push(...wrap('KERNEL        ', parts, width));
    }
    lines.push('');
    lines.push(`CLOSE CAUSES${'total'.padStart(19)}${'last'.padStart(8)}`);
    const causes = Object.keys(cur.ends)
      .filter((key) => cur.ends[key]! > 0)
      .sort((a, b) => cur.ends[b]! - cur.ends[a]! || a.localeCompare(b));
    if (causes.length === 0) lines.push('  none yet');
    for (const key of causes) {
      const n = cur.ends[key]!;
      const d = prev === null ? 0 : n - (prev.ends[key] ?? 0);
      lines.push(`  ${key.padEnd(22)}${count(n).padStart(7)}${(d > 0 ? `+${count(d)}` : '').padStart(8)}`);
    }
    const codes = Object.keys(cur.closeCodes)
      .filter((key) => cur.closeCodes[key]! > 0)
      .map((key) => `${key}×${count(cur.closeCodes[key]!)}`);
    if (codes.length > 0) lines.push(`  close codes: ${codes.join(' · ')}`);
  }
  const help = `q quit · ${info.pace}`;
  const body = lines.slice(0, height - 1).map((line) => fit(line, width));
  while (body.length < height - 1) body.push('');
  body.push(fit(help, width));
  return body;
}

/** `head` and `parts` joined by ` · `, continued on indented lines where the next part would not fit. */
function wrap(head: string, parts: string[], width: number): string[] {
  const out: string[] = [];
  let line = head;
  let fresh = true;
  for (const part of parts) {
    if (fresh) line += part;
    else if (line.length + 3 + part.length > width) {
      out.push(line);
      line = ' '.repeat(head.length) + part;
    } else line += ` · ${part}`;
    fresh = false;
  }
  out.push(line);
  return out;
}

/** Cuts a line to `width` characters (code points), with an ellipsis when cut. */
function fit(line: string, width: number): string {
  const chars = Array.from(line);
  if (chars.length <= width) return line;
  return `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** What `sockeye top` reads from and writes to (the process's own streams in the CLI). */
export interface TopIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Runs `sockeye top` on `url` (checked by the command: http: or https:) every `intervalMs`, `count` times at most;
 * resolves with the exit code. The first fetch's failure rejects with a {@link TopError} (exit code 3 or 4).
 */
export async function runTop(url: URL, intervalMs: number, count: number, io: TopIo): Promise<number> {
  const timeoutMs = Math.max(MIN_FETCH_TIMEOUT_MS, intervalMs);
  const agent = new (url.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 1 });
  // The feed's stream now (replaced when the feed is connected again), closed at the end.
  let stream: EventStream | null = null;
  try {
    // The first answer decides what there is to watch: the inspector's feed (its page or its event stream), or a
    // metrics endpoint (fetched again every interval).
    const feed = await connectFeed(url, timeoutMs);
    let first: TopSample;
    let fetchNext: () => Promise<TopSample>;
    let every = intervalMs;
    let pace = `every ${intervalMs >= 1000 ? `${intervalMs / 1000}s` : `${intervalMs}ms`}`;
    if (feed === null) {
      first = await fetchSample(url, agent, timeoutMs);
      fetchNext = () => fetchSample(url, agent, timeoutMs);
    } else {
      // The feed sets the pace (one snapshot a second); each update waits for the next one.
      const live = feed;
      stream = live.stream;
      first = live.sample;
      every = 0;
      pace = 'inspector feed';
      fetchNext = async () => {
        if (stream === null) {
          let again: FeedStart | null = null;
          let failure: unknown = null;
          try {
            again = await connectFeed(live.url, timeoutMs, false);
          } catch (err) {
            failure = err;
          }
          if (again === null) {
            await new Promise((r) => setTimeout(r, timeoutMs)); // not in a tight loop while it is down
            throw failure ?? new TopError(TOP_EXIT.notMetrics, `${live.url.href} is no longer a feed`);
          }
          stream = again.stream;
          return again.sample;
        }
        const sample = sampleFromFeed(parseJson(await stream.next(timeoutMs + FEED_PERIOD_MS)), performance.now());
        if (sample === null) {
          stream.close();
          stream = null;
          throw new TopError(TOP_EXIT.unreachable, 'the inspector feed ended; connecting again');
        }
        return sample;
      };
    }
    return io.stdout.isTTY === true
      ? await runScreen(url.href, pace, first, fetchNext, every, count, io)
      : await runLines(first, fetchNext, every, count, io);
  } finally {
    (stream as EventStream | null)?.close();
    agent.destroy();
  }
}

/** The inspector sends a snapshot a second (INSPECTOR_INTERVAL_MS): a feed quiet for longer is waited on this much
 * more than the fetch timeout before it counts as ended. */
const FEED_PERIOD_MS = 1000;

/** A fetch may take the interval, and at least 2 s: stats() on a loaded host with many sockets takes a few hundred
 * ms (0.3-0.5 s measured on the shared test machine, 62,000 rows in /proc/net/tcp, which it reads whole). */
const MIN_FETCH_TIMEOUT_MS = 2000;

/** The loop: fetch every interval (never two at once), hand each result to `show`, stop after `limit`. */
function poll(
  first: TopSample,
  fetchNext: () => Promise<TopSample>,
  intervalMs: number,
  limit: number,
  show: (cur: TopSample | null, prev: TopSample | null, error: string | null) => void,
): { stop(): void; done: Promise<void> } {
  let prev: TopSample | null = null;
  let cur = first;
  let shown = 1;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    finish();
  };
  let started = performance.now();
  const tick = async () => {
    timer = null;
    started = performance.now();
    let error: string | null = null;
    try {
      const next = await fetchNext();
      prev = cur;
      cur = next;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (stopped) return;
    show(cur, prev, error);
    if (++shown >= limit) stop();
    // Every interval from the start of the last fetch: a slow endpoint does not stretch the period.
    else timer = setTimeout(tick, Math.max(0, intervalMs - (performance.now() - started)));
  };
  show(cur, prev, null);
  if (shown >= limit) stop();
  else timer = setTimeout(tick, intervalMs);
  return { stop, done };
}

async function runLines(
  first: TopSample,
  fetchNext: () => Promise<TopSample>,
  intervalMs: number,
  limit: number,
  io: TopIo,
): Promise<number> {
  const loop = poll(first, fetchNext, intervalMs, limit, (cur, prev, error) => {
    if (error !== null) io.stdout.write(`time=${new Date().toISOString()} error=${JSON.stringify(error)}\n`);
    else if (cur !== null) io.stdout.write(`${formatLine(cur, prev)}\n`);
  });
  const onSignal = () => loop.stop();
  // The reader went away (`sockeye top URL | head -1`): that is the end, not an error.
  const onError = () => loop.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  io.stdout.on('error', onError);
  await loop.done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  io.stdout.off('error', onError);
  return TOP_EXIT.ok;
}

// ECMA-48 / xterm control sequences.
const ALT_SCREEN_ON = '\x1b[?1049h';
const ALT_SCREEN_OFF = '\x1b[?1049l';
const CURSOR_HIDE = '\x1b[?25l';
const CURSOR_SHOW = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_LINE_RIGHT = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

async function runScreen(
  url: string,
  pace: string,
  first: TopSample,
  fetchNext: () => Promise<TopSample>,
  intervalMs: number,
  limit: number,
  io: TopIo,
): Promise<number> {
  const { stdin, stdout } = io;
  let last: [TopSample | null, TopSample | null, string | null] = [first, null, null];
  const draw = () => {
    const [cur, prev, error] = last;
    const lines = renderScreen(cur, prev, {
      url,
      pace,
      width: stdout.columns ?? 80,
      height: stdout.rows ?? 24,
      error,
    });
    stdout.write(HOME + lines.join(`${CLEAR_LINE_RIGHT}\r\n`) + CLEAR_LINE_RIGHT + CLEAR_BELOW);
  };
  stdout.write(ALT_SCREEN_ON + CURSOR_HIDE);
  const restore = () => stdout.write(CURSOR_SHOW + ALT_SCREEN_OFF);
  // A crash or an exit elsewhere must still give the terminal back.
  process.once('exit', restore);
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  stdin.resume();
  const loop = poll(first, fetchNext, intervalMs, limit, (cur, prev, error) => {
    last = [cur, prev, error];
    draw();
  });
  const onKey = (data: Buffer) => {
    for (const b of data) {
      // q, Q, Ctrl-C (raw mode delivers it as a byte, not SIGINT), Ctrl-D
      if (b === 0x71 || b === 0x51 || b === 0x03 || b === 0x04) loop.stop();
    }
  };
  const onSignal = () => loop.stop();
  stdin.on('data', onKey);
  stdout.on('resize', draw);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  await loop.done;
  stdin.off('data', onKey);
  stdout.off('resize', draw);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  if (raw) stdin.setRawMode(false);
  stdin.pause();
  process.off('exit', restore);
  restore();
  return TOP_EXIT.ok;
}
