"""Raw-socket probe harness for an HTTP/1.1 server on 127.0.0.1. Every socket has a timeout; every loop is bounded."""
import json, os, re, socket, time, base64

HOST = '127.0.0.1'
PORT = int(os.environ.get('PORT', '9621'))
IDLE = float(os.environ.get('IDLE', '0.8'))   # seconds of silence that end a read
MAX_TOTAL = 12.0                              # hard cap per probe
MAX_BYTES = 4 << 20


class Resp:
    def __init__(self, status_line, headers, body, raw_head):
        self.status_line = status_line
        m = re.match(rb'HTTP/(\d)\.(\d) (\d{3}) (.*)$', status_line)
        self.status = int(m.group(3)) if m else None
        self.version = (m.group(1) + b'.' + m.group(2)).decode() if m else None
        self.headers = headers  # list of (name lower str, value str)
        self.body = body
        self.raw_head = raw_head

    def h(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def json(self):
        try:
            return json.loads(self.body)
        except Exception:
            return None

    def echo_body(self):
        j = self.json()
        return base64.b64decode(j['body']) if j else None

    def short(self):
        hs = '; '.join(f'{n}: {v}' for n, v in self.headers if n not in ('date', 'content-type'))
        return f'{self.status} [{hs}]'


def parse_responses(data, head_request=False):
    """Splits the bytes received into responses. Returns (list, leftover_bytes, error_str)."""
    out = []
    pos = 0
    heads = list(head_request) if isinstance(head_request, (list, tuple)) else None
    for _ in range(200000):
        if pos >= len(data):
            break
        end = data.find(b'\r\n\r\n', pos)
        if end < 0:
            return out, data[pos:], 'incomplete head'
        raw_head = data[pos:end + 4]
        lines = data[pos:end].split(b'\r\n')
        status_line = lines[0]
        hdrs = []
        for ln in lines[1:]:
            if b':' not in ln:
                return out, data[pos:], 'bad response field line %r' % ln
            n, v = ln.split(b':', 1)
            hdrs.append((n.decode('latin1').lower(), v.strip().decode('latin1')))
        pos = end + 4
        r = Resp(status_line, hdrs, b'', raw_head)
        is_head = False
        if heads is not None:
            if r.status is not None and r.status >= 200 and heads:
                is_head = heads.pop(0)
        elif head_request:
            is_head = True
        if r.status is not None and (100 <= r.status < 200):
            out.append(r)
            continue
        if is_head or r.status in (204, 304):
            out.append(r)
            continue
        te = r.h('transfer-encoding')
        cl = r.h('content-length')
        if te:
            body = b''
            for _ in range(100000):
                le = data.find(b'\r\n', pos)
                if le < 0:
                    return out, data[pos:], 'incomplete chunk'
                size = int(data[pos:le].split(b';')[0], 16)
                pos = le + 2
                if size == 0:
                    te2 = data.find(b'\r\n\r\n', pos - 2)
                    pos = te2 + 4
                    break
                body += data[pos:pos + size]
                pos += size + 2
            r.body = body
        elif cl:
            n = int(cl[0])
            r.body = data[pos:pos + n]
            if len(r.body) < n:
                out.append(r)
                return out, b'', 'short body'
            pos += n
        else:
            r.body = data[pos:]
            pos = len(data)
        out.append(r)
    return out, b'', None


def exchange(parts, delay=0.0, idle=None, shut_wr=False, total=MAX_TOTAL, port=None):
    """Sends parts (bytes or list of bytes) and reads until the peer closes or `idle` seconds of silence.
    Returns (data, closed, elapsed, reset)."""
    if isinstance(parts, (bytes, bytearray)):
        parts = [bytes(parts)]
    idle = IDLE if idle is None else idle
    s = socket.create_connection((HOST, port or PORT), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.time()
    data = b''
    closed = False
    reset = False
    try:
        for i, p in enumerate(parts):
            try:
                s.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                reset = True
                break
            if delay and i < len(parts) - 1:
                time.sleep(delay)
        if shut_wr:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        s.settimeout(idle)
        while time.time() - t0 < total and len(data) < MAX_BYTES:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                reset = True
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    finally:
        s.close()
    return data, closed, time.time() - t0, reset


RESULTS = []


def fmt(b):
    r = repr(b)
    return r if len(r) < 400 else r[:380] + f"...({len(b)} bytes)'"


def probe(name, sent, check, rfc='', parts=None, delay=0.0, idle=None, shut_wr=False, heads=False, total=MAX_TOTAL, quiet=False):
    """check(resps, closed, info) -> (ok: bool, expected: str). Records the result."""
    data, closed, el, reset = exchange(parts if parts is not None else sent, delay=delay, idle=idle,
                                       shut_wr=shut_wr, total=total)
    resps, left, err = parse_responses(data, heads)
    info = dict(raw=data, err=err, left=left, elapsed=el, reset=reset)
    try:
        ok, expected = check(resps, closed, info)
    except Exception as e:  # a check that crashes is a failure to look at
        ok, expected = False, f'check raised {e!r}'
    got = ' | '.join(r.short() for r in resps[:6]) or '(no response)'
    if len(resps) > 6:
        got += f' | ... ({len(resps)} responses, statuses {sorted(set(r.status for r in resps))})'
    if err:
        got += f' <parse:{err}>'
    got += ' closed' if closed else ' open'
    if reset:
        got += ' (reset)'
    rec = dict(name=name, sent=fmt(sent if isinstance(sent, bytes) else b''.join(sent)), got=got, expected=expected,
               rfc=rfc, ok=ok, raw=fmt(data[:600]))
    RESULTS.append(rec)
    rec['line'] = ('PASS ' if ok else 'FAIL ') + name + ' :: ' + got + ('' if ok else '  || expected: ' + expected)
    if not quiet:
        print(rec['line'])
    return resps, closed, info


# --- common checks ---------------------------------------------------------------------------------------------

def status_close(code):
    def c(resps, closed, info):
        ok = len(resps) == 1 and resps[0].status == code and 'close' in [v.lower() for v in resps[0].h('connection')] and closed
        return ok, f'{code} with Connection: close, then close'
    return c


def one_of_close(*codes):
    def c(resps, closed, info):
        ok = len(resps) == 1 and resps[0].status in codes and closed
        return ok, f'one of {codes}, then close'
    return c


def ok200(pred=None, desc='200', keep=True):
    def c(resps, closed, info):
        ok = len(resps) == 1 and resps[0].status == 200
        if ok and pred is not None:
            ok = bool(pred(resps[0]))
        if keep is True:
            ok = ok and not closed
        return ok, desc + (' (kept open)' if keep is True else '')
    return c


def n200(n, pred=None, closed_expected=None, desc=''):
    def c(resps, closed, info):
        ok = len(resps) == n and all(r.status == 200 for r in resps)
        if ok and pred is not None:
            ok = bool(pred(resps))
        if closed_expected is not None:
            ok = ok and closed == closed_expected
        return ok, desc or f'{n} x 200'
    return c


def H(extra=b'', method=b'GET', target=b'/', version=b'HTTP/1.1', host=b'Host: a\r\n'):
    return method + b' ' + target + b' ' + version + b'\r\n' + host + extra + b'\r\n'


def save(path):
    # RESULTS_DIR: where to keep every probe's bytes and answer (JSON); nothing is written without it.
    out_dir = os.environ.get('RESULTS_DIR')
    if not out_dir:
        return
    with open(os.path.join(out_dir, os.path.basename(path)), 'w') as f:
        json.dump(RESULTS, f, indent=1)


# --- deferred, parallel execution ----------------------------------------------------------------------------
PENDING = []


def P(name, sent, check, rfc='', **kw):
    PENDING.append((name, sent, check, rfc, kw))


def run_all(workers=16, out=None):
    import concurrent.futures as cf
    import io, contextlib
    jobs = list(PENDING)
    PENDING.clear()

    def one(job):
        name, sent, check, rfc, kw = job
        probe(name, sent, check, rfc, quiet=True, **kw)
        return name

    order = {j[0]: k for k, j in enumerate(jobs)}
    assert len(order) == len(jobs), 'duplicate probe names'
    with cf.ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, jobs))
    RESULTS.sort(key=lambda r: order.get(r['name'], -1))
    for r in RESULTS:
        print(r['line'])
    if out:
        save(out)
    fails = [r for r in RESULTS if not r['ok']]
    print(f'--- {len(RESULTS) - len(fails)} passed, {len(fails)} failed')
