/**
 * `sockeye connect URL`: an interactive WebSocket client in the terminal, like wscat. Lines typed are sent as
 * text; messages received are printed with direction and time; `/ping [data]`, `/close [code] [reason]`, `/help`;
 * `//text` sends `/text`. Ctrl-C (SIGINT) closes with 1000 and waits for the server's close frame; a second
 * Ctrl-C exits at once.
 *
 * Exit codes tell how the connection ended:
 *   0  closed cleanly with 1000, 1001 or 1005   3  could not connect (network or handshake failure)
 *   1  closed cleanly with another code          4  the connection dropped (no clean close handshake)
 *   2  usage error                              130  Ctrl-C before the connection opened
 */

import { isUtf8 } from 'node:buffer';
import { createInterface } from 'node:readline';
import type { ConnectionOptions } from 'node:tls';
import { HandshakeError, WebSocket } from '../index.js';

export const EXIT_CLEAN = 0;
export const EXIT_CLOSE_CODE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT_FAILED = 3;
export const EXIT_DROPPED = 4;
/** Ctrl-C before the connection opened: 128 + SIGINT (2), as shells report a program ended by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less". */
const MAX_CONTROL_PAYLOAD = 125;
/** RFC 6455 §5.5.1: a close frame's reason follows its 2-byte code within those 125 bytes. */
const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;

const COMMANDS_HELP = '/ping [data], /close [code] [reason], /help; //text sends /text';

function stamp(): string {
  return new Date().toISOString().slice(11, 23);
}

function describe(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return `<binary ${data.length} bytes> ${data.subarray(0, 32).toString('hex')}`;
  return String(data);
}

/** A ping or pong payload: text when it is UTF-8 without control characters (what a person typed), else hex. */
function describeControl(data: Buffer): string {
  if (data.length === 0) return '';
  if (isUtf8(data) && !/[\u0000-\u001f\u007f]/.test(data.toString('utf8'))) return ` ${data.toString('utf8')}`;
  return ` ${describe(data)}`;
}

/** What `connect` needs: the peer, the terminal, and a signal that asks to close (Ctrl-C). */
export interface ConnectOptions {
  url: string;
  protocols: string[];
  headers: [string, string][];
  /** Offer permessage-deflate (RFC 7692). */
  deflate: boolean;
  /** node:tls options for wss:// (`ca`, `rejectUnauthorized`). */
  tls?: ConnectionOptions;
  input: NodeJS.ReadableStream;
  /** The transcript: what was sent and received. */
  output: NodeJS.WritableStream;
  /** Why the connection could not be made: one sentence. */
  errors: NodeJS.WritableStream;
  /** Aborted: close with 1000 (Ctrl-C). */
  interrupt?: AbortSignal;
}

/** A host:port a person recognizes, from a ws:// or wss:// URL. */
function hostPort(u: URL): string {
  return `${u.hostname}:${u.port || (u.protocol === 'wss:' ? '443' : '80')}`;
}

/** The first line of a refusal's body, trimmed and kept short: what the server said about why. */
function firstLine(body: Buffer): string {
  const text = body.toString('utf8');
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t !== '') return t.length > 200 ? `${t.slice(0, 200)}…` : t;
  }
  return '';
}

/** TLS errors that mean the server answered in cleartext (OpenSSL reads an HTTP response as a TLS record). */
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

/** One sentence for why the connection could not be made. */
export function connectErrorSentence(err: unknown, url: URL): string {
  if (err instanceof HandshakeError) {
    if (err.status !== 0 && err.status !== 101) {
      // RFC 6455 §4.1: the server answered with an HTTP response other than 101: it refused.
      const why = firstLine(err.body);
      const status = `${err.status}${err.statusText ? ` ${err.statusText}` : ''}`;
      return `server refused the WebSocket: ${status}${why ? ` — ${why}` : ''}`;
    }
    switch (err.code) {
      case 'ERR_WS_HANDSHAKE_TIMEOUT':
        return `could not connect: ${hostPort(url)} did not complete the WebSocket handshake in time`;
      case 'ERR_WS_HANDSHAKE_EOF':
        return `could not connect: ${hostPort(url)} closed the connection without answering the handshake${url.protocol === 'ws:' ? '; if it speaks TLS, use wss://' : ''}`;
      case 'ERR_WS_HANDSHAKE_RESPONSE':
        return `could not connect: the answer from ${hostPort(url)} is not HTTP${url.protocol === 'ws:' ? '; if it speaks TLS, use wss://' : ''}`;
      default:
        return `could not connect: the server's handshake response is not valid: ${err.message}`;
    }
  }
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code ?? '';
  if (NOT_TLS.has(code) || /wrong version number|packet length too long/i.test(e?.message ?? '')) {
    return 'TLS handshake failed: the server does not speak TLS; did you mean ws://?';
  }
  const fix = 'pass its certificate with --ca FILE, or -k to skip the check';
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return `TLS handshake failed: the server's certificate is self-signed; ${fix}`;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return `TLS handshake failed: the server's certificate is signed by an authority this machine does not trust; ${fix.replace('its certificate', 'that authority')}`;
    case 'CERT_HAS_EXPIRED':
      return "TLS handshake failed: the server's certificate has expired";
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS handshake failed: the server's certificate is not for ${url.hostname} (${e?.message ?? code})`;
  }
  if (code.startsWith('ERR_SSL_') || code.includes('CERT')) {
    return `TLS handshake failed: ${e?.message ?? code}`;
  }
  switch (code) {
    case 'ECONNREFUSED':
      return `could not connect: nothing is listening on ${hostPort(url)} (connection refused)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `could not connect: the host name ${url.hostname} does not resolve`;
    case 'ECONNRESET':
      return `could not connect: ${hostPort(url)} reset the connection`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `could not connect: ${hostPort(url)} is not reachable (${code})`;
    default:
      return `could not connect: ${e?.message || 'connection error'}`;
  }
}

/** Runs the client until the connection ends; resolves with the exit code. */
export function connect(options: ConnectOptions): Promise<number> {
  const { url, input, output, errors } = options;
  return new Promise((resolve) => {
    const say = (line: string) => output.write(`${line}\n`);
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, options.protocols, {
        headers: options.headers,
        perMessageDeflate: options.deflate,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
      });
    } catch (err) {
      errors.write(`${(err as Error).message}\n`);
      resolve(EXIT_USAGE);
      return;
    }
    const target = new URL(ws.url);
    ws.binaryType = 'nodebuffer';
    let opened = false;
    let lastError: unknown;
    const rl = createInterface({ input, terminal: false });
    ws.addEventListener('open', () => {
      opened = true;
      const extras = [
        ...(ws.protocol ? [`protocol ${ws.protocol}`] : []),
        ...(ws.extensions ? [`extensions ${ws.extensions}`] : []),
      ];
      say(`* ${stamp()} connected to ${url}${extras.length > 0 ? ` (${extras.join('; ')})` : ''}`);
    });
    ws.addEventListener('message', (e) => say(`< ${stamp()} ${describe((e as MessageEvent).data)}`));
    ws.addEventListener('pong', (e) => say(`< ${stamp()} pong${describeControl((e as MessageEvent).data)}`));
    ws.addEventListener('ping', (e) => say(`< ${stamp()} ping${describeControl((e as MessageEvent).data)}`));
    ws.addEventListener('error', (e) => {
      lastError = (e as ErrorEvent).error;
    });
    ws.addEventListener('close', (e) => {
      rl.close();
      options.interrupt?.removeEventListener('abort', onInterrupt);
      if (!opened && options.interrupt?.aborted) {
        errors.write(`interrupted before the connection to ${hostPort(target)} opened\n`);
        resolve(EXIT_INTERRUPTED);
        return;
      }
      if (!opened) {
        errors.write(`${connectErrorSentence(lastError, target)}\n`);
        resolve(EXIT_CONNECT_FAILED);
        return;
      }
      // A connection failed by us (a protocol error of the server's) says why; one that just dropped, that it did.
      const why = lastError instanceof Error && lastError.message ? `: ${lastError.message}` : '';
      say(
        `* ${stamp()} closed: code ${e.code}${e.reason ? ` "${e.reason}"` : ''}${e.wasClean ? '' : ` (not clean${why})`}`,
      );
      if (!e.wasClean) resolve(EXIT_DROPPED);
      else resolve(e.code === 1000 || e.code === 1001 || e.code === 1005 ? EXIT_CLEAN : EXIT_CLOSE_CODE);
    });
    const onInterrupt = () => {
      if (ws.readyState === WebSocket.OPEN) {
        // RFC 6455 §7.4.1: 1000, a normal closure; the server's close frame then ends the connection cleanly.
        ws.close(1000);
        say(`> ${stamp()} close 1000 (interrupted)`);
      } else if (ws.readyState === WebSocket.CONNECTING) {
        ws.close();
      }
    };
    options.interrupt?.addEventListener('abort', onInterrupt, { once: true });
    const handle = (line: string) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (line.startsWith('//')) {
        // `//text` sends `/text`: the way to send a line that starts with a slash.
        ws.send(line.slice(1));
        say(`> ${stamp()} ${line.slice(1)}`);
        return;
      }
      if (!line.startsWith('/')) {
        ws.send(line);
        say(`> ${stamp()} ${line}`);
        return;
      }
      const [, command, rest] = /^\/(\S*)\s*(.*)$/.exec(line) ?? ['', '', ''];
      switch (command) {
        case 'ping': {
          const data = (rest ?? '').trim();
          const size = Buffer.byteLength(data);
          if (size > MAX_CONTROL_PAYLOAD) {
            say(
              `error: a ping carries at most ${MAX_CONTROL_PAYLOAD} bytes (RFC 6455 §5.5), this one has ${size}; not sent`,
            );
            return;
          }
          ws.ping(data);
          say(`> ${stamp()} ping${data ? ` ${data}` : ''}`);
          return;
        }
        case 'close': {
          const m = /^(?:(\d+)(?:\s+(.*))?)?$/.exec(rest ?? '');
          const code = m?.[1] === undefined ? 1000 : Number(m[1]);
          const reason = m?.[2] ?? '';
          if (m === null || !(code === 1000 || (code >= 3000 && code <= 4999))) {
            // The WebSocket API (WHATWG) lets an application send 1000 or a code of 3000-4999 (RFC 6455 §7.4.2).
            say(`error: /close takes a code of 1000 or 3000-4999 and then a reason, got '${rest}'`);
            return;
          }
          if (Buffer.byteLength(reason) > MAX_CLOSE_REASON) {
            say(
              `error: a close reason has at most ${MAX_CLOSE_REASON} bytes (RFC 6455 §5.5), this one has ${Buffer.byteLength(reason)}`,
            );
            return;
          }
          ws.close(code, reason);
          say(`> ${stamp()} close ${code}${reason ? ` "${reason}"` : ''}`);
          return;
        }
        case 'help':
          say(`commands: ${COMMANDS_HELP}`);
          return;
        default:
          say(`error: unknown command /${command} (commands: ${COMMANDS_HELP})`);
      }
    };
    const pending: string[] = [];
    ws.addEventListener('open', () => {
      for (const line of pending.splice(0)) handle(line);
    });
    rl.on('line', (line) => {
      if (ws.readyState === WebSocket.CONNECTING) pending.push(line);
      else handle(line);
    });
    rl.on('close', () => {
      // End of input: close politely once what was typed has been sent.
      const finish = () => {
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      };
      if (ws.readyState === WebSocket.CONNECTING) ws.addEventListener('open', () => setTimeout(finish, 200));
      else setTimeout(finish, 200);
    });
  });
}
