/**
 * The demo of `npm start` (`sockeye demo`): a chat with rooms, built on the public API the way a user would build it.
 *
 * - A room is a pub/sub topic (`chat:ROOM`): a page's WebSocket to `/chat?room=ROOM&name=NAME&key=KEY` subscribes to
 *   it, and each chat message is `server.publish`ed to it (the sender gets its own message back: that is its
 *   delivery receipt).
 * - Late joiners get the room's recent history (the last `HISTORY_PER_ROOM` messages this node has seen).
 * - The online count of a room is the sum over the nodes: each node tells the others its local counts on a control
 *   topic (`sockeye-demo:control`) (on every change, and every `PRESENCE_HEARTBEAT_MS`; a node not heard of for `PRESENCE_EXPIRY_MS` counts
 *   for nothing), and tells its own pages the total.
 * - `sockeye demo --redis URL` runs two nodes on two ports that share rooms through `sockeye/redis`. Each node keeps
 *   the history of what it saw: its own pages' messages and, while it has pages in a room, the other nodes' (Redis
 *   routing is interest-based, so a node hears a room only while someone on it is in the room). When a room gets
 *   its first page on a node, the node asks the others on the control topic for their history of it, merges what
 *   it lacks (by message id, in time order) and sends the page the merged history.
 *
 * The page (src/cli/demo-page.ts) is one HTML file, a script and a stylesheet, all served from here (no CDN).
 *
 * Client → server messages are JSON text: `{"type":"chat","text":"…","cid":"…"}` and `{"type":"name","name":"…"}`.
 * Anything else ends that connection with a close code and one sentence (RFC 6455 §7.4.1): 1003 for binary, 1008
 * for bad JSON, an unknown type, a field out of range, or more than `RATE_MESSAGES` messages in `RATE_WINDOW_MS`;
 * 1009 above `MAX_FRAME_BYTES` (the server's `maxPayload`).
 */

import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import type { InspectorOptions, PublishResult, PubSubAdapter, PubSubHub, Server, ServerWebSocket } from '../index.js';
import { serve } from '../index.js';
import { DEMO_CSS, DEMO_PAGE, demoScript, FAVICON_SVG } from './demo-page.js';
import { inspectorLine, newInspectorToken } from './inspector.js';

// The demo's numbers. They are the demo's own (cli/ sees only the public API, not src/limits.ts), each with why.
/** Messages kept per room for late joiners: a screenful and a bit (Slack's and IRC bouncers' replay is about 50). */
export const HISTORY_PER_ROOM = 50;
/** Rooms whose history a node keeps: the least recently used empty room is forgotten past it (memory bound). */
export const MAX_ROOMS = 200;
/** Longest chat message in UTF-16 code units: 2,000, Discord's limit; the page's input has the same `maxlength`. */
export const MAX_TEXT_CHARS = 2000;
/** Longest name (code points): fits a chat line on a phone. */
export const MAX_NAME_CHARS = 24;
/** Largest WebSocket message the demo reads: a chat message of `MAX_TEXT_CHARS` 4-byte characters is about 8 KiB in
 * JSON; 16 KiB leaves room and keeps a hostile page from making the server buffer more (1009 above). */
export const MAX_FRAME_BYTES = 16 * 1024;
/** Flood limit: 20 messages per 10 s per connection, far above typing speed, and a script is stopped at once. */
export const RATE_MESSAGES = 20;
export const RATE_WINDOW_MS = 10_000;
/** Presence: each node repeats its counts every 5 s; a node not heard of for three periods is gone. */
export const PRESENCE_HEARTBEAT_MS = 5_000;
export const PRESENCE_EXPIRY_MS = 15_000;
/** The page's queue while offline: below the flood limit, since a reconnect sends the whole queue at once. */
export const MAX_QUEUED = 10;
/** The page's reconnect backoff: first retry after 0.25-0.5 s, doubling, then every 5-10 s (jitter: half to all of
 * the step, so that the pages of a restarted server do not all come back in the same millisecond). */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 10_000;

const DEMO_JS = demoScript({
  maxText: MAX_TEXT_CHARS,
  maxName: MAX_NAME_CHARS,
  maxQueue: MAX_QUEUED,
  rooms: ['lobby', 'random', 'help'],
  backoffBaseMs: BACKOFF_BASE_MS,
  backoffMaxMs: BACKOFF_MAX_MS,
});

/** The control topic on which the nodes tell each other their rooms' online counts and ask for and send a room's
 * history (never delivered to pages). */
const CONTROL_TOPIC = 'sockeye-demo:control';
const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const KEY_RE = /^[A-Za-z0-9_-]{16,64}$/;
// A name: no control, format (except the zero-width joiner of emoji sequences), private-use or unassigned characters.
const NAME_RE = /^(?:[^\p{C}]|\u200D)+$/u;
// A chat text: no control characters but tab and newline.
const TEXT_BAD_RE = /[\u0000-\u0008\u000B-\u001F\u007F]/;

/** The topic of a room. */
export function roomTopic(room: string): string {
  return `chat:${room}`;
}

/** A chat message as pages receive it (and as history keeps it). */
interface ChatMessage {
  type: 'chat';
  id: string;
  room: string;
  /** The author's stable id: a hash of the secret key their page keeps, so no one can post as someone else. */
  uid: string;
  from: string;
  text: string;
  /** Server time (ms since the epoch) when it was accepted. */
  ts: number;
  /** The id the author's page gave it (it matches its pending line to the echo). */
  cid: string;
}

interface Member {
  room: string;
  name: string;
  uid: string;
  /** Start of the current rate window and the messages in it. */
  windowStart: number;
  inWindow: number;
}

interface RoomState {
  local: number;
  history: ChatMessage[];
  /** Other nodes' counts: node id → count and when it was heard. */
  remote: Map<string, { count: number; at: number }>;
  /** The total the pages were told last (to tell them only changes). */
  told: number;
}

/** Options of `startDemo`. */
export interface DemoOptions {
  port: number;
  host?: string | undefined;
  /** Shares rooms with other demo nodes (e.g. `redisPubSub()` from `sockeye/redis`). */
  pubsub?: PubSubAdapter | undefined;
  /** Shown on the page ("node 1"), for a demo with several nodes. */
  label?: string | undefined;
  /** The live inspector (`serve({ inspector })`); `runDemo` turns it on. */
  inspector?: InspectorOptions | undefined;
}

/** The demo's inspector: on, with payloads (a newcomer watches their own chat's frames), one token per run. */
export const DEMO_INSPECTOR: InspectorOptions = { token: newInspectorToken(), payloads: true };

/**
 * The demo's rooms on one node: history, presence, and the adapter the server sees (it wraps the shared one, if any,
 * to see the other nodes' messages for history and to carry the presence topic, which pages never get).
 */
class Rooms implements PubSubAdapter {
  readonly node = randomBytes(6).toString('base64url');
  readonly #rooms = new Map<string, RoomState>();
  readonly #inner: PubSubAdapter | null;
  /** Other nodes heard of, and when last. */
  readonly #seenNodes = new Map<string, number>();
  #hub: PubSubHub | null = null;
  #heartbeat: NodeJS.Timeout | null = null;

  constructor(inner: PubSubAdapter | null) {
    this.#inner = inner;
  }

  // --- PubSubAdapter (what the server calls) ---

  attach(hub: PubSubHub): void {
    this.#hub = hub;
    if (this.#inner === null) return;
    this.#inner.attach({
      deliver: (topic, data, isBinary) => this.#fromOtherNode(topic, data, isBinary),
      topics: () => [...hub.topics(), CONTROL_TOPIC],
    });
    this.#inner.subscribe(CONTROL_TOPIC);
    this.#heartbeat = setInterval(() => this.#beat(), PRESENCE_HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.#announce();
  }

  publish(topic: string, data: Buffer, isBinary: boolean): void {
    this.#inner?.publish(topic, data, isBinary);
  }

  subscribe(topic: string): void {
    this.#inner?.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    this.#inner?.unsubscribe(topic);
  }

  async close(): Promise<void> {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    if (this.#inner === null) return;
    // Tell the others this node's pages are gone now, rather than after PRESENCE_EXPIRY_MS.
    this.#control({ node: this.node, counts: {}, bye: true });
    await this.#inner.close();
  }

  stats(): Record<string, number | string> {
    return { rooms: this.#rooms.size, nodes: this.#seenNodes.size + 1, ...(this.#inner?.stats?.() ?? {}) };
  }

  // --- the demo's side ---

  /** A page joined `room` on this node. */
  join(room: string): RoomState {
    const state = this.#room(room);
    state.local++;
    this.#changed(room, state);
    // The room's first page here: ask the other nodes for what they saw while no one here listened.
    if (state.local === 1) this.#control({ node: this.node, want: room });
    return state;
  }

  leave(room: string): void {
    const state = this.#rooms.get(room);
    if (state === undefined) return;
    state.local--;
    this.#changed(room, state);
  }

  /** Keeps a message in its room's history; false if it is there already (a page sending it again after a drop). */
  remember(msg: ChatMessage): boolean {
    const history = this.#room(msg.room).history;
    for (const m of history) if (m.uid === msg.uid && m.cid === msg.cid) return false;
    history.push(msg);
    if (history.length > HISTORY_PER_ROOM) history.shift();
    return true;
  }

  /** The message of this author with this page id, if the room's history has it. */
  find(room: string, uid: string, cid: string): ChatMessage | undefined {
    return this.#rooms.get(room)?.history.find((m) => m.uid === uid && m.cid === cid);
  }

  online(state: RoomState): number {
    let n = state.local;
    for (const r of state.remote.values()) n += r.count;
    return n;
  }

  #room(room: string): RoomState {
    let state = this.#rooms.get(room);
    if (state === undefined) {
      state = { local: 0, history: [], remote: new Map(), told: -1 };
      this.#rooms.set(room, state);
      if (this.#rooms.size > MAX_ROOMS) this.#forgetOne();
    } else {
      // Map order is the LRU order: move it to the end.
      this.#rooms.delete(room);
      this.#rooms.set(room, state);
    }
    return state;
  }

  #forgetOne(): void {
    for (const [name, s] of this.#rooms) {
      if (s.local === 0 && s.remote.size === 0) {
        this.#rooms.delete(name);
        return;
      }
    }
  }

  /** A local count changed: tell this node's pages in the room and the other nodes. */
  #changed(room: string, state: RoomState): void {
    this.#tell(room, state);
    this.#announce();
  }

  /** Tells this node's pages in `room` the total online, if it changed (local only: each node computes its own). */
  #tell(room: string, state: RoomState): void {
    const online = this.online(state);
    if (online === state.told || this.#hub === null) return;
    state.told = online;
    this.#hub.deliver(roomTopic(room), Buffer.from(JSON.stringify({ type: 'presence', online })), false);
  }

  #announce(): void {
    if (this.#inner === null) return;
    const counts: Record<string, number> = {};
    for (const [room, s] of this.#rooms) if (s.local > 0) counts[room] = s.local;
    this.#control({ node: this.node, counts });
  }

  #beat(): void {
    this.#announce();
    const now = Date.now();
    for (const [node, at] of this.#seenNodes) if (now - at > PRESENCE_EXPIRY_MS) this.#seenNodes.delete(node);
    for (const [room, s] of this.#rooms) {
      for (const [node, r] of s.remote) if (now - r.at > PRESENCE_EXPIRY_MS) s.remote.delete(node);
      this.#tell(room, s);
    }
  }

  /** A message from another node (through the shared adapter). */
  #fromOtherNode(topic: string, data: Buffer, isBinary: boolean): PublishResult {
    if (topic === CONTROL_TOPIC) {
      this.#onControl(data);
      return { sent: 0, queued: 0, dropped: 0 };
    }
    if (!isBinary && topic.startsWith('chat:')) {
      try {
        const msg = JSON.parse(data.toString()) as ChatMessage;
        if (msg.type === 'chat' && roomTopic(msg.room) === topic) this.remember(msg);
      } catch {
        // not ours to judge: pages get it as it is
      }
    }
    return (this.#hub as PubSubHub).deliver(topic, data, isBinary);
  }

  /**
   * Another node's history of `room` (the answer to our `want`): what we lack is added, in time order, and if that
   * changed anything this node's pages in the room get the whole history again.
   */
  #mergeHistory(room: string, messages: unknown[]): void {
    const state = this.#rooms.get(room);
    if (state === undefined || state.local === 0 || this.#hub === null) return;
    const have = new Set(state.history.map((m) => m.id));
    let added = 0;
    for (const m of messages.slice(-HISTORY_PER_ROOM)) {
      if (!isChatMessage(m, room) || have.has(m.id)) continue;
      state.history.push(m);
      have.add(m.id);
      added++;
    }
    if (added === 0) return;
    state.history.sort((a, b) => a.ts - b.ts);
    if (state.history.length > HISTORY_PER_ROOM) state.history.splice(0, state.history.length - HISTORY_PER_ROOM);
    const update = JSON.stringify({ type: 'history', messages: state.history });
    this.#hub.deliver(roomTopic(room), Buffer.from(update), false);
  }

  #control(msg: unknown): void {
    this.#inner?.publish(CONTROL_TOPIC, Buffer.from(JSON.stringify(msg)), false);
  }

  #onControl(data: Buffer): void {
    let msg: { node?: unknown; counts?: unknown; bye?: unknown; want?: unknown; room?: unknown; history?: unknown };
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    const node = msg.node;
    if (typeof node !== 'string' || node === this.node) return;
    if (typeof msg.want === 'string') {
      const history = this.#rooms.get(msg.want)?.history;
      if (history !== undefined && history.length > 0) this.#control({ node: this.node, room: msg.want, history });
      return;
    }
    if (typeof msg.room === 'string' && Array.isArray(msg.history)) {
      this.#mergeHistory(msg.room, msg.history);
      return;
    }
    const counts = msg.counts;
    if (typeof counts !== 'object' || counts === null) return;
    const isNew = !this.#seenNodes.has(node);
    const now = Date.now();
    if (msg.bye === true) this.#seenNodes.delete(node);
    else this.#seenNodes.set(node, now);
    for (const [room, s] of this.#rooms) {
      const c = (counts as Record<string, unknown>)[room];
      if (typeof c === 'number' && c > 0) s.remote.set(node, { count: c, at: now });
      else s.remote.delete(node);
    }
    for (const [room, c] of Object.entries(counts)) {
      if (typeof c === 'number' && c > 0 && ROOM_RE.test(room) && !this.#rooms.has(room)) {
        this.#room(room).remote.set(node, { count: c, at: now });
      }
    }
    for (const [room, s] of this.#rooms) this.#tell(room, s);
    // A node we had not heard of: tell it our counts now rather than at the next heartbeat.
    if (isNew && msg.bye !== true) this.#announce();
  }
}

/** Whether `m` has the shape of a chat message of `room` (what another node sends is checked like a page's input). */
function isChatMessage(m: unknown, room: string): m is ChatMessage {
  if (typeof m !== 'object' || m === null) return false;
  const c = m as Record<string, unknown>;
  return (
    c.type === 'chat' &&
    c.room === room &&
    typeof c.id === 'string' &&
    typeof c.uid === 'string' &&
    typeof c.from === 'string' &&
    typeof c.text === 'string' &&
    typeof c.ts === 'number' &&
    typeof c.cid === 'string'
  );
}

/** Why a handshake to /chat is refused (a 400 body), or null. */
function checkJoin(room: string, name: string, key: string): string | null {
  if (!ROOM_RE.test(room)) return "room must be 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit";
  const nameError = checkName(name);
  if (nameError !== null) return nameError;
  if (!KEY_RE.test(key)) return 'key must be 16 to 64 of A-Z, a-z, 0-9, - and _';
  return null;
}

function checkName(name: string): string | null {
  const n = [...name].length;
  if (n === 0 || n > MAX_NAME_CHARS || name.trim() !== name || !NAME_RE.test(name))
    return `name must be 1 to ${MAX_NAME_CHARS} visible characters without leading or trailing spaces`;
  return null;
}

/** Starts one demo node. */
export async function startDemo(options: DemoOptions): Promise<Server> {
  const rooms = new Rooms(options.pubsub ?? null);
  let guests = 0;
  let seq = 0;
  const label = options.label ?? '';
  const server: Server = await serve<Member>({
    port: options.port,
    host: options.host,
    pubsub: rooms,
    ...(options.inspector === undefined ? {} : { inspector: options.inspector }),
    async request(req, res) {
      switch (req.path) {
        case '/':
          res.send(DEMO_PAGE, 200, PAGE_HEADERS);
          return;
        case '/demo.js':
          res.send(DEMO_JS, 200, { ...ASSET_HEADERS, 'Content-Type': 'text/javascript; charset=utf-8' });
          return;
        case '/demo.css':
          res.send(DEMO_CSS, 200, { ...ASSET_HEADERS, 'Content-Type': 'text/css; charset=utf-8' });
          return;
        case '/favicon.svg':
        case '/favicon.ico':
          res.send(FAVICON_SVG, 200, { ...ASSET_HEADERS, 'Content-Type': 'image/svg+xml' });
          return;
        case '/stats':
          res.json(server.stats());
          return;
        case '/hello':
          res.json({ hello: req.searchParams.get('name') ?? 'world', from: req.remoteAddress });
          return;
        case '/echo':
          res.send(await req.bytes(), 200, {
            'Content-Type': req.header('content-type') ?? 'application/octet-stream',
          });
          return;
        case '/stream':
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          for (let i = 1; i <= 5; i++) {
            if (!res.write(`line ${i}\n`)) await res.drained();
            await new Promise((r) => setTimeout(r, 100));
          }
          res.end();
          return;
        default:
          res.send('Not Found\n', 404);
      }
    },
    websocket: {
      maxPayload: MAX_FRAME_BYTES,
      upgrade(req, ctx) {
        if (req.path !== '/chat') return ctx.reject(404, 'the chat is at /chat?room=ROOM&name=NAME&key=KEY\n');
        const q = req.searchParams;
        const room = q.get('room') ?? 'lobby';
        const name = q.get('name') ?? `guest-${++guests}`;
        const key = q.get('key') ?? randomBytes(18).toString('base64url');
        const error = checkJoin(room, name, key);
        if (error !== null) return ctx.reject(400, `${error}\n`);
        const uid = createHash('sha256').update(`sockeye-demo:${key}`).digest('base64url').slice(0, 12);
        return { data: { room, name, uid, windowStart: 0, inWindow: 0 } };
      },
      open(ws) {
        const { room, name, uid } = ws.data;
        const state = rooms.join(room);
        ws.send(JSON.stringify({ type: 'welcome', room, name, uid, node: label }));
        ws.send(JSON.stringify({ type: 'history', messages: state.history }));
        ws.subscribe(roomTopic(room));
        ws.send(JSON.stringify({ type: 'presence', online: rooms.online(state) }));
        server.publish(roomTopic(room), JSON.stringify({ type: 'system', text: `${name} joined`, ts: Date.now() }));
      },
      message(ws, message, isBinary) {
        if (isBinary) {
          // RFC 6455 §7.4.1: 1003, a type of data the endpoint cannot accept.
          ws.close(1003, 'this chat takes JSON text messages only');
          return;
        }
        const m = ws.data;
        const now = Date.now();
        if (now - m.windowStart > RATE_WINDOW_MS) {
          m.windowStart = now;
          m.inWindow = 0;
        }
        if (++m.inWindow > RATE_MESSAGES) {
          // RFC 6455 §7.4.1: 1008, a message that violates the endpoint's policy.
          ws.close(1008, `too many messages: at most ${RATE_MESSAGES} per ${RATE_WINDOW_MS / 1000} s`);
          return;
        }
        const error = handleMessage(ws, message as string);
        if (error !== null) ws.close(1008, error);
      },
      close(ws) {
        const { room, name } = ws.data;
        rooms.leave(room);
        server.publish(roomTopic(room), JSON.stringify({ type: 'system', text: `${name} left`, ts: Date.now() }));
      },
    },
  });

  /** Acts on one message from a page; returns the close reason for bad input (1008), or null. */
  function handleMessage(ws: ServerWebSocket<Member>, text: string): string | null {
    let msg: { type?: unknown; text?: unknown; cid?: unknown; name?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      return 'not JSON: send {"type":"chat","text":"...","cid":"..."}';
    }
    if (typeof msg !== 'object' || msg === null) return 'expected a JSON object with a "type"';
    const m = ws.data;
    if (msg.type === 'chat') {
      const body = msg.text;
      const cid = msg.cid;
      if (typeof body !== 'string' || body.trim() === '' || body.length > MAX_TEXT_CHARS)
        return `"text" must be a string of 1 to ${MAX_TEXT_CHARS} characters`;
      if (TEXT_BAD_RE.test(body)) return '"text" must not contain control characters (tab and newline are fine)';
      if (typeof cid !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(cid))
        return '"cid" must be 1 to 32 of A-Z, a-z, 0-9, - and _';
      const again = rooms.find(m.room, m.uid, cid);
      if (again !== undefined) {
        // Sent again after a drop, and it did arrive the first time: the receipt, not a second copy.
        ws.send(JSON.stringify(again));
        return null;
      }
      const chat: ChatMessage = {
        type: 'chat',
        id: `${rooms.node}-${++seq}`,
        room: m.room,
        uid: m.uid,
        from: m.name,
        text: body,
        ts: Date.now(),
        cid,
      };
      rooms.remember(chat);
      server.publish(roomTopic(m.room), JSON.stringify(chat));
      return null;
    }
    if (msg.type === 'name') {
      const name = msg.name;
      if (typeof name !== 'string') return '"name" must be a string';
      const error = checkName(name);
      if (error !== null) return error;
      if (name === m.name) return null;
      const old = m.name;
      m.name = name;
      ws.send(JSON.stringify({ type: 'welcome', room: m.room, name, uid: m.uid, node: label }));
      server.publish(
        roomTopic(m.room),
        JSON.stringify({ type: 'system', text: `${old} is now ${name}`, ts: Date.now() }),
      );
      return null;
    }
    return 'unknown message type: use "chat" or "name"';
  }

  return server;
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  // Everything the page needs comes from here; connect-src 'self' covers ws:/wss: to this host (CSP Level 3).
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};
const ASSET_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' };

/** What `sockeye demo` was given. */
export interface DemoCommand {
  port: number;
  host: string | undefined;
  redis: string | undefined;
}

/**
 * `sockeye demo`: one node, or with `redis` two nodes (ports `port` and `port + 1`, or two free ports for 0) sharing
 * rooms through Redis. Prints the URLs; returns the servers, or an exit code (2) after printing why it cannot start.
 */
export async function runDemo(
  cmd: DemoCommand,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<Server[] | number> {
  if (cmd.redis === undefined) {
    const server = await startDemo({ port: cmd.port, host: cmd.host, inspector: DEMO_INSPECTOR });
    out(`sockeye demo on ${server.url}`);
    out(inspectorLine(server, DEMO_INSPECTOR).trimEnd());
    return [server];
  }
  if (cmd.port > 65534) {
    err(`--port must be at most 65534 with --redis (node 2 listens on the next port), got ${cmd.port}`);
    return 2;
  }
  let redis: typeof import('../redis/index.js');
  try {
    redis = await import('../redis/index.js');
  } catch {
    err('sockeye demo --redis needs the ioredis package: npm install ioredis');
    return 2;
  }
  const servers: Server[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const port = cmd.port === 0 ? 0 : cmd.port + i;
      const label = `node ${i + 1}`;
      const pubsub = redis.redisPubSub({ url: cmd.redis });
      const server = await startDemo({ port, host: cmd.host, label, pubsub, inspector: DEMO_INSPECTOR });
      servers.push(server);
      out(`sockeye demo ${label} on ${server.url}`);
      out(inspectorLine(server, DEMO_INSPECTOR).trimEnd());
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.close({ deadline: 0 })));
    throw e;
  }
  out(`rooms shared through ${redacted(cmd.redis)}: open node 1 in one window and node 2 in another`);
  watchRedis(servers[0] as Server, redacted(cmd.redis), out);
  return servers;
}

/** A Redis URL without its password, to print. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}

/**
 * Says when the link to Redis goes down or comes back (the adapter's state, checked every second): while it is down
 * each node still serves its own pages, but the rooms are not shared, and a person trying the demo should know why.
 */
function watchRedis(server: Server, url: string, out: (line: string) => void): void {
  let was = 'ready/ready';
  let reported = false;
  const timer = setInterval(() => {
    const state = String(server.stats().pubsub?.state ?? '');
    if (state === was || state === '') return;
    if (state === 'ready/ready') out(`redis ${url} is reachable: rooms are shared again`);
    else if (was === 'ready/ready' || !reported)
      out(`redis ${url} is not reachable (${state}): each node serves its own pages; rooms are not shared until it is`);
    reported = true;
    was = state;
  }, 1000);
  timer.unref();
}
