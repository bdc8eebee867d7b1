#!/usr/bin/env python3
"""Opening-handshake probes (RFC 6455 section 4). Usage: probe_handshake.py [port]"""
import sys, time
from wslib import *

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9631
KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
npass = nfail = 0
infos = []


def req(lines, method='GET', path='/', version='HTTP/1.1', body=b''):
    head = f'{method} {path} {version}\r\n' + ''.join(l + '\r\n' for l in lines) + '\r\n'
    return head.encode('latin1') + body


def std(**over):
    h = {'Host': f'127.0.0.1:{PORT}', 'Upgrade': 'websocket', 'Connection': 'Upgrade',
         'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13'}
    h.update(over)
    return [f'{k}: {v}' for k, v in h.items() if v is not None]


def result(name, ok, detail=''):
    global npass, nfail
    if ok:
        npass += 1; print(f'PASS  {name} {detail}')
    else:
        nfail += 1; print(f'FAIL  {name}: {detail}')


def do(raw):
    status, headers, rest, s = raw_request(PORT, raw, 3)
    return status, headers, rest, s


def accepted(status, headers, key=KEY):
    return status.startswith('HTTP/1.1 101') and hget(headers, 'sec-websocket-accept') == accept_for(key)


def works_after(s, rest):
    """After a 101 the connection must speak WebSocket."""
    c = Conn(s, rest)
    c.send_frame(1, b'hi')
    m, _ = c.read_message(2)
    return m == (1, b'hi')


def expect_accept(name, raw, key=KEY, extra_check=None):
    status, headers, rest, s = do(raw)
    ok = accepted(status, headers, key)
    detail = status
    if ok:
        ok = works_after(s, rest); detail += ' echo ok' if ok else ' but echo failed'
        if ok and hget(headers, 'sec-websocket-protocol') is not None:
            ok = False; detail += f' unexpected Sec-WebSocket-Protocol {hget(headers, "sec-websocket-protocol")}'
        if ok and extra_check:
            r = extra_check(headers)
            if r:
                ok = False; detail += ' ' + r
    s.close()
    result(name, ok, detail)


def expect_reject(name, raw, statuses=('400',), need_hdr=None):
    status, headers, rest, s = do(raw)
    code = status.split(' ')[1] if len(status.split(' ')) > 1 else status
    ok = code in statuses
    detail = f'{status!r}'
    if need_hdr:
        v = hget(headers, need_hdr[0])
        if v is None or need_hdr[1] not in v:
            ok = False; detail += f' missing {need_hdr[0]}: {need_hdr[1]} (got {v})'
    if code == '101':
        ok = False; detail += ' ACCEPTED an invalid handshake'
    s.close()
    result(name, ok, detail)


expect_accept('basic', req(std()))
expect_accept('RFC sample key accept value', req(std()), extra_check=lambda h: None if hget(h, 'sec-websocket-accept') == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' else 'bad accept')
expect_accept('101 response has Upgrade: websocket and Connection: Upgrade', req(std()),
              extra_check=lambda h: None if (hget(h, 'upgrade') or '').lower() == 'websocket' and 'upgrade' in (hget(h, 'connection') or '').lower() else f'hdrs {h}')
expect_accept('Upgrade: WebSocket (case)', req(std(Upgrade='WebSocket')))
expect_accept('Upgrade: WEBSOCKET', req(std(Upgrade='WEBSOCKET')))
expect_accept('Connection: upgrade (lower)', req(std(Connection='upgrade')))
expect_accept('Connection: keep-alive, Upgrade', req(std(Connection='keep-alive, Upgrade')))
expect_accept('Connection: Upgrade,keep-alive (no space)', req(std(Connection='Upgrade,keep-alive')))
expect_accept('Connection: keep-alive ,  UPGRADE  ', req(std(Connection='keep-alive ,  UPGRADE')))
expect_accept('Connection: tab OWS', req(std(Connection='keep-alive,\tupgrade')))
expect_accept('Connection split over two header lines', req([l for l in std(Connection=None)] + ['Connection: keep-alive', 'Connection: Upgrade']))
expect_accept('Upgrade token list: h2c, websocket', req(std(Upgrade='h2c, websocket')))
expect_accept('header names lower case', req([l.split(':')[0].lower() + ':' + l.split(':', 1)[1] for l in std()]))
expect_accept('header names upper case', req([l.split(':')[0].upper() + ':' + l.split(':', 1)[1] for l in std()]))
expect_accept('key surrounded by whitespace', req(std(**{'Sec-WebSocket-Key': '  ' + KEY + ' '})))
expect_accept('path with query', req(std(), path='/chat?x=1&y=%20'))
expect_accept('Origin header present', req(std() + ['Origin: http://example.com']))
expect_accept('subprotocol offered but server has none -> no Sec-WebSocket-Protocol', req(std() + ['Sec-WebSocket-Protocol: chat, superchat']))
expect_accept('extension offered on non-deflate server -> not accepted', req(std() + ['Sec-WebSocket-Extensions: permessage-deflate']),
              extra_check=lambda h: None if hget(h, 'sec-websocket-extensions') is None else f'ext {hget(h, "sec-websocket-extensions")}')
expect_accept('unknown extension ignored', req(std() + ['Sec-WebSocket-Extensions: x-foo; bar=1']),
              extra_check=lambda h: None if hget(h, 'sec-websocket-extensions') is None else f'ext {hget(h, "sec-websocket-extensions")}')
expect_accept('HTTP/1.1 GET absolute-form target', req(std(), path=f'http://127.0.0.1:{PORT}/x'))

# frame pipelined right after the request head
raw = req(std()) + frame(1, b'pipelined')
status, headers, rest, s = do(raw)
c = Conn(s, rest); m, _ = c.read_message(2)
result('frame pipelined with request head', accepted(status, headers) and m == (1, b'pipelined'), f'{status} {m}')
s.close()

expect_reject('bad key (too short)', req(std(**{'Sec-WebSocket-Key': 'abc'})))
expect_reject('bad key (20 bytes base64)', req(std(**{'Sec-WebSocket-Key': base64.b64encode(b'x' * 20).decode()})))
expect_reject('bad key (non-base64 chars)', req(std(**{'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!=='})))
expect_reject('empty key', req(std(**{'Sec-WebSocket-Key': ''})))
expect_reject('missing key', req(std(**{'Sec-WebSocket-Key': None})))
expect_reject('duplicate key', req(std() + [f'Sec-WebSocket-Key: {KEY}']))
expect_reject('missing version', req(std(**{'Sec-WebSocket-Version': None})), statuses=('400', '426'))
status, headers, rest, s = do(req(std(**{'Sec-WebSocket-Version': None})))
infos.append(f'missing version -> {status} Sec-WebSocket-Version: {hget(headers, "sec-websocket-version")}')
s.close()
expect_reject('version 8 -> 426 + Sec-WebSocket-Version: 13', req(std(**{'Sec-WebSocket-Version': '8'})), statuses=('426',), need_hdr=('sec-websocket-version', '13'))
expect_reject('version 14 -> 426', req(std(**{'Sec-WebSocket-Version': '14'})), statuses=('426',), need_hdr=('sec-websocket-version', '13'))
expect_reject('version "13, 8" (list) -> 400/426', req(std(**{'Sec-WebSocket-Version': '13, 8'})), statuses=('400', '426'))
expect_reject('version garbage', req(std(**{'Sec-WebSocket-Version': 'abc'})), statuses=('400', '426'))
expect_reject('missing Upgrade', req(std(Upgrade=None)), statuses=('400', '200', '426'))
expect_reject('Upgrade: foo', req(std(Upgrade='foo')), statuses=('400', '200', '426'))
expect_reject('Upgrade: websocketx', req(std(Upgrade='websocketx')), statuses=('400', '200', '426'))
expect_reject('missing Connection', req(std(Connection=None)), statuses=('400', '200', '426'))
expect_reject('Connection: keep-alive only', req(std(Connection='keep-alive')), statuses=('400', '200', '426'))
expect_reject('Connection: Upgraded (not a token match)', req(std(Connection='Upgraded')), statuses=('400', '200', '426'))
expect_reject('missing Host', req(std(Host=None)), statuses=('400',))
expect_reject('duplicate Host', req(std() + ['Host: other']), statuses=('400',))
expect_reject('POST method', req(std(), method='POST'), statuses=('400', '405', '200', '426'))
expect_reject('HEAD method', req(std(), method='HEAD'), statuses=('400', '405', '200', '426'))
expect_reject('HTTP/1.0', req(std(), version='HTTP/1.0'), statuses=('400', '200', '426', '505'))
expect_reject('bad subprotocol token', req(std() + ['Sec-WebSocket-Protocol: a b']), statuses=('400',))
expect_reject('obs-fold header line', req(std() + ['X-A: b', ' continued']), statuses=('400',))
expect_reject('space before colon in header', req(std() + ['X-A : b']), statuses=('400',))

# Bare LF line endings: either strict 400 or lenient accept; record
status, headers, rest, s = do(f'GET / HTTP/1.1\nHost: x\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\n\n'.encode())
infos.append(f'bare-LF request -> {status!r}'); s.close()

# Slow handshake (byte-at-a-time)
s = socket.create_connection((HOST, PORT), timeout=5)
data = req(std())
for i in range(len(data)):
    s.send(data[i:i + 1]); time.sleep(0.001)
buf = b''
for _ in range(100):
    if b'\r\n\r\n' in buf:
        break
    d = s.recv(4096)
    if not d:
        break
    buf += d
result('handshake sent byte-wise', buf.startswith(b'HTTP/1.1 101'), buf[:30])
s.close()

# Rejected handshake closes the connection
status, headers, rest, s = do(req(std(**{'Sec-WebSocket-Key': 'abc'})))
c = Conn(s, b''); how, dt, extra = c.wait_eof(3)
result('rejected handshake closes TCP', how in (EOF, RESET), f'{how} {dt:.2f}s')
s.close()

for i in infos:
    print('INFO ', i)
print(f'== {npass} passed, {nfail} failed')
