/**
 * One socket's kernel figures (Linux, no privileges): its row of /proc/net/tcp or /proc/net/tcp6, found by the
 * socket's local and remote address:port. `tx_queue` is the send queue (bytes written and not yet acknowledged by
 * the peer), `rx_queue` the receive queue (bytes the kernel holds that we have not read): what `ss -tn` shows as
 * Send-Q and Recv-Q (net/ipv4/tcp_ipv4.c `get_tcp4_sock`). Anywhere /proc is absent, null.
 */

import { readFileSync } from 'node:fs';

/** What the kernel says of one TCP socket. */
export interface KernelSocket {
  /** TCP state name (include/net/tcp_states.h). */
  state: string;
  /** Bytes in the send queue: written by us, not yet acknowledged by the peer. */
  sendQueue: number;
  /** Bytes in the receive queue: arrived, not yet read by us. */
  receiveQueue: number;
  /** Retransmission timeouts that fired for the segment now awaited (`retrnsmt`). */
  retransmits: number;
}

// include/net/tcp_states.h, 1-based.
const STATES = [
  '',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

/**
 * An address:port as /proc/net/tcp{,6} prints it: the address in the kernel's byte order, each 32-bit word as the
 * host (little-endian x86/arm) prints it, in hex; the port in big-endian hex. IPv4 goes to tcp, IPv6 (including
 * IPv4-mapped `::ffff:a.b.c.d`) to tcp6. Returns null for an address it cannot read.
 */
export function procAddress(address: string, port: number): { file: 'tcp' | 'tcp6'; text: string } | null {
  const p = port.toString(16).toUpperCase().padStart(4, '0');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
    const b = address.split('.').map(Number);
    return { file: 'tcp', text: `${hexWordLE(b)}:${p}` };
  }
  const bytes = ipv6Bytes(address);
  if (bytes === null) return null;
  let text = '';
  for (let i = 0; i < 16; i += 4) text += hexWordLE(bytes.slice(i, i + 4));
  return { file: 'tcp6', text: `${text}:${p}` };
}

function hexWordLE(b: number[]): string {
  let s = '';
  for (let i = b.length - 1; i >= 0; i--) s += (b[i] as number).toString(16).toUpperCase().padStart(2, '0');
  return s;
}

function ipv6Bytes(address: string): number[] | null {
  let a = address;
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4 !== null) {
    tail.push(Number(v4[1]), Number(v4[2]), Number(v4[3]), Number(v4[4]));
    a = `${a.slice(0, v4.index)}0:0`;
  }
  const halves = a.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] as string).split(':')) : [];
  const groups = halves.length === 2 ? [...head, ...Array(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return null;
  const out: number[] = [];
  for (const g of groups) {
    const n = Number.parseInt(g, 16);
    if (!(n >= 0 && n <= 0xffff)) return null;
    out.push(n >> 8, n & 0xff);
  }
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}

/**
 * Finds the row of the connection local → remote in the text of /proc/net/tcp or tcp6. PERF: one search for the
 * two addresses side by side (columns 2 and 3 of a row, each row's only such pair), not a split of every row: the
 * file has a row per socket of the namespace.
 */
export function parseSocketRow(text: string, local: string, remote: string): KernelSocket | null {
  const at = text.indexOf(` ${local} ${remote} `);
  if (at === -1) return null;
  const lineEnd = text.indexOf('\n', at);
  const f = text
    .slice(at, lineEnd === -1 ? text.length : lineEnd)
    .trim()
    .split(/\s+/);
  // f: local, remote, st, tx_queue:rx_queue, tr:tm->when, retrnsmt, ...
  const [tx, rx] = (f[3] ?? '0:0').split(':');
  return {
    state: STATES[Number.parseInt(f[2] ?? '0', 16)] ?? 'UNKNOWN',
    sendQueue: Number.parseInt(tx ?? '0', 16),
    receiveQueue: Number.parseInt(rx ?? '0', 16),
    retransmits: Number.parseInt(f[5] ?? '0', 16),
  };
}

/**
 * Reads one socket's kernel figures. Synchronous and O(sockets in the namespace): called for the one connection a
 * person opened in the inspector, once per refresh, never per request.
 */
export function readKernelSocket(
  localAddress: string,
  localPort: number,
  remoteAddress: string,
  remotePort: number,
  procRoot = '/proc',
): KernelSocket | null {
  const local = procAddress(localAddress, localPort);
  const remote = procAddress(remoteAddress, remotePort);
  if (local === null || remote === null) return null;
  try {
    return parseSocketRow(readFileSync(`${procRoot}/net/${local.file}`, 'latin1'), local.text, remote.text);
  } catch {
    return null;
  }
}
