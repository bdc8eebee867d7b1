/**
 * The inspector (`serve({ inspector: { path, token, payloads } })`): one self-contained page (page.ts) and its live
 * feed (server-sent events) served by the server it watches, built on the public API only: `server.stats()` for the
 * listener and the counts, and the `sockeye:*` diagnostics channels (docs/api.md) for each connection's life, its
 * frames and its end. The server loads this module only when the option is given.
 *
 * Security: every route asks for the token (compared in constant time over SHA-256 digests, so neither its content
 * nor its length leaks through timing); the feed and the connection detail refuse requests from another origin
 * (403) so that another site cannot read them with the user's cookies or network position; payloads are kept only
 * with `payloads: true`; the page writes every value with `textContent` (never as HTML) under a Content-Security-
 * Policy that allows only its own nonce'd script; and a feed whose tab stops reading is skipped, then ended
 * (INSPECTOR_FEED_STALL_MS), so it costs the server at most one snapshot and never slows it.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type {
  BackpressureMessage,
  CloseStepMessage,
  ConnectionEndInfo,
  FrameObserver,
  PayloadMessage,
  Server,
  ServerStats,
  ServerWebSocket,
  SockeyeRequest,
  SockeyeResponse,
} from '../index.js';
import { FrameRing } from './frames.js';
import { readKernelSocket } from './kernel.js';
import { renderPage } from './page.js';

/** What the server resolves from `serve({ inspector })` (the numbers come from limits.ts). */
export interface InspectorSettings {
  path: string;
  token: string;
  payloads: boolean;
  intervalMs: number;
  historySamples: number;
  framesKept: number;
  previewChars: number;
  endsKept: number;
  maxListed: number;
  feedStallMs: number;
  statsCostFactor: number;
}

/** What the server calls. */
export interface InspectorHandle {
  handle(req: SockeyeRequest, res: SockeyeResponse): boolean;
  close(): void;
}

/** Connection states the page draws (the state machine of docs/architecture.md). */
type State = 'http-idle' | 'http-active' | 'ws-handshaking' | 'ws-open' | 'ws-closing';

interface Entry {
  id: number;
  socket: Socket;
  websocket: ServerWebSocket | null;
  kind: 'http' | 'websocket';
  state: State;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  path: string;
  requests: number;
  startedAt: number;
  /** Milestones reached, for the state machine: accepted, request, 101, open, closing. */
  reached: number;
  /** Made on the first frame (HTTP connections have none). */
  frames: FrameRing | null;
  /** A sent payload waiting for its frame event (payload events come first for sent messages). */
  pendingOut: string | null;
  lastClose: string;
  /** The inspector's own requests (page, feed): listed apart. */
  own: boolean;
}

const M_ACCEPTED = 1;
const M_REQUEST = 2;
const M_101 = 4;
const M_OPEN = 8;
const M_CLOSING = 16;

interface EndRecord {
  id: number;
  kind: string;
  peer: string;
  path: string;
  cause: string;
  code: number;
  reason: string;
  initiator: string;
  wasClean: boolean;
  durationMs: number;
  t: number;
}

interface Sample {
  t: number;
  queueDepth: number | null;
  queueLimit: number | null;
  listenOverflows: number | null;
  listenDrops: number | null;
  syncookiesSent: number | null;
  connections: number;
}

interface Feed {
  res: SockeyeResponse;
  /** The feed's own connection: its end ends the feed. */
  entry: Entry | null;
  /** When the socket went over its high-water mark and is waiting for the tab to read (0: keeping up). */
  behindSince: number;
  /** Snapshots not sent to it because it was behind. */
  skipped: number;
}

/** Makes the inspector of `server` (called by `serve()`). */
export function createInspector(server: Server, settings: InspectorSettings): InspectorHandle {
  return new Inspector(server, settings);
}

class Inspector implements InspectorHandle {
  readonly #server: Server;
  readonly #s: InspectorSettings;
  readonly #tokenDigest: Buffer;
  readonly #bySocket = new Map<Socket, Entry>();
  readonly #byWs = new Map<object, Entry>();
  readonly #ends: EndRecord[] = [];
  readonly #endCounts = new Map<string, number>();
  readonly #codeCounts = new Map<number, number>();
  readonly #history: Sample[] = [];
  readonly #feeds = new Set<Feed>();
  readonly #byRequest = new WeakMap<SockeyeRequest, Entry>();
  readonly #subs: [string, (m: unknown) => void][] = [];
  #nextId = 1;
  /** While a tab is open: the frame observer set on the server, and the payload channel's listener (payloads). */
  #observer: FrameObserver<Entry> | null = null;
  #payloadSub: ((m: unknown) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** The last `server.stats()`, and until when (performance.now) it stands in for a new one: see `#stats`. */
  #lastStats: ServerStats | null = null;
  #statsDueAt = 0;
  /** The stats() the last history sample came from. */
  #sampled: ServerStats | null = null;

  constructor(server: Server, settings: InspectorSettings) {
    this.#server = server;
    this.#s = settings;
    this.#tokenDigest = digest(settings.token);
    this.#on('sockeye:connection:accept', (m) => this.#accept(m as { server: unknown; socket: Socket }));
    this.#on('sockeye:http:request:start', (m) => this.#request(m as { socket: Socket; request: SockeyeRequest }));
    this.#on('sockeye:http:response:finish', (m) => {
      const e = this.#bySocket.get((m as { socket: Socket }).socket);
      if (e !== undefined && e.state === 'http-active') e.state = 'http-idle';
    });
    this.#on('sockeye:ws:upgrade', (m) => this.#upgrade(m as { socket: Socket; accepted: boolean; status: number }));
    this.#on('sockeye:ws:open', (m) => this.#open(m as { socket: Socket; websocket: ServerWebSocket }));
    this.#on('sockeye:ws:close', (m) => this.#closeStep(m as CloseStepMessage));
    this.#on('sockeye:ws:backpressure', (m) => {
      const b = m as BackpressureMessage;
      const e = this.#byWs.get(b.websocket);
      if (e !== undefined && b.event === 'cut-off') e.lastClose = `backpressure cut-off at ${b.bufferedAmount} B`;
    });
    this.#on('sockeye:connection:end', (m) =>
      this.#end(m as { server: unknown; socket: Socket | null; websocket: object | null; info: ConnectionEndInfo }),
    );
  }

  #on(name: string, fn: (m: unknown) => void): void {
    dc.subscribe(name, fn);
    this.#subs.push([name, fn]);
  }

  /**
   * Frames are recorded while a tab is open (a feed is being read): with none, the inspector costs nothing per
   * frame. They come from the server's frame observer, not the diagnostics channels: PERF, per frame a call with
   * numbers into the connection's ring, found through the state the server keeps with the connection (no message
   * object, no map lookup, no clock read). bench/instructions.sh, 32 B echo with a tab open: see docs/api.md#inspector.
   */
  #recordFrames(on: boolean): void {
    if (on === (this.#observer !== null)) return;
    if (on) {
      const observer: FrameObserver<Entry> = {
        connection: (ws) => {
          const e = this.#byWs.get(ws);
          if (e === undefined) return null;
          e.frames ??= new FrameRing(this.#s.framesKept, this.#s.payloads);
          return e;
        },
        frame: recordFrame,
      };
      this.#observer = observer;
      this.#server.observeFrames(observer);
      if (this.#s.payloads) {
        this.#payloadSub = (m) => this.#payload(m as PayloadMessage);
        dc.subscribe('sockeye:ws:frame:payload', this.#payloadSub);
      }
    } else {
      this.#observer = null;
      this.#server.observeFrames(null);
      if (this.#payloadSub !== null) dc.unsubscribe('sockeye:ws:frame:payload', this.#payloadSub);
      this.#payloadSub = null;
    }
  }

  // ── the registry, from the diagnostics events ──────────────────────────────────────────────────────

  #accept(m: { server: unknown; socket: Socket }): void {
    if (m.server !== this.#server) return;
    const s = m.socket;
    this.#bySocket.set(s, {
      id: this.#nextId++,
      socket: s,
      websocket: null,
      kind: 'http',
      state: 'http-idle',
      // Read now: Node keeps them once read, so the end can still name the peer.
      remoteAddress: s.remoteAddress ?? '',
      remotePort: s.remotePort ?? 0,
      localAddress: s.localAddress ?? '',
      localPort: s.localPort ?? 0,
      path: '',
      requests: 0,
      startedAt: Date.now(),
      reached: M_ACCEPTED,
      frames: null,
      pendingOut: null,
      lastClose: '',
      own: false,
    });
    // A connection handed to the raw `upgrade` hook ends without an end event (it is the hook's socket then): it
    // leaves the table when its socket closes. HTTP ends are told before this listener runs (the server's is
    // older) and WebSocket ends by their own event, so this removes only what nothing else would.
    s.once('close', () => {
      const e = this.#bySocket.get(s);
      if (e !== undefined && e.kind === 'http') this.#bySocket.delete(s);
    });
  }

  #request(m: { socket: Socket; request: SockeyeRequest }): void {
    const e = this.#bySocket.get(m.socket);
    if (e === undefined) return;
    e.requests++;
    this.#byRequest.set(m.request, e);
    e.path = m.request.path;
    e.reached |= M_REQUEST;
    e.own = e.path === this.#s.path || e.path.startsWith(`${this.#s.path}/`);
    e.state = m.request.headers.hasToken('upgrade', 'websocket') ? 'ws-handshaking' : 'http-active';
  }

  #upgrade(m: { socket: Socket; accepted: boolean; status: number }): void {
    const e = this.#bySocket.get(m.socket);
    if (e === undefined) return;
    if (m.accepted) e.reached |= M_101;
    else {
      e.state = 'http-active';
      e.lastClose = `upgrade refused: ${m.status}`;
    }
  }

  #open(m: { socket: Socket; websocket: ServerWebSocket }): void {
    const e = this.#bySocket.get(m.socket);
    if (e === undefined) return;
    e.kind = 'websocket';
    e.websocket = m.websocket;
    e.state = 'ws-open';
    e.reached |= M_101 | M_OPEN;
    this.#byWs.set(m.websocket, e);
  }

  #payload(m: PayloadMessage): void {
    const e = this.#byWs.get(m.websocket);
    if (e === undefined || m.opcode !== 1) return;
    const max = this.#s.previewChars;
    const whole = typeof m.data === 'string' ? m.data : Buffer.from(m.data).toString('utf8');
    const text = whole.length > max ? `${whole.slice(0, max)}…` : whole;
    if (m.direction === 'sent') {
      e.pendingOut = text;
      return;
    }
    // A received message's payload follows its frame event.
    e.frames?.setLastInText(text);
  }

  #closeStep(m: CloseStepMessage): void {
    const e = this.#byWs.get(m.websocket);
    if (e === undefined) return;
    e.state = 'ws-closing';
    e.reached |= M_CLOSING;
    e.lastClose = `${m.step} ${m.code}${m.reason === '' ? '' : ` ${m.reason}`}`;
  }

  #end(m: { server: unknown; socket: Socket | null; websocket: object | null; info: ConnectionEndInfo }): void {
    if (m.server !== this.#server) return;
    const e =
      m.websocket !== null ? this.#byWs.get(m.websocket) : m.socket !== null ? this.#bySocket.get(m.socket) : undefined;
    if (e === undefined) return;
    this.#bySocket.delete(e.socket);
    if (e.websocket !== null) this.#byWs.delete(e.websocket);
    if (e.own) {
      for (const f of this.#feeds) if (f.entry === e) this.#feeds.delete(f);
      return;
    }
    const i = m.info;
    const key = i.kind === 'websocket' ? `ws ${i.cause}` : `http ${i.cause}`;
    this.#endCounts.set(key, (this.#endCounts.get(key) ?? 0) + 1);
    if (i.kind === 'websocket') this.#codeCounts.set(i.code, (this.#codeCounts.get(i.code) ?? 0) + 1);
    if (this.#ends.length >= this.#s.endsKept) this.#ends.shift();
    this.#ends.push({
      id: e.id,
      kind: i.kind,
      peer: peerOf(e),
      path: e.path,
      cause: i.cause,
      code: i.code,
      reason: i.reason,
      initiator: i.initiator,
      wasClean: i.wasClean,
      durationMs: i.durationMs,
      t: Date.now(),
    });
  }

  // ── HTTP: the page, the feed, one connection ──────────────────────────────────────────────────────

  handle(req: SockeyeRequest, res: SockeyeResponse): boolean {
    const base = this.#s.path;
    const p = req.path;
    if (p !== base && !p.startsWith(`${base}/`)) return false;
    const route = p.slice(base.length);
    if (route !== '' && route !== '/feed' && route !== '/connection') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.send('inspector: only GET\n', 405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      return true;
    }
    if (!this.#authorized(req)) {
      res.send('inspector: a valid token is required (add ?token=… to the URL)\n', 401, {
        'Content-Type': 'text/plain; charset=utf-8',
        'WWW-Authenticate': 'Bearer realm="sockeye inspector"',
        'Cache-Control': 'no-store',
      });
      return true;
    }
    if (route === '') {
      const nonce = randomBytes(16).toString('base64');
      res.send(renderPage(nonce, base), 200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
        'X-Content-Type-Options': 'nosniff',
        'X-Frame-Options': 'DENY',
        // Nothing from outside: the page's own nonce'd script and inline styles, its feed on this origin.
        'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      });
      return true;
    }
    if (!sameOrigin(req)) {
      res.send('inspector: requests from another origin are refused\n', 403, {
        'Content-Type': 'text/plain; charset=utf-8',
      });
      return true;
    }
    if (route === '/connection') this.#detail(req, res);
    else this.#startFeed(res, this.#byRequest.get(req) ?? null);
    return true;
  }

  #authorized(req: SockeyeRequest): boolean {
    let given = req.searchParams.get('token');
    if (given === null) {
      const auth = req.headers.get('authorization');
      if (auth !== undefined && auth.startsWith('Bearer ')) given = auth.slice(7);
    }
    if (given === null) return false;
    // Equal-length digests: timingSafeEqual then says nothing about the token's length or content.
    return timingSafeEqual(digest(given), this.#tokenDigest);
  }

  #startFeed(res: SockeyeResponse, entry: Entry | null): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    const feed: Feed = { res, entry, behindSince: 0, skipped: 0 };
    this.#feeds.add(feed);
    this.#send(feed, this.#snapshotText());
    this.#recordFrames(true);
    if (this.#timer === null) {
      this.#sample();
      this.#timer = setInterval(() => this.#tick(), this.#s.intervalMs);
      this.#timer.unref();
    }
  }

  #tick(): void {
    for (const f of this.#feeds) if (f.res.finished) this.#feeds.delete(f);
    if (this.#feeds.size === 0) {
      if (this.#timer !== null) clearInterval(this.#timer);
      this.#timer = null;
      this.#recordFrames(false);
      return;
    }
    // At most one stats() per tick, fewer where it is dear (#stats).
    const st = this.#sample();
    const now = Date.now();
    let text: string | null = null;
    for (const f of this.#feeds) {
      if (f.behindSince !== 0) {
        // The tab has not read the last snapshot: skip this one (it is sampled), and end a feed stuck too long.
        if (now - f.behindSince > this.#s.feedStallMs) {
          this.#feeds.delete(f);
          f.res.end();
        }
        f.skipped++;
        continue;
      }
      text ??= this.#snapshotText(st);
      this.#send(f, text);
    }
  }

  #send(feed: Feed, text: string): void {
    let ok: boolean;
    try {
      ok = feed.res.write(`data: ${text}\n\n`);
    } catch {
      this.#feeds.delete(feed);
      return;
    }
    if (ok) return;
    feed.behindSince = Date.now();
    feed.res.drained().then(
      () => {
        feed.behindSince = 0;
      },
      () => this.#feeds.delete(feed),
    );
  }

  /**
   * `server.stats()`, or the last one while it may stand in: stats() reads /proc/net/tcp, O(sockets in the
   * namespace) (11 ms for 850 sockets here, 70 ms for 62,000), so a call that took T ms is reused for
   * statsCostFactor (100) × T ms: under 1 % of the loop on a crowded host, a fresh one every snapshot elsewhere.
   */
  #stats(): ServerStats {
    const start = performance.now();
    if (this.#lastStats !== null && start < this.#statsDueAt) return this.#lastStats;
    const st = this.#server.stats();
    this.#lastStats = st;
    this.#statsDueAt = start + (performance.now() - start) * this.#s.statsCostFactor;
    return st;
  }

  #sample(): ServerStats {
    const st = this.#stats();
    // A reused stats() is no new sample: the charts get points when there were new figures, at their time.
    if (st === this.#sampled) return st;
    this.#sampled = st;
    const h = this.#history;
    if (h.length >= this.#s.historySamples) h.shift();
    h.push({
      t: Date.now(),
      queueDepth: st.listen.queueDepth,
      queueLimit: st.listen.queueLimit,
      listenOverflows: st.listen.listenOverflows,
      listenDrops: st.listen.listenDrops,
      syncookiesSent: st.listen.syncookiesSent,
      connections: st.connections.total,
    });
    return st;
  }

  #snapshotText(st: ServerStats = this.#stats()): string {
    const now = Date.now();
    const conns: unknown[] = [];
    for (const e of this.#bySocket.values()) {
      if (e.own) continue;
      if (conns.length >= this.#s.maxListed) break;
      conns.push(this.#row(e, now));
    }
    return JSON.stringify({
      t: now,
      url: this.#server.url,
      payloads: this.#s.payloads,
      uptimeSeconds: st.uptimeSeconds,
      connections: st.connections,
      accepted: st.accepted,
      listen: st.listen,
      kernel: st.kernel,
      http: { requests: st.http.requests, bytesIn: st.http.bytesIn, bytesOut: st.http.bytesOut },
      websocket: { bytesIn: st.websocket.bytesIn, bytesOut: st.websocket.bytesOut },
      history: this.#history,
      list: conns,
      listed: conns.length,
      ends: this.#ends.slice(-30).reverse(),
      endCounts: [...this.#endCounts].sort((a, b) => b[1] - a[1]),
      codeCounts: [...this.#codeCounts].sort((a, b) => b[1] - a[1]),
      feeds: [...this.#feeds].map((f) => ({
        peer: f.entry === null ? '' : peerOf(f.entry),
        buffered: f.entry === null ? 0 : f.entry.socket.writableLength,
        behindMs: f.behindSince === 0 ? 0 : now - f.behindSince,
        skipped: f.skipped,
      })),
    });
  }

  #row(e: Entry, now: number): Record<string, unknown> {
    const ws = e.websocket;
    return {
      id: e.id,
      kind: e.kind,
      state: e.state,
      peer: peerOf(e),
      path: e.path,
      ageMs: now - e.startedAt,
      bytesIn: ws !== null ? ws.bytesRead : e.socket.bytesRead,
      bytesOut: ws !== null ? ws.bytesWritten : e.socket.bytesWritten,
      buffered: ws !== null ? ws.bufferedAmount : e.socket.writableLength,
      maxBackpressure: ws !== null ? ws.maxBackpressure : 0,
      topics: ws !== null ? ws.topics : [],
      requests: e.requests,
    };
  }

  #detail(req: SockeyeRequest, res: SockeyeResponse): void {
    const id = Number(req.searchParams.get('id'));
    let found: Entry | undefined;
    for (const e of this.#bySocket.values()) {
      if (e.id === id) {
        found = e;
        break;
      }
    }
    const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
    if (found === undefined) {
      const ended = this.#ends.find((x) => x.id === id);
      res.send(JSON.stringify({ id, ended: ended ?? null }), ended === undefined ? 404 : 200, headers);
      return;
    }
    const e = found;
    res.send(
      JSON.stringify({
        ...this.#row(e, Date.now()),
        reached: e.reached,
        lastClose: e.lastClose,
        frames: e.frames === null ? [] : e.frames.toArray(),
        kernel: readKernelSocket(e.localAddress, e.localPort, e.remoteAddress, e.remotePort),
      }),
      200,
      headers,
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [name, fn] of this.#subs) dc.unsubscribe(name, fn);
    this.#recordFrames(false);
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const f of this.#feeds) if (!f.res.finished) f.res.end();
    this.#feeds.clear();
  }
}

/** The frame observer's `frame`: one slot of the connection's ring (a sent message's text came just before it). */
function recordFrame(
  e: Entry,
  sent: boolean,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  length: number,
  at: number,
): void {
  let text: string | null = null;
  if (sent && e.pendingOut !== null) {
    text = e.pendingOut;
    e.pendingOut = null;
  }
  (e.frames as FrameRing).push(sent, opcode, fin, rsv1, length, at, text);
}

function peerOf(e: Entry): string {
  return e.remoteAddress.includes(':') ? `[${e.remoteAddress}]:${e.remotePort}` : `${e.remoteAddress}:${e.remotePort}`;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * The feed is for the page this server served: a request that says it comes from another origin (`Origin`, or
 * `Sec-Fetch-Site` other than same-origin / none) is refused. A browser sends one of them on every cross-origin
 * fetch or EventSource (Fetch standard §3.1 "Origin header", W3C Fetch Metadata); curl and scripts send neither.
 */
function sameOrigin(req: SockeyeRequest): boolean {
  const site = req.headers.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.get('origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.host;
  } catch {
    return false;
  }
}
