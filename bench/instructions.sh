#!/usr/bin/env bash
# A/B of two builds by instructions per operation (valgrind callgrind), not by seconds: the count does not depend on
# what else the machine is doing, so it can be read on a loaded machine (2 cores shared with a test run) where
# bench/ab.sh's CPU times are noise. Repeatable to about 1 % for `storm` and the `pp` workloads; `32`, `1k` and
# `get` vary by about 3 % (how many messages or requests one read brings differs between runs).
#   bash bench/instructions.sh OLD_CHECKOUT WORKLOAD [N]
# WORKLOAD: storm (N handshake lifecycles, default 3000) | 32 | 1k (N seconds of echo, 20 connections with 16
# messages in flight; default 20) | 32pp | 1kpp (the same, one connection, one message in flight: no batching, so
# the steadiest per-message count) | get (N s).
# The server runs under valgrind with `node --single-threaded` (no concurrent compiler or GC threads, so the same
# work is counted in the same thread), is warmed up with the same load first, and is measured only between
# `callgrind_control -i on` and `-i off`. With PROFILE=1 the per-function counts of both builds are compared
# (JS functions named from `--perf-basic-prof` maps). Needs valgrind (Debian) and the shared C load generator
# (../shared/bench, see bench/ab.sh). OLD_ENV / NEW_ENV: environment for the old / this build's server, e.g.
# `OLD_ENV=SOCKEYE_INSPECTOR=tab NEW_ENV=SOCKEYE_INSPECTOR=tab bash bench/instructions.sh OLD 32` (a tab open on both).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OLD="${1:?old checkout}"; W="${2:?workload}"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
[ -x "$DEPS/bin/wsload" ] || (cd "$SHARED" && bash setup.sh >/dev/null)
WSLOAD="$DEPS/bin/wsload"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
case $W in storm) N="${3:-3000}" ;; *) N="${3:-20}" ;; esac
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

load() { # port n json -> operations done (json=1) or nothing
  local port=$1 n=$2
  case $W in
    storm) "$WSLOAD" -m storm -n "$n" -c 20 -T 900 "ws://127.0.0.1:$port/" >/dev/null 2>&1; echo "$n" ;;
    32 | 1k)
      "$WSLOAD" -j -c 20 -w 16 -s "$W" -d "$n" -T 900 "ws://127.0.0.1:$port/" 2>/dev/null |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["msgs"])' ;;
    32pp | 1kpp) # one connection, one message in flight: one read and one write per message, no batching
      "$WSLOAD" -j -c 1 -w 1 -s "${W%pp}" -d "$n" -T 900 "ws://127.0.0.1:$port/" 2>/dev/null |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["msgs"])' ;;
    get) wrk -t1 -c20 -d"${n}s" "http://127.0.0.1:$port/" | awk '/requests in/{print $1}' ;;
    *) echo "unknown workload $W" >&2; exit 2 ;;
  esac
}

one() { # label checkout port env -> "label instructions/op"
  local label=$1 dir=$2 port=$3 extra=$4 pid ops ir
  env $extra PORT=$port valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$label.cg" --dump-instr=no \
    node --single-threaded --perf-basic-prof "$dir/dist/bench/server.js" >/dev/null 2>"$OUT/$label.err" &
  pid=$!
  for _ in $(seq 200); do sleep 0.5; curl -s -o /dev/null "http://127.0.0.1:$port/" && break; done
  case $W in storm) load "$port" 10000 >/dev/null ;; *) load "$port" 20 >/dev/null ;; esac
  callgrind_control -i on "$pid" >/dev/null
  ops=$(load "$port" "$N")
  callgrind_control -i off "$pid" >/dev/null
  # node names the map after its own pid, which is valgrind's pid here.
  cp "/tmp/perf-$pid.map" "$OUT/$label.cg.map" 2>/dev/null || true
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "/tmp/perf-$pid.map"
  ir=$(grep -o 'Collected : [0-9]*' "$OUT/$label.err" | awk '{print $3}')
  echo "$label $ops $ir"
}

# PORT_BASE: another pair of ports when another run of this script shares the machine.
P="${PORT_BASE:-9861}"
read -r _ ops_new ir_new < <(one this "$ROOT" "$P" "${NEW_ENV:-}")
read -r _ ops_old ir_old < <(one old "$OLD" "$((P + 1))" "${OLD_ENV:-}")
python3 - "$W" "$ops_new" "$ir_new" "$ops_old" "$ir_old" <<'EOF'
import sys
w, on, inew, oo, iold = sys.argv[1], *map(int, sys.argv[2:])
a, b = inew / on, iold / oo
print(f"{w}: this {a:,.0f} instructions/op ({on} ops) | old {b:,.0f} ({oo} ops) | this/old {a / b:.3f}")
EOF
if [ -n "${PROFILE:-}" ]; then
  python3 - "$OUT/old.cg" "$OUT/this.cg" "$ops_old" "$ops_new" <<'EOF'
import bisect, collections, re, subprocess, sys
def flat(f):
    names = []
    try:
        for line in open(f + '.map'):
            a, s, n = line.rstrip('\n').split(' ', 2)
            names.append((int(a, 16), int(s, 16), re.sub(r'^(\w+:)?[~*^+]?', '', n).split(' ')[0]))
    except OSError:
        pass
    names.sort(); starts = [x[0] for x in names]
    out = subprocess.run(['callgrind_annotate', '--threshold=100', '--inclusive=no', f], capture_output=True, text=True).stdout
    c = collections.Counter()
    for line in out.splitlines():
        m = re.match(r'\s*([\d,]+)\s+\([^)]*\)\s+(.*)$', line)
        if not m or 'PROGRAM TOTALS' in line: continue
        name = m.group(2); addr = re.match(r'\?\?\?:0x([0-9a-f]+) \[\?\?\?\]', name)
        if addr:
            a = int(addr.group(1), 16); i = bisect.bisect_right(starts, a) - 1
            name = 'JS ' + names[i][2] if i >= 0 and a < names[i][0] + names[i][1] else 'JS ?'
        c[name] += int(m.group(1).replace(',', ''))
    return c
o, n = flat(sys.argv[1]), flat(sys.argv[2]); oo, on = int(sys.argv[3]), int(sys.argv[4])
print(f"{'this-old':>9} {'old':>8} {'this':>8}  function (instructions per operation)")
for k in sorted(set(o) | set(n), key=lambda k: -abs(n[k] / on - o[k] / oo))[:40]:
    print(f"{n[k] / on - o[k] / oo:+9.0f} {o[k] / oo:8.0f} {n[k] / on:8.0f}  {k[:110]}")
EOF
fi
