#!/usr/bin/env python3
"""Close/teardown behaviour: close frame delivered before TCP close even when unread client data is pending (RST
risk), half-closed clients, leaked server connections. Usage: probe_close_behaviour.py [port]"""
import select, socket, subprocess, sys, time
from wslib import *
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9631
npass = nfail = 0
def wait_server_end(c, timeout=5.0):
    """Waits, without reading, until the server has ended its side (FIN or reset: POLLRDHUP/POLLHUP): the event the
    RST risk needs (the close frame must still be readable after the server closed with our data unread)."""
    p = select.poll(); p.register(c.s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return bool(p.poll(int(timeout * 1000)))

def established(port):
    out = subprocess.run(['ss', '-tn', 'state', 'established', f'( sport = :{port} )'], capture_output=True, text=True).stdout
    return out

def result(name, ok, detail=''):
    global npass, nfail
    if ok: npass += 1; print(f'PASS  {name} {detail}', flush=True)
    else: nfail += 1; print(f'FAIL  {name}: {detail}', flush=True)

# 1. violation followed immediately by lots of extra data the server will never read
for extra in (0, 1000, 200_000):
    outs = {}
    for trial in range(5):
        c = handshake(PORT)
        data = frame(1, b'x', rsv=4) + frame(2, b'\x00' * extra) if extra else frame(1, b'x', rsv=4)
        c.send(data)
        wait_server_end(c)
        f = c.read_frame(2)
        key = f'close {close_code(f)}' if isinstance(f, dict) else f
        outs[key] = outs.get(key, 0) + 1
        c.close()
    result(f'close frame readable after violation + {extra} unread bytes', list(outs) == ['close 1002'], str(outs))

# 2. 6.4.x-style: invalid UTF-8 fragment while more data keeps arriving
outs = {}
for trial in range(5):
    c = handshake(PORT)
    c.send(frame(1, 'κόσμε'.encode() + b'\xf4\x90\x80\x80', fin=False) + frame(0, b'a' * 100000, fin=False))
    wait_server_end(c)
    f = c.read_frame(2); key = f'close {close_code(f)}' if isinstance(f, dict) else f
    outs[key] = outs.get(key, 0) + 1; c.close()
result('1007 close frame readable with pending unread data', list(outs) == ['close 1007'], str(outs))

# 3. client closes write side without close frame: server must close too (no CLOSE-WAIT leak)
c = handshake(PORT); c.send_frame(1, b'hi'); c.read_message(2)
c.s.shutdown(socket.SHUT_WR)
how, dt, extra = c.wait_eof(3)
result('client TCP FIN without close frame -> server closes', how in (EOF, RESET), f'{how} {dt:.2f}s extra={extra[:20]!r}')
c.close()

# 4. client FIN mid-frame
c = handshake(PORT); c.send(frame(1, b'x' * 1000)[:50]); c.s.shutdown(socket.SHUT_WR)
how, dt, extra = c.wait_eof(3); result('client FIN mid-frame -> server closes', how in (EOF, RESET), f'{how} {dt:.2f}s')
c.close()

# 5. client sends close then FIN immediately (half-close) -> server close frame still delivered
c = handshake(PORT); c.send_frame(8, close_payload(1000)); c.s.shutdown(socket.SHUT_WR)
f = c.read_frame(2); how, dt, extra = c.wait_eof(3)
result('close + FIN -> server replies close 1000 then closes', close_code(f) == 1000 and how in (EOF, RESET), f'{close_code(f)} {how}')
c.close()

# 6. client sends close, then never reads nor closes; server must not keep the TCP connection
c = handshake(PORT); c.send_frame(8, close_payload(1000))
ended = wait_server_end(c)
out = established(PORT)
lp = c.s.getsockname()[1]
result('server dropped TCP after close handshake while client idle', ended and f':{lp} ' not in out.replace('\n', ' ') + ' ', '')
c.close()

# 7. handshake then silence: nothing is sent by the server for 2 s (no premature close)
c = handshake(PORT); f = c.read_frame(2); result('idle connection kept open (2 s)', f == TIMEOUT, str(f)); c.close()

# 8. leak check: count server-side established sockets on the port (every client above is closed; the server's
# side may take a few event-loop turns to follow: looked at until none is left, at most 5 s, then counted)
deadline = time.time() + 5
while True:
    out = established(PORT)
    n = max(0, len(out.strip().splitlines()) - 1)
    if n == 0 or time.time() > deadline:
        break
    select.select([], [], [], 0.05)
out2 = subprocess.run(['ss', '-tn', 'state', 'close-wait', f'( sport = :{PORT} )'], capture_output=True, text=True).stdout
n2 = max(0, len(out2.strip().splitlines()) - 1)
result('no leaked server connections (ESTAB/CLOSE-WAIT on server port)', n == 0 and n2 == 0, f'estab={n} close_wait={n2}')
print(f'== {npass} passed, {nfail} failed')
