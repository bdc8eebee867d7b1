/**
 * `sockeye connect URL`: an interactive WebSocket client in the terminal, like wscat. Lines typed are sent as
 * text; messages received are printed with direction and time; `/ping [data]`, `/close [code] [reason]`.
 *
 * Exit codes tell how the connection ended:
 *   0  closed cleanly with 1000, 1001 or 1005   3  could not connect (network or handshake failure)
 *   1  closed cleanly with another code          4  the connection dropped (no clean close handshake)
 *   2  usage error
 */

import { createInterface } from 'node:readline';
import { WebSocket } from '../index.js';

export const EXIT_CLEAN = 0;
export const EXIT_CLOSE_CODE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT_FAILED = 3;
export const EXIT_DROPPED = 4;

function stamp(): string {
  return new Date().toISOString().slice(11, 23);
}

function describe(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return `<binary ${data.length} bytes> ${data.subarray(0, 32).toString('hex')}`;
  return String(data);
}

/** Runs the client until the connection ends; resolves with the exit code. */
export function connect(
  url: string,
  protocols: string[],
  headers: [string, string][],
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<number> {
  return new Promise((resolve) => {
    const say = (line: string) => output.write(`${line}\n`);
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, protocols, { headers });
    } catch (err) {
      say(`error: ${(err as Error).message}`);
      resolve(EXIT_USAGE);
      return;
    }
    ws.binaryType = 'nodebuffer';
    let opened = false;
    let lastError = '';
    const rl = createInterface({ input, terminal: false });
    ws.addEventListener('open', () => {
      opened = true;
      say(`* ${stamp()} connected to ${url}${ws.protocol ? ` (protocol ${ws.protocol})` : ''}`);
    });
    ws.addEventListener('message', (e) => say(`< ${stamp()} ${describe((e as MessageEvent).data)}`));
    ws.addEventListener('pong', (e) => say(`< ${stamp()} pong ${describe((e as MessageEvent).data)}`));
    ws.addEventListener('ping', (e) => say(`< ${stamp()} ping ${describe((e as MessageEvent).data)}`));
    ws.addEventListener('error', (e) => {
      lastError = (e as ErrorEvent).message || 'connection error';
    });
    ws.addEventListener('close', (e) => {
      rl.close();
      if (!opened) {
        say(`* ${stamp()} could not connect: ${lastError || `code ${e.code}`}`);
        resolve(EXIT_CONNECT_FAILED);
        return;
      }
      say(`* ${stamp()} closed: code ${e.code}${e.reason ? ` "${e.reason}"` : ''}${e.wasClean ? '' : ' (not clean)'}`);
      if (!e.wasClean) resolve(EXIT_DROPPED);
      else resolve(e.code === 1000 || e.code === 1001 || e.code === 1005 ? EXIT_CLEAN : EXIT_CLOSE_CODE);
    });
    const pending: string[] = [];
    const handle = (line: string) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (line.startsWith('/ping')) {
        const data = line.slice(5).trim();
        ws.ping(data);
        say(`> ${stamp()} ping ${data}`);
      } else if (line.startsWith('/close')) {
        const m = /^\/close(?:\s+(\d+))?(?:\s+(.*))?$/.exec(line);
        try {
          ws.close(m?.[1] ? Number(m[1]) : 1000, m?.[2] ?? '');
          say(`> ${stamp()} close ${m?.[1] ?? 1000}${m?.[2] ? ` "${m[2]}"` : ''}`);
        } catch (err) {
          say(`error: ${(err as Error).message}`);
        }
      } else {
        ws.send(line);
        say(`> ${stamp()} ${line}`);
      }
    };
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
