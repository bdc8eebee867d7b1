#!/usr/bin/env python3
"""Autobahn-style sections 1-7, 10 probes against the echo server. Usage: probe_frames.py [port] [filter]"""
import os, struct, sys, time, traceback
from wslib import *

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9631
FILTER = sys.argv[2] if len(sys.argv) > 2 else ''
RESULTS = []
TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def desc(f):
    if isinstance(f, dict):
        p = f['payload']
        return f"op={f['opcode']} fin={f['fin']} rsv={f['rsv']} len={len(p)} code={close_code(f)} {p[:40]!r}"
    return str(f)


def clean_close(c, code=1000, reason=b''):
    """Send close, expect close echo with same code, then TCP close."""
    c.send_frame(8, close_payload(code, reason))
    for _ in range(50):
        f = c.read_frame(3)
        if not isinstance(f, dict):
            raise Fail(f'expected close echo, got {f}')
        if f['opcode'] == 8:
            break
        if f['opcode'] == 10:
            continue
        raise Fail(f'unexpected frame while closing: {desc(f)}')
    check(close_code(f) == code, f'close echo code {close_code(f)} != {code}')
    how, dt, extra = c.wait_eof(3)
    check(how in (EOF, RESET), f'server did not close TCP after close handshake ({how}, {dt:.2f}s)')
    check(extra == b'', f'extra bytes after close {extra[:40]!r}')
    check(not f['masked'], 'server frame masked')


def expect_echo(c, msgs, timeout=5):
    """msgs: list of (opcode, payload) expected in order."""
    for op, data in msgs:
        m, frames = c.read_message(timeout)
        if isinstance(m, dict):
            if m['opcode'] == 10:  # unsolicited pong? none expected
                raise Fail(f'unexpected pong {desc(m)}')
            raise Fail(f'expected echo op={op} len={len(data)}, got control {desc(m)}')
        if not isinstance(m, tuple):
            raise Fail(f'expected echo op={op} len={len(data)}, got {m}')
        check(m[0] == op, f'echo opcode {m[0]} != {op}')
        check(m[1] == data, f'echo payload mismatch len {len(m[1])} vs {len(data)}: {m[1][:40]!r} vs {data[:40]!r}')
        for fr in frames:
            check(fr['rsv'] == 0, f'rsv set on echoed frame {desc(fr)}')
            check(not fr['masked'], 'server frame masked')


def expect_pong(c, data, timeout=3):
    f = c.read_frame(timeout)
    check(isinstance(f, dict) and f['opcode'] == 10, f'expected pong, got {desc(f)}')
    check(f['payload'] == data, f'pong payload mismatch {f["payload"][:40]!r}')
    check(f['fin'], 'pong not FIN')


def expect_fail(c, codes=(1002,), timeout=3, allow_msgs=0, label=''):
    """Server must fail the connection: close frame with code in codes (then TCP close) or TCP drop."""
    for _ in range(allow_msgs + 20):
        f = c.read_frame(timeout)
        if f in (EOF, RESET):
            return f'dropped TCP without close frame ({f})'
        if f == TIMEOUT:
            raise Fail(f'server did not fail connection within {timeout}s {label}')
        if f['opcode'] == 8:
            code = close_code(f)
            check(code in codes, f'close code {code} not in {codes}; reason={f["payload"][2:]!r}')
            # reply to close like Autobahn does
            c.send_frame(8, f['payload'][:2])
            how, dt, extra = c.wait_eof(3)
            check(how in (EOF, RESET), f'server did not close TCP after close handshake ({how})')
            return f'close {code} {f["payload"][2:]!r}'
        if allow_msgs > 0 and f['opcode'] in (0, 1, 2, 9, 10):
            allow_msgs -= 1
            continue
        raise Fail(f'unexpected frame before failure: {desc(f)}')


def conn(extra=None):
    return handshake(PORT, extra=extra)


# ---------------- Section 1: framing ----------------
for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536]):
    @test(f'1.1.{i+1} text len {n}')
    def _(n=n):
        c = conn(); c.send_frame(1, b'*' * n); expect_echo(c, [(1, b'*' * n)]); clean_close(c)

    @test(f'1.2.{i+1} binary len {n}')
    def _(n=n):
        c = conn(); c.send_frame(2, b'\xfe' * n); expect_echo(c, [(2, b'\xfe' * n)]); clean_close(c)


@test('1.1.8 text 65536 sent in 997-byte chops')
def _():
    c = conn(); fr = frame(1, b'*' * 65536)
    for i in range(0, len(fr), 997):
        c.send(fr[i:i + 997]); time.sleep(0.001)
    expect_echo(c, [(1, b'*' * 65536)]); clean_close(c)


@test('1.2.8 binary 65536 + len 126 header exercised')
def _():
    c = conn(); c.send_frame(2, bytes(range(256)) * 256); expect_echo(c, [(2, bytes(range(256)) * 256)]); clean_close(c)


@test('1.x non-minimal length encoding (len 5 as 16-bit)')
def _():
    # RFC 6455 5.2: minimal number of bytes MUST be used -- but Autobahn doesn't test; informational
    c = conn(); mk = b'\x01\x02\x03\x04'
    c.send(bytes([0x81, 0x80 | 126]) + struct.pack('!H', 5) + mk + xor(b'hello', mk))
    f = c.read_frame(2)
    RESULTS.append(('INFO', '1.x non-minimal length', desc(f)))


@test('1.x unmasked client frame -> fail')
def _():
    c = conn(); c.send_frame(1, b'hello', mask=False); expect_fail(c, (1002,))


@test('1.x 64-bit length with MSB set -> fail')
def _():
    c = conn(); c.send(bytes([0x82, 0x80 | 127]) + b'\x80' + b'\x00' * 7 + b'abcd'); expect_fail(c, (1002, 1009))


# ---------------- Section 2: ping/pong ----------------
@test('2.1 ping no payload')
def _():
    c = conn(); c.send_frame(9, b''); expect_pong(c, b''); clean_close(c)


@test('2.2 ping text payload')
def _():
    c = conn(); c.send_frame(9, b'Hello, world!'); expect_pong(c, b'Hello, world!'); clean_close(c)


@test('2.3 ping binary payload')
def _():
    c = conn(); p = b'\x00\xff\xfe\xfd\xfc\xfb\x00\xff'; c.send_frame(9, p); expect_pong(c, p); clean_close(c)


@test('2.4 ping 125 bytes')
def _():
    c = conn(); p = b'\xfe' * 125; c.send_frame(9, p); expect_pong(c, p); clean_close(c)


@test('2.5 ping 126 bytes -> fail 1002')
def _():
    c = conn(); c.send_frame(9, b'\xfe' * 126); expect_fail(c)


@test('2.6 ping 125 bytes sent byte-wise')
def _():
    c = conn(); p = b'\xfe' * 125; fr = frame(9, p)
    for i in range(len(fr)):
        c.send(fr[i:i + 1]); time.sleep(0.002)
    expect_pong(c, p); clean_close(c)


@test('2.7 unsolicited pong ignored')
def _():
    c = conn(); c.send_frame(10, b''); f = c.read_frame(0.5); check(f == TIMEOUT, f'got {desc(f)}'); clean_close(c)


@test('2.8 unsolicited pong with payload ignored')
def _():
    c = conn(); c.send_frame(10, b'unsolicited pong payload'); f = c.read_frame(0.5); check(f == TIMEOUT, f'got {desc(f)}'); clean_close(c)


@test('2.9 unsolicited pong then ping')
def _():
    c = conn(); c.send_frame(10, b'unsolicited pong payload'); c.send_frame(9, b'ping payload')
    expect_pong(c, b'ping payload'); clean_close(c)


@test('2.10 10 pings in a row')
def _():
    c = conn()
    for i in range(10):
        c.send_frame(9, b'payload-%d' % i)
    for i in range(10):
        expect_pong(c, b'payload-%d' % i)   # Autobahn: all must be answered (or at least the last)
    clean_close(c)


@test('2.11 10 pings in a row, byte-wise')
def _():
    c = conn(); data = b''.join(frame(9, b'payload-%d' % i) for i in range(10))
    for i in range(len(data)):
        c.send(data[i:i + 1]); time.sleep(0.001)
    for i in range(10):
        expect_pong(c, b'payload-%d' % i)
    clean_close(c)


# ---------------- Section 3: reserved bits ----------------
@test('3.1 RSV1 text')
def _():
    c = conn(); c.send_frame(1, b'Hello, world!', rsv=4); expect_fail(c)


@test('3.2 text, then RSV2 text, then ping')
def _():
    c = conn(); c.send_frame(1, b'Hello, world!'); c.send_frame(1, b'Hello, world!', rsv=2); c.send_frame(9, b'')
    r = expect_fail(c, allow_msgs=1)


@test('3.3 text, RSV3 text, ping (byte-wise)')
def _():
    c = conn(); data = frame(1, b'Hello, world!') + frame(1, b'Hello, world!', rsv=6) + frame(9, b'')
    for i in range(len(data)):
        if not c.send(data[i:i + 1]):
            break
        time.sleep(0.002)
    expect_fail(c, allow_msgs=1)


@test('3.5 RSV5 binary')
def _():
    c = conn(); c.send_frame(2, bytes(range(256)), rsv=5); expect_fail(c)


@test('3.6 RSV6 ping')
def _():
    c = conn(); c.send_frame(9, b'ping', rsv=6); expect_fail(c)


@test('3.7 RSV7 close')
def _():
    c = conn(); c.send_frame(8, close_payload(1000), rsv=7); expect_fail(c)


# ---------------- Section 4: opcodes ----------------
for op in [3, 4, 5, 6, 7]:
    @test(f'4.1.x reserved non-control opcode {op}')
    def _(op=op):
        c = conn(); c.send_frame(op, b''); expect_fail(c)

    @test(f'4.1.x text, reserved opcode {op} with payload, ping')
    def _(op=op):
        c = conn(); c.send_frame(1, b'Hello, world!'); c.send_frame(op, b'reserved'); c.send_frame(9, b'')
        expect_fail(c, allow_msgs=1)

for op in [11, 12, 13, 14, 15]:
    @test(f'4.2.x reserved control opcode {op}')
    def _(op=op):
        c = conn(); c.send_frame(op, b''); expect_fail(c)

    @test(f'4.2.x text, reserved control opcode {op} w/ payload, ping')
    def _(op=op):
        c = conn(); c.send_frame(1, b'Hello, world!'); c.send_frame(op, b'reserved'); c.send_frame(9, b'')
        expect_fail(c, allow_msgs=1)


# ---------------- Section 5: fragmentation ----------------
@test('5.1 ping fragmented into 2')
def _():
    c = conn(); c.send_frame(9, b'fragment1', fin=False); c.send_frame(0, b'fragment2'); expect_fail(c)


@test('5.2 pong fragmented into 2')
def _():
    c = conn(); c.send_frame(10, b'fragment1', fin=False); c.send_frame(0, b'fragment2'); expect_fail(c)


@test('5.3 text fragmented into 2')
def _():
    c = conn(); c.send_frame(1, b'fragment1', fin=False); c.send_frame(0, b'fragment2')
    expect_echo(c, [(1, b'fragment1fragment2')]); clean_close(c)


@test('5.5 text 2 fragments byte-wise')
def _():
    c = conn(); data = frame(1, b'fragment1', fin=False) + frame(0, b'fragment2')
    for i in range(len(data)):
        c.send(data[i:i + 1]); time.sleep(0.002)
    expect_echo(c, [(1, b'fragment1fragment2')]); clean_close(c)


@test('5.6 text fragmented with ping in between')
def _():
    c = conn(); c.send_frame(1, b'fragment1', fin=False); c.send_frame(9, b'pongme!'); c.send_frame(0, b'fragment2')
    expect_pong(c, b'pongme!'); expect_echo(c, [(1, b'fragment1fragment2')]); clean_close(c)


@test('5.8 text fragmented, ping between, byte-wise')
def _():
    c = conn(); data = frame(1, b'fragment1', fin=False) + frame(9, b'pongme!') + frame(0, b'fragment2')
    for i in range(len(data)):
        c.send(data[i:i + 1]); time.sleep(0.002)
    expect_pong(c, b'pongme!'); expect_echo(c, [(1, b'fragment1fragment2')]); clean_close(c)


@test('5.9 unfragmented continuation (FIN) then text')
def _():
    c = conn(); c.send_frame(0, b'non-continuation payload'); c.send_frame(1, b'Hello, world!'); expect_fail(c)


@test('5.11 continuation FIN byte-wise')
def _():
    c = conn(); data = frame(0, b'non-continuation payload') + frame(1, b'Hello, world!')
    for i in range(len(data)):
        if not c.send(data[i:i + 1]):
            break
        time.sleep(0.002)
    expect_fail(c)


@test('5.12 continuation FIN=0 start')
def _():
    c = conn(); c.send_frame(0, b'non-continuation payload', fin=False); c.send_frame(1, b'Hello, world!'); expect_fail(c)


@test('5.15 text frag1 FIN=0, cont FIN=1, cont FIN=0, cont FIN=1')
def _():
    c = conn(); c.send_frame(1, b'fragment1', fin=False); c.send_frame(0, b'fragment2', fin=True)
    c.send_frame(0, b'fragment3', fin=False); c.send_frame(1, b'fragment4')
    expect_fail(c, allow_msgs=1)


@test('5.16 (cont FIN=0, text FIN=0, cont FIN=1) x2')
def _():
    c = conn()
    for _ in range(2):
        c.send_frame(0, b'fragment1', fin=False); c.send_frame(1, b'fragment2', fin=False); c.send_frame(0, b'fragment3')
    expect_fail(c)


@test('5.18 text FIN=0 then text FIN=1 (new data frame inside fragmented msg)')
def _():
    c = conn(); c.send_frame(1, b'fragment1', fin=False); c.send_frame(1, b'fragment2'); expect_fail(c)


@test('5.19 text 5 fragments, pings between, with delays')
def _():
    # The delays are the pongs' round trips: each pong proves the server read everything before it and is waiting
    # mid-message (an event, not a fixed sleep).
    c = conn()
    c.send_frame(1, b'fragment1', fin=False); c.send_frame(0, b'fragment2', fin=False); c.send_frame(9, b'pongme 1!')
    expect_pong(c, b'pongme 1!')
    c.send_frame(0, b'fragment3', fin=False); c.send_frame(0, b'fragment4', fin=False); c.send_frame(9, b'pongme 2!')
    expect_pong(c, b'pongme 2!')
    c.send_frame(0, b'fragment5')
    expect_echo(c, [(1, b'fragment1fragment2fragment3fragment4fragment5')]); clean_close(c)


@test('5.x binary fragmented, empty fragments')
def _():
    c = conn(); c.send_frame(2, b'', fin=False); c.send_frame(0, b'', fin=False); c.send_frame(0, b'')
    expect_echo(c, [(2, b'')]); clean_close(c)


@test('5.x close interleaved in fragmented message')
def _():
    c = conn(); c.send_frame(1, b'frag1', fin=False); c.send_frame(8, close_payload(1000))
    f = c.read_frame(2); check(close_code(f) == 1000, f'got {desc(f)}')
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close {how}')


# ---------------- Section 6: UTF-8 ----------------
@test('6.1.1 empty text')
def _():
    c = conn(); c.send_frame(1, b''); expect_echo(c, [(1, b'')]); clean_close(c)


@test('6.1.2 empty fragments text')
def _():
    c = conn(); c.send_frame(1, b'', fin=False); c.send_frame(0, b'', fin=False); c.send_frame(0, b'')
    expect_echo(c, [(1, b'')]); clean_close(c)


@test('6.1.3 empty, non-empty, empty fragments')
def _():
    c = conn(); c.send_frame(1, b'', fin=False); c.send_frame(0, b'middle frame payload', fin=False); c.send_frame(0, b'')
    expect_echo(c, [(1, b'middle frame payload')]); clean_close(c)


VALID = [
    'Hello-µ@ßöäüàá-UTF-8!!'.encode(), 'κόσμε'.encode(), b'\x00', b'\xc2\x80', b'\xe0\xa0\x80', b'\xf0\x90\x80\x80',
    b'\x7f', b'\xdf\xbf', b'\xef\xbf\xbf', b'\xf4\x8f\xbf\xbf', b'\xed\x9f\xbf', b'\xee\x80\x80', b'\xef\xbf\xbd',
    b'\xef\xbf\xbe', b'\xef\xbf\xbf', b'\xef\xb7\x90',  # noncharacters are valid UTF-8
    'ĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĳĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŇňŉŊŋŌōŎŏŐőŒœŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ'.encode(),
    '𝄞 test 😀'.encode(),
]
INVALID = [
    b'\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64',  # 6.3.1 surrogate
    b'\xf8\x88\x80\x80\x80', b'\xfc\x84\x80\x80\x80\x80', b'\xf4\x90\x80\x80', b'\x80', b'\xbf', b'\x80\xbf',
    b'\xc0\x20', b'\xe0\x80\x20', b'\xf0\x80\x80\x20', b'\xc0', b'\xe0\x80', b'\xf0\x80\x80', b'\xdf', b'\xef\xbf',
    b'\xf7\xbf\xbf', b'\xfe', b'\xff', b'\xfe\xfe\xff\xff', b'\xc0\xaf', b'\xe0\x80\xaf', b'\xf0\x80\x80\xaf',
    b'\xc1\xbf', b'\xe0\x9f\xbf', b'\xf0\x8f\xbf\xbf', b'\xc0\x80', b'\xe0\x80\x80', b'\xed\xa0\x80', b'\xed\xbf\xbf',
    b'\xed\xa0\x80\xed\xb0\x80', b'\xed\xaf\xbf\xed\xbf\xbf', b'\xf5\x80\x80\x80', b'abc\xe2\x82', b'\xe2\x82',
    b'hello\xc3', b'\xc3\x28', b'\xa0\xa1', b'\xe2\x28\xa1', b'\xe2\x82\x28', b'\xf0\x28\x8c\xbc', b'\xf0\x90\x28\xbc',
]
for i, v in enumerate(VALID):
    @test(f'6.x valid utf8 #{i} {v[:12]!r}')
    def _(v=v):
        c = conn(); c.send_frame(1, v); expect_echo(c, [(1, v)])
        # also fragmented byte-per-frame (6.2.x style)
        c.send_frame(1, v[:1], fin=len(v) == 1)
        for j in range(1, len(v)):
            c.send_frame(0, v[j:j + 1], fin=j == len(v) - 1)
        expect_echo(c, [(1, v)]); clean_close(c)

for i, v in enumerate(INVALID):
    @test(f'6.x invalid utf8 #{i} {v[:12]!r}')
    def _(v=v):
        c = conn(); c.send_frame(1, v); expect_fail(c, (1007,))

    @test(f'6.x invalid utf8 #{i} fragmented per byte')
    def _(v=v):
        c = conn(); c.send_frame(1, v[:1], fin=len(v) == 1)
        for j in range(1, len(v)):
            c.send_frame(0, v[j:j + 1], fin=j == len(v) - 1)
        expect_fail(c, (1007,))


P1 = 'κόσμε'.encode(); P2 = b'\xf4\x90\x80\x80'; P3 = b'edited'


@test('6.4.1 fail fast: 3 fragments, invalid 2nd, wait before 3rd')
def _():
    c = conn(); c.send_frame(1, P1, fin=False)
    f = c.read_frame(1.0); check(f == TIMEOUT, f'unexpected after valid frag1: {desc(f)}')
    c.send_frame(0, P2, fin=False)
    f = c.read_frame(1.0)
    check(f != TIMEOUT, 'server did not fail fast after invalid fragment (waited 1s) [NON-STRICT in Autobahn]')
    c.buf[:0] = b'' ; c2 = f
    if isinstance(c2, dict):
        check(close_code(c2) == 1007, f'got {desc(c2)}')


@test('6.4.2 fail fast: 3 fragments, invalid prefix in 2nd frame (\\xf4\\x90 only)')
def _():
    c = conn(); c.send_frame(1, P1, fin=False)
    f = c.read_frame(1.0); check(f == TIMEOUT, f'unexpected: {desc(f)}')
    c.send_frame(0, b'\xf4', fin=False)
    f = c.read_frame(0.5); check(f == TIMEOUT, f'premature fail on valid prefix \\xf4: {desc(f)}')
    c.send_frame(0, b'\x90\x80\x80', fin=False)
    f = c.read_frame(1.0)
    check(f != TIMEOUT, 'server did not fail fast [NON-STRICT]')
    if isinstance(f, dict):
        check(close_code(f) == 1007, f'got {desc(f)}')


@test('6.4.3 fail fast within a single frame (payload dripped)')
def _():
    c = conn(); payload = P1 + P2 + P3; fr = frame(1, payload)
    hdr_len = len(fr) - len(payload)
    c.send(fr[:hdr_len + len(P1)])
    f = c.read_frame(1.0); check(f == TIMEOUT, f'unexpected: {desc(f)}')
    c.send(fr[hdr_len + len(P1):hdr_len + len(P1) + len(P2)])
    f = c.read_frame(1.0)
    check(f != TIMEOUT, 'server did not fail fast within a frame [NON-STRICT]')
    if isinstance(f, dict):
        check(close_code(f) == 1007, f'got {desc(f)}')


@test('6.4.4 fail fast within a single frame: byte \\xf4 then \\x90')
def _():
    c = conn(); payload = P1 + P2 + P3; fr = frame(1, payload)
    h = len(fr) - len(payload)
    c.send(fr[:h + len(P1)]); f = c.read_frame(1.0); check(f == TIMEOUT, f'unexpected: {desc(f)}')
    c.send(fr[h + len(P1):h + len(P1) + 1]); f = c.read_frame(0.5); check(f == TIMEOUT, f'premature: {desc(f)}')
    c.send(fr[h + len(P1) + 1:h + len(P1) + 2])   # \x90 after \xf4 is already invalid
    f = c.read_frame(1.0)
    check(f != TIMEOUT, 'server did not fail fast on \\xf4\\x90 [NON-STRICT]')
    if isinstance(f, dict):
        check(close_code(f) == 1007, f'got {desc(f)}')


@test('6.x invalid utf8 split across fragments: \\xce | \\xba ok')
def _():
    c = conn(); c.send_frame(1, b'\xce', fin=False); c.send_frame(0, b'\xba'); expect_echo(c, [(1, b'\xce\xba')]); clean_close(c)


@test('6.x text message ends in incomplete sequence (fin) -> 1007')
def _():
    c = conn(); c.send_frame(1, b'ab', fin=False); c.send_frame(0, b'\xe2\x82'); expect_fail(c, (1007,))


@test('6.x binary with invalid utf8 echoed')
def _():
    c = conn(); c.send_frame(2, b'\xff\xfe\xed\xa0\x80'); expect_echo(c, [(2, b'\xff\xfe\xed\xa0\x80')]); clean_close(c)


# ---------------- Section 7: close ----------------
@test('7.1.1 echo then close')
def _():
    c = conn(); c.send_frame(1, b'Hello World!'); expect_echo(c, [(1, b'Hello World!')]); clean_close(c)


@test('7.1.2 close twice')
def _():
    c = conn(); c.send_frame(8, close_payload(1000)); c.send_frame(8, close_payload(1000))
    f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}'); check(extra == b'', f'extra {extra!r}')


@test('7.1.3 ping after close ignored')
def _():
    c = conn(); c.send_frame(8, close_payload(1000)); c.send_frame(9, b'ping')
    f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}'); check(extra == b'', f'extra {extra!r}')


@test('7.1.4 text after close ignored')
def _():
    c = conn(); c.send_frame(8, close_payload(1000)); c.send_frame(1, b'Hello World!')
    f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}'); check(extra == b'', f'extra {extra!r}')


@test('7.1.5 fragment, close, continuation')
def _():
    c = conn(); c.send_frame(1, b'fragment1', fin=False); c.send_frame(8, close_payload(1000)); c.send_frame(0, b'fragment2')
    f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}'); check(extra == b'', f'extra {extra!r}')


@test('7.1.6 large text, close, ping')
def _():
    c = conn(); big = b'BAsd7&jh23' * 26214; c.send_frame(1, big); c.send_frame(8, close_payload(1000)); c.send_frame(9, b'')
    m, frames = c.read_message(5)
    if isinstance(m, tuple):
        check(m[1] == big, 'bad echo'); f = c.read_frame(3)
    else:
        f = m
    check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(3); check(how in (EOF, RESET), f'no TCP close: {how}')


@test('7.3.1 close empty payload')
def _():
    c = conn(); c.send_frame(8, b'')
    f = c.read_frame(2); check(isinstance(f, dict) and f['opcode'] == 8, desc(f))
    check(f['payload'] in (b'', b'\x03\xe8'), f'close reply payload {f["payload"]!r}')
    RESULTS.append(('INFO', '7.3.1 reply payload', repr(f['payload'])))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}')


@test('7.3.2 close payload 1 byte -> 1002')
def _():
    c = conn(); c.send_frame(8, b'\x03'); expect_fail(c)


@test('7.3.3 close 1000 no reason')
def _():
    c = conn(); clean_close(c, 1000)


@test('7.3.4 close 1000 + 123-byte reason')
def _():
    c = conn(); c.send_frame(8, close_payload(1000, b'*' * 123))
    f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}')


@test('7.3.5 close 1000 + 124-byte reason (payload 126) -> 1002')
def _():
    c = conn(); c.send_frame(8, close_payload(1000, b'*' * 124)); expect_fail(c)


@test('7.3.6 close reason utf8 valid (multibyte)')
def _():
    c = conn(); c.send_frame(8, close_payload(1000, 'κόσμε'.encode()))
    f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(2); check(how in (EOF, RESET), f'no TCP close: {how}')


@test('7.5.1 close reason invalid utf8 -> 1007')
def _():
    c = conn(); c.send_frame(8, close_payload(1000, b'\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64'))
    expect_fail(c, (1007,))


for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]:
    @test(f'7.7.x valid close code {code}')
    def _(code=code):
        c = conn(); clean_close(c, code)

for code in [1012, 1013, 1014]:
    @test(f'7.7.x IANA-registered close code {code} (info)')
    def _(code=code):
        c = conn(); c.send_frame(8, close_payload(code)); f = c.read_frame(2)
        RESULTS.append(('INFO', f'close {code}', desc(f)))

for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]:
    @test(f'7.9.x invalid close code {code} -> 1002')
    def _(code=code):
        c = conn(); c.send_frame(8, close_payload(code)); expect_fail(c)


@test('7.13.x close: server closes TCP after handshake quickly')
def _():
    c = conn(); c.send_frame(8, close_payload(1000)); f = c.read_frame(2); check(close_code(f) == 1000, desc(f))
    how, dt, extra = c.wait_eof(3); check(how in (EOF, RESET) and dt < 1.0, f'{how} after {dt:.2f}s')


@test('7.x server-initiated close on violation: server closes TCP even if client never replies')
def _():
    c = conn(); c.send_frame(1, b'x', rsv=4)
    f = c.read_frame(2)
    if isinstance(f, dict):
        check(close_code(f) == 1002, desc(f))
    how, dt, extra = c.wait_eof(8); check(how in (EOF, RESET), f'no TCP close within 8s: {how}')
    RESULTS.append(('INFO', 'server close w/o client reply: TCP closed after', f'{dt:.2f}s'))


@test('7.x client half-closes TCP abruptly mid-message: server stays healthy')
def _():
    # Half-close, then wait for the server's own close (it has handled the torn message) before the next connection.
    c = conn(); c.send(frame(1, b'x' * 1000)[:100]); c.s.shutdown(socket.SHUT_WR)
    how, dt, extra = c.wait_eof(5); check(how in (EOF, RESET), f'server did not close: {how}'); c.close()
    c = conn(); c.send_frame(1, b'ok'); expect_echo(c, [(1, b'ok')]); clean_close(c)


# ---------------- Section 10 ----------------
@test('10.1.1 65536-byte text in 1300-byte fragments')
def _():
    c = conn(); data = b'*' * 65536; parts = [data[i:i + 1300] for i in range(0, len(data), 1300)]
    for i, p in enumerate(parts):
        c.send_frame(1 if i == 0 else 0, p, fin=i == len(parts) - 1)
    expect_echo(c, [(1, data)]); clean_close(c)


def run():
    npass = 0; nfail = 0
    for name, fn in TESTS:
        if FILTER and FILTER not in name:
            continue
        try:
            fn()
            print(f'PASS  {name}'); npass += 1
        except Fail as e:
            print(f'FAIL  {name}: {e}'); nfail += 1; RESULTS.append(('FAIL', name, str(e)))
        except Exception as e:
            print(f'ERROR {name}: {type(e).__name__}: {e}'); nfail += 1; RESULTS.append(('ERROR', name, repr(e)))
    for r in RESULTS:
        if r[0] == 'INFO':
            print('INFO ', r[1], '->', r[2])
    print(f'== {npass} passed, {nfail} failed')


if __name__ == '__main__':
    run()
