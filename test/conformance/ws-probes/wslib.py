"""Raw-socket WebSocket probe helpers (client side). Only talks to 127.0.0.1."""
import base64, hashlib, os, socket, struct, time, zlib

HOST = '127.0.0.1'
GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def raw_request(port, req: bytes, timeout=3.0, read_until_headers=True):
    """Send raw bytes, return (status_line, headers(list), body_bytes, sock, leftover)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.settimeout(timeout)
    s.sendall(req)
    buf = b''
    deadline = time.time() + timeout
    for _ in range(1000):
        if b'\r\n\r\n' in buf or time.time() > deadline:
            break
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    head, sep, rest = buf.partition(b'\r\n\r\n')
    lines = head.decode('latin1').split('\r\n')
    status = lines[0] if lines else ''
    headers = []
    for l in lines[1:]:
        if ':' in l:
            k, v = l.split(':', 1)
            headers.append((k.strip().lower(), v.strip()))
    return status, headers, rest, s


def hget(headers, name):
    vals = [v for k, v in headers if k == name.lower()]
    return ', '.join(vals) if vals else None


def handshake(port, path='/', extra=None, key=None, timeout=3.0):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f'GET {path} HTTP/1.1', f'Host: 127.0.0.1:{port}', 'Upgrade: websocket',
             'Connection: Upgrade', f'Sec-WebSocket-Key: {key}', 'Sec-WebSocket-Version: 13']
    for h in (extra or []):
        lines.append(h)
    req = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin1')
    status, headers, rest, s = raw_request(port, req, timeout)
    if not status.startswith('HTTP/1.1 101'):
        raise RuntimeError(f'handshake failed: {status} {headers} {rest[:200]!r}')
    if hget(headers, 'sec-websocket-accept') != accept_for(key):
        raise RuntimeError('bad accept')
    return Conn(s, rest, headers)


def frame(opcode, payload=b'', fin=True, rsv=0, mask=True, length_override=None, mask_key=None):
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length_override is None else length_override
    if n < 126:
        hdr = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        hdr = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack('!H', n)
    else:
        hdr = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack('!Q', n)
    if not mask:
        return hdr + payload
    mk = mask_key if mask_key is not None else os.urandom(4)
    return hdr + mk + xor(payload, mk)


def xor(data, mk):
    if not data:
        return b''
    n = len(data)
    m = (mk * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'big') ^ int.from_bytes(m, 'big')).to_bytes(n, 'big')


def close_payload(code=None, reason=b''):
    if code is None:
        return b''
    return struct.pack('!H', code) + reason


TIMEOUT = 'TIMEOUT'
EOF = 'EOF'
RESET = 'RESET'


class Conn:
    def __init__(self, sock, leftover=b'', headers=None):
        self.s = sock
        self.buf = bytearray(leftover)
        self.headers = headers or []
        self.eof = False

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False

    def send_frame(self, *a, **kw):
        return self.send(frame(*a, **kw))

    def _fill(self, n, deadline):
        for _ in range(10_000_000):
            if len(self.buf) >= n:
                return True
            if self.eof:
                return EOF
            rem = deadline - time.time()
            if rem <= 0:
                return TIMEOUT
            self.s.settimeout(rem)
            try:
                d = self.s.recv(max(65536, n - len(self.buf)))
            except socket.timeout:
                return TIMEOUT
            except (ConnectionResetError, OSError):
                self.eof = True
                return RESET
            if not d:
                self.eof = True
                return EOF
            self.buf += d
        return TIMEOUT

    def read_frame(self, timeout=2.0):
        """Returns dict(fin, rsv, opcode, payload, masked) or TIMEOUT/EOF/RESET."""
        deadline = time.time() + timeout
        r = self._fill(2, deadline)
        if r is not True:
            return r
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        masked = bool(b1 & 0x80)
        off = 2
        if n == 126:
            r = self._fill(4, deadline)
            if r is not True:
                return r
            n = struct.unpack('!H', self.buf[2:4])[0]
            off = 4
        elif n == 127:
            r = self._fill(10, deadline)
            if r is not True:
                return r
            n = struct.unpack('!Q', self.buf[2:10])[0]
            off = 10
        mk = None
        if masked:
            r = self._fill(off + 4, deadline)
            if r is not True:
                return r
            mk = bytes(self.buf[off:off + 4])
            off += 4
        r = self._fill(off + n, deadline)
        if r is not True:
            return r
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        if mk:
            payload = xor(payload, mk)
        return dict(fin=bool(b0 & 0x80), rsv=(b0 >> 4) & 7, opcode=b0 & 0xF, payload=payload, masked=masked)

    def read_message(self, timeout=5.0, inflate=None):
        """Read frames until a complete data message; answers nothing. Returns (opcode, payload, frames) or a
        control frame dict / sentinel."""
        deadline = time.time() + timeout
        frames = []
        for _ in range(1_000_000):
            f = self.read_frame(max(0.01, deadline - time.time()))
            if not isinstance(f, dict):
                return f, frames
            frames.append(f)
            if f['opcode'] >= 8:
                return f, frames
            if f['fin']:
                op = frames[0]['opcode']
                data = b''.join(x['payload'] for x in frames if x['opcode'] < 8)
                return (op, data), frames
        return TIMEOUT, frames

    def wait_eof(self, timeout=2.0):
        """Wait for TCP close; returns (how, time_taken, extra_bytes)."""
        t0 = time.time()
        deadline = t0 + timeout
        extra = b''
        for _ in range(100000):
            if self.eof:
                return EOF, time.time() - t0, extra
            rem = deadline - time.time()
            if rem <= 0:
                return TIMEOUT, time.time() - t0, extra
            self.s.settimeout(rem)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return TIMEOUT, time.time() - t0, extra
            except (ConnectionResetError, OSError):
                return RESET, time.time() - t0, extra
            if not d:
                self.eof = True
                return EOF, time.time() - t0, extra
            extra += d
        return TIMEOUT, time.time() - t0, extra

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def close_code(f):
    if not isinstance(f, dict) or f['opcode'] != 8:
        return None
    if len(f['payload']) >= 2:
        return struct.unpack('!H', f['payload'][:2])[0]
    return 'empty'


def deflate_msg(data, wbits=-15, compobj=None):
    c = compobj or zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b'\x00\x00\xff\xff')
    return out[:-4]


def inflate_msg(data, decobj=None):
    d = decobj or zlib.decompressobj(-15)
    return d.decompress(data + b'\x00\x00\xff\xff')
