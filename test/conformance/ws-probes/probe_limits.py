#!/usr/bin/env python3
"""Autobahn section 9 style probes (large messages, fragmentation, chopped writes, many round-trips).
Usage: probe_limits.py [port] [quick]"""
import sys, time, threading
from wslib import *

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9631
QUICK = len(sys.argv) > 2
npass = nfail = 0


def result(name, ok, detail=''):
    global npass, nfail
    if ok:
        npass += 1; print(f'PASS  {name} {detail}', flush=True)
    else:
        nfail += 1; print(f'FAIL  {name}: {detail}', flush=True)


def sender(c, chunks):
    def run():
        for ch in chunks:
            if not c.send(ch):
                return
    t = threading.Thread(target=run, daemon=True); t.start(); return t


def roundtrip(name, op, payload, frag=None, chop=None, timeout=60):
    c = handshake(PORT, timeout=timeout)
    t0 = time.time()
    if frag:
        parts = [payload[i:i + frag] for i in range(0, len(payload), frag)] or [b'']
        data = b''.join(frame(op if i == 0 else 0, p, fin=i == len(parts) - 1) for i, p in enumerate(parts))
    else:
        data = frame(op, payload)
    if chop:
        chunks = [data[i:i + chop] for i in range(0, len(data), chop)]
    else:
        chunks = [data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    t = sender(c, chunks)
    m, frames = c.read_message(timeout)
    dt = time.time() - t0
    ok = isinstance(m, tuple) and m[0] == op and m[1] == payload
    det = f'{dt:.2f}s frames={len(frames)}' if ok else f'got {m if not isinstance(m, tuple) else (m[0], len(m[1]))} after {dt:.2f}s'
    if ok:
        c.send_frame(8, close_payload(1000))
        f = c.read_frame(5)
        ok = close_code(f) == 1000
        how, _, _ = c.wait_eof(5)
        ok = ok and how in (EOF, RESET)
        if not ok:
            det += f' close handshake bad {f} {how}'
    t.join(5)
    c.close()
    result(name, ok, det)


sizes = [65536, 262144, 1 << 20, 4 << 20, 8 << 20, 16 << 20]
if QUICK:
    sizes = sizes[:4]
text_unit = b'BAsd7&jh23'
for i, n in enumerate(sizes):
    roundtrip(f'9.1.{i+1} text {n}', 1, (text_unit * (n // 10 + 1))[:n])
for i, n in enumerate(sizes):
    roundtrip(f'9.2.{i+1} binary {n}', 2, (b'\xfe' * n))
fsizes = [64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20]
for i, fs in enumerate(fsizes):
    roundtrip(f'9.3.{i+1} text 4MiB in {fs}-byte fragments', 1, (b'*' * (4 << 20)), frag=fs)
for i, fs in enumerate(fsizes):
    roundtrip(f'9.4.{i+1} binary 4MiB in {fs}-byte fragments', 2, (b'\xfe' * (4 << 20)), frag=fs)
for i, ch in enumerate([64, 128, 256, 512, 1024, 2048]):
    roundtrip(f'9.5.{i+1} text 1MiB chopped {ch}', 1, b'*' * (1 << 20), chop=ch)
    roundtrip(f'9.6.{i+1} binary 1MiB chopped {ch}', 2, b'\xfe' * (1 << 20), chop=ch)

# 9.7/9.8: 1000 messages, serial round trips
for i, n in enumerate([0, 16, 64, 256, 1024, 4096]):
    for op in (1, 2):
        c = handshake(PORT); t0 = time.time(); ok = True
        for k in range(1000):
            p = b'*' * n
            c.send_frame(op, p)
            m, _ = c.read_message(5)
            if m != (op, p):
                ok = False; break
        dt = time.time() - t0
        c.send_frame(8, close_payload(1000)); f = c.read_frame(3); c.close()
        result(f'9.{7 if op == 1 else 8}.{i+1} 1000 x {n}-byte {"text" if op == 1 else "binary"} round trips', ok and close_code(f) == 1000, f'{dt:.2f}s')

# over the server's 64 MiB limit -> 1009 (header only: announce 65 MiB, send a bit)
c = handshake(PORT); c.send(bytes([0x82, 0xFF]) + struct.pack('!Q', 65 << 20) + b'\x01\x02\x03\x04')
f = c.read_frame(3)
result('frame announcing 65 MiB (> maxPayload) -> 1009 early', close_code(f) == 1009 or f in (EOF, RESET), str(f if not isinstance(f, dict) else close_code(f)))
c.close()

print(f'== {npass} passed, {nfail} failed')
