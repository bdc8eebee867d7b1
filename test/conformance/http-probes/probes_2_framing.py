"""Content-Length, Transfer-Encoding and chunked framing; smuggling-oriented."""
from harness import *

E400 = status_close(400)
FOLLOW = b'GET /follow HTTP/1.1\r\nHost: a\r\n\r\n'


def post(fields, body=b'', version=b'HTTP/1.1', host=b'Host: a\r\n', method=b'POST'):
    return method + b' / ' + version + b'\r\n' + host + fields + b'\r\n' + body


def body_is(expected, n=1, targets=None):
    """n responses all 200; first one echoes `expected` as body; if targets given, they must match."""
    def c(rs, closed, info):
        ok = len(rs) == n and all(r.status == 200 for r in rs) and rs[0].echo_body() == expected
        if ok and targets:
            ok = [r.json()['target'] for r in rs] == targets
        return ok, f'{n} x 200, first body {expected!r}' + (f', targets {targets}' if targets else '')
    return c


def reject_or_body(expected, codes=(400,)):
    """Either rejected (code, close) or accepted with the given body and the following request answered."""
    def c(rs, closed, info):
        if len(rs) >= 1 and rs[0].status in codes:
            return len(rs) == 1 and closed, f'{codes} + close, or 200 with body {expected!r}'
        return (len(rs) == 2 and rs[0].status == 200 and rs[0].echo_body() == expected and rs[1].json()['target'] == '/follow',
                f'{codes} + close, or 200 with body {expected!r} then /follow')
    return c


def rejected(*codes):
    def c(rs, closed, info):
        return len(rs) == 1 and rs[0].status in codes and closed and 'close' in ''.join(rs[0].h('connection')).lower(), \
            f'only {codes} with Connection: close, then close (nothing after)'
    return c


# ---- Content-Length (RFC 9112 §6.2, §6.3; RFC 9110 §8.6) ----
P('cl-basic', post(b'Content-Length: 5\r\n', b'hello' + FOLLOW), body_is(b'hello', 2, ['/', '/follow']), '9112 §6.2')
P('cl-zero-post', post(b'Content-Length: 0\r\n') + FOLLOW, body_is(b'', 2), '9112 §6.2')
P('cl-none-post', post(b'') + FOLLOW, body_is(b'', 2), '9112 §6.3 rule 7 (no CL/TE: length 0)')
P('cl-get-body', post(b'Content-Length: 4\r\n', b'abcd' + FOLLOW, method=b'GET'), body_is(b'abcd', 2), '9110 §9.3.1 (body allowed, no semantics)')
P('cl-leading-zeros', post(b'Content-Length: 0005\r\n', b'hello' + FOLLOW), reject_or_body(b'hello'), '9110 §8.6 1*DIGIT')
P('cl-plus', post(b'Content-Length: +5\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5 MUST 400')
P('cl-minus', post(b'Content-Length: -5\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5 MUST 400')
P('cl-minus-zero', post(b'Content-Length: -0\r\n', FOLLOW), rejected(400), '9112 §6.3')
P('cl-hex', post(b'Content-Length: 0x5\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-float', post(b'Content-Length: 5.0\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-exp', post(b'Content-Length: 5e0\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-underscore', post(b'Content-Length: 1_0\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-inner-space', post(b'Content-Length: 1 0\r\n', b'helloworld' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-empty', post(b'Content-Length:\r\n', FOLLOW), rejected(400), '9112 §6.3 rule 5 MUST 400')
P('cl-ows', post(b'Content-Length:  5  \r\n', b'hello' + FOLLOW), body_is(b'hello', 2), '9112 §5.1 OWS stripped')
P('cl-list-same', post(b'Content-Length: 5, 5\r\n', b'hello' + FOLLOW), reject_or_body(b'hello'), '9110 §8.6 MAY accept identical list')
P('cl-list-diff', post(b'Content-Length: 5, 6\r\n', b'hello!' + FOLLOW), rejected(400), '9112 §6.3 rule 5 MUST 400')
P('cl-list-empty-elem', post(b'Content-Length: 5,\r\n', b'hello' + FOLLOW), reject_or_body(b'hello'), '9110 §8.6')
P('cl-dup-same', post(b'Content-Length: 5\r\nContent-Length: 5\r\n', b'hello' + FOLLOW), reject_or_body(b'hello'), '9110 §8.6')
P('cl-dup-diff', post(b'Content-Length: 5\r\nContent-Length: 6\r\n', b'hello!' + FOLLOW), rejected(400), '9112 §6.3 rule 5 MUST 400')
P('cl-dup-diff-zero', post(b'Content-Length: 0\r\nContent-Length: 5\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-dup-leading-zero', post(b'Content-Length: 5\r\nContent-Length: 05\r\n', b'hello' + FOLLOW), reject_or_body(b'hello'), '9110 §8.6')
P('cl-leading-zeros-16', post(b'Content-Length: 0000000000000005\r\n', b'hello' + FOLLOW), body_is(b'hello', 2), '9110 §8.6 1*DIGIT: value is 5')
P('cl-leading-zeros-30', post(b'Content-Length: ' + b'0' * 29 + b'5\r\n', b'hello' + FOLLOW), body_is(b'hello', 2), '9110 §8.6 1*DIGIT: value is 5')
P('cl-dup-leading-zeros-16', post(b'Content-Length: 5\r\nContent-Length: 0000000000000005\r\n', b'hello' + FOLLOW), reject_or_body(b'hello'), '9110 §8.6')
P('cl-huge', post(b'Content-Length: 99999999999999999999999\r\n', b'hello'), rejected(400, 413), 'README 413 / 9112 §6.3')
P('cl-2p53', post(b'Content-Length: 9007199254740993\r\n', b'hello'), rejected(400, 413), 'README 413')
P('cl-over-limit', post(b'Content-Length: 16777217\r\n', b'x'), rejected(413), 'echo maxBodyBytes 16 MiB (cli/main.ts) -> 413')
P('cl-at-limit', post(b'Content-Length: 1048576\r\n', b'x' * 1048576), body_is(b'x' * 1048576), 'README 1 MiB ok')
P('cl-nbsp-suffix', post(b'Content-Length: 5\xa0\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5 (value is not 1*DIGIT) MUST 400')
P('cl-nbsp-prefix', post(b'Content-Length: \xa05\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5 MUST 400')
P('cl-nbsp-list', post(b'Content-Length: 5,\xa05\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3 rule 5')
P('cl-vt', post(b'Content-Length: 5\x0b\r\n', b'hello' + FOLLOW), rejected(400), '9112 §6.3')
P('cl-name-sp', post(b'Content-Length : 5\r\n', b'hello' + FOLLOW), rejected(400), '9112 §5.1 MUST 400')
P('cl-short-body-eof', post(b'Content-Length: 10\r\n', b'hello'), lambda rs, c, i: (c and (len(rs) == 0 or rs[0].status == 400), 'no 200; close'), '9112 §8 incomplete', shut_wr=True)
P('cl-dup-name-case', post(b'content-length: 5\r\nCONTENT-LENGTH: 6\r\n', b'hello!' + FOLLOW), rejected(400), '9112 §6.3 rule 5')

# ---- Transfer-Encoding (RFC 9112 §6.1, §6.3, §7) ----
CH = b'5\r\nhello\r\n0\r\n\r\n'
P('te-chunked', post(b'Transfer-Encoding: chunked\r\n', CH + FOLLOW), body_is(b'hello', 2, ['/', '/follow']), '9112 §7.1')
P('te-upper', post(b'Transfer-Encoding: CHUNKED\r\n', CH + FOLLOW), body_is(b'hello', 2), '9112 §7 case-insensitive')
P('te-mixed', post(b'transfer-encoding: ChUnKeD\r\n', CH + FOLLOW), body_is(b'hello', 2), '9112 §7')
P('te-cl-both', post(b'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', CH + FOLLOW), rejected(400), 'README 400; 9112 §6.1 (MUST close after)')
P('te-cl-both-rev', post(b'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', CH + FOLLOW), rejected(400), 'README 400')
P('te-cl-both-10', post(b'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', CH + FOLLOW, version=b'HTTP/1.0'), rejected(400), '9112 §6.1')
P('te-chunked-twice-list', post(b'Transfer-Encoding: chunked, chunked\r\n', CH + FOLLOW), rejected(400), '9112 §6.1 MUST NOT twice; §6.3 rule 4')
P('te-chunked-twice-lines', post(b'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', CH + FOLLOW), rejected(400), '9112 §6.1')
P('te-identity', post(b'Transfer-Encoding: identity\r\n', b'hello' + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4 MUST 400 (not final chunked)')
P('te-chunked-identity', post(b'Transfer-Encoding: chunked, identity\r\n', CH + FOLLOW), rejected(400), '9112 §6.3 rule 4 MUST 400')
P('te-chunked-identity-lines', post(b'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', CH + FOLLOW), rejected(400), '9112 §6.3 rule 4')
P('te-identity-chunked', post(b'Transfer-Encoding: identity, chunked\r\n', CH + FOLLOW), rejected(400, 501), 'README 501 / 9112 §6.1 SHOULD 501')
P('te-gzip-chunked', post(b'Transfer-Encoding: gzip, chunked\r\n', CH + FOLLOW), rejected(501), '9112 §6.1 SHOULD 501; README')
P('te-unknown', post(b'Transfer-Encoding: foo\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4 MUST 400 / README 501')
P('te-chunk-typo', post(b'Transfer-Encoding: chunk\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4')
P('te-chunkedx', post(b'Transfer-Encoding: chunkedx\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4')
P('te-x-chunked-sp', post(b'Transfer-Encoding: x chunked\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4')
P('te-quoted', post(b'Transfer-Encoding: "chunked"\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4')
P('te-param', post(b'Transfer-Encoding: chunked;a=b\r\n', CH + FOLLOW), lambda rs, c, i: ((len(rs) == 1 and rs[0].status in (400, 501) and c) or body_is(b'hello', 2)(rs, c, i)[0], '400/501 or chunked'), '9112 §7 (chunked has no params)')
P('te-empty', post(b'Transfer-Encoding:\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.1')
P('te-comma-only', post(b'Transfer-Encoding: ,\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.1')
P('te-leading-comma', post(b'Transfer-Encoding: , chunked\r\n', CH + FOLLOW), body_is(b'hello', 2), '9110 §5.6.1 MUST ignore empty list elements')
P('te-tab-prefix', post(b'Transfer-Encoding:\tchunked\r\n', CH + FOLLOW), body_is(b'hello', 2), '9112 §5.1 OWS')
P('te-tab-suffix', post(b'Transfer-Encoding: chunked\t\r\n', CH + FOLLOW), body_is(b'hello', 2), '9112 §5.1 OWS')
P('te-vt-prefix', post(b'Transfer-Encoding: \x0bchunked\r\n', CH + FOLLOW), rejected(400, 501), '9110 §5.5 (VT not OWS)')
P('te-ff-prefix', post(b'Transfer-Encoding: \x0cchunked\r\n', CH + FOLLOW), rejected(400, 501), '9110 §5.5')
P('te-nbsp-suffix', post(b'Transfer-Encoding: chunked\xa0\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4 / §6.1: "chunked\\xa0" is not chunked')
P('te-nbsp-prefix', post(b'Transfer-Encoding: \xa0chunked\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4')
P('te-nbsp-prefix-cl', post(b'Transfer-Encoding: \xa0chunked\r\nContent-Length: 3\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.1')
P('te-nel-suffix', post(b'Transfer-Encoding: chunked\x85\r\n', CH + FOLLOW), rejected(400, 501), '9112 §6.3 rule 4')
P('te-name-sp', post(b'Transfer-Encoding : chunked\r\n', CH + FOLLOW), rejected(400), '9112 §5.1 MUST 400')
P('te-name-underscore', post(b'Transfer_Encoding: chunked\r\n', CH), lambda rs, c, i: (len(rs) == 2 and rs[0].status == 200 and rs[0].echo_body() == b'' and rs[1].status == 400 and c, '200 (no body, unknown field) then 400 for "5" line'), '9110 §5.1')
P('te-obs-fold', post(b'Transfer-Encoding:\r\n chunked\r\n', CH + FOLLOW), rejected(400), '9112 §5.2')
P('te-first-line-ws', b'POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n' + CH, rejected(400), '9112 §2.2')
P('te-10', post(b'Transfer-Encoding: chunked\r\n', CH + FOLLOW, version=b'HTTP/1.0'), rejected(400), '9112 §6.1 MUST treat framing as faulty + close')
P('te-10-with-cl', post(b'Transfer-Encoding: chunked\r\nContent-Length: 15\r\n', CH + FOLLOW, version=b'HTTP/1.0'), rejected(400), '9112 §6.1')
P('te-on-get', post(b'Transfer-Encoding: chunked\r\n', CH + FOLLOW, method=b'GET'), body_is(b'hello', 2), '9112 §6.1')
P('te-on-head', post(b'Transfer-Encoding: chunked\r\n', CH + FOLLOW, method=b'HEAD'), lambda rs, c, i: (len(rs) == 2 and rs[0].status == 200 and rs[0].body == b'' and rs[1].json()['target'] == '/follow', 'HEAD body consumed, no response body, /follow answered'), '9112 §6.1', heads=[True, False])
P('te-two-lines-gzip', post(b'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', CH + FOLLOW), rejected(501), '9112 §6.1')

# ---- chunked body (RFC 9112 §7.1) ----
def ch(body, extra=b'', tail=FOLLOW):
    return post(b'Transfer-Encoding: chunked\r\n' + extra, body + tail)


P('c-hex-lower', ch(b'a\r\n0123456789\r\n0\r\n\r\n'), body_is(b'0123456789', 2), '9112 §7.1')
P('c-hex-upper', ch(b'A\r\n0123456789\r\n0\r\n\r\n'), body_is(b'0123456789', 2), '9112 §7.1 HEXDIG')
P('c-leading-zeros', ch(b'0005\r\nhello\r\n0\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1')
P('c-many-leading-zeros', ch(b'0' * 60 + b'5\r\nhello\r\n0\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1')
P('c-last-zeros', ch(b'5\r\nhello\r\n000\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1 last-chunk = 1*"0"')
P('c-multi', ch(b'1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n'), body_is(b'abcdef', 2), '9112 §7.1')
P('c-overflow-64', ch(b'10000000000000005\r\nhello\r\n0\r\n\r\n'), rejected(400, 413), '9112 §7.1 overflow protection')
P('c-overflow-ff', ch(b'ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'), rejected(400, 413), '9112 §7.1')
P('c-overflow-2p32', ch(b'100000005\r\nhello\r\n0\r\n\r\n'), rejected(400, 413), 'README 413')
P('c-over-limit', ch(b'1000001\r\n' + b'x' * 10), rejected(413), 'echo 16 MiB -> 413')
P('c-negative', ch(b'-5\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-plus', ch(b'+5\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-0x', ch(b'0x5\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-empty-size', ch(b'\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-sp-before-size', ch(b' 5\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-trailing-sp', ch(b'5 \r\nhello\r\n0\r\n\r\n'), rejected(400), 'README (ws at end of chunk line)')
P('c-trailing-tab', ch(b'5\t\r\nhello\r\n0\r\n\r\n'), rejected(400), 'README')
P('c-bws-semicolon', ch(b'5 ;a=b\r\nhello\r\n0\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1.1 BWS before ";"')
P('c-ext-token', ch(b'5;a=b\r\nhello\r\n0;x\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1.1')
P('c-ext-name-only', ch(b'5;a\r\nhello\r\n0\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1.1')
P('c-ext-multi', ch(b'5;a=b;c;d="e"\r\nhello\r\n0\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1.1')
P('c-ext-quoted', ch(b'5;a="b c;\\"d"\r\nhello\r\n0\r\n\r\n'), body_is(b'hello', 2), '9112 §7.1.1 quoted-string')
P('c-ext-quoted-unterminated', ch(b'5;a="b\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1.1')
P('c-ext-empty-name', ch(b'5;\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1.1')
P('c-ext-empty-value', ch(b'5;a=\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1.1')
P('c-ext-nul', ch(b'5;a=\x00\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1.1')
P('c-ext-bare-lf-inside', ch(b'5;a\nb\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §2.2')
P('c-ext-bare-cr-inside', ch(b'5;a\rb\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §2.2')
P('c-ext-quoted-crlf-inside', ch(b'5;a="\r\n"\r\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1.1')
P('c-ext-long', ch(b'5;a=' + b'b' * 20000 + b'\r\nhello\r\n0\r\n\r\n'), rejected(400, 413, 431), 'ext length limit (DoS)')
P('c-data-too-long', ch(b'5\r\nhelloX\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-no-crlf-after-data', ch(b'5\r\nhello0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-lf-after-data', ch(b'5\r\nhello\n0\r\n\r\n'), rejected(400), '9112 §7.1 (MAY accept LF; README strict)')
P('c-cr-after-data', ch(b'5\r\nhello\r0\r\n\r\n'), rejected(400), '9112 §2.2')
P('c-lf-size-line', ch(b'5\nhello\r\n0\r\n\r\n'), rejected(400), '9112 §7.1')
P('c-lf-last-chunk', ch(b'5\r\nhello\r\n0\n\r\n'), rejected(400), '9112 §7.1')
P('c-lf-final', ch(b'5\r\nhello\r\n0\r\n\n'), rejected(400), '9112 §7.1')
P('c-missing-final-crlf-then-req', ch(b'5\r\nhello\r\n0\r\n', tail=FOLLOW), rejected(400), '9112 §7.1 (next request seen as trailer)')
P('c-missing-final-crlf-eof', ch(b'5\r\nhello\r\n0\r\n', tail=b''), lambda rs, c, i: (c and (len(rs) == 0 or rs[0].status == 400), 'no 200; close'), '9112 §8', shut_wr=True)
P('c-no-last-chunk-eof', ch(b'5\r\nhello\r\n', tail=b''), lambda rs, c, i: (c and (len(rs) == 0 or rs[0].status == 400), 'no 200; close'), '9112 §8', shut_wr=True)
P('c-trailer', ch(b'5\r\nhello\r\n0\r\nX-T: v\r\n\r\n'), lambda rs, c, i: (body_is(b'hello', 2)(rs, c, i)[0] and rs[0].json()['trailers'] == [['X-T', 'v']], 'trailers [[X-T, v]]'), '9112 §7.1.2')
P('c-trailer-forbidden', ch(b'5\r\nhello\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n'),
  lambda rs, c, i: (body_is(b'hello', 2)(rs, c, i)[0] and ['Host', 'evil'] not in rs[0].json()['headers'], '200 with trailers kept apart (not merged into headers)'), '9110 §6.5.1 MUST NOT merge')
P('c-trailer-obs-fold', ch(b'5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n'), rejected(400), '9112 §5.2')
P('c-trailer-no-colon', ch(b'5\r\nhello\r\n0\r\nfoo\r\n\r\n'), rejected(400), '9112 §5')
P('c-trailer-sp-colon', ch(b'5\r\nhello\r\n0\r\nX : a\r\n\r\n'), rejected(400), '9112 §5.1')
P('c-trailer-bare-lf', ch(b'5\r\nhello\r\n0\r\nX: a\n\r\n'), rejected(400), '9112 §2.2')
P('c-trailer-nul', ch(b'5\r\nhello\r\n0\r\nX: a\x00\r\n\r\n'), rejected(400), '9110 §5.5')
P('c-trailer-oversize', ch(b'5\r\nhello\r\n0\r\nX: ' + b'a' * 17000 + b'\r\n\r\n'), rejected(431), 'README maxTrailerBytes 16 KiB -> 431')
P('c-trailer-oversize-many', ch(b'5\r\nhello\r\n0\r\n' + b'X: ' + b'a' * 1000 + b'\r\n' * 1, tail=(b'X: ' + b'a' * 1000 + b'\r\n') * 20 + b'\r\n'), rejected(431), 'README 431')
P('c-trailer-toomany', ch(b'5\r\nhello\r\n0\r\n' + b'X: a\r\n' * 150 + b'\r\n'), rejected(431), 'README 100 fields')
P('c-trailer-nocrlf-huge', ch(b'5\r\nhello\r\n0\r\nX: ' + b'a' * 100000, tail=b''), rejected(431), 'README 431 (unterminated)')
P('c-size-line-huge', ch(b'5' + b';a' * 50000, tail=b''), rejected(400, 413, 431), 'chunk line limit')
SM = b'GET /smuggled HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n'
P('c-smuggle-body', ch(b'%x\r\n' % len(SM) + SM + b'\r\n0\r\n\r\n'),
  lambda rs, c, i: (len(rs) == 2 and rs[1].json()['target'] == '/follow', 'body is opaque; next is /follow'), '9112 §7.1')
P('c-zero-then-data', ch(b'0\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n', tail=b''),
  lambda rs, c, i: (len(rs) == 2 and rs[0].echo_body() == b'' and rs[1].json()['target'] == '/x', 'empty body, then /x'), '9112 §7.1')

if __name__ == '__main__':
    run_all(out='results_2.json')
