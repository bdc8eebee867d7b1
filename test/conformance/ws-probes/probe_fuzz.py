#!/usr/bin/env python3
"""Bounded random-frame fuzz: the server must not crash or hang; every connection either answers or fails.
Usage: probe_fuzz.py [port] [deflate 0/1] [n]"""
import os, random, sys, time
from wslib import *
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9631
DEFL = len(sys.argv) > 2 and sys.argv[2] == '1'
N = int(sys.argv[3]) if len(sys.argv) > 3 else 300
rnd = random.Random(42)
stats = {}
for i in range(N):
    c = handshake(PORT, extra=['Sec-WebSocket-Extensions: permessage-deflate'] if DEFL else None)
    data = b''
    for _ in range(rnd.randint(1, 6)):
        op = rnd.choice([0, 1, 2, 8, 9, 10, rnd.randint(0, 15)])
        pl = os.urandom(rnd.choice([0, 1, 2, 5, 125, 126, 300]))
        if op == 8 and rnd.random() < 0.5:
            pl = close_payload(rnd.choice([1000, 1002, 0, 5000, 3000]), b'bye')
        data += frame(op, pl, fin=rnd.random() < 0.7, rsv=rnd.choice([0, 0, 0, 4, 2]))
    if rnd.random() < 0.2:
        data = data[:rnd.randint(0, len(data))]
    c.send(data)
    outcome = 'open'
    for _ in range(30):
        f = c.read_frame(0.5)
        if f == TIMEOUT:
            break
        if f in (EOF, RESET):
            outcome = 'dropped'; break
        if f['opcode'] == 8:
            outcome = f'close {close_code(f)}'
            how, dt, _ = c.wait_eof(3)
            if how == TIMEOUT:
                outcome += ' (no TCP close!)'
            break
    stats[outcome] = stats.get(outcome, 0) + 1
    c.close()
print(stats)
c = handshake(PORT); c.send_frame(1, b'alive?'); m, _ = c.read_message(2); print('server alive:', m == (1, b'alive?')); c.close()
