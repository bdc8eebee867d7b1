#!/usr/bin/env python3
"""Misc edge probes. Usage: probe_misc.py [plain_port] [deflate_port]"""
import sys, time, zlib
from wslib import *
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9631
DPORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9632
npass = nfail = 0
def result(name, ok, detail=''):
    global npass, nfail
    if ok: npass += 1; print(f'PASS  {name} {detail}', flush=True)
    else: nfail += 1; print(f'FAIL  {name}: {detail}', flush=True)

def failed(c, codes=(1002,), t=3):
    f = c.read_frame(t)
    if f in (EOF, RESET): return True, str(f)
    if isinstance(f, dict) and f['opcode'] == 8: return close_code(f) in codes, f'close {close_code(f)} {f["payload"][2:]!r}'
    return False, str(f if not isinstance(f, dict) else (f['opcode'], f['payload'][:30]))

c = handshake(PORT); c.send_frame(10, b'p' * 126); ok, d = failed(c); result('pong with 126-byte payload -> fail', ok, d); c.close()
c = handshake(PORT); c.send(bytes([0x89, 0x80 | 126]) + struct.pack('!H', 126) + b'\0\0\0\0' + b'p' * 126); ok, d = failed(c); result('ping 126 via 16-bit length -> fail', ok, d); c.close()
c = handshake(PORT); c.send(bytes([0x89, 0x80 | 127]) + struct.pack('!Q', 10) + b'\0\0\0\0' + b'p' * 10); f = c.read_frame(2)
print('INFO  ping len 10 in 64-bit encoding ->', f if not isinstance(f, dict) else (f['opcode'], close_code(f))); c.close()

# fragmented message whose total exceeds maxPayload (64 MiB) -> 1009
c = handshake(PORT); chunk = b'\0' * (4 << 20); ok = True
c.send_frame(2, chunk, fin=False)
for i in range(17):
    if not c.send_frame(0, chunk, fin=False): break
ok, d = failed(c, (1009,), 5); result('fragments totalling 72 MiB (> 64 MiB maxPayload) -> 1009', ok, d); c.close()

# ping interleaved in a compressed fragmented message
c = handshake(DPORT, extra=['Sec-WebSocket-Extensions: permessage-deflate'])
body = deflate_msg(b'hello ' * 500)
c.send_frame(1, body[:10], fin=False, rsv=4); c.send_frame(9, b'mid'); c.send_frame(0, body[10:])
f = c.read_frame(2); m, _ = c.read_message(3)
ok = isinstance(f, dict) and f['opcode'] == 10 and f['payload'] == b'mid' and isinstance(m, tuple)
if ok:
    # server may or may not compress the echo
    pass
result('ping inside compressed fragmented message answered, message echoed', ok, f'{f if not isinstance(f, dict) else f["opcode"]} {type(m)}'); c.close()

# Sec-WebSocket-Protocol oddities: server has no subprotocols: must never answer one
for v in ['', 'chat,,superchat', 'chat, chat']:
    try:
        c = handshake(PORT, extra=[f'Sec-WebSocket-Protocol: {v}'])
        result(f'Sec-WebSocket-Protocol {v!r} -> no protocol selected', hget(c.headers, 'sec-websocket-protocol') is None, str(hget(c.headers, 'sec-websocket-protocol'))); c.close()
    except RuntimeError as e:
        result(f'Sec-WebSocket-Protocol {v!r} -> rejected', True, str(e)[:60])

# extension list that is malformed: 400 or ignore
for v in ['permessage-deflate;', 'permessage-deflate; =1', ';', 'permessage-deflate; a="b c"']:
    status, headers, rest, s = raw_request(DPORT, (f'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {v}\r\n\r\n').encode())
    ext = hget(headers, 'sec-websocket-extensions')
    result(f'malformed extensions {v!r}: 400 or not negotiated', status.startswith('HTTP/1.1 400') or ext is None, f'{status} {ext}'); s.close()

# close with reason exactly 123 bytes of multibyte UTF-8 split (valid)
c = handshake(PORT); reason = ('é' * 61).encode() + b'a'
c.send_frame(8, close_payload(1001, reason)); f = c.read_frame(2); result('close 1001 with 123-byte multibyte reason', close_code(f) == 1001, str(close_code(f))); c.close()
# close reason truncated UTF-8 sequence
c = handshake(PORT); c.send_frame(8, close_payload(1000, b'ab\xc3')); ok, d = failed(c, (1007,)); result('close reason ending in truncated UTF-8 -> 1007', ok, d); c.close()
print(f'== {npass} passed, {nfail} failed')
