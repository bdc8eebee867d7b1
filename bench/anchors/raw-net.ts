/**
 * The floor for bench/fallback.ts: the least protocol work `node:net` can do and still serve the harness's
 * routes, so that a library's figure can be read as a fraction of what Node itself allows on this machine.
 *   HTTP: `GET /` → 200 "Hello, World!"; `POST /echo` → the body (Content-Length bodies only). Every response of
 *         one read goes out in one write.
 *   WS:   the upgrade answered from a template plus one SHA-1; client frames unmasked and re-framed as server
 *         frames (same opcode and fin) as they arrive, a large payload piece by piece; everything of one read in
 *         one writev; no message assembly, no UTF-8 check.
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

/** A WebSocket connection's place in the frame it is streaming back: payload bytes still to come, and the key. */
interface Streaming {
  remaining: number;
  key: Buffer;
  /** Payload bytes of this frame already unmasked (the key's phase). */
  done: number;
}

/**
 * Unmasks `data[at, at + length)` in place (RFC 6455 §5.3), the key's phase being `phase`, and returns that range:
 * the read's own buffer is written back, no copy and no fresh memory (a new 64 KiB buffer per read costs page
 * faults: see src/node/socket-writer.ts). Bytes one by one up to a 4-byte boundary, then 32-bit words.
 */
function unmask(data: Buffer, at: number, length: number, key: Buffer, phase: number): Buffer {
  const end = at + length;
  let i = at;
  let p = phase;
  while (i < end && ((data.byteOffset + i) & 3) !== 0) data[i++] ^= key[p++ & 3] as number;
  const words = (end - i) >>> 2;
  if (words > 0) {
    // The key as a native-endian word starting at byte phase p (little-endian machines: x86, arm).
    const k =
      (key[p & 3] as number) |
      ((key[(p + 1) & 3] as number) << 8) |
      ((key[(p + 2) & 3] as number) << 16) |
      ((key[(p + 3) & 3] as number) << 24);
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= k;
    i += words * 4;
    p += words * 4;
  }
  while (i < end) data[i++] ^= key[p++ & 3] as number;
  return data.subarray(at, end);
}

/**
 * Re-frames client frames as server frames as they arrive: a frame's header goes out as soon as it is read, its
 * payload piece by piece, unmasked (no message assembly, as the shared harness's floor does). Returns the bytes of
 * an incomplete frame header, or of a close frame not yet whole, to be read again with the next chunk.
 */
function serveWs(socket: net.Socket, st: Streaming, data: Buffer): Buffer | null {
  const out: Buffer[] = [];
  let pos = 0;
  let leftover: Buffer | null = null;
  for (;;) {
    if (st.remaining > 0) {
      const n = Math.min(st.remaining, data.length - pos);
      if (n === 0) break;
      out.push(unmask(data, pos, n, st.key, st.done));
      st.remaining -= n;
      st.done += n;
      pos += n;
      continue;
    }
    if (data.length - pos < 2) {
      if (pos < data.length) leftover = Buffer.from(data.subarray(pos));
      break;
    }
    const b0 = data[pos] as number;
    let length = (data[pos + 1] as number) & 0x7f;
    let at = pos + 2;
    // RFC 6455 §5.2: 126 → 16-bit length, 127 → 64-bit length; client frames carry a 4-byte masking key.
    if (length === 126 && data.length - at >= 2) {
      length = data.readUInt16BE(at);
      at += 2;
    } else if (length === 127 && data.length - at >= 8) {
      length = Number(data.readBigUInt64BE(at));
      at += 8;
    } else if (length >= 126) at = data.length + 1;
    const opcode = b0 & 0x0f;
    // A close frame is handled whole (control frames carry at most 125 bytes: RFC 6455 §5.5).
    if (data.length - at < 4 || (opcode === 0x8 && data.length - at < 4 + length)) {
      leftover = Buffer.from(data.subarray(pos));
      break;
    }
    const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(header);
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
    out.push(frame);
    st.key = Buffer.from(data.subarray(at, at + 4));
    st.remaining = length;
    st.done = 0;
    pos = at + 4;
    if (opcode === 0x8) {
      out.push(unmask(data, pos, length, st.key, 0));
      // The close handshake: our close frame echoes theirs, then we end TCP (RFC 6455 §7.1.1: the server first).
      socket.cork();
      for (const b of out) socket.write(b);
      socket.end();
      return null;
    }
  }
  if (out.length > 0) {
    // One writev of every header and payload piece of this read (cork), no copy into one buffer.
    socket.cork();
    for (const b of out) socket.write(b);
    socket.uncork();
  }
  return leftover;
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const state = { pending: null as Buffer | null, ws: false };
  const streaming: Streaming = { remaining: 0, key: Buffer.alloc(4), done: 0 };
  let wsPending: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    if (!state.ws) {
      const rest = serveHttp(socket, state, chunk);
      if (rest === null || rest.length === 0) return;
      chunk = rest;
    }
    const data = wsPending === null ? chunk : Buffer.concat([wsPending, chunk]);
    wsPending = serveWs(socket, streaming, data);
  });
  socket.on('error', () => {});
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
