/**
 * The demo chat's page script, written in TypeScript so that tsc checks it, and served as the source of
 * `demoClient` (`demo-page.ts` wraps it: `(function demoClient…)(config)`). It must stay self-contained: no imports,
 * nothing from the module around it, only DOM globals and its `config` argument.
 *
 * What it does: picks the room from the URL hash, connects to /chat with the name the user chose (localStorage) and
 * a per-tab secret key (sessionStorage; the server turns it into the stable id that marks one's own messages),
 * renders history, chat and presence with textContent only (markup shows as text), queues what is typed while
 * offline (marked, sent on reconnect, confirmed by the server's echo), and reconnects with capped, jittered
 * exponential backoff.
 */

/** What the server puts in the page (its limits), so that the page never sends what the server would refuse. */
export interface DemoClientConfig {
  maxText: number;
  maxName: number;
  maxQueue: number;
  rooms: string[];
  backoffBaseMs: number;
  backoffMaxMs: number;
}

interface ChatMsg {
  type: 'chat';
  id: string;
  uid: string;
  from: string;
  text: string;
  ts: number;
  cid: string;
}

type ServerMsg =
  | { type: 'welcome'; room: string; name: string; uid: string; node: string }
  | { type: 'history'; messages: ChatMsg[] }
  | { type: 'presence'; online: number }
  | { type: 'system'; text: string; ts: number }
  | ChatMsg;

interface Pending {
  cid: string;
  text: string;
  el: HTMLElement;
  sent: boolean;
}

export function demoClient(config: DemoClientConfig): void {
  const $ = <E extends HTMLElement>(id: string) => document.getElementById(id) as E;
  const log = $('log');
  const status = $('status');
  const statusText = $('status-text');
  const count = $('count');
  const form = $<HTMLFormElement>('form');
  const text = $<HTMLInputElement>('text');
  const nameForm = $<HTMLFormElement>('name-form');
  const nameInput = $<HTMLInputElement>('name');
  const nameHint = $('name-hint');
  const retry = $<HTMLButtonElement>('retry');
  const roomList = $('room-list');
  const roomForm = $<HTMLFormElement>('room-form');
  const roomInput = $<HTMLInputElement>('room-input');
  const roomTitle = $('room-title');
  const node = $('node');
  const offlineNote = $('offline-note');

  const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
  const NAME_RE = /^(?:[^\p{C}]|\u200D)+$/u;
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const GROUP_MS = 5 * 60_000;

  const randomId = (n: number): string =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => ALPHABET[b & 63]).join('');
  const load = (s: Storage, k: string): string | null => {
    try {
      return s.getItem(k);
    } catch {
      return null;
    }
  };
  const save = (s: Storage, k: string, v: string): void => {
    try {
      s.setItem(k, v);
    } catch {
      // storage off (private mode): the choice lasts this page
    }
  };
  const validName = (n: string): boolean => {
    const len = [...n].length;
    return len > 0 && len <= config.maxName && n.trim() === n && NAME_RE.test(n);
  };

  let key = load(sessionStorage, 'sockeye-demo-key');
  if (key === null || !/^[A-Za-z0-9_-]{16,64}$/.test(key)) {
    key = randomId(24);
    save(sessionStorage, 'sockeye-demo-key', key);
  }
  let name = load(localStorage, 'sockeye-demo-name');
  if (name !== null && !validName(name)) name = null;
  const roomOfHash = (): string => {
    const r = decodeURIComponent(location.hash.slice(1)).toLowerCase();
    return ROOM_RE.test(r) ? r : 'lobby';
  };
  let room = roomOfHash();

  let ws: WebSocket | null = null;
  let uid = '';
  let myName = name ?? 'you';
  let attempt = 0;
  let retryTimer = 0;
  let tickTimer = 0;
  let retryAt = 0;
  let historyLoaded = false;
  let unread = 0;
  let queue: Pending[] = [];

  // --- rendering (textContent only: whatever people type is shown as text) ---

  const el = (tag: string, cls: string, textContent?: string): HTMLElement => {
    const e = document.createElement(tag);
    if (cls !== '') e.className = cls;
    if (textContent !== undefined) e.textContent = textContent;
    return e;
  };
  const clock = (ts: number): HTMLElement => {
    const t = el('time', 'ts', new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    t.setAttribute('datetime', new Date(ts).toISOString());
    t.title = new Date(ts).toLocaleString();
    return t;
  };
  const hue = (s: string): number => {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) % 360;
    return h;
  };
  const nearBottom = (): boolean => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const append = (e: HTMLElement, force: boolean): void => {
    const stick = force || nearBottom();
    if (e.classList.contains('msg')) log.querySelector('.empty')?.remove();
    log.appendChild(e);
    if (stick) log.scrollTop = log.scrollHeight;
  };
  const setTitle = (): void => {
    document.title = `${unread > 0 ? `(${unread}) ` : ''}#${room} · sockeye chat`;
  };

  const renderChat = (m: ChatMsg | Pending, mine: boolean, pending: boolean): HTMLElement => {
    const from = 'from' in m ? m.from : myName;
    const ts = 'ts' in m ? m.ts : Date.now();
    const author = 'uid' in m ? m.uid : uid;
    const row = el('div', `msg${mine ? ' mine' : ''}${pending ? ' pending' : ''}`);
    row.dataset.uid = author;
    row.dataset.ts = String(ts);
    const prev = log.lastElementChild as HTMLElement | null;
    if (prev?.classList.contains('msg') && prev.dataset.uid === author && ts - Number(prev.dataset.ts) < GROUP_MS)
      row.classList.add('cont');
    const avatar = el('div', 'avatar', [...from][0]?.toUpperCase() ?? '?');
    avatar.style.setProperty('--h', String(hue(author)));
    avatar.setAttribute('aria-hidden', 'true');
    const body = el('div', 'body');
    const meta = el('div', 'meta');
    meta.append(el('span', 'from', mine ? `${from} (you)` : from), clock(ts));
    body.append(meta, el('div', 'bubble', m.text));
    if (pending) body.append(el('div', 'mark'));
    row.append(avatar, body);
    return row;
  };
  const markPending = (p: Pending): void => {
    const mark = p.el.querySelector('.mark');
    if (mark !== null) mark.textContent = p.sent ? 'sending…' : 'not sent yet: waiting for the connection';
  };
  const system = (s: string, ts: number, cls = ''): void => {
    const row = el('div', `sys${cls === '' ? '' : ` ${cls}`}`);
    row.append(el('span', '', s), clock(ts));
    append(row, false);
  };

  const renderRooms = (): void => {
    const seen = (load(localStorage, 'sockeye-demo-rooms') ?? '').split(',').filter((r) => ROOM_RE.test(r));
    const rooms = [...new Set([...config.rooms, ...seen, room])].slice(0, 12);
    roomList.replaceChildren(
      ...rooms.map((r) => {
        const a = el('a', r === room ? 'chip current' : 'chip', `#${r}`) as HTMLAnchorElement;
        a.href = `#${r}`;
        if (r === room) a.setAttribute('aria-current', 'page');
        return a;
      }),
    );
    if (!config.rooms.includes(room)) {
      save(localStorage, 'sockeye-demo-rooms', [room, ...seen.filter((r) => r !== room)].slice(0, 6).join(','));
    }
    roomTitle.textContent = `#${room}`;
    text.placeholder = `Message #${room}`;
    setTitle();
  };

  // --- the connection ---

  const setState = (state: 'connecting' | 'open' | 'offline'): void => {
    status.dataset.state = state;
    form.classList.toggle('offline', state !== 'open');
    offlineNote.hidden = state === 'open';
    retry.hidden = state !== 'offline';
    if (state !== 'open') count.textContent = '–';
    if (state === 'connecting') statusText.textContent = 'connecting…';
    if (state === 'open') statusText.textContent = 'connected';
    if (state === 'offline') tick();
  };
  const tick = (): void => {
    const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    statusText.textContent = `offline · retry in ${s} s`;
  };

  const flush = (): void => {
    if (ws === null || ws.readyState !== WebSocket.OPEN || !historyLoaded) return;
    for (const p of queue) {
      if (p.sent) continue;
      ws.send(JSON.stringify({ type: 'chat', text: p.text, cid: p.cid }));
      p.sent = true;
      markPending(p);
    }
  };

  const onMessage = (m: ServerMsg): void => {
    switch (m.type) {
      case 'welcome':
        uid = m.uid;
        myName = m.name;
        // A guest keeps the name the server gave it across reconnects (in memory: a name picked is remembered).
        name ??= m.name;
        if (document.activeElement !== nameInput) nameInput.value = m.name;
        node.textContent = m.node === '' ? '' : `served by ${m.node}`;
        return;
      case 'history': {
        historyLoaded = true;
        log.replaceChildren();
        for (const h of m.messages) log.appendChild(renderChat(h, h.uid === uid, false));
        if (m.messages.length === 0) log.appendChild(el('div', 'empty', `No messages in #${room} yet. Say hi!`));
        for (const p of queue) {
          p.el = renderChat(p, true, true);
          markPending(p);
          log.appendChild(p.el);
        }
        log.scrollTop = log.scrollHeight;
        flush();
        return;
      }
      case 'presence':
        count.textContent = String(m.online);
        return;
      case 'system':
        system(m.text, m.ts);
        return;
      case 'chat': {
        const mine = m.uid === uid;
        const p = mine ? queue.find((q) => q.cid === m.cid) : undefined;
        const row = renderChat(m, mine, false);
        if (p !== undefined) {
          queue = queue.filter((q) => q !== p);
          if (p.el.isConnected) {
            row.className = p.el.className.replace(' pending', '');
            p.el.replaceWith(row);
            return;
          }
        }
        append(row, mine);
        if (document.hidden && !mine) {
          unread++;
          setTitle();
        }
        return;
      }
    }
  };

  const connect = (): void => {
    clearTimeout(retryTimer);
    clearInterval(tickTimer);
    historyLoaded = false;
    setState('connecting');
    const q = new URLSearchParams({ room, key: key as string });
    if (name !== null) q.set('name', name);
    const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/chat?${q}`);
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      attempt = 0;
      setState('open');
    };
    sock.onmessage = (e) => {
      if (ws === sock) onMessage(JSON.parse(e.data as string) as ServerMsg);
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      // Sent but not confirmed: send again after reconnecting (the server keeps one copy of each).
      for (const p of queue) {
        p.sent = false;
        markPending(p);
      }
      if (e.code === 1003 || e.code === 1008 || e.code === 1009)
        system(`The server closed the connection: ${e.reason || e.code}`, Date.now(), 'error');
      else if (e.code === 1001) system('The server went away (restarting?).', Date.now(), 'error');
      else if (historyLoaded) system('Connection lost.', Date.now(), 'error');
      // Capped exponential backoff with jitter (half to all of the step), so a restarted server is not stampeded.
      const step = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** attempt);
      attempt++;
      const delay = step / 2 + (Math.random() * step) / 2;
      retryAt = Date.now() + delay;
      retryTimer = window.setTimeout(connect, delay);
      tickTimer = window.setInterval(tick, 1000);
      setState('offline');
    };
  };

  // --- the user's side ---

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = text.value.trim();
    if (t === '') return;
    if (queue.filter((p) => !p.sent).length >= config.maxQueue) {
      system(`At most ${config.maxQueue} messages can wait for the connection.`, Date.now(), 'error');
      return;
    }
    const p: Pending = { cid: randomId(12), text: t, el: document.createElement('div'), sent: false };
    p.el = renderChat(p, true, true);
    markPending(p);
    queue.push(p);
    append(p.el, true);
    text.value = '';
    flush();
  });

  nameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    nameInput.blur();
  });
  nameInput.addEventListener('change', () => {
    const n = nameInput.value.trim();
    if (!validName(n)) {
      nameHint.textContent = `1 to ${config.maxName} visible characters`;
      return;
    }
    nameHint.textContent = '';
    nameInput.value = n;
    name = n;
    save(localStorage, 'sockeye-demo-name', n);
    if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'name', name: n }));
  });

  roomForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const r = roomInput.value.trim().toLowerCase().replace(/^#/, '');
    if (!ROOM_RE.test(r)) {
      roomInput.setCustomValidity("1 to 32 of a-z, 0-9, '-' and '_'");
      roomInput.reportValidity();
      return;
    }
    roomInput.value = '';
    location.hash = `#${r}`;
  });
  roomInput.addEventListener('input', () => roomInput.setCustomValidity(''));

  window.addEventListener('hashchange', () => {
    const r = roomOfHash();
    if (r === room) return;
    room = r;
    queue = [];
    unread = 0;
    renderRooms();
    const old = ws;
    ws = null;
    old?.close(1000, 'switching rooms');
    attempt = 0;
    connect();
  });
  retry.addEventListener('click', () => {
    attempt = 0;
    connect();
  });
  window.addEventListener('online', () => {
    if (ws === null) connect();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      unread = 0;
      setTitle();
    }
  });

  text.maxLength = config.maxText;
  nameInput.maxLength = config.maxName * 2;
  if (name !== null) nameInput.value = name;
  renderRooms();
  connect();
  text.focus();
}
