/**
 * The floor for bench/fallback.ts: the least protocol work `node:net` can do and still serve the harness's
 * routes, so that a library's figure can be read as a fraction of what Node itself allows on this machine.
 *   HTTP: `GET /` → 200 "Hello, World!"; `POST /echo` → the body (Content-Length bodies only). Every response of
 *         one read goes out in one write.
 *   WS:   the upgrade answered from a template plus one SHA-1; client frames unmasked and re-framed as server
 *         frames (same opcode and fin), everything of one read in one write; no message assembly, no UTF-8 check.
 * Reads PORT, listens on 127.0.0.1, prints `ready`.
 */

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import net from 'node:net';

const HELLO = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!');
const CRLFCRLF = Buffer.from('\r\n\r\n');
// RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing.
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A connection still speaking HTTP: returns the bytes left over after an upgrade, or null to keep reading. */
function serveHttp(socket: net.Socket, state: { pending: Buffer | null; ws: boolean }, chunk: Buffer): Buffer | null {
  const data = state.pending === null ? chunk : Buffer.concat([state.pending, chunk]);
  state.pending = null;
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const end = data.indexOf(CRLFCRLF, pos);
    if (end < 0) break;
    const head = data.toString('latin1', pos, end);
    const upgrade = /\r\nupgrade:\s*websocket/i.exec(head);
    if (upgrade) {
      const key = /\r\nsec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64');
      out.push(
        Buffer.from(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        ),
      );
      socket.write(Buffer.concat(out));
      state.ws = true;
      return data.subarray(end + 4);
    }
    if (head.charCodeAt(0) === 0x50 /* P */) {
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length - (end + 4) < length) break;
      out.push(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n`));
      out.push(data.subarray(end + 4, end + 4 + length));
      pos = end + 4 + length;
    } else {
      out.push(HELLO);
      pos = end + 4;
    }
  }
  if (pos < data.length) state.pending = Buffer.from(data.subarray(pos));
  if (out.length === 1) socket.write(out[0] as Buffer);
  else if (out.length > 1) socket.write(Buffer.concat(out));
  return null;
}

/** Re-frames complete client frames of `data` as server frames; returns the bytes of an incomplete last frame. */
function serveWs(socket: net.Socket, data: Buffer): Buffer | null {
  const out: Buffer[] = [];
  let pos = 0;
  while (data.length - pos >= 2) {
    const b0 = data[pos] as number;
    const b1 = data[pos + 1] as number;
    let length = b1 & 0x7f;
    let at = pos + 2;
    // RFC 6455 §5.2: 126 → 16-bit length, 127 → 64-bit length; client frames carry a 4-byte masking key.
    if (length === 126) {
      if (data.length - at < 2) break;
      length = data.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (data.length - at < 8) break;
      length = Number(data.readBigUInt64BE(at));
      at += 8;
    }
    if (data.length - at < 4 + length) break;
    const mask = at;
    at += 4;
    const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(header + length);
    const opcode = b0 & 0x0f;
    // A ping is answered with a pong (RFC 6455 §5.5.2); anything else goes back as it came.
    frame[0] = opcode === 0x9 ? (b0 & 0xf0) | 0xa : b0;
    if (header === 2) frame[1] = length;
    else if (header === 4) {
      frame[1] = 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    for (let i = 0; i < length; i++) frame[header + i] = (data[at + i] as number) ^ (data[mask + (i & 3)] as number);
    out.push(frame);
    pos = at + length;
    if (opcode === 0x8) {
      // The close handshake: our close frame echoes theirs, then we end TCP (RFC 6455 §7.1.1: the server first).
      socket.end(Buffer.concat(out));
      return null;
    }
  }
  if (out.length > 0) socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  return pos < data.length ? Buffer.from(data.subarray(pos)) : null;
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const state = { pending: null as Buffer | null, ws: false };
  let wsPending: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    if (!state.ws) {
      const rest = serveHttp(socket, state, chunk);
      if (rest === null || rest.length === 0) return;
      chunk = rest;
    }
    const data = wsPending === null ? chunk : Buffer.concat([wsPending, chunk]);
    wsPending = serveWs(socket, data);
  });
  socket.on('error', () => {});
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
