#!/usr/bin/env bash
# A/B of two builds of sockeye and the raw node:net floor, in one invocation, round by round (servers on core 0,
# load on core 1). MODE=cpu reports server CPU time per operation (process user+sys from /proc over the run), which
# is steadier than throughput; the default is throughput.
#
# Each round starts FRESH server processes, warms them up, measures, and stops them. V8 decides what to inline and
# when to optimize from timing and type feedback, so two processes of one build can differ by 10-20 % per message
# for their whole life (`perf record` of one build against itself, bench/results/ab-method-2026-12-07.md): a
# comparison of one process per build measures that draw, not the builds. The last line gives the median of the
# rounds and the median of the per-round ratios. FRESH=0 keeps one process per build for all rounds (quicker, and
# enough to compare two settings of one build).
# The order within a round rotates (this old floor, old floor this, floor this old) so no build is always first;
# SWAP=1 fixes it to old floor this.
#   bash bench/ab.sh OLD_CHECKOUT WORKLOAD [ROUNDS=6]
# OLD_CHECKOUT: another built checkout (e.g. `git worktree add /tmp/old <commit> && cd /tmp/old && npm ci && npm run build`).
# WORKLOAD: get | post | pipe | 32 | 1k | 64k | 1m | storm, or 1kz | 64kz (permessage-deflate: both sockeye servers
# run with SOCKEYE_DEFLATE=1 and the client compresses; the raw floor declines the extension and echoes plain).
# OLD_ENV / NEW_ENV: environment for the "old" / "this" server, e.g. `OLD_ENV=SOCKEYE_STREAM=0 bash bench/ab.sh . 1m`
# compares two settings of one build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OLD="${1:?old checkout}"; W="${2:?workload}"; R="${3:-6}"
SHARED="${SOCKEYE_SHARED:-$ROOT/../shared}/bench"
DEPS="${BENCH_DEPS:-/tmp/bench-deps}"
[ -x "$DEPS/bin/wsload" ] || (cd "$SHARED" && bash setup.sh >/dev/null)
WSLOAD="$DEPS/bin/wsload"
PIDS=()
SUM=$(mktemp)
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -f "$SUM"' EXIT
case $W in *z) DEFLATE_ENV=SOCKEYE_DEFLATE=1 ;; *) DEFLATE_ENV= ;; esac
PORTS=(9851 9852 9853)
start() { # index: 0 this, 1 old, 2 floor
  case $1 in
    0) env $DEFLATE_ENV ${NEW_ENV:-} PORT=9851 taskset -c 0 node "$ROOT/dist/bench/server.js" >/dev/null 2>&1 & ;;
    1) env $DEFLATE_ENV ${OLD_ENV:-} PORT=9852 taskset -c 0 node "$OLD/dist/bench/server.js" >/dev/null 2>&1 & ;;
    *) NODE_PATH="$DEPS/node_modules" PORT=9853 taskset -c 0 node "$SHARED/servers/impl/raw-net.cjs" >/dev/null 2>&1 & ;;
  esac
  PIDS[$1]=$!
}
load() { # port seconds -> operations per second
  case $W in
    get) taskset -c 1 wrk -t1 -c100 -d"$2"s "http://127.0.0.1:$1/" | awk '/Requests\/sec/{print $2}' ;;
    post) taskset -c 1 wrk -t1 -c50 -d"$2"s -s "$SHARED/wrk/post.lua" "http://127.0.0.1:$1/echo" | awk '/Requests\/sec/{print $2}' ;;
    pipe) taskset -c 1 wrk -t1 -c100 -d"$2"s -s "$SHARED/wrk/pipeline.lua" "http://127.0.0.1:$1/" | awk '/Requests\/sec/{print $2}' ;;
    32) taskset -c 1 "$WSLOAD" -c 100 -w 16 -s 32 -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    1k) taskset -c 1 "$WSLOAD" -c 100 -w 4 -s 1k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    64k) taskset -c 1 "$WSLOAD" -c 10 -w 2 -s 64k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    1m) taskset -c 1 "$WSLOAD" -c 1 -w 1 -s 1m -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    1kz) taskset -c 1 "$WSLOAD" -z -t text -c 50 -w 4 -s 1k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    64kz) taskset -c 1 "$WSLOAD" -z -t text -c 10 -w 2 -s 64k -d "$2" "ws://127.0.0.1:$1/" 2>&1 | awk '/msg\/s/{print $1}' ;;
    storm) taskset -c 1 "$WSLOAD" -m storm -n $((2500 * $2)) -c 50 "ws://127.0.0.1:$1/" 2>&1 | awk '/handshakes\/s/{print $(NF-1)}' ;;
    *) echo "unknown workload $W" >&2; exit 2 ;;
  esac
}
one() { # port pid -> "ops/s" or "µs/op"
  local t0 u1 s1 u2 s2 rate t1
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$2/stat")
  t0=$(date +%s.%N)
  rate=$(load "$1" 4)
  t1=$(date +%s.%N)
  read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$2/stat")
  if [ "${MODE:-rate}" = cpu ]; then
    python3 -c "print(f'{(($u2-$u1+$s2-$s1)/100)/($rate*($t1-$t0))*1e6:.3f} us/op')"
  else
    echo "$rate/s"
  fi
}
declare -A RES
for r in $(seq "$R"); do
  if [ "${FRESH:-1}" != 0 ] || [ "$r" = 1 ]; then
    stop_all
    for i in 0 1 2; do start $i; done
    sleep 1.5
    for i in 0 1 2; do load "${PORTS[$i]}" 2 >/dev/null; done # warm-up: each optimized before it is measured
  fi
  case $(((r - 1) % 3)) in 0) order="0 1 2" ;; 1) order="1 2 0" ;; *) order="2 0 1" ;; esac
  if [ -n "${SWAP:-}" ]; then order="1 2 0"; fi
  for i in $order; do RES[$i]=$(one "${PORTS[$i]}" "${PIDS[$i]}"); done
  echo "$W round $r: this ${RES[0]} | old ${RES[1]} | floor ${RES[2]}"
  echo "${RES[0]%% *} ${RES[1]%% *} ${RES[2]%% *}" | tr -d '/s' >>"$SUM"
done
python3 - "$SUM" "${MODE:-rate}" "$W" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
unit = 'us/op' if sys.argv[2] == 'cpu' else 'op/s'
ratios = sorted(r[0] / r[1] for r in rows)
print(f"{sys.argv[3]} median of {len(rows)} rounds: this {med[0]:.3f} | old {med[1]:.3f} | floor {med[2]:.3f} {unit}; "
      f"this/old {statistics.median(ratios):.3f} (rounds {ratios[0]:.3f} to {ratios[-1]:.3f}), this/floor {med[0] / med[2]:.3f}")
PY
