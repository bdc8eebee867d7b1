#!/usr/bin/env python3
"""Prints, as JSON lines, the raw bytes the probe suites send (test/conformance/{http,ws}-probes/*.py), without
a network: HTTP probes are read from the harness's queue (P(...) only records); WebSocket probes run against a
fake socket layer that records what each connection sends, answers a handshake with 101 and then times out every
read (so each probe script runs through quickly, failing its checks, which do not matter here).

Used by test/fuzz/make-corpus.ts to build the seed corpus; each line: {"kind", "name", "hex"} where kind is
"http" (bytes of one HTTP probe), "ws-handshake" (an opening-handshake request), "ws" or "ws-deflate" (the bytes
a WebSocket probe sent after its handshake; "ws-deflate" when it offered permessage-deflate).
"""
import base64, hashlib, importlib, io, json, os, re, socket, subprocess, sys, time, contextlib

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, '..', 'conformance')
GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
OUT = []


def emit(kind, name, data):
    OUT.append({'kind': kind, 'name': name, 'hex': bytes(data).hex()})


# ---- HTTP probes: the harness only queues them until run_all() ----
sys.path.insert(0, os.path.join(CONF, 'http-probes'))
import harness  # noqa: E402

for mod in ('probes_1_line_fields_host', 'probes_2_framing', 'probes_3_conn'):
    harness.PENDING.clear()
    importlib.import_module(mod)
    for name, sent, _check, _rfc, kw in harness.PENDING:
        data = sent if isinstance(sent, bytes) else b''.join(sent)
        parts = kw.get('parts')
        if parts is not None:
            data = b''.join(parts)
        emit('http', name, data)
sys.path.pop(0)


# ---- WebSocket probes: a fake socket layer ----
class FakeSock:
    conns = []

    def __init__(self):
        self.sent = bytearray()
        self.answered = False
        self.head = None
        FakeSock.conns.append(self)

    def settimeout(self, t):
        pass

    def setsockopt(self, *a):
        pass

    def sendall(self, data):
        self.sent += data

    def send(self, data):
        self.sent += data
        return len(data)

    def recv(self, n):
        if not self.answered and b'\r\n\r\n' in self.sent:
            self.answered = True
            head = bytes(self.sent).split(b'\r\n\r\n', 1)[0].decode('latin1')
            self.head = head
            m = re.search(r'(?im)^sec-websocket-key:[ \t]*(\S+)', head)
            if m is None:
                return b'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
            accept = base64.b64encode(hashlib.sha1(m.group(1).encode() + GUID).digest()).decode()
            ext = '\r\nSec-WebSocket-Extensions: permessage-deflate' if 'permessage-deflate' in head else ''
            return (f'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                    f'Sec-WebSocket-Accept: {accept}{ext}\r\n\r\n').encode()
        raise socket.timeout()

    def shutdown(self, how):
        pass

    def getsockname(self):
        return ('127.0.0.1', 40000)

    def getpeername(self):
        return ('127.0.0.1', 9631)

    def close(self):
        pass


socket.create_connection = lambda *a, **kw: FakeSock()
# Masking keys and nonces from a seeded generator: the same probes give the same seeds on every run.
_rnd = __import__('random').Random(6455)
os.urandom = lambda n: bytes(_rnd.getrandbits(8) for _ in range(n))
time.sleep = lambda s: None
subprocess.run = lambda *a, **kw: subprocess.CompletedProcess(a, 0, stdout='', stderr='')
sys.path.insert(0, os.path.join(CONF, 'ws-probes'))
sys.argv = [sys.argv[0]]

for mod in ('probe_handshake', 'probe_frames', 'probe_misc', 'probe_limits', 'probe_close_behaviour',
            'probe_deflate', 'probe_fuzz'):
    FakeSock.conns = []
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            m = importlib.import_module(mod)
            if hasattr(m, 'run'):
                m.run()
        except BaseException as e:  # a probe script that stops early still leaves its connections
            print(f'{mod}: stopped at {type(e).__name__}: {e}', file=sys.stderr)
    for k, c in enumerate(FakeSock.conns):
        data = bytes(c.sent)
        head, sep, rest = data.partition(b'\r\n\r\n')
        if not sep:
            emit('ws-handshake', f'{mod}-{k}', data)
            continue
        emit('ws-handshake', f'{mod}-{k}', head + sep)
        if rest:
            emit('ws-deflate' if b'permessage-deflate' in head else 'ws', f'{mod}-{k}', rest)

for o in OUT:
    print(json.dumps(o))
