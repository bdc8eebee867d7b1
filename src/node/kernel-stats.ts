/**
 * The path underneath a connection, seen from the kernel (Linux): the counters that say where a packet was dropped
 * or stalled between the wire and our read, and between our write and the wire (docs/socket-life.md, "The path
 * underneath"). Everything here is readable without privileges, and almost all of it is namespace-wide: the
 * figures include every other socket in this process's network namespace (other servers, other processes,
 * clients on the same host). They say "this happened here", not "this happened to us".
 *
 * Sources, all text files under /proc of this process's network namespace:
 * - `/proc/net/snmp`, `Tcp:` (RFC 4022's MIB): InSegs, OutSegs, RetransSegs, InErrs, OutRsts.
 * - `/proc/net/netstat`, `TcpExt:` (Linux's own MIB, include/uapi/linux/snmp.h): backlog drops, receive-queue
 *   drops, pruning, zero windows, retransmission timeouts.
 * - `/proc/net/dev`: per-interface drop counters (this namespace's interfaces, summed).
 * - `/proc/net/softnet_stat`: per-CPU input backlog drops and time squeezes. Host-wide, not per namespace: the
 *   per-CPU `softnet_data` is shared by every namespace (net/core/net-procfs.c prints the same table in each).
 * - `/proc/sys/net/ipv4/tcp_rmem`, `tcp_wmem`, `/proc/sys/net/core/{rmem_max,wmem_max,netdev_max_backlog}`: the
 *   buffer settings, read once.
 *
 * Counters are deltas since the monitor started (as in listen-stats.ts). Reads are synchronous and whole-file
 * (a few small files, O(1) in the number of sockets, unlike /proc/net/tcp): take snapshots on demand, never per
 * request. Anywhere /proc is absent (macOS, Windows, a sandbox) every field is null.
 */

import { readFileSync } from 'node:fs';

/** TCP counters of this network namespace, since the server started. */
export interface KernelTcpStats {
  /** Tcp InSegs: segments received, including those in error. */
  inSegs: number | null;
  /** Tcp OutSegs: segments sent, excluding retransmissions. */
  outSegs: number | null;
  /** Tcp RetransSegs: segments retransmitted (a loss, or an ACK that came too late). */
  retransSegs: number | null;
  /** Tcp InErrs: segments received in error (bad checksum, no room). */
  inErrs: number | null;
  /** Tcp OutRsts: segments sent with RST. */
  outRsts: number | null;
  /** TcpExt TCPSynRetrans: SYNs and SYN-ACKs retransmitted (a full listen queue makes these). */
  synRetrans: number | null;
  /** TcpExt TCPTimeouts: retransmission timer expiries (RTO) that were not answered in time. */
  timeouts: number | null;
  /** TcpExt TCPBacklogDrop: segments dropped because a socket locked by its reader had a full backlog. */
  backlogDrop: number | null;
  /** TcpExt TCPRcvQDrop: segments dropped because the receive buffer had no room even after pruning. */
  rcvQDrop: number | null;
  /** TcpExt PruneCalled: the receive queue went over SO_RCVBUF and the kernel tried to collapse it. */
  pruneCalled: number | null;
  /** TcpExt RcvPruned: pruning did not free enough; received data was thrown away. */
  rcvPruned: number | null;
  /** TcpExt TCPRcvCollapsed: segments merged to save receive-buffer memory. */
  rcvCollapsed: number | null;
  /** TcpExt TCPOFODrop: out-of-order segments dropped for lack of receive-buffer room. */
  ofoDrop: number | null;
  /** TcpExt TCPZeroWindowDrop: segments dropped because our advertised window was zero. */
  zeroWindowDrop: number | null;
  /** TcpExt TCPToZeroWindowAdv: a receiver here advertised a zero window (its reader fell behind). */
  toZeroWindowAdv: number | null;
  /** TcpExt TCPFromZeroWindowAdv: a receiver here opened its window again after a zero window. */
  fromZeroWindowAdv: number | null;
  /** TcpExt TCPWantZeroWindowAdv: a receiver here wanted to shrink its window below what it had promised. */
  wantZeroWindowAdv: number | null;
  /** TcpExt TCPMemoryPressures: TCP entered memory pressure (tcp_mem's middle value). */
  memoryPressures: number | null;
  /** TcpExt TCPAbortOnMemory: connections reset because TCP ran out of memory. */
  abortOnMemory: number | null;
}

/** Packet drops below TCP, since the server started. */
export interface KernelDeviceStats {
  /** /proc/net/dev receive `drop`, summed over this namespace's interfaces (loopback included). */
  rxDropped: number | null;
  /** /proc/net/dev receive `fifo`: the NIC's ring overran (the driver did not empty it in time). */
  rxFifo: number | null;
  /** /proc/net/dev transmit `drop`, summed over this namespace's interfaces. */
  txDropped: number | null;
  /**
   * /proc/net/softnet_stat `dropped`, summed over CPUs: packets dropped because a CPU's input backlog
   * (`net.core.netdev_max_backlog`) was full. Loopback traffic passes through it. Host-wide, not per namespace.
   */
  softnetDropped: number | null;
  /** /proc/net/softnet_stat `time_squeeze`: receive processing stopped with work left (budget spent). Host-wide. */
  softnetTimeSqueeze: number | null;
}

/** Socket buffer settings (read once). Sizes in bytes. */
export interface KernelBufferSettings {
  /** net.ipv4.tcp_rmem: [min, default, max] receive buffer of a TCP socket; autotuning moves it between them. */
  tcpRmem: [number, number, number] | null;
  /** net.ipv4.tcp_wmem: [min, default, max] send buffer of a TCP socket. */
  tcpWmem: [number, number, number] | null;
  /** net.core.rmem_max: the most SO_RCVBUF an unprivileged setsockopt may ask for. */
  rmemMax: number | null;
  /** net.core.wmem_max: the most SO_SNDBUF an unprivileged setsockopt may ask for. */
  wmemMax: number | null;
  /** net.core.netdev_max_backlog: packets a CPU's input backlog holds before `softnetDropped` counts. */
  netdevMaxBacklog: number | null;
}

/**
 * `server.stats().kernel`: the path underneath, from the kernel's counters. `scope: 'namespace'` says that the
 * counters cover every socket in this network namespace, not this server's alone; `device.softnet*` cover the
 * whole host.
 */
export interface KernelStats {
  scope: 'namespace';
  tcp: KernelTcpStats;
  device: KernelDeviceStats;
  settings: KernelBufferSettings;
}

/** Options of {@link KernelCounters}. */
export interface KernelCountersOptions {
  /** Where procfs is mounted; tests point it at a fixture directory. Default `/proc`. */
  procRoot?: string;
}

/** Snmp/Netstat field names behind each `KernelTcpStats` field: [section, name]. */
const TCP_FIELDS: Record<keyof KernelTcpStats, readonly [string, string]> = {
  inSegs: ['Tcp', 'InSegs'],
  outSegs: ['Tcp', 'OutSegs'],
  retransSegs: ['Tcp', 'RetransSegs'],
  inErrs: ['Tcp', 'InErrs'],
  outRsts: ['Tcp', 'OutRsts'],
  synRetrans: ['TcpExt', 'TCPSynRetrans'],
  timeouts: ['TcpExt', 'TCPTimeouts'],
  backlogDrop: ['TcpExt', 'TCPBacklogDrop'],
  rcvQDrop: ['TcpExt', 'TCPRcvQDrop'],
  pruneCalled: ['TcpExt', 'PruneCalled'],
  rcvPruned: ['TcpExt', 'RcvPruned'],
  rcvCollapsed: ['TcpExt', 'TCPRcvCollapsed'],
  ofoDrop: ['TcpExt', 'TCPOFODrop'],
  zeroWindowDrop: ['TcpExt', 'TCPZeroWindowDrop'],
  toZeroWindowAdv: ['TcpExt', 'TCPToZeroWindowAdv'],
  fromZeroWindowAdv: ['TcpExt', 'TCPFromZeroWindowAdv'],
  wantZeroWindowAdv: ['TcpExt', 'TCPWantZeroWindowAdv'],
  memoryPressures: ['TcpExt', 'TCPMemoryPressures'],
  abortOnMemory: ['TcpExt', 'TCPAbortOnMemory'],
};

/**
 * Reads the "Section: names" / "Section: values" line pairs of /proc/net/snmp or /proc/net/netstat.
 *
 * @returns section → name → value (e.g. `Tcp` → `RetransSegs` → 12).
 * @example parseProcPairs(readFileSync('/proc/net/snmp', 'latin1')).Tcp?.RetransSegs
 */
export function parseProcPairs(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const pending = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const section = line.slice(0, colon);
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    const names = pending.get(section);
    if (names === undefined) {
      pending.set(section, f);
      continue;
    }
    pending.delete(section);
    const values: Record<string, number> = {};
    const n = Math.min(names.length, f.length);
    for (let i = 0; i < n; i++) {
      const v = Number(f[i]);
      if (Number.isFinite(v)) values[names[i]!] = v;
    }
    out[section] = values;
  }
  return out;
}

/**
 * Sums the drop columns of /proc/net/dev over every interface ("face |bytes packets errs drop fifo frame
 * compressed multicast|bytes packets errs drop fifo colls carrier compressed").
 */
export function parseProcNetDev(text: string): { rxDropped: number; rxFifo: number; txDropped: number } | null {
  let rxDropped = 0;
  let rxFifo = 0;
  let txDropped = 0;
  let rows = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    // The two header lines have '|' and no ':' before the figures.
    if (colon < 0 || line.includes('|')) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (f.length < 16 || f.some(Number.isNaN)) continue;
    rxDropped += f[3]!;
    rxFifo += f[4]!;
    txDropped += f[11]!;
    rows++;
  }
  return rows === 0 ? null : { rxDropped, rxFifo, txDropped };
}

/** Sums the `dropped` (2nd) and `time_squeeze` (3rd) hex columns of /proc/net/softnet_stat over CPUs. */
export function parseSoftnetStat(text: string): { dropped: number; timeSqueeze: number } | null {
  let dropped = 0;
  let timeSqueeze = 0;
  let rows = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3) continue;
    const d = Number.parseInt(f[1]!, 16);
    const t = Number.parseInt(f[2]!, 16);
    if (Number.isNaN(d) || Number.isNaN(t)) continue;
    dropped += d;
    timeSqueeze += t;
    rows++;
  }
  return rows === 0 ? null : { dropped, timeSqueeze };
}

/** The raw readings one snapshot takes: counters by name, before deltas. */
interface Reading {
  pairs: Record<string, Record<string, number>>;
  dev: ReturnType<typeof parseProcNetDev>;
  softnet: ReturnType<typeof parseSoftnetStat>;
}

/**
 * Watches the kernel's counters for this namespace: construct it when the server starts; each {@link snapshot}
 * reads /proc again and returns the deltas since construction.
 *
 * @example
 * const kernel = new KernelCounters();
 * kernel.snapshot().tcp.retransSegs; // 0, or null without /proc
 */
export class KernelCounters {
  readonly #procRoot: string;
  readonly #baseline: Reading;
  readonly #settings: KernelBufferSettings;

  constructor(options: KernelCountersOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    const sys = `${this.#procRoot}/sys/net`;
    this.#settings = {
      tcpRmem: readTriple(`${sys}/ipv4/tcp_rmem`),
      tcpWmem: readTriple(`${sys}/ipv4/tcp_wmem`),
      rmemMax: readNumber(`${sys}/core/rmem_max`),
      wmemMax: readNumber(`${sys}/core/wmem_max`),
      netdevMaxBacklog: readNumber(`${sys}/core/netdev_max_backlog`),
    };
    this.#baseline = this.#read();
  }

  #read(): Reading {
    const root = this.#procRoot;
    const snmp = readText(`${root}/net/snmp`);
    const netstat = readText(`${root}/net/netstat`);
    const dev = readText(`${root}/net/dev`);
    const softnet = readText(`${root}/net/softnet_stat`);
    return {
      pairs: { ...(snmp === null ? {} : parseProcPairs(snmp)), ...(netstat === null ? {} : parseProcPairs(netstat)) },
      dev: dev === null ? null : parseProcNetDev(dev),
      softnet: softnet === null ? null : parseSoftnetStat(softnet),
    };
  }

  /** Reads the counters now: deltas since construction, and the buffer settings. */
  snapshot(): KernelStats {
    const now = this.#read();
    const base = this.#baseline;
    const tcp = {} as KernelTcpStats;
    for (const key of Object.keys(TCP_FIELDS) as (keyof KernelTcpStats)[]) {
      const [section, name] = TCP_FIELDS[key];
      const b = base.pairs[section]?.[name];
      const n = now.pairs[section]?.[name];
      tcp[key] = b === undefined || n === undefined ? null : n - b;
    }
    const bd = base.dev;
    const nd = now.dev;
    const bs = base.softnet;
    const ns = now.softnet;
    return {
      scope: 'namespace',
      tcp,
      device: {
        rxDropped: bd === null || nd === null ? null : nd.rxDropped - bd.rxDropped,
        rxFifo: bd === null || nd === null ? null : nd.rxFifo - bd.rxFifo,
        txDropped: bd === null || nd === null ? null : nd.txDropped - bd.txDropped,
        softnetDropped: bs === null || ns === null ? null : ns.dropped - bs.dropped,
        softnetTimeSqueeze: bs === null || ns === null ? null : ns.timeSqueeze - bs.timeSqueeze,
      },
      settings: { ...this.#settings, tcpRmem: copy(this.#settings.tcpRmem), tcpWmem: copy(this.#settings.tcpWmem) },
    };
  }
}

function copy(t: [number, number, number] | null): [number, number, number] | null {
  return t === null ? null : [t[0], t[1], t[2]];
}

function readNumber(path: string): number | null {
  const text = readText(path);
  if (text === null) return null;
  const v = Number(text.trim());
  return Number.isFinite(v) ? v : null;
}

function readTriple(path: string): [number, number, number] | null {
  const f = readText(path)?.trim().split(/\s+/).map(Number);
  if (f === undefined || f.length !== 3 || f.some(Number.isNaN)) return null;
  return [f[0]!, f[1]!, f[2]!];
}

/** The whole file as text, or null when it cannot be read (no /proc, no permission). */
function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}
