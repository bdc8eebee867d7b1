/**
 * The one place a server's listener is made: `serve()` asks `createListener` for a bound, listening socket of
 * some kind and gets back accepted connections through one callback. TCP (`node:net`) and Unix domain sockets
 * (`unix`, a path) are the kinds today; TLS and HTTP/2 (RFC 8441) are further kinds of the same union, so the
 * server does not change when they come.
 *
 * The listen-queue probe (`ListenQueueMonitor`, listen-stats.ts) is an optional part of a listener: it reads the
 * kernel's view of this listener's accept queue from /proc, narrowed to our socket by its inode.
 */

import { once } from 'node:events';
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { ListenQueueMonitor, socketInode } from './listen-stats.js';

/** A plain TCP listener (`node:net`). */
export interface TcpListenerOptions {
  kind: 'tcp';
  /** TCP port; 0 picks a free one (see `Listener.port`). */
  port: number;
  /** Address to bind. Default: all interfaces (Node's default). */
  host?: string | undefined;
  /** listen(2) backlog: the accept-queue length; Linux caps it at net.core.somaxconn. */
  backlog: number;
  /** Watch the accept queue (`Listener.queue`). Default false. */
  monitorQueue?: boolean;
}

/** A Unix domain socket listener (`node:net` on a path). */
export interface UnixListenerOptions {
  kind: 'unix';
  /** Filesystem path of the socket. A stale socket file there (nobody accepting) is replaced; a live one is not. */
  path: string;
  /** listen(2) backlog, as for TCP. */
  backlog: number;
}

/** What `createListener` can make. A union by `kind`, so that `tls` and `http2` can join it. */
export type ListenerOptions = TcpListenerOptions | UnixListenerOptions;

/** Called with each accepted connection. */
export type ConnectionCallback = (socket: net.Socket) => void;

/** A bound, listening socket. */
export interface Listener {
  readonly kind: ListenerOptions['kind'];
  /** The bound port (0 for a Unix domain socket). */
  readonly port: number;
  /** The bound address (the path for a Unix domain socket). */
  readonly address: string;
  /** The accept-queue probe, or null when not asked for. */
  readonly queue: ListenQueueMonitor | null;
  /** Stops accepting; connections already accepted are untouched. */
  close(): void;
}

/**
 * Binds and listens, and resolves once the listener accepts connections; each is handed to `onConnection`.
 * Rejects with the bind error (EADDRINUSE, EACCES).
 *
 * Accepted sockets are half-open capable (`allowHalfOpen`: the HTTP layer decides when to end its side after
 * the peer's FIN) and have Nagle off (`noDelay`: responses are batched by the writer already).
 *
 * @example
 * const listener = await createListener({ kind: 'tcp', port: 0, backlog: 511 }, (socket) => socket.end());
 * listener.port; // the port chosen
 */
export async function createListener(options: ListenerOptions, onConnection: ConnectionCallback): Promise<Listener> {
  return options.kind === 'unix' ? createUnixListener(options, onConnection) : createTcpListener(options, onConnection);
}

/**
 * Listens on a Unix domain socket. A socket file left behind by a process that died is in the way (EADDRINUSE)
 * although nobody accepts on it: when a connection to it is refused, it is removed and the bind tried once more.
 * A path in use by a live server, or that is not a socket, is never removed.
 */
async function createUnixListener(options: UnixListenerOptions, onConnection: ConnectionCallback): Promise<Listener> {
  try {
    return await bindUnix(options, onConnection);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !(await isStaleSocket(options.path))) throw err;
    unlinkSync(options.path);
    return bindUnix(options, onConnection);
  }
}

async function bindUnix(options: UnixListenerOptions, onConnection: ConnectionCallback): Promise<Listener> {
  const srv = net.createServer({ allowHalfOpen: true }, onConnection);
  srv.listen({ path: options.path, backlog: options.backlog });
  // events.once rejects with the bind error ('error' before 'listening').
  await once(srv, 'listening');
  return new NetListener('unix', srv, 0, options.path, null);
}

/** Whether `path` is a socket file that nobody accepts on (connect gives ECONNREFUSED). */
async function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function createTcpListener(options: TcpListenerOptions, onConnection: ConnectionCallback): Promise<Listener> {
  const srv = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
  srv.listen({ port: options.port, host: options.host, backlog: options.backlog });
  await once(srv, 'listening');
  const addr = srv.address() as net.AddressInfo;
  let queue: ListenQueueMonitor | null = null;
  if (options.monitorQueue === true) {
    // NODE: the listening fd is only reachable through the internal handle; without it any listener on the same
    // port is counted (the monitor then says so by its `listeners` count).
    const fd = (srv as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const inode = typeof fd === 'number' && fd >= 0 ? socketInode(fd) : null;
    queue = new ListenQueueMonitor(
      addr.port,
      inode === null ? { backlog: options.backlog } : { backlog: options.backlog, inode },
    );
  }
  return new NetListener('tcp', srv, addr.port, addr.address, queue);
}

/** A `net.Server` listening on a TCP port or a Unix domain socket. */
class NetListener implements Listener {
  readonly kind: ListenerOptions['kind'];
  readonly port: number;
  readonly address: string;
  readonly queue: ListenQueueMonitor | null;
  readonly #server: net.Server;

  constructor(
    kind: ListenerOptions['kind'],
    server: net.Server,
    port: number,
    address: string,
    queue: ListenQueueMonitor | null,
  ) {
    this.kind = kind;
    this.port = port;
    this.address = address;
    this.queue = queue;
    this.#server = server;
  }

  close(): void {
    this.#server.close();
  }
}
