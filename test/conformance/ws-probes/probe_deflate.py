#!/usr/bin/env python3
"""permessage-deflate (RFC 7692) probes, Autobahn 12.x/13.x style plus violations.
Usage: probe_deflate.py [deflate_port] [plain_port]"""
import os, random, sys, time, zlib
from wslib import *

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9632
PLAIN = int(sys.argv[2]) if len(sys.argv) > 2 else 9631
npass = nfail = 0
infos = []


def result(name, ok, detail=''):
    global npass, nfail
    if ok:
        npass += 1; print(f'PASS  {name} {detail}', flush=True)
    else:
        nfail += 1; print(f'FAIL  {name}: {detail}', flush=True)


def parse_ext(v):
    """Return list of (name, dict params) from a Sec-WebSocket-Extensions value (simple parser)."""
    out = []
    if not v:
        return out
    for el in v.split(','):
        parts = [p.strip() for p in el.split(';')]
        name = parts[0]
        params = {}
        for p in parts[1:]:
            if '=' in p:
                k, val = p.split('=', 1); params[k.strip()] = val.strip().strip('"')
            else:
                params[p] = True
        out.append((name, params))
    return out


def hs(offer, port=None):
    extra = [f'Sec-WebSocket-Extensions: {offer}'] if offer is not None else []
    c = handshake(port or PORT, extra=extra)
    ext = hget(c.headers, 'sec-websocket-extensions')
    return c, ext, parse_ext(ext)


class Peer:
    """Client-side codec following the negotiated response."""
    def __init__(self, params, client_nct=False, client_bits=15):
        self.p = params or {}
        self.server_nct = 'server_no_context_takeover' in self.p
        self.client_nct = client_nct or 'client_no_context_takeover' in self.p
        sb = int(self.p.get('server_max_window_bits', 15))
        self.server_bits = sb
        self.client_bits = min(client_bits, int(self.p.get('client_max_window_bits', 15)))
        self.dec = zlib.decompressobj(-max(sb, 8))
        self.comp = None

    def compress(self, data):
        if self.comp is None or self.client_nct:
            self.comp = zlib.compressobj(6, zlib.DEFLATED, -max(9, self.client_bits))
        return deflate_msg(data, compobj=self.comp)

    def inflate(self, data):
        if self.server_nct:
            self.dec = zlib.decompressobj(-max(self.server_bits, 8))
        return self.dec.decompress(data + b'\x00\x00\xff\xff')


def get_msg(c, peer, timeout=10):
    m, frames = c.read_message(timeout)
    if not isinstance(m, tuple):
        return m, frames
    rsv1 = frames[0]['rsv'] & 4
    for f in frames[1:]:
        if f['rsv'] != 0:
            raise RuntimeError(f'server set RSV on continuation/other frame {f["rsv"]}')
    if frames[0]['rsv'] & 3:
        raise RuntimeError('server set RSV2/3')
    data = m[1]
    if rsv1:
        data = peer.inflate(data)
    return (m[0], data, bool(rsv1)), frames


def echo_check(c, peer, op, payload, compress=True, frag=None):
    body = peer.compress(payload) if compress else payload
    rsv = 4 if compress else 0
    if frag:
        parts = [body[i:i + frag] for i in range(0, len(body), frag)] or [b'']
        for i, p in enumerate(parts):
            c.send_frame(op if i == 0 else 0, p, fin=i == len(parts) - 1, rsv=rsv if i == 0 else 0)
    else:
        c.send_frame(op, body, rsv=rsv)
    m, frames = get_msg(c, peer)
    if not isinstance(m, tuple):
        return False, f'got {m if not isinstance(m, dict) else (m["opcode"], close_code(m), m["payload"][2:])}'
    return (m[0] == op and m[1] == payload), f'op={m[0]} len={len(m[1])} compressed_reply={m[2]}'


def close_ok(c):
    c.send_frame(8, close_payload(1000)); f = c.read_frame(3); how, _, _ = c.wait_eof(3); c.close()
    return close_code(f) == 1000 and how in (EOF, RESET)


def expect_fail(c, codes, timeout=3):
    for _ in range(20):
        f = c.read_frame(timeout)
        if f in (EOF, RESET):
            return True, f'dropped ({f})'
        if f == TIMEOUT:
            return False, 'no failure within timeout'
        if f['opcode'] == 8:
            code = close_code(f)
            c.send_frame(8, f['payload'][:2]); how, _, _ = c.wait_eof(3)
            return code in codes and how in (EOF, RESET), f'close {code} {f["payload"][2:]!r} tcp={how}'
        if f['opcode'] in (1, 2):
            return False, f'server echoed a message: op={f["opcode"]} rsv={f["rsv"]} {f["payload"][:30]!r}'
    return False, 'too many frames'


# ---------- negotiation ----------
NEG_ACCEPT = [
    ('permessage-deflate', lambda p: True),
    ('permessage-deflate; client_max_window_bits', lambda p: p.get('client_max_window_bits', '15') not in (True,)),
    ('permessage-deflate; server_no_context_takeover', lambda p: 'server_no_context_takeover' in p),
    ('permessage-deflate; client_no_context_takeover', lambda p: True),
    ('permessage-deflate; server_no_context_takeover; client_no_context_takeover', lambda p: 'server_no_context_takeover' in p),
    ('permessage-deflate; client_no_context_takeover; client_max_window_bits', lambda p: True),
    ('permessage-deflate; server_max_window_bits="10"', lambda p: int(p.get('server_max_window_bits', 99)) <= 10),
    ('permessage-deflate ;server_max_window_bits = 12 ', lambda p: int(p.get('server_max_window_bits', 99)) <= 12),
    ('x-webkit-deflate-frame, permessage-deflate', lambda p: True),
    ('permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=9', lambda p: int(p.get('server_max_window_bits', 99)) <= 9),
    ('permessage-deflate; foo=1, permessage-deflate; client_no_context_takeover', lambda p: 'foo' not in p),
]
for n in range(8, 16):
    NEG_ACCEPT.append((f'permessage-deflate; server_max_window_bits={n}', lambda p, n=n: int(p.get('server_max_window_bits', 99)) <= n))
    NEG_ACCEPT.append((f'permessage-deflate; client_max_window_bits={n}', lambda p, n=n: int(p.get('client_max_window_bits', 15)) <= n))

NEG_DECLINE = [
    'permessage-deflate; server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=0', 'permessage-deflate; server_max_window_bits=08',
    'permessage-deflate; server_max_window_bits=abc', 'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=-9', 'permessage-deflate; server_max_window_bits=9.0',
    'permessage-deflate; client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=16',
    'permessage-deflate; client_max_window_bits=010', 'permessage-deflate; client_max_window_bits=""',
    'permessage-deflate; server_no_context_takeover=1', 'permessage-deflate; client_no_context_takeover=true',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
    'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
    'permessage-deflate; client_max_window_bits; client_max_window_bits=10',
    'permessage-deflate; unknown_param', 'permessage-deflate; mux',
]

for offer, pred in NEG_ACCEPT:
    try:
        c, ext, parsed = hs(offer)
        pd = [x for x in parsed if x[0] == 'permessage-deflate']
        ok = len(pd) == 1 and len(parsed) == 1 and pred(pd[0][1])
        det = f'-> {ext!r}'
        if ok:
            # response params must be valid: cmwb must have a value; only offered cmwb may be present
            p = pd[0][1]
            if p.get('client_max_window_bits') is True:
                ok = False; det += ' cmwb without value in response'
            if 'client_max_window_bits' in p and 'client_max_window_bits' not in offer:
                ok = False; det += ' cmwb in response not offered (RFC7692 7.1.2.2)'
            for k in p:
                if k not in ('server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'):
                    ok = False; det += f' unknown param {k}'
        if ok:
            peer = Peer(pd[0][1], client_nct='client_no_context_takeover' in offer.split(',')[-1])
            text = ('Hello permessage-deflate ' * 200).encode()
            r1 = echo_check(c, peer, 1, text)
            r2 = echo_check(c, peer, 1, text)  # second message uses context takeover on both sides (if allowed)
            r3 = echo_check(c, peer, 2, os.urandom(300) * 10)
            ok = r1[0] and r2[0] and r3[0] and close_ok(c)
            det += f' echo: {r1[1]} | {r2[1]} | {r3[1]}'
        result(f'negotiate accept: {offer}', ok, det)
    except Exception as e:
        result(f'negotiate accept: {offer}', False, repr(e))

for offer in NEG_DECLINE:
    try:
        status, headers, rest, s = raw_request(PORT, (
            f'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            f'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
            f'Sec-WebSocket-Extensions: {offer}\r\n\r\n').encode())
        ext = hget(headers, 'sec-websocket-extensions')
        ok = (status.startswith('HTTP/1.1 101') and ext is None) or status.startswith('HTTP/1.1 400')
        result(f'negotiate decline: {offer}', ok, f'{status} ext={ext!r}')
        s.close()
    except Exception as e:
        result(f'negotiate decline: {offer}', False, repr(e))

# ---------- 12.x style echo of compressed messages of various sizes ----------
for offer in ['permessage-deflate', 'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
              'permessage-deflate; server_max_window_bits=8; client_max_window_bits=9',
              'permessage-deflate; server_max_window_bits=9; client_max_window_bits',
              'permessage-deflate; client_max_window_bits=8']:
    c, ext, parsed = hs(offer)
    peer = Peer(parsed[0][1] if parsed else {}, client_nct='client_no_context_takeover' in offer,
                client_bits=int(offer.split('client_max_window_bits=')[1][:2].strip(';')) if 'client_max_window_bits=' in offer else 15)
    rnd = random.Random(1)
    ok = True; det = ''
    for size in [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072, 262144]:
        for k in range(3):
            # mixture of compressible text and random-ish content with matches at distances 257..512
            chunk = bytes(rnd.randrange(32, 127) for _ in range(300))
            payload = (chunk * (size // 300 + 1))[:size]
            op = 1 if k % 2 == 0 else 2
            r = echo_check(c, peer, op, payload)
            if not r[0]:
                ok = False; det = f'size {size} #{k}: {r[1]}'; break
        if not ok:
            break
    ok = ok and close_ok(c)
    result(f'12.x-style echo sizes 16..256K [{offer}] -> {ext!r}', ok, det)

# ---------- framing variants with deflate ----------
def fresh(offer='permessage-deflate'):
    c, ext, parsed = hs(offer)
    return c, Peer(parsed[0][1] if parsed else {}, client_nct='client_no_context_takeover' in offer)


c, peer = fresh(); r = echo_check(c, peer, 1, b'x' * 5000, frag=7); result('compressed text fragmented (RSV1 on first only, 7-byte frags)', r[0] and close_ok(c), r[1])
c, peer = fresh(); r = echo_check(c, peer, 1, 'κόσμε'.encode() * 10, compress=False); result('uncompressed text after negotiation', r[0] and close_ok(c), r[1])
c, peer = fresh(); r = echo_check(c, peer, 1, b''); result('compressed empty text (payload 00)', r[0] and close_ok(c), r[1])
c, peer = fresh(); c.send_frame(2, b'', rsv=4); m, fr = get_msg(c, peer); result('compressed binary with zero-length payload (no trailer at all)', isinstance(m, tuple) and m[1] == b'' and close_ok(c), str(m)[:100])
c, peer = fresh(); r = echo_check(c, peer, 1, b'abc' * 1000, compress=True)
r2 = echo_check(c, peer, 1, b'abc' * 1000, compress=False); r3 = echo_check(c, peer, 1, b'abc' * 1000, compress=True)
result('mixed compressed/uncompressed messages with context takeover', r[0] and r2[0] and r3[0] and close_ok(c), f'{r[1]} {r2[1]} {r3[1]}')

# BFINAL=1 block (RFC 7692 7.2.3.4) then another message from a fresh compressor
c, peer = fresh()
co = zlib.compressobj(6, zlib.DEFLATED, -15); body = co.compress(b'final block message ' * 100) + co.flush(zlib.Z_FINISH)
c.send_frame(1, body, rsv=4); m, fr = get_msg(c, peer)
ok1 = isinstance(m, tuple) and m[1] == b'final block message ' * 100
peer.comp = None
r = echo_check(c, peer, 1, b'after final block ' * 100)
result('RFC7692 7.2.3.4 message with BFINAL=1 block, then next message (new stream)', ok1 and r[0] and close_ok(c), f'{str(m)[:60]} / {r[1]}')

# sliding-window: client context takeover, message referencing data from previous message (distance < 32K)
c, peer = fresh()
base = os.urandom(20000)
r1 = echo_check(c, peer, 2, base); r2 = echo_check(c, peer, 2, base[:15000] + b'tail')
result('client context takeover: 2nd message refers back into 1st (window 15)', r1[0] and r2[0] and close_ok(c), f'{r1[1]} | {r2[1]}')

# idle release: server frees its inflater after ~5 s idle and rebuilds it from kept plaintext
c, peer = fresh()
base = os.urandom(30000)
r1 = echo_check(c, peer, 2, base)
time.sleep(6.5)
r2 = echo_check(c, peer, 2, base[:29000] + b'tail')
time.sleep(6.5)
r3 = echo_check(c, peer, 1, b'short after idle ' * 100)
result('context takeover across >5 s idle (server inflater release/rebuild)', r1[0] and r2[0] and r3[0] and close_ok(c), f'{r1[1]} | {r2[1]} | {r3[1]}')

# many small messages window wrap (inflater rebuilt with tail after idle with many small messages)
c, peer = fresh()
msgs = [os.urandom(100) for _ in range(400)]
ok = True
for mm in msgs:
    r = echo_check(c, peer, 2, mm)
    ok = ok and r[0]
time.sleep(6.5)
big = b''.join(msgs[-300:])  # refers back to the last 30000 bytes seen by server's inflater
r = echo_check(c, peer, 2, big)
result('window tail of many small messages survives idle release', ok and r[0] and close_ok(c), r[1])

# fragmented compressed message sent byte-by-byte frames
c, peer = fresh(); r = echo_check(c, peer, 2, bytes(range(256)) * 20, frag=1)
result('compressed binary in 1-byte frames', r[0] and close_ok(c), r[1])

# ---------- violations ----------
c, peer = fresh(); c.send_frame(9, b'ping', rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 on ping -> 1002', ok, d)
c, peer = fresh(); c.send_frame(10, b'pong', rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 on pong -> 1002', ok, d)
c, peer = fresh(); c.send_frame(8, close_payload(1000), rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 on close -> 1002', ok, d)
c, peer = fresh(); body = peer.compress(b'x' * 3000)
c.send_frame(1, body[:10], fin=False, rsv=4); c.send_frame(0, body[10:], rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 on continuation frame -> 1002', ok, d)
c, peer = fresh(); c.send_frame(1, b'abc', fin=False); c.send_frame(0, b'def', rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 on continuation of uncompressed msg -> 1002', ok, d)
c, peer = fresh(); c.send_frame(1, peer.compress(b'hello'), rsv=2); ok, d = expect_fail(c, (1002,)); result('RSV2 with deflate negotiated -> 1002', ok, d)
c, peer = fresh(); c.send_frame(1, peer.compress(b'hello'), rsv=6); ok, d = expect_fail(c, (1002,)); result('RSV1|RSV2 -> 1002', ok, d)
c, ext, _ = hs(None); c.send_frame(1, deflate_msg(b'hello'), rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 without negotiation (deflate server, no offer) -> 1002', ok, d)
c, ext, _ = hs('x-foo', port=PLAIN); c.send_frame(1, deflate_msg(b'hello'), rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 on plain server -> 1002', ok, d)
c, ext, _ = hs('permessage-deflate; server_max_window_bits=7'); c.send_frame(1, deflate_msg(b'hello'), rsv=4); ok, d = expect_fail(c, (1002,)); result('RSV1 after declined offer -> 1002', ok, d)
c, peer = fresh(); c.send_frame(1, b'\xff\xff\xff\xff\xff', rsv=4); ok, d = expect_fail(c, (1007, 1002)); result('invalid compressed data -> 1007/1002', ok, d)
c, peer = fresh(); c.send_frame(2, b'\x07\x00', rsv=4); ok, d = expect_fail(c, (1007, 1002)); result('invalid block type 3 -> 1007/1002', ok, d)
c, peer = fresh(); c.send_frame(1, peer.compress(b'ok\xed\xa0\x80ok' * 200), rsv=4); ok, d = expect_fail(c, (1007,)); result('compressed text inflating to invalid UTF-8 -> 1007', ok, d)
c, peer = fresh(); c.send_frame(1, peer.compress(b'abc\xe2\x82'), rsv=4); ok, d = expect_fail(c, (1007,)); result('compressed text ending in truncated UTF-8 -> 1007', ok, d)
c, peer = fresh(); body = peer.compress(b'y' * 5000)
# RFC 7692 §7.2.2 gives no way to tell a deflate stream cut at a block boundary from a whole one, and zlib inflates
# a cut stream without error: informational only (as in Autobahn), never a failure.
c.send_frame(1, body[:len(body) // 2], rsv=4); ok, d = expect_fail(c, (1007, 1002))
infos.append(f'truncated compressed stream -> {d}')
# distance too far back (reference before start of window)
c, peer = fresh(); c.send_frame(2, b'\x63\x60\x60\x00\x00' + bytes([0x4a, 0x04, 0x00]), rsv=4)
f = c.read_frame(2); infos.append(f'odd stream -> {f if not isinstance(f, dict) else (f["opcode"], close_code(f))}'); c.close()
c, peer = fresh()
# hand-made fixed Huffman block with a back-reference of distance 1 at stream start (nothing in window)
# literal 'a' omitted: just match len 3 dist 1 -> invalid distance too far back
import struct as _s
def bits_writer():
    out = bytearray(); acc = [0, 0]
    def put(v, n):
        for i in range(n):
            acc[0] |= ((v >> i) & 1) << acc[1]; acc[1] += 1
            if acc[1] == 8:
                out.append(acc[0]); acc[0] = 0; acc[1] = 0
    def huff(code, n):  # huffman codes are written MSB first
        for i in range(n - 1, -1, -1):
            put((code >> i) & 1, 1)
    def done():
        if acc[1]:
            out.append(acc[0])
        return bytes(out)
    return put, huff, done
put, huff, done = bits_writer()
put(1, 1); put(1, 2)           # BFINAL=1, fixed huffman
huff(0b0000001, 7)             # length code 257 (len 3)
huff(0b00000, 5)               # distance code 0 (dist 1)
huff(0b0000000, 7)             # end of block (256)
c.send_frame(2, done(), rsv=4); ok, d = expect_fail(c, (1007, 1002)); result('compressed data with distance too far back -> fail', ok, d)

# decompression bomb over maxPayload (64 MiB) -> 1009
c, peer = fresh(); co = zlib.compressobj(9, zlib.DEFLATED, -15)
bomb = b''
for _ in range(66):
    bomb += co.compress(b'\x00' * (1 << 20))
bomb += co.flush(zlib.Z_SYNC_FLUSH); bomb = bomb[:-4]
t0 = time.time(); c.send_frame(2, bomb, rsv=4); ok, d = expect_fail(c, (1009,), timeout=10)
result(f'compressed bomb 66 MiB inflated (> 64 MiB maxPayload) -> 1009 ({len(bomb)} bytes)', ok, d + f' {time.time()-t0:.2f}s')

# 16 MiB compressed echo
c, peer = fresh(); payload = (b'BAsd7&jh23' * (1677722))[:16 << 20]
t0 = time.time(); r = echo_check(c, peer, 1, payload); result('16 MiB compressed text echo', r[0] and close_ok(c), r[1] + f' {time.time()-t0:.2f}s')

for i in infos:
    print('INFO ', i)
print(f'== {npass} passed, {nfail} failed')
