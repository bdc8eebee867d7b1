/**
 * The listen queue, seen from the kernel (Linux): how many connections the kernel has completed but we have not
 * yet accept()ed, and the system counters that tell connections were lost before accept().
 *
 * Sources, all text files under /proc of this process's network namespace:
 * - `/proc/net/tcp`, `/proc/net/tcp6`: one row per socket. For a row in LISTEN state (`st` 0A) the kernel prints
 *   `sk_ack_backlog` in the `rx_queue` column: the accept-queue length now (net/ipv4/tcp_ipv4.c `get_tcp4_sock`).
 *   The `tx_queue` column of a listener is `write_seq - snd_una`, always 0: it is NOT the backlog limit. `ss -l`
 *   shows the limit as Send-Q because it asks over netlink (inet_diag), which a zero-dependency Node module cannot
 *   do. So the limit is computed the way the kernel sets it: `min(backlog, net.core.somaxconn)` (`__sys_listen`).
 *   The kernel's full test is `sk_ack_backlog > sk_max_ack_backlog`, so the queue holds up to limit + 1.
 * - `/proc/net/netstat`: `TcpExt:` counters (a line of names, then a line of values). They are per network
 *   namespace, not per socket: the deltas include every other listener in the namespace (other servers, other
 *   processes). They say "someone here lost connections before accept()"; the queue depth says whether it is us.
 * - `/proc/sys/net/core/somaxconn`: the cap on the backlog, read once.
 *
 * Reads are synchronous and whole-file: the files are small on a normal host (one ~150-byte row per socket in
 * /proc/net/tcp), so a snapshot is cheap enough for a stats call, but it is O(sockets in the namespace): take
 * snapshots on demand, never per request. Anywhere /proc is absent (macOS, Windows, a sandbox) every field is null.
 */

import { readFileSync, readlinkSync } from 'node:fs';

/** `server.stats().listen`: the accept queue now, and the loss counters since the monitor started. */
export interface ListenStats {
  /** Connections completed by the kernel and waiting for accept() (summed over the matched listeners). */
  queueDepth: number | null;
  /** The accept-queue limit, `min(backlog, somaxconn)` per matched listener (the queue may hold one more). */
  queueLimit: number | null;
  /** TcpExt ListenOverflows since start: a SYN or final ACK arrived while an accept queue was full (namespace-wide). */
  listenOverflows: number | null;
  /** TcpExt ListenDrops since start: every drop at a listener, overflows included (namespace-wide). */
  listenDrops: number | null;
  /** TcpExt SyncookiesSent since start: SYN queue full, answered with a SYN cookie instead (namespace-wide). */
  syncookiesSent: number | null;
  /** TcpExt SyncookiesRecv since start: valid cookie ACKs received (namespace-wide). */
  syncookiesRecv: number | null;
  /** TcpExt SyncookiesFailed since start: ACKs whose cookie did not check out (namespace-wide). */
  syncookiesFailed: number | null;
  /** TcpExt TCPReqQFullDrop since start: SYNs dropped because the SYN queue was full and cookies are off. */
  reqQFullDrop: number | null;
}

/** What the LISTEN rows of /proc/net/tcp{,6} say about one port. */
export interface ListenRows {
  /** Sum of `rx_queue` (accept-queue length) over the matched LISTEN rows. */
  queueDepth: number;
  /** How many LISTEN rows matched (1 for one listener; more for separate IPv4/IPv6 sockets or SO_REUSEPORT). */
  listeners: number;
}

/** Options of {@link ListenQueueMonitor}. */
export interface ListenQueueMonitorOptions {
  /** The backlog passed to listen(); default 511, as Node uses for a missing or zero backlog. */
  backlog?: number;
  /** Socket inode of our listener (see {@link socketInode}): match that socket only, not every listener on the port. */
  inode?: number | null;
  /** Where procfs is mounted; tests point it at a fixture directory. Default `/proc`. */
  procRoot?: string;
}

/** Node's default listen backlog (lib/net.js: `handle.listen(backlog || 511)`). */
const NODE_DEFAULT_BACKLOG = 511;

/** Linux TCP state numbers (include/net/tcp_states.h): TCP_LISTEN = 10. */
const TCP_LISTEN = 0x0a;

/**
 * Finds the LISTEN rows for a local `port` in the text of /proc/net/tcp or /proc/net/tcp6 and sums their accept
 * queues. Rows in other states whose local port is `port` (accepted connections, TIME_WAIT) are skipped, as are rows
 * where `port` is only the remote port.
 *
 * Several LISTEN rows can share a port: separate IPv4 and IPv6 (`ipv6Only`) sockets, SO_REUSEPORT groups, or
 * another process on another address. Each has its own queue; the depths are summed, because the question is
 * "how many connections to this port wait for accept()", and `listeners` says how many queues that covers. Pass
 * `inode` to match one socket only.
 *
 * @returns null when no LISTEN row matches (not listening, or not visible in this namespace).
 * @example parseProcNetTcp(readFileSync('/proc/net/tcp', 'utf8'), 8080) // { queueDepth: 3, listeners: 1 }
 */
export function parseProcNetTcp(text: string, port: number, inode?: number | null): ListenRows | null {
  let queueDepth = 0;
  let listeners = 0;
  for (const line of text.split('\n')) {
    // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ..."
    // "   1: 0100007F:941B 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 1087880 ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number.parseInt(f[3]!, 16) !== TCP_LISTEN) continue;
    const local = f[1]!;
    const colon = local.lastIndexOf(':');
    if (colon < 0 || Number.parseInt(local.slice(colon + 1), 16) !== port) continue;
    if (inode != null && Number(f[9]) !== inode) continue;
    const queues = f[4]!;
    const rx = Number.parseInt(queues.slice(queues.indexOf(':') + 1), 16);
    if (Number.isNaN(rx)) continue;
    queueDepth += rx;
    listeners++;
  }
  return listeners === 0 ? null : { queueDepth, listeners };
}

/**
 * Reads the `TcpExt:` counters of /proc/net/netstat (a line of names, then a line of values).
 *
 * @returns name → value; empty when there is no TcpExt pair (other sections such as IpExt are ignored).
 * @example parseNetstat(readFileSync('/proc/net/netstat', 'utf8')).ListenOverflows
 */
export function parseNetstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  let names: string[] | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('TcpExt:')) continue;
    const f = line.trim().split(/\s+/);
    if (names === null) {
      names = f;
      continue;
    }
    const n = Math.min(names.length, f.length);
    for (let i = 1; i < n; i++) {
      const v = Number(f[i]);
      if (Number.isFinite(v)) out[names[i]!] = v;
    }
    break;
  }
  return out;
}

/**
 * The accept-queue limit the kernel sets for listen(backlog): Node turns a zero backlog into 511, then
 * `__sys_listen` caps it at somaxconn (an unsigned compare, so a negative backlog becomes somaxconn too).
 */
export function effectiveBacklog(backlog: number, somaxconn: number): number {
  const requested = backlog || NODE_DEFAULT_BACKLOG;
  return requested < 0 || requested > somaxconn ? somaxconn : requested;
}

/**
 * The socket inode behind a file descriptor of this process (`/proc/self/fd/N` → `socket:[inode]`), to narrow
 * {@link ListenQueueMonitor} to one listening socket. Node exposes the fd of a listening `net.Server` as
 * `server._handle.fd` (internal, Unix only).
 *
 * @returns null when the fd is not a socket or /proc is absent.
 */
export function socketInode(fd: number, procRoot = '/proc'): number | null {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${procRoot}/self/fd/${fd}`));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Watches one listening port: construct it after listen(); each {@link snapshot} reads /proc again.
 * Counters are deltas since construction and namespace-wide (see the module comment).
 *
 * @example
 * const monitor = new ListenQueueMonitor(server.port, { backlog: 511 });
 * monitor.snapshot(); // { queueDepth: 0, queueLimit: 511, listenOverflows: 0, ... }
 */
export class ListenQueueMonitor {
  readonly port: number;
  readonly #inode: number | null;
  readonly #procRoot: string;
  /** `min(backlog, somaxconn)`, or null when somaxconn could not be read. */
  readonly #limit: number | null;
  readonly #baseline: Record<string, number>;

  constructor(port: number, options: ListenQueueMonitorOptions = {}) {
    this.port = port;
    this.#inode = options.inode ?? null;
    this.#procRoot = options.procRoot ?? '/proc';
    const somaxconn = Number(readText(`${this.#procRoot}/sys/net/core/somaxconn`)?.trim() ?? Number.NaN);
    this.#limit = Number.isInteger(somaxconn) ? effectiveBacklog(options.backlog ?? 0, somaxconn) : null;
    const netstat = readText(`${this.#procRoot}/net/netstat`);
    this.#baseline = netstat === null ? {} : parseNetstat(netstat);
  }

  /** Reads the queue and the counters now. Synchronous: a few small /proc reads. */
  snapshot(): ListenStats {
    let rows: ListenRows | null = null;
    for (const file of ['tcp', 'tcp6']) {
      const text = readText(`${this.#procRoot}/net/${file}`);
      const found = text === null ? null : parseProcNetTcp(text, this.port, this.#inode);
      if (found === null) continue;
      if (rows === null) rows = found;
      else rows = { queueDepth: rows.queueDepth + found.queueDepth, listeners: rows.listeners + found.listeners };
    }
    const netstat = readText(`${this.#procRoot}/net/netstat`);
    const now = netstat === null ? {} : parseNetstat(netstat);
    const base = this.#baseline;
    const delta = (name: string): number | null => {
      const b = base[name];
      const n = now[name];
      return b === undefined || n === undefined ? null : n - b;
    };
    return {
      queueDepth: rows === null ? null : rows.queueDepth,
      queueLimit: rows === null || this.#limit === null ? null : this.#limit * rows.listeners,
      listenOverflows: delta('ListenOverflows'),
      listenDrops: delta('ListenDrops'),
      syncookiesSent: delta('SyncookiesSent'),
      syncookiesRecv: delta('SyncookiesRecv'),
      syncookiesFailed: delta('SyncookiesFailed'),
      reqQFullDrop: delta('TCPReqQFullDrop'),
    };
  }
}

/** The whole file as text, or null when it cannot be read (no /proc, no permission). */
function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}
