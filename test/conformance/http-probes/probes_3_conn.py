"""Pipelining, persistence, Connection, Expect, HEAD, response syntax, after-error behaviour, timeouts, odd writes."""
import calendar, email.utils, threading
from harness import *

E400 = status_close(400)


def G(t, extra=b'', version=b'HTTP/1.1'):
    return b'GET ' + t + b' ' + version + b'\r\nHost: a\r\n' + extra + b'\r\n'


def targets(*ts, closed=None):
    def c(rs, cl, info):
        ok = [r.json()['target'] if r.status == 200 else r.status for r in rs] == list(ts)
        if closed is not None:
            ok = ok and cl == closed
        return ok and not info['left'], f'responses {ts if len(ts) < 8 else str(len(ts)) + " targets in order"}' + ('' if closed is None else (' then close' if closed else ', kept open'))
    return c


def record(name, sent, got, expected, rfc, ok, into=None):
    (RESULTS if into is None else into).append(dict(name=name, sent=fmt(sent), got=got, expected=expected, rfc=rfc, ok=ok, raw='',
                        line=('PASS ' if ok else 'FAIL ') + name + ' :: ' + got + ('' if ok else '  || expected: ' + expected)))


# ---- pipelining (RFC 9112 §9.3.2) ----
P('p-two', G(b'/1') + G(b'/2'), targets('/1', '/2', closed=False), '9112 §9.3.2 in order')
P('p-fifty', b''.join(G(b'/%d' % k) for k in range(50)), targets(*['/%d' % k for k in range(50)], closed=False), '9112 §9.3.2')
P('p-3000', b''.join(G(b'/%d' % k) for k in range(3000)), targets(*['/%d' % k for k in range(3000)], closed=False), '9112 §9.3.2 (beyond 64 KiB pipeline buffer)', idle=2.0)
P('p-then-error', G(b'/1') + b'GET /2 HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
  lambda rs, c, i: (len(rs) == 2 and rs[0].status == 200 and rs[0].json()['target'] == '/1' and rs[1].status == 400 and c, '200 /1 complete, then 400 + close'), 'README; 9112 §9.3.2')
P('p-big-then-error', G(b'/1', b'X: ' + b'a' * 15000 + b'\r\n') + b'\x00garbage\r\n\r\n',
  lambda rs, c, i: (len(rs) == 2 and rs[0].status == 200 and len(rs[0].body) == int(rs[0].h('content-length')[0]) and rs[1].status == 400 and c, 'complete 200 then 400 + close'), 'README')
P('p-then-505', G(b'/1') + G(b'/2', version=b'HTTP/2.0'), lambda rs, c, i: ([r.status for r in rs] == [200, 505] and c, '200 then 505 + close'), 'README')
P('p-close-then-more', G(b'/1', b'Connection: close\r\n') + G(b'/2'),
  lambda rs, c, i: (len(rs) == 1 and rs[0].json()['target'] == '/1' and 'close' in rs[0].h('connection') and c, 'one response with Connection: close; /2 ignored'), '9112 §9.6 MUST NOT process more after close')
P('p-close-then-garbage', G(b'/1', b'Connection: close\r\n') + b'\x00\x01garbage\r\n\r\n',
  lambda rs, c, i: (len(rs) == 1 and rs[0].status == 200 and c, 'one 200 only'), '9112 §9.6')
P('p-mixed-bodies', b'POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc' + G(b'/2') +
  b'POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n' + G(b'/4'),
  targets('/1', '/2', '/3', '/4', closed=False), '9112 §6.3')
P('p-head-then-get', b'HEAD /1 HTTP/1.1\r\nHost: a\r\n\r\n' + G(b'/2'),
  lambda rs, c, i: (len(rs) == 2 and rs[0].body == b'' and rs[1].json()['target'] == '/2' and not i['left'], 'HEAD has no body; /2 parses'), '9110 §9.3.2; 9112 §6.3 rule 1', heads=[True, False])
P('p-10-keepalive-pipelined', G(b'/1', b'Connection: keep-alive\r\n', b'HTTP/1.0') + G(b'/2', b'', b'HTTP/1.0') + G(b'/3'),
  lambda rs, c, i: (len(rs) == 2 and c, '/1 (keep-alive), /2 (1.0 no keep-alive) then close; /3 ignored'), '9112 §9.3')
P('p-identical-then-te', G(b'/') * 3 + b'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' + G(b'/') * 2,
  lambda rs, c, i: (len(rs) == 6 and rs[3].echo_body() == b'abc' and all(r.status == 200 for r in rs), '6 x 200, 4th body abc'), '9112 §6.3 (analysis memo)')
P('p-identical-heads-cl', (b'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc') * 4 + (b'PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz'),
  lambda rs, c, i: (len(rs) == 5 and [r.echo_body() for r in rs] == [b'abc'] * 4 + [b'xyz'], '5 x 200 with right bodies'), '9112 §6.3')
P('p-identical-then-bad-host', G(b'/') * 3 + b'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
  lambda rs, c, i: ([r.status for r in rs] == [200, 200, 200, 400] and c, '3 x 200 then 400'), '9112 §3.2')
P('p-split-delay', [G(b'/1')[:10], G(b'/1')[10:] + G(b'/2')[:5], G(b'/2')[5:]], targets('/1', '/2', closed=False), '9112 §2', delay=0.05)

P('p-connect-tunnel', b'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n' + G(b'/inner'),
  lambda rs, c, i: (len(rs) >= 1 and (rs[0].status >= 300 or (not rs[0].h('content-length') and len(rs) == 1)),
                    'after a 2xx to CONNECT the connection is a tunnel: no CL, tunnel bytes not parsed as HTTP (or CONNECT refused)'), '9110 §9.3.6')
P('s-split-leading-crlf', [b'\r', b'\n' + G(b'/1')], targets('/1', closed=False), '9112 §2.2', delay=0.05)
P('s-split-final-crlf', [G(b'/1')[:-1], G(b'/1')[-1:]], targets('/1', closed=False), '9112 §2', delay=0.05)
P('s-split-final-cr-lf-lf', [b'GET / HTTP/1.1\r\nHost: a\r', b'\n\n'], one_of_close(400), '9112 §2.2', delay=0.05)
P('s-split-chunk-crlf', [b'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r', b'\n0\r', b'\n\r', b'\n'], lambda rs, c, i: (len(rs) == 1 and rs[0].echo_body() == b'hello', '200 hello'), '9112 §7.1', delay=0.05)
P('s-split-chunk-cr-x', [b'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r', b'X0\r\n\r\n'], one_of_close(400), '9112 §7.1', delay=0.05)
P('s-split-bare-lf-across', [b'GET / HTTP/1.1\r\nHost: a', b'\nX: b\r\n\r\n'], one_of_close(400), '9112 §2.2', delay=0.05)
P('s-split-bare-cr-across', [b'GET / HTTP/1.1\r\nHost: a\r', b'X: b\r\n\r\n'], one_of_close(400), '9112 §2.2', delay=0.05)
P('c-close-nbsp', G(b'/', b'Connection: close\xa0\r\n'), lambda rs, c, i: (len(rs) == 1 and rs[0].status == 200, '200 (closing or not is harmless)'), '9110 §7.6.1')

# ---- persistence and Connection (RFC 9112 §9.3, §9.6; RFC 9110 §7.6.1) ----
def closing(rs, c, i):
    return len(rs) == 1 and rs[0].status == 200 and 'close' in [v.lower() for v in rs[0].h('connection')] and c, '200 with Connection: close, then close'


def keeping(rs, c, i):
    return len(rs) == 1 and rs[0].status == 200 and not c and 'close' not in ''.join(rs[0].h('connection')).lower(), '200 kept open'


P('c-close', G(b'/', b'Connection: close\r\n'), closing, '9112 §9.6 MUST close after response')
P('c-close-upper', G(b'/', b'Connection: CLOSE\r\n'), closing, '9110 §7.6.1 case-insensitive')
P('c-close-list', G(b'/', b'Connection: keep-alive, close\r\n'), closing, '9110 §7.6.1')
P('c-close-list-ows', G(b'/', b'Connection: foo ,\tclose , bar\r\n'), closing, '9110 §7.6.1')
P('c-close-two-lines', G(b'/', b'Connection: keep-alive\r\nConnection: close\r\n'), closing, '9110 §5.3')
P('c-close-empty-elems', G(b'/', b'Connection: ,,close,,\r\n'), closing, '9110 §5.6.1')
P('c-closed-token', G(b'/', b'Connection: closed\r\n'), keeping, '9110 §7.6.1 (token is "closed")')
P('c-keepalive-11', G(b'/', b'Connection: keep-alive\r\n'), keeping, '9112 §9.3')
P('c-10-default', G(b'/', b'', b'HTTP/1.0'), closing, '9112 §9.3 (1.0 without keep-alive: close)')
P('c-10-keepalive', G(b'/', b'Connection: keep-alive\r\n', b'HTTP/1.0'),
  lambda rs, c, i: (len(rs) == 1 and rs[0].status == 200 and not c and 'keep-alive' in ''.join(rs[0].h('connection')).lower(), '200 + Connection: keep-alive, open'), '9112 §9.3 / 9112 App. C.2.2')
P('c-10-keepalive-two', G(b'/1', b'Connection: keep-alive\r\n', b'HTTP/1.0') + G(b'/2', b'Connection: keep-alive\r\n', b'HTTP/1.0'), targets('/1', '/2', closed=False), '9112 §9.3')
P('c-10-keepalive-close', G(b'/', b'Connection: keep-alive, close\r\n', b'HTTP/1.0'), closing, '9112 §9.3')
P('c-upgrade-h2c', G(b'/', b'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n'),
  lambda rs, c, i: (len(rs) == 1 and rs[0].status == 200 and not c, '200 (upgrade ignored)'), '9110 §7.8 MAY ignore')
P('c-upgrade-ws-nokey', G(b'/', b'Connection: Upgrade\r\nUpgrade: websocket\r\n'), one_of_close(400, 426), 'README; RFC 6455 §4.2.1')
P('c-upgrade-ws-10', G(b'/', b'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n', b'HTTP/1.0'),
  lambda rs, c, i: (len(rs) == 1 and rs[0].status in (200, 400), '200 (Upgrade ignored in 1.0) or 400'), '9110 §7.8 MUST ignore Upgrade in 1.0')
P('c-upgrade-ws-ok', G(b'/', b'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'),
  lambda rs, c, i: (len(rs) >= 1 and rs[0].status == 101 and rs[0].h('sec-websocket-accept') == ['s3pPLMBiTxaQ9kYGzzhZRbK+xOo='], '101 with correct accept'), 'RFC 6455 §4.2.2')
P('c-upgrade-ws-post-cl', b'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nhello',
  lambda rs, c, i: (len(rs) >= 1 and rs[0].status in (200, 400, 405, 426), 'not 101 (WebSocket needs GET)'), 'RFC 6455 §4.2.1 GET only')

# ---- Expect (RFC 9110 §10.1.1) ----
P('x-unknown', b'POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nContent-Length: 5\r\n\r\nhello', status_close(417), 'README 417; 9110 §10.1.1 MAY 417')
P('x-unknown-10', b'POST / HTTP/1.0\r\nExpect: foo\r\nContent-Length: 5\r\n\r\nhello', one_of_close(417, 200), '9110 §10.1.1')
P('x-empty', b'POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\nContent-Length: 5\r\n\r\nhello',
  lambda rs, c, i: (len(rs) == 1 and rs[0].status == 200, '200: an empty list has no expectation'), '9110 §5.6.1.2 / §10.1.1 (417 only for a member other than 100-continue)')
P('x-trailing-comma', b'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue,\r\nContent-Length: 5\r\n\r\nhello',
  lambda rs, c, i: (len(rs) >= 1 and rs[-1].status == 200, '100 then 200 (empty list elements MUST be ignored)'), '9110 §5.6.1.2 MUST ignore empty list elements')
P('x-case', b'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello',
  lambda rs, c, i: (len(rs) >= 1 and rs[-1].status == 200 and rs[-1].echo_body() == b'hello', '(100 then) 200'), '9110 §10.1.1 case-insensitive')
P('x-get-nobody', G(b'/', b'Expect: 100-continue\r\n'), lambda rs, c, i: (len(rs) >= 1 and rs[-1].status == 200, '200'), '9110 §10.1.1')


def expect_interactive(name, head, body, want_100, rfc):
    s = socket.create_connection((HOST, PORT), timeout=5)
    got = b''
    try:
        s.sendall(head)
        s.settimeout(1.0)
        try:
            got = s.recv(65536)
        except socket.timeout:
            got = b''
        first = got
        s.sendall(body)
        s.settimeout(1.0)
        for _ in range(20):
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            got += d
    finally:
        s.close()
    rs, left, err = parse_responses(got)
    saw100 = first.startswith(b'HTTP/1.1 100 Continue\r\n\r\n')
    ok = saw100 == want_100 and rs and rs[-1].status == 200 and rs[-1].echo_body() == body.split(b'\r\n')[-3 if b'chunked' in head else 0] if False else (
        saw100 == want_100 and bool(rs) and rs[-1].status == 200)
    record(name, head + body, f'before body: {first[:40]!r}; then ' + ' | '.join(r.short() for r in rs), f'100 Continue before body: {want_100}; then 200', rfc, ok)


def run_custom():
    expect_interactive('x-100-continue', b'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n', b'hello', True, '9110 §10.1.1')
    expect_interactive('x-100-continue-chunked', b'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n', b'5\r\nhello\r\n0\r\n\r\n', True, '9110 §10.1.1')
    expect_interactive('x-100-continue-10', b'POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n', b'hello', False, '9110 §10.1.1 MUST ignore in 1.0')

    # ---- response syntax (RFC 9112 §4, RFC 9110 §6.6.1, §5.6.7, §8.6) ----
    date_re = re.compile(r'^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$')
    cases = [('200', G(b'/'), None), ('400', b'GET / HTTP/1.1\r\n\r\n', None), ('404?-', b'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', None),
             ('413', b'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n', None), ('414', b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\n\r\n', None),
             ('431', G(b'/', b'X: ' + b'a' * 20000 + b'\r\n'), None), ('501', b'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', None),
             ('505', b'GET / HTTP/2.0\r\n\r\n', None), ('417', G(b'/', b'Expect: x\r\n'), None), ('HEAD', b'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n', True),
             ('1.0', b'GET / HTTP/1.0\r\n\r\n', None)]
    for nm, sent, head in cases:
        data, closed, el, reset = exchange(sent, idle=0.6)
        now = time.time()
        rs, left, err = parse_responses(data, head or False)
        probs = []
        if len(rs) != 1:
            probs.append(f'{len(rs)} responses, err={err}')
        for r in rs:
            if not re.match(rb'^HTTP/1\.1 [1-5]\d\d [\x21-\x7e][\x20-\x7e\t]*$', r.status_line):
                probs.append(f'status line {r.status_line!r}')
            ds = r.h('date')
            if len(ds) != 1:
                probs.append(f'{len(ds)} Date fields')
            else:
                if not date_re.match(ds[0]):
                    probs.append(f'Date not IMF-fixdate: {ds[0]!r}')
                else:
                    t = calendar.timegm(email.utils.parsedate(ds[0]))
                    if abs(t - now) > 3:
                        probs.append(f'Date off by {t - now:.0f}s')
            cl = r.h('content-length')
            if r.status >= 400:
                if 'close' not in ''.join(r.h('connection')).lower():
                    probs.append('no Connection: close on error')
                if not closed:
                    probs.append('socket not closed after error')
            if head:
                if r.body:
                    probs.append('HEAD response has body')
            elif len(cl) != 1 or int(cl[0]) != len(r.body):
                probs.append(f'Content-Length {cl} vs body {len(r.body)}')
            if len(r.h('content-length')) > 1 or (cl and r.h('transfer-encoding')):
                probs.append('CL/TE conflict in response')
            for n, v in r.headers:
                if not re.match(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$", n):
                    probs.append(f'bad field name {n!r}')
        if left:
            probs.append(f'{len(left)} stray bytes')
        record('resp-syntax-' + nm, sent, ' | '.join(r.short() for r in rs) + (' closed' if closed else ' open') + (' PROBLEMS: ' + '; '.join(probs) if probs else ''),
               'valid status line, one IMF-fixdate Date within 3 s, exact Content-Length, Connection: close on errors',
               '9112 §4, 9110 §6.6.1, §5.6.7, §8.6', not probs)

    # ---- request in 1-byte writes ----
    req = b'POST /one HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a="b"\r\nhello\r\n0\r\nT: v\r\n\r\n' + G(b'/two')
    data, closed, el, reset = exchange([bytes([b]) for b in req], delay=0.002)
    rs, left, err = parse_responses(data)
    ok = len(rs) == 2 and rs[0].echo_body() == b'hello' and rs[0].json()['trailers'] == [['T', 'v']] and rs[1].json()['target'] == '/two'
    record('w-one-byte-writes', req, ' | '.join(r.short() for r in rs), 'same as one write: 200 hello (trailer T) then 200 /two', '9112 §2 (any split)', ok)
    req = b'\r\nGET /crlf HTTP/1.1\r\nHost: a\r\n\r\n'
    data, closed, el, reset = exchange([bytes([b]) for b in req], delay=0.002)
    rs, left, err = parse_responses(data)
    record('w-one-byte-leading-crlf', req, ' | '.join(r.short() for r in rs), '200 /crlf', '9112 §2.2', len(rs) == 1 and rs[0].status == 200)
    req = b'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\rb\r\n\r\n'
    data, closed, el, reset = exchange([bytes([b]) for b in req], delay=0.002)
    rs, left, err = parse_responses(data)
    record('w-one-byte-bare-cr', req, ' | '.join(r.short() for r in rs), '400 as in one write', '9112 §2.2', len(rs) == 1 and rs[0].status == 400 and closed)
    req = b'GET / HTTP/1.1\r\nHost: a\r\n\r\n'
    data, closed, el, reset = exchange(req, shut_wr=True)
    rs, left, err = parse_responses(data)
    record('w-half-close-after-request', req, ' | '.join(r.short() for r in rs) + (' closed' if closed else ' open'), '200 then close', '9112 §9.6', len(rs) == 1 and rs[0].status == 200 and closed)


# ---- timeouts: idle, slowloris, keep-alive ----
def timed(name, parts, delay, expect_desc, pred, rfc, total=16):
    data, closed, el, reset = exchange(parts, delay=delay, idle=total, total=total)
    rs, left, err = parse_responses(data)
    got = ' | '.join(r.short() for r in rs) + (f' closed after {el:.1f}s' if closed else f' open after {el:.1f}s')
    record(name, b''.join(parts) if isinstance(parts, list) else parts, got, expect_desc, rfc, pred(rs, closed, el), into=TIMED)


TIMED = []


def run_timeouts():
    ths = [
        threading.Thread(target=timed, args=('i-idle-no-bytes', b'', 0, 'closed within ~10 s (408 or silent)',
                                             lambda rs, c, el: c and el < 13 and all(r.status == 408 for r in rs), 'README timeouts.headers')),
        threading.Thread(target=timed, args=('i-partial-head', b'GET / HTTP/1.1\r\nHost: a\r\n', 0, '408 + Connection: close at ~10 s',
                                             lambda rs, c, el: c and el < 13 and len(rs) == 1 and rs[0].status == 408 and 'close' in rs[0].h('connection'), 'README; 9110 §15.5.9')),
        threading.Thread(target=timed, args=('i-slowloris', [bytes([b]) for b in b'GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'], 0.4, '408 at ~10 s despite trickle',
                                             lambda rs, c, el: c and el < 14 and len(rs) == 1 and rs[0].status == 408, 'README slowloris'), kwargs=dict(total=20)),
        threading.Thread(target=timed, args=('i-keepalive-idle', G(b'/'), 0, '200 then closed at ~5 s',
                                             lambda rs, c, el: c and 4 < el < 8 and len(rs) == 1 and rs[0].status == 200, 'README timeouts.keepAlive')),
        threading.Thread(target=timed, args=('i-body-stall', b'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello', 0, '408 + close at ~30 s',
                                             lambda rs, c, el: c and el < 35 and len(rs) == 1 and rs[0].status == 408, 'README timeouts.body'), kwargs=dict(total=36)),
    ]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)


if __name__ == '__main__':
    tt = threading.Thread(target=run_timeouts)
    tt.start()
    run_all()
    run_custom()
    tt.join(70)
    RESULTS.extend(TIMED)
    for r in RESULTS[-40:]:
        pass
    done = set()
    for r in RESULTS:
        if r['name'].startswith(('x-100', 'resp-', 'w-', 'i-')):
            print(r['line'])
    save('results_3.json')
    fails = [r for r in RESULTS if not r['ok']]
    print(f'--- total {len(RESULTS)}: {len(RESULTS) - len(fails)} passed, {len(fails)} failed')
